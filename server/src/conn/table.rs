//! The connection table: every connection (a slab, indexed by [`ConnId`], which is also the
//! poll token), their generations, the [`Arena`] their queues share frames in, and the loop's
//! per-round books — the flush list, the carry list, the doomed and the closed — kept beside
//! the loop rather than in it (sozu's `SessionManager` is the model). [`Delivery`] is the
//! room's [`Outbox`] over it.
//!
//! The lists name connections by id. An id on a list always means the connection it was put
//! there for, because nothing is removed from the slab during a round ([`ConnTable::remove`]
//! is called only at its end, or for a refused connection no list names); each connection
//! keeps a flag for each list it is on, so it is on each at most once.

use std::time::Instant;

use slab::Slab;

use super::arena::Arena;
use super::{Conn, Frame, Generation, Phase, Queued, WriteAhead};
use crate::clock::Now;
use crate::outbox::{BlockKey, ConnId, Outbox};
use crate::room::LeaveReason;
use crate::transport::Transport;

/// What [`ConnTable::rest`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rest {
    /// Connections with output pending.
    pub sending: usize,
    /// Of those, connections that keep what their transport could let go of once their
    /// output is out (a TLS connection's sending key).
    pub keeping: usize,
}

/// Every connection and the loop's lists of them.
#[derive(Debug)]
pub struct ConnTable<T> {
    slab: Slab<Conn<T>>,
    /// Frames stored once for many queues.
    arena: Arena,
    /// The last generation handed out.
    generation: u64,
    /// Connections with output queued this round (each at most once: `Conn::in_flush_list`).
    flush: Vec<ConnId>,
    /// The flush list's twin: swapped each round so neither is reallocated.
    flush_spare: Vec<ConnId>,
    /// Connections to read first thing next round (each at most once: `Conn::carried`).
    carry: Vec<ConnId>,
    /// Connections found too slow (send queue overflowed) or broken while queueing, with why.
    doomed: Vec<(ConnId, LeaveReason)>,
    /// Dead connections, to remove at the end of the round.
    closed: Vec<ConnId>,
    /// Written before a queue is offered to its socket ahead of the flush.
    ahead: Option<Box<dyn WriteAhead>>,
}

impl<T> Default for ConnTable<T> {
    fn default() -> Self {
        ConnTable {
            slab: Slab::new(),
            arena: Arena::default(),
            generation: 0,
            flush: Vec::new(),
            flush_spare: Vec::new(),
            carry: Vec::new(),
            doomed: Vec::new(),
            closed: Vec::new(),
            ahead: None,
        }
    }
}

impl<T> ConnTable<T> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on, `ahead` is written before any queue is offered to its socket ahead of the
    /// round's flush.
    pub fn set_write_ahead(&mut self, ahead: Box<dyn WriteAhead>) {
        self.ahead = Some(ahead);
    }

    /// Connections held (open, closing, lingering or dead until the round ends).
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// True when no connection is held.
    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// The connection `id`.
    pub fn get(&self, id: ConnId) -> Option<&Conn<T>> {
        self.slab.get(id.0)
    }

    /// The connection `id`.
    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn<T>> {
        self.slab.get_mut(id.0)
    }

    /// The connection `id` and the arena its queue points into, side by side.
    pub fn conn_and_arena(&mut self, id: ConnId) -> Option<(&mut Conn<T>, &mut Arena)> {
        Some((self.slab.get_mut(id.0)?, &mut self.arena))
    }

    /// The shared frames.
    #[cfg(test)]
    pub(crate) fn arena(&self) -> &Arena {
        &self.arena
    }

    /// The round is over (see [`Arena::end_round`]); returns the bytes of shared chunks freed
    /// since the last round ended.
    pub fn end_round(&mut self) -> usize {
        self.arena.end_round();
        self.arena.take_freed()
    }

    /// The id the next [`ConnTable::insert`] will use (to register its token first).
    pub fn next_id(&self) -> ConnId {
        ConnId(self.slab.vacant_key())
    }

    /// Hold a new connection; its id is [`ConnTable::next_id`]'s.
    pub fn insert(&mut self, transport: T, max_line: usize, now: Instant) -> (ConnId, Generation) {
        self.generation += 1;
        let generation = Generation(self.generation);
        let id = ConnId(
            self.slab
                .insert(Conn::new(transport, max_line, generation, now)),
        );
        (id, generation)
    }

    /// The connection a timer was set for is still there (not dead, its slot not reused).
    pub fn is_current(&self, id: ConnId, generation: Generation) -> bool {
        self.get(id)
            .is_some_and(|c| c.generation() == generation && c.phase() != Phase::Dead)
    }

    /// Put `id` on the flush list (once per round).
    pub fn mark_for_flush(&mut self, id: ConnId) {
        if let Some(conn) = self.slab.get_mut(id.0) {
            if conn.mark_for_flush() {
                self.flush.push(id);
            }
        }
    }

    /// Read `id` first thing next round (once, however often this is asked).
    pub fn carry_over(&mut self, id: ConnId) {
        if let Some(conn) = self.slab.get_mut(id.0) {
            if conn.mark_carried() {
                self.carry.push(id);
            }
        }
    }

    /// The carry list, emptied; its connections are off it again.
    pub fn take_carry(&mut self) -> Vec<ConnId> {
        let carry = std::mem::take(&mut self.carry);
        for id in &carry {
            if let Some(conn) = self.slab.get_mut(id.0) {
                conn.clear_carried();
            }
        }
        carry
    }

    /// The next connection to drop, if any.
    pub fn pop_doomed(&mut self) -> Option<(ConnId, LeaveReason)> {
        self.doomed.pop()
    }

    /// Mark `id` dead and queue it for removal at the end of the round: the one place a
    /// connection dies (redis `freeClientAsync`). Idempotent; true the first time.
    pub fn mark_dead(&mut self, id: ConnId) -> bool {
        let Some(conn) = self.slab.get_mut(id.0) else {
            return false;
        };
        let first = conn.mark_dead();
        if first {
            self.closed.push(id);
        }
        first
    }

    /// This round's flush list; a fresh (empty) one takes its place for what is queued while
    /// it is written. Give it back with [`ConnTable::recycle_flush_list`].
    pub fn take_flush_list(&mut self) -> Vec<ConnId> {
        let fresh = std::mem::take(&mut self.flush_spare);
        std::mem::replace(&mut self.flush, fresh)
    }

    /// Keep a written flush list's memory for the next round.
    pub fn recycle_flush_list(&mut self, mut list: Vec<ConnId>) {
        list.clear();
        self.flush_spare = list;
    }

    /// The connections dead this round, to remove.
    pub fn take_closed(&mut self) -> Vec<ConnId> {
        std::mem::take(&mut self.closed)
    }

    /// Let go of `id` (and of what it had queued): only at the end of a round, or for a
    /// connection no list names.
    pub fn remove(&mut self, id: ConnId) -> Option<Conn<T>> {
        let mut conn = self.slab.try_remove(id.0)?;
        conn.discard_output(&mut self.arena);
        Some(conn)
    }

    /// Work is waiting that the next round must do without sleeping: carried reads, queued
    /// output, connections to drop.
    pub fn has_pending_work(&self) -> bool {
        !self.carry.is_empty() || !self.flush.is_empty() || !self.doomed.is_empty()
    }

    /// The room's outbox over this table for an event at `now`.
    pub fn delivery(&mut self, sendq: usize, now: Now) -> Delivery<'_, T> {
        let held = self.len();
        Delivery {
            table: self,
            sendq,
            now,
            held,
        }
    }
}

/// The loop's [`Outbox`]: frames go into connections' write queues.
#[derive(Debug)]
pub struct Delivery<'a, T> {
    table: &'a mut ConnTable<T>,
    sendq: usize,
    now: Now,
    /// What [`Outbox::held`] answers.
    held: usize,
}

impl<T: Transport> ConnTable<T> {
    /// Every connection with nothing to send lets go of what its transport can rebuild
    /// ([`Conn::rest`]); when none has anything to send, the arena lets go of the chunk
    /// buffers nothing points into too ([`Arena::rest`]: while traffic flows the next
    /// broadcast would only take them again).
    pub fn rest(&mut self) -> Rest {
        let mut rest = Rest::default();
        for (_, conn) in self.slab.iter_mut() {
            rest.sending += usize::from(conn.pending() > 0);
            rest.keeping += usize::from(!conn.rest());
        }
        if rest.sending == 0 {
            self.arena.rest();
        }
        rest
    }
}

impl<T> Delivery<'_, T> {
    /// For [`crate::Room::connect`] of a connection just inserted: the others held.
    pub fn admitting(mut self) -> Self {
        self.held = self.table.len().saturating_sub(1);
        self
    }
}

impl<T: Transport> Delivery<'_, T> {
    /// Queue `frame` for `to`, dooming `to` if that overflows its send queue.
    fn queue(&mut self, to: ConnId, frame: Frame<'_>) {
        // Fields apart, so the connection found once serves the whole step: this runs once per
        // recipient of every broadcast.
        let ConnTable {
            slab,
            arena,
            ahead,
            flush,
            doomed,
            ..
        } = &mut *self.table;
        let Some(conn) = slab.get_mut(to.0) else {
            return;
        };
        let before_write = || {
            if let Some(ahead) = ahead {
                ahead.write_ahead();
            }
        };
        match conn.queue_with(frame, self.sendq, self.now.mono, arena, before_write) {
            Queued::Yes => {
                if conn.mark_for_flush() {
                    flush.push(to);
                }
            }
            Queued::Overflow => doomed.push((to, LeaveReason::TooSlow)),
            Queued::Broken => doomed.push((to, LeaveReason::Disconnected)),
            Queued::Ignored => {}
        }
    }
}

impl<T: Transport> Outbox for Delivery<'_, T> {
    fn send(&mut self, to: ConnId, frame: &[u8]) {
        self.queue(to, Frame::Own(frame));
    }

    /// Stored once in the arena; every recipient's queue points at it.
    fn broadcast(&mut self, to: &[ConnId], except: Option<ConnId>, frame: &[u8]) {
        let slice = self.table.arena.append(frame);
        for &id in to {
            if Some(id) != except {
                self.queue(id, Frame::Shared(slice));
            }
        }
        // Nobody took it (an empty room): do not keep it.
        self.table.arena.collect(slice.chunk());
    }

    fn send_block(&mut self, to: ConnId, key: BlockKey, encode: &mut dyn FnMut(&mut Vec<u8>)) {
        let slice = self.table.arena.block(key, encode);
        self.queue(to, Frame::Shared(slice));
    }

    fn close(&mut self, id: ConnId) {
        if let Some(conn) = self.table.get_mut(id) {
            conn.close();
        }
        self.table.mark_for_flush(id);
    }

    fn held(&self) -> usize {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::test_stream::{Plain, Sink};

    fn void() -> Plain<Sink> {
        Plain(Sink::taking(usize::MAX / 2))
    }

    #[test]
    fn lists_hold_each_connection_once_and_death_is_queued_once() {
        let mut t: ConnTable<Plain<Sink>> = ConnTable::new();
        let now = Instant::now();
        let want = t.next_id();
        let (a, ga) = t.insert(void(), 64, now);
        assert_eq!(a, want);
        let (b, _) = t.insert(void(), 64, now);
        t.mark_for_flush(a);
        t.mark_for_flush(a);
        t.mark_for_flush(b);
        t.carry_over(b);
        t.carry_over(b);
        assert!(t.has_pending_work());
        assert_eq!(t.take_carry(), vec![b]);
        t.carry_over(b);
        assert_eq!(t.take_carry(), vec![b], "off the list again once taken");
        assert_eq!(t.take_flush_list(), vec![a, b]);
        assert!(t.mark_dead(a));
        assert!(!t.mark_dead(a));
        assert!(!t.is_current(a, ga));
        assert_eq!(t.take_closed(), vec![a]);
        assert!(t.remove(a).is_some());
        let (c, gc) = t.insert(void(), 64, now);
        assert_eq!(c, a, "the slot is reused");
        assert!(
            !t.is_current(c, ga),
            "a timer of the old connection misses the new one"
        );
        assert!(t.is_current(c, gc));
    }

    #[test]
    fn delivery_queues_and_flags_for_flush_and_counts_held() {
        let mut t: ConnTable<Plain<Sink>> = ConnTable::new();
        let now = crate::clock::SystemClock;
        let now = crate::clock::Clock::now(&now);
        let (a, _) = t.insert(void(), 64, now.mono);
        let (b, _) = t.insert(void(), 64, now.mono);
        let mut out = t.delivery(1024, now);
        assert_eq!(out.held(), 2);
        out.send(a, b"x\n");
        out.send(a, b"y\n");
        out.close(b);
        let out = t.delivery(1024, now).admitting();
        assert_eq!(out.held(), 1);
        assert_eq!(t.take_flush_list(), vec![a, b]);
        assert_eq!(t.get(a).map(Conn::pending), Some(4));
        assert_eq!(t.get(b).map(Conn::phase), Some(Phase::Closing));
    }

    /// What reached "the disk" (the write-ahead) and "the socket", in order.
    #[derive(Debug, Clone, Default)]
    struct Events(std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>);

    impl Events {
        fn push(&self, what: &'static str) {
            self.0.lock().unwrap().push(what);
        }

        fn take(&self) -> Vec<&'static str> {
            std::mem::take(&mut self.0.lock().unwrap())
        }
    }

    impl WriteAhead for Events {
        fn write_ahead(&self) {
            self.push("disk");
        }
    }

    /// A socket that takes everything and says so in the events.
    struct Socket(Events);

    impl std::io::Write for Socket {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push("socket");
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl std::io::Read for Socket {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::WouldBlock.into())
        }
    }

    /// A queue about to pass `--sendq` is offered to its socket in the middle of the batch;
    /// what was staged for the disk (the history of what it may hold) is written first.
    #[test]
    fn a_queue_written_ahead_of_the_flush_writes_what_is_staged_first() {
        let events = Events::default();
        let mut t: ConnTable<Plain<Socket>> = ConnTable::new();
        t.set_write_ahead(Box::new(events.clone()));
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        let (a, _) = t.insert(Plain(Socket(events.clone())), 64, now.mono);
        let mut out = t.delivery(100, now);
        out.send(a, &[b'w'; 60]); // into an empty queue: exempt from the cap while it drains
        out.send(a, &[b'x'; 30]);
        assert_eq!(
            events.take(),
            Vec::<&str>::new(),
            "within the cap: nothing written"
        );
        out.send(a, &[b'y'; 80]);
        assert_eq!(events.take(), ["disk", "socket"]);
        assert_eq!(t.get(a).map(Conn::pending), Some(80));
    }

    #[test]
    fn a_broadcast_is_stored_once_and_freed_when_the_last_queue_lets_go() {
        let mut t: ConnTable<Plain<Sink>> = ConnTable::new();
        let now = crate::clock::Clock::now(&crate::clock::SystemClock);
        let ids: Vec<ConnId> = (0..3).map(|_| t.insert(void(), 64, now.mono).0).collect();
        let big = vec![b'x'; super::super::arena::CHUNK + 1];
        let mut out = t.delivery(1 << 20, now);
        out.broadcast(&ids, Some(ids[0]), &big);
        assert_eq!(t.arena().live_chunks(), 1, "one copy for two recipients");
        assert_eq!(t.get(ids[1]).map(Conn::pending), Some(big.len()));
        assert_eq!(t.get(ids[0]).map(Conn::pending), Some(0));
        let (conn, arena) = t.conn_and_arena(ids[1]).unwrap();
        conn.flush(now.mono, arena).unwrap();
        assert_eq!(t.arena().live_chunks(), 1, "ids[2] still holds it");
        t.remove(ids[2]);
        assert_eq!(t.arena().live_chunks(), 0);
        let mut out = t.delivery(1 << 20, now);
        out.broadcast(&[], None, &big);
        assert_eq!(t.arena().live_chunks(), 0, "nobody took it");
    }
}
