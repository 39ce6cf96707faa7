//! TLS for the client: the rustls configuration (TLS 1.3, ALPN `lanchat/1`, no resumption), a
//! verifier that pins the server by its key's fingerprint (trust on first use) or checks it
//! against an office CA (`--ca`), the blocking handshake on a socket with a deadline, and
//! telling a plaintext lanchat server apart (its first bytes are `HELLO`), since the client
//! never falls back to plaintext on its own.
//!
//! The pinning verifier ignores names and dates, as SSH does with host keys: what it trusts is
//! the key. It still checks the handshake signature with the provider's algorithms, which
//! proves the server holds the private key of the certificate it showed.
//!
//! The order a connection goes through: [`handshake_pinned`] (or [`handshake_ca`]), then
//! [`crate::known_servers::KnownServers::decide`] on the fingerprint it returns, and only then
//! the first application byte (the name).

use std::fmt;
use std::io::{self, Read as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lanchat_proto::Fingerprint;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::Resumption;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::sign::SingleCertAndKey;
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme,
};

use crate::addr::ServerAddr;
use crate::identity::Identity;

/// Said, with exit code 1, when the server speaks plaintext and `--plaintext` was not given.
pub const PLAINTEXT_SERVER: &str =
    "this server is not encrypted; use --plaintext to connect anyway";

/// Shown at the start of a `--plaintext` connection, where an encrypted one shows
/// [`encrypted_notice`].
pub const PLAINTEXT_WARNING: &str = "WARNING: this connection is not encrypted (--plaintext): \
     anyone on the network can read what you write, private messages included, and could pose \
     as the server.";

/// Shown at the start of an encrypted connection.
pub fn encrypted_notice(fingerprint: &Fingerprint) -> String {
    format!("The connection is encrypted (TLS 1.3); the server's key is {fingerprint}.")
}

/// The crypto provider: `ring`, as the server's.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The fingerprint of `cert`: SHA-256 over its SubjectPublicKeyInfo (DER).
///
/// # Errors
/// rustls's, when `cert` is not a certificate it can parse.
pub fn fingerprint_of(cert: &CertificateDer<'_>) -> Result<Fingerprint, rustls::Error> {
    let spki = ParsedCertificate::try_from(cert)?.subject_public_key_info();
    let digest = ring::digest::digest(&ring::digest::SHA256, spki.as_ref());
    let mut out = [0u8; lanchat_proto::fingerprint::DIGEST_LEN];
    out.copy_from_slice(digest.as_ref());
    Ok(Fingerprint::from_digest(out))
}

/// The fingerprint of the certificate a finished handshake saw.
pub fn peer_fingerprint(conn: &ClientConnection) -> Option<Fingerprint> {
    fingerprint_of(conn.peer_certificates()?.first()?).ok()
}

/// What the pinning verifier saw: the fingerprint of the key the server presented.
#[derive(Debug, Default)]
pub struct Presented(Mutex<Option<Fingerprint>>);

impl Presented {
    /// The fingerprint, once the server's certificate has arrived.
    pub fn get(&self) -> Option<Fingerprint> {
        self.0.lock().ok().and_then(|g| *g)
    }

    fn set(&self, fp: Fingerprint) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(fp);
        }
    }
}

/// Trusts a server by its key's fingerprint: records what was presented and, when a
/// fingerprint is expected, refuses any other in the handshake itself.
#[derive(Debug)]
pub struct PinVerifier {
    expected: Option<Fingerprint>,
    presented: Arc<Presented>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp = fingerprint_of(end_entity)?;
        self.presented.set(fp);
        match self.expected {
            Some(expected) if expected != fp => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The configuration offers TLS 1.3 only; rustls never gets here.
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// TLS 1.3 only, ALPN `lanchat/1`, no session resumption (every connection shows the key);
/// the user's key presented as a client certificate when there is one (`me`).
fn config_with(verifier: Arc<dyn ServerCertVerifier>, me: Option<&Identity>) -> Arc<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("the ring provider supports TLS 1.3")
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match me {
        Some(id) => {
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(id.certified_key())))
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![lanchat_proto::ALPN.as_bytes().to_vec()];
    config.resumption = Resumption::disabled();
    Arc::new(config)
}

/// A configuration that pins: refuses any key but `expected` when given, accepts any key
/// otherwise (first contact); either way the returned [`Presented`] holds what was shown.
pub fn pinned_config(expected: Option<Fingerprint>) -> (Arc<ClientConfig>, Arc<Presented>) {
    pinned_config_as(expected, None)
}

/// [`pinned_config`], presenting the user's key `me` when the server asks for one.
pub fn pinned_config_as(
    expected: Option<Fingerprint>,
    me: Option<&Identity>,
) -> (Arc<ClientConfig>, Arc<Presented>) {
    let presented = Arc::new(Presented::default());
    let verifier = PinVerifier {
        expected,
        presented: Arc::clone(&presented),
        algorithms: provider().signature_verification_algorithms,
    };
    (config_with(Arc::new(verifier), me), presented)
}

/// `--ca FILE` could not be used.
#[derive(Debug)]
pub enum CaError {
    /// The file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The OS's error.
        source: io::Error,
    },
    /// It holds no PEM certificate rustls accepts as a trust anchor.
    NoCertificate(PathBuf),
}

impl fmt::Display for CaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaError::Read { path, source } => {
                write!(f, "cannot read the CA file {}: {source}", path.display())
            }
            CaError::NoCertificate(path) => write!(
                f,
                "{} holds no CA certificate (PEM: -----BEGIN CERTIFICATE-----)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for CaError {}

/// A configuration that checks the server's certificate chain against the CA certificates in
/// `ca_file` (PEM) and its name against the address typed, instead of pinning.
///
/// # Errors
/// [`CaError`] when the file cannot be read or holds no usable certificate.
pub fn ca_config(ca_file: &Path) -> Result<Arc<ClientConfig>, CaError> {
    ca_config_as(ca_file, None)
}

/// [`ca_config`], presenting the user's key `me` when the server asks for one.
///
/// # Errors
/// As [`ca_config`].
pub fn ca_config_as(ca_file: &Path, me: Option<&Identity>) -> Result<Arc<ClientConfig>, CaError> {
    let pem = std::fs::read(ca_file).map_err(|source| CaError::Read {
        path: ca_file.to_path_buf(),
        source,
    })?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem).map_while(Result::ok) {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(CaError::NoCertificate(ca_file.to_path_buf()));
    }
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|_| CaError::NoCertificate(ca_file.to_path_buf()))?;
    Ok(config_with(verifier, me))
}

/// The name the handshake is for: the IP address, or the host name as typed (checked against
/// the certificate under `--ca`, ignored when pinning). `None` for a host rustls cannot name
/// (then [`handshake_pinned`] uses a placeholder, and `--ca` cannot be used).
pub fn server_name(addr: &ServerAddr) -> Option<ServerName<'static>> {
    match addr.host.parse::<std::net::IpAddr>() {
        Ok(ip) => Some(ServerName::IpAddress(ip.into())),
        Err(_) => ServerName::try_from(addr.host.to_lowercase()).ok(),
    }
}

/// What the first bytes from a server say it speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// A TLS record (handshake or alert).
    Tls,
    /// The lanchat line protocol in the clear (`HELLO ...`, or `ERR ...` / `BYE ...` from a
    /// plaintext server that is full or closing).
    Plaintext,
    /// Too few bytes to tell.
    NeedMore,
    /// Something else; the TLS handshake will fail on it.
    Other,
}

/// The words a plaintext lanchat server can open with.
const PLAINTEXT_OPENERS: [&[u8]; 3] = [b"HELLO ", b"ERR ", b"BYE "];

/// Tell from the first bytes a server sent whether it speaks TLS or plaintext lanchat.
pub fn sniff(first: &[u8]) -> Sniff {
    match first.first() {
        None => Sniff::NeedMore,
        // TLS record content types: change_cipher_spec, alert, handshake, application_data.
        Some(0x14..=0x17) => Sniff::Tls,
        Some(_) => {
            if PLAINTEXT_OPENERS.iter().any(|w| first.starts_with(w)) {
                Sniff::Plaintext
            } else if PLAINTEXT_OPENERS.iter().any(|w| w.starts_with(first)) {
                Sniff::NeedMore
            } else {
                Sniff::Other
            }
        }
    }
}

/// Why a TLS handshake did not finish.
#[derive(Debug)]
pub enum HandshakeError {
    /// The server speaks plaintext lanchat ([`PLAINTEXT_SERVER`]; exit 1).
    Plaintext,
    /// The server presented a key other than the one expected. Not a message to print: hand the
    /// fingerprint to `KnownServers::decide`, which words the refusal (exit 4).
    KeyMismatch {
        /// The fingerprint of the key it presented.
        presented: Fingerprint,
    },
    /// The server closed the connection during the handshake.
    Closed,
    /// The deadline passed.
    TimedOut,
    /// The socket failed.
    Io(io::Error),
    /// TLS failed (for example, `--ca` did not verify the server, or it is not a TLS server).
    Tls(rustls::Error),
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Plaintext => f.write_str(PLAINTEXT_SERVER),
            HandshakeError::KeyMismatch { presented } => {
                write!(f, "the server presented another key ({presented})")
            }
            HandshakeError::Closed => f.write_str(
                "the server closed the connection during the TLS handshake (a full server, or \
                 one limiting connections from your address, does that)",
            ),
            HandshakeError::TimedOut => {
                f.write_str("the server did not finish the TLS handshake in time")
            }
            HandshakeError::Io(e) => write!(f, "TLS handshake: {e}"),
            HandshakeError::Tls(e) => write!(f, "TLS handshake failed: {e}"),
        }
    }
}

impl std::error::Error for HandshakeError {}

impl From<rustls::Error> for HandshakeError {
    fn from(e: rustls::Error) -> Self {
        HandshakeError::Tls(e)
    }
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HandshakeError::TimedOut,
            // A server that closes with our ClientHello unread resets the connection: closed
            // all the same.
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => HandshakeError::Closed,
            _ => HandshakeError::Io(e),
        }
    }
}

/// Handshake on `sock` (connected to `addr`) trusting the key `expected`, or any key when
/// `None` (first contact). Returns the connection, ready for `rustls::StreamOwned`, and the
/// fingerprint of the key the server presented, for `KnownServers::decide`. Nothing but the
/// handshake has been sent.
///
/// # Errors
/// [`HandshakeError`]; [`HandshakeError::KeyMismatch`] carries the presented fingerprint.
pub fn handshake_pinned(
    sock: &mut TcpStream,
    addr: &ServerAddr,
    expected: Option<Fingerprint>,
    deadline: Instant,
) -> Result<(ClientConnection, Fingerprint), HandshakeError> {
    handshake_pinned_as(sock, addr, expected, None, deadline)
}

/// [`handshake_pinned`], presenting the user's key `me` when the server asks for one.
///
/// # Errors
/// As [`handshake_pinned`].
pub fn handshake_pinned_as(
    sock: &mut TcpStream,
    addr: &ServerAddr,
    expected: Option<Fingerprint>,
    me: Option<&Identity>,
    deadline: Instant,
) -> Result<(ClientConnection, Fingerprint), HandshakeError> {
    let (config, presented) = pinned_config_as(expected, me);
    // The name is not checked when pinning; a host rustls cannot name still connects.
    let name = server_name(addr).unwrap_or(ServerName::DnsName(
        rustls::pki_types::DnsName::try_from("lanchat").expect("a valid name"),
    ));
    let mut conn = ClientConnection::new(config, name)?;
    match drive(&mut conn, sock, deadline) {
        Ok(()) => {}
        Err(HandshakeError::Tls(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))) if presented.get().is_some() => {
            let presented = presented.get().ok_or(HandshakeError::Closed)?;
            return Err(HandshakeError::KeyMismatch { presented });
        }
        Err(e) => return Err(e),
    }
    let fp = presented
        .get()
        .ok_or(HandshakeError::Tls(rustls::Error::NoCertificatesPresented))?;
    Ok((conn, fp))
}

/// Handshake on `sock` verifying the server against the CA in `config` (from [`ca_config`]).
/// Returns the connection and the fingerprint of the server's key (to show, not to pin).
///
/// # Errors
/// [`HandshakeError`]; a name rustls cannot check is [`HandshakeError::Tls`].
pub fn handshake_ca(
    sock: &mut TcpStream,
    addr: &ServerAddr,
    config: Arc<ClientConfig>,
    deadline: Instant,
) -> Result<(ClientConnection, Fingerprint), HandshakeError> {
    let name = server_name(addr).ok_or(HandshakeError::Tls(rustls::Error::General(format!(
        "{:?} is not a name a certificate can be checked against",
        addr.host
    ))))?;
    let mut conn = ClientConnection::new(config, name)?;
    drive(&mut conn, sock, deadline)?;
    let fp = peer_fingerprint(&conn)
        .ok_or(HandshakeError::Tls(rustls::Error::NoCertificatesPresented))?;
    Ok((conn, fp))
}

/// Run the handshake to its end on a blocking socket, each read and write bounded by
/// `deadline`. The server's first bytes are looked at before TLS sees them, so a plaintext
/// server is named as such rather than as a TLS error.
fn drive(
    conn: &mut ClientConnection,
    sock: &mut TcpStream,
    deadline: Instant,
) -> Result<(), HandshakeError> {
    let mut first: Vec<u8> = Vec::new();
    let mut sniffed = false;
    let mut buf = [0u8; 4096];
    while conn.is_handshaking() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HandshakeError::TimedOut);
        }
        if conn.wants_write() {
            sock.set_write_timeout(Some(left))?;
            conn.write_tls(sock)?;
            continue;
        }
        sock.set_read_timeout(Some(left))?;
        let n = match sock.read(&mut buf) {
            Ok(0) => return Err(HandshakeError::Closed),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let mut fresh = &buf[..n];
        if !sniffed {
            first.extend_from_slice(fresh);
            match sniff(&first) {
                Sniff::NeedMore => continue,
                Sniff::Plaintext => return Err(HandshakeError::Plaintext),
                Sniff::Tls | Sniff::Other => {
                    sniffed = true;
                    fresh = &[];
                    feed(conn, &std::mem::take(&mut first))?;
                }
            }
        }
        feed(conn, fresh)?;
    }
    // The client's Finished may still be queued.
    while conn.wants_write() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HandshakeError::TimedOut);
        }
        sock.set_write_timeout(Some(left))?;
        conn.write_tls(sock)?;
    }
    Ok(())
}

/// Hand received bytes to rustls, all of them, processing as they go in.
fn feed(conn: &mut ClientConnection, mut bytes: &[u8]) -> Result<(), HandshakeError> {
    while !bytes.is_empty() {
        conn.read_tls(&mut bytes)?;
        conn.process_new_packets()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader, Write as _};
    use std::net::TcpListener;
    use std::time::Duration;

    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls::pki_types::PrivateKeyDer;
    use rustls::{ServerConfig, ServerConnection, StreamOwned};

    const DEADLINE: Duration = Duration::from_secs(10);

    fn deadline() -> Instant {
        Instant::now() + DEADLINE
    }

    /// A certificate (for 127.0.0.1 and `chatbox`) and its key, self-signed or by `issuer`.
    fn leaf(issuer: Option<&CertifiedIssuer<'_, KeyPair>>) -> (CertificateDer<'static>, KeyPair) {
        let key = KeyPair::generate().expect("key");
        let params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "chatbox".to_owned()]).expect("p");
        let cert = match issuer {
            Some(ca) => params.signed_by(&key, ca).expect("sign"),
            None => params.self_signed(&key).expect("self-sign"),
        };
        (cert.der().clone(), key)
    }

    fn ca() -> CertifiedIssuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca")
    }

    /// A TLS server thread on loopback for one connection: handshake, send `HELLO hi`, then
    /// read until the client goes.
    fn tls_server(
        cert: CertificateDer<'static>,
        key: &KeyPair,
    ) -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
        let key = PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("tls13")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("config");
        config.alpn_protocols = vec![b"lanchat/1".to_vec()];
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let t = std::thread::spawn(move || {
            let (sock, _) = listener.accept().expect("accept");
            sock.set_read_timeout(Some(DEADLINE)).expect("timeout");
            let conn = ServerConnection::new(Arc::new(config)).expect("conn");
            let mut tls = StreamOwned::new(conn, sock);
            if tls
                .write_all(b"HELLO hi\n")
                .and_then(|()| tls.flush())
                .is_err()
            {
                return;
            }
            let mut sink = Vec::new();
            let _ = tls.read_to_end(&mut sink);
        });
        (addr, t)
    }

    fn connect(to: std::net::SocketAddr) -> (TcpStream, ServerAddr) {
        let sock = TcpStream::connect(to).expect("connect");
        let addr = ServerAddr {
            host: to.ip().to_string(),
            port: to.port(),
        };
        (sock, addr)
    }

    /// Read the first line through the finished connection.
    fn first_line(conn: ClientConnection, sock: TcpStream) -> String {
        let mut line = String::new();
        BufReader::new(StreamOwned::new(conn, sock))
            .read_line(&mut line)
            .expect("read");
        line
    }

    #[test]
    fn first_contact_accepts_and_reports_the_key_then_the_line_protocol_runs_inside() {
        let (cert, key) = leaf(None);
        let want = fingerprint_of(&cert).expect("fp");
        let (to, server) = tls_server(cert, &key);
        let (mut sock, addr) = connect(to);
        let (conn, fp) = handshake_pinned(&mut sock, &addr, None, deadline()).expect("handshake");
        assert_eq!(fp, want);
        assert_eq!(conn.alpn_protocol(), Some(&b"lanchat/1"[..]));
        assert_eq!(peer_fingerprint(&conn), Some(want));
        assert_eq!(first_line(conn, sock), "HELLO hi\n");
        server.join().expect("server");
    }

    #[test]
    fn a_pinned_key_goes_and_another_key_is_refused_in_the_handshake() {
        let (cert, key) = leaf(None);
        let right = fingerprint_of(&cert).expect("fp");
        let (to, server) = tls_server(cert.clone(), &key);
        let (mut sock, addr) = connect(to);
        let (conn, fp) = handshake_pinned(&mut sock, &addr, Some(right), deadline()).expect("ok");
        assert_eq!(fp, right);
        assert_eq!(first_line(conn, sock), "HELLO hi\n");
        server.join().expect("server");

        let wrong = Fingerprint::from_digest([9; 32]);
        let (to, server) = tls_server(cert, &key);
        let (mut sock, addr) = connect(to);
        match handshake_pinned(&mut sock, &addr, Some(wrong), deadline()) {
            Err(HandshakeError::KeyMismatch { presented }) => assert_eq!(presented, right),
            other => panic!("{other:?}"),
        }
        drop(sock);
        server.join().expect("server");
    }

    #[test]
    fn a_forged_certificate_for_the_pinned_key_without_the_private_key_fails() {
        // The attacker shows the real server's certificate (so the fingerprint matches) but
        // signs the handshake with its own key: the signature check must catch it.
        let (real_cert, _real_key) = leaf(None);
        let (_, attacker_key) = leaf(None);
        let pinned = fingerprint_of(&real_cert).expect("fp");
        let der = PrivateKeyDer::try_from(attacker_key.serialize_der()).expect("der");
        // rustls refuses to build a server whose key does not match its certificate, so the
        // forger has to go below the config checks: a resolver that serves the pair as is.
        #[derive(Debug)]
        struct Forged(Arc<rustls::sign::CertifiedKey>);
        impl rustls::server::ResolvesServerCert for Forged {
            fn resolve(
                &self,
                _: rustls::server::ClientHello<'_>,
            ) -> Option<Arc<rustls::sign::CertifiedKey>> {
                Some(Arc::clone(&self.0))
            }
        }
        let signer = provider()
            .key_provider
            .load_private_key(der)
            .expect("signer");
        let forged = rustls::sign::CertifiedKey::new(vec![real_cert], signer);
        let config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("tls13")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Forged(Arc::new(forged))));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let to = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (sock, _) = listener.accept().expect("accept");
            sock.set_read_timeout(Some(DEADLINE)).expect("timeout");
            let mut tls =
                StreamOwned::new(ServerConnection::new(Arc::new(config)).expect("c"), sock);
            let _ = tls.write_all(b"HELLO gotcha\n");
            let _ = tls.read_to_end(&mut Vec::new());
        });
        let (mut sock, addr) = connect(to);
        let got = handshake_pinned(&mut sock, &addr, Some(pinned), deadline());
        assert!(
            matches!(got, Err(HandshakeError::Tls(_))),
            "forged handshake accepted: {got:?}"
        );
        drop(sock);
        server.join().expect("server");
    }

    #[test]
    fn ca_mode_trusts_the_office_ca_and_nothing_else() {
        let office = ca();
        let (cert, key) = leaf(Some(&office));
        let tmp = tempfile::tempdir().expect("tmp");
        let ca_file = tmp.path().join("office-ca.pem");
        std::fs::write(&ca_file, office.pem()).expect("write ca");
        let config = ca_config(&ca_file).expect("ca config");

        let (to, server) = tls_server(cert.clone(), &key);
        let (mut sock, addr) = connect(to);
        let (conn, fp) =
            handshake_ca(&mut sock, &addr, Arc::clone(&config), deadline()).expect("verified");
        assert_eq!(fp, fingerprint_of(&cert).expect("fp"));
        assert_eq!(first_line(conn, sock), "HELLO hi\n");
        server.join().expect("server");

        let (stranger, stranger_key) = leaf(Some(&ca()));
        let (to, server) = tls_server(stranger, &stranger_key);
        let (mut sock, addr) = connect(to);
        let got = handshake_ca(&mut sock, &addr, config, deadline());
        assert!(matches!(got, Err(HandshakeError::Tls(_))), "{got:?}");
        drop(sock);
        server.join().expect("server");

        std::fs::write(&ca_file, "not a certificate").expect("write");
        assert!(matches!(
            ca_config(&ca_file),
            Err(CaError::NoCertificate(_))
        ));
        assert!(matches!(
            ca_config(&tmp.path().join("missing.pem")),
            Err(CaError::Read { .. })
        ));
    }

    #[test]
    fn a_plaintext_server_is_named_as_such() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let to = listener.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().expect("accept");
            let _ = sock.write_all(b"HELLO Welcome to lanchat! What is your name?\n");
            let _ = sock.read(&mut [0u8; 1024]);
        });
        let (mut sock, addr) = connect(to);
        let got = handshake_pinned(&mut sock, &addr, None, deadline());
        assert!(matches!(got, Err(HandshakeError::Plaintext)), "{got:?}");
        assert_eq!(
            got.err().map(|e| e.to_string()).as_deref(),
            Some(PLAINTEXT_SERVER)
        );
        drop(sock);
        server.join().expect("server");
    }

    #[test]
    fn a_silent_server_times_out_and_a_closing_one_is_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let to = listener.local_addr().expect("addr");
        let (mut sock, addr) = connect(to);
        let (_held, _) = listener.accept().expect("accept");
        let start = Instant::now();
        let got = handshake_pinned(&mut sock, &addr, None, start + Duration::from_millis(200));
        assert!(matches!(got, Err(HandshakeError::TimedOut)), "{got:?}");
        assert!(start.elapsed() < DEADLINE);

        let (mut sock, addr) = connect(to);
        drop(listener.accept().expect("accept"));
        let got = handshake_pinned(&mut sock, &addr, None, deadline());
        assert!(
            matches!(got, Err(HandshakeError::Closed | HandshakeError::Io(_))),
            "{got:?}"
        );
    }

    #[test]
    fn sniff_table() {
        for (bytes, want) in [
            (&b""[..], Sniff::NeedMore),
            (b"\x16\x03\x03\x00\x7a", Sniff::Tls),
            (b"\x15\x03\x03\x00\x02", Sniff::Tls),
            (b"HELLO Welcome", Sniff::Plaintext),
            (b"HELLO ", Sniff::Plaintext),
            (b"HEL", Sniff::NeedMore),
            (b"H", Sniff::NeedMore),
            (b"ERR server-full sorry", Sniff::Plaintext),
            (b"BYE server shutting down", Sniff::Plaintext),
            (b"HELO", Sniff::Other),
            (b"SSH-2.0-OpenSSH", Sniff::Other),
            (b"HTTP/1.1 400", Sniff::Other),
        ] {
            assert_eq!(sniff(bytes), want, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    #[test]
    fn server_names() {
        let name = |host: &str| {
            server_name(&ServerAddr {
                host: host.to_owned(),
                port: 7070,
            })
        };
        assert!(matches!(
            name("192.168.1.20"),
            Some(ServerName::IpAddress(_))
        ));
        assert!(matches!(name("fe80::1"), Some(ServerName::IpAddress(_))));
        assert!(matches!(name("ChatBox"), Some(ServerName::DnsName(_))));
        assert_eq!(name("not a name!"), None);
    }
}
