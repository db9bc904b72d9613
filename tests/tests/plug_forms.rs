//! vde_plug's cable forms with our plug, between ours and the real `vde_switch`: `plug URL1
//! URL2` (a cable between two switches, no stream in between) and `plug URL = COMMAND ARGS`
//! (the stream carried over a command's stdin/stdout, here the real `vde_plug` on the other
//! switch). Frames cross both ways; the cable ends when a switch goes; stopping the plug ends
//! the command.

use std::ffi::OsString;
use std::process::Command;
use std::time::Duration;

use f2f_e2e::mgmt::parse_ports;
use f2f_e2e::peers::{vde_plug_symlink, PlugKind};
use f2f_e2e::proc::Spawn;
use f2f_e2e::tools::{require_f2f, require_real_vde, VDE_PLUG};
use f2f_e2e::vde::{frame, is_test_frame, mac, BROADCAST};
use f2f_e2e::{require, wait_for, Child, RawClient, Switch, SwitchKind, TempDir};

const SETTLE: Duration = Duration::from_secs(10);

/// Both switches list an endpoint described `vdeplug:` (the cable's ends).
fn wait_for_cable(switches: [&Switch; 2]) {
    for sw in switches {
        wait_for(SETTLE, &format!("{:?} to list the cable", sw.kind), || {
            parse_ports(&sw.cmd("port/print").data)
                .iter()
                .any(|p| p.endpoints.iter().any(|e| e.contains(": vdeplug:")))
        });
    }
}

/// A frame from a client on each switch reaches the client on the other.
fn assert_frames_cross(a: &Switch, b: &Switch, context: &str) {
    let ca = RawClient::attach(&a.dir, 0, "client-a").expect("attach to a");
    let cb = RawClient::attach(&b.dir, 0, "client-b").expect("attach to b");
    for (n, (from, to)) in [(&ca, &cb), (&cb, &ca)].into_iter().enumerate() {
        let tag = u8::try_from(n + 1).unwrap_or(1);
        let f = frame(BROADCAST, mac(tag), 100, tag);
        from.send(&f);
        let got = to.recv_matching(SETTLE, |g| is_test_frame(g) && g[6..12] == mac(tag));
        assert_eq!(got.as_deref(), Some(&f[..]), "{context}: frame {tag} lost");
    }
}

fn start_plug(tmp: &TempDir, argv: Vec<OsString>) -> Child {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    Child::spawn("plug", cmd, tmp.path(), Spawn::default())
}

/// `plug A B`, with our plug as `f2f-overlay plug` or as `vde_plug`.
fn two_urls(kind: PlugKind, a: SwitchKind, b: SwitchKind) {
    require!(
        require_real_vde(),
        require_f2f(),
        a.available(),
        b.available()
    );
    let tmp = TempDir::new("plug-2url");
    let sa = Switch::start(a, &tmp, "a", &[]);
    let mut sb = Switch::start(b, &tmp, "b", &[]);
    let mut argv = kind.argv(&tmp, &sa.dir);
    argv.push(sb.dir.clone().into());
    let mut plug = start_plug(&tmp, argv);
    wait_for_cable([&sa, &sb]);
    assert_frames_cross(&sa, &sb, &format!("{a:?} ={kind:?}= {b:?}"));
    sb.child.stop();
    assert_eq!(
        plug.wait_exit(SETTLE).and_then(|s| s.code()),
        Some(0),
        "the cable ends with status 0 when a switch goes: {}",
        plug.stderr()
    );
}

#[test]
fn two_urls_ours_to_real() {
    two_urls(
        PlugKind::OursSubcommand,
        SwitchKind::Ours,
        SwitchKind::RealVdeSwitch,
    );
}

#[test]
fn two_urls_real_to_real_as_vde_plug() {
    two_urls(
        PlugKind::OursSymlink,
        SwitchKind::RealVdeSwitch,
        SwitchKind::RealVdeSwitch,
    );
}

/// `plug A = /usr/bin/vde_plug B`: the stream goes through the real vde_plug's stdio.
#[test]
fn equals_command_through_real_vde_plug() {
    require!(
        require_real_vde(),
        require_f2f(),
        SwitchKind::Ours.available()
    );
    let tmp = TempDir::new("plug-cmd");
    let sa = Switch::start(SwitchKind::Ours, &tmp, "a", &[]);
    let sb = Switch::start(SwitchKind::RealVdeSwitch, &tmp, "b", &[]);
    let mut argv: Vec<OsString> = vec![vde_plug_symlink(&tmp).into(), sa.dir.clone().into()];
    argv.extend(["=".into(), VDE_PLUG.into(), sb.dir.clone().into()]);
    let mut plug = start_plug(&tmp, argv);
    wait_for_cable([&sa, &sb]);
    assert_frames_cross(&sa, &sb, "ours = vde_plug real");
    plug.stop();
    wait_for(
        SETTLE,
        "the command's vde_plug to leave the real switch",
        || {
            !parse_ports(&sb.cmd("port/print").data)
                .iter()
                .any(|p| p.endpoints.iter().any(|e| e.contains(": vdeplug:")))
        },
    );
}
