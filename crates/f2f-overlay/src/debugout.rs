//! Debug output to console sessions (`debug/add`): the core records events
//! only for the categories some session subscribed to; whoever releases the
//! switch lock hands them here ([`DebugHub::publish`]), and each subscribed
//! session gets its lines through a bounded queue.
//!
//! Forwarding never waits for a console: a line is offered with `try_send`
//! and dropped when the session's queue ([`SESSION_QUEUE`] lines) is full, so
//! a console that stops reading loses debug lines, never frames.

use std::sync::{Arc, Mutex, PoisonError};

use f2f_core::console::render_debug;
use tokio::sync::mpsc;
use tracing::debug;

use crate::datapath::{CoreSwitch, Datapath};

/// Debug lines a session may have waiting before newer ones are dropped.
pub const SESSION_QUEUE: usize = 1024;

/// One subscribed session.
#[derive(Debug)]
struct Subscriber {
    id: u64,
    mask: u16,
    lines: mpsc::Sender<String>,
    dropped: u64,
}

/// The sessions that subscribed to debug output.
#[derive(Debug, Default)]
pub struct DebugHub {
    subscribers: Mutex<Vec<Subscriber>>,
    next_id: Mutex<u64>,
}

impl DebugHub {
    /// Hand the events waiting in `sw` to the sessions that want them. Call
    /// with the switch locked (the lock order is switch, then hub).
    pub fn publish(&self, sw: &mut CoreSwitch) {
        let mut subs = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while let Some(event) = sw.poll_debug_event() {
            let bit = event.category().bit();
            let line = render_debug(&event);
            for s in subs.iter_mut().filter(|s| s.mask & bit != 0) {
                if s.lines.try_send(line.clone()).is_err() {
                    s.dropped += 1;
                }
            }
        }
    }

    /// Set subscriber `id`'s categories (adding it with `lines` if new; a
    /// zero mask removes it) and tell the switch what anyone still wants.
    fn set(&self, sw: &mut CoreSwitch, id: u64, mask: u16, lines: &mpsc::Sender<String>) {
        let mut subs = self
            .subscribers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match subs.iter_mut().position(|s| s.id == id) {
            Some(i) if mask == 0 => {
                let gone = subs.swap_remove(i);
                if gone.dropped > 0 {
                    debug!(dropped = gone.dropped, "console lost debug lines");
                }
            }
            Some(i) => {
                if let Some(s) = subs.get_mut(i) {
                    s.mask = mask;
                }
            }
            None if mask == 0 => {}
            None => subs.push(Subscriber {
                id,
                mask,
                lines: lines.clone(),
                dropped: 0,
            }),
        }
        let union = subs.iter().fold(0, |m, s| m | s.mask);
        sw.set_debug_mask(union);
    }

    fn new_id(&self) -> u64 {
        let mut n = self.next_id.lock().unwrap_or_else(PoisonError::into_inner);
        *n += 1;
        *n
    }
}

/// A console session's debug subscription; unsubscribes when dropped.
#[derive(Debug)]
pub struct DebugFeed {
    datapath: Arc<Datapath>,
    id: u64,
    mask: u16,
    tx: mpsc::Sender<String>,
    rx: mpsc::Receiver<String>,
}

impl DebugFeed {
    /// A feed subscribed to nothing yet.
    pub fn new(datapath: Arc<Datapath>) -> DebugFeed {
        let (tx, rx) = mpsc::channel(SESSION_QUEUE);
        let id = datapath.debug_hub().new_id();
        DebugFeed {
            datapath,
            id,
            mask: 0,
            tx,
            rx,
        }
    }

    /// The categories subscribed to.
    pub fn mask(&self) -> u16 {
        self.mask
    }

    /// Subscribe to exactly the categories in `mask`.
    pub fn set_mask(&mut self, mask: u16) {
        self.mask = mask;
        let mut sw = self.datapath.lock();
        self.datapath
            .debug_hub()
            .set(&mut sw, self.id, mask, &self.tx);
    }

    /// A debug line already waiting, if any.
    pub fn try_next_line(&mut self) -> Option<String> {
        self.rx.try_recv().ok()
    }

    /// The next debug line (pending forever while subscribed to nothing).
    pub async fn next_line(&mut self) -> Option<String> {
        self.rx.recv().await
    }
}

impl Drop for DebugFeed {
    fn drop(&mut self) {
        if self.mask != 0 {
            self.set_mask(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::datapath::mac_table_hasher;
    use f2f_core::switch::{AttachRequest, Endpoint, PortRequest, Switch, SwitchConfig};

    fn datapath() -> Arc<Datapath> {
        let config = SwitchConfig {
            numports: 4000,
            ..SwitchConfig::default()
        };
        Arc::new(Datapath::new(
            Switch::new(config, mac_table_hasher()),
            Clock::start(),
        ))
    }

    fn attach(dp: &Datapath, id: u32) {
        dp.lock()
            .attach(AttachRequest {
                port: PortRequest::Any,
                endpoint: Endpoint {
                    id,
                    module: "unix prog",
                    description: String::new(),
                    user: 0,
                },
                groups: vec![],
            })
            .expect("attach");
    }

    #[test]
    fn a_console_that_does_not_read_loses_lines_not_time() {
        let dp = datapath();
        let mut slow = DebugFeed::new(Arc::clone(&dp));
        slow.set_mask(u16::MAX);
        let mut picky = DebugFeed::new(Arc::clone(&dp));
        picky.set_mask(f2f_core::switch::Category::PortNew.bit());
        for id in 0..3000 {
            attach(&dp, id);
        }
        let mut got = 0;
        while slow.try_next_line().is_some() {
            got += 1;
        }
        assert_eq!(got, SESSION_QUEUE, "the queue is bounded");
        assert_eq!(
            picky.try_next_line().as_deref(),
            Some("3021 port/+ 01\n"),
            "each session gets only its categories"
        );
        assert_eq!(picky.try_next_line().as_deref(), Some("3021 port/+ 02\n"));
        drop(slow);
        drop(picky);
        attach(&dp, 5000);
        assert!(
            !dp.lock().has_debug_events(),
            "nothing is recorded once nobody listens"
        );
    }
}
