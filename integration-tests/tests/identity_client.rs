//! Identity with the real `lanchat` binary over TLS: its own key (made once, shown by
//! `--fingerprint`, presented to the server), the password (`--password-file` for scripts; at a
//! terminal asked without echo), the ways a server keeps it out (a name another key owns, the
//! allowlist, a ban) in plain words, the exit codes when kicked (5) or banned (6), `/whois`,
//! and Tab completing operators' commands for operators only.

mod pty;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use integration_tests::identity::{join_as, Place};
use integration_tests::{bin_path, ChildGuard, Client, ServerProcess, DEADLINE};
use lanchat_proto::Fingerprint;
use pty::Pty;

/// `lanchat <args>` as a script runs it: TLS, trusting the server on first use, with the user
/// `who`'s key, its output piped.
fn command(place: &Place, who: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin_path("lanchat"));
    cmd.args(args)
        .args(["--accept-new", "--no-timestamps"])
        .arg("--known-servers")
        .arg(place.path().join(format!("known-{who}")))
        .arg("--identity")
        .arg(place.user_file(who))
        .env("LANCHAT_PLAINTEXT", "0")
        .env("XDG_CONFIG_HOME", place.path().join("config"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// [`command`] run to its end with `stdin` piped in.
fn lanchat(place: &Place, who: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = ChildGuard(command(place, who, args).spawn().expect("spawn lanchat"));
    use std::io::Write as _;
    let mut input = child.0.stdin.take().expect("stdin");
    let _ = input.write_all(stdin.as_bytes());
    drop(input);
    ended(child)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_users_key_is_made_once_private_and_shown_by_fingerprint() {
    let place = Place::new();
    let config = place.path().join("config");
    let run = || {
        Command::new(bin_path("lanchat"))
            .arg("--fingerprint")
            .env("XDG_CONFIG_HOME", &config)
            .output()
            .expect("run lanchat --fingerprint")
    };
    let first = run();
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stderr).contains("made your key"),
        "{}",
        text(&first.stderr)
    );
    let line = text(&first.stdout);
    let fp: Fingerprint = line
        .trim()
        .strip_prefix("fingerprint ")
        .expect("fingerprint line")
        .parse()
        .expect("a fingerprint");
    let again = run();
    assert_eq!(text(&again.stdout), line, "the same key");
    assert!(text(&again.stderr).is_empty());
    let path = config.join("lanchat").join("identity.key");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(&path)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let loaded = lanchat_client::identity::Identity::load_or_create(&path).expect("key");
    assert_eq!(loaded.0.fingerprint(), fp);
}

#[test]
fn the_client_presents_its_key_and_the_server_knows_its_name_by_it() {
    let place = Place::new();
    let (server, fp) = place.server(&[]);
    let out = lanchat(&place, "ann", &[&server.addr().to_string()], "ann\n/quit\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("* ann is now yours"),
        "{}",
        text(&out.stdout)
    );
    // The name is ann's key's: the same key gets it again, another is refused, in words.
    let mut c = join_as(server.addr(), fp, Some(&place.user("ann")), "ann");
    c.send("/quit");
    c.expect_eof();
    let out = lanchat(&place, "bob", &[&server.addr().to_string()], "ann\n");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("belongs to someone else's key"), "{err}");
}

#[test]
fn a_script_gives_the_password_from_a_file_and_is_told_when_it_has_none_or_a_wrong_one() {
    let place = Place::new();
    let pw = place.file("pw", "s3cret\n");
    let (server, _) = place.server(&["--password-file", pw.to_str().expect("utf-8")]);
    let addr = server.addr().to_string();
    let right = pw.to_str().expect("utf-8");
    let out = lanchat(
        &place,
        "ann",
        &[&addr, "--password-file", right],
        "ann\n/quit\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("* Hi ann!"),
        "{}",
        text(&out.stdout)
    );

    let out = lanchat(&place, "bob", &[&addr], "bob\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("give it with --password-file FILE"),
        "{}",
        text(&out.stderr)
    );

    let wrong = place.file("wrong", "guess\n");
    let out = lanchat(
        &place,
        "eve",
        &[&addr, "--password-file", wrong.to_str().expect("utf-8")],
        "eve\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("wrong password"),
        "{}",
        text(&out.stderr)
    );

    let missing = place.path().join("no-such-file");
    let out = lanchat(
        &place,
        "eve",
        &[&addr, "--password-file", missing.to_str().expect("utf-8")],
        "eve\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot read the password file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn not_on_the_allowlist_is_said_in_plain_words() {
    let place = Place::new();
    let allow = place.key_list("allow", &["ann"]);
    let (server, _) = place.server(&["--allow", allow.to_str().expect("utf-8")]);
    let out = lanchat(&place, "bob", &[&server.addr().to_string()], "bob\n");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("your key is not on it"), "{err}");
    assert!(err.contains("lanchat --fingerprint"), "{err}");
}

/// A server with `op` as its operator, and `op` joined.
fn with_operator(place: &Place) -> (ServerProcess, Client) {
    let ops = place.key_list("ops", &["op"]);
    let (server, fp) = place.server(&["--ops", ops.to_str().expect("utf-8")]);
    let op = join_as(server.addr(), fp, Some(&place.user("op")), "op");
    (server, op)
}

/// `lanchat` for `who` joined as `who` on `server`, reading stdin from a pipe left open; the
/// operator `op` has seen it join.
fn joined(place: &Place, server: &ServerProcess, op: &mut Client, who: &str) -> ChildGuard {
    let addr = server.addr().to_string();
    let child = ChildGuard(
        command(place, who, &[&addr, "--name", who])
            .spawn()
            .expect("spawn lanchat"),
    );
    op.read_until_prefix(&format!("JOIN {who}"));
    child
}

/// Wait for `child` to end (at most [`DEADLINE`]): its exit status and output.
fn ended(mut child: ChildGuard) -> Output {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            use std::io::Read as _;
            let (mut stderr, mut stdout) = (Vec::new(), Vec::new());
            let _ = child
                .0
                .stderr
                .take()
                .map(|mut s| s.read_to_end(&mut stderr));
            let _ = child
                .0
                .stdout
                .take()
                .map(|mut s| s.read_to_end(&mut stdout));
            return Output {
                status,
                stdout,
                stderr,
            };
        }
        assert!(std::time::Instant::now() < deadline, "lanchat did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn kicked_exits_5_and_banned_exits_6_saying_who_and_why() {
    let place = Place::new();
    let (server, mut op) = with_operator(&place);
    let ann = joined(&place, &server, &mut op, "ann");
    op.send("/kick ann calm down");
    let out = ended(ann);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("you were kicked by op: calm down"), "{err}");

    let ann = joined(&place, &server, &mut op, "ann");
    op.send("/ban ann 2h spam");
    let out = ended(ann);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{err}");
    assert!(err.contains("you were banned by op for 2h: spam"), "{err}");

    // Coming back while banned: refused before a name, in words, exit 6.
    let out = lanchat(&place, "ann", &[&server.addr().to_string()], "ann\n");
    assert_eq!(out.status.code(), Some(6));
    let err = text(&out.stderr);
    assert!(err.contains("you are banned from this server"), "{err}");
}

/// `lanchat` at a terminal (a pty) for `who`, TLS, trusting the server on first use.
fn at_terminal(place: &Place, who: &str, args: &[&str]) -> Pty {
    let key = place.user_file(who);
    let known = place.path().join(format!("known-{who}"));
    let config = place.path().join("config");
    let mut all: Vec<&str> = args.to_vec();
    let (key, known) = (key.to_str().expect("utf-8"), known.to_str().expect("utf-8"));
    all.extend([
        "--accept-new",
        "--no-timestamps",
        "--identity",
        key,
        "--known-servers",
        known,
    ]);
    Pty::spawn_env(
        who,
        &all,
        &[
            ("NO_COLOR", "1"),
            ("LANCHAT_PLAINTEXT", "0"),
            ("XDG_CONFIG_HOME", config.to_str().expect("utf-8")),
        ],
    )
}

#[test]
fn at_a_terminal_the_password_is_asked_without_echo_then_the_name() {
    let place = Place::new();
    let pw = place.file("pw", "s3cret\n");
    let (server, _) = place.server(&["--password-file", pw.to_str().expect("utf-8")]);
    let mut ann = at_terminal(&place, "ann", &[&server.addr().to_string()]);
    ann.expect("This server asks for a password.");
    ann.expect("Password: ");
    ann.line("wrong1");
    ann.expect("wrong password (1 of 3)");
    ann.expect("Password: ");
    ann.line("s3cret");
    ann.expect("Your name: ");
    ann.line("ann");
    ann.expect("* Hi ann!");
    let screen = ann.transcript();
    assert!(
        !screen.contains("s3cret") && !screen.contains("wrong1"),
        "{screen}"
    );
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
}

#[test]
fn whois_reads_plainly_and_tab_completes_operators_commands_for_operators_only() {
    let place = Place::new();
    let ops = place.key_list("ops", &["op"]);
    let (server, _) = place.server(&["--ops", ops.to_str().expect("utf-8")]);
    let addr = server.addr().to_string();
    let mut op = at_terminal(&place, "op", &[&addr, "--name", "op"]);
    op.expect("* you are an operator here");
    op.expect("op>");
    op.keys("/ki\t");
    op.expect("/kick ");
    op.keys("\x15"); // Ctrl-U: clear the line
    let mut ann = at_terminal(&place, "ann", &[&addr, "--name", "ann"]);
    ann.expect("ann>");
    ann.keys("/ki\t");
    ann.keys("\r");
    ann.expect("error: unknown command /ki");
    ann.line("/whois op");
    let fp = place.user("op").fingerprint().to_string();
    ann.expect(&format!("* op: key {fp}, connected "));
    ann.line("/quit");
    op.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
    assert_eq!(op.expect_exit(), 0);
}
