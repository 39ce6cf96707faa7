//! Who is away, and the `WHOAWAY` lines that mark them in a member list.
//!
//! A member list goes to every newcomer, so the lines are kept encoded, as the `WHO` lines are
//! ([`super::members`]): rebuilt only when someone goes away, comes back, changes their
//! message, is renamed or leaves while away. Usually nobody is away and a newcomer gets
//! nothing extra.

use lanchat_proto::ServerMsg;

use crate::outbox::ConnId;

/// The members who are away, in the order they went, and their encoded `WHOAWAY` lines.
#[derive(Debug, Clone, Default)]
pub struct AwayLines {
    /// Away members. Invariant: each at most once.
    ids: Vec<ConnId>,
    /// `WHOAWAY` lines for `ids`, valid unless `stale`.
    frame: Vec<u8>,
    stale: bool,
}

impl AwayLines {
    /// `id` is away (again, perhaps with a new message).
    pub fn set(&mut self, id: ConnId) {
        if !self.ids.contains(&id) {
            self.ids.push(id);
        }
        self.stale = true;
    }

    /// `id` is not away (any more); whether it was.
    pub fn clear(&mut self, id: ConnId) -> bool {
        let before = self.ids.len();
        self.ids.retain(|&i| i != id);
        let was = self.ids.len() != before;
        self.stale |= was;
        was
    }

    /// `id`'s name or message changed.
    pub fn touch(&mut self, id: ConnId) {
        if self.ids.contains(&id) {
            self.stale = true;
        }
    }

    /// Nobody is away.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The away members.
    pub fn ids(&self) -> &[ConnId] {
        &self.ids
    }

    /// The `WHOAWAY` lines, one per away member: `who` gives a member's name and message.
    pub fn frame<'a>(&mut self, who: impl Fn(ConnId) -> Option<(&'a str, &'a str)>) -> &[u8] {
        if self.stale {
            self.frame.clear();
            for &id in &self.ids {
                if let Some((name, text)) = who(id) {
                    ServerMsg::WhoAway { name, text }.encode(&mut self.frame);
                }
            }
            self.stale = false;
        }
        &self.frame
    }
}

/// An away message as kept and shown: its first `max_chars` characters.
pub fn cut(message: &str, max_chars: usize) -> &str {
    match message.char_indices().nth(max_chars) {
        Some((at, _)) => &message[..at],
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_who_is_away() {
        let names = ["ann", "bob", "cy"];
        let mut msgs = ["", "lunch", "home"];
        let mut away = AwayLines::default();
        let lines = |away: &mut AwayLines, msgs: &[&'static str; 3]| {
            let msgs = *msgs;
            String::from_utf8(away.frame(|id| Some((names[id.0], msgs[id.0]))).to_vec()).unwrap()
        };
        assert!(away.is_empty());
        assert_eq!(lines(&mut away, &msgs), "");
        away.set(ConnId(1));
        away.set(ConnId(0));
        away.set(ConnId(1));
        assert_eq!(away.ids(), [ConnId(1), ConnId(0)]);
        assert_eq!(lines(&mut away, &msgs), "WHOAWAY bob lunch\nWHOAWAY ann\n");
        msgs[1] = "home";
        away.touch(ConnId(2)); // not away: nothing to redo
        assert_eq!(lines(&mut away, &msgs), "WHOAWAY bob lunch\nWHOAWAY ann\n");
        away.touch(ConnId(1));
        assert_eq!(lines(&mut away, &msgs), "WHOAWAY bob home\nWHOAWAY ann\n");
        assert!(away.clear(ConnId(1)));
        assert!(!away.clear(ConnId(1)));
        assert_eq!(lines(&mut away, &msgs), "WHOAWAY ann\n");
    }

    #[test]
    fn messages_are_cut_at_characters() {
        assert_eq!(cut("lunch", 3), "lun");
        assert_eq!(cut("déjà vu", 4), "déjà");
        assert_eq!(cut("short", 200), "short");
        assert_eq!(cut("", 0), "");
    }
}
