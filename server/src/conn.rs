//! One connection as the event loop holds it: the socket, its read buffer (the decoder's
//! incomplete line) and its write buffer, and the rules for queueing and flushing output.
//!
//! Generic over the stream so the buffer rules are tested without a socket; the loop uses
//! `Conn<mio::net::TcpStream>`.

use std::io::{self, Write};
use std::time::Instant;

use lanchat_proto::LineDecoder;

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
    /// Nothing is left to write.
    Done,
    /// Bytes remain (the socket buffer is full); wait for WRITABLE.
    Pending,
}

/// A connection's state in the loop.
#[derive(Debug)]
pub struct Conn<S> {
    /// The socket.
    pub stream: S,
    /// Read side: an incomplete line, at most `max_line + 1` bytes.
    pub decoder: LineDecoder,
    /// Write side. Holds memory only while it holds unsent bytes.
    out: Vec<u8>,
    /// Bytes at the front of `out` already written. Invariant: `out_pos <= out.len()`.
    out_pos: usize,
    /// Life stage.
    pub phase: Phase,
    /// Distinguishes this connection from earlier ones in the same slab slot (for timers).
    pub generation: u64,
    /// Already in the loop's flush list for this round.
    pub in_flush_list: bool,
    /// WRITABLE interest is registered (only while output is pending).
    pub write_interest: bool,
    /// A write-stall timer is pending for this connection.
    pub stall_timer: bool,
    /// The send queue overflowed; the connection is being dropped as too slow.
    pub overflowed: bool,
    /// Last time a write moved bytes (or the connection was created).
    pub last_progress: Instant,
    /// The peer has shut down its side (read returned 0).
    pub eof_seen: bool,
    /// Reset instead of a graceful close (dropped as too slow or stalled).
    pub abort: bool,
    /// The loop's round number that `read_this_round` counts for.
    pub read_round: u64,
    /// Unsent bytes of the frame that went into an empty queue: not counted against `sendq`
    /// (see [`Conn::queue`]).
    head: usize,
    /// Bytes read in round `read_round`: the per-round read budget holds across the round's
    /// main read and the reads during its flush.
    pub read_this_round: usize,
    /// On the loop's `carry` list (read first thing next round); keeps it there once.
    pub carried: bool,
}

impl<S: Write> Conn<S> {
    /// A fresh connection.
    pub fn new(stream: S, max_line: usize, generation: u64, now: Instant) -> Self {
        Conn {
            stream,
            decoder: LineDecoder::new(max_line),
            out: Vec::new(),
            out_pos: 0,
            phase: Phase::Open,
            generation,
            in_flush_list: false,
            write_interest: false,
            stall_timer: false,
            overflowed: false,
            last_progress: now,
            eof_seen: false,
            abort: false,
            head: 0,
            read_round: 0,
            read_this_round: 0,
            carried: false,
        }
    }

    /// Unsent bytes.
    pub fn pending(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Heap bytes held by the write and read buffers (for memory accounting).
    pub fn buffered_capacity(&self) -> usize {
        self.out.capacity() + self.decoder.capacity()
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
    pub fn queue(&mut self, frame: &[u8], sendq: usize) -> Queued {
        if self.phase == Phase::Dead || self.overflowed {
            return Queued::Ignored;
        }
        let over = |c: &Self| c.pending() > 0 && c.pending() - c.head + frame.len() > sendq;
        if over(self) {
            if self.flush(Instant::now()).is_err() {
                self.overflowed = true;
                return Queued::Broken;
            }
            if over(self) {
                self.overflowed = true;
                return Queued::Overflow;
            }
        }
        self.append(frame);
        Queued::Yes
    }

    /// Queue a frame regardless of the cap (a last `BYE`).
    pub fn queue_unchecked(&mut self, frame: &[u8]) {
        self.append(frame);
    }

    fn append(&mut self, frame: &[u8]) {
        if self.pending() == 0 {
            self.head = frame.len();
        }
        if self.out_pos > 0 && self.out_pos >= self.out.len() / 2 {
            // Most of the buffer is already written: move the rest down instead of growing.
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
        self.out.extend_from_slice(frame);
    }

    /// One write of the pending bytes (retried only on `Interrupted`).
    ///
    /// # Errors
    /// The socket's error (reset, broken pipe, ...): the connection is over.
    pub fn flush(&mut self, now: Instant) -> io::Result<Flushed> {
        loop {
            if self.pending() == 0 {
                self.release();
                return Ok(Flushed::Done);
            }
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out_pos += n;
                    self.head = self.head.saturating_sub(n);
                    self.last_progress = now;
                    if self.pending() == 0 {
                        self.release();
                        return Ok(Flushed::Done);
                    }
                    return Ok(Flushed::Pending);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flushed::Pending),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Give the write buffer's memory back: an idle connection holds none.
    fn release(&mut self) {
        self.out = Vec::new();
        self.out_pos = 0;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that accepts at most `room` bytes per call, or fails.
    struct Sink {
        got: Vec<u8>,
        room: usize,
        fail: Option<io::ErrorKind>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(kind) = self.fail {
                return Err(kind.into());
            }
            if self.room == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.room);
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn conn(room: usize) -> Conn<Sink> {
        let sink = Sink {
            got: Vec::new(),
            room,
            fail: None,
        };
        Conn::new(sink, 64, 1, Instant::now())
    }

    #[test]
    fn frames_queued_in_a_round_leave_in_one_write() {
        let mut c = conn(1 << 20);
        assert_eq!(c.queue(b"MSG a x\n", 100), Queued::Yes);
        assert_eq!(c.queue(b"MSG b y\n", 100), Queued::Yes);
        assert_eq!(c.flush(Instant::now()).unwrap(), Flushed::Done);
        assert_eq!(c.stream.got, b"MSG a x\nMSG b y\n");
        assert_eq!(
            c.buffered_capacity(),
            0,
            "an idle connection holds no buffer"
        );
    }

    #[test]
    fn partial_writes_resume_where_they_stopped() {
        let mut c = conn(5);
        c.queue(b"0123456789\n", 100);
        assert_eq!(c.flush(Instant::now()).unwrap(), Flushed::Pending);
        assert_eq!(c.pending(), 6);
        c.queue(b"ab\n", 100);
        c.stream.room = 100;
        assert_eq!(c.flush(Instant::now()).unwrap(), Flushed::Done);
        assert_eq!(c.stream.got, b"0123456789\nab\n");
    }

    #[test]
    fn sendq_cap_marks_overflow() {
        let mut c = conn(0);
        assert_eq!(c.queue(b"\n", 100), Queued::Yes, "the first frame is free");
        for _ in 0..10 {
            assert_eq!(c.queue(&[b'x'; 10], 100), Queued::Yes);
        }
        assert_eq!(c.queue(b"more\n", 100), Queued::Overflow);
        assert!(c.overflowed);
        assert_eq!(c.queue(b"more\n", 100), Queued::Ignored);
        assert_eq!(c.pending(), 101);
    }

    #[test]
    fn a_first_frame_bigger_than_sendq_leaves_the_cap_to_the_frames_after_it() {
        // Regression: a welcome bigger than --sendq made the next line drop a healthy client.
        let mut c = conn(0);
        assert_eq!(c.queue(&[b'w'; 500], 100), Queued::Yes);
        for _ in 0..10 {
            assert_eq!(c.queue(&[b'x'; 10], 100), Queued::Yes);
        }
        assert_eq!(
            c.queue(b"more\n", 100),
            Queued::Overflow,
            "past 100 of its own"
        );
        assert_eq!(c.pending(), 600);

        // As the big frame drains, its exemption shrinks with it.
        let mut c = conn(0);
        assert_eq!(c.queue(&[b'w'; 500], 100), Queued::Yes);
        c.stream.room = 450;
        assert_eq!(c.flush(Instant::now()).unwrap(), Flushed::Pending);
        c.stream.room = 0;
        // 50 of the big frame left unsent, exempt; then 100 of its own.
        assert_eq!(c.queue(&[b'x'; 50], 100), Queued::Yes);
        assert_eq!(c.queue(&[b'x'; 50], 100), Queued::Yes);
        assert_eq!(c.queue(b"!", 100), Queued::Overflow);
        assert_eq!(c.pending(), 150);
    }

    #[test]
    fn a_backlog_the_socket_takes_does_not_count_against_sendq() {
        // Regression: a round that queued more than sendq for a reader keeping up dropped it.
        let mut c = conn(1 << 20);
        assert_eq!(c.queue(&[b'x'; 80], 100), Queued::Yes);
        assert_eq!(c.queue(&[b'y'; 80], 100), Queued::Yes);
        assert_eq!(c.queue(&[b'z'; 80], 100), Queued::Yes);
        assert_eq!(c.pending(), 80, "the first 160 bytes went to the socket");
        assert_eq!(c.stream.got.len(), 160);
        assert!(!c.overflowed);
    }

    #[test]
    fn write_errors_surface() {
        let mut c = conn(10);
        c.stream.fail = Some(io::ErrorKind::BrokenPipe);
        c.queue(b"x\n", 100);
        assert_eq!(
            c.flush(Instant::now()).unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    }
}
