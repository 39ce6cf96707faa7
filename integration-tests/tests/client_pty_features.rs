//! The client's everyday commands and its config file, tried at a terminal as a user would:
//! the real `lanchat` in a pseudo-terminal against the real server, with raw-socket peers.

mod pty;

use integration_tests::{Client, ServerProcess};
use pty::{count, Pty};

fn server() -> ServerProcess {
    ServerProcess::start(&["--rate", "0"])
}

/// `lanchat <addr> --name <name> --no-timestamps`, colour off, its config under `config`.
#[track_caller]
fn join_with_config(server: &ServerProcess, name: &str, config: &tempfile::TempDir) -> Pty {
    let addr = server.addr().to_string();
    let home = config.path().to_string_lossy().into_owned();
    let mut pty = Pty::spawn_env(
        name,
        &[&addr, "--name", name, "--no-timestamps"],
        &[("NO_COLOR", "1"), ("XDG_CONFIG_HOME", &home)],
    );
    pty.expect("* here now (");
    pty
}

#[test]
fn ignore_unignore_reply_and_the_private_aliases_at_a_terminal() {
    let server = server();
    let config = tempfile::tempdir().expect("a config directory");
    let mut mallory = Client::join(server.addr(), "mallory");
    let mut bob = Client::join(server.addr(), "bob");
    mallory.expect("JOIN bob");
    let mut ann = join_with_config(&server, "ann", &config);
    bob.expect("JOIN ann");

    ann.line("/ignore mallory");
    ann.expect("* ignoring mallory; /unignore mallory to stop");
    mallory.send("you cannot see me");
    mallory.send("/msg ann nor this");
    bob.send("but me");
    ann.expect("<bob> but me");
    ann.line("/unignore mallory");
    ann.expect("* no longer ignoring mallory");
    mallory.send("seen again");
    ann.expect("<mallory> seen again");
    let shown = ann.transcript();
    assert_eq!(count(shown.as_bytes(), "cannot see"), 0, "{shown}");
    assert_eq!(count(shown.as_bytes(), "nor this"), 0, "{shown}");

    ann.line("/reply too early?");
    ann.expect("* nobody has written to you privately yet");
    bob.send("/msg ann ping");
    ann.expect("[private] <bob> ping");
    ann.line("/reply pong");
    // bob saw mallory's lines meanwhile: skip to the private one.
    let (_, pong) = bob.read_until_prefix("PRIV ");
    assert_eq!(pong, "PRIV ann pong");
    for alias in ["/w", "/m", "/query"] {
        ann.line(&format!("{alias} bob via {alias}"));
        let (_, got) = bob.read_until_prefix("PRIV ");
        assert_eq!(got, format!("PRIV ann via {alias}"));
    }
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
}

/// What a mention from bob looks like on ann's terminal (colour possible: no `NO_COLOR`),
/// with `config` as ann's config file and `args` after the address and name.
fn a_mention_with(config: &str, args: &[&str]) -> String {
    let server = server();
    let dir = tempfile::tempdir().expect("a config directory");
    std::fs::create_dir_all(dir.path().join("lanchat")).expect("the config folder");
    std::fs::write(dir.path().join("lanchat").join("config.toml"), config).expect("config");
    let home = dir.path().to_string_lossy().into_owned();
    let addr = server.addr().to_string();
    let mut all = vec![addr.as_str(), "--name", "ann"];
    all.extend_from_slice(args);
    let mut ann = Pty::spawn_env("ann", &all, &[("XDG_CONFIG_HOME", &home)]);
    ann.expect("here now (");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("bob");
    let start = ann.transcript().len();
    bob.send("ann: are you there?");
    ann.expect("are you there?");
    let shown = ann.transcript()[start..].to_owned();
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
    shown
}

#[test]
fn the_config_file_turns_colour_and_the_bell_off_and_a_flag_wins_over_it() {
    // Without a config: the mention rings and is painted, and has its time.
    let plain = a_mention_with("", &[]);
    assert!(plain.contains('\x07'), "no bell: {plain:?}");
    assert!(plain.contains("\x1b[1"), "no colour: {plain:?}");
    assert!(plain.contains("] "), "no time: {plain:?}");

    // The config turns colour and the bell off and asks for times; --no-timestamps wins.
    let quiet = a_mention_with(
        "color = false\nbell = false\ntimestamps = true\n",
        &["--no-timestamps"],
    );
    assert!(!quiet.contains('\x07'), "a bell: {quiet:?}");
    assert!(!quiet.contains("\x1b[1"), "colour: {quiet:?}");
    assert!(quiet.contains("<bob> ann: are you there?"), "{quiet:?}");
    assert!(!quiet.contains("] <bob>"), "a time: {quiet:?}");
}

#[test]
fn a_long_line_is_cut_to_the_servers_own_limit() {
    // A server that takes 200-byte lines: cut to the default 2,048, every piece was refused.
    let server = ServerProcess::start(&["--rate", "0", "--max-line", "200"]);
    let mut bob = Client::connect(server.addr());
    bob.expect_prefix("HELLO ");
    bob.send("bob");
    bob.expect_prefix("WELCOME bob ");
    bob.expect("LIMIT max-line 200");
    bob.read_until_prefix("WHOEND ");
    let mut ann = pty::join(&server, "ann");
    bob.expect("JOIN ann");
    let text = "é".repeat(500); // 1,000 bytes
    ann.line(&text);
    ann.expect("it goes as 5 messages");
    let mut got = String::new();
    for _ in 0..5 {
        let line = bob.expect_prefix("MSG ann ");
        got.push_str(&line["MSG ann ".len()..]);
    }
    assert_eq!(got, text);
    let shown = ann.transcript();
    assert_eq!(count(shown.as_bytes(), "error:"), 0, "{shown}");
}

#[test]
fn log_at_a_terminal_keeps_plain_dated_text_without_colour_or_bell() {
    let server = server();
    let dir = tempfile::tempdir().expect("a directory for the log");
    let log = dir.path().join("chat.log");
    let log_arg = log.to_string_lossy().into_owned();
    let addr = server.addr().to_string();
    // Colour possible (no NO_COLOR): the screen is painted, the log must not be.
    let mut ann = Pty::spawn_env("ann", &[&addr, "--name", "ann", "--log", &log_arg], &[]);
    ann.expect("here now (");
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("bob");
    bob.send("ann: look \u{1b}[2J here");
    ann.expect("here");
    ann.line("/me waves");
    bob.expect("ACTION ann waves");
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
    let text = std::fs::read_to_string(&log).expect("the log");
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{7}'),
        "{text:?}"
    );
    let line = text
        .lines()
        .find(|l| l.contains("<bob> ann: look"))
        .unwrap_or_else(|| panic!("no message in the log:\n{text}"));
    // "2026-12-04 10:09 ! [10:09] <bob> ann: look ␛[2J here": a date first.
    let b = line.as_bytes();
    assert!(b[4] == b'-' && b[7] == b'-' && b[13] == b':', "{line}");
    assert!(line.ends_with("<bob> ann: look ␛[2J here"), "{line}");
    assert!(text.contains("~ ann waves"), "one's own action:\n{text}");
}

#[test]
fn input_history_is_kept_to_its_last_thousand_lines() {
    let server = server();
    let state = tempfile::tempdir().expect("a state directory");
    let file = state.path().join("lanchat").join("history");
    std::fs::create_dir_all(file.parent().expect("its folder")).expect("the folder");
    let old: String = (0..1_200).map(|i| format!("old line {i}\n")).collect();
    std::fs::write(&file, old).expect("a long history");
    let home = state.path().to_string_lossy().into_owned();
    let addr = server.addr().to_string();
    let mut ann = Pty::spawn_env(
        "ann",
        &[&addr, "--name", "ann", "--no-timestamps"],
        &[("NO_COLOR", "1"), ("XDG_STATE_HOME", &home)],
    );
    ann.expect("* here now (");
    ann.line("the newest line");
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
    let kept = std::fs::read_to_string(&file).expect("the history file");
    let entries = kept.lines().filter(|l| l.contains(" line")).count();
    assert!(entries <= 1_000, "{entries} lines kept");
    assert!(kept.contains("the newest line"), "{kept:.200}");
    assert!(!kept.contains("old line 0\n"), "the oldest was kept");
}
