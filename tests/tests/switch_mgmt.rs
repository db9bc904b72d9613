//! The management console (spec/vde-console.md §2–4): banner and prompt byte for byte, the
//! reply framing, `help`, `showinfo`, `port/print` counters, unknown commands, `logout`,
//! `shutdown`, several consoles at once, the real `unixterm`, and our `port/stats`.

use std::time::Duration;

use f2f_e2e::mgmt::{
    parse_ports, parse_stats, unixterm_session, BANNER, DATA_START, END_OF_SESSION, PROMPT,
};
use f2f_e2e::switch::is_socket;
use f2f_e2e::tools::{require_tool, UNIXTERM};
use f2f_e2e::vde::{frame, is_test_frame, mac, BROADCAST};
use f2f_e2e::{for_kinds, require, wait_until, RawClient, Switch, SwitchKind, TempDir};

const SETTLE: Duration = Duration::from_secs(10);

/// Banner + prompt on connect, byte for byte; the reply framing of data commands, status-only
/// commands, empty lines, unknown commands and `logout`.
fn console_framing(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("console");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let mut m = sw.console();
    assert_eq!(m.greeting, format!("{BANNER}{PROMPT}"), "greeting");

    let r = m.cmd("showinfo").expect("showinfo");
    assert!(
        r.raw.starts_with(&format!("{DATA_START}\n")),
        "data block: {:?}",
        r.raw
    );
    assert!(
        r.raw.ends_with(&format!(".\n1000 Success\n{PROMPT}")),
        "ending: {:?}",
        r.raw
    );

    let r = m.cmd("").expect("empty line");
    assert_eq!(r.raw, PROMPT, "an empty line gets only the prompt");
    let r = m.cmd("# a comment").expect("comment");
    assert_eq!(r.raw, PROMPT, "a comment gets only the prompt");

    let r = m.cmd("nosuchcommand").expect("unknown");
    assert_eq!(r.raw, format!("1038 Function not implemented\n{PROMPT}"));

    let r = m.cmd("port/print").expect("port/print");
    assert_eq!(
        r.raw,
        format!("{DATA_START}\n.\n1000 Success\n{PROMPT}"),
        "no ports yet"
    );

    let r = m.cmd("logout").expect("logout");
    assert_eq!(
        r.raw, END_OF_SESSION,
        "logout answers exactly this, then closes"
    );
    assert!(m.closed_within(SETTLE), "logout must close the connection");
    sw.cmd("showinfo"); // the switch itself is still there
}
for_kinds!(console_framing);

/// `help` lists (at least) the commands issue 3 requires, in vde_switch's table layout; `help
/// ARG` filters by prefix.
fn help_lists_commands(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("help");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let r = sw.cmd("help");
    assert_eq!(r.code, 1000, "{}", r.raw);
    assert_eq!(
        r.data.first().map(String::as_str),
        Some("COMMAND PATH       SYNTAX          HELP")
    );
    assert_eq!(
        r.data.get(1).map(String::as_str),
        Some("------------       --------------  ------------")
    );
    let mut wanted = vec![
        "help",
        "showinfo",
        "logout",
        "shutdown",
        "port/print",
        "port/allprint",
    ];
    if kind.is_ours() {
        wanted.push("port/stats");
    }
    for w in wanted {
        assert!(
            r.data
                .iter()
                .any(|l| l.split_whitespace().next() == Some(w)),
            "help does not list {w}:\n{}",
            r.data.join("\n")
        );
    }
    let r = sw.cmd("help port/pr");
    assert_eq!(r.code, 1000);
    let rows: Vec<_> = r.data.iter().skip(2).collect();
    assert!(
        !rows.is_empty() && rows.iter().all(|l| l.starts_with("port/pr")),
        "help port/pr: {rows:?}"
    );
}
for_kinds!(help_lists_commands);

/// `showinfo`: the banner lines, `pid P MAC m uptime S` with the switch's own pid, and the
/// management socket path.
fn showinfo(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("showinfo");
    let sw = Switch::start(kind, &tmp, "sw", &["--macaddr", "02:00:00:12:34:56"]);
    let r = sw.cmd("showinfo");
    assert_eq!(r.code, 1000, "{}", r.raw);
    let banner: Vec<&str> = BANNER.lines().collect();
    assert_eq!(&r.data[..2], &banner[..], "showinfo starts with the banner");
    let pid_line = r
        .data
        .iter()
        .find(|l| l.starts_with("pid "))
        .expect("a pid line");
    let words: Vec<&str> = pid_line.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"pid"));
    assert_eq!(
        words.get(1),
        Some(&sw.child.pid().to_string().as_str()),
        "{pid_line}"
    );
    assert_eq!(words.get(2), Some(&"MAC"));
    assert_eq!(
        words.get(3),
        Some(&"02:00:00:12:34:56"),
        "--macaddr shows in showinfo"
    );
    assert_eq!(words.get(4), Some(&"uptime"));
    assert!(
        words.get(5).and_then(|u| u.parse::<u64>().ok()).is_some(),
        "{pid_line}"
    );
    let mgmt_line = format!("mgmt {} perm 0600", sw.mgmt.display());
    assert!(
        r.data.contains(&mgmt_line),
        "no {mgmt_line:?} in {:?}",
        r.data
    );
}
for_kinds!(showinfo);

/// `port/print` shows the IN/OUT packet and byte counters of each port, in vde_switch's
/// layout, counting frames as received and sent.
fn port_print_counters(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("counters");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let a = RawClient::attach(&sw.dir, 1, "a").expect("attach a");
    let b = RawClient::attach(&sw.dir, 2, "b").expect("attach b");
    for i in 0..3 {
        a.send(&frame(BROADCAST, mac(1), 100, i));
    }
    for _ in 0..3 {
        assert!(b.recv_matching(SETTLE, is_test_frame).is_some());
    }
    let r = sw.cmd("port/print");
    let text = r.data.join("\n");
    let ports = parse_ports(&r.data);
    assert_eq!(
        ports.iter().map(|p| p.port).collect::<Vec<_>>(),
        vec![1, 2],
        "{text}"
    );
    let counter_lines: Vec<&String> = r
        .data
        .iter()
        .filter(|l| l.starts_with(" IN:") || l.starts_with(" OUT:"))
        .collect();
    assert_eq!(
        counter_lines,
        vec![
            &format!(" IN:  pkts {:>10}          bytes {:>20}", 3, 300),
            &format!(" OUT: pkts {:>10}          bytes {:>20}", 0, 0),
            &format!(" IN:  pkts {:>10}          bytes {:>20}", 0, 0),
            &format!(" OUT: pkts {:>10}          bytes {:>20}", 3, 300),
        ],
        "{text}"
    );
    assert!(
        r.data
            .iter()
            .any(|l| l == "Port 0001 untagged_vlan=0000 ACTIVE - Unnamed Allocatable"),
        "{text}"
    );
    assert!(
        r.data
            .iter()
            .any(|l| l.starts_with("  -- endpoint ID ") && l.ends_with(" module unix prog   : a")),
        "{text}"
    );
}
for_kinds!(port_print_counters);

/// `port/allprint` also lists a port whose client left (INACTIVE), `port/print` does not.
fn allprint_lists_inactive(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("allprint");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    drop(RawClient::attach(&sw.dir, 3, "gone").expect("attach"));
    let _stay = RawClient::attach(&sw.dir, 4, "stays").expect("attach");
    assert!(wait_until(SETTLE, || !parse_ports(
        &sw.cmd("port/print").data
    )
    .iter()
    .any(|p| p.port == 3)));
    let all = parse_ports(&sw.cmd("port/allprint").data);
    let p3 = all
        .iter()
        .find(|p| p.port == 3)
        .unwrap_or_else(|| panic!("allprint lacks port 3: {all:#?}"));
    assert!(
        !p3.active && p3.header.contains("INACTIVE") && p3.endpoints.is_empty(),
        "{p3:#?}"
    );
    assert!(all.iter().any(|p| p.port == 4 && p.active));
}
for_kinds!(allprint_lists_inactive);

/// Two consoles at once both work, and one logging out leaves the other connected.
fn two_consoles(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("twocons");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let mut c1 = sw.console();
    let mut c2 = sw.console();
    assert_eq!(c1.cmd("showinfo").expect("c1").code, 1000);
    assert_eq!(c2.cmd("showinfo").expect("c2").code, 1000);
    assert_eq!(c1.cmd("logout").expect("logout").code, 9999);
    assert_eq!(c2.cmd("port/print").expect("c2 after c1 left").code, 1000);
}
for_kinds!(two_consoles);

/// The real `unixterm` drives the console: banner, a data reply, an error reply, and it exits
/// after `logout` (unixterm quits on sending it, so the `9999` line may not be printed).
fn through_unixterm(kind: SwitchKind) {
    require!(kind.available(), require_tool(UNIXTERM));
    let tmp = TempDir::new("unixterm");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let (out, exited) = unixterm_session(&sw.mgmt, &["showinfo", "nosuch", "logout"], tmp.path());
    assert!(out.starts_with(&format!("{BANNER}{PROMPT}")), "{out:?}");
    assert!(out.contains(&format!("{DATA_START}\n{BANNER}")), "{out:?}");
    assert!(
        out.contains(&format!("1038 Function not implemented\n{PROMPT}")),
        "{out:?}"
    );
    assert!(exited, "unixterm should exit after logout");
}
for_kinds!(through_unixterm);

/// `shutdown` through `unixterm`: the switch exits with status 0 and removes `DIR/ctl`.
fn shutdown_exits(kind: SwitchKind) {
    require!(kind.available(), require_tool(UNIXTERM));
    let tmp = TempDir::new("shutdown");
    let mut sw = Switch::start(kind, &tmp, "sw", &[]);
    let _client = RawClient::attach(&sw.dir, 0, "present at shutdown").expect("attach");
    unixterm_session(&sw.mgmt, &["shutdown"], tmp.path());
    let status = sw.child.wait_exit(SETTLE);
    assert!(
        status.is_some_and(|s| s.success()),
        "exit status after shutdown: {status:?}"
    );
    assert!(
        !is_socket(&sw.dir.join("ctl")),
        "DIR/ctl left behind after shutdown"
    );
}
for_kinds!(shutdown_exits);

/// `shutdown` on a plain console connection answers exactly `9999 END OF SESSION`, closes it,
/// and the switch exits 0.
fn shutdown_reply(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("shutdown2");
    let mut sw = Switch::start(kind, &tmp, "sw", &[]);
    let mut m = sw.console();
    let r = m.cmd("shutdown").expect("shutdown");
    assert_eq!(r.raw, END_OF_SESSION);
    assert!(m.closed_within(SETTLE));
    let status = sw.child.wait_exit(SETTLE);
    assert!(
        status.is_some_and(|s| s.success()),
        "exit status after shutdown: {status:?}"
    );
}
for_kinds!(shutdown_reply);

/// Ours: `port/stats [N]` prints one line per active port with exact counters, framed like
/// other data commands.
fn port_stats(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("stats");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let a = RawClient::attach(&sw.dir, 1, "a").expect("attach a");
    let b = RawClient::attach(&sw.dir, 2, "b").expect("attach b");
    for i in 0..3 {
        a.send(&frame(BROADCAST, mac(1), 100, i));
    }
    b.send(&frame(BROADCAST, mac(2), 64, 9));
    for _ in 0..3 {
        assert!(b.recv_matching(SETTLE, is_test_frame).is_some());
    }
    assert!(a.recv_matching(SETTLE, is_test_frame).is_some());
    let r = sw.cmd("port/stats");
    assert!(r.has_data_block && r.code == 1000, "{}", r.raw);
    let stats = parse_stats(&r.data);
    assert_eq!(
        stats.keys().copied().collect::<Vec<_>>(),
        vec![1, 2],
        "{}",
        r.raw
    );
    // The documented fields, in this order, with exact values; further counters may follow
    // or sit between them (the line is our extension and may grow).
    let fields = [
        "in_frames",
        "in_bytes",
        "out_frames",
        "out_bytes",
        "drop_runt",
        "drop_oversize",
        "drop_vlan",
        "drop_egress_full",
    ];
    let check = |port: u32, values: [u64; 8]| {
        let line = r
            .data
            .iter()
            .find(|l| l.starts_with(&format!("Port {port:04} ")))
            .unwrap_or_else(|| panic!("no line for port {port}: {}", r.raw));
        let order: Vec<&str> = line
            .split_whitespace()
            .filter_map(|w| w.split_once('=').map(|(k, _)| k))
            .filter(|k| fields.contains(k))
            .collect();
        assert_eq!(order, fields, "field order in {line:?}");
        for (k, v) in fields.iter().zip(values) {
            assert_eq!(
                stats[&port].get(*k),
                Some(&v),
                "{k} of port {port} in {line:?}"
            );
        }
    };
    check(1, [3, 300, 1, 64, 0, 0, 0, 0]);
    check(2, [1, 64, 3, 300, 0, 0, 0, 0]);
    let one = sw.cmd("port/stats 2");
    assert_eq!(
        parse_stats(&one.data).keys().copied().collect::<Vec<_>>(),
        vec![2],
        "{}",
        one.raw
    );
}
for_kinds!(port_stats: ours, symlink);
