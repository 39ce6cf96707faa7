//! The rooms (`#general`, `#dev`, ...) as the chat logic keeps them: each one's members, its
//! encoded member list and topic ([`Channel`]), and the set of them, found by any spelling of a
//! name ([`Channels`]). A room's history is not here but in the store
//! ([`crate::persist::Store`]), which keeps it on disk too.
//!
//! In code a room is a *channel* (IRC's word), so it is not confused with [`crate::Room`], the
//! whole chat. Who is in which room is kept on both sides: a channel's member list (its
//! broadcast list) and each session's list of [`Membership`]s, which holds the member's slot in
//! each list so leaving is O(1) per room. [`crate::Room`] keeps the two in step.

use lanchat_proto::server::encode_member_list;
use lanchat_proto::{NameIndex, NameKey, GENERAL as GENERAL_NAME};
use slab::Slab;

use super::members::MemberLines;
use crate::outbox::ConnId;
use crate::persist::HistoryId;

/// A room's key in [`Channels`]. Keys are reused after a room disappears; the room's
/// [`Channel::serial`] is not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId(pub u32);

/// `#general`'s key: made first, never removed.
pub const GENERAL: ChannelId = ChannelId(0);

/// Which kind of room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `#general`: every named connection is in it; its lines are version 1 lines, with no room
    /// field; it cannot be left and has no topic.
    General,
    /// Any other room: its lines name it; it disappears when its last member leaves.
    Room,
}

/// One room a session is in: which, and its slot in that room's member list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    /// The room.
    pub channel: ChannelId,
    /// Index in the room's member list. Invariant: `members[slot]` is the session.
    pub slot: u32,
}

/// One room.
#[derive(Debug)]
pub struct Channel {
    kind: Kind,
    /// As first spelled, with its `#`: how every line names it.
    name: Box<str>,
    /// Tells this room from every other room there ever was (block keys carry it).
    serial: u64,
    /// Empty when none is set.
    topic: Box<str>,
    /// The broadcast list. Densely packed, in join order until someone leaves.
    members: Vec<ConnId>,
    /// `members`' names as `WHO` lines.
    lines: MemberLines,
    /// Its history in the store, once the chat has opened it there.
    history: Option<HistoryId>,
}

impl Channel {
    fn new(kind: Kind, name: &str, serial: u64, max_line: usize) -> Self {
        let field = (kind == Kind::Room).then_some(name);
        Channel {
            kind,
            name: name.into(),
            serial,
            topic: "".into(),
            members: Vec::new(),
            lines: MemberLines::new(max_line, field),
            history: None,
        }
    }

    /// Which kind of room.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Its name as lines spell it, with the `#`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What its lines carry as their room field: `None` for `#general`, whose lines are v1's.
    pub fn field(&self) -> Option<&str> {
        match self.kind {
            Kind::General => None,
            Kind::Room => Some(&self.name),
        }
    }

    /// Never the same for two rooms, even with the same name at different times.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Its topic; empty when none is set.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Set (or, with `""`, clear) the topic.
    pub fn set_topic(&mut self, topic: &str) {
        self.topic = topic.into();
    }

    /// Its members, in broadcast order.
    pub fn members(&self) -> &[ConnId] {
        &self.members
    }

    /// How many are in it.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when nobody is in it.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Its history in the store ([`crate::persist::Store::open_room`]).
    pub fn history(&self) -> Option<HistoryId> {
        self.history
    }

    /// Its history is `id` in the store.
    pub fn set_history(&mut self, id: HistoryId) {
        self.history = Some(id);
    }

    /// Its encoded member list.
    pub fn lines(&self) -> &MemberLines {
        &self.lines
    }

    /// Bring its encoded member list up to date, if a leave or a rename made it stale
    /// (`name_of` names each member).
    pub fn refresh_lines<'n>(&mut self, name_of: impl Fn(ConnId) -> Option<&'n str>) {
        let members = &self.members;
        self.lines
            .refresh(members.iter().filter_map(|&m| name_of(m)));
    }

    /// `id`, called `name`, is now a member; returns its slot.
    pub fn push_member(&mut self, id: ConnId, name: &str) -> u32 {
        let slot = self.members.len();
        self.members.push(id);
        self.lines.push(name);
        // Slots fit: a room holds at most `--max-clients` (at most a million) members.
        u32::try_from(slot).unwrap_or(u32::MAX)
    }

    /// The member in `slot` left; returns the member moved into its slot, whose membership
    /// must now say `slot`.
    pub fn remove_member(&mut self, slot: u32) -> Option<ConnId> {
        let slot = slot as usize;
        if slot >= self.members.len() {
            return None;
        }
        self.members.swap_remove(slot);
        self.lines.invalidate();
        self.members.get(slot).copied()
    }

    /// A member was renamed: the list is encoded again at next use.
    pub fn renamed(&mut self) {
        self.lines.invalidate();
    }
}

/// Every room that exists, `#general` always among them.
#[derive(Debug)]
pub struct Channels {
    slab: Slab<Channel>,
    /// The part of each room's name after its `#`, to its key: found by any case or look-alike
    /// spelling. Invariant: exactly the rooms in `slab`, each once.
    index: NameIndex<ChannelId>,
    /// The last serial handed out.
    serial: u64,
    /// Changes whenever what `/rooms` shows does (a room made or gone, a member count, a
    /// topic): names the room list's block.
    version: u64,
    max_line: usize,
}

impl Channels {
    /// Only `#general`, empty; member lists within `max_line`.
    pub fn new(max_line: usize) -> Self {
        let mut channels = Channels {
            slab: Slab::new(),
            index: NameIndex::new(),
            serial: 0,
            version: 0,
            max_line,
        };
        let general = channels.insert(Kind::General, GENERAL_NAME);
        debug_assert_eq!(general, GENERAL);
        channels
    }

    fn insert(&mut self, kind: Kind, name: &str) -> ChannelId {
        self.serial += 1;
        self.version += 1;
        let key = NameKey::of(&name[1..]);
        let channel = Channel::new(kind, name, self.serial, self.max_line);
        // Room counts are bounded by `--max-rooms` (at most 100,000).
        let id = ChannelId(u32::try_from(self.slab.insert(channel)).unwrap_or(u32::MAX));
        self.index.insert(key, id);
        id
    }

    /// How many rooms exist, `#general` included.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Never true: `#general` always exists.
    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// The room `room` (with its `#`) names, in any case or look-alike spelling.
    pub fn find(&self, room: &str) -> Option<ChannelId> {
        let name = room.strip_prefix(lanchat_proto::room::ROOM_PREFIX)?;
        self.index.get(name).copied()
    }

    /// Make a room called `room` (a valid room name that [`Channels::find`] does not find).
    pub fn create(&mut self, room: &str) -> ChannelId {
        self.insert(Kind::Room, room)
    }

    /// The room `id`.
    pub fn get(&self, id: ChannelId) -> Option<&Channel> {
        self.slab.get(id.0 as usize)
    }

    /// The room `id`.
    pub fn get_mut(&mut self, id: ChannelId) -> Option<&mut Channel> {
        self.slab.get_mut(id.0 as usize)
    }

    /// `#general`.
    pub fn general(&self) -> &Channel {
        &self.slab[GENERAL.0 as usize]
    }

    /// Forget room `id` (not `#general`), with its topic and history.
    pub fn remove(&mut self, id: ChannelId) {
        if id == GENERAL {
            return;
        }
        if let Some(channel) = self.slab.try_remove(id.0 as usize) {
            self.index.remove(&channel.name[1..]);
            self.version += 1;
        }
    }

    /// Something `/rooms` shows changed.
    pub fn touch(&mut self) {
        self.version += 1;
    }

    /// Names the room list as [`Channels::encode_list`] writes it now.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Give back what a burst of joins left beyond what the rooms hold (member lists' slack)
    /// and their encoded member lists (rebuilt at next use), at rest, before the heap trim.
    pub fn shrink(&mut self) {
        for (_, c) in &mut self.slab {
            c.members.shrink_to_fit();
            c.lines.forget();
        }
    }

    /// Every room with its key, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (ChannelId, &Channel)> {
        self.slab
            .iter()
            .map(|(k, c)| (ChannelId(u32::try_from(k).unwrap_or(u32::MAX)), c))
    }

    /// Append the answer to `/rooms`: one `ROOMLIST #room <members> <topic>` per room,
    /// `#general` first and the others by name ignoring case, then `ROOMLISTEND <count>`.
    pub fn encode_list(&self, out: &mut Vec<u8>) {
        let mut rooms: Vec<(bool, String, &Channel)> = self
            .slab
            .iter()
            .map(|(_, c)| (c.kind == Kind::Room, c.name.to_lowercase(), c))
            .collect();
        rooms.sort_unstable_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        for (_, _, c) in &rooms {
            lanchat_proto::ServerMsg::RoomList {
                room: &c.name,
                members: c.len(),
                topic: &c.topic,
            }
            .encode(out);
        }
        lanchat_proto::ServerMsg::RoomListEnd { count: rooms.len() }.encode(out);
    }

    /// Forget every room but `#general`, and everyone in `#general` (the server stops).
    pub fn clear(&mut self) {
        let ids: Vec<ChannelId> = self.iter().map(|(id, _)| id).collect();
        for id in ids {
            self.remove(id);
        }
        let max_line = self.max_line;
        if let Some(general) = self.get_mut(GENERAL) {
            general.members.clear();
            general.lines = MemberLines::new(max_line, None);
        }
    }

    /// Check the set's own invariants, given each member's name (`None`: not a named
    /// connection) and whether a member has a membership.
    ///
    /// # Errors
    /// The first one found broken.
    pub fn check<'s>(
        &self,
        name_of: impl Fn(ConnId) -> Option<&'s str>,
        has: impl Fn(ConnId, Membership) -> bool,
    ) -> Result<(), String> {
        if self.index.len() != self.slab.len() {
            return Err(format!(
                "{} rooms, {} in the index",
                self.slab.len(),
                self.index.len()
            ));
        }
        if self.get(GENERAL).map(Channel::kind) != Some(Kind::General) {
            return Err("#general is not at its key".into());
        }
        for (id, c) in self.iter() {
            if self.find(&c.name) != Some(id) {
                return Err(format!("{} is not found by its name", c.name));
            }
            if c.kind == Kind::Room && c.is_empty() {
                return Err(format!("{} is empty but kept", c.name));
            }
            if c.kind == Kind::General && !c.topic.is_empty() {
                return Err("#general has a topic".into());
            }
            let mut names = Vec::with_capacity(c.len());
            for (slot, &m) in c.members.iter().enumerate() {
                let Some(name) = name_of(m) else {
                    return Err(format!("{} holds {m}, who has no name", c.name));
                };
                names.push(name);
                let want = Membership {
                    channel: id,
                    slot: slot as u32,
                };
                if !has(m, want) {
                    return Err(format!("{m} in {} slot {slot} does not know it", c.name));
                }
            }
            let mut lines = c.lines.clone();
            lines.refresh(names.iter().copied());
            let mut kept = lines.full().0.to_vec();
            lines.encode_tail(&mut kept);
            let mut fresh = Vec::new();
            encode_member_list(c.field(), names, self.max_line, &mut fresh);
            if kept != fresh {
                return Err(format!("the kept member list of {} is wrong", c.name));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_found_by_any_spelling_and_general_stays() {
        let mut ch = Channels::new(2048);
        assert_eq!(ch.find("#general"), Some(GENERAL));
        assert_eq!(ch.find("#GENERAL"), Some(GENERAL));
        assert_eq!(ch.find("general"), None, "a room name has its #");
        let dev = ch.create("#Dev");
        assert_eq!(ch.find("#dev"), Some(dev));
        assert_eq!(ch.find("#DEV"), Some(dev));
        assert_eq!(ch.get(dev).map(Channel::name), Some("#Dev"));
        assert_eq!(ch.len(), 2);
        ch.remove(GENERAL);
        ch.remove(dev);
        assert_eq!(ch.len(), 1, "#general cannot be removed");
        assert_eq!(ch.find("#dev"), None);
        let again = ch.create("#dev");
        assert_eq!(again, dev, "the key is reused ...");
        assert!(ch.get(again).unwrap().serial() > 2, "... the serial is not");
    }

    #[test]
    fn the_room_list_puts_general_first_then_names_ignoring_case() {
        let mut ch = Channels::new(2048);
        let ids = [ch.create("#zoo"), ch.create("#Alpha"), ch.create("#beta")];
        for (i, id) in ids.iter().enumerate() {
            let c = ch.get_mut(*id).unwrap();
            c.push_member(ConnId(i), "x");
        }
        ch.get_mut(ids[2]).unwrap().set_topic("the topic");
        let mut out = Vec::new();
        ch.encode_list(&mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "ROOMLIST #general 0\nROOMLIST #Alpha 1\nROOMLIST #beta 1 the topic\n\
             ROOMLIST #zoo 1\nROOMLISTEND 4\n"
        );
    }

    #[test]
    fn leaving_moves_the_last_member_into_the_slot() {
        let mut ch = Channels::new(2048);
        let dev = ch.create("#dev");
        let c = ch.get_mut(dev).unwrap();
        for i in 0..3 {
            assert_eq!(c.push_member(ConnId(i), &format!("u{i}")), i as u32);
        }
        assert_eq!(c.remove_member(0), Some(ConnId(2)));
        assert_eq!(c.members(), [ConnId(2), ConnId(1)]);
        assert_eq!(c.remove_member(1), None, "the last slot: nobody moves");
        assert_eq!(c.remove_member(5), None);
    }
}
