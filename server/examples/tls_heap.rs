//! How much heap a TLS connection's rustls state holds once its handshake is done: rustls'
//! unbuffered server connection (what `transport::tls::TlsLink` uses) against its buffered
//! `ServerConnection`, each after a full handshake with lanchat's client configuration, in
//! memory (no sockets). A counting allocator measures the heap that stays allocated per
//! connection; the figures are in docs/BENCHMARKS.md.
//!
//! `cargo run --release -p lanchat-server --example tls_heap`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lanchat_server::tls::{Identity, KeySource};
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::ConnectionState;
use rustls::{ClientConnection, ServerConfig, ServerConnection};

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

fn client(identity: &Identity) -> ClientConnection {
    let (config, _) = lanchat_client::tls::pinned_config(Some(identity.fingerprint()));
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
fn unbuffered(config: &Arc<ServerConfig>, identity: &Identity) -> UnbufferedServerConnection {
    let mut client = client(identity);
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

/// A buffered server connection after a full handshake.
fn buffered(config: &Arc<ServerConfig>, identity: &Identity) -> ServerConnection {
    let mut client = client(identity);
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

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let identity =
        Identity::load(&KeySource::StateDir(dir.path().to_path_buf())).expect("an identity");
    let config = identity.server_config();
    let unbuffered = per_connection(|| unbuffered(&config, &identity));
    let buffered = per_connection(|| buffered(&config, &identity));
    let row = |name: &str, heap: usize, size: usize| {
        println!(
            "  {name:<10} {heap:>5} B of heap + its {size} B struct = {} B",
            heap + size
        );
    };
    println!("per connection after the handshake ({CONNECTIONS} connections each):");
    row(
        "unbuffered",
        unbuffered,
        std::mem::size_of::<UnbufferedServerConnection>(),
    );
    row(
        "buffered",
        buffered,
        std::mem::size_of::<ServerConnection>(),
    );
}
