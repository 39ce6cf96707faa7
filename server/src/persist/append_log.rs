//! One append-only state file and its rewrite: the only code that writes, syncs and renames.
//!
//! Appends are whole lines, staged in memory ([`AppendLog::stage`]) and written together by
//! [`AppendLog::write_staged`]: one `write(2)` to a file opened `O_APPEND` (and one to its
//! replacement while a rewrite is in progress), however many lines a round staged. The loop
//! writes them before the round's flush, so they reach the page cache before any client can
//! read them, a server crash loses none, and they never wait for the disk.
//! [`AppendLog::kick`] hands what was appended to the kernel's write-back without waiting.
//!
//! A rewrite (compaction, cleanup, recovery after a failure) replaces the whole file without a
//! moment where a crash could leave it half-written: the new content goes to `<file>.tmp`, is
//! handed to write-back, and keeps taking every append beside the old file; only when it has
//! settled (`limits::REWRITE_SETTLE`) is it `fdatasync`ed, which then finds nothing left to
//! write, and renamed over the old file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::limits::{REWRITE_FORCE, REWRITE_QUIET, REWRITE_SETTLE};

use super::{DiskError, DiskOp};

/// Staging buffers kept for reuse between rounds (a round stages into one per room that was
/// spoken in); more, or one grown past [`SPARE_CAPACITY`] by a burst, are freed.
const SPARE_BUFFERS: usize = 16;
/// See [`SPARE_BUFFERS`].
const SPARE_CAPACITY: usize = 64 << 10;

/// One state file: where it is, how far it is written, and whether it can be trusted.
#[derive(Debug)]
pub struct AppendLog {
    path: PathBuf,
    /// The header line every rewrite starts with (and a new file is created with).
    header: Vec<u8>,
    /// Open for appending; `None` while closed to save descriptors, or before it exists.
    file: Option<File>,
    /// The file exists on disk (adopted at start, or created by an append or a rewrite).
    exists: bool,
    /// Entry lines in the file (corrupt ones included: they take room too).
    lines: usize,
    /// Appended since the last [`AppendLog::kick`].
    dirty: bool,
    /// A write failed: appends skip the file (what they carry stays in memory) until a rewrite
    /// replaces it.
    broken: bool,
    rewrite: Option<Rewrite>,
    /// Complete lines staged since the last [`AppendLog::write_staged`], not yet in the file.
    staged: Vec<u8>,
    /// Lines in `staged`.
    staged_lines: usize,
}

/// The replacement being written for a file.
#[derive(Debug)]
struct Rewrite {
    file: File,
    path: PathBuf,
    lines: usize,
    started: Instant,
    kicked: Instant,
    dirty: bool,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The log opened its file (a descriptor more in use).
    pub opened: bool,
    /// Something was written (nothing is while the file is broken and not being rewritten).
    pub wrote: bool,
}

impl AppendLog {
    /// A log for `path` that does not exist yet; the first append creates it with `header`.
    pub fn planned(path: PathBuf, header: Vec<u8>) -> Self {
        AppendLog {
            path,
            header,
            file: None,
            exists: false,
            lines: 0,
            dirty: false,
            broken: false,
            rewrite: None,
            staged: Vec::new(),
            staged_lines: 0,
        }
    }

    /// A log for an existing file holding `lines` entry lines, whose complete lines end at
    /// `good_len`; anything after that (a line torn by a crash) is cut off now, so the next
    /// append starts a line of its own.
    ///
    /// # Errors
    /// The file cannot be opened or cut; the log is then broken (a rewrite will replace it).
    pub fn adopt(
        path: PathBuf,
        header: Vec<u8>,
        lines: usize,
        good_len: u64,
        torn: bool,
    ) -> (Self, Result<(), DiskError>) {
        let mut log = AppendLog {
            exists: true,
            lines,
            ..AppendLog::planned(path, header)
        };
        let opened = OpenOptions::new()
            .append(true)
            .open(&log.path)
            .map_err(|e| DiskError::new(DiskOp::Open, &log.path, &e))
            .and_then(|file| {
                if torn {
                    file.set_len(good_len)
                        .map_err(|e| DiskError::new(DiskOp::Truncate, &log.path, &e))?;
                }
                Ok(file)
            });
        let result = match opened {
            Ok(file) => {
                log.file = Some(file);
                Ok(())
            }
            Err(e) => {
                log.broken = true;
                Err(e)
            }
        };
        (log, result)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Entry lines in the file, and staged for it.
    pub fn lines(&self) -> usize {
        self.lines + self.staged_lines
    }

    /// Whether a file descriptor is open (the live file's; a rewrite holds one more).
    pub fn has_fd(&self) -> bool {
        self.file.is_some()
    }

    /// Whether a rewrite is in progress.
    pub fn is_rewriting(&self) -> bool {
        self.rewrite.is_some()
    }

    /// Stage one complete line (with its `\n`) for the next [`AppendLog::write_staged`]; true
    /// when it is the first since the last one. An empty log takes a buffer from `spare` (see
    /// [`AppendLog::write_staged`]) rather than growing one of its own.
    pub fn stage(&mut self, line: &[u8], spare: &mut Vec<Vec<u8>>) -> bool {
        let first = self.staged_lines == 0;
        if first && self.staged.capacity() == 0 {
            self.staged = spare.pop().unwrap_or_default();
        }
        self.staged.extend_from_slice(line);
        self.staged_lines += 1;
        first
    }

    /// Write what was staged, in one write to the file and one to its replacement while a
    /// rewrite is in progress. Skips the file while it is broken. The buffer goes back to
    /// `spare`, so a log holds none between rounds.
    ///
    /// # Errors
    /// A write failed: the file is now broken (or the rewrite abandoned), and will be replaced by
    /// a rewrite from what the owner keeps in memory.
    pub fn write_staged(&mut self, spare: &mut Vec<Vec<u8>>) -> (Appended, Result<(), DiskError>) {
        let lines = std::mem::take(&mut self.staged_lines);
        let mut bytes = std::mem::take(&mut self.staged);
        let done = self.append(&bytes, lines);
        bytes.clear();
        let keep = (1..=SPARE_CAPACITY).contains(&bytes.capacity());
        if keep && spare.len() < SPARE_BUFFERS {
            spare.push(bytes);
        }
        done
    }

    /// Append `lines` complete lines, `bytes`, to the file and its replacement.
    fn append(&mut self, bytes: &[u8], lines: usize) -> (Appended, Result<(), DiskError>) {
        let mut done = Appended {
            opened: false,
            wrote: false,
        };
        if lines == 0 {
            return (done, Ok(()));
        }
        if let Some(rw) = &mut self.rewrite {
            if let Err(e) = rw.file.write_all(bytes) {
                let err = DiskError::new(DiskOp::Append, &rw.path, &e);
                self.abandon_rewrite();
                self.broken = true;
                return (done, Err(err));
            }
            rw.lines += lines;
            rw.dirty = true;
            done.wrote = true;
        }
        if self.broken {
            return (done, Ok(()));
        }
        let result = self.append_live(bytes, lines, &mut done);
        if result.is_err() {
            self.broken = true;
        }
        (done, result)
    }

    fn append_live(
        &mut self,
        bytes: &[u8],
        lines: usize,
        done: &mut Appended,
    ) -> Result<(), DiskError> {
        if self.file.is_none() {
            self.file = Some(self.open_or_create()?);
            done.opened = true;
        }
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        file.write_all(bytes)
            .map_err(|e| DiskError::new(DiskOp::Append, &self.path, &e))?;
        self.lines += lines;
        self.dirty = true;
        done.wrote = true;
        Ok(())
    }

    fn open_or_create(&mut self) -> Result<File, DiskError> {
        if self.exists {
            return OpenOptions::new()
                .append(true)
                .open(&self.path)
                .map_err(|e| DiskError::new(DiskOp::Open, &self.path, &e));
        }
        let mut file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&self.path)
            .map_err(|e| DiskError::new(DiskOp::Create, &self.path, &e))?;
        self.exists = true;
        file.write_all(&self.header)
            .map_err(|e| DiskError::new(DiskOp::Append, &self.path, &e))?;
        Ok(file)
    }

    /// Hand what was appended since the last kick (to the file and its rewrite) to the
    /// kernel's write-back, without waiting for the disk.
    ///
    /// # Errors
    /// The kernel refused (an I/O error it already knows of): the log is left broken.
    pub fn kick(&mut self, now: Instant) -> Result<(), DiskError> {
        let mut result = Ok(());
        if let Some(rw) = &mut self.rewrite {
            if rw.dirty {
                rw.dirty = false;
                rw.kicked = now;
                result = super::sys::start_writeback(&rw.file)
                    .map_err(|e| DiskError::new(DiskOp::Sync, &rw.path, &e));
            }
        }
        let result = result.and(self.kick_live());
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    fn kick_live(&mut self) -> Result<(), DiskError> {
        if !std::mem::take(&mut self.dirty) {
            return Ok(());
        }
        match &self.file {
            Some(file) => super::sys::start_writeback(file)
                .map_err(|e| DiskError::new(DiskOp::Sync, &self.path, &e)),
            None => Ok(()),
        }
    }

    /// Close the live file's descriptor (it reopens on the next append), kicking it first.
    ///
    /// # Errors
    /// As [`AppendLog::kick`].
    pub fn close(&mut self) -> Result<(), DiskError> {
        let kicked = self.kick_live();
        self.file = None;
        if kicked.is_err() {
            self.broken = true;
        }
        kicked
    }

    /// Start replacing the file with the header and `entries` (`lines` entry lines). The new
    /// file is written and handed to write-back now; [`AppendLog::finish_rewrite`] puts it in
    /// place once [`AppendLog::rewrite_due`] has passed.
    ///
    /// # Errors
    /// The new file cannot be written: the log is left broken, to be rewritten again later.
    pub fn begin_rewrite(
        &mut self,
        entries: &[u8],
        lines: usize,
        now: Instant,
    ) -> Result<(), DiskError> {
        self.abandon_rewrite();
        let path = tmp_path(&self.path);
        let written = File::create(&path)
            .map_err(|e| DiskError::new(DiskOp::Create, &path, &e))
            .and_then(|mut file| {
                file.write_all(&self.header)
                    .and_then(|()| file.write_all(entries))
                    .and_then(|()| super::sys::start_writeback(&file))
                    .map_err(|e| DiskError::new(DiskOp::Append, &path, &e))?;
                Ok(file)
            });
        match written {
            Ok(file) => {
                self.rewrite = Some(Rewrite {
                    file,
                    path,
                    lines,
                    started: now,
                    kicked: now,
                    dirty: false,
                });
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&path);
                self.broken = true;
                Err(e)
            }
        }
    }

    /// When the rewrite in progress may be finished: once it has settled and gone quiet, or at
    /// the latest [`REWRITE_FORCE`] after it began. `None` when there is none.
    pub fn rewrite_due(&self) -> Option<Instant> {
        let rw = self.rewrite.as_ref()?;
        let force = rw.started + REWRITE_FORCE;
        if rw.dirty {
            return Some(force); // its next kick comes sooner and moves this
        }
        Some(
            (rw.started + REWRITE_SETTLE)
                .max(rw.kicked + REWRITE_QUIET)
                .min(force),
        )
    }

    /// Put the rewritten file in place: `fdatasync` it if `sync` (by now the kernel has written
    /// it) and rename it over the old one. The directory entry becomes durable with the file
    /// system's next commit, or the owner's directory sync; until then a power cut leaves the old
    /// file, which held everything the new one holds but its last appends.
    ///
    /// Without the sync, a power cut can only leave the new file incomplete on a file system that
    /// does not write a renamed file's data before the rename (ext4 by default does: its journal
    /// commits in order, and data before the metadata that points to it).
    ///
    /// # Errors
    /// The sync or the rename failed: the rewrite is abandoned and the log left broken, to be
    /// rewritten again later.
    pub fn finish_rewrite(&mut self, sync: bool) -> Result<(), DiskError> {
        let Some(rw) = self.rewrite.take() else {
            return Ok(());
        };
        let synced = match sync {
            true => rw.file.sync_data(),
            false => Ok(()),
        };
        let placed = synced
            .map_err(|e| DiskError::new(DiskOp::Sync, &rw.path, &e))
            .and_then(|()| {
                fs::rename(&rw.path, &self.path)
                    .map_err(|e| DiskError::new(DiskOp::Rename, &self.path, &e))
            });
        if let Err(e) = placed {
            let _ = fs::remove_file(&rw.path);
            self.broken = true;
            return Err(e);
        }
        self.file = Some(rw.file);
        self.exists = true;
        self.lines = rw.lines;
        self.dirty = rw.dirty;
        self.broken = false;
        Ok(())
    }

    fn abandon_rewrite(&mut self) {
        if let Some(rw) = self.rewrite.take() {
            let _ = fs::remove_file(&rw.path);
        }
    }

    /// Delete the file (and any rewrite of it).
    ///
    /// # Errors
    /// The file exists and cannot be deleted.
    pub fn remove(&mut self) -> Result<(), DiskError> {
        self.abandon_rewrite();
        self.file = None;
        if !self.exists {
            return Ok(());
        }
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(DiskError::new(DiskOp::Remove, &self.path, &e)),
        }
    }
}

/// Where the rewrite of `path` is written: beside it, ending in `.tmp` so a server starting after
/// a crash knows it for a leftover and deletes it.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}
