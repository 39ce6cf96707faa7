//! History for late joiners (server side): the last `--history` public frames, replayed as
//! `HIST <millis> <frame>` between `WELCOME` and the member list.

use std::time::{SystemTime, UNIX_EPOCH};

use integration_tests::{Client, TestServer};
use lanchat_proto::ServerMsg;
use lanchat_server::Config;

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

/// Connect, name, and return the lines between WELCOME and WHOEND (inclusive of the WHO lines).
fn join_and_collect(server: &TestServer, name: &str) -> (Client, Vec<String>) {
    let mut c = Client::connect(server.addr());
    c.expect_prefix("HELLO ");
    c.send(name);
    c.expect_prefix(&format!("WELCOME {name} "));
    let (lines, _whoend) = c.read_until_prefix("WHOEND ");
    (c, lines)
}

#[test]
fn a_newcomer_gets_exactly_the_last_n_messages_in_order_then_the_member_list() {
    let server = TestServer::with(Config {
        history: 5,
        ..TestServer::config()
    });
    let before = unix_ms();
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    for i in 0..8 {
        ann.send(&format!("message {i}"));
    }
    ann.send("/me stretches");
    bob.send("/msg ann secret");
    bob.send("from bob");
    // Everything above has been handled once ann has seen bob's last line.
    ann.read_until_prefix("MSG bob from bob");
    let after = unix_ms();

    let (_cid, lines) = join_and_collect(&server, "cid");
    let (hist, who): (Vec<_>, Vec<_>) = lines.iter().partition(|l| l.starts_with("HIST "));
    assert_eq!(
        who,
        vec!["WHO ann bob cid"],
        "member list comes after the history"
    );
    let frames: Vec<String> = hist
        .iter()
        .map(|l| match ServerMsg::parse(l).expect("HIST parses") {
            ServerMsg::Hist { at_ms, frame } => {
                assert!(
                    (before..=after).contains(&at_ms),
                    "{at_ms} not in {before}..={after}"
                );
                frame.to_line().trim_end().to_owned()
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        frames,
        [
            "MSG ann message 5",
            "MSG ann message 6",
            "MSG ann message 7",
            "ACTION ann stretches",
            "MSG bob from bob",
        ]
    );
    assert!(
        lines.iter().all(|l| !l.contains("secret")),
        "private messages are never kept"
    );
    // History lines come before WHO, so the whole block was: WELCOME, HIST x5, WHO, WHOEND.
    assert!(lines[..5].iter().all(|l| l.starts_with("HIST ")));
}

#[test]
fn history_zero_sends_none() {
    let server = TestServer::with(Config {
        history: 0,
        ..TestServer::config()
    });
    let mut ann = Client::join(server.addr(), "ann");
    ann.send("hello?");
    assert_eq!(ann.sync(), Vec::<String>::new());
    let (_bob, lines) = join_and_collect(&server, "bob");
    assert_eq!(lines, vec!["WHO ann bob"]);
}

#[test]
fn notices_are_not_history() {
    let server = TestServer::start();
    let mut ann = Client::join(server.addr(), "ann");
    ann.send("/nick anna");
    ann.expect("NICK ann anna");
    ann.send("/who");
    ann.read_until_prefix("WHOEND");
    let (_bob, lines) = join_and_collect(&server, "bob");
    assert_eq!(lines, vec!["WHO anna bob"]);
}
