//! The kinds of log line a call site can name, so that each is rate-limited and summarised on
//! its own ("... and 8,120 more joins in the last 10 s") and can be turned up or down alone
//! through `RUST_LOG`.
//!
//! A kind is carried as the record's `log` target:
//! `log::info!(target: Kind::Join.target(), "{id} joined as {name} from {peer}")`. A line that
//! names no kind is limited per call site (its module and line), so one busy statement never
//! silences another.

/// What a log line reports, where many of the same can come in a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A connection opened or closed (below the room: before a name, after the socket goes).
    Connection,
    /// Someone took a name and is in the chat.
    Join,
    /// Someone left the chat (with the reason).
    Leave,
    /// Someone changed their name.
    Rename,
    /// The server put someone out: kick, ban, too slow, flooding, timed out.
    Kick,
    /// The server said no: server full, name refused, line too long, rate limited.
    Refusal,
}

impl Kind {
    /// Every kind, for mapping a target back.
    pub const ALL: [Kind; 6] = [
        Kind::Connection,
        Kind::Join,
        Kind::Leave,
        Kind::Rename,
        Kind::Kick,
        Kind::Refusal,
    ];

    /// The `log` target lines of this kind carry. Under the crate's name, so a directive for
    /// `lanchat_server` covers them, and `RUST_LOG=info,lanchat_server::join=warn` quiets joins
    /// alone.
    pub const fn target(self) -> &'static str {
        match self {
            Kind::Connection => "lanchat_server::connection",
            Kind::Join => "lanchat_server::join",
            Kind::Leave => "lanchat_server::leave",
            Kind::Rename => "lanchat_server::rename",
            Kind::Kick => "lanchat_server::kick",
            Kind::Refusal => "lanchat_server::refusal",
        }
    }

    /// What a summary counts: "... and 12 more *joins*".
    pub const fn plural(self) -> &'static str {
        match self {
            Kind::Connection => "connections opened or closed",
            Kind::Join => "joins",
            Kind::Leave => "leaves",
            Kind::Rename => "renames",
            Kind::Kick => "kicks",
            Kind::Refusal => "refusals",
        }
    }

    /// The kind whose target `target` is.
    pub fn from_target(target: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.target() == target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_back_from_its_target_and_targets_differ() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_target(k.target()), Some(k));
            assert!(k.target().starts_with("lanchat_server::"));
        }
        assert_eq!(Kind::from_target("lanchat_server::room"), None);
        assert_eq!(Kind::from_target("lanchat_server"), None);
    }
}
