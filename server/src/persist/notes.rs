//! Notes for the absent: private messages to a user who is away, kept (in memory and in one file
//! per recipient) until they come back, at most [`MAX_NOTES_PER_RECIPIENT`] each and
//! [`NOTE_TTL`] old.
//!
//! A recipient is known by the key of the name claimed by their key ([`NameKey::folded`]), so
//! `Ann` and `ann` share one mailbox; the name as claimed is in the file's header.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::path::Path;
use std::time::Instant;

use lanchat_proto::{NameKey, ServerMsg};

use crate::limits::{
    MAX_NOTES_PER_RECIPIENT, MAX_NOTE_REWRITES, MAX_OPEN_NOTES, NOTE_SWEEP_INTERVAL, NOTE_TTL,
};

use super::format::{self, FileKind};
use super::logs::{FdBudget, LogId, LogSet};
use super::{DiskError, LoadReport};

/// File extension of a recipient's notes file.
const EXT: &str = "notes";

/// One note, as it will be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// When the server received it, in Unix milliseconds.
    pub at_ms: u64,
    /// `PRIV <from> <text>\n`, as proto encoded it.
    frame: Box<[u8]>,
}

impl Note {
    /// The `PRIV <from> <text>` line (with its `\n`) the note carries.
    pub fn frame(&self) -> &[u8] {
        &self.frame
    }

    /// Append the note as its recipient gets it: `HIST <unix-millis> PRIV <from> <text>\n`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        lanchat_proto::server::encode_hist_prefix(self.at_ms, out);
        out.extend_from_slice(&self.frame);
    }

    fn expired(&self, now_ms: u64) -> bool {
        let ttl = u64::try_from(NOTE_TTL.as_millis()).unwrap_or(u64::MAX);
        self.at_ms.saturating_add(ttl) <= now_ms
    }
}

/// A note was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kept {
    /// Notes now waiting for the recipient, this one included.
    pub waiting: usize,
}

/// A note was refused: the recipient has [`MAX_NOTES_PER_RECIPIENT`] waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxFull {
    /// The recipient, as named by whoever claimed the name.
    pub name: String,
}

impl fmt::Display for MailboxFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} already has {MAX_NOTES_PER_RECIPIENT} notes waiting",
            self.name
        )
    }
}

impl std::error::Error for MailboxFull {}

/// Every recipient's notes, and their files when there is a state directory.
#[derive(Debug)]
pub struct NoteStore {
    logs: Option<LogSet>,
    /// Mailboxes by the recipient's folded name key.
    boxes: HashMap<String, Mailbox>,
    /// Next look for expired notes.
    next_sweep: Option<Instant>,
    line: Vec<u8>,
}

#[derive(Debug)]
struct Mailbox {
    name: String,
    notes: VecDeque<Note>,
    log: Option<LogId>,
}

impl Mailbox {
    /// Drop the notes past their time; how many went.
    fn expire(&mut self, now_ms: u64) -> usize {
        let before = self.notes.len();
        self.notes.retain(|n| !n.expired(now_ms));
        before - self.notes.len()
    }
}

impl NoteStore {
    /// Notes kept in memory only.
    pub fn in_memory() -> Self {
        NoteStore {
            logs: None,
            boxes: HashMap::new(),
            next_sweep: None,
            line: Vec::new(),
        }
    }

    /// Read every notes file in `dir` (created if missing), dropping notes expired at `now_ms`.
    pub fn open(dir: &Path, now_ms: u64) -> (Self, LoadReport) {
        let mut store = NoteStore::in_memory();
        let mut report = LoadReport::default();
        let budget = FdBudget {
            open: MAX_OPEN_NOTES,
            rewrites: MAX_NOTE_REWRITES,
        };
        let mut logs = LogSet::new(dir.to_owned(), budget);
        for path in logs.existing(EXT) {
            let mut notes = VecDeque::new();
            let read = logs.read(&path, FileKind::Notes, &mut report, |at_ms, f| {
                let mut frame = Vec::with_capacity(f.len() + 1);
                frame.extend_from_slice(f);
                frame.push(b'\n');
                notes.push_back(Note {
                    at_ms,
                    frame: frame.into(),
                });
            });
            let Some((name, scan)) = read else {
                continue;
            };
            let key = NameKey::of(&name).folded().to_owned();
            if store.boxes.contains_key(&key) {
                report
                    .skipped
                    .push((path, format!("a second notes file for {name}")));
                continue;
            }
            let mut mailbox = Mailbox {
                name,
                notes,
                log: None,
            };
            let expired = mailbox.expire(now_ms);
            // More than the cap can only come from a hand edit or an older, larger cap: the
            // oldest are the ones that would have been kept.
            let over = mailbox.notes.len().saturating_sub(MAX_NOTES_PER_RECIPIENT);
            mailbox.notes.truncate(MAX_NOTES_PER_RECIPIENT);
            report.expired += expired;
            report.corrupt += scan.corrupt + over;
            report.torn += usize::from(scan.torn > 0);
            if mailbox.notes.is_empty() {
                logs.discard(&path);
                continue;
            }
            report.mailboxes += 1;
            report.notes += mailbox.notes.len();
            let lines = scan.entries + scan.corrupt;
            let id = logs.adopt(
                path,
                header(&mailbox.name),
                lines,
                scan.good_len,
                scan.torn > 0,
            );
            if expired + scan.corrupt + over > 0 {
                logs.request_rewrite(id);
            }
            mailbox.log = Some(id);
            store.boxes.insert(key, mailbox);
        }
        store.logs = Some(logs);
        (store, report)
    }

    /// Keep a note for `to` (whose claimed name is `to_name`) from `from`, received at `now_ms`:
    /// in memory, and appended to the recipient's file in the same round.
    ///
    /// # Errors
    /// [`MailboxFull`] when `to` has [`MAX_NOTES_PER_RECIPIENT`] notes waiting.
    pub fn keep(
        &mut self,
        to: &NameKey,
        to_name: &str,
        from: &str,
        text: &str,
        now_ms: u64,
    ) -> Result<Kept, MailboxFull> {
        let logs = &mut self.logs;
        let mailbox = self
            .boxes
            .entry(to.folded().to_owned())
            .or_insert_with(|| Mailbox {
                name: to_name.to_owned(),
                notes: VecDeque::new(),
                log: logs
                    .as_mut()
                    .filter(|_| format::fits_a_line(to_name.as_bytes()))
                    .map(|logs| logs.plan(to_name, EXT, header(to_name))),
            });
        let expired = mailbox.expire(now_ms);
        if let (true, Some(logs), Some(id)) = (expired > 0, logs.as_mut(), mailbox.log) {
            logs.request_rewrite(id);
        }
        if mailbox.notes.len() >= MAX_NOTES_PER_RECIPIENT {
            return Err(MailboxFull {
                name: mailbox.name.clone(),
            });
        }
        let mut frame = Vec::new();
        ServerMsg::Priv { from, text }.encode(&mut frame);
        let bare = &frame[..frame.len() - 1];
        let on_disk = format::fits_a_line(bare);
        if let (true, Some(logs), Some(id)) = (on_disk, logs.as_mut(), mailbox.log) {
            self.line.clear();
            format::encode_entry(now_ms, bare, &mut self.line);
            logs.append(id, &self.line);
        }
        mailbox.notes.push_back(Note {
            at_ms: now_ms,
            frame: frame.into(),
        });
        Ok(Kept {
            waiting: mailbox.notes.len(),
        })
    }

    /// Notes waiting for `to` at `now_ms`.
    pub fn waiting(&self, to: &NameKey, now_ms: u64) -> usize {
        self.boxes
            .get(to.folded())
            .map_or(0, |m| m.notes.iter().filter(|n| !n.expired(now_ms)).count())
    }

    /// Take `to`'s notes, oldest first, and delete them (from memory and disk). Expired ones are
    /// dropped, not returned.
    pub fn take(&mut self, to: &NameKey, now_ms: u64) -> Vec<Note> {
        let Some(mut mailbox) = self.boxes.remove(to.folded()) else {
            return Vec::new();
        };
        if let (Some(logs), Some(id)) = (&mut self.logs, mailbox.log) {
            logs.remove(id);
        }
        mailbox.expire(now_ms);
        mailbox.notes.into()
    }

    /// The file of `to`'s notes, if there is one.
    pub fn path(&self, to: &NameKey) -> Option<&Path> {
        let id = self.boxes.get(to.folded())?.log?;
        self.logs.as_ref()?.path(id)
    }

    /// See [`super::Store::tick`]; also drops notes past their time, hourly.
    pub fn tick(&mut self, now: Instant, now_ms: u64) {
        if self.next_sweep.is_none_or(|t| now >= t) {
            self.next_sweep = Some(now + NOTE_SWEEP_INTERVAL);
            self.sweep(now_ms);
        }
        let Some(logs) = &mut self.logs else {
            return;
        };
        let boxes = &self.boxes;
        logs.tick(now, &mut |id, out| {
            let Some(mailbox) = boxes.values().find(|m| m.log == Some(id)) else {
                return 0;
            };
            for note in &mailbox.notes {
                format::encode_entry(note.at_ms, &note.frame, out);
            }
            mailbox.notes.len()
        });
    }

    fn sweep(&mut self, now_ms: u64) {
        let logs = &mut self.logs;
        self.boxes.retain(|_, mailbox| {
            if mailbox.expire(now_ms) == 0 {
                return true;
            }
            let (Some(logs), Some(id)) = (logs.as_mut(), mailbox.log) else {
                return !mailbox.notes.is_empty();
            };
            if mailbox.notes.is_empty() {
                logs.remove(id);
                return false;
            }
            logs.request_rewrite(id);
            true
        });
    }

    /// See [`super::Store::next_tick`].
    pub fn next_tick(&self) -> Option<Instant> {
        let sweep = self.next_sweep.filter(|_| !self.boxes.is_empty());
        super::earliest([self.logs.as_ref().and_then(LogSet::next_tick), sweep])
    }

    /// Why the notes files are failing, if they are.
    pub fn failure(&self) -> Option<&DiskError> {
        self.logs.as_ref()?.failure()
    }
}

fn header(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    format::encode_header(FileKind::Notes, name, &mut out);
    out
}
