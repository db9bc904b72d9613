//! When a receive loop looks again instead of sleeping.
//!
//! Under load the next frame is usually a few microseconds away (its sender
//! runs on the other core or right after us), and a sleep costs two context
//! switches: a loop that took more than one frame since it last slept gives
//! the core away and looks again, up to [`SPINS`] times, before it sleeps.
//! One frame per wake-up is no load: sleep at once. Spinning that found
//! nothing (bursts that end, light bursty traffic) backs off: the next
//! 1, 2, 4, … up to [`MAX_BACKOFF`] busy moments sleep at once, and the
//! first spin that finds a frame ends the back-off.

/// Looks (each after yielding the core) before sleeping.
pub const SPINS: u32 = 4;
/// Most busy moments that sleep at once after spinning found nothing.
pub const MAX_BACKOFF: u32 = 64;

/// The spin state of one receive loop.
#[derive(Debug, Default)]
pub struct Spinner {
    /// Frames since the last sleep.
    handled: usize,
    /// Looks since the last frame.
    spins: u32,
    /// Busy moments to sleep through at once after failed spinning.
    backoff: u32,
    /// Of those, how many are left.
    skip: u32,
}

impl Spinner {
    /// Whether the next receive may sleep (true) or only looks (false).
    pub fn may_sleep(&mut self) -> bool {
        if self.handled > 1 && self.spins < SPINS {
            if self.spins > 0 || self.skip == 0 {
                return false;
            }
            self.skip -= 1;
        } else if self.spins >= SPINS {
            self.backoff = (self.backoff * 2).clamp(1, MAX_BACKOFF);
            self.skip = self.backoff;
        }
        (self.handled, self.spins) = (0, 0);
        true
    }

    /// `n` frames arrived.
    pub fn received(&mut self, n: usize) {
        if self.spins > 0 {
            (self.backoff, self.skip) = (0, 0);
        }
        self.handled += n;
        self.spins = 0;
    }

    /// A look found nothing (the caller yields the core before the next).
    pub fn missed(&mut self) {
        self.spins += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drive a spinner through bursts of `burst` frames, where looking
    /// again finds the next burst only if `found` says so; return how many
    /// looks missed per burst.
    fn missed_per_burst(burst: usize, bursts: usize, found: impl Fn(usize) -> bool) -> f64 {
        let mut s = Spinner::default();
        let (mut missed, mut i) = (0, 0);
        while i < bursts {
            if s.may_sleep() {
                // sleeping: woken by the next burst
                s.received(burst);
                i += 1;
            } else if found(i) {
                s.received(burst);
                i += 1;
            } else {
                s.missed();
                missed += 1;
            }
        }
        missed as f64 / bursts as f64
    }

    #[test]
    fn one_frame_per_wake_up_never_spins() {
        assert_eq!(missed_per_burst(1, 1000, |_| false), 0.0);
    }

    #[test]
    fn spinning_that_never_pays_backs_off() {
        // without back-off: SPINS misses per burst
        assert!(missed_per_burst(3, 10_000, |_| false) < 0.1);
    }

    #[test]
    fn spinning_that_pays_keeps_spinning() {
        // the next burst is there on the first look: no sleeps, no misses
        let mut s = Spinner::default();
        assert!(s.may_sleep());
        s.received(3);
        for _ in 0..100 {
            assert!(!s.may_sleep());
            s.received(2);
        }
        // a miss then a find keeps spinning without back-off
        assert!(!s.may_sleep());
        s.missed();
        assert!(!s.may_sleep());
        s.received(2);
        assert!(!s.may_sleep());
    }
}
