//! Graceful shutdown on SIGTERM/SIGINT of the real binary: `BYE` to everyone, a flush that does
//! not wait for a client that stopped reading, exit 0, the port free again; a second signal
//! exits at once. The flush bound itself (exactly 2 s of the server's clock) is proved in
//! `loop_clock.rs` on a clock the test moves; here the binary's clock is moved past it too
//! ([`BinaryClock`]), and what is proved is that the server gave up on the stuck client. See
//! docs/ROBUSTNESS.md.

use std::net::TcpListener;

use integration_tests::client::{clog, join_never_reading};
use integration_tests::clock::BinaryClock;
use integration_tests::{Client, ServerProcess, DEADLINE};
use lanchat_server::limits::SHUTDOWN_FLUSH;

#[test]
fn sigterm_with_100_clients_one_not_reading_says_bye_exits_0_and_frees_the_port() {
    // A send queue large enough that the stuck client is not dropped as too slow first.
    let mut clock = BinaryClock::new();
    let mut cmd = ServerProcess::command(&["--rate", "0", "--sendq", "64M"]);
    clock.set_on(&mut cmd);
    let mut server = ServerProcess::spawn(cmd);
    let addr = server.addr();
    let mut readers: Vec<Client> = (0..99)
        .map(|i| Client::join(addr, &format!("r{i}")))
        .collect();
    let _stuck = join_never_reading(addr, "stuck");
    readers[0].read_until_prefix("JOIN stuck");
    clog(&mut readers[0], "stuck");

    server.signal(libc::SIGTERM);
    for r in &mut readers {
        let (_, bye) = r.read_until_prefix("BYE ");
        assert_eq!(bye, "BYE server shutting down", "{}", r.name);
        assert_eq!(r.expect_eof(), Vec::<String>::new(), "{}", r.name);
    }
    // The flush deadline passes; the readers closing their side are the events that have
    // the loop look at the time again.
    clock.advance(SHUTDOWN_FLUSH);
    drop(readers);
    let status = server
        .wait_exit(DEADLINE)
        .expect("server still running after SIGTERM");
    assert_eq!(status.code(), Some(0));
    // It gave up on the client that was not reading rather than wait for it: the stuck
    // client's megabytes can never drain, so only the flush bound can have ended the loop.
    // (The log is read on a thread of its own: its last line may land after the exit is seen.)
    let gave_up = "1 connection(s) still flushing at exit";
    assert_eq!(server.wait_for_log(gave_up, 1), 1, "{}", server.log());
    TcpListener::bind(addr).expect("the port is free again");
}

#[test]
fn a_second_signal_during_the_flush_exits_at_once_with_130() {
    // On a clock that never moves, the flush's deadline never comes: only the second signal
    // can end it, however slow the machine is (no race against the 2 s bound).
    let clock = BinaryClock::new();
    let mut cmd = ServerProcess::command(&["--rate", "0", "--sendq", "64M"]);
    clock.set_on(&mut cmd);
    let mut server = ServerProcess::spawn(cmd);
    let addr = server.addr();
    let mut ann = Client::join(addr, "ann");
    let _stuck = join_never_reading(addr, "stuck");
    ann.expect("JOIN stuck");
    clog(&mut ann, "stuck");

    server.signal(libc::SIGINT);
    ann.expect("BYE server shutting down");
    drop(ann);
    // The flush now waits on stuck, for good on this clock; a second signal ends it.
    server.signal(libc::SIGTERM);
    let status = server
        .wait_exit(DEADLINE)
        .expect("server still running after the second signal");
    assert_eq!(status.code(), Some(130));
    assert_eq!(
        server.wait_for_log("second signal", 1),
        1,
        "{}",
        server.log()
    );
}
