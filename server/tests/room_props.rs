//! Property tests of the room: any sequence of events from any connection ids (connect, line,
//! disconnect, handshake expiry, overlong line, time passing, shutdown) never panics and keeps
//! everything the room oracle checks (`lanchat_server::room::oracle`: the room's invariants,
//! frames only to connected ids, nothing but `HELLO`/`ERR`/`BYE` before a name, no line over
//! what clients take, handshake deadlines kept; each connection told exactly the rooms it is
//! in, room lines only to members, only v1 lines to who never used a room, `NICK` and `LEAVE`
//! once each). The `room` fuzz target in `fuzz/` drives the
//! same oracle; these bounded cases run in the normal suite.

use std::time::Duration;

use lanchat_server::room::oracle::{Op, Oracle, COMMAND_PREFIXES, ROOM_LINES};
use lanchat_server::{LeaveReason, RoomConfig};
use proptest::prelude::*;

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
    let cmd = prop::sample::select(COMMAND_PREFIXES);
    prop_oneof![
        4 => (cmd, word(), word()).prop_map(|(c, a, b)| format!("{c}{a} {b}").into_bytes()),
        4 => prop::sample::select(ROOM_LINES).prop_map(|l| l.as_bytes().to_vec()),
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
        1 => (id.clone(), prop::sample::select(&LeaveReason::ALL[..]))
            .prop_map(|(i, r)| Op::Disconnect(i, r)),
        1 => id.clone().prop_map(Op::Expire),
        1 => id.prop_map(Op::LineTooLong),
        1 => (0u64..40_000).prop_map(|ms| Op::Advance(Duration::from_millis(ms))),
        1 => Just(Op::Shutdown),
    ]
}

/// Events among a few named users and a few rooms: joins, parts, lines in rooms, renames,
/// leaving, so rooms fill, empty and fill again.
fn room_op() -> impl Strategy<Value = Op> {
    let id = 0..4usize;
    let name = prop::sample::select(vec!["ann", "bob", "cid", "dan", "ANN"]);
    prop_oneof![
        2 => id.clone().prop_map(Op::Connect),
        3 => (id.clone(), name.clone()).prop_map(|(i, n)| Op::Line(i, n.as_bytes().to_vec())),
        8 => (id.clone(), prop::sample::select(ROOM_LINES))
            .prop_map(|(i, l)| Op::Line(i, l.as_bytes().to_vec())),
        1 => (id.clone(), name).prop_map(|(i, n)| Op::Line(i, format!("/nick {n}2").into_bytes())),
        1 => (id.clone(), prop::sample::select(&LeaveReason::ALL[..]))
            .prop_map(|(i, r)| Op::Disconnect(i, r)),
        1 => id.prop_map(|i| Op::Line(i, b"hello".to_vec())),
    ]
}

/// Run `ops` against a room, checking after each one.
fn run(cfg: RoomConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut oracle = Oracle::new(cfg, IDS);
    for op in ops {
        oracle.apply(op).map_err(TestCaseError::fail)?;
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
    fn room_events_keep_everyone_told_right(
        ops in prop::collection::vec(room_op(), 0..120),
        max_rooms in 1usize..5,
        rooms_per_user in 1usize..5,
    ) {
        let cfg = RoomConfig {
            rate: 0.0,
            history: 2,
            max_rooms,
            rooms_per_user,
            ..RoomConfig::default()
        };
        run(cfg, &ops)?;
    }

    #[test]
    fn any_events_under_flood_control_and_small_limits(
        ops in prop::collection::vec(op(), 0..80),
        max_clients in 1usize..6,
        history in 0usize..4,
        max_rooms in 1usize..5,
        rooms_per_user in 1usize..4,
    ) {
        let cfg = RoomConfig {
            max_clients,
            max_line: 128,
            rate: 2.0,
            burst: 3,
            history,
            handshake_timeout_secs: 1,
            max_rooms,
            rooms_per_user,
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
