//! Unit tests of the room: events in, frames per recipient out; no sockets.

use super::*;
use crate::outbox::Recorder;
use std::time::Duration;

const A: ConnId = ConnId(1);
const B: ConnId = ConnId(2);
const C: ConnId = ConnId(3);

pub(super) fn t0() -> Now {
    Now {
        mono: Instant::now(),
        unix_ms: 1_700_000_000_000,
    }
}

pub(super) fn later(now: Now, secs: f64) -> Now {
    Now {
        mono: now.mono + Duration::from_secs_f64(secs),
        unix_ms: now.unix_ms + (secs * 1000.0) as u64,
    }
}

struct Fixture {
    room: Room,
    out: Recorder,
    now: Now,
}

impl Fixture {
    fn new() -> Self {
        Self::with(RoomConfig {
            rate: 0.0,
            ..RoomConfig::default()
        })
    }

    fn with(cfg: RoomConfig) -> Self {
        Fixture {
            room: Room::new(cfg),
            out: Recorder::default(),
            now: t0(),
        }
    }

    fn connect(&mut self, id: ConnId) -> bool {
        self.room.connect(id, self.now, &mut self.out) == Admission::Admitted
    }

    fn line(&mut self, id: ConnId, line: &str) {
        self.room.line(id, line.as_bytes(), self.now, &mut self.out);
        // As the loop does before the round's flush.
        self.room.store_mut().write_staged();
        self.room.check_invariants().unwrap();
    }

    /// Connect and name `id`, then forget the frames that produced.
    fn join(&mut self, id: ConnId, name: &str) {
        self.connect(id);
        self.line(id, name);
        assert!(self.room.is_named(id), "{name} was not accepted");
        self.out.clear();
    }

    fn sent(&mut self) -> Vec<(ConnId, String)> {
        self.out.take().sent
    }
}

fn s(id: ConnId, line: &str) -> (ConnId, String) {
    (id, line.to_owned())
}

#[test]
fn hello_then_welcome_and_member_list_then_join_to_others() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    assert!(f.connect(B));
    assert_eq!(
        f.sent(),
        vec![s(B, "HELLO Welcome to lanchat! What is your name?")]
    );
    f.line(B, "bob");
    assert_eq!(
        f.sent(),
        vec![
            s(
                B,
                "WELCOME bob Hi bob! Type <quit> to leave, /help for commands."
            ),
            s(B, "WHO ann bob"),
            s(B, "WHOEND 2"),
            s(A, "JOIN bob"),
        ]
    );
}

#[test]
fn unnamed_connections_hear_nothing() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.connect(B);
    f.out.clear();
    f.line(A, "hello");
    assert_eq!(f.sent(), vec![]);
}

#[test]
fn message_goes_to_every_other_member_not_the_sender() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.join(B, "bob");
    f.join(C, "cid");
    f.line(A, "hi all");
    assert_eq!(
        f.sent(),
        vec![s(B, "MSG ann hi all"), s(C, "MSG ann hi all")]
    );
}

#[test]
fn name_rules_at_handshake() {
    let mut f = Fixture::new();
    f.join(A, "Ann");
    f.connect(B);
    f.out.clear();
    let cases = [
        (
            "ANN",
            "ERR name-taken ANN is already taken; try another name",
        ),
        ("server", "ERR name-invalid that name is reserved"),
        (
            "two words",
            "ERR name-invalid a name may only hold letters, digits, '_', '-' and '.' (not U+0020)",
        ),
        (
            "abcdefghijklmnopqrstuvwxy",
            "ERR name-invalid a name has at most 24 characters (that one has 25)",
        ),
    ];
    for (name, want) in cases {
        f.line(B, name);
        assert_eq!(f.sent(), vec![s(B, want)], "{name}");
        assert!(!f.room.is_named(B));
    }
    f.line(B, "  bob  ");
    assert_eq!(f.room.name_of(B), Some("bob"));
}

#[test]
fn blank_lines_are_ignored() {
    let mut f = Fixture::new();
    f.connect(A);
    f.out.clear();
    f.line(A, "");
    f.line(A, "   \t");
    f.line(A, "\u{3000}");
    assert_eq!(f.sent(), vec![]);
    assert!(!f.room.is_named(A));
}

#[test]
fn quit_sends_bye_leave_and_closes() {
    for quit in ["<quit>", "/quit"] {
        let mut f = Fixture::new();
        f.join(A, "ann");
        f.join(B, "bob");
        f.line(A, quit);
        assert_eq!(
            f.out.sent,
            vec![s(A, "BYE Goodbye!"), s(B, "LEAVE ann quit")]
        );
        assert_eq!(f.out.closed, vec![A]);
        assert!(!f.room.contains(A));
    }
}

#[test]
fn a_quit_message_follows_the_reason_word() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.join(B, "bob");
    f.line(A, "/QUIT  see you  tomorrow ");
    assert_eq!(
        f.out.sent,
        vec![
            s(A, "BYE Goodbye!"),
            s(B, "LEAVE ann quit see you  tomorrow")
        ]
    );
    assert_eq!(f.out.closed, vec![A]);
    // Blank text is no message.
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.join(B, "bob");
    f.line(A, "/quit \u{200b}");
    assert_eq!(f.out.to(B), ["LEAVE ann quit"]);
}

#[test]
fn away_and_back_go_to_everyone_and_the_member_list_marks_who_is_away() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.join(B, "bob");
    f.line(A, "/away lunch, back at 2");
    assert_eq!(
        f.sent(),
        vec![
            s(A, "AWAY ann lunch, back at 2"),
            s(B, "AWAY ann lunch, back at 2")
        ]
    );
    // A member list: who is away first, then the names as ever.
    f.line(B, "/who");
    assert_eq!(
        f.sent(),
        vec![
            s(B, "WHOAWAY ann lunch, back at 2"),
            s(B, "WHO ann bob"),
            s(B, "WHOEND 2")
        ]
    );
    // A private message to someone away is delivered, and the sender told.
    f.line(B, "/msg ann are you there?");
    assert_eq!(
        f.sent(),
        vec![
            s(A, "PRIV bob are you there?"),
            s(B, "INFO ann is away: lunch, back at 2")
        ]
    );
    // A newcomer's member list marks them too.
    f.connect(C);
    f.line(C, "cy");
    let to_c = f.out.take();
    assert_eq!(
        to_c.to(C)[2..],
        ["WHOAWAY ann lunch, back at 2", "WHO ann bob cy", "WHOEND 3"]
    );
    // A new message replaces the old; a rename is followed.
    f.line(A, "/away  home");
    assert_eq!(f.out.take().to(C), ["AWAY ann home"]);
    f.line(A, "/nick annie");
    f.out.clear();
    f.line(C, "/who");
    assert_eq!(f.out.take().to(C)[0], "WHOAWAY annie home");
    // /away alone, when away, is back; /back when not away is only an INFO.
    f.line(A, "/away");
    assert_eq!(
        f.sent(),
        vec![s(A, "BACK annie"), s(B, "BACK annie"), s(C, "BACK annie")]
    );
    f.line(A, "/back");
    assert_eq!(f.sent(), vec![s(A, "INFO you are not marked away")]);
    f.line(C, "/who");
    assert_eq!(f.sent(), vec![s(C, "WHO annie bob cy"), s(C, "WHOEND 3")]);
    // /away alone, when not away, is away with no message; /back ends it.
    f.line(B, "/away");
    assert_eq!(f.out.take().to(A), ["AWAY bob"]);
    f.line(A, "/msg bob hi");
    assert_eq!(f.out.take().to(A), ["INFO bob is away"]);
    f.line(B, "/back");
    assert_eq!(f.out.take().to(A), ["BACK bob"]);
}

#[test]
fn someone_away_who_leaves_is_no_longer_listed_and_long_messages_are_cut() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.join(B, "bob");
    let long = "é".repeat(limits::MAX_AWAY_CHARS + 50);
    f.line(A, &format!("/away {long}"));
    let kept = "é".repeat(limits::MAX_AWAY_CHARS);
    assert_eq!(f.out.take().to(B), [format!("AWAY ann {kept}")]);
    f.room.disconnect(A, LeaveReason::Disconnected, &mut f.out);
    f.room.check_invariants().unwrap();
    f.out.clear();
    f.line(B, "/who");
    assert_eq!(f.sent(), vec![s(B, "WHO bob"), s(B, "WHOEND 1")]);
    // The id's next session starts present.
    f.join(A, "ann");
    f.line(B, "/who");
    assert_eq!(f.sent(), vec![s(B, "WHO bob ann"), s(B, "WHOEND 2")]);
}

#[test]
fn quit_during_handshake_closes_quietly() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.connect(B);
    f.out.clear();
    f.line(B, "<quit>");
    assert_eq!(f.out.sent, vec![s(B, "BYE Goodbye!")]);
    assert_eq!(f.out.closed, vec![B]);
}

#[test]
fn disconnect_announces_leave_with_reason() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.join(B, "bob");
    f.room.disconnect(A, LeaveReason::Disconnected, &mut f.out);
    assert_eq!(f.sent(), vec![s(B, "LEAVE ann disconnected")]);
    assert!(f.out.closed.is_empty(), "the loop closes, not the room");
    // The name is free again.
    f.join(C, "ANN");
}

#[test]
fn commands() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.join(B, "bob");
    f.line(A, "/who");
    assert_eq!(f.sent(), vec![s(A, "WHO ann bob"), s(A, "WHOEND 2")]);
    f.line(A, "/msg BOB psst  secret");
    assert_eq!(f.sent(), vec![s(B, "PRIV ann psst  secret")]);
    f.line(A, "/msg nobody hi");
    assert_eq!(
        f.sent(),
        vec![s(
            A,
            "ERR no-such-user nobody called nobody is here; /who lists who is"
        )]
    );
    f.line(A, "/msg bob");
    assert_eq!(
        f.sent(),
        vec![s(A, "ERR bad-usage usage: /msg <name> <text>")]
    );
    f.line(A, "/me waves");
    assert_eq!(f.sent(), vec![s(B, "ACTION ann waves")]);
    f.line(A, "//etc/hosts");
    assert_eq!(f.sent(), vec![s(B, "MSG ann /etc/hosts")]);
    f.line(A, "/dance");
    assert_eq!(
        f.sent(),
        vec![s(A, "ERR unknown-command unknown command /dance; /help lists them, // sends a line starting with /")]
    );
    f.line(A, "/help");
    let help = f.sent();
    assert!(help.len() >= 5);
    assert!(help
        .iter()
        .all(|(to, l)| *to == A && l.starts_with("INFO ")));
}

#[test]
fn nick_renames_for_everyone_and_frees_the_old_name() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.join(B, "bob");
    f.line(A, "/nick Anna");
    assert_eq!(f.sent(), vec![s(A, "NICK ann Anna"), s(B, "NICK ann Anna")]);
    f.line(B, "/nick anna");
    assert_eq!(
        f.sent(),
        vec![s(
            B,
            "ERR name-taken anna is already taken; try another name"
        )]
    );
    f.line(B, "/nick bad name");
    assert!(f.sent()[0].1.starts_with("ERR name-invalid "));
    f.line(B, "/nick");
    assert_eq!(
        f.sent(),
        vec![s(B, "ERR name-invalid a name needs at least one character")]
    );
    f.line(A, "/nick ANNA");
    assert_eq!(
        f.sent(),
        vec![s(A, "NICK Anna ANNA"), s(B, "NICK Anna ANNA")]
    );
    f.join(C, "ann");
}

#[test]
fn invalid_utf8_and_overlong_lines_get_errors_and_the_connection_stays() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.join(B, "bob");
    f.room.line(A, b"caf\xe9", f.now, &mut f.out);
    assert_eq!(
        f.sent(),
        vec![s(
            A,
            "ERR bad-utf8 lines must be UTF-8 text; that line was dropped"
        )]
    );
    f.room.line_too_long(A, f.now, &mut f.out);
    assert_eq!(
        f.sent(),
        vec![s(
            A,
            "ERR line-too-long lines are limited to 2048 bytes; that line was dropped"
        )]
    );
    f.line(A, "still here");
    assert_eq!(f.sent(), vec![s(B, "MSG ann still here")]);
}

#[test]
fn server_full() {
    let mut f = Fixture::with(RoomConfig {
        max_clients: 2,
        rate: 0.0,
        ..RoomConfig::default()
    });
    assert!(f.connect(A));
    assert!(f.connect(B));
    f.out.clear();
    assert!(!f.connect(C));
    assert_eq!(
        f.out.sent,
        vec![s(
            C,
            "ERR server-full the server is full (2 users); try again later"
        )]
    );
    assert_eq!(f.out.closed, vec![C]);
    assert!(!f.room.contains(C));
}

#[test]
fn handshake_expiry_only_hits_unnamed() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.connect(B);
    f.out.clear();
    assert!(!f.room.expire_handshake(A, &mut f.out));
    assert!(f.room.expire_handshake(B, &mut f.out));
    assert_eq!(
        f.out.sent,
        vec![s(
            B,
            "ERR handshake-timeout no name was given within 30 seconds; goodbye"
        )]
    );
    assert_eq!(f.out.closed, vec![B]);
    assert!(!f.room.expire_handshake(B, &mut f.out));
}

#[test]
fn the_room_keeps_handshake_deadlines_and_expires_only_the_unnamed_at_theirs() {
    let mut f = Fixture::with(RoomConfig {
        rate: 0.0,
        handshake_timeout_secs: 5,
        ..RoomConfig::default()
    });
    assert_eq!(f.room.poll_timeout(), None, "nobody waits for a name");
    let t0 = f.now;
    f.connect(A);
    f.now = later(t0, 1.0);
    f.connect(B);
    f.now = later(t0, 2.0);
    f.connect(C);
    f.line(A, "ann");
    f.out.clear();
    // A has a name: the first deadline that matters is B's.
    assert_eq!(
        f.room.poll_timeout(),
        Some(t0.mono + Duration::from_secs(6))
    );
    f.room.handle_timeout(later(t0, 5.999), &mut f.out);
    assert_eq!(f.sent(), vec![], "nothing is due before B's deadline");
    f.room.handle_timeout(later(t0, 6.0), &mut f.out);
    assert_eq!(
        f.out.sent,
        vec![s(
            B,
            "ERR handshake-timeout no name was given within 5 seconds; goodbye"
        )]
    );
    assert_eq!(f.out.closed, vec![B]);
    assert_eq!(
        f.room.poll_timeout(),
        Some(t0.mono + Duration::from_secs(7))
    );
    f.out.clear();
    // B's slot is reused by a new connection: the old deadline is not its deadline.
    f.now = later(t0, 6.5);
    f.connect(B);
    f.line(C, "cid");
    f.out.clear();
    f.room.handle_timeout(later(t0, 11.0), &mut f.out);
    assert_eq!(f.sent(), vec![]);
    assert_eq!(
        f.room.poll_timeout(),
        Some(t0.mono + Duration::from_millis(11_500))
    );
    f.room.handle_timeout(later(t0, 11.5), &mut f.out);
    assert_eq!(f.out.closed, vec![B]);
    assert_eq!(f.room.poll_timeout(), None);
    f.room.check_invariants().unwrap();
}

#[test]
fn at_rest_the_room_keeps_the_deadlines_still_owed_and_its_member_lists() {
    let mut f = Fixture::with(RoomConfig {
        rate: 0.0,
        handshake_timeout_secs: 5,
        ..RoomConfig::default()
    });
    let t0 = f.now;
    f.connect(A);
    f.connect(B);
    f.line(A, "ann");
    f.out.clear();
    // After a burst: A's deadline is spent, B's is owed.
    f.room.rest();
    f.room.check_invariants().unwrap();
    assert_eq!(
        f.room.poll_timeout(),
        Some(t0.mono + Duration::from_secs(5))
    );
    f.room.handle_timeout(later(t0, 5.0), &mut f.out);
    assert_eq!(f.out.closed, vec![B]);
    f.out.clear();
    // The member list, shrunk, still answers and still grows.
    f.join(C, "cid");
    f.line(C, "/who");
    assert_eq!(f.sent(), vec![s(C, "WHO ann cid"), s(C, "WHOEND 2")],);
}

#[test]
fn at_rest_names_made_in_a_burst_move_into_one_block_and_keep_working() {
    let mut f = Fixture::new();
    // A burst of joins: each name its own block. Spelled as their case-fold keys (no letter
    // with a look-alike), so each session shares its name with the index.
    const LETTERS: &[u8] = b"abcdefghjknpqstuvwxyz";
    let name = |i: usize| {
        let letter = |n: usize| char::from(LETTERS[n % LETTERS.len()]);
        format!("u{}{}", letter(i / LETTERS.len()), letter(i))
    };
    let ids: Vec<ConnId> = (10..110).map(ConnId).collect();
    for (i, &id) in ids.iter().enumerate() {
        f.join(id, &name(i));
    }
    f.join(A, "Ann");
    let held = |f: &Fixture, id: ConnId| {
        f.room.sessions[id.0]
            .as_ref()
            .unwrap()
            .name
            .clone()
            .unwrap()
    };
    assert!(!held(&f, ids[0]).is_packed());
    f.room.rest();
    f.room.check_invariants().unwrap();
    let first = held(&f, ids[0]);
    assert!(first.is_packed(), "{first:?}");
    let apart: Vec<_> = ids
        .iter()
        .map(|&id| held(&f, id))
        .filter(|h| !h.same_block(&first))
        .collect();
    assert!(apart.is_empty(), "{apart:?}");
    assert!(
        !held(&f, A).is_packed(),
        "a name that is not its key keeps its own string"
    );
    // Everything still goes by the names.
    f.line(ids[3], "hi");
    let sent = f.sent();
    assert_eq!(sent.len(), ids.len(), "every other member");
    assert!(
        sent.iter().all(|(_, l)| l == "MSG uad hi"),
        "{:?}",
        &sent[..2]
    );
    f.line(ids[5], "/nick zed");
    assert!(f.sent().iter().all(|(_, l)| l == "NICK uaf zed"));
    f.connect(B);
    f.line(B, "UAF");
    assert!(f.room.is_named(B), "a name let go of is free again");
    f.out.clear();
    f.connect(C);
    f.line(C, "uag");
    assert!(f
        .sent()
        .iter()
        .any(|(to, l)| *to == C && l.starts_with("ERR name-taken")));
    f.line(A, "/whois UAH");
    assert!(f.sent().iter().any(|(_, l)| l.starts_with("WHOIS uah")));
}

#[test]
fn a_full_count_includes_connections_the_outbox_still_holds() {
    /// An outbox holding `held` connections the room has already let go.
    struct Holding {
        rec: Recorder,
        held: usize,
    }
    impl Outbox for Holding {
        fn send(&mut self, to: ConnId, frame: &[u8]) {
            self.rec.send(to, frame);
        }
        fn close(&mut self, id: ConnId) {
            self.rec.close(id);
        }
        fn held(&self) -> usize {
            self.held
        }
    }
    let mut room = Room::new(RoomConfig {
        max_clients: 2,
        ..RoomConfig::default()
    });
    let now = t0();
    let mut out = Holding {
        rec: Recorder::default(),
        held: 1,
    };
    assert_eq!(room.connect(A, now, &mut out), Admission::Admitted);
    out.held = 2;
    assert_eq!(room.connect(B, now, &mut out), Admission::Refused);
    assert_eq!(
        out.rec.to(B),
        ["ERR server-full the server is full (2 users); try again later"]
    );
    assert_eq!(out.rec.closed, vec![B]);
}

#[test]
fn shutdown_says_bye_to_everyone() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.connect(B);
    f.out.clear();
    f.room.shutdown(&mut f.out);
    assert_eq!(
        f.out.sent,
        vec![
            s(A, "BYE server shutting down"),
            s(B, "BYE server shutting down")
        ]
    );
    assert_eq!(f.out.closed, vec![A, B]);
    assert!(f.room.is_empty());
    f.room.check_invariants().unwrap();
}

#[test]
fn rate_limit_drops_lines_with_one_err_per_second() {
    let mut f = Fixture::with(RoomConfig {
        rate: 10.0,
        burst: 5,
        ..RoomConfig::default()
    });
    f.join(A, "ann");
    f.join(B, "bob");
    for i in 0..100 {
        f.line(A, &format!("m{i}"));
    }
    let sent = f.sent();
    let to_b: Vec<_> = sent.iter().filter(|(to, _)| *to == B).collect();
    let errs: Vec<_> = sent.iter().filter(|(to, _)| *to == A).collect();
    // The name used one token of the burst.
    assert_eq!(to_b.len(), 4);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].1.starts_with("ERR rate-limited "));
    // Other users are not limited by ann's flood.
    f.line(B, "hi");
    assert_eq!(f.sent(), vec![s(A, "MSG bob hi")]);
    // After a second there is budget again, and the next drop gets a new ERR.
    f.now = later(f.now, 1.0);
    for i in 0..20 {
        f.line(A, &format!("n{i}"));
    }
    let sent = f.sent();
    assert_eq!(sent.iter().filter(|(to, _)| *to == B).count(), 5);
    assert_eq!(sent.iter().filter(|(to, _)| *to == A).count(), 1);
}

#[test]
fn blank_lines_do_not_spend_rate_budget() {
    // Regression: only ASCII white space was ignored before the rate check.
    let mut f = Fixture::with(RoomConfig {
        rate: 1.0,
        burst: 1,
        ..RoomConfig::default()
    });
    f.join(A, "ann");
    f.join(B, "bob");
    f.now = later(f.now, 1.0); // the name spent the one token; this refills it
    for blank in ["\u{3000}", "\u{b}", " \u{a0} ", "\u{2028}"] {
        f.line(A, blank);
    }
    f.out.clear();
    f.line(A, "hi");
    assert_eq!(f.out.sent, vec![s(B, "MSG ann hi")]);
}

#[test]
fn quit_is_never_rate_limited() {
    let mut f = Fixture::with(RoomConfig {
        rate: 1.0,
        burst: 2,
        ..RoomConfig::default()
    });
    f.join(A, "ann");
    f.join(B, "bob");
    for _ in 0..10 {
        f.line(A, "spam");
    }
    f.out.clear();
    f.line(A, "<quit>");
    assert_eq!(
        f.out.sent,
        vec![s(A, "BYE Goodbye!"), s(B, "LEAVE ann quit")]
    );
    assert_eq!(f.out.closed, vec![A]);
}

#[test]
fn a_persistent_flooder_is_dropped() {
    let mut f = Fixture::with(RoomConfig {
        rate: 1.0,
        burst: 1,
        ..RoomConfig::default()
    });
    f.join(A, "ann");
    f.join(B, "bob");
    for step in 0..400 {
        f.now = later(f.now, 0.1);
        f.line(A, "spam");
        if !f.room.contains(A) {
            assert!(step >= 290, "dropped too early at step {step}");
            break;
        }
    }
    assert!(!f.room.contains(A));
    assert!(f.out.sent.contains(&s(B, "LEAVE ann flooding")));
    assert!(f.out.sent.contains(&s(A, "BYE flooding")));
}

#[test]
fn history_is_replayed_between_welcome_and_member_list() {
    let mut f = Fixture::with(RoomConfig {
        rate: 0.0,
        history: 2,
        ..RoomConfig::default()
    });
    f.join(A, "ann");
    f.line(A, "one");
    f.now = later(f.now, 1.0);
    f.line(A, "/me two");
    f.line(A, "/msg ann private");
    f.now = later(f.now, 1.0);
    f.line(A, "three");
    f.out.clear();
    f.connect(B);
    f.line(B, "bob");
    let to_b = f.out.to(B);
    assert_eq!(
        to_b[1..],
        [
            "WELCOME bob Hi bob! Type <quit> to leave, /help for commands.",
            "HIST 1700000001000 ACTION ann two",
            "HIST 1700000002000 MSG ann three",
            "WHO ann bob",
            "WHOEND 2",
        ]
    );
}

/// The room's history is the store's: what it relays is in the room's log in the same round,
/// a room opened on that directory later replays it, and memory holds one copy (the room
/// reads the store's ring).
#[test]
fn history_is_the_stores_appended_at_once_and_replayed_after_a_restart() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let cfg = RoomConfig {
        rate: 0.0,
        history: 2,
        ..RoomConfig::default()
    };
    let (store, _) = Store::open(dir.path(), cfg.history, t0().unix_ms);
    let mut f = Fixture::with(cfg.clone());
    f.room = Room::with_store(cfg.clone(), store);
    f.join(A, "ann");
    f.line(A, "one");
    f.line(A, "/me two");
    f.line(A, "/msg ann private");
    let log = std::fs::read_to_string(dir.path().join("rooms/general.log")).unwrap();
    assert_eq!(
        log,
        "lanchat-history 1 #general\n\
         1700000000000 MSG ann one\n\
         1700000000000 ACTION ann two\n"
    );
    let ring = f.room.store().ring(lanchat_proto::GENERAL).expect("a ring");
    assert!(std::ptr::eq(f.room.history(), ring), "one copy");

    let (store, report) = Store::open(dir.path(), cfg.history, t0().unix_ms);
    assert_eq!(report.entries, 2);
    let mut f = Fixture::with(cfg.clone());
    f.room = Room::with_store(cfg, store);
    f.connect(B);
    f.line(B, "bob");
    assert_eq!(
        f.out.to(B)[2..4],
        [
            "HIST 1700000000000 MSG ann one",
            "HIST 1700000000000 ACTION ann two"
        ]
    );
}

#[test]
fn member_list_lines_stay_within_the_line_limit() {
    let mut f = Fixture::with(RoomConfig {
        rate: 0.0,
        max_line: 128,
        ..RoomConfig::default()
    });
    for i in 0..100 {
        f.join(ConnId(i), &format!("user-number-{i}"));
    }
    f.line(ConnId(0), "/who");
    let lines = f.out.to(ConnId(0));
    assert!(lines.len() > 2);
    assert!(lines.iter().all(|l| l.len() <= 128));
    assert_eq!(*lines.last().unwrap(), "WHOEND 100");
}

#[test]
fn ids_are_reusable_after_leaving() {
    let mut f = Fixture::new();
    f.join(A, "ann");
    f.join(B, "bob");
    f.room.disconnect(A, LeaveReason::Disconnected, &mut f.out);
    f.join(A, "zed");
    f.line(B, "hi");
    assert_eq!(f.sent(), vec![s(A, "MSG bob hi")]);
    assert_eq!(f.room.members(), 2);
}

#[test]
fn stats_count_what_the_room_decided_and_answer_anyone_named() {
    let mut f = Fixture::with(RoomConfig {
        max_clients: 3,
        rate: 1.0,
        burst: 2,
        ..RoomConfig::default()
    });
    f.join(A, "ann");
    f.join(B, "bob");
    assert!(f.connect(C));
    f.line(C, "ANN"); // taken
    f.line(C, "a b"); // invalid
    assert!(!f.connect(ConnId(4)), "full");
    f.line(A, "hi all"); // to bob: 1 delivery; ann's budget is spent
    f.line(B, "/msg ann psst"); // 1 delivery; bob's budget is spent now
    f.line(B, "over budget"); // dropped
    f.room.line_too_long(A, f.now, &mut f.out); // over ann's budget: rate-limited
    f.now = later(f.now, 5.0);
    f.room.line_too_long(A, f.now, &mut f.out);
    f.line(A, "/quit");
    f.out.clear();
    f.line(B, "/stats"); // bob's budget is back by now
    let lines: Vec<String> = f.sent().into_iter().map(|(_, l)| l).collect();
    assert_eq!(lines.last().map(String::as_str), Some("STATSEND"));
    let get = |key: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("STATS {key} ")))
            .unwrap_or_else(|| panic!("no {key} in {lines:?}"))
            .to_owned()
    };
    assert_eq!(lines.len(), lanchat_proto::StatKey::ALL.len() + 1);
    let want = [
        ("connections", "2"),
        ("connections-peak", "3"),
        ("users", "1"),
        ("users-peak", "2"),
        ("rooms", "1"),
        ("messages-in", "2"),
        ("messages-out", "2"),
        ("refused-server-full", "1"),
        ("refused-name", "2"),
        ("lines-rate-limited", "2"),
        ("lines-too-long", "1"),
        ("left-quit", "1"),
        ("dropped-flooding", "0"),
        ("rss", "unknown"),
    ];
    for (key, value) in want {
        assert_eq!(get(key), value, "{key}");
    }
    // bob: name, /msg, the dropped one, /stats; ann: name, message, two long ones, /quit;
    // the third: two names refused. (The refused fourth sent nothing.)
    assert_eq!(get("lines-in"), "11");
}

mod rooms;
