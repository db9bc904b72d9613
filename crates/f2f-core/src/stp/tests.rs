//! Scripted-time tests of the FSTP machine: "at t feed X, expect Y".

use super::*;

fn mac(last: u8) -> MacAddr {
    MacAddr([0x00, 0xff, 0x01, 0x9c, 0xac, last])
}

fn on(last: u8) -> Stp {
    Stp::new(StpConfig {
        enabled: true,
        ..StpConfig::new(mac(last))
    })
}

fn t(secs: u64) -> Instant {
    Instant::from_secs(secs)
}

fn drain(s: &mut Stp) -> Vec<Transmit> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn events(s: &mut Stp) -> Vec<StpEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// Cables between two switches: (port on a, port on b). Deliver every queued
/// BPDU instantly, and the paced ones when due, until both are quiet (no
/// deadline but the hello or an expiry left within 100 ms).
fn exchange(start: Instant, a: &mut Stp, b: &mut Stp, cables: &[(u16, u16)]) -> Instant {
    let mut now = start;
    for _ in 0..1000 {
        let from_a = drain(a);
        let from_b = drain(b);
        if from_a.is_empty() && from_b.is_empty() {
            let next = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(at) if at <= start + Duration::from_millis(100) => {
                    now = now.max(at);
                    a.handle_timeout(now);
                    b.handle_timeout(now);
                    continue;
                }
                _ => return now,
            }
        }
        for tx in from_a {
            if let Some(&(_, pb)) = cables.iter().find(|(pa, _)| *pa == tx.port) {
                b.handle_bpdu(now, 0, pb, &tx.bpdu);
            }
        }
        for tx in from_b {
            if let Some(&(pa, _)) = cables.iter().find(|(_, pb)| *pb == tx.port) {
                a.handle_bpdu(now, 0, pa, &tx.bpdu);
            }
        }
    }
    panic!("BPDUs never stopped");
}

/// A BPDU as a neighbour with id `root` (root itself) would send it.
fn from_root(root: BridgeId, flags: u8) -> Bpdu {
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

#[test]
fn a_new_port_forwards_and_gets_the_captured_first_bpdu() {
    let mut s = on(0x61);
    s.handle_port_up(t(0), 0, 1, false).unwrap();
    assert!(s.forwarding(0, 1) && s.learning(0, 1));
    let tx = drain(&mut s);
    assert_eq!(tx.len(), 1);
    assert_eq!((tx[0].port, tx[0].vlan, tx[0].tagged), (1, 0, false));
    // Byte for byte the first BPDU of a real vde_switch (spec/fstp.md §2).
    let captured = "0180c2000000 00ff019cac61 0027 424203 0000 02 02 3c \
                    800000ff019cac61 00000000 800000ff019cac61 8001 0000 2800 0400 0000 00";
    let hex: String = tx[0]
        .bpdu
        .to_vec()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, captured.replace(' ', ""));
    // A port joining is a topology change: the VLAN is flushed.
    assert!(events(&mut s).contains(&StpEvent::FlushVlan { vlan: 0 }));
}

#[test]
fn hellos_every_four_seconds_with_agreement() {
    let mut s = on(0x61);
    s.handle_port_up(t(0), 0, 1, false).unwrap();
    s.handle_port_up(t(0), 0, 2, true).unwrap();
    drain(&mut s);
    assert_eq!(s.poll_timeout(), Some(t(4)));
    s.handle_timeout(t(3)); // early: harmless
    assert!(drain(&mut s).is_empty());
    s.handle_timeout(t(4));
    let tx = drain(&mut s);
    assert_eq!(tx.len(), 2);
    assert!(tx.iter().all(|x| x.bpdu.flags.0 == 0x7c));
    assert_eq!(tx[1].bpdu.vlan, Some(0));
    assert_eq!(tx[1].bpdu.buffer_len(), 57);
    assert_eq!(s.poll_timeout(), Some(t(8)));
    // Late by more than a period: one hello, then back on a 4 s rhythm.
    s.handle_timeout(t(19));
    assert_eq!(drain(&mut s).len(), 2);
    assert_eq!(s.poll_timeout(), Some(t(23)));
}

#[test]
fn better_root_takes_the_root_port_and_gets_agreement() {
    let mut s = on(0x61);
    for p in 1..=3 {
        s.handle_port_up(t(0), 0, p, false).unwrap();
    }
    drain(&mut s);
    events(&mut s);
    let root = BridgeId {
        priority: 0x1000,
        mac: mac(0x99),
    };
    s.handle_bpdu(t(1), 0, 2, &from_root(root, 0x3c));
    assert_eq!(s.role(0, 2), Some(Role::Root));
    assert!(s.forwarding(0, 2));
    // Ports 1 and 3 never spoke FSTP: hosts, still forwarding.
    assert!(s.forwarding(0, 1) && s.forwarding(0, 3));
    let summary = s.summary(0).unwrap();
    assert_eq!(
        (summary.root, summary.root_port, summary.root_cost),
        (root, Some(2), DEFAULT_COST)
    );
    let tx = drain(&mut s);
    let to_root: Vec<_> = tx.iter().filter(|x| x.port == 2).collect();
    assert_eq!(to_root.len(), 1);
    let f = to_root[0].bpdu.flags;
    assert!(f.sender_is_root_port() && f.agreement() && f.sender_forwarding());
    assert_eq!(to_root[0].bpdu.message_age, 1);
    assert!(events(&mut s).contains(&StpEvent::RootChanged {
        vlan: 0,
        root,
        root_port: Some(2)
    }));
}

#[test]
fn two_cable_loop_blocks_the_redundant_cable_at_both_ends() {
    // spec/fstp.md §6: A (lower MAC) and B, probes on port 1, cable0 = A3-B2,
    // cable1 = A2-B3.
    let mut a = on(0x61);
    let mut b = on(0x70);
    let now = t(1);
    for p in 1..=3 {
        a.handle_port_up(now, 0, p, false).unwrap();
        b.handle_port_up(now, 0, p, false).unwrap();
    }
    let cables = [(3, 2), (2, 3)];
    exchange(now, &mut a, &mut b, &cables);
    assert_eq!(a.summary(0).unwrap().root_port, None);
    assert_eq!(b.summary(0).unwrap().root, a.bridge_id());
    // B's root port is the cable reaching A's lower port id (A2 → B3).
    assert_eq!(b.role(0, 3), Some(Role::Root));
    assert_eq!(a.role(0, 2), Some(Role::Designated));
    // The redundant cable is blocked at both ends, as with vde_switch.
    assert_eq!(a.role(0, 3), Some(Role::Alternate));
    assert_eq!(b.role(0, 2), Some(Role::Alternate));
    assert!(!a.forwarding(0, 3) && !a.learning(0, 3) && !b.forwarding(0, 2));
    // Probes forward.
    assert!(a.forwarding(0, 1) && b.forwarding(0, 1));
    // Hellos keep it stable for a minute.
    for s in (4..60).step_by(4) {
        a.handle_timeout(t(s));
        b.handle_timeout(t(s));
        exchange(t(s), &mut a, &mut b, &cables);
    }
    assert_eq!(b.role(0, 3), Some(Role::Root));
    assert_eq!(a.role(0, 3), Some(Role::Alternate));
    assert_eq!(b.role(0, 2), Some(Role::Alternate));
    // Cut the tree cable: B's other cable takes over at once.
    a.handle_port_down(t(60), 2);
    b.handle_port_down(t(60), 3);
    exchange(t(60), &mut a, &mut b, &[(3, 2)]);
    assert_eq!(b.role(0, 2), Some(Role::Root));
    assert_eq!(a.role(0, 3), Some(Role::Designated));
    assert!(a.forwarding(0, 3) && b.forwarding(0, 2));
    // Cut that one too: B is its own root again.
    b.handle_port_down(t(61), 2);
    assert_eq!(b.summary(0).unwrap().root, b.bridge_id());
}

#[test]
fn silent_neighbour_is_forgotten_after_twelve_seconds() {
    let mut s = on(0x70);
    s.handle_port_up(t(0), 0, 1, false).unwrap();
    s.handle_port_up(t(0), 0, 2, false).unwrap();
    let root = BridgeId {
        priority: 0x8000,
        mac: mac(0x01),
    };
    // Root on port 1; the same root's info on port 2 from a designated port.
    s.handle_bpdu(t(1), 0, 1, &from_root(root, 0x7c));
    let mut other = from_root(root, 0x7c);
    other.port_id = vde_port_id(2);
    s.handle_bpdu(t(1), 0, 2, &other);
    assert_eq!(s.role(0, 1), Some(Role::Root));
    assert_eq!(s.role(0, 2), Some(Role::Alternate));
    // A BPDU owed on port 1 goes after the pacing gap, then the hello.
    drain(&mut s);
    assert_eq!(s.poll_timeout(), Some(t(1) + TX_GAP));
    s.handle_timeout(t(1) + TX_GAP);
    let paced = drain(&mut s);
    assert_eq!(paced.len(), 1);
    assert_eq!(paced[0].port, 1);
    assert_eq!(s.poll_timeout(), Some(t(4)));
    s.handle_timeout(t(4));
    // Port 2 keeps hearing, port 1 goes silent.
    s.handle_bpdu(t(9), 0, 2, &other);
    s.handle_timeout(t(12));
    assert_eq!(s.role(0, 1), Some(Role::Root));
    s.handle_timeout(t(13));
    assert_eq!(s.role(0, 2), Some(Role::Root));
    assert_eq!(s.role(0, 1), Some(Role::Designated));
    assert!(s.forwarding(0, 1));
    s.handle_timeout(t(21));
    assert_eq!(s.summary(0).unwrap().root, s.bridge_id());
    assert!(s.forwarding(0, 2));
}

#[test]
fn disabled_forwards_everything_and_ignores_bpdus() {
    let mut s = Stp::new(StpConfig::new(mac(1)));
    s.handle_port_up(t(0), 0, 1, false).unwrap();
    let root = BridgeId {
        priority: 0,
        mac: mac(0),
    };
    s.handle_bpdu(t(0), 0, 1, &from_root(root, 0x3c));
    assert_eq!(s.counters().bpdus_ignored, 1);
    assert!(s.forwarding(0, 1) && s.forwarding(7, 9));
    assert!(drain(&mut s).is_empty() && s.poll_timeout().is_none());
    // Switching on speaks at once and arms the hello.
    s.set_enabled(t(5), true);
    assert_eq!(drain(&mut s).len(), 1);
    assert_eq!(s.poll_timeout(), Some(t(9)));
    s.handle_bpdu(t(5), 0, 1, &from_root(root, 0x3c));
    assert_eq!(s.summary(0).unwrap().root, root);
    // Off again: root of our own tree, everything forwards, nothing queued.
    s.set_enabled(t(6), false);
    assert_eq!(s.summary(0).unwrap().root, s.bridge_id());
    assert!(drain(&mut s).is_empty());
}

#[test]
fn edge_ports_neither_send_nor_listen() {
    let mut s = on(0x70);
    s.handle_port_up(t(0), 0, 1, false).unwrap();
    s.set_edge(t(0), 0, 1, true).unwrap();
    drain(&mut s);
    let root = BridgeId {
        priority: 0,
        mac: mac(0),
    };
    s.handle_bpdu(t(1), 0, 1, &from_root(root, 0x3c));
    assert_eq!(s.summary(0).unwrap().root, s.bridge_id());
    assert_eq!(s.role(0, 1), Some(Role::Edge));
    s.handle_timeout(t(4));
    assert!(drain(&mut s).is_empty());
    assert_eq!(
        s.set_edge(t(4), 0, 9, true),
        Err(StpError::UnknownPort { vlan: 0, port: 9 })
    );
    assert_eq!(
        s.set_edge(t(4), 5, 1, true),
        Err(StpError::UnknownVlan { vlan: 5 })
    );
    assert_eq!(
        s.handle_port_up(t(4), 4095, 1, true),
        Err(StpError::VlanOutOfRange { vlan: 4095 })
    );
}

#[test]
fn topology_change_flushes_and_is_passed_on_once_per_hold() {
    let mut s = on(0x70);
    for p in 1..=3 {
        s.handle_port_up(t(0), 0, p, false).unwrap();
    }
    let root = BridgeId {
        priority: 0,
        mac: mac(0),
    };
    s.handle_bpdu(t(0), 0, 1, &from_root(root, 0x7c));
    // Port 2 hosts a child switch that agreed.
    let mut child = from_root(root, 0x34);
    child.bridge = BridgeId {
        priority: 0x8000,
        mac: mac(0x80),
    };
    child.root_cost = 2 * DEFAULT_COST;
    s.handle_bpdu(t(0), 0, 2, &child);
    assert_eq!(s.role(0, 2), Some(Role::Designated));
    s.handle_timeout(t(1)); // the paced BPDUs go
    drain(&mut s);
    events(&mut s);
    s.handle_bpdu(t(10), 0, 1, &from_root(root, 0x7d));
    assert!(events(&mut s).contains(&StpEvent::FlushVlan { vlan: 0 }));
    let tx = drain(&mut s);
    // Passed on to the child only (port 3 is a host, port 1 the origin).
    assert_eq!(tx.len(), 1);
    assert_eq!(tx[0].port, 2);
    assert!(tx[0].bpdu.flags.topology_change());
    // A second TC within the hold is honoured but not passed on.
    s.handle_bpdu(t(10), 0, 1, &from_root(root, 0x7d));
    assert!(events(&mut s).contains(&StpEvent::FlushVlan { vlan: 0 }));
    assert!(drain(&mut s).is_empty());
}

#[test]
fn split_horizon_never_roots_through_a_child() {
    let mut s = on(0x70);
    s.handle_port_up(t(0), 0, 1, false).unwrap();
    // A neighbour claims a better root but says this link is its root port.
    let root = BridgeId {
        priority: 0,
        mac: mac(0),
    };
    s.handle_bpdu(t(0), 0, 1, &from_root(root, 0x34));
    assert_eq!(s.summary(0).unwrap().root, s.bridge_id());
    assert_eq!(s.role(0, 1), Some(Role::Alternate));
}

#[test]
fn information_aged_forty_hops_is_not_used() {
    let mut s = on(0x70);
    s.handle_port_up(t(0), 0, 1, false).unwrap();
    let root = BridgeId {
        priority: 0,
        mac: mac(0),
    };
    let mut old = from_root(root, 0x3c);
    old.message_age = MAX_AGE_HOPS;
    s.handle_bpdu(t(0), 0, 1, &old);
    assert_eq!(s.summary(0).unwrap().root, s.bridge_id());
    old.message_age = MAX_AGE_HOPS - 1;
    s.handle_bpdu(t(0), 0, 1, &old);
    assert_eq!(s.summary(0).unwrap().root, root);
}

#[test]
fn bonus_prefers_a_port_but_a_hop_never_becomes_free() {
    let mut s = on(0x70);
    s.handle_port_up(t(0), 0, 1, false).unwrap();
    s.handle_port_up(t(0), 0, 2, false).unwrap();
    let root = BridgeId {
        priority: 0,
        mac: mac(0),
    };
    let near = from_root(root, 0x3c);
    let mut far = from_root(root, 0x3c);
    far.root_cost = 1000;
    far.bridge = BridgeId {
        priority: 0x10,
        mac: mac(5),
    };
    s.handle_bpdu(t(0), 0, 1, &near);
    s.handle_bpdu(t(0), 0, 2, &far);
    assert_eq!(s.summary(0).unwrap().root_port, Some(1));
    s.set_bonus(t(0), 0, 2, 2000).unwrap();
    assert_eq!(s.summary(0).unwrap().root_port, Some(2));
    assert_eq!(s.summary(0).unwrap().root_cost, DEFAULT_COST - 1000);
    s.set_bonus(t(0), 0, 2, i32::MAX).unwrap();
    assert_eq!(s.summary(0).unwrap().root_cost, 1001);
}

#[test]
fn better_roots_every_millisecond_keep_hosts_forwarding() {
    let mut s = Stp::new(StpConfig {
        enabled: true,
        max_pending: 64,
        ..StpConfig::new(mac(0x70))
    });
    for p in 1..=4 {
        s.handle_port_up(t(0), 0, p, false).unwrap();
    }
    for i in 0..5000u64 {
        let now = Instant::from_millis(i);
        let root = BridgeId {
            priority: (5000 - i) as u16,
            mac: mac(i as u8),
        };
        s.handle_bpdu(now, 0, 4, &from_root(root, 0x3c));
        s.handle_timeout(now);
    }
    // The attacker is root port; hosts on 1..3 never stopped forwarding.
    for p in 1..=3 {
        assert!(s.forwarding(0, p));
    }
    // Queues stayed bounded; drops were counted.
    assert!(drain(&mut s).len() <= 64 && events(&mut s).len() <= 64);
    assert!(s.counters().events_dropped > 0);
}

#[test]
fn unknown_ports_and_vlans_are_ungated_and_ignored() {
    let mut s = on(1);
    assert!(s.forwarding(3, 7) && s.learning(3, 7));
    s.handle_bpdu(t(0), 3, 7, &from_root(s.bridge_id(), 0x3c));
    assert_eq!(s.counters().bpdus_ignored, 1);
    s.add_vlan(3).unwrap();
    assert_eq!(s.vlans().collect::<Vec<_>>(), vec![0, 3]);
    s.remove_vlan(3).unwrap();
    assert_eq!(s.remove_vlan(3), Err(StpError::UnknownVlan { vlan: 3 }));
}
