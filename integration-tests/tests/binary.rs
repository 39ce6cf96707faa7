//! The built `lanchat-server` binary: flags, env vars, the address line, signals.

use std::process::Command;
use std::time::Duration;

use integration_tests::{bin_path, Client, ServerProcess};

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
    let mut cmd = Command::new(bin_path("lanchat-server"));
    cmd.args(["--bind", "127.0.0.1", "--port", "0", "--no-discovery"])
        .env("LANCHAT_MAX_CLIENTS", "1");
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
    let status = server
        .wait_exit(Duration::from_secs(3))
        .expect("exits within 3 s");
    assert_eq!(status.code(), Some(0));
    assert!(server.log().contains("shutting down"));
}
