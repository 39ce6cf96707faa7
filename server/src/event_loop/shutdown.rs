//! Stopping: SIGINT/SIGTERM and the [`ServerHandle`] arrive as poll events; the first request
//! closes the listener, says `BYE` to everyone and gives output [`limits::SHUTDOWN_FLUSH`] to
//! drain; a second signal during that flush exits at once.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mio::{Interest, Waker};

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

/// Reaches a running [`Server`] from another thread: stop it (as SIGTERM would), or wake it to
/// look at its clock again (a test that moved a [`crate::ManualClock`]).
#[derive(Debug, Clone)]
pub struct ServerHandle {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    reload: Arc<AtomicBool>,
}

impl ServerHandle {
    /// Ask the server to shut down gracefully.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// Ask the server to read `--allow`, `--ops` and `--password-file` again (what SIGHUP is
    /// for; see [`Server::reload_identity`]).
    pub fn reload(&self) {
        self.reload.store(true, Ordering::SeqCst);
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
    /// [`ServerHandle::reload`] was asked.
    reload: Arc<AtomicBool>,
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
            reload: Arc::new(AtomicBool::new(false)),
            signals: None,
            deadline: None,
            carry: false,
        }
    }

    pub(super) fn handle(&self) -> ServerHandle {
        ServerHandle {
            waker: Arc::clone(&self.waker),
            stop: Arc::clone(&self.stop),
            reload: Arc::clone(&self.reload),
        }
    }
}

impl Server {
    /// Handle SIGINT and SIGTERM inside the loop: the first shuts down gracefully, a second
    /// one exits at once.
    ///
    /// # Errors
    /// Installing the handlers failed.
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut signals = signal_hook_mio::v1_0::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        self.control.signals = Some(signals);
        Ok(())
    }

    /// The waker or the signal pipe fired (both are cheap to check when they did not):
    /// begin the shutdown, or say it must be forced.
    pub(super) fn on_control(&mut self, now: Now) -> Option<Exit> {
        if self.control.reload.swap(false, Ordering::SeqCst) {
            self.reload_identity();
        }
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
        let count = signals.pending().count();
        if count == 0 {
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
        self.identity_flush(now);
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
