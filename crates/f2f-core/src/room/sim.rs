//! An in-memory multi-user chat for [`Room`] machines (unit tests and fuzz
//! targets): presence in join order (others first, our own last, as XEP-0045
//! §7.2.3 orders it), groupchat to every occupant (the sender included, as a
//! MUC echoes it), private messages to one nick, scripted time.
//!
//! The first occupant creates the room and stays its owner when it returns.
//! Real JIDs are visible to the owner only (a semi-anonymous room) unless
//! `non_anonymous`. Every action a machine queues is shown to an observer
//! before the MUC routes the messages among them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{Action, Affiliation, Delivery, MucRole, Occupant, Presence, Room};
use crate::time::{Duration, Instant};

/// Most messages and actions moved by one [`Muc::pump`]; a room that does
/// not settle within it is in a message storm.
pub(crate) const PUMP_LIMIT: usize = 10_000;

/// One message in flight.
#[derive(Debug)]
pub(crate) struct Delivered {
    pub(crate) to: String,
    pub(crate) from: String,
    pub(crate) delivery: Delivery,
    pub(crate) body: String,
}

/// The room: machines, occupants, messages in flight.
#[derive(Debug)]
pub(crate) struct Muc {
    pub(crate) now: Instant,
    /// The machines, by nick (occupants without one are people).
    pub(crate) nodes: BTreeMap<String, Room>,
    /// Occupants in join order, with their affiliation.
    pub(crate) occupants: Vec<(String, Affiliation)>,
    /// Nicks the room lists as owners.
    pub(crate) owners: BTreeSet<String>,
    /// Every occupant sees real JIDs.
    pub(crate) non_anonymous: bool,
    /// Nodes whose messages the server drops (a silent network loss).
    pub(crate) muted: BTreeSet<String>,
    pub(crate) queue: VecDeque<Delivered>,
}

impl Muc {
    pub(crate) fn new() -> Muc {
        Muc {
            now: Instant::from_secs(1000),
            nodes: BTreeMap::new(),
            occupants: Vec::new(),
            owners: BTreeSet::new(),
            non_anonymous: false,
            muted: BTreeSet::new(),
            queue: VecDeque::new(),
        }
    }

    /// The affiliation of `nick` (none when absent).
    pub(crate) fn affiliation(&self, nick: &str) -> Affiliation {
        self.occupants
            .iter()
            .find(|(n, _)| n == nick)
            .map_or(Affiliation::None, |(_, a)| *a)
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

    /// `nick` enters, with `machine` when it is a node (else a person).
    /// Nothing happens when it is already in the room.
    pub(crate) fn enter(
        &mut self,
        nick: &str,
        machine: Option<Room>,
        observe: &mut dyn FnMut(&str, &Action),
    ) {
        if self.occupants.iter().any(|(n, _)| n == nick) {
            return;
        }
        if self.owners.is_empty() {
            self.owners.insert(nick.to_string());
        }
        let affiliation = if self.owners.contains(nick) {
            Affiliation::Owner
        } else {
            Affiliation::None
        };
        self.occupants.push((nick.to_string(), affiliation));
        let now = self.now;
        for viewer in self.node_nicks() {
            let occ = self.occupant(&viewer, nick);
            if let Some(room) = self.nodes.get_mut(&viewer) {
                room.handle_presence(now, Presence::Available(occ));
            }
        }
        if let Some(mut room) = machine {
            for (other, _) in self.occupants.iter().filter(|(n, _)| n != nick) {
                room.handle_presence(now, Presence::Available(self.occupant(nick, other)));
            }
            room.handle_presence(now, Presence::Available(self.occupant(nick, nick)));
            self.nodes.insert(nick.to_string(), room);
        }
        self.pump(observe);
    }

    /// `nick` disappears without a goodbye (killed): presence unavailable.
    pub(crate) fn kill(&mut self, nick: &str, observe: &mut dyn FnMut(&str, &Action)) {
        self.nodes.remove(nick);
        self.occupants.retain(|(n, _)| n != nick);
        let now = self.now;
        for room in self.nodes.values_mut() {
            let nick = nick.to_string();
            room.handle_presence(now, Presence::Unavailable { nick });
        }
        self.pump(observe);
    }

    /// A message as the server would deliver it, then everything it causes.
    pub(crate) fn inject(
        &mut self,
        to: &str,
        from: &str,
        delivery: Delivery,
        body: &str,
        observe: &mut dyn FnMut(&str, &Action),
    ) {
        let now = self.now;
        if let Some(room) = self.nodes.get_mut(to) {
            room.handle_message(now, from, delivery, body);
        }
        self.pump(observe);
    }

    /// Time passes by `secs`, every deadline delivered on time. Panics when
    /// a machine asks for a deadline it does not move past.
    pub(crate) fn advance(&mut self, secs: u64, observe: &mut dyn FnMut(&str, &Action)) {
        let end = self.now + Duration::from_secs(secs);
        for _ in 0..PUMP_LIMIT {
            let next = self.nodes.values().filter_map(Room::poll_timeout).min();
            let Some(next) = next.filter(|t| *t <= end) else {
                break;
            };
            self.now = self.now.max(next);
            let now = self.now;
            for (nick, room) in &mut self.nodes {
                room.handle_timeout(now);
                if let Some(t) = room.poll_timeout() {
                    assert!(t > now, "{nick} asks for {t:?} again at {now:?}");
                }
            }
            self.pump(observe);
        }
        self.now = self.now.max(end);
    }

    /// Moves actions and messages until nothing moves; panics on a storm.
    pub(crate) fn pump(&mut self, observe: &mut dyn FnMut(&str, &Action)) {
        for _ in 0..PUMP_LIMIT {
            for nick in self.node_nicks() {
                while let Some(action) = self.nodes.get_mut(&nick).and_then(Room::poll_action) {
                    observe(&nick, &action);
                    self.route(&nick, action);
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
        panic!("the room never settles: a message storm");
    }

    fn route(&mut self, from: &str, action: Action) {
        if self.muted.contains(from) {
            return;
        }
        match action {
            Action::SendGroupchat { body } => {
                for (to, _) in &self.occupants {
                    self.queue.push_back(Delivered {
                        to: to.clone(),
                        from: from.to_string(),
                        delivery: Delivery::Groupchat,
                        body: body.clone(),
                    });
                }
            }
            Action::SendPrivate { nick, body }
                if self.occupants.iter().any(|(n, _)| *n == nick) =>
            {
                self.queue.push_back(Delivered {
                    to: nick,
                    from: from.to_string(),
                    delivery: Delivery::Private,
                    body,
                });
            }
            _ => {}
        }
    }

    fn node_nicks(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }
}
