//! The transport seam: how bytes get from a socket to the line decoder, and from a
//! connection's write queue back to the socket.
//!
//! Everything above this seam works on plaintext: the decoder is fed what [`Transport::read`]
//! yields, and the flush hands [`Transport::write`] the queued frames (shared broadcast frames
//! included) as one vectored write. Plain TCP ([`Link::Plain`]) passes both through to the
//! socket; TLS ([`Link::Tls`], [`tls::TlsLink`]) has work of its own between the two ends (a
//! handshake, records, alerts, `close_notify`), which fits the same calls:
//!
//! - a read may take bytes off the socket without yielding plaintext ([`Input::Consumed`]):
//!   a handshake message or a partial record;
//! - a transport may hold bytes of its own to write ([`Transport::backlog`]): the loop keeps
//!   the connection on the flush list and WRITABLE interest while it does, checks
//!   [`Transport::wants_write`] after every read (a handshake answer is due, or the handshake
//!   just finished and the greeting waits), and counts the backlog as unsent for the
//!   write-stall timer;
//! - [`Transport::write`] takes plaintext and answers how much it took: TLS encrypts at flush
//!   time from the shared plaintext (records are per connection; frames are stored once),
//!   writing its own backlog first;
//! - [`Transport::close_write`] ends the stream after the last byte (`close_notify`, then FIN);
//! - [`Transport::is_handshaking`]: nothing queued can go out before the transport is set up,
//!   and a connection closed in that state is dropped at once, since nothing can be said over
//!   it. The room's handshake deadline (a name within `--handshake-timeout`) bounds the
//!   transport's handshake too, as no name can arrive before it completes.
//!
//! The event loop registers a transport with mio through [`mio::event::Source`] (readiness is
//! the socket's), so a transport is `Transport + Source`.

pub mod tls;

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use lanchat_proto::Fingerprint;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

/// What one [`Transport::read`] produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// `n > 0` bytes of plaintext at the front of the buffer.
    Data(usize),
    /// `n` bytes came off the socket and made no plaintext yet (a handshake message, part of a
    /// record): read again. Charged to the connection's read budget like data.
    Consumed(usize),
    /// The peer ended its side of the stream.
    Eof,
    /// Nothing more to read until the next readable event.
    Drained,
}

/// What [`Transport::close_write`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The write side is shut: everything, the transport's own end-of-stream included, is out.
    Done,
    /// Bytes of the transport's own still wait for the socket; call again when writable.
    Pending,
}

/// A connection's byte stream, as the loop sees it: plaintext in, plaintext out.
///
/// Calls never block (the socket is non-blocking); `WouldBlock` from the socket becomes
/// [`Input::Drained`] on the read side and an `Err` of kind `WouldBlock` on the write side.
/// `Interrupted` is retried inside.
pub trait Transport {
    /// Read what the peer sent into `buf`, as plaintext.
    ///
    /// # Errors
    /// The socket's (reset, ...) or the transport's (a bad record): the connection is over.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<Input>;

    /// Take plaintext for the peer from `bufs`, in order, and write it, with one write to the
    /// socket where the transport can (a transport with a backlog writes that first). Returns
    /// how many bytes of `bufs` it took: from then on they are the transport's to deliver.
    /// Called with empty `bufs` to push the backlog alone. `Ok(0)` is fine when it can take
    /// nothing yet (a handshake in progress): the loop offers the bytes again after a read
    /// that returned [`Input::Consumed`], or when the socket turns writable.
    ///
    /// # Errors
    /// `WouldBlock` when the socket takes nothing now; others (EPIPE, reset) end the
    /// connection.
    fn write(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;

    /// Bytes of its own the transport has yet to write (records made from plaintext it took,
    /// handshake messages, alerts); 0 for plain TCP.
    fn backlog(&self) -> usize {
        0
    }

    /// The connection should be flushed even if nothing new was queued: the transport has a
    /// backlog, or it has just been set up and the plaintext queued meanwhile (the greeting)
    /// can go now.
    fn wants_write(&self) -> bool {
        self.backlog() > 0
    }

    /// End the stream for writing once everything is out: the transport's own end-of-stream
    /// (TLS `close_notify`), then the socket's FIN. Called when no plaintext is left, again
    /// while it answers [`Closed::Pending`].
    ///
    /// # Errors
    /// The socket's; the connection is over either way.
    fn close_write(&mut self) -> io::Result<Closed>;

    /// Make the coming close a reset (`SO_LINGER 0`): for a peer that does not read, so the
    /// kernel stops retrying its send buffer.
    fn reset_on_close(&mut self);

    /// Still setting up (a TLS handshake): nothing the room queues can be delivered yet.
    fn is_handshaking(&self) -> bool {
        false
    }

    /// The key the peer proved it holds while setting up (a TLS client certificate), handed
    /// over once, when set up; `None` without one (plain TCP, a TLS client that showed no
    /// certificate) or once taken.
    fn take_peer_key(&mut self) -> Option<Fingerprint> {
        None
    }

    /// The next input is the costly part of setting up (a TLS `ClientHello`: a key exchange
    /// and a signature), which the loop rations per round.
    fn awaits_hello(&self) -> bool {
        false
    }

    /// Let go of what the transport can rebuild when it next needs it (TLS: the expanded
    /// AEAD keys): the loop calls it on connections with nothing to send, at its heap trim.
    fn rest(&mut self) {}

    /// Whether [`Transport::rest`] would let go of something now.
    fn can_rest(&self) -> bool {
        false
    }

    /// Whether state [`Transport::rest`] would let go of was built since it was last asked
    /// (the loop counts it toward its next heap trim).
    fn take_built(&mut self) -> bool {
        false
    }

    /// What the input read since the last call cost beyond its bytes, in bytes of the
    /// connection's read budget (TLS: key updates, which cost a key derivation each); 0 for
    /// plain TCP. The loop charges it after every read.
    fn take_work(&mut self) -> usize {
        0
    }

    /// Heap bytes the transport's own buffers hold (TLS: ciphertext read and not yet opened,
    /// and its backlog), for the loop's memory accounting; 0 for plain TCP.
    fn buffered_capacity(&self) -> usize {
        0
    }
}

/// The socket under a transport: a byte stream that can also end its write side and be set
/// to reset on close. A mio `TcpStream` in the loop; an in-memory stream in unit tests.
pub trait Socket: Read + Write {
    /// Shut the write side (FIN).
    ///
    /// # Errors
    /// The OS's.
    fn shutdown_write(&self) -> io::Result<()>;

    /// Make the coming close a reset (`SO_LINGER 0`).
    fn reset_on_close(&self);
}

impl Socket for TcpStream {
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn reset_on_close(&self) {
        let _ = socket2::SockRef::from(self).set_linger(Some(Duration::ZERO));
    }
}

/// The transports a connection can run over; the loop's connections are `Conn<Link>`. The
/// accept path (`event_loop::accept`) chooses one per connection from the server's mode: a
/// server is TLS or plaintext, never both on one port.
#[derive(Debug)]
pub enum Link {
    /// Plain TCP (`--plaintext`): plaintext is what the socket carries.
    Plain(TcpStream),
    /// TLS 1.3 over TCP.
    Tls(Tls),
}

/// A TLS link in the table's slot: the pointer to its state and its expanded sending key
/// ([`tls::TlsLink`]: plain connections pay 16 bytes of slot for them, not the state), with its
/// backlog kept beside them: queueing a frame for a connection asks for it (the send queue's
/// cap counts it), and a broadcast to 10,000 must not chase 10,000 pointers for it. Every call
/// that can change the backlog updates the copy.
#[derive(Debug)]
pub struct Tls {
    link: tls::TlsLink<TcpStream>,
    backlog: usize,
}

impl Link {
    /// A TLS link.
    pub fn tls(link: tls::TlsLink<TcpStream>) -> Link {
        Link::Tls(Tls {
            backlog: link.backlog(),
            link,
        })
    }
}

impl Tls {
    /// Run `f` on the link, then note its backlog.
    fn with<R>(&mut self, f: impl FnOnce(&mut tls::TlsLink<TcpStream>) -> R) -> R {
        let r = f(&mut self.link);
        self.backlog = self.link.backlog();
        r
    }
}

impl Transport for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<Input> {
        match self {
            Link::Plain(s) => plain_read(s, buf),
            Link::Tls(t) => t.with(|l| l.read(buf)),
        }
    }

    fn write(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Link::Plain(s) => plain_write(s, bufs),
            Link::Tls(t) => t.with(|l| l.write(bufs)),
        }
    }

    fn backlog(&self) -> usize {
        match self {
            Link::Plain(_) => 0,
            Link::Tls(t) => t.backlog,
        }
    }

    fn wants_write(&self) -> bool {
        match self {
            Link::Plain(_) => false,
            Link::Tls(t) => t.link.wants_write(),
        }
    }

    fn close_write(&mut self) -> io::Result<Closed> {
        match self {
            Link::Plain(s) => {
                s.shutdown_write()?;
                Ok(Closed::Done)
            }
            Link::Tls(t) => t.with(|l| l.close_write()),
        }
    }

    fn reset_on_close(&mut self) {
        match self {
            Link::Plain(s) => Socket::reset_on_close(s),
            Link::Tls(t) => t.link.reset_on_close(),
        }
    }

    fn is_handshaking(&self) -> bool {
        match self {
            Link::Plain(_) => false,
            Link::Tls(t) => t.link.is_handshaking(),
        }
    }

    fn awaits_hello(&self) -> bool {
        match self {
            Link::Plain(_) => false,
            Link::Tls(t) => t.link.awaits_hello(),
        }
    }

    fn can_rest(&self) -> bool {
        match self {
            Link::Plain(_) => false,
            Link::Tls(t) => t.link.can_rest(),
        }
    }

    fn rest(&mut self) {
        if let Link::Tls(t) = self {
            t.link.rest();
        }
    }

    fn take_built(&mut self) -> bool {
        match self {
            Link::Plain(_) => false,
            Link::Tls(t) => t.link.take_built(),
        }
    }

    fn take_peer_key(&mut self) -> Option<Fingerprint> {
        match self {
            Link::Plain(_) => None,
            Link::Tls(t) => t.link.take_peer_key(),
        }
    }

    fn take_work(&mut self) -> usize {
        match self {
            Link::Plain(_) => 0,
            Link::Tls(t) => t.link.take_work(),
        }
    }

    fn buffered_capacity(&self) -> usize {
        match self {
            Link::Plain(_) => 0,
            Link::Tls(t) => t.link.buffered_capacity(),
        }
    }
}

impl Link {
    /// The socket under the transport.
    fn socket(&self) -> &TcpStream {
        match self {
            Link::Plain(s) => s,
            Link::Tls(t) => t.link.socket(),
        }
    }

    /// The socket under the transport, to register it with the poll.
    fn socket_mut(&mut self) -> &mut TcpStream {
        match self {
            Link::Plain(s) => s,
            Link::Tls(t) => t.link.socket_mut(),
        }
    }
}

impl std::os::fd::AsFd for Link {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket().as_fd()
    }
}

impl mio::event::Source for Link {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.socket_mut().register(registry, token, interest)
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interest: Interest,
    ) -> io::Result<()> {
        self.socket_mut().reregister(registry, token, interest)
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        self.socket_mut().deregister(registry)
    }
}

/// One `read` from a plain socket (retrying `Interrupted`).
fn plain_read(s: &mut impl Read, buf: &mut [u8]) -> io::Result<Input> {
    loop {
        return match s.read(buf) {
            Ok(0) => Ok(Input::Eof),
            Ok(n) => Ok(Input::Data(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Input::Drained),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
    }
}

/// One `writev` to a plain socket (retrying `Interrupted`); a plain `write` when there is one
/// buffer (the usual round: the kernel then need not copy in an iovec array).
fn plain_write(s: &mut impl Write, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    loop {
        let written = match bufs {
            [one] => s.write(one),
            _ => s.write_vectored(bufs),
        };
        return match written {
            Ok(0) if bufs.iter().any(|b| !b.is_empty()) => Err(io::ErrorKind::WriteZero.into()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => other,
        };
    }
}

/// In-memory streams for the unit tests of what sits above the seam.
#[cfg(test)]
pub(crate) mod test_stream {
    use std::io::{self, IoSlice, Read, Write};

    use super::{plain_read, plain_write, Closed, Input, Transport};

    /// A transport over any in-memory stream: reads and writes pass through like plain TCP's.
    #[derive(Debug)]
    pub(crate) struct Plain<S>(pub(crate) S);

    impl<S: Read + Write> Transport for Plain<S> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<Input> {
            plain_read(&mut self.0, buf)
        }

        fn write(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            plain_write(&mut self.0, bufs)
        }

        fn close_write(&mut self) -> io::Result<Closed> {
            Ok(Closed::Done)
        }

        fn reset_on_close(&mut self) {}
    }

    /// Takes at most `room` bytes per write (vectored writes too), or fails with `fail`; has
    /// nothing to read.
    #[derive(Debug, Default)]
    pub(crate) struct Sink {
        pub(crate) got: Vec<u8>,
        pub(crate) room: usize,
        pub(crate) fail: Option<io::ErrorKind>,
        pub(crate) writes: usize,
    }

    impl Sink {
        /// A sink taking `room` bytes per write.
        pub(crate) fn taking(room: usize) -> Self {
            Sink {
                room,
                ..Sink::default()
            }
        }
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }

        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if let Some(kind) = self.fail {
                return Err(kind.into());
            }
            self.writes += 1;
            let mut n = 0;
            for b in bufs {
                let k = b.len().min(self.room - n);
                self.got.extend_from_slice(&b[..k]);
                n += k;
            }
            if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Read for Sink {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
    }
}
