//! The room protocol of `f2f-overlay join`: who is master, what each member
//! is granted, and who links to whom, as one sans-IO machine ([`Room`]).
//!
//! The shell joins an XMPP multi-user chat and feeds the machine what it sees
//! there: occupants' presence ([`Room::handle_presence`]), message bodies
//! ([`Room::handle_message`]), the fate of the links it was told to make
//! ([`Room::handle_link`]) and the time ([`Room::handle_timeout`] at
//! [`Room::poll_timeout`]). It executes the [`Action`]s the machine queues
//! ([`Room::poll_action`]): send a message, bring a link up or down, apply a
//! grant, persist the master's grants, log a line. The machine never touches
//! a socket, a clock or a file.
//!
//! # The protocol
//! Control messages are JSON bodies ([`message`]) in the room: groupchat for
//! what everyone may read, MUC private messages (`room/nick`, type chat) for
//! what one occupant needs (spec/xmpp-transport.md §5). Senders are nicks: the
//! server stamps them, so a nick cannot be forged, but anyone in the room can
//! send anything, so every message is checked against who sent it.
//!
//! 1. The master (`--master`) creates the room, so it is the room's owner. When
//!    it has joined it grants itself (its switch serves DHCP), sends `announce`
//!    to the room, and sends `announce` privately to every occupant who joins
//!    later.
//! 2. A member that hears `announce` from a master it trusts replies `ask`
//!    privately, with how to reach its switch ([`LinkInfo`]).
//! 3. The master answers with a private `grant` (MACs, subnet, network key,
//!    topology, DHCP off) and sends `peers` to the room: every granted member
//!    present and how to reach it. Grants carrying the key are never sent to
//!    the room.
//! 4. Every node wires itself from `peers` (see [`wiring`]) and sends
//!    `heartbeat` to the room every [`HEARTBEAT_INTERVAL`].
//!
//! # Trust
//! A member follows only a master that is the room's owner (the MUC
//! affiliation every occupant sees in presence), or, with `--master-jid`, the
//! occupant whose real JID (visible in non-anonymous rooms) is that JID. It
//! ignores, with a log line naming the reason, `announce`, `grant` and `peers`
//! from anyone else, grants addressed to another nick, and grants sent to the
//! whole room.
//!
//! # Grants
//! MACs come from one room-wide pool ([`pool`]): locally administered unicast
//! addresses `52:54:P:P:I:I`, prefix `P:P` derived from a seed the shell
//! injects, index `I:I` never reused, so no two members ever share one.
//! Grants are keyed by member identity: the real bare JID when the master sees
//! it (the owner does in a semi-anonymous room), else `nick:NICK`. The same
//! JID gets the same grant when it rejoins, and across master restarts through
//! [`GrantSnapshot`] (the shell stores it atomically in `rooms/ROOM/`).
//!
//! # Two masters
//! When two nodes started with `--master` meet in one room, the outcome is
//! fixed: the room's owner wins; between two owners or two non-owners, the
//! lower nick in byte order wins. The loser logs why, drops its master role
//! ([`Action::RoleChanged`]), keeps its stored grants untouched, and asks the
//! winner like any member (if it trusts the winner by the rules above).
//!
//! # Leaving and liveness
//! An occupant that leaves (presence unavailable, a `leave` message, or
//! [`MISSED_HEARTBEATS`] heartbeats missed) has its links torn down. When the
//! master goes, members report it ([`Action::MasterLost`]), keep their grant
//! and every existing link to other members, and ask again when it returns.
//! When we drop out of the room ourselves (the stream to the server broke,
//! the server restarted), links stay; back in, members and the master missing
//! from the fresh presence list keep their links until the heartbeat deadline,
//! since they may be reconnecting too.

use crate::time::Duration;

pub mod message;
pub mod pool;
pub mod wiring;

mod machine;
mod master;
#[cfg(any(test, fuzzing, feature = "fuzzing"))]
pub(crate) mod sim;

pub use self::machine::Room;
pub use self::message::{
    encode, parse, Endpoint, Grant, LinkInfo, LinkKind, Message, NetworkKey, RoomError, Topology,
    TransportMode,
};
pub use self::pool::{GrantRecord, GrantSnapshot};

use crate::dhcp::Ipv4Net;

/// How often every node sends `heartbeat` to the room (spec/xmpp-transport.md §5).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// Heartbeats a node may miss before it counts as gone.
pub const MISSED_HEARTBEATS: u32 = 3;

/// How long after a failed link the machine asks for it again.
pub const LINK_RETRY: Duration = Duration::from_secs(10);

/// The room's subnet when `--subnet` is not given (spec/cli.md).
pub const DEFAULT_SUBNET: &str = "192.168.254.0/24";

/// MAC addresses granted to each member when the shell does not say.
pub const DEFAULT_MACS_PER_MEMBER: u8 = 4;

/// What the machine needs to know about this node.
#[derive(Clone, Debug)]
pub struct RoomConfig {
    /// The room's bare JID, `room@conference.host` (for status and logs).
    pub room: String,
    /// Our nick in the room.
    pub nick: String,
    /// Our own bare JID (`--jid`).
    pub jid: String,
    /// Set with `--master`: the room's parameters.
    pub master: Option<MasterParams>,
    /// `--master-jid`: follow only the occupant with this real bare JID.
    pub master_jid: Option<String>,
    /// How to reach our switch (`--advertise`, link key, `--transport`).
    pub link: LinkInfo,
}

/// The room's parameters, held by the master.
#[derive(Clone, Debug)]
pub struct MasterParams {
    /// The room's subnet (`--subnet`, default [`DEFAULT_SUBNET`]).
    pub subnet: Ipv4Net,
    /// The room's wiring (`--topology`).
    pub topology: Topology,
    /// The network key links prove.
    pub key: NetworkKey,
    /// MACs granted to each new member, 1 to [`message::MAX_MACS`].
    pub macs_per_member: u8,
    /// Seed of the MAC pool's prefix, from the shell's randomness (ignored
    /// when `grants` is given: the snapshot keeps its prefix, so a master's
    /// addresses never change across restarts).
    pub seed: u64,
    /// Grants stored by an earlier run, if any.
    pub grants: Option<GrantSnapshot>,
    /// The base image offered in every grant, if any.
    pub image: Option<crate::provision::ImageOffer>,
}

/// One occupant of the room as its presence shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Occupant {
    /// Its nick (`room/nick`).
    pub nick: String,
    /// Its MUC affiliation.
    pub affiliation: Affiliation,
    /// Its MUC role.
    pub role: MucRole,
    /// Its real JID, when the room shows it to us (full or bare).
    pub jid: Option<String>,
}

/// MUC affiliation (XEP-0045 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Affiliation {
    /// The room's owner (its creator).
    Owner,
    /// An administrator.
    Admin,
    /// A registered member.
    Member,
    /// No affiliation.
    None,
    /// Banned.
    Outcast,
}

/// MUC role (XEP-0045 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MucRole {
    /// Moderator.
    Moderator,
    /// Participant.
    Participant,
    /// Visitor (may not speak).
    Visitor,
    /// No role (not in the room).
    None,
}

/// A change in the room's presence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presence {
    /// An occupant is in the room, or its affiliation or role changed. Our own
    /// presence (our nick, status 110) means we have joined.
    Available(Occupant),
    /// An occupant left (presence unavailable). Our own nick means we are out
    /// of the room (e.g. the XMPP stream is reconnecting).
    Unavailable {
        /// Its nick.
        nick: String,
    },
}

/// How a message reached us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// To the whole room (type groupchat).
    Groupchat,
    /// To us alone (a MUC private message, type chat).
    Private,
}

/// What became of a link the machine asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// The link is up and carries frames.
    Established,
    /// The link could not be made, or broke.
    Failed {
        /// Why, for the log.
        reason: String,
    },
}

/// How to make one link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkTransport {
    /// A direct TCP link.
    Tcp {
        /// Dial this endpoint; `None`: the peer dials us (our `--listen`).
        dial: Option<Endpoint>,
    },
    /// Frames as XMPP stanzas to the peer's `room/nick`.
    Xmpp,
}

impl LinkTransport {
    /// The transport's kind.
    pub fn kind(&self) -> LinkKind {
        match self {
            LinkTransport::Tcp { .. } => LinkKind::Tcp,
            LinkTransport::Xmpp => LinkKind::Xmpp,
        }
    }
}

/// This node's part in the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeRole {
    /// It grants parameters and serves DHCP.
    Master,
    /// It follows a master.
    Member,
}

/// How loud a log line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Routine detail (e.g. people chatting in the room).
    Debug,
    /// A state change worth seeing.
    Info,
    /// Something ignored or refused.
    Warn,
}

/// What the shell must do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send `body` to the whole room (type groupchat).
    SendGroupchat {
        /// The JSON body.
        body: String,
    },
    /// Send `body` to one occupant (a MUC private message to `room/nick`).
    SendPrivate {
        /// The occupant.
        nick: String,
        /// The JSON body.
        body: String,
    },
    /// Make a link to a peer (replacing any link to it).
    LinkUp {
        /// The peer's nick.
        peer: String,
        /// How.
        transport: LinkTransport,
        /// The peer's static link public key, if it advertised one.
        public_key: Option<String>,
    },
    /// Tear down the link to a peer.
    LinkDown {
        /// The peer's nick.
        peer: String,
        /// Why, for the log.
        reason: String,
    },
    /// Configure the switch from a grant (MACs, subnet, key, topology, DHCP).
    ApplyGrant {
        /// The master's nick.
        from: String,
        /// The grant.
        grant: Grant,
    },
    /// Store the master's grants (atomically, in the state dir's `rooms/ROOM/`).
    PersistGrants(GrantSnapshot),
    /// Our role changed (a master that lost to another became a member).
    RoleChanged(NodeRole),
    /// The master we followed left the room or stopped sending heartbeats.
    /// Existing links stay.
    MasterLost {
        /// Its nick.
        nick: String,
        /// Why.
        reason: String,
    },
    /// A line for the log.
    Log {
        /// How loud.
        level: LogLevel,
        /// The line, naming the occupant and the reason.
        message: String,
    },
}

#[cfg(test)]
mod tests;
