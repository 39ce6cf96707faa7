//! Unit tests of the rooms: `/join`, `/part`, `/in`, `/topic`, `/rooms`, the limits, and what
//! a connection that never uses a room sees (nothing new).

use super::*;

const D: ConnId = ConnId(4);

/// ann, bob and cid on the server; ann and bob in `#dev`; the frames that made it forgotten.
fn dev() -> Fixture {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.join(B, "bob");
    f.join(C, "cid");
    f.line(A, "/join #dev");
    f.line(B, "/join #DEV");
    f.out.clear();
    f
}

#[test]
fn joining_makes_the_room_and_welcomes_with_room_history_and_members() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.join(B, "bob");
    f.line(A, "/join #dev");
    assert_eq!(
        f.sent(),
        vec![
            s(A, "ROOM #dev"),
            s(A, "WHO #dev ann"),
            s(A, "WHOEND #dev 1")
        ]
    );
    f.line(A, "/in #dev /topic release on friday");
    f.line(A, "/in #dev first");
    f.out.clear();
    f.line(B, "/join #Dev");
    assert_eq!(
        f.sent(),
        vec![
            s(B, "ROOM #dev release on friday"),
            s(B, "HIST 1700000000000 MSG #dev ann first"),
            s(B, "WHO #dev ann bob"),
            s(B, "WHOEND #dev 2"),
            s(A, "JOIN #dev bob"),
        ]
    );
    f.line(B, "/join #dev");
    assert_eq!(f.sent(), vec![s(B, "INFO you are already in #dev")]);
    f.line(B, "/join #General");
    assert_eq!(f.sent(), vec![s(B, "INFO you are already in #general")]);
}

#[test]
fn a_line_in_a_room_reaches_its_other_members_only() {
    let mut f = dev();
    f.line(A, "/in #dev hi  there");
    assert_eq!(f.sent(), vec![s(B, "MSG #dev ann hi  there")]);
    f.line(A, "/msg #dev hello");
    assert_eq!(f.sent(), vec![s(B, "MSG #dev ann hello")]);
    f.line(A, "/in #DEV /me waves");
    assert_eq!(f.sent(), vec![s(B, "ACTION #dev ann waves")]);
    f.line(A, "/in #dev //etc/hosts");
    assert_eq!(f.sent(), vec![s(B, "MSG #dev ann /etc/hosts")]);
    f.line(A, "/in #dev /who");
    assert_eq!(
        f.sent(),
        vec![s(A, "WHO #dev ann bob"), s(A, "WHOEND #dev 2")]
    );
    f.line(A, "plain");
    assert_eq!(
        f.sent(),
        vec![s(B, "MSG ann plain"), s(C, "MSG ann plain")],
        "a line without a room is #general's, in v1's words"
    );
    f.line(A, "/in #general hi");
    assert_eq!(f.sent(), vec![s(B, "MSG ann hi"), s(C, "MSG ann hi")]);
    f.line(A, "/in #general /who");
    assert_eq!(f.sent(), vec![s(A, "WHO ann bob cid"), s(A, "WHOEND 3")]);
}

#[test]
fn topics_go_to_everyone_in_the_room_the_setter_included() {
    let mut f = dev();
    f.line(B, "/in #dev /topic lunch at noon");
    assert_eq!(
        f.sent(),
        vec![
            s(A, "TOPIC #dev bob lunch at noon"),
            s(B, "TOPIC #dev bob lunch at noon")
        ]
    );
    f.line(B, "/in #dev /topic");
    assert_eq!(
        f.sent(),
        vec![s(A, "TOPIC #dev bob"), s(B, "TOPIC #dev bob")]
    );
    f.line(B, &format!("/in #dev /topic {}", "x".repeat(391)));
    assert_eq!(
        f.sent(),
        vec![s(B, "ERR bad-usage a topic has at most 390 bytes")]
    );
    for general in ["/topic hi", "/in #general /topic hi"] {
        f.line(B, general);
        assert_eq!(
            f.sent(),
            vec![s(
                B,
                "ERR bad-usage #general has no topic; /join a room of your own to set one"
            )]
        );
    }
}

#[test]
fn parting_tells_the_others_and_the_parter_and_an_empty_room_goes_with_its_topic_not_its_history() {
    let mut f = dev();
    f.line(A, "/in #dev /topic kept while someone is here");
    f.line(A, "/in #dev remembered");
    f.out.clear();
    f.line(A, "/part #dev");
    assert_eq!(
        f.sent(),
        vec![s(B, "LEAVE #dev ann parted"), s(A, "PARTED #dev")]
    );
    f.line(A, "/in #dev hi");
    assert_eq!(
        f.sent(),
        vec![s(
            A,
            "ERR not-in-room you are not in #dev; /join #dev first"
        )]
    );
    f.line(A, "/join #dev");
    let welcome = f.sent();
    assert_eq!(welcome[0], s(A, "ROOM #dev kept while someone is here"));
    assert_eq!(
        welcome[1],
        s(A, "HIST 1700000000000 MSG #dev ann remembered")
    );
    f.line(A, "/part #dev");
    f.line(B, "/part #dev");
    assert_eq!(f.room.channels().len(), 1, "#dev is gone");
    f.out.clear();
    f.line(A, "/rooms");
    assert_eq!(
        f.sent(),
        vec![s(A, "ROOMLIST #general 3"), s(A, "ROOMLISTEND 1")],
        "an empty room is not listed"
    );
    f.line(B, "/join #DEV");
    assert_eq!(
        f.sent(),
        vec![
            s(B, "ROOM #dev"),
            s(B, "HIST 1700000000000 MSG #dev ann remembered"),
            s(B, "WHO #dev bob"),
            s(B, "WHOEND #dev 1")
        ],
        "the room comes back as it was spelled, with its history but not its topic"
    );
}

#[test]
fn refusals() {
    let mut f = dev();
    let cases: &[(&str, &str)] = &[
        (
            "/part #general",
            "ERR bad-usage #general cannot be left; <quit> leaves the server",
        ),
        (
            "/part #GENERAL",
            "ERR bad-usage #general cannot be left; <quit> leaves the server",
        ),
        (
            "/part #ops",
            "ERR not-in-room you are not in #ops; /join #ops first",
        ),
        ("/part", "ERR bad-usage usage: /part #room"),
        (
            "/part dev",
            "ERR bad-usage a room name starts with # (as in #general)",
        ),
        ("/join", "ERR bad-usage usage: /join #room"),
        ("/join #a b", "ERR bad-usage usage: /join #room"),
        (
            "/join #",
            "ERR bad-usage after the # of a room name, a name needs at least one character",
        ),
        (
            "/join #d\u{435}v",
            "ERR bad-usage after the # of a room name, a name may not mix scripts, such as \
             Latin and Cyrillic letters (Latin beside Chinese, Japanese or Korean is fine)",
        ),
        (
            "/in #ops hi",
            "ERR not-in-room you are not in #ops; /join #ops first",
        ),
        (
            "/msg #ops hi",
            "ERR not-in-room you are not in #ops; /join #ops first",
        ),
        ("/in #dev", "ERR bad-usage usage: /in #room <line>"),
        (
            "/in #dev /nick zed",
            "ERR bad-usage only a message, /me, /who or /topic can be done in a room; send \
             other commands alone",
        ),
        (
            "/in #dev /in #dev hi",
            "ERR bad-usage only a message, /me, /who or /topic can be done in a room; send \
             other commands alone",
        ),
        (
            "/in #dev /quit",
            "ERR bad-usage only a message, /me, /who or /topic can be done in a room; send \
             other commands alone",
        ),
        ("/in #dev /me", "ERR bad-usage usage: /me <action>"),
        (
            "/in #dev /frob",
            "ERR unknown-command unknown command /frob; /help lists them, // sends a line \
             starting with /",
        ),
    ];
    for (line, want) in cases {
        f.line(B, line);
        assert_eq!(f.sent(), vec![s(B, want)], "{line}");
    }
    assert!(f.room.contains(B), "a refused room line ends nothing");
}

#[test]
fn the_server_and_the_user_room_limits() {
    let mut f = Fixture::with(RoomConfig {
        rate: 0.0,
        max_rooms: 3,
        rooms_per_user: 2,
        ..RoomConfig::default()
    });
    f.join(A, "ann");
    f.join(B, "bob");
    f.join(C, "cid");
    f.line(A, "/join #a");
    f.line(B, "/join #b");
    f.out.clear();
    f.line(C, "/join #c");
    assert_eq!(
        f.sent(),
        vec![s(
            C,
            "ERR too-many-rooms the server has 3 rooms (#general too), its most; /rooms \
             lists them, join one"
        )]
    );
    f.line(C, "/join #A");
    assert_eq!(
        f.sent()[0],
        s(C, "ROOM #a"),
        "an existing room is still open"
    );
    f.line(A, "/join #b");
    assert_eq!(
        f.sent(),
        vec![s(
            A,
            "ERR too-many-rooms you are in 2 rooms (#general too), the most this server \
             allows; /part one first"
        )]
    );
    f.line(B, "/part #b");
    f.out.clear();
    f.line(C, "/join #c");
    assert_eq!(
        f.sent(),
        vec![s(
            C,
            "ERR too-many-rooms you are in 2 rooms (#general too), the most this server \
             allows; /part one first"
        )]
    );
    f.line(B, "/join #c");
    assert_eq!(f.sent()[0], s(B, "ROOM #c"), "#b left room for another");
}

#[test]
fn the_room_list() {
    let mut f = dev();
    f.line(C, "/join #ops");
    f.line(C, "/in #ops /topic on call: cid");
    f.out.clear();
    f.line(A, "/rooms");
    assert_eq!(
        f.sent(),
        vec![
            s(A, "ROOMLIST #general 3"),
            s(A, "ROOMLIST #dev 2"),
            s(A, "ROOMLIST #ops 1 on call: cid"),
            s(A, "ROOMLISTEND 3"),
        ]
    );
}

#[test]
fn nick_and_leave_reach_everyone_once_and_change_every_room() {
    let mut f = dev();
    f.line(A, "/join #ops");
    f.line(B, "/join #ops");
    f.out.clear();
    f.line(A, "/nick anna");
    assert_eq!(
        f.sent(),
        vec![
            s(A, "NICK ann anna"),
            s(B, "NICK ann anna"),
            s(C, "NICK ann anna")
        ]
    );
    f.line(B, "/in #ops /who");
    assert_eq!(
        f.sent(),
        vec![s(B, "WHO #ops anna bob"), s(B, "WHOEND #ops 2")]
    );
    f.room.disconnect(A, LeaveReason::Disconnected, &mut f.out);
    let mut left = f.sent();
    left.sort();
    assert_eq!(
        left,
        vec![
            s(B, "LEAVE anna disconnected"),
            s(C, "LEAVE anna disconnected")
        ]
    );
    f.line(B, "/in #dev /who");
    assert_eq!(f.sent(), vec![s(B, "WHO #dev bob"), s(B, "WHOEND #dev 1")]);
    f.room.disconnect(B, LeaveReason::Disconnected, &mut f.out);
    assert_eq!(f.room.channels().len(), 1, "rooms left empty are gone");
}

#[test]
fn a_connection_that_never_uses_a_room_sees_only_version_one_lines() {
    let mut f = dev();
    f.join(D, "dan");
    f.line(A, "/join #ops");
    f.line(A, "/in #ops /topic t");
    f.line(A, "/in #dev in dev");
    f.line(B, "/part #dev");
    f.line(A, "in general");
    f.line(A, "/rooms");
    f.line(A, "/nick anna");
    f.line(A, "/quit");
    assert_eq!(
        f.out.to(C),
        ["MSG ann in general", "NICK ann anna", "LEAVE anna quit"]
    );
}

#[test]
fn the_joiner_of_a_big_room_gets_its_member_list_within_the_line_limit() {
    let mut f = Fixture::with(RoomConfig {
        rate: 0.0,
        max_line: 128,
        ..RoomConfig::default()
    });
    for i in 0..60 {
        f.join(ConnId(i), &format!("user-number-{i}"));
        f.line(ConnId(i), "/join #big");
    }
    f.out.clear();
    f.line(ConnId(0), "/in #big /who");
    let lines = f.out.to(ConnId(0));
    assert!(lines.len() > 2);
    assert!(lines.iter().all(|l| l.len() <= 128 && l.starts_with("WHO")));
    assert_eq!(*lines.last().unwrap(), "WHOEND #big 60");
}

#[test]
fn a_sessions_room_list_costs_no_more_than_a_vec_and_holds_two_rooms_inline() {
    assert_eq!(
        std::mem::size_of::<super::super::RoomList>(),
        std::mem::size_of::<Vec<super::super::channel::Membership>>()
    );
    assert!(!super::super::RoomList::new().spilled());
    assert_eq!(super::super::INLINE_ROOMS, 2);
}
