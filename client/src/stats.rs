//! How the answer to `/stats` is shown: the `STATS <key> <value>` lines a server sends are
//! collected until `STATSEND`, then shown as one block, each figure in its unit
//! (`uptime 2 h 03 min`, `bytes-out 12.3 MiB`, `messages-out 1,204,332`). A key this client
//! does not know is shown as it came (sanitised), and so is a value that is no number.

use lanchat_proto::stats::{StatKey, StatValue, Unit};

use crate::render::{display_width, shown};

/// At most this many figures are kept for one block; a server sending more (a hostile one)
/// gets the rest dropped rather than held.
pub const MAX_FIGURES: usize = 100;

/// Figures received since the last `STATSEND`.
#[derive(Debug, Default)]
pub struct Figures {
    figures: Vec<(String, String)>,
}

impl Figures {
    /// One `STATS <key> <value>` line.
    pub fn add(&mut self, key: &str, value: &str) {
        if self.figures.len() < MAX_FIGURES {
            self.figures.push((shown(key), value.to_owned()));
        }
    }

    /// `STATSEND`: the block's rows (`key  value`, the values in a column), and an empty
    /// collection for the next one.
    pub fn take_rows(&mut self) -> Vec<String> {
        let figures = std::mem::take(&mut self.figures);
        let width = figures
            .iter()
            .map(|(k, _)| display_width(k))
            .max()
            .unwrap_or(0);
        figures
            .iter()
            .map(|(key, value)| {
                let pad = width - display_width(key);
                format!("{key}{:pad$}  {}", "", human(key, value))
            })
            .collect()
    }
}

/// `value` of `key` for people.
fn human(key: &str, value: &str) -> String {
    let parsed = StatValue::parse(value);
    match (StatKey::parse(key), parsed) {
        (_, Some(StatValue::Unknown)) => "unknown".to_owned(),
        (Some(key), Some(StatValue::Number(n))) => match key.unit() {
            Unit::Count => thousands(n),
            Unit::Seconds => duration(n),
            Unit::Bytes => bytes(n),
        },
        (None, Some(StatValue::Number(n))) => thousands(n),
        (_, None) => shown(value),
    }
}

/// `1,204,332`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `42 s`, `5 min 03 s`, `2 h 03 min`, `3 d 04 h`.
fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match () {
        _ if d > 0 => format!("{} d {h:02} h", thousands(d)),
        _ if h > 0 => format!("{h} h {m:02} min"),
        _ if m > 0 => format!("{m} min {s:02} s"),
        _ => format!("{s} s"),
    }
}

/// `512 B`, `4.0 KiB`, `12.3 MiB`, `1.5 GiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_their_units() {
        let cases = [
            ("uptime", "42", "42 s"),
            ("uptime", "303", "5 min 03 s"),
            ("uptime", "7380", "2 h 03 min"),
            ("uptime", "273600", "3 d 04 h"),
            ("bytes-out", "512", "512 B"),
            ("bytes-out", "4096", "4.0 KiB"),
            ("rss", "12897485", "12.3 MiB"),
            ("rss", "unknown", "unknown"),
            ("messages-out", "1204332", "1,204,332"),
            ("messages-out", "0", "0"),
            ("brand-new", "123456", "123,456"),
            ("brand-new", "lots\u{1b}[2J", "lots␛[2J"),
        ];
        for (key, value, want) in cases {
            assert_eq!(human(key, value), want, "{key} {value}");
        }
    }

    #[test]
    fn a_block_lines_up_and_starts_afresh() {
        let mut f = Figures::default();
        f.add("uptime", "61");
        f.add("connections-peak", "1200");
        assert_eq!(
            f.take_rows(),
            ["uptime            1 min 01 s", "connections-peak  1,200"]
        );
        assert!(f.take_rows().is_empty());
        for _ in 0..MAX_FIGURES + 5 {
            f.add("x", "1");
        }
        assert_eq!(f.take_rows().len(), MAX_FIGURES);
    }
}
