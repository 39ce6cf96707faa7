//! Unit tests of the room's identity side: keys, claims, the way in, operators. Events in,
//! frames per recipient out; no sockets (the real binaries over TLS are in integration-tests).

use std::net::SocketAddr;
use std::time::Duration;

use lanchat_proto::Fingerprint;

use super::*;
use crate::identity::{KeyList, Names, Password};
use crate::outbox::Recorder;

const ANN: ConnId = ConnId(1);
const BOB: ConnId = ConnId(2);
const OP: ConnId = ConnId(3);
const EVE: ConnId = ConnId(4);

fn key(b: u8) -> Fingerprint {
    Fingerprint::from_digest([b; 32])
}

fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, last], 40_000 + u16::from(last)))
}

struct Fixture {
    room: Room,
    out: Recorder,
    now: Now,
}

impl Fixture {
    fn new(access: Access) -> Self {
        let cfg = RoomConfig {
            rate: 0.0,
            ..RoomConfig::default()
        };
        Fixture {
            room: Room::new(cfg).with_access(access),
            out: Recorder::default(),
            now: Now {
                mono: Instant::now(),
                unix_ms: 1_700_000_000_000,
            },
        }
    }

    /// TLS: names claimed; `OP`'s key (9) is an operator.
    fn tls() -> Self {
        Self::new(Access {
            names: Names::Claimed,
            claims: crate::identity::Claims::new(90),
            ops: Some(KeyList::parse(&format!("{} the op\n", key(9))).expect("ops")),
            ..Access::default()
        })
    }

    fn advance(&mut self, secs: u64) {
        self.now = self.now.after(Duration::from_secs(secs));
    }

    /// Connect `id` from 10.0.0.<id> with `key`, its transport set up.
    fn arrive(&mut self, id: ConnId, k: Option<Fingerprint>) {
        assert_eq!(
            self.room.connect(id, self.now, &mut self.out),
            Admission::Admitted
        );
        self.room.set_peer(id, addr(id.0 as u8));
        self.room.established(id, k, self.now, &mut self.out);
    }

    fn line(&mut self, id: ConnId, line: &str) {
        self.room.line(id, line.as_bytes(), self.now, &mut self.out);
        self.room.check_invariants().expect("invariants");
    }

    /// Arrive and take `name`; the frames forgotten.
    fn join(&mut self, id: ConnId, k: Option<Fingerprint>, name: &str) {
        self.arrive(id, k);
        self.line(id, name);
        assert!(self.room.is_named(id), "{name}: {:?}", self.out.to(id));
        self.out.clear();
    }

    /// The lines `id` got since the last call, and whether it was closed.
    fn got(&mut self, id: ConnId) -> (Vec<String>, bool) {
        let rec = self.out.take();
        let lines = rec.to(id).into_iter().map(str::to_owned).collect();
        (lines, rec.closed.contains(&id))
    }

    fn codes(&mut self, id: ConnId) -> Vec<String> {
        self.got(id)
            .0
            .into_iter()
            .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
            .collect()
    }
}

#[test]
fn the_first_key_owns_a_name_others_and_the_keyless_are_refused_and_may_try_another() {
    let mut f = Fixture::tls();
    f.arrive(ANN, Some(key(1)));
    f.line(ANN, "ann");
    let (lines, _) = f.got(ANN);
    assert!(
        lines.iter().any(|l| l.starts_with("INFO ann is now yours")),
        "{lines:?}"
    );
    f.line(ANN, "/quit");
    f.out.clear();
    for (who, k, spelling) in [(BOB, Some(key(2)), "ANN"), (EVE, None, "Ann")] {
        f.arrive(who, k);
        f.out.clear();
        f.line(who, spelling);
        assert_eq!(f.codes(who), ["ERR name-owned"], "{spelling}");
        assert!(!f.room.is_named(who));
        f.line(who, &format!("other{}", who.0));
        assert!(f.room.is_named(who), "another name goes");
    }
    // A look-alike of a claimed name is the name (Cyrillic ВОВ shows as BOB).
    f.join(OP, Some(key(9)), "bob");
    f.line(OP, "/quit");
    f.arrive(OP, Some(key(8)));
    f.out.clear();
    f.line(OP, "\u{412}\u{41e}\u{412}");
    assert_eq!(f.codes(OP), ["ERR name-owned"]);
    f.line(OP, "/quit");
    // The owner comes back, in any case.
    f.join(ANN, Some(key(1)), "Ann");
    // /nick onto an owned name is refused too.
    f.line(BOB, "/nick ann2");
    f.line(BOB, "/nick bobby");
    f.out.clear();
    f.line(EVE, "/nick ann2");
    assert_eq!(f.codes(EVE), ["ERR name-owned"]);
}

#[test]
fn an_operator_releases_a_name_and_the_next_key_gets_it() {
    let mut f = Fixture::tls();
    f.join(ANN, Some(key(1)), "ann");
    f.line(ANN, "/quit");
    f.join(OP, Some(key(9)), "op");
    f.line(OP, "/release ANN");
    let (lines, _) = f.got(OP);
    assert!(lines[0].starts_with("INFO ann is free again"), "{lines:?}");
    f.join(BOB, Some(key(2)), "ann");
}

#[test]
fn on_a_plaintext_server_names_are_first_come() {
    let mut f = Fixture::new(Access::default());
    f.join(ANN, None, "ann");
    f.line(ANN, "/quit");
    f.join(BOB, None, "ann");
    assert!(f.room.access().claims.is_empty());
}

#[test]
fn bans_by_key_and_address_close_before_a_name_and_end_on_time() {
    let mut f = Fixture::tls();
    f.join(OP, Some(key(9)), "op");
    f.join(ANN, Some(key(1)), "ann");
    f.join(EVE, None, "eve");
    f.line(OP, "/ban ann 30m spamming");
    let rec = f.out.take();
    assert_eq!(
        rec.to(ANN),
        ["BYE banned by op for 30m: spamming"],
        "{:?}",
        rec.sent
    );
    assert!(rec.closed.contains(&ANN));
    assert!(rec.to(EVE).contains(&"LEAVE ann banned"));
    f.advance(1);
    f.line(OP, "/ban eve");
    assert!(f.got(EVE).1, "eve (no key) is banned by address");
    f.arrive(ANN, Some(key(1)));
    let (lines, closed) = f.got(ANN);
    assert!(closed);
    assert!(
        lines[1].starts_with("ERR banned you are banned from this server until"),
        "{lines:?}"
    );
    f.arrive(EVE, Some(key(5)));
    assert_eq!(
        f.codes(EVE),
        ["HELLO Welcome", "ERR banned"],
        "eve's address"
    );
    f.line(OP, "/bans");
    let (lines, _) = f.got(OP);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with(&format!("INFO ban {} (ann) by op until", key(1))));
    assert!(lines[1].starts_with("INFO ban 10.0.0.4 (eve) by op until lifted"));
    f.advance(30 * 60 - 1);
    f.arrive(ANN, Some(key(1)));
    assert_eq!(f.codes(ANN), ["HELLO Welcome"], "the ban ended");
    f.line(OP, "/unban eve");
    f.arrive(EVE, None);
    assert_eq!(f.codes(EVE), ["HELLO Welcome"]);
}

#[test]
fn an_operator_does_not_ban_or_mute_themselves() {
    let mut f = Fixture::tls();
    f.join(OP, Some(key(9)), "op");
    f.line(OP, "/ban 10.0.0.3");
    f.line(OP, "/mute op");
    let (lines, closed) = f.got(OP);
    assert!(!closed);
    assert_eq!(lines, ["INFO that would reach you too; not done"; 2]);
}

#[test]
fn kick_says_who_and_why_and_others_see_kicked() {
    let mut f = Fixture::tls();
    f.join(OP, Some(key(9)), "op");
    f.join(BOB, None, "bob");
    f.join(ANN, Some(key(1)), "ann");
    f.line(OP, "/kick bob calm down");
    let rec = f.out.take();
    assert_eq!(rec.to(BOB), ["BYE kicked by op: calm down"]);
    assert!(rec.closed.contains(&BOB));
    assert_eq!(rec.to(ANN), ["LEAVE bob kicked"]);
}

#[test]
fn a_non_operator_gets_not_operator_for_every_operator_command_and_no_help_for_them() {
    let mut f = Fixture::tls();
    f.join(ANN, Some(key(1)), "ann");
    f.join(BOB, Some(key(2)), "bob");
    for line in [
        "/kick bob",
        "/ban bob",
        "/ban 10.0.0.2 2h",
        "/unban bob",
        "/bans",
        "/mute bob 30m",
        "/unmute bob",
        "/release bob",
    ] {
        f.line(ANN, line);
        let word = line.split(' ').next().unwrap_or_default();
        assert_eq!(
            f.got(ANN).0,
            [format!("ERR not-operator only operators can use {word}")],
            "{line}"
        );
    }
    assert!(f.room.is_named(BOB));
    f.line(ANN, "/help");
    let (lines, _) = f.got(ANN);
    assert!(lines.iter().any(|l| l.contains("/whois")));
    assert!(!lines.iter().any(|l| l.contains("/kick")), "{lines:?}");
    f.join(OP, Some(key(9)), "op");
    f.line(OP, "/help");
    let (lines, _) = f.got(OP);
    assert!(
        lines.iter().any(|l| l.contains("/kick <name> [reason]")),
        "{lines:?}"
    );
}

#[test]
fn mute_refuses_messages_and_actions_but_not_a_word_to_an_operator() {
    let mut f = Fixture::tls();
    f.join(OP, Some(key(9)), "op");
    f.join(ANN, Some(key(1)), "ann");
    f.join(BOB, None, "bob");
    f.line(OP, "/mute ann 2h");
    let (lines, _) = f.got(ANN);
    assert!(
        lines[0].starts_with("INFO you were muted by op until"),
        "{lines:?}"
    );
    for line in ["hello", "/me waves", "/msg bob psst", "/nick annie"] {
        f.line(ANN, line);
        assert_eq!(f.codes(ANN), ["ERR muted"], "{line}");
    }
    f.line(ANN, "/msg op why?");
    assert_eq!(f.got(OP).0, ["PRIV ann why?"]);
    // The mute follows the key through a reconnection ...
    f.line(ANN, "/quit");
    f.join(ANN, Some(key(1)), "ann");
    f.line(ANN, "hello");
    assert_eq!(f.codes(ANN), ["ERR muted"]);
    // ... and ends on time.
    f.advance(2 * 3600);
    f.line(ANN, "hello again");
    assert_eq!(f.got(BOB).0, ["MSG ann hello again"]);
    f.line(OP, "/mute bob");
    f.line(BOB, "hi");
    assert_eq!(f.codes(BOB)[1], "ERR muted");
    f.line(OP, "/unmute bob");
    assert_eq!(f.got(BOB).0, ["INFO you are no longer muted"]);
    f.line(BOB, "hi");
    assert_eq!(f.got(ANN).0, ["MSG bob hi"]);
}

#[test]
fn whois_tells_the_key_since_and_idle_and_operators_the_address() {
    let mut f = Fixture::tls();
    let since = f.now.unix_ms;
    f.join(ANN, Some(key(1)), "ann");
    f.join(BOB, None, "bob");
    f.advance(42);
    f.line(BOB, "/whois ANN");
    assert_eq!(f.got(BOB).0, [format!("WHOIS ann {} {since} 42", key(1))]);
    f.join(OP, Some(key(9)), "op");
    f.advance(5);
    f.line(OP, "/whois bob");
    let (lines, _) = f.got(OP);
    assert_eq!(
        lines,
        [
            format!("WHOIS bob - {since} 5"),
            "INFO bob connects from 10.0.0.2:40002".to_owned()
        ]
    );
    f.line(BOB, "/whois nobody");
    assert_eq!(f.codes(BOB), ["ERR no-such-user"]);
}

#[test]
fn the_allowlist_lets_in_its_keys_only() {
    let mut f = Fixture::new(Access {
        allow: Some(KeyList::parse(&format!("{} ann\n", key(1))).expect("list")),
        ..Access::default()
    });
    f.arrive(ANN, Some(key(1)));
    assert_eq!(f.codes(ANN), ["HELLO Welcome"]);
    for (id, k) in [(BOB, Some(key(2))), (EVE, None)] {
        f.arrive(id, k);
        let (lines, closed) = f.got(id);
        assert!(closed);
        assert!(lines[1].starts_with("ERR not-allowed"), "{lines:?}");
    }
}

#[test]
fn the_password_comes_first_three_wrong_close_and_each_failure_slows_the_address() {
    let mut f = Fixture::new(Access {
        password: Password::from_text("s3cret"),
        ..Access::default()
    });
    f.arrive(ANN, None);
    assert_eq!(
        f.got(ANN).0,
        [
            "HELLO Welcome to lanchat! What is your name?",
            "AUTH password this server asks for a password: send /pass <password>"
        ]
    );
    f.line(ANN, "ann");
    assert_eq!(f.codes(ANN), ["ERR password-required"]);
    f.line(ANN, "/pass s3cret");
    assert_eq!(f.got(ANN).0, ["INFO password accepted; now your name"]);
    f.line(ANN, "ann");
    assert!(f.room.is_named(ANN));

    f.arrive(BOB, None);
    f.out.clear();
    f.line(BOB, "/pass wrong");
    assert_eq!(
        f.got(BOB).0,
        ["ERR bad-password wrong password (1 of 3); try again"]
    );
    // The next try from that address waits a second for its answer.
    f.line(BOB, "/pass wrong again");
    assert_eq!(f.got(BOB).0, Vec::<String>::new());
    f.line(BOB, "bob");
    assert_eq!(f.codes(BOB), ["ERR password-required"], "still waiting");
    assert!(f.room.poll_timeout().is_some());
    f.advance(1);
    f.room.handle_timeout(f.now, &mut f.out);
    assert_eq!(
        f.got(BOB).0,
        ["ERR bad-password wrong password (2 of 3); try again"]
    );
    f.advance(1);
    f.line(BOB, "/pass nope");
    let (lines, closed) = f.got(BOB);
    assert_eq!(lines, ["ERR bad-password wrong password (3 of 3); goodbye"]);
    assert!(closed);
}

#[test]
fn a_private_message_to_an_absent_owner_is_kept_and_delivered_once_when_they_return() {
    let mut f = Fixture::tls();
    f.join(ANN, Some(key(1)), "ann");
    f.line(ANN, "/quit");
    f.join(BOB, None, "bob");
    f.line(BOB, "/msg ANN see you tomorrow");
    assert_eq!(f.got(BOB).0, ["INFO kept for ann until they return"]);
    f.line(BOB, "/msg nobody hi");
    assert_eq!(f.codes(BOB), ["ERR no-such-user"]);
    f.arrive(ANN, Some(key(1)));
    f.line(ANN, "ann");
    let (lines, _) = f.got(ANN);
    let note = format!("HIST {} PRIV bob see you tomorrow", f.now.unix_ms);
    let at = lines.iter().position(|l| *l == note).expect("the note");
    assert!(lines[..at].iter().any(|l| l.starts_with("WELCOME ann")));
    assert!(
        lines[at..].iter().any(|l| l.starts_with("WHOEND")),
        "before the member list"
    );
    f.line(ANN, "/quit");
    f.join(ANN, Some(key(1)), "ann");
    f.line(ANN, "/quit");
    // Once only; and a name nobody claimed keeps nothing.
    f.arrive(ANN, Some(key(1)));
    f.line(ANN, "ann");
    assert!(!f.got(ANN).0.iter().any(|l| l.contains("PRIV")));
}

#[test]
fn stats_are_for_operators_on_a_server_that_has_them_and_for_anyone_otherwise() {
    let mut f = Fixture::tls();
    f.join(OP, Some(key(9)), "op");
    f.join(ANN, Some(key(1)), "ann");
    f.line(ANN, "/stats");
    assert_eq!(f.codes(ANN), ["ERR not-operator"]);
    f.line(OP, "/stats");
    let (lines, _) = f.got(OP);
    assert!(
        lines.first().is_some_and(|l| l.starts_with("STATS ")),
        "{lines:?}"
    );
    assert_eq!(lines.last().map(String::as_str), Some("STATSEND"));

    // No operators: anyone named may ask.
    let mut f = Fixture::new(Access::default());
    f.join(ANN, None, "ann");
    f.line(ANN, "/stats");
    let (lines, _) = f.got(ANN);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("STATSEND"),
        "{lines:?}"
    );
}

#[test]
fn news_for_operators_reaches_operators_only() {
    let mut f = Fixture::tls();
    f.join(OP, Some(key(9)), "op");
    f.join(ANN, Some(key(1)), "ann");
    f.room
        .tell_operators("state directory failing (disk full)", &mut f.out);
    let rec = f.out.take();
    assert_eq!(rec.to(OP), ["INFO state directory failing (disk full)"]);
    assert!(rec.to(ANN).is_empty());
}
