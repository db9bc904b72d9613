//! Debug output on the management console (`debug/add`), ours against the real `vde_switch`
//! 2.3.2: the same events, in the same order, with the same categories, tags and text, for a
//! `vde_plug` attaching, sending a frame and leaving (`port/+`, `port/ep/+`, `port/descr`,
//! `hash/+`, `port/ep/-`, `port/-`, `hash/-`) and, with `-F`, a cable to a spanning-tree
//! neighbour coming and going (`fstp/+`, `fstp/root`, `fstp/status`, `fstp/-`). Only file
//! descriptor numbers and pids are masked. A subscribed console that never reads does not
//! hold up forwarding.

use std::process::Command;
use std::time::Duration;

use f2f_e2e::mgmt::Mgmt;
use f2f_e2e::peers::dpipe_cable;
use f2f_e2e::proc::{Child, Spawn};
use f2f_e2e::tools::{require_real_vde, VDE_PLUG};
use f2f_e2e::vde::{frame, mac, BROADCAST};
use f2f_e2e::{require, RawClient, Switch, SwitchKind, TempDir};

/// The switch under test; above the neighbour's, so the neighbour is the root.
const SWITCH_MAC: &str = "00:ff:12:34:56:78";
/// The spanning-tree neighbour (a real vde_switch).
const NEIGHBOUR_MAC: &str = "00:ff:00:00:00:01";

/// Reads from `console` until a line containing `needle` arrived; returns the debug lines.
fn lines_until(console: &mut Mgmt, needle: &str) -> Vec<String> {
    let text = console
        .read_until(|s| s.contains(needle))
        .unwrap_or_else(|e| panic!("waiting for {needle:?}: {e}"));
    text.lines()
        .filter(|l| l.starts_with('3'))
        .map(mask)
        .collect()
}

/// A debug line with what differs between runs masked: fd numbers become `#`, the user and
/// pid in a description go.
fn mask(line: &str) -> String {
    let mut out = Vec::new();
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w.starts_with("user=") || w.starts_with("pid=") {
            continue;
        }
        out.push(w.to_string());
        if w == "FD" && words.next().is_some() {
            out.push("#".into());
        }
    }
    out.join(" ")
}

/// What a console subscribed to every category sees on switch `kind`.
fn debug_transcript(kind: SwitchKind) -> Vec<String> {
    let tmp = TempDir::new("console-debug");
    let sw = Switch::start(kind, &tmp, "sw", &["-F", "--macaddr", SWITCH_MAC]);
    let peer = Switch::start(
        SwitchKind::RealVdeSwitch,
        &tmp,
        "peer",
        &["-F", "--macaddr", NEIGHBOUR_MAC],
    );
    let mut console = sw.console();
    assert_eq!(console.cmd("debug/add").expect("debug/add").code, 1000);
    let mut got = Vec::new();

    // A vde_plug attaches, sends one frame from a new address, and leaves.
    let mut cmd = Command::new(VDE_PLUG);
    cmd.arg(&sw.dir);
    let how = Spawn {
        keep_stdin_open: true,
        own_group: false,
    };
    let mut plug = Child::spawn("plug", cmd, tmp.path(), how);
    let f = frame(BROADCAST, mac(1), 60, 1);
    let len = u16::try_from(f.len()).expect("short frame").to_be_bytes();
    plug.write_stdin(&[&len[..], &f].concat())
        .expect("write frame");
    got.extend(lines_until(&mut console, "hash/+"));
    plug.close_stdin();
    got.extend(lines_until(&mut console, "hash/-"));
    plug.wait_exit(Duration::from_secs(5));

    // A cable to a spanning-tree neighbour with a better bridge id comes and goes.
    let mut cable = dpipe_cable(&sw.dir, &peer.dir, tmp.path());
    got.extend(lines_until(&mut console, "fstp/status"));
    cable.stop();
    got.extend(lines_until(&mut console, "fstp/root Port 0000"));
    got
}

#[test]
fn same_debug_lines_as_vde_switch() {
    require!(require_real_vde(), SwitchKind::Ours.available());
    let real = debug_transcript(SwitchKind::RealVdeSwitch);
    let ours = debug_transcript(SwitchKind::Ours);
    let root = format!("80:00:{NEIGHBOUR_MAC}");
    let own = format!("80:00:{SWITCH_MAC}");
    let expected = [
        "3021 port/+ 01".to_string(),
        "3031 port/ep/+ Port 01 FD #".into(),
        "3023 port/descr Port 01 FD # -> \"vdeplug:".into(),
        "3011 hash/+ 02:e2:e0:00:00:01 VLAN 00:00 Port 1".into(),
        "3032 port/ep/- Port 01 FD #".into(),
        "3022 port/- 01".into(),
        "3012 hash/- 02:e2:e0:00:00:01 VLAN 00:00 Port 1".into(),
        "3031 port/ep/+ Port 01 FD #".into(),
        "3023 port/descr Port 01 FD # -> \"vdeplug:".into(),
        "3041 fstp/+ Port 0001 VLAN 00:00".into(),
        format!("3045 fstp/root Port 0001 VLAN 00:00 -> {root}"),
        "3044 fstp/status Port 0001 VLAN 00:00 learning+forwarding".into(),
        "3032 port/ep/- Port 01 FD #".into(),
        "3022 port/- 01".into(),
        "3042 fstp/- Port 0001 VLAN 00:00".into(),
        format!("3045 fstp/root Port 0000 VLAN 00:00 -> {own}"),
    ];
    assert_eq!(real, expected, "the real vde_switch changed its mind");
    assert_eq!(ours, real, "ours differs from vde_switch");
}

/// A console subscribed to everything that never reads while 3000 new source addresses pass
/// (a `hash/+` line each, far more than its queue holds): every frame still crosses at once,
/// and the console still answers afterwards.
#[test]
fn a_console_that_never_reads_does_not_hold_up_forwarding() {
    require!(SwitchKind::Ours.available());
    let tmp = TempDir::new("debug-flood");
    let sw = Switch::start(SwitchKind::Ours, &tmp, "sw", &[]);
    let mut console = sw.console();
    assert_eq!(console.cmd("debug/add").expect("debug/add").code, 1000);
    let a = RawClient::attach(&sw.dir, 0, "sender").expect("attach a");
    let b = RawClient::attach(&sw.dir, 0, "receiver").expect("attach b");
    for i in 0..3000u32 {
        let [_, x, y, z] = i.to_be_bytes();
        let src = [0x02, 0x10, 0, x, y, z];
        a.send(&frame(BROADCAST, src, 60, 1));
        let got = b.recv_matching(Duration::from_secs(2), |f| f[6..12] == src);
        assert!(got.is_some(), "frame {i} did not cross");
    }
    let reply = console
        .cmd("port/showinfo")
        .expect("the console still answers");
    assert!(
        reply
            .raw
            .ends_with("Numports=32\nHUB=false\ncounters=true\n.\n1000 Success\n\nvde$ "),
        "the reply comes after the waiting debug lines: {:?}",
        reply.raw.get(reply.raw.len().saturating_sub(200)..)
    );
    assert!(
        reply
            .raw
            .contains("3011 hash/+ 02:10:00:00:00:00 VLAN 00:00"),
        "the first lines were kept"
    );
}
