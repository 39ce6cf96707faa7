//! The load generator behind `lanchat-load` and `make load`: many clients from one process on one
//! mio poll loop, a check that every message reached every other client once and in order, and
//! a report of what it cost the server.
//!
//! A run has three phases, each bounded by the run's `--timeout`:
//! 1. connect and settle: clients connect in batches (at most `connect_window` handshakes at
//!    once, so the listen backlog is never overrun), give their names (`l<index>`, or 24 wide
//!    letters; as each connects, or all at once once everyone is greeted: [`Joining`]), and
//!    the phase ends when every client has seen every other one (the member list plus
//!    `JOIN`s). A shape with `history` has a first client fill the server's history first. A
//!    shape with rooms ([`RoomPlan`]) then rests (the server at rest is measured), every client
//!    joins its rooms, and the phase ends when every client has seen every member of each;
//! 2. traffic: the first `senders` clients send `messages` messages each (in their room,
//!    `/in #r<n>`, when the shape has rooms), paced at `rate`/s or unpaced within an in-flight
//!    window, and the phase ends when every delivery has arrived (or none has for
//!    [`DRAIN_QUIET`] after the last send);
//!
//! In either phase, a server that owes lines and sends none for [`Options::stall`] fails the
//! run as stalled;
//! 3. hold: a quiet pause that catches late duplicates and measures the server at rest;
//! 4. restart (the `restart` scenario only, with [`Options::restart`]): the server is sent
//!    SIGTERM and started again on the same port and state directory ([`relaunch`]); every
//!    client comes back by the interactive client's own back-off, and the phase ends when all
//!    are back and settled, or at [`Restart::deadline`].
//!
//! Clients speak TLS, as real clients do, unless [`Options::plaintext`] (for a `--plaintext`
//! server).
//!
//! Parts: [`scenario`] (the named shapes and their targets), [`payload`] (what a message
//! carries), [`tracker`] (the exactly-once, in-order check), [`relaunch`] (restarting the
//! server),
//! [`procfs`] (CPU and memory from `/proc`), [`report`] (table, JSON, summary, TLS against
//! plaintext), and the private `driver` (the poll loop), `link` (a client's TCP or TLS
//! stream) and `arrival` (when a read's bytes reached their socket).

mod arrival;
mod driver;
mod link;
pub mod payload;
pub mod procfs;
pub mod relaunch;
pub mod report;
pub mod scenario;
pub mod tracker;

use std::net::SocketAddr;
use std::time::Duration;

pub use relaunch::Restart;
pub use report::{Latency, Report, RestartFigures, ServerFigures};
pub use scenario::{Joining, Names, RoomPlan, Scenario, Shape};

/// After the last send, the traffic phase gives up waiting when nothing new has arrived for
/// this long (what is still missing then is lost).
pub const DRAIN_QUIET: Duration = Duration::from_secs(3);

/// Default for [`Options::stall`].
pub const STALL: Duration = Duration::from_secs(10);

/// File descriptors kept for the generator itself beyond one per client (stdio, epoll, ...).
pub const SPARE_FDS: u64 = 32;

/// What to run, against which server.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The scenario the shape came from (its name goes in the report).
    pub scenario: Scenario,
    /// Clients, senders, messages, size, rate, hold.
    pub shape: Shape,
    /// The server.
    pub addr: SocketAddr,
    /// Unpaced senders: messages a sender may have out that some receiver has not read yet.
    pub window: usize,
    /// Clients connecting or handshaking at once.
    pub connect_window: usize,
    /// The whole run must end within this.
    pub timeout: Duration,
    /// The server's process id, to read its CPU and memory from `/proc`.
    pub server_pid: Option<u32>,
    /// Allow a server that is not on a loopback address.
    pub allow_remote: bool,
    /// Print a progress line on stderr during long phases.
    pub progress: bool,
    /// The run fails as stalled when the server owes lines (joins not yet seen while
    /// connecting; deliveries of messages already sent) and not one has arrived for this
    /// long: waiting out the whole `timeout` would only delay saying so.
    pub stall: Duration,
    /// Speak the line protocol in the clear (a `--plaintext` server) instead of TLS.
    pub plaintext: bool,
    /// The `restart` scenario: how to start the server again once [`Options::server_pid`]
    /// has been stopped.
    pub restart: Option<Restart>,
}

impl Options {
    /// Default in-flight window per unpaced sender, in messages.
    pub const DEFAULT_WINDOW: usize = 32;
    /// Default handshakes in flight: well inside the server's listen backlog of 4096.
    pub const DEFAULT_CONNECT_WINDOW: usize = 1000;
    /// Default bound on a whole run.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

    /// `scenario`'s standard shape against `addr`, with default windows and timeout.
    pub fn new(scenario: Scenario, addr: SocketAddr) -> Options {
        Options {
            scenario,
            shape: scenario.shape(),
            addr,
            window: Self::DEFAULT_WINDOW,
            connect_window: Self::DEFAULT_CONNECT_WINDOW,
            timeout: Self::DEFAULT_TIMEOUT,
            server_pid: None,
            allow_remote: false,
            progress: false,
            stall: STALL,
            plaintext: false,
            restart: None,
        }
    }

    /// True when the shape is the scenario's own, so its targets apply.
    pub fn is_standard(&self) -> bool {
        let (mine, std) = (self.shape, self.scenario.shape());
        let key = |s: Shape| {
            (
                (s.clients, s.senders, s.messages, s.size),
                (s.rate, s.joining, s.names, s.history),
                (s.rooms, s.rooms_each),
            )
        };
        key(mine) == key(std)
    }

    /// Deliveries a complete run makes: every message to every client but its sender (in its
    /// room, when the shape has rooms).
    pub fn expected_deliveries(&self) -> u64 {
        let s = self.shape;
        match RoomPlan::of(&s) {
            None => s.senders as u64 * s.messages * (s.clients as u64).saturating_sub(1),
            Some(plan) => {
                let sizes = plan.sizes();
                (0..s.senders)
                    .map(|sender| u64::from(sizes[plan.room_of_sender(sender)]).saturating_sub(1))
                    .sum::<u64>()
                    * s.messages
            }
        }
    }

    fn check(&self) -> Result<(), LoadError> {
        let s = self.shape;
        let bad = |why: String| Err(LoadError::BadOptions(why));
        if !self.allow_remote && !self.addr.ip().is_loopback() {
            return Err(LoadError::NotLoopback(self.addr));
        }
        if s.clients == 0 {
            return bad("--clients must be at least 1".into());
        }
        if s.senders > s.clients {
            return bad(format!(
                "--senders ({}) cannot exceed --clients ({})",
                s.senders, s.clients
            ));
        }
        if s.senders > 0 && s.clients < 2 {
            return bad("senders need at least 2 clients (nobody else would receive)".into());
        }
        if s.senders > payload::MAX_SENDERS || s.messages >= payload::MAX_SEQ {
            return bad(format!(
                "at most {} senders and {} messages per sender",
                payload::MAX_SENDERS,
                payload::MAX_SEQ - 1
            ));
        }
        // The tracker keeps 4 bytes per (receiver, sender) pair.
        if s.clients as u64 * s.senders as u64 > 50_000_000 {
            return bad("clients x senders over 50 million is more than this tool tracks".into());
        }
        if (s.senders > 0 || s.history > 0) && s.size < payload::HEADER_LEN {
            return bad(format!(
                "--size must be at least {} bytes",
                payload::HEADER_LEN
            ));
        }
        // No server takes a line over 1 MiB (and by default none over 2048 bytes).
        if s.size > lanchat_proto::MAX_MAX_LINE {
            return bad("--size must be at most 1 MiB".into());
        }
        if !(s.rate >= 0.0 && s.rate.is_finite()) {
            return bad("--rate must be 0 (unpaced) or a positive number".into());
        }
        if s.rooms > 0 && (s.rooms_each == 0 || s.rooms_each > s.rooms) {
            return bad(format!(
                "--rooms-each must be between 1 and --rooms ({})",
                s.rooms
            ));
        }
        if s.rooms_each > 0 && s.rooms == 0 {
            return bad("--rooms-each needs --rooms".into());
        }
        match (&self.restart, self.scenario == Scenario::Restart) {
            (None, true) => {
                return bad(
                    "the restart scenario needs the command that starts the server \
                            again (after --)"
                        .into(),
                )
            }
            (Some(_), false) => {
                return bad("a command to restart the server is for the restart scenario".into())
            }
            (Some(r), true) if r.command.is_empty() => {
                return bad("the command that starts the server again is empty".into())
            }
            (Some(_), true) if self.server_pid.is_none() => {
                return bad("the restart scenario needs --server-pid (the server to stop)".into())
            }
            (Some(_), true) if self.server_pid == Some(std::process::id()) => {
                return bad("the server to restart must be a process of its own".into())
            }
            // The clients come back to #general only (the client's rooms are its own affair).
            (Some(_), true) if s.rooms > 0 => {
                return bad("the restart scenario has no rooms (--rooms)".into())
            }
            _ => {}
        }
        if self.window == 0 || self.connect_window == 0 {
            return bad("--window and --connect-window must be at least 1".into());
        }
        Ok(())
    }
}

/// Why a run could not be made at all (a run that was made but failed is a [`Report`] that did
/// not pass).
#[derive(Debug)]
pub enum LoadError {
    /// The server is not on a loopback address and `allow_remote` was not given.
    NotLoopback(SocketAddr),
    /// The options contradict each other or the protocol.
    BadOptions(String),
    /// The clients do not fit in this process's file-descriptor limit.
    FdLimit {
        /// Clients asked for.
        clients: usize,
        /// Descriptors that needs.
        needed: u64,
        /// The hard limit (the soft limit was raised to it).
        hard: u64,
    },
    /// Setting up the poll loop failed.
    Setup(&'static str, std::io::Error),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::NotLoopback(addr) => write!(
                f,
                "{addr} is not a loopback address; load tests stay on this machine unless \
                 --allow-remote is given"
            ),
            LoadError::BadOptions(why) => f.write_str(why),
            LoadError::FdLimit {
                clients,
                needed,
                hard,
            } => write!(
                f,
                "{clients} clients need {needed} file descriptors but this process may open at \
                 most {hard} (the hard limit); use fewer clients or raise it (ulimit -Hn, \
                 /etc/security/limits.conf, or prlimit)"
            ),
            LoadError::Setup(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Setup(_, e) => Some(e),
            _ => None,
        }
    }
}

/// Run the load described by `opts` and report what happened.
///
/// # Errors
/// The options are invalid, the clients cannot fit the fd limit, or the poll cannot be set up.
/// Everything that goes wrong once clients connect is in the report instead.
pub fn run(opts: &Options) -> Result<Report, LoadError> {
    opts.check()?;
    let (soft, hard) = lanchat_server::sockets::raise_fd_limit()
        .map_err(|e| LoadError::Setup("reading the fd limit", e))?;
    let needed = opts.shape.clients as u64 + SPARE_FDS;
    if needed > soft {
        return Err(LoadError::FdLimit {
            clients: opts.shape.clients,
            needed,
            hard,
        });
    }
    driver::run(opts)
}
