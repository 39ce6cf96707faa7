//! The server's logger for the `log` facade: one line per record on stderr, filtered by
//! `RUST_LOG` ([`spec`]), limited per kind ([`limiter`], [`Kind`]), shaped for where stderr
//! goes ([`line`]: journald priorities, else RFC 3339 local time).
//!
//! It runs on the event loop's thread, so it must never block: when stderr is a pipe nobody
//! drains (a stalled `| tee`, a supervisor that does not read) or a terminal paused with
//! Ctrl-S, a blocking write would freeze every connection. Each write is made only if `poll`
//! says stderr can take it now, and is at most [`MAX_LINE`] bytes (a pipe that polls writable
//! has a whole page free, and writes up to `PIPE_BUF` are all or nothing). Lines that could
//! not be written are counted and the count is reported with the next one that can.
//!
//! Rate-limit summaries are written before the next line that goes out, or by
//! `log::logger().flush()`, which the event loop calls on a timer ([`flush_due`] says when) so
//! that they come out on time in a quiet moment too.

pub mod kind;
pub mod limiter;
pub mod line;
pub mod spec;

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use log::{Level, Log, Metadata, Record};

use crate::clock::Clock;

pub use kind::Kind;
use limiter::{Key, Limiter, Verdict};
use line::{cut, Style};
use spec::Spec;

/// Longest write to stderr (bytes, newlines included); a longer record is cut. Below
/// `PIPE_BUF`.
pub const MAX_LINE: usize = 2048;
const _: () = assert!(
    MAX_LINE <= 4096,
    "at most PIPE_BUF: a pipe write is all or nothing"
);

/// Of a write, the most that notices (lost lines, summaries) may take before the record.
const NOTICE_BUDGET: usize = MAX_LINE / 2;

/// How soon to try again to write notices that stderr could not take.
pub const NOTICE_RETRY: Duration = Duration::from_secs(1);

/// The logger [`init`] installed, for [`flush_due`].
static INSTALLED: OnceLock<&'static StderrLogger> = OnceLock::new();

/// Set when a line was counted or lost: the logger may then have notices to write later. A
/// plain flag, so that the loop can look at it every round for nothing.
static ATTENTION: AtomicBool = AtomicBool::new(false);

struct StderrLogger {
    filter: env_filter::Filter,
    style: Style,
    /// The event loop's clock, so that quiet windows end when the loop's timer says (a test's
    /// clock moves both).
    clock: Box<dyn Clock + Sync>,
    /// Taken only on the logging thread in the server (one thread); a lock, not atomics,
    /// because the limiter's table changes as a whole.
    state: Mutex<State>,
}

struct State {
    limiter: Limiter,
    /// Lines lost because stderr could not take them.
    dropped: u64,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.filter.matches(record) {
            return;
        }
        let now = self.clock.now().mono;
        let key = Key::of(record.target(), record.module_path_static(), record.line());
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.limiter.end_windows(now);
        let verdict = state.limiter.admit(key, record.level(), now);
        let notices = state.dropped > 0 || state.limiter.has_pending();
        if verdict == Verdict::Counted {
            ATTENTION.store(true, Ordering::Relaxed);
        }
        match verdict {
            Verdict::Counted if !notices => {}
            Verdict::Counted => self.write(&mut state, now, None),
            Verdict::Write => self.write(&mut state, now, Some(record)),
        }
    }

    /// Write pending notices (lost lines, rate-limit summaries) if stderr can take them now.
    fn flush(&self) {
        let now = self.clock.now().mono;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.limiter.end_windows(now);
        if state.dropped > 0 || state.limiter.has_pending() {
            self.write(&mut state, now, None);
        }
    }
}

impl StderrLogger {
    /// One write: the notices that fit, then `record` (cut to fit), if stderr can take it now;
    /// else `record` is counted as lost and the notices wait.
    fn write(&self, state: &mut State, now: Instant, record: Option<&Record<'_>>) {
        if !stderr_writable() {
            if record.is_some() {
                state.dropped += 1;
            }
            ATTENTION.store(true, Ordering::Relaxed);
            return;
        }
        let mut out = String::new();
        if state.dropped > 0 {
            self.style.prefix(Level::Warn, &mut out);
            out.push_str(&format!(
                "{} log line(s) dropped: stderr was not being read\n",
                line::thousands(state.dropped)
            ));
            state.dropped = 0;
        }
        let style = self.style;
        state.limiter.take_pending(now, |summary| {
            let mut s = String::new();
            style.prefix(summary.level, &mut s);
            s.push_str(&format!("{summary}\n"));
            if out.len() + s.len() > NOTICE_BUDGET {
                return false;
            }
            out.push_str(&s);
            true
        });
        if let Some(record) = record {
            let mut s = String::new();
            self.style.prefix(record.level(), &mut s);
            s.push_str(&record.args().to_string());
            out.push_str(cut(&s, MAX_LINE - 1 - out.len()));
            out.push('\n');
        }
        write_stderr(out.as_bytes());
    }

    /// Write `message` at `level` whatever the filter and the limits say: for what the
    /// operator must see at start.
    fn say(&self, level: Level, message: &str) {
        if !stderr_writable() {
            return;
        }
        let mut s = String::new();
        self.style.prefix(level, &mut s);
        s.push_str(cut(message, MAX_LINE - 1 - s.len()));
        s.push('\n');
        write_stderr(s.as_bytes());
    }
}

/// Install the logger (once; later calls do nothing), its time read from `clock` (the loop's),
/// and say at once if `RUST_LOG` was not understood.
pub fn init(clock: Box<dyn Clock + Sync>) {
    let value = std::env::var_os("RUST_LOG");
    let spec = Spec::parse(value.as_deref());
    let style = Style::detect(
        std::env::var("JOURNAL_STREAM").ok().as_deref(),
        stderr_identity(),
    );
    let warning = spec.warning();
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger {
        filter: spec.filter,
        style,
        clock,
        state: Mutex::new(State {
            limiter: Limiter::new(),
            dropped: 0,
        }),
    }));
    if log::set_logger(logger).is_err() {
        return;
    }
    let _ = INSTALLED.set(logger);
    log::set_max_level(logger.filter.filter());
    if let Some(warning) = warning {
        logger.say(Level::Warn, &warning);
    }
}

/// How long until the logger has something to write of its own (a summary at the end of a
/// quiet window, or notices stderr could not take): the loop calls `log::logger().flush()` then.
/// `None` when nothing is waiting, or no logger of this module is installed. Costs one atomic
/// load while nothing was counted or lost since the last look.
pub fn flush_due() -> Option<Duration> {
    if !ATTENTION.load(Ordering::Relaxed) {
        return None;
    }
    let logger = INSTALLED.get()?;
    let state = logger.state.lock().unwrap_or_else(PoisonError::into_inner);
    if state.dropped > 0 || state.limiter.has_pending() {
        return Some(NOTICE_RETRY);
    }
    match state.limiter.next_window_end() {
        Some(at) => Some(at.saturating_duration_since(logger.clock.now().mono)),
        None => {
            ATTENTION.store(false, Ordering::Relaxed);
            None
        }
    }
}

/// One `write(2)` of `bytes` to stderr. Not `write_all`: after a short write (a terminal
/// with little room) a second write could block; the rest of the line is lost instead. A
/// failed write is dropped too: a logger must never take the server down.
fn write_stderr(bytes: &[u8]) {
    let _ = std::io::stderr().lock().write(bytes);
}

/// Can stderr take a line now without blocking? (A regular file always can.)
fn stderr_writable() -> bool {
    let mut fd = libc::pollfd {
        fd: libc::STDERR_FILENO,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1, no waiting.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n == 1 && fd.revents & libc::POLLOUT != 0
}

/// stderr's `(st_dev, st_ino)`, to compare with `JOURNAL_STREAM`.
// The field types differ between targets (u64 on x86_64, u32 for `st_ino` on 32-bit ARM).
#[allow(clippy::useless_conversion)]
fn stderr_identity() -> Option<(u64, u64)> {
    // SAFETY: fstat writes only the `stat` it is handed, which lives on this frame; all-zero
    // is a valid `stat` to start from.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above: `st` outlives the call, which writes only it.
    if unsafe { libc::fstat(libc::STDERR_FILENO, &mut st) } != 0 {
        return None;
    }
    Some((u64::from(st.st_dev), u64::from(st.st_ino)))
}
