//! The built `lanchat-server` binary: flags, env vars, the address line, signals.

use std::net::UdpSocket;
use std::process::Command;

use integration_tests::clock::BinaryClock;
use integration_tests::server::shared_state_dir;
use integration_tests::{bin_path, ChildGuard, Client, ServerProcess, DEADLINE};

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
        .env("LANCHAT_STATE_DIR", shared_state_dir())
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
fn lanchat_no_discovery_takes_the_words_systemd_users_write() {
    // A UDP socket connected to the server's port: with discovery off nothing is bound there,
    // so the probe comes back as "connection refused" at once, with no waiting for silence.
    let probe = |server: &ServerProcess| {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        socket.connect(server.addr()).expect("connect udp");
        socket.set_read_timeout(Some(DEADLINE)).expect("timeout");
        socket.send(b"LANCHAT? 1").expect("send probe");
        let mut buf = [0u8; 512];
        match socket.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => None,
            Err(e) => panic!("probe: {e}"),
        }
    };
    for (value, answers) in [
        ("1", false),
        ("yes", false),
        ("on", false),
        ("true", false),
        ("0", true),
        ("no", true),
        ("off", true),
        ("false", true),
        ("", true),
    ] {
        let mut cmd = Command::new(bin_path("lanchat-server"));
        cmd.args(["--bind", "127.0.0.1", "--port", "0"])
            .env("LANCHAT_NO_DISCOVERY", value);
        let server = ServerProcess::spawn(cmd);
        let reply = probe(&server);
        assert_eq!(
            reply.is_some(),
            answers,
            "LANCHAT_NO_DISCOVERY={value:?}: {reply:?}"
        );
    }
    let out = Command::new(bin_path("lanchat-server"))
        .env("LANCHAT_NO_DISCOVERY", "maybe")
        .output()
        .expect("run lanchat-server");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"maybe\" is not 1/0, yes/no, on/off or true/false"),
        "{err}"
    );
}

#[test]
fn sigterm_says_bye_to_everyone_and_exits_zero() {
    // On a clock that never moves, the flush bound never comes: only our EOFs can end it.
    let clock = BinaryClock::new();
    let mut cmd = ServerProcess::command(&[]);
    clock.set_on(&mut cmd);
    let mut server = ServerProcess::spawn(cmd);
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
        .wait_exit(DEADLINE)
        .expect("exits once both have closed");
    assert_eq!(status.code(), Some(0));
    assert!(server.log().contains("shutting down"));
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
