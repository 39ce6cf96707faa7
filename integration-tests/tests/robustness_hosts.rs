//! One host against everyone: the per-address limits. Connections one address holds at once
//! (`--max-per-host`), how fast it opens new ones (`--join-rate`, `--join-burst`), the line
//! budget all its connections share, and `/who` charged to it by size. Every address of
//! 127.0.0.0/8 is this machine, so each test is several hosts: a client socket bound to
//! 127.0.0.2 before it connects is another host than 127.0.0.1. See docs/ROBUSTNESS.md.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use integration_tests::{bin_path, longest_name, tcp_from, Client, ServerProcess, TestServer};
use lanchat_server::Config;

fn host(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// Connect from `from` and join as `name`.
#[track_caller]
fn join_from(from: IpAddr, addr: SocketAddr, name: &str) -> Client {
    let mut c = Client::connect_from(from, addr);
    c.name = name.to_owned();
    c.expect_prefix("HELLO ");
    c.send(name);
    c.expect_prefix(&format!("WELCOME {name} "));
    c.read_until_prefix("WHOEND ");
    c
}

/// What one attempt to visit (connect, name, `/quit`) came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visit {
    Made,
    Refused,
}

/// Connect from `from`, give `name`, quit; or be refused with `ERR too-many-connections`.
#[track_caller]
fn visit(from: IpAddr, addr: SocketAddr, name: &str) -> Visit {
    let stream = tcp_from(from, addr).expect("connect");
    let mut c = Client::from_stream(stream, name);
    let first = c.line();
    if first.starts_with("ERR too-many-connections ") {
        assert_eq!(c.expect_eof(), Vec::<String>::new(), "closed after the ERR");
        return Visit::Refused;
    }
    assert!(first.starts_with("HELLO "), "{first}");
    c.send(name);
    c.expect_prefix(&format!("WELCOME {name} "));
    c.read_until_prefix("WHOEND ");
    c.send("/quit");
    c.read_until_prefix("BYE ");
    Visit::Made
}

/// `threads` threads each making `attempts` visits from `from`: (visits made, refused).
fn churn(
    from: IpAddr,
    addr: SocketAddr,
    threads: usize,
    attempts: usize,
    tag: &str,
) -> (usize, usize) {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let tag = format!("{tag}{t}x");
            std::thread::spawn(move || {
                (0..attempts)
                    .map(|i| visit(from, addr, &format!("{tag}{i}")))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let all: Vec<Visit> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("a churning thread failed"))
        .collect();
    let made = all.iter().filter(|&&v| v == Visit::Made).count();
    (made, all.len() - made)
}

fn joins_and_leaves(lines: &[String]) -> usize {
    lines
        .iter()
        .filter(|l| l.starts_with("JOIN ") || l.starts_with("LEAVE "))
        .count()
}

#[test]
fn a_churning_host_shows_members_its_join_burst_then_two_visits_a_second_and_a_second_host_chats_on(
) {
    // The server's defaults, loopback not exempt (but the line protocol in plaintext, as the
    // red team spoke it); its clock stands still unless moved.
    let server = TestServer::with_manual_clock(Config {
        no_discovery: true,
        plaintext: true,
        ..Config::loopback()
    });
    let addr = server.addr();
    let mut pat = join_from(host(2), addr, "pat");
    let mut sam = join_from(host(3), addr, "sam");
    pat.expect("JOIN sam");

    // The red team's attack: one process looping connect, name, /quit on 4 threads.
    let attack = std::thread::spawn(move || churn(host(1), addr, 4, 50, "c"));
    // Meanwhile another host talks, and a new connection from it gets in.
    sam.send("still here");
    let (seen_during, _) = pat.read_until_prefix("MSG sam still here");
    let mut sam2 = join_from(host(3), addr, "sam2");
    let (made, refused) = attack.join().expect("the attack ran");
    let mut seen = seen_during;
    seen.extend(pat.sync());

    // No server time passed: the join burst (10 visits), then refusals only.
    assert_eq!((made, refused), (10, 190));
    assert_eq!(
        joins_and_leaves(&seen),
        2 * 10 + 1,
        "10 visits (JOIN and LEAVE each) and sam2's JOIN: {seen:?}"
    );
    sam2.send("me too");
    pat.expect("MSG sam2 me too");

    // One second later: two more visits (the rate), however hard it tries.
    server.advance(Duration::from_secs(1));
    let (made, refused) = churn(host(1), addr, 2, 20, "d");
    assert_eq!((made, refused), (2, 38));
    assert_eq!(joins_and_leaves(&pat.sync()), 4);
    sam.send("bye now");
    pat.expect("MSG sam bye now");
}

#[test]
fn one_host_holds_at_most_max_per_host_connections_and_others_still_get_in() {
    // The standard test server (127.0.0.1 trusted) with the default --max-per-host, the join
    // rate off so that only the count is tested; the host is 127.0.0.2.
    let server = ServerProcess::start(&["--join-rate", "0"]);
    let addr = server.addr();
    // 16 of them, half named, half idle in the handshake.
    let mut held: Vec<Client> = (0..16)
        .map(|i| {
            if i % 2 == 0 {
                join_from(host(2), addr, &format!("h{i}"))
            } else {
                let mut c = Client::connect_from(host(2), addr);
                c.expect_prefix("HELLO ");
                c
            }
        })
        .collect();
    let mut refused = Client::connect_from(host(2), addr);
    assert_eq!(
        refused.line(),
        "ERR too-many-connections your address already has 16 connections open here, the most \
         one may have; close one and try again"
    );
    assert_eq!(refused.expect_eof(), Vec::<String>::new());
    // Another host is not locked out.
    let mut ann = join_from(host(3), addr, "ann");
    assert_eq!(ann.sync(), Vec::<String>::new());
    // A place freed by a quit (or a dropped connection) can be taken again.
    held[0].send("/quit");
    held[0].read_until_prefix("BYE ");
    drop(held.remove(1));
    assert_eq!(ann.sync(), ["LEAVE h0 quit"]);
    let _again = join_from(host(2), addr, "again");
    let _and_again = join_from(host(2), addr, "and_again");
    let mut over = Client::connect_from(host(2), addr);
    assert!(over.line().starts_with("ERR too-many-connections "));
}

#[test]
fn the_per_host_limits_come_from_lanchat_env_vars_and_trusted_networks_are_exempt() {
    let mut cmd = Command::new(bin_path("lanchat-server"));
    cmd.args(["--bind", "127.0.0.1", "--port", "0", "--no-discovery"])
        .env("LANCHAT_MAX_PER_HOST", "2")
        .env("LANCHAT_JOIN_RATE", "0.01")
        .env("LANCHAT_JOIN_BURST", "3")
        .env("LANCHAT_TRUSTED_HOSTS", "127.0.0.8/30,::1");
    let server = ServerProcess::spawn(cmd);
    let addr = server.addr();
    // Two at once from 127.0.0.2, not three.
    let mut a = join_from(host(2), addr, "a");
    let b = join_from(host(2), addr, "b");
    let mut c = Client::connect_from(host(2), addr);
    assert!(c.line().contains("already has 2 connections open"));
    // The third connection ever (burst 3) gets in once one is gone; the fourth does not.
    // (b's close is queued before a's `/who`, so the server has seen it when a's answer comes.)
    drop(b);
    assert_eq!(a.sync(), ["JOIN b", "LEAVE b disconnected"]);
    let mut d = Client::connect_from(host(2), addr);
    d.expect_prefix("HELLO ");
    drop(d);
    a.sync();
    let mut e = Client::connect_from(host(2), addr);
    assert_eq!(
        e.line(),
        "ERR too-many-connections your address is connecting too often: at most 0.01 new \
         connections a second (bursts of 3); try again in a moment"
    );
    // 127.0.0.9 is in 127.0.0.8/30: no limit applies.
    let _trusted: Vec<Client> = (0..6)
        .map(|i| join_from(host(9), addr, &format!("t{i}")))
        .collect();
    // A bad value is a clear CLI error.
    let out = Command::new(bin_path("lanchat-server"))
        .env("LANCHAT_TRUSTED_HOSTS", "10.0.0.1/8")
        .output()
        .expect("run lanchat-server");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did you mean 10.0.0.0/8?"), "{err}");
}

#[test]
fn connections_of_one_host_share_its_line_budget() {
    // Default flood control (10 lines/s, bursts of 20 per connection): the host's connections
    // share 4 times that. The server's clock stands still, so no token comes back meanwhile.
    let server = TestServer::with_manual_clock(Config {
        rate: 10.0,
        ..TestServer::config()
    });
    let addr = server.addr();
    let mut pat = join_from(host(3), addr, "pat");
    let mut senders: Vec<Client> = (0..8)
        .map(|i| join_from(host(2), addr, &format!("s{i}")))
        .collect();
    assert_eq!(joins_and_leaves(&pat.sync()), 8);
    // Each sends 19 lines of 1,000 bytes: within its own budget (the name took one of 20).
    let text = "x".repeat(1000);
    for round in 0..19 {
        for s in &mut senders {
            s.send(&format!("{round} {text}"));
        }
    }
    // The senders cannot sync (their host has no budget left for a `/who`); pat's two syncs
    // prove that everything they sent before has been handled and written out.
    let seen = pat.settle();
    let relayed = seen.iter().filter(|l| l.starts_with("MSG ")).count();
    assert_eq!(
        relayed,
        80 - 8,
        "the host's burst of 80 less the 8 names, not 8 x 19"
    );
    // Whose lines went depends on the order the server read them; each one cut short was told.
    for s in &mut senders {
        let prefix = format!("MSG {} ", s.name);
        if seen.iter().filter(|l| l.starts_with(&prefix)).count() == 19 {
            continue;
        }
        let (_joins, err) = s.read_until_prefix("ERR ");
        assert_eq!(
            err,
            "ERR rate-limited slow down: your address may send at most 40 lines per second \
             (bursts of 80) over all its connections; lines are being dropped"
        );
    }
    // A second later: 40 more, whoever sends them.
    server.advance(Duration::from_secs(1));
    for round in 0..10 {
        for s in &mut senders {
            s.send(&format!("later {round}"));
        }
    }
    let relayed = pat
        .settle()
        .iter()
        .filter(|l| l.starts_with("MSG "))
        .count();
    assert_eq!(relayed, 40);
    // Another host has a budget of its own.
    let mut sam = join_from(host(4), addr, "sam");
    sam.send("hello");
    assert_eq!(pat.settle(), ["JOIN sam", "MSG sam hello"]);
}

/// Send `/who`: `Ok(bytes of the answer)`, or `Err(the ERR line)`.
fn who(c: &mut Client) -> Result<usize, String> {
    c.send("/who");
    let mut bytes = 0;
    loop {
        let l = c.line();
        if l.starts_with("ERR ") {
            return Err(l);
        }
        bytes += l.len() + 1;
        if l.starts_with("WHOEND ") {
            return Ok(bytes);
        }
    }
}

#[test]
fn who_from_one_host_is_answered_at_once_then_every_few_seconds() {
    let server = TestServer::with_manual_clock(TestServer::config());
    let addr = server.addr();
    // 400 members with the longest names, from 127.0.0.1 (trusted in the test server).
    let members: Vec<Client> = (0..400)
        .map(|i| {
            let name = longest_name(i);
            let mut c = Client::connect(addr);
            c.expect_prefix("HELLO ");
            c.send(&name);
            c.expect_prefix("WELCOME ");
            c
        })
        .collect();
    let mut ann = join_from(host(2), addr, "ann");
    let size = who(&mut ann).expect("a person's /who is answered at once");
    assert!(size > 400 * 97, "{size}");
    // Asked over and over with no time passing: answered while the host's 512 KiB are not
    // spent, then refused with when to ask again.
    let mut answered = 1;
    let refusal = loop {
        match who(&mut ann) {
            Ok(_) => answered += 1,
            Err(e) => break e,
        }
        assert!(answered < 100, "never refused");
    };
    assert_eq!(answered, (512 * 1024 - 1) / size + 1, "answer size {size}");
    let secs: u64 = refusal
        .strip_prefix(
            "ERR rate-limited the member list is big and your address asked for it a lot; ask \
             again in ",
        )
        .and_then(|rest| rest.strip_suffix(" s"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{refusal}"));
    assert!(
        (1..=2).contains(&secs),
        "one answer's debt at 64 KiB/s: {refusal}"
    );
    // Another host is answered meanwhile.
    let mut bob = join_from(host(3), addr, "bob");
    assert!(who(&mut bob).is_ok());
    // After the wait it says, the next one is answered.
    server.advance(Duration::from_secs(secs));
    assert!(who(&mut ann).is_ok());
    drop(members);
}
