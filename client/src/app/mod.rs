//! The binary's front ends and what they share: the flags, discovery as the user sees it, the
//! sink that prints to stdout, and the quit.
//!
//! Everything here is wiring; every decision is in `lanchat_client` ([`Session`] above all).

pub mod interactive;
pub mod scripted;

use std::io::{self, Write};
use std::net::{IpAddr, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::Parser;

use lanchat_client::conn::plain_io;
use lanchat_client::discovery::{self, Found};
use lanchat_client::outbox::Outbox;
use lanchat_client::reader::Sink;
use lanchat_client::session::{EndSlot, Outcome, Session};
use lanchat_client::signals;
use lanchat_proto::{validate_name, DEFAULT_PORT};

/// Chat on your LAN: connect to a lanchat server and talk.
#[derive(Debug, Parser)]
#[command(name = "lanchat", version, after_help = AFTER_HELP)]
pub struct Args {
    /// Server address: host, host:port, ip, ip:port or [v6]:port (port 7070 unless given).
    /// Asked for when missing.
    #[arg(value_name = "ADDR")]
    pub addr: Option<String>,

    /// Your name (asked for when missing; without a terminal, the first line of stdin).
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub name: Option<String>,

    /// Look for servers on the local network first (UDP broadcast), then pick one.
    #[arg(long, conflicts_with = "addr")]
    pub discover: bool,

    /// UDP port to send discovery probes to.
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_PORT)]
    pub discover_port: u16,

    /// Send discovery probes to this address instead of broadcasting (repeatable), e.g. a
    /// server on another subnet.
    #[arg(long, value_name = "IP", value_parser = parse_ipv4)]
    pub discover_to: Vec<IpAddr>,

    /// Do not ring the terminal bell when someone mentions you or writes to you privately.
    #[arg(long)]
    pub no_bell: bool,

    /// Do not show [HH:MM] timestamps.
    #[arg(long)]
    pub no_timestamps: bool,
}

const AFTER_HELP: &str = "\
In the chat: <quit>, /quit or Ctrl-D leaves; Ctrl-C clears the line (on an empty line, leaves);
Tab completes names; /help lists the server's commands. At the address prompt, ? looks for
servers on the local network. NO_COLOR (or TERM=dumb) turns colours off.";

/// `--name`: checked by the protocol's own rules before anything is sent, so a name the server
/// would refuse (or a blank one, which it would not even answer) is a clear flag error.
fn parse_name(s: &str) -> Result<String, String> {
    let name = s.trim();
    validate_name(name).map_err(|e| e.to_string())?;
    Ok(name.to_owned())
}

/// `--discover-to`: discovery probes go out on an IPv4 UDP socket (LAN broadcast is IPv4).
fn parse_ipv4(s: &str) -> Result<IpAddr, String> {
    match s.parse::<IpAddr>() {
        Ok(ip @ IpAddr::V4(_)) => Ok(ip),
        Ok(IpAddr::V6(_)) => Err("discovery is IPv4 only; give an IPv4 address".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Look for servers, telling the user what happens through `say`.
fn run_discovery(args: &Args, say: &mut dyn FnMut(&str)) -> Vec<Found> {
    say(&format!(
        "Looking for lanchat servers on the local network (UDP port {}) ...",
        args.discover_port
    ));
    let targets = if args.discover_to.is_empty() {
        discovery::broadcast_targets()
    } else {
        args.discover_to.clone()
    };
    match discovery::discover(&targets, args.discover_port, discovery::DEFAULT_WAIT) {
        Ok(found) if found.is_empty() => {
            say("No lanchat server answered.");
            found
        }
        Ok(found) => {
            for line in discovery::format_found(&found) {
                say(&line);
            }
            found
        }
        Err(e) => {
            say(&format!("Cannot look for servers: {}", plain_io(&e)));
            Vec::new()
        }
    }
}

/// The session, shared by the reader thread, the main thread and Tab completion.
pub type Shared = Arc<Mutex<Session>>;

fn lock(session: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    session.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Prints rendered lines straight to stdout, one flush per line so a reader sees them at once,
/// and ends the process itself when the session ends: scripted mode, and terminals rustyline
/// cannot drive (e.g. `TERM=dumb`). In both the main thread may sit in a read that nothing
/// interrupts (stdin, or a cooked-mode line).
pub struct StdoutSink;

impl Sink for StdoutSink {
    fn print(&mut self, line: String) {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn end(&mut self, outcome: Outcome) {
        leave(&outcome);
    }
}

/// End the process now with `outcome` (from any thread).
fn leave(outcome: &Outcome) -> ! {
    let _ = io::stdout().flush();
    if let Some(why) = outcome.farewell() {
        eprintln!("lanchat: {why}");
    }
    signals::exit_now(outcome.exit_code())
}

/// Send the quit and wait (bounded) for the session to see its answer. Without that answer
/// the lines sent last may never have arrived, so the run ends as "server gone" (exit 3), not
/// as a clean quit.
fn quit(outbox: &mut Outbox<TcpStream>, session: &Mutex<Session>, ended: &EndSlot) -> Outcome {
    let bytes = lock(session).on_quit(Instant::now());
    ended.ack();
    if let Some(bytes) = bytes {
        let deadline = lock(session).quit_deadline();
        if let (Ok(()), Some(deadline)) = (outbox.send_now(&bytes), deadline) {
            ended.wait_until(deadline);
        }
    }
    lock(session).on_quit_timeout()
}

/// After a failed send: the reader thread will see the end soon; take its words.
fn gone_after_failed_send(session: &Mutex<Session>, ended: &EndSlot) -> Outcome {
    ended.ack();
    ended.wait_until(Instant::now() + Duration::from_secs(1));
    lock(session)
        .outcome()
        .cloned()
        .unwrap_or_else(|| Outcome::ServerGone("lost the connection to the server".into()))
}
