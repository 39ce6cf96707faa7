//! What happens at the end of a round (redis `beforeSleep`): one write per connection with
//! output, interest and stall timers following what is left, closing connections taken through
//! half-close and linger.

use mio::{Events, Interest};

use super::Server;
use crate::clock::Now;
use crate::conn::{Flushed, Phase};
use crate::limits;
use crate::logger::Kind;
use crate::outbox::ConnId;
use crate::room::LeaveReason;
use crate::timers::Timer;

impl Server {
    /// One write per connection with output; interest follows what is left. Input that arrives
    /// meanwhile is read every [`limits::FLUSH_SLICE`] writes ([`Server::take_input`]): a
    /// connection not yet written takes its frames in this write, one already written is back
    /// in the (fresh) flush list for the next round.
    pub(super) fn flush(&mut self, now: Now, events: &mut Events) {
        let list = self.table.take_flush_list();
        let mut broken = Vec::new();
        for (i, &id) in list.iter().enumerate() {
            if i > 0 && i % limits::FLUSH_SLICE == 0 {
                self.take_input(events);
            }
            self.flush_one(id, now, &mut broken);
        }
        self.table.recycle_flush_list(list);
        for id in broken {
            self.kill(id, LeaveReason::Disconnected, now);
        }
        // Overflows found by the reads during this flush (or by the LEAVEs just queued): drop
        // them now, while their ids still name them; after `remove_closed` a slot can be reused.
        self.drop_doomed(now);
        self.schedule_trim(now);
        // The LEAVE lines of broken connections are flushed next round (polled without waiting).
    }

    /// Write what `id` has queued (one write), then settle its interest, stall timer and
    /// closing state; a write error puts it in `broken`.
    fn flush_one(&mut self, id: ConnId, now: Now, broken: &mut Vec<ConnId>) {
        let write_timeout = self.settings.write_timeout;
        let Some((conn, arena)) = self.table.conn_and_arena(id) else {
            return;
        };
        if !conn.take_flush_mark() {
            // Written already this flush, or an id left on the list by a connection gone since
            // (its slot maybe reused): the one write per connection has been, or will be, done.
            return;
        }
        if conn.phase() == Phase::Dead {
            return;
        }
        if conn.phase() == Phase::Closing && conn.is_handshaking() {
            // Nothing can be said over a transport that is not set up: drop it.
            self.table.mark_dead(id);
            return;
        }
        let held = conn.buffered_capacity();
        // Output only grows between two flushes, so what is unsent now is this connection's
        // high-water mark since the last one.
        self.room.stats_mut().queued(conn.pending());
        let flushed = conn.flush(now.mono, arena);
        self.room.stats_mut().bytes_out += conn.take_sent() as u64;
        self.trim
            .freed(held.saturating_sub(conn.buffered_capacity()));
        if conn.take_built() {
            self.trim.built();
        }
        let generation = conn.generation();
        match flushed {
            Ok(Flushed::Done) => {
                if conn.set_writable(false) {
                    self.reregister(id, Interest::READABLE);
                }
            }
            Ok(Flushed::Closed) => {
                // Everything is sent and the write side shut: wait (bounded) for the peer's
                // EOF, so input still in flight cannot turn the close into an RST that destroys
                // the BYE before the peer reads it.
                if conn.eof_seen() {
                    self.table.mark_dead(id);
                    return;
                }
                conn.begin_linger();
                let writable = conn.set_writable(false);
                self.timers
                    .add(now.mono + limits::LINGER, Timer::Linger { id, generation });
                if writable {
                    self.reregister(id, Interest::READABLE);
                }
            }
            Ok(Flushed::Pending) => {
                let arm = conn.arm_stall_timer();
                if conn.set_writable(true) {
                    self.reregister(id, Interest::READABLE | Interest::WRITABLE);
                }
                if arm {
                    let at = now.mono + write_timeout;
                    self.timers.add(at, Timer::WriteStall { id, generation });
                }
            }
            Err(e) => {
                // EPIPE, ECONNRESET: the peer is gone; an ordinary close.
                log::debug!(target: Kind::Connection.target(), "{} write: {e}", generation.serial());
                broken.push(id);
            }
        }
    }
}
