//! The TLS 1.3 record layer of a connection whose handshake is done ([`Records`]): rustls'
//! *kernel* connection keeps the key schedule (new traffic secrets on a key update, RFC 8446
//! §4.6.3) and this module frames, protects and counts the records, as kTLS would in a
//! kernel. The server's connections use it; so does the load generator's client side
//! ([`Records::without_key_updates`]), whose thousands of clients must cost it as little as
//! the server's do.
//!
//! Why not rustls' own record layer: a finished `UnbufferedServerConnection` holds ~3.1 KiB per
//! connection (its 1 KiB struct, the handshake deframer's 640 B, a sealing and an opening key
//! of 560 B each, ...), all of it for every idle connection. Here a connection at rest keeps
//! the kernel connection (the secrets, ~1.2 KiB) and its two traffic keys as bytes; the AEAD
//! keys (ring's expanded key schedule and GHASH table) are built when a record is sealed or
//! opened and let go when the loop says the connection is at rest ([`Records::rest`]).
//!
//! The cryptography is not ours: the nonce (`iv` XOR the sequence number) is rustls'
//! [`Nonce::new`], the additional data its [`make_tls13_aad`], the removal of the inner
//! content type and padding its [`InboundOpaqueMessage::into_tls13_unpadded_message`], the
//! AEAD ring's, and new secrets rustls' [`KernelConnection`]. What is here is the framing (the
//! 5-byte header, RFC 8446 §5.1-5.2), the sequence numbers, and which record types may come
//! after the handshake.
//!
//! What rustls' own record layer bounds, this one bounds too, as rustls and BoringSSL do: a
//! peer's key updates (each costs a derivation of the next secret and a new AEAD key) are
//! limited to [`MAX_KEY_UPDATES`] with no application data between them, its warning alerts to
//! [`MAX_WARNING_ALERTS`], its empty records to [`MAX_EMPTY_RECORDS`] in a row; past a limit the
//! connection ends with `unexpected_message` ([`RecordError::TooMany`]). A key update the peer
//! asks for is answered once, before our next application data, however many requests came
//! (RFC 8446 §4.6.3): opening a record never writes anything, so what a peer sends cannot grow
//! what waits to be sent to it.
//!
//! Key material at rest: the traffic keys are rustls' [`AeadKey`]s and its kernel connection's
//! secrets, zeroed when dropped; ring's expanded keys and the IVs are not (nor are they in
//! rustls), and each [`Records::rest`] or key update lets one go to the heap. Acceptable where
//! the attacker is on the LAN, not on the host.

use std::fmt;

use ring::aead::{self, Aad, LessSafeKey, UnboundKey};
use rustls::crypto::cipher::{make_tls13_aad, AeadKey, InboundOpaqueMessage, Iv, Nonce};
use rustls::kernel::KernelConnection;
use rustls::server::ServerConnectionData;
use rustls::{
    ConnectionTrafficSecrets, ContentType, ExtractedSecrets, ProtocolVersion, SupportedCipherSuite,
};

/// A record's header: content type, legacy version, length.
pub const HEADER: usize = 5;
/// The AEAD tag after a record's body (AES-GCM and ChaCha20-Poly1305 alike).
pub const TAG: usize = 16;
/// Most plaintext in one record (2^14).
pub const MAX_PLAINTEXT: usize = 16 * 1024;
/// What sealing adds to a record's plaintext: the header, the inner content type, the tag.
pub const OVERHEAD: usize = HEADER + 1 + TAG;
/// Longest record body a TLS 1.3 peer may send (2^14 + 256).
pub const MAX_BODY: usize = MAX_PLAINTEXT + 256;

/// The content type every protected TLS 1.3 record carries outside.
const APPLICATION_DATA: u8 = 0x17;
/// The legacy record version every TLS 1.3 record carries (TLS 1.2).
const LEGACY_VERSION: [u8; 2] = [0x03, 0x03];
/// Handshake message type of a key update (RFC 8446 §4.6.3).
const KEY_UPDATE: u8 = 24;
/// A key update's length: type, 3-byte length (1), `request_update`.
const KEY_UPDATE_LEN: usize = 5;
/// `KeyUpdateRequest` values.
const UPDATE_NOT_REQUESTED: u8 = 0;
const UPDATE_REQUESTED: u8 = 1;
/// Alert levels and the descriptions this layer sends or acts on (RFC 8446 §6).
const WARNING: u8 = 1;
const FATAL: u8 = 2;
const CLOSE_NOTIFY: u8 = 0;
const USER_CANCELED: u8 = 90;

/// Key updates a peer may send with no application data between them; the next one ends the
/// connection. Each costs a derivation of the next secret and a new AEAD key, some fifty times
/// what a record of data costs; a real peer sends one per 2^24 records or when asked. 32 is
/// rustls' and BoringSSL's figure (`kMaxKeyUpdates`).
pub const MAX_KEY_UPDATES: u8 = 32;
/// Warning alerts (`user_canceled`, the only one TLS 1.3 leaves non-fatal) a peer may send in a
/// connection; the next one ends it. rustls' and BoringSSL's figure.
pub const MAX_WARNING_ALERTS: u8 = 4;
/// Empty records (no plaintext, padding only) a peer may send in a row; the next one ends the
/// connection. rustls' and BoringSSL's figure.
pub const MAX_EMPTY_RECORDS: u8 = 32;

/// An alert this layer sends before closing (RFC 8446 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// A record of a type that has no business after the handshake.
    UnexpectedMessage = 10,
    /// A record that does not open with the peer's key.
    BadRecordMac = 20,
    /// A record longer than TLS 1.3 allows.
    RecordOverflow = 22,
    /// A field out of its range (an alert level, a key update's `request_update`).
    IllegalParameter = 47,
    /// A message that cannot be read.
    DecodeError = 50,
    /// Something on this side failed (a key update rustls refused).
    InternalError = 80,
}

/// Why the record layer gave up on the connection.
#[derive(Debug, PartialEq)]
pub enum RecordError {
    /// The peer broke the protocol; the alert says how (it is sent before the close).
    Protocol(Alert),
    /// The peer closed with an alert of its own (its description).
    PeerAlert(u8),
    /// rustls refused to compute new traffic secrets.
    KeyUpdate(rustls::Error),
    /// The peer went past a bound on records that cost work and carry no data (see the module
    /// docs); `unexpected_message` is sent, as BoringSSL does.
    TooMany(Excess),
}

/// Which bound on work without data a peer went past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excess {
    /// More than [`MAX_KEY_UPDATES`] key updates with no application data between them.
    KeyUpdates,
    /// More than [`MAX_WARNING_ALERTS`] warning alerts.
    WarningAlerts,
    /// More than [`MAX_EMPTY_RECORDS`] empty records in a row.
    EmptyRecords,
}

impl fmt::Display for Excess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Excess::KeyUpdates => write!(
                f,
                "more than {MAX_KEY_UPDATES} key updates without application data"
            ),
            Excess::WarningAlerts => write!(f, "more than {MAX_WARNING_ALERTS} warning alerts"),
            Excess::EmptyRecords => {
                write!(f, "more than {MAX_EMPTY_RECORDS} empty records in a row")
            }
        }
    }
}

impl RecordError {
    /// The alert to send before closing, if one is owed.
    pub fn alert(&self) -> Option<Alert> {
        match self {
            RecordError::Protocol(alert) => Some(*alert),
            RecordError::KeyUpdate(_) => Some(Alert::InternalError),
            RecordError::TooMany(_) => Some(Alert::UnexpectedMessage),
            RecordError::PeerAlert(_) => None,
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Protocol(alert) => write!(f, "TLS record: {alert:?}"),
            RecordError::PeerAlert(desc) => write!(f, "TLS: the peer sent alert {desc}"),
            RecordError::KeyUpdate(e) => write!(f, "TLS key update: {e}"),
            RecordError::TooMany(what) => write!(f, "TLS: {what}"),
        }
    }
}

impl std::error::Error for RecordError {}

/// What one opened record held.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened {
    /// Application data: this range of the record buffer.
    Data(std::ops::Range<usize>),
    /// Nothing for the application (a key update handled, a warning alert, padding only).
    Nothing,
    /// The peer's `close_notify`: nothing more will come.
    Closed,
}

/// The expanded AEAD key a direction seals or opens with: built from its traffic key on first
/// use, let go at rest. The sending one is not kept in [`Records`] but by whoever holds it,
/// beside the connection ([`SealKey`]), so the flush reaches it without going through the
/// record layer's own allocation.
type Expanded = Option<Box<LessSafeKey>>;

/// The sending direction's expanded key, held by the owner of a [`Records`] and handed to every
/// call that seals (the server keeps it in the connection's slot, beside its backlog). One
/// `SealKey` belongs to one `Records`: it is built from that record layer's sending traffic
/// key on first use, and the record layer lets it go when it moves to a new key. Handed to
/// another `Records`, it would seal with the wrong key; a fresh (default) one is always right.
#[derive(Default)]
pub struct SealKey(Expanded);

impl SealKey {
    /// Whether it is built (and so would be let go at rest).
    pub fn is_built(&self) -> bool {
        self.0.is_some()
    }

    /// Let it go: the next record builds it again.
    pub fn rest(&mut self) {
        self.0 = None;
    }
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SealKey").field(&self.is_built()).finish()
    }
}

/// One direction's traffic key and its sequence number (its expanded key is kept apart:
/// [`Expanded`]). `repr(C)`: what every record reads first (the sequence number and IV), the
/// key's bytes, read only to build its expanded key, last.
#[repr(C)]
struct Direction {
    /// The next record's sequence number under this key.
    seq: u64,
    iv: Iv,
    algorithm: &'static aead::Algorithm,
    /// rustls' key type: zeroed when dropped.
    key: AeadKey,
}

impl Direction {
    /// From rustls' extracted secrets for this direction.
    fn new(seq: u64, secrets: ConnectionTrafficSecrets) -> Result<Direction, RecordError> {
        let (algorithm, key, iv) = match secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (&aead::CHACHA20_POLY1305, key, iv)
            }
            // The server offers nothing else (`tls::provider`).
            _ => return Err(RecordError::Protocol(Alert::InternalError)),
        };
        Ok(Direction {
            algorithm,
            key,
            iv,
            seq,
        })
    }

    /// The AEAD key (in `expanded`, built there first if it is not) and this record's nonce;
    /// the sequence number moves on. `built` is set when the key had to be expanded.
    fn next<'k>(
        &mut self,
        expanded: &'k mut Expanded,
        built: &mut bool,
    ) -> Result<(&'k LessSafeKey, aead::Nonce), RecordError> {
        let nonce = Nonce::new(&self.iv, self.seq);
        self.seq = self
            .seq
            .checked_add(1)
            .ok_or(RecordError::Protocol(Alert::InternalError))?;
        if expanded.is_none() {
            let key = UnboundKey::new(self.algorithm, self.key.as_ref())
                .map_err(|_| RecordError::Protocol(Alert::InternalError))?;
            *expanded = Some(Box::new(LessSafeKey::new(key)));
            *built = true;
        }
        let key = expanded
            .as_deref()
            .ok_or(RecordError::Protocol(Alert::InternalError))?;
        Ok((key, aead::Nonce::assume_unique_for_key(nonce.0)))
    }
}

/// The record layer of one connection after its handshake (a server's, unless `Side` says
/// otherwise). The sending direction's expanded key is its owner's ([`SealKey`]), passed to
/// every call that seals.
///
/// What sealing a record reads and writes comes first (`repr(C)`): the sending limit,
/// `reply_owed`, sequence number and IV are its first 36 bytes, which the server's link keeps
/// right after its own hot fields in the connection's state; the receiving side and rustls'
/// key schedule are boxed apart ([`Receiving`]).
#[repr(C)]
pub struct Records<Side = ServerConnectionData> {
    /// Records sealed under one key before it is replaced: the suite's confidentiality limit
    /// (2^24 for AES-GCM), less one for the key update itself.
    tx_limit: u64,
    /// The peer asked for a key update of ours: it goes before our next application data
    /// (RFC 8446 §4.6.3), one for any number of requests.
    reply_owed: bool,
    /// Our `close_notify` is sealed: nothing follows it.
    closed: bool,
    /// An expanded key was built since [`Records::take_built`] was last called.
    built: bool,
    tx: Direction,
    /// The rest, which only opening records and key updates touch, apart (`Records` sits in
    /// the server's per-connection state and is allocated with it when the connection is
    /// accepted; this, the bulk of it, only when the handshake is done, as it was before).
    recv: Box<Receiving<Side>>,
}

/// The receiving side of a [`Records`], and rustls' key schedule.
struct Receiving<Side> {
    rx: Direction,
    /// The receiving direction's expanded key.
    rx_key: Expanded,
    /// rustls' key schedule; `None` where key updates are not followed (the load generator).
    kernel: Option<KernelConnection<Side>>,
    /// A handshake message cut across records, gathered until it is whole: only a key update
    /// may come, so never more than its 5 bytes (protocol state, kept at rest).
    handshake: [u8; KEY_UPDATE_LEN],
    /// Bytes of `handshake` in use.
    handshake_len: usize,
    /// Key updates from the peer since its last application data.
    key_updates: u8,
    /// Key updates from the peer since [`Records::take_key_updates`] was last called.
    key_updates_opened: usize,
    /// Warning alerts from the peer.
    warnings: u8,
    /// Empty records from the peer in a row.
    empty: u8,
}

impl<Side> fmt::Debug for Records<Side> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records")
            .field("tx_seq", &self.tx.seq)
            .field("rx_seq", &self.recv.rx.seq)
            .field("reply_owed", &self.reply_owed)
            .finish_non_exhaustive()
    }
}

impl<Side> Records<Side> {
    /// Take over from rustls once the handshake is done: its secrets and sequence numbers, and
    /// its kernel connection for key updates.
    ///
    /// # Errors
    /// A suite this layer does not know (the server offers none), or a session that is not
    /// TLS 1.3.
    pub fn new(
        secrets: ExtractedSecrets,
        kernel: KernelConnection<Side>,
    ) -> Result<Records<Side>, RecordError> {
        if kernel.protocol_version() != ProtocolVersion::TLSv1_3 {
            return Err(RecordError::Protocol(Alert::InternalError));
        }
        let suite = kernel.negotiated_cipher_suite();
        Self::with(secrets, suite, Some(kernel))
    }

    /// Take over from rustls' secrets alone (a buffered connection's
    /// `dangerous_extract_secrets`), for a peer that is known never to update its keys: a key
    /// update from it ends the connection, and this side never sends one (it fails at the
    /// suite's limit instead). For the load generator.
    ///
    /// # Errors
    /// As [`Records::new`].
    pub fn without_key_updates(
        secrets: ExtractedSecrets,
        suite: SupportedCipherSuite,
    ) -> Result<Records<Side>, RecordError> {
        Self::with(secrets, suite, None)
    }

    fn with(
        secrets: ExtractedSecrets,
        suite: SupportedCipherSuite,
        kernel: Option<KernelConnection<Side>>,
    ) -> Result<Records<Side>, RecordError> {
        // The framing here is TLS 1.3's; a TLS 1.2 suite's secrets would be framed wrongly.
        let suite = suite
            .tls13()
            .ok_or(RecordError::Protocol(Alert::InternalError))?;
        let (tx_seq, tx) = secrets.tx;
        let (rx_seq, rx) = secrets.rx;
        Ok(Records {
            tx: Direction::new(tx_seq, tx)?,
            tx_limit: suite.common.confidentiality_limit.saturating_sub(1),
            reply_owed: false,
            closed: false,
            built: false,
            recv: Box::new(Receiving {
                kernel,
                rx: Direction::new(rx_seq, rx)?,
                rx_key: None,
                handshake: [0; KEY_UPDATE_LEN],
                handshake_len: 0,
                key_updates: 0,
                key_updates_opened: 0,
                warnings: 0,
                empty: 0,
            }),
        })
    }

    /// Let go of what can be rebuilt (the expanded receiving key; the sending one is the
    /// owner's, [`SealKey::rest`]): the connection is at rest.
    pub fn rest(&mut self) {
        self.recv.rx_key = None;
    }

    /// Whether the expanded receiving key is held.
    pub fn holds_key(&self) -> bool {
        self.recv.rx_key.is_some()
    }

    /// Whether an expanded key was built since the last call (the loop counts them toward
    /// its next heap trim, which lets them go).
    pub fn take_built(&mut self) -> bool {
        std::mem::take(&mut self.built)
    }

    /// Key updates the peer sent since the last call (the loop charges their work to the
    /// connection's read budget).
    pub fn take_key_updates(&mut self) -> usize {
        std::mem::take(&mut self.recv.key_updates_opened)
    }

    /// Whether a key update of ours is owed to the peer (it goes before our next application
    /// data).
    pub fn owes_key_update(&self) -> bool {
        self.reply_owed
    }

    /// Records under one key before a key update, for tests of it.
    #[cfg(test)]
    pub fn set_tx_limit(&mut self, limit: u64) {
        self.tx_limit = limit;
    }

    /// Seal application data into `out`: `take` bytes of `parts` after the first `skip`, in
    /// records of [`MAX_PLAINTEXT`] bytes (the last one shorter), each gathered straight into
    /// `out` and encrypted there.
    ///
    /// # Errors
    /// [`RecordError`] when a key update is due and rustls refuses it.
    pub fn seal_data(
        &mut self,
        key: &mut SealKey,
        parts: &[impl std::ops::Deref<Target = [u8]>],
        skip: usize,
        take: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        out.reserve(take + take.div_ceil(MAX_PLAINTEXT) * OVERHEAD);
        let mut skip = skip;
        let mut parts = parts.iter().filter_map(|p| {
            let p: &[u8] = p;
            let rest = &p[skip.min(p.len())..];
            skip -= p.len() - rest.len();
            (!rest.is_empty()).then_some(rest)
        });
        let mut cur: &[u8] = &[];
        let mut left = take;
        while left > 0 {
            let want = left.min(MAX_PLAINTEXT);
            self.seal_with(key, ContentType::ApplicationData, out, |out| {
                let mut got = 0;
                while got < want {
                    if cur.is_empty() {
                        // `take` is within what `parts` hold: the caller counted it.
                        cur = parts.next().unwrap_or_default();
                        if cur.is_empty() {
                            break;
                        }
                    }
                    let (now, rest) = cur.split_at((want - got).min(cur.len()));
                    out.extend_from_slice(now);
                    cur = rest;
                    got += now.len();
                }
            })?;
            left -= want;
        }
        Ok(())
    }

    /// Seal an alert (`close_notify` or the reason for closing) into `out`.
    ///
    /// # Errors
    /// As [`Records::seal_data`].
    pub fn seal_alert(
        &mut self,
        key: &mut SealKey,
        level_fatal: bool,
        description: u8,
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        let level = if level_fatal { FATAL } else { WARNING };
        self.seal_with(key, ContentType::Alert, out, |out| {
            out.extend_from_slice(&[level, description]);
        })
    }

    /// `close_notify` into `out`: the last record this side seals.
    ///
    /// # Errors
    /// As [`Records::seal_data`].
    pub fn seal_close_notify(
        &mut self,
        key: &mut SealKey,
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        self.seal_alert(key, false, CLOSE_NOTIFY, out)?;
        self.closed = true;
        Ok(())
    }

    /// The alert `alert` into `out`, best effort (the connection closes next); nothing after
    /// our `close_notify`. Under the present key even at the suite's limit: the record kept
    /// for a key update is this one's, as no more follow.
    pub fn seal_fatal(&mut self, key: &mut SealKey, alert: Alert, out: &mut Vec<u8>) {
        if self.closed {
            return;
        }
        let _ = self.seal_one(key, ContentType::Alert, out, |out| {
            out.extend_from_slice(&[FATAL, alert as u8]);
        });
    }

    /// Seal one record of type `typ` whose plaintext `fill` appends to `out`; a key update
    /// goes first when the present key has sealed as many records as the suite allows, or,
    /// before application data, when the peer asked for one.
    fn seal_with(
        &mut self,
        key: &mut SealKey,
        typ: ContentType,
        out: &mut Vec<u8>,
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), RecordError> {
        let reply = self.reply_owed && typ == ContentType::ApplicationData;
        if reply || self.tx.seq >= self.tx_limit {
            self.update_tx(key, UPDATE_NOT_REQUESTED, out)?;
        }
        self.seal_one(key, typ, out, fill)
    }

    /// Seal one record with the present key, no questions asked.
    fn seal_one(
        &mut self,
        key: &mut SealKey,
        typ: ContentType,
        out: &mut Vec<u8>,
        fill: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), RecordError> {
        let start = out.len();
        out.extend_from_slice(&[APPLICATION_DATA, LEGACY_VERSION[0], LEGACY_VERSION[1], 0, 0]);
        fill(out);
        out.push(u8::from(typ));
        let body = out.len() - start - HEADER + TAG;
        let Ok(len) = u16::try_from(body) else {
            out.truncate(start);
            return Err(RecordError::Protocol(Alert::InternalError));
        };
        out[start + 3..start + HEADER].copy_from_slice(&len.to_be_bytes());
        let aad = make_tls13_aad(body);
        let (key, nonce) = self.tx.next(&mut key.0, &mut self.built)?;
        match key.seal_in_place_separate_tag(nonce, Aad::from(aad), &mut out[start + HEADER..]) {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                Ok(())
            }
            Err(_) => {
                out.truncate(start);
                Err(RecordError::Protocol(Alert::InternalError))
            }
        }
    }

    /// Send a key update and switch to the next key: the new secret from rustls first, so a
    /// refusal leaves nothing sealed; then the key update, under the old key; then the new
    /// key. Any reply owed to the peer is paid by it.
    fn update_tx(
        &mut self,
        key: &mut SealKey,
        request: u8,
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        let (seq, secrets) = self
            .recv
            .kernel
            .as_mut()
            .ok_or(RecordError::Protocol(Alert::InternalError))?
            .update_tx_secret()
            .map_err(RecordError::KeyUpdate)?;
        let next = Direction::new(seq, secrets)?;
        self.seal_one(key, ContentType::Handshake, out, |out| {
            out.extend_from_slice(&[KEY_UPDATE, 0, 0, 1, request]);
        })?;
        self.tx = next;
        key.rest();
        self.reply_owed = false;
        Ok(())
    }

    /// Open the record at the start of `buf` if it is all there ([`Records::open`]): its
    /// length and what it held; `None` until it is whole.
    ///
    /// # Errors
    /// As [`Records::record_len`] and [`Records::open`].
    pub fn open_next(&mut self, buf: &mut [u8]) -> Result<Option<(usize, Opened)>, RecordError> {
        match Self::record_len(buf)? {
            Some(len) if len <= buf.len() => Ok(Some((len, self.open(&mut buf[..len])?))),
            _ => Ok(None),
        }
    }

    /// The length of the record at the start of `buf`, header included, once its header is
    /// there; `None` while it is not.
    ///
    /// # Errors
    /// A header no TLS 1.3 peer sends after the handshake: not a protected record, another
    /// record version than TLS 1.3's `03 03` (`decode_error`, as rustls), or longer than
    /// allowed.
    pub fn record_len(buf: &[u8]) -> Result<Option<usize>, RecordError> {
        let Some(header) = buf.get(..HEADER) else {
            return Ok(None);
        };
        if header[0] != APPLICATION_DATA {
            return Err(RecordError::Protocol(Alert::UnexpectedMessage));
        }
        if header[1..3] != LEGACY_VERSION {
            return Err(RecordError::Protocol(Alert::DecodeError));
        }
        let body = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if body > MAX_BODY {
            return Err(RecordError::Protocol(Alert::RecordOverflow));
        }
        if body < TAG + 1 {
            return Err(RecordError::Protocol(Alert::DecodeError));
        }
        Ok(Some(HEADER + body))
    }

    /// Open the whole record `record` (exactly one: see [`Records::record_len`]) in place and
    /// act on what it holds: application data is left in place and its range returned; a key
    /// update from the peer switches the receiving key (and, when the peer asks, makes one of
    /// ours due before our next application data); `close_notify` ends the input. Writes
    /// nothing: what a peer sends cannot grow what waits to be sent to it.
    ///
    /// # Errors
    /// [`RecordError`]: the connection is over (with the alert [`RecordError::alert`] says);
    /// `decode_error` for a `record` that is not one whole record.
    pub fn open(&mut self, record: &mut [u8]) -> Result<Opened, RecordError> {
        if Self::record_len(record)? != Some(record.len()) {
            return Err(RecordError::Protocol(Alert::DecodeError));
        }
        let (header, body) = record.split_at_mut(HEADER);
        let aad = [header[0], header[1], header[2], header[3], header[4]];
        let recv = &mut *self.recv;
        let (key, nonce) = recv.rx.next(&mut recv.rx_key, &mut self.built)?;
        let plain = key
            .open_in_place(nonce, Aad::from(aad), body)
            .map_err(|_| RecordError::Protocol(Alert::BadRecordMac))?;
        let plain_len = plain.len();
        let message = InboundOpaqueMessage::new(
            ContentType::ApplicationData,
            ProtocolVersion::TLSv1_2,
            &mut body[..plain_len],
        )
        .into_tls13_unpadded_message()
        .map_err(|e| match e {
            rustls::Error::PeerSentOversizedRecord => RecordError::Protocol(Alert::RecordOverflow),
            _ => RecordError::Protocol(Alert::UnexpectedMessage),
        })?;
        let (typ, len) = (message.typ, message.payload.len());
        if typ != ContentType::Handshake && self.recv.handshake_len > 0 {
            // A handshake message cut in two must not be interleaved with other records.
            return Err(RecordError::Protocol(Alert::UnexpectedMessage));
        }
        if len == 0 {
            self.recv.empty += 1;
            if self.recv.empty > MAX_EMPTY_RECORDS {
                return Err(RecordError::TooMany(Excess::EmptyRecords));
            }
        } else {
            self.recv.empty = 0;
        }
        match typ {
            ContentType::ApplicationData => {
                if len > 0 {
                    self.recv.key_updates = 0;
                }
                Ok(Opened::Data(HEADER..HEADER + len))
            }
            ContentType::Alert => match body[..len] {
                [level, _] if level != WARNING && level != FATAL => {
                    Err(RecordError::Protocol(Alert::IllegalParameter))
                }
                [_, CLOSE_NOTIFY] => Ok(Opened::Closed),
                [WARNING, USER_CANCELED] => {
                    self.recv.warnings += 1;
                    if self.recv.warnings > MAX_WARNING_ALERTS {
                        return Err(RecordError::TooMany(Excess::WarningAlerts));
                    }
                    Ok(Opened::Nothing)
                }
                [_, description] => Err(RecordError::PeerAlert(description)),
                _ => Err(RecordError::Protocol(Alert::DecodeError)),
            },
            ContentType::Handshake => {
                let at = self.recv.handshake_len;
                // Empty handshake fragments are not allowed (RFC 8446 §5.1); more than a key
                // update's bytes are not a key update, or one that does not end its record.
                let Some(dst) = self
                    .recv
                    .handshake
                    .get_mut(at..at + len)
                    .filter(|_| len > 0)
                else {
                    return Err(RecordError::Protocol(Alert::UnexpectedMessage));
                };
                dst.copy_from_slice(&body[..len]);
                self.recv.handshake_len += len;
                self.handshake_message()
            }
            _ => Err(RecordError::Protocol(Alert::UnexpectedMessage)),
        }
    }

    /// Act on the handshake message gathered so far: after the handshake only a key update
    /// may come from a client, and it must end its record (a key change never splits one).
    /// A key update cut across records is gathered until it is whole.
    fn handshake_message(&mut self) -> Result<Opened, RecordError> {
        match self.recv.handshake[..self.recv.handshake_len] {
            [KEY_UPDATE, 0, 0, 1, request] => {
                self.recv.handshake_len = 0;
                if request != UPDATE_NOT_REQUESTED && request != UPDATE_REQUESTED {
                    return Err(RecordError::Protocol(Alert::IllegalParameter));
                }
                // Counted before the work it bounds is done.
                if self.recv.key_updates >= MAX_KEY_UPDATES {
                    return Err(RecordError::TooMany(Excess::KeyUpdates));
                }
                self.recv.key_updates += 1;
                self.recv.key_updates_opened += 1;
                let (seq, secrets) = self
                    .recv
                    .kernel
                    .as_mut()
                    .ok_or(RecordError::Protocol(Alert::UnexpectedMessage))?
                    .update_rx_secret()
                    .map_err(RecordError::KeyUpdate)?;
                self.recv.rx = Direction::new(seq, secrets)?;
                self.recv.rx_key = None;
                if request == UPDATE_REQUESTED {
                    self.reply_owed = true;
                }
                Ok(Opened::Nothing)
            }
            [KEY_UPDATE] | [KEY_UPDATE, 0] | [KEY_UPDATE, 0, 0] | [KEY_UPDATE, 0, 0, 1] => {
                Ok(Opened::Nothing)
            }
            _ => Err(RecordError::Protocol(Alert::UnexpectedMessage)),
        }
    }

    /// Seal one record of any inner type and content (an empty one, a fragment of a handshake
    /// message, an alert of any level), as a misbehaving peer would: for tests of what this
    /// layer accepts.
    #[cfg(test)]
    pub fn seal_raw(
        &mut self,
        key: &mut SealKey,
        typ: ContentType,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RecordError> {
        self.seal_one(key, typ, out, |out| out.extend_from_slice(plaintext))
    }
}
