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

    /// Forget `peer`'s link and close it: the one we dialed, and any the
    /// peer dialed us (found by the node key it advertised), so a departed
    /// peer keeps no port on our switch in either direction.
    pub fn remove(&mut self, peer: &str) {
        let Some(gone) = self.peers.remove(peer) else {
            return;
        };
        if let Some(id) = gone.dialed {
            self.links.remove(id);
        }
        if let Some(key) = &gone.public_key {
            let closed = self.links.remove_accepted(key);
            if closed > 0 {
                info!(peer, closed, "closed the links the peer dialed");
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;
    use crate::ports::link::test_support::{links, links_with, wait_for};
    use f2f_core::link::crypto::public_key;

    const T0: Instant = Instant::from_secs(100);

    /// A port on loopback nobody listens on.
    fn closed_endpoint() -> Endpoint {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        Endpoint::new(&addr).unwrap()
    }

    fn keyed(listener: Option<std::net::TcpListener>) -> TcpLinks {
        let mut tcp = TcpLinks::new(links(), listener);
        tcp.set_key(keys::random_key()).unwrap();
        tcp
    }

    /// No link starts before the grant's key, nor one to a peer that neither
    /// dials us nor can be told apart by its key.
    #[tokio::test]
    async fn refuses_links_it_cannot_make() {
        let mut tcp = TcpLinks::new(links(), None);
        let err = tcp.start(T0, "p", Some(&closed_endpoint()), None);
        assert!(err.unwrap_err().contains("no network key"));
        tcp.set_key(keys::random_key()).unwrap();
        let err = tcp.start(T0, "p", None, None);
        assert!(err.unwrap_err().contains("no public key"));
        assert!(tcp.poll(T0 + ACCEPT_DEADLINE).is_empty());
    }

    /// A dialed link that does not come up fails exactly at its deadline, with the
    /// dialer's last error, and is closed.
    #[tokio::test]
    async fn a_dial_fails_at_its_deadline_with_the_reason() {
        let mut tcp = keyed(None);
        tcp.start(T0, "p", Some(&closed_endpoint()), None).unwrap();
        let links = Arc::clone(&tcp.links);
        wait_for("the dialer's first error", || {
            links.statuses().iter().any(|s| s.last_error.is_some())
        })
        .await;
        let just_before = T0 + (DIAL_DEADLINE - Duration::from_millis(1));
        assert!(tcp.poll(just_before).is_empty());
        let events = tcp.poll(T0 + DIAL_DEADLINE);
        assert!(
            matches!(&events[..], [(p, LinkEvent::Failed { reason })]
                if p == "p" && reason.contains("cannot connect")),
            "{events:?}"
        );
        assert!(links.statuses().is_empty(), "the failed dial is closed");
        assert!(tcp.poll(T0 + DIAL_DEADLINE * 2).is_empty(), "reported once");
    }

    /// Waiting for a peer to dial us gives up later than a dialer would.
    #[tokio::test]
    async fn waiting_for_the_peer_fails_at_the_accept_deadline() {
        let mut tcp = keyed(None);
        tcp.start(T0, "p", None, Some("somekey".into())).unwrap();
        assert!(ACCEPT_DEADLINE > DIAL_DEADLINE);
        assert!(tcp
            .poll(T0 + (ACCEPT_DEADLINE - Duration::from_millis(1)))
            .is_empty());
        let events = tcp.poll(T0 + ACCEPT_DEADLINE);
        assert!(
            matches!(&events[..], [(p, LinkEvent::Failed { .. })] if p == "p"),
            "{events:?}"
        );
    }

    /// A link the peer dials is matched by the key it advertised, reported once, and
    /// closed when the room says the peer is gone: the peer sees its session end.
    #[tokio::test]
    async fn a_link_the_peer_dialed_is_closed_when_the_peer_goes() {
        let network_key = keys::random_key();
        let listener = crate::switchd::bind_link_listener(([127, 0, 0, 1], 0).into()).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut ours = TcpLinks::new(links(), Some(listener));
        ours.set_key(network_key).unwrap();
        let peer_secret = keys::random_key();
        let peer = links_with(peer_secret);
        let peer_key = keys::encode(&public_key(&peer_secret));
        ours.start(T0, "peer", None, Some(peer_key.clone()))
            .unwrap();
        let id = peer.add_dialed(&addr, network_key).unwrap();
        let mut events = Vec::new();
        wait_for("the accepted link established", || {
            events.extend(ours.poll(T0));
            !events.is_empty()
        })
        .await;
        assert!(matches!(&events[..], [(p, LinkEvent::Established)] if p == "peer"));
        assert!(
            ours.poll(T0 + ACCEPT_DEADLINE).is_empty(),
            "up: no deadline"
        );
        assert_eq!(
            ours.nicks_by_key().get(&peer_key).map(String::as_str),
            Some("peer")
        );
        assert_eq!(peer.status(id).and_then(|s| s.last_error), None);

        ours.remove("peer");
        let links = Arc::clone(&ours.links);
        assert!(
            links
                .statuses()
                .iter()
                .all(|s| s.peer_key.as_deref() != Some(peer_key.as_str())),
            "the accepted link is gone from our registry at once"
        );
        assert!(ours.nicks_by_key().is_empty());
        wait_for("the peer's session ended by us", || {
            peer.status(id).is_some_and(|s| s.last_error.is_some())
        })
        .await;
        assert!(peer.remove(id));
    }
}
