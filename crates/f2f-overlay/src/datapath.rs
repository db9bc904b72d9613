//! Moves frames: the receive side of every port calls [`Datapath::forward`],
//! which asks the core for the decision and writes each copy straight to the
//! destination endpoints' sockets.
//!
//! Locking: the switch (MAC table, ports, counters) sits behind one mutex held
//! only for the decision, never across a system call; the table of endpoint
//! sockets sits behind a read-mostly lock. Sends are non-blocking: a full
//! destination drops the copy and counts it (`egress_full`), as vde_switch
//! drops on EAGAIN, so one slow client never stalls the others.
//!
//! Capture (`port/capture`): one atomic load per frame tells whether any
//! capture runs; only then are frames of captured ports copied to the
//! capture queues (see [`crate::capture`]).

use std::collections::hash_map::RandomState;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use f2f_core::switch::{rewrite_frame, Egress, PortId, Switch};
use f2f_core::time::Instant;
use tokio::net::UnixDatagram;

use crate::capture::Captures;
use crate::clock::Clock;
use f2f_core::capture::Direction;

/// The switch as the shell holds it.
pub type CoreSwitch = Switch<RandomState>;

/// Where the frames for one endpoint go. Implementations never block: a full
/// destination answers `WouldBlock` and the copy is dropped and counted.
pub trait FrameSink: Send + Sync + std::fmt::Debug {
    /// Hand one frame to the endpoint without waiting.
    fn try_send(&self, frame: &[u8]) -> io::Result<()>;
}

impl FrameSink for UnixDatagram {
    fn try_send(&self, frame: &[u8]) -> io::Result<()> {
        UnixDatagram::try_send(self, frame).map(drop)
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

/// Buffers a receive loop reuses for every frame (no per-frame allocation).
#[derive(Debug, Default)]
pub struct Scratch {
    egress: Vec<Egress>,
    frame: Vec<u8>,
    full: Vec<PortId>,
}

/// Shared state of the running switch.
#[derive(Debug)]
pub struct Datapath {
    switch: Mutex<CoreSwitch>,
    sinks: RwLock<Vec<Vec<Sink>>>,
    clock: Clock,
    captures: Captures,
}

impl Datapath {
    /// Wrap a configured switch.
    pub fn new(switch: CoreSwitch, clock: Clock) -> Datapath {
        Datapath {
            switch: Mutex::new(switch),
            sinks: RwLock::new(Vec::new()),
            clock,
            captures: Captures::default(),
        }
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
    pub fn lock(&self) -> MutexGuard<'_, CoreSwitch> {
        self.switch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Register an endpoint's socket as a destination of `port`.
    pub fn add_sink(&self, port: PortId, sink: Sink) {
        let mut sinks = self.sinks.write().unwrap_or_else(PoisonError::into_inner);
        let idx = usize::from(port);
        if sinks.len() <= idx {
            sinks.resize_with(idx + 1, Vec::new);
        }
        if let Some(list) = sinks.get_mut(idx) {
            list.push(sink);
        }
    }

    /// Remove an endpoint's socket from `port`.
    pub fn remove_sink(&self, port: PortId, endpoint: u32) {
        let mut sinks = self.sinks.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = sinks.get_mut(usize::from(port)) {
            list.retain(|s| s.endpoint != endpoint);
        }
    }

    /// Forward one frame received on `ingress`.
    pub fn forward(&self, ingress: PortId, frame: &[u8], scratch: &mut Scratch) {
        let now = self.now();
        let Scratch {
            egress,
            frame: copy,
            full,
        } = scratch;
        let capturing = self.captures.active();
        if capturing {
            self.captures.offer(ingress, Direction::In, frame);
        }
        self.lock().decide(now, ingress, frame, egress);
        if egress.is_empty() {
            return;
        }
        {
            let sinks = self.sinks.read().unwrap_or_else(PoisonError::into_inner);
            for e in egress.iter() {
                let Some(list) = sinks.get(usize::from(e.port)) else {
                    continue;
                };
                let bytes = rewrite_frame(frame, e.rewrite, copy);
                if capturing {
                    self.captures.offer(e.port, Direction::Out, bytes);
                }
                for sink in list {
                    match sink.socket.try_send(bytes) {
                        Ok(_) => {}
                        Err(err) if err.kind() == io::ErrorKind::WouldBlock => full.push(e.port),
                        Err(err) => {
                            tracing::trace!(port = e.port, endpoint = sink.endpoint, %err, "send failed");
                            full.push(e.port);
                        }
                    }
                }
            }
        }
        if !full.is_empty() {
            let mut sw = self.lock();
            for port in full.drain(..) {
                sw.count_egress_drop(port);
            }
        }
    }
}
