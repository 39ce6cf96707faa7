//! Accepting: new connections until `WouldBlock` (a budget per round), the back-off when the
//! process runs out of file descriptors, and admission (the room's decision, and the refusal
//! that lets go at once).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::{Server, LISTENER};
use crate::clock::Now;
use crate::limits;
use crate::logger::Kind;
use crate::outbox::{ConnId, Serial};
use crate::room::{Admission, LeaveReason, Peer};
use crate::sockets;
use crate::timers::Timer;
use crate::transport::tls::TlsLink;
use crate::transport::Link;

/// The listening socket and its state.
pub(super) struct Listener {
    /// `None` once shutdown began.
    socket: Option<TcpListener>,
    /// Out of the poll after fd exhaustion, until [`Timer::ResumeAccept`].
    paused: bool,
    /// The next rest after an exhaustion; doubles per failure, back to the start once
    /// everyone waiting got in.
    backoff: Duration,
    /// The per-round accept budget was used with connections possibly still waiting.
    pub(super) carry: bool,
}

impl Listener {
    pub(super) fn new(socket: std::net::TcpListener, registry: &Registry) -> io::Result<Self> {
        let mut socket = TcpListener::from_std(socket);
        registry.register(&mut socket, LISTENER, Interest::READABLE)?;
        Ok(Listener {
            socket: Some(socket),
            paused: false,
            backoff: limits::ACCEPT_BACKOFF_START,
            carry: false,
        })
    }

    /// Stop listening (shutdown).
    pub(super) fn close(&mut self, registry: &Registry) {
        if let Some(mut socket) = self.socket.take() {
            let _ = registry.deregister(&mut socket);
        }
    }
}

impl Server {
    pub(super) fn accept(&mut self, now: Now) {
        let mut errors = 0;
        for _ in 0..limits::ACCEPTS_PER_ROUND {
            let Some(socket) = &self.listener.socket else {
                return;
            };
            if self.listener.paused {
                return;
            }
            match socket.accept() {
                Ok((stream, peer)) => self.admit(stream, peer, now),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Everyone waiting got in: an exhaustion episode, if any, is over. (Not on
                    // each success: under churn one fd frees, one gets in, the next fails
                    // again, and that is still the same episode.)
                    if self.listener.backoff > limits::ACCEPT_BACKOFF_START {
                        log::info!("accepting again ({} connections open)", self.table.len());
                        self.listener.backoff = limits::ACCEPT_BACKOFF_START;
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
        self.listener.carry = true;
    }

    /// Out of fds (or memory): take the listener out of the poll and try again later. Retrying
    /// at once would spin (the pending connection keeps the listener readable), and returning
    /// without a retry would stall it (edge-triggered: no new event would come).
    fn pause_accept(&mut self, now: Now, e: &io::Error) {
        if let Some(socket) = &mut self.listener.socket {
            if let Err(de) = self.poll.registry().deregister(socket) {
                log::warn!("cannot pause the listener: {de}");
            }
        }
        if self.listener.backoff == limits::ACCEPT_BACKOFF_START {
            log::warn!(
                "accept failed ({e}); not accepting for a while ({} connections open)",
                self.table.len()
            );
        }
        self.listener.paused = true;
        self.timers
            .add(now.mono + self.listener.backoff, Timer::ResumeAccept);
        self.listener.backoff = (self.listener.backoff * 2).min(limits::ACCEPT_BACKOFF_MAX);
    }

    pub(super) fn resume_accept(&mut self, now: Now) {
        if !std::mem::take(&mut self.listener.paused) {
            return;
        }
        if let Some(socket) = &mut self.listener.socket {
            if let Err(e) = self
                .poll
                .registry()
                .register(socket, LISTENER, Interest::READABLE)
            {
                log::warn!("cannot resume the listener: {e}");
            }
        }
        // Connections may be waiting already; the registration may not report them as new.
        self.accept(now);
    }

    /// A new connection: the room admits it (`HELLO`, sent once a TLS handshake is done) or
    /// refuses it (`ERR server-full`, or `ERR too-many-connections` by its address). Over TLS a
    /// refused connection is closed before its handshake, without a word: nothing can be said
    /// before a handshake (a plaintext `ERR` is garbage to a TLS client), and a handshake for
    /// each refused connect would let a flooding address, or a connect flood at a full server,
    /// cost a key exchange and a signature each. Connections still flushing or lingering hold
    /// an fd too, so they count ([`crate::outbox::Outbox::held`]).
    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, now: Now) {
        // The transport is chosen here, by the server's mode (never both on one port).
        let link = match &self.tls {
            None => Link::Plain(stream),
            Some(config) => match TlsLink::new(stream, Arc::clone(config)) {
                Ok(tls) => Link::tls(tls),
                Err(e) => {
                    log::warn!("cannot start TLS for {peer}: {e}");
                    return;
                }
            },
        };
        let (id, generation) = self.table.insert(link, self.settings.max_line, now.mono);
        let serial = generation.serial();
        let mut out = self.table.delivery(self.settings.sendq, now).admitting();
        let from = Peer { addr: peer, serial };
        match self.room.connect_from(id, from, now, &mut out) {
            Admission::Admitted => {}
            Admission::Refused => return self.refuse(id, serial, now),
        }
        let Some(conn) = self.table.get_mut(id) else {
            return;
        };
        if let Err(e) = sockets::tune(conn.transport_mut()) {
            log::debug!(target: Kind::Connection.target(), "{serial} socket options: {e}");
        }
        let registry = self.poll.registry();
        if let Err(e) = registry.register(conn.transport_mut(), Token(id.0), Interest::READABLE) {
            log::warn!(
                target: Kind::Connection.target(),
                "{serial} from {peer}: cannot register with the poll: {e}"
            );
            self.kill(id, LeaveReason::Disconnected, now);
            return;
        }
        log::debug!(target: Kind::Connection.target(), "{serial} connected from {peer}");
    }

    /// Let a refused connection go at once, with its `ERR` written (one write, then FIN): the
    /// fd is needed more by the people already here than by a linger. Nothing names it but the
    /// flush list, which skips ids whose connection is gone.
    fn refuse(&mut self, id: ConnId, serial: Serial, now: Now) {
        if let Some((conn, arena)) = self.table.conn_and_arena(id) {
            let _ = conn.flush(now.mono, arena);
            self.room.stats_mut().bytes_out += conn.take_sent() as u64;
        }
        self.table.remove(id);
        log::debug!(target: Kind::Connection.target(), "{serial} closed (refused)");
    }
}
