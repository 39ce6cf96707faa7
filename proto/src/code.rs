//! The `ERR` codes: stable, lowercase-hyphenated words that programs can match on.

/// An error code as sent in `ERR <code> <text>`.
///
/// Parsing never fails: a code this version does not know is kept as [`ErrCode::Other`], so a
/// newer server does not break an older client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrCode<'a> {
    /// A line was longer than the server's line limit; it was discarded.
    LineTooLong,
    /// A line was not valid UTF-8; it was discarded.
    BadUtf8,
    /// The requested name is in use (compared ignoring case).
    NameTaken,
    /// The requested name breaks the name rules or is reserved.
    NameInvalid,
    /// `/msg` named a user who is not connected.
    NoSuchUser,
    /// A `/word` the server does not know.
    UnknownCommand,
    /// A known command with missing arguments (e.g. `/msg bob` with no text).
    BadUsage,
    /// The server is at its client limit; the connection is closed after this line.
    ServerFull,
    /// Too many lines too fast; the line was dropped.
    RateLimited,
    /// No acceptable name was given in time; the connection is closed after this line.
    HandshakeTimeout,
    /// A line for a room this connection is not in (`/in`, `/part`).
    NotInRoom,
    /// A `/join` past the server's room limit (`--max-rooms`) or the user's
    /// (`--rooms-per-user`).
    TooManyRooms,
    /// `/msg` to someone away whose name is claimed by a key: they already have as many notes
    /// waiting as the server keeps; this one was not kept.
    MailboxFull,
    /// The connecting address has as many connections open as the server allows one address,
    /// or opened new ones too fast; the connection is closed after this line.
    TooManyConnections,
    /// A code this version does not know.
    Other(&'a str),
}

impl<'a> ErrCode<'a> {
    /// Every code this version defines (not `Other`).
    pub const ALL: [ErrCode<'static>; 14] = [
        ErrCode::LineTooLong,
        ErrCode::BadUtf8,
        ErrCode::NameTaken,
        ErrCode::NameInvalid,
        ErrCode::NoSuchUser,
        ErrCode::UnknownCommand,
        ErrCode::BadUsage,
        ErrCode::ServerFull,
        ErrCode::RateLimited,
        ErrCode::HandshakeTimeout,
        ErrCode::NotInRoom,
        ErrCode::TooManyRooms,
        ErrCode::MailboxFull,
        ErrCode::TooManyConnections,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &'a str {
        match self {
            ErrCode::LineTooLong => "line-too-long",
            ErrCode::BadUtf8 => "bad-utf8",
            ErrCode::NameTaken => "name-taken",
            ErrCode::NameInvalid => "name-invalid",
            ErrCode::NoSuchUser => "no-such-user",
            ErrCode::UnknownCommand => "unknown-command",
            ErrCode::BadUsage => "bad-usage",
            ErrCode::ServerFull => "server-full",
            ErrCode::RateLimited => "rate-limited",
            ErrCode::HandshakeTimeout => "handshake-timeout",
            ErrCode::NotInRoom => "not-in-room",
            ErrCode::TooManyRooms => "too-many-rooms",
            ErrCode::MailboxFull => "mailbox-full",
            ErrCode::TooManyConnections => "too-many-connections",
            ErrCode::Other(s) => s,
        }
    }

    /// The code for a wire word; unknown words become [`ErrCode::Other`].
    pub fn parse(word: &'a str) -> Self {
        ErrCode::ALL
            .into_iter()
            .find(|c| c.as_str() == word)
            .unwrap_or(ErrCode::Other(word))
    }
}

impl std::fmt::Display for ErrCode<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_lowercase_hyphenated() {
        for c in ErrCode::ALL {
            assert_eq!(ErrCode::parse(c.as_str()), c);
            assert!(c
                .as_str()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
        }
        assert_eq!(ErrCode::parse("brand-new"), ErrCode::Other("brand-new"));
    }
}
