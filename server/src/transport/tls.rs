//! TLS 1.3 as a transport ([`TlsLink`]): rustls' *unbuffered* server connection for the
//! handshake, driven from the loop, non-blocking, on the loop's thread; then the record layer of
//! [`records`], rustls still holding the key schedule.
//!
//! The buffers are the loop's, and a connection at rest holds as little as TLS allows: rustls'
//! buffered `ServerConnection` keeps ~7.2 KiB per connection after the handshake, its unbuffered
//! one ~3.1 KiB (docs/BENCHMARKS.md has the figures), this link ~1.4 KiB (the secrets and the two
//! traffic keys; the expanded AEAD keys are built when records are sealed or opened and let go
//! at rest, [`TlsLink::rest`]).
//!
//! - **Reading.** Ciphertext is read into the second half of the loop's scratch buffer and
//!   what it decrypts to is copied to its first half, where the loop's decoder finds it as it
//!   would plain TCP's bytes. Only what is left of a record cut by the read (or of a handshake
//!   message spanning records) is kept, in `rx`, until the next read. After the handshake,
//!   the rest of a cut record is read straight into `rx` behind its start, and opened there
//!   once whole: a record that comes a byte at a time is not copied again at every byte.
//!   During the handshake `rx` holds at most half the read buffer (32 KiB; a `ClientHello`
//!   is under 2 KiB), and the handshake deadline bounds how long.
//! - **Writing.** Plaintext is encrypted at flush time, straight from the connection's queue
//!   (the shared frames) into `tx`, as few records as possible: up to 16 KiB of plaintext per
//!   record, gathered into the record's place in `tx` and encrypted there. Ciphertext the
//!   socket did not take waits in `tx`, and no more plaintext is taken until it is out, so a
//!   slow reader's backlog stays in the shared frames, not in private ciphertext.
//! - **The handshake.** Its messages go out through `tx` like records; plaintext is taken only
//!   once it is complete (the greeting waits in the queue), and [`TlsLink::wants_write`] asks
//!   for a flush the moment it completes.
//! - **Bad input.** A first byte that is not a TLS handshake record (a name typed into `nc`),
//!   a record rustls or the record layer rejects, or a record or handshake message larger than
//!   the read buffer ends the connection at once, with the alert it deserves when there is one.

pub mod records;

use std::fmt;
use std::io::{self, IoSlice};
use std::sync::Arc;

use lanchat_proto::Fingerprint;
use rustls::server::{ServerConnectionData, UnbufferedServerConnection};
use rustls::unbuffered::{
    ConnectionState, EncodeError, EncodeTlsData, InsufficientSizeError, UnbufferedStatus,
};
use rustls::ServerConfig;

use self::records::{Opened, RecordError, Records, SealKey};
use super::{Closed, Input, Socket};
use crate::limits;

/// What a TLS 1.3 record adds to its plaintext.
#[cfg(test)]
const RECORD_OVERHEAD: usize = records::OVERHEAD;

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
    /// The record layer refused what the peer sent after the handshake (its alert, if any,
    /// has been sent).
    Record(RecordError),
    /// rustls was in a state this link never asks for (early data, which is not enabled).
    Unexpected(&'static str),
}

impl fmt::Display for TlsLinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsLinkError::NotTls => f.write_str("not TLS: the first byte is not a handshake"),
            TlsLinkError::Oversized => f.write_str("a TLS record or handshake message too large"),
            TlsLinkError::Tls(e) => write!(f, "TLS: {e}"),
            TlsLinkError::Record(e) => e.fmt(f),
            TlsLinkError::Unexpected(what) => write!(f, "TLS: unexpected {what}"),
        }
    }
}

impl std::error::Error for TlsLinkError {}

impl TlsLinkError {
    /// The peer went past a bound on records that cost work and carry no data (key updates,
    /// warning alerts, empty records): a flood, not a broken connection.
    pub fn is_flood(&self) -> bool {
        matches!(self, TlsLinkError::Record(RecordError::TooMany(_)))
    }
}

/// Whether `e` (from [`TlsLink::read`]) ended the connection because the peer flooded it with
/// records that carry no data ([`TlsLinkError::is_flood`]).
pub fn is_flood(e: &io::Error) -> bool {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<TlsLinkError>())
        .is_some_and(TlsLinkError::is_flood)
}

impl From<TlsLinkError> for io::Error {
    fn from(e: TlsLinkError) -> Self {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

/// Where a connection is in its life.
///
/// `repr(u8)`: the tag first, right before the record layer's hot fields. Left to itself rustc
/// puts it in a niche 168 bytes into [`Records`], a cache line the flush would otherwise not
/// touch, and every record sealed asks for it.
#[repr(u8)]
enum State {
    /// The handshake, rustls' unbuffered connection driving it.
    Handshake(Box<UnbufferedServerConnection>),
    /// After it: the record layer, inline (96 bytes: its sealing fields, right after the
    /// link's hot ones, see [`Inner`]; its receiving side and rustls' key schedule, boxed
    /// within it, are allocated only now, after the handshake's own allocations are let go).
    Traffic(Records),
    /// For the moment of the change from one to the other, and after a failed one.
    Broken,
}

/// One TLS connection over a non-blocking socket `S`: its state in one allocation, and the
/// expanded key it seals with beside the pointer to it.
///
/// Sealing a batch in the flush touches the connection's slot, the first 116 bytes of
/// [`Inner`] (the backlog's buffer and position, the socket, the flags, then the record
/// layer's sending limit, `reply_owed`, sequence number and IV: two cache lines, three at
/// worst as the allocator places it) and the expanded key; both allocations are reached from
/// the slot, so neither load waits for the other. Before, the key was four pointers deep
/// (slot, link, record layer, key), each load waiting for the one before. The key is
/// boxed, not inline: ring's AES-GCM key is 544 bytes, let go at rest ([`TlsLink::rest`]),
/// and an idle connection's whole budget is 3 KiB.
pub struct TlsLink<S> {
    inner: Box<Inner<S>>,
    key: SealKey,
}

/// A TLS connection's state. `repr(C)`, hot first: what the flush reads and writes for every
/// recipient (`tx`, `tx_pos`, `rx`'s capacity for the memory count, the socket, the flags, the
/// state's tag, and the record layer's own hot fields, which [`Records`] keeps at its start)
/// in its first 116 bytes.
#[repr(C)]
struct Inner<S> {
    /// Bytes for the peer (handshake messages, records, alerts); `tx[tx_pos..]` are unsent.
    /// Holds no memory when everything is out.
    tx: Vec<u8>,
    /// Invariant: `tx_pos <= tx.len()`.
    tx_pos: usize,
    /// Ciphertext read and not processed yet: the start of a record, or a handshake message
    /// waiting for the rest of it. Holds no memory when empty, which is the rule at rest.
    rx: Vec<u8>,
    sock: S,
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
    state: State,
    /// The fingerprint of the key the client proved it holds in the handshake (taken before
    /// rustls' connection, and the certificate with it, is let go), until the loop takes it:
    /// boxed, so a link holds one pointer for it.
    peer_key: Option<Box<Fingerprint>>,
}

impl<S> fmt::Debug for TlsLink<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.inner;
        f.debug_struct("TlsLink")
            .field("handshaking", &matches!(l.state, State::Handshake(_)))
            .field("rx", &l.rx.len())
            .field("backlog", &(l.tx.len() - l.tx_pos))
            .field("peer_closed", &l.peer_closed)
            .field("close_queued", &l.close_queued)
            .field("key", &self.key)
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
            inner: Box::new(Inner::new(sock, config)?),
            key: SealKey::default(),
        })
    }

    /// The socket (to register it with the poll, or set options).
    pub fn socket(&self) -> &S {
        &self.inner.sock
    }

    /// The socket, mutably (mio registers through `&mut`).
    pub fn socket_mut(&mut self) -> &mut S {
        &mut self.inner.sock
    }

    /// Still in the handshake: no plaintext goes either way yet.
    pub fn is_handshaking(&self) -> bool {
        self.inner.is_handshaking()
    }

    /// Its next input is the expensive one: a `ClientHello`, answered with a key exchange and
    /// a signature.
    pub fn awaits_hello(&self) -> bool {
        self.inner.awaits_hello()
    }

    /// Let go of what can be rebuilt: the expanded AEAD keys. Called when the connection has
    /// nothing to send; the next record builds them again.
    pub fn rest(&mut self) {
        self.key.rest();
        self.inner.rest();
    }

    /// The record layer, once the handshake is done (for tests of it).
    #[cfg(test)]
    fn records_mut(&mut self) -> Option<&mut Records> {
        self.inner.records_mut()
    }

    /// Whether [`TlsLink::rest`] would free anything.
    pub fn can_rest(&self) -> bool {
        self.key.is_built() || self.inner.can_rest()
    }

    /// What the records read since the last call cost beyond their bytes, in bytes of the
    /// read budget ([`limits::TLS_KEY_UPDATE_CHARGE`] per key update from the peer).
    pub fn take_work(&mut self) -> usize {
        self.inner.take_work()
    }

    /// Whether an expanded key was built since the last call.
    pub fn take_built(&mut self) -> bool {
        self.inner.take_built()
    }

    /// The client's key, once the handshake proved it holds it (see [`crate::tls::client_keys`]),
    /// handed over once; `None` during the handshake, after it was taken, or for a client that
    /// showed no certificate.
    pub fn take_peer_key(&mut self) -> Option<Fingerprint> {
        self.inner.take_peer_key()
    }

    /// Heap bytes its buffers hold (for memory accounting): ciphertext read and not yet
    /// opened, and its own bytes not yet written.
    pub fn buffered_capacity(&self) -> usize {
        self.inner.buffered_capacity()
    }

    /// Bytes of its own not yet written.
    pub fn backlog(&self) -> usize {
        self.inner.backlog()
    }

    /// A flush is due: bytes of its own wait, or the handshake just completed.
    pub fn wants_write(&self) -> bool {
        self.inner.wants_write()
    }

    /// One read from the socket: ciphertext into the second half of `buf`, what it decrypts
    /// to into the first half (see the module docs).
    ///
    /// # Errors
    /// The socket's, or [`TlsLinkError`]: the connection is over.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<Input> {
        self.inner.read(&mut self.key, buf)
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
    /// The socket's (not `WouldBlock`), or the record layer's: the connection is over.
    pub fn write(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.inner.write(&mut self.key, bufs)
    }

    /// Send `close_notify` (once), then FIN once everything is out.
    ///
    /// # Errors
    /// The socket's: the connection is over either way.
    pub fn close_write(&mut self) -> io::Result<Closed> {
        self.inner.close_write(&mut self.key)
    }

    /// Make the coming close a reset.
    pub fn reset_on_close(&mut self) {
        self.inner.sock.reset_on_close();
    }
}

impl<S: Socket> Inner<S> {
    fn new(sock: S, config: Arc<ServerConfig>) -> Result<Self, rustls::Error> {
        Ok(Inner {
            sock,
            state: State::Handshake(Box::new(UnbufferedServerConnection::new(config)?)),
            rx: Vec::new(),
            tx: Vec::new(),
            tx_pos: 0,
            started: false,
            ready: false,
            peer_closed: false,
            close_queued: false,
            answered: false,
            peer_key: None,
        })
    }

    fn is_handshaking(&self) -> bool {
        matches!(self.state, State::Handshake(_))
    }

    fn awaits_hello(&self) -> bool {
        !self.answered && self.is_handshaking()
    }

    fn rest(&mut self) {
        if let State::Traffic(records) = &mut self.state {
            records.rest();
        }
    }

    #[cfg(test)]
    fn records_mut(&mut self) -> Option<&mut Records> {
        match &mut self.state {
            State::Traffic(r) => Some(r),
            _ => None,
        }
    }

    fn can_rest(&self) -> bool {
        matches!(&self.state, State::Traffic(r) if r.holds_key())
    }

    fn take_work(&mut self) -> usize {
        match &mut self.state {
            State::Traffic(r) => r.take_key_updates() * limits::TLS_KEY_UPDATE_CHARGE,
            _ => 0,
        }
    }

    fn take_built(&mut self) -> bool {
        match &mut self.state {
            State::Traffic(r) => r.take_built(),
            _ => false,
        }
    }

    fn take_peer_key(&mut self) -> Option<Fingerprint> {
        self.peer_key.take().map(|k| *k)
    }

    fn buffered_capacity(&self) -> usize {
        self.rx.capacity() + self.tx.capacity()
    }

    fn backlog(&self) -> usize {
        self.tx.len() - self.tx_pos
    }

    fn wants_write(&self) -> bool {
        self.backlog() > 0 || self.ready
    }

    /// [`TlsLink::read`], sealing (an alert) with `key`.
    fn read(&mut self, key: &mut SealKey, buf: &mut [u8]) -> io::Result<Input> {
        if self.peer_closed {
            return Ok(Input::Eof);
        }
        let half = buf.len() / 2;
        let (plain, rest) = buf.split_at_mut(half);
        if let Some(len) = self.cut_record() {
            return self.read_rest_of_record(key, len, plain);
        }
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
        let (mut used, mut produced) = (0, 0);
        if self.is_handshaking() {
            (used, produced) = self.handshake(&mut cipher[..end], plain)?;
            if !self.is_handshaking() {
                self.ready = true;
            }
        }
        if !self.is_handshaking() && !self.peer_closed {
            let (u, p) = self.open_records(key, &mut cipher[used..end], &mut plain[produced..])?;
            used += u;
            produced += p;
        }
        if used >= end {
            self.rx = Vec::new();
        } else {
            self.rx.clear();
            self.rx.extend_from_slice(&cipher[used..end]);
        }
        Ok(self.input(produced, n))
    }

    /// What a read that took `n` bytes off the socket and produced `produced` bytes of
    /// plaintext says.
    fn input(&self, produced: usize, n: usize) -> Input {
        if produced > 0 {
            Input::Data(produced)
        } else if self.peer_closed {
            Input::Eof
        } else {
            Input::Consumed(n)
        }
    }

    /// After the handshake, the length of the record whose start (its header at least) a
    /// read cut off and left in `rx`.
    fn cut_record(&self) -> Option<usize> {
        if !matches!(self.state, State::Traffic(_)) {
            return None;
        }
        match Records::<ServerConnectionData>::record_len(&self.rx) {
            Ok(Some(len)) if len > self.rx.len() => Some(len),
            _ => None,
        }
    }

    /// The rest of the record of `len` bytes whose start `rx` holds, read straight after that
    /// start, and the record opened there once it is whole (plaintext to `plain`). So a record
    /// that comes a byte at a time costs a copy of each byte once, not of all the bytes before
    /// it at every read.
    fn read_rest_of_record(
        &mut self,
        key: &mut SealKey,
        len: usize,
        plain: &mut [u8],
    ) -> io::Result<Input> {
        let at = self.rx.len();
        self.rx.resize(len, 0);
        let read = loop {
            match self.sock.read(&mut self.rx[at..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other,
            }
        };
        let n = match read {
            Ok(0) => {
                self.rx = Vec::new();
                return Ok(Input::Eof);
            }
            Ok(n) => n,
            Err(e) => {
                self.rx.truncate(at);
                return if e.kind() == io::ErrorKind::WouldBlock {
                    Ok(Input::Drained)
                } else {
                    Err(e)
                };
            }
        };
        self.rx.truncate(at + n);
        if self.rx.len() < len {
            return Ok(Input::Consumed(n));
        }
        let mut record = std::mem::take(&mut self.rx);
        let (_, produced) = self.open_records(key, &mut record, plain)?;
        Ok(self.input(produced, n))
    }

    /// Run rustls' handshake over `incoming` until it needs more, its messages to `tx`; once
    /// it is done, hand the connection to the record layer. Application data that came with
    /// the client's `Finished` goes to `plain`. Returns the bytes of `incoming` used up and the
    /// plaintext bytes produced.
    fn handshake(&mut self, incoming: &mut [u8], plain: &mut [u8]) -> io::Result<(usize, usize)> {
        let State::Handshake(tls) = &mut self.state else {
            return Ok((0, 0));
        };
        let (mut used, mut produced) = (0, 0);
        let mut looked_for_reply = false;
        loop {
            let UnbufferedStatus { discard, state } =
                tls.process_tls_records(&mut incoming[used..]);
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
                Ok(ConnectionState::BlockedHandshake | ConnectionState::Closed) => done = true,
                Ok(ConnectionState::WriteTraffic(mut traffic)) => {
                    // The handshake is done and every whole record read.
                    used += discard;
                    if !looked_for_reply {
                        // A key update the client asked for in its first flight (with its
                        // `Finished`) is answered by rustls 0.23 into a queue that its
                        // conversion to a kernel connection drops, although the answer has
                        // moved its sending key on. Asking it to encrypt a byte into no room
                        // moves that answer to where the next step hands it out, and encrypts
                        // nothing (rustls checks the room first). So the answer goes out first.
                        let _ = traffic.encrypt(&[0], &mut []);
                        looked_for_reply = true;
                        continue;
                    }
                    self.enter_traffic()?;
                    return Ok((used, produced));
                }
                Ok(ConnectionState::ReadEarlyData(_)) => {
                    failed = Some(TlsLinkError::Unexpected("early data"));
                }
                Ok(_) => failed = Some(TlsLinkError::Unexpected("connection state")),
                Err(e) => failed = Some(TlsLinkError::Tls(e)),
            }
            used += discard;
            if let Some(e) = failed {
                send_handshake_alert(tls, &mut incoming[used..], &mut self.tx);
                let _ = write_some(&mut self.sock, &mut self.tx, &mut self.tx_pos);
                return Err(e.into());
            }
            if done {
                return Ok((used, produced));
            }
        }
    }

    /// The handshake is done: take rustls' secrets and key schedule, let go of the rest of it.
    ///
    /// One case is lost here, fail-closed: the first part of a handshake message cut across
    /// records that came with the client's `Finished` has been decrypted in place by rustls
    /// 0.23, which neither counts it as used nor says so; the record layer takes it for
    /// ciphertext and refuses it (`bad_record_mac`). Only a client that cuts a 5-byte key
    /// update in two right after its `Finished` meets it.
    fn enter_traffic(&mut self) -> io::Result<()> {
        let State::Handshake(tls) = std::mem::replace(&mut self.state, State::Broken) else {
            return Ok(());
        };
        self.peer_key = tls
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|cert| crate::tls::fingerprint_of(cert).ok())
            .map(Box::new);
        let (secrets, kernel) = tls
            .dangerous_into_kernel_connection()
            .map_err(TlsLinkError::Tls)?;
        let records = Records::new(secrets, kernel).map_err(TlsLinkError::Record)?;
        self.state = State::Traffic(records);
        Ok(())
    }

    /// Open the whole records at the start of `incoming` (application data to `plain`).
    /// Returns the bytes of `incoming` used up and the plaintext bytes produced. Nothing goes
    /// to `tx` but the alert of a failure: a key update the peer asks for is answered before
    /// our next application data ([`Records::owes_key_update`]).
    fn open_records(
        &mut self,
        key: &mut SealKey,
        incoming: &mut [u8],
        plain: &mut [u8],
    ) -> io::Result<(usize, usize)> {
        let State::Traffic(records) = &mut self.state else {
            return Err(TlsLinkError::Unexpected("records before the handshake is done").into());
        };
        let (mut used, mut produced) = (0, 0);
        while !self.peer_closed {
            let (len, opened) = match records.open_next(&mut incoming[used..]) {
                Ok(Some(next)) => next,
                Ok(None) => break,
                Err(e) => {
                    let (sock, tx, pos) = (&mut self.sock, &mut self.tx, &mut self.tx_pos);
                    return Err(record_failure(records, key, e, sock, tx, pos));
                }
            };
            match opened {
                Opened::Data(range) => {
                    let data = &incoming[used..][range];
                    let Some(dst) = plain.get_mut(produced..produced + data.len()) else {
                        return Err(TlsLinkError::Oversized.into());
                    };
                    dst.copy_from_slice(data);
                    produced += data.len();
                }
                Opened::Nothing => {}
                // Anything after it is not read (RFC 8446 §6.1).
                Opened::Closed => self.peer_closed = true,
            }
            used += len;
        }
        Ok((used, produced))
    }

    /// [`TlsLink::write`], sealing with `key`.
    fn write(&mut self, key: &mut SealKey, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let mut taken = 0;
        loop {
            if self.backlog() > 0 {
                self.write_tx()?;
                if self.backlog() > 0 {
                    return Ok(taken);
                }
            }
            let State::Traffic(records) = &mut self.state else {
                return Ok(taken);
            };
            if self.close_queued {
                return Ok(taken);
            }
            self.ready = false;
            let take = (total - taken).min(limits::TLS_WRITE_CHUNK);
            if take == 0 {
                return Ok(taken);
            }
            records
                .seal_data(key, bufs, taken, take, &mut self.tx)
                .map_err(TlsLinkError::Record)?;
            taken += take;
            self.write_tx()?;
        }
    }

    /// [`TlsLink::close_write`], sealing with `key`.
    fn close_write(&mut self, key: &mut SealKey) -> io::Result<Closed> {
        if !self.close_queued {
            if let State::Traffic(records) = &mut self.state {
                self.close_queued = true;
                records
                    .seal_close_notify(key, &mut self.tx)
                    .map_err(TlsLinkError::Record)?;
            }
        }
        self.write_tx()?;
        if self.backlog() > 0 {
            return Ok(Closed::Pending);
        }
        self.sock.shutdown_write()?;
        Ok(Closed::Done)
    }

    /// One write of the backlog (retrying `Interrupted`); `WouldBlock` leaves it for later.
    fn write_tx(&mut self) -> io::Result<()> {
        write_some(&mut self.sock, &mut self.tx, &mut self.tx_pos)
    }
}

/// One write of `tx[*pos..]` to `sock` (retrying `Interrupted`); `WouldBlock` leaves it for
/// later. Once everything is out, `tx` gives its memory back: a connection at rest holds none.
fn write_some(sock: &mut impl Socket, tx: &mut Vec<u8>, pos: &mut usize) -> io::Result<()> {
    while *pos < tx.len() {
        match sock.write(&tx[*pos..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                *pos += n;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if *pos == tx.len() {
        *tx = Vec::new();
        *pos = 0;
    }
    Ok(())
}

/// The record layer refused the peer's input: seal the alert it deserves, send it (best
/// effort, one write), and say why the connection is over.
fn record_failure(
    records: &mut Records,
    key: &mut SealKey,
    e: RecordError,
    sock: &mut impl Socket,
    tx: &mut Vec<u8>,
    pos: &mut usize,
) -> io::Error {
    if let Some(alert) = e.alert() {
        records.seal_fatal(key, alert, tx);
        let _ = write_some(sock, tx, pos);
    }
    TlsLinkError::Record(e).into()
}

/// After rustls refused handshake input: queue the alert it has saying why, if it has one
/// (after whatever it queued before the failure: a `ServerHello` before an ALPN mismatch is
/// found; everything goes, in order). Only while something is queued, which rustls hands out
/// before looking at the input again: the input it failed on must not be processed twice.
/// `incoming` is the unprocessed rest of the input, which rustls' state still refers to.
fn send_handshake_alert(
    tls: &mut UnbufferedServerConnection,
    incoming: &mut [u8],
    tx: &mut Vec<u8>,
) {
    for _ in 0..limits::TLS_MESSAGES_AFTER_FAILURE {
        if !tls.wants_write() {
            break;
        }
        match tls.process_tls_records(incoming).state {
            Ok(ConnectionState::EncodeTlsData(mut message)) => {
                if encode(&mut message, tx).is_err() {
                    break;
                }
            }
            _ => break,
        }
    }
}

/// Append a handshake message or alert rustls has ready to `tx`: into room of the size rustls
/// asks for.
fn encode(
    message: &mut EncodeTlsData<'_, ServerConnectionData>,
    tx: &mut Vec<u8>,
) -> Result<(), TlsLinkError> {
    let at = tx.len();
    let mut encoded = message.encode(&mut []);
    if let Err(EncodeError::InsufficientSize(InsufficientSizeError { required_size })) = encoded {
        tx.resize(at + required_size, 0);
        encoded = message.encode(&mut tx[at..]);
    }
    match encoded {
        Ok(n) => {
            tx.truncate(at + n);
            Ok(())
        }
        Err(EncodeError::InsufficientSize(_)) => {
            tx.truncate(at);
            Err(TlsLinkError::Unexpected("message size"))
        }
        Err(_) => {
            tx.truncate(at);
            Err(TlsLinkError::Unexpected("message encoded twice"))
        }
    }
}

#[cfg(test)]
mod tests;
