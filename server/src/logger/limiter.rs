//! Rate limiting of log lines, per kind: past a few lines a second of one kind, lines are
//! only counted, and one summary line later says how many ("... and 8,120 more joins in the
//! last 10 s").
//!
//! Without it, one host churning connections writes megabytes of log a second to whatever
//! stderr goes to. Plain code fed the time: the logger passes `now` in.
//!
//! Each kind has a token bucket ([`BURST`] lines at once, [`RATE`] a second after that). When
//! it runs dry the kind goes quiet for [`WINDOW`]: its lines are counted, not written. When
//! the window is over the count becomes a pending [`Summary`], written before the next line
//! that goes out (or by the logger's `flush`), and the bucket starts full again. So a flood
//! of one kind costs about `BURST` lines and one summary per window.

use std::fmt;
use std::time::{Duration, Instant};

use lanchat_proto::bucket::TokenBucket;
use log::Level;

use super::kind::Kind;
use super::line::thousands;

/// Lines of one kind written per second once its burst is spent.
pub const RATE: f64 = 5.0;
/// Lines of one kind written at once before [`RATE`] applies: a room filling up at nine in
/// the morning is logged line by line.
pub const BURST: u32 = 20;
/// How long a kind whose bucket ran dry stays quiet before its summary.
pub const WINDOW: Duration = Duration::from_secs(10);
/// Kinds tracked one by one; more (only possible from a dependency's call sites, the server
/// has a few dozen) share one entry.
pub const MAX_KINDS: usize = 256;

/// What a line is, for rate limiting: a kind its call site named, else the call site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A [`Kind`] the call site named through its target.
    Named(Kind),
    /// One `log!` statement.
    Site {
        /// Its module path (`lanchat_server::event_loop`).
        module: &'static str,
        /// Its line.
        line: u32,
    },
    /// Lines with no static call site, and any beyond [`MAX_KINDS`].
    Other,
}

impl Key {
    /// The key of a record with this target, module path and line.
    pub fn of(target: &str, module: Option<&'static str>, line: Option<u32>) -> Key {
        if let Some(kind) = Kind::from_target(target) {
            return Key::Named(kind);
        }
        match (module, line) {
            (Some(module), Some(line)) => Key::Site { module, line },
            _ => Key::Other,
        }
    }
}

/// Whether a line goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Write it.
    Write,
    /// Its kind is quiet: counted for the summary.
    Counted,
}

/// Lines of one kind that were counted instead of written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Their kind.
    pub key: Key,
    /// How many.
    pub count: u64,
    /// The most severe of them (the summary is logged at this level).
    pub level: Level,
    /// From the first of them to when the summary is written.
    pub over: Duration,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "... and {} more ", thousands(self.count))?;
        match self.key {
            Key::Named(kind) => f.write_str(kind.plural())?,
            Key::Site { module, line } => write!(f, "lines from {module}:{line}")?,
            Key::Other => f.write_str("lines from elsewhere")?,
        }
        write!(f, " in the last {} s", self.over.as_secs().max(1))
    }
}

/// Counted lines of one kind: from `since`, `count` of them, the worst at `level`.
#[derive(Debug, Clone, Copy)]
struct Tally {
    since: Instant,
    count: u64,
    level: Level,
}

impl Tally {
    fn new(since: Instant, level: Level) -> Self {
        Tally {
            since,
            count: 1,
            level,
        }
    }

    fn add(&mut self, level: Level) {
        self.count += 1;
        // `Level` orders Error < Warn < ...: the smaller is the more severe.
        self.level = self.level.min(level);
    }

    fn merge(self, later: Tally) -> Tally {
        Tally {
            since: self.since.min(later.since),
            count: self.count + later.count,
            level: self.level.min(later.level),
        }
    }
}

struct Entry {
    key: Key,
    bucket: TokenBucket,
    /// Set while the kind is quiet: what has been counted in this window.
    quiet: Option<Tally>,
    /// Counted in windows that are over, waiting to be written.
    pending: Option<Tally>,
}

/// Per-kind rate limits for log lines.
#[derive(Default)]
pub struct Limiter {
    entries: Vec<Entry>,
}

impl Limiter {
    /// An empty limiter: every kind starts with a full bucket.
    pub fn new() -> Self {
        Limiter::default()
    }

    /// End every quiet window that is over at `now`: its count becomes pending, its bucket
    /// starts full again. Call before [`Limiter::admit`].
    pub fn end_windows(&mut self, now: Instant) {
        for e in &mut self.entries {
            let Some(quiet) = e.quiet else { continue };
            if now.saturating_duration_since(quiet.since) < WINDOW {
                continue;
            }
            e.quiet = None;
            e.pending = Some(match e.pending {
                Some(earlier) => earlier.merge(quiet),
                None => quiet,
            });
            e.bucket = TokenBucket::new(RATE, BURST, now);
        }
    }

    /// Is a line of `key` at `level` written now, or counted?
    pub fn admit(&mut self, key: Key, level: Level, now: Instant) -> Verdict {
        let e = self.entry(key, now);
        if let Some(quiet) = &mut e.quiet {
            quiet.add(level);
            return Verdict::Counted;
        }
        if e.bucket.take(now) {
            Verdict::Write
        } else {
            e.quiet = Some(Tally::new(now, level));
            Verdict::Counted
        }
    }

    /// When the first quiet window now open is over (its count then becomes a summary).
    pub fn next_window_end(&self) -> Option<Instant> {
        self.entries
            .iter()
            .filter_map(|e| Some(e.quiet?.since + WINDOW))
            .min()
    }

    /// Is any summary waiting to be written?
    pub fn has_pending(&self) -> bool {
        self.entries.iter().any(|e| e.pending.is_some())
    }

    /// Offer each pending summary to `write`, in the order the kinds were first seen; one it
    /// takes (returns `true` for) is done, and the first it refuses (no room) stops the round,
    /// the rest staying pending.
    pub fn take_pending(&mut self, now: Instant, mut write: impl FnMut(&Summary) -> bool) {
        for e in &mut self.entries {
            let Some(tally) = e.pending else { continue };
            let summary = Summary {
                key: e.key,
                count: tally.count,
                level: tally.level,
                over: now.saturating_duration_since(tally.since),
            };
            if !write(&summary) {
                return;
            }
            e.pending = None;
        }
    }

    fn entry(&mut self, key: Key, now: Instant) -> &mut Entry {
        let key = if self.entries.len() >= MAX_KINDS && !self.entries.iter().any(|e| e.key == key) {
            Key::Other
        } else {
            key
        };
        let at = match self.entries.iter().position(|e| e.key == key) {
            Some(at) => at,
            None => {
                self.entries.push(Entry {
                    key,
                    bucket: TokenBucket::new(RATE, BURST, now),
                    quiet: None,
                    pending: None,
                });
                self.entries.len() - 1
            }
        };
        &mut self.entries[at]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOIN: Key = Key::Named(Kind::Join);
    const SITE: Key = Key::Site {
        module: "lanchat_server::event_loop",
        line: 42,
    };

    fn pending(l: &mut Limiter, now: Instant) -> Vec<String> {
        let mut out = Vec::new();
        l.take_pending(now, |s| {
            out.push(s.to_string());
            true
        });
        out
    }

    /// Lines of `key` offered one every `every` from `start`, `n` of them: how many are written.
    fn offer(l: &mut Limiter, key: Key, start: Instant, every: Duration, n: u32) -> usize {
        (0..n)
            .filter(|&i| {
                let now = start + every * i;
                l.end_windows(now);
                l.admit(key, Level::Info, now) == Verdict::Write
            })
            .count()
    }

    #[test]
    fn a_flood_writes_the_burst_then_counts_and_summarises_once_per_window() {
        let t0 = Instant::now();
        let mut l = Limiter::new();
        // 8,000 a second for just under one window: the burst, and nothing after it.
        let written = offer(&mut l, JOIN, t0, Duration::from_micros(125), 79_000);
        assert_eq!(written, BURST as usize);
        assert!(!l.has_pending(), "the window is not over yet");
        // The window started with the first counted line, just after the burst.
        let t1 = t0 + WINDOW + Duration::from_millis(5);
        l.end_windows(t1);
        assert_eq!(
            pending(&mut l, t1),
            ["... and 78,980 more joins in the last 10 s"]
        );
        assert!(!l.has_pending(), "written once");
        // A full bucket again.
        assert_eq!(offer(&mut l, JOIN, t1, Duration::ZERO, 30), BURST as usize);
    }

    #[test]
    fn the_first_open_window_says_when_a_summary_is_due() {
        let t0 = Instant::now();
        let mut l = Limiter::new();
        assert_eq!(l.next_window_end(), None);
        offer(&mut l, JOIN, t0, Duration::ZERO, 30);
        let t1 = t0 + Duration::from_secs(3);
        offer(&mut l, SITE, t1, Duration::ZERO, 30);
        assert_eq!(l.next_window_end(), Some(t0 + WINDOW));
        l.end_windows(t0 + WINDOW);
        assert_eq!(l.next_window_end(), Some(t1 + WINDOW));
        assert!(l.has_pending());
    }

    #[test]
    fn a_steady_few_a_second_are_all_written() {
        let t0 = Instant::now();
        let mut l = Limiter::new();
        let every = Duration::from_secs_f64(1.0 / (RATE - 1.0));
        assert_eq!(offer(&mut l, JOIN, t0, every, 1_000), 1_000);
        assert!(!l.has_pending());
    }

    #[test]
    fn kinds_and_call_sites_are_limited_apart() {
        let t0 = Instant::now();
        let mut l = Limiter::new();
        assert_eq!(offer(&mut l, JOIN, t0, Duration::ZERO, 100), 20);
        assert_eq!(offer(&mut l, SITE, t0, Duration::ZERO, 100), 20);
        let other_site = Key::Site {
            module: "lanchat_server::event_loop",
            line: 43,
        };
        assert_eq!(l.admit(other_site, Level::Info, t0), Verdict::Write);
        let t1 = t0 + WINDOW;
        l.end_windows(t1);
        assert_eq!(
            pending(&mut l, t1),
            [
                "... and 80 more joins in the last 10 s",
                "... and 80 more lines from lanchat_server::event_loop:42 in the last 10 s",
            ]
        );
    }

    #[test]
    fn a_summary_is_at_the_level_of_the_worst_line_it_counts() {
        let t0 = Instant::now();
        let mut l = Limiter::new();
        offer(&mut l, SITE, t0, Duration::ZERO, 25);
        l.admit(SITE, Level::Warn, t0);
        l.admit(SITE, Level::Debug, t0);
        l.end_windows(t0 + WINDOW);
        let mut level = None;
        l.take_pending(t0 + WINDOW, |s| {
            level = Some(s.level);
            true
        });
        assert_eq!(level, Some(Level::Warn));
    }

    #[test]
    fn a_summary_that_cannot_be_written_waits_and_grows() {
        let t0 = Instant::now();
        let mut l = Limiter::new();
        offer(&mut l, JOIN, t0, Duration::ZERO, 30);
        l.end_windows(t0 + WINDOW);
        l.take_pending(t0 + WINDOW, |_| false);
        assert!(l.has_pending(), "refused, so still pending");
        // A second flood, a second window, still unwritten: the counts add up.
        offer(&mut l, JOIN, t0 + WINDOW, Duration::ZERO, 30);
        let t2 = t0 + WINDOW * 2;
        l.end_windows(t2);
        assert_eq!(
            pending(&mut l, t2 + Duration::from_secs(7)),
            ["... and 20 more joins in the last 27 s"]
        );
    }

    #[test]
    fn past_max_kinds_the_rest_share_one_entry() {
        let t0 = Instant::now();
        let mut l = Limiter::new();
        for line in 0..MAX_KINDS as u32 {
            let key = Key::Site { module: "m", line };
            assert_eq!(l.admit(key, Level::Info, t0), Verdict::Write);
        }
        let beyond = |line| Key::Site { module: "m", line };
        let written = (0..100)
            .filter(|i| l.admit(beyond(100_000 + i), Level::Info, t0) == Verdict::Write)
            .count();
        assert_eq!(written, BURST as usize, "one shared bucket");
        assert_eq!(l.entries.len(), MAX_KINDS + 1);
    }

    #[test]
    fn keys() {
        assert_eq!(
            Key::of(
                "lanchat_server::join",
                Some("lanchat_server::room"),
                Some(3)
            ),
            JOIN
        );
        assert_eq!(
            Key::of("x", Some("lanchat_server::event_loop"), Some(42)),
            SITE
        );
        assert_eq!(Key::of("x", None, Some(1)), Key::Other);
    }
}
