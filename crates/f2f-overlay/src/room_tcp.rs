//! The room's direct TCP links: what the room driver asks of the switch's
//! [`Links`] when the room machine wires a peer over TCP.
//!
//! The listener (`join --listen`) starts once the grant gives the room's
//! network key. A link we dial is reported established when its session is
//! up, failed (and removed) when it is not up within [`DIAL_DEADLINE`], so
//! `--transport auto` falls back to XMPP. A link the peer dials is found
//! among the accepted links by the node public key the peer advertised in
//! the room.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use f2f_core::room::{Endpoint, LinkEvent};
use f2f_core::status::LinkStatus;
use f2f_core::time::Instant;
use tracing::info;

use crate::keys::Key;
use crate::ports::link::{LinkId, Links};

/// How long a dialed link may take to come up before it counts as failed.
pub const DIAL_DEADLINE: Duration = Duration::from_secs(5);
/// How long we wait for a peer to dial us: longer than its own deadline, so
/// that normally its failure (and the room's fallback) comes first.
pub const ACCEPT_DEADLINE: Duration = Duration::from_secs(12);

/// The TCP links of the room, by peer nick.
#[derive(Debug)]
pub struct TcpLinks {
    links: Arc<Links>,
    /// `--listen`, until the grant's key starts it.
    listener: Option<std::net::TcpListener>,
    key: Option<Key>,
    peers: BTreeMap<String, Peer>,
}

/// One peer's TCP link.
#[derive(Debug)]
struct Peer {
    /// The link we dial; `None` when the peer dials us.
    dialed: Option<LinkId>,
    /// The peer's node public key (as [`crate::keys::encode`] writes it).
    public_key: Option<String>,
    /// When it counts as failed if not up.
    deadline: Instant,
    /// Reported established.
    up: bool,
}

impl TcpLinks {
    /// The room's TCP links over `links`, accepting on `listener` once the
    /// key is known.
    pub fn new(links: Arc<Links>, listener: Option<std::net::TcpListener>) -> TcpLinks {
        TcpLinks {
            links,
            listener,
            key: None,
            peers: BTreeMap::new(),
        }
    }

    /// The grant gave the room's network key: start listening, if asked.
    pub fn set_key(&mut self, key: Key) -> anyhow::Result<()> {
        self.key = Some(key);
        if let Some(l) = self.listener.take() {
            let addr = l.local_addr()?;
            let l = tokio::net::TcpListener::from_std(l)?;
            self.links.listen(l, key)?;
            info!(%addr, "listening for the room's links");
        }
        Ok(())
    }

    /// Link to `peer`: dial `dial`, or wait for it to dial us. Err: the
    /// link cannot start at all (the reason).
    pub fn start(
        &mut self,
        now: Instant,
        peer: &str,
        dial: Option<&Endpoint>,
        public_key: Option<String>,
    ) -> Result<(), String> {
        self.remove(peer);
        let key = self
            .key
            .ok_or_else(|| "no network key yet (no grant)".to_string())?;
        let (dialed, wait) = match dial {
            Some(ep) => {
                let id = self
                    .links
                    .add_dialed(ep.as_str(), key)
                    .map_err(|e| format!("{e:#}"))?;
                info!(peer, endpoint = ep.as_str(), "dialing a TCP link");
                (Some(id), DIAL_DEADLINE)
            }
            None if public_key.is_none() => {
                return Err("the peer advertised no public key to know its link by".to_string())
            }
            None => (None, ACCEPT_DEADLINE),
        };
        self.peers.insert(
            peer.to_string(),
            Peer {
                dialed,
                public_key,
                deadline: now + wait,
                up: false,
            },
        );
        Ok(())
    }

    /// Forget `peer`'s link, closing it when we dialed it.
    pub fn remove(&mut self, peer: &str) {
        if let Some(id) = self.peers.remove(peer).and_then(|p| p.dialed) {
            self.links.remove(id);
        }
    }

    /// The links that came up or failed since the last call.
    pub fn poll(&mut self, now: Instant) -> Vec<(String, LinkEvent)> {
        let statuses = self.links.statuses();
        let mut events = Vec::new();
        for (nick, peer) in self.peers.iter_mut().filter(|(_, p)| !p.up) {
            let up = match peer.dialed {
                Some(id) => self.links.status(id).filter(|s| s.state == "up"),
                None => statuses
                    .iter()
                    .find(|s| s.state == "up" && s.peer_key == peer.public_key)
                    .cloned(),
            };
            if let Some(status) = up {
                peer.up = true;
                if peer.public_key.is_none() {
                    peer.public_key = status.peer_key;
                }
                events.push((nick.clone(), LinkEvent::Established));
            } else if now >= peer.deadline {
                let reason = match peer.dialed.and_then(|id| self.links.status(id)) {
                    Some(LinkStatus {
                        last_error: Some(e),
                        ..
                    }) => format!("not up in {DIAL_DEADLINE:?}: {e}"),
                    _ => "the link did not come up in time".to_string(),
                };
                events.push((nick.clone(), LinkEvent::Failed { reason }));
            }
        }
        for (nick, event) in &events {
            if matches!(event, LinkEvent::Failed { .. }) {
                self.remove(nick);
            }
        }
        events
    }

    /// Peer node public key → nick, for the links that are up.
    pub fn nicks_by_key(&self) -> BTreeMap<String, String> {
        self.peers
            .iter()
            .filter(|(_, p)| p.up)
            .filter_map(|(nick, p)| Some((p.public_key.clone()?, nick.clone())))
            .collect()
    }
}
