//! Drawing the prompt again while the user types: the prompt names the current room, counts
//! other rooms' unread lines and carries the name, so it changes under a half-typed line.
//! rustyline cannot change the prompt of a line being read; the main thread is woken out of
//! `readline` (rustyline turns a SIGINT into `Interrupted`) and reads again with the new
//! prompt and the half-typed line.
//!
//! The reader thread only asks ([`Redraw::request`]); a thread of its own does the waking, so
//! the reader never waits for the main thread, and requests that come while one is being
//! served are served together (a busy room asks once per line; the prompt is drawn at most
//! about ten times a second). A key that switches rooms asks from inside the line editor
//! ([`Redraw::now`]), which ends the read itself.
//!
//! A wake-up must never be left over as a SIGINT that lands between two reads, where it would
//! read as Ctrl-C ("stop sending", "quit"): wake-ups are raised, and requests are taken by the
//! main thread, under one lock ([`Redraw::take`]), and no wake-up is raised once the request
//! is taken.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// The prompt is stale: wake the main thread to draw it again.
#[derive(Debug)]
pub struct Redraw {
    screen: Arc<Screen>,
    /// A redraw is due; the main thread takes it.
    due: AtomicBool,
    /// Held while a wake-up is raised, and while the main thread takes a request.
    gate: Mutex<()>,
    /// The reader thread asked; the waking thread serves it.
    asked: Mutex<bool>,
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
            due: AtomicBool::new(false),
            gate: Mutex::new(()),
            asked: Mutex::new(false),
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

    /// The prompt is stale (from any thread but the main one); returns at once.
    pub fn request(&self) {
        *self.asked.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cond.notify_all();
    }

    /// The prompt is stale and the read is ending now (a key handler in the line editor that
    /// returns `Interrupt`): no wake-up needed.
    pub fn now(&self) {
        let _gate = self.gate();
        self.screen.hold();
        self.due.store(true, Ordering::SeqCst);
    }

    /// The main thread, before it reads a line, or after a read was interrupted: whether a
    /// redraw is due (taken: the caller draws the prompt again and releases the screen), and
    /// whether a SIGINT came between reads that was not a wake-up (a Ctrl-C).
    pub fn take(&self, interrupted: Option<&InterruptFlag>) -> (bool, bool) {
        let _gate = self.gate();
        let due = self.due.swap(false, Ordering::SeqCst);
        let interrupt = interrupted.is_some_and(InterruptFlag::take);
        // While a redraw was due, a SIGINT between reads was its wake-up.
        (due, interrupt && !due)
    }

    fn serve(&self) {
        loop {
            {
                let mut asked = self.asked.lock().unwrap_or_else(PoisonError::into_inner);
                while !*asked {
                    asked = self
                        .cond
                        .wait(asked)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                *asked = false;
            }
            // Nothing prints until the main thread has drawn the prompt again.
            {
                let _gate = self.gate();
                self.screen.hold();
                self.due.store(true, Ordering::SeqCst);
            }
            for _ in 0..WAKE_TRIES {
                {
                    let _gate = self.gate();
                    if !self.due.load(Ordering::SeqCst) {
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
