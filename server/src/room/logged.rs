//! What the room writes to the log: one line per join (with the address it came from), leave
//! (with the reason), rename and refusal, each under the connection's number ([`Serial`],
//! never reused) and with its [`Kind`], so the logger limits and summarises each kind on its
//! own. Never what anyone wrote (nor a quit or away message): numbers, names, addresses,
//! reasons and counts only.

use std::fmt;
use std::net::SocketAddr;

use lanchat_proto::NameError;

use super::{ConnId, LeaveReason, Room, Session};
use crate::hosts;
use crate::logger::Kind;
use crate::outbox::Serial;
use crate::stats::Refusal;

/// Characters of a refused name shown in the log: enough to recognise it, not a place to
/// smuggle text into the log through.
const MAX_LOGGED_NAME: usize = 32;

/// Which flood-control budget a dropped line was over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Budget {
    /// The connection's own (`--rate`, `--burst`).
    Own,
    /// The one all connections of its address share.
    Address,
}

/// Why a name was refused.
#[derive(Debug, Clone, Copy)]
pub(super) enum NameRefused<'e> {
    /// Someone has it (ignoring case and look-alikes).
    Taken,
    /// It breaks the rules.
    Invalid(&'e NameError),
}

/// Who a line is about: `#17 ann`, or `#17` before a name.
pub(super) struct Tag<'a> {
    serial: Serial,
    name: Option<&'a str>,
}

impl fmt::Display for Tag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name {
            Some(name) => write!(f, "{} {name}", self.serial),
            None => write!(f, "{}", self.serial),
        }
    }
}

/// ` from 192.0.2.1:51234`, or nothing when the address is not known.
struct From(Option<SocketAddr>);

impl fmt::Display for From {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => write!(f, " from {addr}"),
            None => Ok(()),
        }
    }
}

/// A name as typed, quoted and escaped, and cut to [`MAX_LOGGED_NAME`] characters: a refused
/// name can be anything a line can.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars().take(MAX_LOGGED_NAME) {
            write!(f, "{}", c.escape_debug())?;
        }
        if self.0.chars().nth(MAX_LOGGED_NAME).is_some() {
            f.write_str("...")?;
        }
        f.write_str("\"")
    }
}

impl Room {
    /// `id` as the log names it.
    pub(super) fn tag(&self, id: ConnId) -> Tag<'_> {
        let session = self.session(id);
        Tag {
            serial: session.map_or(Serial(0), |s| s.serial),
            name: session.and_then(|s| s.name.as_deref()),
        }
    }

    fn peer_of(&self, id: ConnId) -> From {
        From(self.session(id).and_then(|s| s.who.peer))
    }

    /// `#17 joined as ann from 192.0.2.1:51234 (3 online)`.
    pub(super) fn log_join(&self, id: ConnId) {
        let Some(s) = self.session(id) else { return };
        log::info!(
            target: Kind::Join.target(),
            "{} joined as {}{} ({} online)",
            s.serial,
            s.name.as_deref().unwrap_or_default(),
            From(s.who.peer),
            self.members()
        );
    }

    /// `#17 ann left (quit, 2 online)`; a connection the server put out (too slow, stalled,
    /// flooding) is a [`Kind::Kick`]; one that never gave a name is only a debug line.
    pub(super) fn log_leave(&self, session: &Session, reason: LeaveReason) {
        let tag = Tag {
            serial: session.serial,
            name: session.name.as_deref(),
        };
        if session.name.is_none() {
            log::debug!(
                target: Kind::Connection.target(),
                "{tag} closed before giving a name ({reason})"
            );
            return;
        }
        let kind = match reason {
            LeaveReason::Quit | LeaveReason::Disconnected => Kind::Leave,
            LeaveReason::TooSlow
            | LeaveReason::Timeout
            | LeaveReason::Flooding
            | LeaveReason::Kicked
            | LeaveReason::Banned => Kind::Kick,
        };
        log::info!(
            target: kind.target(),
            "{tag} left ({reason}, {} online)",
            self.members()
        );
    }

    /// `#17 ann is now bob`.
    pub(super) fn log_rename(&self, id: ConnId, old: &str, new: &str) {
        let serial = self.tag(id).serial;
        log::info!(target: Kind::Rename.target(), "{serial} {old} is now {new}");
    }

    /// A first name or a new one was refused: counted and logged.
    pub(super) fn refuse_name(&mut self, id: ConnId, name: &str, why: NameRefused<'_>) {
        self.stats.refused(Refusal::Name);
        let what = match why {
            NameRefused::Taken => "taken".to_owned(),
            NameRefused::Invalid(e) => format!("invalid: {e}"),
        };
        let tag = self.tag(id);
        let asked = if tag.name.is_some() {
            "new name"
        } else {
            "name"
        };
        log::info!(
            target: Kind::Refusal.target(),
            "{tag}: {asked} {} refused ({what})",
            Quoted(name)
        );
    }

    /// `#17 from 192.0.2.1:51234 refused: server full (10000 connections)`.
    pub(super) fn log_server_full(&self, serial: Serial, peer: Option<SocketAddr>, held: usize) {
        log::info!(
            target: Kind::Refusal.target(),
            "{serial}{} refused: server full ({held} connections)",
            From(peer)
        );
    }

    /// `#17 from 192.0.2.1:51234 refused: 192.0.2.1 is over --max-per-host`.
    pub(super) fn log_per_host(
        &self,
        serial: Serial,
        peer: SocketAddr,
        host: hosts::HostKey,
        refusal: hosts::Refusal,
    ) {
        log::info!(
            target: Kind::Refusal.target(),
            "{serial}{} refused: {host} is over {}",
            From(Some(peer)),
            refusal.flag()
        );
    }

    /// `#17 from 192.0.2.1:51234 gave no name in 30 s; closed`.
    pub(super) fn log_handshake_timeout(&self, id: ConnId) {
        log::info!(
            target: Kind::Refusal.target(),
            "{}{} gave no name in {} s; closed",
            self.tag(id),
            self.peer_of(id),
            self.cfg.handshake_timeout_secs
        );
    }

    /// `#17 ann is over its rate; lines dropped` (as often as its `ERR`: once a second).
    pub(super) fn log_rate_limited(&self, id: ConnId, budget: Budget) {
        let whose = match budget {
            Budget::Own => "its own rate (--rate)",
            Budget::Address => "the rate its address shares (4 x --rate)",
        };
        log::info!(
            target: Kind::Refusal.target(),
            "{} is over {whose}; lines dropped",
            self.tag(id)
        );
    }

    /// `#17 ann sent a line over 2048 bytes; dropped`.
    pub(super) fn log_line_too_long(&self, id: ConnId) {
        log::info!(
            target: Kind::Refusal.target(),
            "{} sent a line over {} bytes; dropped",
            self.tag(id),
            self.cfg.max_line
        );
    }

    /// `#17 ann asked for /who again too soon; told to wait 3 s`.
    pub(super) fn log_who_too_soon(&self, id: ConnId, wait_secs: u64) {
        log::info!(
            target: Kind::Refusal.target(),
            "{} asked for /who again too soon; told to wait {wait_secs} s",
            self.tag(id)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_the_log_are_quoted_escaped_and_cut() {
        let cases = [
            ("ann", "\"ann\""),
            ("a\"b\u{202e}c\n", "\"a\\\"b\\u{202e}c\\n\""),
            (
                "0123456789012345678901234567890123456789",
                "\"01234567890123456789012345678901...\"",
            ),
        ];
        for (name, want) in cases {
            assert_eq!(Quoted(name).to_string(), want);
        }
        let tag = Tag {
            serial: Serial(17),
            name: Some("ann"),
        };
        assert_eq!(tag.to_string(), "#17 ann");
        assert_eq!(
            From("192.0.2.1:5".parse().ok()).to_string(),
            " from 192.0.2.1:5"
        );
        assert_eq!(From(None).to_string(), "");
    }
}
