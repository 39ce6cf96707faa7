//! The load generator in `make test`: the `small` scenario (50 clients, 10 senders x 100
//! messages) must deliver every message to every other client exactly once and in order, and
//! `lanchat-load` must fail a run that loses messages, cannot connect or stalls (without
//! waiting out its whole timeout), and refuse a non-loopback target; the `restart` scenario, at
//! 20 clients, must see every client back after the server restarts under them. Speed is not
//! asserted here; `make load` measures it.

use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use integration_tests::load::procfs::has_exited;
use integration_tests::load::report::{parse_json_line, Value, Wire};
use integration_tests::load::{self, Options, Restart, RestartFigures, Scenario};
use integration_tests::{bin_path, free_port, ServerProcess, TestServer, DEADLINE};

fn load_bin(args: &[&str]) -> Output {
    Command::new(bin_path("lanchat-load"))
        .args(args)
        .args(["--quiet", "--timeout", "60"])
        .output()
        .expect("run lanchat-load")
}

/// The single JSON line a `--json` run printed, as a map.
#[track_caller]
fn json_of(out: &Output) -> std::collections::BTreeMap<String, Value> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    parse_json_line(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn small_scenario_delivers_everything_once_and_in_order() {
    for (server, plaintext) in [(TestServer::start(), true), (TestServer::tls(), false)] {
        small_scenario_against(&server, plaintext);
    }
}

#[track_caller]
fn small_scenario_against(server: &TestServer, plaintext: bool) {
    let mut opts = Options::new(Scenario::Small, server.addr());
    opts.timeout = Duration::from_secs(60);
    opts.plaintext = plaintext;
    let report = load::run(&opts).expect("run the small scenario");
    let wire = if plaintext { Wire::Plain } else { Wire::Tls };
    assert_eq!(report.wire, wire);
    assert!(report.passed(), "{}", report.to_table());
    assert_eq!(report.connected, 50);
    assert_eq!(report.sent, 1_000);
    assert_eq!(report.expected, 49_000, "1,000 messages to 49 others each");
    assert_eq!(report.delivered, 49_000);
    assert_eq!(
        (
            report.lost,
            report.duplicated,
            report.reordered,
            report.unexpected
        ),
        (0, 0, 0, 0)
    );
    assert!(
        report.exact,
        "small runs tell duplicates from late messages"
    );
    let latency = report.latency.expect("latency measured");
    assert!(latency.p50_ms <= latency.p99_ms && latency.p99_ms <= latency.max_ms);
}

#[test]
fn a_small_run_in_rooms_delivers_each_message_to_its_room_only() {
    // 60 clients: 6 rooms of 20 (each client in two of them), one sender per room; both ways.
    for (server, plaintext) in [(TestServer::start(), true), (TestServer::tls(), false)] {
        rooms_against(&server, plaintext);
    }
}

fn rooms_against(server: &TestServer, plaintext: bool) {
    let mut opts = Options::new(Scenario::Small, server.addr());
    opts.plaintext = plaintext;
    opts.timeout = Duration::from_secs(60);
    opts.shape.clients = 60;
    opts.shape.senders = 6;
    opts.shape.messages = 50;
    opts.shape.rooms = 6;
    opts.shape.rooms_each = 2;
    let report = load::run(&opts).expect("run in rooms");
    assert!(report.passed(), "{}", report.to_table());
    assert_eq!(
        report.expected,
        6 * 50 * 19,
        "each message to the 19 others in its room"
    );
    assert_eq!(report.delivered, report.expected);
    assert!(report.rooms_settle_s.is_some());
}

#[test]
fn the_binary_reports_server_figures_as_json() {
    let server = ServerProcess::start_tls(&["--rate", "0"]);
    let (addr, pid) = (server.addr().to_string(), server.pid().to_string());
    let out = load_bin(&[
        "--scenario",
        "small",
        "--addr",
        &addr,
        "--server-pid",
        &pid,
        "--json",
    ]);
    let run = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{run:?}");
    assert_eq!(run.get("pass"), Some(&Value::Bool(true)));
    assert_eq!(run.get("wire"), Some(&Value::Str("tls".into())));
    assert_eq!(run.get("delivered").and_then(Value::num), Some(49_000.0));
    // Every delivery's latency is taken per client: the kernel stamped every read.
    assert_eq!(
        run.get("unstamped").and_then(Value::num),
        Some(0.0),
        "{run:?}"
    );
    let rss = run.get("server_rss_settled").and_then(Value::num);
    assert!(
        rss.is_some_and(|b| b > 0.0),
        "server memory read from /proc: {run:?}"
    );
}

#[test]
fn messages_dropped_by_flood_control_fail_the_run() {
    // Default flood control (10 lines/s, burst 20) drops most of an unpaced sender's lines.
    let server = ServerProcess::start(&[]);
    let addr = server.addr().to_string();
    let out = load_bin(&[
        "--scenario",
        "small",
        "--addr",
        &addr,
        "--json",
        "--plaintext",
    ]);
    let run = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{run:?}");
    assert_eq!(run.get("pass"), Some(&Value::Bool(false)));
    let problem = match run.get("first_problem") {
        Some(Value::Str(p)) => p.clone(),
        other => panic!("no first problem: {other:?}"),
    };
    assert!(problem.contains("ERR rate-limited"), "{problem}");
}

#[test]
fn a_full_server_fails_the_run_while_connecting() {
    let server = ServerProcess::start(&["--rate", "0", "--max-clients", "10"]);
    let addr = server.addr().to_string();
    let out = load_bin(&[
        "--scenario",
        "small",
        "--addr",
        &addr,
        "--json",
        "--plaintext",
    ]);
    let run = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{run:?}");
    let outcome = match run.get("outcome") {
        Some(Value::Str(o)) => o.clone(),
        other => panic!("no outcome: {other:?}"),
    };
    assert!(
        outcome.contains("connecting") && outcome.contains("ERR server-full"),
        "{outcome}"
    );
}

#[test]
fn a_remote_target_is_refused_unless_allowed() {
    let out = load_bin(&["--addr", "192.0.2.1:7070"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a loopback address"), "{err}");
}

#[test]
fn a_frozen_server_fails_the_run_as_stalled_long_before_the_timeout() {
    let server = ServerProcess::start(&["--rate", "0"]);
    // Frozen before the run: connects complete in the kernel's backlog, but no line comes.
    server.signal(libc::SIGSTOP);
    let mut opts = Options::new(Scenario::Small, server.addr());
    opts.timeout = Duration::from_secs(120);
    opts.stall = Duration::from_secs(1);
    opts.plaintext = true;
    let started = std::time::Instant::now();
    let result = load::run(&opts);
    // Thawed before asserting, so that the server's Drop guard can stop it normally.
    server.signal(libc::SIGCONT);
    let report = result.expect("the run itself starts");
    assert!(!report.passed(), "{}", report.to_table());
    assert!(
        report
            .outcome
            .starts_with("stalled: no line from the server for 1s while connecting"),
        "{}",
        report.outcome
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "gave up after {:?}, not at the 1 s stall bound",
        started.elapsed()
    );
}

#[test]
fn a_join_storm_of_wide_names_with_a_full_history_settles_in_memory_linear_in_the_clients() {
    // The storm scenario at a quarter of its size: 500 clients greeted, then all giving 96-byte
    // names at once, each welcome carrying a full history (50 lines of 2,000 bytes) and the
    // member list. Stored per newcomer, that is ~75 MB of welcomes (500 x (100 KB of history
    // + up to 48 KB of names)); shared, a few MB.
    let server = ServerProcess::start(&["--rate", "0"]);
    let mut opts = Options::new(Scenario::Storm, server.addr());
    opts.shape.clients = 500;
    opts.shape.hold = Duration::from_millis(100);
    opts.timeout = Duration::from_secs(60);
    opts.server_pid = Some(server.pid());
    opts.plaintext = true;
    let report = load::run(&opts).expect("run the storm scenario");
    assert!(report.passed(), "{}", report.to_table());
    assert_eq!(report.connected, 500);
    let figures = report.server.expect("server figures");
    let growth = figures.rss_peak.saturating_sub(figures.rss_idle);
    assert!(
        growth < 16 << 20,
        "the server's peak memory grew by {} KiB during the storm",
        growth >> 10
    );
}

/// `lanchat-server` on 127.0.0.1:`port` with its state in `dir`, as `make load` starts it:
/// flood control off, 127.0.0.1 exempt from the per-address limits; plaintext or TLS.
fn server_command(port: u16, dir: &Path, plaintext: bool) -> Vec<OsString> {
    let mut argv: Vec<OsString> = vec![bin_path("lanchat-server").into()];
    let port = port.to_string();
    let flags = [
        "--bind",
        "127.0.0.1",
        "--port",
        &port,
        "--rate",
        "0",
        "--no-discovery",
        "--trusted-hosts",
        "127.0.0.1",
    ];
    argv.extend(flags.iter().map(OsString::from));
    argv.extend(["--state-dir".into(), dir.as_os_str().to_owned()]);
    if plaintext {
        argv.push("--plaintext".into());
    }
    argv
}

/// The first server, from the same command the restart uses.
#[track_caller]
fn start(argv: &[OsString], plaintext: bool) -> ServerProcess {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]);
    ServerProcess::spawn(if plaintext {
        cmd
    } else {
        ServerProcess::tls(cmd)
    })
}

#[test]
fn every_client_comes_back_by_the_back_off_after_the_server_restarts() {
    for plaintext in [true, false] {
        let r = restart_with(plaintext, Duration::ZERO);
        // Back at once: every first attempt found the new server listening.
        assert_eq!(r.listening_s.map(|s| s < 0.75), Some(true), "{r:?}");
    }
}

#[test]
fn clients_refused_while_the_server_is_down_back_off_and_try_again() {
    // Down 1.5 s: every first attempt (at most 1 s after the BYE) is refused, and counted.
    let r = restart_with(true, Duration::from_millis(1_500));
    assert!(r.refused >= 20, "{r:?}");
    assert!(r.max_attempts >= 2, "{r:?}");
    assert!(r.listening_s.is_some_and(|s| s >= 1.5), "{r:?}");
}

/// The restart scenario at 20 clients, restarting `server` as `restart` says.
fn restart_options(server: &ServerProcess, restart: Restart, plaintext: bool) -> Options {
    let mut opts = Options::new(Scenario::Restart, server.addr());
    opts.shape.clients = 20;
    opts.shape.hold = Duration::from_millis(100);
    opts.timeout = Duration::from_secs(60);
    opts.plaintext = plaintext;
    opts.server_pid = Some(server.pid());
    opts.restart = Some(restart);
    opts
}

/// The restart scenario at 20 clients against a server that stays down `down` between the
/// two processes; every client must come back. Returns the restart's figures.
#[track_caller]
fn restart_with(plaintext: bool, down: Duration) -> RestartFigures {
    let dir = tempfile::tempdir().expect("temporary directory");
    let argv = server_command(free_port(), dir.path(), plaintext);
    let mut server = start(&argv, plaintext);
    let log = dir.path().join("restarted.log");
    let restart = Restart {
        command: argv,
        log: Some(log.clone()),
        deadline: Duration::from_secs(30),
        down,
    };
    let opts = restart_options(&server, restart, plaintext);
    let report = load::run(&opts).expect("run the restart scenario");
    let restarted_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        report.passed(),
        "{}\nrestarted server's log:\n{restarted_log}",
        report.to_table()
    );
    let r = report.restart.clone().expect("restart figures");
    assert_eq!((r.told_bye, r.back, r.settled), (20, 20, 20), "{r:?}");
    // The first server exited on the SIGTERM, cleanly; the one started again has been stopped.
    let status = server.wait_exit(DEADLINE).expect("the first server exited");
    assert!(status.success(), "{status}");
    let new_pid = r.server_pid.expect("the restarted server's pid");
    assert!(
        has_exited(new_pid),
        "the restarted server {new_pid} still runs"
    );
    // Every client's first try waits 1 s less at most a quarter, from its BYE (after the
    // SIGTERM): nobody is back sooner, and nobody before the new server listens.
    let s = |v: Option<f64>| v.unwrap_or_else(|| panic!("not measured: {r:?}"));
    let times = [
        s(r.old_exit_s),
        s(r.listening_s),
        s(r.first_back_s),
        s(r.median_back_s),
        s(r.back_s),
        s(r.settled_s),
    ];
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{r:?}");
    assert!(s(r.first_back_s) >= 0.75, "{r:?}");
    assert!(
        r.attempts >= 20 && u64::from(r.max_attempts) * 20 >= r.attempts,
        "{r:?}"
    );
    assert_eq!(r.attempts - 20, r.refused + r.failed, "{r:?}");
    assert!(
        s(r.server_cpu_s) >= 0.0 && r.server_rss.is_some(),
        "the new server's costs read from /proc: {r:?}"
    );
    let (median, max) = (s(r.dial_to_back_median_s), s(r.dial_to_back_max_s));
    assert!(median <= max && max < s(r.back_s), "{r:?}");
    r
}

#[test]
fn the_binary_restarts_the_server_it_is_given_and_reports_the_restart_as_json() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let argv = server_command(free_port(), dir.path(), true);
    let server = start(&argv, true);
    let (addr, pid) = (server.addr().to_string(), server.pid().to_string());
    let log = dir.path().join("restarted.log");
    let out = Command::new(bin_path("lanchat-load"))
        .args(["--scenario", "restart", "--clients", "20", "--hold", "0.1"])
        .args(["--addr", &addr, "--server-pid", &pid, "--plaintext"])
        .args(["--json", "--quiet", "--timeout", "60", "--restart-log"])
        .arg(&log)
        .arg("--")
        .args(&argv)
        .output()
        .expect("run lanchat-load");
    let run = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{run:?}");
    let num = |k: &str| run.get(k).and_then(Value::num);
    assert_eq!(num("restart_back"), Some(20.0), "{run:?}");
    assert_eq!(num("restart_told_bye"), Some(20.0), "{run:?}");
    assert!(
        num("restart_settled_s").is_some_and(|s| s >= 0.75),
        "{run:?}"
    );
    assert!(
        num("restart_attempts").is_some_and(|a| a >= 20.0),
        "{run:?}"
    );
    // The standard shape's target does not apply to 20 clients.
    assert_eq!(run.get("standard"), Some(&Value::Bool(false)));
}

#[test]
fn the_restart_scenario_needs_the_command_that_starts_the_server_again() {
    let out = load_bin(&["--scenario", "restart", "--server-pid", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("starts the server again (after --)"), "{err}");
}

#[test]
fn a_server_that_is_not_back_by_the_deadline_fails_the_run_saying_how_many_came_back() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let argv = server_command(free_port(), dir.path(), true);
    let server = start(&argv, true);
    // Down for a minute, given 2 s: the run must end at its deadline, not wait for it.
    let restart = Restart {
        command: argv,
        log: None,
        deadline: Duration::from_secs(2),
        down: Duration::from_secs(60),
    };
    let opts = restart_options(&server, restart, true);
    let started = std::time::Instant::now();
    let report = load::run(&opts).expect("the run itself starts");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(!report.passed());
    assert!(
        report
            .outcome
            .starts_with("not back within 2s of the SIGTERM: 0 of 20 back"),
        "{}",
        report.outcome
    );
    let r = report.restart.expect("restart figures");
    assert_eq!((r.told_bye, r.back, r.server_pid), (20, 0, None), "{r:?}");
    assert!(r.refused >= 20, "each first attempt was refused: {r:?}");
}
