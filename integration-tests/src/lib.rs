//! `integration-tests`: lanchat tested from the outside, over real loopback TCP.
//!
//! The library is the harness the tests share: [`TestServer`] runs the server in-process on
//! `127.0.0.1:0`, [`ServerProcess`] runs the built `lanchat-server` binary, and [`Client`] is a
//! line client whose every read has a deadline. Both server kinds stop when dropped, even when
//! a test fails. The load generator is [`load`], run by `lanchat-load` (`src/bin/`).

pub mod client;
pub mod identity;
pub mod load;
pub mod procfs;
pub mod server;

pub use client::Client;
pub use server::{bin_path, ServerProcess, TestServer};

use std::time::Duration;

/// How long a test waits for any one expected line before failing.
pub const DEADLINE: Duration = Duration::from_secs(10);

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
