//! Restarting the server under test, as a service manager would: SIGTERM to the running one
//! (it says `BYE server shutting down` to everyone and exits once they are gone), wait until
//! it has exited, start the same command again (same flags, port and state directory, so TLS
//! clients meet the same key), and note when it prints `listening on`.
//!
//! The generator starts the new server, so it stops it too: when its [`Relaunched`] is
//! dropped (SIGTERM, then SIGKILL after [`STOP_GRACE`]), and, should the generator die first
//! (Ctrl-C, a kill, a panic that aborts), by the kernel: the child asks for SIGTERM when its
//! parent goes (`PR_SET_PDEATHSIG`).

use std::ffi::OsString;
use std::io::{self, BufRead as _, BufReader};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How the `restart` scenario restarts the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    /// The command that starts the server again: program, then arguments. It must listen on
    /// the address the clients know (the same `--port`, not 0).
    pub command: Vec<OsString>,
    /// The new server's log (its stderr) is appended here; `None` discards it.
    pub log: Option<PathBuf>,
    /// Every client must be back and settled this long after the SIGTERM, or the run fails.
    pub deadline: Duration,
    /// How long the server stays down between the old one's exit and the new one's start (a
    /// slow start, a reboot): zero restarts it at once, as a service manager does.
    pub down: Duration,
}

impl Restart {
    /// Default for [`Restart::deadline`]: the back-off's waits add up to 61 s by the sixth
    /// attempt, so a server that is back within a minute is met by every client by then.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
}

/// After SIGTERM, how long a stopping server may take before it is killed: its own flush
/// bound is 2 s (`lanchat_server::limits::SHUTDOWN_FLUSH`).
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Send SIGTERM to process `pid`.
///
/// # Errors
/// There is no such process, or it is not ours to signal.
pub(super) fn terminate(pid: u32) -> io::Result<()> {
    let pid = i32::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid, libc::SIGTERM) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What the new server's first line said, and when it came.
pub(super) type Listening = Result<(Instant, SocketAddr), String>;

/// The server started again; stopped when dropped.
pub(super) struct Relaunched {
    child: Child,
    listening: mpsc::Receiver<Listening>,
}

impl Relaunched {
    /// Start `restart`'s command. Its stdout is read on a thread of its own (the `listening
    /// on` line is timed as it comes, and the pipe never fills).
    ///
    /// # Errors
    /// The command is empty, its log cannot be opened, or it cannot be started.
    pub(super) fn start(restart: &Restart) -> io::Result<Relaunched> {
        let (program, args) = restart
            .command
            .split_first()
            .ok_or_else(|| io::Error::other("no command to start the server with"))?;
        let stderr = match &restart.log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
            None => Stdio::null(),
        };
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        // SAFETY: between fork and exec only prctl(2) runs: async-signal-safe, and it touches
        // no memory of the parent's.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let (tx, listening) = mpsc::channel();
        std::thread::Builder::new()
            .name("restarted server's stdout".into())
            .spawn(move || {
                let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
                let first = match lines.next() {
                    Some(line) => {
                        let at = Instant::now();
                        match line.strip_prefix("listening on ").map(str::parse) {
                            Some(Ok(addr)) => Ok((at, addr)),
                            _ => Err(format!(
                                "the restarted server's first line was {line:?}, not its address"
                            )),
                        }
                    }
                    None => Err(
                        "the restarted server exited before it was listening (see its \
                                 log)"
                            .to_string(),
                    ),
                };
                let _ = tx.send(first);
                // The rest (a TLS server's fingerprint) is read only so that the pipe never
                // fills; it ends when the server does.
                lines.for_each(drop);
            })?;
        Ok(Relaunched { child, listening })
    }

    /// Its process id.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `listening on` line, once it has come (or why it will not).
    pub(super) fn listening(&self) -> Option<Listening> {
        match self.listening.try_recv() {
            Ok(first) => Some(first),
            Err(mpsc::TryRecvError::Empty) => None,
            // Sent once and taken: the caller keeps what it got.
            Err(mpsc::TryRecvError::Disconnected) => None,
        }
    }
}

impl Drop for Relaunched {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = terminate(self.child.id());
            let end = Instant::now() + STOP_GRACE;
            while Instant::now() < end && matches!(self.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if let Ok(None) = self.child.try_wait() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }
}
