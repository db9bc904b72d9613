//! Links (`--listen`, `--connect`, and [`Links::add_dialed`] at run time):
//! TCP connections to other switches carrying frames inside the encrypted
//! session of [`f2f_core::link`]. Once its handshake is done, each link is an
//! ordinary switch port (module `link`): it learns, carries VLANs tagged as
//! configured, and takes part in the spanning tree (`-F`), so redundant links
//! are safe.
//!
//! One task per connection owns its socket and its [`Session`]: it reads
//! what the socket holds into the session and forwards the decrypted frames
//! as a batch per record; it takes the frames the switch queued for the link
//! (a bounded [`FrameQueue`], drops counted) and seals everything queued at
//! that moment into as few records as fit, so frames are batched under load
//! and go out at once when the link is idle; it runs the session's timers
//! (handshake deadline, keepalive, dead peer).
//!
//! A link that comes back (same peer node key) gets its old port again when
//! that port is free, so settings made on the port (VLANs) survive a
//! reconnect. Dialed links redial forever, with exponential backoff from
//! [`BACKOFF_MIN`] to [`BACKOFF_MAX`] plus up to 50% random jitter, until
//! removed; the backoff starts over after a session that came up. The
//! listener admits at most [`MAX_HANDSHAKES`] handshakes at once (more
//! connections are closed at once) and every handshake has a deadline, so
//! silent, slow or garbage clients cost a bounded amount and are closed.
//!
//! # Using links from another module
//!
//! ```ignore
//! let id = links.add_dialed("friend.example:7000", network_key); // returns at once
//! let status = links.status(id);     // Option<LinkStatus>: state, port, peer key, counters
//! links.remove(id);                  // closes the connection, detaches the port
//! ```
//!
//! The key is held in memory only; the link dials, reconnects and reports its
//! state on its own until removed.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use f2f_core::link::{wire, Event, LinkConfig, LinkError, Purpose, Refusal, Role, Session, Timers};
use f2f_core::status::LinkStatus;
use f2f_core::switch::{AttachRequest, Endpoint, PortId, PortRequest, NO_USER};
use f2f_core::wire::offload::VnetHdr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit};
use tracing::{debug, info, warn};

use crate::datapath::{Datapath, FrameSink, Scratch, Sink};
use crate::keys::{self, Key};
use crate::limit::Limit;
use crate::ports::stream::{FrameQueue, Framing};
use crate::provision::Served;

/// `port/print`'s module name for links.
pub const MODULE: &str = "link";
/// Most bytes of frames queued for one link before new ones are dropped.
pub const QUEUE_BYTES: usize = 512 * 1024;
/// Most handshakes in progress on a listener; more connections are closed.
pub const MAX_HANDSHAKES: usize = 64;
/// First pause before redialing.
pub const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest pause between redials.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Bytes read from the socket per call.
const READ_CHUNK: usize = 64 * 1024;
/// Reads per wakeup before the task looks at its other work.
const READS_PER_TURN: usize = 8;

/// Names one link of a [`Links`] registry.
pub type LinkId = u64;

/// Every link of the switch: dialed ones (kept until removed) and accepted
/// ones (while up).
#[derive(Debug)]
pub struct Links {
    datapath: Arc<Datapath>,
    /// Where `node.key` is read from (or created) on first use.
    state_dir: PathBuf,
    node_secret: Mutex<Option<Key>>,
    timers: Timers,
    entries: Mutex<BTreeMap<LinkId, Arc<Entry>>>,
    next_id: AtomicU64,
    /// The port each peer (by node key) last had: a link that comes back
    /// gets it again when free, so per-port settings (VLANs) survive.
    last_ports: Mutex<HashMap<Key, PortId>>,
    /// The image bundle accepted sessions for [`Purpose::Image`] get.
    image: Mutex<Option<Arc<Served>>>,
}

/// One link's shared facts: what `status` shows and how to stop it.
#[derive(Debug)]
struct Entry {
    id: LinkId,
    peer: String,
    direction: &'static str,
    stopped: AtomicBool,
    stop: Notify,
    drops: AtomicU64,
    info: Mutex<LinkStatus>,
}

impl Entry {
    fn new(id: LinkId, peer: String, direction: &'static str) -> Arc<Entry> {
        Arc::new(Entry {
            id,
            info: Mutex::new(LinkStatus {
                peer: peer.clone(),
                state: "connecting".to_string(),
                direction: direction.to_string(),
                ..LinkStatus::default()
            }),
            peer,
            direction,
            stopped: AtomicBool::new(false),
            stop: Notify::new(),
            drops: AtomicU64::new(0),
        })
    }

    fn update(&self, f: impl FnOnce(&mut LinkStatus)) {
        f(&mut self.info.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn snapshot(&self) -> LinkStatus {
        let mut s = self
            .info
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        s.drops = self.drops.load(Ordering::Relaxed);
        s
    }

    /// Resolves once the link is removed.
    async fn stopped(&self) {
        loop {
            let notified = self.stop.notified();
            if self.stopped.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// The sink the switch writes a link's frames to: a bounded queue of frame
/// messages; refusals are counted as the link's drops.
#[derive(Debug)]
struct LinkSink {
    queue: FrameQueue,
    entry: Arc<Entry>,
    /// The peer takes offloaded frames: TCP super-segments from a tap cross
    /// the link whole instead of being cut into MTU-sized frames here.
    peer_takes_offloads: AtomicBool,
}

impl LinkSink {
    fn counted(&self, sent: io::Result<()>) -> io::Result<()> {
        sent.inspect_err(|_| {
            self.entry.drops.fetch_add(1, Ordering::Relaxed);
        })
    }
}

impl FrameSink for LinkSink {
    fn try_send(&self, frame: &[u8]) -> io::Result<()> {
        self.counted(self.queue.try_send(frame))
    }

    fn try_send_offloaded(&self, hdr: &VnetHdr, frame: &[u8]) -> Option<io::Result<()>> {
        if !self.peer_takes_offloads.load(Ordering::Relaxed) {
            return None;
        }
        let header = wire::offloaded_header(hdr, frame.len()).ok()?;
        Some(self.counted(self.queue.try_send_with_header(&header, frame)))
    }

    fn try_send_batch(&self, frames: &[&[u8]]) -> usize {
        let taken = self.queue.try_send_batch(frames);
        let refused = frames.len().saturating_sub(taken) as u64;
        if refused > 0 {
            self.entry.drops.fetch_add(refused, Ordering::Relaxed);
        }
        taken
    }
}

/// How a session ended.
#[derive(Debug)]
struct Outcome {
    /// It was established at some point.
    was_up: bool,
    /// Why it ended.
    reason: String,
    /// The session's own error, when it was one.
    error: Option<LinkError>,
}

impl Links {
    /// The links of the switch behind `datapath`. This node's identity is
    /// `node_secret` when already loaded, else `state_dir/node.key`, read
    /// (or created) when the first link starts.
    pub fn new(
        datapath: Arc<Datapath>,
        state_dir: PathBuf,
        node_secret: Option<Key>,
        timers: Timers,
    ) -> Arc<Links> {
        Arc::new(Links {
            datapath,
            state_dir,
            node_secret: Mutex::new(node_secret),
            timers,
            entries: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
            last_ports: Mutex::new(HashMap::new()),
            image: Mutex::new(None),
        })
    }

    /// Serve `image` to accepted sessions that ask for an image instead of
    /// a link (`join --serve-image`).
    pub fn serve_image(&self, image: Arc<Served>) {
        *self.image.lock().unwrap_or_else(PoisonError::into_inner) = Some(image);
    }

    /// Dial `peer` (`HOST:PORT`, resolved at each attempt) with
    /// `network_key` and keep the link up, redialing with backoff, until
    /// [`Links::remove`]. Returns at once.
    /// Fails only when this node's key cannot be read or created.
    pub fn add_dialed(self: &Arc<Self>, peer: &str, network_key: Key) -> anyhow::Result<LinkId> {
        let node_secret = self.node_secret()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Entry::new(id, peer.to_string(), "dialed");
        self.register(&entry);
        let me = Arc::clone(self);
        tokio::spawn(async move { me.dial_loop(entry, network_key, node_secret).await });
        Ok(id)
    }

    /// Stop link `id`: close its connection, detach its port, forget it.
    /// False when there is no such link.
    pub fn remove(&self, id: LinkId) -> bool {
        let entry = self.lock().remove(&id);
        if let Some(e) = &entry {
            e.stopped.store(true, Ordering::Release);
            e.stop.notify_waiters();
        }
        entry.is_some()
    }

    /// Stop every accepted link whose peer proved node key `peer_key` (as
    /// [`keys::encode`] writes it), like [`Links::remove`]; returns how many.
    /// Accepted links have no id the caller knows: the room closes a departed
    /// peer's links by the key it advertised.
    pub fn remove_accepted(&self, peer_key: &str) -> usize {
        let ids: Vec<LinkId> = self
            .lock()
            .values()
            .filter(|e| {
                e.direction == "accepted" && e.snapshot().peer_key.as_deref() == Some(peer_key)
            })
            .map(|e| e.id)
            .collect();
        ids.into_iter().filter(|id| self.remove(*id)).count()
    }

    /// The status of link `id`.
    pub fn status(&self, id: LinkId) -> Option<LinkStatus> {
        self.lock().get(&id).map(|e| e.snapshot())
    }

    /// Every link's status, in the order they were added.
    pub fn statuses(&self) -> Vec<LinkStatus> {
        self.lock().values().map(|e| e.snapshot()).collect()
    }

    /// Accept links on `listener`, each proving `network_key`. Fails only
    /// when this node's key cannot be read or created.
    pub fn listen(self: &Arc<Self>, listener: TcpListener, network_key: Key) -> anyhow::Result<()> {
        let node_secret = self.node_secret()?;
        let me = Arc::clone(self);
        tokio::spawn(async move { me.accept_loop(listener, network_key, node_secret).await });
        Ok(())
    }

    fn node_secret(&self) -> anyhow::Result<Key> {
        let mut slot = self
            .node_secret
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match *slot {
            Some(k) => Ok(k),
            None => {
                let k = keys::node_key(&self.state_dir)?;
                *slot = Some(k);
                Ok(k)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<LinkId, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(&self, entry: &Arc<Entry>) {
        self.lock().insert(entry.id, Arc::clone(entry));
    }

    async fn accept_loop(
        self: Arc<Self>,
        listener: TcpListener,
        network_key: Key,
        node_secret: Key,
    ) {
        let keys = Arc::new(LinkConfig {
            network_key,
            node_secret,
            timers: self.timers,
        });
        let handshakes = Limit::new(
            "link handshakes in progress",
            "idle or slow clients on the link port; each is closed at its handshake deadline",
            MAX_HANDSHAKES,
        );
        loop {
            let (stream, addr) = match listener.accept().await {
                Ok(conn) => conn,
                Err(err) => {
                    // Out of descriptors, say: wait rather than spin.
                    warn!(%err, "accepting a link failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Some(permit) = handshakes.try_enter() else {
                debug!(%addr, "link connection refused: too many handshakes in progress");
                continue;
            };
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let entry = Entry::new(id, addr.to_string(), "accepted");
            let me = Arc::clone(&self);
            let keys = Arc::clone(&keys);
            tokio::spawn(async move {
                let outcome = me
                    .run_session(stream, Role::Responder, &keys, &entry, Some(permit))
                    .await;
                me.lock().remove(&entry.id);
                me.log_end(&entry, &outcome);
            });
        }
    }

    async fn dial_loop(self: Arc<Self>, entry: Arc<Entry>, network_key: Key, node_secret: Key) {
        let key = LinkConfig {
            network_key,
            node_secret,
            timers: self.timers,
        };
        let mut backoff = BACKOFF_MIN;
        while !entry.stopped.load(Ordering::Acquire) {
            entry.update(|s| s.state = "connecting".to_string());
            let outcome = tokio::select! {
                o = self.dial_once(&entry, &key) => o,
                () = entry.stopped() => break,
            };
            self.log_end(&entry, &outcome);
            if outcome.was_up {
                backoff = BACKOFF_MIN;
            }
            entry.update(|s| s.state = "backoff".to_string());
            tokio::select! {
                () = tokio::time::sleep(with_jitter(backoff, rand::random())) => {}
                () = entry.stopped() => break,
            }
            backoff = next_backoff(backoff);
        }
        debug!(peer = %entry.peer, "link removed");
    }

    async fn dial_once(&self, entry: &Arc<Entry>, key: &LinkConfig) -> Outcome {
        let failed = |reason: String| Outcome {
            was_up: false,
            reason,
            error: None,
        };
        let addrs = match tokio::net::lookup_host(entry.peer.as_str()).await {
            Ok(a) => a.collect::<Vec<_>>(),
            Err(err) => return failed(format!("cannot resolve {}: {err}", entry.peer)),
        };
        let mut last = format!("{} resolves to no address", entry.peer);
        for addr in addrs {
            match tokio::time::timeout(self.timers.handshake, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    return self
                        .run_session(stream, Role::Initiator, key, entry, None)
                        .await
                }
                Ok(Err(err)) => last = format!("cannot connect to {addr}: {err}"),
                Err(_) => last = format!("cannot connect to {addr}: timed out"),
            }
        }
        failed(last)
    }

    fn log_end(&self, entry: &Entry, outcome: &Outcome) {
        entry.update(|s| {
            s.last_error = Some(outcome.reason.clone());
            s.port = None;
        });
        let mismatch = matches!(
            outcome.error,
            Some(LinkError::KeyMismatch | LinkError::RefusedByPeer(Refusal::KeyMismatch))
        );
        let peer = &entry.peer;
        if mismatch {
            warn!(%peer, direction = entry.direction, "link refused: {}", outcome.reason);
        } else if outcome.was_up || entry.direction == "dialed" {
            warn!(%peer, direction = entry.direction, "link down: {}", outcome.reason);
        } else {
            debug!(%peer, "link handshake failed: {}", outcome.reason);
        }
    }

    /// Run one connection's session until it ends.
    async fn run_session(
        &self,
        stream: TcpStream,
        role: Role,
        config: &LinkConfig,
        entry: &Arc<Entry>,
        permit: Option<OwnedSemaphorePermit>,
    ) -> Outcome {
        let _ = stream.set_nodelay(true);
        entry.update(|s| s.state = "handshake".to_string());
        let mut conn = Connection {
            links: self,
            entry,
            endpoint: u32::try_from(stream.as_raw_fd()).unwrap_or(0),
            permit,
            attached: None,
            was_up: false,
            handover: None,
        };
        let mut session = match Session::new(self.datapath.now(), role, config, keys::random_key())
        {
            Ok(session) => session,
            Err(e) => {
                return Outcome {
                    was_up: false,
                    reason: e.to_string(),
                    error: Some(e),
                }
            }
        };
        let result = conn.drive(&stream, &mut session).await;
        conn.detach();
        let (reason, error) = match result {
            Ok(()) => ("removed".to_string(), None),
            Err(Ended::Handover(purpose, unsent)) => {
                // Held while the transfer runs: transfers count against the
                // listener's handshake limit.
                let _permit = conn.permit.take();
                let image = self
                    .image
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let clock = *self.datapath.clock();
                let why =
                    crate::provision::serve(stream, session, unsent, purpose, image, clock).await;
                (why, None)
            }
            Err(Ended::Session(e)) => (e.to_string(), Some(e)),
            Err(Ended::Closed) => ("connection closed by the peer".to_string(), None),
            Err(Ended::Io(e)) => (format!("connection error: {e}"), None),
        };
        Outcome {
            was_up: conn.was_up,
            reason,
            error,
        }
    }
}

/// Why a connection's loop ended.
#[derive(Debug)]
enum Ended {
    Session(LinkError),
    /// The session came up for another purpose than a link (the purpose,
    /// and the session's bytes not yet written).
    Handover(Purpose, Vec<u8>),
    Closed,
    Io(io::Error),
}

/// One connection's moving parts.
struct Connection<'a> {
    links: &'a Links,
    entry: &'a Arc<Entry>,
    endpoint: u32,
    /// Held while the handshake is in progress (accepted links).
    permit: Option<OwnedSemaphorePermit>,
    attached: Option<(PortId, Arc<LinkSink>)>,
    was_up: bool,
    /// The session came up for this other purpose than a link.
    handover: Option<Purpose>,
}

impl Connection<'_> {
    /// Move bytes and frames until the session ends or the link is removed
    /// (`Ok`).
    async fn drive(&mut self, stream: &TcpStream, session: &mut Session) -> Result<(), Ended> {
        let datapath = Arc::clone(&self.links.datapath);
        let mut out: Vec<u8> = Vec::new();
        let mut written = 0;
        let mut batch = Vec::new();
        let mut buf = vec![0u8; READ_CHUNK];
        let mut scratch = Scratch::default();
        let far = || tokio::time::Instant::now() + Duration::from_secs(3600);
        loop {
            if written == out.len() {
                out.clear();
                written = 0;
                if let Some((_, sink)) = &self.attached {
                    if sink.queue.take_now(&mut batch) {
                        // A failure here shows in `session.error()` below.
                        let _ = session.send_messages(&batch);
                    }
                }
                session.poll_transmit(&mut out);
            }
            if let Some(e) = session.error() {
                // Whatever explains the failure (a refusal) gets one chance
                // to leave; a peer that does not read is not waited for.
                let _ = write_some(stream, out.get(written..).unwrap_or(&[]));
                return Err(Ended::Session(e.clone()));
            }
            let deadline = session
                .poll_timeout()
                .map_or_else(far, |t| datapath.clock().os_instant(t).into());
            let sink = self.attached.as_ref().map(|(_, s)| Arc::clone(s));
            let queued = async {
                match &sink {
                    Some(s) => s.queue.ready().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = self.entry.stopped() => return Ok(()),
                r = stream.writable(), if written < out.len() => {
                    r.map_err(Ended::Io)?;
                    let n = write_some(stream, out.get(written..).unwrap_or(&[]))?;
                    written += n;
                    session.count_sent(n);
                }
                r = stream.readable() => {
                    r.map_err(Ended::Io)?;
                    let eof = read_some(stream, &mut buf, session)?;
                    self.receive(session, &mut scratch);
                    if let Some(purpose) = self.handover {
                        return Err(Ended::Handover(purpose, out.split_off(written)));
                    }
                    if eof {
                        // What came before the end (a refusal) explains it.
                        return Err(session.error().cloned().map_or(Ended::Closed, Ended::Session));
                    }
                }
                () = queued, if written == out.len() => {}
                () = tokio::time::sleep_until(deadline) => {
                    let _ = session.handle_timeout(datapath.now());
                }
            }
            self.publish(session);
        }
    }

    /// Handle the records read: attach the port when the session comes up,
    /// forward every record's frames as one batch.
    fn receive(&mut self, session: &mut Session, scratch: &mut Scratch) {
        let datapath = Arc::clone(&self.links.datapath);
        loop {
            let got = session.poll_frames(datapath.now());
            while let Some(Event::Up { peer_key, purpose }) = session.poll_event() {
                if purpose == Purpose::Link {
                    self.attach(peer_key);
                } else {
                    self.handover = Some(purpose);
                    return;
                }
            }
            if let Some((_, sink)) = &self.attached {
                sink.peer_takes_offloads
                    .store(session.peer_takes_offloads(), Ordering::Relaxed);
            }
            match got {
                Ok(true) => {
                    if let Some((port, _)) = &self.attached {
                        let (hdrs, frames): (Vec<VnetHdr>, Vec<&[u8]>) = session.frames().unzip();
                        datapath.forward_offloaded(*port, &frames, &hdrs, scratch);
                    }
                }
                Ok(false) | Err(_) => return,
            }
        }
    }

    fn attach(&mut self, peer_key: Key) {
        let datapath = &self.links.datapath;
        let key = keys::encode(&peer_key);
        let peer = &self.entry.peer;
        let last = self
            .links
            .last_ports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&peer_key)
            .copied();
        let mut sw = datapath.lock();
        let port = match last {
            Some(p) if sw.port(p).is_none_or(|p| !p.is_active()) => {
                PortRequest::Number(u32::from(p))
            }
            _ => PortRequest::Any,
        };
        let attached = sw.attach(AttachRequest {
            port,
            endpoint: Endpoint {
                id: self.endpoint,
                module: MODULE,
                description: format!("{} link {peer} key {key}", self.entry.direction),
                user: NO_USER,
            },
            groups: Vec::new(),
        });
        drop(sw);
        let port = match attached {
            Ok(p) => p,
            Err(err) => {
                warn!(%peer, "link up but no port for it: {err}");
                return;
            }
        };
        self.links
            .last_ports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(peer_key, port);
        let sink = Arc::new(LinkSink {
            queue: FrameQueue::with_framing(Framing::LinkMessage, QUEUE_BYTES),
            entry: Arc::clone(self.entry),
            peer_takes_offloads: AtomicBool::new(false),
        });
        datapath.add_sink(
            port,
            Sink {
                endpoint: self.endpoint,
                socket: Arc::clone(&sink) as Arc<dyn FrameSink>,
            },
        );
        self.attached = Some((port, sink));
        self.permit = None;
        self.was_up = true;
        self.entry.update(|s| {
            s.port = Some(port);
            s.peer_key = Some(key.clone());
            s.sessions += 1;
        });
        if self.entry.direction == "accepted" {
            self.links.register(self.entry);
        }
        info!(%peer, port, peer_key = %key, direction = self.entry.direction, "link up");
    }

    fn detach(&mut self) {
        if let Some((port, sink)) = self.attached.take() {
            let datapath = &self.links.datapath;
            datapath.remove_sink(port, self.endpoint);
            datapath.lock().detach(port, self.endpoint);
            sink.queue.close();
        }
    }

    /// Copy the session's counters to the status entry.
    fn publish(&self, session: &Session) {
        let st = session.stats();
        self.entry.update(|s| {
            s.state = st.state.to_string();
            s.bytes_in = st.bytes_in;
            s.bytes_out = st.bytes_out;
            s.frames_in = st.frames_in;
            s.frames_out = st.frames_out;
            s.rtt_us = st
                .rtt
                .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
        });
    }
}

/// A connection dropped mid-session (its task cancelled by a removal) still
/// frees its port.
impl Drop for Connection<'_> {
    fn drop(&mut self) {
        self.detach();
    }
}

/// The pause after one that lasted `backoff` (before jitter): doubled, at
/// most [`BACKOFF_MAX`].
fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(BACKOFF_MAX)
}

/// `backoff` plus up to 50 % of it, by `random` in `[0, 1)`, so that peers
/// that lost each other at once do not redial in step.
fn with_jitter(backoff: Duration, random: f64) -> Duration {
    backoff + backoff.mul_f64(random.clamp(0.0, 1.0) * 0.5)
}

/// Write what the socket takes now; returns the bytes written.
fn write_some(stream: &TcpStream, data: &[u8]) -> Result<usize, Ended> {
    let mut done = 0;
    while let Some(rest) = data.get(done..).filter(|r| !r.is_empty()) {
        match stream.try_write(rest) {
            Ok(0) => return Err(Ended::Closed),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Ended::Io(e)),
        }
    }
    Ok(done)
}

/// Read what the socket holds (a few chunks at most) into the session;
/// true when the peer closed its side.
fn read_some(stream: &TcpStream, buf: &mut [u8], session: &mut Session) -> Result<bool, Ended> {
    for _ in 0..READS_PER_TURN {
        match stream.try_read(buf) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                session.handle_input(buf.get(..n).unwrap_or(&[]));
                if n < buf.len() {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Ended::Io(e)),
        }
    }
    Ok(false)
}

/// Links over a switch of their own, for the unit tests of this module and
/// of the room's TCP links.
#[cfg(test)]
pub(crate) mod test_support {
    use super::*;
    use crate::clock::Clock;
    use crate::datapath::mac_table_hasher;
    use f2f_core::switch::{Switch, SwitchConfig};

    /// Links of a fresh switch whose node secret is `node_secret`.
    pub(crate) fn links_with(node_secret: Key) -> Arc<Links> {
        let sw = Switch::new(SwitchConfig::default(), mac_table_hasher());
        let datapath = Arc::new(Datapath::new(sw, Clock::start()));
        Links::new(
            datapath,
            PathBuf::new(),
            Some(node_secret),
            Timers::default(),
        )
    }

    /// Links of a fresh switch with a random node secret.
    pub(crate) fn links() -> Arc<Links> {
        links_with(keys::random_key())
    }

    /// Polls `cond` every 20 ms for up to 4 s; panics naming `what`.
    pub(crate) async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
        for _ in 0..200 {
            if cond() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{links, wait_for};
    use super::*;

    /// Redials back off from 0.2 s, doubling to 5 s, each pause stretched by up to half.
    #[test]
    fn backoff_doubles_to_its_cap_with_bounded_jitter() {
        let mut pauses = vec![BACKOFF_MIN];
        while pauses.len() < 8 {
            pauses.push(next_backoff(pauses[pauses.len() - 1]));
        }
        let ms: Vec<u128> = pauses.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        let b = Duration::from_secs(2);
        assert_eq!(with_jitter(b, 0.0), b);
        assert_eq!(with_jitter(b, 0.5), Duration::from_millis(2500));
        assert!(with_jitter(b, 0.999_999) < Duration::from_secs(3));
        assert_eq!(with_jitter(b, 7.0), Duration::from_secs(3), "clamped");
    }

    /// The entry point other modules use: add a dialed link with a key held in memory, watch
    /// its status come up on both ends, remove it, and see the accepted side go away.
    #[tokio::test]
    async fn add_status_remove() {
        let key = keys::random_key();
        let (a, b) = (links(), links());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        a.listen(listener, key).unwrap();
        let id = b.add_dialed(&addr, key).unwrap();
        wait_for("the dialed link up", || {
            b.status(id).is_some_and(|s| s.state == "up")
        })
        .await;
        wait_for("the accepted link listed", || a.statuses().len() == 1).await;
        let s = b.status(id).unwrap();
        assert_eq!(
            (s.direction.as_str(), s.peer.as_str()),
            ("dialed", addr.as_str())
        );
        assert_eq!(s.port, Some(1));
        let accepted = &a.statuses()[0];
        assert!(s.peer_key.is_some() && accepted.peer_key.is_some());
        assert_ne!(
            s.peer_key, accepted.peer_key,
            "each side shows the other's key"
        );
        assert!(b.remove(id));
        assert!(b.status(id).is_none() && !b.remove(id));
        wait_for("the accepted link gone", || a.statuses().is_empty()).await;
        for side in [&a, &b] {
            let free = || side.datapath.lock().port(1).is_none_or(|p| !p.is_active());
            wait_for("the link's port freed", free).await;
        }
    }

    /// A link that comes back from the same peer gets its old port again, even when a lower
    /// one is free, so what was set on the port stays with it.
    #[tokio::test]
    async fn a_returning_peer_gets_its_port_back() {
        let key = keys::random_key();
        let (a, b) = (links(), links());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        a.listen(listener, key).unwrap();
        let occupant = || AttachRequest {
            port: PortRequest::Number(1),
            endpoint: Endpoint {
                id: 9999,
                module: "test",
                description: String::new(),
                user: NO_USER,
            },
            groups: Vec::new(),
        };
        b.datapath.lock().attach(occupant()).unwrap();
        let port_of = |id| {
            b.status(id)
                .filter(|s| s.state == "up")
                .and_then(|s| s.port)
        };
        let first = b.add_dialed(&addr, key).unwrap();
        wait_for("the first link up", || port_of(first).is_some()).await;
        assert_eq!(port_of(first), Some(2));
        b.datapath.lock().detach(1, 9999);
        assert!(b.remove(first));
        let freed = || b.datapath.lock().port(2).is_none_or(|p| !p.is_active());
        wait_for("port 2 freed", freed).await;
        let again = b.add_dialed(&addr, key).unwrap();
        wait_for("the link up again", || port_of(again).is_some()).await;
        assert_eq!(
            port_of(again),
            Some(2),
            "port 1 is free, but 2 was this peer's"
        );
    }

    /// A dialed link to nowhere keeps trying, says why, and stops when removed.
    #[tokio::test]
    async fn unreachable_peer_backs_off() {
        let b = links();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap().to_string();
        drop(closed);
        let id = b.add_dialed(&addr, keys::random_key()).unwrap();
        wait_for("an error", || {
            b.status(id)
                .and_then(|s| s.last_error)
                .is_some_and(|e| e.contains("cannot connect"))
        })
        .await;
        assert!(b.remove(id));
    }
}

#[cfg(test)]
mod image_tests {
    use super::test_support::links;
    use super::*;
    use crate::provision::{fetch, offer_bundle};
    use f2f_core::provision::ImageOffer;
    use f2f_core::room::Endpoint;

    /// A listener serving a bundle hands image sessions to the transfer instead of a port: the
    /// files arrive whole; a served file that no longer matches its offered hash is refused
    /// with the reason and its `.part` deleted; an address nobody answers at is no path.
    #[tokio::test]
    async fn image_sessions_are_served_and_checked() {
        let dir = std::env::temp_dir().join(format!("f2f-image-test-{}", std::process::id()));
        let bundle = dir.join("served").join("tiny");
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(bundle.join("image.toml"), "disk = \"disk.raw\"\n").unwrap();
        let disk: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(bundle.join("disk.raw"), &disk).unwrap();

        let key = keys::random_key();
        let master = links();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = Endpoint::new(&listener.local_addr().unwrap().to_string()).unwrap();
        master.listen(listener, key).unwrap();
        let served = offer_bundle(&bundle, Some(endpoint), None).unwrap();
        let offer = served.offer().clone();
        master.serve_image(served);

        let state = dir.join("member");
        let got = fetch(&offer, key, &state, 1).await.unwrap();
        assert_eq!(std::fs::read(got.join("disk.raw")).unwrap(), disk);
        assert!(master.statuses().is_empty(), "an image session is no link");

        let mut changed = disk.clone();
        changed[1000] ^= 1;
        std::fs::write(bundle.join("disk.raw"), &changed).unwrap();
        let err = fetch(&offer, key, &dir.join("other"), 1).await.unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("content hash mismatch"), "{text}");
        let images = dir.join("other").join("images").join("tiny");
        assert!(!images.join("disk.raw.part").exists() && !images.join("disk.raw").exists());

        // Nobody listening at the offered address: no direct path, said so.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let gone = Endpoint::new(&closed.local_addr().unwrap().to_string()).unwrap();
        drop(closed);
        let unreachable = ImageOffer {
            endpoint: Some(gone),
            ..offer
        };
        let err = fetch(&unreachable, key, &dir.join("third"), 1)
            .await
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(
            text.contains("cannot connect") && text.contains("no direct path to the master"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
