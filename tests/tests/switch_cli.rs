//! The command line as vde_switch scripts use it: socket and directory modes and group
//! (`-m`, `--dirmode`, `-g`: spec/vde-protocol.md §1, compared with the real vde_switch started
//! the same way in the same test), `-p` pid file, `-d` daemon, `-v` under the `vde_switch`
//! name, `--help`, the default management socket, and stdin that is not a terminal.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use f2f_e2e::proc::{PidGuard, Spawn};
use f2f_e2e::switch::{is_socket, vde_switch_symlink};
use f2f_e2e::tools::{f2f_bin, require_real_vde, require_root};
use f2f_e2e::vde::{frame, is_test_frame, mac, BROADCAST};
use f2f_e2e::{
    for_kinds, require, wait_until, Child, Mgmt, RawClient, Switch, SwitchKind, TempDir,
};

const SETTLE: Duration = Duration::from_secs(10);

/// Mode (permission bits incl. setgid) and group id of what a switch creates.
#[derive(PartialEq, Eq)]
struct Modes {
    dir: (u32, u32),
    ctl: (u32, u32),
    mgmt: (u32, u32),
    data: (u32, u32),
}

impl std::fmt::Debug for Modes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let one = |(m, g): (u32, u32)| format!("0{m:o} gid {g}");
        write!(
            f,
            "dir {}, ctl {}, mgmt {}, data {}",
            one(self.dir),
            one(self.ctl),
            one(self.mgmt),
            one(self.data)
        )
    }
}

fn mode_gid(p: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.mode() & 0o7777, m.gid())
}

fn modes_of(kind: SwitchKind, tmp: &TempDir, name: &str, flags: &[&str]) -> Modes {
    let sw = Switch::start(kind, tmp, name, flags);
    let c = RawClient::attach(&sw.dir, 0, "modes").expect("attach");
    Modes {
        dir: mode_gid(&sw.dir),
        ctl: mode_gid(&sw.dir.join("ctl")),
        mgmt: mode_gid(&sw.mgmt),
        data: mode_gid(&c.switch_path),
    }
}

fn gid_of(group: &str) -> u32 {
    nix::unistd::Group::from_name(group)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
        .unwrap_or_else(|| panic!("group {group} missing"))
}

/// Checks `kind` with `flags` against the spec's `expected` modes and, for ours, against the
/// real vde_switch run with the same flags.
fn check_modes(kind: SwitchKind, flags: &[&str], expected: Modes) {
    require!(require_root(), require_real_vde(), kind.available());
    let tmp = TempDir::new("modes");
    let got = modes_of(kind, &tmp, "sw", flags);
    if kind.is_ours() {
        let real = modes_of(SwitchKind::RealVdeSwitch, &tmp, "ref", flags);
        assert_eq!(got, real, "{flags:?}: ours vs the real vde_switch");
    }
    assert_eq!(got, expected, "{flags:?}: vs spec/vde-protocol.md §1");
}

/// No mode flags: dir 02700, ctl 0600, mgmt 0600, data sockets 0600.
fn modes_default(kind: SwitchKind) {
    check_modes(
        kind,
        &[],
        Modes {
            dir: (0o2700, 0),
            ctl: (0o600, 0),
            mgmt: (0o600, 0),
            data: (0o600, 0),
        },
    );
}
for_kinds!(modes_default);

/// `-m 0660`: ctl 0660, dir 02770 (rw bits plus x); data sockets stay `mode & 0700` as root.
fn modes_m0660(kind: SwitchKind) {
    check_modes(
        kind,
        &["-m", "0660"],
        Modes {
            dir: (0o2770, 0),
            ctl: (0o660, 0),
            mgmt: (0o600, 0),
            data: (0o600, 0),
        },
    );
}
for_kinds!(modes_m0660);

/// `--dirmode 0750`: dir 0750, ctl `0750 & 0666` = 0640.
fn modes_dirmode(kind: SwitchKind) {
    check_modes(
        kind,
        &["--dirmode", "0750"],
        Modes {
            dir: (0o750, 0),
            ctl: (0o640, 0),
            mgmt: (0o600, 0),
            data: (0o600, 0),
        },
    );
}
for_kinds!(modes_dirmode);

/// `-m 0660 -g users`: dir, ctl and every data socket get group `users`; mgmt does not.
fn modes_group(kind: SwitchKind) {
    let users = gid_of("users");
    check_modes(
        kind,
        &["-m", "0660", "-g", "users"],
        Modes {
            dir: (0o2770, users),
            ctl: (0o660, users),
            mgmt: (0o600, 0),
            data: (0o600, users),
        },
    );
}
for_kinds!(modes_group);

/// `-g NOSUCHGROUP` is an error: non-zero exit, no switch.
fn unknown_group_refused(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("nogroup");
    let mut cmd = kind.command(&tmp);
    cmd.arg("-s")
        .arg(tmp.join("sw"))
        .args(["-g", "f2f-no-such-group"]);
    let mut child = Child::spawn(
        "switch",
        cmd,
        tmp.path(),
        Spawn {
            keep_stdin_open: true,
            own_group: false,
        },
    );
    let status = child.wait_exit(SETTLE);
    assert!(
        status.is_some_and(|s| !s.success()),
        "exit status {status:?}; stderr {}",
        child.stderr()
    );
}
for_kinds!(unknown_group_refused);

/// `-p FILE` (without `-d`) writes the switch's pid and a newline.
fn pidfile(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("pidfile");
    let pidfile = tmp.join("sw.pid");
    let sw = Switch::start(
        kind,
        &tmp,
        "sw",
        &["-p", pidfile.to_str().unwrap_or_default()],
    );
    let mut text = String::new();
    wait_until(SETTLE, || {
        text = std::fs::read_to_string(&pidfile).unwrap_or_default();
        text.ends_with('\n')
    });
    assert_eq!(text, format!("{}\n", sw.child.pid()), "pid file contents");
}
for_kinds!(pidfile);

/// `-d -p FILE` returns (status 0) only once the sockets exist; the daemon's pid is in FILE, it
/// serves attaches and the console, and `shutdown` stops it.
fn daemon(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("daemon");
    let (dir, mgmt, pidfile) = (tmp.join("sw"), tmp.join("sw.mgmt"), tmp.join("sw.pid"));
    let mut cmd = kind.command(&tmp);
    cmd.arg("-d")
        .arg("-s")
        .arg(&dir)
        .arg("-M")
        .arg(&mgmt)
        .arg("-p")
        .arg(&pidfile);
    let mut starter = Child::spawn("switch-d", cmd, tmp.path(), Spawn::default());
    let status = starter.wait_exit(SETTLE);
    // vde_switch's parent returns as soon as it has forked, so its daemon may still be
    // creating the pid file and sockets: wait for them there. Ours returns only when ready.
    if kind == SwitchKind::RealVdeSwitch {
        wait_until(SETTLE, || {
            pidfile.exists() && is_socket(&dir.join("ctl")) && is_socket(&mgmt)
        });
    }
    // Read the pid first so the guard owns the daemon even if an assertion below fails.
    let pid = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok());
    let guard = pid.map(PidGuard);
    assert!(
        status.is_some_and(|s| s.success()),
        "-d should return 0: {status:?} {}",
        starter.stderr()
    );
    assert!(
        is_socket(&dir.join("ctl")) && is_socket(&mgmt),
        "sockets must exist when -d returns"
    );
    let guard = guard.expect("pid file written by the daemon");
    assert!(guard.alive(), "daemon pid {} is not running", guard.0);
    assert_ne!(
        guard.0 as u32,
        starter.pid(),
        "the daemon is a forked process"
    );

    let a = RawClient::attach(&dir, 0, "a").expect("attach to the daemon");
    let b = RawClient::attach(&dir, 0, "b").expect("attach to the daemon");
    let f = frame(BROADCAST, mac(1), 60, 1);
    a.send(&f);
    assert_eq!(b.recv_matching(SETTLE, is_test_frame), Some(f));
    let mut m = Mgmt::connect(&mgmt).expect("console of the daemon");
    assert_eq!(m.cmd("shutdown").expect("shutdown").code, 9999);
    assert!(
        wait_until(SETTLE, || !guard.alive()),
        "daemon still running after shutdown"
    );
}
for_kinds!(daemon);

/// Through the `vde_switch` name, `-v` prints a version and exits 0 without starting a switch.
fn version_flag(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("version");
    let mut cmd = kind.command(&tmp);
    cmd.arg("-v").current_dir(tmp.path());
    let mut child = Child::spawn(
        "version",
        cmd,
        tmp.path(),
        Spawn {
            keep_stdin_open: true,
            own_group: false,
        },
    );
    let status = child.wait_exit(SETTLE);
    assert!(
        status.is_some_and(|s| s.success()),
        "-v: {status:?} {}",
        child.stderr()
    );
    assert!(!child.stdout().trim().is_empty(), "-v printed nothing");
}
for_kinds!(version_flag: symlink, real);

/// `f2f-overlay switch --help` and `vde_switch -h` (our binary) exit 0 and describe our flags.
#[test]
fn help_flags() {
    require!(f2f_e2e::tools::require_f2f());
    let tmp = TempDir::new("help");
    let out = Command::new(f2f_bin())
        .args(["switch", "--help"])
        .output()
        .expect("run --help");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "switch --help: {:?}", out.status);
    for flag in [
        "--max-frame",
        "--max-macs",
        "--dirmode",
        "--hashsize",
        "--macaddr",
    ] {
        assert!(text.contains(flag), "switch --help lacks {flag}:\n{text}");
    }
    let out = Command::new(vde_switch_symlink(&tmp))
        .arg("-h")
        .output()
        .expect("run -h");
    assert!(out.status.success(), "vde_switch -h: {:?}", out.status);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--max-frame"));
}

/// Without `-M`, ours opens its management socket at `DIR/mgmt`.
#[test]
fn default_mgmt_socket() {
    require!(f2f_e2e::tools::require_f2f());
    let tmp = TempDir::new("defmgmt");
    let dir = tmp.join("sw");
    let mut cmd = Command::new(f2f_bin());
    cmd.arg("switch").arg("-s").arg(&dir);
    let mut sw = Child::spawn("switch", cmd, tmp.path(), Spawn::default());
    let up = wait_until(SETTLE, || is_socket(&dir.join("mgmt")) || !sw.is_running());
    assert!(up && sw.is_running(), "no DIR/mgmt: {}", sw.stderr());
    let mut m = Mgmt::connect(&dir.join("mgmt")).expect("connect DIR/mgmt");
    assert_eq!(m.cmd("showinfo").expect("showinfo").code, 1000);
}

/// Stdin that is not a terminal is ignored by ours: a command and EOF on it change nothing.
/// The real vde_switch (reference) reads its console from any stdin and exits at EOF.
fn stdin_not_a_terminal(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("stdin");
    let mut cmd = kind.command(&tmp);
    let dir = tmp.join("sw");
    cmd.arg("-s").arg(&dir).arg("-M").arg(tmp.join("sw.mgmt"));
    let mut sw = Child::spawn(
        "switch",
        cmd,
        tmp.path(),
        Spawn {
            keep_stdin_open: true,
            own_group: false,
        },
    );
    assert!(wait_until(SETTLE, || is_socket(&dir.join("ctl")) || !sw.is_running()));
    let _ = sw.write_stdin(b"shutdown\n");
    sw.close_stdin();
    if kind.is_ours() {
        // Give a wrong implementation a fair chance to act on the command or the EOF.
        let exited = wait_until(Duration::from_secs(2), || !sw.is_running());
        assert!(
            !exited,
            "ours exited ({:?}) after input on a non-terminal stdin",
            sw.try_status()
        );
        RawClient::attach(&dir, 0, "still-there").expect("still serving");
    } else {
        let status = sw.wait_exit(SETTLE);
        assert!(
            status.is_some_and(|s| s.success()),
            "vde_switch exits 0 on its stdin console: {status:?}"
        );
    }
}
for_kinds!(stdin_not_a_terminal);

/// How the binary is started with no switch arguments.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Bare {
    /// `f2f-overlay`
    Nothing,
    /// `f2f-overlay switch`
    Switch,
    /// `vde_switch` (symlink)
    VdeSwitch,
}

/// With no arguments, ours runs on vde_switch's default directory (`/var/run/vde.ctl` as root);
/// as `f2f-overlay` and `f2f-overlay switch` it prints one line telling how to attach qemu
/// (spec/cli.md). Run in a private mount namespace with a fresh tmpfs on /run, so the host's
/// /var/run/vde.ctl is never touched; the test reaches the sockets through `/proc/PID/root`.
fn no_arguments(how: Bare) {
    require!(
        require_root(),
        f2f_e2e::tools::require_tool("/usr/bin/unshare"),
        f2f_e2e::tools::require_f2f()
    );
    assert!(
        std::fs::read_link("/var/run").is_ok_and(|t| t.ends_with("run")),
        "this test assumes /var/run -> /run (Debian)"
    );
    let tmp = TempDir::new("noargs");
    let (program, arg) = match how {
        Bare::Nothing => (f2f_bin(), ""),
        Bare::Switch => (f2f_bin(), " switch"),
        Bare::VdeSwitch => (vde_switch_symlink(&tmp), ""),
    };
    let script = format!("mount -t tmpfs f2f-e2e /run && exec \"$0\"{arg}");
    let mut cmd = Command::new("/usr/bin/unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .arg(&program);
    let mut sw = Child::spawn("switch", cmd, tmp.path(), Spawn::default());
    let dir = std::path::PathBuf::from(format!("/proc/{}/root/run/vde.ctl", sw.pid()));
    let up = wait_until(SETTLE, || {
        (is_socket(&dir.join("ctl")) && is_socket(&dir.join("mgmt"))) || !sw.is_running()
    });
    assert!(
        up && sw.is_running(),
        "{how:?}: no switch on /var/run/vde.ctl: {}",
        sw.stderr()
    );
    // The switch answers with paths in its own mount namespace: /var/run/vde.ctl/NNN.F.
    let map = |p: std::path::PathBuf| match p.strip_prefix("/var/run/vde.ctl") {
        Ok(rest) => dir.join(rest),
        Err(_) => panic!("data socket {} is not in /var/run/vde.ctl", p.display()),
    };
    let a = RawClient::attach_mapped(&dir, 0, "a", map).expect("attach to the default switch");
    let b = RawClient::attach_mapped(&dir, 0, "b", map).expect("attach to the default switch");
    let f = frame(BROADCAST, mac(1), 60, 1);
    a.send(&f);
    assert_eq!(b.recv_matching(SETTLE, is_test_frame), Some(f));
    if how != Bare::VdeSwitch {
        wait_until(SETTLE, || sw.stdout().ends_with('\n'));
        let out = sw.stdout();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 1, "{how:?}: one line on stdout: {out:?}");
        assert!(
            lines[0].contains("-netdev vde") && lines[0].contains("/var/run/vde.ctl"),
            "{how:?}: {out:?}"
        );
    }
}

#[test]
fn no_arguments_bare() {
    no_arguments(Bare::Nothing);
}

#[test]
fn no_arguments_switch() {
    no_arguments(Bare::Switch);
}

#[test]
fn no_arguments_vde_switch() {
    no_arguments(Bare::VdeSwitch);
}
