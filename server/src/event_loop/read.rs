//! What happens when a socket is readable: read until `WouldBlock` (or the per-round read
//! budget), decode in place, hand each line to the room; and the look at new input in the
//! middle of a long flush.

use std::io;
use std::time::Duration;

use mio::{Events, Token};

use super::{Server, DISCOVERY, LISTENER, SIGNALS, WAKER};
use crate::clock::Now;
use crate::conn::Phase;
use crate::limits;
use crate::logger::Kind;
use crate::outbox::{ConnId, Outbox};
use crate::room::LeaveReason;
use crate::transport::{tls, Input};

impl Server {
    pub(super) fn read(&mut self, id: ConnId, now: Now) {
        if self.table.get(id).is_some_and(|c| c.awaits_hello()) {
            if self.tls_handshakes >= limits::TLS_HANDSHAKES_PER_ROUND {
                // This round's handshake work is done (each answer costs a key exchange and a
                // signature): the rest is read next round; the others' chat goes on meanwhile.
                self.table.carry_over(id);
                return;
            }
            self.tls_handshakes += 1;
        }
        if !self.room.is_named(id) && self.room.contains(id) {
            if self.handshake_reads >= limits::HANDSHAKE_READS_PER_ROUND {
                // This round's joins are spent: a join storm is taken a slice at a time.
                self.table.carry_over(id);
                return;
            }
            self.handshake_reads += 1;
        }
        // Bytes that made no plaintext (a TLS handshake step): queued output may go now.
        let mut consumed = false;
        loop {
            let Some(conn) = self.table.get_mut(id) else {
                return;
            };
            if conn.phase() == Phase::Dead {
                return;
            }
            if conn.read_budget_spent(self.round, limits::READ_BUDGET_PER_ROUND) {
                // Its turn is over for this round; the rest (if any) is read next round.
                self.table.carry_over(id);
                return;
            }
            let handshaking = conn.is_handshaking();
            let input = conn.read(&mut self.scratch, self.round);
            if handshaking && !conn.is_handshaking() {
                // Set up by this read: who the peer is is known before its first line is read.
                self.established(id, now);
            }
            let Some(conn) = self.table.get_mut(id) else {
                return;
            };
            match input {
                Ok(Input::Data(n)) => {
                    conn.charge_read(self.round, n);
                    self.room.stats_mut().bytes_in += n as u64;
                    if conn.is_open() {
                        self.handle_input(id, n, now);
                    }
                }
                Ok(Input::Consumed(n)) => {
                    conn.charge_read(self.round, n);
                    self.room.stats_mut().bytes_in += n as u64;
                    consumed = true;
                }
                Ok(Input::Eof) if conn.phase() == Phase::Lingering => {
                    self.table.mark_dead(id);
                    return;
                }
                Ok(Input::Eof) => {
                    conn.saw_eof();
                    self.peer_closed(id, now);
                    return;
                }
                Ok(Input::Drained) => break,
                Err(e) if tls::is_flood(&e) => {
                    // Records that cost work and carry nothing, past their bound: the room
                    // logs the leave as flooding; this says which bound.
                    let serial = conn.generation().serial();
                    log::debug!(target: Kind::Kick.target(), "{serial} {e}; dropping");
                    self.kill(id, LeaveReason::Flooding, now);
                    return;
                }
                Err(e) => {
                    let serial = conn.generation().serial();
                    log::debug!(target: Kind::Connection.target(), "{serial} read: {e}");
                    self.kill(id, LeaveReason::Disconnected, now);
                    return;
                }
            }
        }
        // A transport may have answers of its own to send (a TLS handshake), or have just
        // been set up (the greeting waits), or be ready for plaintext it could not take before.
        let flush = |c: &crate::conn::Conn<_>| c.wants_write() || (consumed && c.pending() > 0);
        if self.table.get(id).is_some_and(flush) {
            self.table.mark_for_flush(id);
        }
    }

    /// `id`'s transport has just been set up: the room learns the key its peer proved it
    /// holds (if any).
    fn established(&mut self, id: ConnId, now: Now) {
        let Some(conn) = self.table.get_mut(id) else {
            return;
        };
        let key = conn.take_peer_key();
        match key {
            Some(key) => log::debug!("{id} TLS with key {key}"),
            None => log::debug!("{id} TLS without a key"),
        }
        let (room, mut out) = self.room_and_outbox(now);
        room.established(id, key, now, &mut out);
    }

    /// Decode `scratch[..n]` from `id` and hand each line to the room.
    fn handle_input(&mut self, id: ConnId, n: usize, now: Now) {
        let Some(conn) = self.table.get_mut(id) else {
            return;
        };
        let mut decoder = conn.take_decoder();
        let (room, mut out) = (
            &mut self.room,
            self.table.delivery(self.settings.sendq, now),
        );
        let mut lines = decoder.lines(&self.scratch[..n]);
        while let Some(item) = lines.next_line() {
            match item {
                Ok(line) => room.line(id, line, now, &mut out),
                Err(_) => room.line_too_long(id, now, &mut out),
            }
            if !room.contains(id) {
                // Quit or kicked: whatever else it sent is not acted on.
                break;
            }
        }
        if let Some(conn) = self.table.get_mut(id) {
            conn.put_decoder(decoder);
        }
    }

    /// EOF from the peer: it is leaving. Tell the others, flush what it is owed, close.
    fn peer_closed(&mut self, id: ConnId, now: Now) {
        let (room, mut out) = self.room_and_outbox(now);
        room.disconnect(id, LeaveReason::Disconnected, &mut out);
        out.close(id);
    }

    /// In the middle of a flush: read what named connections sent since the round's poll.
    /// Their lines are handled at once, so connections later in the flush carry the frames.
    /// Handshakes go on `carry` for the next round: a join is a broadcast to everyone plus a
    /// member list of every name (~250 KB for 10,000 names), and pulling joins into the middle
    /// of a join storm's flushes left the heap more fragmented. Accepts, probes, signals and the
    /// waker are noted and left for the next round too (which then polls without waiting).
    pub(super) fn take_input(&mut self, events: &mut Events) {
        if let Err(e) = self.poll.poll(events, Some(Duration::ZERO)) {
            if e.kind() != io::ErrorKind::Interrupted {
                log::debug!("poll during flush: {e}");
            }
            return;
        }
        if events.is_empty() {
            return;
        }
        let now = self.clock.now();
        for event in events.iter() {
            match event.token() {
                LISTENER => self.listener.carry = true,
                DISCOVERY => {
                    if let Some(d) = &mut self.discovery {
                        d.carry = true;
                    }
                }
                WAKER | SIGNALS => self.control.carry = true,
                Token(key) if self.room.is_named(ConnId(key)) => {
                    self.on_conn_event(ConnId(key), event, now);
                }
                Token(key) => {
                    let id = ConnId(key);
                    self.table.carry_over(id);
                    if event.is_writable() {
                        self.table.mark_for_flush(id);
                    }
                }
            }
        }
        // The rest of the flush may carry what was just relayed.
        self.write_history();
    }
}
