//! Time as the server is given it: [`Now`] (what every event carries) and the [`Clock`] the
//! event loop reads once per round.
//!
//! Nothing else in the server reads a clock: the room, the connections and the timers are handed
//! a `Now`. The binary runs on [`SystemClock`]; tests hand the loop a [`ManualClock`] and move
//! time themselves, so a 60 s write stall or a 2 s shutdown deadline is tested without waiting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The time of an event, as the event loop read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time, for rates and deadlines.
    pub mono: Instant,
    /// Wall-clock milliseconds since the Unix epoch, for history timestamps.
    pub unix_ms: u64,
}

impl Now {
    /// The same moment moved `by` later on both clocks.
    pub fn after(self, by: Duration) -> Now {
        Now {
            mono: self.mono + by,
            unix_ms: self
                .unix_ms
                .saturating_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

/// Where the event loop gets the time. Read once per poll round (and once more for input taken
/// in the middle of a long flush).
pub trait Clock: Send {
    /// The current time.
    fn now(&self) -> Now;
}

/// The operating system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Now {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Now {
            mono: Instant::now(),
            unix_ms,
        }
    }
}

/// A clock that stands still until told to move: for tests. Clones share the same time, so a
/// test keeps one and gives another to the server.
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Now,
    /// Nanoseconds moved since `start`.
    offset_ns: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock showing the real time of its creation, until [`ManualClock::advance`] moves it.
    pub fn new() -> Self {
        ManualClock {
            start: SystemClock.now(),
            offset_ns: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Move the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ns = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.offset_ns.fetch_add(ns, Ordering::SeqCst);
    }

    /// How far the clock has been moved since it was made.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.offset_ns.load(Ordering::SeqCst))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Now {
        self.start.after(self.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = ManualClock::new();
        let other = clock.clone();
        let t0 = clock.now();
        assert_eq!(other.now(), t0);
        other.advance(Duration::from_millis(1500));
        let t1 = clock.now();
        assert_eq!(t1.mono - t0.mono, Duration::from_millis(1500));
        assert_eq!(t1.unix_ms - t0.unix_ms, 1500);
        assert_eq!(clock.elapsed(), Duration::from_millis(1500));
    }
}
