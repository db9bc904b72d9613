//! A switch-to-switch link's session, sans-IO: the Noise handshake that proves
//! both ends hold the network key, then encrypted records of frames, with
//! keepalive, round-trip time, dead-peer detection and a handshake deadline.
//!
//! The shell owns the TCP stream and a clock. It pushes received bytes with
//! [`Session::handle_input`], takes decrypted frames with
//! [`Session::poll_frames`], hands frames to send as encoded messages
//! ([`wire::push_frame`]) to [`Session::send_messages`], writes whatever
//! [`Session::poll_transmit`] gives, and calls [`Session::handle_timeout`] at
//! [`Session::poll_timeout`]. A session that fails says why ([`LinkError`])
//! and stays failed; the shell closes the stream once the last bytes (a
//! refusal, say) are written, and dials again if it is the dialing side.
//!
//! Security properties (from Noise, see [`crypto`]): only peers holding the
//! network key complete the handshake (a wrong key is refused with
//! [`LinkError::KeyMismatch`] on the responder and
//! [`LinkError::RefusedByPeer`] on the initiator, and no frame passes before
//! that); transport nonces are counters that never repeat, so a replayed,
//! reordered or altered record fails authentication and ends the session
//! ([`LinkError::Tampered`]).
//!
//! Invariants: no frame is returned before the session is up; nothing is sent
//! after a failure except the refusal that explains it; every buffer is
//! bounded by one record ([`wire::MAX_RECORD_BODY`]) plus what the shell
//! queues.

pub mod crypto;
pub mod wire;

use std::collections::VecDeque;

use snow::{HandshakeState, TransportState};

use self::crypto::{SeededResolver, KEY_LEN, PROLOGUE};
use self::wire::{Message, Messages, RecordDecoder, RecordError, RecordKind};
use crate::time::{Duration, Instant};
use crate::wire::offload::VnetHdr;

/// Which end of the TCP connection this session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We dialed: we send the first handshake message.
    Initiator,
    /// We accepted.
    Responder,
}

/// The session's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timers {
    /// Time allowed from the start to an established session.
    pub handshake: Duration,
    /// A ping is sent this often (it also measures the round-trip time).
    pub keepalive: Duration,
    /// A peer silent this long is dead.
    pub dead_after: Duration,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            handshake: Duration::from_secs(5),
            keepalive: Duration::from_secs(1),
            dead_after: Duration::from_secs(5),
        }
    }
}

/// What a session needs to start.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// The network key both ends must hold (the Noise pre-shared key).
    pub network_key: [u8; KEY_LEN],
    /// This node's static secret (`node.key`).
    pub node_secret: [u8; KEY_LEN],
    /// The timers.
    pub timers: Timers,
}

/// What a session is for, said by the initiator inside its last handshake
/// message (encrypted and bound to the network key), so one listening port
/// serves both links and image transfers. An initiator that says nothing
/// wants a link (what every earlier version sends).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Purpose {
    /// A switch-to-switch link carrying frames.
    #[default]
    Link,
    /// An image transfer ([`crate::provision`]): the messages are transfer
    /// messages instead of Ethernet frames.
    Image,
    /// A purpose this version does not know (the payload's first byte).
    Unknown(u8),
}

impl Purpose {
    /// The handshake payload that says this purpose.
    fn payload(self) -> &'static [u8] {
        match self {
            Purpose::Link => &[],
            Purpose::Image => &[2],
            Purpose::Unknown(_) => &[0xff],
        }
    }

    /// The purpose a received handshake payload says.
    fn from_payload(payload: &[u8]) -> Purpose {
        match payload.first() {
            None | Some(1) => Purpose::Link,
            Some(2) => Purpose::Image,
            Some(&c) => Purpose::Unknown(c),
        }
    }
}

/// Why a refusal was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The handshake failed with the refusing side's network key.
    KeyMismatch,
    /// A reason this version does not know.
    Other(u8),
}

impl Refusal {
    fn code(self) -> u8 {
        match self {
            Refusal::KeyMismatch => 1,
            Refusal::Other(c) => c,
        }
    }

    fn from_code(code: u8) -> Refusal {
        match code {
            1 => Refusal::KeyMismatch,
            c => Refusal::Other(c),
        }
    }
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The peer's last handshake message failed authentication with our
    /// network key: it holds another key.
    #[error("key mismatch: the peer does not hold our network key (handshake refused)")]
    KeyMismatch,
    /// The peer refused our handshake.
    #[error("{}", match .0 {
        Refusal::KeyMismatch => "key mismatch: the peer refused our network key".to_string(),
        Refusal::Other(c) => format!("the peer refused the session (reason {c})"),
    })]
    RefusedByPeer(Refusal),
    /// A handshake message we could not process.
    #[error("bad handshake message: {0}")]
    BadHandshake(String),
    /// No established session within the handshake time.
    #[error("handshake timed out after {0:?}")]
    HandshakeTimeout(Duration),
    /// Nothing received for the dead-peer time.
    #[error("peer silent for {0:?}: considered dead")]
    PeerSilent(Duration),
    /// A transport record failed authentication: altered, replayed or
    /// reordered.
    #[error("a record failed authentication (tampered or replayed): session ended")]
    Tampered,
    /// Bytes that are not records, or a record not allowed now.
    #[error("malformed input: {0}")]
    Malformed(#[from] RecordError),
    /// A record of a kind not expected in this state.
    #[error("unexpected {0} record")]
    Unexpected(RecordKind),
    /// The Noise library refused our own settings (a bug, or bad key bytes).
    #[error("cannot set up Noise: {0}")]
    Setup(String),
}

/// What the shell learns from [`Session::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed: frames may flow. The peer's node key.
    Up {
        /// The peer's static public key.
        peer_key: [u8; KEY_LEN],
        /// What the session is for: the initiator's own, or what it said.
        purpose: Purpose,
    },
}

/// Counters and facts for `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// `handshake`, `up` or `failed`.
    pub state: &'static str,
    /// The peer's node key once known.
    pub peer_key: Option<[u8; KEY_LEN]>,
    /// Latest round-trip time measured by a ping.
    pub rtt: Option<Duration>,
    /// Bytes received / sent on the stream (records included).
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Frames received / sent.
    pub frames_in: u64,
    /// Frames sent.
    pub frames_out: u64,
}

/// The state machine; each state holds only what is valid in it.
enum State {
    /// Handshake messages are exchanged until `deadline`; `sent` counts ours.
    Handshake {
        hs: Box<HandshakeState>,
        deadline: Instant,
        sent: u8,
    },
    /// The initiator sent its last message; it waits for the first transport
    /// record, which proves the responder accepted our key.
    Confirming {
        transport: Box<TransportState>,
        peer_key: [u8; KEY_LEN],
        deadline: Instant,
    },
    /// Established.
    Up {
        transport: Box<TransportState>,
        last_rx: Instant,
        next_ping: Instant,
    },
    /// Ended; the reason stays.
    Failed(LinkError),
}

/// One link's session. See the module documentation for how the shell drives
/// it.
pub struct Session {
    decoder: RecordDecoder,
    inner: Inner,
}

/// Everything but the decoder, so a record borrowed from the decoder can be
/// processed against the rest.
struct Inner {
    state: State,
    role: Role,
    /// Ours as initiator; the peer's once its last handshake message is read.
    purpose: Purpose,
    timers: Timers,
    /// Encrypted bytes waiting for the stream.
    out: Vec<u8>,
    /// Decrypted plaintext of the last transport record.
    plain: Vec<u8>,
    /// Our control messages waiting to be sealed (pings, pongs, features).
    control: Vec<u8>,
    /// The feature bits the peer announced (none until its message came).
    peer_features: u32,
    events: VecDeque<Event>,
    stats: LinkStats,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.inner.role)
            .field("stats", &self.inner.stats)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session starting at `now`. `seed` (fresh random bytes from the
    /// shell, never reused) drives the ephemeral keys. The initiator's first
    /// message is ready in [`Session::poll_transmit`] at once.
    pub fn new(
        now: Instant,
        role: Role,
        config: &LinkConfig,
        seed: [u8; KEY_LEN],
    ) -> Result<Session, LinkError> {
        Session::with_purpose(now, role, config, seed, Purpose::Link)
    }

    /// [`Session::new`] for an initiator with another [`Purpose`] than a
    /// link (a responder learns the purpose from the peer: `purpose` is
    /// ignored there).
    pub fn with_purpose(
        now: Instant,
        role: Role,
        config: &LinkConfig,
        seed: [u8; KEY_LEN],
        purpose: Purpose,
    ) -> Result<Session, LinkError> {
        let setup = |e: snow::Error| LinkError::Setup(e.to_string());
        let params = crypto::params().map_err(setup)?;
        let builder = snow::Builder::with_resolver(params, Box::new(SeededResolver::new(seed)))
            .local_private_key(&config.node_secret)
            .map_err(setup)?
            .psk(3, &config.network_key)
            .map_err(setup)?
            .prologue(PROLOGUE)
            .map_err(setup)?;
        let hs = match role {
            Role::Initiator => builder.build_initiator(),
            Role::Responder => builder.build_responder(),
        }
        .map_err(setup)?;
        let mut inner = Inner {
            state: State::Handshake {
                hs: Box::new(hs),
                deadline: now + config.timers.handshake,
                sent: 0,
            },
            role,
            purpose: match role {
                Role::Initiator => purpose,
                Role::Responder => Purpose::Link,
            },
            timers: config.timers,
            out: Vec::new(),
            plain: Vec::new(),
            control: Vec::new(),
            peer_features: 0,
            events: VecDeque::new(),
            stats: LinkStats {
                state: "handshake",
                ..LinkStats::default()
            },
        };
        if role == Role::Initiator {
            inner.write_handshake()?;
        }
        Ok(Session {
            decoder: RecordDecoder::new(),
            inner,
        })
    }

    /// Whether the session is established (frames flow).
    pub fn is_up(&self) -> bool {
        matches!(self.inner.state, State::Up { .. })
    }

    /// Why the session ended, if it did.
    pub fn error(&self) -> Option<&LinkError> {
        match &self.inner.state {
            State::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Which end this session is.
    pub fn role(&self) -> Role {
        self.inner.role
    }

    /// Counters and facts for `status`.
    pub fn stats(&self) -> &LinkStats {
        &self.inner.stats
    }

    /// Bytes received from the stream.
    pub fn handle_input(&mut self, data: &[u8]) {
        self.inner.stats.bytes_in += data.len() as u64;
        self.decoder.push(data);
    }

    /// Process buffered records up to the next one that carries frames:
    /// `Ok(true)` when its frames are ready in [`Session::frames`], `Ok(false)`
    /// once no whole record is left. An error ends the session (it stays
    /// failed; a refusal explaining it may wait in [`Session::poll_transmit`]).
    pub fn poll_frames(&mut self, now: Instant) -> Result<bool, LinkError> {
        self.inner.plain.clear();
        if let State::Failed(e) = &self.inner.state {
            return Err(e.clone());
        }
        loop {
            let max = match self.inner.state {
                State::Handshake { .. } => wire::MAX_HANDSHAKE_RECORD,
                _ => usize::from(u16::MAX),
            };
            let step = match self.decoder.next_record(max) {
                Ok(None) => return Ok(false),
                Ok(Some((kind, body))) => self.inner.handle_record(now, kind, body),
                Err(e) => Err(LinkError::Malformed(e)),
            };
            match step.and_then(|frames| self.inner.flush_control().map(|()| frames)) {
                Ok(true) => return Ok(true),
                Ok(false) => self.inner.plain.clear(),
                Err(e) => {
                    self.inner.plain.clear();
                    return Err(self.inner.fail(e));
                }
            }
        }
    }

    /// The frames of the record [`Session::poll_frames`] last reported.
    pub fn frames(&self) -> Frames<'_> {
        Frames {
            messages: Messages::new(&self.inner.plain),
        }
    }

    /// Whether the peer takes offloaded-frame messages
    /// ([`wire::FEATURE_OFFLOADS`]); false until its features message came.
    pub fn peer_takes_offloads(&self) -> bool {
        self.inner.peer_features & wire::FEATURE_OFFLOADS != 0
    }

    /// Seal `messages` (encoded with [`wire::push_frame`]) into as few
    /// records as fit. Refused unless the session is up.
    pub fn send_messages(&mut self, messages: &[u8]) -> Result<(), LinkError> {
        let inner = &mut self.inner;
        let State::Up { transport, .. } = &mut inner.state else {
            return Err(inner
                .error()
                .unwrap_or(LinkError::Unexpected(RecordKind::Transport)));
        };
        let sealed = seal(transport, &mut inner.out, messages);
        if let Err(e) = sealed {
            return Err(inner.fail(e));
        }
        inner.stats.frames_out += Messages::new(messages)
            .filter(|m| matches!(m, Ok(Message::Frame(_) | Message::Offloaded(..))))
            .count() as u64;
        Ok(())
    }

    /// Append the bytes waiting for the stream to `out` (swapped in when
    /// `out` is empty, so steady traffic copies nothing).
    pub fn poll_transmit(&mut self, out: &mut Vec<u8>) {
        if out.is_empty() {
            std::mem::swap(out, &mut self.inner.out);
        } else {
            out.append(&mut self.inner.out);
        }
    }

    /// Whether bytes wait for the stream.
    pub fn wants_transmit(&self) -> bool {
        !self.inner.out.is_empty()
    }

    /// Record that `n` bytes were written to the stream.
    pub fn count_sent(&mut self, n: usize) {
        self.inner.stats.bytes_out += n as u64;
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.inner.events.pop_front()
    }

    /// When [`Session::handle_timeout`] is due next; `None` once failed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.inner.state {
            State::Handshake { deadline, .. } | State::Confirming { deadline, .. } => {
                Some(*deadline)
            }
            State::Up {
                last_rx, next_ping, ..
            } => Some((*next_ping).min(*last_rx + self.inner.timers.dead_after)),
            State::Failed(_) => None,
        }
    }

    /// Run the timers due at `now`: handshake deadline, keepalive pings,
    /// dead-peer detection. Harmless when early or late.
    pub fn handle_timeout(&mut self, now: Instant) -> Result<(), LinkError> {
        let inner = &mut self.inner;
        let timers = inner.timers;
        let failure = match &mut inner.state {
            State::Failed(e) => return Err(e.clone()),
            State::Handshake { deadline, .. } | State::Confirming { deadline, .. } => {
                (now >= *deadline).then_some(LinkError::HandshakeTimeout(timers.handshake))
            }
            State::Up {
                last_rx, next_ping, ..
            } => {
                if now >= *last_rx + timers.dead_after {
                    Some(LinkError::PeerSilent(
                        now.saturating_duration_since(*last_rx),
                    ))
                } else {
                    if now >= *next_ping {
                        *next_ping = now + timers.keepalive;
                        wire::push_control(&mut inner.control, Message::Ping(now.total_micros()));
                    }
                    None
                }
            }
        };
        match failure.map_or_else(|| inner.flush_control(), Err) {
            Ok(()) => Ok(()),
            Err(e) => Err(inner.fail(e)),
        }
    }
}

impl Inner {
    fn error(&self) -> Option<LinkError> {
        match &self.state {
            State::Failed(e) => Some(e.clone()),
            _ => None,
        }
    }

    fn fail(&mut self, e: LinkError) -> LinkError {
        if let State::Failed(first) = &self.state {
            return first.clone();
        }
        self.state = State::Failed(e.clone());
        self.stats.state = "failed";
        self.control.clear();
        e
    }

    /// Handle one record; `Ok(true)` when it left frames in `self.plain`.
    fn handle_record(
        &mut self,
        now: Instant,
        kind: RecordKind,
        body: &[u8],
    ) -> Result<bool, LinkError> {
        match kind {
            RecordKind::Refusal => Err(LinkError::RefusedByPeer(Refusal::from_code(
                body.first().copied().unwrap_or(0),
            ))),
            RecordKind::Handshake => self.read_handshake(now, body).map(|()| false),
            RecordKind::Transport => self.read_transport(now, body),
        }
    }

    /// Write our next handshake message; move on when it was the last.
    fn write_handshake(&mut self) -> Result<(), LinkError> {
        let State::Handshake { hs, sent, .. } = &mut self.state else {
            return Err(LinkError::Unexpected(RecordKind::Handshake));
        };
        let mut msg = [0u8; wire::MAX_HANDSHAKE_RECORD];
        // The initiator's second message (the third of XX) is encrypted and
        // authenticated: it carries the purpose.
        let payload = match (self.role, *sent) {
            (Role::Initiator, 1) => self.purpose.payload(),
            _ => &[],
        };
        let n = hs
            .write_message(payload, &mut msg)
            .map_err(|e| LinkError::Setup(e.to_string()))?;
        wire::push_record_header(&mut self.out, RecordKind::Handshake, n);
        self.out.extend_from_slice(msg.get(..n).unwrap_or(&[]));
        *sent += 1;
        if hs.is_handshake_finished() {
            self.finish_handshake(None)?;
        }
        Ok(())
    }

    fn read_handshake(&mut self, now: Instant, body: &[u8]) -> Result<(), LinkError> {
        let State::Handshake { hs, sent, .. } = &mut self.state else {
            return Err(LinkError::Unexpected(RecordKind::Handshake));
        };
        let mut payload = [0u8; wire::MAX_HANDSHAKE_RECORD];
        let read = hs.read_message(body, &mut payload);
        if let Err(e) = &read {
            // The responder's second read is the message that mixes in the
            // network key: its failure means the initiator holds another key.
            // Say so to the peer before closing.
            if self.role == Role::Responder && *sent > 0 {
                wire::push_record_header(&mut self.out, RecordKind::Refusal, 1);
                self.out.push(Refusal::KeyMismatch.code());
                return Err(LinkError::KeyMismatch);
            }
            return Err(LinkError::BadHandshake(e.to_string()));
        }
        if hs.is_handshake_finished() {
            let said = read.ok().and_then(|n| payload.get(..n)).unwrap_or(&[]);
            self.purpose = Purpose::from_payload(said);
            self.finish_handshake(Some(now))
        } else if hs.is_my_turn() {
            self.write_handshake()
        } else {
            Ok(())
        }
    }

    /// The handshake is complete: the responder (`now` given) is up and
    /// confirms with a ping; the initiator waits for that confirmation.
    fn finish_handshake(&mut self, now: Option<Instant>) -> Result<(), LinkError> {
        let placeholder = State::Failed(LinkError::Unexpected(RecordKind::Handshake));
        let State::Handshake { hs, deadline, .. } = std::mem::replace(&mut self.state, placeholder)
        else {
            return Err(LinkError::Unexpected(RecordKind::Handshake));
        };
        let mut peer_key = [0u8; KEY_LEN];
        match hs.get_remote_static() {
            Some(k) if k.len() == KEY_LEN => peer_key.copy_from_slice(k),
            _ => return Err(LinkError::BadHandshake("no peer static key".to_string())),
        }
        let transport = Box::new(
            hs.into_transport_mode()
                .map_err(|e| LinkError::Setup(e.to_string()))?,
        );
        self.stats.peer_key = Some(peer_key);
        self.state = match now {
            Some(now) => {
                self.up(peer_key);
                wire::push_control(&mut self.control, Message::Ping(now.total_micros()));
                State::Up {
                    transport,
                    last_rx: now,
                    next_ping: now + self.timers.keepalive,
                }
            }
            None => State::Confirming {
                transport,
                peer_key,
                deadline,
            },
        };
        Ok(())
    }

    fn up(&mut self, peer_key: [u8; KEY_LEN]) {
        self.stats.state = "up";
        self.events.push_back(Event::Up {
            peer_key,
            purpose: self.purpose,
        });
        if self.purpose == Purpose::Link {
            wire::push_control(&mut self.control, Message::Features(wire::FEATURE_OFFLOADS));
        }
    }

    fn read_transport(&mut self, now: Instant, body: &[u8]) -> Result<bool, LinkError> {
        let transport = match &mut self.state {
            State::Confirming { transport, .. } | State::Up { transport, .. } => transport,
            _ => return Err(LinkError::Unexpected(RecordKind::Transport)),
        };
        self.plain.resize(body.len(), 0);
        let n = transport
            .read_message(body, &mut self.plain)
            .map_err(|_| LinkError::Tampered)?;
        self.plain.truncate(n);
        let placeholder = State::Failed(LinkError::Tampered);
        self.state = match std::mem::replace(&mut self.state, placeholder) {
            State::Confirming {
                transport,
                peer_key,
                ..
            } => {
                self.up(peer_key);
                State::Up {
                    transport,
                    last_rx: now,
                    next_ping: now + self.timers.keepalive,
                }
            }
            State::Up {
                transport,
                next_ping,
                ..
            } => State::Up {
                transport,
                last_rx: now,
                next_ping,
            },
            other => other,
        };
        let mut frames = false;
        for m in Messages::new(&self.plain) {
            match m? {
                Message::Frame(_) | Message::Offloaded(..) => {
                    frames = true;
                    self.stats.frames_in += 1;
                }
                Message::Features(bits) => self.peer_features = bits,
                Message::Ping(token) => {
                    wire::push_control(&mut self.control, Message::Pong(token));
                }
                Message::Pong(token) => {
                    let sent = Instant::from_micros(token);
                    if sent <= now {
                        self.stats.rtt = Some(now.saturating_duration_since(sent));
                    }
                }
                Message::Unknown(_) => {}
            }
        }
        Ok(frames)
    }

    /// Seal pending control messages, once up.
    fn flush_control(&mut self) -> Result<(), LinkError> {
        if self.control.is_empty() {
            return Ok(());
        }
        let State::Up { transport, .. } = &mut self.state else {
            return Ok(());
        };
        let sealed = seal(transport, &mut self.out, &self.control);
        self.control.clear();
        sealed
    }
}

/// Encrypt `messages` into transport records appended to `out`, cutting at
/// message boundaries so every record fits.
fn seal(
    transport: &mut TransportState,
    out: &mut Vec<u8>,
    messages: &[u8],
) -> Result<(), LinkError> {
    let mut rest = messages;
    while !rest.is_empty() {
        let n = wire::fitting_prefix(rest, wire::MAX_PLAINTEXT)?;
        let (chunk, tail) = rest.split_at_checked(n).unwrap_or((rest, &[]));
        if chunk.is_empty() {
            return Err(LinkError::Malformed(RecordError::TooLong {
                len: rest.len(),
                max: wire::MAX_PLAINTEXT,
            }));
        }
        let start = out.len();
        out.resize(start + wire::RECORD_HEADER_LEN + n + wire::TAG_LEN, 0);
        let Some((head, body)) = out.split_at_mut_checked(start + wire::RECORD_HEADER_LEN) else {
            return Err(LinkError::Setup("record buffer".to_string()));
        };
        let len = transport
            .write_message(chunk, body)
            .map_err(|e| LinkError::Setup(e.to_string()))?;
        if let Some(h) = head.get_mut(start..) {
            h.copy_from_slice(&wire::record_header(RecordKind::Transport, len));
        }
        out.truncate(start + wire::RECORD_HEADER_LEN + len);
        rest = tail;
    }
    Ok(())
}

/// The frames of one decrypted record, each with its virtio-net header
/// (the default, plain one for ordinary frames).
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    messages: Messages<'a>,
}

impl<'a> Iterator for Frames<'a> {
    type Item = (VnetHdr, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        self.messages.by_ref().find_map(|m| match m {
            Ok(Message::Frame(f)) => Some((VnetHdr::default(), f)),
            Ok(Message::Offloaded(hdr, f)) => Some((hdr, f)),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests;
