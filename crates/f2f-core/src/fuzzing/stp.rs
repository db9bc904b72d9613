//! Fuzz entry points for BPDUs and the spanning-tree machine.

use arbitrary::{Arbitrary, Unstructured};

use crate::mac::MacAddr;
use crate::stp::{PortState, Role, Stp, StpConfig};
use crate::time::{Duration, Instant};
use crate::wire::bpdu::{Bpdu, BpduFlags, BpduFrame, BridgeId};

/// BPDU parser round trip: whatever [`Bpdu::parse`] accepts emits to bytes
/// that parse to the same value and emit identically; the checked view's
/// accessors never panic.
pub fn bpdu(data: &[u8]) {
    if let Ok(frame) = BpduFrame::new_checked(data) {
        let _ = (
            frame.dst(),
            frame.src(),
            frame.vlan(),
            frame.length_field(),
            frame.llc(),
        );
        let _ = (
            frame.protocol(),
            frame.version(),
            frame.bpdu_type(),
            frame.flags(),
        );
        let _ = (
            frame.root(),
            frame.root_cost(),
            frame.bridge(),
            frame.port_id(),
        );
        let _ = (frame.message_age(), frame.max_age(), frame.hello_time());
        let _ = (frame.forward_delay(), frame.v1_len());
    }
    if let Ok(b) = Bpdu::parse(data) {
        let bytes = b.to_vec();
        assert_eq!(bytes.len(), b.buffer_len());
        assert_eq!(
            Bpdu::parse(&bytes),
            Ok(b),
            "parse(emit(parse(x))) != parse(x)"
        );
        let again = Bpdu::parse(&bytes).map(|x| x.to_vec());
        assert_eq!(again, Ok(bytes), "emit is not stable");
    }
}

/// Ports 0..PORTS and VLANs 0..VLANS are exercised (small, so that
/// operations collide).
const PORTS: u8 = 6;
const VLANS: u8 = 3;

/// One step of an FSTP operation sequence.
#[derive(Debug, Arbitrary)]
enum Op {
    /// A BPDU with these fields arrives.
    Bpdu {
        port: u8,
        vlan: u8,
        flags: u8,
        root: (u8, u8),
        cost: u32,
        bridge: (u8, u8),
        port_id: u16,
        age: u16,
    },
    /// Raw bytes arrive; fed in if they parse.
    Raw { port: u8, vlan: u8, bytes: Vec<u8> },
    /// A port joins a VLAN.
    PortUp { port: u8, vlan: u8, tagged: bool },
    /// A port goes down (all VLANs).
    PortDown { port: u8 },
    /// A port leaves one VLAN.
    PortLeave { port: u8, vlan: u8 },
    /// Time passes; due timeouts are delivered.
    Advance { millis: u16 },
    /// `fstp/bonus`.
    Bonus { vlan: u8, port: u8, cost: i32 },
    /// `fstp/setedge`.
    Edge { vlan: u8, port: u8, on: bool },
    /// `fstp/setfstp`.
    Enable { on: bool },
}

/// A small id: priority then the last MAC byte, so ids collide with ours.
fn id((prio, last): (u8, u8)) -> BridgeId {
    BridgeId {
        priority: u16::from(prio) << 8,
        mac: MacAddr([0x02, 0, 0, 0, 0, last]),
    }
}

/// FSTP machine operation sequences. Invariants after every step: a
/// Discarding port is never reported forwarding or learning; with FSTP off
/// every port forwards; per VLAN at most one Root port and it is the one
/// `summary` names; no root port ⇔ we are the root; Alternate ⇔ Discarding;
/// no BPDU goes out of an edge or non-member port; every BPDU sent parses
/// back to itself; after `handle_timeout(now)` the next deadline is later
/// than `now`; queues stay under their bound.
pub fn stp_ops(data: &[u8]) {
    const MAX_PENDING: usize = 64;
    let mut u = Unstructured::new(data);
    let mut stp = Stp::new(StpConfig {
        enabled: true,
        max_pending: MAX_PENDING,
        ..StpConfig::new(MacAddr([0x02, 0, 0, 0, 0, 0x80]))
    });
    let mut now = Instant::ZERO;
    for _ in 0..2048 {
        // `arbitrary` keeps producing zeros once the data runs out.
        if u.is_empty() {
            break;
        }
        let Ok(op) = Op::arbitrary(&mut u) else {
            break;
        };
        apply(&mut stp, &mut now, op);
        check(&mut stp, now, MAX_PENDING);
    }
}

fn apply(stp: &mut Stp, now: &mut Instant, op: Op) {
    let p = |x: u8| u16::from(x % PORTS);
    let v = |x: u8| u16::from(x % VLANS);
    match op {
        Op::Bpdu {
            port,
            vlan,
            flags,
            root,
            cost,
            bridge,
            port_id,
            age,
        } => {
            let b = Bpdu {
                src: id(bridge).mac,
                vlan: None,
                flags: BpduFlags(flags),
                root: id(root),
                root_cost: cost,
                bridge: id(bridge),
                port_id,
                message_age: age,
                max_age: 40,
                hello_time: 4,
                forward_delay: 0,
            };
            stp.handle_bpdu(*now, v(vlan), p(port), &b);
        }
        Op::Raw { port, vlan, bytes } => {
            if let Ok(b) = Bpdu::parse(&bytes) {
                stp.handle_bpdu(*now, v(vlan), p(port), &b);
            }
        }
        Op::PortUp { port, vlan, tagged } => {
            let r = stp.handle_port_up(*now, v(vlan), p(port), tagged);
            assert!(r.is_ok(), "small VLAN refused: {r:?}");
        }
        Op::PortDown { port } => stp.handle_port_down(*now, p(port)),
        Op::PortLeave { port, vlan } => stp.handle_port_leave(*now, v(vlan), p(port)),
        Op::Advance { millis } => {
            *now += Duration::from_millis(u64::from(millis));
            if stp.poll_timeout().is_some_and(|t| t <= *now) {
                stp.handle_timeout(*now);
                if let Some(next) = stp.poll_timeout() {
                    assert!(next > *now, "deadline {next} not after handled {now}");
                }
            }
        }
        Op::Bonus { vlan, port, cost } => {
            let _ = stp.set_bonus(*now, v(vlan), p(port), cost);
        }
        Op::Edge { vlan, port, on } => {
            let _ = stp.set_edge(*now, v(vlan), p(port), on);
        }
        Op::Enable { on } => stp.set_enabled(*now, on),
    }
}

fn check(stp: &mut Stp, now: Instant, max_pending: usize) {
    let me = stp.bridge_id();
    let vlans: Vec<u16> = stp.vlans().collect();
    for &vlan in &vlans {
        let mut roots = 0;
        for port in 0..u16::from(PORTS) {
            let state = stp.state(vlan, port);
            let role = stp.role(vlan, port);
            if !stp.enabled() {
                assert!(stp.forwarding(vlan, port) && stp.learning(vlan, port));
            }
            if stp.enabled() && state == Some(PortState::Discarding) {
                assert!(
                    !stp.forwarding(vlan, port),
                    "forwarding on discarding {vlan}/{port}"
                );
                assert!(
                    !stp.learning(vlan, port),
                    "learning on discarding {vlan}/{port}"
                );
            }
            assert_eq!(
                role == Some(Role::Alternate),
                state == Some(PortState::Discarding),
                "role {role:?} with state {state:?} on {vlan}/{port}"
            );
            if role == Some(Role::Root) {
                roots += 1;
                let root_port = stp.summary(vlan).and_then(|s| s.root_port);
                assert_eq!(root_port, Some(port));
            }
        }
        assert!(roots <= 1, "{roots} root ports in VLAN {vlan}");
        if let Some(s) = stp.summary(vlan) {
            assert_eq!(
                s.root_port.is_none(),
                s.root == me,
                "root {} via {:?}",
                s.root,
                s.root_port
            );
            assert!(s.root <= me, "adopted a worse root {}", s.root);
        }
    }
    let mut sent = 0;
    while let Some(tx) = stp.poll_transmit() {
        sent += 1;
        assert!(stp.enabled(), "BPDU sent with FSTP off");
        let role = stp.role(tx.vlan, tx.port);
        assert!(role.is_some(), "BPDU on non-member {}/{}", tx.vlan, tx.port);
        assert_ne!(role, Some(Role::Edge), "BPDU on edge port");
        assert_eq!(Bpdu::parse(&tx.bpdu.to_vec()), Ok(tx.bpdu));
        assert_eq!(tx.bpdu.vlan.is_some(), tx.tagged);
    }
    let mut events = 0;
    while stp.poll_event().is_some() {
        events += 1;
    }
    assert!(
        sent <= max_pending && events <= max_pending,
        "queue over its bound"
    );
    let _ = now;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stand-in for the fuzzer: many pseudo-random inputs.
    #[test]
    fn targets_hold_on_pseudo_random_inputs() {
        let mut x: u64 = 0x1234_5678;
        for len in 0..150usize {
            let data: Vec<u8> = (0..len * 8)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            bpdu(&data);
            stp_ops(&data);
        }
    }

    #[test]
    fn bpdu_target_accepts_a_real_bpdu() {
        let mut frame = vec![
            0x01, 0x80, 0xc2, 0, 0, 0, 0, 0xff, 1, 2, 3, 4, 0, 0x27, 0x42, 0x42, 3,
        ];
        frame.extend_from_slice(&[0, 0, 2, 2, 0x3c]);
        frame.resize(53, 0);
        bpdu(&frame);
    }
}
