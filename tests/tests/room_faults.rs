//! Rooms under faults (issue 11), with a Prosody of the test's own: the XMPP server restarted
//! under a room of three (the members reconnect and rejoin on their own, the room keeps its
//! grants, MACs and addresses, the XMPP links re-form and every pair pings again; the recovery
//! time is printed), and direct TCP links that keep forwarding while the server is down (killed
//! with SIGKILL, then started again). Also a room under attack: the handshake cap on a member's
//! `--listen` port, bogus occupants and a flood of room messages leave memory flat and
//! forwarding undisturbed.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use f2f_e2e::netns::{ping_within, wait_ping};
use f2f_e2e::proc::memory_kib;
use f2f_e2e::prosody::{free_port, Prosody};
use f2f_e2e::room::{
    assert_all_pairs_ping, assert_all_pairs_ping_within, join_and_lease, prerequisites, room_jid,
    room_of_three, room_of_three_with, spec, Node,
};
use f2f_e2e::xmpp_client::RawXmpp;
use f2f_e2e::{require, wait_until, TempDir};

/// How long a room may take to re-form after the server is back.
const RECOVERY: Duration = Duration::from_secs(60);

/// What each node's `status` says of its grant (MACs, subnet, topology).
fn grants(nodes: &[Node]) -> Vec<serde_json::Value> {
    nodes
        .iter()
        .map(|n| n.member.status()["room"]["grant"].clone())
        .collect()
}

/// The MAC of each node's tap, as its namespace sees it now.
fn tap_macs(nodes: &[Node]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| {
            let out =
                n.ns.exec("cat")
                    .arg(format!("/sys/class/net/{}/address", n.member.tap))
                    .output()
                    .expect("read the tap's MAC");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        })
        .collect()
}

/// Waits until every node's log says `text` at least `times` times.
fn wait_logged_times(nodes: &[Node], text: &str, times: usize) {
    for n in nodes {
        assert!(
            wait_until(RECOVERY, || n.member.child.stderr().matches(text).count()
                >= times),
            "{} never logged {text:?} {times} times: {}",
            n.member.user,
            n.member.child.stderr()
        );
    }
}

/// After the restart: same grants, same tap MACs, and a fresh DHCP exchange gives every node
/// its old address.
fn assert_same_room(nodes: &[Node], grants_before: &[serde_json::Value], tmp: &TempDir) {
    assert_eq!(grants(nodes), grants_before, "the grants changed");
    let macs: Vec<String> = nodes.iter().map(|n| n.mac.clone()).collect();
    assert_eq!(tap_macs(nodes), macs, "a tap's MAC changed");
    for n in nodes {
        let ip = n.member.lease(&n.ns, tmp.path(), 10);
        assert_eq!(ip, n.ip, "{} leased another address", n.member.user);
    }
}

/// The server restarted (SIGTERM, then started again) under a star over XMPP: every member
/// rejoins on its own, the XMPP links re-form, every pair pings again, and grants, MACs and
/// addresses are the same.
#[test]
fn xmpp_server_restart_under_a_room_over_xmpp() {
    require!(prerequisites());
    let tmp = TempDir::new("room-xmpp-restart");
    let mut prosody = Prosody::start();
    let room = room_jid(&format!("restart{}", std::process::id()));
    let nodes = room_of_three(&prosody, &tmp, &room, "star");
    let before = grants(&nodes);

    prosody.stop();
    let restarted = Instant::now();
    prosody.start_again();
    // Each member rejoins by itself (its second "joined the room"), then the links re-form.
    wait_logged_times(&nodes, "joined the room", 2);
    let rejoined = restarted.elapsed();
    assert_all_pairs_ping_within(&nodes, RECOVERY, "after the server restart");
    eprintln!(
        "RECOVERY xmpp server restart under a room of 3 over xmpp: all rejoined after \
         {rejoined:?}, all pairs ping after {:?}",
        restarted.elapsed()
    );
    assert_same_room(&nodes, &before, &tmp);
    for n in &nodes {
        let links = n.member.status()["links"].clone();
        let up = links
            .as_array()
            .map_or(0, |l| l.iter().filter(|l| l["transport"] == "xmpp").count());
        let want = if n.member.user == "master" { 2 } else { 1 };
        assert_eq!(up, want, "{}: xmpp links {links}", n.member.user);
    }
}

/// Direct TCP links forward while the server is down (it crashed: SIGKILL); once it is back
/// the room re-forms with the same grants, MACs and addresses, and the master keeps its two
/// TCP links.
#[test]
fn tcp_links_forward_while_the_xmpp_server_is_down() {
    require!(prerequisites());
    let tmp = TempDir::new("room-tcp-outage");
    let mut prosody = Prosody::start();
    let room = room_jid(&format!("tcpoutage{}", std::process::id()));
    let mut nodes = room_of_three_with(&prosody, &tmp, &room, "star", |_| {
        vec![
            "--transport".into(),
            "tcp".into(),
            "--listen".into(),
            format!("127.0.0.1:{}", free_port()),
        ]
    });
    let before = grants(&nodes);
    let (alice, bob) = (&nodes[1], &nodes[2]);

    // A crash this time: no departures, no saved state but what the server stored before.
    prosody.kill();
    // alice → master → bob over two TCP links, with no XMPP server at all.
    let loss = ping_within(&alice.ns, &bob.ip.to_string(), 25, 1);
    assert_eq!(
        loss, 0.0,
        "{loss}% loss over the TCP links during the outage"
    );
    for n in &mut nodes {
        assert!(n.member.child.is_running(), "{} exited", n.member.user);
    }

    let restarted = Instant::now();
    prosody.start_again();
    wait_logged_times(&nodes, "joined the room", 2);
    let rejoined = restarted.elapsed();
    assert_all_pairs_ping(&nodes, "after the server is back");
    eprintln!(
        "RECOVERY xmpp server killed under a room of 3 over tcp: all rejoined after {rejoined:?}"
    );
    assert_same_room(&nodes, &before, &tmp);
    let tcp_links = |n: &Node| {
        n.member.status()["links"]
            .as_array()
            .map_or(0, |l| l.iter().filter(|l| l["transport"] == "tcp").count())
    };
    assert_eq!(tcp_links(&nodes[0]), 2, "{}", nodes[0].member.status());
}

/// A member under attack: 200 idle connections on its `--listen` port hit the handshake cap
/// (logged; memory bounded by the cap), 30 bogus occupants join the room and one floods it with
/// 1000 forged announces to the room and 1000 forged grants to the member: all ignored, with
/// about 20 log lines in all; the member's and the master's memory barely move and pings
/// between them see no loss. Then the master restarts and its TCP link to the
/// member forms again on the same listener.
#[test]
fn a_room_under_attack_keeps_forwarding_and_links_still_form() {
    require!(prerequisites());
    let tmp = TempDir::new("room-attack");
    let prosody = Prosody::start();
    let room = room_jid(&format!("attack{}", std::process::id()));
    let subnet = format!("10.{}.31.0/24", 100 + std::process::id() % 100);
    let tcp = ["--transport", "tcp"];
    let listen = format!("127.0.0.1:{}", free_port());
    let mut master = join_and_lease(
        &prosody,
        &tmp,
        spec(
            "master",
            &room,
            &[&["--master", "--subnet", &subnet][..], &tcp].concat(),
        ),
    );
    let alice = join_and_lease(
        &prosody,
        &tmp,
        spec("alice", &room, &[&["--listen", &listen][..], &tcp].concat()),
    );
    let pings = |context: &str| {
        let loss = ping_within(&alice.ns, &master.ip.to_string(), 10, 2);
        assert_eq!(
            loss, 0.0,
            "{context}: {loss}% loss from alice to the master"
        );
    };
    pings("before the attack");
    let rss = |n: &Node| memory_kib(n.member.child.pid()).0;
    let quiet = rss(&alice);

    // Idle connections on alice's link port: the handshake cap is hit and logged.
    let idle: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect(&listen).ok())
        .collect();
    assert!(idle.len() >= 100, "only {} connections opened", idle.len());
    assert!(
        wait_until(Duration::from_secs(5), || alice
            .member
            .logged("limit reached: 64 link handshakes in progress")),
        "no limit line: {}",
        alice.member.child.stderr()
    );
    pings("with the handshake slots taken");
    // At most 64 handshakes' buffers, however many connect.
    let capped = rss(&alice);
    eprintln!("alice's VmRSS with 200 idle connections: {quiet} -> {capped} KiB");
    assert!(
        capped <= quiet + 16 * 1024,
        "alice grew {quiet} -> {capped} KiB"
    );
    let before = (rss(&master), capped);

    // Bogus occupants, and a flood of room and private messages from one of them.
    let mut bogus: Vec<RawXmpp> = (0..30)
        .map(|i| {
            let user = format!("bogus{i}");
            prosody.add_account(&user, "pw-bogus");
            let mut c = RawXmpp::login(prosody.addr(), &user, "pw-bogus");
            c.join(&room, &user);
            c
        })
        .collect();
    let flooder = &mut bogus[0];
    let announce = r#"{"f2f":1,"type":"announce","topology":"star","link":{"transport":"xmpp"}}"#;
    let grant = r#"{"f2f":1,"type":"grant","to":"alice","macs":["52:54:00:66:66:01"],"subnet":"10.9.9.0/24","key":"00","topology":"star","dhcp":false}"#;
    for _ in 0..1000 {
        flooder.groupchat(&room, announce);
        flooder.private(&room, "alice", grant);
    }
    pings("during the message flood");
    // Every one is ignored, but the log gets only the first 20 and then every 1000th.
    let log = || alice.member.child.stderr();
    assert!(
        wait_until(Duration::from_secs(20), || log()
            .contains("2000 ignored from bogus0 so far")),
        "alice did not go through the flood: {}",
        log()
    );
    let lines = log().matches("from bogus0").count();
    assert!(lines <= 25, "{lines} log lines for the flood");
    pings("after the message flood");
    let after = (rss(&master), rss(&alice));
    eprintln!(
        "VmRSS under attack: master {} -> {} KiB, alice {} -> {} KiB",
        before.0, after.0, before.1, after.1
    );
    assert!(
        after.0 <= before.0 + 4096,
        "master grew {before:?} -> {after:?}"
    );
    assert!(
        after.1 <= before.1 + 4096,
        "alice grew {before:?} -> {after:?}"
    );
    drop(bogus);

    // The master restarts: its link to alice forms again on the listener that was attacked.
    master.member.child.stop();
    let spec = master.spec.clone();
    master.member.restart(&prosody, tmp.path(), &spec);
    master.mac = master.member.tap_into(&master.ns);
    let restarted = Instant::now();
    let ip = master.member.lease(&master.ns, tmp.path(), 10);
    assert_eq!(ip, master.ip, "the master's address");
    assert!(
        wait_ping(&alice.ns, &master.ip.to_string(), RECOVERY),
        "the link to alice never formed again: {}",
        alice.member.child.stderr()
    );
    eprintln!(
        "link formed again {:?} after the master restarted",
        restarted.elapsed()
    );
    pings("after the master restarted");
    drop(idle);
}
