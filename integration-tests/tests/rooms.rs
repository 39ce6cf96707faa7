//! Rooms end to end: every line of the rooms contract (docs/PROTOCOL.md, "Rooms") over
//! loopback with the real server, exact lines; the limits behind `--max-rooms` and
//! `--rooms-per-user`; and a client that speaks only version 1, beside others who use rooms,
//! sees exactly the version-1 traffic of `#general`.

use std::time::{SystemTime, UNIX_EPOCH};

use integration_tests::{Client, ServerProcess, TestServer};
use lanchat_proto::ServerMsg;
use lanchat_server::Config;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// ann and bob (joined in that order, ann has seen bob join).
fn ann_and_bob(server: &TestServer) -> (Client, Client) {
    let mut ann = Client::join(server.addr(), "ann");
    let bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    (ann, bob)
}

#[test]
fn join_makes_the_room_and_the_joiner_gets_room_history_and_members_the_others_join() {
    let server = TestServer::start();
    let (mut ann, mut bob) = ann_and_bob(&server);
    ann.send("/join #dev");
    ann.expect("ROOM #dev");
    ann.expect("WHO #dev ann");
    ann.expect("WHOEND #dev 1");
    ann.send("/in #dev /topic release on friday");
    ann.expect("TOPIC #dev ann release on friday");
    let before = unix_ms();
    ann.send("/in #dev is the build green?");
    ann.sync();
    let after = unix_ms();

    bob.send("/join #DEV");
    bob.expect("ROOM #dev release on friday");
    let hist = bob.line();
    match ServerMsg::parse(&hist) {
        Ok(ServerMsg::Hist { at_ms, frame }) => {
            assert!((before..=after).contains(&at_ms), "{hist}");
            assert_eq!(frame.to_line(), "MSG #dev ann is the build green?\n");
        }
        other => panic!("{hist:?}: {other:?}"),
    }
    assert!(hist.ends_with(" MSG #dev ann is the build green?"));
    bob.expect("WHO #dev ann bob");
    bob.expect("WHOEND #dev 2");
    ann.expect("JOIN #dev bob");

    bob.send("/join #dev");
    bob.expect("INFO you are already in #dev");
    bob.send("/join #general");
    bob.expect("INFO you are already in #general");
}

#[test]
fn lines_in_a_room_reach_its_other_members_and_nobody_else() {
    let server = TestServer::start();
    let (mut ann, mut bob) = ann_and_bob(&server);
    let mut cid = Client::join(server.addr(), "cid");
    for c in [&mut ann, &mut bob] {
        c.expect("JOIN cid");
    }
    ann.send("/join #dev");
    ann.read_until_prefix("WHOEND #dev");
    bob.send("/join #dev");
    bob.read_until_prefix("WHOEND #dev");
    ann.expect("JOIN #dev bob");

    ann.send("/in #dev hi bob");
    bob.expect("MSG #dev ann hi bob");
    ann.send("/msg #dev same as /in");
    bob.expect("MSG #dev ann same as /in");
    ann.send("/in #dev /me waves");
    bob.expect("ACTION #dev ann waves");
    ann.send("/in #dev /who");
    ann.expect("WHO #dev ann bob");
    ann.expect("WHOEND #dev 2");
    bob.send("/in #dev /topic lunch?");
    bob.expect("TOPIC #dev bob lunch?");
    ann.expect("TOPIC #dev bob lunch?");
    bob.send("/in #dev /topic");
    bob.expect("TOPIC #dev bob");
    ann.expect("TOPIC #dev bob");
    ann.send("everyone");
    bob.expect("MSG ann everyone");
    cid.expect("MSG ann everyone");
    assert_eq!(
        cid.sync(),
        Vec::<String>::new(),
        "nothing of #dev reached cid"
    );
    assert_eq!(ann.sync(), Vec::<String>::new(), "no echo to the sender");
}

#[test]
fn part_tells_the_others_and_the_parter_and_an_empty_room_is_gone_with_its_topic_not_its_history() {
    let server = TestServer::start();
    let (mut ann, mut bob) = ann_and_bob(&server);
    for c in [&mut ann, &mut bob] {
        c.send("/join #dev");
        c.read_until_prefix("WHOEND #dev");
    }
    ann.expect("JOIN #dev bob");
    ann.send("/in #dev /topic soon gone");
    ann.send("/in #dev a message");
    ann.expect("TOPIC #dev ann soon gone");
    bob.expect("TOPIC #dev ann soon gone");
    bob.expect("MSG #dev ann a message");

    bob.send("/part #dev");
    bob.expect("PARTED #dev");
    ann.expect("LEAVE #dev bob parted");
    bob.send("/in #dev still here?");
    bob.expect("ERR not-in-room you are not in #dev; /join #dev first");
    ann.send("/part #dev");
    ann.expect("PARTED #dev");
    ann.send("/rooms");
    ann.expect("ROOMLIST #general 2");
    ann.expect("ROOMLISTEND 1");

    // It comes back with its history (kept a week after its last message), not its topic.
    bob.send("/join #Dev");
    bob.expect("ROOM #dev");
    let hist = bob.expect_prefix("HIST ");
    assert!(hist.ends_with(" MSG #dev ann a message"), "{hist}");
    bob.expect("WHO #dev bob");
    bob.expect("WHOEND #dev 1");
}

#[test]
fn the_room_list_has_every_room_general_first() {
    let server = TestServer::start();
    let (mut ann, mut bob) = ann_and_bob(&server);
    ann.send("/join #ops");
    ann.send("/in #ops /topic on call: ann");
    bob.send("/join #Dev");
    bob.read_until_prefix("WHOEND #Dev");
    ann.read_until_prefix("TOPIC #ops");
    bob.send("/rooms");
    bob.expect("ROOMLIST #general 2");
    bob.expect("ROOMLIST #Dev 1");
    bob.expect("ROOMLIST #ops 1 on call: ann");
    bob.expect("ROOMLISTEND 3");
}

#[test]
fn refusals_say_why_and_the_connection_carries_on() {
    let server = TestServer::start();
    let (mut ann, _bob) = ann_and_bob(&server);
    ann.send("/join #dev");
    ann.read_until_prefix("WHOEND #dev");
    for (line, want) in [
        (
            "/part #general",
            "ERR bad-usage #general cannot be left; <quit> leaves the server",
        ),
        (
            "/part #ops",
            "ERR not-in-room you are not in #ops; /join #ops first",
        ),
        (
            "/in #ops hi",
            "ERR not-in-room you are not in #ops; /join #ops first",
        ),
        (
            "/msg #ops hi",
            "ERR not-in-room you are not in #ops; /join #ops first",
        ),
        (
            "/join ops",
            "ERR bad-usage a room name starts with # (as in #general)",
        ),
        ("/join", "ERR bad-usage usage: /join #room"),
        ("/in #dev", "ERR bad-usage usage: /in #room <line>"),
        (
            "/in #dev /nick x",
            "ERR bad-usage only a message, /me, /who or /topic can be done in a room; send \
             other commands alone",
        ),
        (
            "/topic hi",
            "ERR bad-usage #general has no topic; /join a room of your own to set one",
        ),
    ] {
        ann.send(line);
        ann.expect(want);
    }
    ann.send("/in #dev still fine");
    assert_eq!(ann.sync(), Vec::<String>::new());
}

#[test]
fn max_rooms_and_rooms_per_user() {
    let server = TestServer::with(Config {
        max_rooms: 3,
        rooms_per_user: 2,
        ..TestServer::config()
    });
    let (mut ann, mut bob) = ann_and_bob(&server);
    let mut cid = Client::join(server.addr(), "cid");
    ann.send("/join #a");
    ann.read_until_prefix("WHOEND #a");
    bob.send("/join #b");
    bob.read_until_prefix("WHOEND #b");
    cid.send("/join #c");
    cid.expect(
        "ERR too-many-rooms the server has 3 rooms (#general too), its most; /rooms lists \
         them, join one",
    );
    ann.send("/join #b");
    ann.expect(
        "ERR too-many-rooms you are in 2 rooms (#general too), the most this server allows; \
         /part one first",
    );
    cid.send("/join #a");
    cid.expect("ROOM #a");
}

#[test]
fn room_commands_count_against_flood_control() {
    let server = TestServer::with_manual_clock(Config {
        rate: 1.0,
        burst: 3,
        ..TestServer::config()
    });
    // The name takes one token of three; the clock stands still, so none come back.
    let mut ann = Client::join(server.addr(), "ann");
    ann.send("/join #a");
    ann.read_until_prefix("WHOEND #a");
    ann.send("/in #a one");
    ann.send("/join #b");
    ann.expect_prefix("ERR rate-limited ");
}

#[test]
fn nick_and_a_disconnect_reach_everyone_sharing_rooms_once() {
    let server = TestServer::start();
    let (mut ann, mut bob) = ann_and_bob(&server);
    for room in ["#a", "#b"] {
        for c in [&mut ann, &mut bob] {
            c.send(&format!("/join {room}"));
            c.read_until_prefix(&format!("WHOEND {room}"));
        }
        ann.expect(&format!("JOIN {room} bob"));
    }
    ann.send("/nick anna");
    ann.expect("NICK ann anna");
    bob.expect("NICK ann anna");
    assert_eq!(bob.sync(), Vec::<String>::new(), "once, not once per room");
    bob.send("/in #b /who");
    bob.expect("WHO #b anna bob");
    bob.expect("WHOEND #b 2");
    drop(ann);
    bob.expect("LEAVE anna disconnected");
    assert_eq!(bob.sync(), Vec::<String>::new(), "once, not once per room");
    bob.send("/in #a /who");
    bob.expect("WHO #a bob");
    bob.expect("WHOEND #a 1");
}

#[test]
fn a_v1_client_sees_exactly_the_v1_traffic_of_general() {
    let server = TestServer::start();
    // vic speaks version 1 only: a raw socket, every line it reads is checked.
    let mut vic = Client::connect(server.addr());
    vic.expect("HELLO Welcome to lanchat! What is your name?");
    vic.send("vic");
    vic.expect("WELCOME vic Hi vic! Type <quit> to leave, /help for commands.");
    vic.expect("WHO vic");
    vic.expect("WHOEND 1");

    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    for c in [&mut ann, &mut bob] {
        c.send("/join #dev");
        c.read_until_prefix("WHOEND #dev");
    }
    ann.expect("JOIN #dev bob");
    ann.send("/in #dev /topic hidden from vic");
    ann.send("/in #dev room talk");
    ann.send("/in #dev /me acts in #dev");
    ann.send("/in #general said in general");
    ann.send("/me acts in general");
    bob.send("/join #ops");
    bob.send("/rooms");
    bob.send("/part #dev");
    bob.send("/msg vic psst");
    bob.send("/nick robert");
    bob.read_until_prefix("NICK bob robert");
    ann.send("/quit");
    ann.read_until_prefix("BYE Goodbye!");
    ann.expect_eof();
    vic.send("/who");
    let (seen, end) = vic.read_until_prefix("WHOEND");
    assert_eq!(
        seen,
        [
            "JOIN ann",
            "JOIN bob",
            "MSG ann said in general",
            "ACTION ann acts in general",
            "PRIV bob psst",
            "NICK bob robert",
            "LEAVE ann quit",
            "WHO vic robert",
        ]
    );
    assert_eq!(end, "WHOEND 2");
    // And a newcomer speaking v1 gets #general's history in v1's words only.
    let mut wes = Client::connect(server.addr());
    wes.expect_prefix("HELLO ");
    wes.send("wes");
    wes.expect_prefix("WELCOME wes ");
    let (history, _) = wes.read_until_prefix("WHOEND");
    let hist: Vec<&str> = history
        .iter()
        .map(|l| l.splitn(3, ' ').nth(2).unwrap_or_default())
        .collect();
    assert_eq!(
        hist,
        [
            "MSG ann said in general",
            "ACTION ann acts in general",
            "robert wes"
        ]
    );
}

#[test]
fn the_example_session_of_protocol_md_with_rooms() {
    let server = TestServer::start();
    let mut bob = Client::join(server.addr(), "bob");
    let mut ann = Client::join(server.addr(), "ann");
    let mut cid = Client::join(server.addr(), "cid");
    bob.send("/join #dev");
    bob.read_until_prefix("WHOEND #dev");
    bob.send("/in #dev /topic release on friday");
    bob.send("/in #dev is the build green?");
    bob.read_until_prefix("TOPIC #dev");
    bob.sync();
    ann.read_until_prefix("JOIN cid");

    ann.send("/join #DEV");
    ann.expect("ROOM #dev release on friday");
    let hist = ann.expect_prefix("HIST ");
    assert!(
        hist.ends_with(" MSG #dev bob is the build green?"),
        "{hist}"
    );
    ann.expect("WHO #dev bob ann");
    ann.expect("WHOEND #dev 2");
    ann.send("/in #dev yes, all green");
    bob.expect("JOIN #dev ann");
    bob.expect("MSG #dev ann yes, all green");
    bob.send("/in #dev ship it");
    ann.expect("MSG #dev bob ship it");
    ann.send("/in #dev /topic released");
    ann.expect("TOPIC #dev ann released");
    ann.send("/msg #ops anyone?");
    ann.expect("ERR not-in-room you are not in #ops; /join #ops first");
    ann.send("/rooms");
    ann.expect("ROOMLIST #general 3");
    ann.expect("ROOMLIST #dev 2 released");
    ann.expect("ROOMLISTEND 2");
    ann.send("hi all");
    ann.send("/part #dev");
    ann.expect("PARTED #dev");
    ann.send("/part #general");
    ann.expect("ERR bad-usage #general cannot be left; <quit> leaves the server");
    assert_eq!(
        bob.sync(),
        [
            "TOPIC #dev ann released",
            "MSG ann hi all",
            "LEAVE #dev ann parted"
        ]
    );
    assert_eq!(cid.sync(), ["MSG ann hi all"]);
}

#[test]
fn room_names_follow_the_name_rules_and_compare_ignoring_case() {
    let server = TestServer::start();
    let (mut ann, mut bob) = ann_and_bob(&server);
    let longest = format!("#{}", "é".repeat(24));
    let too_long = format!("#{}", "é".repeat(25));
    ann.send(&format!("/join {longest}"));
    ann.expect(&format!("ROOM {longest}"));
    ann.read_until_prefix(&format!("WHOEND {longest}"));
    for bad in [too_long.as_str(), "#", "#dev!", "#a\u{202e}b", "##"] {
        ann.send(&format!("/join {bad}"));
        let err = ann.expect_prefix("ERR bad-usage ");
        assert!(!err.contains('\u{202e}'), "never echoed: {err:?}");
    }
    ann.send("/join #a b");
    ann.expect("ERR bad-usage usage: /join #room");
    // Letters of any script, digits, `_` `-` `.`; one room in any case.
    ann.send("/join #Été_2-b.c");
    ann.expect("ROOM #Été_2-b.c");
    ann.read_until_prefix("WHOEND #Été_2-b.c");
    bob.send("/join #ÉTÉ_2-B.C");
    bob.expect("ROOM #Été_2-b.c");
    bob.expect("WHO #Été_2-b.c ann bob");
    bob.expect("WHOEND #Été_2-b.c 2");
    bob.send("/in #été_2-b.c hi");
    ann.expect("JOIN #Été_2-b.c bob");
    ann.expect("MSG #Été_2-b.c bob hi");
}

#[test]
fn the_hist_frames_of_a_room_are_the_frames_its_members_got_live() {
    let server = TestServer::start();
    let (mut ann, mut bob) = ann_and_bob(&server);
    for c in [&mut ann, &mut bob] {
        c.send("/join #dev");
        c.read_until_prefix("WHOEND #dev");
    }
    ann.send("/in #dev plain");
    ann.send("/msg #dev with /msg");
    ann.send("/in #dev /me acts");
    ann.send("/in #dev //starts with a slash");
    ann.sync();
    let live: Vec<String> = bob
        .sync()
        .into_iter()
        .filter(|l| !l.starts_with("JOIN "))
        .collect();
    assert_eq!(
        live,
        [
            "MSG #dev ann plain",
            "MSG #dev ann with /msg",
            "ACTION #dev ann acts",
            "MSG #dev ann /starts with a slash"
        ]
    );
    let mut cid = Client::join(server.addr(), "cid");
    cid.send("/join #dev");
    cid.expect("ROOM #dev");
    let (hist, _) = cid.read_until_prefix("WHO #dev");
    let frames: Vec<&str> = hist
        .iter()
        .map(|l| l.splitn(3, ' ').nth(2).expect("HIST <ms> <frame>"))
        .collect();
    assert_eq!(frames, live);
}

#[test]
fn a_quit_message_away_and_back_reach_everyone_sharing_rooms_once() {
    let server = TestServer::start();
    let (mut ann, mut bob) = ann_and_bob(&server);
    for room in ["#a", "#b", "#c"] {
        for c in [&mut ann, &mut bob] {
            c.send(&format!("/join {room}"));
            c.read_until_prefix(&format!("WHOEND {room}"));
        }
    }
    ann.sync();
    bob.sync();
    ann.send("/away lunch");
    ann.expect("AWAY ann lunch");
    bob.expect("AWAY ann lunch");
    ann.send("/back");
    ann.expect("BACK ann");
    bob.expect("BACK ann");
    ann.send("/quit see you");
    ann.expect("BYE Goodbye!");
    bob.expect("LEAVE ann quit see you");
    assert_eq!(
        bob.sync(),
        Vec::<String>::new(),
        "each once, not once per room"
    );
    bob.send("/in #c /who");
    bob.expect("WHO #c bob");
    bob.expect("WHOEND #c 1");
}

/// The real binary's flags and their defaults: `--rooms-per-user` (50, `#general` included)
/// and `--max-rooms` (1,000, `#general` included), each answered with `ERR too-many-rooms`.
#[test]
fn the_binary_allows_50_rooms_per_user_and_1000_rooms_by_default() {
    let server = ServerProcess::start(&["--rate", "0"]);
    // 21 users in 48 rooms each keep 999 rooms (and #general) in being.
    let mut users: Vec<Client> = (0..21)
        .map(|k| Client::join(server.addr(), &format!("u{k}")))
        .collect();
    let mut room = 0;
    for user in &mut users {
        let mut joins = String::new();
        for _ in 0..48 {
            if room < 999 {
                joins.push_str(&format!("/join #r{room}\n"));
                room += 1;
            }
        }
        user.send_raw(joins.as_bytes());
    }
    for user in &mut users {
        user.sync();
    }
    let u0 = &mut users[0];
    u0.send("/join #one-more");
    u0.expect(
        "ERR too-many-rooms the server has 1000 rooms (#general too), its most; /rooms lists \
         them, join one",
    );
    u0.send("/join #r100");
    u0.expect("ROOM #r100");
    u0.read_until_prefix("WHOEND #r100");
    u0.send("/join #r101");
    u0.expect(
        "ERR too-many-rooms you are in 50 rooms (#general too), the most this server allows; \
         /part one first",
    );
}

#[test]
fn the_binary_takes_max_rooms_and_rooms_per_user_flags() {
    let server =
        ServerProcess::start(&["--rate", "0", "--max-rooms", "3", "--rooms-per-user", "2"]);
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.send("/join #a");
    ann.read_until_prefix("WHOEND #a");
    ann.send("/join #b");
    ann.expect_prefix("ERR too-many-rooms you are in 2 rooms");
    bob.send("/join #b");
    bob.read_until_prefix("WHOEND #b");
    bob.send("/part #b");
    bob.expect("PARTED #b");
    bob.send("/join #c");
    bob.read_until_prefix("WHOEND #c");
    let mut cid = Client::join(server.addr(), "cid");
    cid.send("/join #d");
    cid.expect_prefix("ERR too-many-rooms the server has 3 rooms");
}
