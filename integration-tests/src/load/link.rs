//! A load client's connection: plain TCP (`--plaintext`) or TLS (the default, as a real client
//! connects), on a non-blocking socket in the generator's poll loop.
//!
//! Over TLS the handshake is a buffered `rustls::ClientConnection`'s; once it is done, the
//! generator takes rustls' traffic secrets and opens and seals records itself, with the
//! server's own record layer (`lanchat_server::transport::tls::records`): records are opened in
//! place in the generator's one large read buffer, and their plaintext goes to the caller from
//! there, without the copies (and the state machine) of rustls' buffered API on every record.
//! One thread plays thousands of clients: what a record costs it is added to every latency it
//! measures. Any server key is accepted (the handshake signature is still checked): the
//! generator measures a server on this machine, it does not guard a person's words.

use std::io::{self, Read, Write};
use std::sync::Arc;

use super::arrival;
use lanchat_server::transport::tls::records::{Opened, Records, SealKey};
use mio::net::TcpStream;
use rustls::client::ClientConnectionData;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

/// A client's byte stream.
pub(super) enum Link {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (boxed: the connection is a few KiB, and idle clients are many).
    Tls(Box<Tls>),
}

/// Where a TLS client is.
enum Phase {
    /// The handshake, rustls driving it (boxed: a connection is a kilobyte, and at rest the
    /// generator's clients hold only their records).
    Handshake(Box<ClientConnection>),
    /// After it, the records are the generator's.
    Traffic(Box<Records<ClientConnectionData>>),
    /// For the moment of the change, and after a failed one.
    Broken,
}

pub(super) struct Tls {
    sock: TcpStream,
    phase: Phase,
    /// The start of a record cut by the last read.
    rx: Vec<u8>,
    /// Ciphertext not written yet; `tx[tx_pos..]` are unsent.
    tx: Vec<u8>,
    tx_pos: usize,
    /// The expanded key its records are sealed with.
    key: SealKey,
}

/// The TLS configuration every load client uses: lanchat's own (TLS 1.3, ALPN `lanchat/1`,
/// no resumption), trusting whatever key the server presents, its secrets handed over after
/// the handshake.
pub(super) fn tls_config() -> Arc<ClientConfig> {
    let mut config = (*lanchat_client::tls::pinned_config(None).0).clone();
    config.enable_secret_extraction = true;
    Arc::new(config)
}

fn invalid(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Link {
    /// TLS over a connected `sock`: the `ClientHello` goes out with the first write.
    pub(super) fn tls(sock: TcpStream, config: &Arc<ClientConfig>) -> io::Result<Link> {
        let name = ServerName::try_from("lanchat").map_err(io::Error::other)?;
        let conn = ClientConnection::new(Arc::clone(config), name).map_err(io::Error::other)?;
        Ok(Link::Tls(Box::new(Tls {
            sock,
            phase: Phase::Handshake(Box::new(conn)),
            rx: Vec::new(),
            tx: Vec::new(),
            tx_pos: 0,
            key: SealKey::default(),
        })))
    }

    /// The socket, to register with the poll or set options on.
    pub(super) fn socket(&mut self) -> &mut TcpStream {
        match self {
            Link::Plain(s) => s,
            Link::Tls(t) => &mut t.sock,
        }
    }

    /// One read from the socket into `buf`; over TLS, records are opened in place there (in
    /// `plain` during the handshake). Each piece of plaintext goes to `take` (which may stop
    /// the read by returning `false`), with when the read's newest bytes reached the socket
    /// (the kernel's receive time, [`arrival`], when it gave one). Returns the bytes read from
    /// the socket (0: the end of the stream).
    ///
    /// # Errors
    /// The socket's (`WouldBlock` when nothing is there), or TLS's as `InvalidData`.
    pub(super) fn read(
        &mut self,
        buf: &mut [u8],
        plain: &mut [u8],
        mut take: impl FnMut(&[u8], Option<u64>) -> bool,
    ) -> io::Result<usize> {
        match self {
            Link::Plain(s) => {
                let (n, arrived) = arrival::recv(s, buf)?;
                if n > 0 {
                    take(&buf[..n], arrived);
                }
                Ok(n)
            }
            Link::Tls(t) => t.read(buf, plain, take),
        }
    }

    /// Write (part of) `bytes`; over TLS what waits goes first, and all of `bytes` is taken
    /// once nothing waits.
    ///
    /// # Errors
    /// The socket's, `WouldBlock` when it takes nothing now.
    pub(super) fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Link::Plain(s) => s.write(bytes),
            Link::Tls(t) => t.write(bytes),
        }
    }

    /// Write what waits (`WouldBlock` is no error: the next writable event comes back here).
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
    fn read(
        &mut self,
        buf: &mut [u8],
        plain: &mut [u8],
        mut take: impl FnMut(&[u8], Option<u64>) -> bool,
    ) -> io::Result<usize> {
        if let Phase::Handshake(conn) = &mut self.phase {
            let (n, stamp) = arrival::recv(&self.sock, buf)?;
            let mut arrived = &buf[..n];
            loop {
                // An empty slice tells rustls the stream ended.
                conn.read_tls(&mut arrived)?;
                conn.process_new_packets().map_err(invalid)?;
                loop {
                    match conn.reader().read(plain) {
                        Ok(0) => break,
                        Ok(m) => {
                            if !take(&plain[..m], stamp) {
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
            if !conn.is_handshaking() {
                self.enter_traffic()?;
            }
            // The handshake's answer (the client's Finished), and what waited for it.
            self.push()?;
            return Ok(n);
        }
        let Phase::Traffic(records) = &mut self.phase else {
            return Err(io::ErrorKind::InvalidData.into());
        };
        let carried = self.rx.len();
        buf[..carried].copy_from_slice(&self.rx);
        let (n, arrived) = arrival::recv(&self.sock, &mut buf[carried..])?;
        if n == 0 {
            return Ok(0);
        }
        let end = carried + n;
        let mut used = 0;
        while let Some((len, opened)) = records.open_next(&mut buf[used..end]).map_err(invalid)? {
            let record = used..used + len;
            used += len;
            match opened {
                Opened::Data(range) => {
                    if !take(&buf[record][range], arrived) {
                        break;
                    }
                }
                Opened::Nothing => {}
                Opened::Closed => return Ok(0),
            }
        }
        self.rx.clear();
        self.rx.extend_from_slice(&buf[used..end]);
        if !self.tx.is_empty() {
            self.push()?;
        }
        Ok(n)
    }

    /// The handshake is done: what rustls still has to send goes first, then the records are
    /// ours.
    fn enter_traffic(&mut self) -> io::Result<()> {
        let Phase::Handshake(mut conn) = std::mem::replace(&mut self.phase, Phase::Broken) else {
            return Ok(());
        };
        while conn.wants_write() {
            conn.write_tls(&mut self.tx)?;
        }
        let suite = conn
            .negotiated_cipher_suite()
            .ok_or(io::ErrorKind::InvalidData)?;
        let secrets = conn.dangerous_extract_secrets().map_err(invalid)?;
        let records = Records::without_key_updates(secrets, suite).map_err(invalid)?;
        self.phase = Phase::Traffic(Box::new(records));
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.push()?;
        if self.tx_pos < self.tx.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = match &mut self.phase {
            Phase::Handshake(conn) => conn.writer().write(bytes)?,
            Phase::Traffic(records) => {
                records
                    .seal_data(&mut self.key, &[bytes], 0, bytes.len(), &mut self.tx)
                    .map_err(invalid)?;
                bytes.len()
            }
            Phase::Broken => return Err(io::ErrorKind::InvalidData.into()),
        };
        self.push()?;
        Ok(n)
    }

    /// Write what waits until it is all out or the socket is full: rustls' records during the
    /// handshake, ours after it.
    fn push(&mut self) -> io::Result<()> {
        if let Phase::Handshake(conn) = &mut self.phase {
            while conn.wants_write() {
                conn.write_tls(&mut self.tx)?;
            }
        }
        while self.tx_pos < self.tx.len() {
            match self.sock.write(&self.tx[self.tx_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.tx_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.tx.clear();
        self.tx_pos = 0;
        Ok(())
    }
}
