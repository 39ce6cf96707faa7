//! The byte stream under a connection: plain TCP (`--plaintext`) or TLS ([`Stream`]).
//!
//! The client reads on one thread and writes on another, each with its own handle
//! ([`Transport::try_clone`]). Over TLS both handles share one `rustls::ClientConnection`
//! behind a mutex, and each has its own `dup` of the socket: the reader waits on the socket
//! without the lock and takes it only to hand rustls what arrived; the writer takes it to
//! encrypt and write. Only writers write to the socket, with the lock held, so records leave in
//! the order rustls numbered them.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rustls::ClientConnection;

use crate::conn::Transport;

/// Most ciphertext read from the socket at once: one full TLS record and its overhead, so what
/// it decrypts to stays within rustls' buffer for received plaintext.
const READ_CIPHERTEXT: usize = 16 * 1024 + 512;

/// A connection's byte stream.
#[derive(Debug)]
pub enum Stream {
    /// The line protocol in the clear.
    Plain(TcpStream),
    /// The line protocol inside TLS.
    Tls(TlsStream),
}

/// One handle on a TLS connection whose handshake is done.
#[derive(Debug)]
pub struct TlsStream {
    sock: TcpStream,
    tls: Arc<Mutex<ClientConnection>>,
}

impl TlsStream {
    /// Wrap a connection whose handshake on `sock` is done.
    pub fn new(sock: TcpStream, tls: ClientConnection) -> TlsStream {
        TlsStream {
            sock,
            tls: Arc::new(Mutex::new(tls)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ClientConnection> {
        self.tls.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut cipher = [0u8; READ_CIPHERTEXT];
        loop {
            match self.lock().reader().read(buf) {
                // 0: the server's close_notify.
                Ok(n) => return Ok(n),
                // Nothing decrypted yet: wait on the socket (without the lock).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // UnexpectedEof: the stream ended without close_notify.
                Err(e) => return Err(e),
            }
            let n = self.sock.read(&mut cipher)?;
            let mut tls = self.lock();
            let mut arrived = &cipher[..n];
            loop {
                // An empty read tells rustls the stream ended.
                tls.read_tls(&mut arrived)?;
                tls.process_new_packets().map_err(io::Error::other)?;
                if arrived.is_empty() {
                    break;
                }
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut tls = self.tls.lock().unwrap_or_else(PoisonError::into_inner);
        let n = tls.writer().write(buf)?;
        while tls.wants_write() {
            tls.write_tls(&mut self.sock)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut tls = self.tls.lock().unwrap_or_else(PoisonError::into_inner);
        while tls.wants_write() {
            tls.write_tls(&mut self.sock)?;
        }
        Ok(())
    }
}

impl Stream {
    /// The TCP socket underneath.
    pub fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(t) => &t.sock,
        }
    }

    /// Bound the next writes (`None`: block).
    ///
    /// # Errors
    /// The socket option call's error.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket().set_write_timeout(timeout)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}

impl Transport for Stream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket().set_read_timeout(timeout)
    }

    fn try_clone(&self) -> io::Result<Self> {
        Ok(match self {
            Stream::Plain(s) => Stream::Plain(s.try_clone()?),
            Stream::Tls(t) => Stream::Tls(TlsStream {
                sock: t.sock.try_clone()?,
                tls: Arc::clone(&t.tls),
            }),
        })
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket().as_fd()
    }
}
