//! The real `lanchat` binary in a pseudo-terminal, with rooms: a mention rings in any room and
//! is tagged with its room; unread counts per room in the prompt; and after a server restart
//! the client joins its rooms again, the current one staying current, the half-typed line kept.
//! (Switching rooms with a half-typed line: `client_pty.rs`.)

mod pty;

use integration_tests::{free_port, Client, ServerProcess};
use pty::{join, printable, Pty};

/// bob (a raw client) in `rooms`; ann (in the pty) joins them in order, the last current.
fn ann_and_bob_in(server: &ServerProcess, rooms: &[&str]) -> (Pty, Client) {
    let mut bob = Client::join(server.addr(), "bob");
    let mut ann = join(server, "ann");
    bob.expect("JOIN ann");
    for room in rooms {
        bob.send(&format!("/join {room}"));
        bob.read_until_prefix(&format!("WHOEND {room}"));
    }
    for room in rooms {
        ann.line(&format!("/join {room}"));
        ann.expect(&format!("* here now in {room} (2): bob, ann"));
        ann.expect(&format!("ann {room}> "));
    }
    bob.sync();
    (ann, bob)
}

#[test]
fn a_mention_in_another_room_rings_is_tagged_and_counted() {
    let server = ServerProcess::start(&["--rate", "0"]);
    let (mut ann, mut bob) = ann_and_bob_in(&server, &["#dev", "#ops"]);
    let bells = |ann: &Pty| ann.transcript().matches('\x07').count();
    assert_eq!(bells(&ann), 0);
    for text in ["one", "two", "ann: look here"] {
        bob.send(&format!("/in #dev {text}"));
    }
    ann.expect("! #dev <bob> ann: look here");
    ann.expect("ann #ops [#dev 3]> ");
    assert_eq!(bells(&ann), 1, "{}", printable(ann.transcript().as_bytes()));
    ann.line("/go #dev");
    ann.expect("* now in #dev");
    ann.expect("ann #dev> ");
    // Alt-Right: the next room; Tab completes a room's name after a room command.
    ann.keys("\x1b[1;3C");
    ann.expect("ann #ops> ");
    ann.keys("/part #o\t");
    ann.expect("/part #ops ");
    ann.keys("\r");
    ann.expect("* you left #ops");
    ann.expect("ann #general> ");
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
}

#[test]
fn after_a_server_restart_the_client_joins_its_rooms_again_and_stays_in_the_current_one() {
    let port = free_port();
    let mut server = ServerProcess::start_on(port, &["--rate", "0"]);
    let (mut ann, bob) = ann_and_bob_in(&server, &["#dev", "#ops", "#qa"]);
    ann.keys("\x10"); // Ctrl-P: from #qa to #ops
    ann.expect("ann #ops> ");
    ann.keys("half typed");
    ann.expect("half typed");

    server.signal(libc::SIGTERM);
    ann.expect("* the server closed the connection: server shutting down; reconnecting");
    drop(bob);
    assert!(
        server.wait_exit(integration_tests::DEADLINE).is_some(),
        "the server did not stop"
    );
    let server = ServerProcess::start_on(port, &["--rate", "0"]);
    ann.expect("* reconnected as ann");
    for room in ["#dev", "#ops", "#qa"] {
        ann.expect(&format!("* here now in {room} (1): ann"));
    }
    ann.expect("ann #ops> half typed");
    let mut bob = Client::join(server.addr(), "bob");
    bob.send("/rooms");
    bob.expect("ROOMLIST #general 2");
    bob.expect("ROOMLIST #dev 1");
    bob.expect("ROOMLIST #ops 1");
    bob.expect("ROOMLIST #qa 1");
    bob.expect("ROOMLISTEND 4");
    bob.send("/join #ops");
    bob.read_until_prefix("WHOEND #ops");
    ann.keys(" and finished\r");
    bob.expect("MSG #ops ann half typed and finished");
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
}

#[test]
fn after_a_restart_a_rooms_replayed_history_shows_only_what_was_not_shown() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let state = dir.path().to_str().expect("a UTF-8 path").to_owned();
    let args = ["--rate", "0", "--state-dir", state.as_str()];
    let port = free_port();
    let mut server = ServerProcess::start_on(port, &args);
    let mut bob = Client::join(server.addr(), "bob");
    bob.send("/join #dev");
    bob.read_until_prefix("WHOEND #dev");
    bob.send("/in #dev said before ann came");
    bob.sync();
    let mut ann = join(&server, "ann");
    ann.line("/join #dev");
    ann.expect("<bob> said before ann came");
    ann.expect("ann #dev> ");
    bob.send("/in #dev said while ann is here");
    ann.expect("<bob> said while ann is here");

    server.signal(libc::SIGTERM);
    ann.expect("; reconnecting");
    drop(bob);
    assert!(
        server.wait_exit(integration_tests::DEADLINE).is_some(),
        "the server did not stop"
    );
    let server = ServerProcess::start_on(port, &args);
    ann.expect("* reconnected as ann");
    ann.expect("* here now in #dev (1): ann");
    ann.expect("ann #dev> ");
    let mut bob = Client::join(server.addr(), "bob");
    bob.send("/join #dev");
    bob.read_until_prefix("WHOEND #dev");
    bob.send("/in #dev said after the restart");
    ann.expect("<bob> said after the restart");
    let all = ann.transcript();
    for once in ["said before ann came", "said while ann is here"] {
        assert_eq!(all.matches(once).count(), 1, "{once:?} in:\n{all}");
    }
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
}
