//! A state directory that will not take writes, with the real binary: a read-only one and a
//! full file system (a 64 KiB tmpfs). The server keeps chatting (newcomers get the history from
//! memory), logs the problem once and again when it clears, never exits; once the disk takes
//! writes again the files catch up with memory, so a restart replays what was said meanwhile.
//!
//! Recovery is timed by the server's own clock (a retry every 5 s, then a rewrite that settles
//! for 10 s): the tests move that clock ([`BinaryClock`]) instead of waiting for it. Where this
//! user cannot make a directory read-only (root without CAP_SYS_ADMIN) or mount a tmpfs, they
//! are ignored with the reason (`build.rs`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use integration_tests::clock::BinaryClock;
use integration_tests::state::{command_in, replay, start_in, stop_with};
use integration_tests::{Client, ServerProcess};

/// The most server time a retry or a recovery may take: retry (5 s) + rewrite settling
/// (10 s), and as much again.
const RECOVERY: Duration = Duration::from_secs(40);

/// How far the server's clock is moved at a time while a test waits for the disk work.
const STEP: Duration = Duration::from_millis(500);

const FAILING: &str = "state directory failing";
const RECOVERED: &str = "state directory works again";

/// The server on `dir`, on `clock`, logging the state directory's failures (debug) so a test
/// can see a retry fail.
#[track_caller]
fn start_logging_retries(dir: &Path, extra: &[&str], clock: &BinaryClock) -> ServerProcess {
    let mut cmd = command_in(dir, extra);
    cmd.env("RUST_LOG", "info,lanchat_server::persist=debug");
    clock.set_on(&mut cmd);
    ServerProcess::spawn(cmd)
}

/// Move the server's clock on by [`STEP`]s, the loop running a round (`c`'s `/who`) after each,
/// until `needle` is in the log (at most [`RECOVERY`] of the server's time); how often it is
/// there.
#[track_caller]
fn advance_until(
    server: &ServerProcess,
    clock: &mut BinaryClock,
    c: &mut Client,
    needle: &str,
) -> usize {
    let start = clock.moved();
    while !server.log().contains(needle) {
        assert!(
            clock.moved() - start < RECOVERY,
            "no {needle:?} in {RECOVERY:?} of the server's time:\n{}",
            server.log()
        );
        clock.advance(STEP);
        c.sync();
    }
    server.log().matches(needle).count()
}

/// A file system mounted by a test, unmounted when dropped (also when the test fails).
struct Mount(PathBuf);

impl Mount {
    /// `mount <args> <at>`, unmounted when dropped.
    #[track_caller]
    fn new(at: &Path, args: &[&str]) -> Mount {
        let guard = Mount(at.to_owned());
        guard.mount(args);
        guard
    }

    /// `mount <args> <at>` again (a remount), still unmounted when this is dropped.
    #[track_caller]
    fn mount(&self, args: &[&str]) {
        let status = Command::new("mount")
            .args(args)
            .arg(&self.0)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mount {args:?} {}: {status}",
            self.0.display()
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Makes a directory tree read-only until dropped: by a read-only bind mount where this user
/// is not bound by file modes, else by its modes.
enum ReadOnly {
    /// Held for its `Drop`, which unmounts.
    Mount(#[allow(dead_code)] Mount),
    Modes(PathBuf),
}

impl ReadOnly {
    #[track_caller]
    fn make(dir: &Path) -> ReadOnly {
        if cfg!(lanchat_ignores_permissions) {
            let d = dir.to_str().expect("UTF-8");
            let mount = Mount::new(dir, &["--bind", d]);
            mount.mount(&["-o", "remount,bind,ro"]);
            ReadOnly::Mount(mount)
        } else {
            set_modes(dir, false);
            ReadOnly::Modes(dir.to_owned())
        }
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if let ReadOnly::Modes(dir) = self {
            set_modes(dir, true);
        }
    }
}

/// Every directory and file under `dir` writable by its owner, or by nobody.
fn set_modes(dir: &Path, writable: bool) {
    use std::os::unix::fs::PermissionsExt as _;
    let (d, f) = if writable {
        (0o700, 0o600)
    } else {
        (0o500, 0o400)
    };
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                set_modes(&path, writable);
            } else {
                let _ = fs::set_permissions(&path, fs::Permissions::from_mode(f));
            }
        }
    }
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(d));
}

#[test]
#[cfg_attr(
    all(lanchat_ignores_permissions, not(lanchat_can_mount)),
    ignore = "needs a read-only directory: this user ignores permissions and cannot mount one"
)]
fn a_read_only_state_dir_is_logged_once_chat_goes_on_and_the_files_catch_up_when_it_clears() {
    let base = tempfile::tempdir().expect("temporary directory");
    let state = base.path().join("state");
    let server = start_in(&state, &[]);
    let mut ann = Client::join(server.addr(), "ann");
    ann.send("before 1");
    ann.send("before 2");
    ann.sync();
    stop_with(server, [ann]);

    let read_only = ReadOnly::make(&state);
    let mut clock = BinaryClock::new();
    let server = start_logging_retries(&state, &[], &clock);
    assert_eq!(server.wait_for_log(FAILING, 1), 1, "{}", server.log());
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    bob.send("during");
    ann.expect("MSG bob during");
    assert_eq!(
        replay(server.addr(), "cid"),
        ["MSG ann before 1", "MSG ann before 2", "MSG bob during"],
        "what was on disk, and what memory holds since"
    );
    // A retry (5 s after the first failure) fails too, and is not logged again.
    let retried = advance_until(&server, &mut clock, &mut ann, "general.log.tmp");
    assert!(retried >= 1, "no retry:\n{}", server.log());
    assert_eq!(server.log().matches(FAILING).count(), 1, "{}", server.log());

    drop(read_only);
    bob.send("after");
    ann.read_until_prefix("MSG bob after"); // past cid's coming and going
    assert_eq!(
        advance_until(&server, &mut clock, &mut ann, RECOVERED),
        1,
        "{}",
        server.log()
    );
    assert_eq!(server.log().matches(FAILING).count(), 1, "{}", server.log());
    let failing = server.log();
    let failing = failing
        .lines()
        .find(|l| l.contains(FAILING))
        .expect("logged");
    assert!(failing.contains(" WARN "), "{failing}");
    assert!(
        failing.contains(&state.display().to_string()),
        "names the place: {failing}"
    );
    stop_with(server, [ann, bob]);

    let server = start_in(&state, &[]);
    assert_eq!(
        replay(server.addr(), "cid"),
        [
            "MSG ann before 1",
            "MSG ann before 2",
            "MSG bob during",
            "MSG bob after"
        ]
    );
}

/// `ann` says a 1 KB line, which `bob` gets; it is added to `said` as relayed.
#[track_caller]
fn say(ann: &mut Client, bob: &mut Client, said: &mut Vec<String>) {
    let line = format!("m{} {}", said.len(), "y".repeat(1000));
    ann.send(&line);
    bob.expect(&format!("MSG ann {line}"));
    said.push(format!("MSG ann {line}"));
}

#[test]
#[cfg_attr(
    not(lanchat_can_mount),
    ignore = "needs CAP_SYS_ADMIN to mount a 64 KiB tmpfs (run as root)"
)]
fn a_full_disk_is_logged_once_chat_goes_on_and_the_last_history_reaches_disk_when_it_clears() {
    let base = tempfile::tempdir().expect("temporary directory");
    let disk = base.path().join("disk");
    fs::create_dir(&disk).expect("mount point");
    // Declared first, so it is unmounted after every server on it has gone.
    let _mount = Mount::new(&disk, &["-t", "tmpfs", "-o", "size=64k", "tmpfs"]);
    let filler = disk.join("filler");
    fs::write(&filler, vec![b'x'; 56 << 10]).expect("fill the disk");
    let state = disk.join("state");
    let keep = 20;
    let mut clock = BinaryClock::new();
    let server = start_logging_retries(&state, &["--history", "20"], &clock);
    let mut ann = Client::join(server.addr(), "ann");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("JOIN bob");
    let mut said = Vec::new();
    while !server.log().contains(FAILING) {
        assert!(said.len() < 60, "8 KiB never filled:\n{}", server.log());
        say(&mut ann, &mut bob, &mut said);
    }
    let log = server.log();
    let failing = log.lines().find(|l| l.contains(FAILING)).expect("logged");
    assert!(failing.contains("No space left on device"), "{failing}");
    for _ in 0..25 {
        say(&mut ann, &mut bob, &mut said);
    }
    let last = said[said.len() - keep..].to_vec();
    assert_eq!(replay(server.addr(), "cid"), last, "from memory");
    let retried = advance_until(&server, &mut clock, &mut ann, "general.log.tmp");
    assert!(retried >= 1, "no retry:\n{}", server.log());
    assert_eq!(server.log().matches(FAILING).count(), 1, "{}", server.log());

    fs::remove_file(&filler).expect("make room");
    assert_eq!(
        advance_until(&server, &mut clock, &mut ann, RECOVERED),
        1,
        "{}",
        server.log()
    );
    assert_eq!(server.log().matches(FAILING).count(), 1, "{}", server.log());
    stop_with(server, [ann, bob]);

    let server = start_in(&state, &["--history", "20"]);
    assert_eq!(replay(server.addr(), "cid"), last, "from disk");
}
