//! The load generator in `make test`: the `small` scenario (50 clients, 10 senders x 100
//! messages) must deliver every message to every other client exactly once and in order, and
//! `lanchat-load` must fail a run that loses messages, cannot connect or stalls (without
//! waiting out its whole timeout), and refuse a non-loopback target. Speed is not asserted here; `make load` measures it.

use std::process::{Command, Output};
use std::time::Duration;

use integration_tests::load::report::{parse_json_line, Value, Wire};
use integration_tests::load::{self, Options, Scenario};
use integration_tests::{bin_path, ServerProcess, TestServer};

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
