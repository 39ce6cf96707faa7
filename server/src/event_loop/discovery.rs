//! The discovery socket in the loop: read probes (a budget per round), answer through
//! [`crate::discovery`]'s reply and rate limiter.

use std::io;
use std::net::SocketAddr;

use mio::net::UdpSocket;
use mio::{Interest, Registry};

use super::{Server, DISCOVERY};
use crate::clock::Now;
use crate::discovery::{self, ReplyLimiter};
use crate::limits;
use crate::sockets;

/// The UDP socket that answers LAN discovery probes.
pub(super) struct Discovery {
    socket: UdpSocket,
    limiter: ReplyLimiter,
    /// Server name in replies.
    name: String,
    /// The TCP port replies advertise.
    port: u16,
    /// What version-2 replies say the port speaks.
    transport: discovery::Transport,
    /// The per-round budget was used with datagrams possibly still queued.
    pub(super) carry: bool,
}

impl Discovery {
    /// Bind the UDP socket on the chat port; `None` (logged) if that fails: discovery is a
    /// convenience, not a reason not to serve.
    pub(super) fn bind(
        addr: SocketAddr,
        name: Option<String>,
        transport: discovery::Transport,
        registry: &Registry,
    ) -> Option<Discovery> {
        let bound = sockets::udp(addr).and_then(|s| {
            let mut socket = UdpSocket::from_std(s);
            registry.register(&mut socket, DISCOVERY, Interest::READABLE)?;
            Ok(socket)
        });
        match bound {
            Ok(socket) => Some(Discovery {
                socket,
                limiter: ReplyLimiter::default(),
                name: name.unwrap_or_else(discovery::host_name),
                port: addr.port(),
                transport,
                carry: false,
            }),
            Err(e) => {
                log::warn!("discovery off: cannot bind UDP {addr}: {e}");
                None
            }
        }
    }

    /// Answer as `name` from now on; the name it replaced, if it differs.
    pub(super) fn rename(&mut self, name: String) -> Option<String> {
        (name != self.name).then(|| std::mem::replace(&mut self.name, name))
    }

    /// Whether datagrams were left for this round (and forget it).
    pub(super) fn take_carry(&mut self) -> bool {
        std::mem::take(&mut self.carry)
    }

    /// Stop answering (shutdown).
    pub(super) fn close(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.socket);
    }

    /// Answer the probes queued on the socket, at most a round's budget of datagrams.
    fn answer(&mut self, members: usize, now: Now) {
        let mut buf = [0u8; discovery::MAX_PROBE + 1];
        // Bounded: a flood of datagrams cannot hold the loop for more than this many reads.
        for _ in 0..limits::DATAGRAMS_PER_ROUND {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    if !discovery::is_probe(&buf[..n]) || !self.limiter.allow(from.ip(), now.mono) {
                        continue;
                    }
                    let reply = discovery::reply_to(
                        &buf[..n],
                        self.port,
                        members,
                        &self.name,
                        &self.transport,
                    );
                    if let Err(e) = self.socket.send_to(&reply, from) {
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
        self.carry = true;
    }
}

impl Server {
    pub(super) fn answer_probes(&mut self, now: Now) {
        let members = self.room.members();
        if let Some(d) = &mut self.discovery {
            d.answer(members, now);
        }
    }
}
