//! The state directory as the loop drives it: the store opened at start and handed to the room,
//! the history the room staged written before the round's flush, and its disk work (write-back
//! kicks, rewrites, retries after a failure) done once per round, after the batch, with its
//! next due time folded into the poll timeout.

use std::time::Instant;

use super::Server;
use crate::clock::Now;
use crate::persist::Placement;

impl Server {
    /// Keep history (and notes) where `placement` says: the store is opened, reading back what
    /// an earlier run left (one log line says what, and one more if the directory cannot be
    /// written), and the room replays from it and appends to it. Without this the server keeps
    /// history in memory only. Call before [`Server::run`].
    #[must_use]
    pub fn with_state(mut self, placement: &Placement) -> Server {
        let now = self.clock.now();
        let store = placement.open(self.room.config().history, now.unix_ms);
        if let Some(ahead) = store.write_ahead() {
            self.table.set_write_ahead(Box::new(ahead));
        }
        self.room.set_store(store);
        // A directory that is unusable from the start is said now, beside the start-up lines,
        // and its retries are timed from here, not from whatever event comes first.
        self.persist(now);
        self
    }

    /// Write the history the room staged (what it relayed since the last call): one `write(2)`
    /// per room log. Called before anything queued in the round is written to a socket: the
    /// round's flush, and what a read in its middle relayed ([`Server::take_input`]).
    pub(super) fn write_history(&mut self) {
        self.room.store_mut().write_staged();
    }

    /// The store's disk work that is due; a change of the state directory's health is logged
    /// (once when it starts failing, once when it works again).
    pub(super) fn persist(&mut self, now: Now) {
        if let Some(change) = self.room.store_mut().tick(now.mono, now.unix_ms) {
            change.log();
            // Operators connected hear it too: they are the ones who can free the disk.
            let (room, mut out) = self.room_and_outbox(now);
            room.tell_operators(&change.to_string(), &mut out);
        }
    }

    /// When the store next has disk work.
    pub(super) fn persist_due(&self) -> Option<Instant> {
        self.room.store().next_tick()
    }
}
