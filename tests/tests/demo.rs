//! The four-node demo (issue 9; the thesis's Figure 3.1): a Prosody server of the test's own and
//! four `f2f-overlay join --vm` processes on this machine, one master with the master image
//! bundle and three members with the slave bundle (`images/build-bundles.sh`). Every VM gets its
//! DHCP lease from the master's switch through the room's links, and the sweep inside the master
//! VM finds all four VMs up (plus the master switch's DHCP server address, which answers pings:
//! the thesis's master VM served DHCP itself). The time from the first command to all four up is
//! printed. The members take the slave bundle from the master (`--serve-image` there, `--vm room:`
//! here) over a direct connection. The base disks are never written; a member whose `--vm` image
//! is missing or corrupt exits with an error naming the cause while the others carry on.
//!
//! Once in star and once in mesh (`--topology mesh`: the spanning tree cuts the loops), ~35 s
//! each under TCG on the 2-core test host.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use f2f_e2e::proc::{cpu_secs, memory_kib};
use f2f_e2e::prosody::{free_port, require_prosody, Prosody};
use f2f_e2e::room::{room_jid, JoinSpec, Member};
use f2f_e2e::tools::{require_f2f, require_tool, QEMU, QEMU_IMG};
use f2f_e2e::vm::{alive, console_of, copy_bundle, field, first_line, image_bundles, sha256};
use f2f_e2e::{require, wait_until, TempDir};
use nix::sys::signal::Signal;

/// Four TCG guests booting at once on a shared 2-core host: minutes, not seconds.
const ALL_UP_DEADLINE: Duration = Duration::from_secs(360);
/// How long a member with a broken image may take to fail.
const FAIL_DEADLINE: Duration = Duration::from_secs(60);
/// How long `join` may take to stop its VM and exit.
const STOP_DEADLINE: Duration = Duration::from_secs(15);
/// The master VM's kernel command line: the bundle's plus the sweep (the four VMs and the
/// switch's DHCP server; a sweep round takes ~11 s, so 30 rounds outlast the slowest boot).
const MASTER_APPEND: &str =
    "console=ttyS0 quiet panic=-1 tvm_name=master tvm_sweep=5 tvm_sweep_rounds=30";

fn prerequisites() -> bool {
    require_f2f() && require_prosody() && require_tool(QEMU) && require_tool(QEMU_IMG)
}

fn spec(user: &str, room: &str, flags: &[&str]) -> JoinSpec {
    JoinSpec {
        user: user.to_string(),
        room: room.to_string(),
        flags: flags.iter().map(|s| s.to_string()).collect(),
    }
}

/// The `VM-READY` line of `member`'s VM, if it is there yet.
fn ready_line(member: &Member) -> Option<String> {
    first_line(&console_of(&member.vm_dir()), &["VM-READY"])
}

fn ip_of(line: &str) -> Ipv4Addr {
    field(line, "ip")
        .and_then(|ip| ip.parse().ok())
        .unwrap_or_else(|| panic!("no ip= in {line:?}"))
}

/// A member that must fail: waits for its exit and returns its log.
fn failed(member: &mut Member) -> String {
    let status = member.child.wait_exit(FAIL_DEADLINE);
    let log = member.child.stderr();
    assert!(
        status.is_some_and(|s| !s.success()),
        "{}: expected a failure, got {status:?}:\n{log}",
        member.user
    );
    let last = log.lines().last().unwrap_or("").to_string();
    eprintln!("{}: {last}", member.user);
    log
}

fn four_node_demo(topology: &str) {
    let Some(bundles) = image_bundles() else {
        return;
    };
    let (master_img, slave_img) = (bundles.join("master"), bundles.join("slave"));
    let bases: Vec<PathBuf> = [&master_img, &slave_img]
        .iter()
        .map(|b| b.join("base.qcow2"))
        .collect();
    let sums: Vec<String> = bases.iter().map(|b| sha256(b)).collect();
    let tmp = TempDir::new(&format!("demo-{topology}"));
    let corrupt = copy_bundle(&slave_img, &tmp.join("corrupt"));
    std::fs::write(corrupt.join("base.qcow2"), b"not a qcow2 image").expect("damage the copy");
    let prosody = Prosody::start();
    let room = room_jid(&format!("demo{topology}{}", std::process::id()));

    let t0 = Instant::now();
    let listen = format!("127.0.0.1:{}", free_port());
    let slave_text = slave_img.to_string_lossy().to_string();
    let master_flags = [
        "--master",
        "--topology",
        topology,
        "--transport",
        "xmpp",
        "--vm-append",
        MASTER_APPEND,
        "--listen",
        &listen,
        "--serve-image",
        &slave_text,
    ];
    let mut nodes = vec![Member::start_vm(
        &prosody,
        tmp.path(),
        &spec("master", &room, &master_flags),
        &master_img,
    )];
    // The master creates the room, and so owns it, before anyone else joins.
    assert!(
        wait_until(Duration::from_secs(15), || nodes[0]
            .logged("joined the room")),
        "the master did not join: {}",
        nodes[0].child.stderr()
    );
    // The members fetch the slave bundle from the master (`--vm room:`), at once.
    for user in ["m1", "m2", "m3"] {
        nodes.push(Member::start_vm(
            &prosody,
            tmp.path(),
            &spec(user, &room, &["--transport", "xmpp"]),
            Path::new("room:"),
        ));
    }
    let member = |user: &str, image: &Path| {
        Member::start_vm(
            &prosody,
            tmp.path(),
            &spec(user, &room, &["--transport", "xmpp"]),
            image,
        )
    };
    let mut broken = member("broken", &corrupt);
    let mut missing = member("missing", &tmp.join("no-such-image"));

    // The broken members fail on their own while the four boot.
    let log = failed(&mut missing);
    assert!(
        log.contains("--vm") && log.contains("no-such-image") && log.contains("No such file"),
        "{log}"
    );
    let log = failed(&mut broken);
    assert!(
        log.contains("corrupt/base.qcow2") && log.contains("the file is corrupt"),
        "{log}"
    );

    let mut ready: Vec<Option<(String, Duration)>> = vec![None; nodes.len()];
    let all_leased = wait_until(ALL_UP_DEADLINE, || {
        for (slot, node) in ready.iter_mut().zip(&nodes) {
            if slot.is_none() {
                *slot = ready_line(node).map(|l| (l, t0.elapsed()));
            }
        }
        ready.iter().all(Option::is_some) || nodes.iter_mut().any(|n| !n.child.is_running())
    });
    for (slot, node) in ready.iter().zip(&mut nodes) {
        assert!(
            all_leased && slot.is_some(),
            "{topology}: {} not ready (running: {}); console:\n{}\njoin log:\n{}",
            node.user,
            node.child.is_running(),
            console_of(&node.vm_dir()),
            node.child.stderr()
        );
    }
    let ready: Vec<(String, Duration)> = ready.into_iter().flatten().collect();
    for ((line, at), node) in ready.iter().zip(&nodes) {
        eprintln!(
            "{topology}: {} {line} ({:.1} s)",
            node.user,
            at.as_secs_f64()
        );
    }
    let ips: BTreeSet<Ipv4Addr> = ready.iter().map(|(l, _)| ip_of(l)).collect();
    assert_eq!(ips.len(), 4, "four distinct leases: {ips:?}");
    assert!(
        ips.iter()
            .all(|ip| ip.to_string().starts_with("192.168.254.")),
        "the thesis's subnet: {ips:?}"
    );

    let master_dir = nodes[0].vm_dir();
    let mut sweep = None;
    wait_until(ALL_UP_DEADLINE.saturating_sub(t0.elapsed()), || {
        sweep = first_line(&console_of(&master_dir), &["F2F-SWEEP"]);
        sweep.is_some()
    });
    let sweep = sweep.unwrap_or_else(|| {
        panic!(
            "{topology}: no sweep result; master console:\n{}",
            console_of(&master_dir)
        )
    });
    let all_up = t0.elapsed();
    let found: BTreeSet<Ipv4Addr> = field(&sweep, "hosts")
        .unwrap_or("")
        .split(',')
        .filter_map(|h| h.parse().ok())
        .collect();
    let server: Ipv4Addr = "192.168.254.1".parse().expect("address");
    let mut want = ips.clone();
    want.insert(server);
    assert_eq!(found, want, "{topology}: {sweep}");
    eprintln!(
        "DEMO {topology}: all four VMs leased {:.1} s and the master's sweep found all four up \
         {:.1} s after the first command: {sweep}",
        ready
            .iter()
            .map(|(_, at)| *at)
            .max()
            .unwrap_or_default()
            .as_secs_f64(),
        all_up.as_secs_f64()
    );

    // What a member's process (switch, XMPP session, VM launcher) costs beside its VM.
    for node in &nodes {
        let pid = node.child.pid();
        eprintln!(
            "{topology}: {} join RSS {} KiB, CPU {:.2} s",
            node.user,
            memory_kib(pid).0,
            cpu_secs(pid)
        );
    }

    // join stops its VM when it exits.
    let qemu_pids: Vec<i32> = nodes
        .iter()
        .map(|n| {
            std::fs::read_to_string(n.vm_dir().join("qemu.pid"))
                .ok()
                .and_then(|p| p.trim().parse().ok())
                .expect("qemu pid file")
        })
        .collect();
    for node in nodes.iter_mut().rev() {
        node.child.signal(Signal::SIGINT);
    }
    for (node, pid) in nodes.iter_mut().zip(qemu_pids) {
        let status = node.child.wait_exit(STOP_DEADLINE);
        assert!(
            status.is_some_and(|s| s.success()),
            "{}: a clean exit on SIGINT: {status:?}\n{}",
            node.user,
            node.child.stderr()
        );
        assert!(
            wait_until(Duration::from_secs(5), || !alive(pid)),
            "{}: qemu {pid} outlived join",
            node.user
        );
        assert!(
            node.logged("VM stopped") && !node.logged("did not finish in time"),
            "{}: the VM stops within the switch's shutdown: {}",
            node.user,
            node.child.stderr()
        );
    }
    for (base, sum) in bases.iter().zip(&sums) {
        assert_eq!(&sha256(base), sum, "{} was written", base.display());
    }
    for node in &nodes[1..] {
        let fetched = node.state.join("images/slave/base.qcow2");
        assert_eq!(sha256(&fetched), sums[1], "{}: its fetched base", node.user);
    }
}

/// Star: every member links to the master.
#[test]
fn four_vms_in_star_get_leases_and_the_master_sweep_finds_all_four() {
    require!(prerequisites());
    four_node_demo("star");
}

/// Mesh: every pair links, the spanning tree cuts the loops.
#[test]
fn four_vms_in_mesh_get_leases_and_the_master_sweep_finds_all_four() {
    require!(prerequisites());
    four_node_demo("mesh");
}
