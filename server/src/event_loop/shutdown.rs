//! Signals and stopping. Signals arrive as poll events (signal-hook's self-pipe), and so does
//! the [`ServerHandle`]'s waker:
//! - SIGINT, SIGTERM (and [`ServerHandle::shutdown`]): the first request closes the listener,
//!   says `BYE` to everyone and gives output [`limits::SHUTDOWN_FLUSH`] to drain; a second
//!   signal during that flush exits at once.
//! - SIGHUP (`systemctl reload`): re-read what can be re-read ([`super::reload`]), log what
//!   came of it, and carry on; nobody connected notices.
//! - SIGUSR1: log every figure `/stats` gives, on one line.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mio::{Interest, Waker};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};

use super::{Server, SIGNALS};
use crate::clock::Now;
use crate::limits;
use crate::timers::Timer;

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Asked to stop: everyone got `BYE`, output was flushed (within the bound).
    Graceful,
    /// A second signal during the shutdown flush: stopped at once.
    Forced,
}

/// The signals the server handles, caught from the moment this is made: made first thing at
/// start, so that a SIGHUP (`systemctl reload` right after `start`) or SIGUSR1 while the key is
/// loaded and the state directory read waits for the loop instead of ending the process, as
/// their default action would (and systemd counts SIGHUP as a clean exit: no restart). Hand it
/// to [`Server::handle_signals`].
pub struct Signals(signal_hook_mio::v1_0::Signals);

impl std::fmt::Debug for Signals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signals")
    }
}

impl Signals {
    /// Catch SIGINT, SIGTERM, SIGHUP and SIGUSR1 from now on.
    ///
    /// # Errors
    /// Installing the handlers failed.
    pub fn catch() -> io::Result<Signals> {
        signal_hook_mio::v1_0::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGUSR1]).map(Signals)
    }
}

/// Reaches a running [`Server`] from another thread: stop it (as SIGTERM would), or wake it to
/// look at its clock again (a test that moved a [`crate::ManualClock`]).
#[derive(Debug, Clone)]
pub struct ServerHandle {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
}

impl ServerHandle {
    /// Ask the server to shut down gracefully.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Make the loop run a round now: it reads its clock and fires what is due.
    pub fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            log::warn!("could not wake the server loop: {e}");
        }
    }
}

/// The loop's side of stopping.
pub(super) struct Control {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    /// Set when shutdown began: the flush deadline.
    deadline: Option<Instant>,
    /// The waker or the signal pipe fired during a flush; handled next round.
    pub(super) carry: bool,
}

impl Control {
    pub(super) fn new(waker: Arc<Waker>, stop: Arc<AtomicBool>) -> Self {
        Control {
            waker,
            stop,
            signals: None,
            deadline: None,
            carry: false,
        }
    }

    pub(super) fn handle(&self) -> ServerHandle {
        ServerHandle {
            waker: Arc::clone(&self.waker),
            stop: Arc::clone(&self.stop),
        }
    }
}

impl Server {
    /// Handle `signals` inside the loop: SIGINT and SIGTERM shut down gracefully (a second one
    /// exits at once), SIGHUP reloads, SIGUSR1 logs the statistics. Those that came since they
    /// were caught are handled in the first round.
    ///
    /// # Errors
    /// Registering them with the poll failed.
    pub fn handle_signals(&mut self, signals: Signals) -> io::Result<()> {
        let mut signals = signals.0;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        self.control.signals = Some(signals);
        // Any that came before the registration wait in the pipe already: look at once.
        self.control.carry = true;
        Ok(())
    }

    /// The waker or the signal pipe fired (both are cheap to check when they did not):
    /// begin the shutdown, or say it must be forced.
    pub(super) fn on_control(&mut self, now: Now) -> Option<Exit> {
        if self.control.stop.load(Ordering::SeqCst) {
            self.begin_shutdown(now);
        }
        if self.on_signals(now) == Some(Exit::Forced) {
            log::warn!("second signal: exiting without waiting for the flush");
            return Some(Exit::Forced);
        }
        None
    }

    fn on_signals(&mut self, now: Now) -> Option<Exit> {
        let signals = self.control.signals.as_mut()?;
        let (mut stop, mut reload, mut report) = (false, false, false);
        for signal in signals.pending() {
            match signal {
                SIGHUP => reload = true,
                SIGUSR1 => report = true,
                _ => stop = true,
            }
        }
        if reload {
            self.reload();
        }
        if report {
            let report = self.room.stats_report(now.mono);
            log::info!("SIGUSR1: stats: {report}");
        }
        if !stop {
            return None;
        }
        // Signals of one kind coalesce, and SIGINT + SIGTERM may land together: a first batch,
        // whatever its size, is one request to stop; only a signal during the flush forces it.
        if self.control.deadline.is_some() {
            return Some(Exit::Forced);
        }
        log::info!("signal received: shutting down");
        self.begin_shutdown(now);
        None
    }

    fn begin_shutdown(&mut self, now: Now) {
        if self.control.deadline.is_some() {
            return;
        }
        self.listener.close(self.poll.registry());
        if let Some(mut discovery) = self.discovery.take() {
            discovery.close(self.poll.registry());
        }
        let (room, mut out) = self.room_and_outbox(now);
        room.shutdown(&mut out);
        let deadline = now.mono + limits::SHUTDOWN_FLUSH;
        self.control.deadline = Some(deadline);
        self.timers.add(deadline, Timer::ShutdownDeadline);
        log::info!(
            "shutting down: saying BYE to {} connection(s)",
            self.table.len()
        );
    }

    /// At the end of a round during shutdown: done once every connection is gone or the flush
    /// deadline has passed.
    pub(super) fn shutdown_done(&self, now: Now) -> Option<Exit> {
        let deadline = self.control.deadline?;
        if !self.table.is_empty() && now.mono < deadline {
            return None;
        }
        if !self.table.is_empty() {
            log::warn!("{} connection(s) still flushing at exit", self.table.len());
        }
        Some(Exit::Graceful)
    }
}
