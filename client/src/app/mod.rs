//! The binary's front ends and what they share: the flags, discovery as the user sees it, the
//! reader thread's sink, the sender's callbacks, and the quit.
//!
//! Everything here is wiring; every decision is in `lanchat_client` ([`Session`] above all).

pub mod interactive;
pub mod scripted;

use std::io::{self, Write};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::Parser;

use lanchat_client::clock::now_ms;
use lanchat_client::conn::plain_io;
use lanchat_client::discovery::{self, Found};
use lanchat_client::outbox::{Outbox, Progress, Sending};
use lanchat_client::reader::Sink;
use lanchat_client::screen::{Screen, Terminal};
use lanchat_client::session::{Action, EndSlot, Outcome, Session};
use lanchat_client::signals::{self, InterruptFlag};
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

    /// Show dates of lines not from today as 2025-12-01 rather than Dec 01.
    #[arg(long)]
    pub iso_time: bool,
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

/// The session, shared by the reader thread, the main thread, the sender and Tab completion.
pub type Shared = Arc<Mutex<Session>>;

fn lock(session: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    session.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lines straight to stdout, one flush per line so a reader sees them at once (scripted mode).
pub struct StdoutTerm;

impl Terminal for StdoutTerm {
    fn show(&mut self, line: &str) {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Once set, stays set; waiters wake.
#[derive(Debug, Default)]
pub struct Latch {
    set: Mutex<bool>,
    cond: Condvar,
}

impl Latch {
    /// Set it.
    pub fn set(&self) {
        *self.set.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cond.notify_all();
    }

    /// Wait until it is set or `deadline` passes.
    pub fn wait_until(&self, deadline: Instant) {
        let mut g = self.set.lock().unwrap_or_else(PoisonError::into_inner);
        while !*g {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            g = self
                .cond
                .wait_timeout(g, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// How long the first prompt waits for the join's burst (welcome, history, who is here) to be
/// shown, so that it comes below it.
const BURST_WAIT: Duration = Duration::from_secs(2);

/// What the reader thread's end means for a front end.
pub enum OnEnd {
    /// Print the last line and end the process at once: the main thread may sit in a read
    /// that nothing interrupts (stdin, or a cooked-mode line).
    Exit,
    /// Leave the outcome and wake the main thread out of `readline`, so rustyline restores
    /// the terminal before the process ends.
    Wake(Arc<EndSlot>),
}

/// The reader thread's sink: lines to the screen, the end as the front end needs it, and the
/// events the main thread waits for.
pub struct ScreenSink {
    /// Where lines go.
    pub screen: Arc<Screen>,
    /// What the end means.
    pub on_end: OnEnd,
    /// Set when the join's burst is shown.
    pub listed: Arc<Latch>,
    /// Set (and the main thread woken) when the prompt must be drawn again.
    pub restart: Option<Arc<AtomicBool>>,
}

/// How often the reader thread repeats its wake-up signal until the main thread has seen it
/// (a signal that lands between two `readline` calls only sets the interrupt flag).
const WAKE_EVERY: Duration = Duration::from_millis(100);

impl Sink for ScreenSink {
    fn print(&mut self, line: String) {
        self.screen.print(line);
    }

    fn end(&mut self, outcome: Outcome) {
        match &self.on_end {
            OnEnd::Exit => {
                self.screen.flush(Instant::now() + FLUSH_WAIT);
                leave(&outcome)
            }
            OnEnd::Wake(ended) => {
                ended.set(outcome);
                while !ended.is_acked() {
                    let _ = signals::wake_main();
                    std::thread::sleep(WAKE_EVERY);
                }
            }
        }
    }

    fn event(&mut self, action: Action) {
        match action {
            Action::Listed => self.listed.set(),
            Action::PromptChanged => {
                if let Some(restart) = &self.restart {
                    // Nothing prints until the main thread has drawn the prompt again.
                    self.screen.hold();
                    restart.store(true, Ordering::SeqCst);
                    let _ = signals::wake_main();
                }
            }
            _ => {}
        }
    }
}

/// How long the end waits for lines still on their way to the terminal.
pub const FLUSH_WAIT: Duration = Duration::from_secs(1);

/// End the process now with `outcome` (from any thread).
fn leave(outcome: &Outcome) -> ! {
    let _ = io::stdout().flush();
    if let Some(why) = outcome.farewell() {
        eprintln!("lanchat: {why}");
    }
    signals::exit_now(outcome.exit_code())
}

/// What the sender thread asks of the session: the echo of a sent line (when `screen` is
/// given), and the quit's bytes when it is the quit's turn.
pub struct SessionSending {
    /// The session.
    pub session: Shared,
    /// Where echoes go; `None`: no echo (scripts, and terminals that echo typed lines
    /// themselves).
    pub echo: Option<Arc<Screen>>,
}

impl Sending for SessionSending {
    fn sent(&mut self, line: &str) {
        if let Some(screen) = &self.echo {
            let actions = lock(&self.session).on_sent(line, now_ms());
            for action in actions {
                if let Action::Print(l) = action {
                    screen.print(l);
                }
            }
        }
    }

    fn quit(&mut self) -> Option<Vec<u8>> {
        lock(&self.session).on_quit(Instant::now())
    }
}

/// How often a quit waiting for the lines before it looks for a Ctrl-C.
const QUIT_POLL: Duration = Duration::from_millis(100);

/// Send the quit after what is still queued, and wait (bounded) for the session to see its
/// answer. Without that answer the lines sent last may never have arrived, so the run ends as
/// "server gone" (exit 3), not as a clean quit. While queued lines go out first, a Ctrl-C
/// (`interrupted`) drops them.
fn quit(
    outbox: &Outbox,
    session: &Mutex<Session>,
    ended: &EndSlot,
    screen: &Screen,
    interrupted: Option<&InterruptFlag>,
) -> Outcome {
    ended.ack();
    let pending = outbox.pending();
    if pending > 0 && interrupted.is_some() {
        screen.print(format!(
            "* sending the {pending} lines not sent yet before leaving (Ctrl-C drops them)"
        ));
    }
    outbox.quit();
    loop {
        match outbox.wait_done(Instant::now() + QUIT_POLL) {
            Progress::Done => break,
            Progress::Failed => return gone_after_failed_send(session, ended),
            Progress::Busy => {
                if interrupted.is_some_and(InterruptFlag::take) {
                    not_sent(screen, outbox.cancel());
                }
            }
        }
    }
    let deadline = lock(session).quit_deadline();
    if let Some(deadline) = deadline {
        ended.wait_until(deadline);
    }
    lock(session).on_quit_timeout()
}

/// Say that `n` queued lines were dropped.
fn not_sent(screen: &Screen, n: usize) {
    if n > 0 {
        let s = if n == 1 { "" } else { "s" };
        screen.print(format!("* stopped: {n} line{s} not sent"));
    }
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
