//! What survives a restart: each room's recent history and the notes kept for absent users, as
//! plain-text files in the state directory, written so that the loop never waits for the disk.
//!
//! ```text
//! <state-dir>/history/general.log    lanchat-history 1 #general
//!                                    1700000000000 MSG bob hi
//! <state-dir>/notes/ann.notes        lanchat-notes 1 ann
//!                                    1700000000000 PRIV bob call me back
//! ```
//!
//! # Durability
//!
//! A relayed message is written (`write(2)`, into the page cache) in the round it is relayed,
//! before any byte of it goes to a socket, so a crash of the server, `kill -9` included, loses
//! nothing that was relayed. A round's messages to one room go in one `write(2)`: they are
//! staged as they are relayed and written together before the round's flush. Nothing on the
//! message path waits for the disk: once a second what was appended is handed to the kernel's
//! write-back without waiting (`sync_file_range`), so a power cut loses only the last few
//! seconds (the kick plus the file system's commit, 5 s on ext4: 3.9-5.8 s measured). Files are
//! rewritten (compaction, cleanup, repair) through a new file that is synced and renamed over
//! the old one only once the kernel has written it (`limits::REWRITE_SETTLE`), when the sync
//! costs a cache flush rather than a wait for the data; a sync that is slow all the same (a
//! slow disk kept busy by something else) makes rewrites skip syncs for an hour
//! (`limits::SYNC_SLOW`). docs/BENCHMARKS.md has the measurements.
//!
//! # Failures
//!
//! A full or read-only disk never stops the chat and is never an error for the caller: the
//! store keeps what it must write in memory (the last `--history` entries of each room, every
//! note), reports the change of state once ([`HealthChange`], from [`Store::tick`]), retries every
//! few seconds (`limits::PERSIST_RETRY`) by rewriting the affected files from memory, and reports
//! again when that has worked.
//!
//! # Who calls what
//!
//! - at start: [`Placement`] decides where (the state directory, or memory only with
//!   `--no-persist` or without a state directory) and [`Placement::open`] opens the store
//!   ([`Store::open`] or [`Store::in_memory`]) and logs what it loaded; the room takes it
//!   (`Room::with_store`), bounds it to `--max-rooms` rooms' histories ([`Store::limit_rooms`])
//!   and opens `#general`;
//! - the room, when a room comes into being ([`Store::kept_name`]: a room whose history is
//!   kept comes back under its old spelling; [`Store::open_room`]) and when it empties
//!   ([`Store::close_room`]: its history stays for a week after its last message); for every
//!   public frame that goes into a room's history, as it is relayed: [`Store::stage_to`]; and
//!   it replays a room's history to a newcomer from [`Store::ring_of`], the one copy in memory;
//! - the event loop, before anything queued in a round is written to a socket (the round's
//!   flush, and the rest of a flush after it read new input): [`Store::write_staged`]; and
//!   [`Store::write_ahead`] handed to the connection table at start, which calls it before a
//!   queue about to pass `--sendq` is offered to its socket in the middle of the batch;
//! - the event loop, once per round after the batch: [`Store::tick`] (it logs the change it
//!   may return), with [`Store::next_tick`] folded into the poll timeout;
//! - for notes (once names can be claimed by a key): [`Store::keep_note`] on `/msg` to an
//!   absent owned name, [`Store::take_notes`] right after a user's history replay.

mod append_log;
mod file_name;
mod format;
mod history;
mod logs;
mod notes;
mod placement;
pub mod snapshot;
mod sys;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use lanchat_proto::NameKey;

use crate::room::history::History;

pub use history::{HistoryAhead, HistoryId, HistoryStore};
pub use notes::{Kept, MailboxFull, Note, NoteStore};
pub use placement::{MemoryOnly, Placement};

/// Name of the state directory's subdirectory holding one history log per room. Not
/// `history`: the client keeps its typed-input history in a file of that name, and both
/// default to `~/.local/state/lanchat` when one user runs both.
pub const HISTORY_DIR: &str = "rooms";
/// Name of the state directory's subdirectory holding one notes file per recipient.
pub const NOTES_DIR: &str = "notes";

/// The server's state on disk: rooms' history and notes for the absent.
#[derive(Debug)]
pub struct Store {
    history: HistoryStore,
    notes: NoteStore,
    /// The failure last reported by [`Store::tick`], if the store is failing.
    reported: Option<DiskError>,
}

impl Store {
    /// Open the state in `dir` (created if missing): read every room's log, keeping the last
    /// `history` entries of each (`0`: no history on disk at all), and every note not older than
    /// [`crate::limits::NOTE_TTL`] at `now_ms`. Never fails: a directory that cannot be used
    /// makes the store start failing, which [`Store::health`] says and [`Store::tick`] reports.
    pub fn open(dir: &Path, history: usize, now_ms: u64) -> (Store, LoadReport) {
        let (history, mut report) = HistoryStore::open(&dir.join(HISTORY_DIR), history);
        let (notes, notes_report) = NoteStore::open(&dir.join(NOTES_DIR), now_ms);
        report.add(notes_report);
        let store = Store {
            history,
            notes,
            reported: None,
        };
        (store, report)
    }

    /// A store that writes nothing (`--no-persist`): history and notes live in memory only.
    pub fn in_memory(history: usize) -> Store {
        Store {
            history: HistoryStore::in_memory(history),
            notes: NoteStore::in_memory(),
            reported: None,
        }
    }

    /// Keep one public frame of `room` (a `MSG ...` or `ACTION ...` line, with or without its
    /// `\n`) received at `at_ms`, and append it to the room's log. One `write(2)`, no waiting; a
    /// failure is reported by [`Store::tick`], never here.
    pub fn append(&mut self, room: &str, at_ms: u64, frame: &[u8]) {
        self.history.append(room, at_ms, frame);
    }

    /// Keep at most `max` rooms' histories (`--max-rooms`; see [`HistoryStore::limit_rooms`]).
    pub fn limit_rooms(&mut self, max: usize) {
        self.history.limit_rooms(max);
    }

    /// The spelling `room`'s history was first kept under, while it is kept (any spelling of
    /// the room finds it).
    pub fn kept_name(&self, room: &str) -> Option<&str> {
        self.history.kept_name(room)
    }

    /// The room `room` is in use (it has members) until [`Store::close_room`]: its history,
    /// kept or new.
    pub fn open_room(&mut self, room: &str) -> HistoryId {
        self.history.open_room(room)
    }

    /// The room is no longer in use: its history is kept for
    /// [`crate::limits::EMPTY_ROOM_KEEP`] after its last message, then forgotten.
    pub fn close_room(&mut self, id: HistoryId) {
        self.history.close_room(id);
    }

    /// [`Store::append`] to the open room `id`, with no look-up by name.
    pub fn append_to(&mut self, id: HistoryId, at_ms: u64, frame: &[u8]) {
        self.history.append_to(id, at_ms, frame);
    }

    /// Keep one public frame of the open room `id`, as [`Store::append_to`] does, but stage it
    /// for the room's log instead of writing it now: [`Store::write_staged`] writes everything
    /// staged, one `write(2)` per room however many messages it had. The loop calls that before
    /// the round's flush (and [`Store::write_ahead`] before any earlier write to a socket), so
    /// no client can read a line that is not in the log.
    pub fn stage_to(&mut self, id: HistoryId, at_ms: u64, frame: &[u8]) {
        self.history.stage_to(id, at_ms, frame);
    }

    /// Write what [`Store::stage_to`] staged. No waiting; a failure is reported by
    /// [`Store::tick`].
    pub fn write_staged(&mut self) {
        self.history.write_staged();
    }

    /// What writes the staged lines when a connection's queue is written ahead of the round's
    /// flush (the connection table calls it); `None` for a store that writes nothing.
    pub fn write_ahead(&self) -> Option<HistoryAhead> {
        self.history.write_ahead()
    }

    /// The ring of the open room `id`.
    pub fn ring_of(&self, id: HistoryId) -> Option<&History> {
        self.history.ring_of(id)
    }

    /// How many rooms' histories are kept, and how many of those rooms are not in use.
    pub fn history_counts(&self) -> (usize, usize) {
        self.history.counts()
    }

    /// The rooms with history, by the name they were first kept under.
    pub fn rooms(&self) -> impl Iterator<Item = &str> {
        self.history.rooms()
    }

    /// `room`'s last `--history` frames (each with its `\n`) and their times, oldest first.
    pub fn history(&self, room: &str) -> impl Iterator<Item = (u64, &[u8])> {
        self.history.entries(room)
    }

    /// `room`'s last `--history` frames as the ring a room replays them from
    /// ([`History::encode`], and [`History::version`] to name the block); `None` until the room
    /// has had an entry. This is the only copy of a room's history in memory: the room reads
    /// it here rather than keeping its own.
    pub fn ring(&self, room: &str) -> Option<&History> {
        self.history.ring(room)
    }

    /// Keep a note for the absent user `to` (named `to_name`, as claimed) from `from`, received
    /// at `now_ms`.
    ///
    /// # Errors
    /// [`MailboxFull`] when `to` already has [`crate::limits::MAX_NOTES_PER_RECIPIENT`] notes.
    pub fn keep_note(
        &mut self,
        to: &NameKey,
        to_name: &str,
        from: &str,
        text: &str,
        now_ms: u64,
    ) -> Result<Kept, MailboxFull> {
        self.notes.keep(to, to_name, from, text, now_ms)
    }

    /// Take every note kept for `to`, oldest first, deleting them (expired ones are dropped).
    /// Each is sent as `HIST <unix-millis> PRIV <from> <text>` ([`Note::encode`]).
    pub fn take_notes(&mut self, to: &NameKey, now_ms: u64) -> Vec<Note> {
        self.notes.take(to, now_ms)
    }

    /// Do the disk work that is due (hand appends to write-back, finish rewrites, retry after a
    /// failure, drop expired notes), and say whether the state directory started or stopped
    /// failing since the last call.
    pub fn tick(&mut self, now: Instant, now_ms: u64) -> Option<HealthChange> {
        self.history.tick(now, now_ms);
        self.notes.tick(now, now_ms);
        let failing = self.failure();
        match (&self.reported, failing) {
            (None, Some(e)) => {
                self.reported = Some(e.clone());
                Some(HealthChange::Failing(e))
            }
            (Some(_), None) => {
                self.reported = None;
                Some(HealthChange::Recovered)
            }
            _ => None,
        }
    }

    /// When [`Store::tick`] next has work, if ever.
    pub fn next_tick(&self) -> Option<Instant> {
        earliest([self.history.next_tick(), self.notes.next_tick()])
    }

    /// Whether the state directory takes writes (for operators' `INFO`).
    pub fn health(&self) -> Health {
        match self.failure() {
            Some(e) => Health::Failing(e),
            None => Health::Ok,
        }
    }

    fn failure(&self) -> Option<DiskError> {
        self.history
            .failure()
            .or_else(|| self.notes.failure().cloned())
    }
}

/// The earliest of some times, if any.
fn earliest(times: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    times.into_iter().flatten().min()
}

/// Whether the state directory takes writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Everything kept is on its way to disk.
    Ok,
    /// Some writes fail; what they carry is kept in memory and retried.
    Failing(DiskError),
}

/// A change of [`Health`], to be logged once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthChange {
    /// The state directory stopped taking writes.
    Failing(DiskError),
    /// It takes them again, and the files are up to date.
    Recovered,
}

impl HealthChange {
    /// Log the change: a warning when failing starts, a notice when it ends.
    pub fn log(&self) {
        match self {
            HealthChange::Failing(_) => log::warn!("{self}"),
            HealthChange::Recovered => log::info!("{self}"),
        }
    }
}

impl fmt::Display for HealthChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthChange::Failing(e) => write!(
                f,
                "state directory failing ({e}); chat goes on, history and notes are kept in \
                 memory and written once the disk takes them"
            ),
            HealthChange::Recovered => write!(
                f,
                "state directory works again; history and notes on disk are up to date"
            ),
        }
    }
}

/// A file operation that failed, on which path, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskError {
    /// What was being done.
    pub op: DiskOp,
    /// To which file or directory.
    pub path: PathBuf,
    /// The kind of error (`StorageFull`, `ReadOnlyFilesystem`, `PermissionDenied` ...).
    pub kind: io::ErrorKind,
    /// The system's message.
    pub detail: String,
}

impl DiskError {
    pub(crate) fn new(op: DiskOp, path: &Path, e: &io::Error) -> Self {
        DiskError {
            op,
            path: path.to_owned(),
            kind: e.kind(),
            detail: e.to_string(),
        }
    }
}

impl fmt::Display for DiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            DiskOp::CreateDir => "create the directory",
            DiskOp::Create => "create",
            DiskOp::Open => "open",
            DiskOp::Append => "write to",
            DiskOp::Truncate => "cut the torn end of",
            DiskOp::Sync => "sync",
            DiskOp::Rename => "rename a new version over",
            DiskOp::Remove => "delete",
        };
        write!(f, "cannot {op} {}: {}", self.path.display(), self.detail)
    }
}

impl std::error::Error for DiskError {}

/// The file operations the store does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskOp {
    /// Creating the state directory or a subdirectory.
    CreateDir,
    /// Creating a file.
    Create,
    /// Opening an existing file.
    Open,
    /// Writing lines.
    Append,
    /// Cutting a line torn by a crash off the end of a file.
    Truncate,
    /// Handing data to write-back, or syncing a file or directory.
    Sync,
    /// Putting a rewritten file in place.
    Rename,
    /// Deleting a file.
    Remove,
}

/// What [`Store::open`] found, for one line of log at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Rooms whose history was loaded.
    pub rooms: usize,
    /// History entries kept in memory (at most `--history` per room).
    pub entries: usize,
    /// Recipients with notes waiting.
    pub mailboxes: usize,
    /// Notes waiting.
    pub notes: usize,
    /// Notes past their time, dropped.
    pub expired: usize,
    /// Lines that were not entries, skipped.
    pub corrupt: usize,
    /// Files whose last line a crash had torn (the fragment is cut off).
    pub torn: usize,
    /// Files that are not ours or not readable, left alone, with why.
    pub skipped: Vec<(PathBuf, String)>,
}

impl LoadReport {
    fn add(&mut self, other: LoadReport) {
        self.rooms += other.rooms;
        self.entries += other.entries;
        self.mailboxes += other.mailboxes;
        self.notes += other.notes;
        self.expired += other.expired;
        self.corrupt += other.corrupt;
        self.torn += other.torn;
        self.skipped.extend(other.skipped);
    }

    /// Log what was loaded from the state directory `dir` (and, as warnings, what was wrong):
    /// the line at start that says where history is kept and how much came back.
    pub fn log(&self, dir: &Path) {
        log::info!("state directory {}: {self}", dir.display());
        for (path, why) in &self.skipped {
            log::warn!("state file {} left alone: {why}", path.display());
        }
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "loaded {} history entries of {} rooms, {} notes for {} users",
            self.entries, self.rooms, self.notes, self.mailboxes
        )?;
        let mut extra = Vec::new();
        if self.corrupt > 0 {
            extra.push(format!("{} damaged lines skipped", self.corrupt));
        }
        if self.torn > 0 {
            extra.push(format!("{} torn last lines cut off", self.torn));
        }
        if self.expired > 0 {
            extra.push(format!("{} expired notes dropped", self.expired));
        }
        if !self.skipped.is_empty() {
            extra.push(format!("{} files left alone", self.skipped.len()));
        }
        if !extra.is_empty() {
            write!(f, " ({})", extra.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
