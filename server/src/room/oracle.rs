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
//! [`SERVER_LINE_OVERHEAD`]: lanchat_proto::SERVER_LINE_OVERHEAD

use std::time::{Duration, Instant};

use super::{LeaveReason, Now, Room, RoomConfig};
use crate::outbox::{ConnId, Recorder};

/// Command prefixes a random line generator would be slow to find by itself.
pub const COMMAND_PREFIXES: &[&str] = &[
    "", "/nick ", "/NICK ", "/msg ", "/me ", "/who", "/help", "/quit", "/quit ", "<quit>", "//",
    "/", "/frob", " /who", "/away", "/away ", "/AWAY ", "/back",
];

/// One event fed to the room; ids are taken modulo the oracle's id count.
#[derive(Debug, Clone)]
pub enum Op {
    /// A connection arrives.
    Connect(usize),
    /// A line (without its `\n`) from a connection.
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
                let _ = room.connect(id(i), now, out);
                if room.contains(id(i)) {
                    self.since[id(i).0] = Some(now.mono);
                }
            }
            Op::Line(i, line) => room.line(id(i), line, now, out),
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
}
