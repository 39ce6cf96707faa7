//! Coming back after the server went away, as the reader thread does it ([`Reconnect`], a
//! [`Redial`]): wait as the [`Backoff`] says, counting down in the prompt; connect and join
//! with the same name (a [`Connector`], which the front end supplies: connecting and the
//! handshake are one step of its); send again what the session needs ([`Session::rejoin`]:
//! the away message); let the lines typed meanwhile go out; read on. Until joined, or the
//! user leaves, or joining can never succeed.
//!
//! The waiting is real time (the reader thread sleeps); every decision is the session's or
//! the back-off's, both pure and tested with time passed in.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::backoff::{shown_secs, Backoff};
use crate::clock::now_ms;
use crate::conn::{Conn, Transport};
use crate::connect::JoinError;
use crate::reader::{Redial, Sink};
use crate::session::{Action, Session, Wait};

/// How the front end connects, and what it does around it.
pub trait Connector<S: Transport>: Send {
    /// The connection is lost: stop writing to it (lines typed meanwhile wait).
    fn lost(&mut self);

    /// Connect and join as `name`: connect and handshake, in one step.
    ///
    /// # Errors
    /// Why it did not work; [`JoinError::is_final`] says whether trying again can.
    fn join(&mut self, name: &str) -> Result<Conn<S>, JoinError>;

    /// Joined again on `conn`: writing resumes on it.
    ///
    /// # Errors
    /// The connection cannot be written to (it is tried again, as a failed attempt).
    fn resume(&mut self, conn: &Conn<S>) -> std::io::Result<()>;
}

/// The countdown in the prompt moves this often.
const TICK: Duration = Duration::from_secs(1);

/// Reconnects through a [`Connector`], with jitter from `random` (numbers in `[0, 1)`).
pub struct Reconnect<C> {
    connector: C,
    random: Box<dyn FnMut() -> f64 + Send>,
}

impl<C> Reconnect<C> {
    /// Reconnect through `connector`, with `random` for the back-off's jitter.
    pub fn new(connector: C, random: Box<dyn FnMut() -> f64 + Send>) -> Reconnect<C> {
        Reconnect { connector, random }
    }
}

fn lock(session: &Mutex<Session>) -> MutexGuard<'_, Session> {
    session.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Hand `actions` to `sink`: lines printed, the rest as events.
fn deliver(sink: &mut dyn Sink, actions: Vec<Action>) {
    for action in actions {
        match action {
            Action::Print(line) => sink.print(line),
            other => sink.event(other),
        }
    }
}

impl<S: Transport, C: Connector<S>> Redial<S> for Reconnect<C> {
    fn lost(&mut self) {
        self.connector.lost();
    }

    fn redial(&mut self, session: &Mutex<Session>, sink: &mut dyn Sink) -> Option<Conn<S>> {
        let live = sink.live_status();
        let mut backoff = Backoff::default();
        // Why the last attempt failed: said once, not at every attempt.
        let mut failed: Option<String> = None;
        loop {
            let (attempt, wait) = backoff.next((self.random)());
            let due = Instant::now() + wait;
            let mut first = true;
            loop {
                let left = due.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                let actions = lock(session).on_retry(attempt, Wait::In(shown_secs(left)));
                if actions.is_empty() {
                    return None; // the user left
                }
                if live {
                    deliver(sink, actions);
                } else if first {
                    let status = lock(session).status().unwrap_or_default();
                    let line = lock(session).notice(&status, now_ms());
                    deliver(sink, line);
                }
                first = false;
                std::thread::sleep(if live { left.min(TICK) } else { left });
            }
            let actions = lock(session).on_retry(attempt, Wait::Connecting);
            if actions.is_empty() {
                return None;
            }
            if live {
                deliver(sink, actions);
            }
            let rejoin = lock(session).rejoin()?;
            let why = match self.connector.join(&rejoin.name) {
                Ok(mut conn) => {
                    let resumed = rejoin
                        .then
                        .iter()
                        .try_for_each(|line| conn.send_line(line))
                        .and_then(|()| self.connector.resume(&conn));
                    match resumed {
                        Ok(()) => {
                            let actions = lock(session).on_rejoined(now_ms());
                            if actions.is_empty() {
                                return None;
                            }
                            deliver(sink, actions);
                            return Some(conn);
                        }
                        Err(e) => JoinError::Io(e).to_string(),
                    }
                }
                Err(e) if e.is_final() => {
                    let outcome = match e.untrusted() {
                        Some(failure) => {
                            lock(session).untrusted(failure.message(), failure.exit_code())
                        }
                        // Banned meanwhile: its own words and exit code.
                        None if e.exit_code() == crate::session::EXIT_BANNED => {
                            lock(session).untrusted(format!("lanchat: {e}"), e.exit_code())
                        }
                        None => lock(session).give_up(&e.to_string()),
                    };
                    sink.end(outcome);
                    return None;
                }
                Err(e) => e.to_string(),
            };
            if failed.as_deref() != Some(why.as_str()) {
                let line = lock(session).notice(&format!("could not reconnect: {why}"), now_ms());
                deliver(sink, line);
                failed = Some(why);
            }
        }
    }
}
