//! Rooms (`f2f-overlay join`, issue 8) against a real Prosody on loopback started by the test:
//! a master and members, each with a tap in its own namespace, get DHCP leases from the
//! master's switch and ping each other, in star and in mesh, over the XMPP transport; a member
//! restarted gets its MAC and address back; the master's departure is reported; a wrong
//! password or an unreachable server fails within seconds with a one-line reason. With
//! `--listen` and `--transport auto` a member's link is direct TCP; one whose advertised
//! endpoint nobody listens on, or one with no endpoint at all, falls back to XMPP, and every
//! pair still pings. With `--transport tcp` every link of a star and of a mesh is TCP, and a
//! killed member's links (dialed and accepted) and MACs are gone from the others' switches
//! within the heartbeat deadline. Against a Prosody that requires STARTTLS with a self-signed
//! certificate, `--ca` joins and leases; without it, `join` fails at once saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::{Duration, Instant};

use f2f_e2e::prosody::{free_port, password_file, require_prosody, Prosody, DOMAIN, OPENSSL};
use f2f_e2e::room::{
    assert_all_pairs_ping, join_and_lease, prerequisites, room_jid, room_of_three,
    room_of_three_with, spec, Member, Node,
};
use f2f_e2e::tools::{f2f_bin, require_f2f, require_tool};
use f2f_e2e::xmpp_client::RawXmpp;
use f2f_e2e::{require, wait_until, Netns, TempDir};
use nix::sys::signal::Signal;

#[test]
fn star_over_xmpp_leases_pings_and_restarts() {
    require!(prerequisites());
    let tmp = TempDir::new("room-star");
    let prosody = Prosody::start();
    let room = room_jid(&format!("star{}", std::process::id()));
    let mut nodes = room_of_three(&prosody, &tmp, &room, "star");

    // status shows the room, the roles and an XMPP link per peer on the master.
    let status = nodes[0].member.status();
    assert_eq!(status["room"]["role"], "master", "{status}");
    let links = status["links"].as_array().expect("links");
    assert_eq!(links.len(), 2, "master links: {status}");
    assert!(links.iter().all(|l| l["transport"] == "xmpp"), "{status}");
    let member_status = nodes[1].member.status();
    assert_eq!(member_status["room"]["role"], "member", "{member_status}");
    assert_eq!(member_status["room"]["master"], "master", "{member_status}");

    // Forged and invalid room messages from an occupant that is not the master are ignored,
    // each with a log line naming the sender; the network is unaffected.
    prosody.add_account("forger", "pw-forger");
    let mut forger = RawXmpp::login(prosody.addr(), "forger", "pw-forger");
    forger.join(&room, "forger");
    let key = "00".repeat(32);
    forger.groupchat(&room, "{not json");
    forger.private(&room, "alice", r#"{"f2f":1,"type":"grant","to":"alice"}"#);
    forger.groupchat(
        &room,
        r#"{"f2f":1,"type":"announce","topology":"star","link":{"transport":"xmpp"}}"#,
    );
    let grant = |to: &str| {
        format!(
            r#"{{"f2f":1,"type":"grant","to":"{to}","macs":["52:54:00:66:66:01"],"subnet":"10.9.9.0/24","key":"{key}","topology":"star","dhcp":false}}"#
        )
    };
    forger.private(&room, "alice", &grant("alice"));
    forger.private(&room, "alice", &grant("bob"));
    forger.groupchat(&room, &"x".repeat(70 * 1024));
    let alice = &nodes[1].member;
    assert!(
        wait_until(Duration::from_secs(5), || {
            let log = alice.child.stderr();
            log.matches("from forger").count() >= 4 && log.contains("oversized")
        }),
        "alice did not log the forged messages: {}",
        alice.child.stderr()
    );
    let grant_macs = alice.status()["room"]["grant"]["macs"].clone();
    assert_eq!(
        grant_macs[0],
        nodes[1].mac.as_str(),
        "a forged grant was applied"
    );
    assert_all_pairs_ping(&nodes, "after forged messages");
    drop(forger);

    // A member killed and started again gets the same MAC and the same address.
    let alice = &mut nodes[1];
    alice.member.child.stop();
    let tap_gone = wait_until(Duration::from_secs(5), || {
        alice
            .ns
            .ip()
            .args(["link", "show", &alice.member.tap])
            .output()
            .map_or(true, |o| !o.status.success())
    });
    assert!(tap_gone, "the killed member's tap is still there");
    let spec = alice.spec.clone();
    alice.member.restart(&prosody, tmp.path(), &spec);
    let mac = alice.member.tap_into(&alice.ns);
    assert_eq!(mac, alice.mac, "the restarted member got another MAC");
    let ip = alice.member.lease(&alice.ns, tmp.path(), 10);
    assert_eq!(ip, alice.ip, "the restarted member got another address");
    assert_all_pairs_ping(&nodes, "after the restart");

    // The master leaves: the members say so.
    nodes[0].member.child.stop();
    for n in &nodes[1..] {
        assert!(
            wait_until(Duration::from_secs(10), || n
                .member
                .logged("master is gone")),
            "{} did not report the master's departure: {}",
            n.member.user,
            n.member.child.stderr()
        );
    }
}

/// The links `status` shows up: peer → transport.
fn up_links(status: &serde_json::Value) -> BTreeMap<String, String> {
    let links = status["links"].as_array().expect("links");
    links
        .iter()
        .filter(|l| l["state"] == "up")
        .map(|l| {
            let field = |k: &str| l[k].as_str().unwrap_or_default().to_string();
            (field("peer"), field("transport"))
        })
        .collect()
}

/// The transport `status --json` shows for the link to `peer`.
fn link_transport(node: &Node, peer: &str) -> String {
    let status = node.member.status();
    up_links(&status)
        .remove(peer)
        .unwrap_or_else(|| panic!("{}: no link up to {peer}: {status}", node.member.user))
}

/// Whether `status`'s MAC table has `mac`.
fn knows_mac(status: &serde_json::Value, mac: &str) -> bool {
    let table = status["mac_table"].as_array().expect("mac_table");
    table.iter().any(|e| {
        e["mac"]
            .as_str()
            .is_some_and(|m| m.eq_ignore_ascii_case(mac))
    })
}

/// How alice leaves in [`tcp_only_room_loses_a_member`].
#[derive(Clone, Copy, Debug)]
enum Departure {
    /// SIGKILL: her sockets close; her links and MACs must be gone within three missed 5 s
    /// heartbeats (plus slack for a loaded machine).
    Killed,
    /// Frozen (SIGSTOP), then her connection to the XMPP server reset by the kernel (`ss -K`):
    /// the server tells the room she left while her TCP links stay open, silent. The links
    /// must be gone well before their own dead-peer timer (5 s) would end them, so only the
    /// room's teardown can do it, on whichever side dialed them.
    LeftTheRoom,
}

impl Departure {
    fn deadline(self) -> Duration {
        match self {
            Departure::Killed => Duration::from_secs(20),
            Departure::LeftTheRoom => Duration::from_secs(3),
        }
    }
}

/// Resets `member`'s TCP connection to the XMPP server, and no other of its sockets.
fn cut_xmpp_connection(member: &Member, prosody: &Prosody) {
    let server = prosody.addr().to_string();
    let ss = || Command::new(f2f_e2e::tools::system_tool("ss"));
    let out = f2f_e2e::netns::run_ok(ss().args(["-tnpH", "state", "established", "dst", &server]));
    let owner = format!("pid={},", member.child.pid());
    let listing = String::from_utf8_lossy(&out.stdout);
    let local = listing
        .lines()
        .filter(|l| l.contains(&owner))
        .flat_map(str::split_whitespace)
        .find(|col| col.starts_with("127.0.0.1:") && *col != server)
        .unwrap_or_else(|| panic!("no XMPP connection of {}: {listing}", member.user))
        .to_string();
    f2f_e2e::netns::run_ok(ss().args(["-K", "-tn", "src", &local, "dst", &server]));
}

/// A room of three with `--transport tcp` only (`listen`: who gets `--listen`): every node
/// links to the peers `topology` gives it, all over TCP, and all pairs ping. Then alice
/// leaves (`departure`): every node that linked to her shows no link to her and has forgotten
/// her MAC within the departure's deadline, and the others still ping each other.
fn tcp_only_room_loses_a_member(topology: &str, listen: fn(&str) -> bool, departure: Departure) {
    require!(prerequisites());
    let tmp = TempDir::new(&format!("room-tcp-{topology}"));
    let prosody = Prosody::start();
    let room = room_jid(&format!("tcp{topology}{}", std::process::id()));
    let mut nodes = room_of_three_with(&prosody, &tmp, &room, topology, |user| {
        let mut flags = vec!["--transport".to_string(), "tcp".to_string()];
        if listen(user) {
            flags.extend(["--listen".to_string(), format!("127.0.0.1:{}", free_port())]);
        }
        flags
    });
    let peers_of = |user: &str| -> BTreeSet<String> {
        let others = ["master", "alice", "bob"]
            .into_iter()
            .filter(|u| *u != user);
        match (topology, user) {
            ("star", "master") | ("mesh", _) => others.map(String::from).collect(),
            _ => ["master".to_string()].into(),
        }
    };
    for n in &nodes {
        let status = n.member.status();
        let links = up_links(&status);
        let peers: BTreeSet<String> = links.keys().cloned().collect();
        assert_eq!(
            peers,
            peers_of(&n.member.user),
            "{}: {status}",
            n.member.user
        );
        assert!(
            links.values().all(|t| t == "tcp"),
            "{}: a link not over tcp: {status}",
            n.member.user
        );
    }

    let mut alice = nodes.remove(1);
    let left = Instant::now();
    match departure {
        Departure::Killed => alice.member.child.signal(Signal::SIGKILL),
        Departure::LeftTheRoom => {
            alice.member.child.signal(Signal::SIGSTOP);
            cut_xmpp_connection(&alice.member, &prosody);
        }
    }
    for n in nodes
        .iter()
        .filter(|n| peers_of("alice").contains(&n.member.user))
    {
        let forgotten = wait_until(departure.deadline(), || {
            let status = n.member.status();
            !up_links(&status).contains_key("alice") && !knows_mac(&status, &alice.mac)
        });
        assert!(
            forgotten,
            "{} still links to or knows the departed alice: {}",
            n.member.user,
            n.member.status()
        );
    }
    eprintln!(
        "{topology}: {departure:?}: alice's links and MAC gone after {:?}",
        left.elapsed()
    );
    alice.member.child.signal(Signal::SIGKILL);
    assert_all_pairs_ping(&nodes, &format!("{topology} without alice"));
}

/// The master dials both members' links.
#[test]
fn tcp_only_star_links_all_over_tcp_and_drops_a_killed_member() {
    tcp_only_room_loses_a_member("star", |user| user != "master", Departure::Killed);
}

/// Every node listens; alice has the lowest nick, so she dials both her links and the others
/// only accept them: her leaving the room must close accepted links.
#[test]
fn tcp_only_mesh_links_all_over_tcp_and_closes_a_departed_members_accepted_links() {
    tcp_only_room_loses_a_member("mesh", |_| true, Departure::LeftTheRoom);
}

#[test]
fn star_over_tcp_and_unreachable_endpoint_falls_back_to_xmpp() {
    require!(prerequisites());
    let tmp = TempDir::new("room-tcp");
    let prosody = Prosody::start();
    let room = room_jid(&format!("tcp{}", std::process::id()));
    let subnet = format!("10.{}.3.0/24", 100 + std::process::id() % 100);
    let auto = ["--transport", "auto"];
    let master = join_and_lease(
        &prosody,
        &tmp,
        spec(
            "master",
            &room,
            &[&["--master", "--subnet", &subnet][..], &auto].concat(),
        ),
    );
    // alice listens where she advertises: the master dials her over TCP.
    let alice_listen = format!("127.0.0.1:{}", free_port());
    let alice = join_and_lease(
        &prosody,
        &tmp,
        spec(
            "alice",
            &room,
            &[&["--listen", &alice_listen][..], &auto].concat(),
        ),
    );
    // bob advertises a port nobody listens on: the dial fails and auto falls back to XMPP.
    let bob_listen = format!("127.0.0.1:{}", free_port());
    let nobody = format!("127.0.0.1:{}", free_port());
    let bob = join_and_lease(
        &prosody,
        &tmp,
        spec(
            "bob",
            &room,
            &[
                &["--listen", &bob_listen, "--advertise", &nobody][..],
                &auto,
            ]
            .concat(),
        ),
    );
    // carol has no endpoint at all, nor has the master: nobody can dial, so XMPP at once.
    let carol = join_and_lease(&prosody, &tmp, spec("carol", &room, &auto));
    let nodes = vec![master, alice, bob, carol];
    assert_all_pairs_ping(&nodes, "star over tcp");
    assert_eq!(link_transport(&nodes[0], "alice"), "tcp");
    assert_eq!(link_transport(&nodes[1], "master"), "tcp");
    assert_eq!(link_transport(&nodes[0], "bob"), "xmpp");
    assert_eq!(link_transport(&nodes[2], "master"), "xmpp");
    assert_eq!(link_transport(&nodes[0], "carol"), "xmpp");
    assert_eq!(link_transport(&nodes[3], "master"), "xmpp");
}

#[test]
fn mesh_over_xmpp_leases_pings_and_survives_the_master() {
    require!(prerequisites());
    let tmp = TempDir::new("room-mesh");
    let prosody = Prosody::start();
    let room = room_jid(&format!("mesh{}", std::process::id()));
    let mut nodes = room_of_three(&prosody, &tmp, &room, "mesh");
    let status = nodes[1].member.status();
    assert_eq!(
        status["links"].as_array().map(Vec::len),
        Some(2),
        "a mesh member links to both others: {status}"
    );
    // Without the master, the members' own link keeps forwarding.
    nodes[0].member.child.stop();
    let master = nodes.remove(0);
    assert_all_pairs_ping(&nodes, "mesh without the master");
    drop(master);
}

/// Runs `join` expecting it to fail; returns its stderr and how long it took.
fn failing_join(
    prosody_addr: &str,
    user: &str,
    password: &str,
    tmp: &TempDir,
) -> (String, Duration) {
    failing_join_with(prosody_addr, user, password, tmp, &[])
}

/// [`failing_join`] with extra `flags`.
fn failing_join_with(
    prosody_addr: &str,
    user: &str,
    password: &str,
    tmp: &TempDir,
    flags: &[&str],
) -> (String, Duration) {
    let pw = password_file(tmp.path(), &format!("{user}-bad"), password);
    let start = Instant::now();
    let out = Command::new(f2f_bin())
        .arg("join")
        .arg(room_jid("nope"))
        .args(["--jid", &format!("{user}@{DOMAIN}")])
        .arg("--password-file")
        .arg(&pw)
        .args(["--server", prosody_addr])
        .arg("-s")
        .arg(tmp.join(&format!("{user}-ctl")))
        .arg("--state-dir")
        .arg(tmp.join(&format!("{user}-state")))
        .args(flags)
        .output()
        .expect("run join");
    let took = start.elapsed();
    assert!(!out.status.success(), "join succeeded with bad settings");
    (String::from_utf8_lossy(&out.stderr).into_owned(), took)
}

#[test]
fn wrong_password_and_unreachable_server_fail_fast_with_one_line() {
    require!(require_f2f() && require_prosody());
    let tmp = TempDir::new("room-bad");
    let prosody = Prosody::start();
    prosody.add_account("carol", "right");
    let (err, took) = failing_join(&prosody.addr().to_string(), "carol", "wrong", &tmp);
    assert!(took < Duration::from_secs(5), "took {took:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains("--password-file"), "{err}");

    let closed = format!("127.0.0.1:{}", free_port());
    let (err, took) = failing_join(&closed, "carol", "right", &tmp);
    assert!(took < Duration::from_secs(5), "took {took:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(
        err.contains("cannot reach") && err.contains("--server"),
        "{err}"
    );
}

/// Prosody on loopback that requires STARTTLS, with a self-signed certificate for `localhost`
/// (the JIDs' domain) marked CA:TRUE, as `prosodyctl cert generate` makes them. Loopback allows
/// plaintext, but a server that offers STARTTLS gets it, verified: without `--ca` the
/// certificate is not trusted and `join` fails within seconds with one line naming `--ca`;
/// with `--ca CERT.pem` it logs in over TLS, joins and its tap gets a lease from its switch.
#[test]
fn starttls_needs_ca_for_a_private_certificate() {
    require!(prerequisites() && require_tool(OPENSSL));
    let tmp = TempDir::new("room-tls");
    let prosody = Prosody::start_tls();
    prosody.add_account("carol", "right");
    let (err, took) = failing_join(&prosody.addr().to_string(), "carol", "right", &tmp);
    assert!(took < Duration::from_secs(5), "took {took:?}: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.contains("certificate") && err.contains("--ca"), "{err}");

    let ca = prosody.ca().display().to_string();
    let (err, _) = failing_join_with(
        &prosody.addr().to_string(),
        "carol",
        "wrong",
        &tmp,
        &["--ca", &ca],
    );
    assert!(
        err.contains("--password-file"),
        "TLS up, then the login refused: {err}"
    );

    let room = room_jid(&format!("tls{}", std::process::id()));
    let master = join_and_lease(
        &prosody,
        &tmp,
        spec("master", &room, &["--master", "--ca", &ca]),
    );
    assert!(
        master.member.logged("tls=true"),
        "not logged in over TLS: {}",
        master.member.child.stderr()
    );
}

/// Reads ping's `rtt min/avg/max/mdev` line: the average in ms.
fn ping_avg_ms(ns: &Netns, addr: &str, count: u32) -> f64 {
    let out = ns
        .exec(f2f_e2e::tools::system_tool("ping"))
        .args(["-n", "-q", "-c", &count.to_string(), "-i", "0.05", addr])
        .output()
        .expect("ping");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.contains("rtt") || l.contains("round-trip"))
        .and_then(|l| l.split('=').nth(1))
        .and_then(|v| v.trim().split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no rtt in ping output: {text}"))
}

/// Benchmark (run by hand, see BENCHMARKS.md): join-to-lease time, and throughput and latency
/// between two members over the XMPP transport (a mesh, so the two have a direct XMPP link).
#[test]
#[ignore = "benchmark: run with --ignored"]
fn bench_xmpp_transport() {
    require!(prerequisites() && require_tool("/usr/bin/iperf3"));
    let tmp = TempDir::new("room-bench");
    let prosody = Prosody::start();
    let room = room_jid(&format!("bench{}", std::process::id()));
    let start = Instant::now();
    let nodes = room_of_three(&prosody, &tmp, &room, "mesh");
    eprintln!(
        "BENCH three joins with leases (sequential): {:?}",
        start.elapsed()
    );
    let (a, b) = (&nodes[1], &nodes[2]);
    let rtt = ping_avg_ms(&a.ns, &b.ip.to_string(), 40);
    eprintln!("BENCH member-to-member ping over XMPP: avg {rtt:.2} ms");
    let bps = f2f_e2e::netns::iperf3(&b.ns, &a.ns, &b.ip.to_string(), 5, tmp.path());
    eprintln!(
        "BENCH member-to-member TCP over XMPP: {:.1} Mbit/s",
        bps / 1e6
    );
    eprintln!("BENCH status of the sender: {}", a.member.status()["links"]);
    drop(nodes);

    // The same room over direct TCP links: every member listens on loopback.
    let room = room_jid(&format!("benchtcp{}", std::process::id()));
    let nodes = room_of_three_with(&prosody, &tmp, &room, "mesh", |user| {
        let mut flags = vec!["--transport".to_string(), "tcp".to_string()];
        if user != "master" {
            flags.extend(["--listen".to_string(), format!("127.0.0.1:{}", free_port())]);
        }
        flags
    });
    let (a, b) = (&nodes[1], &nodes[2]);
    let rtt = ping_avg_ms(&a.ns, &b.ip.to_string(), 40);
    eprintln!("BENCH member-to-member ping over TCP: avg {rtt:.2} ms");
    let bps = f2f_e2e::netns::iperf3(&b.ns, &a.ns, &b.ip.to_string(), 5, tmp.path());
    eprintln!(
        "BENCH member-to-member TCP over TCP links: {:.1} Mbit/s",
        bps / 1e6
    );
    eprintln!("BENCH status of the sender: {}", a.member.status()["links"]);
}
