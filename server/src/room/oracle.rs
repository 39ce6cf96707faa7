//! The room's test oracle: events fed to a [`Room`] and what must hold after each one. The
//! property test (`server/tests/room_props.rs`) and the fuzz target (`fuzz/fuzz_targets/room.rs`)
//! both drive it; they differ only in how they make up events.
//!
//! After every event: the room's own invariants ([`Room::check_invariants`]); frames go only to
//! connected ids; a connection without a name hears only `HELLO`, `ERR` and `BYE`; a closed id
//! is forgotten; no server line is longer than `max-line` + [`SERVER_LINE_OVERHEAD`] (what
//! clients are promised to take, docs/PROTOCOL.md); and once time passes a connection's
//! handshake deadline, it has a name or is gone.
//!
//! And for the rooms: what each connection was told of its rooms (`ROOM` in, `PARTED` out, a
//! close empties it) is exactly the rooms the server has it in; a line about a room reaches
//! only its members; a connection that never sent a room command hears only version 1 lines;
//! and one event never tells anyone the same `NICK` or server `LEAVE` twice.
//!
//! [`SERVER_LINE_OVERHEAD`]: lanchat_proto::SERVER_LINE_OVERHEAD

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lanchat_proto::ServerMsg;

use super::{LeaveReason, Now, Room, RoomConfig};
use crate::outbox::{ConnId, Recorder};

/// Command prefixes a random line generator would be slow to find by itself.
pub const COMMAND_PREFIXES: &[&str] = &[
    "",
    "/nick ",
    "/NICK ",
    "/msg ",
    "/me ",
    "/who",
    "/help",
    "/quit",
    "/quit ",
    "<quit>",
    "//",
    "/",
    "/frob",
    " /who",
    "/away",
    "/away ",
    "/AWAY ",
    "/back",
    "/in #a /away",
    "/join #",
    "/part #",
    "/in #",
    "/msg #",
    "/rooms",
    "/topic ",
    "/in #a ",
    "/in #general ",
];

/// Whole room lines over a few rooms, so that generated events meet the same rooms often.
pub const ROOM_LINES: &[&str] = &[
    "/join #a",
    "/join #A",
    "/join #b",
    "/join #c",
    "/JOIN #general",
    "/part #a",
    "/part #b",
    "/part #general",
    "/in #a hi",
    "/in #b /me waves",
    "/in #a /who",
    "/in #b /who",
    "/in #a /topic lunch",
    "/in #b /topic",
    "/in #a /nick x",
    "/in #general hi",
    "/msg #b hey",
    "/rooms",
    "/topic t",
];

/// True for a line that uses rooms: after it, its sender may be told of rooms.
fn uses_rooms(line: &[u8]) -> bool {
    let lower = String::from_utf8_lossy(line).to_ascii_lowercase();
    ["/join", "/part", "/in", "/rooms", "/topic", "/msg #"]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// One event fed to the room; ids are taken modulo the oracle's id count.
#[derive(Debug, Clone)]
pub enum Op {
    /// A connection arrives.
    Connect(usize),
    /// A line from a connection (bytes holding a `\n` are as many lines, as read off the wire).
    Line(usize, Vec<u8>),
    /// A connection ends without quitting.
    Disconnect(usize, LeaveReason),
    /// The handshake deadline of a connection passes (as the room's own deadline would).
    Expire(usize),
    /// A line over the limit from a connection.
    LineTooLong(usize),
    /// Time passes; the room handles its deadlines.
    Advance(Duration),
    /// The server stops.
    Shutdown,
}

/// A room, a recorder as its outbox, and the time.
#[derive(Debug)]
pub struct Oracle {
    room: Room,
    out: Recorder,
    now: Now,
    ids: usize,
    max_server_line: usize,
    handshake_timeout: Duration,
    /// When each id connected, while the room knows it.
    since: Vec<Option<Instant>>,
    /// The rooms (besides `#general`) each id was told it is in.
    told: Vec<BTreeSet<String>>,
    /// Each id has sent a room command since it connected.
    rooms_used: Vec<bool>,
}

impl Oracle {
    /// A fresh room with `cfg`, meeting connections `0..ids`.
    pub fn new(cfg: RoomConfig, ids: usize) -> Self {
        let max_server_line = cfg.max_line + lanchat_proto::SERVER_LINE_OVERHEAD;
        let room = Room::new(cfg);
        Oracle {
            handshake_timeout: room.handshake_timeout(),
            room,
            out: Recorder::default(),
            now: Now {
                mono: Instant::now(),
                unix_ms: 1_700_000_000_000,
            },
            ids: ids.max(1),
            max_server_line,
            since: vec![None; ids.max(1)],
            told: vec![BTreeSet::new(); ids.max(1)],
            rooms_used: vec![false; ids.max(1)],
        }
    }

    /// The room, to look at.
    pub fn room(&self) -> &Room {
        &self.room
    }

    /// Apply `op` and check everything that must hold after it.
    ///
    /// # Errors
    /// What was found broken, and after which op.
    pub fn apply(&mut self, op: &Op) -> Result<(), String> {
        let fail = |what: String| Err(format!("after {op:?}: {what}"));
        let id = |i: &usize| ConnId(i % self.ids);
        let connected: Vec<bool> = (0..self.ids)
            .map(|i| self.room.contains(ConnId(i)))
            .collect();
        let named: Vec<bool> = (0..self.ids)
            .map(|i| self.room.is_named(ConnId(i)))
            .collect();
        let (room, out, now) = (&mut self.room, &mut self.out, self.now);
        match op {
            Op::Connect(i) => {
                // Whatever was on this id is gone; the new connection has been told nothing.
                self.told[id(i).0].clear();
                self.rooms_used[id(i).0] = false;
                let _ = room.connect(id(i), now, out);
                if room.contains(id(i)) {
                    self.since[id(i).0] = Some(now.mono);
                }
            }
            Op::Line(i, bytes) => {
                // The decoder never hands the room a `\n`: bytes that hold one arrive as two
                // lines.
                for line in bytes.split(|&b| b == b'\n') {
                    if room.contains(id(i)) && uses_rooms(line) {
                        self.rooms_used[id(i).0] = true;
                    }
                    room.line(id(i), line, now, out);
                }
            }
            Op::Disconnect(i, why) => room.disconnect(id(i), *why, out),
            Op::Expire(i) => {
                room.expire_handshake(id(i), out);
            }
            Op::LineTooLong(i) => room.line_too_long(id(i), now, out),
            Op::Advance(by) => {
                self.now = now.after(*by);
                room.handle_timeout(self.now, out);
            }
            Op::Shutdown => room.shutdown(out),
        }
        if let Err(e) = self.room.check_invariants() {
            return fail(e);
        }
        let sent = self.out.take();
        for (to, line) in &sent.sent {
            let newly = matches!(op, Op::Connect(i) if id(i) == *to);
            if !(connected[to.0] || newly) {
                return fail(format!("{to} is not connected, was sent {line:?}"));
            }
            if line.len() > self.max_server_line {
                return fail(format!(
                    "a {}-byte line to {to} (clients take {}): {:?}...",
                    line.len(),
                    self.max_server_line,
                    line.chars().take(40).collect::<String>()
                ));
            }
            let unnamed = !named[to.0] && !self.room.is_named(*to);
            if unnamed
                && !["HELLO ", "ERR ", "BYE "]
                    .iter()
                    .any(|p| line.starts_with(p))
            {
                return fail(format!("{to} has no name but was sent {line:?}"));
            }
        }
        self.check_rooms(&sent, &connected)
            .map_err(|e| format!("after {op:?}: {e}"))?;
        for closed in &sent.closed {
            if self.room.contains(*closed) {
                return fail(format!("{closed} closed but still in the room"));
            }
        }
        for i in 0..self.ids {
            let here = ConnId(i);
            if !self.room.contains(here) {
                self.since[i] = None;
            } else if let Some(t) = self.since[i] {
                let due = self.now.mono >= t + self.handshake_timeout;
                if due && !self.room.is_named(here) {
                    return fail(format!("{here} is past its handshake deadline unnamed"));
                }
            }
        }
        Ok(())
    }

    /// The room checks of the module doc, over what one event sent.
    fn check_rooms(&mut self, sent: &Recorder, connected: &[bool]) -> Result<(), String> {
        for (i, was) in connected.iter().enumerate() {
            if !was {
                // A new connection on this id starts with nothing said.
                self.told[i].clear();
                self.rooms_used[i] = false;
            }
        }
        let mut once = BTreeSet::new();
        for (to, line) in &sent.sent {
            let Ok(msg) = ServerMsg::parse(line) else {
                continue;
            };
            let told = &mut self.told[to.0];
            match &msg {
                ServerMsg::Room { room, .. } => {
                    told.insert((*room).to_owned());
                }
                ServerMsg::Parted { room } if !told.remove(*room) => {
                    return Err(format!("{to} parted {room}, which it was not in"));
                }
                ServerMsg::Nick { .. } | ServerMsg::Leave { room: None, .. }
                    if !once.insert((to.0, line.as_str())) =>
                {
                    return Err(format!("{to} was told {line:?} twice"));
                }
                _ => {}
            }
            let listing = matches!(msg, ServerMsg::RoomList { .. });
            if let Some(room) = msg.room().filter(|_| !listing) {
                let parted = matches!(msg, ServerMsg::Parted { .. });
                if !parted && !told.contains(room) {
                    return Err(format!("{to} is not in {room} but was sent {line:?}"));
                }
            }
            let new_kind = msg.room().is_some() || matches!(msg, ServerMsg::RoomListEnd { .. });
            if new_kind && !self.rooms_used[to.0] {
                return Err(format!("{to} never used a room but was sent {line:?}"));
            }
        }
        for (i, told) in self.told.iter_mut().enumerate() {
            if !self.room.contains(ConnId(i)) {
                told.clear();
            }
            let actual: BTreeSet<String> = self
                .room
                .rooms_of(ConnId(i))
                .filter(|r| *r != lanchat_proto::GENERAL)
                .map(str::to_owned)
                .collect();
            if *told != actual {
                return Err(format!(
                    "#{i} was told it is in {told:?} but is in {actual:?}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oracle_sees_a_connection_kept_past_its_deadline() {
        // Sanity of the oracle itself: the deadline check fires once time passes it.
        let mut o = Oracle::new(RoomConfig::default(), 2);
        o.apply(&Op::Connect(0)).unwrap();
        o.apply(&Op::Advance(Duration::from_secs(29))).unwrap();
        assert!(o.room().contains(ConnId(0)));
        o.apply(&Op::Advance(Duration::from_secs(1))).unwrap();
        assert!(!o.room().contains(ConnId(0)), "expired at 30 s");
    }

    #[test]
    fn the_oracle_follows_rooms_through_joins_parts_and_closes() {
        let mut o = Oracle::new(RoomConfig::default(), 3);
        let line = |i, l: &str| Op::Line(i, l.as_bytes().to_vec());
        for op in [
            Op::Connect(0),
            line(0, "ann"),
            Op::Connect(1),
            line(1, "bob"),
            line(0, "/join #a"),
            line(1, "/join #A"),
            line(0, "/in #a hi"),
            line(1, "/part #a"),
            line(0, "/nick anna"),
            Op::Disconnect(0, LeaveReason::Quit),
            line(1, "/join #a"),
            Op::Shutdown,
        ] {
            o.apply(&op).unwrap();
        }
    }
}
