//! A load client's connection: plain TCP (`--plaintext`) or TLS (the default, as a real client
//! connects), on a non-blocking socket in the generator's poll loop.
//!
//! Over TLS the socket is read into the generator's one large buffer as before, and the
//! ciphertext is handed to a buffered `rustls::ClientConnection` a record at a time; what it
//! decrypts is read into a second buffer and given to the caller chunk by chunk. Any server key
//! is accepted (the handshake signature is still checked): the generator measures a server on
//! this machine, it does not guard a person's words.

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

/// A client's byte stream.
pub(super) enum Link {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (boxed: the connection is a few KiB, and idle clients are many).
    Tls(Box<Tls>),
}

pub(super) struct Tls {
    sock: TcpStream,
    conn: ClientConnection,
}

/// The TLS configuration every load client uses: lanchat's own (TLS 1.3, ALPN `lanchat/1`,
/// no resumption), trusting whatever key the server presents.
pub(super) fn tls_config() -> Arc<ClientConfig> {
    lanchat_client::tls::pinned_config(None).0
}

impl Link {
    /// TLS over a connected `sock`: the `ClientHello` goes out with the first write.
    pub(super) fn tls(sock: TcpStream, config: &Arc<ClientConfig>) -> io::Result<Link> {
        let name = ServerName::try_from("lanchat").map_err(io::Error::other)?;
        let conn = ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
        Ok(Link::Tls(Box::new(Tls { sock, conn })))
    }

    /// The socket, to register with the poll or set options on.
    pub(super) fn socket(&mut self) -> &mut TcpStream {
        match self {
            Link::Plain(s) => s,
            Link::Tls(t) => &mut t.sock,
        }
    }

    /// One read from the socket into `buf`; over TLS it is decrypted into `plain`. Each piece
    /// of plaintext goes to `take` (which may stop the read by returning `false`). Returns the
    /// bytes read from the socket (0: the end of the stream).
    ///
    /// # Errors
    /// The socket's (`WouldBlock` when nothing is there), or rustls' as `InvalidData`.
    pub(super) fn read(
        &mut self,
        buf: &mut [u8],
        plain: &mut [u8],
        mut take: impl FnMut(&[u8]) -> bool,
    ) -> io::Result<usize> {
        match self {
            Link::Plain(s) => {
                let n = s.read(buf)?;
                if n > 0 {
                    take(&buf[..n]);
                }
                Ok(n)
            }
            Link::Tls(t) => {
                let n = t.sock.read(buf)?;
                let mut arrived = &buf[..n];
                loop {
                    // An empty slice tells rustls the stream ended.
                    t.conn.read_tls(&mut arrived)?;
                    t.conn
                        .process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                    loop {
                        match t.conn.reader().read(plain) {
                            Ok(0) => break,
                            Ok(m) => {
                                if !take(&plain[..m]) {
                                    return Ok(n);
                                }
                            }
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => return Err(e),
                        }
                    }
                    if arrived.is_empty() {
                        break;
                    }
                }
                // The handshake's answer (the client's Finished), and what waited for it.
                t.push()?;
                Ok(n)
            }
        }
    }

    /// Write (part of) `bytes`; over TLS what rustls still holds goes first.
    ///
    /// # Errors
    /// The socket's, `WouldBlock` when it takes nothing now.
    pub(super) fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Link::Plain(s) => s.write(bytes),
            Link::Tls(t) => {
                t.push()?;
                if t.conn.wants_write() {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                let n = t.conn.writer().write(bytes)?;
                t.push()?;
                Ok(n)
            }
        }
    }

    /// Write what rustls still holds (`WouldBlock` is no error: the next writable event
    /// comes back here).
    ///
    /// # Errors
    /// The socket's.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        match self {
            Link::Plain(_) => Ok(()),
            Link::Tls(t) => t.push(),
        }
    }
}

impl Tls {
    /// Write rustls' records until it has none or the socket is full.
    fn push(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
