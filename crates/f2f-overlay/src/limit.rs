//! Caps on concurrent sessions: management console clients
//! (`--max-consoles`) and VDE handshakes in progress. A connection over the
//! cap is refused at once instead of holding a file descriptor and a task;
//! the first refusal after an accepted session logs one warning naming the
//! limit and the flag that sets it, so a flood of refused connections never
//! floods the log.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::warn;

/// A cap on how many sessions of one kind run at once.
#[derive(Debug)]
pub struct Limit {
    /// What is limited, for the log line ("management console sessions
    /// open").
    what: &'static str,
    /// A hint for the log line ("raise it with --max-consoles").
    hint: &'static str,
    max: usize,
    slots: Arc<Semaphore>,
    /// Whether the current run of refusals was logged already.
    warned: AtomicBool,
    refused: AtomicU64,
}

impl Limit {
    /// At most `max` (at least 1) sessions of `what`; `hint` tells the
    /// reader of the log what to do about it.
    pub fn new(what: &'static str, hint: &'static str, max: usize) -> Limit {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Limit {
            what,
            hint,
            max,
            slots: Arc::new(Semaphore::new(max)),
            warned: AtomicBool::new(false),
            refused: AtomicU64::new(0),
        }
    }

    /// A slot held until the permit drops, or `None` (logged) when every
    /// slot is taken.
    pub fn try_enter(&self) -> Option<OwnedSemaphorePermit> {
        match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => {
                self.warned.store(false, Ordering::Relaxed);
                Some(permit)
            }
            Err(_) => {
                let refused = self.refused.fetch_add(1, Ordering::Relaxed) + 1;
                if !self.warned.swap(true, Ordering::Relaxed) {
                    warn!(
                        limit = self.max,
                        refused_total = refused,
                        "limit reached: {} {}; refusing new ones until one ends ({})",
                        self.max,
                        self.what,
                        self.hint
                    );
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_over_the_cap_and_frees_slots_on_drop() {
        let limit = Limit::new("test sessions", "--test", 2);
        let a = limit.try_enter();
        let b = limit.try_enter();
        assert!(a.is_some() && b.is_some());
        assert!(limit.try_enter().is_none());
        assert!(limit.try_enter().is_none());
        assert_eq!(limit.refused.load(Ordering::Relaxed), 2);
        drop(a);
        assert!(limit.try_enter().is_some());
    }

    #[test]
    fn zero_means_one() {
        let limit = Limit::new("test sessions", "--test", 0);
        let _one = limit.try_enter();
        assert!(_one.is_some());
        assert!(limit.try_enter().is_none());
    }
}
