//! The loop's deadlines, on a clock the test moves: the server runs in-process on real sockets
//! on 127.0.0.1, but reads a `ManualClock`, so a 2 s linger or the 2 s shutdown flush is tested
//! to the millisecond without waiting for it.
//!
//! The pattern: move the clock to just before a deadline, prove nothing happened (a named
//! client's `/who` answered twice: the second is read in a round that began after the first
//! one's flush, so everything the first round did has been written), then move it onto the
//! deadline and expect the effect. (The write stall is in `robustness_slow.rs`, the handshake
//! deadline in `robustness_flood.rs`, the accept back-off in `loop_accept_backoff.rs`: same
//! clock, same pattern.)

use std::time::Duration;

use integration_tests::client::{clog, join_never_reading};
use integration_tests::{Client, TestServer};
use lanchat_server::{limits, Config, Exit};

const MS: Duration = Duration::from_millis(1);

/// A client that said `<quit>`, got its `BYE` and EOF, and keeps its side open (no EOF), so
/// the server lingers on it.
fn quit_and_hold(server: &TestServer, name: &str) -> Client {
    let mut c = Client::join(server.addr(), name);
    c.send("<quit>");
    c.expect("BYE Goodbye!");
    assert_eq!(c.expect_eof(), Vec::<String>::new());
    c
}

#[test]
fn a_lingering_connection_holds_its_slot_until_the_peer_closes_or_the_linger_ends() {
    // Two slots: a named client for syncing, and one that quits and keeps its side open.
    let server = TestServer::with_manual_clock(Config {
        max_clients: 2,
        ..TestServer::config()
    });
    let addr = server.addr();
    let mut ann = Client::join(addr, "ann");
    let held = quit_and_hold(&server, "bob");
    ann.expect("JOIN bob");
    ann.expect("LEAVE bob quit");
    let full = "ERR server-full the server is full (2 users); try again later";
    let refused = |what: &str| {
        let mut c = Client::connect(addr);
        c.name = what.to_owned();
        c.expect(full);
        c.expect_eof();
    };
    refused("while bob lingers");

    server.advance(limits::LINGER - MS);
    assert_eq!(ann.settle(), Vec::<String>::new());
    refused("a millisecond before the linger ends");

    server.advance(MS);
    assert_eq!(ann.settle(), Vec::<String>::new());
    let mut cid = Client::join(addr, "cid");
    ann.expect("JOIN cid");
    drop(held);

    // A peer that closes its side ends the linger at once: no time passes.
    cid.send("<quit>");
    cid.expect("BYE Goodbye!");
    cid.expect_eof();
    ann.expect("LEAVE cid quit");
    drop(cid);
    let mut dan = Client::connect(addr);
    loop {
        // The server may see cid's EOF after dan's connect: then dan is refused, and a
        // retry (still without moving the clock) gets in.
        match dan.line().as_str() {
            l if l.starts_with("HELLO ") => break,
            l => assert_eq!(l, full),
        }
        dan.expect_eof();
        dan = Client::connect(addr);
    }
}

#[test]
fn shutdown_gives_up_on_a_client_that_does_not_read_exactly_at_the_flush_deadline() {
    // A send queue large enough that the stuck client is not dropped as too slow first.
    let mut server = TestServer::with_manual_clock(Config {
        sendq: 64 << 20,
        ..TestServer::config()
    });
    let addr = server.addr();
    let mut ann = Client::join(addr, "ann");
    let _stuck = join_never_reading(addr, "stuck");
    ann.expect("JOIN stuck");
    clog(&mut ann, "stuck");

    server.begin_shutdown();
    ann.expect("BYE server shutting down");
    assert_eq!(ann.expect_eof(), Vec::<String>::new());
    // ann is gone; stuck still owes megabytes. The loop runs on until the deadline.
    server.advance(limits::SHUTDOWN_FLUSH - MS);
    assert_eq!(
        server.wait(Duration::from_millis(200)),
        None,
        "exited before the flush deadline"
    );
    server.advance(MS);
    assert_eq!(
        server.wait(integration_tests::DEADLINE),
        Some(Exit::Graceful)
    );
}

#[test]
fn shutdown_ends_as_soon_as_everyone_has_their_bye_without_waiting_for_the_deadline() {
    let mut server = TestServer::with_manual_clock(TestServer::config());
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    server.begin_shutdown();
    for c in [&mut ann, &mut bob] {
        c.expect("BYE server shutting down");
        assert_eq!(c.expect_eof(), Vec::<String>::new());
    }
    drop((ann, bob));
    // No time passes: the loop ends when the last connection is gone.
    assert_eq!(
        server.wait(integration_tests::DEADLINE),
        Some(Exit::Graceful)
    );
}
