//! Links between switches (`--key`, `--listen`, `--connect`): two switches on loopback carry
//! pings and iperf3 between taps in namespaces; a switch with another key is refused and says
//! so on both sides; a link is a VLAN trunk like any port; a restarted listener is reconnected on its own; a hung peer is found dead
//! by the keepalives and the link comes back when it runs again; three switches linked in
//! a triangle with `-F` do not loop; garbage, silent and piles of idle connections on the
//! listening port are closed without disturbing forwarding.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use f2f_e2e::links::{free_addr, keygen, links, status, wait_links_up, LinkedHost};
use f2f_e2e::netns::{assert_pings, iperf3, ping, wait_ping};
use f2f_e2e::tools::{require_f2f, require_root, require_tool};
use f2f_e2e::{require, wait_until, TempDir};

fn prerequisites() -> bool {
    require_root() && require_f2f() && require_tool("/usr/bin/iperf3")
}

/// Two switches, one listening and one dialing: pings both ways with 0% loss, full-size
/// frames (1514 bytes: a 1500-byte IP packet with DF) pass, iperf3 carries real traffic, and
/// both sides show the link in `status` with the peer's node key, bytes and a round-trip time.
#[test]
fn two_switches_ping_and_iperf_through_a_link() {
    require!(prerequisites());
    let tmp = TempDir::new("link2");
    let key = keygen(&tmp, "net.key");
    let listen = free_addr();
    let a = LinkedHost::start(&tmp, "a", &key, "10.212.0.1/24", &["--listen", &listen]);
    let b = LinkedHost::start(&tmp, "b", &key, "10.212.0.2/24", &["--connect", &listen]);
    wait_links_up(&a.switch, 1, Duration::from_secs(10));
    wait_links_up(&b.switch, 1, Duration::from_secs(10));
    assert_pings(&a.ns, &b.addr, 10, "a -> b over the link");
    assert_pings(&b.ns, &a.addr, 10, "b -> a over the link");
    let full =
        a.ns.exec("ping")
            .args([
                "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", "-M", "do", "-s", "1472", &b.addr,
            ])
            .output()
            .unwrap();
    let text = String::from_utf8_lossy(&full.stdout);
    assert!(text.contains(" 0% packet loss"), "1500-byte pings: {text}");
    let bps = iperf3(&a.ns, &b.ns, &a.addr, 3, tmp.path());
    eprintln!("iperf3 through a link: {:.2} Gbit/s", bps / 1e9);
    assert!(
        bps > 50e6,
        "iperf3 through a link: only {:.1} Mbit/s",
        bps / 1e6
    );

    let (la, lb) = (links(&a.switch), links(&b.switch));
    let (la, lb) = (&la[0], &lb[0]);
    assert_eq!(la["direction"], "accepted");
    assert_eq!(lb["direction"], "dialed");
    assert_eq!(lb["peer"], listen.as_str());
    // Each side names the other's node key, from the other's state dir.
    let node_key =
        |name: &str| std::fs::read_to_string(tmp.join(&format!("{name}.state/node.key"))).unwrap();
    assert!(node_key("a").trim().len() == 44 && la["peer_key"].is_string());
    assert_ne!(la["peer_key"], lb["peer_key"]);
    for l in [la, lb] {
        assert!(l["bytes_in"].as_u64().unwrap() > 1_000_000, "{l}");
        assert!(l["frames_out"].as_u64().unwrap() > 100, "{l}");
        assert!(l["rtt_us"].is_u64(), "{l}");
    }
    let text = f2f_e2e::netns::run_ok(
        std::process::Command::new(f2f_e2e::tools::f2f_bin())
            .args(["status", "-M"])
            .arg(&a.switch.mgmt),
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("(accepted) port 2 up, key "), "{text}");
}

/// A link is an ordinary port: made a tagged trunk of VLAN 10 on both switches (the taps
/// untagged members of VLAN 10), it carries the VLAN, full-size frames included (1500-byte IP
/// packets cross the link as 1518-byte tagged frames).
#[test]
fn a_link_is_a_vlan_trunk() {
    require!(prerequisites());
    let tmp = TempDir::new("linkvlan");
    let key = keygen(&tmp, "net.key");
    let listen = free_addr();
    let a = LinkedHost::start(&tmp, "a", &key, "10.218.0.1/24", &["--listen", &listen]);
    let b = LinkedHost::start(&tmp, "b", &key, "10.218.0.2/24", &["--connect", &listen]);
    let console_ok = |h: &LinkedHost, cmd: &str| {
        let r = h.switch.cmd(cmd);
        assert_eq!(r.code, 1000, "{cmd}: {}", r.raw);
    };
    let link_port = |h: &LinkedHost| links(&h.switch)[0]["port"].as_u64().unwrap();
    for h in [&a, &b] {
        wait_links_up(&h.switch, 1, Duration::from_secs(10));
        console_ok(h, "vlan/create 10");
        console_ok(h, "port/setvlan 1 10");
    }
    console_ok(&a, &format!("vlan/addport 10 {}", link_port(&a)));
    // b's end of the link does not carry VLAN 10 yet: nothing crosses.
    assert_eq!(
        ping(&a.ns, &b.addr, 3),
        100.0,
        "VLAN 10 crossed a link not in it"
    );
    console_ok(&b, &format!("vlan/addport 10 {}", link_port(&b)));
    assert_pings(&a.ns, &b.addr, 5, "a -> b over the VLAN 10 trunk");
    let full =
        a.ns.exec("ping")
            .args([
                "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", "-M", "do", "-s", "1472", &b.addr,
            ])
            .output()
            .unwrap();
    let text = String::from_utf8_lossy(&full.stdout);
    assert!(
        text.contains(" 0% packet loss"),
        "1518-byte tagged frames: {text}"
    );
    let vlans = status(&a.switch)["vlans"].clone();
    let v10 = vlans
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vlan"] == 10)
        .unwrap_or_else(|| panic!("{vlans}"));
    assert_eq!(
        v10["tagged_ports"],
        serde_json::json!([links(&a.switch)[0]["port"]])
    );
}

/// A third switch holding another key dials the listener: the handshake fails, both logs say
/// "key mismatch", and its namespace cannot reach the others, while the two with the right key
/// keep talking.
#[test]
fn a_switch_with_another_key_is_refused() {
    require!(prerequisites());
    let tmp = TempDir::new("linkkey");
    let key = keygen(&tmp, "net.key");
    let other = keygen(&tmp, "other.key");
    let listen = free_addr();
    let a = LinkedHost::start(&tmp, "a", &key, "10.213.0.1/24", &["--listen", &listen]);
    let b = LinkedHost::start(&tmp, "b", &key, "10.213.0.2/24", &["--connect", &listen]);
    let c = LinkedHost::start(&tmp, "c", &other, "10.213.0.3/24", &["--connect", &listen]);
    assert!(
        a.switch.wait_log("key mismatch", Duration::from_secs(10)),
        "listener log: {}",
        a.switch.log()
    );
    assert!(
        c.switch.wait_log("key mismatch", Duration::from_secs(10)),
        "dialer log: {}",
        c.switch.log()
    );
    assert_pings(&b.ns, &a.addr, 5, "b -> a with the right key");
    assert_eq!(
        ping(&c.ns, &a.addr, 5),
        100.0,
        "c reached a without the key"
    );
    assert_eq!(
        ping(&c.ns, &b.addr, 3),
        100.0,
        "c reached b without the key"
    );
    let lc = links(&c.switch);
    assert_eq!(lc.len(), 1);
    assert_ne!(lc[0]["state"], "up");
    assert!(
        lc[0]["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("key mismatch"),
        "{lc:?}"
    );
    assert_eq!(links(&a.switch).len(), 1, "only b's link is listed on a");
}

/// The listening switch is killed and started again: the dialing side redials on its own
/// (backoff) and pings recover without anyone touching it. The recovery time (restart to the
/// first answered ping) is printed.
#[test]
fn links_reconnect_after_the_listener_restarts() {
    require!(prerequisites());
    let tmp = TempDir::new("linkre");
    let key = keygen(&tmp, "net.key");
    let listen = free_addr();
    let mut a = LinkedHost::start(&tmp, "a", &key, "10.214.0.1/24", &["--listen", &listen]);
    let b = LinkedHost::start(&tmp, "b", &key, "10.214.0.2/24", &["--connect", &listen]);
    assert_pings(&b.ns, &a.addr, 5, "before the restart");
    a.switch.child.stop();
    assert!(
        b.switch.wait_log("link down", Duration::from_secs(10)),
        "{}",
        b.switch.log()
    );
    let restarted = Instant::now();
    a.restart(
        &tmp,
        "a2",
        "a",
        &key,
        "10.214.0.1/24",
        &["--listen", &listen],
    );
    assert!(
        wait_ping(&b.ns, &a.addr, Duration::from_secs(20)),
        "pings never recovered: {}",
        b.switch.log()
    );
    let recovery = restarted.elapsed();
    eprintln!(
        "link recovery after the listener restarted: {:.2} s",
        recovery.as_secs_f64()
    );
    assert!(
        recovery < Duration::from_secs(10),
        "recovery took {recovery:?}"
    );
    assert_pings(&b.ns, &a.addr, 5, "after the restart");
    let lb = links(&b.switch);
    assert_eq!(lb[0]["sessions"], 2, "{lb:?}");
}

/// A peer that stops answering without closing the connection (SIGSTOP: a hung host, a cut
/// cable) is found dead by the keepalives within the dead-peer time; once it runs again the
/// link is made anew, on the same port at both ends, and pings pass.
#[test]
fn a_silent_peer_is_found_dead_and_the_link_comes_back() {
    require!(prerequisites());
    let tmp = TempDir::new("linkdead");
    let key = keygen(&tmp, "net.key");
    let listen = free_addr();
    let mut a = LinkedHost::start(&tmp, "a", &key, "10.217.0.1/24", &["--listen", &listen]);
    let b = LinkedHost::start(&tmp, "b", &key, "10.217.0.2/24", &["--connect", &listen]);
    assert_pings(&b.ns, &a.addr, 3, "before the peer hangs");
    let ports = |hosts: [&LinkedHost; 2]| hosts.map(|h| links(&h.switch)[0]["port"].clone());
    let before = ports([&a, &b]);
    a.switch.child.signal(nix::sys::signal::Signal::SIGSTOP);
    let t = Instant::now();
    assert!(
        b.switch
            .wait_log("considered dead", Duration::from_secs(15)),
        "{}",
        b.switch.log()
    );
    let detected = t.elapsed();
    eprintln!("dead peer detected after {:.2} s", detected.as_secs_f64());
    assert!(
        detected >= Duration::from_secs(3),
        "found dead too early: {detected:?}"
    );
    a.switch.child.signal(nix::sys::signal::Signal::SIGCONT);
    assert_pings(&b.ns, &a.addr, 5, "after the peer runs again");
    assert_eq!(
        ports([&a, &b]),
        before,
        "the link came back on the same ports"
    );
    assert_eq!(links(&b.switch)[0]["sessions"], 2);
}

/// Three switches with `-F`, each listening and dialing the next: a loop of links. The spanning
/// tree blocks one link, so there is no broadcast storm and pings between all hosts see 0% loss.
#[test]
fn a_triangle_of_links_with_fstp_does_not_loop() {
    require!(prerequisites());
    let tmp = TempDir::new("linktri");
    let key = keygen(&tmp, "net.key");
    let (la, lb, lc) = (free_addr(), free_addr(), free_addr());
    let a = LinkedHost::start(
        &tmp,
        "a",
        &key,
        "10.215.0.1/24",
        &["-F", "--listen", &la, "--connect", &lb],
    );
    let b = LinkedHost::start(
        &tmp,
        "b",
        &key,
        "10.215.0.2/24",
        &["-F", "--listen", &lb, "--connect", &lc],
    );
    let c = LinkedHost::start(
        &tmp,
        "c",
        &key,
        "10.215.0.3/24",
        &["-F", "--listen", &lc, "--connect", &la],
    );
    for h in [&a, &b, &c] {
        wait_links_up(&h.switch, 2, Duration::from_secs(10));
    }
    // One link port somewhere ends up discarding: the loop is cut.
    let blocked = || {
        [&a, &b, &c].iter().any(|h| {
            status(&h.switch)["stp"]["trees"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|t| t["ports"].as_array().cloned().unwrap_or_default())
                .any(|p| p["state"] == "Discarding")
        })
    };
    assert!(
        wait_until(Duration::from_secs(30), blocked),
        "no port blocked in the triangle: {}",
        status(&a.switch)["stp"]
    );
    assert_pings(&a.ns, &b.addr, 10, "a -> b in the triangle");
    assert_pings(&a.ns, &c.addr, 10, "a -> c in the triangle");
    assert_pings(&b.ns, &c.addr, 10, "b -> c in the triangle");
    // No storm: the link counters stay far below what a looping broadcast would send.
    let frames: u64 = links(&a.switch)
        .iter()
        .map(|l| l["frames_in"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        frames < 10_000,
        "{frames} frames came in over a's links: a loop"
    );
}

/// Clients that are not switches: random bytes, a connection that never speaks, and a pile of
/// idle connections. Each is closed (on its first bad record, or at the handshake deadline, or
/// at once beyond the handshake limit), and the real link keeps forwarding all along.
#[test]
fn garbage_and_silent_clients_are_closed_and_forwarding_goes_on() {
    require!(prerequisites());
    let tmp = TempDir::new("linkbad");
    let key = keygen(&tmp, "net.key");
    let listen = free_addr();
    let a = LinkedHost::start(&tmp, "a", &key, "10.216.0.1/24", &["--listen", &listen]);
    let b = LinkedHost::start(&tmp, "b", &key, "10.216.0.2/24", &["--connect", &listen]);
    assert_pings(&b.ns, &a.addr, 3, "before the garbage");

    let mut garbage = TcpStream::connect(&listen).unwrap();
    let noise: Vec<u8> = (0..4096).map(|_| rand::random::<u8>()).collect();
    let _ = garbage.write_all(&noise);
    let t = Instant::now();
    assert!(closed_within(&mut garbage, Duration::from_secs(3)));
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "random bytes not closed at once"
    );

    let mut silent = TcpStream::connect(&listen).unwrap();
    let t = Instant::now();
    assert!(closed_within(&mut silent, Duration::from_secs(10)));
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_secs(9),
        "a silent client was closed after {waited:?} (handshake deadline 5 s)"
    );

    raise_fd_limit(4096);
    let mut idle: Vec<TcpStream> = (0..1500)
        .filter_map(|_| TcpStream::connect(&listen).ok())
        .collect();
    assert!(idle.len() >= 1000, "only {} connections opened", idle.len());
    assert_pings(&b.ns, &a.addr, 10, "while 1500 idle connections are open");
    let t = Instant::now();
    let all_closed = idle
        .iter_mut()
        .all(|s| closed_within(s, Duration::from_secs(10)));
    assert!(all_closed && t.elapsed() < Duration::from_secs(10));
    assert_pings(&b.ns, &a.addr, 5, "after the idle connections");
    assert_eq!(links(&a.switch).len(), 1, "garbage never became a link");
}

/// True when the peer closes `s` (end of stream or reset) within `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

fn raise_fd_limit(n: u64) {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, n.min(hard), hard).unwrap();
}
