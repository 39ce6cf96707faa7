//! The reader thread: lines from the server go through the [`Session`], and what it decides goes
//! to a [`Sink`] (print this; the session is over). It owns the connection's read side and
//! works on any [`Transport`]. When the session says the connection is lost but the session
//! goes on ([`Action::Lost`]), a [`Redial`] brings a new connection and reading goes on with it.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::clock::now_ms;
use crate::conn::{Conn, Transport};
use crate::render::Shown;
use crate::session::{Action, Gone, Session};

/// Where the reader thread's results go: the front end.
pub trait Sink: Send {
    /// Show one line.
    fn print(&mut self, line: Shown);
    /// The session is over. Called once, last.
    fn end(&mut self, outcome: crate::session::Outcome);
    /// Something for the front end that is not a line ([`Action::PromptChanged`],
    /// [`Action::Listed`]).
    fn event(&mut self, _action: Action) {}
    /// Whether the prompt is drawn again on [`Action::PromptChanged`], so that a status in it
    /// (reconnecting, next in 4 s) can count down; otherwise a status is printed as a line,
    /// once per change worth a line.
    fn live_status(&self) -> bool {
        false
    }
}

/// Brings the session a new connection once the old one is lost.
pub trait Redial<S: Transport>: Send {
    /// The connection is gone: stop writing to it, now (before the lines that say so are
    /// shown, so nothing typed after them is written into a dead socket).
    fn lost(&mut self);

    /// The connection is lost and the session goes on: a new connection, joined, or `None`
    /// when the session ended instead (then `sink` has been told, or the user left).
    fn redial(&mut self, session: &Mutex<Session>, sink: &mut dyn Sink) -> Option<Conn<S>>;
}

/// Start the reader thread on `conn`; `redial`, if given, brings a new connection when the
/// session comes back on its own.
///
/// # Errors
/// The thread could not be started.
pub fn spawn<S: Transport>(
    conn: Conn<S>,
    session: Arc<Mutex<Session>>,
    sink: Box<dyn Sink>,
    redial: Option<Box<dyn Redial<S>>>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("server reader".into())
        .spawn(move || read_loop(conn, &session, sink, redial))
}

fn read_loop<S: Transport>(
    mut conn: Conn<S>,
    session: &Mutex<Session>,
    mut sink: Box<dyn Sink>,
    mut redial: Option<Box<dyn Redial<S>>>,
) {
    let lock = || session.lock().unwrap_or_else(PoisonError::into_inner);
    'read: loop {
        let (actions, last) = match conn.read_line(None) {
            Ok(Some(line)) => (lock().on_line(&line, now_ms()), false),
            Ok(None) => (lock().on_server_gone(Gone::Closed, now_ms()), true),
            Err(e) => (lock().on_server_gone(Gone::Lost(e), now_ms()), true),
        };
        if actions.contains(&Action::Lost) {
            if let Some(redial) = redial.as_mut() {
                redial.lost();
            }
        }
        for action in actions {
            match action {
                Action::Print(line) => sink.print(line),
                Action::End(outcome) => {
                    sink.end(outcome);
                    return;
                }
                Action::Lost => {
                    let Some(redial) = redial.as_mut() else {
                        let outcome = lock().give_up("not set up to reconnect");
                        sink.end(outcome);
                        return;
                    };
                    match redial.redial(session, sink.as_mut()) {
                        Some(new) => {
                            conn = new;
                            continue 'read;
                        }
                        None => return,
                    }
                }
                other => sink.event(other),
            }
        }
        if last {
            // The stream is over even if the session had ended before (a quit that timed out).
            return;
        }
    }
}
