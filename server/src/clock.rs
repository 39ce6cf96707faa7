//! Time as the server is given it: [`Now`] (what every event carries) and the [`Clock`] the
//! event loop reads once per round.
//!
//! Nothing else in the server reads a clock: the room, the connections and the timers are handed
//! a `Now`. The binary runs on [`SystemClock`]; tests hand the loop a [`ManualClock`] and move
//! time themselves, so a 60 s write stall or a 2 s shutdown deadline is tested without waiting.
//! Tests of the built binary move its time through a file instead ([`FileClock`], named by the
//! environment variable [`TEST_CLOCK_VAR`]).

use std::path::PathBuf;
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

/// The environment variable that, set to a file's path, runs the binary on a [`FileClock`]
/// reading that file. For tests only: it is in no `--help`.
pub const TEST_CLOCK_VAR: &str = "LANCHAT_TEST_CLOCK";

/// A clock that stands still until a test moves it, as [`ManualClock`] does, for the built
/// binary: the system's time when it was made plus the milliseconds (decimal text) a file holds,
/// read again at every call. That is how a test of the binary jumps over a 5 s retry or a 10 s
/// quiet window without waiting for it. It never moves back, and a file that cannot be read or
/// parsed (half written, removed) leaves it where it was; a test replaces the file whole (writes
/// a new one and renames it over the old). A read per call is affordable only in tests.
#[derive(Debug)]
pub struct FileClock {
    start: Now,
    path: PathBuf,
    /// The largest offset read so far, in milliseconds.
    offset_ms: AtomicU64,
}

impl FileClock {
    /// A clock showing the time of its creation, moved by what `path` holds (nothing until
    /// the file holds a number).
    pub fn new(path: PathBuf) -> Self {
        FileClock {
            start: SystemClock.now(),
            path,
            offset_ms: AtomicU64::new(0),
        }
    }

    /// How far the file says the clock has moved.
    pub fn offset(&self) -> Duration {
        let read = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        if let Some(ms) = read {
            self.offset_ms.fetch_max(ms, Ordering::SeqCst);
        }
        Duration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}

impl Clock for FileClock {
    fn now(&self) -> Now {
        self.start.after(self.offset())
    }
}

/// One clock, several readers (the binary's loop and its logger).
impl<C: Clock + Sync + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Now {
        (**self).now()
    }
}

/// The clock the binary runs on, its loop and its logger alike: the system's, or a
/// [`FileClock`] when [`TEST_CLOCK_VAR`] names a file.
pub fn of_process() -> Arc<dyn Clock + Sync> {
    match std::env::var_os(TEST_CLOCK_VAR) {
        Some(path) if !path.is_empty() => Arc::new(FileClock::new(path.into())),
        _ => Arc::new(SystemClock),
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

    #[test]
    fn a_file_clock_stands_still_moves_as_its_file_says_forward_only_and_keeps_over_a_bad_read() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("clock");
        let clock = FileClock::new(path.clone());
        let t0 = clock.now();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(clock.now(), t0, "no file yet: it stands still");
        std::fs::write(&path, "5000\n").expect("write");
        assert_eq!(clock.offset(), Duration::from_secs(5));
        assert_eq!(clock.now(), t0.after(Duration::from_secs(5)));
        for bad in ["", "50", "x"] {
            std::fs::write(&path, bad).expect("write");
            assert_eq!(clock.offset(), Duration::from_secs(5), "{bad:?}");
        }
        std::fs::remove_file(&path).expect("remove");
        assert_eq!(clock.offset(), Duration::from_secs(5));
    }
}
