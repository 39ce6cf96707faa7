//! The server's TLS record layer against peers that misbehave after the handshake, from the
//! outside: floods of key updates (asked for or not, with data between them or without),
//! warning alerts past their bound, and a key update sent with the client's `Finished` (empty
//! records past their bound: the unit tests of `transport::tls`, as no client sends one). See
//! docs/ROBUSTNESS.md (TLS records).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use integration_tests::client::{connect_small_window, read_to_close};
use integration_tests::{procfs, Client, ServerProcess, DEADLINE};
use lanchat_client::stream::TlsStream;
use lanchat_proto::Fingerprint;
use lanchat_server::transport::tls::records::{
    Records, SealKey, MAX_KEY_UPDATES, MAX_WARNING_ALERTS,
};
use rustls::client::ClientConnectionData;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection};

/// Key update requests in a flood, sent in batches of [`BATCH`].
const FLOOD: usize = 200_000;
const BATCH: usize = 1_000;

fn fingerprint(server: &ServerProcess) -> Fingerprint {
    server
        .fingerprint()
        .parse()
        .expect("the printed fingerprint")
}

/// lanchat's client configuration pinned to `pin`, `adjust`ed.
fn config(pin: Fingerprint, adjust: impl FnOnce(&mut ClientConfig)) -> Arc<ClientConfig> {
    let mut config = (*lanchat_client::tls::pinned_config(Some(pin)).0).clone();
    adjust(&mut config);
    Arc::new(config)
}

/// A rustls client's handshake over `sock`, up to its `Finished`, which waits unsent in the
/// connection returned.
fn handshake_but_finished(sock: &mut TcpStream, config: Arc<ClientConfig>) -> ClientConnection {
    let name = ServerName::try_from("lanchat").expect("name");
    let mut conn = ClientConnection::new(config, name).expect("client");
    sock.set_read_timeout(Some(DEADLINE)).expect("timeout");
    loop {
        while conn.wants_write() {
            conn.write_tls(sock).expect("to the server");
        }
        let n = conn.read_tls(sock).expect("the server's flight");
        assert!(n > 0, "closed during the handshake");
        conn.process_new_packets().expect("the server's flight");
        if !conn.is_handshaking() {
            return conn;
        }
    }
}

/// Everything `conn` has to send, in one write.
fn send_all(conn: &mut ClientConnection, sock: &mut TcpStream) -> std::io::Result<()> {
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out)?;
    }
    sock.write_all(&out)
}

/// A client that joins as `name` on a small window and never reads: its handshake and name
/// are done by rustls, what it sends after that is the test's.
fn join_never_reading(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    name: &str,
) -> (ClientConnection, TcpStream) {
    let mut sock = connect_small_window(addr);
    let mut conn = handshake_but_finished(&mut sock, config);
    conn.writer()
        .write_all(format!("{name}\n").as_bytes())
        .expect("name");
    send_all(&mut conn, &mut sock).expect("Finished and the name");
    (conn, sock)
}

/// A TLS server started with `args`, ann and bob chatting on it, and `fl`, a client that
/// joined on a small window and never reads ([`join_never_reading`]).
struct Room {
    server: ServerProcess,
    pin: Fingerprint,
    ann: Client,
    bob: Client,
    flooder: (ClientConnection, TcpStream),
}

impl Room {
    fn with_flooder(args: &[&str]) -> Room {
        let server = ServerProcess::start_tls(args);
        let pin = fingerprint(&server);
        let mut ann = Client::join_tls(server.addr(), pin, "ann");
        let bob = Client::join_tls(server.addr(), pin, "bob");
        ann.expect("JOIN bob");
        let flooder = join_never_reading(server.addr(), config(pin, |_| {}), "fl");
        ann.expect("JOIN fl");
        Room {
            server,
            pin,
            ann,
            bob,
            flooder,
        }
    }
}

/// Resident memory of `pid` now, and whether its peak could be reset to it (then
/// [`procfs::peak_or_current_rss_kib`] measures from here).
fn memory_from_here(pid: u32) -> (u64, bool) {
    let before = procfs::rss_kib(pid);
    (before, procfs::reset_peak_rss(pid))
}

#[test]
fn key_update_requests_between_lines_cost_the_server_no_memory_and_hold_up_no_chat() {
    // 200,000 requests to update the server's key, a blank line after every 31 (within the
    // bound on key updates without data), from a client that never reads: each used to put
    // an answer in the server's memory (~5 MB in all).
    let Room {
        server,
        mut ann,
        mut bob,
        flooder: (mut flooder, mut sock),
        ..
    } = Room::with_flooder(&["--rate", "0"]);
    let pid = server.pid();
    let (rss_before, resettable) = memory_from_here(pid);
    let started = Instant::now();
    for batch in 0..FLOOD / BATCH {
        for i in 0..BATCH {
            flooder.refresh_traffic_keys().expect("key update");
            if (batch * BATCH + i) % 31 == 30 {
                flooder.writer().write_all(b"\n").expect("a blank line");
            }
        }
        send_all(&mut flooder, &mut sock).expect("the server reads the flood");
        if batch % 20 == 0 {
            bob.send(&format!("/msg ann ping {batch}"));
            ann.expect(&format!("PRIV bob ping {batch}"));
        }
        assert!(started.elapsed() < DEADLINE * 4, "the flood took too long");
    }
    // The server followed every key update: a line under the client's latest key arrives.
    flooder.writer().write_all(b"still here\n").expect("line");
    send_all(&mut flooder, &mut sock).expect("a line");
    ann.expect("MSG fl still here");
    let peak = procfs::peak_or_current_rss_kib(pid, resettable);
    let growth = peak.saturating_sub(rss_before);
    assert!(
        growth < 2048,
        "server memory grew by {growth} KiB for {FLOOD} key update requests"
    );
    bob.send("/msg ann after");
    ann.expect("PRIV bob after");
    // All the server sent the flooder, read at last: its welcome, one key update for all the
    // requests, its BYE. (The kernel's buffers hide from RSS what waits for a reader that
    // does not read; this counts it.)
    flooder.writer().write_all(b"<quit>\n").expect("quit");
    send_all(&mut flooder, &mut sock).expect("quit");
    let sent = read_to_close(&mut sock);
    assert!(
        sent.len() < 16 * 1024,
        "the server sent {} bytes for {FLOOD} requests",
        sent.len()
    );
    let mut plain = Vec::new();
    let mut rd = &sent[..];
    while !rd.is_empty() {
        flooder.read_tls(&mut rd).expect("read_tls");
        flooder
            .process_new_packets()
            .expect("what the server sent opens");
        let _ = flooder.reader().read_to_end(&mut plain);
    }
    let plain = String::from_utf8_lossy(&plain);
    assert!(plain.contains("\nBYE "), "{plain}");
}

#[test]
fn key_updates_without_data_past_the_bound_are_dropped_as_flooding() {
    let Room {
        server,
        pin,
        mut ann,
        mut bob,
        flooder: (mut flooder, mut sock),
    } = Room::with_flooder(&[]);
    // As many as a peer may send with no data between them, then a line: again and again.
    for round in 0..3 {
        for _ in 0..MAX_KEY_UPDATES {
            flooder.refresh_traffic_keys().expect("key update");
        }
        flooder
            .writer()
            .write_all(format!("round {round}\n").as_bytes())
            .expect("line");
        send_all(&mut flooder, &mut sock).expect("within the bound");
        ann.expect(&format!("MSG fl round {round}"));
    }
    // Then one more than that, and nothing else: the last one ends it.
    for _ in 0..=MAX_KEY_UPDATES {
        flooder.refresh_traffic_keys().expect("key update");
    }
    send_all(&mut flooder, &mut sock).expect("one too many");
    ann.expect("LEAVE fl flooding");
    read_to_close(&mut sock);
    assert_eq!(server.wait_for_log("fl left (flooding", 1), 1);

    // A flood of 200,000 with no data: over as soon as it passes the bound.
    let (mut flooder, mut sock) = join_never_reading(server.addr(), config(pin, |_| {}), "f2");
    ann.expect("JOIN f2");
    let pid = server.pid();
    let (rss_before, resettable) = memory_from_here(pid);
    let mut sent = 0;
    while sent < FLOOD {
        for _ in 0..BATCH {
            flooder.refresh_traffic_keys().expect("key update");
        }
        sent += BATCH;
        if send_all(&mut flooder, &mut sock).is_err() {
            // Reset under the flood: closed.
            break;
        }
    }
    ann.expect("LEAVE f2 flooding");
    read_to_close(&mut sock);
    bob.send("/msg ann after the flood");
    ann.expect("PRIV bob after the flood");
    let growth = procfs::peak_or_current_rss_kib(pid, resettable).saturating_sub(rss_before);
    assert!(
        growth < 2048,
        "server memory grew by {growth} KiB ({sent} sent)"
    );
}

/// A client whose records after its handshake (done by rustls, name given) are sealed by
/// the record layer the server uses, so it can send what rustls never does.
fn raw_client(
    addr: SocketAddr,
    pin: Fingerprint,
    name: &str,
) -> (Records<ClientConnectionData>, TcpStream) {
    let mut sock = TcpStream::connect(addr).expect("connect");
    sock.set_nodelay(true).expect("nodelay");
    let mut conn = handshake_but_finished(
        &mut sock,
        config(pin, |c| c.enable_secret_extraction = true),
    );
    conn.writer()
        .write_all(format!("{name}\n").as_bytes())
        .expect("name");
    send_all(&mut conn, &mut sock).expect("Finished and the name");
    let suite = conn.negotiated_cipher_suite().expect("a suite");
    let secrets = conn.dangerous_extract_secrets().expect("secrets");
    let records = Records::without_key_updates(secrets, suite).expect("records");
    (records, sock)
}

#[test]
fn warning_alerts_past_the_bound_are_dropped_as_flooding() {
    let server = ServerProcess::start_tls(&["--rate", "0"]);
    let pin = fingerprint(&server);
    let mut ann = Client::join_tls(server.addr(), pin, "ann");
    let (mut records, mut sock) = raw_client(server.addr(), pin, "al");
    ann.expect("JOIN al");
    // user_canceled at warning level: TLS 1.3's one alert that does not end a connection.
    let user_canceled = |records: &mut Records<ClientConnectionData>, out: &mut Vec<u8>| {
        records
            .seal_alert(&mut SealKey::default(), false, 90, out)
            .expect("alert");
    };
    for i in 0..MAX_WARNING_ALERTS {
        let mut out = Vec::new();
        user_canceled(&mut records, &mut out);
        let line = format!("after alert {i}\n");
        records
            .seal_data(
                &mut SealKey::default(),
                &[line.as_bytes()],
                0,
                line.len(),
                &mut out,
            )
            .expect("line");
        sock.write_all(&out).expect("within the bound");
        ann.expect(&format!("MSG al after alert {i}"));
    }
    let mut out = Vec::new();
    user_canceled(&mut records, &mut out);
    sock.write_all(&out).expect("one more");
    ann.expect("LEAVE al flooding");
    read_to_close(&mut sock);
    assert_eq!(server.wait_for_log("al left (flooding", 1), 1);
}

#[test]
fn a_key_update_sent_with_the_clients_finished_gets_a_working_connection() {
    // rustls answers it inside the handshake; the server used to drop that answer at the
    // hand-over to its own record layer, and the greeting then failed at the client.
    let server = ServerProcess::start_tls(&[]);
    let pin = fingerprint(&server);
    let mut ann = Client::join_tls(server.addr(), pin, "ann");
    let mut sock = TcpStream::connect(server.addr()).expect("connect");
    sock.set_nodelay(true).expect("nodelay");
    let mut conn = handshake_but_finished(&mut sock, config(pin, |_| {}));
    conn.refresh_traffic_keys().expect("key update");
    // Finished and the key update in one segment.
    send_all(&mut conn, &mut sock).expect("Finished and a key update");
    sock.set_write_timeout(Some(DEADLINE)).expect("timeout");
    let mut ku = Client::from_tls(TlsStream::new(sock, conn));
    ku.expect_prefix("HELLO ");
    ku.send("ku");
    ku.expect_prefix("WELCOME ku ");
    ann.expect("JOIN ku");
    ann.send("/msg ku both ways");
    ku.read_until_prefix("PRIV ann both ways");
}
