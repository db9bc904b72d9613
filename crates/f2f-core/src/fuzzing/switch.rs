//! Fuzz entry points for the console and the switch decision.

/// A console host with fixed answers, for fuzzing the console.
struct FuzzHost;

impl crate::console::ConsoleHost for FuzzHost {
    fn pid(&self) -> u32 {
        1
    }
    fn uptime_secs(&self) -> u64 {
        1
    }
    fn mgmt_socket(&self) -> Option<(String, u32)> {
        Some(("/run/f2f/mgmt".into(), 0o600))
    }
    fn ctl_dir(&self) -> (String, u32) {
        ("/run/f2f".into(), 0o600)
    }
    fn user_name(&self, uid: u32) -> String {
        uid.to_string()
    }
    fn group_name(&self, gid: u32) -> String {
        gid.to_string()
    }
}

type FuzzHasher = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

fn fuzz_switch(numports: usize, capacity: usize) -> crate::switch::Switch<FuzzHasher> {
    use crate::fdb::FdbConfig;
    use crate::switch::{Switch, SwitchConfig};
    Switch::new(
        SwitchConfig {
            numports,
            fdb: FdbConfig {
                capacity,
                ..FdbConfig::default()
            },
            ..SwitchConfig::default()
        },
        FuzzHasher::default(),
    )
}

/// Runs every line of `data` through the console of a small switch: no line
/// may panic, and every reply renders in vde_switch's framing.
pub fn console_lines(data: &[u8]) {
    use crate::console::{execute, parse_line, Action};
    let text = String::from_utf8_lossy(data);
    let mut sw = fuzz_switch(8, 64);
    for line in text.split('\n') {
        let _ = parse_line(line);
        let reply = execute(&mut sw, &FuzzHost, line);
        let out = reply.render();
        match reply.action {
            Action::Logout | Action::Shutdown => {
                assert!(out.ends_with(crate::console::END_OF_SESSION))
            }
            Action::Capture { .. } => assert_eq!(out, "1000 Success\n", "capture reply"),
            _ => assert!(
                out.ends_with(crate::console::PROMPT),
                "reply without prompt: {out:?}"
            ),
        }
        if let Some(data) = &reply.data {
            assert!(out.starts_with("0000 DATA END WITH '.'\n"));
            assert!(
                data.lines().all(|l| l != "."),
                "a data line ends the block early: {data:?}"
            );
            assert!(data.is_empty() || data.ends_with('\n'));
        }
        if let Action::Load { path } = &reply.action {
            assert!(reply.status.is_none(), "load's status is the shell's");
            let echo = crate::console::script_echo(path, line);
            assert_eq!(echo.matches('\n').count(), 1, "script echo is one line");
        }
    }
}

/// One step of a switch operation sequence.
#[derive(Debug, arbitrary::Arbitrary)]
enum SwitchOp {
    Attach {
        port: u8,
        user: bool,
    },
    Detach {
        port: u8,
    },
    Frame {
        port: u8,
        dst: u8,
        src: u8,
        len: u16,
        tag: Option<u16>,
        multicast: bool,
    },
    Advance {
        millis: u16,
    },
    SetHub(bool),
    SetFstp(bool),
    /// A BPDU (or something sent to the BPDU address) on `port`.
    Bpdu {
        port: u8,
        root: u8,
        root_priority: bool,
        cost: u8,
        bridge: u8,
        port_id: u8,
        flags: u8,
        age: u8,
        tag: Option<u8>,
        /// Cut the frame to this many bytes when below 57.
        cut: u8,
        version: bool,
    },
    SetVlan {
        port: u8,
        vlan: u8,
    },
    AddTagged {
        port: u8,
        vlan: u8,
    },
    Console(u8),
    /// Subscribe to the debug categories in this mask.
    Debug(u16),
}

/// Drives the switch with arbitrary operation sequences and checks its
/// invariants after every step: a frame never goes back out of its ingress
/// port, only to active ports, at most once per port, never out of (nor in
/// through) a port the spanning tree keeps discarding, a BPDU is never
/// forwarded while FSTP is on, every BPDU the switch writes parses, the
/// MAC table never exceeds its capacity, its per-port counts (port
/// security, `hash/setportmax`) always add up to its size, and debug events
/// come only for the categories subscribed to, each printed as one
/// `3TTT path` line.
pub fn switch_ops(data: &[u8]) {
    use crate::mac::MacAddr;
    use crate::switch::{rewrite_frame, AttachRequest, Endpoint, PortRequest, Rewrite};
    use crate::time::{Duration, Instant};
    use crate::wire::bpdu::{Bpdu, BpduFlags, BridgeId, BPDU_DST};
    use arbitrary::{Arbitrary, Unstructured};

    const CAPACITY: usize = 16;
    let mut u = Unstructured::new(data);
    let mut sw = fuzz_switch(8, CAPACITY);
    let mut now = Instant::ZERO;
    let mut out = Vec::new();
    let mut next_id = 0u32;
    let mut debug_mask = 0u16;
    let commands = [
        "vlan/create 5",
        "port/sethub 0",
        "port/create 3",
        "port/remove 3",
        "port/setnumports 6",
        "port/resetcounter",
        "fstp/setfstp 1",
        "fstp/setedge 0 1 1",
        "fstp/bonus 0 2 100",
        "fstp/print",
        "vlan/addport 5 1",
        "vlan/delport 5 1",
        "port/setvlan 2 5",
        "port/setvlan 2 0",
        "vlan/remove 5",
        "hash/setsize 4",
        "hash/setexpire 1",
        "hash/setminper 0",
        "port/setvlan 3 4095",
        "hash/setportmax 3",
        "hash/setportmax 0",
    ];
    // `arbitrary` keeps producing values from an exhausted input, so stop at
    // its end (and after a bounded number of steps).
    for _ in 0..10_000 {
        if u.is_empty() {
            break;
        }
        let Ok(op) = SwitchOp::arbitrary(&mut u) else {
            break;
        };
        match op {
            SwitchOp::Attach { port, user } => {
                next_id += 1;
                let _ = sw.attach(AttachRequest {
                    port: PortRequest::Number(u32::from(port % 10)),
                    endpoint: Endpoint {
                        id: next_id,
                        module: "fuzz",
                        description: String::new(),
                        user: u32::from(user),
                    },
                    groups: Vec::new(),
                });
            }
            SwitchOp::Detach { port } => {
                let id = sw
                    .port(u16::from(port % 10))
                    .and_then(|p| p.endpoints.first())
                    .map(|e| e.id);
                if let Some(id) = id {
                    sw.detach(u16::from(port % 10), id);
                }
            }
            SwitchOp::Frame {
                port,
                dst,
                src,
                len,
                tag,
                multicast,
            } => {
                let mut frame = vec![0u8; usize::from(len % 1600)];
                let dst = MacAddr([u8::from(multicast), 0, 0, 0, 0, dst % 8]);
                let src = MacAddr([0x02, 0, 0, 0, 1, src]);
                for (slot, byte) in frame.iter_mut().zip(dst.0.iter().chain(src.0.iter())) {
                    *slot = *byte;
                }
                if let Some(vid) = tag {
                    let mut scratch = Vec::new();
                    frame = rewrite_frame(&frame, Rewrite::AddTag(vid % 8), &mut scratch).to_vec();
                }
                let ingress = u16::from(port % 10);
                decide_and_check(&mut sw, now, ingress, &frame, &mut out);
            }
            SwitchOp::Bpdu {
                port,
                root,
                root_priority,
                cost,
                bridge,
                port_id,
                flags,
                age,
                tag,
                cut,
                version,
            } => {
                let id = |n: u8, low: bool| BridgeId {
                    priority: if low { 0x1000 } else { 0x8000 },
                    mac: MacAddr([0x00, 0xff, 0, 0, 0, n % 8]),
                };
                let b = Bpdu {
                    src: MacAddr([0x00, 0xff, 0, 0, 0, bridge % 8]),
                    vlan: tag.map(|t| u16::from(t % 8)),
                    flags: BpduFlags(flags),
                    root: id(root, root_priority),
                    root_cost: u32::from(cost) * 1_000_000,
                    bridge: id(bridge, false),
                    port_id: 0x8000 | u16::from(port_id),
                    message_age: u16::from(age % 48),
                    max_age: 40,
                    hello_time: 4,
                    forward_delay: 0,
                };
                let mut frame = b.to_vec();
                if !version {
                    if let Some(v) = frame.get_mut(19 + if b.vlan.is_some() { 4 } else { 0 }) {
                        *v = 0;
                    }
                }
                frame.truncate(usize::from(cut).max(14));
                let ingress = u16::from(port % 10);
                let verdict = decide_and_check(&mut sw, now, ingress, &frame, &mut out);
                if sw.stp().enabled() && !sw.config().hub && frame.starts_with(&BPDU_DST.0) {
                    assert!(
                        out.is_empty(),
                        "a BPDU was forwarded with FSTP on: {verdict:?}"
                    );
                }
            }
            SwitchOp::SetFstp(on) => {
                let _ = sw.set_fstp(now, on);
            }
            SwitchOp::Advance { millis } => {
                now += Duration::from_millis(u64::from(millis) * 50);
                sw.handle_timeout(now);
            }
            SwitchOp::SetHub(hub) => sw.set_hub(hub),
            SwitchOp::SetVlan { port, vlan } => {
                let _ = sw.create_vlan(u16::from(vlan % 8));
                let _ = sw.set_port_vlan(u16::from(port % 10), u16::from(vlan % 8));
            }
            SwitchOp::AddTagged { port, vlan } => {
                let _ = sw.add_tagged(u16::from(vlan % 8), u16::from(port % 10));
            }
            SwitchOp::Console(i) => {
                let line = commands
                    .get(usize::from(i) % commands.len())
                    .copied()
                    .unwrap_or("");
                let _ = crate::console::execute(&mut sw, &FuzzHost, line);
            }
            SwitchOp::Debug(mask) => {
                debug_mask = mask;
                sw.set_debug_mask(mask);
            }
        }
        while let Some(event) = sw.poll_debug_event() {
            let c = event.category();
            assert!(debug_mask & c.bit() != 0, "unsubscribed event {event:?}");
            let line = crate::console::render_debug(&event);
            let head = format!("3{:03o} {} ", c.tag(), c.path());
            assert!(line.starts_with(&head), "{line:?}");
            assert_eq!(line.matches('\n').count(), 1, "{line:?}");
        }
        assert!(sw.fdb().len() <= CAPACITY, "MAC table over capacity");
        let per_port: usize = (0..16).map(|p| sw.fdb().port_len(p)).sum();
        assert_eq!(
            per_port,
            sw.fdb().len(),
            "per-port counts disagree with the table"
        );
        while let Some(b) = sw.poll_transmit() {
            assert!(
                sw.port(b.port).is_some_and(|p| p.is_active()),
                "BPDU to inactive port {}",
                b.port
            );
            assert!(Bpdu::parse(b.frame()).is_ok(), "unparsable BPDU written");
        }
        assert!(
            !(sw.config().hub && sw.stp().enabled()),
            "hub and FSTP together"
        );
    }
}

/// One decision with the per-frame invariants of [`switch_ops`].
fn decide_and_check(
    sw: &mut crate::switch::Switch<FuzzHasher>,
    now: crate::time::Instant,
    ingress: u16,
    frame: &[u8],
    out: &mut Vec<crate::switch::Egress>,
) -> crate::switch::Forward {
    use crate::switch::Forward;
    let verdict = sw.decide(now, ingress, frame, out);
    let mut seen = std::collections::BTreeSet::new();
    // The VLAN the frame belongs to, as the switch classifies it.
    let tag = match (frame.get(12..14), frame.get(14..16)) {
        (Some(&[0x81, 0x00]), Some(&[hi, lo])) => Some(u16::from_be_bytes([hi, lo]) & 0x0fff),
        _ => None,
    };
    let vlan = tag.or_else(|| sw.port(ingress).map(|p| p.untagged_vlan));
    for e in out.iter() {
        assert_ne!(e.port, ingress, "frame sent back out of its ingress port");
        assert!(seen.insert(e.port), "two copies to port {}", e.port);
        assert!(
            sw.port(e.port).is_some_and(|p| p.is_active()),
            "copy to inactive port {}",
            e.port
        );
        if let Some(v) = vlan {
            assert!(
                sw.stp().forwarding(v, e.port),
                "copy out of port {} discarding in VLAN {v}",
                e.port
            );
        }
    }
    if let (Some(v), false) = (vlan, out.is_empty()) {
        assert!(
            sw.stp().forwarding(v, ingress),
            "forwarded from port {ingress} discarding in VLAN {v}"
        );
    }
    if let Forward::Drop(_) | Forward::Consumed = verdict {
        assert!(out.is_empty());
    }
    verdict
}

#[cfg(test)]
mod switch_tests {
    use super::*;

    #[test]
    fn console_and_switch_targets_run_on_samples() {
        console_lines(b"help\nport/print 1\nport/create 2\nport/allprint\nport/epclose 1 2\n\xff\xfe\nlogout\nshutdown");
        console_lines(b"vlan/create 9\nport/create 3\nport/setvlan 3 9\nvlan/addport 9 3\nvlan/print\nvlan/allprint 9\nvlan/delport 9 3\nvlan/remove 9\nhash/print\nhash/find 02:00:00:00:00:01 0\nhash/setsize 0x10\nfstp/print\nfstp/setfstp 1\nfstp/bonus 0 1 -5\nfstp/setedge 0 1 1\ndebug/list\ndebug/add port\nplugin/list\nport/setuser 3 NONE\nport/setgroup 3 0\nload /x\x07\n");
        let mut data = Vec::new();
        for i in 0..4096u32 {
            data.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
        }
        switch_ops(&data);
        // Many seeds, so that FSTP gets switched on and BPDUs meet ports.
        for seed in 0..300u32 {
            let bytes: Vec<u8> = (0..2048u32)
                .map(|i| {
                    ((i ^ seed.wrapping_mul(0x9e37_79b9)).wrapping_mul(2_654_435_761) >> 11) as u8
                })
                .collect();
            switch_ops(&bytes);
        }
    }
}
