//! The state files of one directory and their timetable: when to hand appends to write-back,
//! when to start and finish rewrites, when to retry after a failure. Owners (the history and
//! notes stores) decide what goes in the files; this decides when the disk is touched, so that
//! the loop never waits for it.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use slab::Slab;

use crate::limits::{
    KICK_INTERVAL_MAX, KICK_SLOW, PERSIST_KICK_INTERVAL, PERSIST_RETRY, REWRITE_FORCE,
    REWRITE_SETTLE, SYNC_PAUSE, SYNC_SLOW,
};

use super::append_log::{tmp_path, AppendLog};
use super::format::{self, FileKind, Header, Scan};
use super::{file_name, sys, DiskError, DiskOp, LoadReport};

/// File names tried for one owner before giving up (see [`LogSet::free_path`]).
const MAX_CANDIDATES: usize = 10_000;

/// File descriptors a [`LogSet`] may hold at once (`limits::PERSIST_FDS` adds them up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// Files kept open for appending; the least recently opened is closed past this.
    pub open: usize,
    /// Rewrites in progress, each holding its new file open.
    pub rewrites: usize,
}

/// Names a log in its [`LogSet`] for as long as it is in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogId(usize);

/// The state files of one directory.
#[derive(Debug)]
pub struct LogSet {
    dir: PathBuf,
    /// Why the directory could not be created, while it cannot.
    dir_error: Option<DiskError>,
    logs: Slab<AppendLog>,
    budget: FdBudget,
    /// Every file name in the directory that is not free: adopted, planned, or left alone.
    taken: std::collections::HashSet<PathBuf>,
    /// Logs appended to since the last kick.
    dirty: Vec<LogId>,
    /// Logs with lines staged since the last [`LogSet::write_staged`], each once.
    staged: Vec<LogId>,
    /// Staging buffers for reuse (see [`AppendLog::write_staged`]).
    spare: Vec<Vec<u8>>,
    /// No kick before this.
    next_kick: Option<Instant>,
    /// Time between kicks: [`PERSIST_KICK_INTERVAL`], longer while kicks are slow.
    kick_interval: Duration,
    /// Whether rewrites wait for syncs (they stop for a while after a slow one).
    syncs: Syncs,
    /// Logs holding a descriptor, oldest first; at most `budget.open`.
    open: VecDeque<LogId>,
    /// Rewrites in progress, at most `budget.rewrites`.
    rewriting: Vec<LogId>,
    /// Rewrites waiting for a slot.
    queue: VecDeque<LogId>,
    /// Logs whose file failed; rewritten from memory at the next retry.
    broken: Vec<LogId>,
    /// Files to delete that could not be deleted yet.
    doomed: Vec<PathBuf>,
    /// The next retry after a failure; set by the first tick that sees one.
    retry_at: Option<Instant>,
    /// Renames not yet made durable by a directory sync: when the first of them was made,
    /// and when to sync.
    renames: Option<DirSync>,
    /// The directory sync failed; retried with the rest.
    dir_sync_error: Option<DiskError>,
    /// The most recent failure, for the report while failing.
    last_error: Option<DiskError>,
    buf: Vec<u8>,
}

impl LogSet {
    /// The state files in `dir`, which is created if missing, holding at most `budget`
    /// descriptors. A directory that cannot be created makes the set failing from the start;
    /// it is retried like any failure.
    pub fn new(dir: PathBuf, budget: FdBudget) -> Self {
        let dir_error = fs::create_dir_all(&dir)
            .err()
            .map(|e| DiskError::new(DiskOp::CreateDir, &dir, &e));
        LogSet {
            dir,
            dir_error,
            logs: Slab::new(),
            budget,
            taken: Default::default(),
            dirty: Vec::new(),
            staged: Vec::new(),
            spare: Vec::new(),
            next_kick: None,
            kick_interval: PERSIST_KICK_INTERVAL,
            syncs: Syncs::default(),
            open: VecDeque::new(),
            rewriting: Vec::new(),
            queue: VecDeque::new(),
            broken: Vec::new(),
            doomed: Vec::new(),
            retry_at: None,
            renames: None,
            dir_sync_error: None,
            last_error: None,
            buf: Vec::new(),
        }
    }

    /// The files of the directory ending in `.ext`, sorted by name, after deleting rewrites a
    /// crash left behind (`*.ext.tmp`). Every name listed counts as taken from now on.
    pub fn existing(&mut self, ext: &str) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new(); // a directory that cannot be read fails at its first write
        };
        let leftover = format!(".{ext}.tmp");
        let ours = format!(".{ext}");
        let mut found = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(&leftover) {
                if let Err(e) = fs::remove_file(&path) {
                    log::warn!("cannot delete the leftover {}: {e}", path.display());
                }
            } else if name.ends_with(&ours) {
                self.taken.insert(path.clone());
                found.push(path);
            }
        }
        found.sort();
        found
    }

    /// Read a file [`LogSet::existing`] listed, handing its entries to `each`: its owner's name
    /// and what the reading found, or `None` when there is nothing to adopt. A file that cannot
    /// be read, or is not ours, is left alone and said so in `report`; one without a complete
    /// header (created, then cut short by a crash) holds nothing and nobody's name, and is
    /// deleted.
    pub fn read(
        &mut self,
        path: &Path,
        kind: FileKind,
        report: &mut LoadReport,
        each: impl FnMut(u64, &[u8]),
    ) -> Option<(String, Scan)> {
        let scan = File::open(path).and_then(|file| format::scan(BufReader::new(file), kind, each));
        let why = match scan {
            Err(e) => format!("cannot read it: {e}"),
            Ok(scan) => match &scan.header {
                Header::Ok(name) => return Some((name.clone(), scan)),
                Header::Missing => {
                    self.discard(path);
                    return None;
                }
                Header::Foreign => format!("not a lanchat {} file", kind.noun()),
                Header::Version(v) => format!("written in format version {v}"),
            },
        };
        report.skipped.push((path.to_owned(), why));
        None
    }

    /// Delete a file [`LogSet::existing`] listed that holds nothing to keep, freeing its name.
    pub fn discard(&mut self, path: &Path) {
        if let Err(e) = fs::remove_file(path) {
            log::warn!("cannot delete {}: {e}", path.display());
        }
        self.taken.remove(path);
    }

    /// A free file name in the directory for `owner`'s file ending in `.ext`.
    fn free_path(&mut self, owner: &str, ext: &str) -> PathBuf {
        let stem = file_name::stem(owner);
        let taken = &self.taken;
        let free = file_name::candidates(&stem, ext)
            .take(MAX_CANDIDATES)
            .map(|name| self.dir.join(name))
            .find(|path| !taken.contains(path) && fs::symlink_metadata(path).is_err())
            // Thousands of look-alike names: the first choice, so creating it fails (and says
            // why) rather than this searching on.
            .unwrap_or_else(|| self.dir.join(format!("{stem}.{ext}")));
        self.taken.insert(free.clone());
        free
    }

    /// Add the log of a file found at start (see [`AppendLog::adopt`]).
    pub fn adopt(
        &mut self,
        path: PathBuf,
        header: Vec<u8>,
        lines: usize,
        good_len: u64,
        torn: bool,
    ) -> LogId {
        self.taken.insert(path.clone());
        let (log, result) = AppendLog::adopt(path, header, lines, good_len, torn);
        let id = LogId(self.logs.insert(log));
        match result {
            Ok(()) => self.note_open(id),
            Err(e) => self.fail(id, e),
        }
        id
    }

    /// Add a log for `owner` that has no file yet: its first append creates one named for it.
    pub fn plan(&mut self, owner: &str, ext: &str, header: Vec<u8>) -> LogId {
        let path = self.free_path(owner, ext);
        LogId(self.logs.insert(AppendLog::planned(path, header)))
    }

    /// Entry lines in the log's file, and staged for it.
    pub fn lines(&self, id: LogId) -> usize {
        self.logs.get(id.0).map_or(0, AppendLog::lines)
    }

    /// The log's file.
    pub fn path(&self, id: LogId) -> Option<&Path> {
        self.logs.get(id.0).map(AppendLog::path)
    }

    /// Append one line (with its `\n`) to the log's file now: one `write(2)` (with whatever
    /// was staged for it before), no waiting. A failure is recorded (see [`LogSet::failure`]),
    /// never returned: what the line carries is in the owner's memory, and goes to disk with
    /// the rewrite that repairs the file.
    pub fn append(&mut self, id: LogId, line: &[u8]) {
        self.stage(id, line);
        self.write(id);
    }

    /// Stage one line (with its `\n`) for the log's file; [`LogSet::write_staged`] writes
    /// every log's staged lines, each log's in one `write(2)`.
    pub fn stage(&mut self, id: LogId, line: &[u8]) {
        let Some(log) = self.logs.get_mut(id.0) else {
            return;
        };
        if log.stage(line, &mut self.spare) {
            self.staged.push(id);
        }
    }

    /// Write what was staged since the last call: one `write(2)` per log (two while it is
    /// being rewritten), no waiting. Failures are recorded as [`LogSet::append`]'s are.
    pub fn write_staged(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        let staged = std::mem::take(&mut self.staged);
        for &id in &staged {
            self.write(id);
        }
        // Keep the list's memory: it is this set's, and empty again.
        self.staged = staged;
        self.staged.clear();
    }

    /// Write the log's staged lines, if any.
    fn write(&mut self, id: LogId) {
        let Some(log) = self.logs.get_mut(id.0) else {
            return;
        };
        let (done, result) = log.write_staged(&mut self.spare);
        if done.wrote && !self.dirty.contains(&id) {
            self.dirty.push(id);
        }
        if done.opened {
            self.note_open(id);
        }
        if let Err(e) = result {
            self.fail(id, e);
        }
    }

    /// Rewrite the log's file from the owner's memory soon (a compaction, a cleanup).
    pub fn request_rewrite(&mut self, id: LogId) {
        let busy = self.logs.get(id.0).is_none_or(AppendLog::is_rewriting);
        if !busy && !self.queue.contains(&id) {
            self.queue.push_back(id);
        }
    }

    /// Delete the log and its file.
    pub fn remove(&mut self, id: LogId) {
        let Some(mut log) = self.logs.try_remove(id.0) else {
            return;
        };
        self.taken.remove(log.path());
        if let Err(e) = log.remove() {
            self.doomed.push(log.path().to_owned());
            self.last_error = Some(e);
        }
        self.dirty.retain(|&i| i != id);
        self.staged.retain(|&i| i != id);
        self.open.retain(|&i| i != id);
        self.rewriting.retain(|&i| i != id);
        self.queue.retain(|&i| i != id);
        self.broken.retain(|&i| i != id);
    }

    /// Do what is due at `now`: hand appends to write-back, finish settled rewrites, retry after
    /// failures, start queued rewrites (their content comes from `content`, which appends a
    /// log's entry lines to the buffer and returns how many), sync the directory after renames.
    pub fn tick(&mut self, now: Instant, content: &mut dyn FnMut(LogId, &mut Vec<u8>) -> usize) {
        // A rewrite starts from the owner's memory, which holds the staged lines already: they
        // go to the old file first, or the new one would get them twice.
        self.write_staged();
        self.kick(now);
        self.finish_rewrites(now);
        self.retry(now);
        self.start_rewrites(now, content);
        self.sync_dir(now);
    }

    /// When [`LogSet::tick`] has something to do next, if anything.
    pub fn next_tick(&self) -> Option<Instant> {
        let kick = (!self.dirty.is_empty()).then_some(self.next_kick).flatten();
        let rewrites = self
            .rewriting
            .iter()
            .map(|id| self.logs.get(id.0)?.rewrite_due());
        let retry = self.failure().and(self.retry_at);
        let dir_sync = self.renames.map(|r| r.due);
        super::earliest([kick, retry, dir_sync].into_iter().chain(rewrites))
    }

    /// Why the directory is failing, if it is: a log that could not be written and has not been
    /// repaired yet, a directory that cannot be created or synced, a file that could not be
    /// deleted.
    pub fn failure(&self) -> Option<&DiskError> {
        if let Some(e) = &self.dir_error {
            return Some(e);
        }
        let failing =
            !self.broken.is_empty() || !self.doomed.is_empty() || self.dir_sync_error.is_some();
        failing.then_some(self.last_error.as_ref()).flatten()
    }

    fn fail(&mut self, id: LogId, e: DiskError) {
        log::debug!("{e}");
        self.last_error = Some(e);
        if !self.broken.contains(&id) {
            self.broken.push(id);
        }
        // A rewrite carries on when only the old file failed (it is what repairs it).
        let logs = &self.logs;
        self.rewriting
            .retain(|&i| i != id || logs.get(i.0).is_some_and(AppendLog::is_rewriting));
    }

    fn note_open(&mut self, id: LogId) {
        self.open.push_back(id);
        while self.open.len() > self.budget.open {
            let Some(old) = self.open.pop_front() else {
                break;
            };
            if let Some(log) = self.logs.get_mut(old.0) {
                if let Err(e) = log.close() {
                    self.fail(old, e);
                }
            }
        }
    }

    fn kick(&mut self, now: Instant) {
        if self.dirty.is_empty() || self.next_kick.is_some_and(|t| now < t) {
            return;
        }
        // Handing pages to write-back does not wait for the disk, but it can wait for a slot
        // in the disk's queue when the disk is congested (measured: up to 1.7 s on one
        // throttled to 20 writes/s and flooded with kicks). So the kicks are timed, which is
        // why this reads the clock: a slow batch spaces the next ones out, down to the
        // kernel's own write-back pace; fast ones bring them back to once a second.
        let started = Instant::now();
        for id in std::mem::take(&mut self.dirty) {
            if let Some(log) = self.logs.get_mut(id.0) {
                if let Err(e) = log.kick(now) {
                    self.fail(id, e);
                }
            }
        }
        self.kick_interval = if started.elapsed() > KICK_SLOW {
            (self.kick_interval * 2).min(KICK_INTERVAL_MAX)
        } else {
            (self.kick_interval / 2).max(PERSIST_KICK_INTERVAL)
        };
        self.next_kick = Some(now + self.kick_interval);
    }

    fn finish_rewrites(&mut self, now: Instant) {
        let due: Vec<LogId> = self
            .rewriting
            .iter()
            .copied()
            .filter(|id| {
                self.logs
                    .get(id.0)
                    .and_then(AppendLog::rewrite_due)
                    .is_some_and(|t| t <= now)
            })
            .collect();
        for id in due {
            self.rewriting.retain(|&i| i != id);
            let Some(log) = self.logs.get_mut(id.0) else {
                continue;
            };
            let had_fd = log.has_fd();
            let started = Instant::now();
            let placed = log.finish_rewrite(self.syncs.enabled(now));
            self.syncs.took(started.elapsed(), now);
            match placed {
                Ok(()) => {
                    self.broken.retain(|&i| i != id);
                    if !had_fd {
                        self.note_open(id);
                    }
                    self.renames = Some(DirSync::after_rename(self.renames, now));
                }
                Err(e) => self.fail(id, e),
            }
        }
    }

    fn retry(&mut self, now: Instant) {
        if self.failure().is_none() {
            self.retry_at = None;
            return;
        }
        match self.retry_at {
            None => {
                self.retry_at = Some(now + PERSIST_RETRY);
                return;
            }
            Some(t) if now < t => return,
            Some(_) => self.retry_at = Some(now + PERSIST_RETRY),
        }
        if self.dir_error.is_some() {
            match fs::create_dir_all(&self.dir) {
                Ok(()) => self.dir_error = None,
                Err(e) => {
                    self.dir_error = Some(DiskError::new(DiskOp::CreateDir, &self.dir, &e));
                    return;
                }
            }
        }
        self.doomed.retain(|path| match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                let _ = fs::remove_file(tmp_path(path));
                true
            }
            _ => false,
        });
        if self.dir_sync_error.is_some() && self.renames.is_none() {
            self.renames = Some(DirSync {
                first: now,
                due: now,
            });
        }
        for id in self.broken.clone() {
            self.request_rewrite(id);
        }
    }

    fn start_rewrites(
        &mut self,
        now: Instant,
        content: &mut dyn FnMut(LogId, &mut Vec<u8>) -> usize,
    ) {
        while self.rewriting.len() < self.budget.rewrites {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            self.buf.clear();
            let lines = content(id, &mut self.buf);
            let Some(log) = self.logs.get_mut(id.0) else {
                continue;
            };
            match log.begin_rewrite(&self.buf, lines, now) {
                Ok(()) => self.rewriting.push(id),
                Err(e) => self.fail(id, e),
            }
        }
        // A buffer that held a big room's rewrite need not stay that big.
        self.buf.shrink_to(64 << 10);
    }

    fn sync_dir(&mut self, now: Instant) {
        if self.renames.is_none_or(|r| now < r.due) {
            return;
        }
        self.renames = None;
        if !self.syncs.enabled(now) {
            return;
        }
        let started = Instant::now();
        self.dir_sync_error = sys::sync_dir(&self.dir)
            .err()
            .map(|e| DiskError::new(DiskOp::Sync, &self.dir, &e));
        self.syncs.took(started.elapsed(), now);
        if let Some(e) = &self.dir_sync_error {
            self.last_error = Some(e.clone());
        }
    }
}

/// Whether a rewrite waits for its `fdatasync` and directory sync.
///
/// A settled sync costs a cache flush, 0.03-1.4 ms on the disks measured; but on a slow disk
/// that another program keeps busy, the flush waits behind that program's writes (200-500 ms
/// measured on a disk throttled to 20 writes/s). So syncs are timed (the only reason this
/// reads the clock), and after one slower than [`SYNC_SLOW`] rewrites skip them for
/// [`SYNC_PAUSE`]: the loop waits at most once an hour, and the rename stays safe on ext4 (see
/// [`AppendLog::finish_rewrite`]).
#[derive(Debug, Default)]
struct Syncs {
    paused_until: Option<Instant>,
}

impl Syncs {
    fn enabled(&self, now: Instant) -> bool {
        self.paused_until.is_none_or(|t| now >= t)
    }

    fn took(&mut self, took: Duration, now: Instant) {
        if took > SYNC_SLOW && self.enabled(now) {
            log::warn!(
                "a sync of the state directory took {} ms: rewrites stop waiting for syncs for \
                 the next {} minutes (safe on ext4; elsewhere a power cut just after one can \
                 cost that file's history)",
                took.as_millis(),
                SYNC_PAUSE.as_secs() / 60
            );
            self.paused_until = Some(now + SYNC_PAUSE);
        }
    }
}

/// Renames waiting for their directory to be synced.
///
/// A rename is made durable by syncing its directory once the file system has had time to
/// commit it on its own (then the sync costs one cache flush): [`REWRITE_SETTLE`] after the
/// last rename, at the latest [`REWRITE_FORCE`] after the first one waiting.
#[derive(Debug, Clone, Copy)]
struct DirSync {
    first: Instant,
    due: Instant,
}

impl DirSync {
    fn after_rename(pending: Option<DirSync>, now: Instant) -> DirSync {
        let first = pending.map_or(now, |p| p.first);
        DirSync {
            first,
            due: (now + REWRITE_SETTLE).min(first + REWRITE_FORCE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_sync_pauses_syncs_for_a_while() {
        let mut syncs = Syncs::default();
        let t = Instant::now();
        assert!(syncs.enabled(t));
        syncs.took(SYNC_SLOW, t);
        assert!(syncs.enabled(t), "as slow as allowed");
        syncs.took(SYNC_SLOW * 15, t);
        assert!(!syncs.enabled(t + SYNC_PAUSE - Duration::from_secs(1)));
        assert!(syncs.enabled(t + SYNC_PAUSE));
    }

    #[test]
    fn a_directory_sync_waits_for_the_last_rename_to_settle_but_not_for_ever() {
        let t = Instant::now();
        let first = DirSync::after_rename(None, t);
        assert_eq!(first.due, t + REWRITE_SETTLE);
        let later = DirSync::after_rename(Some(first), t + Duration::from_secs(5));
        assert_eq!(later.due, t + Duration::from_secs(5) + REWRITE_SETTLE);
        let busy = DirSync::after_rename(Some(later), t + REWRITE_FORCE);
        assert_eq!(
            busy.due,
            t + REWRITE_FORCE,
            "at the latest REWRITE_FORCE after the first"
        );
    }
}
