//! Rooms' history across a real restart of the real binary (SIGTERM, and `kill -9`): every
//! room's history is in a file of its own in the state directory, and a room that has history
//! but nobody in it after the restart comes back, with that history, when someone joins it;
//! until then `/rooms` does not list it. See docs/ROBUSTNESS.md, "History and notes on disk".

use std::path::Path;

use integration_tests::state::{start_in as start, start_line, stop_with};
use integration_tests::Client;

/// Join `room` as `c` and return what the joiner got: `ROOM`, then the frames of the history
/// replay (`HIST <ms> ` taken off), then the member list's lines.
fn join_room(c: &mut Client, room: &str) -> (String, Vec<String>, Vec<String>) {
    c.send(&format!("/join {room}"));
    let head = c.expect_prefix("ROOM ");
    let (lines, end) = c.read_until_prefix("WHOEND ");
    let (hist, mut who): (Vec<String>, Vec<String>) =
        lines.into_iter().partition(|l| l.starts_with("HIST "));
    who.push(end);
    let frames = hist
        .iter()
        .map(|l| l.splitn(3, ' ').nth(2).expect("a frame").to_owned())
        .collect();
    (head, frames, who)
}

fn log_file(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join("rooms").join(file))
        .unwrap_or_else(|e| panic!("rooms/{file}: {e}"))
}

#[test]
fn history_in_two_rooms_survives_a_restart_and_comes_back_when_someone_joins() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let server = start(dir.path(), &[]);
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    for room in ["#dev", "#Ops.2"] {
        for c in [&mut ann, &mut bob] {
            c.send(&format!("/join {room}"));
            c.read_until_prefix(&format!("WHOEND {room}"));
        }
    }
    ann.send("/in #dev /topic release on friday");
    ann.send("/in #dev is the build green?");
    ann.send("/in #dev /me checks");
    bob.send("/in #ops.2 on call: bob");
    ann.send("in general");
    // What the others received live: the replay after the restart must be exactly this. Each
    // sync proves the server handled what its client sent before it.
    let mut seen = ann.sync();
    seen.extend(bob.sync());
    seen.extend(ann.sync());
    let kept = |prefixes: &[&str]| -> Vec<String> {
        seen.iter()
            .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
            .cloned()
            .collect()
    };
    let dev = kept(&["MSG #dev ", "ACTION #dev "]);
    let ops = kept(&["MSG #Ops.2 "]);
    let general = kept(&["MSG ann "]);
    assert_eq!((dev.len(), ops.len(), general.len()), (2, 1, 1), "{seen:?}");
    stop_with(server, [ann, bob]);

    assert!(log_file(dir.path(), "dev.log").starts_with("lanchat-history 1 #dev\n"));
    assert!(
        log_file(dir.path(), "Ops%2E2.log").starts_with("lanchat-history 1 #Ops.2\n"),
        "a room name's `.` is escaped in its file name"
    );
    let server = start(dir.path(), &[]);
    assert!(
        start_line(&server).contains("loaded 4 history entries of 3 rooms"),
        "{}",
        server.log()
    );
    let mut cid = Client::join(server.addr(), "cid");
    cid.send("/rooms");
    cid.expect("ROOMLIST #general 1");
    cid.expect("ROOMLISTEND 1");
    let (head, frames, who) = join_room(&mut cid, "#DEV");
    assert_eq!(
        head, "ROOM #dev",
        "its old spelling; the topic did not survive"
    );
    assert_eq!(frames, dev, "the live frames, in order");
    assert_eq!(who, ["WHO #dev cid", "WHOEND #dev 1"]);
    let (head, frames, _) = join_room(&mut cid, "#ops.2");
    assert_eq!(head, "ROOM #Ops.2");
    assert_eq!(frames, ops);
    cid.send("/rooms");
    cid.expect("ROOMLIST #general 1");
    cid.expect("ROOMLIST #dev 1");
    cid.expect("ROOMLIST #Ops.2 1");
    cid.expect("ROOMLISTEND 3");
    // #general's replay came with the welcome, as before rooms.
    let mut dan = Client::connect(server.addr());
    dan.expect_prefix("HELLO ");
    dan.send("dan");
    dan.expect_prefix("WELCOME dan ");
    let hist = dan.expect_prefix("HIST ");
    assert_eq!(hist.splitn(3, ' ').nth(2), Some(general[0].as_str()));
    // A room's new lines go on in the same file after the restart.
    cid.send("/in #dev after the restart");
    cid.sync();
    stop_with(server, [cid, dan]);
    let text = log_file(dir.path(), "dev.log");
    assert!(
        text.ends_with(" MSG #dev cid after the restart\n"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 4, "{text}");
}

#[test]
fn after_kill_9_every_room_line_anyone_received_is_in_that_rooms_history_once() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let flags = ["--history", "1000"];
    let server = start(dir.path(), &flags);
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    for room in ["#a", "#b"] {
        for c in [&mut ann, &mut bob] {
            c.send(&format!("/join {room}"));
            c.read_until_prefix(&format!("WHOEND {room}"));
        }
    }
    let mut burst = String::new();
    for i in 0..200 {
        let room = if i % 2 == 0 { "#a" } else { "#b" };
        burst.push_str(&format!("/in {room} m{i}\n"));
    }
    ann.send_raw(burst.as_bytes());
    // Kill once bob has received half of it: what he got before the kill must all be kept.
    let mut got: Vec<String> = Vec::new();
    while got.len() < 100 {
        let line = bob.line();
        if line.starts_with("MSG #") {
            got.push(line);
        }
    }
    server.signal(libc::SIGKILL);
    drop(server);

    let server = start(dir.path(), &flags);
    let mut cid = Client::join(server.addr(), "cid");
    for room in ["#a", "#b"] {
        let (_, frames, _) = join_room(&mut cid, room);
        let received: Vec<&String> = got
            .iter()
            .filter(|l| l.starts_with(&format!("MSG {room} ")))
            .collect();
        assert!(
            frames.len() >= received.len(),
            "{room}: {} kept",
            frames.len()
        );
        assert_eq!(
            frames[..received.len()].iter().collect::<Vec<_>>(),
            received,
            "{room}: in the order relayed, none lost"
        );
        // And the rest (relayed, not yet read by bob when the kill came) follows on, once.
        let first = if room == "#a" { 0 } else { 1 };
        let want: Vec<String> = (0..frames.len())
            .map(|k| format!("MSG {room} ann m{}", first + 2 * k))
            .collect();
        assert_eq!(frames, want, "{room}: none twice, none skipped");
    }
}
