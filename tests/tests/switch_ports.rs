//! Port allocation through the control socket: requested port numbers, several endpoints of
//! one user sharing a port, the port freed when its control stream closes, and requests the
//! real vde_switch leaves hanging (port out of range, port held by another user), which ours
//! must refuse by closing the connection.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use f2f_e2e::mgmt::parse_ports;
use f2f_e2e::vde::{
    closed_within, ctl_connect, frame, is_test_frame, mac, request, BoundDgram, BROADCAST, MAGIC,
    VERSION,
};
use f2f_e2e::{for_kinds, require, wait_until, RawClient, Switch, SwitchKind, TempDir};

const SETTLE: Duration = Duration::from_secs(10);
const SILENCE: Duration = Duration::from_millis(300);

/// A client asking for port 7 gets `DIR/007.F`, and `port/print` shows it on port 7.
fn requested_port(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("port7");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let c = RawClient::attach(&sw.dir, 7, "on-seven").expect("attach port 7");
    let name = c
        .switch_path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("007."),
        "data socket {name} should be 007.F"
    );
    assert_eq!(c.switch_path.parent(), Some(sw.dir.as_path()));
    let ports = parse_ports(&sw.cmd("port/print").data);
    let p7 = ports.iter().find(|p| p.port == 7).expect("port 7 listed");
    assert!(
        p7.active && p7.endpoints.iter().any(|e| e.ends_with(": on-seven")),
        "{p7:#?}"
    );
}
for_kinds!(requested_port);

/// Two clients of one user asking for port 5 are both attached; a frame from one is not
/// delivered to its sibling, but reaches a third port; frames to port 5 reach both.
fn shared_port(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("shared");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let x1 = RawClient::attach(&sw.dir, 5, "first-on-5").expect("first on 5");
    let x2 = RawClient::attach(&sw.dir, 5, "second-on-5").expect("second on 5");
    let y = RawClient::attach(&sw.dir, 0, "other").expect("other port");
    assert_ne!(
        x1.switch_path, x2.switch_path,
        "each endpoint has its own data socket"
    );

    let ports = parse_ports(&sw.cmd("port/print").data);
    let p5 = ports.iter().find(|p| p.port == 5).expect("port 5 listed");
    assert_eq!(p5.endpoints.len(), 2, "both endpoints on port 5: {p5:#?}");

    let from_x1 = frame(BROADCAST, mac(1), 60, 1);
    x1.send(&from_x1);
    assert_eq!(y.recv_matching(SETTLE, is_test_frame), Some(from_x1));
    assert_eq!(
        x2.recv(SILENCE),
        None,
        "a frame from port 5 came back to port 5's sibling"
    );

    let from_y = frame(BROADCAST, mac(2), 60, 2);
    y.send(&from_y);
    assert_eq!(
        x1.recv_matching(SETTLE, is_test_frame),
        Some(from_y.clone())
    );
    assert_eq!(x2.recv_matching(SETTLE, is_test_frame), Some(from_y));
}
for_kinds!(shared_port);

/// Closing the control stream frees the port: `port/print` stops listing it, the data socket
/// file goes away, and the number can be taken again.
fn port_freed_on_close(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("freed");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let c = RawClient::attach(&sw.dir, 9, "leaving").expect("attach port 9");
    let data_path = c.switch_path.clone();
    assert!(data_path.exists());
    let listed = |sw: &Switch| {
        parse_ports(&sw.cmd("port/print").data)
            .iter()
            .any(|p| p.port == 9)
    };
    assert!(listed(&sw));
    drop(c);
    assert!(
        wait_until(SETTLE, || !listed(&sw)),
        "port 9 still in port/print after its client left: {}",
        sw.cmd("port/print").raw
    );
    assert!(
        wait_until(SETTLE, || !data_path.exists()),
        "{} not removed",
        data_path.display()
    );
    let again = RawClient::attach(&sw.dir, 9, "back").expect("port 9 can be taken again");
    assert!(again
        .switch_path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .starts_with("009."));
}
for_kinds!(port_freed_on_close);

/// Sends a good request for `port` with a data socket owned by `uid`; returns the control
/// stream and what the switch answered within `wait` (None: the connection was closed).
fn request_port_as(
    sw: &Switch,
    port: u32,
    uid: u32,
    wait: Duration,
) -> (std::os::unix::net::UnixStream, Option<Vec<u8>>) {
    let sock = BoundDgram::new(&sw.dir);
    // The switch takes the owner of the client's socket as the port's user (spec §2.1).
    std::os::unix::fs::chown(&sock.path, Some(uid), None).expect("chown client socket");
    std::fs::set_permissions(&sock.path, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let mut ctl = ctl_connect(&sw.dir);
    ctl.write_all(&request(MAGIC, VERSION, port << 8, &sock.path, "asker"))
        .expect("send request");
    ctl.set_read_timeout(Some(wait)).expect("timeout");
    let mut buf = [0u8; 110];
    let answer = match ctl.read(&mut buf) {
        Ok(0) => None,
        Ok(n) => Some(buf[..n].to_vec()),
        Err(_) => Some(Vec::new()), // no answer within `wait`, still open
    };
    (ctl, answer)
}

/// Port number ≥ `-n`: vde_switch never answers (the client hangs); ours closes the
/// connection and the switch keeps serving.
fn port_out_of_range(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("range");
    let sw = Switch::start(kind, &tmp, "sw", &["-n", "8"]);
    let before = sw.log().len();
    let (mut ctl, answer) = request_port_as(&sw, 20, 0, Duration::from_secs(2));
    if kind.is_ours() {
        assert!(
            answer.is_none() || closed_within(&mut ctl, SETTLE),
            "ours must close a request for port 20 of 8, got {answer:?}"
        );
        assert_logged_refusal(&sw, before);
    } else {
        assert_eq!(
            answer,
            Some(Vec::new()),
            "vde_switch 2.3.2 leaves it hanging (spec §2.5)"
        );
    }
    RawClient::attach(&sw.dir, 3, "fine").expect("port 3 of 8 still works");
}
for_kinds!(port_out_of_range);

/// Port held by another user: vde_switch never answers; ours closes the connection.
fn port_busy_other_user(kind: SwitchKind) {
    require!(kind.available(), f2f_e2e::tools::require_root());
    let tmp = TempDir::new("busy");
    let sw = Switch::start(kind, &tmp, "sw", &[]);
    let _owner = RawClient::attach(&sw.dir, 4, "root-on-4").expect("root takes port 4");
    // Let the owner's attach log line land first, so what follows is the refusal.
    wait_until(SETTLE, || sw.log().contains("root-on-4") || !kind.is_ours());
    let before = sw.log().len();
    let (mut ctl, answer) = request_port_as(&sw, 4, 65534, Duration::from_secs(2));
    if kind.is_ours() {
        assert!(
            answer.is_none() || closed_within(&mut ctl, SETTLE),
            "ours must refuse port 4 to another user, got {answer:?}"
        );
        assert_logged_refusal(&sw, before);
    } else {
        assert_eq!(
            answer,
            Some(Vec::new()),
            "vde_switch 2.3.2 leaves it hanging (spec §2.5)"
        );
    }
    let ports = parse_ports(&sw.cmd("port/print").data);
    let p4 = ports.iter().find(|p| p.port == 4).expect("port 4 listed");
    assert_eq!(
        p4.endpoints.len(),
        1,
        "only root's endpoint on port 4: {p4:#?}"
    );
}
for_kinds!(port_busy_other_user);

/// Ours logs a line when it refuses a request (issue 3: "close the connection with a log
/// line"); `before` is the log length just before the request.
fn assert_logged_refusal(sw: &Switch, before: usize) {
    let logged = wait_until(SETTLE, || sw.log().len() > before);
    let log = sw.log();
    assert!(logged, "no log line for the refused request; log:\n{log}");
    eprintln!(
        "refusal logged as: {}",
        log.get(before..).unwrap_or("").trim()
    );
}

/// Once a client has its 110-byte reply, it is on the switch: a broadcast sent by another
/// port right after that reaches it (vde_switch sets the endpoint up before replying).
/// Repeated 100 times, with a fresh client each time (all kept attached), to catch a race.
fn delivered_right_after_attach(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("afterattach");
    let sw = Switch::start(kind, &tmp, "sw", &["-n", "128"]);
    let a = RawClient::attach(&sw.dir, 0, "sender").expect("attach sender");
    let mut lost = Vec::new();
    let mut attached = Vec::new();
    for i in 0..100u8 {
        let b = RawClient::attach(&sw.dir, 0, "newcomer").expect("attach newcomer");
        let f = frame(BROADCAST, mac(1), 60, i);
        a.send(&f);
        if b.recv_matching(Duration::from_secs(2), |g| g == f.as_slice())
            .is_none()
        {
            lost.push(i);
        }
        attached.push(b);
    }
    assert!(
        lost.is_empty(),
        "broadcasts lost by a just-attached client in rounds {lost:?} of 100"
    );
}
for_kinds!(delivered_right_after_attach);
