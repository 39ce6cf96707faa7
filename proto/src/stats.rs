//! What `/stats` is answered with: one `STATS <key> <value>` line per figure, then `STATSEND`.
//!
//! A key is a lowercase-hyphenated word; a value is a decimal integer in the key's [`Unit`], or
//! `unknown` when the server cannot tell (memory figures on a system without `/proc`). The keys
//! below are what this version sends, in this order; later versions may add keys (clients show
//! one they do not know as it is) and never change what a key means.

use std::fmt;

/// What a value counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of things.
    Count,
    /// Seconds.
    Seconds,
    /// Bytes.
    Bytes,
}

/// A figure the server reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatKey {
    /// Seconds since the server started.
    Uptime,
    /// Connections the chat knows now (named, or still giving a name).
    Connections,
    /// The most there have been at once.
    ConnectionsPeak,
    /// Named users now.
    Users,
    /// The most there have been at once.
    UsersPeak,
    /// Rooms now.
    Rooms,
    /// Lines received from clients (commands included).
    LinesIn,
    /// Messages received: public, `/me` and private.
    MessagesIn,
    /// Messages delivered: one per recipient (a public message to 30 others is 30).
    MessagesOut,
    /// Bytes read from clients.
    BytesIn,
    /// Bytes written to clients.
    BytesOut,
    /// Connections dropped for not reading their output (`LEAVE <name> too-slow`).
    DroppedTooSlow,
    /// Connections dropped for flooding (`LEAVE <name> flooding`).
    DroppedFlooding,
    /// Connections dropped because their output stalled (`LEAVE <name> timeout`).
    DroppedTimeout,
    /// Connections that quit.
    LeftQuit,
    /// Connections that ended without quitting (EOF, reset, error).
    LeftDisconnected,
    /// Connections refused because the server was full (`ERR server-full`).
    RefusedServerFull,
    /// Connections refused by the per-address limits (`ERR too-many-connections`).
    RefusedPerHost,
    /// Names refused, first names and renames (`ERR name-taken`, `ERR name-invalid`).
    RefusedName,
    /// Connections closed for giving no name in time (`ERR handshake-timeout`).
    RefusedHandshake,
    /// Lines dropped by flood control (`ERR rate-limited`), the connection's own or its
    /// address's shared budget.
    LinesRateLimited,
    /// Lines dropped for being over the line limit (`ERR line-too-long`).
    LinesTooLong,
    /// The most unsent output one connection has held.
    SendqPeak,
    /// The server's resident memory now.
    Rss,
    /// The most resident memory the server has held.
    RssPeak,
}

impl StatKey {
    /// Every key this version sends, in the order it sends them.
    pub const ALL: [StatKey; 25] = [
        StatKey::Uptime,
        StatKey::Connections,
        StatKey::ConnectionsPeak,
        StatKey::Users,
        StatKey::UsersPeak,
        StatKey::Rooms,
        StatKey::LinesIn,
        StatKey::MessagesIn,
        StatKey::MessagesOut,
        StatKey::BytesIn,
        StatKey::BytesOut,
        StatKey::DroppedTooSlow,
        StatKey::DroppedFlooding,
        StatKey::DroppedTimeout,
        StatKey::LeftQuit,
        StatKey::LeftDisconnected,
        StatKey::RefusedServerFull,
        StatKey::RefusedPerHost,
        StatKey::RefusedName,
        StatKey::RefusedHandshake,
        StatKey::LinesRateLimited,
        StatKey::LinesTooLong,
        StatKey::SendqPeak,
        StatKey::Rss,
        StatKey::RssPeak,
    ];

    /// The key as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            StatKey::Uptime => "uptime",
            StatKey::Connections => "connections",
            StatKey::ConnectionsPeak => "connections-peak",
            StatKey::Users => "users",
            StatKey::UsersPeak => "users-peak",
            StatKey::Rooms => "rooms",
            StatKey::LinesIn => "lines-in",
            StatKey::MessagesIn => "messages-in",
            StatKey::MessagesOut => "messages-out",
            StatKey::BytesIn => "bytes-in",
            StatKey::BytesOut => "bytes-out",
            StatKey::DroppedTooSlow => "dropped-too-slow",
            StatKey::DroppedFlooding => "dropped-flooding",
            StatKey::DroppedTimeout => "dropped-timeout",
            StatKey::LeftQuit => "left-quit",
            StatKey::LeftDisconnected => "left-disconnected",
            StatKey::RefusedServerFull => "refused-server-full",
            StatKey::RefusedPerHost => "refused-per-host",
            StatKey::RefusedName => "refused-name",
            StatKey::RefusedHandshake => "refused-handshake",
            StatKey::LinesRateLimited => "lines-rate-limited",
            StatKey::LinesTooLong => "lines-too-long",
            StatKey::SendqPeak => "sendq-peak",
            StatKey::Rss => "rss",
            StatKey::RssPeak => "rss-peak",
        }
    }

    /// What its value counts.
    pub const fn unit(self) -> Unit {
        match self {
            StatKey::Uptime => Unit::Seconds,
            StatKey::BytesIn
            | StatKey::BytesOut
            | StatKey::SendqPeak
            | StatKey::Rss
            | StatKey::RssPeak => Unit::Bytes,
            _ => Unit::Count,
        }
    }

    /// The key a wire word names, if this version knows it.
    pub fn parse(word: &str) -> Option<StatKey> {
        StatKey::ALL.into_iter().find(|k| k.as_str() == word)
    }
}

impl fmt::Display for StatKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A figure: a number, or `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatValue {
    /// In the key's [`Unit`].
    Number(u64),
    /// The server cannot tell (`unknown` on the wire).
    Unknown,
}

impl StatValue {
    /// The value a wire word says: a decimal integer or `unknown`; `None` for anything else.
    pub fn parse(word: &str) -> Option<StatValue> {
        match word {
            "unknown" => Some(StatValue::Unknown),
            _ if word.bytes().all(|b| b.is_ascii_digit()) => {
                word.parse().ok().map(StatValue::Number)
            }
            _ => None,
        }
    }
}

impl From<u64> for StatValue {
    fn from(n: u64) -> Self {
        StatValue::Number(n)
    }
}

impl From<Option<u64>> for StatValue {
    fn from(n: Option<u64>) -> Self {
        n.map_or(StatValue::Unknown, StatValue::Number)
    }
}

impl fmt::Display for StatValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatValue::Number(n) => write!(f, "{n}"),
            StatValue::Unknown => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_lowercase_words_that_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for k in StatKey::ALL {
            let w = k.as_str();
            assert!(seen.insert(w), "{w} twice");
            assert!(
                w.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{w}"
            );
            assert_eq!(StatKey::parse(w), Some(k));
        }
        assert_eq!(StatKey::parse("Uptime"), None);
        assert_eq!(StatKey::parse("cpu"), None);
    }

    #[test]
    fn values() {
        let cases = [
            ("0", Some(StatValue::Number(0))),
            ("18446744073709551615", Some(StatValue::Number(u64::MAX))),
            ("unknown", Some(StatValue::Unknown)),
            ("18446744073709551616", None),
            ("-1", None),
            ("+1", None),
            ("1.5", None),
            ("", None),
            ("UNKNOWN", None),
        ];
        for (word, want) in cases {
            assert_eq!(StatValue::parse(word), want, "{word:?}");
            if let Some(v) = want {
                assert_eq!(v.to_string(), word);
            }
        }
        assert_eq!(StatValue::from(None), StatValue::Unknown);
        assert_eq!(StatValue::from(Some(3)), StatValue::Number(3));
    }

    #[test]
    fn units() {
        assert_eq!(StatKey::Uptime.unit(), Unit::Seconds);
        assert_eq!(StatKey::RssPeak.unit(), Unit::Bytes);
        assert_eq!(StatKey::SendqPeak.unit(), Unit::Bytes);
        assert_eq!(StatKey::MessagesOut.unit(), Unit::Count);
    }
}
