//! Identity with the real server binary over TLS: names that belong to keys, the allowlist, the
//! password, operators (kick, ban by name / key / address, mute, release), what survives a
//! restart and a `kill -9`, and a reload. Clients here are the harness's line client presenting
//! users' keys; the `lanchat` binary's side is in `identity_client.rs`. See docs/PROTOCOL.md
//! (Identity).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use integration_tests::clock::BinaryClock;
use integration_tests::identity::{connect_as, connect_from, join_as, Place};
use integration_tests::procfs::wait_for;
use integration_tests::state::{stop, stop_with};
use integration_tests::{Client, ServerProcess, TestServer, DEADLINE};
use lanchat_server::identity::{Names, Setup, Sources};
use lanchat_server::limits::PASSWORD_RETRY_DELAY;
use lanchat_server::Config;

const MS: Duration = Duration::from_millis(1);

/// How long a client that must not be answered yet is read, after a `settle` that proves the
/// server has written all it did.
const SILENCE: Duration = Duration::from_millis(50);

/// Read until the server closes the connection; the lines that came.
#[track_caller]
fn closed(c: &mut Client) -> Vec<String> {
    c.expect_eof()
}

#[test]
fn two_keys_one_name_owned_refused_then_released_by_an_operator() {
    let place = Place::new();
    let ops = place.key_list("ops", &["op"]);
    let (server, fp) = place.server(&["--ops", ops.to_str().expect("utf-8")]);
    let (ann, bob, op) = (place.user("ann"), place.user("bob"), place.user("op"));

    let mut a = connect_as(server.addr(), fp, Some(&ann));
    a.expect_prefix("HELLO ");
    a.send("ann");
    a.expect_prefix("WELCOME ann ");
    let claimed = a.expect_prefix("INFO ann is now yours");
    assert!(claimed.contains("other keys cannot take it"), "{claimed}");
    a.send("/quit");
    a.expect_eof();

    // Another key, and a connection without one, in any spelling: refused, and may go on.
    for (i, (me, spelling)) in [(Some(&bob), "ann"), (Some(&bob), "ANN"), (None, "Ann")]
        .into_iter()
        .enumerate()
    {
        let mut c = connect_as(server.addr(), fp, me);
        c.expect_prefix("HELLO ");
        c.send(spelling);
        let refused = c.expect_prefix("ERR name-owned ");
        assert!(
            refused.contains("belongs to someone else's key"),
            "{refused}"
        );
        c.send(&format!("other{i}"));
        c.expect_prefix(&format!("WELCOME other{i} "));
        c.send("/quit");
        c.expect_eof();
    }

    // The owner keeps it.
    let mut a = join_as(server.addr(), fp, Some(&ann), "ann");
    a.send("/quit");
    a.expect_eof();

    // An operator releases it: the next key takes it.
    let mut o = join_as(server.addr(), fp, Some(&op), "op");
    o.send("/release ann");
    let said = o.expect_prefix("INFO ann is free again");
    assert!(said.contains(&ann.fingerprint().to_string()), "{said}");
    let mut b = join_as(server.addr(), fp, Some(&bob), "bob");
    b.send("/nick ann");
    b.expect("NICK bob ann");
    b.expect_prefix("INFO ann is now yours");
    let released = format!(
        "operator op ({}) released the claim of {} on ann",
        op.fingerprint(),
        ann.fingerprint()
    );
    assert_eq!(server.wait_for_log(&released, 1), 1, "{}", server.log());
}

/// The claims file's text once it holds `needle` (waits at most [`DEADLINE`]).
#[track_caller]
fn claims_holding(place: &Place, needle: &str) -> String {
    let path = place.state().join("claims");
    let text = wait_for(
        DEADLINE,
        || std::fs::read_to_string(&path).unwrap_or_default(),
        |t| t.contains(needle),
    );
    assert!(
        text.contains(needle),
        "{} never held {needle}",
        path.display()
    );
    text
}

#[test]
fn claims_survive_a_restart_and_a_kill_9_during_a_claim_write() {
    let place = Place::new();
    let (ann, bob) = (place.user("ann"), place.user("bob"));
    let (server, fp) = place.server(&[]);
    let mut a = join_as(server.addr(), fp, Some(&ann), "ann");
    a.send("/quit");
    a.expect_eof();
    let text = claims_holding(&place, " ann\n");
    assert!(text.starts_with("lanchat-claims 1\n"), "{text}");
    assert!(
        text.lines().last().is_some_and(|l| l.starts_with("end ")),
        "{text}"
    );

    // Claims keep coming (a write every second or so) and the server is killed among them.
    let mut users = Vec::new();
    for i in 0..20 {
        let key = place.user(&format!("u{i}"));
        let mut c = join_as(server.addr(), fp, Some(&key), &format!("u{i}"));
        c.send("/quit");
        users.push(c);
    }
    drop(users);
    let mut server = server;
    server.signal(libc::SIGKILL);
    server.wait_exit(DEADLINE).expect("killed");
    drop(server);

    let (server, fp) = place.server(&[]);
    let mut b = connect_as(server.addr(), fp, Some(&bob));
    b.expect_prefix("HELLO ");
    b.send("ann");
    b.expect_prefix("ERR name-owned ");
    b.send("bob");
    b.expect_prefix("WELCOME bob ");
    b.send("/quit");
    b.expect_eof();
    drop(b);
    // A graceful stop writes what it has at once (well before the claims' settling second).
    stop(server);
    let text = std::fs::read_to_string(place.state().join("claims")).expect("claims");
    assert!(text.contains(&format!("{} ", bob.fingerprint())), "{text}");
    assert!(!place.state().join("claims.new").exists());
}

#[test]
fn the_allowlist_lets_its_keys_in_and_closes_everyone_else() {
    let place = Place::new();
    let allow = place.key_list("allow", &["ann"]);
    let (server, fp) = place.server(&["--allow", allow.to_str().expect("utf-8")]);
    join_as(server.addr(), fp, Some(&place.user("ann")), "ann");
    for me in [Some(place.user("bob")), None] {
        let mut c = connect_as(server.addr(), fp, me.as_ref());
        c.expect_prefix("HELLO ");
        let lines = closed(&mut c);
        assert!(
            lines[0].starts_with("ERR not-allowed this server lets in only the keys on its list"),
            "{lines:?}"
        );
    }
}

#[test]
fn the_password_right_wrong_before_the_name_and_three_wrong() {
    let place = Place::new();
    let pw = place.file("pw", "s3cret\n");
    let mut clock = BinaryClock::new();
    let mut cmd = place.server_command(&["--password-file", pw.to_str().expect("utf-8")]);
    clock.set_on(&mut cmd);
    let server = ServerProcess::spawn(cmd);
    let fp = server.fingerprint().parse().expect("a fingerprint");

    let mut c = connect_as(server.addr(), fp, None);
    c.expect_prefix("HELLO ");
    c.expect("AUTH password this server asks for a password: send /pass <password>");
    c.send("ann");
    c.expect_prefix("ERR password-required ");
    c.send("/pass s3cret");
    c.expect("INFO password accepted; now your name");
    c.send("ann");
    c.expect_prefix("WELCOME ann ");

    // Wrong three times (from another address, so ann's is not slowed): each failure makes
    // that address's next try wait a second (of the server's clock, which the test moves,
    // ann's `/who` running the loop's rounds) for its answer; the third closes.
    let other: IpAddr = "127.0.0.2".parse().expect("ip");
    let mut w = connect_from(other, server.addr(), fp, None);
    w.expect_prefix("HELLO ");
    w.expect_prefix("AUTH password ");
    w.send("/pass guess1");
    w.expect("ERR bad-password wrong password (1 of 3); try again");
    w.send("/pass guess2");
    c.settle();
    clock.advance(PASSWORD_RETRY_DELAY - MS);
    c.settle();
    w.expect_nothing_for(SILENCE);
    clock.advance(MS);
    c.sync();
    w.expect("ERR bad-password wrong password (2 of 3); try again");
    w.send("/pass guess3");
    c.settle();
    clock.advance(PASSWORD_RETRY_DELAY);
    c.sync();
    let lines = closed(&mut w);
    assert_eq!(lines, ["ERR bad-password wrong password (3 of 3); goodbye"]);
    assert_eq!(
        server.wait_for_log("wrong password from 127.0.0.2 (3 of 3)", 1),
        1,
        "{}",
        server.log()
    );
}

#[test]
fn a_password_over_plaintext_is_refused_unless_asked_for_with_a_warning() {
    let place = Place::new();
    let pw = place.file("pw", "s3cret\n");
    let pw = pw.to_str().expect("utf-8");
    let out = ServerProcess::command(&["--password-file", pw])
        .output()
        .expect("run the server");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("in the clear; add --plaintext-password"),
        "{err}"
    );

    let server = ServerProcess::start(&["--password-file", pw, "--plaintext-password"]);
    // The log is read on a thread of its own: wait for the line (with a deadline).
    assert_eq!(
        server.wait_for_log("the password crosses the network in the clear", 1),
        1,
        "{}",
        server.log()
    );
    let mut c = Client::connect(server.addr());
    c.expect_prefix("HELLO ");
    c.expect_prefix("AUTH password ");
}

#[test]
fn a_file_that_cannot_be_read_at_start_is_a_clear_error_and_exit_2() {
    let place = Place::new();
    let missing = place.path().join("no-such-file");
    let missing = missing.to_str().expect("utf-8");
    let bad = place.file("bad", "SHA256:short ann\n");
    let bad = bad.to_str().expect("utf-8");
    for (flag, file, says) in [
        ("--allow", missing, "cannot read"),
        ("--ops", bad, "line 1: a fingerprint"),
        ("--password-file", missing, "cannot read"),
    ] {
        let out = place
            .server_command(&[flag, file])
            .output()
            .expect("run the server");
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(file) && err.contains(says), "{flag}: {err}");
    }
}

#[test]
fn kick_and_ban_by_name_by_key_and_by_address_and_the_ban_survives_a_restart() {
    let place = Place::new();
    let ops = place.key_list("ops", &["op"]);
    let args = ["--ops", ops.to_str().expect("utf-8")];
    let (server, fp) = place.server(&args);
    let (ann, bob, op) = (place.user("ann"), place.user("bob"), place.user("op"));
    let mut o = join_as(server.addr(), fp, Some(&op), "op");

    // Kick: the user is told who and why, the others see `kicked`; a kick is no ban.
    let mut a = join_as(server.addr(), fp, Some(&ann), "ann");
    o.read_until_prefix("JOIN ann");
    o.send("/kick ann calm down");
    assert_eq!(closed(&mut a), ["BYE kicked by op: calm down"]);
    // Each connection the server closes is closed here too, as a client would: the server
    // waits (up to its linger) for that at shutdown.
    drop(a);
    o.expect("LEAVE ann kicked");
    let mut a = join_as(server.addr(), fp, Some(&ann), "ann");
    o.expect("JOIN ann");

    // Ban by name: the key goes, and cannot come back before a name.
    o.send("/ban ann 2h spam");
    assert_eq!(closed(&mut a), ["BYE banned by op for 2h: spam"]);
    o.expect("LEAVE ann banned");
    let confirm = o.expect_prefix("INFO banned ");
    assert!(
        confirm.contains(&format!("{} (ann) until", ann.fingerprint())),
        "{confirm}"
    );
    let mut again = connect_as(server.addr(), fp, Some(&ann));
    again.expect_prefix("HELLO ");
    let refused = closed(&mut again);
    assert!(
        refused[0].starts_with("ERR banned you are banned from this server until"),
        "{refused:?}"
    );

    // Ban by key, of someone not here.
    o.send(&format!("/ban {}", bob.fingerprint()));
    o.expect_prefix("INFO banned ");
    let mut b = connect_as(server.addr(), fp, Some(&bob));
    b.expect_prefix("HELLO ");
    assert!(closed(&mut b)[0].starts_with("ERR banned "));

    // Ban by address: everyone from there, with or without a key.
    let far: IpAddr = "127.0.0.3".parse().expect("ip");
    let mut e = connect_from(far, server.addr(), fp, None);
    e.expect_prefix("HELLO ");
    e.send("eve");
    e.read_until_prefix("WHOEND ");
    o.read_until_prefix("JOIN eve");
    o.send("/ban 127.0.0.3 evil");
    assert_eq!(closed(&mut e), ["BYE banned by op: evil"]);
    drop(e);
    let mut e = connect_from(far, server.addr(), fp, Some(&place.user("eve2")));
    e.expect_prefix("HELLO ");
    assert!(closed(&mut e)[0].starts_with("ERR banned "));

    o.send("/bans");
    let (lines, _) = o.read_until_prefix("INFO ban 127.0.0.3 by op until lifted: evil");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("INFO ban {} (ann) by op until", ann.fingerprint()))),
        "{lines:?}"
    );
    let log = server.log();
    assert!(
        log.contains(&format!(
            "operator op ({}) kicked ann: calm down",
            op.fingerprint()
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "operator op ({}) banned {} (ann) until",
            op.fingerprint(),
            ann.fingerprint()
        )),
        "{log}"
    );
    o.send("/quit");
    o.expect_eof();

    // The bans outlive the server.
    drop((o, a, again, b, e));
    stop(server);
    let (server, fp) = place.server(&args);
    for (from, me) in [(None, Some(&ann)), (None, Some(&bob)), (Some(far), None)] {
        let mut c = match from {
            Some(ip) => connect_from(ip, server.addr(), fp, me),
            None => connect_as(server.addr(), fp, me),
        };
        c.expect_prefix("HELLO ");
        assert!(closed(&mut c)[0].starts_with("ERR banned "));
    }
    // ... until lifted.
    let mut o = join_as(server.addr(), fp, Some(&op), "op");
    o.send("/unban ann");
    o.expect(&format!(
        "INFO the ban on {} (ann) is lifted",
        ann.fingerprint()
    ));
    join_as(server.addr(), fp, Some(&ann), "ann");
}

#[test]
fn mute_refuses_messages_and_actions_but_a_word_to_an_operator_goes() {
    let place = Place::new();
    let ops = place.key_list("ops", &["op"]);
    let (server, fp) = place.server(&["--ops", ops.to_str().expect("utf-8")]);
    let mut o = join_as(server.addr(), fp, Some(&place.user("op")), "op");
    let mut a = join_as(server.addr(), fp, Some(&place.user("ann")), "ann");
    let mut b = join_as(server.addr(), fp, None, "bob");
    a.read_until_prefix("JOIN bob");
    o.send("/mute ann 30m");
    a.expect_prefix("INFO you were muted by op until");
    for line in ["hello", "/me waves", "/msg bob psst"] {
        a.send(line);
        a.expect_prefix("ERR muted you are muted until");
    }
    a.send("/msg op why?");
    o.read_until_prefix("PRIV ann why?");
    b.send("/who");
    let (seen, _) = b.read_until_prefix("WHOEND ");
    assert!(
        seen.iter()
            .all(|l| !l.starts_with("MSG ann") && !l.starts_with("ACTION ann")),
        "{seen:?}"
    );
    o.send("/unmute ann");
    a.expect("INFO you are no longer muted");
    a.send("hello");
    b.read_until_prefix("MSG ann hello");
}

#[test]
fn a_non_operator_trying_every_operator_command_is_refused_each_time() {
    let place = Place::new();
    let ops = place.key_list("ops", &["op"]);
    let (server, fp) = place.server(&["--ops", ops.to_str().expect("utf-8")]);
    let mut o = join_as(server.addr(), fp, Some(&place.user("op")), "op");
    let mut a = join_as(server.addr(), fp, Some(&place.user("ann")), "ann");
    for (line, word) in [
        ("/kick op", "/kick"),
        ("/ban op 7d", "/ban"),
        ("/ban 127.0.0.1", "/ban"),
        ("/unban op", "/unban"),
        ("/bans", "/bans"),
        ("/mute op", "/mute"),
        ("/unmute op", "/unmute"),
        ("/release op", "/release"),
    ] {
        a.send(line);
        a.expect(&format!("ERR not-operator only operators can use {word}"));
    }
    a.send("/help");
    let (help, _) = a.read_until_prefix("INFO /whois");
    assert!(!help.iter().any(|l| l.contains("/kick")), "{help:?}");
    o.send("/who");
    o.read_until_prefix("WHOEND 2");
}

#[test]
fn whois_shows_the_key_and_operators_also_the_address() {
    let place = Place::new();
    let ops = place.key_list("ops", &["op"]);
    let (server, fp) = place.server(&["--ops", ops.to_str().expect("utf-8")]);
    let ann = place.user("ann");
    let mut a = join_as(server.addr(), fp, Some(&ann), "ann");
    let mut b = join_as(server.addr(), fp, None, "bob");
    a.read_until_prefix("JOIN bob");
    a.send("/whois bob");
    let line = a.expect_prefix("WHOIS bob - ");
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields.len(), 5, "{line}");
    assert!(
        fields[3].parse::<u64>().is_ok() && fields[4].parse::<u64>().is_ok(),
        "{line}"
    );
    b.send("/whois ann");
    b.expect_prefix(&format!("WHOIS ann {} ", ann.fingerprint()));
    let mut o = join_as(server.addr(), fp, Some(&place.user("op")), "op");
    o.send("/whois ann");
    o.expect_prefix("WHOIS ann ");
    o.expect_prefix("INFO ann connects from 127.0.0.1:");
}

/// The identity of an in-process server, on `dir`, with these files.
fn setup(dir: &std::path::Path, sources: Sources) -> Setup {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Setup::load(
        sources,
        Some(dir),
        Names::Claimed,
        90,
        Instant::now(),
        now_ms,
    )
    .expect("identity setup")
}

#[test]
fn a_ban_ends_on_time_by_the_servers_clock() {
    let place = Place::new();
    let ops = place.key_list("ops", &["op"]);
    let config = Config {
        state_dir: Some(place.state()),
        ..TestServer::tls_config()
    };
    let sources = Sources {
        ops: Some(ops),
        ..Sources::default()
    };
    let server = TestServer::with_manual_clock_identity(config, setup(&place.state(), sources));
    let fp = server.fingerprint();
    let ann = place.user("ann");
    let mut o = join_as(server.addr(), fp, Some(&place.user("op")), "op");
    let mut a = join_as(server.addr(), fp, Some(&ann), "ann");
    o.read_until_prefix("JOIN ann");
    o.send("/ban ann 30m");
    closed(&mut a);
    server.advance(Duration::from_secs(29 * 60));
    let mut a = connect_as(server.addr(), fp, Some(&ann));
    a.expect_prefix("HELLO ");
    assert!(
        closed(&mut a)[0].contains("until"),
        "still banned at 29 min"
    );
    server.advance(Duration::from_secs(60));
    join_as(server.addr(), fp, Some(&ann), "ann");
}

#[test]
fn a_reload_reads_the_lists_again_without_dropping_anyone() {
    let place = Place::new();
    let ops = place.key_list("ops", &["op"]);
    let allow = place.key_list("allow", &["op", "ann"]);
    let config = Config {
        state_dir: Some(place.state()),
        ..TestServer::tls_config()
    };
    let sources = Sources {
        ops: Some(ops.clone()),
        allow: Some(allow.clone()),
        ..Sources::default()
    };
    let server = TestServer::with_manual_clock_identity(config, setup(&place.state(), sources));
    let fp = server.fingerprint();
    let mut a = join_as(server.addr(), fp, Some(&place.user("ann")), "ann");
    a.send("/bans");
    a.expect("ERR not-operator only operators can use /bans");

    // ann becomes an operator, and bob may come in; nobody is dropped.
    place.key_list("ops", &["op", "ann"]);
    place.key_list("allow", &["op", "ann", "bob"]);
    server.reload();
    let seen = wait_for(
        DEADLINE,
        || {
            a.send("/bans");
            a.sync()
        },
        |lines| lines.iter().any(|l| l == "INFO no bans and no mutes"),
    );
    assert!(
        seen.iter().any(|l| l == "INFO no bans and no mutes"),
        "{seen:?}"
    );
    let _bob = join_as(server.addr(), fp, Some(&place.user("bob")), "bob");
    a.send("/who");
    a.read_until_prefix("WHOEND 2");
}

#[test]
fn a_mute_survives_a_restart() {
    let place = Place::new();
    let ops = place.key_list("ops", &["op"]);
    let args = ["--ops", ops.to_str().expect("utf-8")];
    let (server, fp) = place.server(&args);
    let ann = place.user("ann");
    let mut o = join_as(server.addr(), fp, Some(&place.user("op")), "op");
    let mut a = join_as(server.addr(), fp, Some(&ann), "ann");
    o.read_until_prefix("JOIN ann");
    o.send("/mute ann 7d");
    a.expect_prefix("INFO you were muted by op until");
    stop_with(server, [o, a]);
    let (server, fp) = place.server(&args);
    let mut a = join_as(server.addr(), fp, Some(&ann), "ann");
    a.send("hello");
    a.expect_prefix("ERR muted you are muted until");
}
