//! Drawing again while the user types: the prompt names the current room, counts other rooms'
//! unread lines, carries the name and says when the client is reconnecting, so it changes
//! under a half-typed line ([`Redo::Prompt`]); and a resized window is drawn again whole
//! ([`Redo::Screen`]). rustyline cannot change the prompt of a line being read; the main thread
//! is woken out of `readline` (rustyline turns a SIGINT into `Interrupted`) and reads again
//! with the new prompt and the half-typed line.
//!
//! Other threads only ask ([`Redraw::request`]); a thread of its own does the waking, so the
//! reader never waits for the main thread, and requests that come while one is being served
//! are served together (a busy room asks once per line; the prompt is drawn at most about ten
//! times a second). A key that switches rooms asks from inside the line editor
//! ([`Redraw::now`]), which ends the read itself.
//!
//! A wake-up must never be left over as a SIGINT that lands between two reads, where it would
//! read as Ctrl-C ("stop sending", "quit"): wake-ups are raised, and requests are taken by the
//! main thread, under one lock ([`Redraw::take`]), and no wake-up is raised once the request
//! is taken.

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::screen::Screen;
use crate::signals::{self, InterruptFlag};

/// How often a wake-up is repeated until the main thread takes the request (a signal that
/// lands between two reads only sets the interrupt flag, which [`Redraw::take`] accounts
/// for; one that lands while the main thread does something else waits for the next read).
const WAKE_EVERY: Duration = Duration::from_millis(100);

/// Wake-ups for one request at most (the main thread may be busy elsewhere: the quit).
const WAKE_TRIES: usize = 20;

/// What the main thread must draw again before it reads on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redo {
    /// The prompt (it changed), with the line being typed.
    Prompt,
    /// The whole screen: the window's width changed, and the terminal may have reflowed
    /// what was on it.
    Screen,
}

impl Redo {
    fn bit(self) -> u8 {
        match self {
            Redo::Prompt => 1,
            Redo::Screen => 2,
        }
    }

    /// The request in `bits` (the whole screen includes the prompt).
    fn of(bits: u8) -> Option<Redo> {
        match bits {
            0 => None,
            b if b & Redo::Screen.bit() != 0 => Some(Redo::Screen),
            _ => Some(Redo::Prompt),
        }
    }
}

/// Something on screen is stale: wake the main thread to draw it again.
#[derive(Debug)]
pub struct Redraw {
    screen: Arc<Screen>,
    /// What is due ([`Redo`] bits); the main thread takes it.
    due: AtomicU8,
    /// Held while a wake-up is raised, and while the main thread takes a request.
    gate: Mutex<()>,
    /// What other threads asked for ([`Redo`] bits); the waking thread serves it.
    asked: Mutex<u8>,
    cond: Condvar,
}

impl Redraw {
    /// Redraws of the prompt in front of `screen`'s lines, with the thread that wakes the main
    /// thread for them.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(screen: Arc<Screen>) -> io::Result<Arc<Redraw>> {
        let redraw = Arc::new(Redraw {
            screen,
            due: AtomicU8::new(0),
            gate: Mutex::new(()),
            asked: Mutex::new(0),
            cond: Condvar::new(),
        });
        let waker = Arc::clone(&redraw);
        std::thread::Builder::new()
            .name("redraw".into())
            .spawn(move || waker.serve())?;
        Ok(redraw)
    }

    fn gate(&self) -> MutexGuard<'_, ()> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `what` is stale (from any thread but the main one); returns at once.
    pub fn request(&self, what: Redo) {
        *self.asked.lock().unwrap_or_else(PoisonError::into_inner) |= what.bit();
        self.cond.notify_all();
    }

    /// The prompt is stale and the read is ending now (a key handler in the line editor that
    /// returns `Interrupt`): no wake-up needed.
    pub fn now(&self) {
        let _gate = self.gate();
        self.screen.hold();
        self.due.fetch_or(Redo::Prompt.bit(), Ordering::SeqCst);
    }

    /// The main thread, before it reads a line, or after a read was interrupted: what is due
    /// to be drawn again, if anything (taken: the caller draws it and releases the screen),
    /// and whether a SIGINT came between reads that was not a wake-up (a Ctrl-C).
    pub fn take(&self, interrupted: Option<&InterruptFlag>) -> (Option<Redo>, bool) {
        let _gate = self.gate();
        let due = Redo::of(self.due.swap(0, Ordering::SeqCst));
        let interrupt = interrupted.is_some_and(InterruptFlag::take);
        // While a redraw was due, a SIGINT between reads was its wake-up.
        (due, interrupt && due.is_none())
    }

    fn serve(&self) {
        loop {
            let bits = {
                let mut asked = self.asked.lock().unwrap_or_else(PoisonError::into_inner);
                while *asked == 0 {
                    asked = self
                        .cond
                        .wait(asked)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                std::mem::take(&mut *asked)
            };
            // Nothing prints until the main thread has drawn again.
            {
                let _gate = self.gate();
                self.screen.hold();
                self.due.fetch_or(bits, Ordering::SeqCst);
            }
            for _ in 0..WAKE_TRIES {
                {
                    let _gate = self.gate();
                    if self.due.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                    // `raise` runs the handler before it returns: the wake-up is either seen
                    // by the line editor or in the interrupt flag by the time the gate opens.
                    let _ = signals::wake_main();
                }
                std::thread::sleep(WAKE_EVERY);
            }
        }
    }
}
