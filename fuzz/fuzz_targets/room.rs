//! Fuzz target: the chat room fed arbitrary events from arbitrary connection ids (connect,
//! line, disconnect, handshake expiry, overlong line, time passing, shutdown), checked after
//! every event by the room oracle (`lanchat_server::room::oracle`): no panic, the room's
//! invariants, frames only to connected ids, nothing but `HELLO`/`ERR`/`BYE` before a name, a
//! closed id forgotten, no server line longer than `max-line + SERVER_LINE_OVERHEAD`, handshake
//! deadlines kept, each connection told exactly the rooms it is in, room lines only to
//! members, only v1 lines to who never used a room. `server/tests/room_props.rs` drives the same oracle as a bounded property
//! test in the normal suite.

#![no_main]

use std::time::Duration;

use lanchat_server::room::oracle::{Op, Oracle, COMMAND_PREFIXES, ROOM_LINES};
use lanchat_server::{LeaveReason, RoomConfig};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

/// Connection ids are taken modulo this, so events meet the same connections often.
const IDS: usize = 16;

#[derive(Arbitrary, Debug)]
enum Line {
    Raw(Vec<u8>),
    Command(u8, String),
    Room(u8),
}

#[derive(Arbitrary, Debug)]
enum Event {
    Connect(u8),
    Line(u8, Line),
    Disconnect(u8, u8),
    Expire(u8),
    LineTooLong(u8),
    AdvanceMs(u16),
    Shutdown,
}

#[derive(Arbitrary, Debug)]
struct Input {
    max_clients: u8,
    /// Room limits, small so they are met.
    max_rooms: u8,
    rooms_per_user: u8,
    /// Flood control on (2 lines/s, bursts of 3) or off.
    rate_limited: bool,
    history: u8,
    /// The smallest line limit (128) instead of the default.
    short_lines: bool,
    events: Vec<Event>,
}

impl Event {
    fn op(&self) -> Op {
        let id = |i: &u8| usize::from(*i);
        match self {
            Event::Connect(i) => Op::Connect(id(i)),
            Event::Line(i, Line::Raw(bytes)) => Op::Line(id(i), bytes.clone()),
            Event::Line(i, Line::Command(p, rest)) => {
                let prefix = COMMAND_PREFIXES[usize::from(*p) % COMMAND_PREFIXES.len()];
                Op::Line(id(i), format!("{prefix}{rest}").into_bytes())
            }
            Event::Line(i, Line::Room(r)) => Op::Line(
                id(i),
                ROOM_LINES[usize::from(*r) % ROOM_LINES.len()]
                    .as_bytes()
                    .to_vec(),
            ),
            Event::Disconnect(i, r) => Op::Disconnect(
                id(i),
                LeaveReason::ALL[usize::from(*r) % LeaveReason::ALL.len()],
            ),
            Event::Expire(i) => Op::Expire(id(i)),
            Event::LineTooLong(i) => Op::LineTooLong(id(i)),
            Event::AdvanceMs(ms) => Op::Advance(Duration::from_millis(u64::from(*ms) * 10)),
            Event::Shutdown => Op::Shutdown,
        }
    }
}

fuzz_target!(|input: Input| {
    let cfg = RoomConfig {
        max_clients: 1 + usize::from(input.max_clients) % IDS,
        max_line: if input.short_lines { 128 } else { 2048 },
        rate: if input.rate_limited { 2.0 } else { 0.0 },
        burst: 3,
        history: usize::from(input.history % 8),
        handshake_timeout_secs: 1,
        max_rooms: 1 + usize::from(input.max_rooms % 6),
        rooms_per_user: 1 + usize::from(input.rooms_per_user % 4),
    };
    let mut oracle = Oracle::new(cfg, IDS);
    for event in &input.events {
        if let Err(e) = oracle.apply(&event.op()) {
            panic!("{e}");
        }
    }
});
