//! Property tests of the room: any sequence of events from any connection ids (connect, line,
//! disconnect, handshake expiry, overlong line, time passing) never panics, keeps the room's
//! invariants (names unique ignoring case, member list consistent), and produces only frames a
//! client can take. The same ops drive the `room` fuzz target in `fuzz/`; these bounded cases
//! run in the normal suite.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lanchat_server::room::reason;
use lanchat_server::{ConnId, Now, Recorder, Room, RoomConfig};
use proptest::prelude::*;

/// One event fed to the room.
#[derive(Debug, Clone)]
enum Op {
    Connect(usize),
    Line(usize, Vec<u8>),
    Disconnect(usize, &'static str),
    Expire(usize),
    LineTooLong(usize),
    Advance(u64),
    Shutdown,
}

const IDS: usize = 8;

/// Names and name-like words that hit the rules: case folding, reserved words, bad characters,
/// length, bidi controls.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "ann",
            "Ann",
            "ANN",
            "bob",
            "b.o-b_",
            "Zoë",
            "server",
            "SYSTEM",
            "",
            " ",
            "two words",
            "\u{202e}evil",
            "a\u{1}b",
            "x\ty",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9_.-]{1,30}",
        any::<String>(),
    ]
}

/// A client line: usually a command or chat, sometimes any bytes.
fn line() -> impl Strategy<Value = Vec<u8>> {
    let cmd = prop::sample::select(vec![
        "", "/nick ", "/NICK ", "/msg ", "/me ", "/who", "/help", "/quit", "<quit>", "//", "/",
        "/frob", " /who",
    ]);
    prop_oneof![
        4 => (cmd, word(), word()).prop_map(|(c, a, b)| format!("{c}{a} {b}").into_bytes()),
        2 => word().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..64),
        // A long line of control characters after a slash: ERR texts quote the command word.
        1 => (0usize..2100).prop_map(|n| format!("/{}", "\u{1}".repeat(n)).into_bytes()),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS;
    prop_oneof![
        3 => id.clone().prop_map(Op::Connect),
        8 => (id.clone(), line()).prop_map(|(i, l)| Op::Line(i, l)),
        1 => (id.clone(), prop::sample::select(vec![
            reason::DISCONNECTED, reason::TOO_SLOW, reason::TIMEOUT,
        ])).prop_map(|(i, r)| Op::Disconnect(i, r)),
        1 => id.clone().prop_map(Op::Expire),
        1 => id.prop_map(Op::LineTooLong),
        1 => (0u64..40_000).prop_map(Op::Advance),
        1 => Just(Op::Shutdown),
    ]
}

/// Server lines a client must accept are at most this much longer than the client limit
/// (docs/PROTOCOL.md).
const SERVER_LINE_EXTRA: usize = 160;

/// Run `ops` against a room, checking after each one.
fn run(cfg: RoomConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let max_server_line = cfg.max_line + SERVER_LINE_EXTRA;
    let mut room = Room::new(cfg);
    let mut out = Recorder::default();
    let t0 = Instant::now();
    let mut now = Now {
        mono: t0,
        unix_ms: 1_700_000_000_000,
    };
    for op in ops {
        let before: BTreeSet<usize> = (0..IDS).filter(|&i| room.contains(ConnId(i))).collect();
        let named_before: BTreeSet<usize> =
            (0..IDS).filter(|&i| room.is_named(ConnId(i))).collect();
        match op {
            Op::Connect(i) => {
                let _ = room.connect(ConnId(*i), now, &mut out);
            }
            Op::Line(i, l) => room.line(ConnId(*i), l, now, &mut out),
            Op::Disconnect(i, why) => room.disconnect(ConnId(*i), why, &mut out),
            Op::Expire(i) => {
                room.expire_handshake(ConnId(*i), &mut out);
            }
            Op::LineTooLong(i) => room.line_too_long(ConnId(*i), now, &mut out),
            Op::Advance(ms) => {
                now.mono += Duration::from_millis(*ms);
                now.unix_ms += ms;
            }
            Op::Shutdown => room.shutdown(&mut out),
        }
        if let Err(e) = room.check_invariants() {
            return Err(TestCaseError::fail(format!("after {op:?}: {e}")));
        }
        let sent = out.take();
        for (to, l) in &sent.sent {
            let connected = before.contains(&to.0) || matches!(op, Op::Connect(i) if *i == to.0);
            prop_assert!(
                connected,
                "{op:?}: {to} was sent {l:?} but is not connected"
            );
            prop_assert!(
                l.len() <= max_server_line,
                "{op:?}: a {}-byte line to {to} (clients take {max_server_line}): {:?}...",
                l.len(),
                l.chars().take(40).collect::<String>()
            );
            let named = named_before.contains(&to.0) || room.is_named(*to);
            if !named {
                prop_assert!(
                    ["HELLO ", "ERR ", "BYE "].iter().any(|p| l.starts_with(p)),
                    "{op:?}: unnamed {to} was sent {l:?}"
                );
            }
        }
        for id in &sent.closed {
            prop_assert!(
                !room.contains(*id),
                "{op:?}: {id} closed but still in the room"
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_events_keep_the_room_consistent(ops in prop::collection::vec(op(), 0..80)) {
        run(RoomConfig { rate: 0.0, ..RoomConfig::default() }, &ops)?;
    }

    #[test]
    fn any_events_under_flood_control_and_small_limits(
        ops in prop::collection::vec(op(), 0..80),
        max_clients in 1usize..6,
        history in 0usize..4,
    ) {
        let cfg = RoomConfig {
            max_clients,
            max_line: 128,
            rate: 2.0,
            burst: 3,
            history,
            handshake_timeout_secs: 1,
        };
        run(cfg, &ops)?;
    }
}

#[test]
fn an_unknown_command_of_control_characters_gets_a_short_err() {
    // Regression: the ERR text quoted the whole command word with each control character made
    // a 3-byte U+FFFD, so a 2 KiB line came back as a 6 KiB ERR line.
    let ops = [
        Op::Connect(1),
        Op::Line(1, b"ann".to_vec()),
        Op::Line(1, format!("/{}", "\u{1}".repeat(2047)).into_bytes()),
    ];
    run(
        RoomConfig {
            rate: 0.0,
            ..RoomConfig::default()
        },
        &ops,
    )
    .unwrap();
}

#[test]
fn connect_on_a_live_id_when_full_forgets_the_old_session() {
    // Regression: the full room refused and closed the id but kept its old session.
    let ops = [Op::Connect(1), Op::Connect(1)];
    run(
        RoomConfig {
            max_clients: 1,
            ..RoomConfig::default()
        },
        &ops,
    )
    .unwrap();
}
