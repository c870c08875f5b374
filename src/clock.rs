//! Time as the rules see it. Every rule that depends on time takes `now` from a [`Clock`],
//! so tests can pin it.

use std::fmt::Debug;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub type UnixTime = i64;

/// A source of the current time.
pub trait Clock: Send + Sync + Debug {
    /// The current time in whole seconds since the Unix epoch.
    fn now(&self) -> UnixTime;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

/// A clock that stands still until told to move; tests pin time with it.
#[derive(Debug)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock reading `now`.
    pub fn new(now: UnixTime) -> Self {
        Self(AtomicI64::new(now))
    }

    /// Moves the clock forward (or back, for negative `seconds`).
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Sets the clock to `now`.
    pub fn set(&self, now: UnixTime) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }
}
