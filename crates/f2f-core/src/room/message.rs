//! Room control messages: versioned JSON bodies a person can read in any XMPP
//! client.
//!
//! Every message is one JSON object with the protocol version `"f2f":1` and a
//! `"type"`, e.g.
//!
//! ```text
//! {"f2f":1,"type":"announce","topology":"star","link":{"endpoint":"198.51.100.7:7000","transport":"auto"}}
//! {"f2f":1,"type":"ask","link":{"transport":"auto"}}
//! {"f2f":1,"type":"grant","to":"bob","macs":["52:54:9e:31:00:01"],"subnet":"192.168.254.0/24","key":"00…","topology":"star","dhcp":false}
//! {"f2f":1,"type":"peers","peers":[{"nick":"alice","link":{"transport":"auto"}}]}
//! {"f2f":1,"type":"heartbeat"}
//! {"f2f":1,"type":"leave"}
//! {"f2f":1,"type":"link","transport":"xmpp"}
//! ```
//!
//! [`parse`] is the only way in from the network: it bounds the size
//! ([`MAX_MESSAGE_BYTES`]), checks the version and the type, and validates
//! every field (lengths, counts, MAC kinds, key length), so a [`Message`] in
//! hand is always one [`encode`] can write back and [`parse`] accepts again.
//! Unknown fields are ignored (a newer peer may add some); unknown types and
//! versions are refused with an error naming them.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::dhcp::Ipv4Net;
use crate::mac::MacAddr;
use crate::provision::ImageOffer;

/// The protocol version this code speaks (the `"f2f"` field).
pub const VERSION: u64 = 1;

/// Largest message body accepted, bytes. A `peers` message of
/// [`MAX_PEERS`] entries with every field at its limit fits.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// Longest nick, endpoint or public key, bytes.
pub const MAX_FIELD_BYTES: usize = 128;

/// Most MAC addresses in one grant.
pub const MAX_MACS: usize = 16;

/// Most peers in one `peers` message (and so in one room).
pub const MAX_PEERS: usize = 64;

/// The message types this version knows, as they appear in `"type"`.
pub const TYPES: [&str; 7] = [
    "announce",
    "ask",
    "grant",
    "peers",
    "heartbeat",
    "leave",
    "link",
];

/// One room control message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// From the master, to the room (groupchat) or to one joining occupant
    /// (private): "I am this room's master; ask me for a grant".
    Announce(Announce),
    /// From a member to the master (private): "grant me parameters"; carries
    /// how to reach the member's switch.
    Ask(Ask),
    /// From the master to one member (private only: it carries the network
    /// key): the member's parameters.
    Grant(Grant),
    /// From the master to the room (groupchat): the granted members present
    /// and how to reach them. Holds no secret.
    Peers(Peers),
    /// From every node to the room (groupchat) every
    /// [`HEARTBEAT_INTERVAL`](super::HEARTBEAT_INTERVAL): "still here".
    Heartbeat,
    /// From a node leaving cleanly, to the room (groupchat).
    Leave,
    /// From one node to a peer (private): "our link now uses this transport"
    /// (sent when `auto` falls back from TCP to XMPP).
    Link(LinkNotice),
}

/// The master's announcement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announce {
    /// The room's wiring.
    pub topology: Topology,
    /// How to reach the master's switch.
    pub link: LinkInfo,
}

/// A member's request for a grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ask {
    /// How to reach the member's switch.
    pub link: LinkInfo,
}

/// The parameters the master grants one member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The nick the grant is for; a member ignores a grant for another nick.
    pub to: String,
    /// The member's MAC addresses (its tap's first), unique in the room.
    pub macs: Vec<MacAddr>,
    /// The room's IPv4 subnet, e.g. `192.168.254.0/24`.
    #[serde(with = "net_text")]
    pub subnet: Ipv4Net,
    /// The network key every link must prove.
    pub key: NetworkKey,
    /// The room's wiring.
    pub topology: Topology,
    /// Whether this member's switch serves DHCP (only the master's does).
    pub dhcp: bool,
    /// The base image the master offers (`join --serve-image`), fetched
    /// over a direct connection by members started with `--vm room:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageOffer>,
}

/// The master's list of granted members present.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peers {
    /// One entry per member, the master included, by nick.
    pub peers: Vec<PeerInfo>,
}

/// One granted member in a [`Peers`] message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The member's nick in the room.
    pub nick: String,
    /// How to reach its switch.
    pub link: LinkInfo,
}

/// A transport switch for one link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkNotice {
    /// The transport the sender now uses for its link with the receiver.
    pub transport: LinkKind,
}

/// How a node's switch can be reached, as it advertises it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInfo {
    /// Where it accepts direct TCP links (`--advertise`), if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// Its static link public key, if its links use one (opaque text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Which transports it accepts (`--transport`).
    pub transport: TransportMode,
}

/// The room's wiring (`--topology`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topology {
    /// Every member links to the master.
    #[default]
    Star,
    /// Every pair of members links; spanning tree removes the loops.
    Mesh,
}

/// Which transports a node accepts for its links (`--transport`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransportMode {
    /// Direct TCP when a side is reachable, else (or when TCP fails) XMPP.
    #[default]
    Auto,
    /// Direct TCP only.
    Tcp,
    /// Frames through the XMPP server only.
    Xmpp,
}

/// The transport of one link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// A direct TCP link.
    Tcp,
    /// Frames as XMPP stanzas to the peer's `room/nick`.
    Xmpp,
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Topology::Star => "star",
            Topology::Mesh => "mesh",
        })
    }
}

impl fmt::Display for TransportMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportMode::Auto => "auto",
            TransportMode::Tcp => "tcp",
            TransportMode::Xmpp => "xmpp",
        })
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkKind::Tcp => "tcp",
            LinkKind::Xmpp => "xmpp",
        })
    }
}

/// A `host:port` where a switch accepts direct links (`--advertise`): at most
/// [`MAX_FIELD_BYTES`], a non-empty host, a port 1..=65535.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Endpoint(String);

impl Endpoint {
    /// The endpoint `text`, checked.
    pub fn new(text: &str) -> Result<Endpoint, String> {
        if text.len() > MAX_FIELD_BYTES {
            return Err(format!("endpoint longer than {MAX_FIELD_BYTES} bytes"));
        }
        let bad = || format!("endpoint {text:?} is not HOST:PORT");
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        match port.parse::<u16>() {
            Ok(p) if p != 0 && !port.starts_with('+') => Ok(Endpoint(text.to_string())),
            _ => Err(bad()),
        }
    }

    /// The `host:port` text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Endpoint {
    type Error = String;
    fn try_from(s: String) -> Result<Endpoint, String> {
        Endpoint::new(&s)
    }
}

impl From<Endpoint> for String {
    fn from(e: Endpoint) -> String {
        e.0
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The room's network key: 32 bytes every link proves it knows, written as 64
/// lowercase hex digits in a grant. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NetworkKey(pub [u8; 32]);

impl TryFrom<String> for NetworkKey {
    type Error = String;
    fn try_from(s: String) -> Result<NetworkKey, String> {
        crate::hex::decode32(&s)
            .map(NetworkKey)
            .ok_or_else(|| "key is not 64 hex digits".to_string())
    }
}

impl From<NetworkKey> for String {
    fn from(k: NetworkKey) -> String {
        crate::hex::encode(&k.0)
    }
}

impl fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NetworkKey(..)")
    }
}

/// Why a message body was refused. Each variant says what was wrong, so the
/// log line that reports an ignored message is enough to act on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoomError {
    /// Over [`MAX_MESSAGE_BYTES`].
    #[error("message of {len} bytes is over the {max}-byte limit")]
    Oversized {
        /// The body's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not JSON at all (usually people chatting in the room).
    #[error("not JSON: {reason}")]
    NotJson {
        /// The JSON parser's complaint.
        reason: String,
    },
    /// JSON, but not an object with an `"f2f"` version field.
    #[error("JSON but not an f2f message (no \"f2f\" version field)")]
    NotProtocol,
    /// A protocol version this code does not speak.
    #[error("unsupported protocol version {version} (this node speaks {VERSION})")]
    UnknownVersion {
        /// The `"f2f"` value as sent.
        version: String,
    },
    /// A `"type"` this version does not know.
    #[error("unknown message type {kind:?}")]
    UnknownType {
        /// The `"type"` value as sent.
        kind: String,
    },
    /// A known type with a missing or invalid field.
    #[error("invalid {kind} message: {reason}")]
    Invalid {
        /// The message type (`?` when `"type"` itself is missing or not a string).
        kind: String,
        /// What is wrong, naming the field.
        reason: String,
    },
}

/// Parses one message body received from the room.
///
/// Checks in order: size, JSON syntax, the version field, the type, then the
/// fields of that type (see [`RoomError`] for each refusal).
pub fn parse(body: &str) -> Result<Message, RoomError> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(RoomError::Oversized {
            len: body.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| RoomError::NotJson {
        reason: e.to_string(),
    })?;
    let version = value.get("f2f").ok_or(RoomError::NotProtocol)?;
    if version.as_u64() != Some(VERSION) {
        return Err(RoomError::UnknownVersion {
            version: version.to_string(),
        });
    }
    let kind = match value.get("type") {
        Some(serde_json::Value::String(kind)) => kind.clone(),
        _ => {
            return Err(RoomError::Invalid {
                kind: "?".to_string(),
                reason: "missing or non-string field `type`".to_string(),
            })
        }
    };
    if !TYPES.contains(&kind.as_str()) {
        return Err(RoomError::UnknownType { kind });
    }
    let invalid = |reason: String| RoomError::Invalid {
        kind: kind.clone(),
        reason,
    };
    let message = Message::deserialize(value).map_err(|e| invalid(e.to_string()))?;
    message.validate().map_err(invalid)?;
    Ok(message)
}

/// Writes `message` as one line of JSON, version and type first.
pub fn encode(message: &Message) -> String {
    #[derive(Serialize)]
    struct Envelope<'a> {
        f2f: u64,
        #[serde(flatten)]
        message: &'a Message,
    }
    let envelope = Envelope {
        f2f: VERSION,
        message,
    };
    // Serializing plain data with string keys into a String cannot fail.
    serde_json::to_string(&envelope).unwrap_or_default()
}

impl Message {
    /// The `"type"` this message is sent as.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Announce(_) => "announce",
            Message::Ask(_) => "ask",
            Message::Grant(_) => "grant",
            Message::Peers(_) => "peers",
            Message::Heartbeat => "heartbeat",
            Message::Leave => "leave",
            Message::Link(_) => "link",
        }
    }

    /// Field checks serde cannot express; the error names the field.
    fn validate(&self) -> Result<(), String> {
        match self {
            Message::Announce(a) => a.link.validate(),
            Message::Ask(a) => a.link.validate(),
            Message::Grant(g) => {
                check_nick("to", &g.to)?;
                if g.macs.is_empty() || g.macs.len() > MAX_MACS {
                    return Err(format!("`macs` must hold 1 to {MAX_MACS} addresses"));
                }
                if let Some(m) = g.macs.iter().find(|m| m.is_multicast()) {
                    return Err(format!("`macs` holds the group address {m}"));
                }
                g.image.as_ref().map_or(Ok(()), ImageOffer::validate)
            }
            Message::Peers(p) => {
                if p.peers.len() > MAX_PEERS {
                    return Err(format!("`peers` holds more than {MAX_PEERS} entries"));
                }
                p.peers.iter().try_for_each(|peer| {
                    check_nick("nick", &peer.nick)?;
                    peer.link.validate()
                })
            }
            Message::Heartbeat | Message::Leave | Message::Link(_) => Ok(()),
        }
    }
}

impl LinkInfo {
    /// The public key's bounds (the endpoint checks itself when parsed).
    fn validate(&self) -> Result<(), String> {
        match &self.public_key {
            Some(k) if k.is_empty() || k.len() > MAX_FIELD_BYTES || !is_printable(k) => Err(
                format!("`public_key` must be 1 to {MAX_FIELD_BYTES} printable ASCII characters"),
            ),
            _ => Ok(()),
        }
    }
}

/// True when `nick` is usable as a nick in room messages: 1 to
/// [`MAX_FIELD_BYTES`] bytes, no control characters.
pub fn valid_nick(nick: &str) -> bool {
    !nick.is_empty() && nick.len() <= MAX_FIELD_BYTES && !nick.chars().any(char::is_control)
}

fn check_nick(field: &str, nick: &str) -> Result<(), String> {
    if valid_nick(nick) {
        Ok(())
    } else {
        Err(format!(
            "`{field}` must be 1 to {MAX_FIELD_BYTES} bytes without control characters"
        ))
    }
}

fn is_printable(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
}

/// Subnets as `A.B.C.D/N` text in the JSON.
mod net_text {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::dhcp::Ipv4Net;

    pub fn serialize<S: Serializer>(net: &Ipv4Net, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(net)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ipv4Net, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
