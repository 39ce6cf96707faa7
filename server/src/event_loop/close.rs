//! How connections end: killed (broken, too slow, stalled) during the round, and removed from
//! the table after it. Closing in two phases: [`crate::conn::ConnTable::mark_dead`] during the
//! round, [`Server::remove_closed`] at its end.

use super::Server;
use crate::clock::Now;
use crate::conn::Phase;
use crate::logger::Kind;
use crate::outbox::ConnId;
use crate::room::LeaveReason;
use crate::transport::Transport as _;

impl Server {
    /// The connection is broken (reset, error, too slow, stalled): tell the others, drop it.
    pub(super) fn kill(&mut self, id: ConnId, why: LeaveReason, now: Now) {
        if why.resets_socket() {
            if let Some(conn) = self.table.get_mut(id) {
                conn.set_reset();
            }
        }
        let (room, mut out) = self.room_and_outbox(now);
        room.disconnect(id, why, &mut out);
        self.table.mark_dead(id);
    }

    /// Drop every connection found too slow or broken while frames were queued this round.
    /// Their `LEAVE` may overflow others in turn; the loop runs until none is left.
    pub(super) fn drop_doomed(&mut self, now: Now) {
        while let Some((id, why)) = self.table.pop_doomed() {
            let Some((conn, arena)) = self.table.conn_and_arena(id) else {
                continue;
            };
            if conn.phase() == Phase::Dead {
                continue;
            }
            if why == LeaveReason::TooSlow {
                // The room logs the leave; this says how far behind it was.
                log::debug!(
                    target: Kind::Kick.target(),
                    "{} is not reading ({} bytes unsent); dropping",
                    conn.generation().serial(),
                    conn.pending()
                );
                self.room.stats_mut().queued(conn.pending());
                conn.queue_unchecked(self.room.too_slow_frame(), arena);
                // Best effort: the peer is not reading, so this likely goes nowhere.
                let _ = conn.flush(now.mono, arena);
                self.room.stats_mut().bytes_out += conn.take_sent() as u64;
            }
            self.kill(id, why, now);
        }
    }

    /// Remove dead connections from the table and the poll (after the round, never during it).
    pub(super) fn remove_closed(&mut self) {
        for id in self.table.take_closed() {
            let Some(mut conn) = self.table.remove(id) else {
                continue;
            };
            let serial = conn.generation().serial();
            self.room.stats_mut().bytes_out += conn.take_sent() as u64;
            if let Err(e) = self.poll.registry().deregister(conn.transport_mut()) {
                log::debug!(target: Kind::Connection.target(), "{serial} deregister: {e}");
            }
            if conn.resets() {
                // Dropped for not reading or a stalled write: reset rather than leave the
                // kernel retrying megabytes of send buffer to a peer that will not take them.
                conn.transport_mut().reset_on_close();
            }
            log::debug!(target: Kind::Connection.target(), "{serial} closed");
        }
    }
}
