//! The reactor: one thread, one `mio::Poll`, every socket on it. The only module that speaks mio.
//!
//! A poll round goes:
//! 1. `poll` (timeout = the next timer, or zero when work was carried over);
//! 2. handle each event: accept until `WouldBlock`; read until `WouldBlock` (or the per-round
//!    read budget), feeding lines to the [`Room`], which queues frames into write buffers;
//! 3. fire due timers (handshake deadlines, write stalls, the accept back-off, the heap trim
//!    that follows a burst of freed buffers);
//! 4. drop connections whose send queue overflowed (`LEAVE <name> too-slow`);
//! 5. flush: one `write` per connection that has output, WRITABLE interest only where bytes
//!    remain. Every [`limits::FLUSH_SLICE`] writes it polls without waiting and reads what
//!    named connections sent meanwhile (within the same per-round budget), so a chat line sent
//!    while a long flush runs reaches the connections not yet written in this same flush (the
//!    others get it first thing next round) instead of waiting for the whole flush to end.
//!    Input from connections still handshaking, and everything else that poll reports, is left
//!    for the next round. Overflows found during the flush are dropped at its end, as in 4;
//! 6. remove closed connections from the slab (never during the round, so a slab id seen
//!    during the round always means the same connection; nothing that names a connection by
//!    id outlives the round except the flush and carry lists, which check the flags the
//!    connection keeps for them).

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use slab::Slab;

use crate::config::Config;
use crate::conn::{Conn, Flushed, Phase, Queued};
use crate::discovery::{self, ReplyLimiter};
use crate::limits;
use crate::outbox::{ConnId, Outbox};
use crate::room::{reason, Now, Room};
use crate::sockets;
use crate::timers::{Timer, Timers};

/// Reserved tokens, far above any slab id.
const LISTENER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);
const WAKER: Token = Token(usize::MAX - 3);
const DISCOVERY: Token = Token(usize::MAX - 4);

/// How the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Asked to stop: everyone got `BYE`, output was flushed (within the bound).
    Graceful,
    /// A second signal during the shutdown flush: stopped at once.
    Forced,
}

/// Stops a running [`Server`] from another thread (as SIGTERM would).
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
}

impl ShutdownHandle {
    /// Ask the server to shut down gracefully.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Err(e) = self.waker.wake() {
            log::warn!("could not wake the server loop: {e}");
        }
    }
}

/// Settings the loop consults on the hot path.
#[derive(Debug, Clone, Copy)]
struct Settings {
    sendq: usize,
    max_line: usize,
    handshake_timeout: Duration,
    write_timeout: Duration,
}

/// The chat server: a bound listener and everything the loop owns.
pub struct Server {
    poll: Poll,
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    /// True while the listener is out of the poll after fd exhaustion.
    accept_paused: bool,
    accept_backoff: Duration,
    udp: Option<UdpSocket>,
    limiter: ReplyLimiter,
    server_name: String,
    conns: Slab<Conn<TcpStream>>,
    room: Room,
    timers: Timers,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    settings: Settings,
    /// The one read buffer: every read lands here and is decoded in place.
    scratch: Vec<u8>,
    /// Connections with output queued this round (each at most once).
    flush_list: Vec<ConnId>,
    /// The flush list's twin: the loop swaps the two each round to keep their capacity.
    flush_spare: Vec<ConnId>,
    /// Connections found too slow (send queue overflowed) or broken while queueing this round,
    /// with the `LEAVE` reason.
    doomed: Vec<(ConnId, &'static str)>,
    /// Connections to remove after the round.
    closed: Vec<ConnId>,
    /// Connections that used their read budget and still have input, or whose input was left
    /// for the next round during a flush; read first thing next round (each once: `carried`).
    carry: Vec<ConnId>,
    /// Counts poll rounds, for the per-round read budget.
    round: u64,
    /// The discovery socket used its per-round budget and may hold more datagrams.
    udp_carry: bool,
    /// The listener used its per-round accept budget and may hold more connections.
    accept_carry: bool,
    /// The waker or the signal pipe fired during a flush; handled next round.
    control_carry: bool,
    /// Set when shutdown began: the flush deadline.
    shutdown_deadline: Option<Instant>,
    /// Write-buffer bytes freed since the last heap trim.
    freed_since_trim: usize,
    /// A [`Timer::Trim`] is pending.
    trim_pending: bool,
    next_generation: u64,
}

impl Server {
    /// Bind the listener (and the discovery socket) and set up the loop.
    ///
    /// # Errors
    /// Binding or creating the poll failed.
    pub fn bind(config: &Config) -> io::Result<Server> {
        let poll = Poll::new()?;
        let std_listener = sockets::listen(config.addr())?;
        let local_addr = std_listener.local_addr()?;
        let mut listener = TcpListener::from_std(std_listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let udp = if config.no_discovery {
            None
        } else {
            match sockets::udp(local_addr) {
                Ok(s) => {
                    let mut s = UdpSocket::from_std(s);
                    poll.registry()
                        .register(&mut s, DISCOVERY, Interest::READABLE)?;
                    Some(s)
                }
                Err(e) => {
                    log::warn!("discovery off: cannot bind UDP {local_addr}: {e}");
                    None
                }
            }
        };
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(Server {
            poll,
            listener: Some(listener),
            local_addr,
            accept_paused: false,
            accept_backoff: limits::ACCEPT_BACKOFF_START,
            udp,
            limiter: ReplyLimiter::default(),
            server_name: config.name.clone().unwrap_or_else(discovery::host_name),
            conns: Slab::new(),
            room: Room::new(config.room()),
            timers: Timers::new(),
            signals: None,
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            settings: Settings {
                sendq: config.sendq,
                max_line: config.max_line,
                handshake_timeout: config.handshake_timeout(),
                write_timeout: config.write_timeout(),
            },
            scratch: vec![0; limits::READ_CHUNK],
            flush_list: Vec::new(),
            doomed: Vec::new(),
            flush_spare: Vec::new(),
            closed: Vec::new(),
            carry: Vec::new(),
            round: 0,
            udp_carry: false,
            accept_carry: false,
            control_carry: false,
            shutdown_deadline: None,
            freed_since_trim: 0,
            trim_pending: false,
            next_generation: 0,
        })
    }

    /// The address actually bound (with the real port when `--port 0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops the server from another thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            waker: Arc::clone(&self.waker),
            stop: Arc::clone(&self.stop),
        }
    }

    /// Handle SIGINT and SIGTERM inside the loop: the first shuts down gracefully, a second
    /// one exits at once.
    ///
    /// # Errors
    /// Installing the handlers failed.
    pub fn handle_signals(&mut self) -> io::Result<()> {
        let mut signals = signal_hook_mio::v1_0::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ])?;
        self.poll
            .registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)?;
        self.signals = Some(signals);
        Ok(())
    }

    /// Run until shut down.
    ///
    /// # Errors
    /// Only a failing `poll` ends the loop with an error; a connection's error only ends that
    /// connection.
    pub fn run(mut self) -> io::Result<Exit> {
        let mut events = Events::with_capacity(limits::EVENTS_CAPACITY);
        loop {
            let timeout = self.poll_timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            let now = read_clock();
            self.round += 1;

            for id in std::mem::take(&mut self.carry) {
                if let Some(conn) = self.conns.get_mut(id.0) {
                    conn.carried = false;
                }
                self.read(id, now);
            }
            if std::mem::take(&mut self.udp_carry) {
                self.answer_probes(now);
            }
            if std::mem::take(&mut self.accept_carry) {
                self.accept(now);
            }
            if std::mem::take(&mut self.control_carry) && self.on_control(now).is_some() {
                return Ok(Exit::Forced);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now),
                    DISCOVERY => self.answer_probes(now),
                    WAKER | SIGNALS => {
                        if self.on_control(now).is_some() {
                            return Ok(Exit::Forced);
                        }
                    }
                    Token(key) => self.on_conn_event(ConnId(key), event, now),
                }
            }
            self.fire_timers(now);
            self.drop_doomed();
            self.flush(now.mono, &mut events);
            self.remove_closed();
            self.compact_timers();

            if let Some(deadline) = self.shutdown_deadline {
                if self.conns.is_empty() || now.mono >= deadline {
                    if !self.conns.is_empty() {
                        log::warn!("{} connection(s) still flushing at exit", self.conns.len());
                    }
                    return Ok(Exit::Graceful);
                }
            }
        }
    }

    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.carry.is_empty()
            || self.udp_carry
            || self.accept_carry
            || self.control_carry
            || !self.flush_list.is_empty()
            || !self.doomed.is_empty()
        {
            return Some(Duration::ZERO);
        }
        self.timers.timeout(now)
    }

    /// The room and an outbox over the connections, borrowed side by side.
    fn room_and_outbox(&mut self) -> (&mut Room, Delivery<'_>) {
        (
            &mut self.room,
            Delivery {
                conns: &mut self.conns,
                flush_list: &mut self.flush_list,
                doomed: &mut self.doomed,
                sendq: self.settings.sendq,
            },
        )
    }

    /// Readiness of a connection: read what it sent, write what it is owed.
    fn on_conn_event(&mut self, id: ConnId, event: &mio::event::Event, now: Now) {
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.read(id, now);
        }
        if event.is_writable() {
            self.want_flush(id);
        }
    }

    /// The waker or the signal pipe fired (both are cheap to check when they did not):
    /// begin the shutdown, or say it must be forced.
    fn on_control(&mut self, now: Now) -> Option<Exit> {
        if self.stop.load(Ordering::SeqCst) {
            self.begin_shutdown(now);
        }
        if self.on_signals(now) == Some(Exit::Forced) {
            log::warn!("second signal: exiting without waiting for the flush");
            return Some(Exit::Forced);
        }
        None
    }

    /// In the middle of a flush: read what named connections sent since the round's poll.
    /// Their lines are handled at once, so connections later in the flush carry the frames.
    /// Handshakes go on `carry` for the next round: a join is a broadcast to everyone plus a
    /// member list of every name (~250 KB for 10,000 names), and pulling joins into the middle
    /// of a join storm's flushes left the heap more fragmented. Accepts, probes, signals and the
    /// waker are noted and left for the next round too (which then polls without waiting).
    fn take_input(&mut self, events: &mut Events) {
        if let Err(e) = self.poll.poll(events, Some(Duration::ZERO)) {
            if e.kind() != io::ErrorKind::Interrupted {
                log::debug!("poll during flush: {e}");
            }
            return;
        }
        if events.is_empty() {
            return;
        }
        let now = read_clock();
        for event in events.iter() {
            match event.token() {
                LISTENER => self.accept_carry = true,
                DISCOVERY => self.udp_carry = true,
                WAKER | SIGNALS => self.control_carry = true,
                Token(key) if self.room.is_named(ConnId(key)) => {
                    self.on_conn_event(ConnId(key), event, now);
                }
                Token(key) => {
                    let id = ConnId(key);
                    self.carry_over(id);
                    if event.is_writable() {
                        self.want_flush(id);
                    }
                }
            }
        }
    }

    /// Read `id` first thing next round (once, however often this is asked).
    fn carry_over(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(id.0) {
            if !conn.carried {
                conn.carried = true;
                self.carry.push(id);
            }
        }
    }

    fn want_flush(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(id.0) {
            mark_for_flush(conn, id, &mut self.flush_list);
        }
    }

    // ----- accepting -------------------------------------------------------------------------

    fn accept(&mut self, now: Now) {
        let mut errors = 0;
        for _ in 0..limits::ACCEPTS_PER_ROUND {
            let Some(listener) = &self.listener else {
                return;
            };
            if self.accept_paused {
                return;
            }
            match listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Everyone waiting got in: an exhaustion episode, if any, is over. (Not on
                    // each success: under churn one fd frees, one gets in, the next fails
                    // again, and that is still the same episode.)
                    if self.accept_backoff > limits::ACCEPT_BACKOFF_START {
                        log::info!("accepting again ({} connections open)", self.conns.len());
                        self.accept_backoff = limits::ACCEPT_BACKOFF_START;
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if sockets::is_resource_exhaustion(&e) => {
                    self.pause_accept(now, &e);
                    return;
                }
                Err(e) => {
                    // Per-connection failures (ECONNABORTED, ...): skip that one. A run of
                    // them is treated like exhaustion rather than spun on.
                    log::debug!("accept: {e}");
                    errors += 1;
                    if errors >= limits::ACCEPT_ERRORS_PER_ROUND {
                        self.pause_accept(now, &e);
                        return;
                    }
                }
            }
        }
        // Budget used with connections possibly still waiting; the listener is edge-triggered,
        // so come back next round instead of waiting for an event that will not come.
        self.accept_carry = true;
    }

    /// Out of fds (or memory): take the listener out of the poll and try again later. Retrying
    /// at once would spin (the pending connection keeps the listener readable), and returning
    /// without a retry would stall it (edge-triggered: no new event would come).
    fn pause_accept(&mut self, now: Now, e: &io::Error) {
        if let Some(listener) = &mut self.listener {
            if let Err(de) = self.poll.registry().deregister(listener) {
                log::warn!("cannot pause the listener: {de}");
            }
        }
        if self.accept_backoff == limits::ACCEPT_BACKOFF_START {
            log::warn!(
                "accept failed ({e}); not accepting for a while ({} connections open)",
                self.conns.len()
            );
        }
        self.accept_paused = true;
        self.timers
            .add(now.mono + self.accept_backoff, Timer::ResumeAccept);
        self.accept_backoff = (self.accept_backoff * 2).min(limits::ACCEPT_BACKOFF_MAX);
    }

    fn resume_accept(&mut self, now: Now) {
        if !self.accept_paused {
            return;
        }
        self.accept_paused = false;
        if let Some(listener) = &mut self.listener {
            if let Err(e) = self
                .poll
                .registry()
                .register(listener, LISTENER, Interest::READABLE)
            {
                log::warn!("cannot resume the listener: {e}");
            }
        }
        // Connections may be waiting already; the registration may not report them as new.
        self.accept(now);
    }

    fn admit(&mut self, mut stream: TcpStream, peer: SocketAddr, now: Now) {
        // Connections still flushing or lingering hold an fd and memory too: count them.
        if self.room.is_full() || self.conns.len() >= self.room.config().max_clients {
            // Say why and let go at once: the fd is needed more by the people already here.
            let _ = io::Write::write(&mut stream, self.room.full_frame());
            let _ = stream.shutdown(std::net::Shutdown::Write);
            log::debug!("refused {peer}: server full");
            return;
        }
        if let Err(e) = sockets::tune(&stream) {
            log::debug!("socket options for {peer}: {e}");
        }
        let entry = self.conns.vacant_entry();
        let id = ConnId(entry.key());
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(id.0), Interest::READABLE)
        {
            log::warn!("cannot register {peer}: {e}");
            return;
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        entry.insert(Conn::new(
            stream,
            self.settings.max_line,
            generation,
            now.mono,
        ));
        log::debug!("{id} connected from {peer}");
        self.timers.add(
            now.mono + self.settings.handshake_timeout,
            Timer::Handshake { id, generation },
        );
        let (room, mut out) = self.room_and_outbox();
        let _ = room.connect(id, now, &mut out);
    }

    // ----- reading ---------------------------------------------------------------------------

    fn read(&mut self, id: ConnId, now: Now) {
        loop {
            let Some(conn) = self.conns.get_mut(id.0) else {
                return;
            };
            if conn.phase == Phase::Dead {
                return;
            }
            if conn.read_round != self.round {
                conn.read_round = self.round;
                conn.read_this_round = 0;
            }
            if conn.read_this_round >= limits::READ_BUDGET_PER_ROUND {
                // Its turn is over for this round; the rest (if any) is read next round.
                self.carry_over(id);
                return;
            }
            match conn.stream.read(&mut self.scratch) {
                Ok(0) if conn.phase == Phase::Lingering => {
                    conn.phase = Phase::Dead;
                    self.closed.push(id);
                    return;
                }
                Ok(0) => {
                    conn.eof_seen = true;
                    self.peer_closed(id);
                    return;
                }
                Ok(n) => {
                    conn.read_this_round += n;
                    if conn.phase == Phase::Open {
                        self.handle_input(id, n, now);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("{id} read: {e}");
                    self.kill(id, reason::DISCONNECTED);
                    return;
                }
            }
        }
    }

    /// Decode `scratch[..n]` from `id` and hand each line to the room.
    fn handle_input(&mut self, id: ConnId, n: usize, now: Now) {
        let Some(conn) = self.conns.get_mut(id.0) else {
            return;
        };
        let mut decoder = std::mem::take(&mut conn.decoder);
        let mut out = Delivery {
            conns: &mut self.conns,
            flush_list: &mut self.flush_list,
            doomed: &mut self.doomed,
            sendq: self.settings.sendq,
        };
        let mut lines = decoder.lines(&self.scratch[..n]);
        while let Some(item) = lines.next_line() {
            match item {
                Ok(line) => self.room.line(id, line, now, &mut out),
                Err(_) => self.room.line_too_long(id, now, &mut out),
            }
            if out.conns.get(id.0).is_none_or(|c| c.phase != Phase::Open) {
                // Quit or kicked: whatever else it sent is not acted on.
                break;
            }
        }
        if let Some(conn) = self.conns.get_mut(id.0) {
            conn.decoder = decoder;
        }
    }

    /// EOF from the peer: it is leaving. Tell the others, flush what it is owed, close.
    fn peer_closed(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(id.0) {
            // A line cut off by the close is never relayed.
            conn.decoder.reset();
        }
        let (room, mut out) = self.room_and_outbox();
        room.disconnect(id, reason::DISCONNECTED, &mut out);
        out.close(id);
    }

    /// The connection is broken (reset, error, too slow, stalled): tell the others, drop it.
    fn kill(&mut self, id: ConnId, why: &str) {
        if why == reason::TOO_SLOW || why == reason::TIMEOUT {
            if let Some(conn) = self.conns.get_mut(id.0) {
                conn.abort = true;
            }
        }
        let (room, mut out) = self.room_and_outbox();
        room.disconnect(id, why, &mut out);
        if let Some(conn) = self.conns.get_mut(id.0) {
            if conn.phase != Phase::Dead {
                conn.phase = Phase::Dead;
                self.closed.push(id);
            }
        }
    }

    // ----- timers ----------------------------------------------------------------------------

    fn fire_timers(&mut self, now: Now) {
        while let Some(timer) = self.timers.pop_due(now.mono) {
            match timer {
                Timer::Handshake { id, generation } => {
                    if self.is_current(id, generation) {
                        let (room, mut out) = self.room_and_outbox();
                        if room.expire_handshake(id, &mut out) {
                            log::debug!("{id} handshake timed out");
                        }
                    }
                }
                Timer::WriteStall { id, generation } => {
                    if self.is_current(id, generation) {
                        self.check_stall(id, now.mono);
                    }
                }
                Timer::Linger { id, generation } => {
                    if self.is_current(id, generation) {
                        if let Some(conn) = self.conns.get_mut(id.0) {
                            if conn.phase == Phase::Lingering {
                                conn.phase = Phase::Dead;
                                self.closed.push(id);
                            }
                        }
                    }
                }
                Timer::ResumeAccept => self.resume_accept(now),
                Timer::ShutdownDeadline => {}
                Timer::Trim => {
                    let started = Instant::now();
                    crate::memory::trim();
                    log::debug!(
                        "heap trimmed after {} KiB of buffers were freed, in {:?}",
                        self.freed_since_trim / 1024,
                        started.elapsed()
                    );
                    self.freed_since_trim = 0;
                    self.trim_pending = false;
                }
            }
        }
    }

    /// Timers are never cancelled, so connection churn leaves stale ones behind until their
    /// deadline (a handshake timer lives `--handshake-timeout`). When stale ones dominate,
    /// rebuild the heap from the live ones.
    fn compact_timers(&mut self) {
        if self.timers.len()
            <= limits::TIMERS_SLACK_FACTOR * self.conns.len() + limits::TIMERS_SLACK
        {
            return;
        }
        let conns = &self.conns;
        self.timers.retain(|t| match *t {
            Timer::Handshake { id, generation }
            | Timer::WriteStall { id, generation }
            | Timer::Linger { id, generation } => is_current(conns, id, generation),
            Timer::ResumeAccept | Timer::ShutdownDeadline | Timer::Trim => true,
        });
    }

    fn is_current(&self, id: ConnId, generation: u64) -> bool {
        is_current(&self.conns, id, generation)
    }

    fn check_stall(&mut self, id: ConnId, now: Instant) {
        let timeout = self.settings.write_timeout;
        let Some(conn) = self.conns.get_mut(id.0) else {
            return;
        };
        conn.stall_timer = false;
        if conn.pending() == 0 {
            return;
        }
        let deadline = conn.last_progress + timeout;
        if now >= deadline {
            log::info!("{id} output stalled for {timeout:?}; dropping");
            self.kill(id, reason::TIMEOUT);
        } else {
            conn.stall_timer = true;
            let generation = conn.generation;
            self.timers
                .add(deadline, Timer::WriteStall { id, generation });
        }
    }

    // ----- writing ---------------------------------------------------------------------------

    /// Drop every connection found too slow or broken while frames were queued this round.
    /// Their `LEAVE` may overflow others in turn; the loop runs until none is left.
    fn drop_doomed(&mut self) {
        while let Some((id, why)) = self.doomed.pop() {
            let Some(conn) = self.conns.get_mut(id.0) else {
                continue;
            };
            if conn.phase == Phase::Dead {
                continue;
            }
            if why != reason::TOO_SLOW {
                self.kill(id, why);
                continue;
            }
            log::info!(
                "{} is not reading ({} bytes unsent); dropping",
                id,
                conn.pending()
            );
            conn.queue_unchecked(self.room.too_slow_frame());
            // Best effort: the peer is not reading, so this likely goes nowhere.
            let _ = conn.flush(Instant::now());
            self.kill(id, reason::TOO_SLOW);
        }
    }

    /// One write per connection with output; interest follows what is left. Input that arrives
    /// meanwhile is read every [`limits::FLUSH_SLICE`] writes ([`Server::take_input`]): a
    /// connection not yet written takes its frames in this write, one already written is back
    /// in the (fresh) flush list for the next round.
    fn flush(&mut self, now: Instant, events: &mut Events) {
        // Swap in last round's (empty) list so neither Vec is reallocated round after round.
        let mut list = std::mem::take(&mut self.flush_spare);
        std::mem::swap(&mut list, &mut self.flush_list);
        let mut broken = Vec::new();
        for (i, &id) in list.iter().enumerate() {
            if i > 0 && i % limits::FLUSH_SLICE == 0 {
                self.take_input(events);
            }
            self.flush_one(id, now, &mut broken);
        }
        list.clear();
        self.flush_spare = list;
        for id in broken {
            self.kill(id, reason::DISCONNECTED);
        }
        // Overflows found by the reads during this flush (or by the LEAVEs just queued): drop
        // them now, while their ids still name them; after `remove_closed` a slot can be reused.
        self.drop_doomed();
        if self.freed_since_trim >= limits::TRIM_AFTER_FREED && !self.trim_pending {
            self.trim_pending = true;
            self.timers.add(now + limits::TRIM_DELAY, Timer::Trim);
        }
        // The LEAVE lines of broken connections are flushed next round (polled without waiting).
    }

    /// Write what `id` has queued (one `write`), then settle its interest, stall timer and
    /// closing state; a write error puts it in `broken`.
    fn flush_one(&mut self, id: ConnId, now: Instant, broken: &mut Vec<ConnId>) {
        let registry = self.poll.registry();
        let Some(conn) = self.conns.get_mut(id.0) else {
            return;
        };
        if !conn.in_flush_list {
            // Written already this flush, or an id left on the list by a connection closed
            // since (its slot reused): the one write per connection has been, or will be, done.
            return;
        }
        conn.in_flush_list = false;
        if conn.phase == Phase::Dead {
            return;
        }
        let held = conn.buffered_capacity();
        let flushed = conn.flush(now);
        self.freed_since_trim += held.saturating_sub(conn.buffered_capacity());
        match flushed {
            Ok(Flushed::Done) => {
                if conn.phase == Phase::Closing {
                    // Everything is sent: half-close, then wait (bounded) for the peer's
                    // EOF, so input still in flight cannot turn the close into an RST
                    // that destroys the BYE before the peer reads it.
                    let _ = conn.stream.shutdown(std::net::Shutdown::Write);
                    if conn.eof_seen {
                        conn.phase = Phase::Dead;
                        self.closed.push(id);
                    } else {
                        conn.phase = Phase::Lingering;
                        let generation = conn.generation;
                        self.timers
                            .add(now + limits::LINGER, Timer::Linger { id, generation });
                    }
                }
                if conn.write_interest {
                    conn.write_interest = false;
                    reregister(registry, conn, id, Interest::READABLE);
                }
            }
            Ok(Flushed::Pending) => {
                if !conn.write_interest {
                    conn.write_interest = true;
                    reregister(registry, conn, id, Interest::READABLE | Interest::WRITABLE);
                }
                if !conn.stall_timer {
                    conn.stall_timer = true;
                    let (generation, at) = (conn.generation, now + self.settings.write_timeout);
                    self.timers.add(at, Timer::WriteStall { id, generation });
                }
            }
            Err(e) => {
                // EPIPE, ECONNRESET: the peer is gone; an ordinary close.
                log::debug!("{id} write: {e}");
                broken.push(id);
            }
        }
    }

    fn remove_closed(&mut self) {
        for id in std::mem::take(&mut self.closed) {
            let Some(mut conn) = self.conns.try_remove(id.0) else {
                continue;
            };
            if let Err(e) = self.poll.registry().deregister(&mut conn.stream) {
                log::debug!("{id} deregister: {e}");
            }
            if conn.abort {
                // Dropped for not reading or a stalled write: reset rather than leave the
                // kernel retrying megabytes of send buffer to a peer that will not take them.
                let _ = socket2::SockRef::from(&conn.stream).set_linger(Some(Duration::ZERO));
            }
            log::debug!("{id} closed");
        }
    }

    // ----- shutdown and signals --------------------------------------------------------------

    fn on_signals(&mut self, now: Now) -> Option<Exit> {
        let signals = self.signals.as_mut()?;
        let count = signals.pending().count();
        if count == 0 {
            return None;
        }
        // Signals of one kind coalesce, and SIGINT + SIGTERM may land together: a first batch,
        // whatever its size, is one request to stop; only a signal during the flush forces it.
        if self.shutdown_deadline.is_some() {
            return Some(Exit::Forced);
        }
        log::info!("signal received: shutting down");
        self.begin_shutdown(now);
        None
    }

    fn begin_shutdown(&mut self, now: Now) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        if let Some(mut udp) = self.udp.take() {
            let _ = self.poll.registry().deregister(&mut udp);
        }
        let (room, mut out) = self.room_and_outbox();
        room.shutdown(&mut out);
        let deadline = now.mono + limits::SHUTDOWN_FLUSH;
        self.shutdown_deadline = Some(deadline);
        self.timers.add(deadline, Timer::ShutdownDeadline);
        log::info!(
            "shutting down: saying BYE to {} connection(s)",
            self.conns.len()
        );
    }

    // ----- discovery -------------------------------------------------------------------------

    fn answer_probes(&mut self, now: Now) {
        let Some(udp) = &self.udp else {
            return;
        };
        let mut buf = [0u8; discovery::MAX_PROBE + 1];
        // Bounded: a flood of datagrams cannot hold the loop for more than this many reads.
        for _ in 0..limits::DATAGRAMS_PER_ROUND {
            match udp.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if !discovery::is_probe(&buf[..n]) || !self.limiter.allow(from.ip(), now.mono) {
                        continue;
                    }
                    let reply = discovery::reply(
                        self.local_addr.port(),
                        self.room.members(),
                        &self.server_name,
                    );
                    if let Err(e) = udp.send_to(&reply, from) {
                        log::debug!("discovery reply to {from}: {e}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("discovery: {e}");
                    return;
                }
            }
        }
        // Possibly more queued (edge-triggered: no new event will say so): come back next
        // round rather than starve the chat.
        self.udp_carry = true;
    }
}

/// The connection a timer was set for is still there (not closed, its slot not reused).
fn is_current(conns: &Slab<Conn<TcpStream>>, id: ConnId, generation: u64) -> bool {
    conns
        .get(id.0)
        .is_some_and(|c| c.generation == generation && c.phase != Phase::Dead)
}

fn reregister(registry: &Registry, conn: &mut Conn<TcpStream>, id: ConnId, interest: Interest) {
    if let Err(e) = registry.reregister(&mut conn.stream, Token(id.0), interest) {
        log::debug!("{id} reregister: {e}");
    }
}

fn read_clock() -> Now {
    let unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Now {
        mono: Instant::now(),
        unix_ms,
    }
}

/// The loop's [`Outbox`]: frames go into connections' write buffers.
struct Delivery<'a> {
    conns: &'a mut Slab<Conn<TcpStream>>,
    flush_list: &'a mut Vec<ConnId>,
    doomed: &'a mut Vec<(ConnId, &'static str)>,
    sendq: usize,
}

impl Outbox for Delivery<'_> {
    fn send(&mut self, to: ConnId, frame: &[u8]) {
        let Some(conn) = self.conns.get_mut(to.0) else {
            return;
        };
        match conn.queue(frame, self.sendq) {
            Queued::Yes => mark_for_flush(conn, to, self.flush_list),
            Queued::Overflow => self.doomed.push((to, reason::TOO_SLOW)),
            Queued::Broken => self.doomed.push((to, reason::DISCONNECTED)),
            Queued::Ignored => {}
        }
    }

    fn close(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id.0) else {
            return;
        };
        if conn.phase == Phase::Open {
            conn.phase = Phase::Closing;
        }
        mark_for_flush(conn, id, self.flush_list);
    }
}

/// Put `id` on the flush list, once per round (its flag says whether it is there).
fn mark_for_flush(conn: &mut Conn<TcpStream>, id: ConnId, flush_list: &mut Vec<ConnId>) {
    if !conn.in_flush_list {
        conn.in_flush_list = true;
        flush_list.push(id);
    }
}
