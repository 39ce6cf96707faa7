//! Each room's recent history: the last `--history` frames in memory, and a log file per room
//! that a restart reads them back from.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use lanchat_proto::fold_name;

use crate::limits::{HISTORY_LOG_FACTOR, HISTORY_LOG_MIN_SLACK, MAX_OPEN_LOGS, MAX_REWRITES};
use crate::room::history::History;

use super::format::{self, FileKind};
use super::logs::{FdBudget, LogId, LogSet};
use super::{DiskError, LoadReport};

/// File extension of a room's history log.
const EXT: &str = "log";

/// Every room's history, and its log when there is a state directory.
#[derive(Debug)]
pub struct HistoryStore {
    /// Entries kept per room (`--history`); 0 keeps none.
    keep: usize,
    /// The room logs; `None` when nothing is written.
    logs: Option<LogSet>,
    rooms: Vec<RoomHistory>,
    /// Room index by folded name: rooms are the same room in any case.
    index: HashMap<String, usize>,
    line: Vec<u8>,
}

#[derive(Debug)]
struct RoomHistory {
    name: String,
    ring: History,
    log: Option<LogId>,
}

impl HistoryStore {
    /// Rooms' history kept in memory only.
    pub fn in_memory(keep: usize) -> Self {
        HistoryStore {
            keep,
            logs: None,
            rooms: Vec::new(),
            index: HashMap::new(),
            line: Vec::new(),
        }
    }

    /// Read every room log in `dir` (created if missing), keeping the last `keep` entries of
    /// each. With `keep` 0 nothing is read or written.
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
            let read = logs.read(&path, FileKind::History, &mut report, |at, f| {
                frame.clear();
                frame.extend_from_slice(f);
                frame.push(b'\n');
                ring.push(at, &frame);
            });
            let Some((name, scan)) = read else {
                continue;
            };
            let key = fold_name(&name);
            if store.index.contains_key(&key) {
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
            store.index.insert(key, store.rooms.len());
            store.rooms.push(RoomHistory {
                name,
                ring,
                log: Some(id),
            });
        }
        store.logs = Some(logs);
        (store, report)
    }

    /// Entry lines a room's log may reach before it is compacted to the last `keep`.
    fn log_limit(&self) -> usize {
        (self.keep * HISTORY_LOG_FACTOR).max(self.keep + HISTORY_LOG_MIN_SLACK)
    }

    /// Keep `frame` (with or without its `\n`) of `room`, received at `at_ms`, and append it to
    /// the room's log.
    pub fn append(&mut self, room: &str, at_ms: u64, frame: &[u8]) {
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
        let i = self.room(room);
        let r = &mut self.rooms[i];
        if frame.ends_with(b"\n") {
            r.ring.push(at_ms, frame);
        } else {
            self.line.clear();
            self.line.extend_from_slice(frame);
            self.line.push(b'\n');
            r.ring.push(at_ms, &self.line);
        }
        let (Some(logs), Some(id)) = (&mut self.logs, r.log) else {
            return;
        };
        self.line.clear();
        format::encode_entry(at_ms, bare, &mut self.line);
        logs.append(id, &self.line);
        if logs.lines(id) > limit {
            logs.request_rewrite(id);
        }
    }

    /// The index of `room`, added (with a log planned) if it is new.
    fn room(&mut self, room: &str) -> usize {
        let key = fold_name(room);
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        // A name that cannot be one header line (rooms' names never hold a newline) is kept in
        // memory only.
        let log = self
            .logs
            .as_mut()
            .filter(|_| format::fits_a_line(room.as_bytes()))
            .map(|logs| logs.plan(room, EXT, header(room)));
        self.index.insert(key, self.rooms.len());
        self.rooms.push(RoomHistory {
            name: room.to_owned(),
            ring: History::new(self.keep),
            log,
        });
        self.rooms.len() - 1
    }

    /// The rooms with history, by the name they were first kept under.
    pub fn rooms(&self) -> impl Iterator<Item = &str> {
        self.rooms.iter().map(|r| r.name.as_str())
    }

    /// `room`'s kept frames (with `\n`) and times, oldest first.
    pub fn entries(&self, room: &str) -> impl Iterator<Item = (u64, &[u8])> {
        self.ring(room).into_iter().flat_map(History::iter)
    }

    /// `room`'s ring of kept frames, once it has had one.
    pub fn ring(&self, room: &str) -> Option<&History> {
        self.index
            .get(&fold_name(room))
            .map(|&i| &self.rooms[i].ring)
    }

    /// The log file of `room`, if it has one.
    pub fn path(&self, room: &str) -> Option<&Path> {
        let i = *self.index.get(&fold_name(room))?;
        self.logs.as_ref()?.path(self.rooms[i].log?)
    }

    /// See [`super::Store::tick`].
    pub fn tick(&mut self, now: Instant) {
        let Some(logs) = &mut self.logs else {
            return;
        };
        let rooms = &self.rooms;
        logs.tick(now, &mut |id, out| {
            let Some(room) = rooms.iter().find(|r| r.log == Some(id)) else {
                return 0;
            };
            for (at, frame) in room.ring.iter() {
                format::encode_entry(at, frame, out);
            }
            room.ring.len()
        });
    }

    /// See [`super::Store::next_tick`].
    pub fn next_tick(&self) -> Option<Instant> {
        self.logs.as_ref()?.next_tick()
    }

    /// Why the history logs are failing, if they are.
    pub fn failure(&self) -> Option<&DiskError> {
        self.logs.as_ref()?.failure()
    }
}

fn header(room: &str) -> Vec<u8> {
    let mut out = Vec::new();
    format::encode_header(FileKind::History, room, &mut out);
    out
}
