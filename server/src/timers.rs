//! The loop's timers: one binary heap of deadlines that feeds the poll timeout.
//!
//! Timers are never cancelled; a timer for a connection carries the connection's generation,
//! and one that fires for a connection that has since gone (or whose slot was reused) is
//! ignored. That keeps the heap a plain heap. (Handshake deadlines are the room's own:
//! [`crate::Room::poll_timeout`].)

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use crate::conn::Generation;
use crate::outbox::ConnId;

/// What a timer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Timer {
    /// The connection's output must have made progress by now.
    WriteStall {
        /// The connection.
        id: ConnId,
        /// Connection generation.
        generation: Generation,
    },
    /// A closed connection has waited long enough for its peer's EOF.
    Linger {
        /// The connection.
        id: ConnId,
        /// Connection generation.
        generation: Generation,
    },
    /// The listener has rested after fd exhaustion; put it back in the poll.
    ResumeAccept,
    /// The shutdown flush time is up.
    ShutdownDeadline,
    /// Give freed buffer memory back to the OS.
    Trim,
    /// The logger has a summary (or lost lines) to write: have it written even if no other
    /// line comes ([`crate::logger::flush_due`]).
    LogFlush,
}

/// A min-heap of `(deadline, timer)`.
#[derive(Debug, Default)]
pub struct Timers {
    /// `seq` keeps timers with equal deadlines in insertion order.
    heap: BinaryHeap<Reverse<(Instant, u64, Timer)>>,
    seq: u64,
}

impl Timers {
    /// No timers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fire `timer` at `at`.
    pub fn add(&mut self, at: Instant, timer: Timer) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, timer)));
    }

    /// The earliest deadline.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// How long the loop may sleep: until the earliest deadline (zero if one has passed).
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        self.next_deadline()
            .map(|at| at.saturating_duration_since(now))
    }

    /// The next timer due at `now`, earliest first.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self.heap.pop().map(|Reverse((_, _, t))| t),
            _ => None,
        }
    }

    /// Keep only the timers `keep` approves of (O(n); for an occasional clean-up).
    pub fn retain(&mut self, mut keep: impl FnMut(&Timer) -> bool) {
        self.heap.retain(|Reverse((_, _, t))| keep(t));
    }

    /// Timers pending.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_order_and_only_when_due() {
        let t0 = Instant::now();
        let mut t = Timers::new();
        t.add(t0 + Duration::from_secs(2), Timer::ShutdownDeadline);
        t.add(t0 + Duration::from_secs(1), Timer::ResumeAccept);
        t.add(
            t0 + Duration::from_secs(1),
            Timer::Linger {
                id: ConnId(3),
                generation: Generation(9),
            },
        );
        assert_eq!(t.timeout(t0), Some(Duration::from_secs(1)));
        assert_eq!(t.pop_due(t0), None);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(t.pop_due(t1), Some(Timer::ResumeAccept));
        assert_eq!(
            t.pop_due(t1),
            Some(Timer::Linger {
                id: ConnId(3),
                generation: Generation(9)
            })
        );
        assert_eq!(t.pop_due(t1), None);
        assert_eq!(t.timeout(t0 + Duration::from_secs(5)), Some(Duration::ZERO));
        assert_eq!(t.len(), 1);
    }
}
