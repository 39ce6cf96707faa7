//! Timers as the loop fires them: the room's handshake deadlines, write stalls, lingers, the
//! accept back-off, the heap trim (connections at rest let go of their TLS keys first), the
//! logger's summaries; and keeping the timer heap free of stale entries.

use super::Server;
use crate::clock::Now;
use crate::conn::{Phase, Stall};
use crate::limits;
use crate::logger::Kind;
use crate::outbox::ConnId;
use crate::room::LeaveReason;
use crate::timers::Timer;

/// Buffer memory freed since the last heap trim (and memory the trim will free: TLS keys
/// built since), and whether one is scheduled.
#[derive(Debug, Default)]
pub(super) struct Trim {
    freed: usize,
    pending: bool,
}

impl Trim {
    /// A flush released `bytes` of buffers.
    pub(super) fn freed(&mut self, bytes: usize) {
        self.freed += bytes;
    }

    /// A connection built keys that connections at rest let go of at the trim.
    pub(super) fn built(&mut self) {
        self.freed += limits::TLS_KEYS_BYTES;
    }
}

impl Server {
    pub(super) fn fire_timers(&mut self, now: Now) {
        let (room, mut out) = self.room_and_outbox(now);
        room.handle_timeout(now, &mut out);
        while let Some(timer) = self.timers.pop_due(now.mono) {
            match timer {
                Timer::WriteStall { id, generation } => {
                    if self.table.is_current(id, generation) {
                        self.check_stall(id, now);
                    }
                }
                Timer::Linger { id, generation } => {
                    let lingering = self
                        .table
                        .get(id)
                        .is_some_and(|c| c.phase() == Phase::Lingering);
                    if self.table.is_current(id, generation) && lingering {
                        self.table.mark_dead(id);
                    }
                }
                Timer::ResumeAccept => self.resume_accept(now),
                Timer::ShutdownDeadline => {}
                Timer::Trim => {
                    let started = self.clock.now().mono;
                    // First what connections at rest can rebuild (TLS keys) and what the
                    // room's burst left unused, so that it goes back to the OS too.
                    let rest = self.table.rest();
                    // The deep trim (names repacked, glibc's thread cache emptied) only once
                    // nothing is left to send: it is for the quiet after a burst, and a loop
                    // still sending would pay it every second.
                    let depth = if rest.sending == 0 {
                        self.room.rest();
                        crate::memory::TrimDepth::Deep
                    } else {
                        self.room.rest_while_sending();
                        crate::memory::TrimDepth::Shallow
                    };
                    crate::memory::trim(depth);
                    log::debug!(
                        "heap trimmed ({depth:?}) after {} KiB of buffers were freed, in {:?}; \
                         {} connection(s) still sending, {} of them keep their keys until the \
                         next",
                        self.trim.freed / 1024,
                        self.clock.now().mono.saturating_duration_since(started),
                        rest.sending,
                        rest.keeping,
                    );
                    self.trim = Trim::default();
                    if rest.sending > 0 {
                        // A trim in the middle of a burst: once their output is out, those
                        // connections are at rest too, and the deep trim is owed; nothing else
                        // would trim for them.
                        self.trim.pending = true;
                        self.timers.add(now.mono + limits::TRIM_DELAY, Timer::Trim);
                    }
                }
                Timer::LogFlush => {
                    self.log_flush = false;
                    log::logger().flush();
                }
            }
        }
    }

    fn check_stall(&mut self, id: ConnId, now: Now) {
        let timeout = self.settings.write_timeout;
        let Some(conn) = self.table.get_mut(id) else {
            return;
        };
        match conn.check_stall(now.mono, timeout) {
            Stall::Idle => {}
            Stall::Until(at) => {
                let generation = conn.generation();
                self.timers.add(at, Timer::WriteStall { id, generation });
            }
            Stall::Stalled => {
                // The room logs the leave (`timeout`); this says for how long.
                log::debug!(
                    target: Kind::Kick.target(),
                    "{} output stalled for {timeout:?}; dropping",
                    conn.generation().serial()
                );
                self.kill(id, LeaveReason::Timeout, now);
            }
        }
    }

    /// After a burst of freed buffers, give the memory back to the OS a little later
    /// ([`crate::memory`]).
    pub(super) fn schedule_trim(&mut self, now: Now) {
        if self.trim.freed >= limits::TRIM_AFTER_FREED && !self.trim.pending {
            self.trim.pending = true;
            self.timers.add(now.mono + limits::TRIM_DELAY, Timer::Trim);
        }
    }

    /// The logger counted lines it did not write (or could not write to stderr): a timer has it
    /// write the summary when it is due, whether or not another line comes. At most one such
    /// timer is pending; looking costs one atomic load while the logger has nothing waiting.
    pub(super) fn schedule_log_flush(&mut self, now: Now) {
        if self.log_flush {
            return;
        }
        if let Some(due) = crate::logger::flush_due() {
            self.log_flush = true;
            self.timers.add(now.mono + due, Timer::LogFlush);
        }
    }

    /// Timers are never cancelled, so connection churn leaves stale ones behind until their
    /// deadline. When stale ones dominate, rebuild the heap from the live ones.
    pub(super) fn compact_timers(&mut self) {
        if self.timers.len()
            <= limits::TIMERS_SLACK_FACTOR * self.table.len() + limits::TIMERS_SLACK
        {
            return;
        }
        let table = &self.table;
        self.timers.retain(|t| match *t {
            Timer::WriteStall { id, generation } | Timer::Linger { id, generation } => {
                table.is_current(id, generation)
            }
            Timer::ResumeAccept | Timer::ShutdownDeadline | Timer::Trim | Timer::LogFlush => true,
        });
    }
}
