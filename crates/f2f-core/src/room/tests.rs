//! Master and members driven through an in-memory MUC: presence in join
//! order, groupchat to everyone (the sender included, as a MUC echoes it),
//! private messages to one nick, scripted time.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::message::{Endpoint, MAX_MESSAGE_BYTES};
use super::*;
use crate::mac::MacAddr;
use crate::time::Instant;

const ROOM: &str = "lan@conference.localhost";

/// One message in flight.
struct Delivered {
    to: String,
    from: String,
    delivery: Delivery,
    body: String,
}

/// The room: the machines, the MUC's occupant list, what each node did.
struct Net {
    now: Instant,
    nodes: BTreeMap<String, Room>,
    /// Occupants in join order, with their affiliation.
    occupants: Vec<(String, Affiliation)>,
    /// Nicks the room lists as owners (the first to enter, kept when it leaves).
    owners: BTreeSet<String>,
    /// Every occupant sees real JIDs (else only the owner does).
    non_anonymous: bool,
    /// Nodes whose messages the server drops (a silent network loss).
    muted: BTreeSet<String>,
    /// Current links per node: peer → transport.
    links: BTreeMap<String, BTreeMap<String, LinkTransport>>,
    /// Last grant applied per node.
    grants: BTreeMap<String, Grant>,
    /// Last grants snapshot per node.
    persisted: BTreeMap<String, GrantSnapshot>,
    /// Every other action per node, in order.
    seen: BTreeMap<String, Vec<Action>>,
    queue: VecDeque<Delivered>,
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
            now: Instant::from_secs(1000),
            nodes: BTreeMap::new(),
            occupants: Vec::new(),
            owners: BTreeSet::new(),
            non_anonymous: false,
            muted: BTreeSet::new(),
            links: BTreeMap::new(),
            grants: BTreeMap::new(),
            persisted: BTreeMap::new(),
            seen: BTreeMap::new(),
            queue: VecDeque::new(),
        }
    }

    /// The occupant `nick` as `viewer` sees it in presence.
    fn occupant(&self, viewer: &str, nick: &str) -> Occupant {
        let affiliation = self.affiliation(nick);
        let sees_jids = self.non_anonymous || self.affiliation(viewer) == Affiliation::Owner;
        Occupant {
            nick: nick.to_string(),
            affiliation,
            role: if affiliation == Affiliation::Owner {
                MucRole::Moderator
            } else {
                MucRole::Participant
            },
            jid: (sees_jids || viewer == nick).then(|| format!("{nick}@localhost/f2f")),
        }
    }

    fn affiliation(&self, nick: &str) -> Affiliation {
        self.occupants
            .iter()
            .find(|(n, _)| n == nick)
            .map_or(Affiliation::None, |(_, a)| *a)
    }

    /// An occupant enters: the first one creates the room and owns it.
    fn enter(&mut self, nick: &str) {
        if self.owners.is_empty() {
            self.owners.insert(nick.to_string());
        }
        let affiliation = if self.owners.contains(nick) {
            Affiliation::Owner
        } else {
            Affiliation::None
        };
        self.occupants.push((nick.to_string(), affiliation));
        let others: Vec<String> = self.nodes.keys().filter(|n| *n != nick).cloned().collect();
        for viewer in others {
            let occ = self.occupant(&viewer, nick);
            let now = self.now;
            self.node(&viewer)
                .handle_presence(now, Presence::Available(occ));
        }
        if self.nodes.contains_key(nick) {
            // Existing occupants first, our own presence last (status 110).
            let present: Vec<String> = self.occupants.iter().map(|(n, _)| n.clone()).collect();
            for other in present.iter().filter(|n| *n != nick) {
                let occ = self.occupant(nick, other);
                let now = self.now;
                self.node(nick)
                    .handle_presence(now, Presence::Available(occ));
            }
            let me = self.occupant(nick, nick);
            let now = self.now;
            self.node(nick)
                .handle_presence(now, Presence::Available(me));
        }
        self.pump();
    }

    /// A node joins.
    fn join(&mut self, config: RoomConfig) {
        let nick = config.nick.clone();
        let room = Room::new(config, self.now).unwrap();
        self.nodes.insert(nick.clone(), room);
        self.enter(&nick);
    }

    /// A person (not a node) joins.
    fn person(&mut self, nick: &str) {
        self.enter(nick);
    }

    /// `nick` disappears (killed: presence unavailable, no goodbye).
    fn kill(&mut self, nick: &str) {
        self.nodes.remove(nick);
        self.links.remove(nick);
        self.occupants.retain(|(n, _)| n != nick);
        let viewers: Vec<String> = self.nodes.keys().cloned().collect();
        for viewer in viewers {
            let now = self.now;
            self.node(&viewer).handle_presence(
                now,
                Presence::Unavailable {
                    nick: nick.to_string(),
                },
            );
        }
        self.pump();
    }

    fn node(&mut self, nick: &str) -> &mut Room {
        self.nodes.get_mut(nick).unwrap()
    }

    /// Moves actions and messages until nothing moves.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let nicks: Vec<String> = self.nodes.keys().cloned().collect();
            for nick in &nicks {
                while let Some(action) = self.node(nick).poll_action() {
                    self.execute(nick, action);
                }
            }
            let Some(d) = self.queue.pop_front() else {
                return;
            };
            let now = self.now;
            if let Some(room) = self.nodes.get_mut(&d.to) {
                room.handle_message(now, &d.from, d.delivery, &d.body);
            }
        }
        panic!("the room never settles");
    }

    fn execute(&mut self, nick: &str, action: Action) {
        let muted = self.muted.contains(nick);
        match action {
            Action::SendGroupchat { body } if !muted => {
                for (to, _) in &self.occupants {
                    self.queue.push_back(Delivered {
                        to: to.clone(),
                        from: nick.to_string(),
                        delivery: Delivery::Groupchat,
                        body: body.clone(),
                    });
                }
            }
            Action::SendPrivate { nick: to, body } if !muted => {
                assert!(
                    !body.contains("\"grant\"") || self.nodes.contains_key(&to),
                    "grants go to nodes"
                );
                self.queue.push_back(Delivered {
                    to,
                    from: nick.to_string(),
                    delivery: Delivery::Private,
                    body,
                });
            }
            Action::SendGroupchat { body } | Action::SendPrivate { body, .. } => {
                assert!(!body.contains("\"grant\""), "no grant to the room: {body}");
            }
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
                self.seen.entry(nick.to_string()).or_default().push(action);
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

    /// Injects a message as the server would deliver it.
    fn inject(&mut self, to: &str, from: &str, delivery: Delivery, body: &str) {
        let now = self.now;
        self.node(to).handle_message(now, from, delivery, body);
        self.pump();
    }

    /// Time passes by `secs`, every deadline delivered on time.
    fn advance(&mut self, secs: u64) {
        let end = self.now + crate::time::Duration::from_secs(secs);
        for _ in 0..10_000 {
            let next = self.nodes.values().filter_map(Room::poll_timeout).min();
            let Some(next) = next.filter(|t| *t <= end) else {
                break;
            };
            self.now = self.now.max(next);
            let now = self.now;
            for room in self.nodes.values_mut() {
                room.handle_timeout(now);
            }
            self.pump();
        }
        self.now = end;
    }

    /// The undirected link set; asserts both ends agree on each link.
    fn edges(&self) -> BTreeSet<(String, String)> {
        let mut edges = BTreeSet::new();
        for (a, peers) in &self.links {
            for (b, t) in peers {
                let back = self.links.get(b).and_then(|p| p.get(a));
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
        self.seen.get(nick).map_or(0, |actions| {
            actions
                .iter()
                .filter(|a| matches!(a, Action::Log { message, .. } if message.contains(text)))
                .count()
        })
    }

    fn macs(&self, nick: &str) -> Vec<MacAddr> {
        self.grants
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
        let g = &net.grants[nick];
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
    let members: Vec<&str> = net.persisted["m"]
        .grants
        .iter()
        .map(|g| g.member.as_str())
        .collect();
    assert_eq!(
        members,
        ["a@localhost", "b@localhost", "c@localhost", "m@localhost"]
    );
    let status = net.nodes["a"].status();
    assert_eq!(status.role, "member");
    assert_eq!(status.master.as_deref(), Some("m"));
    assert_eq!(status.grant.unwrap().macs, net.macs("a"));
    let to_m = status.peers.iter().find(|p| p.nick == "m").unwrap();
    assert!(to_m.master && to_m.link.is_some());
    let status = net.nodes["m"].status();
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
        &net.links["a"]["b"],
        LinkTransport::Tcp { dial: Some(_) }
    ));
    assert!(matches!(
        &net.links["b"]["a"],
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
    assert_eq!(net.links["a"]["m"], LinkTransport::Xmpp);
    assert_eq!(
        net.links["b"]["c"],
        LinkTransport::Xmpp,
        "neither reachable"
    );
    assert!(matches!(
        &net.links["b"]["m"],
        LinkTransport::Tcp { dial: Some(_) }
    ));
    assert_eq!(net.edges().len(), 6);
}

#[test]
fn failed_tcp_link_falls_back_to_xmpp_on_both_ends() {
    let mut net = room_of_four(Topology::Star);
    let now = net.now;
    net.node("a").handle_link(
        now,
        "m",
        LinkEvent::Failed {
            reason: "connection refused".into(),
        },
    );
    net.pump();
    assert_eq!(net.links["a"]["m"], LinkTransport::Xmpp);
    assert_eq!(net.links["m"]["a"], LinkTransport::Xmpp);
    assert_eq!(net.logged("m", "a moved our link to xmpp"), 1);
    let status = net.nodes["a"].status();
    let link = status
        .peers
        .iter()
        .find(|p| p.nick == "m")
        .unwrap()
        .link
        .clone();
    assert_eq!(link.unwrap().transport, "xmpp");
}

#[test]
fn tcp_only_link_is_retried_not_moved() {
    let mut net = Net::new();
    net.join(master("m", Topology::Star));
    let mut a = member("a");
    a.link.transport = TransportMode::Tcp;
    a.link.endpoint = None;
    net.join(a);
    let now = net.now;
    let up = net.links["a"]["m"].clone();
    net.node("a").handle_link(
        now,
        "m",
        LinkEvent::Failed {
            reason: "timeout".into(),
        },
    );
    net.pump();
    net.links.get_mut("a").unwrap().clear();
    net.advance(LINK_RETRY.as_secs());
    assert_eq!(net.links["a"]["m"], up, "asked again, same transport");
    net.node("a").handle_link(now, "m", LinkEvent::Established);
    let status = net.nodes["a"].status();
    let link = status
        .peers
        .iter()
        .find(|p| p.nick == "m")
        .unwrap()
        .link
        .clone();
    assert_eq!(link.unwrap().state, "up");
}

#[test]
fn a_member_rejoining_gets_the_same_grant() {
    let mut net = room_of_four(Topology::Star);
    let before = net.macs("b");
    net.kill("b");
    assert!(!net.links["m"].contains_key("b"), "b's link torn down");
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
    let json = serde_json::to_string(&net.persisted["m"]).unwrap();
    net.kill("m");
    assert_eq!(
        net.seen["a"]
            .iter()
            .filter(|a| matches!(a, Action::MasterLost { nick, .. } if nick == "m"))
            .count(),
        1
    );
    // The restarted master rejoins as the room's owner (the room keeps it).
    let snapshot: GrantSnapshot = serde_json::from_str(&json).unwrap();
    let mut config = master("m", Topology::Star);
    config.master = Some(params(Topology::Star, Some(snapshot)));
    net.nodes
        .insert("m".into(), Room::new(config, net.now).unwrap());
    net.enter("m");
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
    }));
    net.inject("a", "evil", Delivery::Private, &grant);
    assert_eq!(net.logged("a", "ignored grant from evil"), 1);
    let peers = message::encode(&Message::Peers(message::Peers { peers: vec![] }));
    net.inject("a", "evil", Delivery::Groupchat, &peers);
    assert_eq!(net.logged("a", "ignored peers from evil"), 1);
    assert_eq!(net.macs("a"), macs, "grant unchanged");
    assert_eq!(net.nodes["a"].status().master.as_deref(), Some("m"));
    assert!(net.links["a"].contains_key("m"));
}

#[test]
fn grant_for_someone_else_or_to_the_room_is_ignored() {
    let mut net = room_of_four(Topology::Star);
    let macs = net.macs("a");
    let for_b = message::encode(&Message::Grant(Grant {
        to: "b".into(),
        ..net.grants["b"].clone()
    }));
    net.inject("a", "m", Delivery::Private, &for_b);
    assert_eq!(
        net.logged(
            "a",
            "ignored grant from m: it is addressed to b, not to us (a)"
        ),
        1
    );
    let to_all = message::encode(&Message::Grant(net.grants["a"].clone()));
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
    assert_eq!(net.nodes["m1"].role(), NodeRole::Master);
    assert_eq!(net.nodes["m2"].role(), NodeRole::Member);
    assert!(net.seen["m2"].contains(&Action::RoleChanged(NodeRole::Member)));
    assert_eq!(net.logged("m2", "also claims master and outranks us"), 1);
    assert_eq!(
        net.logged("m1", "ignored announce from m2: we are the master"),
        1
    );
    assert_eq!(net.logged("a", "ignored announce from m2"), 1);
    assert!(!net.grants["m2"].dhcp, "the loser stops serving DHCP");
    assert_eq!(net.grants["m2"].topology, Topology::Star);
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
    assert_eq!(net.nodes["x"].role(), NodeRole::Master);
    assert_eq!(net.nodes["y"].role(), NodeRole::Member);
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
    net.non_anonymous = true;
    net.person("owner");
    net.join(master("m", Topology::Star));
    let mut a = member("a");
    a.master_jid = Some("M@LOCALHOST".into());
    net.join(a);
    assert_eq!(net.grants["a"].to, "a");
    assert!(net.links["a"].contains_key("m"));
    // Pinned to someone else: the real master is not followed.
    let mut b = member("b");
    b.master_jid = Some("boss@localhost".into());
    net.join(b);
    assert!(!net.grants.contains_key("b"));
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
        assert!(net.seen[nick].iter().any(
            |x| matches!(x, Action::LinkDown { peer, reason } if peer == "c" && reason.contains("left"))
        ));
    }
    // A clean goodbye has the same effect.
    let now = net.now;
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
            net.seen[nick]
                .iter()
                .any(|x| matches!(x, Action::MasterLost { nick, .. } if nick == "m")),
            "{nick} reports the master gone"
        );
        assert!(net.grants.contains_key(nick), "{nick} keeps its grant");
    }
    assert_eq!(net.edges(), edges(&[("a", "b"), ("a", "c"), ("b", "c")]));
    assert_eq!(net.nodes["a"].status().master, None);
}

#[test]
fn silence_counts_as_leaving_and_speaking_again_brings_links_back() {
    let mut net = room_of_four(Topology::Mesh);
    net.advance(60);
    assert_eq!(net.edges().len(), 6, "heartbeats keep everyone alive");
    net.muted.insert("c".into());
    let secs = HEARTBEAT_INTERVAL.as_secs() * u64::from(MISSED_HEARTBEATS) + 1;
    net.advance(secs);
    for nick in ["a", "b", "m"] {
        assert!(
            !net.links[nick].contains_key("c"),
            "{nick} took c's link down"
        );
    }
    assert_eq!(net.logged("a", "c missed 3 heartbeats"), 1);
    net.muted.clear();
    net.advance(HEARTBEAT_INTERVAL.as_secs());
    assert_eq!(net.edges().len(), 6, "links back once c speaks");
}

#[test]
fn a_silent_master_is_reported_and_asked_again_when_back() {
    let mut net = room_of_four(Topology::Star);
    net.muted.insert("m".into());
    net.advance(20);
    assert!(net.seen["a"]
        .iter()
        .any(|x| matches!(x, Action::MasterLost { reason, .. } if reason.contains("heartbeats"))));
    net.muted.clear();
    net.advance(10);
    assert_eq!(net.nodes["a"].status().master.as_deref(), Some("m"));
    assert_eq!(net.edges(), edges(&[("a", "m"), ("b", "m"), ("c", "m")]));
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
    assert!(!net.nodes["a"]
        .status()
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
