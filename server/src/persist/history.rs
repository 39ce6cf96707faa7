//! Each room's recent history: the last `--history` frames in memory, and a log file per room
//! that a restart reads them back from.
//!
//! A room that is in use (it has members: the chat [`HistoryStore::open_room`]s it; `#general`
//! always is) keeps its history for as long as it is. A room that is not (it emptied, or nobody has joined it since
//! a restart loaded it) keeps its history, in memory and on disk, until its last message is
//! [`EMPTY_ROOM_KEEP`] old, so whoever joins it meanwhile gets the replay as before; then it
//! is forgotten and its log deleted. At most `--max-rooms` rooms' histories are kept in all
//! ([`HistoryStore::limit_rooms`]): a room that needs one more forgets the unused room whose
//! last message is the oldest, so history costs no more memory than `--max-rooms` rooms that
//! are all in use.
//!
//! Rooms are the same room in any case or look-alike spelling (as the chat tells them apart),
//! and keep the spelling they were first kept under.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::Instant;

use lanchat_proto::room::is_general;
use lanchat_proto::{NameIndex, NameKey};
use slab::Slab;

use crate::conn::WriteAhead;
use crate::limits::{
    EMPTY_ROOM_KEEP, HISTORY_LOG_FACTOR, HISTORY_LOG_MIN_SLACK, HISTORY_SWEEP_INTERVAL,
    MAX_OPEN_LOGS, MAX_REWRITES,
};
use crate::room::history::History;

use super::format::{self, FileKind};
use super::logs::{FdBudget, LogId, LogSet};
use super::{DiskError, LoadReport};

/// File extension of a room's history log.
const EXT: &str = "log";

/// A room's history in the store, for as long as the room is open
/// ([`HistoryStore::open_room`] to [`HistoryStore::close_room`]): appends and replays by it
/// look nothing up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HistoryId(usize);

/// Every room's history, and its log when there is a state directory.
#[derive(Debug)]
pub struct HistoryStore {
    /// Entries kept per room (`--history`); 0 keeps none.
    keep: usize,
    /// Rooms' histories kept at most, in use or not (`--max-rooms`).
    max_rooms: usize,
    /// The room logs; `None` when nothing is written.
    logs: Option<Logs>,
    rooms: Slab<RoomHistory>,
    /// Room by name (its `#` left off), found by any case or look-alike spelling.
    index: NameIndex<usize>,
    /// Rooms not in use (whose history may expire).
    unused: usize,
    /// When unused rooms are next looked at for expiry.
    next_sweep: Option<Instant>,
    line: Vec<u8>,
}

#[derive(Debug)]
struct RoomHistory {
    /// As first kept, with its `#`.
    name: String,
    ring: History,
    log: Option<LogId>,
    /// A room with members uses it ([`HistoryStore::open_room`]).
    in_use: bool,
    /// When its last entry was received (unix ms; 0 before the first).
    last_ms: u64,
}

/// The room logs, shared with the connection table ([`HistoryStore::write_ahead`]). Only the
/// loop's thread ever uses them, so the lock is never contended; it is a lock and not an `Rc`
/// because the server, store and table with it, is moved to that thread in one piece (tests
/// run it on a thread of their own), and an `Rc` cannot be.
#[derive(Debug, Clone)]
struct Logs(Arc<Mutex<LogSet>>);

impl Logs {
    fn lock(&self) -> MutexGuard<'_, LogSet> {
        // A panic while it was held left nothing half-done that matters more than the chat.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Writes the room logs' staged lines before a queue is offered to its socket ahead of the
/// round's flush ([`WriteAhead`]).
#[derive(Debug)]
pub struct HistoryAhead(Logs);

impl WriteAhead for HistoryAhead {
    fn write_ahead(&self) {
        // Called from the connection table while the room queues output, never while the
        // store holds the lock (it holds it only inside its own calls, which queue nothing):
        // `WouldBlock` cannot happen, and is no reason to wait or panic if it did.
        let mut logs = match self.0 .0.try_lock() {
            Ok(logs) => logs,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        logs.write_staged();
    }
}

/// The index key of a room name (the part after its `#`, as the chat's room index has it).
fn bare(room: &str) -> &str {
    room.strip_prefix(lanchat_proto::room::ROOM_PREFIX)
        .unwrap_or(room)
}

impl HistoryStore {
    /// Rooms' history kept in memory only.
    pub fn in_memory(keep: usize) -> Self {
        HistoryStore {
            keep,
            max_rooms: usize::MAX,
            logs: None,
            rooms: Slab::new(),
            index: NameIndex::new(),
            unused: 0,
            next_sweep: None,
            line: Vec::new(),
        }
    }

    /// Read every room log in `dir` (created if missing), keeping the last `keep` entries of
    /// each. With `keep` 0 nothing is read or written. Every room loaded is unused until the
    /// chat opens it.
    pub fn open(dir: &Path, keep: usize) -> (Self, LoadReport) {
        let mut store = HistoryStore::in_memory(keep);
        let mut report = LoadReport::default();
        if keep == 0 {
            return (store, report);
        }
        let budget = FdBudget {
            open: MAX_OPEN_LOGS,
            rewrites: MAX_REWRITES,
        };
        let mut logs = LogSet::new(dir.to_owned(), budget);
        for path in logs.existing(EXT) {
            let mut ring = History::new(keep);
            let mut frame = Vec::new();
            let mut last_ms = 0;
            let read = logs.read(&path, FileKind::History, &mut report, |at, f| {
                frame.clear();
                frame.extend_from_slice(f);
                frame.push(b'\n');
                ring.push(at, &frame);
                last_ms = last_ms.max(at);
            });
            let Some((name, scan)) = read else {
                continue;
            };
            if store.index.get(bare(&name)).is_some() {
                report
                    .skipped
                    .push((path, format!("a second log for {name}")));
                continue;
            }
            report.rooms += 1;
            report.entries += ring.len();
            report.corrupt += scan.corrupt;
            report.torn += usize::from(scan.torn > 0);
            let lines = scan.entries + scan.corrupt;
            let id = logs.adopt(path, header(&name), lines, scan.good_len, scan.torn > 0);
            if scan.corrupt > 0 || lines > store.log_limit() {
                logs.request_rewrite(id);
            }
            let key = NameKey::of(bare(&name));
            // `#general` always exists, so its history never expires.
            let in_use = is_general(&name);
            let at = store.rooms.insert(RoomHistory {
                name,
                ring,
                log: Some(id),
                in_use,
                last_ms,
            });
            store.index.insert(key, at);
            store.unused += usize::from(!in_use);
        }
        store.logs = Some(Logs(Arc::new(Mutex::new(logs))));
        (store, report)
    }

    /// Keep at most `max` rooms' histories from now on (`--max-rooms`): beyond it, the unused
    /// rooms whose last message is the oldest are forgotten (their logs deleted) now, and
    /// whenever a room needs a history of its own. Rooms in use are never forgotten, so `max`
    /// must be at least the rooms that can be in use at once.
    pub fn limit_rooms(&mut self, max: usize) {
        self.max_rooms = max.max(1);
        while self.rooms.len() > self.max_rooms && self.forget_oldest_unused() {}
    }

    /// Entry lines a room's log may reach before it is compacted to the last `keep`.
    fn log_limit(&self) -> usize {
        (self.keep * HISTORY_LOG_FACTOR).max(self.keep + HISTORY_LOG_MIN_SLACK)
    }

    /// The spelling `room` was first kept under, when its history is kept (in any case or
    /// look-alike spelling of it): a room that comes back comes back as it was.
    pub fn kept_name(&self, room: &str) -> Option<&str> {
        let &i = self.index.get(bare(room))?;
        Some(self.rooms[i].name.as_str())
    }

    /// The room `room` (any spelling) is in use, from now until [`HistoryStore::close_room`]:
    /// its history, kept or new. A new one may make the store forget an unused room's.
    pub fn open_room(&mut self, room: &str) -> HistoryId {
        if let Some(&i) = self.index.get(bare(room)) {
            let r = &mut self.rooms[i];
            if !r.in_use {
                r.in_use = true;
                self.unused -= 1;
            }
            return HistoryId(i);
        }
        if self.rooms.len() >= self.max_rooms {
            self.forget_oldest_unused();
        }
        // A name that cannot be one header line (rooms' names never hold a newline) is kept in
        // memory only.
        let log = self
            .logs
            .as_ref()
            .filter(|_| format::fits_a_line(room.as_bytes()))
            .map(|logs| logs.lock().plan(room, EXT, header(room)));
        let i = self.rooms.insert(RoomHistory {
            name: room.to_owned(),
            ring: History::new(self.keep),
            log,
            in_use: true,
            last_ms: 0,
        });
        self.index.insert(NameKey::of(bare(room)), i);
        HistoryId(i)
    }

    /// The room is no longer in use (it emptied): its history is kept until its last message
    /// is [`EMPTY_ROOM_KEEP`] old, or forgotten at once if it has none.
    pub fn close_room(&mut self, id: HistoryId) {
        let Some(r) = self
            .rooms
            .get_mut(id.0)
            .filter(|r| r.in_use && !is_general(&r.name))
        else {
            return;
        };
        r.in_use = false;
        self.unused += 1;
        if r.ring.is_empty() {
            self.forget(id.0);
        }
    }

    /// Forget room `i`'s history, in memory and on disk.
    fn forget(&mut self, i: usize) {
        let Some(r) = self.rooms.try_remove(i) else {
            return;
        };
        if !r.in_use {
            self.unused -= 1;
        }
        self.index.remove(bare(&r.name));
        if let (Some(logs), Some(log)) = (&self.logs, r.log) {
            logs.lock().remove(log);
        }
    }

    /// Forget the unused room whose last message is the oldest; `false` when every room is in
    /// use.
    fn forget_oldest_unused(&mut self) -> bool {
        let oldest = self
            .rooms
            .iter()
            .filter(|(_, r)| !r.in_use)
            .min_by_key(|(_, r)| r.last_ms)
            .map(|(i, _)| i);
        match oldest {
            Some(i) => {
                log::debug!(
                    "forgot the history of {} to keep one for a room in use (--max-rooms)",
                    self.rooms[i].name
                );
                self.forget(i);
                true
            }
            None => false,
        }
    }

    /// Keep `frame` (with or without its `\n`) of `room`, received at `at_ms`, and append it to
    /// the room's log. A room not opened before is opened for it (and stays in use).
    pub fn append(&mut self, room: &str, at_ms: u64, frame: &[u8]) {
        let id = self.open_room(room);
        self.append_to(id, at_ms, frame);
    }

    /// Keep `frame` (with or without its `\n`) of the room `id`, received at `at_ms`, and
    /// append it to the room's log now.
    pub fn append_to(&mut self, id: HistoryId, at_ms: u64, frame: &[u8]) {
        self.stage_to(id, at_ms, frame);
        self.write_staged();
    }

    /// Keep `frame` (with or without its `\n`) of the room `id`, received at `at_ms`, and
    /// stage it for the room's log: [`HistoryStore::write_staged`] writes it, with every other
    /// line staged since, one `write(2)` per room.
    pub fn stage_to(&mut self, id: HistoryId, at_ms: u64, frame: &[u8]) {
        if self.keep == 0 {
            return;
        }
        let bare = frame.strip_suffix(b"\n").unwrap_or(frame);
        // The room only relays whole `MSG`/`ACTION` lines; anything else could not be read back
        // as one entry.
        if bare.is_empty() || !format::fits_a_line(bare) {
            debug_assert!(false, "not one frame: {frame:?}");
            return;
        }
        let limit = self.log_limit();
        let Some(r) = self.rooms.get_mut(id.0) else {
            return;
        };
        r.last_ms = r.last_ms.max(at_ms);
        if frame.ends_with(b"\n") {
            r.ring.push(at_ms, frame);
        } else {
            self.line.clear();
            self.line.extend_from_slice(frame);
            self.line.push(b'\n');
            r.ring.push(at_ms, &self.line);
        }
        let (Some(logs), Some(log)) = (&self.logs, r.log) else {
            return;
        };
        self.line.clear();
        format::encode_entry(at_ms, bare, &mut self.line);
        let mut logs = logs.lock();
        logs.stage(log, &self.line);
        if logs.lines(log) > limit {
            logs.request_rewrite(log);
        }
    }

    /// Write the lines staged since the last call, one `write(2)` per room log.
    pub fn write_staged(&mut self) {
        if let Some(logs) = &self.logs {
            logs.lock().write_staged();
        }
    }

    /// What writes the staged lines when a connection's queue is written ahead of the round's
    /// flush; `None` when nothing is written to disk.
    pub fn write_ahead(&self) -> Option<HistoryAhead> {
        self.logs.clone().map(HistoryAhead)
    }

    /// The rooms with history, by the name they were first kept under.
    pub fn rooms(&self) -> impl Iterator<Item = &str> {
        self.rooms.iter().map(|(_, r)| r.name.as_str())
    }

    /// `room`'s kept frames (with `\n`) and times, oldest first.
    pub fn entries(&self, room: &str) -> impl Iterator<Item = (u64, &[u8])> {
        self.ring(room).into_iter().flat_map(History::iter)
    }

    /// `room`'s ring of kept frames, while its history is kept.
    pub fn ring(&self, room: &str) -> Option<&History> {
        let &i = self.index.get(bare(room))?;
        Some(&self.rooms[i].ring)
    }

    /// The ring of the room `id`.
    pub fn ring_of(&self, id: HistoryId) -> Option<&History> {
        Some(&self.rooms.get(id.0)?.ring)
    }

    /// The log file of `room`, if it has one.
    pub fn path(&self, room: &str) -> Option<PathBuf> {
        let &i = self.index.get(bare(room))?;
        let log = self.rooms[i].log?;
        self.logs.as_ref()?.lock().path(log).map(Path::to_owned)
    }

    /// See [`super::Store::tick`]: the disk work, and (hourly) forgetting unused rooms whose
    /// last message is [`EMPTY_ROOM_KEEP`] old at `now_ms`.
    pub fn tick(&mut self, now: Instant, now_ms: u64) {
        if self.next_sweep.is_none_or(|t| now >= t) {
            self.next_sweep = Some(now + HISTORY_SWEEP_INTERVAL);
            self.sweep(now_ms);
        }
        let Some(logs) = &self.logs else {
            return;
        };
        let rooms = &self.rooms;
        logs.lock().tick(now, &mut |id, out| {
            let Some((_, room)) = rooms.iter().find(|(_, r)| r.log == Some(id)) else {
                return 0;
            };
            for (at, frame) in room.ring.iter() {
                format::encode_entry(at, frame, out);
            }
            room.ring.len()
        });
    }

    /// Forget the unused rooms whose last message is [`EMPTY_ROOM_KEEP`] old at `now_ms`.
    fn sweep(&mut self, now_ms: u64) {
        let keep_ms = u64::try_from(EMPTY_ROOM_KEEP.as_millis()).unwrap_or(u64::MAX);
        let stale: Vec<usize> = self
            .rooms
            .iter()
            .filter(|(_, r)| !r.in_use && r.last_ms.saturating_add(keep_ms) <= now_ms)
            .map(|(i, _)| i)
            .collect();
        for i in stale {
            log::info!(
                "forgot the history of {}: nobody there and no message for {} days",
                self.rooms[i].name,
                EMPTY_ROOM_KEEP.as_secs() / 86_400
            );
            self.forget(i);
        }
    }

    /// See [`super::Store::next_tick`].
    pub fn next_tick(&self) -> Option<Instant> {
        let sweep = self.next_sweep.filter(|_| self.unused > 0);
        let logs = self.logs.as_ref().and_then(|logs| logs.lock().next_tick());
        super::earliest([logs, sweep])
    }

    /// How many rooms' histories are kept, and how many of those rooms are not in use.
    pub fn counts(&self) -> (usize, usize) {
        (self.rooms.len(), self.unused)
    }

    /// Why the history logs are failing, if they are.
    pub fn failure(&self) -> Option<DiskError> {
        self.logs.as_ref()?.lock().failure().cloned()
    }
}

fn header(room: &str) -> Vec<u8> {
    let mut out = Vec::new();
    format::encode_header(FileKind::History, room, &mut out);
    out
}
