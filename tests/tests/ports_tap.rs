//! Tap ports: `-t/--tap NAME` makes the switch open a Linux tap and attach it as a port
//! (vde_switch's tuntap module). The switch runs in the root namespace and creates the taps
//! there; the test moves each into its own namespace, where hosts ping and run iperf3 through
//! the switch. The same scenarios run against the real `vde_switch -t` to check that they
//! describe its behaviour.

use std::process::Command;
use std::time::Duration;

use f2f_e2e::mgmt::parse_ports;
use f2f_e2e::netns::{assert_pings, iperf3, move_tap_into, run_ok, unique_tap_name, TapHost};
use f2f_e2e::proc::Spawn;
use f2f_e2e::tools::{f2f_bin, require_root, require_tool, system_tool};
use f2f_e2e::{for_kinds, require, wait_until, Child, Netns, Switch, SwitchKind, TempDir};

/// The tap flag as each kind is given it: ours gets the long spelling, the others `-t`.
fn tap_flag(kind: SwitchKind) -> &'static str {
    if kind == SwitchKind::Ours {
        "--tap"
    } else {
        "-t"
    }
}

/// Two taps of one switch, each moved into a namespace: pings both ways with 0% loss, then
/// iperf3 TCP for 3 s carries real traffic (at least 50 Mbit/s even on a loaded machine).
fn taps_ping_and_iperf(kind: SwitchKind) {
    require!(
        require_root(),
        kind.available(),
        require_tool("/usr/bin/iperf3")
    );
    let tmp = TempDir::new("tap");
    let (ta, tb) = (unique_tap_name("a"), unique_tap_name("b"));
    let flag = tap_flag(kind);
    let sw = Switch::start(kind, &tmp, "sw", &[flag, &ta, flag, &tb]);
    let (ns1, ns2) = (Netns::new(), Netns::new());
    move_tap_into(&ns1, &ta, "10.211.0.1/24");
    move_tap_into(&ns2, &tb, "10.211.0.2/24");
    assert_pings(&ns1, "10.211.0.2", 10, "tap a -> tap b");
    assert_pings(&ns2, "10.211.0.1", 10, "tap b -> tap a");
    let bps = iperf3(&ns1, &ns2, "10.211.0.1", 3, tmp.path());
    assert!(
        bps > 50e6,
        "iperf3 through {kind:?} tap ports: only {:.1} Mbit/s",
        bps / 1e6
    );
    eprintln!("{kind:?}: iperf3 through tap ports {:.2} Gbit/s", bps / 1e9);
    assert!(sw.log().is_empty() || !sw.log().contains("panicked"));
}
for_kinds!(taps_ping_and_iperf);

/// A tap with offloads (TSO super-segments, partial checksums) and a `vde_plug2tap` host on
/// one switch: TCP both ways. The tap's 64 KiB segments must reach the VDE host cut into
/// ordinary frames with correct checksums, and the VDE host's frames must reach the tap host;
/// with `--no-tap-offloads` the same holds for plain taps.
fn tap_and_vde_host_carry_tcp(kind: SwitchKind, extra: &[&str]) {
    require!(
        require_root(),
        kind.available(),
        require_tool("/usr/bin/iperf3"),
        require_tool("/usr/bin/vde_plug2tap")
    );
    let tmp = TempDir::new("tapvde");
    let ta = unique_tap_name("o");
    let mut args = extra.to_vec();
    args.extend([tap_flag(kind), &ta]);
    let sw = Switch::start(kind, &tmp, "sw", &args);
    let (ns1, ns2) = (Netns::new(), Netns::new());
    move_tap_into(&ns1, &ta, "10.212.0.1/24");
    let _host = TapHost::start(&ns2, &sw.dir, "vde0", "10.212.0.2/24", None, tmp.path());
    assert_pings(&ns1, "10.212.0.2", 5, "tap -> vde host");
    for (server, client, addr, what) in [
        (&ns2, &ns1, "10.212.0.2", "tap -> vde host"),
        (&ns1, &ns2, "10.212.0.1", "vde host -> tap"),
    ] {
        let bps = iperf3(server, client, addr, 2, tmp.path());
        assert!(bps > 20e6, "{kind:?} {what}: only {:.1} Mbit/s", bps / 1e6);
        eprintln!("{kind:?} {extra:?}: iperf3 {what} {:.2} Gbit/s", bps / 1e9);
    }
    assert!(!sw.log().contains("panicked"));
}

fn tap_and_vde_host_carry_tcp_with_offloads(kind: SwitchKind) {
    tap_and_vde_host_carry_tcp(kind, &[]);
}
for_kinds!(tap_and_vde_host_carry_tcp_with_offloads: ours, real);

fn tap_and_vde_host_carry_tcp_without_offloads(kind: SwitchKind) {
    tap_and_vde_host_carry_tcp(kind, &["--no-tap-offloads"]);
}
for_kinds!(tap_and_vde_host_carry_tcp_without_offloads: ours);

/// `port/print` lists each tap as vde_switch does: its own active port, `Current User: NONE`,
/// `module tuntap      : NAME`, in the order given on the command line.
fn tap_ports_in_port_print(kind: SwitchKind) {
    require!(require_root(), kind.available());
    let tmp = TempDir::new("tapprint");
    let (ta, tb) = (unique_tap_name("p"), unique_tap_name("q"));
    let flag = tap_flag(kind);
    let sw = Switch::start(kind, &tmp, "sw", &[flag, &ta, flag, &tb]);
    let reply = sw.cmd("port/print");
    let ports = parse_ports(&reply.data);
    for (port, name) in [(1, &ta), (2, &tb)] {
        let entry = ports
            .iter()
            .find(|p| p.port == port)
            .unwrap_or_else(|| panic!("no port {port} in {}", reply.raw));
        assert!(entry.active, "{}", reply.raw);
        assert_eq!(
            entry.endpoints.len(),
            1,
            "one endpoint on port {port}: {}",
            reply.raw
        );
        let ep = &entry.endpoints[0];
        assert!(
            ep.starts_with("  -- endpoint ID ")
                && ep.ends_with(&format!(" module tuntap      : {name}")),
            "{kind:?} port {port} endpoint line: {ep:?}"
        );
    }
    assert!(
        reply
            .raw
            .contains(" Current User: NONE Access Control: (User: NONE - Group: NONE)"),
        "{}",
        reply.raw
    );
    // The taps really are taps without packet information (IFF_TAP | IFF_NO_PI); ours also
    // carry virtio-net headers for their offloads (IFF_VNET_HDR).
    let flags = std::fs::read_to_string(format!("/sys/class/net/{ta}/tun_flags")).unwrap();
    let want = if kind.is_ours() { "0x5002" } else { "0x1002" };
    assert_eq!(flags.trim(), want);
}
for_kinds!(tap_ports_in_port_print);

/// The taps belong to the switch: they disappear when it exits (they are not persistent).
fn taps_go_with_the_switch(kind: SwitchKind) {
    require!(require_root(), kind.available());
    let tmp = TempDir::new("tapgone");
    let ta = unique_tap_name("g");
    let mut sw = Switch::start(kind, &tmp, "sw", &[tap_flag(kind), &ta]);
    let exists = |name: &str| std::path::Path::new(&format!("/sys/class/net/{name}")).exists();
    assert!(exists(&ta));
    sw.child.stop();
    assert!(
        wait_until(Duration::from_secs(5), || !exists(&ta)),
        "{ta} still exists after the switch exited"
    );
}
for_kinds!(taps_go_with_the_switch);

/// A tap deleted from under the running switch (`ip link del`) frees its port; the switch
/// keeps running and its other taps keep forwarding.
fn deleted_tap_frees_its_port(kind: SwitchKind) {
    require!(require_root(), kind.available());
    let tmp = TempDir::new("tapdel");
    let (ta, tb, tc) = (
        unique_tap_name("d"),
        unique_tap_name("e"),
        unique_tap_name("f"),
    );
    let flag = tap_flag(kind);
    let mut sw = Switch::start(kind, &tmp, "sw", &[flag, &ta, flag, &tb, flag, &tc]);
    run_ok(Command::new(system_tool("ip")).args(["link", "del", &tc]));
    let freed = wait_until(Duration::from_secs(5), || {
        let ports = parse_ports(&sw.cmd("port/print").data);
        !ports.iter().any(|p| p.port == 3 && p.active)
    });
    assert!(freed, "port 3 still active: {}", sw.cmd("port/print").raw);
    assert!(sw.child.is_running(), "switch died: {}", sw.log());
    let (ns1, ns2) = (Netns::new(), Netns::new());
    move_tap_into(&ns1, &ta, "10.212.0.1/24");
    move_tap_into(&ns2, &tb, "10.212.0.2/24");
    assert_pings(&ns1, "10.212.0.2", 5, "remaining taps");
}
for_kinds!(deleted_tap_frees_its_port: ours);

/// Bad tap names and names of interfaces that are not taps stop the start with the reason.
#[test]
fn bad_taps_refused_at_start() {
    require!(require_root(), f2f_e2e::tools::require_f2f());
    let tmp = TempDir::new("tapbad");
    // An interface of another type under the name: a veth (dummy may not be built).
    let (dummy, peer) = (unique_tap_name("x"), unique_tap_name("y"));
    run_ok(
        Command::new(system_tool("ip"))
            .args(["link", "add", &dummy, "type", "veth", "peer", "name", &peer]),
    );
    let cases: [(&str, &str); 3] = [
        ("bad name", "not a valid interface name"),
        ("abcdefghijklmnop", "not a valid interface name"),
        (&dummy, "cannot attach tap"),
    ];
    for (i, (name, why)) in cases.iter().enumerate() {
        let mut cmd = Command::new(f2f_bin());
        cmd.arg("switch")
            .arg("-s")
            .arg(tmp.join(&format!("sw{i}")))
            .args(["--tap", name]);
        let mut child = Child::spawn(&format!("bad{i}"), cmd, tmp.path(), Spawn::default());
        let status = child.wait_exit(Duration::from_secs(10));
        assert!(
            status.is_some_and(|s| !s.success()),
            "--tap {name:?} should fail; status {status:?}"
        );
        assert!(
            child.stderr().contains(why) && child.stderr().contains("--tap"),
            "--tap {name:?}: stderr should say {why:?}: {}",
            child.stderr()
        );
    }
    let _ = Command::new(system_tool("ip"))
        .args(["link", "del", &dummy])
        .output();
}
