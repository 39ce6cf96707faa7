//! `lanchat-load`: the load generator. Flags, then [`integration_tests::load::run`], then the
//! report; or `--summarize` to turn saved JSON lines into `make load`'s summary table.
//!
//! Exit codes: 0 the run passed (nothing lost, duplicated or reordered), 1 it did not,
//! 2 bad flags or the run could not be set up.

use std::ffi::OsString;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use integration_tests::load::{self, report, Options, Restart, Scenario};

/// Load-test a lanchat server: N clients on one poll loop, K of them sending, every delivery
/// checked for loss, duplication and order.
#[derive(Debug, Parser)]
#[command(name = "lanchat-load", version, about, long_about = None)]
struct Args {
    /// Scenario: idle, fanout, room, chatter, storm, rooms, memberships, restart or small;
    /// the flags below override its shape.
    #[arg(long, default_value = "small", value_parser = parse_scenario)]
    scenario: Scenario,

    /// Server address (loopback unless --allow-remote).
    #[arg(long, default_value = "127.0.0.1:7070")]
    addr: SocketAddr,

    /// Clients to connect.
    #[arg(long, short = 'n')]
    clients: Option<usize>,

    /// Senders among them.
    #[arg(long, short = 'k')]
    senders: Option<usize>,

    /// Messages per sender.
    #[arg(long, short = 'm')]
    messages: Option<u64>,

    /// Payload bytes per message (at least 32).
    #[arg(long, short = 's')]
    size: Option<usize>,

    /// Messages per second per sender; 0 = as fast as the in-flight window allows.
    #[arg(long, short = 'r')]
    rate: Option<f64>,

    /// Rooms besides #general (#r0, #r1, ...); the first clients send one per room.
    #[arg(long)]
    rooms: Option<usize>,

    /// Rooms each client joins once everyone is in #general.
    #[arg(long)]
    rooms_each: Option<usize>,

    /// Print the server flags the scenario needs (e.g. more rooms than the defaults allow)
    /// and exit.
    #[arg(long)]
    print_server_args: bool,

    /// Seconds of paced traffic: sets --messages to rate x duration.
    #[arg(long)]
    duration: Option<f64>,

    /// Unpaced senders: messages in flight per sender (sent, not yet read by every receiver).
    #[arg(long, default_value_t = Options::DEFAULT_WINDOW)]
    window: usize,

    /// Clients connecting or handshaking at once (keeps the server's listen backlog clear).
    #[arg(long, default_value_t = Options::DEFAULT_CONNECT_WINDOW)]
    connect_window: usize,

    /// Seconds of quiet after the traffic (late duplicates, idle CPU, memory after a burst).
    #[arg(long)]
    hold: Option<f64>,

    /// Seconds the whole run may take (1 to 86400).
    #[arg(long, default_value_t = Options::DEFAULT_TIMEOUT.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,

    /// Fail as stalled after this many seconds without a line the server owes (1 to 3600).
    #[arg(long, default_value_t = load::STALL.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    stall: u64,

    /// Speak the line protocol in the clear, to a --plaintext server (default: TLS, as
    /// lanchat clients do, accepting whatever key the server presents).
    #[arg(long)]
    plaintext: bool,

    /// The server's process id: report its CPU time and memory from /proc.
    #[arg(long)]
    server_pid: Option<u32>,

    /// Allow a server address that is not loopback.
    #[arg(long)]
    allow_remote: bool,

    /// Print one JSON line instead of the table.
    #[arg(long)]
    json: bool,

    /// Also append the JSON line to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,

    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,

    /// Print the summary table of these JSON-lines files (from --json-out) and exit.
    #[arg(long, num_args = 1.., value_name = "FILE")]
    summarize: Vec<PathBuf>,

    /// restart: seconds every client has to be back and settled after the SIGTERM (1 to
    /// 3600).
    #[arg(long, default_value_t = Restart::DEFAULT_DEADLINE.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3_600))]
    restart_deadline: u64,

    /// restart: seconds the server stays down between the old one's exit and the new one's
    /// start (a slow start, a reboot; 0: at once, as a service manager restarts it).
    #[arg(long, default_value_t = 0.0)]
    restart_down: f64,

    /// restart: append the restarted server's log (its stderr) to this file.
    #[arg(long, value_name = "FILE")]
    restart_log: Option<PathBuf>,

    /// restart: the command that starts the server again, after `--`: the same flags, state
    /// directory and port (not 0) as the running one, whose --server-pid gets SIGTERM.
    #[arg(last = true, value_name = "SERVER_COMMAND")]
    restart_command: Vec<OsString>,
}

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    Scenario::from_name(s).ok_or_else(|| {
        let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
        format!("unknown scenario {s:?}; one of {}", names.join(", "))
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.print_server_args {
        println!("{}", args.scenario.server_args().join(" "));
        return ExitCode::SUCCESS;
    }
    let result = if args.summarize.is_empty() {
        run(&args)
    } else {
        summarize(&args.summarize)
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("lanchat-load: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn options(args: &Args) -> anyhow::Result<Options> {
    let mut opts = Options::new(args.scenario, args.addr);
    let shape = &mut opts.shape;
    if let Some(n) = args.clients {
        shape.clients = n;
    }
    if let Some(k) = args.senders {
        shape.senders = k;
    }
    if let Some(m) = args.messages {
        shape.messages = m;
    }
    if let Some(s) = args.size {
        shape.size = s;
    }
    if let Some(r) = args.rate {
        shape.rate = r;
    }
    if let Some(r) = args.rooms {
        shape.rooms = r;
    }
    if let Some(e) = args.rooms_each {
        shape.rooms_each = e;
    }
    if let Some(d) = args.duration {
        if shape.rate <= 0.0 || d.is_nan() || d <= 0.0 {
            bail!("--duration needs a positive --rate (and a positive duration)");
        }
        shape.messages = (shape.rate * d).round() as u64;
    }
    if let Some(h) = args.hold {
        shape.hold = Duration::try_from_secs_f64(h).context("--hold")?;
    }
    opts.window = args.window;
    opts.connect_window = args.connect_window;
    opts.timeout = Duration::from_secs(args.timeout);
    opts.stall = Duration::from_secs(args.stall);
    opts.server_pid = args.server_pid;
    opts.allow_remote = args.allow_remote;
    opts.progress = !args.quiet;
    opts.plaintext = args.plaintext;
    if !args.restart_command.is_empty() {
        opts.restart = Some(Restart {
            command: args.restart_command.clone(),
            log: args.restart_log.clone(),
            deadline: Duration::from_secs(args.restart_deadline),
            down: Duration::try_from_secs_f64(args.restart_down).context("--restart-down")?,
        });
    }
    Ok(opts)
}

/// One run; `Ok(passed)`.
fn run(args: &Args) -> anyhow::Result<bool> {
    let opts = options(args)?;
    let report = load::run(&opts)?;
    let json = report.to_json();
    if let Some(path) = &args.json_out {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        writeln!(file, "{json}").with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", report.to_table());
    }
    Ok(report.passed())
}

/// The summary table of saved runs; `Ok(every run passed)`.
fn summarize(paths: &[PathBuf]) -> anyhow::Result<bool> {
    let mut lines = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        lines.extend(text.lines().map(str::to_owned));
    }
    let summary = report::summary(&lines).map_err(anyhow::Error::msg)?;
    print!("{}", summary.table);
    Ok(summary.all_passed)
}
