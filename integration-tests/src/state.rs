//! Servers that keep their state in a directory of the test's own (so nothing of another
//! test's history reaches them), and what a newcomer is replayed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Client, ServerProcess, DEADLINE};

/// The `lanchat-server` binary keeping its state in `dir`: plaintext (so the tests hold
/// whichever transport is the default), flood control off, then `extra`.
#[track_caller]
pub fn start_in(dir: &Path, extra: &[&str]) -> ServerProcess {
    ServerProcess::spawn(command_in(dir, extra))
}

/// The command [`start_in`] runs, to adjust (say, its `RUST_LOG`) before
/// [`ServerProcess::spawn`].
pub fn command_in(dir: &Path, extra: &[&str]) -> Command {
    let mut args = vec!["--plaintext", "--rate", "0", "--state-dir"];
    args.push(dir.to_str().expect("a UTF-8 temporary path"));
    args.extend_from_slice(extra);
    ServerProcess::command(&args)
}

/// Stop `server` with SIGTERM and wait for its exit, which must be a clean one. (With clients
/// still connected it waits for them up to its flush deadline: see [`stop_with`].)
#[track_caller]
pub fn stop(server: ServerProcess) {
    stop_with(server, []);
}

/// [`stop`], with `clients` still connected: each reads up to its `BYE` and the end of the
/// stream, then closes its side, so the server need not wait out its flush deadline for them.
#[track_caller]
pub fn stop_with(mut server: ServerProcess, clients: impl IntoIterator<Item = Client>) {
    server.signal(libc::SIGTERM);
    for mut c in clients {
        c.read_until_prefix("BYE ");
        c.expect_eof();
    }
    let status = server
        .wait_exit(DEADLINE)
        .expect("the server exits on SIGTERM");
    assert!(status.success(), "{status}\n{}", server.log());
}

/// Join as `name` and return the frames of its history replay (`HIST <ms> ` taken off), in
/// the order they came.
#[track_caller]
pub fn replay(addr: SocketAddr, name: &str) -> Vec<String> {
    let mut c = Client::connect(addr);
    c.expect_prefix("HELLO ");
    c.send(name);
    c.expect_prefix(&format!("WELCOME {name} "));
    let (lines, _) = c.read_until_prefix("WHOEND ");
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("HIST ")?.split_once(' '))
        .map(|(_, frame)| frame.to_owned())
        .collect()
}

/// The line the server logs at start about its state directory (waiting for it).
#[track_caller]
pub fn start_line(server: &ServerProcess) -> String {
    server.wait_for_log("state directory ", 1);
    let log = server.log();
    let line = log.lines().find(|l| l.contains("state directory "));
    line.unwrap_or_else(|| panic!("no start-up line:\n{log}"))
        .to_owned()
}

/// The log of the one room there is, in state directory `dir`.
pub fn room_log(dir: &Path) -> PathBuf {
    dir.join("rooms").join("general.log")
}
