//! A small stderr logger for the `log` facade: one line per record, UTC timestamp, level from
//! `RUST_LOG` (`error`, `warn`, `info` (default), `debug`, `trace`, `off`).
//!
//! It runs on the event loop's thread, so it must never block: when stderr is a pipe nobody
//! drains (a stalled `| tee`, a supervisor that does not read) or a terminal paused with
//! Ctrl-S, a blocking write would freeze every connection. Each line is written only if
//! `poll` says stderr can take it now, and is at most [`MAX_LINE`] bytes (a pipe that polls
//! writable has a whole page free, and writes up to `PIPE_BUF` are all or nothing). Lines that
//! could not be written are counted and the count is reported with the next one that can.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use log::{LevelFilter, Log, Metadata, Record};

/// Longest log line written (bytes, newline included); longer ones are cut. Below `PIPE_BUF`.
pub const MAX_LINE: usize = 2048;
const _: () = assert!(
    MAX_LINE <= 4096,
    "at most PIPE_BUF: a pipe write is all or nothing"
);

struct StderrLogger {
    level: LevelFilter,
    /// Lines dropped because stderr could not take them.
    dropped: AtomicU64,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        if !stderr_writable() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut line = String::new();
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            line = format!(
                "{} WARN  {dropped} log line(s) dropped: stderr was not being read\n",
                utc_now()
            );
        }
        let record = format!("{} {:<5} {}", utc_now(), record.level(), record.args());
        line.push_str(cut(&record, MAX_LINE - 1 - line.len().min(MAX_LINE / 2)));
        line.push('\n');
        // A logger must never take the server down; a failed write to stderr is dropped.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {}
}

/// The level named by `spec` (the `RUST_LOG` value; for `a=b,c` forms the last level named wins).
pub fn parse_level(spec: &str) -> LevelFilter {
    spec.rsplit(',')
        .find_map(|part| part.rsplit('=').next()?.trim().parse().ok())
        .unwrap_or(LevelFilter::Info)
}

/// Install the logger (once; later calls do nothing).
pub fn init() {
    let level = std::env::var("RUST_LOG")
        .map(|s| parse_level(&s))
        .unwrap_or(LevelFilter::Info);
    let logger = StderrLogger {
        level,
        dropped: AtomicU64::new(0),
    };
    if log::set_logger(Box::leak(Box::new(logger))).is_ok() {
        log::set_max_level(level);
    }
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

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for now.
fn utc_now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_784), (2026, 11, 27));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("abcdef", 3), "abc");
        assert_eq!(cut("aé", 2), "a", "é is two bytes");
    }

    #[test]
    fn levels() {
        assert_eq!(parse_level("debug"), LevelFilter::Debug);
        assert_eq!(parse_level("lanchat_server=warn"), LevelFilter::Warn);
        assert_eq!(parse_level("nonsense"), LevelFilter::Info);
        assert_eq!(parse_level("off"), LevelFilter::Off);
    }
}
