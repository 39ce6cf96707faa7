//! The server over TLS, from the outside: chat through TLS, nothing readable on the wire,
//! bytes that are not TLS, handshakes that never finish (alone and by the thousand), a full
//! server, shutdown, ALPN, and `openssl s_client`. See docs/PROTOCOL.md (Transport) and
//! docs/ROBUSTNESS.md.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::client::{read_to_close, tcp_from, tls_handshake};
use integration_tests::relay::{contains, Recorder};
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

/// A chat through a relay: the name and a message go out through it, a message comes back
/// through it. Returns what the relay carried.
fn chat_through_relay(server: SocketAddr, pin: Option<Fingerprint>) -> Vec<u8> {
    let relay = Recorder::to(server);
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

    // The relay does see what a plaintext server carries: the check below can fail.
    let plain = ServerProcess::start(&["--rate", "0"]);
    let wire = chat_through_relay(plain.addr(), None);
    for s in secrets {
        assert!(
            contains(&wire, s),
            "{:?} not seen in plaintext",
            String::from_utf8_lossy(s)
        );
    }

    let server = ServerProcess::start_tls(&["--rate", "0"]);
    let wire = chat_through_relay(server.addr(), Some(fingerprint(&server)));
    assert!(
        wire.len() > 1000,
        "the relay carried the session: {} bytes",
        wire.len()
    );
    assert!(
        contains(&wire, &[0x17, 0x03, 0x03]),
        "TLS application data records"
    );
    for s in secrets {
        assert!(
            !contains(&wire, s),
            "{:?} readable on the wire",
            String::from_utf8_lossy(s)
        );
    }
}

#[test]
fn bytes_that_are_not_tls_are_closed_at_once_and_never_reach_the_room() {
    // The handshake deadline is far away: a close now is the server seeing it is not TLS.
    let server = ServerProcess::start_tls(&["--handshake-timeout", "3600"]);
    let mut ann = Client::join_tls(server.addr(), fingerprint(&server), "ann");
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
fn the_binary_closes_slow_and_abandoned_handshakes_after_its_handshake_timeout() {
    // Real time, as a user sets it: --handshake-timeout 1, the shortest there is (the
    // deadline to the millisecond is `handshakes_that_do_not_finish_are_closed_at_the_handshake_deadline`).
    let server = ServerProcess::start_tls(&["--handshake-timeout", "1"]);
    let pin = fingerprint(&server);
    let hello = client_hello(pin);
    let opened = Instant::now();
    let silent = TcpStream::connect(server.addr()).expect("connect");
    let mut slow = TcpStream::connect(server.addr()).expect("connect");
    // A ClientHello a few bytes at a time, too slowly to finish in time.
    slow.write_all(&hello[..10]).expect("a start");
    let abandoned = abandoned_after_the_servers_flight(server.addr(), &hello);
    let mut ann = Client::join_tls(server.addr(), pin, "ann");
    for (i, chunk) in hello[10..].chunks(20).take(3).enumerate() {
        slow.write_all(chunk).expect("a little more");
        ann.send(&format!("waiting {i}"));
        ann.sync();
    }
    for (what, mut s) in [("silent", silent), ("slow", slow), ("abandoned", abandoned)] {
        let got = read_to_close(&mut s);
        let after = opened.elapsed();
        assert!(
            after >= Duration::from_secs(1),
            "{what}: closed after {after:?}, before the timeout"
        );
        assert!(!contains(&got, b"ERR"), "{what}: nothing in the clear");
    }
    // The one who finished is still there.
    ann.send("/who");
    ann.expect("WHO ann");
}

#[test]
fn a_thousand_handshakes_queued_ahead_of_a_chat_line_do_not_hold_it_up() {
    let (soft, _) = lanchat_server::sockets::raise_fd_limit().expect("fd limit");
    let n = 1000.min(usize::try_from(soft).unwrap_or(1024).saturating_sub(200) / 2);
    let server = ServerProcess::start_tls(&["--rate", "0", "--handshake-timeout", "60"]);
    let pin = fingerprint(&server);
    let hello = client_hello(pin);
    let mut ann = Client::join_tls(server.addr(), pin, "ann");
    let mut bob = Client::join_tls(server.addr(), pin, "bob");
    ann.expect("JOIN bob");
    // With the server stopped, the ClientHellos queue up first and bob's line after them.
    server.signal(libc::SIGSTOP);
    let mut pending: Vec<TcpStream> = (0..n)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr()).expect("connect");
            s.write_all(&hello).expect("ClientHello");
            s
        })
        .collect();
    bob.send("ahead of the handshakes");
    server.signal(libc::SIGCONT);
    ann.expect("MSG bob ahead of the handshakes");
    // The line was relayed before the server had answered them all: at most its budget of
    // handshakes per round, not all of them, went first.
    let answered = pending
        .iter()
        .filter(|s| {
            s.set_nonblocking(true).expect("nonblocking");
            let mut b = [0u8; 1];
            matches!(s.peek(&mut b), Ok(1))
        })
        .count();
    assert!(
        answered < n,
        "all {n} handshakes were answered before the line"
    );
    // And then every one of them was answered.
    for s in &mut pending {
        s.set_nonblocking(false).expect("blocking");
        s.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut first = [0u8; 1];
        s.read_exact(&mut first).expect("the server's flight");
    }
    bob.send("after them");
    ann.expect("MSG bob after them");
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

/// Connect from `from` and send a whole `ClientHello`; the first byte the server sends back,
/// or `None` when it closes the connection without a byte (it may close before the
/// `ClientHello` is even written).
fn first_answer_from(from: IpAddr, addr: SocketAddr, hello: &[u8]) -> (TcpStream, Option<u8>) {
    let mut s = tcp_from(from, addr).expect("connect");
    let _ = s.write_all(hello);
    s.set_read_timeout(Some(DEADLINE)).expect("timeout");
    let mut first = [0u8; 1];
    let answer = match s.read(&mut first) {
        Ok(1) => Some(first[0]),
        Ok(_) => None,
        Err(e) if e.kind() == ErrorKind::ConnectionReset => None,
        Err(e) => panic!("no answer, and not closed: {e}"),
    };
    (s, answer)
}

#[test]
fn a_tls_server_refuses_a_host_over_its_limits_before_any_handshake() {
    let hosts: [IpAddr; 3] =
        ["127.0.0.2", "127.0.0.3", "127.0.0.4"].map(|ip| ip.parse().expect("ip"));
    let [flooder, other, third] = hosts;

    // --max-per-host: two handshakes in progress are two connections; the third is closed
    // without the server's flight (a refusal in plaintext would be garbage to TLS).
    let server = TestServer::with(Config {
        max_per_host: 2,
        ..TestServer::tls_config()
    });
    let pin = server.fingerprint();
    let hello = client_hello(pin);
    let mut ann = Client::join_tls_from(other, server.addr(), pin, "ann");
    let held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let (s, answer) = first_answer_from(flooder, server.addr(), &hello);
            assert_eq!(answer, Some(0x16), "a handshake record");
            s
        })
        .collect();
    let (_refused, answer) = first_answer_from(flooder, server.addr(), &hello);
    assert_eq!(answer, None, "the third is closed without a handshake");
    // Other addresses still get in and chat.
    let mut bob = Client::join_tls_from(third, server.addr(), pin, "bob");
    ann.expect("JOIN bob");
    bob.send("past the limit");
    ann.expect("MSG bob past the limit");
    drop(held);

    // --join-burst: a burst of 200 connects from one address costs the server its burst of
    // handshakes, the rest nothing. The server's clock stands still: the rate gives nothing
    // back meanwhile.
    let server = TestServer::with_manual_clock(Config {
        max_per_host: 0,
        join_burst: 5,
        join_rate: 1.0,
        ..TestServer::tls_config()
    });
    let pin = server.fingerprint();
    let mut ann = Client::join_tls_from(other, server.addr(), pin, "ann");
    let mut answered = Vec::new();
    let mut refused = 0;
    for _ in 0..200 {
        match first_answer_from(flooder, server.addr(), &hello) {
            (s, Some(_)) => answered.push(s),
            (_, None) => refused += 1,
        }
    }
    assert_eq!(
        (answered.len(), refused),
        (5, 195),
        "handshakes the flood got"
    );
    let mut bob = Client::join_tls_from(third, server.addr(), pin, "bob");
    ann.expect("JOIN bob");
    bob.send("through the flood");
    ann.expect("MSG bob through the flood");
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
    // Closed here too, as a client does: the server waits for that (up to its flush deadline).
    drop(ann);
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
#[cfg_attr(not(has_openssl), ignore = "openssl is not installed")]
fn tls_1_2_is_refused_with_a_protocol_version_alert() {
    let server = ServerProcess::start_tls(&[]);
    let mut ann = Client::join_tls(server.addr(), fingerprint(&server), "ann");
    let out = Command::new("openssl")
        .args(["s_client", "-quiet", "-tls1_2", "-connect"])
        .arg(server.addr().to_string())
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("alert protocol version"), "{stderr}");
    assert!(!stdout.contains("HELLO"), "{stdout}");
    assert_eq!(ann.sync(), Vec::<String>::new(), "nobody joined");
}

#[test]
#[cfg_attr(not(has_openssl), ignore = "openssl is not installed")]
fn a_key_update_openssl_asks_for_is_answered_and_the_chat_goes_on() {
    // s_client's `K` command: a KeyUpdate asking the server to update its key too (commands
    // are read only without -quiet).
    let server = ServerProcess::start_tls(&["--rate", "0"]);
    let mut ann = Client::join_tls(server.addr(), fingerprint(&server), "ann");
    let child = Command::new("openssl")
        .args(["s_client", "-tls1_3", "-connect"])
        .arg(server.addr().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn openssl");
    let mut child = ChildGuard(child);
    let mut stdin = child.0.stdin.take().expect("stdin");
    let (tx, seen) = std::sync::mpsc::channel();
    // What it received on stdout, what it says of its commands on stderr.
    let out: Box<dyn Read + Send> = Box::new(child.0.stdout.take().expect("stdout"));
    let err: Box<dyn Read + Send> = Box::new(child.0.stderr.take().expect("stderr"));
    for stream in [out, err] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    }
    // s_client's output, up to the line starting with `prefix`.
    let wait_for = |prefix: &str| loop {
        match seen.recv_timeout(DEADLINE) {
            Ok(line) if line.starts_with(prefix) => return,
            Ok(_) => {}
            Err(e) => panic!("s_client never printed {prefix:?}: {e}"),
        }
    };
    let mut said = |line: &str| {
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush())
            .expect("to openssl");
    };
    wait_for("HELLO ");
    said("opener");
    ann.expect("JOIN opener");
    said("before the update");
    ann.expect("MSG opener before the update");
    // A command is a line of its own: the next waits until s_client has acted on it.
    said("K");
    wait_for("KEYUPDATE");
    said("after the update");
    ann.expect("MSG opener after the update");
    // And the other way, under the key the server moved to when asked.
    ann.send("/msg opener and back");
    wait_for("PRIV ann and back");
    said("/quit");
    ann.expect("LEAVE opener quit");
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
