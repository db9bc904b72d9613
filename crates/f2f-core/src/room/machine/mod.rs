//! The [`Room`] machine: one node's view of the room and what it does about it.
//!
//! State: the occupants (with liveness), the master we follow (or our own
//! [`Authority`]), our grant, the roster of granted members and how to reach
//! them, and our links. Every input ends in [`Room::reconcile`], which
//! compares the links we want ([`wiring::wanted`]) with the links we have and
//! queues the difference as [`Action::LinkUp`]/[`Action::LinkDown`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::master::{bare_jid, identity, Authority};
use super::message::{
    encode, parse, Announce, Ask, Grant, LinkInfo, LinkKind, LinkNotice, Message, PeerInfo, Peers,
    RoomError,
};
use super::pool::PoolError;
use super::wiring;
use super::{
    Action, Affiliation, Delivery, LinkEvent, LinkTransport, LogLevel, NodeRole, Occupant,
    Presence, RoomConfig, HEARTBEAT_INTERVAL, LINK_RETRY, MISSED_HEARTBEATS,
};
use crate::status::{RoomGrantStatus, RoomLinkStatus, RoomPeerStatus, RoomStatus};
use crate::time::Instant;

mod messages;

/// Most occupants tracked; presence beyond that is ignored with a log line.
pub const MAX_OCCUPANTS: usize = 1024;
/// Ignored messages logged one by one per sender; after that only every
/// [`IGNORED_LOG_EVERY`]th, so a flood of bad messages cannot flood the log.
pub const IGNORED_LOGGED: u64 = 20;
/// See [`IGNORED_LOGGED`].
pub const IGNORED_LOG_EVERY: u64 = 1000;

/// One node in a room: master or member (see the [module docs](super)).
#[derive(Debug)]
pub struct Room {
    config: RoomConfig,
    /// Our authority while we are the master.
    authority: Option<Authority>,
    /// Our own presence, once we have joined.
    me: Option<Occupant>,
    joined: bool,
    /// Every other occupant, by nick.
    occupants: BTreeMap<String, Node>,
    /// Occupants known before we dropped out of the room whose presence has
    /// not come again since (cleared when we are back in).
    unconfirmed: BTreeSet<String>,
    /// The master we follow (members only).
    master: Option<String>,
    /// The last master we followed, to ask again when it comes back.
    last_master: Option<String>,
    /// Our grant, once applied.
    grant: Option<Grant>,
    /// Granted members (not us) and how to reach them.
    roster: BTreeMap<String, LinkInfo>,
    links: BTreeMap<String, Link>,
    /// Peers we cannot link to, already logged.
    unlinkable: BTreeSet<String>,
    /// Messages ignored so far, by sender (at most [`MAX_OCCUPANTS`] senders).
    ignored: BTreeMap<String, u64>,
    next_heartbeat: Option<Instant>,
    actions: VecDeque<Action>,
}

/// An occupant and when we last heard from it.
#[derive(Debug)]
struct Node {
    occupant: Occupant,
    last_heard: Instant,
    /// False after [`MISSED_HEARTBEATS`] missed; any message revives it.
    alive: bool,
}

/// A link we asked the shell for.
#[derive(Debug)]
struct Link {
    transport: LinkTransport,
    public_key: Option<String>,
    state: LinkState,
}

impl Link {
    /// Move this link to the XMPP transport; the action asks the shell for it.
    fn move_to_xmpp(&mut self, peer: &str) -> Action {
        self.transport = LinkTransport::Xmpp;
        self.state = LinkState::Pending;
        Action::LinkUp {
            peer: peer.to_string(),
            transport: LinkTransport::Xmpp,
            public_key: self.public_key.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    Pending,
    Up,
    Failed { retry_at: Instant },
}

impl Room {
    /// A node that has not joined yet. With `config.master` it starts as the
    /// master and applies its own grant at once (its switch serves DHCP); a
    /// grants snapshot that cannot be restored is refused.
    /// `now` is the time of creation.
    pub fn new(mut config: RoomConfig, _now: Instant) -> Result<Room, PoolError> {
        let authority = config.master.take().map(Authority::new).transpose()?;
        let mut room = Room {
            config,
            authority,
            me: None,
            joined: false,
            occupants: BTreeMap::new(),
            unconfirmed: BTreeSet::new(),
            master: None,
            last_master: None,
            grant: None,
            roster: BTreeMap::new(),
            links: BTreeMap::new(),
            unlinkable: BTreeSet::new(),
            ignored: BTreeMap::new(),
            next_heartbeat: None,
            actions: VecDeque::new(),
        };
        room.grant_self();
        Ok(room)
    }

    /// A presence change in the room (ours included: our nick's
    /// [`Presence::Available`] means we have joined).
    pub fn handle_presence(&mut self, now: Instant, presence: Presence) {
        match presence {
            Presence::Available(occ) if occ.nick == self.config.nick => self.self_joined(now, occ),
            Presence::Available(occ) => self.occupant_available(now, occ),
            Presence::Unavailable { nick } if nick == self.config.nick => {
                // Out of the room (e.g. reconnecting): presence will be sent
                // afresh on rejoin; links stay meanwhile, and the occupants
                // we knew wait to be confirmed.
                self.joined = false;
                self.next_heartbeat = None;
                self.unconfirmed = self.occupants.keys().cloned().collect();
                self.log(LogLevel::Info, "we are out of the room".to_string());
            }
            Presence::Unavailable { nick } => self.depart(&nick, "left the room"),
        }
    }

    /// A message body from occupant `from` (its nick), to the room or to us.
    /// Our own groupchat echo is ignored; anything malformed, from an unknown
    /// occupant or from someone not entitled to send it is ignored with a
    /// log line saying why.
    pub fn handle_message(&mut self, now: Instant, from: &str, delivery: Delivery, body: &str) {
        if from == self.config.nick {
            return;
        }
        let message = match parse(body) {
            Ok(m) => m,
            Err(e) => {
                let level = match e {
                    RoomError::NotJson { .. } | RoomError::NotProtocol => LogLevel::Debug,
                    _ => LogLevel::Warn,
                };
                return self.log_ignored(level, from, format!("ignored message from {from}: {e}"));
            }
        };
        let Some(node) = self.occupants.get_mut(from) else {
            return self.ignore(&message, from, "it is not an occupant we know".to_string());
        };
        node.last_heard = now;
        if !node.alive {
            node.alive = true;
            self.revive(from);
        }
        match message {
            Message::Announce(a) => self.on_announce(from, a),
            Message::Ask(a) => self.on_ask(from, a),
            Message::Grant(g) => self.on_grant(from, delivery, g),
            Message::Peers(p) => self.on_peers(from, p),
            Message::Heartbeat => {}
            Message::Leave => self.depart(from, "said goodbye"),
            Message::Link(n) => self.on_link_notice(from, n),
        }
    }

    /// The fate of the link to `peer` asked for with [`Action::LinkUp`].
    ///
    /// A failed TCP link between two `auto` nodes moves to XMPP (and tells the
    /// peer); any other failure is retried after [`LINK_RETRY`].
    pub fn handle_link(&mut self, now: Instant, peer: &str, event: LinkEvent) {
        let fallback = self
            .roster
            .get(peer)
            .is_some_and(|theirs| wiring::falls_back(&self.config.link, theirs));
        let Some(link) = self.links.get_mut(peer) else {
            return self.log(
                LogLevel::Debug,
                format!("ignored link event for {peer}: no link to it was asked for"),
            );
        };
        match event {
            LinkEvent::Established => {
                link.state = LinkState::Up;
                let kind = link.transport.kind();
                self.log(LogLevel::Info, format!("{kind} link to {peer} is up"));
            }
            LinkEvent::Failed { reason } if fallback && link.transport.kind() == LinkKind::Tcp => {
                let up = link.move_to_xmpp(peer);
                self.log(
                    LogLevel::Info,
                    format!("tcp link to {peer} failed ({reason}); falling back to xmpp"),
                );
                self.actions.push_back(up);
                let notice = Message::Link(LinkNotice {
                    transport: LinkKind::Xmpp,
                });
                self.send_private(peer, &notice);
            }
            LinkEvent::Failed { reason } => {
                link.state = LinkState::Failed {
                    retry_at: now + LINK_RETRY,
                };
                let kind = link.transport.kind();
                self.log(
                    LogLevel::Warn,
                    format!(
                        "{kind} link to {peer} failed ({reason}); retrying in {} s",
                        LINK_RETRY.as_secs()
                    ),
                );
            }
        }
    }

    /// When [`Room::handle_timeout`] should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let retries = self.links.values().filter_map(|l| match l.state {
            LinkState::Failed { retry_at } => Some(retry_at),
            _ => None,
        });
        let deaths = self.watched().filter_map(|nick| self.death_of(nick));
        self.next_heartbeat
            .into_iter()
            .chain(retries)
            .chain(deaths)
            .min()
    }

    /// Time has reached `now`: heartbeats, dead peers, link retries. Early or
    /// repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(due) = self.next_heartbeat.filter(|t| *t <= now) {
            self.send_groupchat(&Message::Heartbeat);
            let next = due + HEARTBEAT_INTERVAL;
            self.next_heartbeat = Some(if next > now {
                next
            } else {
                now + HEARTBEAT_INTERVAL
            });
        }
        let dead: Vec<String> = self
            .watched()
            .filter(|nick| self.death_of(nick).is_some_and(|t| t <= now))
            .map(str::to_string)
            .collect();
        for nick in dead {
            self.died(&nick);
        }
        let mut retry = Vec::new();
        for (peer, link) in &mut self.links {
            if matches!(link.state, LinkState::Failed { retry_at } if retry_at <= now) {
                link.state = LinkState::Pending;
                retry.push(Action::LinkUp {
                    peer: peer.clone(),
                    transport: link.transport.clone(),
                    public_key: link.public_key.clone(),
                });
            }
        }
        self.actions.extend(retry);
    }

    /// We are leaving the room cleanly: sends `leave` and takes every link down.
    pub fn leave(&mut self, _now: Instant) {
        if self.joined {
            self.send_groupchat(&Message::Leave);
        }
        self.joined = false;
        self.next_heartbeat = None;
        for peer in std::mem::take(&mut self.links).into_keys() {
            self.actions.push_back(Action::LinkDown {
                peer,
                reason: "we are leaving the room".to_string(),
            });
        }
    }

    /// The next thing for the shell to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Our current role.
    pub fn role(&self) -> NodeRole {
        if self.authority.is_some() {
            NodeRole::Master
        } else {
            NodeRole::Member
        }
    }

    /// The room section of `status`.
    pub fn status(&self) -> RoomStatus {
        let master = self.master_nick().map(str::to_string);
        let mut members = vec![self.config.jid.clone()];
        members.extend(self.present_roster().map(|nick| {
            self.occupants
                .get(nick)
                .and_then(|n| n.occupant.jid.as_deref())
                .map_or_else(|| nick.to_string(), bare_jid)
        }));
        let peers = self
            .occupants
            .iter()
            .map(|(nick, node)| RoomPeerStatus {
                nick: nick.clone(),
                jid: node.occupant.jid.clone(),
                affiliation: affiliation_name(node.occupant.affiliation).to_string(),
                master: master.as_deref() == Some(nick.as_str()),
                granted: self.roster.contains_key(nick),
                macs: self
                    .authority
                    .as_ref()
                    .and_then(|a| a.macs_of(&identity(&node.occupant)))
                    .map(<[_]>::to_vec)
                    .unwrap_or_default(),
                link: self.links.get(nick).map(Link::status),
            })
            .collect();
        RoomStatus {
            room: self.config.room.clone(),
            members,
            nick: self.config.nick.clone(),
            role: match self.role() {
                NodeRole::Master => "master",
                NodeRole::Member => "member",
            }
            .to_string(),
            master,
            grant: self.grant.as_ref().map(|g| RoomGrantStatus {
                macs: g.macs.clone(),
                subnet: g.subnet.to_string(),
                topology: g.topology.to_string(),
                dhcp: g.dhcp,
            }),
            peers,
        }
    }
}

/// Presence.
impl Room {
    fn self_joined(&mut self, now: Instant, me: Occupant) {
        let affiliation = me.affiliation;
        self.me = Some(me);
        if self.joined {
            return;
        }
        self.joined = true;
        self.next_heartbeat = Some(now + HEARTBEAT_INTERVAL);
        self.log(LogLevel::Info, format!("joined {}", self.config.room));
        self.await_unconfirmed(now);
        // Whoever left while we were out is not in the fresh presence list.
        let gone: Vec<String> = self
            .roster
            .keys()
            .chain(self.master.iter())
            .filter(|n| !self.occupants.contains_key(*n))
            .cloned()
            .collect();
        for nick in gone {
            self.depart(&nick, "left while we were out of the room");
        }
        if let Some(authority) = &self.authority {
            let announce = Message::Announce(Announce {
                topology: authority.topology(),
                link: self.config.link.clone(),
            });
            if affiliation != Affiliation::Owner {
                self.log(
                    LogLevel::Warn,
                    format!(
                        "we are the master but not the room's owner (affiliation {}): members \
                         follow us only when started with --master-jid {}",
                        affiliation_name(affiliation),
                        self.config.jid
                    ),
                );
            }
            self.send_groupchat(&announce);
            self.broadcast_peers();
        } else if let Some(master) = self.last_master.clone() {
            self.ask_again(&master);
        }
        self.reconcile("no longer wired to it");
    }

    /// Back in the room after dropping out: occupants not in the fresh
    /// presence list may simply not be back yet (the server restarted and
    /// they reconnect too). Members and the master keep their links and get
    /// the heartbeat deadline to show up; anyone else is gone.
    fn await_unconfirmed(&mut self, now: Instant) {
        let watched: BTreeSet<String> = self.watched().map(str::to_string).collect();
        for nick in std::mem::take(&mut self.unconfirmed) {
            if !watched.contains(&nick) {
                self.depart(&nick, "left while we were out of the room");
            } else if let Some(node) = self.occupants.get_mut(&nick) {
                node.last_heard = now;
                self.log(
                    LogLevel::Info,
                    format!(
                        "{nick} is not back in the room yet; keeping its link for up to {} s",
                        (HEARTBEAT_INTERVAL * MISSED_HEARTBEATS).as_secs()
                    ),
                );
            }
        }
    }

    fn occupant_available(&mut self, now: Instant, occ: Occupant) {
        let nick = occ.nick.clone();
        self.unconfirmed.remove(&nick);
        if let Some(node) = self.occupants.get_mut(&nick) {
            node.occupant = occ;
            return;
        }
        if !super::message::valid_nick(&nick) {
            return self.log(
                LogLevel::Warn,
                "ignored an occupant with an unusable nick".into(),
            );
        }
        if self.occupants.len() >= MAX_OCCUPANTS {
            return self.log(
                LogLevel::Warn,
                format!("ignored occupant {nick}: already tracking {MAX_OCCUPANTS}"),
            );
        }
        self.occupants.insert(
            nick.clone(),
            Node {
                occupant: occ,
                last_heard: now,
                alive: true,
            },
        );
        if self.joined {
            self.announce_to(&nick);
        }
    }

    /// `nick` is gone (left, said goodbye, or we were out when it left).
    fn depart(&mut self, nick: &str, why: &str) {
        self.occupants.remove(nick);
        self.unconfirmed.remove(nick);
        self.ignored.remove(nick);
        self.unlinkable.remove(nick);
        let was_member = self.roster.remove(nick).is_some();
        self.forget(nick, was_member, why);
    }

    /// `nick` missed its heartbeats: treated as gone until it speaks again.
    fn died(&mut self, nick: &str) {
        if let Some(node) = self.occupants.get_mut(nick) {
            node.alive = false;
        }
        let why = format!("missed {MISSED_HEARTBEATS} heartbeats");
        self.log(LogLevel::Warn, format!("{nick} {why}"));
        // A master drops it from the roster (it asks again when it is back);
        // a member keeps its entry so the link returns with it.
        let was_member = self.authority.is_some() && self.roster.remove(nick).is_some();
        self.forget(nick, was_member, &why);
    }

    /// Tells the room when a master's roster lost `nick`, vacates the
    /// master's seat if it held it, then rewires.
    fn forget(&mut self, nick: &str, was_member: bool, why: &str) {
        if was_member && self.authority.is_some() {
            self.broadcast_peers();
        }
        if self.master.as_deref() == Some(nick) {
            self.master = None;
            self.actions.push_back(Action::MasterLost {
                nick: nick.to_string(),
                reason: why.to_string(),
            });
            self.log(
                LogLevel::Warn,
                format!("master {nick} {why}; keeping our grant and existing links"),
            );
        }
        self.reconcile(&format!("{nick} {why}"));
    }

    /// `nick` spoke after being counted dead.
    fn revive(&mut self, nick: &str) {
        self.log(LogLevel::Info, format!("{nick} is back"));
        if self.authority.is_some() {
            self.announce_to(nick);
        } else if self.master.is_none() && self.last_master.as_deref() == Some(nick) {
            self.ask_again(nick);
        }
        self.reconcile("no longer wired to it");
    }

    /// A master tells a newcomer (or a revenant) who it is.
    fn announce_to(&mut self, nick: &str) {
        if let Some(authority) = &self.authority {
            let announce = Message::Announce(Announce {
                topology: authority.topology(),
                link: self.config.link.clone(),
            });
            self.send_private(nick, &announce);
        }
    }

    /// Asks `master` again, if it is here and we still trust it.
    fn ask_again(&mut self, master: &str) {
        if self.trusts(master).is_ok() {
            self.master = Some(master.to_string());
            let ask = Message::Ask(Ask {
                link: self.config.link.clone(),
            });
            self.send_private(master, &ask);
        }
    }
}

/// Wiring, trust, sending.
impl Room {
    /// The master grants itself at start: the same MACs on every run.
    fn grant_self(&mut self) {
        let member = bare_jid(&self.config.jid);
        let Some(authority) = &mut self.authority else {
            return;
        };
        match authority.grant(&member, &self.config.nick, true) {
            Ok((grant, new)) => {
                if new {
                    self.actions
                        .push_back(Action::PersistGrants(authority.snapshot()));
                }
                self.grant = Some(grant.clone());
                self.actions.push_back(Action::ApplyGrant {
                    from: self.config.nick.clone(),
                    grant,
                });
            }
            Err(e) => self.log(LogLevel::Warn, format!("cannot grant ourselves: {e}")),
        }
    }

    /// Brings the links in line with what the wiring wants; links no longer
    /// wanted go down with `why`.
    fn reconcile(&mut self, why: &str) {
        if !self.joined {
            return;
        }
        let want = match &self.grant {
            None => BTreeSet::new(),
            Some(g) => wiring::wanted(
                g.topology,
                &self.config.nick,
                self.master_nick(),
                self.present_roster(),
            ),
        };
        let unwanted: Vec<String> = self
            .links
            .keys()
            .filter(|p| !want.contains(*p))
            .cloned()
            .collect();
        for peer in unwanted {
            self.links.remove(&peer);
            self.actions.push_back(Action::LinkDown {
                peer,
                reason: why.to_string(),
            });
        }
        for peer in want {
            if self.links.contains_key(&peer) {
                continue;
            }
            let Some(theirs) = self.roster.get(&peer) else {
                continue;
            };
            match wiring::transport(&self.config.nick, &self.config.link, &peer, theirs) {
                Ok(transport) => {
                    let public_key = theirs.public_key.clone();
                    self.unlinkable.remove(&peer);
                    self.actions.push_back(Action::LinkUp {
                        peer: peer.clone(),
                        transport: transport.clone(),
                        public_key: public_key.clone(),
                    });
                    let link = Link {
                        transport,
                        public_key,
                        state: LinkState::Pending,
                    };
                    self.links.insert(peer, link);
                }
                Err(why) => {
                    if self.unlinkable.insert(peer.clone()) {
                        self.log(LogLevel::Warn, format!("no link to {peer}: {why}"));
                    }
                }
            }
        }
    }

    /// The master's nick: ours while we are master, else the one we follow.
    fn master_nick(&self) -> Option<&str> {
        if self.authority.is_some() {
            Some(&self.config.nick)
        } else {
            self.master.as_deref()
        }
    }

    /// Granted members in the room and alive.
    fn present_roster(&self) -> impl Iterator<Item = &str> {
        self.roster
            .keys()
            .filter(|n| self.occupants.get(*n).is_some_and(|o| o.alive))
            .map(String::as_str)
    }

    /// Nodes whose heartbeats we watch: granted members and our master.
    fn watched(&self) -> impl Iterator<Item = &str> {
        self.present_roster().chain(
            self.master
                .as_deref()
                .filter(|m| !self.roster.contains_key(*m)),
        )
    }

    /// When `nick` counts as dead if it stays silent.
    fn death_of(&self, nick: &str) -> Option<Instant> {
        let node = self.occupants.get(nick).filter(|n| n.alive)?;
        Some(node.last_heard + HEARTBEAT_INTERVAL * MISSED_HEARTBEATS)
    }

    /// Why we would not follow `nick` as master, if we would not.
    fn trusts(&self, nick: &str) -> Result<(), String> {
        let Some(node) = self.occupants.get(nick) else {
            return Err("it is not in the room".to_string());
        };
        let occ = &node.occupant;
        match (&self.config.master_jid, &occ.jid) {
            (Some(pinned), Some(jid)) if bare_jid(jid) == bare_jid(pinned) => Ok(()),
            (Some(pinned), Some(jid)) => Err(format!(
                "its JID {} is not the pinned master {pinned}",
                bare_jid(jid)
            )),
            (Some(pinned), None) => Err(format!(
                "the room hides its JID, so it cannot be checked against --master-jid {pinned}"
            )),
            (None, _) if occ.affiliation == Affiliation::Owner => Ok(()),
            (None, _) => Err(format!(
                "it is not the room's owner (affiliation {})",
                affiliation_name(occ.affiliation)
            )),
        }
    }

    /// True when `a` beats `b` as master: the owner wins, then the lower nick.
    fn outranks(&self, a: &str, b: &str) -> bool {
        let rank = |nick: &str| {
            let affiliation = if nick == self.config.nick {
                self.me.as_ref().map(|m| m.affiliation)
            } else {
                self.occupants.get(nick).map(|n| n.occupant.affiliation)
            };
            (affiliation != Some(Affiliation::Owner), nick.to_string())
        };
        rank(a) < rank(b)
    }

    fn broadcast_peers(&mut self) {
        if !self.joined {
            return;
        }
        let mut peers = vec![PeerInfo {
            nick: self.config.nick.clone(),
            link: self.config.link.clone(),
        }];
        peers.extend(self.roster.iter().map(|(nick, link)| PeerInfo {
            nick: nick.clone(),
            link: link.clone(),
        }));
        self.send_groupchat(&Message::Peers(Peers { peers }));
    }

    fn send_groupchat(&mut self, message: &Message) {
        self.actions.push_back(Action::SendGroupchat {
            body: encode(message),
        });
    }

    fn send_private(&mut self, nick: &str, message: &Message) {
        self.actions.push_back(Action::SendPrivate {
            nick: nick.to_string(),
            body: encode(message),
        });
    }

    fn ignore(&mut self, message: &Message, from: &str, why: String) {
        self.ignore_kind(message.kind(), from, &why);
    }

    fn ignore_kind(&mut self, kind: &str, from: &str, why: &str) {
        self.log_ignored(
            LogLevel::Warn,
            from,
            format!("ignored {kind} from {from}: {why}"),
        );
    }

    /// Logs that a message from `from` was ignored: the first
    /// [`IGNORED_LOGGED`] of each sender, then every [`IGNORED_LOG_EVERY`]th
    /// with the count.
    fn log_ignored(&mut self, level: LogLevel, from: &str, line: String) {
        let tracked = self.ignored.len() < MAX_OCCUPANTS || self.ignored.contains_key(from);
        let n = if tracked {
            let n = self.ignored.entry(from.to_string()).or_insert(0);
            *n += 1;
            *n
        } else {
            IGNORED_LOG_EVERY
        };
        if n < IGNORED_LOGGED {
            self.log(level, line);
        } else if n == IGNORED_LOGGED {
            self.log(
                level,
                format!("{line} (from now on only every {IGNORED_LOG_EVERY}th is logged)"),
            );
        } else if n % IGNORED_LOG_EVERY == 0 {
            self.log(level, format!("{line} ({n} ignored from {from} so far)"));
        }
    }

    fn log(&mut self, level: LogLevel, message: String) {
        self.actions.push_back(Action::Log { level, message });
    }
}

impl Link {
    fn status(&self) -> RoomLinkStatus {
        let (transport, dial) = match &self.transport {
            LinkTransport::Tcp { dial } => ("tcp", dial.as_ref().map(ToString::to_string)),
            LinkTransport::Xmpp => ("xmpp", None),
        };
        RoomLinkStatus {
            transport: transport.to_string(),
            dial,
            state: match self.state {
                LinkState::Pending => "pending",
                LinkState::Up => "up",
                LinkState::Failed { .. } => "failed",
            }
            .to_string(),
        }
    }
}

fn affiliation_name(a: Affiliation) -> &'static str {
    match a {
        Affiliation::Owner => "owner",
        Affiliation::Admin => "admin",
        Affiliation::Member => "member",
        Affiliation::None => "none",
        Affiliation::Outcast => "outcast",
    }
}
