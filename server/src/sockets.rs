//! Socket set-up that std and mio do not offer: the listen backlog, TCP keepalive, the
//! file-descriptor limit.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

use crate::limits;

/// A non-blocking listening socket with a deep backlog and `SO_REUSEADDR` (so a restarted
/// server can bind while old connections sit in TIME_WAIT).
///
/// # Errors
/// The OS's, e.g. address in use or not available.
pub fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        // `--bind ::` should mean every interface, IPv4 included, whatever the sysctl says.
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(limits::LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// A UDP socket for discovery on `addr`, non-blocking, allowed to answer broadcasts.
///
/// Never shared: no `SO_REUSEADDR` or `SO_REUSEPORT`, so no other process on this machine,
/// whatever its user, can bind the port beside it to read the probes and answer as this server
/// (UDP has no TIME_WAIT, so a restarted server binds without them).
///
/// # Errors
/// The OS's, e.g. address in use.
pub fn udp(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Tune an accepted chat socket: no Nagle delay (an interactive line must not wait 40 ms for a
/// delayed ACK) and TCP keepalive, so a peer that vanished without a FIN is found.
///
/// # Errors
/// The OS's; the caller logs and carries on (the connection still works without these).
pub fn tune<S: std::os::fd::AsFd>(stream: &S) -> io::Result<()> {
    let sock = SockRef::from(stream);
    sock.set_tcp_nodelay(true)?;
    let keepalive = TcpKeepalive::new()
        .with_time(limits::KEEPALIVE_IDLE)
        .with_interval(limits::KEEPALIVE_INTERVAL)
        .with_retries(limits::KEEPALIVE_PROBES);
    sock.set_tcp_keepalive(&keepalive)
}

/// Raise this process's soft file-descriptor limit to its hard limit; returns `(soft, hard)`
/// afterwards.
///
/// # Errors
/// The OS's, from `getrlimit`/`setrlimit`.
pub fn raise_fd_limit() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit; setrlimit only reads it.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    Ok((lim.rlim_cur, lim.rlim_max))
}

/// True for accept errors that mean "out of file descriptors or memory": retrying at once
/// would fail again, so the listener must rest.
pub fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}
