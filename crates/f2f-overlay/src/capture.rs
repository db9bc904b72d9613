//! Packet capture, switch side: which ports are being captured, and the
//! queues that carry copies of their frames to the capturing console
//! sessions (`port/capture`, see [`f2f_core::capture`] for the stream and why
//! the client, not the switch, writes the file).
//!
//! Cost on the forwarding path: with no capture running, [`Captures::active`]
//! is one relaxed atomic load per frame and nothing else. While a capture
//! runs, each frame passing a captured port is copied into a bounded queue
//! ([`QUEUE_FRAMES`]) with `try_send`: a full queue drops the copy and counts
//! it, so a slow capture client never slows forwarding or grows memory.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use f2f_core::capture::Direction;
use f2f_core::status::CaptureStatus;
use f2f_core::switch::PortId;
use tokio::sync::mpsc;

/// Frames queued per capture before copies are dropped.
pub const QUEUE_FRAMES: usize = 4096;

/// One captured frame on its way to a session.
#[derive(Debug)]
pub struct Captured {
    /// Capture time, microseconds since the UNIX epoch.
    pub ts_micros: u64,
    /// Which way it passed the port.
    pub direction: Direction,
    /// The frame as the port saw it.
    pub frame: Vec<u8>,
}

/// One running capture.
#[derive(Debug)]
pub struct Tap {
    id: u64,
    port: PortId,
    tx: mpsc::Sender<Captured>,
    queued: AtomicU64,
    dropped: AtomicU64,
}

impl Tap {
    /// Copies lost because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Every running capture of the switch.
#[derive(Debug, Default)]
pub struct Captures {
    active: AtomicUsize,
    next_id: AtomicU64,
    taps: RwLock<Vec<Arc<Tap>>>,
}

/// Stops its capture when dropped (the session ended, however it ended).
#[derive(Debug)]
pub struct CaptureGuard<'a> {
    captures: &'a Captures,
    /// The capture.
    pub tap: Arc<Tap>,
}

impl Drop for CaptureGuard<'_> {
    fn drop(&mut self) {
        self.captures.stop(self.tap.id);
    }
}

impl Captures {
    /// True while at least one capture runs: the one check the forwarding
    /// path makes per frame.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed) != 0
    }

    /// Start capturing `port`; frames arrive on the receiver until the guard
    /// is dropped.
    pub fn start(&self, port: PortId) -> (CaptureGuard<'_>, mpsc::Receiver<Captured>) {
        let (tx, rx) = mpsc::channel(QUEUE_FRAMES);
        let tap = Arc::new(Tap {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            port,
            tx,
            queued: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        });
        self.taps
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&tap));
        self.active.fetch_add(1, Ordering::Relaxed);
        tracing::info!(port, "capture started");
        (
            CaptureGuard {
                captures: self,
                tap,
            },
            rx,
        )
    }

    fn stop(&self, id: u64) {
        let mut taps = self.taps.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(pos) = taps.iter().position(|t| t.id == id) {
            let tap = taps.swap_remove(pos);
            self.active.fetch_sub(1, Ordering::Relaxed);
            tracing::info!(
                port = tap.port,
                frames = tap.queued.load(Ordering::Relaxed),
                dropped = tap.dropped(),
                "capture stopped"
            );
        }
    }

    /// Offer a frame that passed `port` to the captures of that port. Call
    /// only when [`Captures::active`] said so.
    pub fn offer(&self, port: PortId, direction: Direction, frame: &[u8]) {
        let taps = self.taps.read().unwrap_or_else(PoisonError::into_inner);
        let mut ts_micros = None;
        for tap in taps.iter().filter(|t| t.port == port) {
            let ts = *ts_micros.get_or_insert_with(wall_clock_micros);
            let copy = Captured {
                ts_micros: ts,
                direction,
                frame: frame.to_vec(),
            };
            match tap.tx.try_send(copy) {
                Ok(()) => tap.queued.fetch_add(1, Ordering::Relaxed),
                Err(_) => tap.dropped.fetch_add(1, Ordering::Relaxed),
            };
        }
    }

    /// The running captures, for `status`.
    pub fn stats(&self) -> Vec<CaptureStatus> {
        let taps = self.taps.read().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<CaptureStatus> = taps
            .iter()
            .map(|t| CaptureStatus {
                port: t.port,
                frames: t.queued.load(Ordering::Relaxed),
                dropped: t.dropped(),
            })
            .collect();
        out.sort_by_key(|c| c.port);
        out
    }
}

/// Microseconds since the UNIX epoch (pcap timestamps are wall-clock time).
fn wall_clock_micros() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_reach_only_their_port_and_stop_with_the_guard() {
        let caps = Captures::default();
        assert!(!caps.active());
        let (guard, mut rx) = caps.start(2);
        assert!(caps.active());
        caps.offer(1, Direction::In, &[1; 20]);
        caps.offer(2, Direction::Out, &[2; 20]);
        let got = rx.try_recv().unwrap();
        assert_eq!((got.direction, got.frame.len()), (Direction::Out, 20));
        assert!(got.ts_micros > 1_600_000_000_000_000);
        assert!(rx.try_recv().is_err(), "port 1's frame leaked");
        assert_eq!(caps.stats()[0].frames, 1);
        drop(guard);
        assert!(!caps.active());
        assert!(caps.stats().is_empty());
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let caps = Captures::default();
        let (guard, _rx) = caps.start(1);
        for _ in 0..QUEUE_FRAMES + 5 {
            caps.offer(1, Direction::In, &[0; 14]);
        }
        assert_eq!(guard.tap.dropped(), 5);
        assert_eq!(caps.stats()[0].frames, QUEUE_FRAMES as u64);
    }
}
