//! A room's member list kept encoded as `WHO` lines, so a join storm does not build it afresh
//! for every newcomer.
//!
//! `WHO` lines are packed greedily in join order ([`encode_member_list`]), so while people only
//! join, every line but the last one stays as it is: those *full lines* are shared by every
//! newcomer (the outbox stores them once, see [`crate::outbox::Outbox::send_block`]), and each
//! newcomer's own part is only the open line and `WHOEND`. A leave (which reorders the list) or
//! a rename marks the encoding stale; it is rebuilt at the next use. At rest the encoding is
//! let go of too ([`MemberLines::forget`]): it holds every member's name again, and a room at
//! rest has no newcomers to share it with.
//!
//! [`encode_member_list`]: lanchat_proto::server::encode_member_list

use lanchat_proto::ServerMsg;

/// The encoded member list of one room.
#[derive(Debug, Clone)]
pub struct MemberLines {
    max_line: usize,
    /// The room field of its lines; `None` for `#general` (v1 lines).
    room: Option<Box<str>>,
    /// Complete `WHO` lines, each ending in `\n`.
    full: Vec<u8>,
    /// The last `WHO` line without its `\n`; empty when there are no names.
    open: Vec<u8>,
    /// Names encoded.
    count: usize,
    /// Changes whenever `full` does: names the shared block's content.
    version: u64,
    /// The names changed other than by a join; rebuild before the next use.
    stale: bool,
}

impl MemberLines {
    /// An empty list of `room` (`None`: `#general`) whose lines hold at most `max_line` bytes.
    pub fn new(max_line: usize, room: Option<&str>) -> Self {
        MemberLines {
            max_line,
            room: room.map(Into::into),
            full: Vec::new(),
            open: Vec::new(),
            count: 0,
            version: 0,
            stale: false,
        }
    }

    /// A name joined at the end of the list.
    pub fn push(&mut self, name: &str) {
        if self.stale {
            return;
        }
        if !self.open.is_empty() && self.open.len() + 1 + name.len() > self.max_line {
            self.full.extend_from_slice(&self.open);
            self.full.push(b'\n');
            self.open.clear();
            self.version += 1;
        }
        if self.open.is_empty() {
            self.open.extend_from_slice(b"WHO");
            if let Some(room) = &self.room {
                self.open.push(b' ');
                self.open.extend_from_slice(room.as_bytes());
            }
        }
        self.open.push(b' ');
        self.open.extend_from_slice(name.as_bytes());
        self.count += 1;
    }

    /// Let go of the encoding (at rest, before the heap trim): it is rebuilt at next use, as
    /// after a leave. Until then the names are kept only by their owners, not once more here.
    pub fn forget(&mut self) {
        self.full = Vec::new();
        self.open = Vec::new();
        self.count = 0;
        self.stale = true;
    }

    /// The list changed in a way a push cannot say (a leave, a rename): rebuild at next use.
    pub fn invalidate(&mut self) {
        self.stale = true;
    }

    /// Bring the encoding up to date with `names` (the members in broadcast order) if it went
    /// stale.
    pub fn refresh<'n>(&mut self, names: impl IntoIterator<Item = &'n str>) {
        if !self.stale {
            return;
        }
        self.full.clear();
        self.open.clear();
        self.count = 0;
        self.version += 1;
        self.stale = false;
        for name in names {
            self.push(name);
        }
        // A list that shrank a lot should not keep its old size.
        self.full.shrink_to(self.full.len() * 2);
    }

    /// The complete lines (shared by everyone who gets the list now), and what names them.
    pub fn full(&self) -> (&[u8], u64) {
        (&self.full, self.version)
    }

    /// Append the open line and `WHOEND <count>`: the rest of the list.
    pub fn encode_tail(&self, out: &mut Vec<u8>) {
        if !self.open.is_empty() {
            out.extend_from_slice(&self.open);
            out.push(b'\n');
        }
        ServerMsg::WhoEnd {
            room: self.room.as_deref(),
            count: self.count,
        }
        .encode(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanchat_proto::server::encode_member_list;
    use proptest::prelude::*;

    fn whole(m: &MemberLines) -> Vec<u8> {
        let mut out = m.full().0.to_vec();
        m.encode_tail(&mut out);
        out
    }

    proptest! {
        #[test]
        fn pushes_and_rebuilds_encode_what_encode_member_list_does(
            names in prop::collection::vec("[a-zA-Z0-9]{1,24}", 0..60),
            max_line in 128usize..300,
            cut in 0usize..60,
            room in prop::option::of("#[a-z]{1,24}"),
        ) {
            let room = room.as_deref();
            let mut m = MemberLines::new(max_line, room);
            let mut want = Vec::new();
            for (i, n) in names.iter().enumerate() {
                m.push(n);
                want.clear();
                encode_member_list(room, names[..=i].iter().map(String::as_str), max_line, &mut want);
                prop_assert_eq!(whole(&m), want.clone());
            }
            // A leave: the rest of the list, rebuilt.
            let rest = &names[cut.min(names.len())..];
            m.invalidate();
            m.refresh(rest.iter().map(String::as_str));
            want.clear();
            encode_member_list(room, rest.iter().map(String::as_str), max_line, &mut want);
            prop_assert_eq!(whole(&m), want.clone());
            // At rest, forgotten; rebuilt the same at next use, and pushed onto from there.
            let (_, before) = m.full();
            m.forget();
            m.refresh(rest.iter().map(String::as_str));
            prop_assert_eq!(whole(&m), want);
            prop_assert!(m.full().1 != before, "the shared lines' name changes with them");
            let mut grown: Vec<&str> = rest.iter().map(String::as_str).collect();
            grown.push("newcomer");
            m.push("newcomer");
            let mut want = Vec::new();
            encode_member_list(room, grown, max_line, &mut want);
            prop_assert_eq!(whole(&m), want);
        }
    }

    #[test]
    fn full_lines_change_version_only_when_they_change() {
        let mut m = MemberLines::new(128, None);
        let v0 = m.full().1;
        m.push("ann");
        assert_eq!(m.full(), (&b""[..], v0));
        for i in 0..40 {
            m.push(&format!("name{i:04}"));
        }
        let (full, v1) = m.full();
        assert!(full.ends_with(b"\n") && v1 > v0);
        assert!(full.split(|&b| b == b'\n').all(|l| l.len() <= 128));
    }
}
