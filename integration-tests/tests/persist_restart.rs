//! History that survives a restart, with the real binary: a newcomer after a restart gets the
//! replay it would have got before it. Stopped by SIGTERM, by `kill -9` in the middle of a
//! burst (every message any client received is in the history after the restart, in order,
//! exactly once), with the log's last line torn at every byte offset, and with `--history 0` /
//! `--no-persist` (nothing written). See docs/ROBUSTNESS.md, "History and notes on disk".

use std::collections::HashSet;
use std::io::Write as _;
use std::thread;
use std::time::Instant;

use integration_tests::client::Read;
use integration_tests::state::{replay, room_log, start_in as start, start_line, stop_with};
use integration_tests::{Client, DEADLINE};

fn is_chat(line: &str) -> bool {
    line.starts_with("MSG ") || line.starts_with("ACTION ")
}

/// The numbers `n` of the lines `<prefix><n>` among `lines`, in their order.
fn numbers<'a>(lines: impl IntoIterator<Item = &'a str>, prefix: &str) -> Vec<usize> {
    lines
        .into_iter()
        .filter_map(|l| l.strip_prefix(prefix)?.parse().ok())
        .collect()
}

#[test]
fn after_a_sigterm_restart_a_newcomer_gets_what_was_relayed_in_order_and_the_log_says_so() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let server = start(dir.path(), &["--history", "1000"]);
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    let mut obs = Client::join(server.addr(), "obs");
    ann.expect("JOIN bob");
    ann.expect("JOIN obs");
    bob.expect("JOIN obs");
    let mut a = String::new();
    let mut b = String::new();
    for i in 0..150 {
        a.push_str(&format!("a{i}\n"));
        b.push_str(&format!("/me b{i}\n"));
    }
    ann.send_raw(a.as_bytes());
    bob.send_raw(b.as_bytes());
    bob.send("/msg obs private, never history");
    let mut seen = Vec::new();
    while seen.len() < 300 {
        let line = obs.line();
        if is_chat(&line) {
            seen.push(line);
        }
    }
    obs.sync();
    stop_with(server, [ann, bob, obs]);

    let server = start(dir.path(), &["--history", "1000"]);
    assert_eq!(replay(server.addr(), "cid"), seen);
    let loaded = format!(
        "INFO  state directory {}: loaded 300 history entries of 1 rooms, 0 notes for 0 users",
        dir.path().display()
    );
    assert!(start_line(&server).ends_with(&loaded), "{}", server.log());
    let text = std::fs::read_to_string(room_log(dir.path())).expect("the room's log");
    assert!(text.starts_with("lanchat-history 1 #general\n"), "{text}");
    assert!(!text.contains("private"), "private messages are never kept");
}

/// What one sender in a burst got back: every chat line the server sent it.
struct Sent {
    received: Vec<String>,
}

/// Join as `name` and send `count` lines made by `line(i)` in batches of 10, each followed by
/// a `/who` whose answer it waits for: the burst spreads over many of the server's rounds, so
/// a kill lands in the middle of it. Stops quietly when the server goes away.
fn burst(
    addr: std::net::SocketAddr,
    name: &'static str,
    count: usize,
    line: fn(usize) -> String,
) -> thread::JoinHandle<Sent> {
    let mut c = Client::join(addr, name);
    thread::spawn(move || {
        let mut received = Vec::new();
        let mut writer = c.stream().try_clone().expect("clone");
        for batch in 0..count / 10 {
            let mut bytes = String::new();
            for i in batch * 10..batch * 10 + 10 {
                bytes.push_str(&line(i));
                bytes.push('\n');
            }
            bytes.push_str("/who\n");
            if writer.write_all(bytes.as_bytes()).is_err() {
                break;
            }
            loop {
                match c.read_line_until(Instant::now() + DEADLINE) {
                    Read::Line(l) if l.starts_with("WHOEND ") => break,
                    Read::Line(l) if is_chat(&l) => received.push(l),
                    Read::Line(_) => {}
                    Read::Eof | Read::Timeout => return Sent { received },
                }
            }
        }
        Sent { received }
    })
}

/// `kill -9` while two clients send a burst of `per_sender` lines each: after the restart
/// the newcomer's replay is the server's relay order (the observer's, which gets every line)
/// up to where the kill struck: every line any client received is in it, in order, once,
/// none lost before it. With a `history` smaller than the burst the log is being compacted
/// when the kill comes (`Rewrite::UnderWay`: its new file is there beside the old), and the
/// replay is the last `history` of it.
fn kill_9_in_a_burst(history: usize, per_sender: usize, kill_after: usize, rewrite: Rewrite) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let history_flag = history.to_string();
    let flags = ["--history", history_flag.as_str()];
    let server = start(dir.path(), &flags);
    let addr = server.addr();
    let mut obs = Client::join(addr, "obs");
    let ann = burst(addr, "ann", per_sender, |i| format!("a{i}"));
    let bob = burst(addr, "bob", per_sender, |i| format!("/me b{i}"));
    let mut seen = Vec::new();
    let mut killed = false;
    loop {
        match obs.read_line_until(Instant::now() + DEADLINE) {
            Read::Line(l) if is_chat(&l) => seen.push(l),
            Read::Line(_) => {}
            Read::Eof => break,
            Read::Timeout => panic!("the burst stalled after {} lines", seen.len()),
        }
        if seen.len() == kill_after && !killed {
            server.signal(libc::SIGKILL);
            killed = true;
        }
    }
    assert!(
        killed,
        "the burst ended before the kill: {} lines",
        seen.len()
    );
    let mut others: Vec<String> = Vec::new();
    for sender in [ann, bob] {
        others.extend(sender.join().expect("sender thread").received);
    }
    drop(server);
    let new_file = dir.path().join("rooms").join("general.log.tmp");
    assert_eq!(new_file.exists(), rewrite == Rewrite::UnderWay);

    let server = start(dir.path(), &flags);
    let got = replay(server.addr(), "cid");
    let loaded = start_line(&server);
    assert!(
        !loaded.contains("torn") && !loaded.contains("damaged"),
        "{loaded}"
    );
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "an entry twice: {got:?}");
    // Each sender's lines in the replay follow each other: none lost in between.
    const SENDERS: [&str; 2] = ["MSG ann a", "ACTION bob b"];
    for prefix in SENDERS {
        let n = numbers(got.iter().map(String::as_str), prefix);
        assert!(n.windows(2).all(|w| w[1] == w[0] + 1), "{prefix}: {n:?}");
    }
    // Mid-burst: the server had not read the whole burst when it died.
    let last = per_sender - 1;
    assert!(
        !SENDERS
            .iter()
            .all(|p| got.iter().any(|l| *l == format!("{p}{last}"))),
        "the kill came after the burst"
    );
    // The observer saw the relay order: the replay is that order, from where the history
    // starts, and the observer's last line is in it.
    let start_at = seen
        .iter()
        .position(|l| *l == got[0])
        .expect("the replay starts inside what the observer saw");
    if got.len() < history {
        assert_eq!(
            start_at, 0,
            "nothing was trimmed, so nothing may be missing"
        );
    }
    let overlap = seen.len() - start_at;
    assert!(
        got.len() >= overlap,
        "{} received, {} kept",
        overlap,
        got.len()
    );
    assert_eq!(got[..overlap], seen[start_at..], "in the order relayed");
    // What the senders received (which may include lines the observer's flush did not reach
    // before the kill) is kept too, unless the history's bound let it go.
    let kept: HashSet<&String> = got.iter().collect();
    let let_go = &seen[..start_at];
    for line in &others {
        assert!(
            kept.contains(line) || let_go.contains(line),
            "{line:?} was received and is not in the history"
        );
    }
    // And on disk: every entry once, each sender's from its first line on, none missing.
    let text = std::fs::read_to_string(room_log(dir.path())).expect("the room's log");
    let frames: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split_once(' ').expect("an entry").1)
        .collect();
    let unique: HashSet<&&str> = frames.iter().collect();
    assert_eq!(unique.len(), frames.len(), "an entry twice in the file");
    for prefix in SENDERS {
        let n = numbers(frames.iter().copied(), prefix);
        let first = if got.len() < history { 0 } else { n[0] };
        assert_eq!(n, (first..first + n.len()).collect::<Vec<_>>(), "{prefix}");
    }
}

/// Whether the room's log is being rewritten when the kill comes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rewrite {
    None,
    UnderWay,
}

#[test]
fn kill_9_in_a_burst_loses_nothing_any_client_received() {
    kill_9_in_a_burst(10_000, 3_000, 1_000, Rewrite::None);
}

#[test]
fn kill_9_while_the_log_is_compacted_loses_nothing_of_the_last_history() {
    // The log is compacted past 4 x 300 = 1,200 lines; the rewrite is still settling (10 s)
    // when the kill comes, some 2,000 lines in.
    kill_9_in_a_burst(300, 2_000, 2_000, Rewrite::UnderWay);
}

#[test]
fn a_torn_last_line_is_dropped_at_every_offset_and_the_next_message_starts_its_own_line() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let server = start(dir.path(), &[]);
    let mut ann = Client::join(server.addr(), "ann");
    let mut obs = Client::join(server.addr(), "obs");
    ann.expect("JOIN obs");
    for text in ["one", "two", "three"] {
        ann.send(text);
    }
    obs.expect("MSG ann one");
    obs.expect("MSG ann two");
    obs.expect("MSG ann three");
    stop_with(server, [ann, obs]);

    let path = room_log(dir.path());
    let whole = std::fs::read(&path).expect("the room's log");
    let last = whole[..whole.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .expect("several lines")
        + 1;
    for cut in last..whole.len() {
        std::fs::write(&path, &whole[..cut]).expect("tear the log");
        let server = start(dir.path(), &[]);
        assert_eq!(
            replay(server.addr(), "cid"),
            ["MSG ann one", "MSG ann two"],
            "cut at {cut}"
        );
        let loaded = start_line(&server);
        let torn = loaded.contains("(1 torn last lines cut off)");
        assert_eq!(torn, cut > last, "cut at {cut}: {loaded}");
        if cut == last + (whole.len() - last) / 2 {
            let mut ann = Client::join(server.addr(), "ann");
            ann.send("four");
            ann.sync();
            stop_with(server, [ann]);
            let server = start(dir.path(), &[]);
            assert_eq!(
                replay(server.addr(), "cid"),
                ["MSG ann one", "MSG ann two", "MSG ann four"]
            );
        }
    }
}

/// Nothing may be written for `flags`, and a restart without them replays nothing.
#[track_caller]
fn writes_nothing(flags: &[&str], says: &str) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let server = start(dir.path(), flags);
    let mut ann = Client::join(server.addr(), "ann");
    let mut obs = Client::join(server.addr(), "obs");
    ann.expect("JOIN obs");
    ann.send("gone with the restart");
    obs.expect("MSG ann gone with the restart");
    assert_eq!(server.wait_for_log(says, 1), 1, "{}", server.log());
    stop_with(server, [ann, obs]);
    assert!(!room_log(dir.path()).exists(), "{flags:?} wrote history");
    let server = start(dir.path(), &[]);
    assert_eq!(replay(server.addr(), "cid"), Vec::<String>::new());
}

#[test]
fn history_0_writes_no_history() {
    writes_nothing(&["--history", "0"], "loaded 0 history entries of 0 rooms");
}

#[test]
fn no_persist_writes_nothing() {
    writes_nothing(
        &["--no-persist"],
        "--no-persist: history and notes are kept in memory only",
    );
}

#[test]
fn a_server_and_a_client_of_one_user_share_the_state_directory() {
    // Both default to ~/.local/state/lanchat: the client's typed-input history is the file
    // `history` there, so the server's room logs must live under another name (they were a
    // directory `history/`, which then could not be made: every message stayed in memory).
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(dir.path().join("history"), "#V2\nsomething typed\n").expect("input history");
    let server = start(dir.path(), &[]);
    let mut ann = Client::join(server.addr(), "ann");
    ann.send("kept on disk");
    ann.sync();
    stop_with(server, [ann]);
    let server = start(dir.path(), &[]);
    assert!(
        !server.log().contains("state directory failing"),
        "{}",
        server.log()
    );
    let replayed = replay(server.addr(), "bob");
    assert!(
        replayed.iter().any(|l| l.ends_with("MSG ann kept on disk")),
        "{replayed:?}"
    );
    let typed = std::fs::read_to_string(dir.path().join("history")).expect("still a file");
    assert!(typed.contains("something typed"), "{typed}");
}
