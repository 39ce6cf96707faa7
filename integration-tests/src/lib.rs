//! `integration-tests`: lanchat tested from the outside, over real loopback TCP.
//!
//! The library is the harness the tests share: [`TestServer`] runs the server in-process on
//! `127.0.0.1:0`, [`ServerProcess`] runs the built `lanchat-server` binary, and [`Client`] is a
//! line client whose every read has a deadline. Both server kinds stop when dropped, even when
//! a test fails; [`state`] starts the binary on a state directory of the test's own; [`relay`]
//! records what crosses the wire between a client and a server; [`clock`] moves the built
//! server's time. The load
//! generator is [`load`], run by `lanchat-load` (`src/bin/`).

pub mod client;
pub mod clock;
pub mod identity;
pub mod load;
pub mod procfs;
pub mod relay;
pub mod server;
pub mod state;

pub use client::{tcp_from, Client};
pub use server::{bin_path, free_port, ServerProcess, TestServer, TRUSTED_LOOPBACK};

use std::time::Duration;

/// How long a test waits for any one expected line before failing.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// A name as long as the name rules allow in bytes, unique for each `i` below 10,000: 24
/// characters of 4 bytes (CJK extension B ideographs), 96 bytes. For rooms whose member list is
/// as big as it gets.
pub fn longest_name(i: usize) -> String {
    format!("{i:04}")
        .chars()
        .filter_map(|d| char::from_u32(0x2_0000 + d.to_digit(10)?))
        .chain(std::iter::repeat_n('\u{2_0010}', 20))
        .collect()
}

/// The built `lanchat` client's fixed waits, shortened for a test (`lanchat_client::waits`):
/// the look for a word after the server's greeting (which comes in the same write as the
/// greeting, so a moment finds it) and discovery (replies on loopback take milliseconds).
/// The wait for the answer to a quit is left as a user has it: a test of a quit never answered
/// shortens it itself ([`lanchat_client::waits::QUIT_VAR`]).
pub fn short_client_waits(cmd: &mut std::process::Command) -> &mut std::process::Command {
    use lanchat_client::waits::{DISCOVERY_VAR, EARLY_WORD_VAR};
    cmd.env(EARLY_WORD_VAR, "50").env(DISCOVERY_VAR, "300")
}

/// A child process that is killed (if still running) and reaped when this is dropped, so a
/// test that fails half-way leaves nothing behind.
pub struct ChildGuard(pub std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}
