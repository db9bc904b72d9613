//! VLANs with vde_switch's semantics, seen from hosts in network namespaces behind
//! `vde_plug2tap`: untagged membership (`port/setvlan`) isolates, a trunk (`vlan/addport`)
//! carries several VLANs tagged in both directions, and the 802.1Q tags are really on the
//! trunk's wire (a capture on a trunk tap, read back with `tcpdump -e -nn -r`). Each scenario
//! runs against ours and the real vde_switch.
//!
//! The test machines' kernel has no 802.1Q support (`ip link add … type vlan` answers "Unknown
//! device type"), so the VLAN-aware host at the far end of the trunk is played by the test
//! itself: a raw VDE client that answers ARP and ping, tagged, for one address per VLAN. The
//! kernel hosts only ever see untagged frames, as on any access port.
//!
//! Layout (all IPv4, one switch):
//!
//! | port | host | VLAN | addresses |
//! |---|---|---|---|
//! | 1 | `a` (tap) | untagged 10 | 10.210.0.1/24, 10.210.10.1/24 |
//! | 2 | `b` (tap) | untagged 20 | 10.210.0.2/24, 10.210.20.2/24 |
//! | 3 | `c` (tap) | untagged 10 | 10.210.0.3/24, 10.210.10.3/24 |
//! | 4 | `t` (tap, trunk) | untagged 0, tagged 10 and 20 | 10.210.0.4/24; captured by tcpdump |
//! | 5 | responder (trunk) | untagged 0, tagged 10 and 20 | 10.210.10.254 on VLAN 10, 10.210.20.254 on VLAN 20 |
//!
//! `a`, `b`, `c` and the trunk's untagged side share one IP subnet, so only the VLANs keep them
//! apart: `a` reaches `c` (same VLAN) and neither `b` nor the trunk's untagged address.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use f2f_e2e::netns::{assert_pings, ping, run_ok};
use f2f_e2e::proc::{Child, Spawn};
use f2f_e2e::tools::{require_real_vde, require_root, system_tool};
use f2f_e2e::{
    for_kinds, require, wait_until, Netns, RawClient, Switch, SwitchKind, TapHost, TempDir,
};

/// The hosts of the layout above.
struct Lan {
    sw: Switch,
    tmp: TempDir,
    // Hosts before namespaces: a tap's vde_plug2tap is stopped before its namespace goes.
    _hosts: Vec<TapHost>,
    ns: Vec<Netns>,
}

impl Lan {
    fn ns(&self, name: &str) -> &Netns {
        let i = ["a", "b", "c", "t"]
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| panic!("no host {name}"));
        &self.ns[i]
    }

    fn console_ok(&self, cmd: &str) {
        let r = self.sw.cmd(cmd);
        assert_eq!(r.code, 1000, "{:?} {cmd}: {}", self.sw.kind, r.raw);
    }
}

fn build(kind: SwitchKind, name: &str) -> Lan {
    let tmp = TempDir::new(name);
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let ns: Vec<Netns> = (0..4).map(|_| Netns::new()).collect();
    let mut hosts = Vec::new();
    for (i, (tap, cidr)) in [
        ("tapa", "10.210.0.1/24"),
        ("tapb", "10.210.0.2/24"),
        ("tapc", "10.210.0.3/24"),
        ("tapt", "10.210.0.4/24"),
    ]
    .iter()
    .enumerate()
    {
        let port = u32::try_from(i + 1).unwrap_or(1);
        hosts.push(TapHost::start(
            &ns[i],
            &sw.dir,
            tap,
            cidr,
            Some(port),
            tmp.path(),
        ));
    }
    let lan = Lan {
        sw,
        tmp,
        _hosts: hosts,
        ns,
    };
    for cmd in [
        "vlan/create 10",
        "vlan/create 20",
        "port/setvlan 1 10",
        "port/setvlan 2 20",
        "port/setvlan 3 10",
        "vlan/addport 10 4",
        "vlan/addport 20 4",
    ] {
        lan.console_ok(cmd);
    }
    run_ok(
        lan.ns("a")
            .ip()
            .args(["addr", "add", "10.210.10.1/24", "dev", "tapa"]),
    );
    run_ok(
        lan.ns("b")
            .ip()
            .args(["addr", "add", "10.210.20.2/24", "dev", "tapb"]),
    );
    run_ok(
        lan.ns("c")
            .ip()
            .args(["addr", "add", "10.210.10.3/24", "dev", "tapc"]),
    );
    lan
}

/// The MAC address of `tap` in `ns`.
fn tap_mac(ns: &Netns, tap: &str) -> [u8; 6] {
    let out = run_ok(ns.ip().args(["-o", "link", "show", tap]));
    let text = String::from_utf8_lossy(&out.stdout);
    let word = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC in {text}"));
    let mut mac = [0u8; 6];
    for (b, part) in mac.iter_mut().zip(word.split(':')) {
        *b = u8::from_str_radix(part, 16).expect("hex");
    }
    mac
}

/// Hosts on different untagged VLANs cannot reach each other, even in one IP subnet; hosts on
/// the same VLAN can; `vlan/print` shows the membership.
fn untagged_vlans_isolate(kind: SwitchKind) {
    require!(require_root(), require_real_vde(), kind.available());
    let lan = build(kind, "vlaniso");
    // Positive control first: the same ping works inside VLAN 10.
    assert_pings(lan.ns("a"), "10.210.0.3", 5, "a -> c inside VLAN 10");
    assert_eq!(
        ping(lan.ns("a"), "10.210.0.2", 3),
        100.0,
        "{kind:?}: a (VLAN 10) reached b (VLAN 20)"
    );
    assert_eq!(
        ping(lan.ns("b"), "10.210.0.3", 3),
        100.0,
        "{kind:?}: b (VLAN 20) reached c (VLAN 10)"
    );
    assert_eq!(
        ping(lan.ns("a"), "10.210.0.4", 3),
        100.0,
        "{kind:?}: a (VLAN 10) reached the trunk's untagged side (VLAN 0)"
    );
    let v = lan.sw.cmd("vlan/print 10");
    assert_eq!(
        v.data,
        [
            "VLAN 0010",
            " -- Port 0001 tagged=0 active=1 status=Forwarding",
            " -- Port 0003 tagged=0 active=1 status=Forwarding",
            " -- Port 0004 tagged=1 active=1 status=Forwarding",
        ],
        "{kind:?}"
    );
    // Moving c to VLAN 20 cuts it from a and joins it to b.
    lan.console_ok("port/setvlan 3 20");
    assert_pings(
        lan.ns("c"),
        "10.210.0.2",
        5,
        "c -> b after port/setvlan 3 20",
    );
    assert_eq!(
        ping(lan.ns("a"), "10.210.0.3", 3),
        100.0,
        "{kind:?}: a still reaches c"
    );
}
for_kinds!(untagged_vlans_isolate: ours, real);

/// The trunk ports carry VLANs 10 and 20 tagged, both ways: `a` and `b` ping the responder's
/// per-VLAN addresses through it (the switch tags toward the trunk and strips toward the
/// hosts); no frame of `a` or `c` ever reaches the trunk tagged 20 nor one of `b` tagged 10;
/// and a capture on the trunk tap shows the hosts' ARP requests tagged `vlan 10` and `vlan 20`.
fn trunk_carries_both_tagged(kind: SwitchKind) {
    require!(require_root(), require_real_vde(), kind.available());
    let lan = build(kind, "vlantrunk");
    let trunk = RawClient::attach(&lan.sw.dir, 5, "trunk-responder")
        .unwrap_or_else(|e| panic!("{kind:?}: attaching the trunk responder: {e}"));
    lan.console_ok("vlan/addport 10 5");
    lan.console_ok("vlan/addport 20 5");
    let responder = Responder::start(trunk);
    let pcap = lan.tmp.join("trunk.pcap");
    let capture = start_capture(lan.ns("t"), "tapt", &pcap, lan.tmp.path());

    assert_pings(lan.ns("a"), "10.210.10.254", 5, "a -> responder on VLAN 10");
    assert_pings(lan.ns("b"), "10.210.20.254", 5, "b -> responder on VLAN 20");
    assert_pings(lan.ns("c"), "10.210.10.254", 3, "c -> responder on VLAN 10");

    // The switch learned the responder per VLAN on the trunk port, and a on its own port.
    let h = lan.sw.cmd("hash/print");
    for want in [
        "VLAN 0010 to port: 005",
        "VLAN 0020 to port: 005",
        "VLAN 0010 to port: 001",
    ] {
        assert!(
            h.data.iter().any(|l| l.contains(want)),
            "{kind:?}: no {want:?} in {:?}",
            h.data
        );
    }

    // Taking VLAN 20 off the responder's trunk cuts that path only.
    lan.console_ok("vlan/delport 20 5");
    assert_eq!(
        ping(lan.ns("b"), "10.210.20.254", 3),
        100.0,
        "{kind:?}: b still reaches the responder after vlan/delport 20 5"
    );
    assert_pings(
        lan.ns("a"),
        "10.210.10.254",
        3,
        "a -> responder after vlan/delport 20 5",
    );

    let text = stop_and_read(capture, &pcap);
    let seen = responder.stop();
    let (a, b, c) = (
        tap_mac(lan.ns("a"), "tapa"),
        tap_mac(lan.ns("b"), "tapb"),
        tap_mac(lan.ns("c"), "tapc"),
    );
    let from = |vid: u16, mac: [u8; 6]| seen.iter().any(|(v, m)| *v == vid && *m == mac);
    assert!(
        from(10, a) && from(10, c) && from(20, b),
        "{kind:?}: tagged sources {seen:?}"
    );
    assert!(
        !from(20, a) && !from(20, c) && !from(10, b),
        "{kind:?}: a frame crossed VLANs on the trunk: {seen:?}"
    );
    for (vid, ip) in [("vlan 10", "10.210.10.254"), ("vlan 20", "10.210.20.254")] {
        assert!(
            text.lines().any(|l| l.contains("ethertype 802.1Q")
                && l.contains(vid)
                && l.contains("ARP")
                && l.contains(ip)),
            "{kind:?}: no ARP for {ip} tagged {vid} on the trunk tap:\n{text}"
        );
    }
    assert!(
        !text
            .lines()
            .any(|l| l.contains("vlan 20") && l.contains("10.210.10.")),
        "{kind:?}: VLAN 10 traffic tagged 20:\n{text}"
    );
}
for_kinds!(trunk_carries_both_tagged: ours, real);

/// A VLAN-aware host on a trunk, played by the test: answers ARP and ICMP echo for
/// 10.210.10.254 on VLAN 10 and 10.210.20.254 on VLAN 20, tagged, and records which (VLAN,
/// source MAC) pairs it saw tagged.
struct Responder {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<BTreeSet<(u16, [u8; 6])>>,
}

/// The responder's MAC.
const RESPONDER_MAC: [u8; 6] = [0x02, 0xe2, 0xe0, 0x00, 0x00, 0xfe];

impl Responder {
    fn start(client: RawClient) -> Responder {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut seen = BTreeSet::new();
            while !flag.load(Ordering::Relaxed) {
                let Some(f) = client.recv(Duration::from_millis(100)) else {
                    continue;
                };
                let Some((vid, src, reply)) = answer(&f) else {
                    continue;
                };
                seen.insert((vid, src));
                if let Some(r) = reply {
                    client.send(&r);
                }
            }
            seen
        });
        Responder { stop, thread }
    }

    fn stop(self) -> BTreeSet<(u16, [u8; 6])> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("responder thread")
    }
}

/// For a tagged frame: its VLAN, its source, and the reply to send (ARP reply or echo reply,
/// tagged with the same VLAN) when it asks for the responder's address on that VLAN.
fn answer(f: &[u8]) -> Option<(u16, [u8; 6], Option<Vec<u8>>)> {
    if f.len() < 18 || f[12..14] != [0x81, 0x00] {
        return None;
    }
    let vid = u16::from_be_bytes([f[14], f[15]]) & 0x0fff;
    let src: [u8; 6] = f[6..12].try_into().ok()?;
    let my_ip: [u8; 4] = match vid {
        10 => [10, 210, 10, 254],
        20 => [10, 210, 20, 254],
        _ => return Some((vid, src, None)),
    };
    let ethertype = u16::from_be_bytes([f[16], f[17]]);
    let p = &f[18..];
    let mut out = Vec::with_capacity(f.len().max(64));
    out.extend_from_slice(&src);
    out.extend_from_slice(&RESPONDER_MAC);
    out.extend_from_slice(&f[12..18]);
    let reply = match ethertype {
        // RFC 826: a request for my_ip gets a reply.
        0x0806 if p.len() >= 28 && p[6..8] == [0, 1] && p[24..28] == my_ip => {
            out.extend_from_slice(&p[0..6]);
            out.extend_from_slice(&[0, 2]);
            out.extend_from_slice(&RESPONDER_MAC);
            out.extend_from_slice(&my_ip);
            out.extend_from_slice(&p[8..18]);
            Some(out)
        }
        // RFC 792: an echo request to my_ip gets an echo reply with the same data.
        0x0800 if p.len() >= 28 && p[9] == 1 && p[16..20] == my_ip => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([p[2], p[3]])).min(p.len());
            if ihl < 20 || total < ihl + 8 || p[ihl] != 8 {
                None
            } else {
                let mut ip = p[..total].to_vec();
                let (s, d) = (p[12..16].to_vec(), p[16..20].to_vec());
                ip[12..16].copy_from_slice(&d);
                ip[16..20].copy_from_slice(&s);
                ip[ihl] = 0;
                ip[ihl + 2] = 0;
                ip[ihl + 3] = 0;
                let sum = checksum(&ip[ihl..]);
                ip[ihl + 2..ihl + 4].copy_from_slice(&sum.to_be_bytes());
                out.extend_from_slice(&ip);
                Some(out)
            }
        }
        _ => None,
    };
    let reply = reply.map(|mut r| {
        r.resize(r.len().max(64), 0);
        r
    });
    Some((vid, src, reply))
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// `tcpdump -i TAP -U -w FILE` in `ns`, started and listening.
fn start_capture(ns: &Netns, tap: &str, file: &Path, logdir: &Path) -> Child {
    let mut cmd = ns.exec(system_tool("tcpdump"));
    cmd.args(["-i", tap, "-n", "-U", "-w"]).arg(file);
    let mut child = Child::spawn("tcpdump", cmd, logdir, Spawn::default());
    let listening = wait_until(Duration::from_secs(10), || {
        child.stderr().contains("listening on") || !child.is_running()
    });
    assert!(
        listening && child.is_running(),
        "tcpdump did not start: {}",
        child.stderr()
    );
    child
}

/// Stops the capture and returns `tcpdump -e -nn -r FILE`'s text.
fn stop_and_read(mut capture: Child, file: &Path) -> String {
    capture.stop();
    let out = Command::new(system_tool("tcpdump"))
        .args(["-e", "-nn", "-r"])
        .arg(file)
        .output()
        .expect("tcpdump -r");
    assert!(
        out.status.success(),
        "tcpdump -r {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
