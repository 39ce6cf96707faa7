//! Everything the client shows goes through one [`Screen`]: lines from the server, the echo of
//! what the user sent, the client's own notices. A thread of its own writes them, in order, so
//! no caller ever waits on the terminal (rustyline's printer can block until the line editor
//! takes the line, and the line editor may be the one asking). The screen can be held for a
//! moment while the front end tidies the line being edited, so no line lands in the middle of
//! that.
//!
//! Lines are cut into rows here, at the terminal's width as it is when they are shown
//! ([`Screen::set_width`]), and the last lines shown are kept whole, so that after a resize
//! they can be drawn again cut at the new width ([`Screen::redraw`]).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::render::{Shown, BEL};

/// Where shown rows go: the terminal, one way or another.
pub trait Terminal: Send {
    /// Show one screen row (no `\n`).
    fn show(&mut self, row: &str);
}

/// Lines kept for redrawing: more than any screen is tall.
pub const RECENT_LINES: usize = 500;

#[derive(Default)]
struct State {
    queue: VecDeque<Shown>,
    /// While held, lines wait in the queue.
    held: bool,
    /// The writer thread is showing a line.
    showing: bool,
    recent: VecDeque<Shown>,
    /// Columns to wrap at (`None`: do not wrap).
    width: Option<usize>,
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
    pub fn print(&self, line: impl Into<Shown>) {
        let mut s = self.inner.lock();
        s.queue.push_back(line.into());
        self.inner.cond.notify_all();
    }

    /// Cut lines into rows of `width` columns from now on (`None`: one row per line).
    pub fn set_width(&self, width: Option<usize>) {
        self.inner.lock().width = width;
    }

    /// The width lines are cut at.
    pub fn width(&self) -> Option<usize> {
        self.inner.lock().width
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
    pub fn redraw(&self, redraw: impl FnOnce(&[Shown])) {
        let mut s = self.inner.lock();
        let lines: Vec<Shown> = s.recent.iter().cloned().collect();
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

/// The last `room` screen rows of `lines` cut at `width` columns (what fills a screen that
/// tall above the prompt), oldest first. Drawn again, a mention does not ring again: the bell
/// is left out.
pub fn last_rows(lines: &[Shown], width: usize, room: usize) -> Vec<String> {
    let mut tail: VecDeque<String> = VecDeque::with_capacity(room);
    for line in lines.iter().rev() {
        if tail.len() >= room {
            break;
        }
        for row in line.rows(Some(width)).into_iter().rev() {
            if tail.len() == room {
                break;
            }
            tail.push_front(row.replace(BEL, ""));
        }
    }
    tail.into()
}

fn write_loop(mut term: Box<dyn Terminal>, inner: &Inner) {
    loop {
        let rows = {
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
            let rows = line.rows(s.width);
            if s.recent.len() == RECENT_LINES {
                s.recent.pop_front();
            }
            s.recent.push_back(line);
            rows
        };
        for row in &rows {
            term.show(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[derive(Clone, Default)]
    struct Tape(Arc<Mutex<Vec<String>>>);

    impl Terminal for Tape {
        fn show(&mut self, row: &str) {
            self.0.lock().unwrap().push(row.to_owned());
        }
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[test]
    fn held_lines_wait_for_the_tidy() {
        let tape = Tape::default();
        let screen = Screen::new(Box::new(tape.clone()));
        screen.print("one");
        screen.flush(soon());
        screen.hold();
        screen.print("two");
        assert_eq!(*tape.0.lock().unwrap(), ["one"]);
        let t = tape.clone();
        screen.release(|| t.0.lock().unwrap().push("tidy".into()));
        screen.flush(soon());
        assert_eq!(*tape.0.lock().unwrap(), ["one", "tidy", "two"]);
        let mut seen = Vec::new();
        screen.redraw(|l| seen = l.iter().map(|l| l.text.clone()).collect());
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
        assert_eq!(seen[0].text, "10");
    }

    #[test]
    fn lines_are_cut_at_the_width_of_the_moment_and_kept_whole() {
        let tape = Tape::default();
        let screen = Screen::new(Box::new(tape.clone()));
        let line = Shown {
            text: "<bob> one two three four".into(),
            indent: 6,
            dim: false,
        };
        screen.print(line.clone());
        screen.flush(soon());
        screen.set_width(Some(16));
        screen.print(line.clone());
        screen.flush(soon());
        assert_eq!(
            *tape.0.lock().unwrap(),
            [
                "<bob> one two three four",
                "<bob> one two",
                "      three four"
            ]
        );
        let mut seen = Vec::new();
        screen.redraw(|l| seen = l.to_vec());
        assert_eq!(seen, [line.clone(), line.clone()]);
        // Drawn again at 14 columns, in a screen with room for 4 rows above the prompt.
        assert_eq!(
            last_rows(&seen, 14, 4),
            ["      four", "<bob> one two", "      three", "      four"]
        );
        assert_eq!(last_rows(&seen, 14, 0), Vec::<String>::new());
        let rang = Shown::plain(format!("! <bob> ann?{BEL}"));
        assert_eq!(last_rows(&[rang], 80, 1), ["! <bob> ann?"]);
        assert_eq!(last_rows(&seen, 100, 50).len(), 2);
    }
}
