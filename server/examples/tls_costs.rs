//! What TLS costs the server, in memory (no sockets, so no kernel time), with lanchat's
//! client configuration: the heap a connection's TLS state holds once its handshake is done
//! (what `transport::tls::TlsLink` keeps at rest, rustls' kernel connection and the server's
//! record layer; against rustls' unbuffered server connection, which does the handshake, and
//! its buffered `ServerConnection`; a counting allocator), and the server's CPU per handshake
//! and per record for each TLS 1.3 suite (the server picks the first of its `tls::provider`'s,
//! AES-128-GCM), without and with a client key (the server checks its signature). The figures
//! are in docs/BENCHMARKS.md.
//!
//! `cargo run --release -p lanchat-server --example tls_costs`

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanchat_server::tls::{Identity, KeySource};
use lanchat_server::transport::tls::records::Records;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::ConnectionState;
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, ServerConfig, ServerConnection,
    SignatureScheme, SupportedCipherSuite,
};

/// The system allocator, counting the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed straight to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Connections measured per kind.
const CONNECTIONS: usize = 500;

/// Handshakes timed per suite.
const HANDSHAKES: u32 = 2_000;

/// The records a flush makes, timed after each handshake: ten chat batches of 1,000 bytes.
const RECORDS: (u32, usize) = (10, 1_000);

/// A user's key a client may present.
type UserKey = lanchat_client::identity::Identity;

fn client(identity: &Identity, me: Option<&UserKey>) -> ClientConnection {
    let (config, _) = lanchat_client::tls::pinned_config_as(Some(identity.fingerprint()), me);
    let name = ServerName::try_from("lanchat").expect("a valid name");
    ClientConnection::new(config, name).expect("a client connection")
}

/// What the client has to send.
fn client_output(client: &mut ClientConnection) -> Vec<u8> {
    let mut out = Vec::new();
    while client.wants_write() {
        client.write_tls(&mut out).expect("into a Vec");
    }
    out
}

/// Hand `bytes` to the client.
fn client_input(client: &mut ClientConnection, bytes: &[u8]) {
    let mut rd = bytes;
    while !rd.is_empty() {
        client.read_tls(&mut rd).expect("from a slice");
        client.process_new_packets().expect("a good server");
    }
}

/// An unbuffered server connection after a full handshake.
fn unbuffered(
    config: &Arc<ServerConfig>,
    identity: &Identity,
    me: Option<&UserKey>,
) -> UnbufferedServerConnection {
    let mut client = client(identity, me);
    let mut server = UnbufferedServerConnection::new(Arc::clone(config)).expect("a server");
    let mut incoming = Vec::new();
    while client.is_handshaking() || server.is_handshaking() {
        incoming.extend(client_output(&mut client));
        let mut outgoing = Vec::new();
        loop {
            let status = server.process_tls_records(&mut incoming);
            let (discard, mut wait) = (status.discard, false);
            match status.state.expect("a good client") {
                ConnectionState::EncodeTlsData(mut message) => {
                    let mut buf = vec![0; 16 * 1024];
                    let n = message.encode(&mut buf).expect("room enough");
                    outgoing.extend_from_slice(&buf[..n]);
                }
                ConnectionState::TransmitTlsData(sent) => sent.done(),
                _ => wait = true,
            }
            incoming.drain(..discard);
            if wait {
                break;
            }
        }
        client_input(&mut client, &outgoing);
    }
    server
}

/// What the server keeps at rest after a full handshake: rustls' kernel connection inside the
/// record layer, its expanded keys let go (as the loop's heap trim does).
fn at_rest(config: &Arc<ServerConfig>, identity: &Identity) -> Records {
    let (secrets, kernel) = unbuffered(config, identity, None)
        .dangerous_into_kernel_connection()
        .expect("secrets");
    let mut records = Records::new(secrets, kernel).expect("records");
    records.rest();
    records
}

/// A buffered server connection after a full handshake.
fn buffered(config: &Arc<ServerConfig>, identity: &Identity) -> ServerConnection {
    let mut client = client(identity, None);
    let mut server = ServerConnection::new(Arc::clone(config)).expect("a server");
    while client.is_handshaking() || server.is_handshaking() {
        let bytes = client_output(&mut client);
        let mut rd = &bytes[..];
        while !rd.is_empty() {
            server.read_tls(&mut rd).expect("from a slice");
        }
        server.process_new_packets().expect("a good client");
        let mut out = Vec::new();
        while server.wants_write() {
            server.write_tls(&mut out).expect("into a Vec");
        }
        client_input(&mut client, &out);
    }
    server
}

/// Heap per connection that `make` keeps allocated besides the connection's own struct (the
/// `Vec` holding them is allocated before counting).
fn per_connection<T>(mut make: impl FnMut() -> T) -> usize {
    let mut held = Vec::with_capacity(CONNECTIONS);
    let before = LIVE.load(Ordering::Relaxed);
    for _ in 0..CONNECTIONS {
        held.push(make());
    }
    let after = LIVE.load(Ordering::Relaxed);
    let each = (after - before) / CONNECTIONS;
    drop(held);
    each
}

/// Trusts any key: the timing is of the server's side.
#[derive(Debug)]
struct AnyKey;

impl ServerCertVerifier for AnyKey {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        lanchat_server::tls::provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The server's time per handshake and per [`RECORDS`] with a client offering only `suite`,
/// and presenting `me` when given.
fn timed(
    config: &Arc<ServerConfig>,
    suite: SupportedCipherSuite,
    me: Option<&UserKey>,
) -> (Duration, Duration) {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![suite];
    let builder = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("TLS 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyKey));
    let client_config = match me {
        Some(me) => builder.with_client_cert_resolver(Arc::new(
            rustls::sign::SingleCertAndKey::from(me.certified_key()),
        )),
        None => builder.with_no_client_auth(),
    };
    let client_config = Arc::new(client_config);
    let (mut handshakes, mut records) = (Duration::ZERO, Duration::ZERO);
    let payload = vec![b'x'; RECORDS.1];
    for _ in 0..HANDSHAKES {
        let name = ServerName::try_from("lanchat").expect("a valid name");
        let mut client = ClientConnection::new(Arc::clone(&client_config), name).expect("a client");
        let mut server = ServerConnection::new(Arc::clone(config)).expect("a server");
        while client.is_handshaking() || server.is_handshaking() {
            let bytes = client_output(&mut client);
            let started = Instant::now();
            let mut rd = &bytes[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).expect("from a slice");
            }
            server.process_new_packets().expect("a good client");
            let mut out = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut out).expect("into a Vec");
            }
            handshakes += started.elapsed();
            client_input(&mut client, &out);
        }
        let started = Instant::now();
        for _ in 0..RECORDS.0 {
            server.writer().write_all(&payload).expect("buffered");
            let mut out = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut out).expect("into a Vec");
            }
        }
        records += started.elapsed();
    }
    (handshakes / HANDSHAKES, records / HANDSHAKES)
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let identity =
        Identity::load(&KeySource::StateDir(dir.path().to_path_buf())).expect("an identity");
    let config = identity.server_config();
    let (me, _) = UserKey::load_or_create(&dir.path().join("user.key")).expect("a user key");
    let rest = per_connection(|| at_rest(&config, &identity));
    let plain_heap = per_connection(|| unbuffered(&config, &identity, None));
    let with_key = per_connection(|| unbuffered(&config, &identity, Some(&me)));
    let buffered = per_connection(|| buffered(&config, &identity));
    let row = |name: &str, heap: usize, size: usize| {
        println!(
            "  {name:<10} {heap:>5} B of heap + its {size} B struct = {} B",
            heap + size
        );
    };
    println!("per connection after the handshake ({CONNECTIONS} connections each):");
    row("at rest", rest, std::mem::size_of::<Records>());
    row(
        "unbuffered",
        plain_heap,
        std::mem::size_of::<UnbufferedServerConnection>(),
    );
    row(
        "with key",
        with_key,
        std::mem::size_of::<UnbufferedServerConnection>(),
    );
    row(
        "buffered",
        buffered,
        std::mem::size_of::<ServerConnection>(),
    );
    println!(
        "server CPU ({HANDSHAKES} handshakes each; then {} records of {} B):",
        RECORDS.0, RECORDS.1
    );
    for suite in rustls::crypto::ring::DEFAULT_CIPHER_SUITES
        .iter()
        .filter(|s| s.version() == &rustls::version::TLS13)
    {
        let (handshake, records) = timed(&config, *suite, None);
        println!(
            "  {:<32} handshake {:>4} us   records {:>5.1} us",
            format!("{:?}", suite.suite()),
            handshake.as_micros(),
            records.as_secs_f64() * 1e6
        );
    }
    // The client's key costs the server one signature check in the handshake.
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256;
    let (handshake, _) = timed(&config, suite, Some(&me));
    println!(
        "  {:<32} handshake {:>4} us   (the client showing its key)",
        format!("{:?}", suite.suite()),
        handshake.as_micros()
    );
}
