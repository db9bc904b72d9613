//! The one task that owns the XMPP stream (tokio-xmpp's `StanzaStream`,
//! never split, never shared: spec/xmpp-transport.md §3) and everything that
//! goes through it: joining the room (again after every stream reset),
//! presences and control messages to and from the room's [`RoomHandler`],
//! and the XMPP links' frames in both directions. All sends happen in the
//! branches of one `select!`.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use f2f_core::room::Affiliation;
use f2f_core::wire::xmpp::{encode_frame, ELEMENT, NS};
use futures::StreamExt;
use tokio::sync::Notify;
use tokio_xmpp::jid::{BareJid, Jid};
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::{Lang, Message, MessageType};
use tokio_xmpp::stanzastream::{Event, StanzaStream, StreamEvent};
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::Stanza;
use tracing::{debug, info, warn};

use super::connect::Connector;
use super::muc::{self, RoomPresence};
use crate::datapath::Scratch;
use crate::ports::xmpp::XmppLinks;

/// Stanzas queued inside the stream in each direction.
const STREAM_QUEUE: usize = 64;
/// How long the first login may take (the preflight already succeeded).
const ONLINE_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the room handler's timers and the links' meters run.
const TICK: Duration = Duration::from_millis(500);
/// Largest control message body read; longer ones are ignored.
pub const MAX_BODY: usize = 64 * 1024;
/// How long another occupant's departure is held back before the handler
/// hears of it: a server shutting down sends every occupant's departure just
/// before our own stream breaks, and those are dropped, not acted on.
const DEPARTURE_HOLD: Duration = Duration::from_secs(2);

/// Something to send to the room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// A groupchat message with this body, to everyone.
    Group(String),
    /// A private message with this body to one occupant.
    Private {
        /// The occupant's nickname.
        nick: String,
        /// The text.
        body: String,
    },
}

/// The room protocol's side of the session: it hears what happens in the
/// room and says what to send.
pub trait RoomHandler {
    /// Our join completed (after every reconnect too).
    fn on_joined(&mut self) -> Vec<Outbound>;
    /// An occupant's presence (ours included).
    fn on_presence(&mut self, presence: RoomPresence) -> Vec<Outbound>;
    /// A control message from occupant `nick`, `private` or to the room.
    fn on_message(&mut self, nick: &str, private: bool, body: &str) -> Vec<Outbound>;
    /// Timers (every [`TICK`]).
    fn on_tick(&mut self) -> Vec<Outbound>;
    /// The stream to the server was lost and is being re-established.
    fn on_disconnected(&mut self);
    /// We are the room's master (and, as its owner, keep the room).
    fn is_master(&self) -> bool;
}

/// Who we are and where.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// How to reach the server.
    pub connector: Connector,
    /// Our account.
    pub jid: BareJid,
    /// Its password.
    pub password: String,
    /// The room.
    pub room: BareJid,
    /// Our nickname in it.
    pub nick: String,
}

/// Log in, join the room and serve it until `shutdown` is notified; then
/// leave the room and close the stream.
pub async fn run(
    cfg: SessionConfig,
    links: std::sync::Arc<XmppLinks>,
    handler: &mut dyn RoomHandler,
    shutdown: &Notify,
) -> Result<()> {
    let mut stream = StanzaStream::new_c2s(
        cfg.connector.clone(),
        Jid::from(cfg.jid.clone()),
        cfg.password.clone(),
        Timeouts::tight(),
        STREAM_QUEUE,
    );
    // The first Reset is the login; the stream never reports failure itself.
    let online = tokio::time::timeout(ONLINE_TIMEOUT, async {
        while let Some(ev) = stream.next().await {
            if let Event::Stream(StreamEvent::Reset { bound_jid, .. }) = ev {
                return Some(bound_jid);
            }
        }
        None
    })
    .await;
    let bound = match online {
        Ok(Some(jid)) => jid,
        Ok(None) => bail!(
            "the XMPP stream to {} ended during login",
            cfg.connector.addr()
        ),
        Err(_) => bail!(
            "no XMPP session with {} within {}s",
            cfg.connector.addr(),
            ONLINE_TIMEOUT.as_secs()
        ),
    };
    info!(jid = %bound, server = cfg.connector.addr(), tls = cfg.connector.is_tls(), "logged in");
    send_join(&stream, &cfg).await?;

    let own_from = cfg
        .room
        .with_resource_str(&cfg.nick)
        .context("the nickname is not valid in a JID")?;
    let mut scratch = Scratch::default();
    let mut held = HeldDepartures::default();
    let mut tick = tokio::time::interval(TICK);
    let result = loop {
        tokio::select! {
            ev = stream.next() => {
                let Some(ev) = ev else { break Ok(()) };
                let out = match ev {
                    Event::Stream(StreamEvent::Reset { bound_jid, .. }) => {
                        info!(jid = %bound_jid, "XMPP stream re-established: joining the room again");
                        handler.on_disconnected();
                        send_join(&stream, &cfg).await?;
                        Vec::new()
                    }
                    Event::Stream(StreamEvent::Suspended) => {
                        warn!("XMPP stream interrupted; reconnecting");
                        held.discard();
                        Vec::new()
                    }
                    Event::Stream(StreamEvent::Resumed) => Vec::new(),
                    Event::Stanza(Stanza::Presence(p)) => match muc::parse(&cfg.room, &p) {
                        Some(RoomPresence::Here { occupant, own: true }) => {
                            let owner = occupant.affiliation == Affiliation::Owner;
                            let mut out = handler.on_presence(RoomPresence::Here { occupant, own: true });
                            out.extend(handler.on_joined());
                            if owner && handler.is_master() {
                                keep_room(&stream, &cfg).await;
                            }
                            out
                        }
                        Some(RoomPresence::NickConflict) => {
                            break Err(anyhow::anyhow!(
                                "the nickname {} is taken in {}: is this account joined elsewhere?",
                                cfg.nick, cfg.room
                            ));
                        }
                        Some(RoomPresence::Refused(why)) => {
                            break Err(anyhow::anyhow!("the room {} refused our join: {why}", cfg.room));
                        }
                        Some(RoomPresence::Left { nick, own: false }) => {
                            held.hold(nick);
                            Vec::new()
                        }
                        Some(other) => {
                            let mut out = held.release_nick(other_nick(&other), handler);
                            out.extend(handler.on_presence(other));
                            out
                        }
                        None => Vec::new(),
                    },
                    Event::Stanza(Stanza::Message(m)) => {
                        on_message(&cfg, &own_from, m, &links, handler, &mut scratch)
                    }
                    Event::Stanza(_) => Vec::new(),
                };
                send_all(&stream, &cfg, out).await?;
            }
            () = links.ready() => {
                for (nick, frames) in links.take_batches() {
                    let Ok(to) = cfg.room.with_resource_str(&nick) else { continue };
                    let mut msg = Message::new_with_type(MessageType::Chat, Some(Jid::from(to)));
                    msg.payloads = frames
                        .iter()
                        .map(|f| Element::builder(ELEMENT, NS).append(encode_frame(f)).build())
                        .collect();
                    stream.send(Box::new(msg.into())).await;
                }
                if links.pending() {
                    links.rearm();
                }
            }
            _ = tick.tick() => {
                links.measure();
                let mut out = held.release_due(handler);
                out.extend(handler.on_tick());
                send_all(&stream, &cfg, out).await?;
            }
            () = shutdown.notified() => break Ok(()),
        }
    };
    if let Some(p) = muc::leave(&cfg.room, &cfg.nick) {
        stream.send(Box::new(p.into())).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.close()).await;
    result
}

/// Departures of other occupants not yet told to the handler
/// ([`DEPARTURE_HOLD`]), oldest first.
#[derive(Debug, Default)]
struct HeldDepartures(std::collections::VecDeque<(tokio::time::Instant, String)>);

impl HeldDepartures {
    fn hold(&mut self, nick: String) {
        self.0
            .push_back((tokio::time::Instant::now() + DEPARTURE_HOLD, nick));
    }

    /// Our stream broke: the departures seen just before were the server's
    /// doing; the fresh presence list after the rejoin tells who is there.
    fn discard(&mut self) {
        if !self.0.is_empty() {
            info!(
                departures = self.0.len(),
                "ignoring the departures seen as the stream broke"
            );
            self.0.clear();
        }
    }

    /// Tells the handler the departures whose hold is over.
    fn release_due(&mut self, handler: &mut dyn RoomHandler) -> Vec<Outbound> {
        let now = tokio::time::Instant::now();
        let mut out = Vec::new();
        while let Some((_, nick)) = self.0.front().filter(|(due, _)| *due <= now).cloned() {
            self.0.pop_front();
            out.extend(handler.on_presence(RoomPresence::Left { nick, own: false }));
        }
        out
    }

    /// Tells the handler every held departure of `nick` before anything
    /// newer about it.
    fn release_nick(&mut self, nick: Option<&str>, handler: &mut dyn RoomHandler) -> Vec<Outbound> {
        let Some(nick) = nick else {
            return Vec::new();
        };
        let mut out = Vec::new();
        self.0.retain(|(_, held)| {
            if held == nick {
                out.extend(handler.on_presence(RoomPresence::Left {
                    nick: held.clone(),
                    own: false,
                }));
                false
            } else {
                true
            }
        });
        out
    }
}

/// The occupant a presence is about, when it names one.
fn other_nick(presence: &RoomPresence) -> Option<&str> {
    match presence {
        RoomPresence::Here { occupant, .. } => Some(&occupant.nick),
        RoomPresence::Left { nick, .. } => Some(nick),
        RoomPresence::NickConflict | RoomPresence::Refused(_) => None,
    }
}

/// The room configuration that makes the room persistent (XEP-0045 §10.2,
/// a partial form: the server keeps every other setting).
const PERSISTENT_ROOM: &str = "<query xmlns='http://jabber.org/protocol/muc#owner'>\
    <x xmlns='jabber:x:data' type='submit'>\
    <field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>\
    <field var='muc#roomconfig_persistentroom'><value>1</value></field>\
    </x></query>";

/// As the room's owner and master, ask the server to keep the room when it
/// is empty or restarts: the room, and with it our ownership (which members
/// trust) and the occupants' real JIDs (by which grants are kept), outlives
/// a server restart instead of going to whoever rejoins first. A server
/// that refuses answers with an error we ignore; rooms then last while
/// occupied, as before.
async fn keep_room(stream: &StanzaStream, cfg: &SessionConfig) {
    let Ok(payload) = PERSISTENT_ROOM.parse::<Element>() else {
        return;
    };
    let iq = Iq::Set {
        from: None,
        to: Some(Jid::from(cfg.room.clone())),
        id: "f2f-keep-room".to_string(),
        payload,
    };
    debug!(room = %cfg.room, "asking the server to keep the room");
    stream.send(Box::new(iq.into())).await;
}

async fn send_join(stream: &StanzaStream, cfg: &SessionConfig) -> Result<()> {
    let p = muc::join(&cfg.room, &cfg.nick).context("the nickname is not valid in a JID")?;
    stream.send(Box::new(p.into())).await;
    Ok(())
}

async fn send_all(stream: &StanzaStream, cfg: &SessionConfig, out: Vec<Outbound>) -> Result<()> {
    for o in out {
        let msg = match o {
            Outbound::Group(body) => {
                Message::new_with_type(MessageType::Groupchat, Some(Jid::from(cfg.room.clone())))
                    .with_body(Lang::default(), body)
            }
            Outbound::Private { nick, body } => {
                let Ok(to) = cfg.room.with_resource_str(&nick) else {
                    warn!(peer = nick, "not a valid nickname; message not sent");
                    continue;
                };
                Message::new_with_type(MessageType::Chat, Some(Jid::from(to)))
                    .with_body(Lang::default(), body)
            }
        };
        stream.send(Box::new(msg.into())).await;
    }
    Ok(())
}

/// A message: frames go to the links, control bodies to the handler. Only
/// messages from occupants of our room count; our own groupchat echo and
/// anything else is ignored.
fn on_message(
    cfg: &SessionConfig,
    own_from: &tokio_xmpp::jid::FullJid,
    m: Message,
    links: &XmppLinks,
    handler: &mut dyn RoomHandler,
    scratch: &mut Scratch,
) -> Vec<Outbound> {
    let Some(sender) = m.from.as_ref() else {
        return Vec::new();
    };
    let from = match sender.try_as_full() {
        Ok(f) if f.to_bare() == cfg.room => f.clone(),
        _ => {
            debug!(from = %sender, "ignoring a message from outside the room");
            return Vec::new();
        }
    };
    if from == *own_from {
        return Vec::new();
    }
    let nick = from.resource().as_str();
    let private = match m.type_ {
        MessageType::Chat | MessageType::Normal => true,
        MessageType::Groupchat => false,
        _ => return Vec::new(),
    };
    let mut frames = m.payloads.iter().filter(|e| e.is(ELEMENT, NS)).peekable();
    if frames.peek().is_some() {
        let texts: Vec<String> = frames.map(Element::text).collect();
        links.deliver(nick, texts.iter().map(String::as_str), scratch);
        return Vec::new();
    }
    let Some(body) = m.bodies.values().next() else {
        return Vec::new();
    };
    if body.len() > MAX_BODY {
        warn!(
            peer = nick,
            bytes = body.len(),
            "ignoring an oversized room message"
        );
        return Vec::new();
    }
    handler.on_message(nick, private, body)
}
