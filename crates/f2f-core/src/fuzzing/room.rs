//! Fuzz entry points for the room protocol: the message parser, and master
//! and member machines in an in-memory MUC driven by arbitrary operations.

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};

use crate::dhcp::Ipv4Net;
use crate::mac::MacAddr;
use crate::room::message::{
    Announce, Ask, Endpoint, LinkNotice, PeerInfo, Peers, MAX_MESSAGE_BYTES,
};
use crate::room::pool::MacPool;
use crate::room::sim::Muc;
use crate::room::{
    encode, parse, Action, Delivery, Grant, GrantSnapshot, LinkEvent, LinkInfo, LinkKind,
    MasterParams, Message, NetworkKey, Room, RoomConfig, Topology, TransportMode,
};

/// Any text as a room message body: never a panic; every accepted message
/// encodes to a body that parses back to the same message.
pub fn room_message(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(message) = parse(&text) {
        let again = encode(&message);
        // Canonical forms (e.g. `2:0:0:0:0:1` → `02:00:…`) may grow a body
        // that was at the limit; below it, the round trip must hold.
        if again.len() <= MAX_MESSAGE_BYTES {
            assert_eq!(parse(&again), Ok(message), "round trip of {again}");
        }
    }
}

/// Nicks of the run: two that may start as masters, two members, two people.
const NICKS: [&str; 6] = ["m0", "m1", "a", "b", "evil", "person"];

fn nick(n: u8) -> &'static str {
    NICKS
        .get(usize::from(n) % NICKS.len())
        .copied()
        .unwrap_or("a")
}

/// One step of a room fuzz run.
#[derive(Arbitrary, Debug)]
enum Op {
    /// A node joins (restarting it if it runs; masters restore their grants).
    Join(Join),
    /// A node or person is killed (presence unavailable).
    Kill { who: u8 },
    /// A person enters.
    Person { evil: bool },
    /// A node leaves cleanly.
    Leave { who: u8 },
    /// A person in the room sends a message of its making.
    Forge {
        to: u8,
        evil: bool,
        private: bool,
        body: Body,
    },
    /// The shell reports a link's fate.
    Link { who: u8, peer: u8, up: bool },
    /// Time passes.
    Advance { secs: u8 },
    /// A node's messages are lost (or flow again).
    Mute { who: u8, on: bool },
}

/// How a node (re)starts.
#[derive(Arbitrary, Debug)]
struct Join {
    who: u8,
    master: bool,
    mesh: bool,
    transport: u8,
    endpoint: bool,
}

/// A forged body: mostly well-formed protocol messages.
#[derive(Arbitrary, Debug)]
enum Body {
    Announce { mesh: bool },
    Ask,
    Grant { to: u8, mac: u8, dhcp: bool },
    Peers { mask: u8 },
    Heartbeat,
    Leave,
    Link,
    Raw(String),
}

impl Body {
    fn text(self) -> String {
        let link = LinkInfo::default();
        let message = match self {
            Body::Announce { mesh } => Message::Announce(Announce {
                topology: topology(mesh),
                link,
            }),
            Body::Ask => Message::Ask(Ask { link }),
            Body::Grant { to, mac, dhcp } => Message::Grant(Grant {
                to: nick(to).to_string(),
                macs: vec![MacAddr([0x52, 0x54, 0, 0, 0, mac])],
                subnet: Ipv4Net::new([10, 0, 0, 0].into(), 8).unwrap_or_else(|_| unreachable!()),
                key: NetworkKey([mac; 32]),
                topology: Topology::Mesh,
                dhcp,
                image: None,
            }),
            Body::Peers { mask } => Message::Peers(Peers {
                peers: (0..6u8)
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| PeerInfo {
                        nick: nick(i).to_string(),
                        link: LinkInfo::default(),
                    })
                    .collect(),
            }),
            Body::Heartbeat => Message::Heartbeat,
            Body::Leave => Message::Leave,
            Body::Link => Message::Link(LinkNotice {
                transport: LinkKind::Xmpp,
            }),
            Body::Raw(text) => return text,
        };
        encode(&message)
    }
}

fn topology(mesh: bool) -> Topology {
    if mesh {
        Topology::Mesh
    } else {
        Topology::Star
    }
}

/// What the run checks as actions go by.
#[derive(Default)]
struct Referee {
    /// Last grants snapshot per master.
    persisted: BTreeMap<String, GrantSnapshot>,
    /// The last grant each node applied, with the master it came from.
    applied: BTreeMap<String, (String, Vec<MacAddr>)>,
    /// The first MACs each (master, member) pair saw granted.
    first: BTreeMap<(String, String), Vec<MacAddr>>,
    /// The room's owners when the step began.
    owners: Vec<String>,
}

impl Referee {
    fn observe(&mut self, nick: &str, action: &Action) {
        match action {
            Action::SendGroupchat { body } => {
                assert!(
                    !matches!(parse(body), Ok(Message::Grant(_))),
                    "{nick} sent a grant to the room"
                );
            }
            Action::ApplyGrant { from, grant } => self.applied(nick, from, grant),
            Action::PersistGrants(snapshot) => {
                let json = serde_json::to_string(snapshot).unwrap_or_default();
                let back: Result<GrantSnapshot, _> = serde_json::from_str(&json);
                assert!(
                    back.is_ok_and(|b| MacPool::restore(&b).is_ok()),
                    "{nick}'s grants snapshot does not restore"
                );
                self.persisted.insert(nick.to_string(), snapshot.clone());
            }
            _ => {}
        }
    }

    fn applied(&mut self, nick: &str, from: &str, grant: &Grant) {
        assert!(
            from == nick || self.owners.iter().any(|o| o == from),
            "{nick} applied a grant from {from}, neither itself nor an owner"
        );
        assert_eq!(grant.to, nick, "{nick} applied a grant for {}", grant.to);
        if !is_node(from) {
            return; // a person who owns the room may grant what it likes
        }
        let key = (from.to_string(), nick.to_string());
        let first = self.first.entry(key).or_insert_with(|| grant.macs.clone());
        assert_eq!(*first, grant.macs, "{from} changed {nick}'s MACs");
        for (other, (master, macs)) in &self.applied {
            if other != nick && master == from {
                assert!(
                    macs.iter().all(|m| !grant.macs.contains(m)),
                    "{from} granted {nick} MACs of {other}"
                );
            }
        }
        self.applied
            .insert(nick.to_string(), (from.to_string(), grant.macs.clone()));
    }
}

fn is_node(nick: &str) -> bool {
    !matches!(nick, "evil" | "person")
}

/// The configuration of node `who` (only `m0` and `m1` may be masters).
fn config(who: &str, join: &Join, grants: Option<GrantSnapshot>) -> RoomConfig {
    let subnet = Ipv4Net::new([192, 168, 254, 0].into(), 24).unwrap_or_else(|_| unreachable!());
    RoomConfig {
        room: "lan@conference.localhost".to_string(),
        nick: who.to_string(),
        jid: format!("{who}@localhost"),
        master: (who.starts_with('m') && join.master).then(|| MasterParams {
            subnet,
            topology: topology(join.mesh),
            key: NetworkKey([1; 32]),
            macs_per_member: 2,
            seed: 9,
            grants,
            image: None,
        }),
        master_jid: None,
        link: LinkInfo {
            endpoint: join
                .endpoint
                .then(|| Endpoint::new(&format!("127.0.0.1:{}", 7000 + who.len())).ok())
                .flatten(),
            public_key: None,
            transport: match join.transport % 3 {
                0 => TransportMode::Auto,
                1 => TransportMode::Tcp,
                _ => TransportMode::Xmpp,
            },
        },
    }
}

/// Arbitrary joins, kills, forged messages, link reports and time against
/// master and member machines in one MUC.
///
/// Asserted: the room always settles (no message storm); a machine never
/// asks for a deadline it does not move past; no grant goes to the room; a
/// node applies only grants addressed to it, from itself or from an owner;
/// a master never changes a member's MACs (restarts included: masters
/// restore from their last snapshot) nor grants two members one MAC; every
/// snapshot restores.
pub fn room_machine(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut muc = Muc::new();
    let mut referee = Referee::default();
    let mut steps = 0;
    while !u.is_empty() && steps < 200 {
        steps += 1;
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        referee.owners = muc.owners.iter().cloned().collect();
        let now = muc.now;
        match op {
            Op::Join(join) => {
                let who = nick(join.who);
                if !is_node(who) {
                    continue;
                }
                let grants = referee.persisted.get(who).cloned();
                let Ok(room) = Room::new(config(who, &join, grants), now) else {
                    panic!("{who} refused its own grants snapshot");
                };
                muc.kill(who, &mut |n, a| referee.observe(n, a));
                muc.enter(who, Some(room), &mut |n, a| referee.observe(n, a));
            }
            Op::Kill { who } => muc.kill(nick(who), &mut |n, a| referee.observe(n, a)),
            Op::Person { evil } => {
                let who = if evil { "evil" } else { "person" };
                muc.enter(who, None, &mut |n, a| referee.observe(n, a));
            }
            Op::Leave { who } => {
                if let Some(room) = muc.nodes.get_mut(nick(who)) {
                    room.leave(now);
                }
                muc.pump(&mut |n, a| referee.observe(n, a));
            }
            Op::Forge {
                to,
                evil,
                private,
                body,
            } => {
                let from = if evil { "evil" } else { "person" };
                let delivery = if private {
                    Delivery::Private
                } else {
                    Delivery::Groupchat
                };
                let body = body.text();
                muc.inject(nick(to), from, delivery, &body, &mut |n, a| {
                    referee.observe(n, a)
                });
            }
            Op::Link { who, peer, up } => {
                let event = if up {
                    LinkEvent::Established
                } else {
                    LinkEvent::Failed {
                        reason: "fuzz".to_string(),
                    }
                };
                if let Some(room) = muc.nodes.get_mut(nick(who)) {
                    room.handle_link(now, nick(peer), event);
                }
                muc.pump(&mut |n, a| referee.observe(n, a));
            }
            Op::Advance { secs } => {
                muc.advance(u64::from(secs), &mut |n, a| referee.observe(n, a));
            }
            Op::Mute { who, on } => {
                let who = nick(who).to_string();
                if on {
                    muc.muted.insert(who);
                } else {
                    muc.muted.remove(&who);
                }
            }
        }
        for room in muc.nodes.values() {
            let _ = room.status();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::test_bytes as bytes;

    #[test]
    fn room_machine_survives_pseudo_random_runs() {
        for seed in 0..300 {
            room_machine(&bytes(seed, 2048));
        }
    }

    #[test]
    fn room_machine_survives_edge_inputs() {
        room_machine(&[]);
        room_machine(&[0xff; 4096]);
        room_machine(&[0; 4096]);
    }

    #[test]
    fn room_message_round_trips_samples() {
        for body in [
            "{\"f2f\":1,\"type\":\"grant\",\"to\":\"a\",\"macs\":[\"2:0:0:0:0:1\"],\
             \"subnet\":\"10.0.0.0/8\",\"key\":\"AB00000000000000000000000000000000000000000000000000000000000000\",\
             \"topology\":\"mesh\",\"dhcp\":false,\"extra\":[1,2]}",
            "{\"f2f\":1,\"type\":\"peers\",\"peers\":[{\"nick\":\"\\u00e9\",\"link\":{\"transport\":\"tcp\",\"endpoint\":\"h:1\"}}]}",
            "{\"f2f\":1.0,\"type\":\"heartbeat\"}",
            "[]",
            "",
        ] {
            room_message(body.as_bytes());
        }
        for seed in 0..200 {
            room_message(&bytes(seed, 300));
        }
    }
}
