//! One connection as the event loop holds it ([`Conn`]): its transport, its read side (the
//! decoder's incomplete line), its write queue, and the flags the loop's books depend on, each
//! changed only through a method that keeps its invariant. The connections together, with the
//! loop's per-round lists, are the [`ConnTable`].
//!
//! Generic over the [`Transport`] so the queue and flush rules are tested without a socket; the
//! loop uses `Conn<Link>`.

pub mod arena;
pub mod queue;
pub mod table;

use std::io;
use std::time::{Duration, Instant};

use lanchat_proto::LineDecoder;

use crate::outbox::Serial;
use crate::transport::{Closed, Input, Transport};
use arena::{Arena, Slice};
use queue::OutQueue;

pub use table::{ConnTable, Delivery};

/// What must be written before a queued byte reaches a socket ahead of the round's flush.
///
/// Output is written once a round, at the flush, after the loop has written what the round
/// staged for the disk (the history of what it relayed: a crash must lose nothing a client
/// could have read). But a queue about to pass `--sendq` is offered to the socket at once
/// ([`Conn::queue_with`]); what it holds may have been relayed earlier in the same round, so
/// that write comes after this.
pub trait WriteAhead: std::fmt::Debug + Send {
    /// Write what is staged, without waiting for the disk.
    fn write_ahead(&self);
}

/// A frame to queue: bytes for one connection, or a frame stored once in the [`Arena`].
#[derive(Debug, Clone, Copy)]
pub enum Frame<'a> {
    /// For this connection alone: copied into its queue.
    Own(&'a [u8]),
    /// Shared: the queue points into the arena.
    Shared(Slice),
}

impl Frame<'_> {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Own(b) => b.len(),
            Frame::Shared(s) => s.len(),
        }
    }

    /// True when it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading lines and receiving frames.
    Open,
    /// The room is done with it: flush what is queued, then close (input is discarded).
    Closing,
    /// Everything was sent and the write side shut down; waiting (bounded) for the peer's EOF
    /// so the close does not reset the connection (input is discarded).
    Lingering,
    /// Gone (peer reset, error, too slow): no more IO; removed at the end of the round.
    Dead,
}

/// What [`Conn::queue`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queued {
    /// Appended.
    Yes,
    /// Not appended: it would take the unsent output past the send-queue cap. The connection
    /// is now marked overflowed and takes no more frames.
    Overflow,
    /// Not appended: writing the backlog failed, the peer is gone.
    Broken,
    /// Not appended: the connection is dead or already overflowed.
    Ignored,
}

/// What one [`Conn::flush`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// Nothing is left to write (or nothing can be written before the transport is set up).
    Done,
    /// Bytes remain (the socket buffer is full); wait for WRITABLE.
    Pending,
    /// A closing connection has sent everything and shut its write side.
    Closed,
}

/// Tells a connection from earlier ones in the same table slot: timers carry it, so a timer
/// set for a connection that has gone never hits the one that took its slot. Counted up per
/// connection accepted and never reused, it is also the connection's number in the log
/// ([`Generation::serial`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Generation(pub u64);

impl Generation {
    /// The connection's number in the log (`#17`).
    pub fn serial(self) -> Serial {
        Serial(self.0)
    }
}

/// A connection's state in the loop.
#[derive(Debug)]
pub struct Conn<T> {
    transport: T,
    /// Read side: an incomplete line, at most `max_line + 1` bytes.
    decoder: LineDecoder,
    /// Write side. Holds memory only while it holds unsent bytes.
    out: OutQueue,
    /// Unsent bytes of the frame that went into an empty queue: not counted against `sendq`
    /// (see [`Conn::queue`]). Invariant: `head <= out.len()`.
    head: usize,
    phase: Phase,
    generation: Generation,
    /// On the table's flush list for this round (at most once).
    in_flush_list: bool,
    /// On the table's carry list (read first thing next round; at most once).
    carried: bool,
    /// WRITABLE interest is registered (only while output is pending).
    writable: bool,
    /// A write-stall timer is pending for this connection (at most one).
    stall_timer: bool,
    /// The send queue overflowed; the connection is being dropped as too slow.
    overflowed: bool,
    /// The peer has shut down its side (read returned EOF).
    eof_seen: bool,
    /// Reset instead of a graceful close (dropped as too slow or stalled).
    reset: bool,
    /// Last time a write moved bytes (or the connection was created).
    last_progress: Instant,
    /// The loop's round number that `read_this_round` counts for.
    read_round: u64,
    /// Bytes read in round `read_round`: the per-round read budget holds across the round's
    /// main read and the reads during its flush.
    read_this_round: usize,
    /// Bytes written since the loop last took the count ([`Conn::take_sent`]), for the
    /// server's statistics.
    sent: usize,
}

impl<T> Conn<T> {
    /// A fresh connection.
    pub fn new(transport: T, max_line: usize, generation: Generation, now: Instant) -> Self {
        Conn {
            transport,
            decoder: LineDecoder::new(max_line),
            out: OutQueue::default(),
            head: 0,
            phase: Phase::Open,
            generation,
            in_flush_list: false,
            carried: false,
            writable: false,
            stall_timer: false,
            overflowed: false,
            eof_seen: false,
            reset: false,
            last_progress: now,
            read_round: 0,
            read_this_round: 0,
            sent: 0,
        }
    }

    /// Where it is in its life.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Reading lines and receiving frames.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Its generation.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// The transport, to register it with the poll.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The decoder, lent out while its lines are handed to the room (which may queue frames on
    /// this very connection meanwhile); give it back with [`Conn::put_decoder`].
    pub fn take_decoder(&mut self) -> LineDecoder {
        std::mem::take(&mut self.decoder)
    }

    /// Give back the decoder [`Conn::take_decoder`] lent.
    pub fn put_decoder(&mut self, decoder: LineDecoder) {
        self.decoder = decoder;
    }

    /// The room is done with it: flush, then close. Only an open connection starts closing.
    pub fn close(&mut self) {
        if self.phase == Phase::Open {
            self.phase = Phase::Closing;
        }
    }

    /// Everything is sent and the write side shut: wait (bounded) for the peer's EOF.
    pub fn begin_linger(&mut self) {
        if self.phase == Phase::Closing {
            self.phase = Phase::Lingering;
        }
    }

    /// Mark it dead; true the first time only (the caller then queues it for removal).
    pub(crate) fn mark_dead(&mut self) -> bool {
        let first = self.phase != Phase::Dead;
        self.phase = Phase::Dead;
        first
    }

    /// Put it on the flush list: true if it was not on it yet.
    pub(crate) fn mark_for_flush(&mut self) -> bool {
        !std::mem::replace(&mut self.in_flush_list, true)
    }

    /// Take it off the flush list: true if it was on it (its one write of the round is due).
    /// Public for what drives a table as the loop does (`examples/fanout_cost`).
    pub fn take_flush_mark(&mut self) -> bool {
        std::mem::replace(&mut self.in_flush_list, false)
    }

    /// Put it on the carry list: true if it was not on it yet.
    pub(crate) fn mark_carried(&mut self) -> bool {
        !std::mem::replace(&mut self.carried, true)
    }

    /// Off the carry list (its carried read is being done).
    pub(crate) fn clear_carried(&mut self) {
        self.carried = false;
    }

    /// Close with a reset rather than gracefully.
    pub fn set_reset(&mut self) {
        self.reset = true;
    }

    /// Closes with a reset.
    pub fn resets(&self) -> bool {
        self.reset
    }

    /// The peer shut down its side.
    pub fn saw_eof(&mut self) {
        self.eof_seen = true;
        // A line cut off by the close is never relayed.
        self.decoder.reset();
    }

    /// The peer has shut down its side.
    pub fn eof_seen(&self) -> bool {
        self.eof_seen
    }

    /// Whether this round's read budget is used up (the rest is read next round).
    pub fn read_budget_spent(&mut self, round: u64, budget: usize) -> bool {
        self.roll_round(round);
        self.read_this_round >= budget
    }

    /// Count `n` bytes read in `round` against the read budget.
    pub fn charge_read(&mut self, round: u64, n: usize) {
        self.roll_round(round);
        self.read_this_round += n;
    }

    fn roll_round(&mut self, round: u64) {
        if self.read_round != round {
            self.read_round = round;
            self.read_this_round = 0;
        }
    }

    /// Want WRITABLE interest or not; true if that differs from what is registered (the
    /// caller re-registers).
    pub fn set_writable(&mut self, want: bool) -> bool {
        want != std::mem::replace(&mut self.writable, want)
    }

    /// Arm the write-stall timer: true if none was pending (the caller adds one).
    pub fn arm_stall_timer(&mut self) -> bool {
        !std::mem::replace(&mut self.stall_timer, true)
    }

    /// Bytes written since the last call (by flushes, and by queueing that offered the backlog
    /// to the socket first).
    pub fn take_sent(&mut self) -> usize {
        std::mem::take(&mut self.sent)
    }

    /// Let go of everything queued (the connection is being removed).
    pub fn discard_output(&mut self, arena: &mut Arena) {
        self.out.clear(arena);
        self.head = 0;
    }
}

impl<T: Transport> Conn<T> {
    /// Read what the peer sent (plaintext) into `buf`; what the transport's work on it cost
    /// beyond its bytes ([`Transport::take_work`]) is charged to the read budget of `round`.
    ///
    /// # Errors
    /// The transport's: the connection is over.
    pub fn read(&mut self, buf: &mut [u8], round: u64) -> io::Result<Input> {
        let input = self.transport.read(buf);
        let work = self.transport.take_work();
        if work > 0 {
            self.charge_read(round, work);
        }
        input
    }

    /// Unsent bytes, the transport's own included.
    pub fn pending(&self) -> usize {
        self.queued() + self.transport.backlog()
    }

    /// Bytes in the write queue.
    fn queued(&self) -> usize {
        self.out.len()
    }

    /// The transport has output of its own (a handshake answer), or was just set up with
    /// output queued meanwhile (the greeting): flush it.
    pub fn wants_write(&self) -> bool {
        self.transport.wants_write()
    }

    /// Still setting up its transport; nothing queued can be delivered yet.
    pub fn is_handshaking(&self) -> bool {
        self.transport.is_handshaking()
    }

    /// Its next input is the costly part of its transport's set-up (a TLS `ClientHello`).
    pub fn awaits_hello(&self) -> bool {
        self.transport.awaits_hello()
    }

    /// The key the peer proved it holds while setting up the transport (see
    /// [`Transport::take_peer_key`]), once.
    pub fn take_peer_key(&mut self) -> Option<lanchat_proto::Fingerprint> {
        self.transport.take_peer_key()
    }

    /// With nothing to send, its transport lets go of what it can rebuild
    /// ([`Transport::rest`]); false if it could not, having output pending and something to
    /// let go of once that is out.
    pub fn rest(&mut self) -> bool {
        if self.pending() > 0 {
            return !self.transport.can_rest();
        }
        self.transport.rest();
        true
    }

    /// Whether its transport built state it can let go of since last asked.
    pub fn take_built(&mut self) -> bool {
        self.transport.take_built()
    }

    /// Heap bytes held by the write and read buffers, the transport's own included (for
    /// memory accounting).
    pub fn buffered_capacity(&self) -> usize {
        self.out.capacity() + self.decoder.capacity() + self.transport.buffered_capacity()
    }

    /// Its write-stall timer fired at `now`: is output stalled for `timeout`?
    pub fn check_stall(&mut self, now: Instant, timeout: Duration) -> Stall {
        self.stall_timer = false;
        if self.pending() == 0 {
            return Stall::Idle;
        }
        let deadline = self.last_progress + timeout;
        if now >= deadline {
            Stall::Stalled
        } else {
            self.stall_timer = true;
            Stall::Until(deadline)
        }
    }

    /// Queue a frame, unless that would take unsent output past `sendq`.
    ///
    /// A frame into an empty queue is always taken and, while it drains, does not count
    /// against the cap: one large frame (a newcomer's welcome with the history and the member
    /// list of a big room, a `/who` reply) can be bigger than `sendq`, and the frames that
    /// follow it still get `sendq` of their own. So such a frame cannot by itself make a
    /// connection "too slow"; memory per connection stays under `sendq` + its largest frame.
    ///
    /// Output is normally written once, at the end of the poll round; but one round can queue
    /// more than `sendq` for a reader that is keeping up (many senders, each read up to its
    /// budget). So before a frame would overflow, the backlog is offered to the socket: only
    /// what the kernel will not take counts as unsent.
    pub fn queue(
        &mut self,
        frame: Frame<'_>,
        sendq: usize,
        now: Instant,
        arena: &mut Arena,
    ) -> Queued {
        self.queue_with(frame, sendq, now, arena, || {})
    }

    /// [`Conn::queue`], calling `before_write` before the backlog is offered to the socket
    /// ahead of the flush (see [`WriteAhead`]).
    pub fn queue_with(
        &mut self,
        frame: Frame<'_>,
        sendq: usize,
        now: Instant,
        arena: &mut Arena,
        before_write: impl FnOnce(),
    ) -> Queued {
        if self.phase == Phase::Dead || self.overflowed {
            return Queued::Ignored;
        }
        let len = frame.len();
        let over = |c: &Self| c.pending() > 0 && c.pending() - c.head + len > sendq;
        if over(self) {
            before_write();
            if self.write_some(now, arena).is_err() {
                self.overflowed = true;
                return Queued::Broken;
            }
            if over(self) {
                self.overflowed = true;
                return Queued::Overflow;
            }
        }
        self.append(frame, arena);
        Queued::Yes
    }

    /// Queue bytes regardless of the cap (a last `BYE`).
    pub fn queue_unchecked(&mut self, frame: &[u8], arena: &mut Arena) {
        self.append(Frame::Own(frame), arena);
    }

    fn append(&mut self, frame: Frame<'_>, arena: &mut Arena) {
        if self.pending() == 0 {
            self.head = frame.len();
        }
        match frame {
            Frame::Own(bytes) => self.out.push_own(bytes),
            Frame::Shared(slice) => self.out.push_shared(slice, arena),
        }
    }

    /// One write of the pending bytes; for a closing connection with nothing left, the end of
    /// its stream. What a write leaves of shared frames is copied into the connection's own
    /// buffer, so a connection that does not keep up holds no shared chunk past its flush.
    ///
    /// # Errors
    /// The transport's (reset, broken pipe, ...): the connection is over.
    pub fn flush(&mut self, now: Instant, arena: &mut Arena) -> io::Result<Flushed> {
        if self.pending() > 0 {
            self.write_some(now, arena)?;
        }
        if self.transport.is_handshaking() && self.transport.backlog() == 0 {
            // What is queued waits for the transport to be set up, which says so through
            // `wants_write`; until then there is nothing to wait for the socket about.
            self.out.settle(arena);
            return Ok(Flushed::Done);
        }
        if self.pending() > 0 {
            self.out.settle(arena);
            return Ok(Flushed::Pending);
        }
        self.head = 0;
        if self.phase != Phase::Closing {
            return Ok(Flushed::Done);
        }
        match self.transport.close_write()? {
            Closed::Done => Ok(Flushed::Closed),
            Closed::Pending => Ok(Flushed::Pending),
        }
    }

    /// One write to the transport; `WouldBlock` is no error.
    fn write_some(&mut self, now: Instant, arena: &mut Arena) -> io::Result<()> {
        let backlog = self.transport.backlog();
        let written = match self.out.write(&mut self.transport, arena) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(e) => return Err(e),
        };
        self.head = self.head.saturating_sub(written);
        self.sent += written;
        if written > 0 || self.transport.backlog() < backlog {
            self.last_progress = now;
        }
        Ok(())
    }
}

/// What [`Conn::check_stall`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// Nothing is pending: no timer needed.
    Idle,
    /// Progress was made since the timer was set: check again at this deadline.
    Until(Instant),
    /// No progress for the whole timeout: drop it.
    Stalled,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::test_stream::{Plain, Sink};

    /// A connection over an in-memory sink taking `room` bytes per write, with its arena.
    struct Fixture {
        c: Conn<Plain<Sink>>,
        a: Arena,
    }

    fn conn(room: usize) -> Fixture {
        Fixture {
            c: Conn::new(Plain(Sink::taking(room)), 64, Generation(1), Instant::now()),
            a: Arena::default(),
        }
    }

    impl Fixture {
        /// Queue `bytes` (its own frame) against a sendq of 100.
        fn q(&mut self, bytes: &[u8]) -> Queued {
            self.c
                .queue(Frame::Own(bytes), 100, Instant::now(), &mut self.a)
        }

        fn flush(&mut self) -> io::Result<Flushed> {
            self.c.flush(Instant::now(), &mut self.a)
        }

        fn sink(&mut self) -> &mut Sink {
            &mut self.c.transport.0
        }
    }

    #[test]
    fn frames_queued_in_a_round_leave_in_one_write() {
        let mut f = conn(1 << 20);
        assert_eq!(f.q(b"MSG a x\n"), Queued::Yes);
        assert_eq!(f.q(b"MSG b y\n"), Queued::Yes);
        assert_eq!(f.flush().unwrap(), Flushed::Done);
        assert_eq!(f.sink().got, b"MSG a x\nMSG b y\n");
        assert_eq!(f.sink().writes, 1);
        assert_eq!(
            f.c.buffered_capacity(),
            0,
            "an idle connection holds no buffer"
        );
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let mut f = conn(5);
        f.q(b"0123456789\n");
        assert_eq!(f.flush().unwrap(), Flushed::Pending);
        assert_eq!(f.c.pending(), 6);
        f.q(b"ab\n");
        f.sink().room = 100;
        assert_eq!(f.flush().unwrap(), Flushed::Done);
        assert_eq!(f.sink().got, b"0123456789\nab\n");
    }

    #[test]
    fn sendq_cap_marks_overflow() {
        let mut f = conn(0);
        assert_eq!(f.q(b"\n"), Queued::Yes, "the first frame is free");
        for _ in 0..10 {
            assert_eq!(f.q(&[b'x'; 10]), Queued::Yes);
        }
        assert_eq!(f.q(b"more\n"), Queued::Overflow);
        assert!(f.c.overflowed);
        assert_eq!(f.q(b"more\n"), Queued::Ignored);
        assert_eq!(f.c.pending(), 101);
    }

    #[test]
    fn a_first_frame_bigger_than_sendq_leaves_the_cap_to_the_frames_after_it() {
        // Regression: a welcome bigger than --sendq made the next line drop a healthy client.
        let mut f = conn(0);
        assert_eq!(f.q(&[b'w'; 500]), Queued::Yes);
        for _ in 0..10 {
            assert_eq!(f.q(&[b'x'; 10]), Queued::Yes);
        }
        assert_eq!(f.q(b"more\n"), Queued::Overflow, "past 100 of its own");
        assert_eq!(f.c.pending(), 600);

        // As the big frame drains, its exemption shrinks with it.
        let mut f = conn(0);
        assert_eq!(f.q(&[b'w'; 500]), Queued::Yes);
        f.sink().room = 450;
        assert_eq!(f.flush().unwrap(), Flushed::Pending);
        f.sink().room = 0;
        // 50 of the big frame left unsent, exempt; then 100 of its own.
        assert_eq!(f.q(&[b'x'; 50]), Queued::Yes);
        assert_eq!(f.q(&[b'x'; 50]), Queued::Yes);
        assert_eq!(f.q(b"!"), Queued::Overflow);
        assert_eq!(f.c.pending(), 150);
    }

    #[test]
    fn a_backlog_the_socket_takes_does_not_count_against_sendq() {
        // Regression: a round that queued more than sendq for a reader keeping up dropped it.
        let mut f = conn(1 << 20);
        assert_eq!(f.q(&[b'x'; 80]), Queued::Yes);
        assert_eq!(f.q(&[b'y'; 80]), Queued::Yes);
        assert_eq!(f.q(&[b'z'; 80]), Queued::Yes);
        assert_eq!(f.c.pending(), 80, "the first 160 bytes went to the socket");
        assert_eq!(f.sink().got.len(), 160);
        assert!(!f.c.overflowed);
    }

    #[test]
    fn shared_frames_count_like_own_ones_and_are_let_go_once_written() {
        let mut f = conn(0);
        let shared = f.a.append(&[b's'; 60]);
        let now = Instant::now();
        assert_eq!(f.q(&[b'w'; 500]), Queued::Yes);
        let queued = f.c.queue(Frame::Shared(shared), 100, now, &mut f.a);
        assert_eq!(queued, Queued::Yes);
        let queued = f.c.queue(Frame::Shared(shared), 100, now, &mut f.a);
        assert_eq!(queued, Queued::Overflow, "60 + 60 of its own is past 100");
        assert_eq!(f.c.pending(), 560);
        f.sink().room = usize::MAX / 2;
        assert_eq!(f.flush().unwrap(), Flushed::Done);
        let mut want = vec![b'w'; 500];
        want.extend([b's'; 60]);
        assert_eq!(f.sink().got, want);
        f.a.end_round();
        assert_eq!(
            f.a.live_chunks(),
            1,
            "only the arena's current chunk, reset"
        );
    }

    #[test]
    fn write_errors_surface() {
        let mut f = conn(10);
        f.sink().fail = Some(io::ErrorKind::BrokenPipe);
        f.q(b"x\n");
        assert_eq!(f.flush().unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn a_stall_is_measured_from_the_last_progress() {
        let mut a = Arena::default();
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut c = Conn::new(Plain(Sink::taking(4)), 64, Generation(1), t0);
        assert_eq!(c.check_stall(t0 + second, second), Stall::Idle);
        c.queue(Frame::Own(b"0123456789\n"), 100, t0, &mut a);
        assert!(c.arm_stall_timer());
        assert!(!c.arm_stall_timer(), "one timer at a time");
        // Progress half a second in: the deadline moves with it.
        assert_eq!(c.flush(t0 + second / 2, &mut a).unwrap(), Flushed::Pending);
        assert_eq!(
            c.check_stall(t0 + second, second),
            Stall::Until(t0 + second * 3 / 2)
        );
        c.transport.0.room = 0;
        assert_eq!(c.flush(t0 + second, &mut a).unwrap(), Flushed::Pending);
        assert_eq!(c.check_stall(t0 + second * 3 / 2, second), Stall::Stalled);
    }

    #[test]
    fn flags_change_once() {
        let Fixture { mut c, .. } = conn(10);
        assert!(c.mark_for_flush());
        assert!(!c.mark_for_flush());
        assert!(c.take_flush_mark());
        assert!(!c.take_flush_mark());
        assert!(c.set_writable(true));
        assert!(!c.set_writable(true));
        assert!(c.set_writable(false));
        assert!(c.mark_dead());
        assert!(!c.mark_dead());
        c.close();
        assert_eq!(
            c.phase(),
            Phase::Dead,
            "a dead connection does not come back to close"
        );
    }

    #[test]
    fn a_closing_connection_ends_its_stream_after_the_last_byte() {
        let mut f = conn(3);
        f.q(b"BYE\n");
        f.c.close();
        assert_eq!(f.flush().unwrap(), Flushed::Pending);
        f.sink().room = 100;
        assert_eq!(f.flush().unwrap(), Flushed::Closed);
        assert_eq!(f.sink().got, b"BYE\n");
    }
}
