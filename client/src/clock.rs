//! Wall-clock time for timestamps: "now" in Unix milliseconds, and a Unix time as the `HH:MM`
//! a person reads (local time, or UTC for tests).
//!
//! The renderer never reads a clock; it is handed the time and a [`ToHhMm`] function.

use std::time::{SystemTime, UNIX_EPOCH};

/// Turns Unix milliseconds into hours and minutes of the day.
pub type ToHhMm = fn(u64) -> (u8, u8);

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `ms` as hours and minutes in UTC.
pub fn utc_hhmm(ms: u64) -> (u8, u8) {
    let minutes_of_day = (ms / 60_000) % (24 * 60);
    // Both fit: hours < 24, minutes < 60.
    ((minutes_of_day / 60) as u8, (minutes_of_day % 60) as u8)
}

/// `ms` as hours and minutes in the local time zone (falls back to UTC if the C library cannot
/// say).
pub fn local_hhmm(ms: u64) -> (u8, u8) {
    let Ok(secs) = libc::time_t::try_from(ms / 1000) else {
        return utc_hhmm(ms);
    };
    // SAFETY: localtime_r only writes the `tm` we hand it and reads `secs`; both live on this
    // stack frame for the whole call. An all-zero `tm` is a valid value to start from.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    match (ok, u8::try_from(tm.tm_hour), u8::try_from(tm.tm_min)) {
        (true, Ok(h), Ok(m)) if h < 24 && m < 60 => (h, m),
        _ => utc_hhmm(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_table() {
        assert_eq!(utc_hhmm(0), (0, 0));
        assert_eq!(utc_hhmm(59_999), (0, 0));
        assert_eq!(utc_hhmm(60_000), (0, 1));
        // 2025-11-27 07:03:20 UTC
        assert_eq!(utc_hhmm(1_764_227_000_000), (7, 3));
        assert_eq!(utc_hhmm(86_400_000 - 1), (23, 59));
    }

    #[test]
    fn local_time_is_a_time_of_day() {
        let (h, m) = local_hhmm(now_ms());
        assert!(h < 24 && m < 60);
        // Time zones are whole quarter hours away from UTC.
        assert_eq!(
            local_hhmm(1_764_227_000_000).1 % 15,
            utc_hhmm(1_764_227_000_000).1 % 15
        );
    }
}
