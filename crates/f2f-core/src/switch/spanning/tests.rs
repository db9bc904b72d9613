//! The switch with its spanning tree, scripted: BPDUs consumed or flooded,
//! discarding ports gated both ways, flush on topology change, and two
//! switches in a two-cable loop exchanging real BPDU frames.

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

use crate::mac::MacAddr;
use crate::stp::{PortState, Role};
use crate::switch::{
    AttachRequest, DropReason, Egress, Endpoint, Forward, PortId, PortRequest, Switch, SwitchConfig,
};
use crate::time::{Duration, Instant};
use crate::wire::bpdu::{vde_port_id, Bpdu, BpduFlags, BridgeId, BPDU_DST};

type H = BuildHasherDefault<DefaultHasher>;

fn t(millis: u64) -> Instant {
    Instant::from_millis(millis)
}

fn switch(last: u8, fstp: bool, ports: u16) -> Switch<H> {
    let mut sw = Switch::new(
        SwitchConfig {
            mac: MacAddr([0x00, 0xff, 0x01, 0x9c, 0xac, last]),
            fstp,
            ..SwitchConfig::default()
        },
        H::default(),
    );
    for p in 1..=ports {
        attach(&mut sw, p);
    }
    sw
}

fn attach(sw: &mut Switch<H>, port: PortId) {
    sw.attach(AttachRequest {
        port: PortRequest::Number(u32::from(port)),
        endpoint: Endpoint {
            id: u32::from(port),
            module: "unix",
            description: String::new(),
            user: 0,
        },
        groups: vec![],
    })
    .unwrap();
}

fn host(n: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0, n])
}

fn data(dst: MacAddr, src: MacAddr) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst.0);
    f.extend_from_slice(&src.0);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.resize(60, 0xab);
    f
}

fn bpdu_from(root: BridgeId, flags: u8) -> Bpdu {
    Bpdu {
        src: root.mac,
        vlan: None,
        flags: BpduFlags(flags),
        root,
        root_cost: 0,
        bridge: root,
        port_id: vde_port_id(1),
        message_age: 0,
        max_age: 40,
        hello_time: 4,
        forward_delay: 0,
    }
}

fn better_root() -> BridgeId {
    BridgeId {
        priority: 0x1000,
        mac: MacAddr([0x00, 0xff, 0, 0, 0, 0x99]),
    }
}

fn ports(out: &[Egress]) -> Vec<PortId> {
    out.iter().map(|e| e.port).collect()
}

fn drain(sw: &mut Switch<H>) -> Vec<(PortId, Vec<u8>)> {
    std::iter::from_fn(|| sw.poll_transmit())
        .map(|b| (b.port, b.frame().to_vec()))
        .collect()
}

#[test]
fn a_bpdu_is_consumed_with_fstp_and_flooded_without() {
    let frame = bpdu_from(better_root(), 0x3c).to_vec();
    let mut out = Vec::new();

    let mut on = switch(0x61, true, 3);
    assert_eq!(on.decide(t(0), 1, &frame, &mut out), Forward::Consumed);
    assert!(out.is_empty());
    assert_eq!(on.stp().counters().bpdus_in, 1);
    assert_eq!(on.stp().summary(0).unwrap().root, better_root());
    assert_eq!(on.stp().role(0, 1), Some(Role::Root));
    let c = on.port(1).unwrap().counters;
    assert_eq!((c.in_frames, c.in_bytes), (1, 53));

    let mut off = switch(0x61, false, 3);
    assert_eq!(off.decide(t(0), 1, &frame, &mut out), Forward::Flood);
    assert_eq!(ports(&out), vec![2, 3]);
    assert_eq!(off.stp().counters().bpdus_in, 0);

    let mut hub = Switch::new(
        SwitchConfig {
            fstp: true,
            hub: true,
            ..SwitchConfig::default()
        },
        H::default(),
    );
    attach(&mut hub, 1);
    attach(&mut hub, 2);
    assert!(!hub.stp().enabled(), "-F is ignored in hub mode");
    assert_eq!(hub.decide(t(0), 1, &frame, &mut out), Forward::Flood);
}

#[test]
fn bad_bpdus_are_dropped_and_counted_and_change_nothing() {
    let mut sw = switch(0x61, true, 2);
    let mut out = Vec::new();
    let good = bpdu_from(better_root(), 0x3c).to_vec();
    let mut wrong_version = good.clone();
    wrong_version[19] = 0;
    let truncated = &good[..40];
    for bad in [&wrong_version[..], truncated, &good[..14]] {
        assert_eq!(
            sw.decide(t(0), 1, bad, &mut out),
            Forward::Drop(DropReason::BadBpdu)
        );
    }
    assert_eq!(sw.port(1).unwrap().counters.drops(DropReason::BadBpdu), 3);
    assert_eq!(sw.stp().summary(0).unwrap().root, sw.stp().bridge_id());
    // Absurd timers are read as vde_switch reads them: not at all.
    let mut absurd = bpdu_from(better_root(), 0x3c);
    absurd.max_age = 0;
    absurd.hello_time = 0xffff;
    absurd.message_age = 0xfffe;
    assert_eq!(
        sw.decide(t(1), 1, &absurd.to_vec(), &mut out),
        Forward::Consumed
    );
    // Message age is our hop count: this one can never give a root port.
    assert_eq!(sw.stp().summary(0).unwrap().root_port, None);
}

#[test]
fn a_new_port_gets_a_bpdu_and_poll_timeout_says_now() {
    let mut sw = switch(0x61, true, 0);
    attach(&mut sw, 1);
    // The tree has not heard of the port yet: work is due at once.
    assert_eq!(sw.poll_timeout(), Instant::ZERO);
    sw.handle_timeout(t(5));
    assert_eq!(sw.poll_timeout(), Instant::ZERO, "a BPDU waits");
    let tx = drain(&mut sw);
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].0, 1);
    assert_eq!(&tx[0].1[..6], &BPDU_DST.0);
    assert_eq!(tx[0].1.len(), 53);
    assert_eq!(sw.port(1).unwrap().counters.out_frames, 1);
    // Next: MAC table aging (every 2 s), then the hello 4 s later.
    assert_eq!(sw.poll_timeout(), t(2005));
    sw.handle_timeout(t(2005));
    assert_eq!(sw.poll_timeout(), t(4005));
}

#[test]
fn a_tagged_member_gets_tagged_bpdus() {
    let mut sw = switch(0x61, true, 2);
    sw.vlans.insert(7);
    sw.port_mut(2).unwrap().tagged_vlans.insert(7);
    sw.handle_timeout(t(0));
    let tx = drain(&mut sw);
    let tagged: Vec<_> = tx
        .iter()
        .filter(|(p, f)| *p == 2 && f.len() == 57)
        .collect();
    assert_eq!(tagged.len(), 1);
    assert_eq!(&tagged[0].1[12..16], &[0x81, 0x00, 0x00, 0x07]);
    assert_eq!(sw.stp().members(7).collect::<Vec<_>>(), vec![(2, true)]);
    // Leaving the VLAN leaves its tree.
    sw.port_mut(2).unwrap().tagged_vlans.remove(&7);
    sw.handle_timeout(t(1));
    assert_eq!(sw.stp().members(7).count(), 0);
}

#[test]
fn a_discarding_port_neither_learns_nor_forwards() {
    let mut sw = switch(0x61, true, 3);
    let mut out = Vec::new();
    // Ports 2 and 3 both hear the same better root: 2 (lower port id on
    // the far side) becomes root port, 3 a blocked alternate.
    let root = better_root();
    let mut via3 = bpdu_from(root, 0x3c);
    via3.port_id = vde_port_id(2);
    sw.decide(t(0), 2, &bpdu_from(root, 0x3c).to_vec(), &mut out);
    sw.decide(t(0), 3, &via3.to_vec(), &mut out);
    assert_eq!(sw.stp().role(0, 2), Some(Role::Root));
    assert_eq!(sw.stp().state(0, 3), Some(PortState::Discarding));
    // In on the discarding port: dropped, not learned.
    assert_eq!(
        sw.decide(t(1), 3, &data(MacAddr::BROADCAST, host(3)), &mut out),
        Forward::Drop(DropReason::Discarding)
    );
    assert_eq!(
        sw.port(3).unwrap().counters.drops(DropReason::Discarding),
        1
    );
    assert!(sw.fdb().is_empty());
    // Out: a broadcast from the host on port 1 skips port 3.
    assert_eq!(
        sw.decide(t(1), 1, &data(MacAddr::BROADCAST, host(1)), &mut out),
        Forward::Flood
    );
    assert_eq!(ports(&out), vec![2]);
}

#[test]
fn a_topology_change_flushes_the_vlan() {
    let mut sw = switch(0x61, true, 2);
    let mut out = Vec::new();
    sw.decide(t(0), 1, &data(MacAddr::BROADCAST, host(1)), &mut out);
    sw.decide(t(0), 2, &data(MacAddr::BROADCAST, host(2)), &mut out);
    assert_eq!(sw.fdb().len(), 2);
    // A received topology change (flag bit 0) flushes VLAN 0.
    sw.decide(t(10), 2, &bpdu_from(better_root(), 0x3d).to_vec(), &mut out);
    assert!(sw.fdb().is_empty());
    // So does a port joining.
    sw.decide(t(20), 1, &data(MacAddr::BROADCAST, host(1)), &mut out);
    assert_eq!(sw.fdb().len(), 1);
    attach(&mut sw, 3);
    sw.handle_timeout(t(30));
    assert!(sw.fdb().is_empty());
    // Without FSTP a joining port flushes nothing.
    let mut off = switch(0x61, false, 2);
    off.decide(t(0), 1, &data(MacAddr::BROADCAST, host(1)), &mut out);
    attach(&mut off, 3);
    off.handle_timeout(t(30));
    assert_eq!(off.fdb().len(), 1);
}

#[test]
fn hub_mode_and_fstp_exclude_each_other() {
    let mut sw = switch(0x61, true, 2);
    sw.set_hub(true);
    sw.handle_timeout(t(0));
    assert!(!sw.stp().enabled());
    assert!(sw.set_fstp(t(1), true).is_err());
    assert!(sw.set_fstp(t(1), false).is_ok(), "no change: no refusal");
    sw.set_hub(false);
    sw.set_fstp(t(2), true).unwrap();
    assert!(sw.stp().enabled());
    // Switching on sends BPDUs on every port at once.
    assert_eq!(drain(&mut sw).len(), 2);
}

/// Delivers every BPDU each switch writes to the other over `cables`
/// ((port on a, port on b)) until both are quiet, jumping time to the next
/// deadline within 100 ms. Returns the time reached.
fn exchange(
    start: Instant,
    a: &mut Switch<H>,
    b: &mut Switch<H>,
    cables: &[(PortId, PortId)],
) -> Instant {
    let mut now = start;
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let from_a = drain(a);
        let from_b = drain(b);
        if from_a.is_empty() && from_b.is_empty() {
            let next = a.poll_timeout().min(b.poll_timeout());
            if next > start + Duration::from_millis(100) {
                return now;
            }
            now = now.max(next);
            a.handle_timeout(now);
            b.handle_timeout(now);
            continue;
        }
        for (port, f) in from_a {
            if let Some(&(_, pb)) = cables.iter().find(|(pa, _)| *pa == port) {
                b.decide(now, pb, &f, &mut out);
            }
        }
        for (port, f) in from_b {
            if let Some(&(pa, _)) = cables.iter().find(|(_, pb)| *pb == port) {
                a.decide(now, pa, &f, &mut out);
            }
        }
    }
    panic!("BPDUs never stopped");
}

/// A data frame from `ingress` of `sw`, followed across the cables until it
/// reaches hosts: returns how many copies reached each host port
/// ((switch, port) → copies), `None` after 1000 copies (a storm).
fn flood(
    sws: &mut [&mut Switch<H>; 2],
    cables: &[(PortId, PortId)],
    from: (usize, PortId),
    frame: &[u8],
) -> Option<Vec<((usize, PortId), u32)>> {
    let mut queue = vec![from];
    let mut reached: Vec<((usize, PortId), u32)> = Vec::new();
    let mut out = Vec::new();
    let mut copies = 0;
    while let Some((s, port)) = queue.pop() {
        copies += 1;
        if copies > 1000 {
            return None;
        }
        sws[s].decide(t(50_000), port, frame, &mut out);
        for e in &out {
            let peer = cables.iter().find_map(|&(pa, pb)| match s {
                0 if pa == e.port => Some((1, pb)),
                1 if pb == e.port => Some((0, pa)),
                _ => None,
            });
            match peer {
                Some(next) => queue.push(next),
                None => match reached.iter_mut().find(|(k, _)| *k == (s, e.port)) {
                    Some((_, n)) => *n += 1,
                    None => reached.push(((s, e.port), 1)),
                },
            }
        }
    }
    Some(reached)
}

#[test]
fn two_switches_in_a_two_cable_loop_block_one_cable_and_flood_once() {
    // spec/fstp.md §6: probes on port 1, cable0 = A3-B2, cable1 = A2-B3.
    let mut a = switch(0x61, true, 3);
    let mut b = switch(0x70, true, 3);
    let cables = [(3, 2), (2, 3)];
    let now = exchange(t(1000), &mut a, &mut b, &cables);
    assert_eq!(b.stp().summary(0).unwrap().root, a.stp().bridge_id());
    assert_eq!(b.stp().role(0, 3), Some(Role::Root));
    assert_eq!(a.stp().role(0, 3), Some(Role::Alternate));
    assert_eq!(b.stp().role(0, 2), Some(Role::Alternate));
    // Hellos for a while: stable.
    let mut at = now;
    for _ in 0..5 {
        at = at.max(a.poll_timeout().min(b.poll_timeout()));
        a.handle_timeout(at);
        b.handle_timeout(at);
        at = exchange(at, &mut a, &mut b, &cables);
    }
    assert_eq!(a.stp().role(0, 3), Some(Role::Alternate));
    // One broadcast from A's probe reaches B's probe exactly once.
    let reached = flood(
        &mut [&mut a, &mut b],
        &cables,
        (0, 1),
        &data(MacAddr::BROADCAST, host(1)),
    );
    assert_eq!(reached, Some(vec![((1, 1), 1)]));
    // Without FSTP the same loop storms.
    let mut a = switch(0x61, false, 3);
    let mut b = switch(0x70, false, 3);
    let storm = flood(
        &mut [&mut a, &mut b],
        &cables,
        (0, 1),
        &data(MacAddr::BROADCAST, host(1)),
    );
    assert_eq!(storm, None, "a loop without spanning tree must storm");
}
