//! Why a member left: the word after `LEAVE <name>` on the wire, and what the loop does with
//! the socket.

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeaveReason {
    /// The user sent `<quit>` or `/quit`.
    Quit,
    /// The connection ended without a quit: EOF, reset, or a socket error.
    Disconnected,
    /// The client stopped reading and its unsent output passed `--sendq`.
    TooSlow,
    /// Output made no progress for `--write-timeout` seconds.
    Timeout,
    /// The client kept sending over its rate budget long after being told.
    Flooding,
    /// An operator kicked the user (`/kick`).
    Kicked,
    /// An operator banned the user (`/ban`).
    Banned,
}

impl LeaveReason {
    /// Every reason, for tests and the fuzzer.
    pub const ALL: [LeaveReason; 7] = [
        LeaveReason::Quit,
        LeaveReason::Disconnected,
        LeaveReason::TooSlow,
        LeaveReason::Timeout,
        LeaveReason::Flooding,
        LeaveReason::Kicked,
        LeaveReason::Banned,
    ];

    /// The word others see: `LEAVE <name> <word>` (docs/PROTOCOL.md).
    pub fn word(self) -> &'static str {
        match self {
            LeaveReason::Quit => "quit",
            LeaveReason::Disconnected => "disconnected",
            LeaveReason::TooSlow => "too-slow",
            LeaveReason::Timeout => "timeout",
            LeaveReason::Flooding => "flooding",
            LeaveReason::Kicked => "kicked",
            LeaveReason::Banned => "banned",
        }
    }

    /// Whether the socket is reset (`SO_LINGER 0`) rather than closed gracefully: a peer that
    /// does not read would otherwise leave the kernel retrying megabytes of send buffer.
    pub fn resets_socket(self) -> bool {
        matches!(self, LeaveReason::TooSlow | LeaveReason::Timeout)
    }
}

impl std::fmt::Display for LeaveReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_words_and_resets() {
        let table: Vec<(&str, bool)> = LeaveReason::ALL
            .iter()
            .map(|r| (r.word(), r.resets_socket()))
            .collect();
        assert_eq!(
            table,
            [
                ("quit", false),
                ("disconnected", false),
                ("too-slow", true),
                ("timeout", true),
                ("flooding", false),
                ("kicked", false),
                ("banned", false),
            ]
        );
    }
}
