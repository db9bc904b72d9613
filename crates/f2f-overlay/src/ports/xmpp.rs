//! XMPP links: one switch port per room peer whose frames travel through the
//! XMPP server as stanzas (spec/xmpp-transport.md §5), an ordinary port to
//! the switch (forwarding, flooding, spanning tree all apply).
//!
//! Send: the port's sink puts each frame in the peer's bounded queue and
//! wakes the room's session task, which owns the XMPP stream; the task sends
//! what is queued as one private message to `room/nick` of up to 32 frames
//! and 64 KiB ([`f2f_core::wire::xmpp::batch_len`]) right away, so batches
//! only form under load. A full queue drops the frame and counts it: a
//! server that reads slowly (Prosody's mod_limits) never makes memory grow.
//!
//! Receive: the session task hands the `<f>` elements of a private message
//! from a linked peer to [`XmppLinks::deliver`], which decodes them and
//! forwards them as one batch on that peer's port. Frames from anyone else
//! are dropped (and logged once per sender).
//!
//! Every frame goes as a private message, broadcasts too: the switch decides
//! per port where a broadcast goes (the spanning tree blocks some in a
//! mesh), so a room-wide groupchat would bypass it.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant as StdInstant;

use f2f_core::status::XmppLinkStatus;
use f2f_core::switch::{AttachRequest, Endpoint, PortId, PortRequest, NO_USER};
use f2f_core::wire::xmpp::{batch_len, decode_frame};
use tokio::sync::Notify;
use tracing::{info, warn};

use crate::datapath::{Datapath, FrameSink, Scratch, Sink};

/// `port/print`'s module name for XMPP links.
pub const MODULE: &str = "xmpp";
/// Frames a peer's queue holds before new ones are dropped.
pub const QUEUE_FRAMES: usize = 256;
/// Endpoint ids of XMPP links start here (far above file descriptors, the
/// ids of the other ports).
const ENDPOINT_BASE: u32 = 0x4000_0000;

/// One peer's link: its port, its queue, its counters.
#[derive(Debug)]
struct PeerLink {
    port: PortId,
    endpoint: u32,
    queue: Mutex<VecDeque<Vec<u8>>>,
    wake: Arc<Notify>,
    tx_frames: AtomicU64,
    tx_bytes: AtomicU64,
    tx_stanzas: AtomicU64,
    rx_frames: AtomicU64,
    rx_bytes: AtomicU64,
    rx_bad: AtomicU64,
    drops: AtomicU64,
    /// Measured rates, bytes/s of frames, updated by [`XmppLinks::measure`].
    rates: Mutex<Rates>,
}

/// The last measurement of a link's throughput.
#[derive(Debug)]
struct Rates {
    at: StdInstant,
    tx_bytes: u64,
    rx_bytes: u64,
    tx_bps: u64,
    rx_bps: u64,
}

/// The sink the switch writes a peer's frames to.
#[derive(Debug)]
struct PeerSink(Arc<PeerLink>);

impl FrameSink for PeerSink {
    fn try_send(&self, frame: &[u8]) -> io::Result<()> {
        let link = &self.0;
        let mut q = link.queue.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() >= QUEUE_FRAMES {
            drop(q);
            link.drops.fetch_add(1, Ordering::Relaxed);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let was_empty = q.is_empty();
        q.push_back(frame.to_vec());
        drop(q);
        if was_empty {
            link.wake.notify_one();
        }
        Ok(())
    }
}

/// The XMPP links of one room, shared by the room driver (which adds and
/// removes them), the switch (which writes to them) and the session task
/// (which sends and delivers their frames).
#[derive(Debug)]
pub struct XmppLinks {
    datapath: Arc<Datapath>,
    peers: Mutex<BTreeMap<String, Arc<PeerLink>>>,
    /// Woken when a queue gets its first frame.
    wake: Arc<Notify>,
    next_endpoint: AtomicU32,
    /// Senders of frames we have no link with, logged once each.
    strangers: Mutex<HashSet<String>>,
}

impl XmppLinks {
    /// No links yet, on the switch in `datapath`.
    pub fn new(datapath: Arc<Datapath>) -> Arc<XmppLinks> {
        Arc::new(XmppLinks {
            datapath,
            peers: Mutex::new(BTreeMap::new()),
            wake: Arc::new(Notify::new()),
            next_endpoint: AtomicU32::new(ENDPOINT_BASE),
            strangers: Mutex::new(HashSet::new()),
        })
    }

    fn peers(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<PeerLink>>> {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves when some queue has frames to send.
    pub async fn ready(&self) {
        self.wake.notified().await;
    }

    /// Wake the sender again (it stopped with frames still queued).
    pub fn rearm(&self) {
        self.wake.notify_one();
    }

    /// The nicks with a link.
    pub fn nicks(&self) -> Vec<String> {
        self.peers().keys().cloned().collect()
    }

    /// Give `nick` a link on a free port; returns the port. A link that
    /// exists is kept.
    pub fn add(&self, nick: &str) -> anyhow::Result<PortId> {
        if let Some(link) = self.peers().get(nick) {
            return Ok(link.port);
        }
        let endpoint = self.next_endpoint.fetch_add(1, Ordering::Relaxed);
        let port = self
            .datapath
            .lock()
            .attach(AttachRequest {
                port: PortRequest::Any,
                endpoint: Endpoint {
                    id: endpoint,
                    module: MODULE,
                    description: format!("xmpp:{nick}"),
                    user: NO_USER,
                },
                groups: Vec::new(),
            })
            .map_err(|e| anyhow::anyhow!("no free port for the XMPP link to {nick}: {e}"))?;
        let link = Arc::new(PeerLink {
            port,
            endpoint,
            queue: Mutex::new(VecDeque::new()),
            wake: Arc::clone(&self.wake),
            tx_frames: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
            tx_stanzas: AtomicU64::new(0),
            rx_frames: AtomicU64::new(0),
            rx_bytes: AtomicU64::new(0),
            rx_bad: AtomicU64::new(0),
            drops: AtomicU64::new(0),
            rates: Mutex::new(Rates {
                at: StdInstant::now(),
                tx_bytes: 0,
                rx_bytes: 0,
                tx_bps: 0,
                rx_bps: 0,
            }),
        });
        self.peers().insert(nick.to_string(), Arc::clone(&link));
        self.datapath.add_sink(
            port,
            Sink {
                endpoint,
                socket: Arc::new(PeerSink(link)),
            },
        );
        info!(port, peer = nick, "XMPP link up");
        Ok(port)
    }

    /// Tear down `nick`'s link: its port is freed and the MACs learned on it
    /// are forgotten (the switch flushes them on detach).
    pub fn remove(&self, nick: &str) {
        let Some(link) = self.peers().remove(nick) else {
            return;
        };
        self.datapath.remove_sink(link.port, link.endpoint);
        self.datapath.lock().detach(link.port, link.endpoint);
        info!(port = link.port, peer = nick, "XMPP link down");
    }

    /// Take the next batch of every peer with queued frames, oldest first.
    pub fn take_batches(&self) -> Vec<(String, Vec<Vec<u8>>)> {
        let peers = self.peers();
        let mut out = Vec::new();
        for (nick, link) in peers.iter() {
            let mut q = link.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let n = batch_len(q.iter().map(Vec::len));
            if n == 0 {
                continue;
            }
            let frames: Vec<Vec<u8>> = q.drain(..n).collect();
            drop(q);
            link.tx_stanzas.fetch_add(1, Ordering::Relaxed);
            link.tx_frames
                .fetch_add(frames.len() as u64, Ordering::Relaxed);
            link.tx_bytes.fetch_add(
                frames.iter().map(|f| f.len() as u64).sum(),
                Ordering::Relaxed,
            );
            out.push((nick.clone(), frames));
        }
        out
    }

    /// Whether any queue still holds frames.
    pub fn pending(&self) -> bool {
        self.peers().values().any(|l| {
            !l.queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
        })
    }

    /// Frames (`<f>` element texts) received from `nick`: decode them and
    /// forward them on its port. Undecodable ones are counted and skipped.
    pub fn deliver<'a>(
        &self,
        nick: &str,
        texts: impl Iterator<Item = &'a str>,
        scratch: &mut Scratch,
    ) {
        let link = self.peers().get(nick).cloned();
        let Some(link) = link else {
            let mut strangers = self
                .strangers
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if strangers.insert(nick.to_string()) {
                warn!(
                    peer = nick,
                    "dropping frames from a room occupant we have no link with"
                );
            }
            return;
        };
        let mut frames = Vec::new();
        for text in texts {
            match decode_frame(text) {
                Ok(f) => frames.push(f),
                Err(e) => {
                    if link.rx_bad.fetch_add(1, Ordering::Relaxed) == 0 {
                        warn!(peer = nick, error = %e, "dropping a bad frame element");
                    }
                }
            }
        }
        if frames.is_empty() {
            return;
        }
        link.rx_frames
            .fetch_add(frames.len() as u64, Ordering::Relaxed);
        link.rx_bytes.fetch_add(
            frames.iter().map(|f| f.len() as u64).sum(),
            Ordering::Relaxed,
        );
        let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        self.datapath.forward_batch(link.port, &refs, scratch);
    }

    /// Update every link's measured throughput (call about once a second).
    pub fn measure(&self) {
        let now = StdInstant::now();
        for link in self.peers().values() {
            let mut r = link.rates.lock().unwrap_or_else(PoisonError::into_inner);
            let secs = now.duration_since(r.at).as_secs_f64();
            if secs <= 0.0 {
                continue;
            }
            let tx = link.tx_bytes.load(Ordering::Relaxed);
            let rx = link.rx_bytes.load(Ordering::Relaxed);
            r.tx_bps = ((tx - r.tx_bytes) as f64 * 8.0 / secs) as u64;
            r.rx_bps = ((rx - r.rx_bytes) as f64 * 8.0 / secs) as u64;
            r.tx_bytes = tx;
            r.rx_bytes = rx;
            r.at = now;
        }
    }

    /// `nick`'s port and counters, if it has a link.
    pub fn status(&self, nick: &str) -> Option<(PortId, XmppLinkStatus)> {
        let link = self.peers().get(nick).cloned()?;
        let rates = link.rates.lock().unwrap_or_else(PoisonError::into_inner);
        let queue = link
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        Some((
            link.port,
            XmppLinkStatus {
                queue,
                queue_capacity: QUEUE_FRAMES,
                tx_frames: link.tx_frames.load(Ordering::Relaxed),
                tx_stanzas: link.tx_stanzas.load(Ordering::Relaxed),
                rx_frames: link.rx_frames.load(Ordering::Relaxed),
                rx_bad: link.rx_bad.load(Ordering::Relaxed),
                drops: link.drops.load(Ordering::Relaxed),
                tx_bits_per_sec: rates.tx_bps,
                rx_bits_per_sec: rates.rx_bps,
            },
        ))
    }
}
