//! The built server's time, moved by a test: the file its test clock reads
//! (`lanchat_server::clock::FileClock`, named by `LANCHAT_TEST_CLOCK`). On it the server's time
//! (its loop's and its logger's) stands still from its start until the test moves it, as a
//! [`crate::TestServer::with_manual_clock`]'s does: a test of the binary jumps over a retry
//! interval or a quiet window instead of waiting for it, and to the millisecond.
//!
//! Moving the time does not wake the server's loop: its next round sees the new time, so the
//! test then has it run one (a client's [`crate::Client::sync`], say). Everything a timer did
//! in that round is done before the round's answers are written, or (disk work, run after the
//! writes) before the answers of the round after.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use lanchat_server::clock::TEST_CLOCK_VAR;

/// The offset file of a server's test clock, in a temporary directory of its own.
pub struct BinaryClock {
    dir: tempfile::TempDir,
    moved: Duration,
}

impl BinaryClock {
    /// A clock not moved yet.
    #[track_caller]
    pub fn new() -> BinaryClock {
        let clock = BinaryClock {
            dir: tempfile::tempdir().expect("temporary directory"),
            moved: Duration::ZERO,
        };
        clock.write();
        clock
    }

    /// Run the server `cmd` starts on this clock.
    pub fn set_on(&self, cmd: &mut Command) {
        cmd.env(TEST_CLOCK_VAR, self.path());
    }

    /// Move the server's time forward by `by` (seen from its next round on).
    #[track_caller]
    pub fn advance(&mut self, by: Duration) {
        self.moved += by;
        self.write();
    }

    /// How far the time has been moved.
    pub fn moved(&self) -> Duration {
        self.moved
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("offset-ms")
    }

    /// The whole new value at once: written beside, then renamed over the old.
    #[track_caller]
    fn write(&self) {
        let new = self.dir.path().join("offset-ms.new");
        std::fs::write(&new, format!("{}\n", self.moved.as_millis()))
            .and_then(|()| std::fs::rename(&new, self.path()))
            .expect("write the test clock's file");
    }
}

impl Default for BinaryClock {
    fn default() -> Self {
        Self::new()
    }
}
