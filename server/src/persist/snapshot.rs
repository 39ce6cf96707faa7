//! A small state file rewritten whole when what it holds changes (the claims on names, the bans
//! and mutes), atomically, without the loop waiting for the disk.
//!
//! A write goes in two steps, a round apart at least:
//! 1. the whole text goes to `<file>.new` (`write(2)`, into the page cache: microseconds) and is
//!    handed to the kernel's write-back without waiting ([`super::sys::start_writeback`]);
//! 2. [`STATE_SETTLE`] later, when the kernel has written it, `<file>.new` is synced (now a
//!    cache flush, not a wait for the disk), renamed over `<file>`, and the directory synced.
//!
//! So `<file>` is only ever a complete, synced version: a crash at any point, power cut
//! included, never leaves it torn. Each version ends with a line holding a digest of the rest
//! ([`seal`]), and at start a `<file>.new` whose digest checks out is the newer complete
//! version (the server was killed between the steps; the page cache survives a process), so a
//! `kill -9` loses nothing written in step 1; one that does not check out (a power cut in
//! between) is ignored. Changes made while a write settles go out in the next one.
//!
//! A write that fails (disk full, read-only) is retried every [`PERSIST_RETRY`] from memory;
//! the change of health is reported once, as the store's is.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{sys, DiskError, DiskOp};
use crate::limits::{PERSIST_RETRY, STATE_SETTLE, SYNC_SLOW};

/// Where a write is.
#[derive(Debug)]
enum Phase {
    /// Nothing in flight.
    Idle,
    /// `<file>.new` is written and handed to write-back; it goes in place at `due`.
    Settling { file: File, due: Instant },
}

/// What [`Snapshot::open`] read.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The text of the newest complete version (its seal taken off), if there is one.
    pub text: Option<String>,
    /// It was `<file>.new`: the server stopped before putting it in place.
    pub from_new: bool,
    /// `<file>` itself could not be read or was not complete: why (it is left as it is
    /// until the next write replaces it).
    pub problem: Option<String>,
}

/// A change in whether the file can be written, to be logged once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotHealth {
    /// Writing failed; what it holds is kept in memory and written again later.
    Failing(DiskError),
    /// It was written again.
    Recovered,
}

/// One state file, rewritten whole.
#[derive(Debug)]
pub struct Snapshot {
    path: PathBuf,
    new_path: PathBuf,
    phase: Phase,
    /// What is in memory differs from what is (or is going) on disk.
    dirty: bool,
    /// Since when (`None` for a version read from `.new`, due at once).
    dirty_since: Option<Instant>,
    /// The last failure, while failing.
    failure: Option<DiskError>,
    /// No write before this (after a failure).
    retry_at: Option<Instant>,
    buf: Vec<u8>,
    /// How long the last settled sync (and rename, and directory sync) took.
    last_sync: Option<Duration>,
    /// When it was opened: a version read from `.new` is due from then.
    opened: Instant,
}

impl Snapshot {
    /// The file at `path`, and what its newest complete version says.
    pub fn open(path: PathBuf, now: Instant) -> (Snapshot, Loaded) {
        let mut new_path = path.clone().into_os_string();
        new_path.push(".new");
        let new_path = PathBuf::from(new_path);
        let mut loaded = Loaded::default();
        if let Ok(bytes) = fs::read(&new_path) {
            if let Some(text) = unseal(&bytes) {
                loaded.text = Some(text);
                loaded.from_new = true;
            }
        }
        if loaded.text.is_none() {
            match fs::read(&path) {
                Ok(bytes) => match unseal(&bytes) {
                    Some(text) => loaded.text = Some(text),
                    None => loaded.problem = Some("it is not complete (no valid last line)".into()),
                },
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => loaded.problem = Some(format!("cannot read it: {e}")),
            }
        }
        let snapshot = Snapshot {
            path,
            new_path,
            phase: Phase::Idle,
            // A version read from `.new` is put in place by the first write.
            dirty: loaded.from_new,
            dirty_since: None,
            failure: None,
            retry_at: None,
            buf: Vec::new(),
            last_sync: None,
            opened: now,
        };
        (snapshot, loaded)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it holds changed at `now`: write it again.
    pub fn changed(&mut self, now: Instant) {
        if !self.dirty {
            self.dirty_since = Some(now);
        }
        self.dirty = true;
    }

    /// Nothing waits to be written or put in place.
    pub fn is_clean(&self) -> bool {
        !self.dirty && matches!(self.phase, Phase::Idle)
    }

    /// How long the last sync-and-rename took (what the loop waited).
    pub fn last_sync(&self) -> Option<Duration> {
        self.last_sync
    }

    /// When [`Snapshot::tick`] has work next.
    pub fn next_tick(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Settling { due, .. } => Some(*due),
            Phase::Idle if self.dirty => {
                // Due now (the loop polls without waiting for a time that has passed), or at
                // the retry after a failure.
                self.retry_at.or(self.dirty_since).or(Some(self.opened))
            }
            Phase::Idle => None,
        }
    }

    /// The disk work due at `now`: put a settled version in place, or write the next one
    /// (`render` appends the text to its buffer). Returns a change of health to log.
    pub fn tick(
        &mut self,
        now: Instant,
        render: &mut dyn FnMut(&mut Vec<u8>),
    ) -> Option<SnapshotHealth> {
        let was_failing = self.failure.is_some();
        let result = self.step(now, render);
        match result {
            Ok(()) => {
                // Recovered once a version went in place after failing.
                if was_failing && self.is_clean() {
                    self.failure = None;
                    return Some(SnapshotHealth::Recovered);
                }
                None
            }
            Err(e) => {
                self.phase = Phase::Idle;
                self.dirty = true;
                self.retry_at = Some(now + PERSIST_RETRY);
                let first = self.failure.is_none();
                self.failure = Some(e.clone());
                first.then_some(SnapshotHealth::Failing(e))
            }
        }
    }

    fn step(
        &mut self,
        now: Instant,
        render: &mut dyn FnMut(&mut Vec<u8>),
    ) -> Result<(), DiskError> {
        if let Phase::Settling { due, .. } = &self.phase {
            if now < *due {
                return Ok(());
            }
            if let Phase::Settling { file, .. } = std::mem::replace(&mut self.phase, Phase::Idle) {
                self.put_in_place(file)?;
            }
        }
        if self.dirty && self.retry_at.is_none_or(|t| now >= t) {
            let file = self.write_new(render)?;
            self.dirty = false;
            self.retry_at = None;
            self.phase = Phase::Settling {
                file,
                due: now + STATE_SETTLE,
            };
        }
        Ok(())
    }

    /// Write everything now and wait for it (at shutdown, when nobody is left to wait).
    ///
    /// # Errors
    /// The disk's.
    pub fn write_now(&mut self, render: &mut dyn FnMut(&mut Vec<u8>)) -> Result<(), DiskError> {
        if let Phase::Settling { file, .. } = std::mem::replace(&mut self.phase, Phase::Idle) {
            self.put_in_place(file)?;
        }
        if self.dirty {
            let file = self.write_new(render)?;
            self.dirty = false;
            self.put_in_place(file)?;
        }
        Ok(())
    }

    /// Step 1: the sealed text to `<file>.new`, handed to write-back.
    fn write_new(&mut self, render: &mut dyn FnMut(&mut Vec<u8>)) -> Result<File, DiskError> {
        let err = |op, e: &io::Error| DiskError::new(op, &self.new_path, e);
        self.buf.clear();
        render(&mut self.buf);
        seal(&mut self.buf);
        if let Some(dir) = self.path.parent() {
            // As the state directory is made elsewhere: private to its owner.
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| DiskError::new(DiskOp::CreateDir, dir, &e))?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.new_path)
            .map_err(|e| err(DiskOp::Create, &e))?;
        file.write_all(&self.buf)
            .map_err(|e| err(DiskOp::Append, &e))?;
        sys::start_writeback(&file).map_err(|e| err(DiskOp::Sync, &e))?;
        if self.buf.capacity() > 4 * self.buf.len().max(4096) {
            self.buf = Vec::new();
        }
        Ok(file)
    }

    /// Step 2: sync `<file>.new`, rename it over `<file>`, sync the directory.
    fn put_in_place(&mut self, file: File) -> Result<(), DiskError> {
        // What the loop waits for: measured, and said when it is slow.
        let started = Instant::now();
        file.sync_data()
            .map_err(|e| DiskError::new(DiskOp::Sync, &self.new_path, &e))?;
        drop(file);
        fs::rename(&self.new_path, &self.path)
            .map_err(|e| DiskError::new(DiskOp::Rename, &self.path, &e))?;
        if let Some(dir) = self.path.parent() {
            sys::sync_dir(dir).map_err(|e| DiskError::new(DiskOp::Sync, dir, &e))?;
        }
        let took = started.elapsed();
        if took > SYNC_SLOW {
            log::warn!(
                "writing {} waited {} ms for the disk",
                self.path.display(),
                took.as_millis()
            );
        }
        self.last_sync = Some(took);
        Ok(())
    }
}

/// The last line of every version: `end ` and the first 16 hex digits of the SHA-256 of
/// everything before it.
fn seal(buf: &mut Vec<u8>) {
    let digest = ring::digest::digest(&ring::digest::SHA256, buf);
    buf.extend_from_slice(b"end ");
    for b in &digest.as_ref()[..8] {
        buf.extend_from_slice(format!("{b:02x}").as_bytes());
    }
    buf.push(b'\n');
}

/// The text before a valid seal; `None` when there is none (a torn or foreign file).
fn unseal(bytes: &[u8]) -> Option<String> {
    let body_end = bytes.strip_suffix(b"\n")?;
    let cut = body_end
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let (body, last) = bytes.split_at(cut);
    let mut want = body.to_vec();
    seal(&mut want);
    (want.get(cut..) == Some(last)).then(|| String::from_utf8(body.to_vec()).ok())?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &'static str) -> impl FnMut(&mut Vec<u8>) {
        move |buf: &mut Vec<u8>| buf.extend_from_slice(text.as_bytes())
    }

    #[test]
    fn sealed_text_round_trips_and_a_torn_copy_is_refused() {
        let mut buf = b"lanchat-claims 1\nx y z\n".to_vec();
        seal(&mut buf);
        assert_eq!(unseal(&buf).as_deref(), Some("lanchat-claims 1\nx y z\n"));
        for cut in 0..buf.len() {
            assert_eq!(unseal(&buf[..cut]), None, "cut at {cut}");
        }
        let mut flipped = buf.clone();
        flipped[3] ^= 1;
        assert_eq!(unseal(&flipped), None);
        let mut empty = Vec::new();
        seal(&mut empty);
        assert_eq!(unseal(&empty).as_deref(), Some(""));
    }

    #[test]
    fn a_version_goes_in_place_after_it_settles_and_never_torn() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("claims");
        let (mut s, loaded) = Snapshot::open(path.clone(), Instant::now());
        assert!(loaded.text.is_none() && loaded.problem.is_none());
        let t0 = Instant::now();
        assert_eq!(s.next_tick(), None);
        s.changed(t0);
        assert!(s.tick(t0, &mut render("one\n")).is_none());
        assert!(!path.exists(), "not in place before it settles");
        // Killed now: the next start finds the complete new version.
        let (_, loaded) = Snapshot::open(path.clone(), Instant::now());
        assert_eq!(loaded.text.as_deref(), Some("one\n"));
        assert!(loaded.from_new);
        s.changed(t0);
        s.tick(t0 + STATE_SETTLE / 2, &mut render("two\n"));
        assert!(!path.exists());
        assert_eq!(s.next_tick(), Some(t0 + STATE_SETTLE));
        s.tick(t0 + STATE_SETTLE, &mut render("two\n"));
        assert_eq!(
            unseal(&fs::read(&path).expect("in place")).as_deref(),
            Some("one\n")
        );
        // The change made meanwhile is the next version, on its way.
        let (_, loaded) = Snapshot::open(path.clone(), Instant::now());
        assert_eq!(loaded.text.as_deref(), Some("two\n"));
        s.tick(t0 + STATE_SETTLE * 2, &mut render("two\n"));
        assert!(s.is_clean());
        assert!(s.last_sync().is_some());
        let (_, loaded) = Snapshot::open(path.clone(), Instant::now());
        assert_eq!(
            (loaded.text.as_deref(), loaded.from_new),
            (Some("two\n"), false)
        );
        // A torn `.new` (a power cut between the steps) is ignored.
        fs::write(dir.path().join("claims.new"), b"three\nend 00").expect("write");
        let (_, loaded) = Snapshot::open(path.clone(), Instant::now());
        assert_eq!(
            (loaded.text.as_deref(), loaded.from_new),
            (Some("two\n"), false)
        );
        s.changed(t0);
        s.write_now(&mut render("four\n")).expect("written");
        let (_, loaded) = Snapshot::open(path, Instant::now());
        assert_eq!(loaded.text.as_deref(), Some("four\n"));
    }

    #[test]
    fn a_failing_directory_is_reported_once_retried_and_recovers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let blocker = dir.path().join("not-a-dir");
        fs::write(&blocker, b"").expect("file");
        let (mut s, _) = Snapshot::open(blocker.join("bans"), Instant::now());
        let t0 = Instant::now();
        s.changed(t0);
        let change = s.tick(t0, &mut render("x\n"));
        assert!(
            matches!(change, Some(SnapshotHealth::Failing(_))),
            "{change:?}"
        );
        assert_eq!(s.tick(t0, &mut render("x\n")), None, "said once");
        assert_eq!(s.next_tick(), Some(t0 + PERSIST_RETRY));
        fs::remove_file(&blocker).expect("rm");
        assert_eq!(s.tick(t0 + PERSIST_RETRY, &mut render("x\n")), None);
        let change = s.tick(t0 + PERSIST_RETRY + STATE_SETTLE, &mut render("x\n"));
        assert_eq!(change, Some(SnapshotHealth::Recovered));
    }
}
