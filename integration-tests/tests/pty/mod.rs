//! A pseudo-terminal harness for the real `lanchat` binary, shared by the client's terminal
//! tests: [`Pty`] runs the client under a pty (spawned with expectrl) and collects everything
//! it writes on a reader thread; every expectation waits on that transcript with a deadline
//! and, failing, shows it. Killed when dropped, even when a test fails.

// Each test file uses the part it needs.
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

use expectrl::process::unix::{UnixProcess, WaitStatus};
use expectrl::process::Process as _;
use integration_tests::{bin_path, ServerProcess, DEADLINE};

/// Everything the client wrote so far, and how far the test has read.
#[derive(Default)]
pub struct Transcript {
    pub data: Vec<u8>,
    /// Bytes before this were matched by an earlier expectation.
    pub pos: usize,
    pub eof: bool,
}

/// `lanchat` in a pseudo-terminal. Killed (SIGKILL) and reaped on drop.
pub struct Pty {
    proc: UnixProcess,
    writer: File,
    out: Arc<(Mutex<Transcript>, Condvar)>,
    label: String,
    exited: Option<WaitStatus>,
}

impl Pty {
    /// `lanchat <args>` with `NO_COLOR=1`, `TERM=xterm`, in a 200x50 terminal.
    #[track_caller]
    pub fn spawn(label: &str, args: &[&str]) -> Pty {
        Self::spawn_env(label, args, &[("NO_COLOR", "1")])
    }

    #[track_caller]
    pub fn spawn_env(label: &str, args: &[&str], env: &[(&str, &str)]) -> Pty {
        Self::spawn_sized(label, args, env, 200)
    }

    /// As [`Pty::spawn_env`], in a terminal `cols` columns wide.
    #[track_caller]
    pub fn spawn_sized(label: &str, args: &[&str], env: &[(&str, &str)], cols: u16) -> Pty {
        // The terminal has its size before the client starts (stty, then exec), so that the
        // client never starts at the 0 x 0 of a new pty and then sees a resize.
        // The servers here speak plaintext (the harness's default); `env` may say otherwise.
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("stty cols {cols} rows 50 && exec \"$0\" \"$@\""))
            .arg(bin_path("lanchat"))
            .args(args)
            .env("TERM", "xterm")
            .env("LANCHAT_PLAINTEXT", "1")
            .env(
                "XDG_CONFIG_HOME",
                integration_tests::identity::shared_config_dir(),
            )
            .env_remove("NO_COLOR");
        integration_tests::short_client_waits(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut proc = UnixProcess::spawn_command(cmd).expect("spawn lanchat in a pty");
        proc.set_window_size(cols, 50).expect("set pty size");
        let reader = proc.get_raw_handle().expect("pty handle");
        let writer = proc.get_raw_handle().expect("pty handle");
        let out = Arc::new((Mutex::new(Transcript::default()), Condvar::new()));
        let sink = Arc::clone(&out);
        std::thread::spawn(move || read_pty(reader, &sink));
        Pty {
            proc,
            writer,
            out,
            label: label.to_owned(),
            exited: None,
        }
    }

    /// Type `keys` as they are (control characters included), once the line editor is
    /// reading keys. (Keys typed while it is not, between two lines, meet the terminal's
    /// cooked mode: Ctrl-D and Ctrl-C would mean something else there.)
    #[track_caller]
    pub fn keys(&mut self, keys: &str) {
        self.wait_for("the line editor", |t| {
            let on = rfind(&t.data, EDITING_ON);
            let off = rfind(&t.data, EDITING_OFF);
            on.is_some() && on > off
        });
        self.writer
            .write_all(keys.as_bytes())
            .and_then(|()| self.writer.flush())
            .expect("write to pty");
    }

    /// Type `line` and Enter without waiting for a line editor (for a terminal rustyline
    /// does not drive, where the terminal's cooked mode reads lines).
    #[track_caller]
    pub fn raw_line(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r").as_bytes())
            .and_then(|()| self.writer.flush())
            .expect("write to pty");
    }

    /// Type `line` and press Enter; returns once the client reads keys again (or exited).
    #[track_caller]
    pub fn line(&mut self, line: &str) {
        let before = self.editing_starts();
        self.keys(&format!("{line}\r"));
        self.wait_for("the next line", |t| {
            t.eof || count(&t.data, EDITING_ON) > before
        });
    }

    pub fn editing_starts(&self) -> usize {
        let t = self.out.0.lock().unwrap_or_else(PoisonError::into_inner);
        count(&t.data, EDITING_ON)
    }

    /// Wait until `ready` holds for the transcript (without reading any of it).
    #[track_caller]
    pub fn wait_for(&self, what: &str, ready: impl Fn(&Transcript) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        let (lock, cond) = &*self.out;
        let mut t = lock.lock().unwrap_or_else(PoisonError::into_inner);
        while !ready(&t) {
            let left = deadline.saturating_duration_since(Instant::now());
            if t.eof || left.is_zero() {
                let unread = printable(&t.data[t.pos..]);
                drop(t);
                panic!(
                    "{}: no sign of {what}; unread output:\n{unread}",
                    self.label
                );
            }
            t = cond
                .wait_timeout(t, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Wait until `needle` appears after what was matched before; returns the text up to and
    /// including it.
    #[track_caller]
    pub fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        let (lock, cond) = &*self.out;
        let mut t = lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(i) = find(&t.data[t.pos..], needle.as_bytes()) {
                let end = t.pos + i + needle.len();
                let got = String::from_utf8_lossy(&t.data[t.pos..end]).into_owned();
                t.pos = end;
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if t.eof || left.is_zero() {
                let why = if t.eof {
                    "the client exited"
                } else {
                    "timed out"
                };
                panic!(
                    "{}: {why} waiting for {needle:?}; unread output:\n{}",
                    self.label,
                    printable(&t.data[t.pos..])
                );
            }
            t = cond
                .wait_timeout(t, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Everything the client has written so far.
    pub fn transcript(&self) -> String {
        let t = self.out.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&t.data).into_owned()
    }

    /// Wait for the client to exit; its exit code (panics if it was killed by a signal).
    #[track_caller]
    pub fn expect_exit(&mut self) -> i32 {
        {
            let deadline = Instant::now() + DEADLINE;
            let (lock, cond) = &*self.out;
            let mut t = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while !t.eof {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    let unread = printable(&t.data[t.pos..]);
                    drop(t);
                    panic!("{}: still running; unread output:\n{unread}", self.label);
                }
                t = cond
                    .wait_timeout(t, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        // The pty closed, so the process is exiting: this wait is short.
        let status = self.proc.wait().expect("waitpid");
        self.exited = Some(status);
        match status {
            WaitStatus::Exited(_, code) => code,
            other => panic!(
                "{}: ended with {other:?}:\n{}",
                self.label,
                self.transcript()
            ),
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.proc.kill(expectrl::process::unix::Signal::SIGKILL);
            let _ = self.proc.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- {} transcript ---\n{}",
                self.label,
                printable(self.transcript().as_bytes())
            );
        }
    }
}

pub fn read_pty(mut reader: File, out: &(Mutex<Transcript>, Condvar)) {
    let mut buf = [0u8; 4096];
    loop {
        // Linux reports EIO on the pty master once the client side is closed.
        let n = reader.read(&mut buf).unwrap_or(0);
        let (lock, cond) = out;
        let Ok(mut t) = lock.lock() else { return };
        if n == 0 {
            t.eof = true;
            cond.notify_all();
            return;
        }
        t.data.extend_from_slice(&buf[..n]);
        cond.notify_all();
    }
}

/// Rustyline turns bracketed paste on right after putting the terminal in raw mode for a
/// line, and off when the line is done: the sign that it is reading keys.
pub const EDITING_ON: &str = "\x1b[?2004h";
pub const EDITING_OFF: &str = "\x1b[?2004l";

pub fn rfind(hay: &[u8], needle: &str) -> Option<usize> {
    hay.windows(needle.len())
        .rposition(|w| w == needle.as_bytes())
}

pub fn count(hay: &[u8], needle: &str) -> usize {
    hay.windows(needle.len())
        .filter(|w| *w == needle.as_bytes())
        .count()
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Output with escapes visible, for failure messages.
pub fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| match c {
            '\n' => "\n".to_owned(),
            c if c.is_control() => format!("\\x{:02x}", u32::from(c)),
            c => c.to_string(),
        })
        .collect()
}

/// `lanchat <addr> --name <name> --no-timestamps`, waited for until its prompt shows.
#[track_caller]
pub fn join(server: &ServerProcess, name: &str) -> Pty {
    let addr = server.addr().to_string();
    let mut pty = Pty::spawn(name, &[&addr, "--name", name, "--no-timestamps"]);
    pty.expect("* here now (");
    pty
}
