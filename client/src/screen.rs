//! Everything the client shows goes through one [`Screen`]: lines from the server, the echo of
//! what the user sent, the client's own notices. A thread of its own writes them, in order, so
//! no caller ever waits on the terminal (rustyline's printer can block until the line editor
//! takes the line, and the line editor may be the one asking). The screen can be held for a
//! moment while the front end tidies the line being edited, so no line lands in the middle of
//! that, and it keeps the last lines shown, to draw them again.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Where shown lines go: the terminal, one way or another.
pub trait Terminal: Send {
    /// Show one display line (no `\n`).
    fn show(&mut self, line: &str);
}

/// Lines kept for redrawing: more than any screen is tall.
pub const RECENT_LINES: usize = 500;

#[derive(Default)]
struct State {
    queue: VecDeque<String>,
    /// While held, lines wait in the queue.
    held: bool,
    /// The writer thread is showing a line.
    showing: bool,
    recent: VecDeque<String>,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    cond: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The one way lines reach the terminal. Shared by the threads that print.
pub struct Screen {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Screen").finish_non_exhaustive()
    }
}

impl Screen {
    /// A screen showing through `term`, on a thread of its own.
    ///
    /// # Panics
    /// If the thread cannot be started (the process is out of threads at start-up).
    pub fn new(term: Box<dyn Terminal>) -> Arc<Screen> {
        let inner = Arc::new(Inner::default());
        let writer = Arc::clone(&inner);
        std::thread::Builder::new()
            .name("screen".into())
            .spawn(move || write_loop(term, &writer))
            .expect("starting the screen thread");
        Arc::new(Screen { inner })
    }

    /// Show `line` (after what came before; while held, later).
    pub fn print(&self, line: String) {
        let mut s = self.inner.lock();
        s.queue.push_back(line);
        self.inner.cond.notify_all();
    }

    /// Keep lines back until [`Screen::release`].
    pub fn hold(&self) {
        self.inner.lock().held = true;
    }

    /// Run `tidy` (which may write to the terminal itself) with no new line starting, then
    /// let the waiting lines out.
    pub fn release(&self, tidy: impl FnOnce()) {
        let mut s = self.inner.lock();
        tidy();
        s.held = false;
        self.inner.cond.notify_all();
    }

    /// Run `redraw` with the last lines shown (oldest first) and no new line starting, then
    /// let the waiting lines out.
    pub fn redraw(&self, redraw: impl FnOnce(&[String])) {
        let mut s = self.inner.lock();
        let lines: Vec<String> = s.recent.iter().cloned().collect();
        redraw(&lines);
        s.held = false;
        self.inner.cond.notify_all();
    }

    /// Wait (until `deadline` at most) for every line handed in to be shown.
    pub fn flush(&self, deadline: Instant) {
        let mut s = self.inner.lock();
        s.held = false;
        self.inner.cond.notify_all();
        while !s.queue.is_empty() || s.showing {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            s = self
                .inner
                .cond
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

fn write_loop(mut term: Box<dyn Terminal>, inner: &Inner) {
    loop {
        let line = {
            let mut s = inner.lock();
            s.showing = false;
            inner.cond.notify_all();
            let line = loop {
                if !s.held {
                    if let Some(line) = s.queue.pop_front() {
                        break line;
                    }
                }
                s = inner.cond.wait(s).unwrap_or_else(PoisonError::into_inner);
            };
            s.showing = true;
            if s.recent.len() == RECENT_LINES {
                s.recent.pop_front();
            }
            s.recent.push_back(line.clone());
            line
        };
        term.show(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Clone, Default)]
    struct Tape(Arc<Mutex<Vec<String>>>);

    impl Terminal for Tape {
        fn show(&mut self, line: &str) {
            self.0.lock().unwrap().push(line.to_owned());
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[test]
    fn held_lines_wait_for_the_tidy() {
        let tape = Tape::default();
        let screen = Screen::new(Box::new(tape.clone()));
        screen.print("one".into());
        screen.flush(soon());
        screen.hold();
        screen.print("two".into());
        assert_eq!(*tape.0.lock().unwrap(), ["one"]);
        let t = tape.clone();
        screen.release(|| t.0.lock().unwrap().push("tidy".into()));
        screen.flush(soon());
        assert_eq!(*tape.0.lock().unwrap(), ["one", "tidy", "two"]);
        let mut seen = Vec::new();
        screen.redraw(|l| seen = l.to_vec());
        assert_eq!(seen, ["one", "two"]);
    }

    #[test]
    fn recent_is_bounded() {
        let screen = Screen::new(Box::new(Tape::default()));
        for i in 0..RECENT_LINES + 10 {
            screen.print(i.to_string());
        }
        screen.flush(soon());
        let mut seen = Vec::new();
        screen.redraw(|l| seen = l.to_vec());
        assert_eq!(seen.len(), RECENT_LINES);
        assert_eq!(seen[0], "10");
    }
}
