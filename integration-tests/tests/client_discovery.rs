//! LAN discovery against the real server: the probe and its reply over real UDP on loopback.
//! (The client's side of it, `lanchat --discover`, is driven in `client_pty.rs` and
//! `client_scripted.rs`.)

use std::net::UdpSocket;
use std::time::Duration;

use integration_tests::{Client, ServerProcess, DEADLINE};

/// Send the probe to the server's UDP port and return the reply.
#[track_caller]
fn probe(server: &ServerProcess) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    socket.set_read_timeout(Some(DEADLINE)).expect("timeout");
    socket
        .send_to(b"LANCHAT? 1", server.addr())
        .expect("send probe");
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
