//! Spanning tree (`-F`) with real processes: our switch and the real `vde_switch -F` in a
//! two-cable loop, a triangle of three switches (ours, and the real one for comparison) with a
//! cable cut and the recovery time measured, the same triangle storming without `-F`, and
//! hostile BPDUs from a raw client.
//!
//! Cables are `dpipe /usr/bin/vde_plug A = /usr/bin/vde_plug B`; hosts are `vde_plug2tap` taps
//! in namespaces. Switch MACs are fixed (`--macaddr`) so the root is known.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use f2f_e2e::mgmt::{parse_ports, parse_stats};
use f2f_e2e::netns::assert_pings;
use f2f_e2e::peers::dpipe_cable;
use f2f_e2e::proc::{cpu_secs, Child, Spawn};
use f2f_e2e::tools::{require_real_vde, require_root, system_tool};
use f2f_e2e::vde::{frame, mac, BROADCAST};
use f2f_e2e::{
    for_kinds, ping, require, wait_until, Netns, RawClient, Switch, SwitchKind, TapHost, TempDir,
};
use nix::sys::signal::Signal;

/// The BPDU destination.
const STP_DST: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x00];
/// Time allowed for a tree to settle.
const CONVERGE: Duration = Duration::from_secs(20);
/// How long a tree must stay unchanged to count as settled.
const SETTLED: Duration = Duration::from_secs(5);

/// VLAN 0's tree as `fstp/print 0` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tree {
    /// `++ root` (priority and MAC).
    root: String,
    /// `ROOTSWITCH` on the header line.
    is_root: bool,
    /// Port → role.
    roles: BTreeMap<u32, String>,
}

fn tree(sw: &Switch) -> Tree {
    let r = sw.cmd("fstp/print 0");
    assert_eq!(r.code, 1000, "fstp/print 0: {}", r.raw);
    let mut t = Tree {
        root: String::new(),
        is_root: false,
        roles: BTreeMap::new(),
    };
    for line in &r.data {
        if line.starts_with("FST DATA VLAN") {
            t.is_root = line.contains("ROOTSWITCH");
        } else if let Some(root) = line.trim().strip_prefix("++ root ") {
            t.root = root.trim().to_string();
        } else if let Some(rest) = line.trim().strip_prefix("-- Port ") {
            let port = rest.get(..4).and_then(|n| n.parse().ok()).unwrap_or(0);
            let role = rest.split("role=").nth(1).unwrap_or("").trim().to_string();
            t.roles.insert(port, role);
        }
    }
    t
}

fn active_ports(sw: &Switch) -> BTreeSet<u32> {
    parse_ports(&sw.cmd("port/print").data)
        .into_iter()
        .filter(|p| p.active)
        .map(|p| p.port)
        .collect()
}

/// Sum of the `IN:`/`OUT:` packet counters of every port (`port/print`, both kinds).
fn total_packets(sw: &Switch) -> u64 {
    sw.cmd("port/print")
        .data
        .iter()
        .filter(|l| l.trim_start().starts_with("IN:") || l.trim_start().starts_with("OUT:"))
        .filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok())
        .sum()
}

/// A cable and the port it took on each switch.
struct Cable {
    child: Child,
    ends: [(usize, u32); 2],
}

/// Starts a dpipe cable between switches `i` and `j` and waits until each shows one new active
/// port.
fn cable(sws: &[Switch], i: usize, j: usize, tmp: &TempDir) -> Cable {
    let before = (active_ports(&sws[i]), active_ports(&sws[j]));
    let child = dpipe_cable(&sws[i].dir, &sws[j].dir, tmp.path());
    let mut ends = None;
    let up = wait_until(Duration::from_secs(10), || {
        let a: Vec<u32> = active_ports(&sws[i])
            .difference(&before.0)
            .copied()
            .collect();
        let b: Vec<u32> = active_ports(&sws[j])
            .difference(&before.1)
            .copied()
            .collect();
        if let ([pa], [pb]) = (&a[..], &b[..]) {
            ends = Some([(i, *pa), (j, *pb)]);
        }
        ends.is_some()
    });
    assert!(up, "cable {i}-{j} did not attach on both sides");
    Cable {
        child,
        ends: ends.expect("checked above"),
    }
}

/// True when `cable` is blocked at either end.
fn blocked(trees: &[Tree], cable: &Cable) -> bool {
    cable.ends.iter().any(|&(s, p)| {
        trees[s]
            .roles
            .get(&p)
            .is_some_and(|r| r == "Alternate/Backup")
    })
}

/// Waits until every switch names the same root, `root` is the one saying ROOTSWITCH, exactly
/// `blocked_cables` cables are blocked, and nothing changed for [`SETTLED`] (a hello period
/// and more: vde_switch tells a neighbour it blocked a cable only at its next hello); returns
/// the trees and when they last changed.
fn wait_tree(
    sws: &[Switch],
    cables: &[Cable],
    root: usize,
    blocked_cables: usize,
) -> (Vec<Tree>, Instant) {
    let mut trees: Vec<Tree> = Vec::new();
    let mut since = Instant::now();
    let ok = wait_until(CONVERGE + SETTLED, || {
        let now: Vec<Tree> = sws.iter().map(tree).collect();
        if now != trees {
            trees = now;
            since = Instant::now();
        }
        let same_root = trees.iter().all(|t| t.root == trees[root].root);
        let one_root = trees
            .iter()
            .enumerate()
            .all(|(i, t)| t.is_root == (i == root));
        let n_blocked = cables.iter().filter(|c| blocked(&trees, c)).count();
        same_root && one_root && n_blocked == blocked_cables && since.elapsed() >= SETTLED
    });
    assert!(
        ok,
        "no agreement on one settled tree rooted at switch {root}: {trees:#?}"
    );
    (trees, since)
}

fn macaddr(n: u8) -> String {
    format!("00:ff:00:00:00:{n:02x}")
}

fn start(kind: SwitchKind, tmp: &TempDir, name: &str, mac_last: u8, fstp: bool) -> Switch {
    let m = macaddr(mac_last);
    let mut args = vec!["--macaddr", m.as_str()];
    if fstp {
        args.push("-F");
    }
    Switch::start(kind, tmp, name, &args)
}

/// Resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    f2f_e2e::proc::memory_kib(pid).0
}

/// A BPDU frame as a neighbour would send it: `root`/`bridge` are 8-byte ids.
fn bpdu(src: [u8; 6], flags: u8, root: [u8; 8], cost: u32, bridge: [u8; 8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(53);
    f.extend_from_slice(&STP_DST);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x00, 0x27, 0x42, 0x42, 0x03, 0x00, 0x00, 0x02, 0x02, flags]);
    f.extend_from_slice(&root);
    f.extend_from_slice(&cost.to_be_bytes());
    f.extend_from_slice(&bridge);
    f.extend_from_slice(&[
        0x80, 0x01, 0x00, 0x00, 0x28, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00,
    ]);
    f
}

/// Our switch and the real `vde_switch -F` joined by two cables (a loop): both agree on one
/// root, the redundant cable is blocked, no storm, taps ping with 0% loss, and the BPDUs both
/// send a raw client are the same bytes but for the fields that name the sender.
fn interop_loop(ours_is_root: bool) {
    require!(
        require_root(),
        require_real_vde(),
        SwitchKind::Ours.available()
    );
    let tmp = TempDir::new("stp-interop");
    let (ours_mac, real_mac) = if ours_is_root { (1, 2) } else { (2, 1) };
    let sws = vec![
        start(SwitchKind::Ours, &tmp, "ours", ours_mac, true),
        start(SwitchKind::RealVdeSwitch, &tmp, "real", real_mac, true),
    ];
    let (ns1, ns2) = (Netns::new(), Netns::new());
    let _t1 = TapHost::start(
        &ns1,
        &sws[0].dir,
        "tapo",
        "10.211.0.1/24",
        Some(1),
        tmp.path(),
    );
    let _t2 = TapHost::start(
        &ns2,
        &sws[1].dir,
        "tapr",
        "10.211.0.2/24",
        Some(1),
        tmp.path(),
    );
    let cables = vec![cable(&sws, 0, 1, &tmp), cable(&sws, 0, 1, &tmp)];
    let root = if ours_is_root { 0 } else { 1 };
    let (trees, _) = wait_tree(&sws, &cables, root, 1);
    assert_eq!(trees[0].root, format!("80:00:{}", macaddr(1)));
    // The non-root switch has exactly one root port, on a cable.
    let other = 1 - root;
    let root_ports: Vec<_> = trees[other]
        .roles
        .iter()
        .filter(|(_, r)| *r == "Root")
        .collect();
    assert_eq!(root_ports.len(), 1, "{trees:#?}");
    // Stable for a few hellos.
    std::thread::sleep(Duration::from_secs(9));
    let later: Vec<Tree> = sws.iter().map(tree).collect();
    assert_eq!(later, trees, "the tree changed while nothing happened");

    // No storm: a broadcast from each side, then the counters stay small.
    let before: Vec<u64> = sws.iter().map(total_packets).collect();
    assert!(
        ping(&ns1, "10.211.0.99", 1) > 0.0,
        "nobody has .99: ARP broadcasts only"
    );
    std::thread::sleep(Duration::from_secs(3));
    let after: Vec<u64> = sws.iter().map(total_packets).collect();
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(a - b < 300, "switch {i}: {} packets in 3 s: a storm", a - b);
    }
    assert_pings(&ns1, "10.211.0.2", 20, "ours -> real");
    assert_pings(&ns2, "10.211.0.1", 20, "real -> ours");

    // The BPDUs each sends on a new port (port 20: port id 0x81 0x14, the >>4 quirk).
    let frames: Vec<Vec<u8>> = sws
        .iter()
        .map(|sw| {
            let c = RawClient::attach(&sw.dir, 20, "bpdu-probe").expect("attach probe");
            c.recv_matching(Duration::from_secs(6), |f| f.starts_with(&STP_DST))
                .unwrap_or_else(|| panic!("{:?} sent no BPDU to a new port", sw.kind))
        })
        .collect();
    for (sw, f, m) in [(0, &frames[0], ours_mac), (1, &frames[1], real_mac)] {
        let own = [0x00, 0xff, 0, 0, 0, m];
        assert_eq!(f.len(), 53, "switch {sw}: {f:02x?}");
        assert_eq!(&f[6..12], &own, "source is the switch MAC");
        assert_eq!(
            &f[12..21],
            &[0x00, 0x27, 0x42, 0x42, 0x03, 0x00, 0x00, 0x02, 0x02]
        );
        assert_eq!(f[21] & 0x3c, 0x3c, "designated, forwarding: {:02x}", f[21]);
        assert_eq!(&f[34..36], &[0x80, 0x00]);
        assert_eq!(&f[36..42], &own, "bridge id is priority + MAC");
        assert_eq!(&f[42..44], &[0x81, 0x14], "port id of port 20");
        assert!(f[44] < 40 && f[45] == 0, "message age, little-endian");
        assert_eq!(&f[46..53], &[0x28, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00]);
    }
    assert_eq!(&frames[0][22..30], &frames[1][22..30], "same root id");
    let cost = |f: &[u8]| u32::from_be_bytes([f[30], f[31], f[32], f[33]]);
    assert_eq!(cost(&frames[root]), 0);
    assert_eq!(cost(&frames[other]), 20_000_000);
}

#[test]
fn interop_loop_ours_root() {
    interop_loop(true);
}

#[test]
fn interop_loop_real_root() {
    interop_loop(false);
}

/// Replies of a running `ping -D` (its stdout) as receive times in seconds.
fn reply_times(out: &str) -> Vec<f64> {
    out.lines()
        .filter(|l| l.contains("bytes from"))
        .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect()
}

/// The longest silence between consecutive replies around `from` (the last reply before it
/// counts as the start); `None` when no reply came after it.
fn longest_silence(times: &[f64], from: f64) -> Option<f64> {
    let mut prev = times
        .iter()
        .copied()
        .filter(|t| *t <= from)
        .fold(from, f64::max);
    let mut worst = None;
    for t in times.iter().copied().filter(|t| *t > from) {
        worst = Some(worst.unwrap_or(0.0f64).max(t - prev));
        prev = t;
    }
    worst
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// How a cable fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// The dpipe is killed: both ports go down at once.
    Kill,
    /// The dpipe is stopped (SIGSTOP): the ports stay up, nothing crosses any more.
    Silence,
}

/// Three switches of `kind` with `-F` in a triangle, a tap on each: the tree converges (root
/// a, one cable blocked), pings see 0% loss, the switches idle; then the cable carrying a↔b
/// fails as `how` says and the ping outage is measured.
fn triangle(kind: SwitchKind, how: Cut) {
    require!(require_root(), require_real_vde(), kind.available());
    let tmp = TempDir::new("stp-triangle");
    let sws: Vec<Switch> = ["a", "b", "c"]
        .iter()
        .zip(1u8..)
        .map(|(n, m)| start(kind, &tmp, n, m, true))
        .collect();
    let nss = [Netns::new(), Netns::new(), Netns::new()];
    let _taps: Vec<TapHost> = (0..3)
        .map(|i| {
            let cidr = format!("10.212.0.{}/24", i + 1);
            TapHost::start(
                &nss[i],
                &sws[i].dir,
                &format!("tap{i}"),
                &cidr,
                Some(1),
                tmp.path(),
            )
        })
        .collect();
    let started = Instant::now();
    let mut cables = vec![
        cable(&sws, 0, 1, &tmp),
        cable(&sws, 1, 2, &tmp),
        cable(&sws, 2, 0, &tmp),
    ];
    let (trees, settled) = wait_tree(&sws, &cables, 0, 1);
    println!(
        "{kind:?} triangle: tree after {:.2?}",
        settled.saturating_duration_since(started)
    );
    assert_pings(&nss[0], "10.212.0.2", 20, "a -> b");
    assert_pings(&nss[0], "10.212.0.3", 20, "a -> c");
    assert_pings(&nss[1], "10.212.0.3", 20, "b -> c");

    // Idle: no storm, little CPU.
    let cpu0: Vec<f64> = sws.iter().map(|s| cpu_secs(s.child.pid())).collect();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let secs = t0.elapsed().as_secs_f64();
    for (i, s) in sws.iter().enumerate() {
        let share = (cpu_secs(s.child.pid()) - cpu0[i]) / secs;
        println!(
            "{kind:?} triangle: switch {i} CPU {:.1}% while idle",
            share * 100.0
        );
        assert!(
            share < 0.10,
            "switch {i} busy while idle ({:.0}%): a storm?",
            share * 100.0
        );
    }

    // Cut the cable carrying a <-> b (a-b itself unless it is the blocked one).
    let cut = if blocked(&trees, &cables[0]) { 2 } else { 0 };
    let mut pinger = {
        let mut cmd = nss[0].exec(system_tool("ping"));
        cmd.args(["-n", "-D", "-i", "0.01", "-W", "1", "10.212.0.2"]);
        Child::spawn("ping-recovery", cmd, tmp.path(), Spawn::default())
    };
    assert!(
        wait_until(Duration::from_secs(5), || reply_times(&pinger.stdout())
            .len()
            >= 50),
        "pings a -> b before the cut"
    );
    let cut_at = unix_now();
    match how {
        Cut::Kill => cables[cut].child.stop(),
        Cut::Silence => cables[cut].child.signal(Signal::SIGSTOP),
    }
    let limit = match (kind.is_ours(), how) {
        (true, Cut::Kill) => 10,
        (true, Cut::Silence) => 30,
        (false, _) => 60,
    };
    let recovered = wait_until(Duration::from_secs(limit), || {
        reply_times(&pinger.stdout())
            .iter()
            .filter(|t| **t > cut_at + 0.05)
            .count()
            >= 20
    });
    pinger.stop();
    if how == Cut::Silence {
        cables[cut].child.signal(Signal::SIGKILL);
    }
    let outage = longest_silence(&reply_times(&pinger.stdout()), cut_at);
    match (recovered, outage) {
        (true, Some(o)) => println!(
            "{kind:?} triangle: {how:?} cable {cut}; longest ping silence after it {:.3} s",
            o
        ),
        _ => println!("{kind:?} triangle: {how:?} cable {cut}; no recovery within {limit} s"),
    }
    if kind.is_ours() {
        assert!(recovered, "pings a -> b never recovered after the cut");
        let o = outage.unwrap_or(f64::MAX);
        // Killed: the ports go down, the next best port takes over at once. Silenced: the
        // information expires after 3 hellos (12 s; stp docs, difference 4).
        let bound = if how == Cut::Kill { 3.0 } else { 14.0 };
        assert!(o < bound, "pings a -> b silent for {o:.3} s after the cut");
        let rest: Vec<Cable> = cables
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i != cut)
            .map(|(_, c)| c)
            .collect();
        wait_tree(&sws, &rest, 0, 0);
        assert_pings(&nss[1], "10.212.0.3", 10, "b -> c after the cut");
    }
}
fn triangle_cut(kind: SwitchKind) {
    triangle(kind, Cut::Kill);
}
for_kinds!(triangle_cut: ours, real);

fn triangle_silent_cable(kind: SwitchKind) {
    triangle(kind, Cut::Silence);
}
for_kinds!(triangle_silent_cable: ours, real);

/// Without `-F` the triangle storms: one burst of broadcasts circulates for good. Our switches
/// stay bounded: drops are counted (a client that never reads fills up), memory does not grow,
/// and the console answers promptly throughout.
#[test]
fn triangle_without_fstp_storms_but_stays_bounded() {
    require!(
        require_root(),
        require_real_vde(),
        SwitchKind::Ours.available()
    );
    let tmp = TempDir::new("stp-storm");
    let sws: Vec<Switch> = ["a", "b", "c"]
        .iter()
        .zip(1u8..)
        .map(|(n, m)| start(SwitchKind::Ours, &tmp, n, m, false))
        .collect();
    let sender = RawClient::attach(&sws[0].dir, 1, "storm-sender").expect("attach sender");
    let _deaf = RawClient::attach(&sws[1].dir, 1, "never-reads").expect("attach deaf client");
    let cables = vec![
        cable(&sws, 0, 1, &tmp),
        cable(&sws, 1, 2, &tmp),
        cable(&sws, 2, 0, &tmp),
    ];
    for i in 0..200u8 {
        sender.send(&frame(BROADCAST, mac(1), 60, i));
    }
    std::thread::sleep(Duration::from_secs(1));
    let rss0: Vec<u64> = sws.iter().map(|s| rss_kib(s.child.pid())).collect();
    let p0: Vec<u64> = sws.iter().map(total_packets).collect();
    for _ in 0..3 {
        for (i, s) in sws.iter().enumerate() {
            let t = Instant::now();
            let r = s.cmd("port/stats");
            assert_eq!(r.code, 1000);
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "switch {i} console took {:?} during the storm",
                t.elapsed()
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let p1: Vec<u64> = sws.iter().map(total_packets).collect();
    let moved: u64 = p1.iter().zip(&p0).map(|(a, b)| a - b).sum();
    println!("storm without -F: {moved} packets counted in 3 s after one burst of 200");
    assert!(
        moved > 10_000,
        "the loop should storm without -F ({moved} packets)"
    );
    for (i, s) in sws.iter().enumerate() {
        let grown = rss_kib(s.child.pid()).saturating_sub(rss0[i]);
        assert!(
            grown < 16 * 1024,
            "switch {i} grew by {grown} KiB during the storm"
        );
    }
    let drops: u64 = sws
        .iter()
        .flat_map(|s| parse_stats(&s.cmd("port/stats").data).into_values())
        .map(|f| f.get("drop_egress_full").copied().unwrap_or(0))
        .sum();
    println!("storm without -F: {drops} copies dropped on full egress queues");
    assert!(drops > 0, "the deaf client's full queue should count drops");
    drop(cables);
    // With the loop gone the storm ends.
    std::thread::sleep(Duration::from_millis(500));
    let q0: Vec<u64> = sws.iter().map(total_packets).collect();
    std::thread::sleep(Duration::from_secs(1));
    let q1: Vec<u64> = sws.iter().map(total_packets).collect();
    let after: u64 = q1.iter().zip(&q0).map(|(a, b)| a - b).sum();
    assert!(after < 100, "{after} packets after the cables were cut");
}

/// Hostile BPDUs from a raw client: truncated, wrong version and type, absurd timers, garbage,
/// and a better root every millisecond for three seconds. The switch neither crashes nor stops
/// forwarding between two taps; the bad ones are counted.
#[test]
fn bad_bpdus_never_stop_forwarding() {
    require!(
        require_root(),
        require_real_vde(),
        SwitchKind::Ours.available()
    );
    let tmp = TempDir::new("stp-bad");
    let sw = start(SwitchKind::Ours, &tmp, "sw", 0x50, true);
    let (ns1, ns2) = (Netns::new(), Netns::new());
    let _t1 = TapHost::start(&ns1, &sw.dir, "tapx", "10.213.0.1/24", Some(1), tmp.path());
    let _t2 = TapHost::start(&ns2, &sw.dir, "tapy", "10.213.0.2/24", Some(2), tmp.path());
    assert_pings(&ns1, "10.213.0.2", 5, "before the attack");
    let evil = RawClient::attach(&sw.dir, 9, "evil").expect("attach");
    let src = mac(9);
    let better = |n: u32| {
        let mut id = [0u8; 8];
        id[..2].copy_from_slice(&0x1000u16.to_be_bytes());
        id[2..].copy_from_slice(&[0x00, 0x01, 0, 0, 0, 0]);
        id[4..].copy_from_slice(&(u32::MAX - n).to_be_bytes());
        id
    };
    let good = bpdu(src, 0x3c, better(0), 0, better(0));
    let mut wrong_version = good.clone();
    wrong_version[19] = 0;
    let mut tcn = good[..21].to_vec();
    tcn[20] = 0x80;
    let mut absurd = good.clone();
    absurd[44..52].copy_from_slice(&[0xff, 0xff, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff]);
    let truncated = good[..40].to_vec();
    let mut garbage = STP_DST.to_vec();
    garbage.extend((0..200u32).map(|i| (i * 37) as u8));
    for f in [&truncated, &wrong_version, &tcn, &absurd, &garbage, &good] {
        evil.send(f);
    }
    // A better root every millisecond for 3 s, while the taps ping.
    let loss = std::thread::scope(|s| {
        let pings = s.spawn(|| ping(&ns1, "10.213.0.2", 12));
        let until = Instant::now() + Duration::from_secs(3);
        let mut n = 1;
        while Instant::now() < until {
            let f = bpdu(src, 0x3c | (n as u8 & 1), better(n), 0, better(n));
            let _ = evil.data.send(&f);
            n += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        println!("sent {n} BPDUs each claiming a better root");
        pings.join().expect("ping thread")
    });
    assert_eq!(loss, 0.0, "{loss}% loss between the taps during the attack");
    assert_pings(&ns2, "10.213.0.1", 10, "after the attack");
    let stats = parse_stats(&sw.cmd("port/stats 9").data);
    let bad = stats
        .get(&9)
        .and_then(|f| f.get("drop_bad_bpdu"))
        .copied()
        .unwrap_or(0);
    assert!(
        bad >= 4,
        "truncated, version, TCN and garbage counted: {stats:?}"
    );
    let t = tree(&sw);
    assert_eq!(t.roles.get(&9).map(String::as_str), Some("Root"), "{t:?}");
    assert!(!t.is_root);
}
