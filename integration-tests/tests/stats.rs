//! `/stats` over the wire, from the built `lanchat-server`: `STATS <key> <value>` lines in the
//! protocol's order, then `STATSEND`, with figures that follow what happened.

use std::collections::HashMap;

use integration_tests::{Client, ServerProcess};
use lanchat_proto::{StatKey, StatValue};

/// Ask for `/stats` and read the answer: the figures by key, checking the wire form as it goes.
#[track_caller]
fn stats(c: &mut Client) -> HashMap<String, StatValue> {
    c.send("/stats");
    let mut figures = Vec::new();
    loop {
        let line = c.line();
        if line == "STATSEND" {
            break;
        }
        let rest = line
            .strip_prefix("STATS ")
            .unwrap_or_else(|| panic!("not a STATS line: {line:?}"));
        let (key, value) = rest.split_once(' ').expect("STATS <key> <value>");
        let value = StatValue::parse(value).unwrap_or_else(|| panic!("bad value in {line:?}"));
        figures.push((key.to_owned(), value));
    }
    let keys: Vec<&str> = figures.iter().map(|(k, _)| k.as_str()).collect();
    let want: Vec<&str> = StatKey::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(keys, want);
    figures.into_iter().collect()
}

fn n(figures: &HashMap<String, StatValue>, key: &str) -> u64 {
    match figures[key] {
        StatValue::Number(n) => n,
        StatValue::Unknown => panic!("{key} unknown"),
    }
}

#[test]
fn stats_answers_anyone_named_with_figures_that_follow_what_happened() {
    let server = ServerProcess::start(&["--rate", "0", "--max-line", "128"]);
    let mut ann = Client::join(server.addr(), "ann");
    let first = stats(&mut ann);
    assert_eq!(n(&first, "users"), 1);
    assert_eq!(n(&first, "connections"), 1);
    assert_eq!(n(&first, "messages-in"), 0);
    assert!(n(&first, "rss") > 0, "this is Linux: {first:?}");

    let mut bob = Client::join(server.addr(), "bob");
    let mut cat = Client::join(server.addr(), "cat");
    ann.expect("JOIN bob");
    ann.expect("JOIN cat");
    bob.expect("JOIN cat");
    ann.send("hello both"); // two deliveries
    bob.expect("MSG ann hello both");
    cat.expect("MSG ann hello both");
    cat.send("/msg bob psst"); // one
    bob.expect("PRIV cat psst");
    bob.send(&"x".repeat(200));
    bob.expect_prefix("ERR line-too-long ");
    bob.send("/nick ANN");
    bob.expect_prefix("ERR name-taken ");
    cat.send("/quit");
    cat.expect_prefix("BYE ");
    ann.expect("LEAVE cat quit");
    bob.expect("LEAVE cat quit");

    let now = stats(&mut bob);
    for (key, want) in [
        ("users", 2),
        ("users-peak", 3),
        ("connections", 2),
        ("connections-peak", 3),
        ("rooms", 1),
        ("messages-in", 2),
        ("messages-out", 3),
        ("lines-too-long", 1),
        ("refused-name", 1),
        ("left-quit", 1),
        ("dropped-too-slow", 0),
    ] {
        assert_eq!(n(&now, key), want, "{key}: {now:?}");
    }
    assert!(n(&now, "bytes-in") > 200, "{now:?}");
    assert!(n(&now, "bytes-out") > n(&first, "bytes-out"), "{now:?}");
    assert!(n(&now, "lines-in") > n(&first, "lines-in"), "{now:?}");
    assert!(n(&now, "sendq-peak") > 0, "{now:?}");
    assert!(n(&now, "rss-peak") >= n(&now, "rss"), "{now:?}");
    // Nothing else was said to anyone.
    assert_eq!(ann.sync(), Vec::<String>::new());
}
