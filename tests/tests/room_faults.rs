//! Rooms under faults (issue 11), with a Prosody of the test's own: the XMPP server restarted
//! under a room of three (the members reconnect and rejoin on their own, the room keeps its
//! grants, MACs and addresses, the XMPP links re-form and every pair pings again; the recovery
//! time is printed), and direct TCP links that keep forwarding while the server is down.

use std::time::{Duration, Instant};

use f2f_e2e::netns::ping_within;
use f2f_e2e::prosody::{free_port, Prosody};
use f2f_e2e::room::{
    assert_all_pairs_ping, assert_all_pairs_ping_within, prerequisites, room_jid, room_of_three,
    room_of_three_with, Node,
};
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

    prosody.stop();
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
        "RECOVERY xmpp server restart under a room of 3 over tcp: all rejoined after {rejoined:?}"
    );
    assert_same_room(&nodes, &before, &tmp);
    let tcp_links = |n: &Node| {
        n.member.status()["links"]
            .as_array()
            .map_or(0, |l| l.iter().filter(|l| l["transport"] == "tcp").count())
    };
    assert_eq!(tcp_links(&nodes[0]), 2, "{}", nodes[0].member.status());
}
