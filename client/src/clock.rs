//! Wall-clock time for timestamps: "now" in Unix milliseconds, and a Unix time as the civil
//! date and time a person reads (local time, or UTC for tests).
//!
//! The renderer never reads a clock; it is handed the time and a [`ToCivil`] function.

use std::time::{SystemTime, UNIX_EPOCH};

/// A date and a time of day, to the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Civil {
    /// The year, e.g. 2025.
    pub year: i32,
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31.
    pub day: u8,
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
}

impl Civil {
    /// Whether both fall on the same calendar day.
    pub fn same_day(&self, other: &Civil) -> bool {
        (self.year, self.month, self.day) == (other.year, other.month, other.day)
    }

    /// `Dec` for December.
    pub fn month_abbrev(&self) -> &'static str {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        MONTHS[usize::from(self.month.clamp(1, 12) - 1)]
    }
}

/// Turns Unix milliseconds into a civil date and time.
pub type ToCivil = fn(u64) -> Civil;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `ms` in UTC.
pub fn utc(ms: u64) -> Civil {
    let minutes = ms / 60_000;
    let days = i64::try_from(minutes / (24 * 60)).unwrap_or(i64::MAX);
    let minute_of_day = minutes % (24 * 60);
    let (year, month, day) = civil_from_days(days);
    // All fit: hour < 24, minute < 60, month <= 12, day <= 31.
    Civil {
        year,
        month,
        day,
        hour: (minute_of_day / 60) as u8,
        minute: (minute_of_day % 60) as u8,
    }
}

/// Days since 1970-01-01 as (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i32, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (i32::try_from(year).unwrap_or(i32::MAX), month, day)
}

/// `ms` in the local time zone (falls back to UTC if the C library cannot say).
pub fn local(ms: u64) -> Civil {
    let Ok(secs) = libc::time_t::try_from(ms / 1000) else {
        return utc(ms);
    };
    // SAFETY: localtime_r only writes the `tm` we hand it and reads `secs`; both live on this
    // stack frame for the whole call. An all-zero `tm` is a valid value to start from.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: as above: `secs` and `tm` outlive the call, which writes only `tm`.
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    let fields = (
        u8::try_from(tm.tm_mon + 1),
        u8::try_from(tm.tm_mday),
        u8::try_from(tm.tm_hour),
        u8::try_from(tm.tm_min),
    );
    match (ok, fields) {
        (true, (Ok(month), Ok(day), Ok(hour), Ok(minute)))
            if (1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24 && minute < 60 =>
        {
            Civil {
                year: tm.tm_year + 1900,
                month,
                day,
                hour,
                minute,
            }
        }
        _ => utc(ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(year: i32, month: u8, day: u8, hour: u8, minute: u8) -> Civil {
        Civil {
            year,
            month,
            day,
            hour,
            minute,
        }
    }

    #[test]
    fn utc_table() {
        assert_eq!(utc(0), c(1970, 1, 1, 0, 0));
        assert_eq!(utc(59_999), c(1970, 1, 1, 0, 0));
        assert_eq!(utc(60_000), c(1970, 1, 1, 0, 1));
        // 2025-11-27 07:03:20 UTC
        assert_eq!(utc(1_764_227_000_000), c(2025, 11, 27, 7, 3));
        assert_eq!(utc(86_400_000 - 1), c(1970, 1, 1, 23, 59));
        // 2024-02-29 (a leap day) 12:00 UTC
        assert_eq!(utc(1_709_208_000_000), c(2024, 2, 29, 12, 0));
        // 2000-12-31 23:59 UTC
        assert_eq!(utc(978_307_140_000), c(2000, 12, 31, 23, 59));
        assert_eq!(utc(1_764_227_000_000).month_abbrev(), "Nov");
    }

    #[test]
    fn local_time_is_a_time_of_day() {
        let t = local(now_ms());
        assert!(t.hour < 24 && t.minute < 60);
        // Time zones are whole quarter hours away from UTC.
        assert_eq!(
            local(1_764_227_000_000).minute % 15,
            utc(1_764_227_000_000).minute % 15
        );
    }
}
