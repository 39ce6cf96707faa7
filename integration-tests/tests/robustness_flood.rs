//! Hostile input: line floods (`--rate`/`--burst`), unterminated lines (`--max-line`), and
//! connections that never give a name (`--handshake-timeout`). See docs/ROBUSTNESS.md.

use std::time::{Duration, Instant};

use integration_tests::client::Read as Got;
use integration_tests::{procfs, Client, ServerProcess, TestServer};
use lanchat_server::Config;

#[test]
fn a_10000_line_burst_is_throttled_while_another_message_arrives_within_a_second() {
    // Flood control on, at its defaults (10 lines/s, bursts of 20), on a server clock that
    // stands still: what is relayed is decided by tokens alone (none refill), and another
    // user's line gets through with no time passing at all, however busy this machine is (the
    // second of the name is a bound on server time, not on this machine's scheduling).
    let server = TestServer::with_manual_clock(Config {
        rate: 10.0,
        burst: 20,
        ..TestServer::config()
    });
    let addr = server.addr();
    let mut flooder = Client::join(addr, "flooder");
    let mut bob = Client::join(addr, "bob");
    let mut ann = Client::join(addr, "ann");
    flooder.read_until_prefix("JOIN ann");
    bob.expect("JOIN ann");

    let burst: String = (0..10_000).map(|i| format!("flood {i}\n")).collect();
    flooder.send_raw(burst.as_bytes());
    bob.send("still here");
    let mut relayed = Vec::new();
    loop {
        match ann.read_line_until(Instant::now() + integration_tests::DEADLINE) {
            Got::Line(l) if l == "MSG bob still here" => break,
            Got::Line(l) => relayed.push(l),
            other => panic!("bob's line did not arrive during the flood: {other:?}"),
        }
    }
    // A quit is never rate-limited, and it comes after the whole flood: its BYE ends what the
    // flooder is told. One ERR, not one per dropped line. (It also hears bob.)
    flooder.send("<quit>");
    let (told, _) = flooder.read_until_prefix("BYE ");
    let errs = told
        .iter()
        .filter(|l| l.starts_with("ERR rate-limited "))
        .count();
    assert_eq!(errs, 1, "{told:?}");
    assert!(
        told.iter()
            .all(|l| l.starts_with("ERR rate-limited ") || l == "MSG bob still here"),
        "{told:?}"
    );
    let (rest, _) = ann.read_until_prefix("LEAVE flooder quit");
    relayed.extend(rest);
    // The burst's first lines were relayed in order (20 less the one the name took); of the
    // rest, at most what the rate refilled while the server was reading them: nothing, as its
    // clock did not move.
    let want_first: Vec<String> = (0..19).map(|i| format!("MSG flooder flood {i}")).collect();
    assert!(relayed.len() >= 19, "{relayed:?}");
    assert_eq!(relayed[..19], want_first[..]);
    let elapsed = server.clock_elapsed().as_secs_f64();
    let most = 20 + (10.0 * elapsed).ceil() as usize;
    assert!(
        relayed.len() <= most,
        "{} flood lines relayed in {elapsed:.2} s (at most {most})",
        relayed.len()
    );
    assert!(relayed.iter().all(|l| l.starts_with("MSG flooder flood ")));
}

#[test]
fn a_10_mib_line_without_newline_costs_no_memory_and_the_connection_resyncs() {
    let server = ServerProcess::start(&[]);
    let pid = server.pid();
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    let rss_before = procfs::rss_kib(pid);
    let peak_resettable = procfs::reset_peak_rss(pid);

    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..160 {
        ann.send_raw(&chunk);
    }
    // Told as soon as the limit was passed, with the line's end still to come.
    ann.expect("ERR line-too-long lines are limited to 2048 bytes; that line was dropped");
    ann.send_raw(b"\nback in sync\n");
    bob.expect("MSG ann back in sync");
    assert_eq!(
        ann.sync(),
        Vec::<String>::new(),
        "one ERR for the whole line"
    );

    let peak = procfs::peak_or_current_rss_kib(pid, peak_resettable);
    let growth = peak.saturating_sub(rss_before);
    assert!(
        growth < 1024,
        "server memory grew by {growth} KiB for a 10 MiB line"
    );
}

#[test]
fn silent_connections_are_closed_at_the_handshake_deadline_while_others_chat() {
    // On a server clock the test moves: the 1 s deadline is checked to the millisecond.
    let server = TestServer::with_manual_clock(Config {
        handshake_timeout: 1,
        ..TestServer::config()
    });
    let addr = server.addr();
    let mut silent: Vec<Client> = (0..200).map(|_| Client::connect(addr)).collect();
    // Slowloris proper: a name trickled in without its newline, and a client that keeps
    // offering names that are refused. Activity does not extend the deadline.
    let mut trickler = Client::connect(addr);
    trickler.send_raw(b"slo");
    let mut refused = Client::connect(addr);
    refused.send("server");
    let mut ann = Client::join(addr, "ann");
    let mut bob = Client::join(addr, "bob");
    ann.expect("JOIN bob");
    bob.send("hi ann");
    ann.expect("MSG bob hi ann");
    trickler.send_raw(b"wlo");
    refused.send("system");
    for (i, c) in silent.iter_mut().enumerate() {
        c.name = format!("silent{i}");
        c.expect_prefix("HELLO ");
    }
    trickler.expect_prefix("HELLO ");
    refused.expect_prefix("HELLO ");
    refused.expect_prefix("ERR name-invalid ");
    refused.expect_prefix("ERR name-invalid ");

    // A millisecond before the deadline, everyone is still there.
    server.advance(Duration::from_millis(999));
    assert_eq!(ann.settle(), Vec::<String>::new());
    silent[0].expect_nothing_for(Duration::from_millis(20));
    trickler.expect_nothing_for(Duration::from_millis(20));

    server.advance(Duration::from_millis(1));
    let timeout = "ERR handshake-timeout no name was given within 1 second; goodbye";
    for c in &mut silent {
        c.expect(timeout);
        c.expect_eof();
    }
    trickler.expect(timeout);
    trickler.expect_eof();
    let lines = refused.expect_eof();
    assert_eq!(lines.last().map(String::as_str), Some(timeout), "{lines:?}");
    // The named clients outlived their own deadline and still chat.
    ann.send("still here");
    bob.expect("MSG ann still here");
    assert_eq!(bob.sync(), Vec::<String>::new());
}
