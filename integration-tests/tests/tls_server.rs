//! The server over TLS, from the outside: chat through TLS, nothing readable on the wire,
//! bytes that are not TLS, handshakes that never finish (alone and by the thousand), a full
//! server, shutdown, ALPN, and `openssl s_client`. See docs/PROTOCOL.md (Transport) and
//! docs/ROBUSTNESS.md.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use integration_tests::client::tls_handshake;
use integration_tests::{ChildGuard, Client, ServerProcess, TestServer, DEADLINE};
use lanchat_proto::Fingerprint;
use lanchat_server::Config;
use rustls::pki_types::ServerName;
use rustls::ClientConnection;

fn fingerprint(server: &ServerProcess) -> Fingerprint {
    server
        .fingerprint()
        .parse()
        .expect("the printed fingerprint")
}

/// Read from `s` until the server closes it (EOF or reset); the bytes that came first.
/// Panics if it is still open after [`DEADLINE`].
#[track_caller]
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let end = Instant::now() + DEADLINE;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "still open after {DEADLINE:?}; got {got:?}"
        );
        s.set_read_timeout(Some(left)).expect("read timeout");
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return got,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Whether the server still holds `s` open: nothing but what it already sent arrives within a
/// short wait (for proving silence, where nothing can be asked).
fn still_open(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return true
            }
            Err(_) => return false,
        }
    }
}

/// The bytes a TLS client (lanchat's configuration) opens with: its `ClientHello`.
fn client_hello(pin: Fingerprint) -> Vec<u8> {
    let (config, _) = lanchat_client::tls::pinned_config(Some(pin));
    let mut conn =
        ClientConnection::new(config, ServerName::try_from("lanchat").expect("name")).expect("c");
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).expect("to a vec");
    }
    hello
}

/// A connection that sent a whole `ClientHello` and waits for the server's answer (at least
/// one byte), then sends nothing more.
fn abandoned_after_the_servers_flight(addr: SocketAddr, hello: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(hello).expect("ClientHello");
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut first = [0u8; 1];
    s.read_exact(&mut first).expect("the server's flight");
    assert_eq!(first[0], 0x16, "a handshake record");
    s
}

#[test]
fn two_clients_chat_over_tls() {
    let server = ServerProcess::start_tls(&["--rate", "0"]);
    let pin = fingerprint(&server);
    let mut ann = Client::join_tls(server.addr(), pin, "ann");
    let mut bob = Client::join_tls(server.addr(), pin, "bob");
    ann.expect("JOIN bob");
    bob.send("hi ann, over TLS");
    ann.expect("MSG bob hi ann, over TLS");
    ann.send("/msg bob and privately");
    bob.expect("PRIV ann and privately");
    // Long lines go as several records and arrive whole.
    let long = "x".repeat(2000);
    for _ in 0..20 {
        bob.send(&long);
    }
    for _ in 0..20 {
        ann.expect(&format!("MSG bob {long}"));
    }
    bob.send("<quit>");
    bob.expect_prefix("BYE ");
    bob.expect_eof();
    ann.expect("LEAVE bob quit");
}

#[test]
fn the_greeting_comes_after_the_handshake_and_a_wrong_key_gets_nothing() {
    let server = TestServer::tls();
    let mut c = Client::connect_tls(server.addr(), server.fingerprint());
    c.expect_prefix("HELLO ");
    let other = Fingerprint::from_digest([7; 32]);
    let sock = TcpStream::connect(server.addr()).expect("connect");
    let Err(err) = tls_handshake(sock, other) else {
        panic!("a key other than the pinned one is refused");
    };
    assert!(err.to_string().contains("certificate"), "{err}");
}

/// A TCP relay between one client and `to` that keeps every byte it carries, both ways.
struct Relay {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    fn to(server: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&seen);
        let thread = std::thread::spawn(move || {
            let (client, _) = listener.accept().expect("accept");
            let upstream = TcpStream::connect(server).expect("connect upstream");
            let pipe = |mut from: TcpStream, mut to: TcpStream, seen: Arc<Mutex<Vec<u8>>>| {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        seen.lock().expect("lock").extend_from_slice(&buf[..n]);
                    }
                    let _ = to.shutdown(Shutdown::Write);
                })
            };
            let up = pipe(
                client.try_clone().expect("clone"),
                upstream.try_clone().expect("clone"),
                Arc::clone(&keep),
            );
            let down = pipe(upstream, client, keep);
            let _ = up.join();
            let _ = down.join();
        });
        Relay {
            addr,
            seen,
            thread: Some(thread),
        }
    }

    /// Everything carried so far, once the connection has ended.
    fn finish(mut self) -> Vec<u8> {
        if let Some(t) = self.thread.take() {
            t.join().expect("relay thread");
        }
        std::mem::take(&mut *self.seen.lock().expect("lock"))
    }
}

/// A chat through a relay: the name and a message go out through it, a message comes back
/// through it. Returns what the relay carried.
fn chat_through_relay(server: SocketAddr, pin: Option<Fingerprint>) -> Vec<u8> {
    let relay = Relay::to(server);
    let mut bob = match pin {
        Some(pin) => Client::join_tls(server, pin, "bob"),
        None => Client::join(server, "bob"),
    };
    let mut spy_me = match pin {
        Some(pin) => Client::join_tls(relay.addr, pin, "relayeduser"),
        None => Client::join(relay.addr, "relayeduser"),
    };
    bob.expect("JOIN relayeduser");
    spy_me.send("the-outgoing-secret-4711");
    bob.expect("MSG relayeduser the-outgoing-secret-4711");
    bob.send("the-incoming-secret-0815");
    spy_me.expect("MSG bob the-incoming-secret-0815");
    spy_me.send("<quit>");
    spy_me.expect_prefix("BYE ");
    spy_me.expect_eof();
    drop(spy_me);
    relay.finish()
}

#[test]
fn a_raw_socket_between_client_and_server_sees_no_plaintext() {
    let secrets: [&[u8]; 4] = [
        b"the-outgoing-secret-4711",
        b"the-incoming-secret-0815",
        b"relayeduser",
        b"HELLO ",
    ];
    let found = |wire: &[u8], what: &[u8]| wire.windows(what.len()).any(|w| w == what);

    // The relay does see what a plaintext server carries: the check below can fail.
    let plain = TestServer::start();
    let wire = chat_through_relay(plain.addr(), None);
    for s in secrets {
        assert!(
            found(&wire, s),
            "{:?} not seen in plaintext",
            String::from_utf8_lossy(s)
        );
    }

    let server = TestServer::tls();
    let wire = chat_through_relay(server.addr(), Some(server.fingerprint()));
    assert!(
        wire.len() > 1000,
        "the relay carried the session: {} bytes",
        wire.len()
    );
    assert!(
        found(&wire, &[0x17, 0x03, 0x03]),
        "TLS application data records"
    );
    for s in secrets {
        assert!(
            !found(&wire, s),
            "{:?} readable on the wire",
            String::from_utf8_lossy(s)
        );
    }
}

#[test]
fn bytes_that_are_not_tls_are_closed_at_once_and_never_reach_the_room() {
    // The handshake deadline is far away: a close now is the server seeing it is not TLS.
    let server = TestServer::with(Config {
        handshake_timeout: 3600,
        ..TestServer::tls_config()
    });
    let mut ann = Client::join_tls(server.addr(), server.fingerprint(), "ann");
    for typed in [&b"mallory\n"[..], b"x", b"GET / HTTP/1.1\r\n\r\n", b"\x16"] {
        let mut s = TcpStream::connect(server.addr()).expect("connect");
        s.write_all(typed).expect("send");
        if typed == b"\x16" {
            // A TLS record header cut short is not wrong yet: the deadline will get it. What
            // comes next decides.
            s.write_all(b"\x99garbage").expect("send");
        }
        let got = read_to_close(&mut s);
        assert!(
            !got.windows(5).any(|w| w == b"HELLO"),
            "{typed:?}: the greeting went out in the clear: {got:?}"
        );
    }
    assert_eq!(ann.sync(), Vec::<String>::new(), "nobody joined");
}

#[test]
fn handshakes_that_do_not_finish_are_closed_at_the_handshake_deadline() {
    let server = TestServer::with_manual_clock(Config {
        handshake_timeout: 30,
        ..TestServer::tls_config()
    });
    let pin = server.fingerprint();
    let hello = client_hello(pin);
    let mut silent = TcpStream::connect(server.addr()).expect("connect");
    let mut half = TcpStream::connect(server.addr()).expect("connect");
    half.write_all(&hello[..hello.len() / 2])
        .expect("half a ClientHello");
    let mut abandoned = abandoned_after_the_servers_flight(server.addr(), &hello);

    let mut ann = Client::join_tls(server.addr(), pin, "ann");
    let mut bob = Client::join_tls(server.addr(), pin, "bob");
    ann.expect("JOIN bob");
    server.advance(Duration::from_secs(29));
    bob.send("still here");
    ann.expect("MSG bob still here");
    for s in [&mut silent, &mut half, &mut abandoned] {
        assert!(still_open(s), "closed before the deadline");
    }
    server.advance(Duration::from_secs(1));
    for s in [&mut silent, &mut half, &mut abandoned] {
        let got = read_to_close(s);
        assert!(
            !got.windows(3).any(|w| w == b"ERR"),
            "nothing is said in the clear: {got:?}"
        );
    }
    assert_eq!(ann.settle(), Vec::<String>::new());
    bob.send("and still");
    ann.expect("MSG bob and still");
}

#[test]
fn a_thousand_half_finished_handshakes_leave_the_chat_going() {
    let (soft, _) = lanchat_server::sockets::raise_fd_limit().expect("fd limit");
    // Each handshake holds two fds in this process (the test's end and the server's).
    let n = 1000.min(usize::try_from(soft).unwrap_or(1024).saturating_sub(200) / 2);
    let server = TestServer::with_manual_clock(Config {
        handshake_timeout: 30,
        ..TestServer::tls_config()
    });
    let pin = server.fingerprint();
    let hello = client_hello(pin);
    let mut ann = Client::join_tls(server.addr(), pin, "ann");
    let mut bob = Client::join_tls(server.addr(), pin, "bob");
    ann.expect("JOIN bob");
    let mut pending: Vec<TcpStream> = (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr()).expect("connect");
            s.write_all(&hello).expect("ClientHello");
            s
        })
        .collect();
    // While the server answers them, the chat goes on.
    for i in 0..20 {
        bob.send(&format!("line {i}"));
    }
    for i in 0..20 {
        ann.expect(&format!("MSG bob line {i}"));
    }
    // Every one of them was answered (the server's flight), none got further.
    for s in &mut pending {
        s.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut first = [0u8; 1];
        s.read_exact(&mut first).expect("the server's flight");
    }
    assert_eq!(ann.sync(), Vec::<String>::new());
    server.advance(Duration::from_secs(30));
    for s in &mut pending {
        read_to_close(s);
    }
    bob.send("after them");
    ann.expect("MSG bob after them");
}

#[test]
fn a_full_tls_server_closes_a_newcomer_without_a_handshake() {
    let server = TestServer::with(Config {
        max_clients: 1,
        ..TestServer::tls_config()
    });
    let pin = server.fingerprint();
    let mut only = Client::join_tls(server.addr(), pin, "only");
    let mut s = TcpStream::connect(server.addr()).expect("connect");
    // It may be closed before this arrives.
    let _ = s.write_all(&client_hello(pin));
    assert_eq!(read_to_close(&mut s), b"", "closed before any answer");
    assert_eq!(only.sync(), Vec::<String>::new());
}

#[test]
fn shutdown_says_bye_over_tls_and_ends_it_with_close_notify() {
    let mut server = ServerProcess::start_tls(&[]);
    let pin = fingerprint(&server);
    let sock = TcpStream::connect(server.addr()).expect("connect");
    let mut ann = tls_handshake(sock, pin).expect("handshake");
    ann.write_all(b"ann\n")
        .and_then(|()| ann.flush())
        .expect("name");
    let mut greeting = [0u8; 6];
    ann.read_exact(&mut greeting).expect("HELLO");
    server.signal(libc::SIGTERM);
    // rustls reports an end without close_notify as an UnexpectedEof error.
    let mut rest = String::new();
    ann.read_to_string(&mut rest)
        .expect("a clean end, with close_notify");
    assert!(rest.ends_with("BYE server shutting down\n"), "{rest:?}");
    assert_eq!(server.wait_exit(DEADLINE).and_then(|s| s.code()), Some(0));
}

#[test]
fn alpn_is_optional_but_another_protocol_is_refused() {
    let server = TestServer::tls();
    let pin = server.fingerprint();
    for (offer, served) in [
        (vec![], true),
        (vec![b"lanchat/1".to_vec()], true),
        (vec![b"h2".to_vec()], false),
    ] {
        let (config, _) = lanchat_client::tls::pinned_config(Some(pin));
        let mut config = (*config).clone();
        config.alpn_protocols = offer.clone();
        let mut conn = ClientConnection::new(
            Arc::new(config),
            ServerName::try_from("lanchat").expect("name"),
        )
        .expect("client");
        let mut sock = TcpStream::connect(server.addr()).expect("connect");
        sock.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut tls = rustls::Stream::new(&mut conn, &mut sock);
        let mut first = [0u8; 6];
        let got = tls.read_exact(&mut first);
        if served {
            got.unwrap_or_else(|e| panic!("{offer:?}: {e}"));
            assert_eq!(&first, b"HELLO ", "{offer:?}");
        } else {
            let err = got.expect_err("refused");
            assert!(
                err.to_string().contains("NoApplicationProtocol"),
                "{offer:?}: {err}"
            );
        }
    }
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "openssl is not installed")]
fn openssl_s_client_can_chat() {
    let server = ServerProcess::start_tls(&[]);
    for alpn in [None, Some("lanchat/1")] {
        let mut cmd = Command::new("openssl");
        cmd.args(["s_client", "-quiet", "-tls1_3", "-connect"])
            .arg(server.addr().to_string());
        if let Some(alpn) = alpn {
            cmd.args(["-alpn", alpn]);
        }
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn openssl");
        let mut child = ChildGuard(child);
        let mut stdin = child.0.stdin.take().expect("stdin");
        stdin.write_all(b"opener\n/who\n<quit>\n").expect("write");
        let mut out = String::new();
        child
            .0
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read");
        drop(stdin);
        for want in ["HELLO ", "WELCOME opener ", "WHO opener", "BYE "] {
            assert!(out.contains(want), "{alpn:?}: {want:?} missing in {out:?}");
        }
    }
}

#[test]
fn a_welcome_many_records_long_arrives_whole() {
    // Regression: the history (50 lines of 8,000 bytes) is more than a TLS write took at
    // once; after two chunks the rest waited for a writable event that never came.
    let server = TestServer::with(Config {
        max_line: 8192,
        ..TestServer::tls_config()
    });
    let pin = server.fingerprint();
    let mut ann = Client::join_tls(server.addr(), pin, "ann");
    let long = "h".repeat(8000);
    for _ in 0..50 {
        ann.send(&long);
    }
    ann.sync();
    let mut bob = Client::connect_tls(server.addr(), pin);
    bob.expect_prefix("HELLO ");
    bob.send("bob");
    bob.expect_prefix("WELCOME bob ");
    let (before, _) = bob.read_until_prefix("WHOEND ");
    let history = before
        .iter()
        .filter(|l| l.starts_with("HIST ") && l.ends_with(&long))
        .count();
    assert_eq!(history, 50);
}
