//! Master and members driven through an in-memory MUC: presence in join
//! order, groupchat to everyone (the sender included, as a MUC echoes it),
//! private messages to one nick, scripted time.

use std::collections::{BTreeMap, BTreeSet};

use super::message::{Endpoint, MAX_MESSAGE_BYTES};
use super::sim::Muc;
use super::*;
use crate::mac::MacAddr;

const ROOM: &str = "lan@conference.localhost";

/// The room and what each node did.
struct Net {
    muc: Muc,
    record: Record,
}

/// What the nodes did, as the shell would have executed it.
#[derive(Default)]
struct Record {
    /// Current links per node: peer → transport.
    links: BTreeMap<String, BTreeMap<String, LinkTransport>>,
    /// Last grant applied per node.
    grants: BTreeMap<String, Grant>,
    /// Last grants snapshot per node.
    persisted: BTreeMap<String, GrantSnapshot>,
    /// Every other action per node, in order.
    seen: BTreeMap<String, Vec<Action>>,
}

impl Record {
    fn observe(&mut self, nick: &str, action: &Action) {
        match action.clone() {
            Action::SendGroupchat { body } => {
                assert!(!body.contains("\"grant\""), "no grant to the room: {body}");
            }
            Action::SendPrivate { .. } => {}
            Action::LinkUp {
                peer, transport, ..
            } => {
                self.links
                    .entry(nick.to_string())
                    .or_default()
                    .insert(peer, transport);
            }
            Action::LinkDown { ref peer, .. } => {
                self.links.entry(nick.to_string()).or_default().remove(peer);
                self.seen
                    .entry(nick.to_string())
                    .or_default()
                    .push(action.clone());
            }
            Action::ApplyGrant { grant, .. } => {
                self.grants.insert(nick.to_string(), grant);
            }
            Action::PersistGrants(snapshot) => {
                self.persisted.insert(nick.to_string(), snapshot);
            }
            other => self.seen.entry(nick.to_string()).or_default().push(other),
        }
    }
}

fn link_info(nick: &str, transport: TransportMode) -> LinkInfo {
    let port = 7000 + nick.bytes().map(u16::from).sum::<u16>();
    LinkInfo {
        endpoint: Some(Endpoint::new(&format!("127.0.0.1:{port}")).unwrap()),
        public_key: None,
        transport,
    }
}

fn member(nick: &str) -> RoomConfig {
    RoomConfig {
        room: ROOM.to_string(),
        nick: nick.to_string(),
        jid: format!("{nick}@localhost"),
        master: None,
        master_jid: None,
        link: link_info(nick, TransportMode::Auto),
    }
}

fn params(topology: Topology, grants: Option<GrantSnapshot>) -> MasterParams {
    MasterParams {
        subnet: DEFAULT_SUBNET.parse().unwrap(),
        topology,
        key: NetworkKey([7; 32]),
        macs_per_member: DEFAULT_MACS_PER_MEMBER,
        seed: 42,
        grants,
        image: None,
    }
}

fn master(nick: &str, topology: Topology) -> RoomConfig {
    RoomConfig {
        master: Some(params(topology, None)),
        ..member(nick)
    }
}

impl Net {
    fn new() -> Net {
        Net {
            muc: Muc::new(),
            record: Record::default(),
        }
    }

    /// A node joins.
    fn join(&mut self, config: RoomConfig) {
        let nick = config.nick.clone();
        let room = Room::new(config, self.muc.now).unwrap();
        let record = &mut self.record;
        self.muc
            .enter(&nick, Some(room), &mut |n, a| record.observe(n, a));
    }

    /// A person (not a node) joins.
    fn person(&mut self, nick: &str) {
        let record = &mut self.record;
        self.muc.enter(nick, None, &mut |n, a| record.observe(n, a));
    }

    /// `nick` disappears (killed: presence unavailable, no goodbye).
    fn kill(&mut self, nick: &str) {
        self.record.links.remove(nick);
        let record = &mut self.record;
        self.muc.kill(nick, &mut |n, a| record.observe(n, a));
    }

    /// The server restarts: every node drops out of the room (its stream
    /// broke), then the nodes in `back` enter again in that order, each
    /// seeing only those already back; the room keeps its owners. Nodes not
    /// in `back` died meanwhile.
    fn server_restart(&mut self, back: &[&str]) {
        let now = self.muc.now;
        let mut rooms = std::mem::take(&mut self.muc.nodes);
        for (nick, room) in &mut rooms {
            let nick = nick.clone();
            room.handle_presence(now, Presence::Unavailable { nick });
        }
        self.muc.occupants.clear();
        for nick in back {
            let room = rooms.remove(*nick);
            assert!(room.is_some(), "{nick} is not a node");
            let record = &mut self.record;
            self.muc.enter(nick, room, &mut |n, a| record.observe(n, a));
        }
        for nick in rooms.into_keys() {
            self.record.links.remove(&nick);
        }
    }

    /// How many links `nick` was told to take down so far.
    fn downs(&self, nick: &str) -> usize {
        self.record.seen.get(nick).map_or(0, |actions| {
            actions
                .iter()
                .filter(|a| matches!(a, Action::LinkDown { .. }))
                .count()
        })
    }

    fn node(&mut self, nick: &str) -> &mut Room {
        self.muc.nodes.get_mut(nick).unwrap()
    }

    fn status(&self, nick: &str) -> crate::status::RoomStatus {
        self.muc.nodes[nick].status()
    }

    /// `nick`'s link to `peer` as its status shows it.
    fn link_status(&self, nick: &str, peer: &str) -> crate::status::RoomLinkStatus {
        let status = self.status(nick);
        let entry = status.peers.into_iter().find(|p| p.nick == peer).unwrap();
        entry.link.unwrap()
    }

    fn pump(&mut self) {
        let record = &mut self.record;
        self.muc.pump(&mut |n, a| record.observe(n, a));
    }

    /// Injects a message as the server would deliver it.
    fn inject(&mut self, to: &str, from: &str, delivery: Delivery, body: &str) {
        let record = &mut self.record;
        self.muc
            .inject(to, from, delivery, body, &mut |n, a| record.observe(n, a));
    }

    /// Time passes by `secs`, every deadline delivered on time.
    fn advance(&mut self, secs: u64) {
        let record = &mut self.record;
        self.muc.advance(secs, &mut |n, a| record.observe(n, a));
    }

    /// The undirected link set; asserts both ends agree on each link.
    fn edges(&self) -> BTreeSet<(String, String)> {
        let mut edges = BTreeSet::new();
        for (a, peers) in &self.record.links {
            for (b, t) in peers {
                let back = self.record.links.get(b).and_then(|p| p.get(a));
                let back = back.unwrap_or_else(|| panic!("{a} links {b} but not back"));
                match (t, back) {
                    (LinkTransport::Xmpp, LinkTransport::Xmpp) => {}
                    (LinkTransport::Tcp { dial: x }, LinkTransport::Tcp { dial: y }) => {
                        assert!(x.is_some() != y.is_some(), "one side dials {a}-{b}");
                    }
                    _ => panic!("{a}-{b} transports disagree: {t:?} {back:?}"),
                }
                let (x, y) = if a < b { (a, b) } else { (b, a) };
                edges.insert((x.clone(), y.clone()));
            }
        }
        edges
    }

    /// Log lines of `nick` containing `text`.
    fn logged(&self, nick: &str, text: &str) -> usize {
        self.record.seen.get(nick).map_or(0, |actions| {
            actions
                .iter()
                .filter(|a| matches!(a, Action::Log { message, .. } if message.contains(text)))
                .count()
        })
    }

    fn macs(&self, nick: &str) -> Vec<MacAddr> {
        self.record
            .grants
            .get(nick)
            .map(|g| g.macs.clone())
            .unwrap_or_default()
    }
}

fn edges(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Master `m` and members `a`, `b`, `c`.
fn room_of_four(topology: Topology) -> Net {
    let mut net = Net::new();
    net.join(master("m", topology));
    for nick in ["a", "b", "c"] {
        net.join(member(nick));
    }
    net
}

#[test]
fn star_grants_unique_macs_and_wires_members_to_the_master() {
    let net = room_of_four(Topology::Star);
    let mut all = BTreeSet::new();
    for nick in ["m", "a", "b", "c"] {
        let g = &net.record.grants[nick];
        assert_eq!(g.macs.len(), usize::from(DEFAULT_MACS_PER_MEMBER));
        assert_eq!(g.dhcp, nick == "m", "only the master serves DHCP");
        assert_eq!(g.topology, Topology::Star);
        assert_eq!(g.subnet.to_string(), DEFAULT_SUBNET);
        assert_eq!(g.key, NetworkKey([7; 32]));
        for mac in &g.macs {
            assert!(all.insert(*mac), "{mac} granted twice");
            assert!(!mac.is_multicast());
            assert_eq!(mac.octets()[..2], [0x52, 0x54]);
        }
    }
    assert_eq!(net.edges(), edges(&[("a", "m"), ("b", "m"), ("c", "m")]));
    // The master sees real JIDs, so grants are keyed by them.
    let members: Vec<&str> = net.record.persisted["m"]
        .grants
        .iter()
        .map(|g| g.member.as_str())
        .collect();
    assert_eq!(
        members,
        ["a@localhost", "b@localhost", "c@localhost", "m@localhost"]
    );
    let status = net.status("a");
    assert_eq!(status.role, "member");
    assert_eq!(status.master.as_deref(), Some("m"));
    assert_eq!(status.grant.unwrap().macs, net.macs("a"));
    let to_m = status.peers.iter().find(|p| p.nick == "m").unwrap();
    assert!(to_m.master && to_m.link.is_some());
    let status = net.status("m");
    assert_eq!(status.role, "master");
    assert_eq!(status.members.len(), 4);
    let b = status.peers.iter().find(|p| p.nick == "b").unwrap();
    assert_eq!(b.macs, net.macs("b"));
}

#[test]
fn mesh_links_every_pair_once_with_one_dialer() {
    let net = room_of_four(Topology::Mesh);
    assert_eq!(
        net.edges(),
        edges(&[
            ("a", "b"),
            ("a", "c"),
            ("a", "m"),
            ("b", "c"),
            ("b", "m"),
            ("c", "m")
        ])
    );
    // Both ends reachable: the lower nick dials.
    assert!(matches!(
        &net.record.links["a"]["b"],
        LinkTransport::Tcp { dial: Some(_) }
    ));
    assert!(matches!(
        &net.record.links["b"]["a"],
        LinkTransport::Tcp { dial: None }
    ));
}

#[test]
fn xmpp_transport_when_nobody_is_reachable_or_asked() {
    let mut net = Net::new();
    net.join(master("m", Topology::Mesh));
    let mut a = member("a");
    a.link.transport = TransportMode::Xmpp;
    net.join(a);
    let mut b = member("b");
    b.link.endpoint = None;
    net.join(b);
    let mut c = member("c");
    c.link.endpoint = None;
    net.join(c);
    assert_eq!(net.record.links["a"]["m"], LinkTransport::Xmpp);
    assert_eq!(
        net.record.links["b"]["c"],
        LinkTransport::Xmpp,
        "neither reachable"
    );
    assert!(matches!(
        &net.record.links["b"]["m"],
        LinkTransport::Tcp { dial: Some(_) }
    ));
    assert_eq!(net.edges().len(), 6);
}

#[test]
fn failed_tcp_link_falls_back_to_xmpp_on_both_ends() {
    let mut net = room_of_four(Topology::Star);
    let now = net.muc.now;
    net.node("a").handle_link(
        now,
        "m",
        LinkEvent::Failed {
            reason: "connection refused".into(),
        },
    );
    net.pump();
    assert_eq!(net.record.links["a"]["m"], LinkTransport::Xmpp);
    assert_eq!(net.record.links["m"]["a"], LinkTransport::Xmpp);
    assert_eq!(net.logged("m", "a moved our link to xmpp"), 1);
    assert_eq!(net.link_status("a", "m").transport, "xmpp");
}

#[test]
fn tcp_only_link_is_retried_not_moved() {
    let mut net = Net::new();
    net.join(master("m", Topology::Star));
    let mut a = member("a");
    a.link.transport = TransportMode::Tcp;
    a.link.endpoint = None;
    net.join(a);
    let now = net.muc.now;
    let up = net.record.links["a"]["m"].clone();
    net.node("a").handle_link(
        now,
        "m",
        LinkEvent::Failed {
            reason: "timeout".into(),
        },
    );
    net.pump();
    net.record.links.get_mut("a").unwrap().clear();
    net.advance(LINK_RETRY.as_secs());
    assert_eq!(
        net.record.links["a"]["m"], up,
        "asked again, same transport"
    );
    net.node("a").handle_link(now, "m", LinkEvent::Established);
    assert_eq!(net.link_status("a", "m").state, "up");
}

#[test]
fn a_member_rejoining_gets_the_same_grant() {
    let mut net = room_of_four(Topology::Star);
    let before = net.macs("b");
    net.kill("b");
    assert!(
        !net.record.links["m"].contains_key("b"),
        "b's link torn down"
    );
    net.join(member("b"));
    assert_eq!(net.macs("b"), before);
    // A newcomer after the rejoin still gets fresh addresses.
    net.join(member("d"));
    for nick in ["m", "a", "b", "c"] {
        assert!(net
            .macs("d")
            .iter()
            .all(|mac| !net.macs(nick).contains(mac)));
    }
}

#[test]
fn a_restarted_master_restores_grants_from_its_snapshot() {
    let mut net = room_of_four(Topology::Star);
    let before: BTreeMap<String, Vec<MacAddr>> = ["m", "a", "b", "c"]
        .iter()
        .map(|n| (n.to_string(), net.macs(n)))
        .collect();
    let json = serde_json::to_string(&net.record.persisted["m"]).unwrap();
    net.kill("m");
    assert_eq!(
        net.record.seen["a"]
            .iter()
            .filter(|a| matches!(a, Action::MasterLost { nick, .. } if nick == "m"))
            .count(),
        1
    );
    // The restarted master rejoins as the room's owner (the room keeps it).
    let snapshot: GrantSnapshot = serde_json::from_str(&json).unwrap();
    let mut config = master("m", Topology::Star);
    config.master = Some(params(Topology::Star, Some(snapshot)));
    net.join(config);
    for (nick, macs) in before {
        assert_eq!(net.macs(&nick), macs, "{nick} keeps its MACs");
    }
    assert_eq!(net.edges(), edges(&[("a", "m"), ("b", "m"), ("c", "m")]));
}

#[test]
fn forged_master_and_its_grants_are_ignored() {
    let mut net = Net::new();
    net.join(master("m", Topology::Star));
    net.join(member("a"));
    net.join(member("evil"));
    let macs = net.macs("a");
    let forged = message::encode(&Message::Announce(message::Announce {
        topology: Topology::Star,
        link: LinkInfo::default(),
    }));
    net.inject("a", "evil", Delivery::Groupchat, &forged);
    assert_eq!(
        net.logged(
            "a",
            "ignored announce from evil: it is not the room's owner"
        ),
        1
    );
    let grant = message::encode(&Message::Grant(Grant {
        to: "a".into(),
        macs: vec!["02:00:00:00:00:01".parse().unwrap()],
        subnet: "10.0.0.0/8".parse().unwrap(),
        key: NetworkKey([0; 32]),
        topology: Topology::Mesh,
        dhcp: true,
        image: None,
    }));
    net.inject("a", "evil", Delivery::Private, &grant);
    assert_eq!(net.logged("a", "ignored grant from evil"), 1);
    let peers = message::encode(&Message::Peers(message::Peers { peers: vec![] }));
    net.inject("a", "evil", Delivery::Groupchat, &peers);
    assert_eq!(net.logged("a", "ignored peers from evil"), 1);
    assert_eq!(net.macs("a"), macs, "grant unchanged");
    assert_eq!(net.status("a").master.as_deref(), Some("m"));
    assert!(net.record.links["a"].contains_key("m"));
}

#[test]
fn grant_for_someone_else_or_to_the_room_is_ignored() {
    let mut net = room_of_four(Topology::Star);
    let macs = net.macs("a");
    let for_b = message::encode(&Message::Grant(Grant {
        to: "b".into(),
        ..net.record.grants["b"].clone()
    }));
    net.inject("a", "m", Delivery::Private, &for_b);
    assert_eq!(
        net.logged(
            "a",
            "ignored grant from m: it is addressed to b, not to us (a)"
        ),
        1
    );
    let to_all = message::encode(&Message::Grant(net.record.grants["a"].clone()));
    net.inject("a", "m", Delivery::Groupchat, &to_all);
    assert_eq!(net.logged("a", "it was sent to the whole room"), 1);
    assert_eq!(net.macs("a"), macs);
}

#[test]
fn malformed_oversized_and_unknown_messages_are_ignored_with_a_reason() {
    let mut net = room_of_four(Topology::Star);
    let cases = [
        ("hello everyone", "not JSON"),
        ("{\"hello\":1}", "not an f2f message"),
        (
            "{\"f2f\":2,\"type\":\"grant\"}",
            "unsupported protocol version 2",
        ),
        (
            "{\"f2f\":1,\"type\":\"coup\"}",
            "unknown message type \"coup\"",
        ),
        (
            "{\"f2f\":1,\"type\":\"grant\",\"to\":\"a\"}",
            "missing field `macs`",
        ),
        ("{\"f2f\":1}", "missing or non-string field `type`"),
    ];
    for (body, reason) in cases {
        net.inject("a", "m", Delivery::Private, body);
        assert_eq!(net.logged("a", reason), 1, "{body}");
    }
    let huge = format!(
        "{{\"f2f\":1,\"type\":\"heartbeat\",\"x\":\"{}\"}}",
        "x".repeat(MAX_MESSAGE_BYTES)
    );
    net.inject("a", "m", Delivery::Private, &huge);
    assert_eq!(net.logged("a", "over the 65536-byte limit"), 1);
    net.inject(
        "a",
        "stranger",
        Delivery::Private,
        "{\"f2f\":1,\"type\":\"heartbeat\"}",
    );
    assert_eq!(net.logged("a", "not an occupant we know"), 1);
    assert_eq!(net.edges(), edges(&[("a", "m"), ("b", "m"), ("c", "m")]));
}

#[test]
fn two_masters_the_owner_wins_and_the_other_becomes_a_member() {
    let mut net = Net::new();
    net.join(master("m1", Topology::Star));
    net.join(member("a"));
    net.join(master("m2", Topology::Mesh));
    net.join(member("b"));
    assert_eq!(net.muc.nodes["m1"].role(), NodeRole::Master);
    assert_eq!(net.muc.nodes["m2"].role(), NodeRole::Member);
    assert!(net.record.seen["m2"].contains(&Action::RoleChanged(NodeRole::Member)));
    assert_eq!(net.logged("m2", "also claims master and outranks us"), 1);
    assert_eq!(
        net.logged("m1", "ignored announce from m2: we are the master"),
        1
    );
    assert_eq!(net.logged("a", "ignored announce from m2"), 1);
    assert!(
        !net.record.grants["m2"].dhcp,
        "the loser stops serving DHCP"
    );
    assert_eq!(net.record.grants["m2"].topology, Topology::Star);
    assert_eq!(
        net.edges(),
        edges(&[("a", "m1"), ("b", "m1"), ("m1", "m2")])
    );
}

#[test]
fn two_masters_without_ownership_the_lower_nick_wins() {
    let mut net = Net::new();
    net.person("owner"); // a person created the room
    net.join(master("y", Topology::Star));
    net.join(master("x", Topology::Star));
    assert_eq!(net.muc.nodes["x"].role(), NodeRole::Master);
    assert_eq!(net.muc.nodes["y"].role(), NodeRole::Member);
    assert_eq!(net.logged("x", "not the room's owner"), 1);
    // The loser follows only an owner (or a pinned JID): it waits.
    assert_eq!(
        net.logged("y", "ignored announce from x: it is not the room's owner"),
        1
    );
}

#[test]
fn pinned_master_jid_is_followed_and_others_are_not() {
    let mut net = Net::new();
    net.muc.non_anonymous = true;
    net.person("owner");
    net.join(master("m", Topology::Star));
    let mut a = member("a");
    a.master_jid = Some("M@LOCALHOST".into());
    net.join(a);
    assert_eq!(net.record.grants["a"].to, "a");
    assert!(net.record.links["a"].contains_key("m"));
    // Pinned to someone else: the real master is not followed.
    let mut b = member("b");
    b.master_jid = Some("boss@localhost".into());
    net.join(b);
    assert!(!net.record.grants.contains_key("b"));
    assert_eq!(
        net.logged(
            "b",
            "its JID m@localhost is not the pinned master boss@localhost"
        ),
        1
    );
}

#[test]
fn a_member_leaving_has_its_links_torn_down() {
    let mut net = room_of_four(Topology::Mesh);
    net.kill("c");
    assert_eq!(net.edges(), edges(&[("a", "b"), ("a", "m"), ("b", "m")]));
    for nick in ["a", "b", "m"] {
        assert!(net.record.seen[nick].iter().any(
            |x| matches!(x, Action::LinkDown { peer, reason } if peer == "c" && reason.contains("left"))
        ));
    }
    // A clean goodbye has the same effect.
    let now = net.muc.now;
    net.node("b").leave(now);
    net.pump();
    assert_eq!(net.edges(), edges(&[("a", "m")]));
}

#[test]
fn the_master_leaving_is_reported_and_member_links_stay() {
    let mut net = room_of_four(Topology::Mesh);
    net.kill("m");
    for nick in ["a", "b", "c"] {
        assert!(
            net.record.seen[nick]
                .iter()
                .any(|x| matches!(x, Action::MasterLost { nick, .. } if nick == "m")),
            "{nick} reports the master gone"
        );
        assert!(
            net.record.grants.contains_key(nick),
            "{nick} keeps its grant"
        );
    }
    assert_eq!(net.edges(), edges(&[("a", "b"), ("a", "c"), ("b", "c")]));
    assert_eq!(net.status("a").master, None);
}

#[test]
fn silence_counts_as_leaving_and_speaking_again_brings_links_back() {
    let mut net = room_of_four(Topology::Mesh);
    net.advance(60);
    assert_eq!(net.edges().len(), 6, "heartbeats keep everyone alive");
    net.muc.muted.insert("c".into());
    let secs = HEARTBEAT_INTERVAL.as_secs() * u64::from(MISSED_HEARTBEATS) + 1;
    net.advance(secs);
    for nick in ["a", "b", "m"] {
        assert!(
            !net.record.links[nick].contains_key("c"),
            "{nick} took c's link down"
        );
    }
    assert_eq!(net.logged("a", "c missed 3 heartbeats"), 1);
    net.muc.muted.clear();
    net.advance(HEARTBEAT_INTERVAL.as_secs());
    assert_eq!(net.edges().len(), 6, "links back once c speaks");
}

#[test]
fn a_silent_master_is_reported_and_asked_again_when_back() {
    let mut net = room_of_four(Topology::Star);
    net.muc.muted.insert("m".into());
    net.advance(20);
    assert!(net.record.seen["a"]
        .iter()
        .any(|x| matches!(x, Action::MasterLost { reason, .. } if reason.contains("heartbeats"))));
    net.muc.muted.clear();
    net.advance(10);
    assert_eq!(net.status("a").master.as_deref(), Some("m"));
    assert_eq!(net.edges(), edges(&[("a", "m"), ("b", "m"), ("c", "m")]));
}

#[test]
fn a_server_restart_keeps_links_whoever_is_back_first() {
    for first in ["a", "m"] {
        let mut net = room_of_four(Topology::Star);
        let before = net.edges();
        let downs: Vec<usize> = ["m", "a", "b", "c"].map(|n| net.downs(n)).to_vec();
        let others: Vec<&str> = ["m", "a", "b", "c"]
            .into_iter()
            .filter(|n| *n != first)
            .collect();
        net.server_restart(&[&[first][..], &others].concat());
        net.advance(30);
        assert_eq!(net.edges(), before, "{first} back first");
        let after: Vec<usize> = ["m", "a", "b", "c"].map(|n| net.downs(n)).to_vec();
        assert_eq!(after, downs, "{first} back first: no link taken down");
        assert_eq!(net.status("a").master.as_deref(), Some("m"));
    }
}

#[test]
fn a_node_not_back_after_a_server_restart_is_gone_after_the_heartbeat_deadline() {
    let mut net = room_of_four(Topology::Star);
    net.server_restart(&["m", "a", "b"]);
    assert!(
        net.record.links["m"].contains_key("c"),
        "c keeps its link a while"
    );
    assert_eq!(net.logged("m", "c is not back in the room yet"), 1);
    let secs = HEARTBEAT_INTERVAL.as_secs() * u64::from(MISSED_HEARTBEATS) + 1;
    net.advance(secs);
    assert!(!net.record.links["m"].contains_key("c"), "c's link is down");
    assert_eq!(net.edges(), edges(&[("a", "m"), ("b", "m")]));
}

#[test]
fn a_flood_of_bad_messages_is_logged_sparingly() {
    let mut net = room_of_four(Topology::Star);
    net.person("mallory");
    let forged = r#"{"f2f":1,"type":"announce","topology":"star","link":{"transport":"xmpp"}}"#;
    for _ in 0..2500 {
        net.inject("a", "mallory", Delivery::Groupchat, forged);
    }
    let lines = net.logged("a", "ignored announce from mallory");
    // 20 one by one, then the 1000th and the 2000th.
    assert_eq!(lines, 22);
    assert_eq!(net.logged("a", "only every 1000th is logged"), 1);
    assert_eq!(net.logged("a", "2000 ignored from mallory so far"), 1);
    assert_eq!(net.status("a").master.as_deref(), Some("m"));
}

#[test]
fn people_chatting_in_the_room_change_nothing() {
    let mut net = room_of_four(Topology::Star);
    net.person("human");
    let before = net.edges();
    for to in ["m", "a"] {
        net.inject(
            to,
            "human",
            Delivery::Groupchat,
            "hi all, what is this JSON?",
        );
    }
    net.advance(60);
    assert_eq!(net.edges(), before);
    assert!(!net
        .status("a")
        .peers
        .iter()
        .any(|p| p.nick == "human" && p.granted));
}

#[test]
fn messages_round_trip_and_read_like_json() {
    let grant = Message::Grant(Grant {
        to: "bob".into(),
        macs: vec!["52:54:9e:31:00:01".parse().unwrap()],
        subnet: DEFAULT_SUBNET.parse().unwrap(),
        key: NetworkKey([0xab; 32]),
        topology: Topology::Mesh,
        dhcp: false,
        image: None,
    });
    let text = message::encode(&grant);
    assert!(
        text.starts_with("{\"f2f\":1,\"type\":\"grant\",\"to\":\"bob\""),
        "{text}"
    );
    assert!(text.contains(&"ab".repeat(32)));
    assert_eq!(message::parse(&text), Ok(grant));
    assert!(!format!("{:?}", NetworkKey([0xab; 32])).contains("ab"));
    for m in [
        Message::Heartbeat,
        Message::Leave,
        Message::Link(message::LinkNotice {
            transport: LinkKind::Xmpp,
        }),
        Message::Ask(message::Ask {
            link: LinkInfo {
                endpoint: Some(Endpoint::new("[::1]:7000").unwrap()),
                public_key: Some("pk".into()),
                transport: TransportMode::Tcp,
            },
        }),
    ] {
        assert_eq!(message::parse(&message::encode(&m)), Ok(m));
    }
    // Unknown fields from a newer peer are ignored.
    assert_eq!(
        message::parse("{\"f2f\":1,\"type\":\"heartbeat\",\"load\":3}"),
        Ok(Message::Heartbeat)
    );
    for bad in ["nope", "h:0", ":80", "h:99999", "h:+80", "a b:80"] {
        assert!(Endpoint::new(bad).is_err(), "{bad}");
    }
    let multicast = text.replace("52:54:9e:31:00:01", "01:00:5e:00:00:01");
    assert!(matches!(
        message::parse(&multicast),
        Err(RoomError::Invalid { .. })
    ));
    let short_key = text.replace(&"ab".repeat(32), "abcd");
    assert!(message::parse(&short_key).is_err());
}

#[test]
fn status_shows_roles_grants_and_links_per_peer() {
    let mut net = room_of_four(Topology::Star);
    let now = net.muc.now;
    net.node("m").handle_link(now, "a", LinkEvent::Established);
    let snapshot = crate::status::Snapshot {
        room: Some(net.status("m")),
        ..Default::default()
    };
    let text = snapshot.render_text();
    assert!(
        text.contains("Room: lan@conference.localhost as m (master), master m\n"),
        "{text}"
    );
    assert!(
        text.contains("  grant: 192.168.254.0/24 star MACs 52:54:"),
        "{text}"
    );
    assert!(text.contains(", serves DHCP\n"), "{text}");
    assert!(
        text.contains("  a (a@localhost/f2f, none) member: tcp up\n"),
        "{text}"
    );
    assert!(
        text.contains("  b (b@localhost/f2f, none) member: tcp pending\n"),
        "{text}"
    );
    let json = serde_json::to_string(&snapshot).unwrap();
    let back: crate::status::Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back.room, snapshot.room);
    // A member sees the master's link with the endpoint it dials.
    let text = crate::status::Snapshot {
        room: Some(net.status("a")),
        ..Default::default()
    }
    .render_text();
    assert!(
        text.contains("  m (-, owner) master: tcp to 127.0.0.1:7109 pending\n"),
        "{text}"
    );
}

#[test]
fn a_member_back_from_a_reconnect_drops_peers_that_left_meanwhile() {
    let mut net = room_of_four(Topology::Mesh);
    let macs = net.macs("a");
    // a's stream resets: it is out of the room, and the others see it leave.
    let mut a = net.muc.nodes.remove("a").unwrap();
    a.handle_presence(net.muc.now, Presence::Unavailable { nick: "a".into() });
    while let Some(action) = a.poll_action() {
        net.record.observe("a", &action);
    }
    assert_eq!(net.record.links["a"].len(), 3, "links stay while out");
    let record = &mut net.record;
    net.muc.kill("a", &mut |n, x| record.observe(n, x));
    net.kill("b");
    let record = &mut net.record;
    net.muc
        .enter("a", Some(a), &mut |n, x| record.observe(n, x));
    // Not at once (b might be reconnecting too), but the master's fresh
    // peer list says b is gone.
    assert!(net.record.seen["a"].iter().any(
        |x| matches!(x, Action::LinkDown { peer, reason } if peer == "b" && reason.contains("master's peer list"))
    ));
    assert_eq!(net.edges(), edges(&[("a", "c"), ("a", "m"), ("c", "m")]));
    assert_eq!(net.macs("a"), macs);
    assert_eq!(net.status("a").master.as_deref(), Some("m"));
}

/// The master's image offer rides in every grant and survives the room's JSON; a grant whose
/// offer names a file outside the bundle is refused as a whole.
#[test]
fn grants_carry_the_master_image_offer() {
    let offer = crate::provision::ImageOffer {
        name: "slave".into(),
        endpoint: Some(Endpoint::new("192.0.2.1:7000").unwrap()),
        files: vec![crate::provision::OfferedFile {
            name: "image.toml".into(),
            size: 3,
            sha256: crate::provision::Sha256Hex([0x5a; 32]),
        }],
    };
    let mut params = params(Topology::Star, None);
    params.image = Some(offer.clone());
    let mut net = Net::new();
    net.join(RoomConfig {
        master: Some(params),
        ..member("m")
    });
    net.join(member("a"));
    assert_eq!(net.record.grants["a"].image.as_ref(), Some(&offer));
    let mut bad = net.record.grants["a"].clone();
    bad.image.as_mut().unwrap().files[0].name = "../image.toml".into();
    let text = message::encode(&Message::Grant(bad));
    assert!(
        matches!(message::parse(&text), Err(RoomError::Invalid { reason, .. }) if reason.contains("image `files`")),
        "{text}"
    );
}
