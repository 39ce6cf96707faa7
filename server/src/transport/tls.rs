//! TLS 1.3 as a transport ([`TlsLink`]): rustls' *unbuffered* server connection driven from the
//! loop, non-blocking, on the loop's thread.
//!
//! The unbuffered API leaves the buffers to the caller, and that is what keeps a connection at
//! rest small: rustls' buffered `ServerConnection` keeps ~7.5 KiB of buffers of its own per
//! connection after the handshake, this link keeps none (docs/BENCHMARKS.md has the figures).
//!
//! - **Reading.** Ciphertext is read into the second half of the loop's scratch buffer and
//!   decrypted records are copied to its first half, where the loop's decoder finds them as it
//!   would plain TCP's bytes. Only what is left of a record cut by the read (or of a handshake
//!   message spanning records) is kept, in `rx`, until the next read.
//! - **Writing.** Plaintext is encrypted at flush time, straight from the connection's queue
//!   (the shared frames), as few records as possible: up to 16 KiB of plaintext per record.
//!   Ciphertext the socket did not take waits in `tx`, and no more plaintext is taken until it
//!   is out, so a slow reader's backlog stays in the shared frames, not in private ciphertext.
//! - **The handshake.** Its messages go out through `tx` like records; plaintext is taken only
//!   once it is complete (the greeting waits in the queue), and [`TlsLink::wants_write`] asks
//!   for a flush the moment it completes.
//! - **Bad input.** A first byte that is not a TLS handshake record (a name typed into `nc`),
//!   a record rustls rejects, or a record or handshake message larger than the read buffer
//!   ends the connection at once, with the alert rustls has for it when it has one.

use std::fmt;
use std::io::{self, IoSlice};
use std::sync::Arc;

use lanchat_proto::Fingerprint;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, EncryptError, InsufficientSizeError,
    UnbufferedStatus, WriteTraffic,
};
use rustls::ServerConfig;

use super::{Closed, Input, Socket};
use crate::limits;

/// Most plaintext in one TLS record.
const MAX_RECORD: usize = 16 * 1024;

/// What a TLS 1.3 record adds to its plaintext: the header (5 bytes), the inner content type
/// (1) and the AEAD tag (16).
const RECORD_OVERHEAD: usize = 22;

/// The first byte a TLS client sends: the content type of a handshake record (its
/// `ClientHello`).
const HANDSHAKE_RECORD: u8 = 0x16;

/// Why a TLS connection is being closed.
#[derive(Debug)]
pub enum TlsLinkError {
    /// The peer's first byte is not the start of a TLS handshake: it does not speak TLS.
    NotTls,
    /// A record or handshake message larger than the read buffer can hold.
    Oversized,
    /// rustls refused what the peer sent (its alert, if any, has been sent).
    Tls(rustls::Error),
    /// rustls was in a state this link never asks for (early data, which is not enabled).
    Unexpected(&'static str),
}

impl fmt::Display for TlsLinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsLinkError::NotTls => f.write_str("not TLS: the first byte is not a handshake"),
            TlsLinkError::Oversized => f.write_str("a TLS record or handshake message too large"),
            TlsLinkError::Tls(e) => write!(f, "TLS: {e}"),
            TlsLinkError::Unexpected(what) => write!(f, "TLS: unexpected {what}"),
        }
    }
}

impl std::error::Error for TlsLinkError {}

impl From<TlsLinkError> for io::Error {
    fn from(e: TlsLinkError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// One TLS connection over a non-blocking socket `S`.
pub struct TlsLink<S> {
    sock: S,
    tls: UnbufferedServerConnection,
    /// Ciphertext read and not processed yet: the start of a record, or a handshake message
    /// waiting for the rest of it. Holds no memory when empty, which is the rule at rest.
    rx: Vec<u8>,
    /// Bytes for the peer (handshake messages, records, alerts); `tx[tx_pos..]` are unsent.
    /// Holds no memory when everything is out.
    tx: Vec<u8>,
    /// Invariant: `tx_pos <= tx.len()`.
    tx_pos: usize,
    /// Bytes have come from the peer (its first byte was checked).
    started: bool,
    /// The handshake completed and no plaintext was taken since: what was queued meanwhile
    /// can go out now.
    ready: bool,
    /// The peer's `close_notify` arrived: nothing more will come.
    peer_closed: bool,
    /// Our `close_notify` is in `tx` (or out).
    close_queued: bool,
    /// The server has answered the `ClientHello` (its flight is in `tx` or out): what is left
    /// of the handshake costs little.
    answered: bool,
}

impl<S> fmt::Debug for TlsLink<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsLink")
            .field("handshaking", &self.tls.is_handshaking())
            .field("rx", &self.rx.len())
            .field("backlog", &(self.tx.len() - self.tx_pos))
            .field("peer_closed", &self.peer_closed)
            .field("close_queued", &self.close_queued)
            .finish_non_exhaustive()
    }
}

impl<S: Socket> TlsLink<S> {
    /// A server-side TLS connection over `sock`, from the server's configuration.
    ///
    /// # Errors
    /// rustls's, when it cannot start a connection with `config`.
    pub fn new(sock: S, config: Arc<ServerConfig>) -> Result<Self, rustls::Error> {
        Ok(TlsLink {
            sock,
            tls: UnbufferedServerConnection::new(config)?,
            rx: Vec::new(),
            tx: Vec::new(),
            tx_pos: 0,
            started: false,
            ready: false,
            peer_closed: false,
            close_queued: false,
            answered: false,
        })
    }

    /// The socket (to register it with the poll, or set options).
    pub fn socket(&self) -> &S {
        &self.sock
    }

    /// The socket, mutably (mio registers through `&mut`).
    pub fn socket_mut(&mut self) -> &mut S {
        &mut self.sock
    }

    /// Still in the handshake: no plaintext goes either way yet.
    pub fn is_handshaking(&self) -> bool {
        self.tls.is_handshaking()
    }

    /// Its next input is the expensive one: a `ClientHello`, answered with a key exchange and
    /// a signature.
    pub fn awaits_hello(&self) -> bool {
        !self.answered && self.tls.is_handshaking()
    }

    /// The client's key, once the handshake proved it holds it (see [`crate::tls::client_keys`]);
    /// `None` during the handshake or for a client that showed no certificate.
    pub fn peer_key(&self) -> Option<Fingerprint> {
        if self.tls.is_handshaking() {
            return None;
        }
        crate::tls::fingerprint_of(self.tls.peer_certificates()?.first()?).ok()
    }

    /// Bytes of its own not yet written.
    pub fn backlog(&self) -> usize {
        self.tx.len() - self.tx_pos
    }

    /// A flush is due: bytes of its own wait, or the handshake just completed.
    pub fn wants_write(&self) -> bool {
        self.backlog() > 0 || self.ready
    }

    /// One read from the socket: ciphertext into the second half of `buf`, what it decrypts
    /// to into the first half (see the module docs).
    ///
    /// # Errors
    /// The socket's, or [`TlsLinkError`]: the connection is over.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<Input> {
        if self.peer_closed {
            return Ok(Input::Eof);
        }
        let half = buf.len() / 2;
        let (plain, rest) = buf.split_at_mut(half);
        let cipher = &mut rest[..half];
        let carried = self.rx.len();
        if carried >= cipher.len() {
            return Err(TlsLinkError::Oversized.into());
        }
        cipher[..carried].copy_from_slice(&self.rx);
        let n = loop {
            match self.sock.read(&mut cipher[carried..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Input::Drained),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.rx = Vec::new();
            return Ok(Input::Eof);
        }
        if !self.started {
            // Every TLS client opens with a handshake record. Anything else (a name typed
            // into nc) is closed now rather than left waiting for the handshake deadline.
            if cipher[0] != HANDSHAKE_RECORD {
                return Err(TlsLinkError::NotTls.into());
            }
            self.started = true;
        }
        let end = carried + n;
        let was_handshaking = self.tls.is_handshaking();
        let (used, produced) = self.process(&mut cipher[..end], plain)?;
        if used >= end {
            self.rx = Vec::new();
        } else {
            self.rx.clear();
            self.rx.extend_from_slice(&cipher[used..end]);
        }
        if was_handshaking && !self.tls.is_handshaking() {
            self.ready = true;
        }
        Ok(if produced > 0 {
            Input::Data(produced)
        } else if self.peer_closed {
            Input::Eof
        } else {
            Input::Consumed(n)
        })
    }

    /// Run rustls over `incoming` until it needs more: decrypted records go to `plain`,
    /// handshake messages to `tx`. Returns the bytes of `incoming` used up and the plaintext
    /// bytes produced.
    fn process(&mut self, incoming: &mut [u8], plain: &mut [u8]) -> io::Result<(usize, usize)> {
        let (mut used, mut produced) = (0, 0);
        loop {
            let UnbufferedStatus { discard, state } =
                self.tls.process_tls_records(&mut incoming[used..]);
            let mut done = false;
            let mut failed = None;
            match state {
                Ok(ConnectionState::ReadTraffic(mut records)) => {
                    while let Some(record) = records.next_record() {
                        let payload = match record {
                            Ok(r) => r.payload,
                            Err(e) => {
                                failed = Some(TlsLinkError::Tls(e));
                                break;
                            }
                        };
                        // Plaintext is shorter than the records it came in, and they all fit
                        // in the other half of the buffer.
                        let Some(dst) = plain.get_mut(produced..produced + payload.len()) else {
                            failed = Some(TlsLinkError::Oversized);
                            break;
                        };
                        dst.copy_from_slice(payload);
                        produced += payload.len();
                    }
                }
                Ok(ConnectionState::EncodeTlsData(mut message)) => {
                    self.answered = true;
                    if let Err(e) = encode(&mut message, &mut self.tx) {
                        failed = Some(e);
                    }
                }
                // The bytes are in `tx`, which the flush writes.
                Ok(ConnectionState::TransmitTlsData(sent)) => sent.done(),
                Ok(ConnectionState::PeerClosed) => self.peer_closed = true,
                Ok(
                    ConnectionState::BlockedHandshake
                    | ConnectionState::WriteTraffic(_)
                    | ConnectionState::Closed,
                ) => done = true,
                Ok(ConnectionState::ReadEarlyData(_)) => {
                    failed = Some(TlsLinkError::Unexpected("early data"));
                }
                Ok(_) => failed = Some(TlsLinkError::Unexpected("connection state")),
                Err(e) => failed = Some(TlsLinkError::Tls(e)),
            }
            used += discard;
            if let Some(e) = failed {
                self.send_alert(&mut incoming[used..]);
                return Err(e.into());
            }
            if done {
                return Ok((used, produced));
            }
        }
    }

    /// After rustls refused input: send the alert it queued saying why, if it did (best
    /// effort, one write; the connection is closed next). `incoming` is the unprocessed rest
    /// of the input, which rustls' state still refers to.
    fn send_alert(&mut self, incoming: &mut [u8]) {
        // The alert may come after handshake messages queued before the failure (a
        // ServerHello before an ALPN mismatch is found): everything queued goes, in order.
        // Only while something is queued, which rustls hands out before looking at the input
        // again: the input it failed on must not be processed twice.
        for _ in 0..limits::TLS_MESSAGES_AFTER_FAILURE {
            if !self.tls.wants_write() {
                break;
            }
            match self.tls.process_tls_records(incoming).state {
                Ok(ConnectionState::EncodeTlsData(mut message)) => {
                    if encode(&mut message, &mut self.tx).is_err() {
                        break;
                    }
                }
                _ => break,
            }
        }
        let _ = self.write_tx();
    }

    /// Take plaintext from `bufs` (in order) and write it encrypted, after any backlog:
    /// [`limits::TLS_WRITE_CHUNK`] bytes at a time, each chunk encrypted only once the one
    /// before it is out, until the plaintext is all taken or the socket is full. Takes nothing
    /// during the handshake, or while earlier ciphertext is still waiting for the socket.
    ///
    /// It goes on while the socket takes everything, as one `writev` of plain TCP would: a
    /// write that stopped with room left in the socket would get no writable event to come
    /// back for the rest (epoll's edge comes when a full socket gets room).
    ///
    /// # Errors
    /// The socket's (not `WouldBlock`), or rustls': the connection is over.
    pub fn write(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut taken = 0;
        loop {
            if self.backlog() > 0 {
                self.write_tx()?;
                if self.backlog() > 0 {
                    return Ok(taken);
                }
            }
            if self.tls.is_handshaking() || self.close_queued {
                return Ok(taken);
            }
            self.ready = false;
            let take = (total - taken).min(limits::TLS_WRITE_CHUNK);
            if take == 0 {
                return Ok(taken);
            }
            self.traffic(|traffic, tx| encrypt(traffic, bufs, taken, take, tx))?;
            taken += take;
            self.write_tx()?;
        }
    }

    /// Send `close_notify` (once), then FIN once everything is out.
    ///
    /// # Errors
    /// The socket's: the connection is over either way.
    pub fn close_write(&mut self) -> io::Result<Closed> {
        if !self.close_queued && !self.tls.is_handshaking() {
            self.close_queued = true;
            self.traffic(|traffic, tx| {
                write_sized(tx, |out| traffic.queue_close_notify(out), RECORD_OVERHEAD)
                    .map_err(io::Error::from)
            })?;
        }
        self.write_tx()?;
        if self.backlog() > 0 {
            return Ok(Closed::Pending);
        }
        self.sock.shutdown_write()?;
        Ok(Closed::Done)
    }

    /// Make the coming close a reset.
    pub fn reset_on_close(&mut self) {
        self.sock.reset_on_close();
    }

    /// Bring rustls to its traffic state (queueing first whatever it has to say) and run `f`
    /// there, with `tx` to write into.
    fn traffic(
        &mut self,
        f: impl FnOnce(&mut WriteTraffic<'_, ServerConnectionData>, &mut Vec<u8>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut f = Some(f);
        loop {
            // `rx` is what rustls has not processed yet: never anything complete after a read,
            // but its state may point into it (a handshake message cut in two).
            let UnbufferedStatus { discard, state } = self.tls.process_tls_records(&mut self.rx);
            let result = match state {
                Ok(ConnectionState::WriteTraffic(mut traffic)) => {
                    let run = f.take().map_or(Ok(()), |f| f(&mut traffic, &mut self.tx));
                    Some(run)
                }
                Ok(ConnectionState::EncodeTlsData(mut message)) => {
                    encode(&mut message, &mut self.tx).map_err(io::Error::from)?;
                    None
                }
                Ok(ConnectionState::TransmitTlsData(sent)) => {
                    sent.done();
                    None
                }
                Ok(ConnectionState::PeerClosed) => {
                    self.peer_closed = true;
                    None
                }
                Ok(ConnectionState::Closed) => {
                    Some(Err(io::Error::from(io::ErrorKind::BrokenPipe)))
                }
                Ok(_) => Some(Err(TlsLinkError::Unexpected("state before writing").into())),
                Err(e) => Some(Err(TlsLinkError::Tls(e).into())),
            };
            self.rx.drain(..discard.min(self.rx.len()));
            if let Some(result) = result {
                return result;
            }
        }
    }

    /// One write of the backlog (retrying `Interrupted`); `WouldBlock` leaves it for later.
    fn write_tx(&mut self) -> io::Result<()> {
        while self.tx_pos < self.tx.len() {
            match self.sock.write(&self.tx[self.tx_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.tx_pos += n;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.tx_pos == self.tx.len() {
            // Everything is out: give the memory back, a connection at rest holds none.
            self.tx = Vec::new();
            self.tx_pos = 0;
        }
        Ok(())
    }
}

/// Append a handshake message or alert rustls has ready to `tx`.
fn encode(
    message: &mut EncodeTlsData<'_, ServerConnectionData>,
    tx: &mut Vec<u8>,
) -> Result<(), TlsLinkError> {
    write_sized(tx, |out| message.encode(out), 0).map_err(|e| match e {
        Sized::Insufficient => TlsLinkError::Unexpected("message size"),
        Sized::Failed(_) => TlsLinkError::Unexpected("message encoded twice"),
    })
}

/// What a sized write into `tx` could not do.
enum Sized<E> {
    /// The buffer was still too small after growing to the size asked for.
    Insufficient,
    /// Another failure.
    Failed(E),
}

/// Errors of rustls' calls that write into a buffer we size.
trait SizeError {
    /// The size asked for, when the buffer was too small.
    fn required(&self) -> Option<usize>;
}

impl SizeError for EncodeError {
    fn required(&self) -> Option<usize> {
        match self {
            EncodeError::InsufficientSize(InsufficientSizeError { required_size }) => {
                Some(*required_size)
            }
            _ => None,
        }
    }
}

impl SizeError for EncryptError {
    fn required(&self) -> Option<usize> {
        match self {
            EncryptError::InsufficientSize(InsufficientSizeError { required_size }) => {
                Some(*required_size)
            }
            _ => None,
        }
    }
}

/// Grow `tx` by `guess` bytes and let `write` fill them; if rustls asks for more room, grow to
/// that and try again. `tx` keeps exactly what was written.
fn write_sized<E: SizeError>(
    tx: &mut Vec<u8>,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
    guess: usize,
) -> Result<(), Sized<E>> {
    let at = tx.len();
    tx.resize(at + guess, 0);
    let result = match write(&mut tx[at..]) {
        Err(e) => match e.required() {
            Some(required) => {
                tx.resize(at + required, 0);
                write(&mut tx[at..]).map_err(|e| match e.required() {
                    Some(_) => Sized::Insufficient,
                    None => Sized::Failed(e),
                })
            }
            None => Err(Sized::Failed(e)),
        },
        ok => ok.map_err(Sized::Failed),
    };
    match result {
        Ok(n) => {
            tx.truncate(at + n);
            Ok(())
        }
        Err(e) => {
            tx.truncate(at);
            Err(e)
        }
    }
}

impl From<Sized<EncryptError>> for io::Error {
    fn from(e: Sized<EncryptError>) -> Self {
        match e {
            Sized::Insufficient => TlsLinkError::Unexpected("record size").into(),
            Sized::Failed(e) => io::Error::other(e),
        }
    }
}

/// Encrypt `take` bytes of `bufs`, after the first `skip`, into `tx`: records of
/// [`MAX_RECORD`] bytes of plaintext, the last one shorter; a record whose plaintext spans
/// several of `bufs` is gathered first.
fn encrypt(
    traffic: &mut WriteTraffic<'_, ServerConnectionData>,
    bufs: &[IoSlice<'_>],
    skip: usize,
    take: usize,
    tx: &mut Vec<u8>,
) -> io::Result<()> {
    // One allocation for all the records (more only if rustls has something to put first).
    tx.reserve(take + take.div_ceil(MAX_RECORD) * RECORD_OVERHEAD);
    let mut gathered = Vec::new();
    let mut skip = skip;
    let mut slices = bufs
        .iter()
        .map(|b| {
            let rest = &b[skip.min(b.len())..];
            skip -= b.len() - rest.len();
            rest
        })
        .filter(|b| !b.is_empty());
    let mut cur: &[u8] = &[];
    let mut left = take;
    while left > 0 {
        let want = left.min(MAX_RECORD);
        if cur.is_empty() {
            cur = slices.next().unwrap_or_default();
        }
        let plaintext = if cur.len() >= want {
            let (record, rest) = cur.split_at(want);
            cur = rest;
            record
        } else {
            gathered.clear();
            while gathered.len() < want {
                if cur.is_empty() {
                    cur = slices.next().ok_or(io::ErrorKind::UnexpectedEof)?;
                }
                let (part, rest) = cur.split_at((want - gathered.len()).min(cur.len()));
                gathered.extend_from_slice(part);
                cur = rest;
            }
            &gathered[..]
        };
        write_sized(
            tx,
            |out| traffic.encrypt(plaintext, out),
            want + RECORD_OVERHEAD,
        )?;
        left -= want;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
