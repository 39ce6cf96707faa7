//! Fuzz target: the chat room (`lanchat_server::Room`, a `Recorder` as its outbox) fed
//! arbitrary events from arbitrary connection ids: connect, line, disconnect, handshake expiry,
//! overlong line, time passing, shutdown.
//!
//! Never panics, and after every event: the room's invariants hold (names unique ignoring case,
//! member list consistent), frames go only to connected ids, a connection without a name hears
//! only `HELLO`/`ERR`/`BYE`, a closed id is forgotten, and no server line is longer than the
//! `max-line + 160` bytes clients are promised to take. `server/tests/room_props.rs` runs the
//! same checks as a bounded property test in the normal suite.

#![no_main]

use std::time::{Duration, Instant};

use lanchat_server::room::reason;
use lanchat_server::{ConnId, Now, Recorder, Room, RoomConfig};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

/// Connection ids are taken modulo this, so events meet the same connections often.
const IDS: usize = 16;

/// Command prefixes the fuzzer would be slow to find by itself.
const PREFIXES: &[&str] = &[
    "", "/nick ", "/NICK ", "/msg ", "/me ", "/who", "/help", "/quit", "<quit>", "//", "/",
    "/frob", " /who",
];

const REASONS: &[&str] = &[
    reason::DISCONNECTED,
    reason::TOO_SLOW,
    reason::TIMEOUT,
    reason::FLOODING,
    reason::QUIT,
];

#[derive(Arbitrary, Debug)]
enum Line {
    Raw(Vec<u8>),
    Command(u8, String),
}

#[derive(Arbitrary, Debug)]
enum Op {
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
    /// Flood control on (2 lines/s, bursts of 3) or off.
    rate_limited: bool,
    history: u8,
    /// The smallest line limit (128) instead of the default.
    short_lines: bool,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let cfg = RoomConfig {
        max_clients: 1 + usize::from(input.max_clients) % IDS,
        max_line: if input.short_lines { 128 } else { 2048 },
        rate: if input.rate_limited { 2.0 } else { 0.0 },
        burst: 3,
        history: usize::from(input.history % 8),
        handshake_timeout_secs: 1,
    };
    let max_server_line = cfg.max_line + 160;
    let mut room = Room::new(cfg);
    let mut out = Recorder::default();
    let mut now = Now {
        mono: Instant::now(),
        unix_ms: 1_700_000_000_000,
    };
    let id = |i: &u8| ConnId(usize::from(*i) % IDS);
    for op in &input.ops {
        let connected: Vec<bool> = (0..IDS).map(|i| room.contains(ConnId(i))).collect();
        let named: Vec<bool> = (0..IDS).map(|i| room.is_named(ConnId(i))).collect();
        match op {
            Op::Connect(i) => {
                let _ = room.connect(id(i), now, &mut out);
            }
            Op::Line(i, Line::Raw(bytes)) => room.line(id(i), bytes, now, &mut out),
            Op::Line(i, Line::Command(p, rest)) => {
                let line = format!("{}{rest}", PREFIXES[usize::from(*p) % PREFIXES.len()]);
                room.line(id(i), line.as_bytes(), now, &mut out);
            }
            Op::Disconnect(i, r) => {
                room.disconnect(id(i), REASONS[usize::from(*r) % REASONS.len()], &mut out)
            }
            Op::Expire(i) => {
                room.expire_handshake(id(i), &mut out);
            }
            Op::LineTooLong(i) => room.line_too_long(id(i), now, &mut out),
            Op::AdvanceMs(ms) => {
                now.mono += Duration::from_millis(u64::from(*ms) * 10);
                now.unix_ms += u64::from(*ms) * 10;
            }
            Op::Shutdown => room.shutdown(&mut out),
        }
        if let Err(e) = room.check_invariants() {
            panic!("after {op:?}: {e}");
        }
        let sent = out.take();
        for (to, line) in &sent.sent {
            let newly = matches!(op, Op::Connect(i) if id(i) == *to);
            assert!(
                connected[to.0] || newly,
                "{op:?}: {to} is not connected, was sent {line:?}"
            );
            assert!(
                line.len() <= max_server_line,
                "{op:?}: {}-byte line to {to}",
                line.len()
            );
            if !named[to.0] && !room.is_named(*to) {
                assert!(
                    ["HELLO ", "ERR ", "BYE "]
                        .iter()
                        .any(|p| line.starts_with(p)),
                    "{op:?}: {to} has no name but was sent {line:?}"
                );
            }
        }
        for closed in &sent.closed {
            assert!(
                !room.contains(*closed),
                "{op:?}: {closed} closed but still in the room"
            );
        }
    }
});
