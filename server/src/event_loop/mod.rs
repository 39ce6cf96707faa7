//! The reactor: one thread, one `mio::Poll`, every socket on it. With [`crate::transport`],
//! the only code that speaks mio.
//!
//! A poll round ([`Server::turn`]) goes:
//! 1. `poll` (timeout = the next timer or room deadline, or zero when work was carried over);
//! 2. handle each event: accept until `WouldBlock` ([`accept`]); read until `WouldBlock` (or the
//!    per-round read budget), feeding lines to the [`Room`], which queues frames ([`read`]);
//! 3. fire due timers: handshake deadlines (the room's), write stalls, lingers, the accept
//!    back-off, the heap trim ([`timers`]);
//! 4. write what the round relayed to the room logs, one `write(2)` per room ([`persist`]);
//!    drop connections whose send queue overflowed (`LEAVE <name> too-slow`; [`close`]);
//! 5. flush: one write per connection that has output, WRITABLE interest only where bytes
//!    remain, with a look at new input every [`limits::FLUSH_SLICE`] writes ([`flush`]; what
//!    that input relayed goes to the room logs before the flush goes on);
//! 6. remove dead connections from the table (never during the round, so an id seen during
//!    the round always means the same connection; [`close`]);
//! 7. the state directory's disk work that is due (write-back, rewrites, retries; [`persist`]);
//! 8. a timer for the logger's rate-limit summaries, if it has some coming ([`timers`]).
//!
//! Shutdown and signals are in [`shutdown`] (SIGHUP's reload in [`reload`]), the discovery
//! socket in [`discovery`]. The loop
//! reads its [`Clock`] once per round and passes the time down; nothing below it reads one.

mod accept;
mod close;
mod discovery;
mod flush;
mod identity;
mod persist;
mod read;
mod reload;
mod shutdown;
mod timers;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};

use crate::clock::{Clock, Now, SystemClock};
use crate::config::Config;
use crate::conn::{ConnTable, Delivery};
use crate::limits;
use crate::logger::Kind;
use crate::outbox::ConnId;
use crate::room::Room;
use crate::sockets;
use crate::timers::Timers;
use crate::tls::Mode;
use crate::transport::Link;

pub use reload::{Part, Reload, ReloadError, Reloads, Skip};
pub use shutdown::{Exit, ServerHandle, Signals};

/// Reserved tokens, far above any connection id.
const LISTENER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);
const WAKER: Token = Token(usize::MAX - 3);
const DISCOVERY: Token = Token(usize::MAX - 4);

/// Settings the loop consults on the hot path.
#[derive(Debug, Clone, Copy)]
struct Settings {
    sendq: usize,
    max_line: usize,
    write_timeout: Duration,
}

/// The chat server: a bound listener and everything the loop owns.
pub struct Server {
    poll: Poll,
    clock: Box<dyn Clock>,
    local_addr: SocketAddr,
    listener: accept::Listener,
    discovery: Option<discovery::Discovery>,
    control: shutdown::Control,
    table: ConnTable<Link>,
    room: Room,
    timers: Timers,
    settings: Settings,
    /// Every connection's TLS configuration; `None` serves plaintext (`--plaintext`).
    tls: Option<Arc<rustls::ServerConfig>>,
    /// The one read buffer: every read lands here and is decoded in place.
    scratch: Vec<u8>,
    /// Counts poll rounds, for the per-round read budget.
    round: u64,
    /// Reads of connections still giving a name, this round.
    handshake_reads: usize,
    /// `ClientHello`s read this round (of [`limits::TLS_HANDSHAKES_PER_ROUND`]).
    tls_handshakes: usize,
    trim: timers::Trim,
    /// A [`crate::timers::Timer::LogFlush`] is pending.
    log_flush: bool,
    /// Where what SIGHUP re-reads comes from.
    sources: reload::Sources,
    /// The claims and bans files, and the files a reload reads.
    identity: identity::IdentityState,
}

impl Server {
    /// Bind the listener (and the discovery socket) and set up the loop, on the system clock,
    /// speaking TLS or plaintext as `mode` says (`config.plaintext` is `mode`'s business).
    ///
    /// # Errors
    /// Binding or creating the poll failed.
    pub fn bind(config: &Config, mode: &Mode) -> io::Result<Server> {
        Self::bind_with_clock(config, mode, Box::new(SystemClock))
    }

    /// [`Server::bind`], with the loop reading `clock` (tests move a [`crate::ManualClock`]).
    ///
    /// # Errors
    /// Binding or creating the poll failed.
    pub fn bind_with_clock(
        config: &Config,
        mode: &Mode,
        clock: Box<dyn Clock>,
    ) -> io::Result<Server> {
        let poll = Poll::new()?;
        let std_listener = sockets::listen(config.addr())?;
        let local_addr = std_listener.local_addr()?;
        let listener = accept::Listener::new(std_listener, poll.registry())?;
        let discovery = if config.no_discovery {
            None
        } else {
            discovery::Discovery::bind(
                local_addr,
                config.name.clone(),
                mode.transport(),
                poll.registry(),
            )
        };
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let started = clock.now().mono;
        let mut server = Server {
            poll,
            clock,
            local_addr,
            listener,
            discovery,
            control: shutdown::Control::new(waker, Arc::new(AtomicBool::new(false))),
            table: ConnTable::new(),
            room: Room::new(config.room()).with_host_limits(config.hosts()),
            timers: Timers::new(),
            settings: Settings {
                sendq: config.sendq,
                max_line: config.max_line,
                write_timeout: config.write_timeout(),
            },
            tls: mode.server_config(),
            scratch: vec![0; limits::READ_CHUNK],
            round: 0,
            handshake_reads: 0,
            tls_handshakes: 0,
            trim: timers::Trim::default(),
            log_flush: false,
            sources: reload::Sources::of(config),
            identity: identity::IdentityState::default(),
        };
        server
            .room
            .stats_mut()
            .start(started, crate::memory::resident);
        Ok(server)
    }

    /// The address actually bound (with the real port when `--port 0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops (or wakes) the server from another thread.
    pub fn handle(&self) -> ServerHandle {
        self.control.handle()
    }

    /// Run until shut down.
    ///
    /// # Errors
    /// Only a failing `poll` ends the loop with an error; a connection's error only ends that
    /// connection.
    pub fn run(mut self) -> io::Result<Exit> {
        let mut events = Events::with_capacity(limits::EVENTS_CAPACITY);
        loop {
            let timeout = self.poll_timeout(self.clock.now().mono);
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            let now = self.clock.now();
            if let Some(exit) = self.turn(now, &mut events) {
                // A round cut short by a second signal read lines it never relayed: their
                // history is kept all the same.
                self.write_history();
                return Ok(exit);
            }
        }
    }

    /// One round, after `poll` filled `events`: carried work, the events, then the end of the
    /// round. Returns how the loop ends, when it does.
    fn turn(&mut self, now: Now, events: &mut Events) -> Option<Exit> {
        self.round += 1;
        self.handshake_reads = 0;
        self.tls_handshakes = 0;
        for id in self.table.take_carry() {
            self.read(id, now);
        }
        if self.discovery.as_mut().is_some_and(|d| d.take_carry()) {
            self.answer_probes(now);
        }
        if std::mem::take(&mut self.listener.carry) {
            self.accept(now);
        }
        if std::mem::take(&mut self.control.carry) {
            if let Some(exit) = self.on_control(now) {
                return Some(exit);
            }
        }
        for event in events.iter() {
            match event.token() {
                LISTENER => self.accept(now),
                DISCOVERY => self.answer_probes(now),
                WAKER | SIGNALS => {
                    if let Some(exit) = self.on_control(now) {
                        return Some(exit);
                    }
                }
                Token(key) => self.on_conn_event(ConnId(key), event, now),
            }
        }
        self.fire_timers(now);
        self.identity_tick(now);
        // What the round relayed goes to the room logs before any of it to a socket.
        self.write_history();
        self.drop_doomed(now);
        self.flush(now, events);
        self.remove_closed();
        self.trim.freed(self.table.end_round());
        self.compact_timers();
        self.persist(now);
        self.schedule_log_flush(now);
        self.shutdown_done(now)
    }

    /// How long `poll` may sleep: not at all when work was carried over, else until the next
    /// timer, room deadline or disk work.
    fn poll_timeout(&mut self, now: Instant) -> Option<Duration> {
        if self.table.has_pending_work()
            || self.listener.carry
            || self.control.carry
            || self.discovery.as_ref().is_some_and(|d| d.carry)
        {
            return Some(Duration::ZERO);
        }
        let room = self.room.poll_timeout();
        let due = [room, self.persist_due(), self.identity_due()]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(now));
        match (self.timers.timeout(now), due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The room and an outbox over the connections, borrowed side by side.
    fn room_and_outbox(&mut self, now: Now) -> (&mut Room, Delivery<'_, Link>) {
        (
            &mut self.room,
            self.table.delivery(self.settings.sendq, now),
        )
    }

    /// Readiness of a connection: read what it sent, write what it is owed.
    fn on_conn_event(&mut self, id: ConnId, event: &mio::event::Event, now: Now) {
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.read(id, now);
        }
        if event.is_writable() {
            self.table.mark_for_flush(id);
        }
    }

    /// Set `id`'s interest in the poll (after its flush or when it starts waiting).
    fn reregister(&mut self, id: ConnId, interest: Interest) {
        let registry = self.poll.registry();
        if let Some(conn) = self.table.get_mut(id) {
            if let Err(e) = registry.reregister(conn.transport_mut(), Token(id.0), interest) {
                let serial = conn.generation().serial();
                log::debug!(target: Kind::Connection.target(), "{serial} reregister: {e}");
            }
        }
    }
}
