//! A connection's write queue: its own bytes (frames for it alone) and segments of shared
//! frames in the [`Arena`], in the order they were queued, written with one vectored write.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use super::arena::{Arena, Slice};
use crate::transport::Transport;

/// Segments handed to one vectored write at most (Linux's `IOV_MAX` is 1024; a queue rarely
/// holds more than a few, and one with more is made one segment first).
const MAX_IOV: usize = 64;

/// One run of queued bytes.
#[derive(Debug, Clone, Copy)]
enum Seg {
    /// The next `n` bytes of the queue's own buffer.
    Own(usize),
    /// Bytes of a shared frame.
    Shared(Slice),
}

/// Unsent output, in order.
#[derive(Debug, Default)]
pub struct OutQueue {
    /// Its own bytes and the segments before `last`: apart, so that a connection at rest (or
    /// with only shared frames queued) carries one pointer for them instead of 64 bytes.
    /// `None` when there are none.
    spill: Option<Box<Spill>>,
    /// The newest segment, kept in the queue itself: the usual queue of a round (one run of
    /// broadcasts) is this alone, and queueing a frame then touches no heap memory of the
    /// connection's at all. `None` only when the queue is empty.
    last: Option<Seg>,
    /// Unsent bytes in all segments. Invariant: the sum of the segments' lengths.
    len: usize,
}

/// What a queue holds beyond its newest segment.
#[derive(Debug, Default)]
struct Spill {
    /// Bytes of the `Own` segments, in order; `own[own_pos..]` is unsent.
    own: Vec<u8>,
    own_pos: usize,
    /// The segments before the queue's `last`, oldest first.
    segs: VecDeque<Seg>,
}

impl OutQueue {
    /// Unsent bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes the queue holds itself (shared chunks are the arena's).
    pub fn capacity(&self) -> usize {
        self.spill.as_ref().map_or(0, |s| {
            std::mem::size_of::<Spill>()
                + s.own.capacity()
                + s.segs.capacity() * std::mem::size_of::<Seg>()
        })
    }

    /// Queue bytes for this connection alone.
    pub fn push_own(&mut self, frame: &[u8]) {
        if frame.is_empty() {
            return;
        }
        let spill = self.spill.get_or_insert_default();
        if spill.own_pos > 0 && spill.own_pos >= spill.own.len() / 2 {
            // Most of the buffer is already written: move the rest down instead of growing.
            spill.own.drain(..spill.own_pos);
            spill.own_pos = 0;
        }
        spill.own.extend_from_slice(frame);
        match &mut self.last {
            Some(Seg::Own(n)) => *n += frame.len(),
            last => spill.segs.extend(last.replace(Seg::Own(frame.len()))),
        }
        self.len += frame.len();
    }

    /// Queue a shared frame; it stays in the arena, held by this queue until written.
    pub fn push_shared(&mut self, slice: Slice, arena: &mut Arena) {
        if slice.is_empty() {
            return;
        }
        match &mut self.last {
            Some(Seg::Shared(last)) if last.joins(&slice) => last.extend(&slice),
            last => {
                arena.hold(slice.chunk());
                if let Some(before) = last.replace(Seg::Shared(slice)) {
                    self.spill.get_or_insert_default().segs.push_back(before);
                }
            }
        }
        self.len += slice.len();
    }

    /// Every segment, oldest first.
    fn all(&self) -> impl Iterator<Item = &Seg> {
        self.spill
            .iter()
            .flat_map(|s| s.segs.iter())
            .chain(&self.last)
    }

    /// How many segments there are.
    fn count(&self) -> usize {
        self.spill.as_ref().map_or(0, |s| s.segs.len()) + usize::from(self.last.is_some())
    }

    /// One write of the front of the queue to `transport`; returns the bytes it took.
    ///
    /// # Errors
    /// The transport's, `WouldBlock` included.
    pub fn write<T: Transport>(
        &mut self,
        transport: &mut T,
        arena: &mut Arena,
    ) -> io::Result<usize> {
        if self.count() > MAX_IOV {
            // Rare (a queue of many private lines between broadcasts): one segment, so all of
            // it can go in this one write.
            self.settle(arena);
        }
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let mut used = 0;
        let (own, mut own_at) = self
            .spill
            .as_ref()
            .map_or((&[][..], 0), |s| (&s.own[..], s.own_pos));
        for (slot, seg) in iov.iter_mut().zip(self.all()) {
            *slot = IoSlice::new(match *seg {
                Seg::Own(n) => {
                    let bytes = &own[own_at..own_at + n];
                    own_at += n;
                    bytes
                }
                Seg::Shared(ref s) => arena.bytes(s),
            });
            used += 1;
        }
        let n = transport.write(&iov[..used])?;
        self.consume(n.min(self.len), arena);
        Ok(n)
    }

    /// The first `n` bytes were written.
    fn consume(&mut self, mut n: usize, arena: &mut Arena) {
        self.len -= n;
        // Own bytes written, to move `own_pos` on by (there are some only with a spill).
        let mut own_done = 0;
        while n > 0 {
            let front = self.spill.as_mut().and_then(|s| s.segs.front_mut());
            let Some(seg) = front.or(self.last.as_mut()) else {
                break;
            };
            let done = match seg {
                Seg::Own(left) => {
                    let k = n.min(*left);
                    *left -= k;
                    own_done += k;
                    n -= k;
                    (*left == 0).then_some(None)
                }
                Seg::Shared(s) => {
                    let k = n.min(s.len());
                    s.advance(k);
                    n -= k;
                    s.is_empty().then_some(Some(s.chunk()))
                }
            };
            if let Some(chunk) = done {
                let popped = self.spill.as_mut().and_then(|s| s.segs.pop_front());
                if popped.is_none() {
                    self.last = None;
                }
                if let Some(chunk) = chunk {
                    arena.release(chunk);
                }
            }
        }
        if let Some(s) = self.spill.as_mut() {
            s.own_pos += own_done;
        }
        if self.len == 0 {
            self.release();
        }
    }

    /// Copy what is left of the shared frames into the queue's own buffer and let go of the
    /// chunks: a connection that could not take its output in its write keeps no chunk alive.
    pub fn settle(&mut self, arena: &mut Arena) {
        let no_segs = self.spill.as_ref().is_none_or(|s| s.segs.is_empty());
        if no_segs && !matches!(self.last, Some(Seg::Shared(_))) {
            return;
        }
        let mut own = Vec::with_capacity(self.len);
        let Spill {
            own: old,
            own_pos: mut own_at,
            segs,
        } = self.spill.take().map(|s| *s).unwrap_or_default();
        let last = self.last.take();
        for seg in segs.into_iter().chain(last) {
            match seg {
                Seg::Own(n) => {
                    own.extend_from_slice(&old[own_at..own_at + n]);
                    own_at += n;
                }
                Seg::Shared(s) => {
                    own.extend_from_slice(arena.bytes(&s));
                    arena.release(s.chunk());
                }
            }
        }
        self.spill = Some(Box::new(Spill {
            own,
            own_pos: 0,
            segs: VecDeque::new(),
        }));
        self.last = Some(Seg::Own(self.len));
    }

    /// Drop everything queued (the connection is gone).
    pub fn clear(&mut self, arena: &mut Arena) {
        let segs = self.spill.take().map(|s| s.segs).unwrap_or_default();
        let last = self.last.take();
        for seg in segs.into_iter().chain(last) {
            if let Seg::Shared(s) = seg {
                arena.release(s.chunk());
            }
        }
        self.len = 0;
        self.release();
    }

    /// Give the memory back: an idle connection holds none.
    fn release(&mut self) {
        self.spill = None;
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::test_stream::{Plain, Sink};

    fn sink(room: usize) -> Plain<Sink> {
        Plain(Sink::taking(room))
    }

    #[test]
    fn own_and_shared_bytes_leave_in_order_in_one_write() {
        let mut arena = Arena::default();
        let mut q = OutQueue::default();
        let join_a = arena.append(b"JOIN a\n");
        let join_b = arena.append(b"JOIN b\n");
        q.push_own(b"HELLO x\n");
        q.push_shared(join_a, &mut arena);
        q.push_shared(join_b, &mut arena);
        q.push_own(b"ERR y\n");
        assert_eq!(q.count(), 3, "neighbouring shared frames are one segment");
        let mut t = sink(1 << 20);
        assert_eq!(q.write(&mut t, &mut arena).unwrap(), 28);
        assert_eq!(t.0.got, b"HELLO x\nJOIN a\nJOIN b\nERR y\n");
        assert_eq!(t.0.writes, 1);
        assert!(q.is_empty());
        assert_eq!(q.capacity(), 0, "an empty queue holds no memory");
        arena.end_round();
        assert_eq!(arena.live_chunks(), 1, "only the (reset) current chunk");
    }

    #[test]
    fn a_partial_write_resumes_mid_segment_and_settling_frees_the_chunks() {
        let mut arena = Arena::default();
        let mut q = OutQueue::default();
        let big = arena.append(&vec![b'b'; super::super::arena::CHUNK + 10]);
        q.push_own(b"0123");
        q.push_shared(big, &mut arena);
        arena.collect(big.chunk());
        q.push_own(b"tail\n");
        let mut t = sink(10);
        assert_eq!(q.write(&mut t, &mut arena).unwrap(), 10);
        assert_eq!(t.0.got, b"0123bbbbbb");
        assert_eq!(arena.live_chunks(), 1);
        q.settle(&mut arena);
        assert_eq!(
            arena.live_chunks(),
            0,
            "nothing of the arena is held once settled"
        );
        t.0.room = usize::MAX / 2;
        q.write(&mut t, &mut arena).unwrap();
        let mut want = b"0123".to_vec();
        want.extend(vec![b'b'; super::super::arena::CHUNK + 10]);
        want.extend(b"tail\n");
        assert_eq!(t.0.got, want);
    }

    #[test]
    fn a_queue_of_more_segments_than_one_write_takes_still_leaves_in_one_write() {
        let mut arena = Arena::default();
        let mut q = OutQueue::default();
        let mut want = Vec::new();
        for i in 0..MAX_IOV {
            let line = format!("MSG a {i}\n");
            let shared = arena.append(line.as_bytes());
            q.push_shared(shared, &mut arena);
            q.push_own(b"PRIV b x\n");
            want.extend_from_slice(line.as_bytes());
            want.extend_from_slice(b"PRIV b x\n");
        }
        assert!(q.count() > MAX_IOV);
        let mut t = sink(1 << 20);
        q.write(&mut t, &mut arena).unwrap();
        assert_eq!(t.0.writes, 1);
        assert_eq!(t.0.got, want);
        assert!(q.is_empty());
    }

    #[test]
    fn clearing_lets_go_of_the_chunks() {
        let mut arena = Arena::default();
        let mut q = OutQueue::default();
        let big = arena.append(&vec![b'b'; super::super::arena::CHUNK + 1]);
        q.push_shared(big, &mut arena);
        q.clear(&mut arena);
        assert_eq!(arena.live_chunks(), 0);
        assert!(q.is_empty());
    }
}
