//! The store against real files: restarts, torn and damaged files, compaction, notes, a full
//! and a read-only disk, and a `kill -9` in the middle of a burst.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lanchat_proto::NameKey;

use super::{DiskOp, Health, HealthChange, Store};
use crate::limits::{
    EMPTY_ROOM_KEEP, HISTORY_SWEEP_INTERVAL, KICK_INTERVAL_MAX, MAX_NOTES_PER_RECIPIENT,
    NOTE_SWEEP_INTERVAL, NOTE_TTL, PERSIST_KICK_INTERVAL, PERSIST_RETRY, REWRITE_FORCE,
    REWRITE_SETTLE,
};

const T0_MS: u64 = 1_700_000_000_000;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// A directory of its own under the system's temp dir, deleted when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("lanchat-persist-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A file system mounted by a test, unmounted when dropped (also when the test fails).
struct Mount(PathBuf);

impl Mount {
    #[track_caller]
    fn run(args: &[&str]) {
        let status = Command::new("mount").args(args).status().unwrap();
        assert!(status.success(), "mount {args:?}: {status}");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn frames(store: &Store, room: &str) -> Vec<(u64, String)> {
    store
        .history(room)
        .map(|(at, f)| (at, String::from_utf8(f.to_vec()).unwrap()))
        .collect()
}

/// Run ticks over `secs` seconds of pretend time from `from`, one per second; returns the
/// changes of health they reported and the time reached.
fn run_for(store: &mut Store, from: Instant, secs: u64) -> (Vec<HealthChange>, Instant) {
    let mut changes = Vec::new();
    let mut now = from;
    for _ in 0..secs {
        now += Duration::from_secs(1);
        changes.extend(store.tick(now, T0_MS));
    }
    (changes, now)
}

/// Append `MSG bob m<i>` at `T0_MS + i` to #general for each `i`.
fn burst(store: &mut Store, range: std::ops::Range<u64>) {
    for i in range {
        store.append("#general", T0_MS + i, format!("MSG bob m{i}\n").as_bytes());
    }
}

/// The entry times (less `T0_MS`) of a log file's text, checked to follow each other by one:
/// in order, none lost, none twice.
#[track_caller]
fn consecutive_times(text: &str) -> Vec<u64> {
    let ats: Vec<u64> = text
        .lines()
        .skip(1)
        .map(|l| l.split(' ').next().unwrap().parse::<u64>().unwrap() - T0_MS)
        .collect();
    assert!(ats.windows(2).all(|w| w[1] == w[0] + 1), "{ats:?}");
    ats
}

/// Open the store in `dir` again, as a restart does: the times (less `T0_MS`) of #general's
/// history, after checking the files had nothing damaged or torn.
#[track_caller]
fn reopened_times(dir: &Path, keep: usize) -> Vec<u64> {
    let (store, report) = Store::open(dir, keep, T0_MS);
    assert_eq!((report.corrupt, report.torn), (0, 0), "{report}");
    store
        .history("#general")
        .map(|(at, _)| at - T0_MS)
        .collect()
}

fn history_file(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join("rooms").join(name)).unwrap()
}

#[test]
fn history_survives_a_restart_in_a_greppable_file_per_room() {
    let dir = Scratch::new("restart");
    let (mut store, report) = Store::open(dir.path(), 50, T0_MS);
    assert_eq!(report, super::LoadReport::default());
    store.append("#general", T0_MS, b"MSG bob hi\n");
    store.append("#general", T0_MS + 1, b"ACTION ann waves\n");
    store.append("#dev", T0_MS + 2, b"MSG ann in dev");
    store.append("#DEV", T0_MS + 3, b"MSG bob same room\n");
    assert_eq!(store.tick(Instant::now(), T0_MS), None);
    drop(store);

    assert_eq!(
        history_file(dir.path(), "general.log"),
        "lanchat-history 1 #general\n1700000000000 MSG bob hi\n1700000000001 ACTION ann waves\n"
    );
    assert_eq!(
        history_file(dir.path(), "dev.log"),
        "lanchat-history 1 #dev\n1700000000002 MSG ann in dev\n1700000000003 MSG bob same room\n"
    );
    let (store, report) = Store::open(dir.path(), 50, T0_MS);
    assert_eq!((report.rooms, report.entries), (2, 4));
    let mut rooms: Vec<&str> = store.rooms().collect();
    rooms.sort_unstable();
    assert_eq!(rooms, ["#dev", "#general"]);
    assert_eq!(
        frames(&store, "#GENERAL"),
        [
            (T0_MS, "MSG bob hi\n".to_owned()),
            (T0_MS + 1, "ACTION ann waves\n".to_owned())
        ]
    );
    assert_eq!(frames(&store, "#dev").len(), 2);
}

#[test]
fn a_start_keeps_the_last_n_of_a_longer_log() {
    let dir = Scratch::new("last-n");
    let (mut store, _) = Store::open(dir.path(), 100, T0_MS);
    burst(&mut store, 0..100);
    drop(store);
    let (store, report) = Store::open(dir.path(), 10, T0_MS);
    assert_eq!(report.entries, 10);
    let got = frames(&store, "#general");
    assert_eq!(got.first(), Some(&(T0_MS + 90, "MSG bob m90\n".to_owned())));
    assert_eq!(got.last(), Some(&(T0_MS + 99, "MSG bob m99\n".to_owned())));
}

/// The log is compacted to its last N entries by a rewrite that settles before it is put in
/// place; appends made meanwhile reach both files, so nothing is lost or doubled.
#[test]
fn a_long_log_is_compacted_without_losing_or_doubling_an_entry() {
    let dir = Scratch::new("compact");
    let keep = 20; // compacted past max(4 x 20, 20 + 64) = 84 lines
    let (mut store, _) = Store::open(dir.path(), keep, T0_MS);
    let mut now = Instant::now();
    let entry = |i: u64| format!("MSG bob m{i}\n");
    for i in 0..85 {
        store.append("#general", T0_MS + i, entry(i).as_bytes());
    }
    store.tick(now, T0_MS); // starts the rewrite
    let path = dir.path().join("rooms/general.log");
    let tmp = dir.path().join("rooms/general.log.tmp");
    assert!(tmp.exists(), "the rewrite is written beside the log");
    for i in 85..90 {
        store.append("#general", T0_MS + i, entry(i).as_bytes());
        now += Duration::from_secs(1);
        store.tick(now, T0_MS);
    }
    assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 1 + 90);
    let (_, later) = run_for(&mut store, now, REWRITE_SETTLE.as_secs());
    assert!(!tmp.exists(), "the rewrite was put in place");
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + keep + 5, "{text}");
    assert_eq!(lines[1], format!("{} MSG bob m65", T0_MS + 65));
    assert_eq!(lines.last(), Some(&&*format!("{} MSG bob m89", T0_MS + 89)));
    store.append("#general", T0_MS + 90, entry(90).as_bytes());
    store.tick(later, T0_MS);
    drop(store);
    let got = reopened_times(dir.path(), keep);
    assert_eq!(got, (71..=90).collect::<Vec<_>>());
}

/// Write calls this thread has made so far (`syscw` of `/proc/thread-self/io`; tests run on
/// threads of their own, so no other test's writes are counted).
fn writes_by_this_thread() -> u64 {
    let io = fs::read_to_string("/proc/thread-self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("syscw: "))
        .unwrap()
        .parse()
        .unwrap()
}

/// What the room relays in a round is staged as it goes and written together: in memory at
/// once, in each room's log only when written, one `write(2)` per room, in the order relayed.
#[test]
fn staged_entries_reach_each_log_in_one_write_in_order() {
    let dir = Scratch::new("staged");
    let (mut store, _) = Store::open(dir.path(), 50, T0_MS);
    let general = store.open_room("#general");
    let dev = store.open_room("#dev");
    store.append_to(general, T0_MS, b"MSG ann first\n");
    store.append_to(dev, T0_MS, b"MSG ann first\n");
    for i in 1..=30 {
        store.stage_to(general, T0_MS + i, format!("MSG bob g{i}\n").as_bytes());
        store.stage_to(dev, T0_MS + i, format!("MSG bob d{i}").as_bytes());
    }
    assert_eq!(
        frames(&store, "#general").len(),
        31,
        "kept in memory at once"
    );
    assert_eq!(
        frames(&store, "#dev")[30],
        (T0_MS + 30, "MSG bob d30\n".into())
    );
    assert_eq!(history_file(dir.path(), "general.log").lines().count(), 2);
    assert_eq!(history_file(dir.path(), "dev.log").lines().count(), 2);
    let before = writes_by_this_thread();
    store.write_staged();
    assert_eq!(writes_by_this_thread() - before, 2, "one write per room");
    for (file, tag) in [("general.log", 'g'), ("dev.log", 'd')] {
        let text = history_file(dir.path(), file);
        assert_eq!(
            consecutive_times(&text),
            (0..=30).collect::<Vec<_>>(),
            "{text}"
        );
        let want = format!("{} MSG bob {tag}30", T0_MS + 30);
        assert_eq!(text.lines().last(), Some(want.as_str()));
    }
    let before = writes_by_this_thread();
    store.write_staged();
    assert_eq!(
        writes_by_this_thread(),
        before,
        "nothing staged, nothing written"
    );
}

/// Lines still staged when a compaction starts go to the old file first: the rewrite, which
/// starts from memory (which holds them already), must not get them a second time.
#[test]
fn a_compaction_started_with_lines_staged_neither_loses_nor_doubles_them() {
    let dir = Scratch::new("staged-compact");
    let keep = 20; // compacted past 84 lines
    let (mut store, _) = Store::open(dir.path(), keep, T0_MS);
    let general = store.open_room("#general");
    let now = Instant::now();
    for i in 0..80 {
        store.append_to(general, T0_MS + i, format!("MSG bob m{i}\n").as_bytes());
    }
    for i in 80..90 {
        store.stage_to(general, T0_MS + i, format!("MSG bob m{i}\n").as_bytes());
    }
    store.tick(now, T0_MS); // writes the staged lines, then starts the rewrite
    let tmp = dir.path().join("rooms/general.log.tmp");
    assert!(tmp.exists(), "the rewrite began");
    assert_eq!(
        consecutive_times(&history_file(dir.path(), "general.log")).len(),
        90
    );
    for i in 90..95 {
        store.stage_to(general, T0_MS + i, format!("MSG bob m{i}\n").as_bytes());
    }
    store.write_staged();
    let (_, later) = run_for(&mut store, now, REWRITE_SETTLE.as_secs());
    assert!(!tmp.exists(), "the rewrite was put in place");
    let text = history_file(dir.path(), "general.log");
    assert_eq!(consecutive_times(&text), (70..95).collect::<Vec<_>>());
    store.tick(later, T0_MS);
    drop(store);
    assert_eq!(
        reopened_times(dir.path(), keep),
        (75..95).collect::<Vec<_>>()
    );
}

/// A room busy without a pause still gets its log compacted, after `REWRITE_FORCE`.
#[test]
fn a_log_that_never_goes_quiet_is_compacted_after_the_force_delay() {
    let dir = Scratch::new("force");
    let (mut store, _) = Store::open(dir.path(), 1, T0_MS);
    let start = Instant::now();
    let tmp = dir.path().join("rooms/general.log.tmp");
    let mut i = 0;
    let mut append = |store: &mut Store| {
        store.append("#general", T0_MS + i, format!("MSG bob m{i}\n").as_bytes());
        i += 1;
    };
    for _ in 0..70 {
        append(&mut store); // past the 65 lines of --history 1
    }
    store.tick(start, T0_MS);
    assert!(tmp.exists());
    for secs in 1..=REWRITE_FORCE.as_secs() {
        // Two messages a second: never quiet for long.
        append(&mut store);
        append(&mut store);
        store.tick(start + Duration::from_secs(secs), T0_MS);
        if secs == REWRITE_FORCE.as_secs() - 1 {
            assert!(tmp.exists(), "still settling while busy");
        }
    }
    assert!(!tmp.exists(), "put in place by the force delay");
    let text = history_file(dir.path(), "general.log");
    assert_eq!(text.lines().count(), 1 + 1 + 2 * 60, "{text}");
    let ats = consecutive_times(&text);
    assert_eq!(ats.last(), Some(&(70 + 2 * 60 - 1)));
}

/// The loop folds `next_tick` into its poll timeout: an idle store never wakes it; appends ask
/// for one kick a second later at most.
#[test]
fn the_store_asks_for_a_tick_only_when_it_has_work() {
    let dir = Scratch::new("next-tick");
    let (mut store, _) = Store::open(dir.path(), 50, T0_MS);
    let now = Instant::now();
    assert_eq!(store.tick(now, T0_MS), None);
    assert_eq!(store.next_tick(), None, "idle");
    burst(&mut store, 0..3);
    store.tick(now, T0_MS); // kicks at once
    assert_eq!(store.next_tick(), None, "nothing left to kick");
    burst(&mut store, 3..4);
    store.tick(now + Duration::from_millis(10), T0_MS);
    // A second after the last kick (more if that kick was slow: a busy machine).
    let next = store.next_tick().expect("a kick is due");
    assert!(next >= now + PERSIST_KICK_INTERVAL, "{:?}", next - now);
    assert!(next <= now + KICK_INTERVAL_MAX, "{:?}", next - now);
    store.tick(next, T0_MS);
    assert_eq!(store.next_tick(), None);
}

/// A crash can tear the last line anywhere; at every byte of it, the store loads the entries
/// before it, cuts the fragment off, and the next append starts a clean line.
#[test]
fn a_torn_last_line_is_ignored_and_cut_at_every_offset() {
    let dir = Scratch::new("torn");
    let (mut store, _) = Store::open(dir.path(), 50, T0_MS);
    burst(&mut store, 0..3);
    drop(store);
    let whole = fs::read(dir.path().join("rooms/general.log")).unwrap();
    let last_start = super::format::last_line_start(&whole);
    for cut in last_start..whole.len() {
        let case = Scratch::new("torn-cut");
        fs::create_dir(case.path().join("rooms")).unwrap();
        let path = case.path().join("rooms/general.log");
        fs::write(&path, &whole[..cut]).unwrap();
        let (mut store, report) = Store::open(case.path(), 50, T0_MS);
        let expect_torn = usize::from(cut > last_start);
        assert_eq!((report.entries, report.torn), (2, expect_torn), "cut {cut}");
        assert_eq!(report.corrupt, 0, "cut {cut}");
        store.append("#general", T0_MS + 9, b"MSG ann after\n");
        drop(store);
        assert_eq!(
            fs::read(&path).unwrap(),
            [&whole[..last_start], b"1700000000009 MSG ann after\n"].concat(),
            "cut {cut}"
        );
    }
}

#[test]
fn a_damaged_line_in_the_middle_is_skipped_counted_and_rewritten_away() {
    let dir = Scratch::new("corrupt");
    fs::create_dir(dir.path().join("rooms")).unwrap();
    let path = dir.path().join("rooms/general.log");
    fs::write(
        &path,
        "lanchat-history 1 #general\n1 MSG bob one\n\0\0\0garbage\n2 MSG bob two\n",
    )
    .unwrap();
    let (mut store, report) = Store::open(dir.path(), 50, T0_MS);
    assert_eq!((report.entries, report.corrupt), (2, 1));
    assert!(
        report.to_string().contains("1 damaged lines skipped"),
        "{report}"
    );
    let (changes, _) = run_for(&mut store, Instant::now(), REWRITE_SETTLE.as_secs() + 1);
    assert_eq!(changes, []);
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "lanchat-history 1 #general\n1 MSG bob one\n2 MSG bob two\n"
    );
}

#[test]
fn files_that_are_not_ours_are_left_alone_and_leftovers_cleaned() {
    let dir = Scratch::new("foreign");
    let hist = dir.path().join("rooms");
    fs::create_dir(&hist).unwrap();
    fs::write(
        hist.join("general.log"),
        "lanchat-history 2 #general\n1 MSG a b\n",
    )
    .unwrap();
    fs::write(hist.join("notes.log"), "my own notes\n").unwrap();
    fs::write(hist.join("empty.log"), "").unwrap();
    fs::write(hist.join("dev.log.tmp"), "half a rewrite").unwrap();
    fs::write(hist.join("README"), "hello").unwrap();
    let (mut store, report) = Store::open(dir.path(), 50, T0_MS);
    assert_eq!(report.skipped.len(), 2, "{report:?}");
    assert!(
        !hist.join("empty.log").exists(),
        "an empty log has nobody's name on it"
    );
    assert!(!hist.join("dev.log.tmp").exists());
    // #general's file name is taken by the newer file, so its log goes beside it.
    store.append("#general", T0_MS, b"MSG bob hi\n");
    drop(store);
    assert_eq!(
        fs::read_to_string(hist.join("general.log")).unwrap(),
        "lanchat-history 2 #general\n1 MSG a b\n"
    );
    assert_eq!(
        fs::read_to_string(hist.join("general~2.log")).unwrap(),
        "lanchat-history 1 #general\n1700000000000 MSG bob hi\n"
    );
    assert_eq!(fs::read_to_string(hist.join("README")).unwrap(), "hello");
}

#[test]
fn any_room_name_gets_a_safe_file_and_reads_back() {
    let dir = Scratch::new("names");
    let long = format!("#{}", "é".repeat(200));
    let names = ["#a/b", "#..", "#.hidden", "#東京", "#100%", long.as_str()];
    let (mut store, _) = Store::open(dir.path(), 5, T0_MS);
    for (i, name) in names.iter().enumerate() {
        store.append(name, T0_MS + i as u64, b"MSG bob hi\n");
    }
    drop(store);
    for entry in fs::read_dir(dir.path().join("rooms")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(name.ends_with(".log") && !name.starts_with('.'), "{name}");
        assert!(name.len() < 100, "{name}");
    }
    assert!(dir.path().join("rooms/%2E%2E.log").exists());
    let (store, report) = Store::open(dir.path(), 5, T0_MS);
    assert_eq!(report.rooms, names.len());
    for name in names {
        assert_eq!(store.history(name).count(), 1, "{name}");
    }
}

#[test]
fn history_zero_writes_nothing_and_in_memory_writes_nothing() {
    let dir = Scratch::new("off");
    let (mut store, _) = Store::open(dir.path(), 0, T0_MS);
    store.append("#general", T0_MS, b"MSG bob hi\n");
    assert_eq!(store.history("#general").count(), 0);
    assert!(!dir.path().join("rooms").exists());

    let mut store = Store::in_memory(5);
    store.append("#general", T0_MS, b"MSG bob hi\n");
    assert_eq!(store.history("#general").count(), 1);
    store
        .keep_note(&NameKey::of("ann"), "ann", "bob", "hi", T0_MS)
        .unwrap();
    assert_eq!(store.take_notes(&NameKey::of("ann"), T0_MS).len(), 1);
    assert_eq!(store.tick(Instant::now(), T0_MS), None);
    assert_eq!(store.next_tick(), None);
}

#[test]
fn notes_are_kept_per_recipient_delivered_oldest_first_once_and_deleted() {
    let dir = Scratch::new("notes");
    let (mut store, _) = Store::open(dir.path(), 50, T0_MS);
    let ann = NameKey::of("Ann");
    for (i, text) in ["first", "second", "third"].into_iter().enumerate() {
        let kept = store
            .keep_note(&NameKey::of("ANN"), "Ann", "bob", text, T0_MS + i as u64)
            .unwrap();
        assert_eq!(kept.waiting, i + 1);
    }
    let file = dir.path().join("notes/Ann.notes");
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "lanchat-notes 1 Ann\n1700000000000 PRIV bob first\n1700000000001 PRIV bob second\n\
         1700000000002 PRIV bob third\n"
    );
    drop(store);

    let (mut store, report) = Store::open(dir.path(), 50, T0_MS);
    assert_eq!((report.mailboxes, report.notes), (1, 3));
    let notes = store.take_notes(&ann, T0_MS + 5);
    let mut out = Vec::new();
    for note in &notes {
        note.encode(&mut out);
    }
    let out = String::from_utf8(out).unwrap();
    assert_eq!(
        out,
        "HIST 1700000000000 PRIV bob first\nHIST 1700000000001 PRIV bob second\n\
         HIST 1700000000002 PRIV bob third\n"
    );
    // Each is a line the protocol knows: a private message from the past.
    let first = out.lines().next().unwrap();
    assert_eq!(
        lanchat_proto::ServerMsg::parse(first),
        Ok(lanchat_proto::ServerMsg::Hist {
            at_ms: T0_MS,
            frame: Box::new(lanchat_proto::ServerMsg::Priv {
                from: "bob",
                text: "first"
            })
        })
    );
    assert!(!file.exists(), "delivered notes are deleted");
    assert_eq!(store.take_notes(&ann, T0_MS + 5), []);
    drop(store);
    let (_, report) = Store::open(dir.path(), 50, T0_MS);
    assert_eq!(report.notes, 0);
}

#[test]
fn a_full_mailbox_refuses_the_next_note() {
    let dir = Scratch::new("mailbox-full");
    let (mut store, _) = Store::open(dir.path(), 50, T0_MS);
    let ann = NameKey::of("ann");
    for i in 0..MAX_NOTES_PER_RECIPIENT {
        store
            .keep_note(&ann, "ann", "bob", &format!("n{i}"), T0_MS)
            .unwrap();
    }
    let full = store
        .keep_note(&ann, "ann", "bob", "one more", T0_MS)
        .unwrap_err();
    assert_eq!(full.to_string(), "ann already has 100 notes waiting");
    let notes = store.take_notes(&ann, T0_MS);
    assert_eq!(notes.len(), MAX_NOTES_PER_RECIPIENT);
    assert_eq!(notes[0].frame(), b"PRIV bob n0\n");
    assert!(store
        .keep_note(&ann, "ann", "bob", "room again", T0_MS)
        .is_ok());
}

#[test]
fn notes_expire_after_a_week_on_disk_and_in_memory() {
    let dir = Scratch::new("expiry");
    let ttl = u64::try_from(NOTE_TTL.as_millis()).unwrap();
    assert_eq!(ttl, 7 * DAY_MS);
    let (ann, bob, cid) = (NameKey::of("ann"), NameKey::of("bob"), NameKey::of("cid"));
    let (mut store, _) = Store::open(dir.path(), 50, T0_MS);
    store.keep_note(&ann, "ann", "x", "old", T0_MS).unwrap();
    store
        .keep_note(&ann, "ann", "x", "newer", T0_MS + 6 * DAY_MS)
        .unwrap();
    store.keep_note(&bob, "bob", "x", "old", T0_MS).unwrap();
    store.keep_note(&cid, "cid", "x", "old", T0_MS).unwrap();
    drop(store);

    let week_later = T0_MS + ttl;
    let (mut store, report) = Store::open(dir.path(), 50, week_later);
    assert_eq!((report.notes, report.expired), (1, 3));
    assert!(!dir.path().join("notes/bob.notes").exists());
    assert_eq!(store.take_notes(&bob, week_later), []);
    let notes = store.take_notes(&ann, week_later);
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].frame(), b"PRIV x newer\n");

    // Expired while the server runs: dropped when the recipient returns, and by the hourly
    // sweep for those who do not.
    store.keep_note(&ann, "ann", "x", "a", week_later).unwrap();
    store.keep_note(&bob, "bob", "x", "b", week_later).unwrap();
    let later = week_later + ttl;
    assert_eq!(store.take_notes(&ann, later), []);
    let now = Instant::now();
    store.tick(now, week_later); // the first sweep: nothing expired yet
    assert!(dir.path().join("notes/bob.notes").exists());
    store.tick(now + NOTE_SWEEP_INTERVAL, later);
    assert!(!dir.path().join("notes/bob.notes").exists());
}

/// A read-only state directory: the chat goes on, the failure is reported once, and once the
/// directory is writable again the last entries reach disk and the recovery is reported.
#[test]
#[cfg_attr(
    all(lanchat_ignores_permissions, not(lanchat_can_mount)),
    ignore = "needs a read-only directory: this user ignores permissions and cannot mount one"
)]
fn a_read_only_state_dir_is_reported_once_and_again_when_it_clears() {
    let dir = Scratch::new("read-only");
    let state = dir.path().join("state");
    fs::create_dir(&state).unwrap();
    let read_only = ReadOnly::make(&state);
    let (mut store, _) = Store::open(&state, 3, T0_MS);
    let Health::Failing(e) = store.health() else {
        panic!("a read-only directory is failing");
    };
    assert_eq!(e.op, DiskOp::CreateDir);
    let now = Instant::now();
    let change = store.tick(now, T0_MS);
    assert!(
        matches!(&change, Some(HealthChange::Failing(e)) if e.op == DiskOp::CreateDir),
        "{change:?}"
    );
    for i in 0..10 {
        store.append("#general", T0_MS + i, format!("MSG bob m{i}\n").as_bytes());
        assert_eq!(store.tick(now, T0_MS), None, "reported once");
    }
    assert_eq!(
        store.history("#general").count(),
        3,
        "chat goes on in memory"
    );
    let (changes, now) = run_for(&mut store, now, PERSIST_RETRY.as_secs() * 2);
    assert_eq!(changes, [], "still read-only");

    drop(read_only);
    let (changes, now) = run_for(
        &mut store,
        now,
        PERSIST_RETRY.as_secs() + REWRITE_SETTLE.as_secs() + 1,
    );
    assert_eq!(changes, [HealthChange::Recovered]);
    assert_eq!(store.health(), Health::Ok);
    store.append("#general", T0_MS + 10, b"MSG bob m10\n");
    store.tick(now, T0_MS);
    drop(store);
    let got = reopened_times(&state, 3);
    assert_eq!(got, [8, 9, 10]);
}

/// Makes `dir` read-only until dropped: by its mode where that binds this user, else by a
/// read-only bind mount.
enum ReadOnly {
    Mode(PathBuf),
    /// Held for its `Drop`, which unmounts.
    Mount(#[allow(dead_code)] Mount),
}

impl ReadOnly {
    fn make(dir: &Path) -> ReadOnly {
        use std::os::unix::fs::PermissionsExt as _;
        if cfg!(lanchat_ignores_permissions) {
            let guard = Mount(dir.to_owned());
            let d = dir.to_str().unwrap();
            Mount::run(&["--bind", d, d]);
            Mount::run(&["-o", "remount,bind,ro", d]);
            ReadOnly::Mount(guard)
        } else {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o555)).unwrap();
            ReadOnly::Mode(dir.to_owned())
        }
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        use std::os::unix::fs::PermissionsExt as _;
        if let ReadOnly::Mode(dir) = self {
            let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
        }
    }
}

/// A disk that fills up: appends fail, the chat goes on, the failure is reported once; when
/// space comes back the files are rewritten from memory and hold the last entries.
#[test]
#[cfg_attr(
    not(lanchat_can_mount),
    ignore = "needs CAP_SYS_ADMIN to mount a 64 KiB tmpfs (run as root)"
)]
fn a_full_disk_is_reported_once_and_the_last_entries_reach_disk_when_it_clears() {
    let dir = Scratch::new("full");
    let _mount = Mount(dir.path().to_owned());
    Mount::run(&[
        "-t",
        "tmpfs",
        "-o",
        "size=64k",
        "tmpfs",
        dir.path().to_str().unwrap(),
    ]);
    let filler = dir.path().join("filler");
    fs::write(&filler, vec![b'x'; 40 << 10]).unwrap();
    let keep = 10;
    let (mut store, _) = Store::open(dir.path(), keep, T0_MS);
    let text = "y".repeat(500);
    let mut now = Instant::now();
    let mut i = 0u64;
    let failing = loop {
        assert!(i < 200, "a 64 KiB disk never filled");
        store.append(
            "#general",
            T0_MS + i,
            format!("MSG bob {i} {text}\n").as_bytes(),
        );
        i += 1;
        now += Duration::from_millis(100);
        if let Some(change) = store.tick(now, T0_MS) {
            break change;
        }
    };
    let HealthChange::Failing(e) = &failing else {
        panic!("{failing:?}");
    };
    assert_eq!(e.kind, std::io::ErrorKind::StorageFull, "{e}");
    assert!(
        failing.to_string().contains("No space left on device"),
        "{failing}"
    );
    for _ in 0..20 {
        store.append(
            "#general",
            T0_MS + i,
            format!("MSG bob {i} {text}\n").as_bytes(),
        );
        i += 1;
    }
    let (changes, now) = run_for(&mut store, now, PERSIST_RETRY.as_secs() * 2);
    assert_eq!(changes, [], "still full");
    fs::remove_file(&filler).unwrap();
    let (changes, _) = run_for(
        &mut store,
        now,
        PERSIST_RETRY.as_secs() + REWRITE_SETTLE.as_secs() + 1,
    );
    assert_eq!(changes, [HealthChange::Recovered]);
    drop(store);
    let got = reopened_times(dir.path(), keep);
    assert_eq!(got, (i - keep as u64..i).collect::<Vec<_>>());
}

/// The environment variable that makes [`crash_child`] run: the state directory to write.
const CRASH_DIR: &str = "LANCHAT_PERSIST_CRASH_DIR";

/// `kill -9` in the middle of a burst (with compactions under way): every entry the store had
/// taken before the kill is on disk after it, in order, exactly once.
#[test]
fn kill_9_in_a_burst_loses_no_appended_entry() {
    let dir = Scratch::new("kill9");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "persist::tests::crash_child",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CRASH_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().unwrap();
    let mut child = Kill(child);
    // Somewhere after a few compactions (one per 150 entries at --history 50).
    let stop_after = 2_000 + u64::from(std::process::id() % 1_000);
    let mut last = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("appended ") {
            let n: u64 = n.parse().unwrap();
            last = Some(n);
            if n >= stop_after {
                break;
            }
        }
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    let last = last.expect("the child appended");
    assert!(last >= stop_after, "the child stopped early at {last}");

    let got = reopened_times(dir.path(), 50);
    assert_eq!(got.len(), 50);
    assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "{got:?}");
    assert!(*got.last().unwrap() >= last, "{last} was appended: {got:?}");
    consecutive_times(&history_file(dir.path(), "general.log"));
}

/// Not a test on its own: the process [`kill_9_in_a_burst_loses_no_appended_entry`] kills.
/// Appends as fast as it can, ticking with pretend time so compactions come and go, and says
/// after each append that the store has it.
#[test]
#[ignore = "the child process of kill_9_in_a_burst_loses_no_appended_entry"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR) else {
        return;
    };
    let (mut store, _) = Store::open(Path::new(&dir), 50, T0_MS);
    let mut now = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in 0..10_000_000u64 {
        store.append("#general", T0_MS + i, format!("MSG bob m{i}\n").as_bytes());
        println!("appended {i}");
        if i % 8 == 0 {
            now += Duration::from_secs(1);
            store.tick(now, T0_MS);
        }
        if Instant::now() > deadline {
            break;
        }
    }
}

/// A room nobody is in keeps its history (in memory and on disk) until its last message is a
/// week old; a room in use, and `#general`, keep theirs; an empty room without history is
/// forgotten at once.
#[test]
fn a_room_nobody_is_in_keeps_its_history_a_week_after_its_last_message() {
    let dir = Scratch::new("unused");
    let (mut store, _) = Store::open(dir.path(), 50, T0_MS);
    let general = store.open_room("#general");
    let dev = store.open_room("#dev");
    let ops = store.open_room("#Ops");
    let busy = store.open_room("#busy");
    let quiet = store.open_room("#quiet");
    store.append_to(general, T0_MS, b"MSG ann hi\n");
    store.append_to(dev, T0_MS, b"MSG ann old\n");
    store.append_to(ops, T0_MS + DAY_MS, b"MSG ann newer\n");
    store.append_to(busy, T0_MS, b"MSG ann still here\n");
    for room in [general, dev, ops, quiet] {
        store.close_room(room);
    }
    assert_eq!(store.kept_name("#quiet"), None, "nothing to keep");
    assert_eq!(store.kept_name("#DEV"), Some("#dev"));
    assert_eq!(store.kept_name("#ops"), Some("#Ops"), "as first spelled");
    assert_eq!(store.history_counts(), (4, 2));
    let week = EMPTY_ROOM_KEEP.as_millis() as u64;
    let t = Instant::now();
    store.tick(t, T0_MS + week - 1);
    assert_eq!(store.history_counts(), (4, 2), "not a week yet");
    // The next look is an hour later; by then #dev's last message is a week old.
    store.tick(
        t + HISTORY_SWEEP_INTERVAL - Duration::from_secs(1),
        T0_MS + week,
    );
    assert_eq!(store.history_counts(), (4, 2), "looked at hourly");
    store.tick(t + HISTORY_SWEEP_INTERVAL, T0_MS + week);
    assert_eq!(store.kept_name("#dev"), None);
    assert!(
        !dir.path().join("rooms/dev.log").exists(),
        "its log is gone"
    );
    assert_eq!(frames(&store, "#ops").len(), 1);
    assert!(dir.path().join("rooms/Ops.log").exists());
    store.tick(t + 2 * HISTORY_SWEEP_INTERVAL, T0_MS + 30 * DAY_MS);
    assert_eq!(store.kept_name("#ops"), None);
    assert_eq!(frames(&store, "#busy").len(), 1, "in use: kept");
    assert_eq!(frames(&store, "#general").len(), 1, "#general: always kept");
    assert_eq!(store.history_counts(), (2, 0));
    // A room that comes back is the same history, under its old name, and in use again.
    store.append_to(busy, T0_MS + 30 * DAY_MS, b"MSG ann back\n");
    assert_eq!(store.open_room("#BUSY"), busy);
    assert_eq!(store.ring_of(busy).map(|r| r.len()), Some(2));
}

/// After a restart every room but `#general` is unused until someone joins it: one whose last
/// message is older than a week is forgotten at the first tick, the others keep theirs.
#[test]
fn a_restart_forgets_rooms_whose_last_message_is_a_week_old_at_the_first_tick() {
    let dir = Scratch::new("unused-restart");
    let (mut store, _) = Store::open(dir.path(), 50, T0_MS);
    store.append("#general", T0_MS, b"MSG ann old but #general\n");
    store.append("#stale", T0_MS, b"MSG ann old\n");
    store.append("#fresh", T0_MS + 6 * DAY_MS, b"MSG ann recent\n");
    drop(store);
    let (mut store, report) = Store::open(dir.path(), 50, T0_MS + 8 * DAY_MS);
    assert_eq!(report.rooms, 3);
    assert_eq!(
        store.history_counts(),
        (3, 2),
        "#general is in use from the start"
    );
    store.tick(Instant::now(), T0_MS + 8 * DAY_MS);
    assert_eq!(store.kept_name("#stale"), None);
    assert!(!dir.path().join("rooms/stale.log").exists());
    assert_eq!(frames(&store, "#fresh").len(), 1);
    assert_eq!(frames(&store, "#general").len(), 1);
}

/// `--max-rooms` bounds the histories kept: a room that needs one more makes the store forget
/// the unused room whose last message is the oldest (log and all); rooms in use are never
/// forgotten.
#[test]
fn past_max_rooms_the_unused_room_with_the_oldest_message_is_forgotten() {
    let dir = Scratch::new("max-rooms");
    let (mut store, _) = Store::open(dir.path(), 50, T0_MS);
    store.limit_rooms(3);
    let general = store.open_room("#general");
    let a = store.open_room("#a");
    let b = store.open_room("#b");
    store.append_to(general, T0_MS, b"MSG ann g\n");
    store.append_to(b, T0_MS + 1, b"MSG ann b\n");
    store.append_to(a, T0_MS + 2, b"MSG ann a\n");
    store.close_room(a);
    store.close_room(b);
    let c = store.open_room("#c");
    assert_eq!(
        store.kept_name("#b"),
        None,
        "#b's last message was the oldest"
    );
    assert!(!dir.path().join("rooms/b.log").exists());
    assert_eq!(store.kept_name("#a"), Some("#a"));
    store.append_to(c, T0_MS + 3, b"MSG ann c\n");
    store.limit_rooms(1);
    assert_eq!(store.kept_name("#a"), None);
    assert_eq!(
        store.history_counts(),
        (2, 0),
        "rooms in use stay, over the bound or not"
    );
    drop(store);
    let (mut store, _) = Store::open(dir.path(), 50, T0_MS);
    assert_eq!(store.history_counts(), (2, 1));
    store.limit_rooms(1);
    assert_eq!(
        store.kept_name("#c"),
        None,
        "a start over the bound trims it"
    );
    assert_eq!(frames(&store, "#general").len(), 1);
}

/// A room's log other than `#general`'s follows the same torn-tail rule: the fragment a crash
/// left is cut off at load, whatever the offset, and the room's next entry starts a line.
#[test]
fn a_torn_last_line_of_any_room_is_cut_at_every_offset() {
    let whole = "lanchat-history 1 #Dev\n1700000000000 MSG ann one\n1700000000001 MSG ann two\n";
    let cut_from = whole.len() - "1700000000001 MSG ann two\n".len();
    for cut in cut_from..whole.len() {
        let dir = Scratch::new("torn-room");
        fs::create_dir(dir.path().join("rooms")).unwrap();
        let path = dir.path().join("rooms/Dev.log");
        fs::write(&path, &whole[..cut]).unwrap();
        let (mut store, report) = Store::open(dir.path(), 50, T0_MS);
        assert_eq!(report.torn, usize::from(cut > cut_from), "cut at {cut}");
        assert_eq!(frames(&store, "#dev").len(), 1, "cut at {cut}");
        let dev = store.open_room("#DEV");
        store.append_to(dev, T0_MS + 2, b"MSG ann three\n");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "lanchat-history 1 #Dev\n1700000000000 MSG ann one\n1700000000002 MSG ann three\n",
            "cut at {cut}"
        );
    }
}
