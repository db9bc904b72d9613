//! The management console against the real `vde_switch` 2.3.2: one command sequence typed
//! through the real `unixterm` into ours and into a real switch with the same attached clients
//! gives the same status codes, fields and shape (numbers that depend on time, pids, file
//! descriptors or hashing are masked); unknown and malformed commands get error codes; a
//! console client that floods or vanishes mid-command does not disturb forwarding; `vdeterm`
//! works (through a pty); `-f` runs a script at start; `f2f-overlay console` one-shot.
//!
//! Known, documented differences the comparison accounts for (README, "Console"): our `help`
//! lists our additions too (`port/stats`, `port/capture`, `status/json`, `dhcp/print`); vde_switch's `hash/find` prints the port plus one; vde_switch's
//! `fstp/print` says `role=Unknown` for tagged ports.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use f2f_e2e::mgmt::{parse_ports, split_transcript, unixterm_session, PROMPT};
use f2f_e2e::netns::assert_pings;
use f2f_e2e::proc::{Child, Spawn};
use f2f_e2e::tools::{f2f_bin, require_real_vde, require_root, require_tool};
use f2f_e2e::vde::{frame, mac, BROADCAST};
use f2f_e2e::{
    for_kinds, require, wait_until, Netns, RawClient, Switch, SwitchKind, TapHost, TempDir,
};

/// The same switch MAC for both, so `showinfo` and `fstp/*` compare unmasked.
const SWITCH_MAC: &str = "00:ff:12:34:56:78";

/// Typed before any traffic: VLANs, ports, access control, errnos.
const SETUP: &[&str] = &[
    "help",
    "help vlan",
    "helpport/set",
    "showinfo",
    "ds/showinfo",
    "port/showinfo",
    "port/print",
    "port/allprint",
    "vlan/create 10",
    "vlan/create 10",
    "vlan/create 0",
    "vlan/create 4094",
    "vlan/create 20",
    "port/create 7",
    "port/create 7",
    "port/create 99",
    "port/setvlan 7 10",
    "port/setvlan 2 20",
    "port/setvlan 8 10",
    "port/setvlan 2 11",
    "port/setvlan 2 4096",
    "vlan/addport 10 1",
    "vlan/addport 20 1",
    "vlan/addport 11 1",
    "vlan/addport 10 99",
    "vlan/print",
    "vlan/allprint",
    "vlan/print 10",
    "vlan/print 11",
    "vlan/allprint 0",
    "vlan/print 4094",
    "vlan/remove 10",
    "vlan/delport 20 2",
    "port/allprint 7",
    "port/setuser 7 root",
    "port/setgroup 7 root",
    "port/setuser 7 nosuchuser-f2f",
    "port/setuser 8 root",
    "port/allprint 7",
    "port/setuser 7 NONE",
    "port/setgroup 7 ANY",
    "port/allocatable 7 1",
    "port/allprint 7",
    "port/remove 7",
    "port/remove 1",
    "port/allprint",
    "nosuchcmd",
    "port",
    "vlan",
    "\u{1}\u{2}garbage\u{7f}",
];

/// Typed after each client sent a frame: the MAC table, FSTP, debug, plugins, scripts.
const AFTER_TRAFFIC: &[&str] = &[
    "hash/showinfo",
    "hash/setexpire 200",
    "hash/setgcint 3",
    "hash/setminper 2",
    "hash/showinfo",
    "hash/print",
    "hash/find 02:e2:e0:00:00:01",
    "hash/find 02:e2:e0:00:00:02 20",
    "hash/find 02:e2:e0:00:00:99",
    "hash/find zz",
    "fstp/showinfo",
    "fstp/print",
    "fstp/print 20",
    "fstp/print 5",
    "fstp/print 9999",
    "fstp/setedge 0 1 1",
    "fstp/bonus 0 1 100",
    "fstp/setedge 5 1 1",
    "fstp/bonus 0",
    "fstp/print 0",
    "fstp/setfstp 0",
    "debug/list",
    "debug/list port",
    "debug/list zz",
    "debug/del port/+",
    "debug/add zz",
    "debug/del zz",
    "debug/add port",
    "debug/list port/ep",
    "debug/add port/+",
    "debug/del port",
    "debug/del port",
    "plugin/list",
    "plugin/add nosuchlib-f2f",
    "plugin/add",
    "plugin/del x",
    "load TMP/script.rc",
    "load /nonexistent-f2f.rc",
    "vlan/print 30",
    "port/resetcounter",
    "vlan/delport 20 1",
    "port/setvlan 2 0",
    "vlan/remove 20",
    "vlan/print",
    "hash/setsize 64",
    "hash/showinfo",
    "hash/print",
    "logout",
];

/// The script `load` runs (no blank lines: vde_switch answers those `1038`, we answer nothing).
const SCRIPT: &str =
    "vlan/create 30\nport/showinfo\n# a comment\nnosuch\n   port/create 12\nport/setvlan 12 30\n";

/// One side of the comparison: a switch, its clients, and what unixterm printed.
struct Side {
    tmp: TempDir,
    sw: Switch,
    clients: Vec<RawClient>,
}

impl Side {
    fn start(kind: SwitchKind) -> Side {
        let tmp = TempDir::new(if kind.is_ours() {
            "parity-ours"
        } else {
            "parity-real"
        });
        std::fs::write(tmp.join("script.rc"), SCRIPT).expect("write script");
        let sw = Switch::start(kind, &tmp, "sw", &["--macaddr", SWITCH_MAC]);
        let clients = [1u32, 2, 5]
            .iter()
            .map(|&p| {
                RawClient::attach(&sw.dir, p, &format!("parity-client-{p}"))
                    .unwrap_or_else(|e| panic!("{kind:?}: attaching a client on port {p}: {e}"))
            })
            .collect();
        Side { tmp, sw, clients }
    }

    /// Types `cmds` through unixterm; one transcript chunk per command.
    fn session(&self, cmds: &[&str]) -> Vec<String> {
        let root = self.tmp.path().display().to_string();
        let typed: Vec<String> = cmds.iter().map(|c| c.replace("TMP", &root)).collect();
        let typed: Vec<&str> = typed.iter().map(String::as_str).collect();
        let (out, _) = unixterm_session(&self.sw.mgmt, &typed, self.tmp.path());
        let (_, replies) = split_transcript(&out);
        replies.into_iter().map(|r| r.raw).collect()
    }
}

/// The last status line of a reply (`load` prints several).
fn final_status(raw: &str) -> String {
    raw.strip_suffix(PROMPT)
        .unwrap_or(raw)
        .lines()
        .rev()
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// The rows our `help` has beyond vde_switch's (README, "Console": our additions).
const OUR_COMMANDS: [&str; 7] = [
    "hash/setportmax",
    "port/stats",
    "port/capture",
    "status",
    "status/json",
    "dhcp",
    "dhcp/print",
];

fn first_word(line: &str) -> &str {
    line.split_whitespace().next().unwrap_or("")
}

/// A reply as comparable lines: words joined by one space, the temp dir as `TMP`, volatile
/// numbers as `#`, and the documented differences evened out.
fn normalise(cmd: &str, raw: &str, tmp: &Path, ours: bool) -> Vec<String> {
    const VOLATILE: [&str; 7] = ["pid", "uptime", "age", "ID", "Hash:", "pkts", "bytes"];
    let body = raw.strip_suffix(PROMPT).unwrap_or(raw);
    let body = body.replace(&tmp.display().to_string(), "TMP");
    let mut lines: Vec<String> = Vec::new();
    for line in body.lines() {
        if ours && cmd.starts_with("help") && OUR_COMMANDS.contains(&first_word(line)) {
            continue;
        }
        let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        for i in 1..words.len() {
            if VOLATILE.contains(&words[i - 1].as_str()) {
                words[i] = "#".into();
            }
            if !ours && cmd.starts_with("hash/find") && words[i - 1] == "port:" {
                // vde_switch's hash/find prints the port plus one.
                if let Ok(p) = words[i].parse::<u32>() {
                    words[i] = format!("{:03}", p.saturating_sub(1));
                }
            }
        }
        let mut joined = words.join(" ");
        if !ours && joined.contains("tagged=1") {
            joined = joined.replace("role=Unknown", "role=Designated");
        }
        lines.push(joined);
    }
    if cmd == "hash/print" {
        lines.sort();
    }
    lines
}

/// Compares the replies to `cmds`; returns one message per difference. A final `logout` is
/// not compared: unixterm exits as soon as it has sent it, often before printing the reply.
fn compare(cmds: &[&str], ours: (&[String], &Path), real: (&[String], &Path)) -> Vec<String> {
    let cmds = match cmds.split_last() {
        Some((&"logout", rest)) => rest,
        _ => cmds,
    };
    let mut diffs = Vec::new();
    if ours.0.len() < cmds.len() || real.0.len() < cmds.len() {
        diffs.push(format!(
            "{} commands, {} replies from ours, {} from vde_switch",
            cmds.len(),
            ours.0.len(),
            real.0.len()
        ));
    }
    for (i, cmd) in cmds.iter().enumerate() {
        let (Some(o), Some(r)) = (ours.0.get(i), real.0.get(i)) else {
            break;
        };
        let (so, sr) = (final_status(o), final_status(r));
        if so != sr {
            diffs.push(format!(
                "{cmd:?}: status {so:?} (ours) vs {sr:?} (vde_switch)"
            ));
        }
        let (no, nr) = (
            normalise(cmd, o, ours.1, true),
            normalise(cmd, r, real.1, false),
        );
        if no != nr {
            diffs.push(format!(
                "{cmd:?}: reply differs\n--- ours\n{}\n--- vde_switch\n{}",
                no.join("\n"),
                nr.join("\n")
            ));
        }
    }
    diffs
}

/// The same command sequences through unixterm into ours and into vde_switch 2.3.2, with the
/// same three clients attached and the same frames sent, give the same replies.
#[test]
fn same_replies_as_vde_switch() {
    require!(
        require_real_vde(),
        SwitchKind::Ours.available(),
        require_tool("/usr/bin/unixterm")
    );
    let ours = Side::start(SwitchKind::Ours);
    let real = Side::start(SwitchKind::RealVdeSwitch);
    let mut diffs = Vec::new();

    let (o, r) = (ours.session(SETUP), real.session(SETUP));
    diffs.extend(compare(SETUP, (&o, ours.tmp.path()), (&r, real.tmp.path())));
    // Sanity: the comparison is not vacuous.
    assert!(
        o.iter().any(|x| x.contains("VLAN 0020")) && o.iter().any(|x| x.contains("1017 File")),
        "unexpected transcript from ours: {o:#?}"
    );

    for side in [&ours, &real] {
        for (n, c) in side.clients.iter().enumerate() {
            let n = u8::try_from(n + 1).unwrap_or(1);
            c.send(&frame(BROADCAST, mac(n), 60, n));
        }
    }
    // Both switches have learned the three sources before the MAC table is shown.
    for side in [&ours, &real] {
        let learned = wait_until(Duration::from_secs(5), || {
            side.sw.cmd("hash/print").data.len() >= 3
        });
        assert!(
            learned,
            "{:?} did not learn the three sources",
            side.sw.kind
        );
    }
    let (o, r) = (ours.session(AFTER_TRAFFIC), real.session(AFTER_TRAFFIC));
    diffs.extend(compare(
        AFTER_TRAFFIC,
        (&o, ours.tmp.path()),
        (&r, real.tmp.path()),
    ));
    assert!(
        o.iter().any(|x| x.contains("vde[")) && o.iter().any(|x| x.contains("02:e2:e0:00:00:02")),
        "unexpected transcript from ours: {o:#?}"
    );
    assert!(
        diffs.is_empty(),
        "{} differences:\n{}",
        diffs.len(),
        diffs.join("\n\n")
    );
}

/// Malformed input never gets anything but an error code and the prompt, on our switch and on
/// the reference: binary bytes, an over-long line, a menu name, a prefix of a command.
fn malformed_lines_get_error_codes(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("malformed");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let mut c = sw.console();
    for (line, code) in [
        ("\u{1b}[A\u{0}", 1038),
        ("hash", 1038),
        ("port/pr", 1038),
        ("vlan/create", 1022),
        ("vlan/addport 10", 1022),
        ("fstp/bonus 1 2", 1022),
        ("port/setuser", 1022),
        ("hash/find 1:2:3", 1022),
    ] {
        let r = c.cmd(line).expect("reply");
        assert_eq!(r.code, code, "{kind:?} {line:?}: {}", r.raw);
    }
    assert!(sw.cmd("port/showinfo").code == 1000, "still answering");
}
for_kinds!(malformed_lines_get_error_codes: ours, real);

/// Reads and discards whatever arrives on `s` until it closes or `until` passes.
fn drain(mut s: UnixStream, until: Instant) {
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 65536];
    while Instant::now() < until {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// While one console client floods megabytes of garbage (and reads its answers), others leave
/// in the middle of a command, and one sends an endless line, two `vde_plug2tap` hosts keep
/// pinging with 0% loss; afterwards the console still answers and lists both hosts.
#[test]
fn console_abuse_does_not_disturb_forwarding() {
    require!(
        require_root(),
        require_real_vde(),
        SwitchKind::Ours.available()
    );
    let tmp = TempDir::new("flood");
    let sw = Switch::start(SwitchKind::Ours, &tmp, "sw", &[]);
    let (ns1, ns2) = (Netns::new(), Netns::new());
    let _t1 = TapHost::start(&ns1, &sw.dir, "tap1", "10.203.0.1/24", None, tmp.path());
    let _t2 = TapHost::start(&ns2, &sw.dir, "tap2", "10.203.0.2/24", None, tmp.path());
    assert_pings(&ns1, "10.203.0.2", 3, "before the flood");

    let mgmt = sw.mgmt.clone();
    let until = Instant::now() + Duration::from_secs(20);
    let flood = std::thread::spawn(move || {
        let s = UnixStream::connect(&mgmt).expect("flood connect");
        let reader = s.try_clone().expect("clone");
        let drainer = std::thread::spawn(move || drain(reader, until));
        let mut w = s;
        let mut sent = 0usize;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut chunk = vec![0u8; 64 * 1024];
        while sent < 8 << 20 && Instant::now() < until {
            for b in chunk.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *b = (seed >> 24) as u8;
            }
            // Keep the random lines from spelling a command: no letter starts a line.
            for i in 1..chunk.len() {
                if chunk[i - 1] == b'\n' && chunk[i].is_ascii_alphabetic() {
                    chunk[i] = b'#' + 1;
                }
            }
            if w.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        drop(w);
        let _ = drainer.join();
        sent
    });
    // Clients that vanish: mid-line, mid-reply, and one that never ends its line.
    let mut vanishing = Vec::new();
    for i in 0..50 {
        let mut s = UnixStream::connect(&sw.mgmt).expect("connect");
        let _ = match i % 3 {
            0 => s.write_all(b"port/pri"),
            1 => s.write_all(b"help\nport/allprint\nhash/print\n"),
            _ => s.write_all(&[b'x'; 10_000]),
        };
        vanishing.push(s);
        if i % 10 == 9 {
            vanishing.clear();
        }
    }
    drop(vanishing);
    assert_pings(&ns1, "10.203.0.2", 25, "during the console flood");
    let sent = flood.join().expect("flood thread");
    assert!(sent >= 1 << 20, "the flood sent only {sent} bytes");
    assert_pings(&ns2, "10.203.0.1", 5, "after the flood");
    let ports = parse_ports(&sw.cmd("port/print").data);
    let taps = ports
        .iter()
        .filter(|p| p.endpoints.iter().any(|e| e.contains("vde_plug2tap")))
        .count();
    assert_eq!(taps, 2, "{ports:#?}");
}

/// `vdeterm` (line editing over a terminal; it needs a pty, given here by `script`) runs a
/// command and shows its output.
fn vdeterm_works(kind: SwitchKind) {
    require!(
        kind.available(),
        require_tool("/usr/bin/vdeterm"),
        require_tool("/usr/bin/script")
    );
    let tmp = TempDir::new("vdeterm");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let mut cmd = Command::new("/usr/bin/script");
    cmd.args(["-q", "-c"])
        .arg(format!("/usr/bin/vdeterm {}", sw.mgmt.display()))
        .arg("/dev/null");
    let how = Spawn {
        keep_stdin_open: true,
        own_group: true,
    };
    let mut term = Child::spawn("vdeterm", cmd, tmp.path(), how);
    assert!(
        wait_until(Duration::from_secs(10), || term.stdout().contains("vde[")),
        "no vdeterm prompt: {:?}",
        term.stdout()
    );
    term.write_stdin(b"port/showinfo\r").expect("typing");
    assert!(
        wait_until(Duration::from_secs(10), || {
            let o = term.stdout();
            o.contains("Numports=32") && o.contains("Success")
        }),
        "vdeterm did not show the reply: {:?}",
        term.stdout()
    );
    term.write_stdin(b"vlan/create 0\r").expect("typing");
    assert!(
        wait_until(Duration::from_secs(10), || term
            .stdout()
            .contains("Invalid argument")),
        "vdeterm did not show the error: {:?}",
        term.stdout()
    );
    let _ = term.write_stdin(b"logout\r");
}
for_kinds!(vdeterm_works: ours, real);

/// `-f FILE` runs each line as a console command before clients attach, on ours (under both
/// names) and on vde_switch.
fn rcfile_runs_at_start(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("rcfile");
    let rc = tmp.join("switch.rc");
    std::fs::write(
        &rc,
        "# VLAN setup\nvlan/create 10\nvlan/create 11\nport/create 7\nport/setvlan 7 10\n\
         vlan/addport 11 7\nport/setuser 7 root\nhash/setexpire 42\nnosuchcommand\n",
    )
    .expect("write rc");
    let sw = Switch::start(kind, &tmp, "sw", &["-f", &rc.display().to_string()]);
    let r = sw.cmd("port/allprint 7");
    assert_eq!(r.code, 1000, "{}", r.raw);
    assert!(
        r.data
            .first()
            .is_some_and(|l| l.contains("untagged_vlan=0010 INACTIVE")),
        "{kind:?}: {:?}",
        r.data
    );
    assert!(
        r.data
            .iter()
            .any(|l| l.contains("(User: root - Group: NONE)")),
        "{:?}",
        r.data
    );
    let v = sw.cmd("vlan/allprint 11");
    assert!(
        v.data
            .iter()
            .any(|l| l.contains("Port 0007 tagged=1 active=0")),
        "{kind:?}: {:?}",
        v.data
    );
    assert!(sw
        .cmd("hash/showinfo")
        .data
        .iter()
        .any(|l| l == "GC expire 42 secs"));
    if kind.is_ours() {
        assert!(
            sw.log().contains("nosuchcommand"),
            "the failing line is logged: {}",
            sw.log()
        );
    }
}
for_kinds!(rcfile_runs_at_start);

/// A `-f` file that cannot be read stops our switch with a message naming it (vde_switch
/// silently ignores it).
#[test]
fn unreadable_rcfile_is_refused() {
    require!(SwitchKind::Ours.available());
    let tmp = TempDir::new("rcmissing");
    let out = Command::new(f2f_bin())
        .arg("switch")
        .arg("-s")
        .arg(tmp.join("sw"))
        .args(["-f", "/nonexistent/f2f.rc"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/f2f.rc") && err.contains("No such file"),
        "{err}"
    );
}

/// `f2f-overlay console -M PATH CMD...` (and `-s DIR` when the socket is `DIR/mgmt`) prints the
/// data lines without framing and exits 0, or exits 1 with the status on stderr; it works
/// against vde_switch too.
fn console_one_shot(kind: SwitchKind) {
    require!(kind.available(), SwitchKind::Ours.available());
    let tmp = TempDir::new("oneshot");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let console = |args: &[&str]| {
        Command::new(f2f_bin())
            .arg("console")
            .arg("-M")
            .arg(&sw.mgmt)
            .args(args)
            .output()
            .expect("run console")
    };
    let out = console(&["port/showinfo"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Numports=32\nHUB=false\ncounters=true\n"
    );
    let out = console(&["vlan/create", "10"]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty());
    let out = console(&["vlan/create", "10"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1017 File exists"));
    let out = console(&["nosuchcmd"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("1038 Function not implemented"));
    let out = console(&["vlan/print", "10"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "VLAN 0010\n");
    let missing = Command::new(f2f_bin())
        .args(["console", "-s"])
        .arg(tmp.join("nothing-here"))
        .arg("help")
        .output()
        .expect("run console");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nothing-here/mgmt"));
}
for_kinds!(console_one_shot: ours, real);

/// Without `-M`, our switch's console is `DIR/mgmt`, which `f2f-overlay console -s DIR` finds.
#[test]
fn console_finds_dir_mgmt() {
    require!(SwitchKind::Ours.available());
    let tmp = TempDir::new("dirmgmt");
    let dir = tmp.join("sw");
    let mut cmd = Command::new(f2f_bin());
    cmd.arg("switch").arg("-s").arg(&dir);
    let mut child = Child::spawn("switch", cmd, tmp.path(), Spawn::default());
    let up = wait_until(Duration::from_secs(10), || {
        f2f_e2e::switch::is_socket(&dir.join("mgmt")) || !child.is_running()
    });
    assert!(up && child.is_running(), "{}", child.stderr());
    let out = Command::new(f2f_bin())
        .args(["console", "-s"])
        .arg(&dir)
        .arg("showinfo")
        .output()
        .expect("run console");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("VDE switch V.2.3.2\n"));
}
