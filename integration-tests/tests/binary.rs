//! The built `lanchat-server` binary: flags, env vars, the address line, signals.

use std::process::Command;
use std::time::Duration;

use integration_tests::{bin_path, ChildGuard, Client, ServerProcess};

#[test]
fn port_zero_prints_the_real_port_and_serves() {
    let server = ServerProcess::start(&[]);
    assert_ne!(server.addr().port(), 0);
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    bob.send("hi ann");
    ann.expect("MSG bob hi ann");
}

#[test]
fn a_bad_flag_gives_a_clear_error_and_nonzero_exit() {
    for (args, needle) in [
        (&["--port", "99999"][..], "--port"),
        (&["--frobnicate"], "--frobnicate"),
        (&["--max-line", "5"], "--max-line"),
        (&["--rate", "fast"], "--rate"),
    ] {
        let out = Command::new(bin_path("lanchat-server"))
            .args(args)
            .output()
            .expect("run lanchat-server");
        assert!(!out.status.success(), "{args:?} should fail");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("error:") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let first = ServerProcess::start(&[]);
    let port = first.addr().port().to_string();
    let out = Command::new(bin_path("lanchat-server"))
        .args(["--bind", "127.0.0.1", "--port", &port, "--no-discovery"])
        .output()
        .expect("run lanchat-server");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot listen on 127.0.0.1:") && err.contains("in use"),
        "{err}"
    );
}

#[test]
fn flags_can_come_from_lanchat_env_vars() {
    let mut cmd = ServerProcess::command(&[]);
    cmd.env("LANCHAT_MAX_CLIENTS", "1");
    let server = ServerProcess::spawn(cmd);
    let _only = Client::join(server.addr(), "only");
    let mut refused = Client::connect(server.addr());
    refused.expect_prefix("ERR server-full ");
}

#[test]
fn sigterm_says_bye_to_everyone_and_exits_zero() {
    let mut server = ServerProcess::start(&[]);
    let mut ann = Client::join(server.addr(), "ann");
    let mut pending = Client::connect(server.addr());
    pending.expect_prefix("HELLO ");
    server.signal(libc::SIGTERM);
    ann.expect("BYE server shutting down");
    ann.expect_eof();
    pending.expect("BYE server shutting down");
    pending.expect_eof();
    // Our EOFs end the server's linger on both: it need not wait for the flush bound.
    drop((ann, pending));
    let status = server
        .wait_exit(Duration::from_secs(3))
        .expect("exits within 3 s");
    assert_eq!(status.code(), Some(0));
    assert!(server.log().contains("shutting down"));
}

#[test]
fn a_stderr_nobody_reads_does_not_stop_the_server() {
    // Regression: every join and leave is logged at info level, and a blocking write to a
    // full stderr pipe (a stalled `| tee`, a supervisor that does not read) froze the loop.
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two fds, each owned once below.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: fresh fds from pipe(2), owned by nothing else.
    let (_unread, write_end) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    let mut cmd = ServerProcess::command(&["--rate", "0"]);
    cmd.env("RUST_LOG", "debug");
    let server = ServerProcess::spawn_with_stderr(cmd, Some(write_end.into()));
    // ~150 bytes of log per visit: 1,000 visits are more than twice a 64 KiB pipe.
    for i in 0..1000 {
        let mut c = Client::join(server.addr(), &format!("v{i}"));
        c.send("<quit>");
        c.expect_prefix("BYE ");
    }
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    bob.send("still here");
    ann.expect("MSG bob still here");
}

#[test]
fn a_closed_stdout_is_no_reason_not_to_serve() {
    // Regression: the address line went out with `println!`, which panics on EPIPE.
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two fds; the read end is closed at once, the write end owned below.
    let write_end = unsafe {
        use std::os::fd::FromRawFd;
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0, "pipe");
        libc::close(fds[0]);
        std::os::fd::OwnedFd::from_raw_fd(fds[1])
    };
    let child = ServerProcess::command(&[])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lanchat-server");
    let mut child = ChildGuard(child);
    // Its log says where it listens; the pipe is read until then (bounded by the server
    // writing it, or exiting).
    let stderr = child.0.stderr.take().expect("piped stderr");
    let addr = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            let at = l.split(" on ").nth(1)?;
            at.split(' ').next()?.parse::<std::net::SocketAddr>().ok()
        })
        .expect("the server logged its address");
    let mut ann = Client::join(addr, "ann");
    ann.send("/who");
    ann.expect("WHO ann");
}
