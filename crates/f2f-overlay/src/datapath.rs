//! Moves frames: the receive side of every port hands a batch of received
//! frames to [`Datapath::forward_batch`], which asks the core for each
//! decision and writes the copies straight to the destination endpoints,
//! grouped per destination so that a burst to one endpoint is one system
//! call (`sendmmsg`) where the sink allows it.
//!
//! Locking: the switch (MAC table, ports, counters) sits behind one mutex held
//! once per batch, for the decisions only, never across a system call; the
//! table of endpoint sinks sits behind a read-mostly lock. Sends never block:
//! a full destination drops the copy and counts it (`egress_full`), as
//! vde_switch drops on EAGAIN, so one slow client never stalls the others.
//! No allocation per frame: every buffer lives in the caller's [`Scratch`].
//!
//! Timers: the core says when it next has work ([`Switch::poll_timeout`]:
//! spanning-tree hellos and paced BPDUs, MAC aging). The timer task sleeps
//! until then in [`Datapath::service`]; whoever changes the switch through
//! [`Datapath::lock`] wakes it early when that deadline moved closer (the
//! guard checks on release), so BPDUs owed after an attach, a console
//! command or a received BPDU go out at once. BPDUs produced while deciding
//! a batch go out with that batch.
//!
//! Debug output (`debug/add`): the guard also hands the debug events a
//! change produced to the subscribed consoles on release (see
//! [`crate::debugout`]); with no subscriber the core records none.
//!
//! Capture (`port/capture`): one atomic load per batch tells whether any
//! capture runs; only then are the frames of captured ports copied, in
//! decision order, to the capture queues (see [`crate::capture`]).

use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use f2f_core::switch::{append_rewritten, Egress, PortId, Rewrite, Switch};
use f2f_core::time::Instant;
use f2f_core::wire::offload::{self, VnetHdr};
use foldhash::fast::SeedableRandomState;
use foldhash::SharedSeed;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use tokio::sync::Notify;

use crate::capture::Captures;
use crate::clock::Clock;
use crate::debugout::DebugHub;
use crate::sys::mmsg::{self, BATCH};
use f2f_core::capture::Direction;

/// The switch as the shell holds it, with its MAC table's hasher.
pub type CoreSwitch = Switch<SeedableRandomState>;

/// The MAC table's hasher: foldhash, several times cheaper per frame than
/// std's SipHash, keyed with seeds from the OS random source (not foldhash's
/// own address-based default) so that nobody can aim source MACs at one
/// bucket.
pub fn mac_table_hasher() -> SeedableRandomState {
    let shared: &'static SharedSeed = Box::leak(Box::new(SharedSeed::from_u64(rand::random())));
    SeedableRandomState::with_seed(rand::random(), shared)
}

/// Where the frames for one endpoint go. Implementations never block: a full
/// destination answers `WouldBlock` and the copy is dropped and counted.
pub trait FrameSink: Send + Sync + std::fmt::Debug {
    /// Hand one frame to the endpoint without waiting.
    fn try_send(&self, frame: &[u8]) -> io::Result<()>;

    /// Hand several frames over without waiting; returns how many were taken.
    fn try_send_batch(&self, frames: &[&[u8]]) -> usize {
        frames.iter().filter(|f| self.try_send(f).is_ok()).count()
    }

    /// Hand over an offloaded frame with its virtio-net header as it is, if
    /// the endpoint takes such frames (a tap with offloads); `None` if not,
    /// and the datapath finishes the frame into ordinary ones instead.
    fn try_send_offloaded(&self, _hdr: &VnetHdr, _frame: &[u8]) -> Option<io::Result<()>> {
        None
    }

    /// Wait up to `timeout` until the endpoint can take more; false if it
    /// cannot tell or did not become ready. Only the burst of segments cut
    /// from one offloaded frame waits (see [`SEGMENT_WAIT`]).
    fn wait_writable(&self, _timeout: PollTimeout) -> bool {
        false
    }
}

/// How long in all the segments of one offloaded frame may wait for a full
/// destination (a VDE client's socket queue holds a few datagrams only,
/// `net.unix.max_dgram_qlen`, while one super-segment makes up to 45): the
/// tap's receive thread waits instead of dropping the tail of every burst.
const SEGMENT_WAIT: Duration = Duration::from_millis(5);

/// A VDE endpoint's data socket (connected; blocking for its receiver, so
/// every send here says `MSG_DONTWAIT`).
impl FrameSink for UnixDatagram {
    fn try_send(&self, frame: &[u8]) -> io::Result<()> {
        match mmsg::send_batch(self.as_raw_fd(), &[frame]) {
            Ok(1) => Ok(()),
            Ok(_) => Err(io::ErrorKind::WouldBlock.into()),
            Err(errno) => Err(errno.into()),
        }
    }

    fn try_send_batch(&self, frames: &[&[u8]]) -> usize {
        let mut sent = 0;
        while let Some(rest) = frames.get(sent..).filter(|r| !r.is_empty()) {
            match mmsg::send_batch(self.as_raw_fd(), rest) {
                Ok(0) => break,
                Ok(n) => sent += n,
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        sent
    }

    fn wait_writable(&self, timeout: PollTimeout) -> bool {
        let mut fds = [PollFd::new(self.as_fd(), PollFlags::POLLOUT)];
        matches!(poll(&mut fds, timeout), Ok(n) if n > 0)
    }
}

/// One endpoint's outgoing side.
#[derive(Clone, Debug)]
pub struct Sink {
    /// The endpoint id (`port/print`'s "endpoint ID").
    pub endpoint: u32,
    /// Where its frames go.
    pub socket: Arc<dyn FrameSink>,
}

/// Where one outgoing copy's bytes are.
#[derive(Clone, Copy, Debug)]
enum Bytes {
    /// The received frame with this index in the batch, unchanged.
    Input(usize),
    /// A rewritten copy in `Scratch::copies`.
    Copy { start: usize, end: usize },
}

/// One copy waiting to be sent.
#[derive(Clone, Copy, Debug)]
struct Pending {
    port: PortId,
    /// Order of decision, to keep frames in order per destination.
    seq: usize,
    bytes: Bytes,
    /// What is left to do to the bytes (plain for ordinary frames).
    offload: VnetHdr,
}

/// Buffers a receive loop reuses for every batch (no per-frame allocation).
#[derive(Debug, Default)]
pub struct Scratch {
    egress: Vec<Egress>,
    copies: Vec<u8>,
    pending: Vec<Pending>,
    dropped: Vec<(PortId, usize)>,
    /// Offloaded frames finished for a port without offloads, and their ends.
    finished: Vec<u8>,
    finished_ends: Vec<usize>,
}

/// Shared state of the running switch.
#[derive(Debug)]
pub struct Datapath {
    switch: Mutex<CoreSwitch>,
    sinks: RwLock<Vec<Vec<Sink>>>,
    clock: Clock,
    /// The deadline the timer task sleeps towards (core micros).
    armed: AtomicU64,
    /// Wakes the timer task before `armed`.
    wake: Notify,
    captures: Captures,
    debug: DebugHub,
}

/// The locked switch. On release it wakes the timer task if the core's next
/// deadline moved before the one the task sleeps towards.
#[derive(Debug)]
pub struct SwitchGuard<'a> {
    guard: MutexGuard<'a, CoreSwitch>,
    datapath: &'a Datapath,
}

impl Deref for SwitchGuard<'_> {
    type Target = CoreSwitch;
    fn deref(&self) -> &CoreSwitch {
        &self.guard
    }
}

impl DerefMut for SwitchGuard<'_> {
    fn deref_mut(&mut self) -> &mut CoreSwitch {
        &mut self.guard
    }
}

impl Drop for SwitchGuard<'_> {
    fn drop(&mut self) {
        if self.guard.has_debug_events() {
            self.datapath.debug.publish(&mut self.guard);
        }
        let next = self.guard.poll_timeout().total_micros();
        if next < self.datapath.armed.load(Ordering::Acquire) {
            self.datapath.wake.notify_one();
        }
    }
}

impl Datapath {
    /// Wrap a configured switch.
    pub fn new(switch: CoreSwitch, clock: Clock) -> Datapath {
        Datapath {
            switch: Mutex::new(switch),
            sinks: RwLock::new(Vec::new()),
            clock,
            armed: AtomicU64::new(0),
            wake: Notify::new(),
            captures: Captures::default(),
            debug: DebugHub::default(),
        }
    }

    /// The consoles subscribed to debug output.
    pub fn debug_hub(&self) -> &DebugHub {
        &self.debug
    }

    /// The running packet captures.
    pub fn captures(&self) -> &Captures {
        &self.captures
    }

    /// The core's notion of now.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Lock the switch for a decision or a console command. Never hold the
    /// guard across I/O.
    pub fn lock(&self) -> SwitchGuard<'_> {
        SwitchGuard {
            guard: self.switch.lock().unwrap_or_else(PoisonError::into_inner),
            datapath: self,
        }
    }

    /// Run the core's timers that are due, write the BPDUs they (or earlier
    /// changes) produced, and return when to come back. Only the timer task
    /// calls this.
    pub fn service(&self) -> Instant {
        let now = self.now();
        let mut bpdus = Vec::new();
        let next = {
            let mut sw = self.switch.lock().unwrap_or_else(PoisonError::into_inner);
            sw.handle_timeout(now);
            while let Some(b) = sw.poll_transmit() {
                bpdus.push(b);
            }
            let next = sw.poll_timeout();
            self.armed.store(next.total_micros(), Ordering::Release);
            if sw.has_debug_events() {
                self.debug.publish(&mut sw);
            }
            next
        };
        let mut dropped = Vec::new();
        {
            let sinks = self.sinks.read().unwrap_or_else(PoisonError::into_inner);
            for b in &bpdus {
                for sink in sinks.get(usize::from(b.port)).into_iter().flatten() {
                    if sink.socket.try_send(b.frame()).is_err() {
                        dropped.push(b.port);
                    }
                }
            }
        }
        if !dropped.is_empty() {
            let mut sw = self.lock();
            for port in dropped {
                sw.count_egress_drop(port);
            }
        }
        next
    }

    /// Resolves when a change made through [`Datapath::lock`] brought the
    /// core's next deadline forward.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Register an endpoint's sink as a destination of `port`.
    pub fn add_sink(&self, port: PortId, sink: Sink) {
        let mut sinks = self.sinks.write().unwrap_or_else(PoisonError::into_inner);
        let idx = usize::from(port);
        if sinks.len() <= idx {
            sinks.resize_with(idx + 1, Vec::new);
        }
        if let Some(list) = sinks.get_mut(idx) {
            list.push(sink);
        }
        drop(sinks);
        // The BPDU owed to a joining port may have gone before its socket
        // was here: owe it again (the spanning tree paces it).
        let now = self.now();
        self.lock().announce_port(now, port);
    }

    /// Remove an endpoint's sink from `port`.
    pub fn remove_sink(&self, port: PortId, endpoint: u32) {
        let mut sinks = self.sinks.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = sinks.get_mut(usize::from(port)) {
            list.retain(|s| s.endpoint != endpoint);
        }
    }

    /// Forward one frame received on `ingress`.
    pub fn forward(&self, ingress: PortId, frame: &[u8], scratch: &mut Scratch) {
        self.forward_batch(ingress, &[frame], scratch);
    }

    /// Forward frames received on `ingress`, in order.
    pub fn forward_batch(&self, ingress: PortId, frames: &[&[u8]], scratch: &mut Scratch) {
        self.forward_offloaded(ingress, frames, &[], scratch);
    }

    /// Forward frames received on `ingress`, in order, each with its
    /// virtio-net header (`hdrs[i]` for `frames[i]`; missing ones are plain):
    /// offloaded ones go to ports that take offloads as they are, and are
    /// finished (checksummed, segmented) for the others.
    pub fn forward_offloaded(
        &self,
        ingress: PortId,
        frames: &[&[u8]],
        hdrs: &[VnetHdr],
        scratch: &mut Scratch,
    ) {
        let now = self.now();
        let Scratch {
            egress,
            copies,
            pending,
            dropped,
            finished,
            finished_ends,
        } = scratch;
        pending.clear();
        copies.clear();
        let capturing = self.captures.active();
        {
            let mut sw = self.lock();
            for (i, frame) in frames.iter().enumerate() {
                if capturing {
                    self.captures.offer(ingress, Direction::In, frame);
                }
                let hdr = hdrs.get(i).copied().unwrap_or_default();
                if hdr.is_plain() {
                    sw.decide(now, ingress, frame, egress);
                } else {
                    sw.decide_offloaded(now, ingress, frame, egress);
                }
                for e in egress.iter() {
                    let offload = match e.rewrite {
                        _ if hdr.is_plain() => hdr,
                        Rewrite::AsIs => hdr,
                        Rewrite::AddTag(_) => hdr.shifted(4),
                        Rewrite::StripTag => hdr.shifted(-4),
                    };
                    let bytes = if e.rewrite == Rewrite::AsIs {
                        Bytes::Input(i)
                    } else {
                        let start = copies.len();
                        append_rewritten(frame, e.rewrite, copies);
                        Bytes::Copy {
                            start,
                            end: copies.len(),
                        }
                    };
                    if capturing {
                        let out = match bytes {
                            Bytes::Input(_) => frame,
                            Bytes::Copy { start, end } => copies.get(start..end).unwrap_or(&[]),
                        };
                        self.captures.offer(e.port, Direction::Out, out);
                    }
                    pending.push(Pending {
                        port: e.port,
                        seq: pending.len(),
                        bytes,
                        offload,
                    });
                }
            }
            // BPDUs the spanning tree owes after these frames (answers to
            // received BPDUs) go out with them.
            while let Some(b) = sw.poll_transmit() {
                let start = copies.len();
                copies.extend_from_slice(b.frame());
                pending.push(Pending {
                    port: b.port,
                    seq: pending.len(),
                    bytes: Bytes::Copy {
                        start,
                        end: copies.len(),
                    },
                    offload: VnetHdr::default(),
                });
            }
        }
        if pending.is_empty() {
            return;
        }
        // Usually already grouped (one frame, or a burst to one port).
        if !pending.is_sorted_by_key(|p| p.port) {
            pending.sort_unstable_by_key(|p| (p.port, p.seq));
        }
        {
            let sinks = self.sinks.read().unwrap_or_else(PoisonError::into_inner);
            let mut slots: [&[u8]; BATCH] = [&[]; BATCH];
            for group in pending.chunk_by(|a, b| a.port == b.port) {
                let Some(port) = group.first().map(|p| p.port) else {
                    continue;
                };
                let Some(list) = sinks.get(usize::from(port)) else {
                    continue;
                };
                for chunk in group.chunks(BATCH) {
                    for (slot, p) in slots.iter_mut().zip(chunk) {
                        *slot = match p.bytes {
                            Bytes::Input(i) => frames.get(i).copied().unwrap_or(&[]),
                            Bytes::Copy { start, end } => copies.get(start..end).unwrap_or(&[]),
                        };
                    }
                    let batch = slots.get(..chunk.len()).unwrap_or(&[]);
                    let plain = chunk.iter().all(|p| p.offload.is_plain());
                    for sink in list {
                        let lost = if plain {
                            batch.len() - sink.socket.try_send_batch(batch)
                        } else {
                            send_offloaded(&*sink.socket, batch, chunk, finished, finished_ends)
                        };
                        if lost > 0 {
                            dropped.push((port, lost));
                        }
                    }
                }
            }
        }
        if !dropped.is_empty() {
            let mut sw = self.lock();
            for (port, n) in dropped.drain(..) {
                for _ in 0..n {
                    sw.count_egress_drop(port);
                }
            }
        }
    }
}

/// Send a chunk that holds offloaded frames to one sink, in order: plain
/// frames as they are, offloaded ones with their header if the sink takes
/// them, else finished into ordinary frames. Returns the frames lost (one
/// per offloaded frame of which any part could not be sent or finished).
fn send_offloaded(
    sink: &dyn FrameSink,
    batch: &[&[u8]],
    chunk: &[Pending],
    finished: &mut Vec<u8>,
    ends: &mut Vec<usize>,
) -> usize {
    let mut lost = 0;
    for (frame, p) in batch.iter().zip(chunk) {
        if p.offload.is_plain() {
            lost += usize::from(sink.try_send(frame).is_err());
            continue;
        }
        if let Some(sent) = sink.try_send_offloaded(&p.offload, frame) {
            lost += usize::from(sent.is_err());
            continue;
        }
        finished.clear();
        ends.clear();
        if offload::finish(&p.offload, frame, finished, ends).is_err() {
            lost += 1;
            continue;
        }
        let mut segs: [&[u8]; BATCH] = [&[]; BATCH];
        let mut all_sent = true;
        let mut start = 0;
        let deadline = std::time::Instant::now() + SEGMENT_WAIT;
        for group in ends.chunks(BATCH) {
            for (seg, &end) in segs.iter_mut().zip(group) {
                *seg = finished.get(start..end).unwrap_or(&[]);
                start = end;
            }
            let mut rest = segs.get(..group.len()).unwrap_or(&[]);
            while all_sent && !rest.is_empty() {
                rest = rest.get(sink.try_send_batch(rest)..).unwrap_or(&[]);
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::ZERO);
                if !rest.is_empty() && (left.is_zero() || !sink.wait_writable(wait)) {
                    all_sent = false;
                }
            }
        }
        lost += usize::from(!all_sent);
    }
    lost
}
