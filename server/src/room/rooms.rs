//! What the room commands do: `/join`, `/part`, `/in #room <line>` (and what a line does in a
//! room: a message, `/me`, `/who`, `/topic`), `/rooms`; and the bookkeeping of who is in which
//! room, kept on both sides (a room's member list, a session's memberships).

use lanchat_proto::client::is_blank;
use lanchat_proto::{room_key, ClientMsg, ErrCode, ServerMsg};

use super::channel::{ChannelId, Kind, Membership, GENERAL};
use super::{name_in, text, Now, Relayed, Room};
use crate::limits;
use crate::outbox::{Block, BlockKey, ConnId, Outbox};

/// Why a line for a room cannot be done there.
enum NotThere {
    /// The room name breaks the rules (the text says how).
    BadName(String),
    /// No such room, or the sender is not in it.
    NotIn,
}

impl Room {
    /// `id` (named) enters room `ch`: in the room's member list and in its own memberships.
    pub(super) fn enter(&mut self, id: ConnId, ch: ChannelId) {
        let Some(session) = self.sessions.get_mut(id.0).and_then(Option::as_mut) else {
            return;
        };
        let (Some(name), Some(c)) = (session.name.as_deref(), self.channels.get_mut(ch)) else {
            return;
        };
        let slot = c.push_member(id, name);
        session.set_slot(ch, slot);
        self.channels.touch();
    }

    /// A member left room `m.channel` from slot `m.slot` (its membership is already gone from
    /// its session): the member moved into that slot is told its new one, and a room left
    /// empty disappears with its topic (its history stays in the store for a while, so the
    /// room comes back with it).
    pub(super) fn drop_membership(&mut self, m: Membership) {
        let Some(c) = self.channels.get_mut(m.channel) else {
            return;
        };
        let moved = c.remove_member(m.slot);
        let gone = c.kind() == Kind::Room && c.is_empty();
        if let Some(moved) = moved.and_then(|id| self.sessions.get_mut(id.0)?.as_mut()) {
            moved.set_slot(m.channel, m.slot);
        }
        if gone {
            // Its history stays a while (the store says how long); its topic goes.
            if let Some(history) = c.history() {
                self.store.close_room(history);
            }
            self.channels.remove(m.channel);
        } else {
            self.channels.touch();
        }
    }

    /// True when `id` is in room `ch`.
    fn is_in(&self, id: ConnId, ch: ChannelId) -> bool {
        self.session(id).is_some_and(|s| s.is_in(ch))
    }

    /// The room `room` names, if `id` is in it.
    fn member_channel(&self, id: ConnId, room: &str) -> Result<ChannelId, NotThere> {
        room_key(room).map_err(|e| NotThere::BadName(e.to_string()))?;
        match self.channels.find(room) {
            Some(ch) if self.is_in(id, ch) => Ok(ch),
            _ => Err(NotThere::NotIn),
        }
    }

    fn send_not_there(&mut self, id: ConnId, room: &str, why: NotThere, out: &mut impl Outbox) {
        match why {
            NotThere::BadName(e) => self.send_err(id, ErrCode::BadUsage, &e, out),
            // The name passed the rules, so it is safe to echo.
            NotThere::NotIn => self.send_err(id, ErrCode::NotInRoom, &text::not_in_room(room), out),
        }
    }

    /// `/in #room <line>` (and `/msg #room <text>`): `line` is done in that room.
    pub(super) fn in_room(
        &mut self,
        id: ConnId,
        room: &str,
        line: &str,
        now: Now,
        out: &mut impl Outbox,
    ) {
        let ch = match self.member_channel(id, room) {
            Ok(ch) => ch,
            Err(why) => return self.send_not_there(id, room, why, out),
        };
        if let Some(msg) = self.parse(id, line, out) {
            self.in_channel(id, ch, msg, now, out);
        }
    }

    /// A line done in room `ch` (of which `id` is a member): a message, `/me`, `/who` or
    /// `/topic`. Anything else is not about a room.
    pub(super) fn in_channel(
        &mut self,
        id: ConnId,
        ch: ChannelId,
        msg: ClientMsg<'_>,
        now: Now,
        out: &mut impl Outbox,
    ) {
        match msg {
            ClientMsg::Say(text) => self.relay(id, ch, Relayed::Msg, text, now, out),
            ClientMsg::Me(text) => self.relay(id, ch, Relayed::Action, text, now, out),
            ClientMsg::Who => self.who(id, ch, now, out),
            ClientMsg::Topic(text) => self.set_topic(id, ch, text, out),
            _ => self.send_err(id, ErrCode::BadUsage, text::NOT_A_ROOM_LINE, out),
        }
    }

    /// A message or action from `id` goes into room `ch`'s history and to its other members.
    fn relay(
        &mut self,
        id: ConnId,
        ch: ChannelId,
        kind: Relayed,
        text: &str,
        now: Now,
        out: &mut impl Outbox,
    ) {
        // A muted member's messages and actions go nowhere, in any room.
        if self.refuse_muted(id, now, out) {
            return;
        }
        self.encode_from(id, Some(ch), kind, text);
        let Some(c) = self.channels.get(ch) else {
            return;
        };
        // Into the history, and staged for the room's log: the loop writes it in this round,
        // before any byte of the frame can go out, so a crash after that cannot lose it.
        if let Some(history) = c.history() {
            self.store.stage_to(history, now.unix_ms, &self.frame);
        }
        self.stats.messages_in += 1;
        self.stats.messages_out += c.members().len().saturating_sub(1) as u64;
        out.broadcast(c.members(), Some(id), &self.frame);
    }

    /// `/join #room`: `ROOM`, the history and the member list to the joiner, `JOIN #room` to
    /// the others; the room is made if it does not exist.
    pub(super) fn join(&mut self, id: ConnId, room: &str, now: Now, out: &mut impl Outbox) {
        if let Err(e) = room_key(room) {
            self.send_err(id, ErrCode::BadUsage, &e.to_string(), out);
            return;
        }
        let found = self.channels.find(room);
        if let Some(ch) = found.filter(|&ch| self.is_in(id, ch)) {
            let name = self.channels.get(ch).map(|c| c.name().to_owned());
            self.send_info(id, &text::already_in(name.as_deref().unwrap_or(room)), out);
            return;
        }
        let rooms = self.session(id).map_or(0, |s| s.room_count());
        if rooms >= self.cfg.rooms_per_user {
            let msg = text::too_many_rooms_user(self.cfg.rooms_per_user);
            self.send_err(id, ErrCode::TooManyRooms, &msg, out);
            return;
        }
        let ch = match found {
            Some(ch) => ch,
            None if self.channels.len() >= self.cfg.max_rooms => {
                let msg = text::too_many_rooms_server(self.cfg.max_rooms);
                self.send_err(id, ErrCode::TooManyRooms, &msg, out);
                return;
            }
            None => {
                // A room whose history is kept comes back as it was spelled.
                let name = self.store.kept_name(room).unwrap_or(room).to_owned();
                let ch = self.channels.create(&name);
                let history = self.store.open_room(&name);
                if let Some(c) = self.channels.get_mut(ch) {
                    c.set_history(history);
                }
                ch
            }
        };
        self.enter(id, ch);
        let Some(c) = self.channels.get(ch) else {
            return;
        };
        log::debug!("{id} joined {} ({} there)", c.name(), c.len());
        self.frame.clear();
        ServerMsg::Room {
            room: c.name(),
            topic: c.topic(),
        }
        .encode(&mut self.frame);
        out.send(id, &self.frame);
        self.welcome_to(id, ch, now, out);
    }

    /// `/part #room`: `LEAVE #room <name> parted` to the others there, `PARTED #room` to the
    /// parter. `#general` cannot be left.
    pub(super) fn part(&mut self, id: ConnId, room: &str, out: &mut impl Outbox) {
        if let Err(e) = room_key(room) {
            self.send_err(id, ErrCode::BadUsage, &e.to_string(), out);
            return;
        }
        if self.channels.find(room) == Some(GENERAL) {
            self.send_err(id, ErrCode::BadUsage, text::PART_GENERAL, out);
            return;
        }
        let ch = match self.member_channel(id, room) {
            Ok(ch) => ch,
            Err(why) => return self.send_not_there(id, room, why, out),
        };
        let Some(m) = self
            .sessions
            .get_mut(id.0)
            .and_then(Option::as_mut)
            .and_then(|s| s.part(ch))
        else {
            return;
        };
        let (Some(c), Some(name)) = (self.channels.get(ch), name_in(&self.sessions, id)) else {
            return;
        };
        let room = c.name().to_owned();
        log::debug!("{id} parted {room}");
        self.frame.clear();
        ServerMsg::Leave {
            room: Some(&room),
            name,
            reason: lanchat_proto::room::PARTED,
            text: "",
        }
        .encode(&mut self.frame);
        self.drop_membership(m);
        if let Some(c) = self.channels.get(ch) {
            out.broadcast(c.members(), None, &self.frame);
        }
        self.frame.clear();
        ServerMsg::Parted { room: &room }.encode(&mut self.frame);
        out.send(id, &self.frame);
    }

    /// `/topic <text>` in room `ch`: everyone there, the setter included, gets `TOPIC`.
    fn set_topic(&mut self, id: ConnId, ch: ChannelId, topic: &str, out: &mut impl Outbox) {
        if ch == GENERAL {
            self.send_err(id, ErrCode::BadUsage, text::GENERAL_TOPIC, out);
            return;
        }
        if topic.len() > limits::MAX_TOPIC_BYTES {
            let msg = text::topic_too_long(limits::MAX_TOPIC_BYTES);
            self.send_err(id, ErrCode::BadUsage, &msg, out);
            return;
        }
        let topic = if is_blank(topic) { "" } else { topic };
        let (Some(c), Some(name)) = (self.channels.get_mut(ch), name_in(&self.sessions, id)) else {
            return;
        };
        c.set_topic(topic);
        self.frame.clear();
        ServerMsg::Topic {
            room: c.name(),
            name,
            text: topic,
        }
        .encode(&mut self.frame);
        out.broadcast(c.members(), None, &self.frame);
        self.channels.touch();
    }

    /// `/rooms`: the room list, as a block everyone who asks this round shares.
    pub(super) fn list_rooms(&mut self, id: ConnId, out: &mut impl Outbox) {
        let channels = &self.channels;
        let key = BlockKey {
            block: Block::RoomList,
            owner: 0,
            version: channels.version(),
        };
        out.send_block(id, key, &mut |buf| channels.encode_list(buf));
    }
}
