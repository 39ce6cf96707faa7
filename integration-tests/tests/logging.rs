//! The built `lanchat-server`'s log: never blocking on a stderr nobody reads, the time or the
//! journal priority each line starts with, `RUST_LOG` directives and what is said when one is
//! not understood, and bursts of one kind summarised instead of written line by line.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Instant;

use integration_tests::clock::BinaryClock;
use integration_tests::procfs::wait_for;
use integration_tests::{ChildGuard, Client, ServerProcess, DEADLINE};
use lanchat_server::logger::limiter::WINDOW;

/// A pipe: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two fds, each owned once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: fresh fds from pipe(2), owned by nothing else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Set or clear O_NONBLOCK on `fd`.
fn set_nonblocking(fd: &OwnedFd, on: bool) {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on an fd we own; F_GETFL/F_SETFL touch only its flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        assert!(flags >= 0, "F_GETFL");
        let flags = if on {
            flags | libc::O_NONBLOCK
        } else {
            flags & !libc::O_NONBLOCK
        };
        assert_eq!(libc::fcntl(fd, libc::F_SETFL, flags), 0, "F_SETFL");
    }
}

/// Fill the pipe whose write end is `w` until it takes no more; how many bytes that was.
fn fill(w: &OwnedFd) -> usize {
    set_nonblocking(w, true);
    let chunk = [b'x'; 4096];
    let mut total = 0;
    loop {
        // SAFETY: writes from a live buffer to an fd we own.
        let n = unsafe { libc::write(w.as_raw_fd(), chunk.as_ptr().cast(), chunk.len()) };
        if n <= 0 {
            break;
        }
        total += usize::try_from(n).expect("positive");
    }
    // The server must meet a blocking stderr, as a real stalled pipe is.
    set_nonblocking(w, false);
    total
}

/// Collects what arrives on `r` on a thread; the text so far.
fn collect(r: OwnedFd) -> Arc<Mutex<Vec<u8>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&got);
    std::thread::spawn(move || {
        let mut r = std::fs::File::from(r);
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().expect("lock").extend_from_slice(&buf[..n]);
        }
    });
    got
}

/// `(st_dev, st_ino)` of `fd`, as `JOURNAL_STREAM` names a stream.
fn identity(fd: &OwnedFd) -> (u64, u64) {
    // SAFETY: fstat fills the `stat` on this frame; all-zero is a valid start.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: the descriptor is open while `fd` is borrowed; fstat writes only `st`.
    let rc = unsafe { libc::fstat(fd.as_raw_fd(), &mut st) };
    assert_eq!(rc, 0, "fstat");
    #[allow(clippy::useless_conversion)]
    (u64::from(st.st_dev), u64::from(st.st_ino))
}

/// Run the server with `env` until it has printed its address, stop it with SIGTERM, and
/// return all it wrote to stderr.
#[track_caller]
fn stderr_of_a_short_run(env: &[(&str, &str)]) -> String {
    let mut cmd = ServerProcess::command(&[]);
    cmd.env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = ChildGuard(cmd.spawn().expect("spawn lanchat-server"));
    let stdout = child.0.stdout.take().expect("stdout");
    let mut stderr = child.0.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("read stdout");
    assert!(first.starts_with("listening on "), "{first:?}");
    let pid = i32::try_from(child.0.id()).expect("pid");
    // SAFETY: kill(2) on our unreaped child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    // stderr ends when the process does.
    rx.recv_timeout(DEADLINE)
        .expect("the server exits on SIGTERM")
}

/// Join as `name` and quit: one join line and one leave line in the log.
fn visit(addr: std::net::SocketAddr, name: &str) {
    let mut c = Client::join(addr, name);
    c.send("<quit>");
    c.expect_prefix("BYE ");
}

#[test]
fn a_stderr_nobody_reads_does_not_stop_the_server() {
    const LOST: &str = " log line(s) dropped: stderr was not being read";
    // Regression: every join and leave is logged at info level, and a blocking write to a
    // full stderr pipe (a stalled `| tee`, a supervisor that does not read) froze the loop.
    // The pipe is full before the server starts, so every line it logs meets a full pipe.
    let (read_end, write_end) = pipe();
    let filled = fill(&write_end);
    let mut cmd = ServerProcess::command(&["--rate", "0"]);
    cmd.env("RUST_LOG", "debug");
    let server = ServerProcess::spawn_with_stderr(cmd, Some(write_end.into()));
    for i in 0..100 {
        visit(server.addr(), &format!("v{i}"));
    }
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    bob.send("still here");
    ann.expect("MSG bob still here");

    // Once stderr is read again, the next line (the signal's, or the notice's own retry) says
    // how many were lost.
    let got = collect(read_end);
    server.signal(libc::SIGTERM);
    let log = wait_for(
        DEADLINE,
        || {
            let bytes = got.lock().expect("lock");
            String::from_utf8_lossy(bytes.get(filled..).unwrap_or_default()).into_owned()
        },
        |log| log.contains(LOST),
    );
    let lost: u64 = log
        .lines()
        .find_map(|l| l.split(" WARN  ").nth(1)?.strip_suffix(LOST))
        .map(|n| n.replace(',', "").parse().expect("a count"))
        .unwrap_or_else(|| panic!("no count of lost lines in:\n{log}"));
    assert!(
        lost >= 20,
        "at least one burst was lost, not {lost}:\n{log}"
    );
}

#[test]
fn lines_start_with_the_local_time_in_rfc3339() {
    // A POSIX TZ rule, so no time-zone files are needed: India, 5:30 east of UTC.
    let tz = "IST-5:30";
    let minute = || {
        let out = Command::new("date")
            .env("TZ", tz)
            .arg("+%Y-%m-%dT%H:%M")
            .output()
            .expect("run date");
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .trim()
            .to_owned()
    };
    let before = minute();
    let log = stderr_of_a_short_run(&[("TZ", tz), ("RUST_LOG", "info")]);
    let after = minute();
    let start = log
        .lines()
        .find(|l| l.contains(" INFO  lanchat-server "))
        .unwrap_or_else(|| panic!("no start line in:\n{log}"));
    // 2026-12-04T17:45:02.120+05:30 INFO  lanchat-server ...
    let (time, _) = start.split_once(' ').expect("a space");
    assert_eq!(time.len(), "2026-12-04T17:45:02.120+05:30".len(), "{start}");
    assert!(time.ends_with("+05:30"), "{start}");
    assert!(
        time.starts_with(&before) || time.starts_with(&after),
        "{start}: not between {before} and {after}"
    );
    for line in log.lines() {
        assert!(line.get(23..29) == Some("+05:30"), "{line}");
    }
}

#[test]
fn under_journald_lines_carry_priorities_and_no_time() {
    let run = |journal_stream: &dyn Fn(&OwnedFd) -> String| {
        let (read_end, write_end) = pipe();
        let mut cmd = ServerProcess::command(&[]);
        cmd.env("JOURNAL_STREAM", journal_stream(&write_end))
            .env("RUST_LOG", "info,garbage");
        let mut server = ServerProcess::spawn_with_stderr(cmd, Some(write_end.into()));
        let got = collect(read_end);
        server.signal(libc::SIGTERM);
        server.wait_exit(DEADLINE).expect("exits");
        wait_for(
            DEADLINE,
            || String::from_utf8_lossy(&got.lock().expect("lock")).into_owned(),
            |log| log.contains("shutting down"),
        )
    };

    let log = run(&|w| {
        let (dev, ino) = identity(w);
        format!("{dev}:{ino}")
    });
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("<4>RUST_LOG=\"info,garbage\" not understood")),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("<6>lanchat-server ")),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("<4>") || l.starts_with("<6>")),
        "{log}"
    );

    // The variable inherited, but stderr is not the journal's stream: times, as anywhere else.
    let log = run(&|w| {
        let (dev, ino) = identity(w);
        format!("{dev}:{}", ino + 1)
    });
    assert!(
        log.lines().all(|l| l.as_bytes().get(10) == Some(&b'T')),
        "{log}"
    );
}

#[test]
fn rust_log_takes_directives_and_says_what_it_did_not_understand() {
    let start = "INFO  lanchat-server ";
    let warning = "not understood";
    // (RUST_LOG, start line logged?, warning)
    for (value, started, warned) in [
        ("info", true, None),
        ("info,mio=warn", true, None),
        ("warn", false, None),
        ("info,lanchat_server=warn", false, None),
        (
            "garbage",
            true,
            Some(
                "WARN  RUST_LOG=\"garbage\" not understood: \"garbage\" is neither a level \
                 (off, error, warn, info, debug, trace) nor a log target here \
                 (lanchat_server, mio); logging at info",
            ),
        ),
        (
            "error,lanchat_server=chatty",
            false,
            Some("\"lanchat_server=chatty\" is not a directive"),
        ),
    ] {
        let log = stderr_of_a_short_run(&[("RUST_LOG", value)]);
        assert_eq!(log.contains(start), started, "RUST_LOG={value}:\n{log}");
        match warned {
            Some(w) => assert!(log.contains(w), "RUST_LOG={value}:\n{log}"),
            None => assert!(!log.contains(warning), "RUST_LOG={value}:\n{log}"),
        }
    }
}

#[test]
fn a_burst_of_one_kind_is_summarised_on_time_without_another_line_to_carry_it() {
    let mut clock = BinaryClock::new();
    let mut cmd = ServerProcess::command(&["--rate", "0"]);
    cmd.env("RUST_LOG", "info");
    clock.set_on(&mut cmd);
    let server = ServerProcess::spawn(cmd);
    let visits = 300;
    let started = Instant::now();
    // The first join is a client that stays, to have the loop run a round later: its `/who`
    // logs nothing.
    let mut watcher = Client::join(server.addr(), "watcher");
    for i in 1..visits {
        visit(server.addr(), &format!("v{i}"));
    }
    let elapsed = started.elapsed().as_secs();
    // The last visit's own lines may still be on their way; the bound does not need them.
    let written = server.log().matches(" joined as ").count();
    // A burst of 20, then 5 a second (the logger's limits).
    let most = 20 + 5 * (elapsed as usize + 1);
    assert!(
        (20..=most).contains(&written),
        "{written} join lines for {visits} joins in {elapsed} s (at most {most}):\n{}",
        server.log()
    );
    // Nothing happens after the burst, so no line comes to carry the count: the loop's timer
    // has the logger write it once the quiet window is over. The server's clock is moved past
    // the window, and its loop runs a round. Written and counted joins add up to every join.
    let summarised = |log: &str| -> usize {
        log.lines()
            .filter(|l| l.contains(" more joins in the last "))
            .map(|l| {
                let count = l.split("... and ").nth(1).and_then(|s| s.split(' ').next());
                count.map_or(0, |c| c.replace(',', "").parse().expect("a count"))
            })
            .sum()
    };
    clock.advance(WINDOW);
    watcher.sync();
    let log = wait_for(
        DEADLINE,
        || server.log(),
        |log| log.matches(" joined as ").count() + summarised(log) >= visits,
    );
    let written = log.matches(" joined as ").count();
    assert_eq!(written + summarised(&log), visits, "{log}");
    assert!(summarised(&log) >= 100, "{log}");
    let summary = log
        .lines()
        .find(|l| l.contains(" more joins in the last 1"))
        .unwrap_or_else(|| panic!("no summary over 1x s in:\n{log}"));
    assert!(summary.contains(" INFO  ... and "), "{summary}");
    assert!(log.contains(" more leaves in the last "), "{log}");
}

/// The line of `log` that contains `needle`; panics, showing the log, when there is none.
#[track_caller]
fn line_with<'a>(log: &'a str, needle: &str) -> &'a str {
    log.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{log}"))
}

#[test]
fn joins_leaves_renames_and_refusals_are_logged_under_numbers_never_reused() {
    let server = ServerProcess::start(&[
        "--rate",
        "0",
        "--max-line",
        "128",
        "--max-clients",
        "3",
        "--max-per-host",
        "1",
    ]);
    let addr = server.addr();
    let port = |c: &Client| c.stream().local_addr().expect("local address").port();

    let mut ann = Client::join(addr, "ann");
    let ann_port = port(&ann);
    ann.send("secret words one");
    ann.send("/away secret words two");
    ann.expect("AWAY ann secret words two");
    ann.send("/quit secret words three");
    ann.expect_prefix("BYE ");
    ann.expect_eof();
    // Its socket goes too (until then the server holds it, lingering, and it counts).
    drop(ann);
    // bob takes the slot ann had; his number is new.
    let mut bob = Client::join(addr, "bob");
    let bob_port = port(&bob);
    bob.send("/nick rob");
    bob.expect("NICK bob rob");
    let mut dan = Client::connect(addr);
    dan.expect_prefix("HELLO ");
    dan.send("ROB");
    dan.expect_prefix("ERR name-taken ");
    dan.send("dan");
    dan.expect_prefix("WELCOME dan ");
    bob.expect("JOIN dan");
    bob.send(&"x".repeat(200));
    bob.expect_prefix("ERR line-too-long ");
    // From another address: the first is let in (3 connections, the most), the second is over
    // --max-per-host, and one more from here finds the server full.
    let other = "127.0.0.2".parse().expect("an address");
    let mut fourth = Client::connect_from(other, addr);
    fourth.expect_prefix("HELLO ");
    let mut fifth = Client::connect_from(other, addr);
    fifth.expect_prefix("ERR too-many-connections ");
    let fifth_port = port(&fifth);
    let mut sixth = Client::connect(addr);
    sixth.expect_prefix("ERR server-full ");
    let sixth_port = port(&sixth);
    bob.sync();

    server.wait_for_log(" refused: server full", 1);
    let log = server.log();
    let want = [
        format!("#1 joined as ann from 127.0.0.1:{ann_port} (1 online)"),
        "#1 ann left (quit, 0 online)".to_owned(),
        format!("#2 joined as bob from 127.0.0.1:{bob_port} (1 online)"),
        "#2 bob is now rob".to_owned(),
        "#3: name \"ROB\" refused (taken)".to_owned(),
        "#3 joined as dan from 127.0.0.1:".to_owned(),
        "#2 rob sent a line over 128 bytes; dropped".to_owned(),
        format!("#5 from 127.0.0.2:{fifth_port} refused: 127.0.0.2 is over --max-per-host"),
        format!("#6 from 127.0.0.1:{sixth_port} refused: server full (3 connections)"),
    ];
    let mut at = 0;
    for w in &want {
        let line = line_with(&log, w);
        let found = log.find(line).expect("a line of the log");
        assert!(found >= at, "{w:?} out of order in:\n{log}");
        at = found;
        assert!(line.contains(" INFO  #"), "{line}");
    }
    // One line per event: ann's join and leave once each, and never what anyone wrote.
    assert_eq!(log.matches("joined as ann").count(), 1, "{log}");
    assert_eq!(log.matches("ann left").count(), 1, "{log}");
    assert!(!log.contains("secret"), "{log}");
    drop(fourth);
}

#[test]
fn rate_limits_and_silent_connections_are_logged_and_each_kind_can_be_turned_down() {
    let mut cmd =
        ServerProcess::command(&["--rate", "1", "--burst", "2", "--handshake-timeout", "1"]);
    // Joins turned down alone, through their kind's target: everything else still logged.
    cmd.env("RUST_LOG", "info,lanchat_server::join=warn");
    let server = ServerProcess::spawn(cmd);
    let mut eve = Client::join(server.addr(), "eve");
    for i in 0..5 {
        eve.send(&format!("line {i}"));
    }
    eve.expect_prefix("ERR rate-limited ");
    let mut silent = Client::connect(server.addr());
    let silent_port = silent.stream().local_addr().expect("local address").port();
    silent.expect_prefix("HELLO ");
    silent.expect_prefix("ERR handshake-timeout ");
    server.wait_for_log(" gave no name in 1 s; closed", 1);
    let log = server.log();
    line_with(&log, "#1 eve is over its own rate (--rate); lines dropped");
    line_with(
        &log,
        &format!("#2 from 127.0.0.1:{silent_port} gave no name in 1 s; closed"),
    );
    assert!(!log.contains("joined as"), "{log}");
    eve.send("/quit");
    eve.expect_prefix("BYE ");
    server.wait_for_log("#1 eve left (quit, 0 online)", 1);
}
