//! The shell's clock: converts the OS monotonic clock into the core's
//! [`f2f_core::time::Instant`], counted from the start of the process.

use f2f_core::time::Instant;

/// A monotonic clock whose origin is its creation.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: std::time::Instant,
}

impl Clock {
    /// A clock starting now.
    pub fn start() -> Clock {
        Clock {
            origin: std::time::Instant::now(),
        }
    }

    /// The current instant for the core.
    pub fn now(&self) -> Instant {
        // Whole seconds and the micros of the last one: no 128-bit
        // arithmetic (`as_micros`) for a clock read once per batch of frames.
        let since = self.origin.elapsed();
        let micros = since
            .as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(since.subsec_micros()));
        Instant::from_micros(micros)
    }

    /// The OS instant of a core instant (for sleeping until a deadline).
    pub fn os_instant(&self, at: Instant) -> std::time::Instant {
        self.origin + std::time::Duration::from_micros(at.total_micros())
    }

    /// Whole seconds since the start.
    pub fn uptime_secs(&self) -> u64 {
        self.origin.elapsed().as_secs()
    }
}
