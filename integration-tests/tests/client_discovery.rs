//! LAN discovery against the real server: the probes and their replies over real UDP on
//! loopback, and the discovery port against hostile peers (a second bind of the port, a probe
//! flood from many addresses). (The client's side of it, `lanchat --discover`, is driven in
//! `client_pty.rs` and `client_scripted.rs`.)

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::{Client, ServerProcess, DEADLINE};
use lanchat_proto::discovery::{parse_reply, probe_v2, Transport, PROBE, V2_PROBE_LEN};

/// Send the version-1 probe to the server's UDP port and return the reply.
#[track_caller]
fn probe(server: &ServerProcess) -> String {
    probe_with(server, PROBE.as_bytes())
}

/// Send `datagram` to the server's UDP port from 127.0.0.1 and return the reply.
#[track_caller]
fn probe_with(server: &ServerProcess, datagram: &[u8]) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    socket.set_read_timeout(Some(DEADLINE)).expect("timeout");
    socket.send_to(datagram, server.addr()).expect("send probe");
    let mut buf = [0u8; 512];
    let (n, from) = socket.recv_from(&mut buf).expect("a reply to the probe");
    assert_eq!(
        from,
        server.addr(),
        "the reply comes from the server's port"
    );
    String::from_utf8(buf[..n].to_vec()).expect("utf-8 reply")
}

#[test]
fn the_server_answers_a_probe_on_its_tcp_port_with_port_users_and_name() {
    let server = ServerProcess::discoverable("testroom");
    let port = server.addr().port();
    assert_eq!(probe(&server), format!("LANCHAT! 1 {port} 0 testroom"));
    let _ann = Client::join(server.addr(), "ann");
    let _bob = Client::join(server.addr(), "bob");
    assert_eq!(probe(&server), format!("LANCHAT! 1 {port} 2 testroom"));
}

#[test]
fn other_datagrams_get_no_reply() {
    let server = ServerProcess::discoverable("testroom");
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    for junk in [
        &b"LANCHAT? 2"[..],
        b"hello",
        b"LANCHAT! 1 7070 0 x",
        &[0xff; 200],
    ] {
        socket.send_to(junk, server.addr()).expect("send");
    }
    let mut buf = [0u8; 512];
    let got = socket.recv_from(&mut buf);
    assert!(got.is_err(), "unexpected reply {got:?}");
    // ... and a real probe after them still works.
    assert!(probe(&server).starts_with("LANCHAT! 1 "));
}

#[test]
fn a_v2_probe_is_answered_with_no_more_bytes_than_it_carries() {
    let server = ServerProcess::discoverable(&"long name ".repeat(40));
    let reply = probe_with(&server, &probe_v2());
    assert!(reply.len() <= V2_PROBE_LEN, "{} bytes", reply.len());
    assert!(parse_reply(&reply).is_some(), "{reply:?}");
}

#[test]
fn a_v2_probe_gets_the_transport_and_the_fingerprint() {
    let server = ServerProcess::discoverable_tls("testroom");
    let reply = probe_with(&server, &probe_v2());
    let parsed = parse_reply(&reply).unwrap_or_else(|| panic!("{reply:?}"));
    assert_eq!(parsed.port, server.addr().port());
    assert_eq!(parsed.name, "testroom");
    let fp = server.fingerprint().parse().expect("fingerprint");
    assert_eq!(parsed.transport, Some(Transport::Tls(fp)), "{reply}");

    let plain = ServerProcess::discoverable("plainroom");
    let reply = probe_with(&plain, &probe_v2());
    let parsed = parse_reply(&reply).unwrap_or_else(|| panic!("{reply:?}"));
    assert_eq!(parsed.transport, Some(Transport::Plain), "{reply}");
    assert_eq!(parsed.name, "plainroom");
}

/// Bind UDP `addr` the way a process trying to share the port would.
fn bind_shared(addr: SocketAddr, reuse_addr: bool, reuse_port: bool) -> io::Result<()> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(reuse_addr)?;
    s.set_reuse_port(reuse_port)?;
    s.bind(&addr.into())
}

#[test]
fn no_other_socket_can_bind_the_discovery_port() {
    // A process on the server's machine that shares the port receives the probes and can
    // answer as the server (any user may ask for SO_REUSEADDR on its own socket).
    let server = ServerProcess::discoverable("testroom");
    let port = server.addr().port();
    let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    for (addr, reuse_addr, reuse_port) in [
        (server.addr(), true, false),
        (server.addr(), false, true),
        (server.addr(), true, true),
        (any, true, true),
    ] {
        let err = bind_shared(addr, reuse_addr, reuse_port)
            .expect_err("the discovery port is not shared");
        assert_eq!(
            err.kind(),
            io::ErrorKind::AddrInUse,
            "{addr} reuseaddr={reuse_addr} reuseport={reuse_port}"
        );
    }
    assert!(probe(&server).starts_with("LANCHAT! 1 "), "still answering");
}

#[test]
fn a_probe_flood_from_forty_addresses_leaves_real_probes_answered() {
    // 1,000 probes/s from 127.0.0.10-49 for as long as the real probes run; meanwhile 24
    // people, each at their own address, look for servers once. Each must be answered.
    let server = ServerProcess::discoverable("testroom");
    let target = server.addr();
    let flooders: Vec<UdpSocket> = (10..50u8)
        .map(|h| UdpSocket::bind((Ipv4Addr::new(127, 0, 0, h), 0)).expect("bind flooder"))
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let flood = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            // One probe from each of the 40 every 40 ms: 1,000/s. Bounded at 15 s.
            let tick = Duration::from_millis(40);
            let start = Instant::now();
            let mut sent = 0u64;
            for n in 1..=375u32 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                for s in &flooders {
                    sent += u64::from(s.send_to(PROBE.as_bytes(), target).is_ok());
                }
                let next = start + tick * n;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            (sent, start.elapsed())
        })
    };
    let mut answered = 0;
    for person in 1..=24u8 {
        let socket = UdpSocket::bind((Ipv4Addr::new(127, 0, 1, person), 0)).expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_secs(1)))
            .expect("timeout");
        socket.send_to(PROBE.as_bytes(), target).expect("send");
        let mut buf = [0u8; 512];
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            answered += u32::from(buf[..n].starts_with(b"LANCHAT! 1 "));
        }
        // Spread over more than one of the server's reply windows (1 s).
        std::thread::sleep(Duration::from_millis(50));
    }
    done.store(true, Ordering::Relaxed);
    let (sent, took) = flood.join().expect("flood thread");
    let rate = sent as f64 / took.as_secs_f64();
    assert!(rate > 800.0, "the flood ran at only {rate:.0} probes/s");
    assert_eq!(
        answered, 24,
        "answered {answered} of 24 during {rate:.0} probes/s"
    );
}
