//! Frames that go to many connections, stored once: chunks of bytes that every recipient's
//! write queue points into ([`Slice`]), each chunk counting the queue segments that hold it.
//!
//! A broadcast is appended to the current chunk once, however many members get it; the
//! history and the member list's full lines (blocks many newcomers get unchanged) are appended
//! once per round and found again by their [`BlockKey`]. Consecutive frames land next to each
//! other, so a member's queue usually holds one segment per round however many broadcasts it
//! got. A chunk is freed (or its buffer kept for reuse) when the last segment pointing into it
//! goes: queues let go when their bytes are written, or copy what they could not write into
//! their own buffer at the end of their flush (`OutQueue::settle`), so a slow reader never
//! keeps a chunk alive for longer than a round.

use std::collections::HashMap;

use crate::outbox::{Block, BlockKey};

/// Bytes per ordinary chunk; a frame or block longer than this gets a chunk of its own.
pub const CHUNK: usize = 64 * 1024;

/// Chunk buffers kept for reuse rather than freed.
const SPARE_CHUNKS: usize = 1;

/// Where a frame is: bytes `start..end` of chunk `chunk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    chunk: usize,
    start: usize,
    end: usize,
}

impl Slice {
    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True when it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// The chunk it lies in.
    pub(crate) fn chunk(&self) -> usize {
        self.chunk
    }

    /// `next` starts where this ends in the same chunk: the two can be one segment.
    pub(crate) fn joins(&self, next: &Slice) -> bool {
        self.chunk == next.chunk && self.end == next.start
    }

    /// Grow to also cover `next` (which [`Slice::joins`] this).
    pub(crate) fn extend(&mut self, next: &Slice) {
        self.end = next.end;
    }

    /// The first `n` bytes are written: drop them.
    pub(crate) fn advance(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }
}

#[derive(Debug, Default)]
struct Chunk {
    bytes: Vec<u8>,
    /// Queue segments (and cached blocks) pointing into it.
    refs: usize,
    /// Holds bytes someone may point to (a freed slot is not live).
    live: bool,
}

/// The shared chunks.
#[derive(Debug, Default)]
pub struct Arena {
    chunks: Vec<Chunk>,
    /// Slots of `chunks` not live, to reuse.
    free_slots: Vec<usize>,
    /// The chunk appended to.
    current: Option<usize>,
    /// Buffers of `CHUNK` capacity kept for reuse.
    spare: Vec<Vec<u8>>,
    /// Blocks stored this round, by what they are and whose, with their version; each holds a
    /// reference to its chunk. (Many rooms can each have a block in one round.)
    blocks: HashMap<(Block, u64), (u64, Slice)>,
    /// Bytes of chunk buffers freed since [`Arena::take_freed`] (for the heap trim).
    freed: usize,
}

impl Arena {
    /// Store `frame` once; nobody holds it yet ([`Arena::hold`]).
    pub fn append(&mut self, frame: &[u8]) -> Slice {
        self.append_with(frame.len(), |buf| buf.extend_from_slice(frame))
    }

    /// Store what `fill` appends to a buffer (about `hint` bytes).
    fn append_with(&mut self, hint: usize, fill: impl FnOnce(&mut Vec<u8>)) -> Slice {
        let chunk = match self.current {
            Some(c) if self.chunks[c].bytes.len() + hint <= CHUNK => c,
            _ if hint > CHUNK => self.new_chunk(Vec::with_capacity(hint)),
            _ => {
                self.retire_current();
                let buf = self
                    .spare
                    .pop()
                    .unwrap_or_else(|| Vec::with_capacity(CHUNK));
                let c = self.new_chunk(buf);
                self.current = Some(c);
                c
            }
        };
        let bytes = &mut self.chunks[chunk].bytes;
        let start = bytes.len();
        fill(bytes);
        Slice {
            chunk,
            start,
            end: bytes.len(),
        }
    }

    fn new_chunk(&mut self, bytes: Vec<u8>) -> usize {
        let chunk = Chunk {
            bytes,
            refs: 0,
            live: true,
        };
        match self.free_slots.pop() {
            Some(slot) => {
                self.chunks[slot] = chunk;
                slot
            }
            None => {
                self.chunks.push(chunk);
                self.chunks.len() - 1
            }
        }
    }

    /// Stop appending to the current chunk: free it if nobody holds it.
    fn retire_current(&mut self) {
        if let Some(c) = self.current.take() {
            self.collect(c);
        }
    }

    /// The block named `key`: the one stored earlier this round, or what `encode` makes now.
    pub fn block(&mut self, key: BlockKey, encode: &mut dyn FnMut(&mut Vec<u8>)) -> Slice {
        let which = (key.block, key.owner);
        match self.blocks.get(&which) {
            Some(&(version, slice)) if version == key.version => return slice,
            // A newer version of the same block replaces the one kept.
            Some(_) => {
                if let Some((_, old)) = self.blocks.remove(&which) {
                    self.release(old.chunk);
                }
            }
            None => {}
        }
        // Blocks are mostly large (a big room's member list, the history): give each its
        // own chunk, so the small broadcasts of the round stay next to each other.
        let mut buf = Vec::new();
        encode(&mut buf);
        let slice = if buf.len() > CHUNK / 4 {
            let len = buf.len();
            Slice {
                chunk: self.new_chunk(buf),
                start: 0,
                end: len,
            }
        } else {
            self.append(&buf)
        };
        self.hold(slice.chunk);
        self.blocks.insert(which, (key.version, slice));
        slice
    }

    /// A queue segment now points into `chunk`.
    pub fn hold(&mut self, chunk: usize) {
        self.chunks[chunk].refs += 1;
    }

    /// A queue segment no longer points into `chunk`.
    pub fn release(&mut self, chunk: usize) {
        let c = &mut self.chunks[chunk];
        c.refs = c.refs.saturating_sub(1);
        self.collect(chunk);
    }

    /// Free `chunk` if nobody holds it and it is not being appended to.
    pub fn collect(&mut self, chunk: usize) {
        let c = &mut self.chunks[chunk];
        if c.refs > 0 || !c.live || self.current == Some(chunk) {
            return;
        }
        c.live = false;
        let mut bytes = std::mem::take(&mut c.bytes);
        self.free_slots.push(chunk);
        if bytes.capacity() == CHUNK && self.spare.len() < SPARE_CHUNKS {
            bytes.clear();
            self.spare.push(bytes);
        } else {
            self.freed += bytes.capacity();
        }
    }

    /// Bytes of chunk buffers freed since the last call.
    pub fn take_freed(&mut self) -> usize {
        std::mem::take(&mut self.freed)
    }

    /// The bytes of `slice`.
    pub fn bytes(&self, slice: &Slice) -> &[u8] {
        &self.chunks[slice.chunk].bytes[slice.start..slice.end]
    }

    /// The round is over: blocks are stored again next round (their versions may change), and
    /// a current chunk nobody points into is reused from its start.
    pub fn end_round(&mut self) {
        let mut blocks = std::mem::take(&mut self.blocks);
        for (_, (_, slice)) in blocks.drain() {
            self.release(slice.chunk);
        }
        self.blocks = blocks; // its table kept for the next round
        if let Some(c) = self.current {
            if self.chunks[c].refs == 0 {
                self.chunks[c].bytes.clear();
            }
        }
    }

    /// At rest (the loop calls it before its heap trim): let go of the buffers kept for the
    /// next frames, the current chunk if nothing points into it and the spare, 128 KiB that
    /// would otherwise stay resident however long the quiet lasts. The next broadcast takes a
    /// new one.
    pub fn rest(&mut self) {
        if let Some(c) = self.current {
            if self.chunks[c].refs == 0 {
                self.current = None;
                self.collect(c);
            }
        }
        // Not counted in `freed`: the trim that called this follows at once.
        self.spare = Vec::new();
    }

    /// Chunks holding bytes.
    #[cfg(test)]
    pub(crate) fn live_chunks(&self) -> usize {
        self.chunks.iter().filter(|c| c.live).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_appended_in_turn_lie_next_to_each_other() {
        let mut a = Arena::default();
        let x = a.append(b"JOIN a\n");
        let y = a.append(b"JOIN b\n");
        assert!(x.joins(&y));
        let mut both = x;
        both.extend(&y);
        assert_eq!(a.bytes(&both), b"JOIN a\nJOIN b\n");
    }

    #[test]
    fn a_chunk_lives_while_held_and_is_reused_after() {
        let mut a = Arena::default();
        let big = a.append(&vec![b'x'; CHUNK + 1]);
        assert_eq!(a.live_chunks(), 1, "a chunk of its own");
        a.hold(big.chunk());
        a.hold(big.chunk());
        a.release(big.chunk());
        assert_eq!(a.live_chunks(), 1);
        a.release(big.chunk());
        assert_eq!(a.live_chunks(), 0, "freed with its last holder");

        let small = a.append(b"MSG a hi\n");
        a.hold(small.chunk());
        a.end_round();
        let next = a.append(b"MSG a again\n");
        assert!(
            small.joins(&next),
            "a held current chunk is appended to, not reset"
        );
        a.release(small.chunk());
        a.end_round();
        let fresh = a.append(b"x\n");
        assert_eq!(a.bytes(&fresh), b"x\n");
        assert_eq!(fresh.start, 0, "an unheld current chunk starts over");
    }

    #[test]
    fn at_rest_only_a_held_chunk_stays() {
        let mut a = Arena::default();
        let held = a.append(b"MSG a hi\n");
        a.hold(held.chunk());
        a.rest();
        assert_eq!(a.live_chunks(), 1, "a queue still points into it");
        assert_eq!(a.bytes(&held), b"MSG a hi\n");
        // A new current chunk; the old one, once let go of, is kept for reuse.
        a.append(&vec![b'x'; CHUNK]);
        a.release(held.chunk());
        assert_eq!((a.live_chunks(), a.spare.len()), (1, 1));
        a.rest();
        assert_eq!((a.live_chunks(), a.spare.len()), (0, 0));
        let next = a.append(b"x\n");
        assert_eq!(a.bytes(&next), b"x\n");
    }

    #[test]
    fn blocks_are_stored_once_per_round_and_version() {
        let mut a = Arena::default();
        let mut calls = 0;
        let key = |version| BlockKey {
            block: Block::History,
            owner: 7,
            version,
        };
        let mut enc = |buf: &mut Vec<u8>| {
            calls += 1;
            buf.extend_from_slice(b"HIST 1 MSG a b\n");
        };
        let first = a.block(key(1), &mut enc);
        let again = a.block(key(1), &mut enc);
        assert_eq!(first, again);
        let newer = a.block(key(2), &mut enc);
        assert_ne!(first, newer);
        let other = BlockKey { owner: 8, ..key(2) };
        let theirs = a.block(other, &mut enc);
        assert_ne!(theirs, newer, "another room's block at the same version");
        assert_eq!(a.block(key(2), &mut enc), newer, "both kept side by side");
        a.end_round();
        a.block(key(2), &mut enc);
        assert_eq!(calls, 4, "once per owner and version per round");
    }
}
