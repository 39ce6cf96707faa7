//! The real `lanchat` binary without a terminal (stdin and stdout are pipes): lines from stdin
//! are sent, received lines come out on stdout rendered without colour, and the exit code says
//! how it ended. Every client process is killed when its guard drops.

use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Instant;

use integration_tests::relay::{contains, Recorder};
use integration_tests::{bin_path, free_port, ChildGuard, Client, ServerProcess, DEADLINE};
use lanchat_client::tls::PLAINTEXT_WARNING;
use lanchat_client::waits::QUIT_VAR;

/// `lanchat` with piped stdio. Killed and reaped on drop (its [`ChildGuard`]).
struct Scripted {
    child: ChildGuard,
    stdin: Option<ChildStdin>,
    /// stdout lines, as they come.
    lines: Receiver<String>,
    /// The thread reading stdout: done once stdout ends (every line sent on `lines`).
    stdout_reader: Option<std::thread::JoinHandle<()>>,
    stderr: Receiver<String>,
    seen: Vec<String>,
}

impl Scripted {
    #[track_caller]
    fn spawn(args: &[&str]) -> Scripted {
        Scripted::spawn_env(args, &[])
    }

    /// `lanchat <args>` with `env` added to its environment.
    #[track_caller]
    fn spawn_env(args: &[&str], env: &[(&str, &std::path::Path)]) -> Scripted {
        let mut cmd = Command::new(bin_path("lanchat"));
        // The servers here speak plaintext (the harness's default); `env` may say otherwise.
        cmd.args(args).env("LANCHAT_PLAINTEXT", "1");
        // The user's key (made on a TLS client's first run) in the tests' shared place, never
        // the home directory; `env` may name another.
        cmd.env(
            "XDG_CONFIG_HOME",
            integration_tests::identity::shared_config_dir(),
        );
        integration_tests::short_client_waits(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lanchat");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let (etx, stderr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                all.push_str(&line);
                all.push('\n');
            }
            let _ = etx.send(all);
        });
        Scripted {
            child: ChildGuard(child),
            stdin,
            lines,
            stdout_reader: Some(stdout_reader),
            stderr: stderr_rx,
            seen: Vec::new(),
        }
    }

    /// Write one line to the client's stdin.
    #[track_caller]
    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to lanchat's stdin");
        stdin.flush().expect("flush");
    }

    /// Close the client's stdin (end of input).
    fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Read stdout lines until one equals `want`; returns it.
    #[track_caller]
    fn expect_line(&mut self, want: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line == want {
                        return;
                    }
                }
                Err(e) => panic!("no line {want:?} ({e}); stdout so far: {:#?}", self.seen),
            }
        }
    }

    /// Wait for the exit; the status, every remaining stdout line, and stderr.
    #[track_caller]
    fn finish(&mut self) -> (ExitStatus, Vec<String>, String) {
        self.close_stdin();
        let stderr = self
            .stderr
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("lanchat still running; stdout: {:#?}", self.seen));
        let status = self.child.0.wait().expect("wait for lanchat");
        // The exit closed stdout, but its last lines may still be on their way through the
        // reader thread: wait for it to see the end before taking them.
        if let Some(reader) = self.stdout_reader.take() {
            let _ = reader.join();
        }
        let rest: Vec<String> = self.lines.try_iter().collect();
        self.seen.extend(rest.iter().cloned());
        (status, self.seen.clone(), stderr)
    }
}

fn server() -> ServerProcess {
    ServerProcess::start(&["--rate", "0"])
}

/// A script pipes more lines than the server's default flood control lets through at once:
/// the client paces itself, so every line arrives and the quit is a real quit.
#[test]
fn piped_input_over_the_flood_budget_is_paced_and_nothing_is_lost() {
    let server = ServerProcess::start(&[]); // default --rate 10 --burst 20
    let mut ann = Client::join(server.addr(), "ann");
    let addr = server.addr().to_string();
    let mut bot = Scripted::spawn(&[&addr, "--name", "bot", "--no-timestamps"]);
    ann.expect("JOIN bot");
    for i in 0..40 {
        bot.send(&format!("line {i}"));
    }
    bot.send("<quit>");
    for i in 0..40 {
        ann.expect(&format!("MSG bot line {i}"));
    }
    ann.expect("LEAVE bot quit");
    let (status, out, err) = bot.finish();
    assert!(status.success(), "{status:?}: {err}");
    assert!(out.iter().all(|l| !l.contains("error:")), "{out:#?}");
}

#[test]
fn piped_lines_are_sent_and_received_lines_printed_plain() {
    let server = server();
    let mut ann = Client::join(server.addr(), "ann");
    let addr = server.addr().to_string();
    let mut bot = Scripted::spawn(&[&addr, "--name", "bot", "--no-timestamps"]);
    bot.expect_line("* Hi bot! Type <quit> to leave, /help for commands.");
    bot.expect_line("* here now (2): ann, bot");
    ann.expect("JOIN bot");
    bot.send("hi");
    ann.expect("MSG bot hi");
    ann.send("hello bot \u{1b}[2J");
    bot.expect_line("! <ann> hello bot ␛[2J");
    bot.send("/me waves");
    ann.expect("ACTION bot waves");
    bot.send("<quit>");
    let (status, out, err) = bot.finish();
    assert!(status.success(), "{status:?}: {err}");
    ann.expect("LEAVE bot quit");
    for line in &out {
        assert!(
            !line.contains(['\u{1b}', '\u{7}']),
            "escape or bell in {line:?}"
        );
    }
    // Only the warning that the connection is not encrypted.
    assert_eq!(err, format!("{PLAINTEXT_WARNING}\n"));
}

#[test]
fn printf_into_lanchat_works() {
    // The README's example: `printf 'hi\n<quit>\n' | lanchat 127.0.0.1 --name bot`.
    let server = server();
    let mut ann = Client::join(server.addr(), "ann");
    let addr = server.addr().to_string();
    let mut bot = Scripted::spawn(&[&addr, "--name", "bot"]);
    bot.send("hi\n<quit>");
    let (status, out, err) = bot.finish();
    assert!(status.success(), "{status:?}: {err}");
    ann.expect("JOIN bot");
    ann.expect("MSG bot hi");
    ann.expect("LEAVE bot quit");
    // Timestamps are on by default: "[HH:MM] * Hi bot! ...".
    let first = &out[0];
    assert!(
        first.len() > 8 && first.as_bytes()[0] == b'[' && first[8..].starts_with("* Hi bot!"),
        "{out:?}"
    );
}

#[test]
fn end_of_input_quits_after_the_server_says_bye() {
    let server = server();
    let mut ann = Client::join(server.addr(), "ann");
    let addr = server.addr().to_string();
    // No --name: the first line is the name.
    let mut bot = Scripted::spawn(&[&addr, "--no-timestamps"]);
    bot.send("robo");
    bot.send("beep");
    bot.close_stdin();
    let (status, out, err) = bot.finish();
    assert!(status.success(), "{status:?}: {err}");
    assert_eq!(
        out[0],
        "* Hi robo! Type <quit> to leave, /help for commands."
    );
    ann.expect("JOIN robo");
    ann.expect("MSG robo beep");
    ann.expect("LEAVE robo quit");
}

#[test]
fn a_taken_name_exits_1_with_the_servers_reason() {
    let server = server();
    let _ann = Client::join(server.addr(), "ann");
    let addr = server.addr().to_string();
    let mut bot = Scripted::spawn(&[&addr, "--name", "ANN"]);
    let (status, _, err) = bot.finish();
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "lanchat: name \"ANN\" refused: ANN is already taken; try another name\n"
    );
}

#[test]
fn an_unreachable_server_exits_1_in_one_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let mut bot = Scripted::spawn(&[&closed.to_string(), "--name", "bot"]);
    let (status, out, err) = bot.finish();
    assert_eq!(status.code(), Some(1));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(
        err,
        format!(
            "lanchat: cannot connect to {closed}: connection refused \
             (is the lanchat server running there?)\n"
        )
    );
}

#[test]
fn no_address_without_a_terminal_exits_1_instead_of_asking() {
    let mut bot = Scripted::spawn(&["--name", "bot"]);
    let (status, out, err) = bot.finish();
    assert_eq!(status.code(), Some(1));
    assert!(out.is_empty(), "{out:?}");
    assert!(err.starts_with("lanchat: no server address"), "{err}");
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        &["--frobnicate"][..],
        &["host", "--discover"],
        &["--discover-port", "x"],
    ] {
        let mut bot = Scripted::spawn(args);
        let (status, _, err) = bot.finish();
        assert_eq!(status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("error:"), "{args:?}: {err}");
    }
}

#[test]
fn the_server_going_away_ends_the_client_even_with_stdin_open() {
    let server = server();
    let addr = server.addr().to_string();
    let mut bot = Scripted::spawn(&[&addr, "--name", "bot", "--no-timestamps"]);
    bot.expect_line("* here now (1): bot");
    server.signal(libc::SIGTERM);
    // stdin stays open: the client must still end, by itself.
    let deadline = Instant::now() + DEADLINE;
    let err = bot
        .stderr
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .expect("lanchat did not end");
    let status = bot.child.0.wait().expect("wait");
    assert_eq!(status.code(), Some(3), "{err}");
    assert_eq!(
        err,
        format!(
            "{PLAINTEXT_WARNING}\nlanchat: the server closed the connection: server shutting down\n"
        )
    );
}

#[test]
fn with_reconnect_a_script_comes_back_after_a_restart_and_sends_what_it_read_meanwhile() {
    let port = free_port();
    let mut server = ServerProcess::start_on(port, &["--rate", "0"]);
    let addr = server.addr().to_string();
    let args = [
        addr.as_str(),
        "--name",
        "bot",
        "--no-timestamps",
        "--reconnect",
    ];
    let mut bot = Scripted::spawn(&args);
    bot.expect_line("* here now (1): bot");
    server.signal(libc::SIGTERM);
    bot.expect_line("* the server closed the connection: server shutting down; reconnecting");
    assert!(
        server.wait_exit(DEADLINE).is_some(),
        "the server did not stop"
    );
    // Read while there is no server: it waits, and goes once there is one again.
    bot.send("written while the server was down");

    let server = ServerProcess::start_on(port, &["--rate", "0"]);
    let mut ann = Client::connect(server.addr());
    ann.expect_prefix("HELLO ");
    ann.send("ann");
    bot.expect_line("* reconnected as bot");
    // Live, or (had the bot been quicker than ann) in the history ann is given.
    let wanted = "MSG bot written while the server was down";
    let mut heard = false;
    while !heard {
        heard = ann.line().ends_with(wanted);
    }
    bot.send("and after");
    ann.read_until_prefix("MSG bot and after");
    let (status, out, err) = bot.finish();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        out.iter()
            .any(|l| l.starts_with("* reconnecting (attempt 1, next in")),
        "{out:#?}"
    );
}

/// `lanchat --discover` probing only loopback on `port`, as `bot`, plus `extra`.
fn discover_args<'a>(port: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "--discover",
        "--discover-to",
        "127.0.0.1",
        "--discover-port",
        port,
        "--name",
        "bot",
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn discover_without_a_terminal_joins_the_one_server_that_answers() {
    let server = ServerProcess::discoverable("testroom");
    let port = server.addr().port().to_string();
    let mut bot = Scripted::spawn(&discover_args(&port, &["--no-timestamps"]));
    bot.expect_line("* here now (1): bot");
    bot.send("<quit>");
    let (status, _, err) = bot.finish();
    assert!(status.success(), "{status:?}: {err}");
    assert!(
        err.contains(&format!("  1) testroom at 127.0.0.1:{port}, 0 users\n")),
        "{err}"
    );
}

#[test]
fn discover_without_a_terminal_and_no_answer_exits_1() {
    let server = server(); // discovery off
    let port = server.addr().port().to_string();
    let mut bot = Scripted::spawn(&discover_args(&port, &[]));
    let (status, out, err) = bot.finish();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(out.is_empty(), "{out:?}");
    assert!(err.contains("No lanchat server answered."), "{err}");
    assert!(
        err.ends_with("lanchat: no server found; give its address as ADDR\n"),
        "{err}"
    );
}

#[test]
fn a_line_that_is_not_utf8_is_sent_with_a_replacement_and_the_script_goes_on() {
    // Regression: `lines()` failed on it and the whole script ended with exit 1.
    let server = server();
    let mut ann = Client::join(server.addr(), "ann");
    let addr = server.addr().to_string();
    let mut bot = Scripted::spawn(&[&addr, "--name", "bot", "--no-timestamps"]);
    ann.expect("JOIN bot");
    let stdin = bot.stdin.as_mut().expect("stdin open");
    stdin
        .write_all(b"first\ncaf\xe9\nthird\n<quit>\n")
        .expect("write to lanchat's stdin");
    ann.expect("MSG bot first");
    ann.expect("MSG bot caf\u{fffd}");
    ann.expect("MSG bot third");
    ann.expect("LEAVE bot quit");
    let (status, _, err) = bot.finish();
    assert!(status.success(), "{status:?}: {err}");
}

#[test]
fn a_quit_the_server_never_answers_is_exit_3_not_0() {
    // Without the server's BYE, the lines sent last may never have arrived: a script must
    // not be told that all went well.
    let server = server();
    let mut ann = Client::join(server.addr(), "ann");
    let addr = server.addr().to_string();
    // The server is stopped: the whole wait for its answer passes; a short one will do.
    let mut bot = Scripted::spawn_env(
        &[&addr, "--name", "bot"],
        &[(QUIT_VAR, std::path::Path::new("300"))],
    );
    ann.expect("JOIN bot");
    server.signal(libc::SIGSTOP);
    bot.send("anyone?");
    bot.send("<quit>");
    let result = bot.finish();
    server.signal(libc::SIGCONT);
    let (status, _, err) = result;
    assert_eq!(status.code(), Some(3), "{err}");
    assert!(err.contains("did not answer the quit"), "{err}");
}

#[test]
fn a_name_the_rules_refuse_is_a_flag_error() {
    for bad in ["", "   ", "a b", "evil\u{1b}[2J"] {
        let mut bot = Scripted::spawn(&["127.0.0.1:9", "--name", bad]);
        let (status, _, err) = bot.finish();
        assert_eq!(status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.contains("--name"), "{bad:?}: {err}");
    }
}

#[test]
fn discovery_to_an_ipv6_address_is_a_flag_error() {
    // The probe socket is IPv4 (LAN broadcast is); an IPv6 target used to fail only after
    // the socket was made, with "Address family not supported".
    let mut probe = Scripted::spawn(&["--discover", "--discover-to", "::1"]);
    let (status, _, err) = probe.finish();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("IPv4"), "{err}");
}

/// A directory of its own for one test, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("lanchat-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn no_history_leaves_out_the_replay() {
    let server = server();
    let mut ann = Client::join(server.addr(), "ann");
    ann.send("from before");
    ann.sync();
    let addr = server.addr().to_string();
    let mut bot = Scripted::spawn(&[&addr, "--name", "bot", "--no-timestamps", "--no-history"]);
    bot.expect_line("* here now (2): ann, bot");
    bot.send("<quit>");
    let (status, out, err) = bot.finish();
    assert!(status.success(), "{err}");
    assert!(
        out.iter()
            .all(|l| !l.contains("from before") && !l.contains("earlier")),
        "{out:#?}"
    );
}

#[test]
fn a_failed_write_to_stdout_is_a_non_zero_exit() {
    // Regression: `lanchat ... > /dev/full` returned 0.
    let server = server();
    let addr = server.addr().to_string();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let mut child = ChildGuard(
        Command::new(bin_path("lanchat"))
            .args([&addr, "--name", "bot", "--plaintext"])
            .stdin(Stdio::piped())
            .stdout(full)
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn lanchat"),
    );
    drop(child.0.stdin.take()); // end of input: quit at once
    let out = child.0.wait_with_output_guarded();
    assert_eq!(out.0.code(), Some(1), "{}", out.1);
    assert!(out.1.contains("cannot write to stdout"), "{}", out.1);
}

/// Waiting on a guarded child for its status and stderr.
trait WaitGuarded {
    fn wait_with_output_guarded(&mut self) -> (ExitStatus, String);
}

impl WaitGuarded for std::process::Child {
    fn wait_with_output_guarded(&mut self) -> (ExitStatus, String) {
        let mut err = String::new();
        if let Some(mut e) = self.stderr.take() {
            use std::io::Read;
            let _ = e.read_to_string(&mut err);
        }
        (self.wait().expect("wait for lanchat"), err)
    }
}

#[test]
fn log_keeps_a_plain_transcript_with_dates() {
    let server = server();
    let mut ann = Client::join(server.addr(), "ann");
    let dir = TempDir::new("log");
    let log = dir.0.join("chat.log");
    let addr = server.addr().to_string();
    let log_arg = log.to_string_lossy().into_owned();
    let mut bot = Scripted::spawn(&[&addr, "--name", "bot", "--log", &log_arg]);
    ann.expect("JOIN bot");
    ann.send("hello bot \u{1b}[2J");
    bot.send("<quit>");
    let (status, _, err) = bot.finish();
    assert!(status.success(), "{err}");
    let text = std::fs::read_to_string(&log).expect("the log");
    let line = text
        .lines()
        .find(|l| l.contains("<ann> hello bot"))
        .unwrap_or_else(|| panic!("no message in the log:\n{text}"));
    // "2025-12-01 10:09 [10:09] <ann> hello bot ␛[2J"
    let b = line.as_bytes();
    assert!(b[4] == b'-' && b[7] == b'-' && b[13] == b':', "{line}");
    assert!(
        line.ends_with("<ann> hello bot ␛[2J") && !line.contains('\x1b'),
        "{line}"
    );
}

#[test]
fn aliases_and_reply_send_private_messages() {
    let server = server();
    let mut ann = Client::join(server.addr(), "ann");
    let addr = server.addr().to_string();
    let mut bot = Scripted::spawn(&[&addr, "--name", "bot", "--no-timestamps"]);
    ann.expect("JOIN bot");
    bot.send("/reply too early");
    bot.expect_line("* nobody has written to you privately yet");
    for alias in ["/w", "/m", "/query"] {
        bot.send(&format!("{alias} ann via {alias}"));
        ann.expect(&format!("PRIV bot via {alias}"));
    }
    ann.send("/msg bot ping");
    bot.expect_line("! [private] <ann> ping");
    bot.send("/reply pong");
    ann.expect("PRIV bot pong");
    bot.send("<quit>");
    let (status, _, err) = bot.finish();
    assert!(status.success(), "{err}");
}

#[test]
fn ignore_hides_someone_and_is_kept_in_the_config_file() {
    let server = server();
    let mut ann = Client::join(server.addr(), "ann");
    let mut carl = Client::join(server.addr(), "carl");
    ann.expect("JOIN carl");
    let dir = TempDir::new("config");
    let env = [("XDG_CONFIG_HOME", dir.0.as_path())];
    let addr = server.addr().to_string();
    let mut bot = Scripted::spawn_env(&[&addr, "--name", "bot", "--no-timestamps"], &env);
    ann.expect("JOIN bot");
    bot.send("/ignore ANN");
    bot.expect_line("* ignoring ANN; /unignore ANN to stop");
    ann.send("you cannot see me");
    carl.send("but me");
    bot.expect_line("<carl> but me");
    bot.send("<quit>");
    let (status, out, err) = bot.finish();
    assert!(status.success(), "{err}");
    assert!(out.iter().all(|l| !l.contains("cannot see")), "{out:#?}");
    let config = std::fs::read_to_string(dir.0.join("lanchat").join("config.toml"))
        .expect("the config file");
    assert!(config.contains("ignore = [\"ann\"]"), "{config}");
    // The next run reads it: the server and name from it too.
    std::fs::write(
        dir.0.join("lanchat").join("config.toml"),
        format!("server = \"{addr}\"\nname = \"bot2\"\ntimestamps = false\n{config}"),
    )
    .expect("write the config");
    let mut bot2 = Scripted::spawn_env(&[], &env);
    bot2.expect_line("* here now (3): ann, carl, bot2");
    ann.send("still hidden");
    carl.send("still shown");
    bot2.expect_line("<carl> still shown");
    bot2.send("/unignore ann");
    bot2.expect_line("* no longer ignoring ann");
    ann.send("seen again");
    bot2.expect_line("<ann> seen again");
    bot2.send("<quit>");
    let (status, out, err) = bot2.finish();
    assert!(status.success(), "{err}");
    assert!(out.iter().all(|l| !l.contains("still hidden")), "{out:#?}");
}

#[test]
fn stats_are_shown_as_a_block_of_figures_in_their_units() {
    let server = server();
    let addr = server.addr().to_string();
    let mut bot = Scripted::spawn(&[&addr, "--name", "bot", "--no-timestamps"]);
    bot.expect_line("* here now (1): bot");
    bot.send("/stats");
    bot.expect_line("* server stats:");
    // Under the heading, the keys in a column and the values in their units.
    bot.expect_line("  users                1");
    bot.expect_line("  rooms                1");
    bot.send("<quit>");
    let (status, out, err) = bot.finish();
    assert!(status.success(), "{status:?}: {err}");
    let uptime = out
        .iter()
        .find(|l| l.starts_with("  uptime "))
        .unwrap_or_else(|| panic!("no uptime in {out:#?}"));
    assert!(uptime.ends_with(" s"), "{uptime}");
    let rss = out
        .iter()
        .find(|l| l.starts_with("  rss "))
        .unwrap_or_else(|| panic!("no rss in {out:#?}"));
    assert!(rss.ends_with(" MiB"), "{rss}");
}

#[test]
fn a_script_does_lines_in_rooms_with_in_and_reads_every_room_line_tagged() {
    let server = server();
    let mut ann = Client::join(server.addr(), "ann");
    ann.send("/join #dev");
    ann.read_until_prefix("WHOEND #dev");
    let addr = server.addr().to_string();
    let mut bot = Scripted::spawn(&[&addr, "--name", "bot", "--no-timestamps"]);
    bot.expect_line("* here now (2): ann, bot");
    bot.send("/join #dev");
    bot.expect_line("* you joined #dev");
    bot.expect_line("* here now in #dev (2): ann, bot");
    ann.expect("JOIN bot");
    ann.expect("JOIN #dev bot");
    // A script stays in #general: a plain line goes there, `/in` picks a room.
    bot.send("to everyone");
    ann.expect("MSG bot to everyone");
    bot.send("/in #dev to dev");
    ann.expect("MSG #dev bot to dev");
    ann.send("/in #dev hello bot");
    bot.expect_line("! #dev <ann> hello bot");
    ann.send("/in #dev /me waves");
    bot.expect_line("#dev ~ ann waves");
    ann.send("in general");
    bot.expect_line("<ann> in general");
    bot.send("/rooms");
    bot.expect_line("* rooms (2):");
    bot.expect_line("  #general  2");
    bot.expect_line("  #dev      2");
    bot.send("/part #dev");
    bot.expect_line("* you left #dev");
    ann.expect("LEAVE #dev bot parted");
    bot.send("<quit>");
    let (status, out, err) = bot.finish();
    assert!(status.success(), "{status:?}: {err}: {out:#?}");
}

// ----- TLS and trust on first use -----------------------------------------------------------

/// A TLS server (the tests' shared key), flood control off, and its fingerprint.
fn tls_server() -> (ServerProcess, String) {
    let server = ServerProcess::start_tls(&["--rate", "0"]);
    let fp = server.fingerprint();
    (server, fp)
}

/// `lanchat <args> --known-servers <known>` speaking TLS (its default).
#[track_caller]
fn spawn_tls(args: &[&str], known: &std::path::Path) -> Scripted {
    let known = known.to_str().expect("utf-8 path");
    let args = [args, &["--known-servers", known, "--no-timestamps"]].concat();
    Scripted::spawn_env(&args, &[("LANCHAT_PLAINTEXT", std::path::Path::new("0"))])
}

#[test]
fn two_clients_chat_encrypted_one_trusting_on_first_use_one_by_fingerprint() {
    let (server, fp) = tls_server();
    let addr = server.addr().to_string();
    let tmp = tempfile::tempdir().expect("tmp");
    let (known_a, known_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut ann = spawn_tls(&[&addr, "--name", "ann", "--accept-new"], &known_a);
    ann.expect_line("* here now (1): ann");
    let mut bob = spawn_tls(&[&addr, "--name", "bob", "--trust", &fp], &known_b);
    bob.expect_line("* here now (2): ann, bob");
    bob.send("this goes encrypted");
    ann.expect_line("<bob> this goes encrypted");
    ann.send("so does this");
    bob.expect_line("<ann> so does this");
    bob.send("<quit>");
    ann.send("<quit>");
    let line = format!("{addr} {fp}\n");
    for (who, mut client, known) in [("bob", bob, &known_b), ("ann", ann, &known_a)] {
        let (status, _, err) = client.finish();
        assert!(status.success(), "{who}: {status:?}: {err}");
        assert!(
            err.contains(&format!(
                "The connection is encrypted (TLS 1.3); the server's key is {fp}."
            )),
            "{who}: {err}"
        );
        assert!(err.contains("now remembered in"), "{who}: {err}");
        assert_eq!(std::fs::read_to_string(known).expect("known_servers"), line);
    }
    // Known now: no flag needed, nothing new written.
    let mut again = spawn_tls(&[&addr, "--name", "ann"], &known_a);
    again.expect_line("* here now (1): ann");
    again.send("<quit>");
    let (status, _, err) = again.finish();
    assert!(status.success(), "{status:?}: {err}");
    assert!(!err.contains("remembered"), "{err}");
}

/// The real client talks to the real server through a relay that records every byte: `bot`
/// sends a secret, `ann` (a harness client on the server) answers with another; what the relay
/// carried.
/// `fp` is the server's fingerprint when it speaks TLS.
fn chat_of_the_binaries_through_a_relay(server: &ServerProcess, fp: Option<&str>) -> Vec<u8> {
    let relay = Recorder::to(server.addr());
    let relayed = relay.addr.to_string();
    let tmp = tempfile::tempdir().expect("tmp");
    let tls = fp.is_some();
    let mut ann = match fp {
        Some(fp) => Client::join_tls(server.addr(), fp.parse().expect("fp"), "ann"),
        None => Client::join(server.addr(), "ann"),
    };
    let args = [&relayed[..], "--name", "bot-4242", "--accept-new"];
    let mut bot = if tls {
        spawn_tls(&args, &tmp.path().join("known_servers"))
    } else {
        Scripted::spawn(&[&relayed, "--name", "bot-4242", "--no-timestamps"])
    };
    ann.expect("JOIN bot-4242");
    bot.send("the-outgoing-secret-4711");
    ann.expect("MSG bot-4242 the-outgoing-secret-4711");
    ann.send("/msg bot-4242 the-incoming-secret-0815");
    bot.expect_line("! [private] <ann> the-incoming-secret-0815");
    bot.send("<quit>");
    let (status, _, err) = bot.finish();
    assert!(status.success(), "{status:?}: {err}");
    relay.finish()
}

#[test]
fn a_relay_between_the_real_client_and_server_sees_no_plaintext() {
    let secrets: [&[u8]; 4] = [
        b"the-outgoing-secret-4711",
        b"the-incoming-secret-0815",
        b"bot-4242",
        b"HELLO ",
    ];
    // In plaintext the relay reads everything: the check below can fail.
    let plain = server();
    let wire = chat_of_the_binaries_through_a_relay(&plain, None);
    for secret in secrets {
        assert!(contains(&wire, secret), "{secret:?} not seen in plaintext");
    }
    let (tls, fp) = tls_server();
    let wire = chat_of_the_binaries_through_a_relay(&tls, Some(&fp));
    assert!(
        wire.len() > 1000,
        "the session went through: {} bytes",
        wire.len()
    );
    for secret in secrets {
        assert!(!contains(&wire, secret), "{secret:?} readable on the wire");
    }
}

#[test]
fn first_contact_without_a_terminal_is_refused_naming_the_two_ways_on() {
    let (server, fp) = tls_server();
    let addr = server.addr().to_string();
    let mut ann = Client::join_tls(server.addr(), fp.parse().expect("fp"), "ann");
    let tmp = tempfile::tempdir().expect("tmp");
    let known = tmp.path().join("known_servers");
    let mut bot = spawn_tls(&[&addr, "--name", "bot"], &known);
    let (status, _, err) = bot.finish();
    assert_eq!(status.code(), Some(1), "{err}");
    for want in [
        &format!("lanchat: {addr} is a server you have not trusted before")[..],
        &fp,
        "--trust SHA256:",
        "--accept-new",
        "nothing was sent",
    ] {
        assert!(err.contains(want), "{want:?} missing in {err}");
    }
    assert!(!known.exists(), "nothing remembered");
    assert_eq!(ann.sync(), Vec::<String>::new(), "bot never joined");
}

#[test]
fn a_trust_flag_with_another_key_is_refused_with_exit_4() {
    let (server, fp) = tls_server();
    let addr = server.addr().to_string();
    let tmp = tempfile::tempdir().expect("tmp");
    let known = tmp.path().join("known_servers");
    let wrong = lanchat_proto::Fingerprint::from_digest([3; 32]).to_string();
    let mut bot = spawn_tls(&[&addr, "--name", "bot", "--trust", &wrong], &known);
    let (status, _, err) = bot.finish();
    assert_eq!(status.code(), Some(4), "{err}");
    assert!(err.contains(&fp) && err.contains(&wrong), "{err}");
    assert!(err.contains("not the one given with --trust"), "{err}");
    assert!(!known.exists());
}

#[test]
fn a_changed_key_is_refused_loudly_with_exit_4_and_only_trust_gets_past_it() {
    let (server, fp) = tls_server();
    let addr = server.addr().to_string();
    let tmp = tempfile::tempdir().expect("tmp");
    let known = tmp.path().join("known_servers");
    let old = lanchat_proto::Fingerprint::from_digest([5; 32]).to_string();
    let before = format!("# my servers\n{addr} {old}\nother:7070 {old}\n");
    std::fs::write(&known, &before).expect("write known_servers");
    // --accept-new is for servers met for the first time, never for a changed key.
    let mut bot = spawn_tls(&[&addr, "--name", "bot", "--accept-new"], &known);
    let (status, _, err) = bot.finish();
    assert_eq!(status.code(), Some(4), "{err}");
    for want in [
        &format!("THE KEY OF SERVER {addr} HAS CHANGED")[..],
        &format!("remembered: {old}"),
        &format!("presented:  {fp}"),
        &format!("delete line 2 of {}", known.display()),
        "--trust",
    ] {
        assert!(err.contains(want), "{want:?} missing in {err}");
    }
    assert_eq!(std::fs::read_to_string(&known).expect("read"), before);

    let mut bot = spawn_tls(&[&addr, "--name", "bot", "--trust", &fp], &known);
    bot.expect_line("* here now (1): bot");
    bot.send("<quit>");
    let (status, _, err) = bot.finish();
    assert!(status.success(), "{status:?}: {err}");
    assert_eq!(
        std::fs::read_to_string(&known).expect("read"),
        format!("# my servers\nother:7070 {old}\n{addr} {fp}\n"),
        "the line replaced, the rest kept"
    );
}

#[test]
fn a_plaintext_server_is_named_as_such_and_not_joined() {
    let server = server();
    let addr = server.addr().to_string();
    let mut ann = Client::join(server.addr(), "ann");
    let tmp = tempfile::tempdir().expect("tmp");
    let mut bot = spawn_tls(
        &[&addr, "--name", "bot", "--accept-new"],
        &tmp.path().join("k"),
    );
    let (status, _, err) = bot.finish();
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        format!(
            "lanchat: {addr}: this server is not encrypted; use --plaintext to connect anyway\n"
        )
    );
    assert_eq!(ann.sync(), Vec::<String>::new(), "bot never joined");
}

#[test]
fn plaintext_with_a_trust_flag_is_a_flag_error() {
    let out = Command::new(bin_path("lanchat"))
        .args(["127.0.0.1", "--plaintext", "--accept-new"])
        .output()
        .expect("run lanchat");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--accept-new"), "{err}");
}

#[test]
fn discovery_marks_the_servers_whose_key_is_known() {
    let server = ServerProcess::discoverable_tls("tlsroom");
    let fp = server.fingerprint();
    let port = server.addr().port().to_string();
    let tmp = tempfile::tempdir().expect("tmp");
    let known = tmp.path().join("known_servers");
    std::fs::write(&known, format!("127.0.0.1:{port} {fp}\n")).expect("write");
    let mut bot = spawn_tls(&discover_args(&port, &[]), &known);
    bot.expect_line("* here now (1): bot");
    bot.send("<quit>");
    let (status, _, err) = bot.finish();
    assert!(status.success(), "{status:?}: {err}");
    let short: String = fp.chars().take("SHA256:".len() + 12).collect();
    assert!(
        err.contains(&format!("encrypted, key {short}…, known")),
        "{err}"
    );
}

#[test]
fn a_discovery_reply_is_never_trusted_an_unknown_server_found_is_first_contact() {
    // The reply carries the server's real fingerprint; without a terminal the client still
    // refuses a server it has not trusted, as if its address had been typed.
    let server = ServerProcess::discoverable_tls("tlsroom");
    let fp = server.fingerprint();
    let port = server.addr().port().to_string();
    let tmp = tempfile::tempdir().expect("tmp");
    let known = tmp.path().join("known_servers");
    let mut bot = spawn_tls(&discover_args(&port, &[]), &known);
    let (status, _, err) = bot.finish();
    assert_eq!(status.code(), Some(1), "{err}");
    let short: String = fp.chars().take("SHA256:".len() + 12).collect();
    assert!(
        err.contains(&format!("encrypted, key {short}…, new to you")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "lanchat: 127.0.0.1:{port} is a server you have not trusted before"
        )),
        "{err}"
    );
    assert!(!known.exists(), "nothing remembered");
}

/// An office CA (its certificate in `dir/<name>.pem`) and, when `server_cert`, a certificate
/// and key for 127.0.0.1 signed by it (`dir/cert.pem`, `dir/key.pem`, the key 0600).
fn office_ca(dir: &std::path::Path, name: &str, server_cert: bool) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca");
    std::fs::write(dir.join(format!("{name}.pem")), ca.pem()).expect("write ca");
    if server_cert {
        let key = KeyPair::generate().expect("key");
        let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .expect("params")
            .signed_by(&key, &ca)
            .expect("sign");
        std::fs::write(dir.join("cert.pem"), cert.pem()).expect("write cert");
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dir.join("key.pem"))
            .and_then(|mut f| f.write_all(key.serialize_pem().as_bytes()))
            .expect("write key");
    }
}

#[test]
fn with_an_office_ca_the_server_is_checked_against_it_instead_of_remembered() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    office_ca(dir, "office", true);
    office_ca(dir, "stranger", false);
    let path = |f: &str| dir.join(f).to_str().expect("utf-8").to_owned();
    let server = ServerProcess::start_tls(&[
        "--rate",
        "0",
        "--tls-cert",
        &path("cert.pem"),
        "--tls-key",
        &path("key.pem"),
    ]);
    let fp = server.fingerprint();
    let addr = server.addr().to_string();
    let plaintext_off = [("LANCHAT_PLAINTEXT", std::path::Path::new("0"))];
    let args = |ca: &str| {
        let mut a = vec![addr.clone(), "--name".into(), "bot".into()];
        a.extend(["--no-timestamps".into(), "--ca".into(), path(ca)]);
        a
    };
    let owned = args("office.pem");
    let owned: Vec<&str> = owned.iter().map(String::as_str).collect();
    let mut bot = Scripted::spawn_env(&owned, &plaintext_off);
    bot.expect_line("* here now (1): bot");
    bot.send("<quit>");
    let (status, _, err) = bot.finish();
    assert!(status.success(), "{status:?}: {err}");
    assert!(err.contains(&format!("the server's key is {fp}")), "{err}");

    let owned = args("stranger.pem");
    let owned: Vec<&str> = owned.iter().map(String::as_str).collect();
    let mut bot = Scripted::spawn_env(&owned, &plaintext_off);
    let (status, _, err) = bot.finish();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("TLS handshake failed"), "{err}");
}

#[test]
fn a_full_tls_server_is_reported_as_closing_during_the_handshake() {
    let server = ServerProcess::start_tls(&["--max-clients", "1"]);
    let _only = Client::join_tls(
        server.addr(),
        server.fingerprint().parse().expect("fp"),
        "only",
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let addr = server.addr().to_string();
    let mut bot = spawn_tls(
        &[&addr, "--name", "bot", "--accept-new"],
        &tmp.path().join("k"),
    );
    let (status, _, err) = bot.finish();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "closed the connection during the TLS handshake (a full server, or one limiting \
             connections from your address, does that)"
        ),
        "{err}"
    );
}
