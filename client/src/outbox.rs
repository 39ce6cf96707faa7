//! Sending what the user typed. [`typed`] decides what a typed line is (nothing, the quit, or
//! a line for the server); the [`Outbox`] thread sends the lines in order, paced ([`Pacer`]) so
//! the server's flood control keeps all of them, while the user goes on typing. Lines not yet
//! sent can be dropped ([`Outbox::cancel`]: Ctrl-C during a long paste), and the quit goes out
//! after what was typed before it.
//!
//! The connection under it can change: while there is none ([`Outbox::pause`], the server
//! went away) lines wait, and a line whose write failed waits at the front; they go out, in
//! order, on the next one ([`Outbox::connect`]).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use lanchat_proto::client::is_quit;

use crate::conn::encode_line;
use crate::pacer::Pacer;

/// What one typed line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typed<'a> {
    /// Blank: nothing to send.
    Blank,
    /// The quit (with what to say to the others, `/quit <message>`): the caller ends the
    /// session.
    Quit(Option<&'a str>),
    /// A line for the server.
    Line(&'a str),
}

/// Classify one typed line.
pub fn typed(line: &str) -> Typed<'_> {
    if line.trim().is_empty() {
        Typed::Blank
    } else if is_quit(line) {
        match lanchat_proto::ClientMsg::parse(line) {
            Ok(lanchat_proto::ClientMsg::Quit(message)) => Typed::Quit(message),
            _ => Typed::Quit(None),
        }
    } else {
        Typed::Line(line)
    }
}

/// A typed line cut into lines the server takes (`max_line` bytes at most on the wire, without
/// the `\n`: the server's `LIMIT max-line`), at spaces where it can be, never inside a
/// character. A message to someone (`/msg bob ...`) or an action (`/me ...`) keeps its command
/// on every piece, and a line done in a room (`/in #room ...`) its room. A line that fits comes
/// back as it is.
pub fn split_long(line: &str, max_line: usize) -> Vec<String> {
    let max = max_line;
    if encode_line(line).len() <= max + 1 {
        return vec![line.to_owned()];
    }
    if let Ok(lanchat_proto::ClientMsg::In { room, line: inner }) =
        lanchat_proto::ClientMsg::parse(line)
    {
        let head = format!("/in {room} ");
        let room_left = max.saturating_sub(head.len()).max(1);
        return split_long(inner, room_left)
            .into_iter()
            .map(|piece| format!("{head}{piece}"))
            .collect();
    }
    let (head, text) = match lanchat_proto::ClientMsg::parse(line) {
        Ok(lanchat_proto::ClientMsg::Me(text)) => ("/me ".to_owned(), text),
        Ok(lanchat_proto::ClientMsg::Msg { to, text }) => (format!("/msg {to} "), text),
        // A line starting with '/' would be read as a command: keep the `//` escape.
        Ok(lanchat_proto::ClientMsg::Say(text)) if text.starts_with('/') => {
            ("//".to_owned(), &text[1..])
        }
        _ => (String::new(), line),
    };
    let room = max.saturating_sub(head.len()).max(1);
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if rest.len() <= room {
            pieces.push(format!("{head}{rest}"));
            break;
        }
        let mut cut = room;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        // At the last space before the cut, unless that leaves a piece under half a line.
        if let Some(space) = rest[..cut].rfind(' ').filter(|&i| i >= room / 2) {
            cut = space;
        }
        pieces.push(format!("{head}{}", rest[..cut].trim_end()));
        rest = rest[cut..].trim_start();
    }
    pieces
}

/// Called by the outbox thread with each line it sent (for the echo), and with the quit's
/// bytes when it is the quit's turn.
pub trait Sending: Send {
    /// `line` went to the server.
    fn sent(&mut self, line: &str);
    /// The quit's turn, saying `message` to the others: the bytes to send (`None`: nothing,
    /// the session is over).
    fn quit(&mut self, message: Option<&str>) -> Option<Vec<u8>>;
}

#[derive(Debug)]
enum Job {
    Line(String),
    Quit(Option<String>),
}

/// How the outbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Lines are waiting (or being sent).
    Busy,
    /// Everything handed in was sent (the quit too, if it was handed in).
    Done,
    /// A write failed: the server is gone.
    Failed,
}

/// Where lines are written.
pub type Writer = Box<dyn Write + Send>;

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// A job taken from the queue and not yet written.
    in_flight: bool,
    /// The last write failed; nothing is written until [`Outbox::connect`].
    failed: bool,
    /// No connection: nothing is written until [`Outbox::connect`].
    paused: bool,
    /// A new connection's writer, for the thread to take.
    next: Option<Writer>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("queue", &self.queue)
            .field("in_flight", &self.in_flight)
            .field("failed", &self.failed)
            .field("paused", &self.paused)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    cond: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending thread and its queue.
#[derive(Debug, Clone)]
pub struct Outbox {
    shared: Arc<Shared>,
    /// At most this many lines wait; `push` blocks beyond (piped input is read no faster
    /// than it is sent). `None`: no bound (a paste is as long as the user made it).
    cap: Option<usize>,
}

impl Outbox {
    /// Start the thread writing to `writer`; `cap` bounds the queue (see [`Outbox::push`]).
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn<W: Write + Send + 'static>(
        writer: W,
        sending: Box<dyn Sending>,
        cap: Option<usize>,
    ) -> io::Result<Outbox> {
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let writer: Writer = Box::new(writer);
        std::thread::Builder::new()
            .name("sender".into())
            .spawn(move || send_loop(writer, sending, &thread_shared))?;
        Ok(Outbox { shared, cap })
    }

    /// The connection is gone: write nothing more to it; lines wait.
    pub fn pause(&self) {
        let mut s = self.shared.lock();
        s.paused = true;
        s.next = None;
        self.shared.cond.notify_all();
    }

    /// Write to `writer` (a new connection) from now on: what waits goes out on it.
    pub fn connect(&self, writer: Writer) {
        let mut s = self.shared.lock();
        s.next = Some(writer);
        s.paused = false;
        s.failed = false;
        self.shared.cond.notify_all();
    }

    /// Queue a line for the server (waits while the queue is full).
    pub fn push(&self, line: &str) {
        let mut s = self.shared.lock();
        while self.cap.is_some_and(|cap| s.queue.len() >= cap) && !s.failed {
            s = self
                .shared
                .cond
                .wait(s)
                .unwrap_or_else(PoisonError::into_inner);
        }
        s.queue.push_back(Job::Line(line.to_owned()));
        self.shared.cond.notify_all();
    }

    /// Queue the quit (saying `message` to the others), after every line queued before it.
    pub fn quit(&self, message: Option<&str>) {
        let mut s = self.shared.lock();
        s.queue.push_back(Job::Quit(message.map(str::to_owned)));
        self.shared.cond.notify_all();
    }

    /// Lines queued and not sent yet.
    pub fn pending(&self) -> usize {
        let s = self.shared.lock();
        s.queue.iter().filter(|j| matches!(j, Job::Line(_))).count()
    }

    /// Drop the lines not sent yet (a queued quit stays); how many were dropped.
    pub fn cancel(&self) -> usize {
        let mut s = self.shared.lock();
        let before = s.queue.len();
        s.queue.retain(|j| matches!(j, Job::Quit(_)));
        self.shared.cond.notify_all();
        before - s.queue.len()
    }

    /// Wait until everything queued is sent, a write fails (or there is no connection), or
    /// `deadline` passes.
    pub fn wait_done(&self, deadline: Instant) -> Progress {
        let mut s = self.shared.lock();
        loop {
            if s.failed || s.paused {
                return Progress::Failed;
            }
            if s.queue.is_empty() && !s.in_flight {
                return Progress::Done;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Progress::Busy;
            }
            s = self
                .shared
                .cond
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Whether a write failed.
    pub fn failed(&self) -> bool {
        self.shared.lock().failed
    }
}

fn send_loop(first: Writer, mut sending: Box<dyn Sending>, shared: &Shared) {
    let mut pacer = Pacer::new(Instant::now());
    let mut writer = Some(first);
    loop {
        let (job, mut out) = {
            let mut s = shared.lock();
            loop {
                if let Some(next) = s.next.take() {
                    writer = Some(next);
                }
                if s.paused {
                    writer = None;
                }
                if !s.failed {
                    if let Some(w) = writer.take() {
                        if let Some(job) = s.queue.pop_front() {
                            s.in_flight = true;
                            shared.cond.notify_all();
                            break (job, w);
                        }
                        writer = Some(w);
                    }
                }
                s = shared.cond.wait(s).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let failed = match job {
            Job::Line(line) => {
                // Paced: a line dropped meanwhile (cancel) is still the one taken; it goes.
                pacer.wait();
                if out.write_all(&encode_line(&line)).is_ok() {
                    sending.sent(&line);
                    None
                } else {
                    // It waits for the next connection, first.
                    Some(Job::Line(line))
                }
            }
            Job::Quit(message) => {
                let ok = sending
                    .quit(message.as_deref())
                    .is_none_or(|bytes| out.write_all(&bytes).is_ok());
                (!ok).then_some(Job::Quit(message))
            }
        };
        let mut s = shared.lock();
        s.in_flight = false;
        match failed {
            None => writer = Some(out),
            Some(job) => {
                s.failed = true;
                if matches!(job, Job::Line(_)) {
                    s.queue.push_front(job);
                }
            }
        }
        shared.cond.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn typed_lines_table() {
        let cases: &[(&str, Typed<'_>)] = &[
            ("", Typed::Blank),
            ("  \t", Typed::Blank),
            ("hi", Typed::Line("hi")),
            ("/msg bob  x", Typed::Line("/msg bob  x")),
            ("<quit>", Typed::Quit(None)),
            ("/QUIT", Typed::Quit(None)),
            ("/quit see you all", Typed::Quit(Some("see you all"))),
        ];
        for (line, want) in cases {
            assert_eq!(typed(line), *want, "{line:?}");
        }
    }

    #[test]
    fn long_lines_are_cut_into_lines_the_server_takes() {
        const MAX: usize = lanchat_proto::DEFAULT_MAX_LINE;
        assert_eq!(split_long("short", MAX), ["short"]);
        // 1,100 × 'é' is 2,200 bytes: over the limit though only 1,100 characters.
        let e = "é".repeat(1100);
        let pieces = split_long(&e, MAX);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces.concat(), e);
        // A server that takes 200 bytes: 11 pieces of at most 200.
        let pieces = split_long(&e, 200);
        assert_eq!(pieces.len(), 11);
        assert!(pieces.iter().all(|p| p.len() <= 200));
        assert_eq!(pieces.concat(), e);
        let words = "word ".repeat(1000);
        for (line, head) in [
            (words.clone(), ""),
            (format!("/me {words}"), "/me "),
            (format!("/msg bob {words}"), "/msg bob "),
            (format!("//{words}"), "//"),
            (format!("/in #dev {words}"), "/in #dev "),
            (format!("/in #dev /me {words}"), "/in #dev /me "),
        ] {
            let pieces = split_long(&line, MAX);
            assert!(pieces.len() >= 3, "{}", pieces.len());
            for p in &pieces {
                assert!(encode_line(p).len() <= MAX + 1, "{}", p.len());
                assert!(p.starts_with(head), "{p:.20}");
                assert!(p.ends_with("word"), "cut inside a word: {p:?}");
            }
            let text: Vec<&str> = pieces.iter().map(|p| &p[head.len()..]).collect();
            assert_eq!(text.join(" "), words.trim_end());
        }
    }

    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<u8>>>);

    impl Write for Log {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Echo(Arc<Mutex<Vec<String>>>);

    impl Sending for Echo {
        fn sent(&mut self, line: &str) {
            self.0.lock().unwrap().push(line.to_owned());
        }
        fn quit(&mut self, message: Option<&str>) -> Option<Vec<u8>> {
            Some(encode_line(&format!(
                "/quit {}",
                message.unwrap_or_default()
            )))
        }
    }

    #[test]
    fn lines_go_in_order_then_the_quit() {
        let log = Log::default();
        let echoed = Arc::new(Mutex::new(Vec::new()));
        let out = Outbox::spawn(log.clone(), Box::new(Echo(Arc::clone(&echoed))), Some(4)).unwrap();
        for l in ["a", "/msg bob  b", "c"] {
            out.push(l);
        }
        out.quit(Some("bye"));
        let deadline = Instant::now() + Duration::from_secs(10);
        assert_eq!(out.wait_done(deadline), Progress::Done);
        assert_eq!(*log.0.lock().unwrap(), b"a\n/msg bob b\nc\n/quit bye\n");
        assert_eq!(*echoed.lock().unwrap(), ["a", "/msg bob  b", "c"]);
    }

    /// Takes `ok` lines, then fails every write.
    struct Breaks(Log, usize);

    impl Write for Breaks {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.1 == 0 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.1 -= 1;
            self.0.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_wait_for_the_next_connection_in_order() {
        let (old, new) = (Log::default(), Log::default());
        let echoed = Arc::new(Mutex::new(Vec::new()));
        let out = Outbox::spawn(
            Breaks(old.clone(), 1),
            Box::new(Echo(Arc::clone(&echoed))),
            None,
        )
        .unwrap();
        let soon = || Instant::now() + Duration::from_secs(10);
        out.push("one");
        out.push("two");
        // "two" fails on the dead connection and waits at the front.
        assert_eq!(out.wait_done(soon()), Progress::Failed);
        assert!(out.failed());
        out.pause();
        out.push("three");
        assert_eq!(out.wait_done(soon()), Progress::Failed, "no connection");
        assert_eq!(out.pending(), 2);
        out.connect(Box::new(new.clone()));
        assert_eq!(out.wait_done(soon()), Progress::Done);
        assert_eq!(*old.0.lock().unwrap(), b"one\n");
        assert_eq!(*new.0.lock().unwrap(), b"two\nthree\n");
        assert_eq!(*echoed.lock().unwrap(), ["one", "two", "three"]);
    }

    #[test]
    fn cancel_drops_what_waits_but_keeps_the_quit() {
        let log = Log::default();
        let echoed = Arc::new(Mutex::new(Vec::new()));
        let out = Outbox::spawn(log.clone(), Box::new(Echo(echoed)), None).unwrap();
        // More than the pacer's burst, so some must wait.
        for i in 0..100 {
            out.push(&format!("l{i}"));
        }
        out.quit(None);
        let dropped = out.cancel();
        assert!(dropped > 0 && dropped <= 100, "{dropped}");
        assert_eq!(out.pending(), 0);
        assert_eq!(
            out.wait_done(Instant::now() + Duration::from_secs(10)),
            Progress::Done
        );
        let sent = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert!(sent.ends_with("/quit\n"), "{sent}");
        assert_eq!(sent.lines().count(), 100 - dropped + 1, "{sent}");
    }
}
