//! The reader thread: lines from the server go through the [`Session`], and what it decides goes
//! to a [`Sink`] (print this; the session is over). It owns the connection's read side and
//! works on any [`Transport`].

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crate::clock::now_ms;
use crate::conn::{Conn, Transport};
use crate::session::{Action, Gone, Outcome, Session};

/// Where the reader thread's results go: the front end.
pub trait Sink: Send {
    /// Show one display line.
    fn print(&mut self, line: String);
    /// The session is over. Called once, last.
    fn end(&mut self, outcome: Outcome);
    /// Something for the front end that is not a line ([`Action::PromptChanged`],
    /// [`Action::Listed`]).
    fn event(&mut self, _action: Action) {}
}

/// Start the reader thread on `conn`.
///
/// # Errors
/// The thread could not be started.
pub fn spawn<S: Transport>(
    conn: Conn<S>,
    session: Arc<Mutex<Session>>,
    sink: Box<dyn Sink>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("server reader".into())
        .spawn(move || read_loop(conn, &session, sink))
}

fn read_loop<S: Transport>(mut conn: Conn<S>, session: &Mutex<Session>, mut sink: Box<dyn Sink>) {
    let lock = || session.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let (actions, last) = match conn.read_line(None) {
            Ok(Some(line)) => (lock().on_line(&line, now_ms()), false),
            Ok(None) => (ended(lock().on_server_gone(Gone::Closed)), true),
            Err(e) => (ended(lock().on_server_gone(Gone::Lost(e))), true),
        };
        for action in actions {
            match action {
                Action::Print(line) => sink.print(line),
                Action::End(outcome) => {
                    sink.end(outcome);
                    return;
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

fn ended(outcome: Option<Outcome>) -> Vec<Action> {
    outcome.map(Action::End).into_iter().collect()
}
