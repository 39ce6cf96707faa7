//! The poll loop of a load run: every client on one `mio::Poll`, driven through connect and
//! settle, traffic and hold, with every received line checked as it streams in.
//!
//! Reading is built for volume (the `idle` scenario makes the server send ~50 million `JOIN`
//! lines, `fanout` ~10 million messages): one large read buffer shared by all clients, lines
//! found with `memchr` and handled in place, no allocation per line, and the clock read once
//! per `read` rather than per line (every line of one read arrived together). A delivery's
//! latency runs to when its bytes reached that client's socket (the kernel's receive stamp on
//! each `recvmsg`) plus that client's own read, not to when this one thread came round to it
//! ([`ReadTimes`]).
//!
//! The `restart` scenario's last phase, the server restarted under the clients, is in
//! [`reconnect`].

mod reconnect;

use std::io::IsTerminal as _;
use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use lanchat_client::backoff::Backoff;
use lanchat_proto::LineDecoder;
use memchr::memchr;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rustls::ClientConfig;

use super::arrival;
use super::link::{self, Link};
use super::payload::{self, Stamp};
use super::procfs::{self, ProcSample};
use super::relaunch::Relaunched;
use super::scenario::{client_name, room_name, Joining, RoomPlan};
use super::tracker::{Tracker, Verdict};
use super::{LoadError, Options, Report, DRAIN_QUIET};
use crate::load::report::{Latency, ServerFigures, Wire};

/// The read buffer every client's reads land in.
const READ_BUF: usize = 256 * 1024;

/// Bytes read from one client per turn before the others get theirs (the rest next turn).
const READ_BUDGET: usize = 1 << 20;

/// Longest server line accepted: the server's `--max-line` can be up to 1 MiB, plus what a
/// server line may add to a client's text.
const LINE_LIMIT: usize = lanchat_proto::MAX_MAX_LINE + lanchat_proto::SERVER_LINE_OVERHEAD;

/// Poll timeout when nothing is due sooner: how often deadlines and progress are looked at.
const TICK: Duration = Duration::from_millis(100);

/// Readiness events handled per `poll`.
const EVENTS: usize = 4096;

/// A paced sender that fell behind catches up by at most this many messages per turn.
const CATCH_UP_PER_TURN: u64 = 8192;

/// Latency histogram range, in microseconds: 1 us to 1 hour, 3 significant digits.
const LATENCY_MAX_US: u64 = 3_600_000_000;

/// Where a client is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not connected yet.
    Waiting,
    /// `connect` started; waiting for it to complete.
    Connecting,
    /// Connected, holding its name back until everyone is greeted; waiting for `HELLO`.
    Greeting,
    /// Greeted; the name goes when everyone is.
    Ready,
    /// Name sent; waiting for `WHOEND`.
    Handshake,
    /// In the room.
    Named,
    /// In the room, with a `/who` sent; its `WHOEND` ends the wait.
    Syncing,
    /// Gone (refused, dropped, or failed).
    Closed,
    /// Lost the server it was in (the `restart` scenario): waits for its back-off, then
    /// connects again.
    Lost,
}

struct Client {
    stream: Option<Link>,
    state: State,
    /// Framing of the server's lines (the protocol's own decoder), holding a line cut off at
    /// the end of the last read.
    decoder: LineDecoder,
    /// Members this client knows of: its `WHOEND` count plus the `JOIN`s since.
    known: u64,
    /// The same for each of its rooms, in [`RoomPlan::rooms_of`] order (empty without rooms).
    room_known: Vec<u32>,
    /// Bytes to send; `out[out_pos..]` is not written yet.
    out: Vec<u8>,
    out_pos: usize,
    /// Attempts to come back since the server went away (the client's own policy).
    backoff: Backoff,
    /// When its last attempt to come back began.
    dialed_ns: u64,
}

/// Everything a received line can change.
struct Rx {
    clients: u64,
    size: usize,
    tracker: Tracker,
    /// Delivery latency in microseconds: sent until received by its client ([`ReadTimes`]).
    hist: Histogram<u64>,
    /// Sent until in the receiving client's socket, in microseconds.
    in_socket: Histogram<u64>,
    /// Sent until the generator's thread had read it, in microseconds.
    by_generator: Histogram<u64>,
    /// The read being handled: when its bytes reached the socket, and what reading it took.
    read_times: Option<ReadTimes>,
    named: usize,
    settled: usize,
    /// Clients greeted while holding their names back.
    greeted: usize,
    /// `/who` answers received.
    synced: usize,
    problems: u64,
    first_problem: Option<String>,
    lines: u64,
    bytes: u64,
    /// Who is in which room, when the shape has rooms.
    plan: Option<RoomPlan>,
    /// Members of each room.
    room_sizes: Vec<u32>,
    /// (client, room) pairs whose member list is complete.
    rooms_settled: u64,
    /// The server is being restarted: its `BYE` is expected, and `named` and `settled` count
    /// the clients back.
    restarting: bool,
    /// Clients told `BYE server shutting down`.
    told_bye: usize,
    /// When each client was back (named again), and which, in the order they came.
    back: Vec<(u64, usize)>,
    /// When the last client to settle did.
    last_settle_ns: u64,
}

/// The room a `#r<n>` field names.
fn room_index(field: &[u8]) -> Option<usize> {
    let digits = field.strip_prefix(b"#r")?;
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0usize, |n, d| n * 10 + usize::from(d - b'0')),
    )
}

impl Rx {
    fn note(&mut self, what: impl FnOnce() -> String) {
        if self.first_problem.is_none() {
            self.first_problem = Some(what());
        }
    }

    fn problem(&mut self, what: impl FnOnce() -> String) {
        self.problems += 1;
        self.note(what);
    }

    /// One line from the server to client `me`.
    fn line(&mut self, me: usize, c: &mut Counts<'_>, line: &[u8], now_ns: u64) {
        let (known, state) = (&mut *c.known, &mut *c.state);
        self.lines += 1;
        if *state == State::Lost {
            return; // after its BYE: the connection is closed at the end of this read
        }
        match line.first() {
            Some(b'M') if line.starts_with(b"MSG #") => self.room_message(me, &line[4..], now_ns),
            Some(b'M') if line.starts_with(b"MSG ") => self.message(me, &line[4..], now_ns),
            Some(b'J') if line.starts_with(b"JOIN #") => {
                self.room_members(me, c.rooms, &line[5..], 1)
            }
            Some(b'W') if line.starts_with(b"WHOEND #") => {
                let rest = &line[7..];
                let count = memchr(b' ', rest).and_then(|sp| {
                    std::str::from_utf8(&rest[sp + 1..])
                        .ok()?
                        .parse::<u32>()
                        .ok()
                });
                match count {
                    Some(count) => self.room_members(me, c.rooms, rest, count),
                    None => self.problem(|| format!("l{me} got an unexpected {}", show(line))),
                }
            }
            Some(b'R') if line.starts_with(b"ROOM #") => {}
            Some(b'J') if line.starts_with(b"JOIN ") => {
                *known += 1;
                if *known == self.clients {
                    self.settled += 1;
                    self.last_settle_ns = now_ns;
                } else if *known > self.clients {
                    self.problem(|| format!("l{me} saw more members than clients: {}", show(line)));
                }
            }
            Some(b'W') if line.starts_with(b"WHOEND ") => {
                let count = std::str::from_utf8(&line[7..])
                    .ok()
                    .and_then(|n| n.parse::<u64>().ok());
                match (count, *state) {
                    (Some(count), State::Handshake) => {
                        *state = State::Named;
                        self.named += 1;
                        if self.restarting {
                            self.back.push((now_ns, me));
                        }
                        *known += count;
                        if *known == self.clients {
                            self.settled += 1;
                            self.last_settle_ns = now_ns;
                        }
                    }
                    (Some(_), State::Syncing) => {
                        *state = State::Named;
                        self.synced += 1;
                    }
                    _ => self.problem(|| format!("l{me} got an unexpected {}", show(line))),
                }
            }
            Some(b'H') if line.starts_with(b"HELLO ") => {
                if *state == State::Greeting {
                    *state = State::Ready;
                    self.greeted += 1;
                }
            }
            // WHO, WELCOME, HELLO, HIST: nothing to check.
            Some(b'W' | b'H') => {}
            Some(b'B') if self.restarting && is_shutdown_bye(line) => {
                self.told_bye += 1;
                *state = State::Lost;
            }
            // ERR, LEAVE, BYE and anything else: not in a good run.
            _ => self.problem(|| format!("l{me} got {}", show(line))),
        }
    }

    /// `n` more members of the room whose `#r<n>` field starts `rest` known to client `me`.
    fn room_members(&mut self, me: usize, known: &mut [u32], rest: &[u8], n: u32) {
        let field = &rest[..memchr(b' ', rest).unwrap_or(rest.len())];
        let slot = room_index(field).and_then(|room| {
            let k = self.plan?.index_in(me, room)?;
            Some((room, k))
        });
        let Some((room, k)) = slot.filter(|&(_, k)| k < known.len()) else {
            return self
                .problem(|| format!("l{me} was told of a room not its own: {}", show(rest)));
        };
        known[k] += n;
        let size = self.room_sizes.get(room).copied().unwrap_or(0);
        if known[k] == size {
            self.rooms_settled += 1;
        } else if known[k] > size {
            self.problem(|| format!("l{me} saw more members of {} than it has", room_name(room)));
        }
    }

    /// `#r<n> <name> <payload>` of a room's `MSG` line to client `me`: a message, which must be
    /// in the room its sender sends in.
    fn room_message(&mut self, me: usize, rest: &[u8], now_ns: u64) {
        let Some(sp) = memchr(b' ', rest) else {
            return self.problem(|| format!("l{me} got MSG {}", show(rest)));
        };
        let (room, body) = (room_index(&rest[..sp]), &rest[sp + 1..]);
        let from = memchr(b' ', body).and_then(|sp| payload::parse(&body[sp + 1..]));
        if let (Some(plan), Some(room), Some(stamp)) = (self.plan, room, from) {
            if plan.room_of_sender(stamp.sender) != room {
                self.note(|| format!("l{me} got a message in the wrong room: MSG {}", show(rest)));
                self.tracker.unexpected += 1;
                return;
            }
        }
        self.message(me, body, now_ns);
    }

    /// `<name> <payload>` of a `MSG` line to client `me`.
    fn message(&mut self, me: usize, rest: &[u8], now_ns: u64) {
        let parsed = memchr(b' ', rest).and_then(|sp| {
            let (name, text) = (&rest[..sp], &rest[sp + 1..]);
            if text.len() != self.size {
                return None; // cheap, before parsing the stamp
            }
            let stamp = payload::parse(text)?;
            is_name_of(name, stamp.sender).then_some(stamp)
        });
        let Some(Stamp {
            sender,
            seq,
            sent_ns,
        }) = parsed
        else {
            self.tracker.unexpected += 1;
            self.note(|| format!("l{me} got a message that is not ours: MSG {}", show(rest)));
            return;
        };
        match self.tracker.record(me, sender, seq) {
            Verdict::InOrder => {}
            Verdict::Reordered => {
                self.note(|| format!("l{me} got l{sender}'s #{seq} out of order"))
            }
            Verdict::Duplicate => self.note(|| format!("l{me} got l{sender}'s #{seq} again")),
            Verdict::Unexpected => {
                self.note(|| format!("l{me} got l{sender}'s #{seq}, which it should not"));
                return;
            }
        }
        let us = |ns: u64| (ns / 1000).clamp(1, LATENCY_MAX_US);
        let read = now_ns.saturating_sub(sent_ns);
        self.by_generator.saturating_record(us(read));
        let received = match self.read_times {
            Some(ReadTimes { waited_ns, own_ns }) => {
                let in_socket = read.saturating_sub(waited_ns);
                self.in_socket.saturating_record(us(in_socket));
                (in_socket + own_ns).min(read)
            }
            None => read,
        };
        self.hist.saturating_record(us(received));
    }
}

/// One read's times, from the kernel's receive stamp ([`arrival`]): the latency a client
/// reports is from the send until its bytes were in the client's socket, plus what that
/// client's own read took (the `recvmsg`, opening its records, up to the line). Not until the
/// generator's one thread had come round to it: the time spent on the clients read before it
/// in the same turn (their reads, their records opened) is the generator's, which a client
/// of its own would not wait for.
#[derive(Debug, Clone, Copy)]
struct ReadTimes {
    /// From the arrival of the read's newest bytes in the socket until the generator's thread
    /// began this read (its lag: the clients it served first).
    waited_ns: u64,
    /// The read itself, and opening its records up to the first plaintext.
    own_ns: u64,
}

/// What a received line can change of one client's counts.
struct Counts<'a> {
    known: &'a mut u64,
    state: &'a mut State,
    rooms: &'a mut [u32],
}

/// `name` is `l<sender>`.
fn is_name_of(name: &[u8], sender: usize) -> bool {
    let Some((&b'l', digits)) = name.split_first() else {
        return false;
    };
    !digits.is_empty()
        && digits.len() <= 10
        && digits.iter().all(u8::is_ascii_digit)
        && digits
            .iter()
            .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'))
            == sender
}

/// `BYE server shutting down`: the one `BYE` a client comes back after.
fn is_shutdown_bye(line: &[u8]) -> bool {
    line.strip_prefix(b"BYE ") == Some(lanchat_proto::BYE_SHUTDOWN.as_bytes())
}

/// A line for a message: at most 120 bytes of it.
fn show(line: &[u8]) -> String {
    let cut = &line[..line.len().min(120)];
    format!("{:?}", String::from_utf8_lossy(cut))
}

/// The progress line on stderr: rewritten in place on a terminal, a plain line now and then
/// otherwise.
struct Progress {
    on: bool,
    tty: bool,
    last: Instant,
    shown: bool,
}

impl Progress {
    fn show(&mut self, now: Instant, text: impl FnOnce() -> String) {
        let every = if self.tty {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(5)
        };
        if !self.on || now.duration_since(self.last) < every {
            return;
        }
        self.last = now;
        if self.tty {
            eprint!("\r\x1b[K{}", text());
            self.shown = true;
        } else {
            eprintln!("{}", text());
        }
    }

    fn clear(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}

struct Driver<'a> {
    opts: &'a Options,
    poll: Poll,
    clients: Vec<Client>,
    rx: Rx,
    buf: Vec<u8>,
    /// Where TLS clients' reads are decrypted to.
    plain: Vec<u8>,
    /// Every client's TLS configuration; `None` with `--plaintext`.
    tls: Option<Arc<ClientConfig>>,
    /// Clients that used their read budget; read again next turn.
    carry: Vec<usize>,
    start: Instant,
    deadline: Instant,
    /// Next client to connect.
    next_connect: usize,
    /// Clients up to this index may connect now.
    connect_limit: usize,
    /// Clients that join all at once have been sent their names.
    names_released: bool,
    /// Clients closed before their name was accepted.
    closed_unnamed: usize,
    connect_s: Option<f64>,
    settle_s: Option<f64>,
    /// Seconds from the first `/join` until every client knew every member of its rooms.
    rooms_settle_s: Option<f64>,
    /// Messages sent by each sender.
    sent: Vec<u64>,
    total_sent: u64,
    /// Per sender: a lower bound of [`Tracker::slowest`] (it only grows), to rescan rarely.
    floor: Vec<u64>,
    /// Paced runs: the next message in the global round-robin order of all senders.
    next_paced: u64,
    traffic_begin: Option<Instant>,
    traffic_end: Option<Instant>,
    send_lag_max_ns: u64,
    progress: Progress,
    /// The restart phase's reconnects and what they met.
    redial: reconnect::Redial,
    /// The server the restart phase started. Last, so that it is stopped after every client
    /// has closed (fields drop in order): a server with clients still connected waits for
    /// them to read their `BYE`.
    relaunched: Option<Relaunched>,
}

/// Run `opts` (already checked) to the end.
pub(super) fn run(opts: &Options) -> Result<Report, LoadError> {
    let mut d = Driver::new(opts)?;
    let cpu_before = procfs::thread_cpu();
    let mut events = Events::with_capacity(EVENTS);
    let s0 = d.server_sample();

    let mut outcome = if opts.shape.history > 0 {
        d.history_phase(&mut events)
    } else {
        Ok(())
    };
    if outcome.is_ok() {
        outcome = d.connect_phase(&mut events);
    }
    let mut s_rooms = None;
    if outcome.is_ok() && d.rx.plan.is_some() {
        // At rest before and after the room joins (each past the server's heap trim after a
        // burst): what joining rooms adds to a connection sitting there, and nothing else.
        outcome = d.hold_phase(&mut events).0;
        let before = d.server_sample();
        if outcome.is_ok() {
            outcome = d.rooms_phase(&mut events);
        }
        if outcome.is_ok() {
            outcome = d.hold_phase(&mut events).0;
        }
        s_rooms = before.zip(d.server_sample());
    }
    let s_settled = d.server_sample();
    let mut gen_cpu_traffic_s = None;
    if outcome.is_ok() && opts.shape.senders > 0 {
        let before = procfs::thread_cpu();
        outcome = d.traffic_phase(&mut events);
        gen_cpu_traffic_s = Some(procfs::thread_cpu().saturating_sub(before).as_secs_f64());
    }
    let s_traffic = d.server_sample();
    let mut rest = None;
    if outcome.is_ok() {
        let (result, mid) = d.hold_phase(&mut events);
        outcome = result;
        rest = mid;
    }
    let s_end = d.server_sample();
    let rest = rest
        .zip(s_end)
        .map(|((at, mid), end)| (at.elapsed(), mid, end));
    // Last, once the server's own figures are taken: it is then another process.
    let mut restart = None;
    if let (Ok(()), Some(how)) = (&outcome, &opts.restart) {
        let (result, figures) = d.restart_phase(&mut events, how);
        outcome = result;
        restart = Some(figures);
    }
    d.progress.clear();

    let server = match (opts.server_pid, s0, s_settled, s_traffic, s_end) {
        (Some(pid), Some(s0), Some(s1), Some(s2), Some(s3)) => {
            Some(d.server_figures(pid, [s0, s1, s2, s3], rest, s_rooms))
        }
        _ => None,
    };
    let gen_cpu_s = (procfs::thread_cpu().saturating_sub(cpu_before)).as_secs_f64();
    let mut report = d.report(outcome, server, gen_cpu_s);
    report.gen_cpu_traffic_s = gen_cpu_traffic_s;
    report.restart = restart;
    Ok(report)
}

impl<'a> Driver<'a> {
    fn new(opts: &'a Options) -> Result<Self, LoadError> {
        let shape = opts.shape;
        let plan = RoomPlan::of(&shape);
        let poll = Poll::new().map_err(|e| LoadError::Setup("creating the poll", e))?;
        let clients = (0..shape.clients)
            .map(|_| Client {
                stream: None,
                state: State::Waiting,
                decoder: LineDecoder::new(LINE_LIMIT),
                known: 0,
                room_known: vec![0; plan.map_or(0, |p| p.each)],
                out: Vec::new(),
                out_pos: 0,
                backoff: Backoff::default(),
                dialed_ns: 0,
            })
            .collect();
        let hist = Histogram::new_with_bounds(1, LATENCY_MAX_US, 3)
            .map_err(|e| LoadError::Setup("creating the histogram", io::Error::other(e)))?;
        let start = Instant::now();
        Ok(Driver {
            opts,
            poll,
            clients,
            rx: Rx {
                clients: shape.clients as u64,
                size: shape.size,
                tracker: Tracker::new(shape.clients, shape.senders, shape.messages)
                    .with_rooms(plan),
                in_socket: hist.clone(),
                by_generator: hist.clone(),
                hist,
                read_times: None,
                named: 0,
                settled: 0,
                greeted: 0,
                synced: 0,
                problems: 0,
                first_problem: None,
                lines: 0,
                bytes: 0,
                plan,
                room_sizes: plan.map(|p| p.sizes()).unwrap_or_default(),
                rooms_settled: 0,
                restarting: false,
                told_bye: 0,
                back: Vec::new(),
                last_settle_ns: 0,
            },
            buf: vec![0; READ_BUF],
            plain: vec![0; READ_BUF],
            tls: (!opts.plaintext).then(link::tls_config),
            carry: Vec::new(),
            start,
            deadline: start + opts.timeout,
            next_connect: 0,
            connect_limit: shape.clients,
            names_released: false,
            closed_unnamed: 0,
            connect_s: None,
            settle_s: None,
            rooms_settle_s: None,
            sent: vec![0; shape.senders],
            total_sent: 0,
            floor: vec![0; shape.senders],
            next_paced: 0,
            traffic_begin: None,
            traffic_end: None,
            send_lag_max_ns: 0,
            progress: Progress {
                on: opts.progress,
                tty: io::stderr().is_terminal(),
                last: start,
                shown: false,
            },
            redial: reconnect::Redial::default(),
            relaunched: None,
        })
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn server_sample(&self) -> Option<ProcSample> {
        procfs::sample(self.opts.server_pid?).ok()
    }

    // ----- phases -------------------------------------------------------------------------

    /// A first client joins and fills the server's history with the shape's `history` lines,
    /// then makes sure (a `/who`) the server has them all before anyone else connects.
    fn history_phase(&mut self, events: &mut Events) -> Result<(), String> {
        let shape = self.opts.shape;
        self.connect_limit = 1;
        let mut sent = false;
        let (mut last_lines, mut last_change) = (self.rx.lines, Instant::now());
        let result = loop {
            self.connect_more();
            let now = Instant::now();
            if self.rx.lines != last_lines {
                (last_lines, last_change) = (self.rx.lines, now);
            }
            if self.rx.synced == 1 {
                break Ok(());
            }
            if self.rx.named == 1 && !sent {
                sent = true;
                let now_ns = self.now_ns();
                let filler = &mut self.clients[0];
                for seq in 0..shape.history as u64 {
                    let stamp = Stamp {
                        sender: 0,
                        seq,
                        sent_ns: now_ns,
                    };
                    payload::write_line(stamp, shape.size, &mut filler.out);
                }
                filler.out.extend_from_slice(b"/who\n");
                filler.state = State::Syncing;
                self.flush(0);
            }
            if self.rx.problems > 0 || now >= self.deadline {
                break Err(format!(
                    "while filling the history: {}",
                    self.rx.first_problem.as_deref().unwrap_or("timed out")
                ));
            }
            if now.duration_since(last_change) >= self.opts.stall {
                break Err(format!(
                    "stalled: no line from the server for {:?} while filling the history",
                    self.opts.stall
                ));
            }
            self.turn(events, TICK)?;
        };
        self.connect_limit = self.clients.len();
        result
    }

    /// Clients that hold their names back until everyone is greeted ([`Joining::AllAtOnce`]).
    fn holds_name(&self, i: usize) -> bool {
        let shape = self.opts.shape;
        shape.joining == Joining::AllAtOnce
            && !self.names_released
            && !(shape.history > 0 && i == 0)
    }

    /// Everyone is greeted: every held-back name goes now, one client after the other.
    fn release_names(&mut self) {
        self.names_released = true;
        let names = self.opts.shape.names;
        for i in 0..self.clients.len() {
            let client = &mut self.clients[i];
            if client.state != State::Ready {
                continue;
            }
            client.state = State::Handshake;
            client
                .out
                .extend_from_slice(client_name(i, names).as_bytes());
            client.out.push(b'\n');
            self.flush(i);
        }
    }

    /// Connect every client, name it, and wait until each has seen all the others.
    fn connect_phase(&mut self, events: &mut Events) -> Result<(), String> {
        let n = self.clients.len();
        let (mut last_lines, mut last_change) = (self.rx.lines, Instant::now());
        loop {
            self.connect_more();
            if !self.names_released
                && self.opts.shape.joining == Joining::AllAtOnce
                && self.rx.greeted + self.rx.named == n
            {
                self.release_names();
            }
            let now = Instant::now();
            if self.rx.lines != last_lines {
                (last_lines, last_change) = (self.rx.lines, now);
            }
            if now.duration_since(last_change) >= self.opts.stall {
                return Err(format!(
                    "stalled: no line from the server for {:?} while connecting: {} of {n} \
                     named, {} settled",
                    self.opts.stall, self.rx.named, self.rx.settled
                ));
            }
            if self.connect_s.is_none() && self.rx.named == n {
                self.connect_s = Some(now.duration_since(self.start).as_secs_f64());
            }
            if self.rx.settled == n {
                self.settle_s = Some(now.duration_since(self.start).as_secs_f64());
                return Ok(());
            }
            if self.rx.problems > 0 {
                return Err(format!(
                    "stopped while connecting: {} of {n} named; first problem: {}",
                    self.rx.named,
                    self.rx.first_problem.as_deref().unwrap_or("?")
                ));
            }
            if now >= self.deadline {
                return Err(format!(
                    "timed out after {:?} while connecting: {} of {n} named, {} settled",
                    self.opts.timeout, self.rx.named, self.rx.settled
                ));
            }
            let (rx, start) = (&self.rx, self.start);
            self.progress.show(now, || {
                format!(
                    "[{:6.1} s connect] {} of {n} named, {} settled, {} lines read",
                    now.duration_since(start).as_secs_f64(),
                    rx.named,
                    rx.settled,
                    rx.lines
                )
            });
            self.turn(events, TICK)?;
        }
    }

    /// Every client joins its rooms (all its `/join` lines at once); wait until each knows
    /// every member of each of its rooms.
    fn rooms_phase(&mut self, events: &mut Events) -> Result<(), String> {
        let Some(plan) = self.rx.plan else {
            return Ok(());
        };
        let begin = Instant::now();
        for i in 0..self.clients.len() {
            let client = &mut self.clients[i];
            for room in plan.rooms_of(i) {
                let _ = writeln!(client.out, "/join {}", room_name(room));
            }
            self.flush(i);
        }
        let want = plan.memberships();
        let (mut last_lines, mut last_change) = (self.rx.lines, begin);
        loop {
            let now = Instant::now();
            if self.rx.lines != last_lines {
                (last_lines, last_change) = (self.rx.lines, now);
            }
            if self.rx.rooms_settled == want {
                self.rooms_settle_s = Some(now.duration_since(begin).as_secs_f64());
                return Ok(());
            }
            let settled = self.rx.rooms_settled;
            if self.rx.problems > 0 {
                return Err(format!(
                    "stopped while joining rooms: {settled} of {want} memberships settled; \
                     first problem: {}",
                    self.rx.first_problem.as_deref().unwrap_or("?")
                ));
            }
            if now.duration_since(last_change) >= self.opts.stall {
                return Err(format!(
                    "stalled: no line from the server for {:?} while joining rooms: {settled} \
                     of {want} memberships settled",
                    self.opts.stall
                ));
            }
            if now >= self.deadline {
                return Err(format!(
                    "timed out after {:?} while joining rooms: {settled} of {want} settled",
                    self.opts.timeout
                ));
            }
            self.progress.show(now, || {
                format!(
                    "[{:6.1} s rooms] {settled} of {want} memberships settled",
                    now.duration_since(begin).as_secs_f64()
                )
            });
            self.turn(events, TICK)?;
        }
    }

    /// Send every message and wait for every delivery (or give up when nothing more comes).
    fn traffic_phase(&mut self, events: &mut Events) -> Result<(), String> {
        let shape = self.opts.shape;
        let total = shape.senders as u64 * shape.messages;
        let expected = self.opts.expected_deliveries();
        let begin = Instant::now();
        self.traffic_begin = Some(begin);
        let begin_ns = self.now_ns();
        let mut last_unique = 0;
        let mut last_change = begin;
        loop {
            let now = Instant::now();
            let unique = self.rx.tracker.unique();
            if unique >= expected {
                self.traffic_end = Some(now);
                return Ok(());
            }
            if unique != last_unique {
                (last_unique, last_change) = (unique, now);
            }
            if self.total_sent == total && now.duration_since(last_change) >= DRAIN_QUIET {
                // Whatever is missing now is lost; the report says how much.
                self.traffic_end = Some(last_change);
                return Ok(());
            }
            let owed = self.total_sent * (shape.clients as u64).saturating_sub(1);
            if self.total_sent < total
                && unique < owed
                && now.duration_since(last_change) >= self.opts.stall
            {
                self.traffic_end = Some(now);
                return Err(format!(
                    "stalled: nothing delivered for {:?} with {} of the {owed} deliveries of \
                     the {} messages sent still owed",
                    self.opts.stall,
                    owed - unique,
                    self.total_sent
                ));
            }
            if self.rx.problems > 0 {
                self.traffic_end = Some(now);
                return Err(format!(
                    "stopped during traffic; first problem: {}",
                    self.rx.first_problem.as_deref().unwrap_or("?")
                ));
            }
            if now >= self.deadline {
                self.traffic_end = Some(now);
                return Err(format!(
                    "timed out after {:?} during traffic: {} of {total} sent, {unique} of \
                     {expected} delivered",
                    self.opts.timeout, self.total_sent
                ));
            }
            let timeout = if shape.rate > 0.0 {
                self.send_paced(begin_ns)
            } else {
                self.send_unpaced()
            };
            let (sent, t) = (self.total_sent, now.duration_since(begin).as_secs_f64());
            self.progress.show(now, || {
                format!(
                    "[{t:6.1} s traffic] {sent} of {total} sent, {unique} of {expected} \
                     delivered ({:.2} M/s)",
                    unique as f64 / t.max(1e-9) / 1e6
                )
            });
            self.turn(events, timeout)?;
        }
    }

    /// Stay connected and quiet for the shape's hold time, still checking every line. Returns
    /// also when and what the server looked like halfway through: its CPU from then on is its
    /// CPU at rest (the first half leaves time for the heap trim that follows a burst).
    fn hold_phase(
        &mut self,
        events: &mut Events,
    ) -> (Result<(), String>, Option<(Instant, ProcSample)>) {
        let begin = Instant::now();
        let end = (begin + self.opts.shape.hold).min(self.deadline);
        let half = begin + (end - begin) / 2;
        let mut mid = None;
        loop {
            let now = Instant::now();
            if mid.is_none() && now >= half {
                mid = self.server_sample().map(|s| (now, s));
            }
            if now >= end {
                return (Ok(()), mid);
            }
            let next = if mid.is_none() { half } else { end };
            if let Err(e) = self.turn(events, next.saturating_duration_since(now).min(TICK)) {
                return (Err(e), mid);
            }
        }
    }

    // ----- one turn of the loop -----------------------------------------------------------

    fn turn(&mut self, events: &mut Events, timeout: Duration) -> Result<(), String> {
        let timeout = if self.carry.is_empty() {
            timeout
        } else {
            Duration::ZERO
        };
        if let Err(e) = self.poll.poll(events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(format!("poll failed: {e}"));
            }
        }
        for i in std::mem::take(&mut self.carry) {
            self.read(i);
        }
        for event in events.iter() {
            let i = event.token().0;
            let Some(client) = self.clients.get(i) else {
                continue;
            };
            if client.state == State::Connecting {
                self.finish_connect(i);
            } else if event.is_writable() {
                self.flush(i);
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                self.read(i);
            }
        }
        Ok(())
    }

    // ----- connecting ---------------------------------------------------------------------

    /// Start connects until `connect_window` handshakes are under way.
    fn connect_more(&mut self) {
        let n = self.connect_limit.min(self.clients.len());
        // Clients that hold their names back are done with their handshake once greeted.
        let done = self.rx.named + self.rx.greeted;
        while self.next_connect < n
            && self.next_connect.saturating_sub(done + self.closed_unnamed)
                < self.opts.connect_window
        {
            let i = self.next_connect;
            self.next_connect += 1;
            if let Err(e) = self.start_connect(i) {
                self.clients[i].state = State::Closed;
                self.closed_unnamed += 1;
                self.rx.problem(|| format!("connecting l{i}: {e}"));
            }
        }
    }

    /// Start client `i`'s connect (it completes in [`Driver::finish_connect`]).
    fn start_connect(&mut self, i: usize) -> io::Result<()> {
        let mut stream = TcpStream::connect(self.opts.addr)?;
        self.poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.clients[i].stream = Some(Link::Plain(stream));
        self.clients[i].state = State::Connecting;
        Ok(())
    }

    /// A connecting client became ready: connected (start TLS, send the name) or failed.
    fn finish_connect(&mut self, i: usize) {
        let Some(stream) = self.clients[i].stream.as_mut().map(Link::socket) else {
            return;
        };
        match stream.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => return self.connect_failed(i, &e),
        }
        match stream.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
            Err(e) => return self.connect_failed(i, &e),
        }
        if let Err(e) = stream.set_nodelay(true) {
            return self.drop_client(i, &format!("TCP_NODELAY: {e}"));
        }
        if let Err(e) = arrival::enable(&*stream) {
            return self.drop_client(i, &format!("SO_TIMESTAMPNS: {e}"));
        }
        if let Some(config) = &self.tls {
            let client = &mut self.clients[i];
            if let Some(Link::Plain(sock)) = client.stream.take() {
                match Link::tls(sock, config) {
                    Ok(tls) => client.stream = Some(tls),
                    Err(e) => return self.drop_client(i, &format!("TLS: {e}")),
                }
            }
        }
        if self.holds_name(i) {
            self.clients[i].state = State::Greeting;
            // Over TLS the ClientHello goes now: HELLO comes once the handshake is done.
            self.flush(i);
            return;
        }
        let names = self.opts.shape.names;
        let client = &mut self.clients[i];
        client.state = State::Handshake;
        // Over TLS the name waits in rustls until the handshake is done.
        let _ = writeln!(client.out, "{}", client_name(i, names));
        self.flush(i);
    }

    /// Client `i`'s connect failed.
    fn connect_failed(&mut self, i: usize, e: &io::Error) {
        if self.rx.restarting {
            return self.lose(i, reconnect::Cut::of_connect(e));
        }
        self.drop_client(i, &format!("connect: {e}"));
    }

    /// Close client `i` after a failure (counted as a problem; during a restart, it comes
    /// back as the client's back-off says).
    fn drop_client(&mut self, i: usize, why: &str) {
        if self.rx.restarting {
            return self.lose(i, reconnect::Cut::Other(why.to_owned()));
        }
        let client = &mut self.clients[i];
        if let Some(mut stream) = client.stream.take() {
            let _ = self.poll.registry().deregister(stream.socket());
        }
        let was = std::mem::replace(&mut client.state, State::Closed);
        client.decoder.reset();
        client.out = Vec::new();
        client.out_pos = 0;
        if matches!(
            was,
            State::Connecting | State::Greeting | State::Ready | State::Handshake
        ) {
            self.closed_unnamed += 1;
        }
        if was != State::Closed {
            self.rx.problem(|| format!("l{i} {why}"));
        }
    }

    // ----- reading and writing ------------------------------------------------------------

    fn read(&mut self, i: usize) {
        let mut budget = READ_BUDGET;
        loop {
            let Client {
                stream,
                decoder,
                known,
                state,
                room_known,
                ..
            } = &mut self.clients[i];
            let Some(link) = stream.as_mut() else {
                return;
            };
            let (rx, start) = (&mut self.rx, self.start);
            // Read once per socket read, after it returns: every line of it arrived together.
            let mut now_ns = None;
            let mut bad_line = None;
            let before = Instant::now();
            let read = link.read(&mut self.buf, &mut self.plain, |bytes, arrived| {
                let now_ns = *now_ns.get_or_insert_with(|| {
                    rx.read_times = arrived.map(|at| ReadTimes {
                        waited_ns: arrival::now_ns().saturating_sub(at),
                        own_ns: u64::try_from(before.elapsed().as_nanos()).unwrap_or(0),
                    });
                    u64::try_from(start.elapsed().as_nanos()).unwrap_or(0)
                });
                rx.bytes += bytes.len() as u64;
                let mut lines = decoder.lines(bytes);
                let mut counts = Counts {
                    known: &mut *known,
                    state: &mut *state,
                    rooms: &mut *room_known,
                };
                while let Some(line) = lines.next_line() {
                    match line {
                        Ok(l) => rx.line(i, &mut counts, l, now_ns),
                        Err(e) => {
                            bad_line = Some(format!("got a server {e}"));
                            return false;
                        }
                    }
                }
                true
            });
            if let Some(why) = bad_line {
                return self.drop_client(i, &why);
            }
            if self.clients[i].state == State::Lost {
                // Told BYE: closed at once, as the client does, so that the server can exit.
                return self.lose(i, reconnect::Cut::Bye);
            }
            match read {
                Ok(0) => return self.drop_client(i, "was disconnected by the server"),
                Ok(n) => {
                    if n < self.buf.len() {
                        // A short read emptied the socket: data arriving later raises a new
                        // epoll edge (as tokio assumes on Linux), so the read that would only
                        // say WouldBlock is skipped. That halves the reads per delivery when
                        // every line comes alone (room, chatter).
                        return;
                    }
                    budget = budget.saturating_sub(n);
                    if budget == 0 {
                        self.carry.push(i);
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.drop_client(i, &format!("read: {e}")),
            }
        }
    }

    /// Write what client `i` has queued, until done or the socket is full.
    fn flush(&mut self, i: usize) {
        let client = &mut self.clients[i];
        let Some(stream) = client.stream.as_mut() else {
            return;
        };
        while client.out_pos < client.out.len() {
            match stream.write(&client.out[client.out_pos..]) {
                Ok(0) => return self.drop_client(i, "write returned 0"),
                Ok(n) => client.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.drop_client(i, &format!("write: {e}")),
            }
        }
        client.out.clear();
        client.out_pos = 0;
        if let Err(e) = stream.flush() {
            self.drop_client(i, &format!("write: {e}"));
        }
    }

    // ----- sending ------------------------------------------------------------------------

    /// Paced: message `j` of the round-robin over all senders is due `j / (senders x rate)`
    /// seconds into the traffic phase, so senders are spread evenly over each period. Returns
    /// the time until the next one is due.
    fn send_paced(&mut self, begin_ns: u64) -> Duration {
        let shape = self.opts.shape;
        let senders = shape.senders as u64;
        let total = senders * shape.messages;
        let interval_ns = 1e9 / (senders as f64 * shape.rate);
        let now_ns = self.now_ns();
        let mut budget = CATCH_UP_PER_TURN;
        while self.next_paced < total && budget > 0 {
            let due_ns = begin_ns + (self.next_paced as f64 * interval_ns) as u64;
            if due_ns > now_ns {
                return Duration::from_nanos(due_ns - now_ns).min(TICK);
            }
            let sender = (self.next_paced % senders) as usize;
            let seq = self.next_paced / senders;
            let stamp = Stamp {
                sender,
                seq,
                sent_ns: now_ns,
            };
            write_message(
                self.rx.plan,
                stamp,
                shape.size,
                &mut self.clients[sender].out,
            );
            self.flush(sender);
            self.sent[sender] += 1;
            self.total_sent += 1;
            self.send_lag_max_ns = self.send_lag_max_ns.max(now_ns - due_ns);
            self.next_paced += 1;
            budget -= 1;
        }
        if budget == 0 {
            Duration::ZERO
        } else {
            TICK
        }
    }

    /// Unpaced: each sender tops its in-flight messages (sent, not yet read by its slowest
    /// receiver) back up to the window, in one write.
    fn send_unpaced(&mut self) -> Duration {
        let shape = self.opts.shape;
        let window = self.opts.window as u64;
        let now_ns = self.now_ns();
        for s in 0..shape.senders {
            let client = &self.clients[s];
            if self.sent[s] >= shape.messages
                || client.stream.is_none()
                || client.out_pos < client.out.len()
            {
                continue;
            }
            if self.sent[s] - self.floor[s] >= window {
                self.floor[s] = self.rx.tracker.slowest(s);
            }
            let in_flight = self.sent[s].saturating_sub(self.floor[s]);
            if in_flight >= window {
                continue;
            }
            let count = (window - in_flight).min(shape.messages - self.sent[s]);
            let out = &mut self.clients[s].out;
            for seq in self.sent[s]..self.sent[s] + count {
                let stamp = Stamp {
                    sender: s,
                    seq,
                    sent_ns: now_ns,
                };
                write_message(self.rx.plan, stamp, shape.size, out);
            }
            self.sent[s] += count;
            self.total_sent += count;
            self.flush(s);
        }
        TICK
    }

    // ----- the report ---------------------------------------------------------------------

    /// `samples`: before connecting, settled, after traffic, after the hold; `rest`: how long
    /// the second half of the hold lasted, and the samples at its start and end; `rooms`: at
    /// rest before the clients joined their rooms, and at rest after.
    fn server_figures(
        &self,
        pid: u32,
        samples: [ProcSample; 4],
        rest: Option<(Duration, ProcSample, ProcSample)>,
        rooms: Option<(ProcSample, ProcSample)>,
    ) -> ServerFigures {
        let [s0, settled, traffic, end] = samples;
        let unique = self.rx.tracker.unique();
        let cpu_traffic_s = traffic.cpu_s - settled.cpu_s;
        let connected = self.rx.named.max(1) as f64;
        ServerFigures {
            pid,
            cpu_settle_s: settled.cpu_s - s0.cpu_s,
            cpu_traffic_s,
            cpu_per_m: (unique > 0).then(|| cpu_traffic_s / (unique as f64 / 1e6)),
            idle_cpu_pct: rest
                .filter(|(took, _, _)| !took.is_zero())
                .map(|(took, from, to)| 100.0 * (to.cpu_s - from.cpu_s) / took.as_secs_f64()),
            rss_idle: s0.rss,
            rss_settled: settled.rss,
            // VmHWM lags a little (the kernel syncs its RSS counters in batches), so a sample
            // of VmRSS can be above it: the peak is the highest of them all.
            rss_peak: [s0.rss, settled.rss, traffic.rss, end.rss, end.peak_rss]
                .into_iter()
                .max()
                .unwrap_or(end.peak_rss),
            rss_after: end.rss,
            rss_per_conn: (end.rss as f64 - s0.rss as f64) / connected,
            rss_before_rooms: rooms.map(|(before, _)| before.rss),
            rss_after_rooms: rooms.map(|(_, after)| after.rss),
            rss_per_conn_before_rooms: rooms
                .map(|(before, _)| (before.rss as f64 - s0.rss as f64) / connected),
            rss_per_conn_after_rooms: rooms
                .map(|(_, after)| (after.rss as f64 - s0.rss as f64) / connected),
            rss_per_membership: rooms.zip(self.rx.plan).map(|((before, after), plan)| {
                (after.rss as f64 - before.rss as f64) / plan.memberships().max(1) as f64
            }),
        }
    }

    fn report(
        &self,
        outcome: Result<(), String>,
        server: Option<ServerFigures>,
        gen_cpu_s: f64,
    ) -> Report {
        let opts = self.opts;
        let shape = opts.shape;
        let t = &self.rx.tracker;
        let expected = if self.total_sent == shape.senders as u64 * shape.messages {
            opts.expected_deliveries()
        } else {
            // Not everything was sent: what was, each to every client that shares a room.
            let per = opts.expected_deliveries() / (shape.senders as u64 * shape.messages).max(1);
            self.total_sent * per
        };
        let traffic_s = match (self.traffic_begin, self.traffic_end) {
            (Some(b), Some(e)) => Some(e.duration_since(b).as_secs_f64()),
            _ => None,
        };
        let hist = &self.rx.hist;
        let ms = |us: u64| us as f64 / 1000.0;
        let of = |hist: &Histogram<u64>| {
            (!hist.is_empty()).then(|| Latency {
                p50_ms: ms(hist.value_at_quantile(0.5)),
                p99_ms: ms(hist.value_at_quantile(0.99)),
                p999_ms: ms(hist.value_at_quantile(0.999)),
                max_ms: ms(hist.max()),
            })
        };
        let latency = of(hist);
        let in_socket = of(&self.rx.in_socket);
        let by_generator = of(&self.rx.by_generator);
        Report {
            scenario: opts.scenario.name().to_string(),
            wire: if opts.plaintext {
                Wire::Plain
            } else {
                Wire::Tls
            },
            standard: opts.is_standard(),
            outcome: outcome.err().unwrap_or_else(|| "ok".into()),
            clients: shape.clients,
            senders: shape.senders,
            messages: shape.messages,
            size: shape.size,
            rate: shape.rate,
            window: opts.window,
            connected: self.rx.named,
            connect_s: self.connect_s,
            settle_s: self.settle_s,
            rooms: shape.rooms,
            rooms_each: shape.rooms_each,
            rooms_settle_s: self.rooms_settle_s,
            sent: self.total_sent,
            expected,
            delivered: t.delivered,
            lost: expected.saturating_sub(t.unique()),
            duplicated: t.duplicated,
            reordered: t.reordered,
            unexpected: t.unexpected,
            problems: self.rx.problems,
            first_problem: self.rx.first_problem.clone(),
            traffic_s,
            deliveries_per_s: traffic_s
                .filter(|&s| s > 0.0)
                .map(|s| t.unique() as f64 / s),
            latency,
            in_socket,
            by_generator,
            unstamped: self
                .rx
                .by_generator
                .len()
                .saturating_sub(self.rx.in_socket.len()),
            send_lag_max_ms: (shape.rate > 0.0 && shape.senders > 0)
                .then(|| self.send_lag_max_ns as f64 / 1e6),
            lines_read: self.rx.lines,
            bytes_read: self.rx.bytes,
            gen_cpu_s,
            gen_cpu_traffic_s: None,
            wall_s: self.start.elapsed().as_secs_f64(),
            exact: t.is_exact(),
            server,
            restart: None,
        }
    }
}

/// One message line for `stamp`: in the sender's room when there are rooms
/// (`/in #r<n> <payload>`).
fn write_message(plan: Option<RoomPlan>, stamp: Stamp, size: usize, out: &mut Vec<u8>) {
    if let Some(plan) = plan {
        let _ = write!(out, "/in {} ", room_name(plan.room_of_sender(stamp.sender)));
    }
    payload::write_line(stamp, size, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_senders() {
        for (name, sender, want) in [
            (&b"l0"[..], 0, true),
            (b"l12", 12, true),
            (b"l12", 13, false),
            (b"l", 0, false),
            (b"x1", 1, false),
            (b"l1a", 1, false),
            (b"l99999999999", 0, false),
        ] {
            assert_eq!(is_name_of(name, sender), want, "{name:?} {sender}");
        }
    }
}
