//! What a log line looks like: under journald a syslog priority prefix and no time (the
//! journal stamps every line itself), anywhere else an RFC 3339 local time and the level.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use log::Level;

/// How lines start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// stderr is the journal's stream: `<6>message`, the priority for `journalctl -p`.
    Journal,
    /// Anything else (a terminal, a file, a pipe): `2026-12-04T09:15:02.120+01:00 INFO  message`.
    Timestamped,
}

impl Style {
    /// [`Style::Journal`] when `journal_stream` (the `JOURNAL_STREAM` variable systemd sets,
    /// `<device>:<inode>`) names the file stderr is, `stderr` being its `(st_dev, st_ino)`.
    /// A service that sends stderr elsewhere (a shell script's `2>file`) keeps the variable
    /// but not the stream, so the variable alone is not enough.
    pub fn detect(journal_stream: Option<&str>, stderr: Option<(u64, u64)>) -> Style {
        match (journal_stream.and_then(parse_journal_stream), stderr) {
            (Some(named), Some(actual)) if named == actual => Style::Journal,
            _ => Style::Timestamped,
        }
    }

    /// Append the start of a line at `level` to `out`.
    pub fn prefix(self, level: Level, out: &mut String) {
        match self {
            Style::Journal => {
                let _ = write!(out, "<{}>", priority(level));
            }
            Style::Timestamped => {
                let _ = write!(out, "{} {:<5} ", LocalTime::now(), level);
            }
        }
    }
}

/// `JOURNAL_STREAM`'s `<device>:<inode>`, both decimal.
fn parse_journal_stream(s: &str) -> Option<(u64, u64)> {
    let (dev, ino) = s.trim().split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// The syslog priority (sd-daemon(3)) of a level.
fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// A wall-clock time in the local time zone, as the C library sees it (`TZ`, else
/// `/etc/localtime`), to the millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    year: i64,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    millis: u16,
    /// East of UTC.
    offset_secs: i64,
}

impl LocalTime {
    /// Now.
    pub fn now() -> LocalTime {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let secs = libc::time_t::try_from(since_epoch.as_secs()).unwrap_or(libc::time_t::MAX);
        // Below 1000: fits.
        let millis = since_epoch.subsec_millis() as u16;
        // SAFETY: localtime_r and gmtime_r only read `secs` and write the `tm` handed to them;
        // both live on this frame for the whole call. An all-zero `tm` is a valid start.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: as above; each call writes only `tm`, which outlives it.
        let local_failed = unsafe { libc::localtime_r(&secs, &mut tm) }.is_null();
        // SAFETY: the same for gmtime_r.
        if local_failed && unsafe { libc::gmtime_r(&secs, &mut tm) }.is_null() {
            // Only for a time_t the C library cannot represent; the epoch says "no clock".
            // SAFETY: an all-zero `tm` is a valid value.
            tm = unsafe { std::mem::zeroed() };
            tm.tm_year = 70;
            tm.tm_mday = 1;
        }
        LocalTime::from_tm(&tm, millis)
    }

    // `tm_gmtoff` is a `c_long`: already i64 on 64-bit targets, i32 on 32-bit ARM.
    #[allow(clippy::useless_conversion)]
    fn from_tm(tm: &libc::tm, millis: u16) -> LocalTime {
        // The C library keeps every field in range; a clamp keeps a broken one from panicking.
        let field = |v: libc::c_int, max: u8| u8::try_from(v.clamp(0, max.into())).unwrap_or(0);
        LocalTime {
            year: i64::from(tm.tm_year) + 1900,
            month: field(tm.tm_mon + 1, 12),
            day: field(tm.tm_mday, 31),
            hour: field(tm.tm_hour, 23),
            // 60 is a leap second.
            minute: field(tm.tm_min, 59),
            second: field(tm.tm_sec, 60),
            millis,
            offset_secs: i64::from(tm.tm_gmtoff),
        }
    }
}

impl fmt::Display for LocalTime {
    /// RFC 3339: `2026-12-04T09:15:02.120+01:00` (`+00:00` for UTC: the local time is known).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.offset_secs < 0 { '-' } else { '+' };
        let offset_min = self.offset_secs.unsigned_abs() / 60;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{sign}{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.millis,
            offset_min / 60,
            offset_min % 60
        )
    }
}

/// `n` with a comma every three digits: `8,120`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tm(
        year: i32,
        mon: i32,
        mday: i32,
        h: i32,
        m: i32,
        s: i32,
        gmtoff: libc::c_long,
    ) -> libc::tm {
        // SAFETY: all-zero is a valid `tm`.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        tm.tm_year = year - 1900;
        tm.tm_mon = mon - 1;
        tm.tm_mday = mday;
        tm.tm_hour = h;
        tm.tm_min = m;
        tm.tm_sec = s;
        tm.tm_gmtoff = gmtoff;
        tm
    }

    #[test]
    fn rfc3339() {
        for (tm, millis, want) in [
            (
                tm(2026, 12, 4, 9, 5, 2, 3600),
                120,
                "2026-12-04T09:05:02.120+01:00",
            ),
            (
                tm(2000, 2, 29, 0, 0, 0, 0),
                0,
                "2000-02-29T00:00:00.000+00:00",
            ),
            (
                tm(1999, 12, 31, 23, 59, 60, -(3 * 3600 + 1800)),
                999,
                "1999-12-31T23:59:60.999-03:30",
            ),
            (
                tm(2026, 1, 1, 5, 45, 0, 5 * 3600 + 45 * 60),
                7,
                "2026-01-01T05:45:00.007+05:45",
            ),
        ] {
            assert_eq!(LocalTime::from_tm(&tm, millis).to_string(), want);
        }
    }

    #[test]
    fn now_is_rfc3339_shaped() {
        let s = LocalTime::now().to_string();
        assert_eq!(s.len(), "2026-12-04T09:05:02.120+01:00".len(), "{s}");
        assert_eq!(&s[10..11], "T", "{s}");
        assert!(matches!(&s[23..24], "+" | "-"), "{s}");
    }

    #[test]
    fn journal_only_when_the_variable_names_stderr() {
        let stderr = Some((64769, 1234));
        for (var, want) in [
            (Some("64769:1234"), Style::Journal),
            (Some("64769:1235"), Style::Timestamped),
            (Some("garbage"), Style::Timestamped),
            (Some(""), Style::Timestamped),
            (None, Style::Timestamped),
        ] {
            assert_eq!(Style::detect(var, stderr), want, "{var:?}");
        }
        assert_eq!(Style::detect(Some("1:2"), None), Style::Timestamped);
    }

    #[test]
    fn journal_lines_carry_the_priority_and_no_time() {
        for (level, want) in [
            (Level::Error, "<3>"),
            (Level::Warn, "<4>"),
            (Level::Info, "<6>"),
            (Level::Debug, "<7>"),
            (Level::Trace, "<7>"),
        ] {
            let mut s = String::new();
            Style::Journal.prefix(level, &mut s);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn timestamped_lines_start_with_the_time_then_the_level() {
        let mut s = String::new();
        Style::Timestamped.prefix(Level::Warn, &mut s);
        assert!(s.ends_with(" WARN  "), "{s:?}");
        assert_eq!(s.find(' '), Some(29), "{s:?}");
    }

    #[test]
    fn thousands_separators() {
        for (n, want) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (8_120, "8,120"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), want);
        }
    }

    #[test]
    fn long_lines_are_cut_at_a_character_boundary() {
        assert_eq!(cut("abc", 10), "abc");
        assert_eq!(cut("abcdef", 3), "abc");
        assert_eq!(cut("aé", 2), "a", "é is two bytes");
    }
}
