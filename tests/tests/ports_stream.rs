//! Stream ports (`--stream-listen PATH`, ours only: vde_switch has no such socket): qemu's
//! `-netdev stream` attaches and receives what the switch floods; clients speaking the 4-byte
//! framing exchange frames with VDE clients; a connection sending garbage is closed alone while
//! the others keep forwarding; a connection that stops reading costs bounded memory and its
//! drops are counted.

use std::path::{Path, PathBuf};
use std::time::Duration;

use f2f_e2e::mgmt::{parse_ports, parse_stats};
use f2f_e2e::peers::qemu_stream_paused;
use f2f_e2e::stream::StreamClient;
use f2f_e2e::tools::{require_root, require_tool, QEMU};
use f2f_e2e::vde::{frame, is_test_frame, mac, BROADCAST};
use f2f_e2e::{for_kinds, require, wait_until, RawClient, Switch, SwitchKind, TempDir};

/// Long enough for any attach or listing to show up.
const SETTLE: Duration = Duration::from_secs(10);
/// How long a frame that must not arrive is waited for.
const SILENCE: Duration = Duration::from_millis(300);

/// A switch of `kind` listening for stream connections on `tmp/q.sock`.
fn stream_switch(kind: SwitchKind, tmp: &TempDir) -> (Switch, PathBuf) {
    let sock = tmp.join("q.sock");
    let sw = Switch::start(
        kind,
        tmp,
        "sw",
        &["--stream-listen", sock.to_str().expect("utf-8 path")],
    );
    (sw, sock)
}

/// The port whose endpoint line contains `needle`, once `port/print` lists it.
fn wait_endpoint(sw: &Switch, needle: &str) -> Option<u32> {
    let mut found = None;
    wait_until(SETTLE, || {
        found = parse_ports(&sw.cmd("port/print").data)
            .into_iter()
            .find(|p| p.endpoints.iter().any(|e| e.contains(needle)))
            .map(|p| p.port);
        found.is_some()
    });
    found
}

/// A counter of `port/stats` for `port`.
fn stat(sw: &Switch, port: u32, key: &str) -> u64 {
    parse_stats(&sw.cmd("port/stats").data)
        .get(&port)
        .and_then(|f| f.get(key).copied())
        .unwrap_or(0)
}

fn tagged(t: u8) -> impl Fn(&[u8]) -> bool {
    move |f: &[u8]| is_test_frame(f) && f.last() == Some(&t)
}

/// A paused qemu with `-netdev stream,server=off` attaches as module `stream` with its own
/// name in the description, and frames the switch floods are written to it.
fn qemu_stream_attaches(kind: SwitchKind) {
    require!(require_root(), require_tool(QEMU), kind.available());
    let tmp = TempDir::new("qstream");
    let (sw, sock) = stream_switch(kind, &tmp);
    let mut qemu = qemu_stream_paused(&sock, tmp.path());
    let port = wait_endpoint(&sw, "module stream      : qemu-system-x86");
    assert!(
        port.is_some(),
        "qemu never attached (running: {}, stderr {}): {}",
        qemu.is_running(),
        qemu.stderr(),
        sw.cmd("port/print").raw
    );
    let port = port.unwrap_or(0);
    let raw = RawClient::attach(&sw.dir, 0, "e2e-raw").expect("attach raw");
    let before = stat(&sw, port, "out_frames");
    for t in 0..5 {
        raw.send(&frame(BROADCAST, mac(1), 60, t));
    }
    assert!(
        wait_until(SETTLE, || stat(&sw, port, "out_frames") >= before + 5),
        "broadcasts not written to qemu's port: {}",
        sw.cmd("port/stats").raw
    );
    assert_eq!(stat(&sw, port, "drop_egress_full"), 0);
    assert!(qemu.is_running(), "qemu exited: {}", qemu.stderr());
}
for_kinds!(qemu_stream_attaches: ours, symlink);

/// Frames pass both ways between stream clients (4-byte framing) and a VDE client, with
/// learning: a unicast to a learned stream client reaches it and not the other.
fn stream_frames_both_ways(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("sframes");
    let (sw, sock) = stream_switch(kind, &tmp);
    let mut s1 = StreamClient::connect(&sock).expect("connect s1");
    let mut s2 = StreamClient::connect(&sock).expect("connect s2");
    let raw = RawClient::attach(&sw.dir, 0, "e2e-raw").expect("attach raw");
    wait_until(SETTLE, || {
        parse_ports(&sw.cmd("port/print").data)
            .iter()
            .filter(|p| p.endpoints.iter().any(|e| e.contains("module stream")))
            .count()
            == 2
    });

    let b1 = frame(BROADCAST, mac(1), 60, 1);
    raw.send(&b1);
    assert_eq!(
        s1.recv_matching(SETTLE, tagged(1)),
        Some(b1.clone()),
        "to s1"
    );
    assert_eq!(s2.recv_matching(SETTLE, tagged(1)), Some(b1), "to s2");

    // s1 speaks (and is learned); a large frame checks reassembly of long records.
    let b2 = frame(BROADCAST, mac(2), 1514, 2);
    s1.send(&b2);
    assert_eq!(
        raw.recv_matching(SETTLE, tagged(2)),
        Some(b2.clone()),
        "s1 to raw"
    );
    assert_eq!(s2.recv_matching(SETTLE, tagged(2)), Some(b2), "s1 to s2");
    assert_eq!(s1.recv_matching(SILENCE, tagged(2)), None, "back to s1");

    let uni = frame(mac(2), mac(1), 100, 3);
    raw.send(&uni);
    assert_eq!(
        s1.recv_matching(SETTLE, tagged(3)),
        Some(uni),
        "unicast to s1"
    );
    assert_eq!(
        s2.recv_matching(SILENCE, tagged(3)),
        None,
        "unicast leaked to s2"
    );
}
for_kinds!(stream_frames_both_ways: ours, symlink);

/// Garbage on one stream connection (a length no frame can have, random bytes) closes that
/// connection only, with a log line; the switch keeps forwarding between the others, during
/// and after.
fn stream_bad_input_closes_only_that_connection(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("sbad");
    let (sw, sock) = stream_switch(kind, &tmp);
    let mut good = StreamClient::connect(&sock).expect("connect good");
    let raw = RawClient::attach(&sw.dir, 0, "e2e-raw").expect("attach raw");
    let exchange = |good: &mut StreamClient, t: u8| {
        let f = frame(BROADCAST, mac(9), 80, t);
        raw.send(&f);
        assert_eq!(
            good.recv_matching(SETTLE, tagged(t)),
            Some(f),
            "raw -> good, tag {t}"
        );
        let g = frame(BROADCAST, mac(8), 80, t + 100);
        good.send(&g);
        assert_eq!(
            raw.recv_matching(SETTLE, tagged(t + 100)),
            Some(g),
            "good -> raw, tag {t}"
        );
    };
    exchange(&mut good, 1);

    let garbage: [&[u8]; 3] = [
        &[0xff, 0xff, 0xff, 0xff],
        &[0x00, 0x01, 0x10, 0x01, 1, 2, 3], // 69633: one past qemu's own limit
        &[0x7f; 4096],
    ];
    for (i, bytes) in garbage.iter().enumerate() {
        let mut bad = StreamClient::connect(&sock).expect("connect bad");
        // A valid frame first: the connection is a working port until it misbehaves.
        bad.send(&frame(BROADCAST, mac(7), 60, 50));
        let _ = bad.send_raw(bytes);
        assert!(
            bad.closed_within(SETTLE),
            "garbage #{i} did not close its connection"
        );
        exchange(&mut good, 2 + i as u8);
    }
    assert!(
        sw.wait_log("stream connection closed: bad input", SETTLE),
        "no log line: {}",
        sw.log()
    );
    assert!(sw.log().contains("closed_bad=3"), "{}", sw.log());
    // The bad connections' ports are free again: only the good stream client remains.
    let ports = parse_ports(&sw.cmd("port/print").data);
    let streams = ports
        .iter()
        .filter(|p| p.endpoints.iter().any(|e| e.contains("module stream")))
        .count();
    assert_eq!(streams, 1, "{ports:#?}");
}
for_kinds!(stream_bad_input_closes_only_that_connection: ours, symlink);

/// A stream client that never reads: the switch keeps forwarding to everyone else, drops what
/// does not fit that client's bounded queue and counts it as `drop_egress_full`, and its memory
/// stays bounded.
fn stream_slow_reader_is_bounded(kind: SwitchKind) {
    require!(kind.available());
    let tmp = TempDir::new("sslow");
    let (sw, sock) = stream_switch(kind, &tmp);
    let stuck = StreamClient::connect(&sock).expect("connect stuck");
    let stuck_port = wait_endpoint(&sw, "module stream").expect("stuck client attached");
    let mut good = StreamClient::connect(&sock).expect("connect good");
    let raw = RawClient::attach(&sw.dir, 0, "e2e-raw").expect("attach raw");
    let rss = || rss_kib(sw.child.pid());
    let rss0 = rss();
    // 20 000 × 1 KiB broadcasts, far more than the socket buffer plus the 256 KiB queue, in
    // batches of 100 that `good` drains (up to a probe) before the next: it keeps up, so it
    // must see every probe.
    for batch in 0..200u32 {
        for t in 0..100u32 {
            raw.send(&frame(BROADCAST, mac(1), 1024, (t % 200) as u8));
        }
        let probe = frame(BROADCAST, mac(3), 60, 201);
        raw.send(&probe);
        assert_eq!(
            good.recv_matching(SETTLE, tagged(201)),
            Some(probe),
            "probe after batch {batch}"
        );
    }
    assert!(
        wait_until(SETTLE, || stat(&sw, stuck_port, "drop_egress_full") > 0),
        "no egress_full drops counted: {}",
        sw.cmd("port/stats").raw
    );
    let grown = rss().saturating_sub(rss0);
    assert!(grown < 16 * 1024, "switch grew by {grown} KiB");
    drop(stuck);
}
for_kinds!(stream_slow_reader_is_bounded: ours, symlink);

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(Path::new("/proc").join(pid.to_string()).join("status"))
        .unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
