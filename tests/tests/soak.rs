//! Soak: iperf3 through the switch for the whole run while DHCP clients and `vde_plug`s come and
//! go, with the switch's memory (VmRSS) and open files sampled throughout. Asserts that no
//! lease is lost (every MAC always gets its first address back, and the lease file holds them
//! all), that memory stays flat (the last quarter's peak within a small margin of the first
//! quarter's) and that no file descriptor leaks.
//!
//! The room soak does the same for a room over XMPP: iperf3 between two members while two
//! others leave and rejoin over and over, each rejoin getting the same MAC and address.
//!
//! CI runs each for `F2F_SOAK_SECONDS` (default 40); `tests/soak.sh MINUTES` runs them longer.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use f2f_e2e::dhcp::dora;
use f2f_e2e::netns::{assert_pings, iperf3, unique_tap_name};
use f2f_e2e::proc::{memory_kib, open_fds, Spawn};
use f2f_e2e::prosody::Prosody;
use f2f_e2e::room::{assert_all_pairs_ping, join_and_lease, prerequisites, room_jid, spec};
use f2f_e2e::tools::{require_root, require_tool, system_tool, VDE_PLUG, VDE_PLUG2TAP};
use f2f_e2e::{require, wait_for, Child, Netns, RawClient, Switch, SwitchKind, TapHost, TempDir};

const SETTLE: Duration = Duration::from_secs(10);
/// DHCP clients that come and go, each with its own MAC.
const CHURN_MACS: u8 = 16;
/// Pause between two DHCP client cycles (the churn is steady, not a flood).
const CHURN_PAUSE: Duration = Duration::from_millis(20);
/// Memory the last quarter's peak may exceed the first quarter's by.
const RSS_MARGIN_KIB: u64 = 4 * 1024;

fn soak_seconds() -> u64 {
    std::env::var("F2F_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40)
}

fn churn_mac(n: u8) -> [u8; 6] {
    [0x02, 0x50, 0xa4, 0x00, 0x00, n]
}

/// A real `vde_plug` attached for a moment, then stopped.
fn plug_in_and_out(dir: &Path, sw: &Switch, tmp: &TempDir, n: u64) {
    let mut cmd = Command::new(VDE_PLUG);
    cmd.arg(dir);
    let descr_count = |sw: &Switch| sw.cmd("port/print").raw.matches("vdeplug").count();
    let before = descr_count(sw);
    let mut plug = Child::spawn(
        &format!("soak-plug-{}", n % 4),
        cmd,
        tmp.path(),
        Spawn::STDIN_OPEN,
    );
    wait_for(SETTLE, "vde_plug attached", || descr_count(sw) > before);
    plug.stop();
}

#[test]
fn soak_iperf3_with_client_churn() {
    require!(
        require_root(),
        require_tool(VDE_PLUG),
        require_tool(VDE_PLUG2TAP),
        require_tool(&system_tool("iperf3").to_string_lossy()),
        SwitchKind::Ours.available()
    );
    let seconds = soak_seconds();
    let tmp = TempDir::new("soak");
    let leases = tmp.join("leases.json");
    let sw = Switch::start(
        SwitchKind::Ours,
        &tmp,
        "sw",
        &[
            "--dhcp",
            "10.81.0.0/24",
            "--dhcp-range",
            "10.81.0.100-10.81.0.199",
            "--dhcp-lease-file",
            leases.to_str().unwrap_or_default(),
        ],
    );
    let pid = sw.child.pid();
    let (ns_a, ns_b) = (Netns::new(), Netns::new());
    let _a = TapHost::start(
        &ns_a,
        &sw.dir,
        &unique_tap_name("soa"),
        "10.81.0.10/24",
        None,
        tmp.path(),
    );
    let b = TapHost::start(
        &ns_b,
        &sw.dir,
        &unique_tap_name("sob"),
        "10.81.0.11/24",
        None,
        tmp.path(),
    );
    assert_pings(&ns_a, &b.addr, 2, "before the soak");

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let done = AtomicBool::new(false);
    let mut first_ip: BTreeMap<u8, Ipv4Addr> = BTreeMap::new();
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let (mut cycles, mut plugs) = (0u64, 0u64);
    let started = Instant::now();
    let fds_at_start = open_fds(pid);
    let rates = std::thread::scope(|s| {
        let traffic = s.spawn(|| {
            iperf3_until(deadline, &done, |secs| {
                iperf3(&ns_b, &ns_a, &b.addr, secs, tmp.path())
            })
        });
        let mut next_sample = Instant::now();
        while Instant::now() < deadline {
            if Instant::now() >= next_sample {
                samples.push((started.elapsed().as_secs_f64(), memory_kib(pid).0));
                next_sample += Duration::from_secs(1);
            }
            // A DHCP client comes, gets its address, and goes.
            let n = (cycles % u64::from(CHURN_MACS)) as u8;
            let client = RawClient::attach(&sw.dir, 0, "soak-dhcp").expect("attach");
            let ip = dora(&client, churn_mac(n), 0x50a4_0000 + cycles as u32)
                .unwrap_or_else(|| panic!("cycle {cycles}: no lease for client {n}"));
            drop(client);
            let first = *first_ip.entry(n).or_insert(ip);
            assert_eq!(ip, first, "cycle {cycles}: client {n} lost its lease");
            cycles += 1;
            std::thread::sleep(CHURN_PAUSE);
            if cycles % 8 == 0 {
                plug_in_and_out(&sw.dir, &sw, &tmp, plugs);
                plugs += 1;
            }
        }
        done.store(true, Ordering::Relaxed);
        traffic.join().expect("iperf3 thread")
    });

    // Every churned MAC is in the lease file, at the address it always had.
    wait_for(SETTLE, "every lease in the lease file", || {
        let text = std::fs::read_to_string(&leases).unwrap_or_default();
        first_ip
            .values()
            .all(|ip| text.contains(&format!("\"{ip}\"")))
    });
    wait_for(SETTLE, "churned endpoints gone", || {
        open_fds(pid) <= fds_at_start
    });
    let quarter = samples.len() / 4;
    let peak = |s: &[(f64, u64)]| s.iter().map(|(_, r)| *r).max().unwrap_or(0);
    let (early, late) = (
        peak(&samples[..quarter.max(1)]),
        peak(&samples[samples.len() - quarter.max(1)..]),
    );
    let mean_gbit = rates.iter().sum::<f64>() / rates.len().max(1) as f64 / 1e9;
    eprintln!(
        "soak {seconds} s: {cycles} DHCP client cycles ({} MACs), {plugs} vde_plug attach/detach, \
         {} iperf3 runs at {mean_gbit:.2} Gbit/s mean; VmRSS first-quarter peak {early} KiB, \
         last-quarter peak {late} KiB, overall {}..{} KiB; open fds {fds_at_start} -> {}",
        first_ip.len(),
        rates.len(),
        samples.iter().map(|(_, r)| *r).min().unwrap_or(0),
        peak(&samples),
        open_fds(pid)
    );
    assert!(!rates.is_empty(), "iperf3 ran");
    assert!(
        cycles >= u64::from(CHURN_MACS),
        "every churn client came at least once"
    );
    assert!(
        late <= early + RSS_MARGIN_KIB,
        "memory grew: first quarter peak {early} KiB, last quarter {late} KiB"
    );
    assert_pings(&ns_a, &b.addr, 3, "after the soak");
}

/// The largest of `samples` (KiB).
/// iperf3 runs of at most 10 s each (`run` takes the seconds) until `deadline`
/// or `done`; their rates.
fn iperf3_until<R>(deadline: Instant, done: &AtomicBool, mut run: impl FnMut(u32) -> R) -> Vec<R> {
    let mut rates = Vec::new();
    while !done.load(Ordering::Relaxed) {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        if left < 2 {
            break;
        }
        rates.push(run(left.min(10) as u32));
    }
    rates
}

fn peak(samples: &[u64]) -> u64 {
    samples.iter().copied().max().unwrap_or(0)
}

/// Room churn: a room over XMPP (master, `alice`, and `bob` and `carol` who leave and join
/// again and again) with iperf3 between the master and alice for the whole run. Every rejoin
/// gets the member's first MAC and first address back (no lease lost), the master's and alice's
/// memory stays flat, and alice still pings everyone at the end.
#[test]
fn soak_room_churn_keeps_every_lease() {
    require!(
        prerequisites(),
        require_tool(&system_tool("iperf3").to_string_lossy())
    );
    let seconds = soak_seconds();
    let tmp = TempDir::new("soak-room");
    let prosody = Prosody::start();
    let room = room_jid(&format!("soak{}", std::process::id()));
    let subnet = format!("10.{}.21.0/24", 100 + std::process::id() % 100);
    let mut nodes = vec![join_and_lease(
        &prosody,
        &tmp,
        spec("master", &room, &["--master", "--subnet", &subnet]),
    )];
    for user in ["alice", "bob", "carol"] {
        nodes.push(join_and_lease(&prosody, &tmp, spec(user, &room, &[])));
    }
    assert_all_pairs_ping(&nodes, "before the churn");
    let pids = [nodes[0].member.child.pid(), nodes[1].member.child.pid()];
    let (master, rest) = nodes.split_at_mut(1);
    let (alice, churners) = rest.split_at_mut(1);
    let (master, alice) = (&master[0], &alice[0]);

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let done = AtomicBool::new(false);
    let mut samples: Vec<[u64; 2]> = Vec::new();
    let mut rejoins = 0u32;
    let rates = std::thread::scope(|s| {
        let traffic = s.spawn(|| {
            let addr = master.ip.to_string();
            iperf3_until(deadline, &done, |secs| {
                iperf3(&master.ns, &alice.ns, &addr, secs, tmp.path())
            })
        });
        let mut turn = 0usize;
        while Instant::now() < deadline {
            samples.push(pids.map(|pid| memory_kib(pid).0));
            // One churner leaves and joins again: same MAC, same address.
            let n = &mut churners[turn % churners.len()];
            turn += 1;
            n.member.child.stop();
            let spec = n.spec.clone();
            n.member.restart(&prosody, tmp.path(), &spec);
            let mac = n.member.tap_into(&n.ns);
            assert_eq!(
                mac, n.mac,
                "rejoin {rejoins}: {} got another MAC",
                spec.user
            );
            let ip = n.member.lease(&n.ns, tmp.path(), 10);
            assert_eq!(ip, n.ip, "rejoin {rejoins}: {} lost its lease", spec.user);
            rejoins += 1;
        }
        done.store(true, Ordering::Relaxed);
        traffic.join().expect("iperf3 thread")
    });
    assert_all_pairs_ping(&nodes, "after the churn");

    let quarter = (samples.len() / 4).max(1);
    let mean_mbit = rates.iter().sum::<f64>() / rates.len().max(1) as f64 / 1e6;
    for (i, who) in ["master", "alice"].into_iter().enumerate() {
        let series: Vec<u64> = samples.iter().map(|s| s[i]).collect();
        let (early, late) = (
            peak(&series[..quarter]),
            peak(&series[series.len() - quarter..]),
        );
        eprintln!(
            "room soak {seconds} s: {rejoins} rejoins, {} iperf3 runs at {mean_mbit:.1} Mbit/s \
             mean; {who} VmRSS first-quarter peak {early} KiB, last-quarter peak {late} KiB",
            rates.len()
        );
        assert!(
            late <= early + RSS_MARGIN_KIB,
            "{who}'s memory grew: first quarter peak {early} KiB, last quarter {late} KiB"
        );
    }
    assert!(!rates.is_empty(), "iperf3 ran");
    assert!(rejoins >= 2, "both churners rejoined at least once");
}
