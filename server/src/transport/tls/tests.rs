//! [`TlsLink`] against a rustls client, over an in-memory socket that can cut reads anywhere
//! and take writes in part.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Read as _, Write as _};
use std::rc::Rc;

use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use super::*;
use crate::tls::{Identity, KeySource};

/// Bytes between the link and the client.
#[derive(Default)]
struct Wire {
    /// Client to server, not read yet.
    to_server: VecDeque<u8>,
    /// At most this many bytes per server read (the cut).
    read_cut: usize,
    /// The client's side is closed: reads end once `to_server` is empty.
    eof: bool,
    /// Server to client, not delivered yet.
    to_client: Vec<u8>,
    /// Bytes the socket still takes from the server (then `WouldBlock`).
    room: usize,
    /// Write calls seen.
    writes: usize,
    /// The server shut its write side.
    shut: bool,
}

#[derive(Clone, Default)]
struct Sock(Rc<RefCell<Wire>>);

impl io::Read for Sock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut w = self.0.borrow_mut();
        if w.to_server.is_empty() {
            return if w.eof {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        let n = buf.len().min(w.to_server.len()).min(w.read_cut);
        for (dst, src) in buf.iter_mut().zip(w.to_server.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }
}

impl io::Write for Sock {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut w = self.0.borrow_mut();
        w.writes += 1;
        let n = buf.len().min(w.room);
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        w.room -= n;
        w.to_client.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Socket for Sock {
    fn shutdown_write(&self) -> io::Result<()> {
        self.0.borrow_mut().shut = true;
        Ok(())
    }

    fn reset_on_close(&self) {}
}

/// A link, its client, and the wire between them.
struct Pair {
    link: TlsLink<Sock>,
    client: ClientConnection,
    wire: Sock,
    /// The loop's scratch buffer.
    scratch: Vec<u8>,
    _dir: tempfile::TempDir,
}

impl Pair {
    fn new() -> Pair {
        let dir = tempfile::tempdir().expect("temporary directory");
        let id = Identity::load(&KeySource::StateDir(dir.path().to_path_buf())).expect("identity");
        let (config, _) = lanchat_client::tls::pinned_config(Some(id.fingerprint()));
        let name = ServerName::try_from("lanchat").expect("name");
        let client = ClientConnection::new(config, name).expect("client");
        let wire = Sock::default();
        {
            let mut w = wire.0.borrow_mut();
            w.read_cut = usize::MAX;
            w.room = usize::MAX;
        }
        let link = TlsLink::new(wire.clone(), id.server_config()).expect("link");
        Pair {
            link,
            client,
            wire,
            scratch: vec![0; limits::READ_CHUNK],
            _dir: dir,
        }
    }

    fn wire(&self) -> std::cell::RefMut<'_, Wire> {
        self.wire.0.borrow_mut()
    }

    /// What the client has to send goes on the wire.
    fn client_sends(&mut self) {
        let mut out = Vec::new();
        while self.client.wants_write() {
            self.client.write_tls(&mut out).expect("client write_tls");
        }
        self.wire().to_server.extend(out);
    }

    /// The client takes what the server wrote; returns the plaintext it got.
    fn client_receives(&mut self) -> Vec<u8> {
        let bytes = std::mem::take(&mut self.wire().to_client);
        let mut rd = &bytes[..];
        let mut got = Vec::new();
        while !rd.is_empty() {
            self.client.read_tls(&mut rd).expect("client read_tls");
            self.client.process_new_packets().expect("client process");
            let _ = self.client.reader().read_to_end(&mut got);
        }
        got
    }

    /// The server reads until the socket is drained; the plaintext and whether it saw EOF.
    fn server_reads(&mut self) -> io::Result<(Vec<u8>, bool)> {
        let mut got = Vec::new();
        loop {
            match self.link.read(&mut self.scratch)? {
                Input::Data(n) => got.extend_from_slice(&self.scratch[..n]),
                Input::Consumed(_) => {}
                Input::Eof => return Ok((got, true)),
                Input::Drained => return Ok((got, false)),
            }
        }
    }

    /// Run the handshake to its end, the greeting queued from the start.
    fn handshake(&mut self, greeting: &[u8]) {
        for _ in 0..10 {
            self.client_sends();
            self.server_reads().expect("server read");
            if self.link.wants_write() {
                let took = self
                    .link
                    .write(&[IoSlice::new(greeting)])
                    .expect("server write");
                if took > 0 {
                    assert_eq!(took, greeting.len());
                    assert!(!self.link.is_handshaking());
                    return;
                }
            }
            self.client_receives();
        }
        panic!("handshake did not finish");
    }
}

/// The TLS records in `bytes`: (content type, length of the record's body).
fn records(bytes: &[u8]) -> Vec<(u8, usize)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        out.push((rest[0], len));
        rest = &rest[(5 + len).min(rest.len())..];
    }
    out
}

#[test]
fn the_greeting_waits_for_the_handshake_then_goes_at_once() {
    let mut p = Pair::new();
    let hello = b"HELLO Welcome\n";
    assert_eq!(p.link.write(&[IoSlice::new(hello)]).expect("write"), 0);
    assert!(
        !p.link.wants_write(),
        "nothing to say before the ClientHello"
    );
    p.client_sends();
    let (plain, eof) = p.server_reads().expect("read ClientHello");
    assert!(plain.is_empty() && !eof);
    assert!(p.link.wants_write(), "the server's flight is due");
    assert!(p.link.is_handshaking());
    assert_eq!(
        p.link.write(&[IoSlice::new(hello)]).expect("write"),
        0,
        "no plaintext before the client's Finished"
    );
    assert_eq!(p.link.backlog(), 0, "the flight went out");
    assert!(p.client_receives().is_empty());
    p.client_sends();
    p.server_reads().expect("read Finished");
    assert!(!p.link.is_handshaking());
    assert!(p.link.wants_write(), "the greeting can go now");
    assert_eq!(
        p.link.write(&[IoSlice::new(hello)]).expect("write"),
        hello.len()
    );
    assert!(!p.link.wants_write());
    assert_eq!(p.client_receives(), hello);
    assert_eq!(p.client.alpn_protocol(), Some(&b"lanchat/1"[..]));
}

#[test]
fn a_batch_goes_in_as_few_records_as_its_size_allows() {
    let mut p = Pair::new();
    p.handshake(b"HELLO\n");
    p.client_receives();
    for (sizes, want_records) in [
        (&[100usize, 100, 100][..], 1),
        (&[16_384][..], 1),
        (&[16_385][..], 2),
        (&[10_000, 10_000, 10_000, 10_000][..], 3),
    ] {
        let frames: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| vec![b'a' + i as u8; n])
            .collect();
        let slices: Vec<IoSlice<'_>> = frames.iter().map(|f| IoSlice::new(f)).collect();
        let total: usize = sizes.iter().sum();
        let writes = p.wire().writes;
        assert_eq!(p.link.write(&slices).expect("write"), total);
        assert_eq!(p.wire().writes, writes + 1, "one write to the socket");
        let on_wire = records(&p.wire().to_client);
        assert_eq!(on_wire.len(), want_records, "{sizes:?}: {on_wire:?}");
        assert!(on_wire.iter().all(|&(typ, _)| typ == 0x17), "{on_wire:?}");
        assert_eq!(p.client_receives(), frames.concat(), "{sizes:?}");
    }
}

#[test]
fn a_write_goes_on_chunk_by_chunk_while_the_socket_takes_everything() {
    // Regression: a write that stopped after one chunk with room left in the socket got no
    // writable event to come back for the rest (a storm's 100 KB welcomes stalled).
    let mut p = Pair::new();
    p.handshake(b"HELLO\n");
    p.client_receives();
    let big = vec![b'x'; limits::TLS_WRITE_CHUNK * 2 + 1000];
    let writes = p.wire().writes;
    assert_eq!(
        p.link.write(&[IoSlice::new(&big)]).expect("write"),
        big.len()
    );
    assert_eq!(p.wire().writes, writes + 3, "one write per chunk");
    assert_eq!(p.client_receives(), big);

    // A socket that fills up stops it: the next chunk waits in the queue, not in ciphertext.
    p.wire().room = limits::TLS_WRITE_CHUNK;
    assert_eq!(
        p.link.write(&[IoSlice::new(&big)]).expect("write"),
        limits::TLS_WRITE_CHUNK
    );
    assert!(p.link.backlog() > 0 && p.link.backlog() < limits::TLS_WRITE_CHUNK);
}

#[test]
fn ciphertext_the_socket_refuses_waits_and_holds_back_more_plaintext() {
    let mut p = Pair::new();
    p.handshake(b"HELLO\n");
    p.client_receives();
    p.wire().room = 10;
    let line = b"MSG ann hi\n".repeat(10);
    assert_eq!(
        p.link.write(&[IoSlice::new(&line)]).expect("write"),
        line.len()
    );
    let backlog = p.link.backlog();
    assert_eq!(backlog, line.len() + RECORD_OVERHEAD - 10);
    assert!(p.link.wants_write());
    p.wire().room = 0;
    assert_eq!(
        p.link.write(&[IoSlice::new(b"more\n")]).expect("write"),
        0,
        "nothing new is taken while ciphertext waits"
    );
    assert_eq!(p.link.backlog(), backlog);
    p.wire().room = usize::MAX;
    assert_eq!(p.link.write(&[IoSlice::new(b"more\n")]).expect("write"), 5);
    assert_eq!(p.link.backlog(), 0);
    assert_eq!(p.client_receives(), [&line[..], b"more\n"].concat());
    assert_eq!(p.link.tx.capacity(), 0, "no buffer held at rest");
}

#[test]
fn records_and_handshake_messages_cut_anywhere_are_put_together() {
    for cut in [1, 2, 3, 5, 7, 100] {
        let mut p = Pair::new();
        p.wire().read_cut = cut;
        p.handshake(b"HELLO\n");
        assert_eq!(p.client_receives(), b"HELLO\n");
        let mut want = Vec::new();
        for i in 0..30 {
            let line = format!("line {i} {}\n", "y".repeat(i * 7));
            p.client.writer().write_all(line.as_bytes()).expect("write");
            want.extend_from_slice(line.as_bytes());
        }
        p.client_sends();
        let (got, eof) = p.server_reads().expect("read");
        assert_eq!(got, want, "cut {cut}");
        assert!(!eof);
        assert_eq!(p.link.rx.capacity(), 0, "cut {cut}: no buffer held at rest");
    }
}

#[test]
fn bytes_that_are_not_tls_are_refused_at_the_first_byte() {
    let mut p = Pair::new();
    p.wire().to_server.extend(b"bob\n");
    let err = p.server_reads().expect_err("not TLS");
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(
        matches!(
            err.get_ref().and_then(|e| e.downcast_ref::<TlsLinkError>()),
            Some(TlsLinkError::NotTls)
        ),
        "{err}"
    );
}

#[test]
fn a_broken_handshake_record_is_refused_with_an_alert() {
    let mut p = Pair::new();
    // A handshake record header with a body that is no ClientHello.
    p.wire()
        .to_server
        .extend([0x16, 0x03, 0x01, 0x00, 0x08, 1, 0, 0, 4, 3, 3, 0, 0]);
    let err = p.server_reads().expect_err("not a ClientHello");
    assert!(
        matches!(
            err.get_ref().and_then(|e| e.downcast_ref::<TlsLinkError>()),
            Some(TlsLinkError::Tls(_))
        ),
        "{err}"
    );
    let sent = records(&p.wire().to_client);
    assert_eq!(sent.first().map(|r| r.0), Some(0x15), "an alert: {sent:?}");
}

#[test]
fn close_notify_goes_both_ways() {
    let mut p = Pair::new();
    p.handshake(b"HELLO\n");
    p.client_receives();
    assert_eq!(p.link.close_write().expect("close"), Closed::Done);
    assert!(p.wire().shut, "FIN after close_notify");
    p.client_receives();
    let mut rest = Vec::new();
    assert_eq!(
        p.client.reader().read_to_end(&mut rest).expect("clean end"),
        0,
        "the client saw close_notify"
    );

    let mut p = Pair::new();
    p.handshake(b"HELLO\n");
    p.client.writer().write_all(b"bye\n").expect("write");
    p.client.send_close_notify();
    p.client_sends();
    let (got, eof) = p.server_reads().expect("read");
    assert_eq!(got, b"bye\n");
    assert!(eof, "close_notify is the end of the input");
    assert_eq!(p.link.read(&mut p.scratch).expect("read"), Input::Eof);
}

#[test]
fn close_notify_waits_for_a_full_socket() {
    let mut p = Pair::new();
    p.handshake(b"HELLO\n");
    p.client_receives();
    p.wire().room = 0;
    assert_eq!(p.link.close_write().expect("close"), Closed::Pending);
    assert!(!p.wire().shut);
    assert!(p.link.backlog() > 0);
    p.wire().room = usize::MAX;
    assert_eq!(p.link.write(&[]).expect("push"), 0);
    assert_eq!(p.link.close_write().expect("close"), Closed::Done);
    assert!(p.wire().shut);
}

#[test]
fn the_peer_going_away_mid_handshake_is_eof() {
    let mut p = Pair::new();
    p.client_sends();
    p.server_reads().expect("ClientHello");
    p.wire().eof = true;
    assert_eq!(p.server_reads().expect("eof"), (Vec::new(), true));
    assert!(p.link.is_handshaking());
}

#[test]
fn data_that_comes_with_the_clients_finished_is_read() {
    let mut p = Pair::new();
    p.client_sends();
    p.server_reads().expect("ClientHello");
    assert!(p.link.write(&[]).is_ok());
    p.client_receives();
    // The client's Finished and its first line leave together.
    p.client.writer().write_all(b"ann\n").expect("write");
    p.client_sends();
    let (got, eof) = p.server_reads().expect("Finished and a line");
    assert_eq!(got, b"ann\n");
    assert!(!eof && !p.link.is_handshaking());
}

#[test]
fn a_key_update_the_client_asks_for_is_answered_and_both_ways_go_on() {
    let mut p = Pair::new();
    p.handshake(b"HELLO\n");
    assert_eq!(p.client_receives(), b"HELLO\n");
    // rustls asks the peer to update its key too.
    p.client.refresh_traffic_keys().expect("key update");
    p.client
        .writer()
        .write_all(b"after the update\n")
        .expect("write");
    p.client_sends();
    let (got, _) = p.server_reads().expect("read under the new key");
    assert_eq!(got, b"after the update\n");
    assert!(p.link.wants_write(), "our own key update is due");
    assert_eq!(
        p.link.write(&[IoSlice::new(b"WELCOME\n")]).expect("write"),
        8
    );
    let kinds = records(&p.wire().to_client);
    assert_eq!(kinds.len(), 2, "a key update, then the data: {kinds:?}");
    assert_eq!(p.client_receives(), b"WELCOME\n");
    for i in 0..3 {
        let line = format!("line {i}\n");
        p.client.writer().write_all(line.as_bytes()).expect("write");
        p.client_sends();
        assert_eq!(p.server_reads().expect("read").0, line.as_bytes());
        assert_eq!(
            p.link
                .write(&[IoSlice::new(line.as_bytes())])
                .expect("write"),
            line.len()
        );
        assert_eq!(p.client_receives(), line.as_bytes());
    }
}

#[test]
fn at_the_suites_limit_the_server_moves_to_a_new_key() {
    let mut p = Pair::new();
    p.handshake(b"HELLO\n");
    p.client_receives();
    p.link
        .records_mut()
        .expect("after the handshake")
        .set_tx_limit(3);
    let mut want = Vec::new();
    for i in 0..10 {
        let line = format!("MSG ann {i}\n");
        p.link
            .write(&[IoSlice::new(line.as_bytes())])
            .expect("write");
        want.extend_from_slice(line.as_bytes());
    }
    // Ten records and the key updates between them, every one opened by the client.
    assert!(records(&p.wire().to_client).len() > 10);
    assert_eq!(p.client_receives(), want);
}

#[test]
fn a_record_that_does_not_open_is_refused_with_an_alert() {
    let mut p = Pair::new();
    p.handshake(b"HELLO\n");
    p.client_receives();
    p.client.writer().write_all(b"hello\n").expect("write");
    let mut out = Vec::new();
    while p.client.wants_write() {
        p.client.write_tls(&mut out).expect("write_tls");
    }
    let last = out.len() - 1;
    out[last] ^= 1;
    p.wire().to_server.extend(out);
    let err = p.server_reads().expect_err("a bad tag");
    assert!(
        matches!(
            err.get_ref().and_then(|e| e.downcast_ref::<TlsLinkError>()),
            Some(TlsLinkError::Record(RecordError::Protocol(
                records::Alert::BadRecordMac
            )))
        ),
        "{err}"
    );
    assert_eq!(records(&p.wire().to_client).len(), 1, "the alert went out");
    let bytes = std::mem::take(&mut p.wire().to_client);
    let mut rd = &bytes[..];
    p.client.read_tls(&mut rd).expect("read_tls");
    let seen = p.client.process_new_packets().expect_err("an alert");
    assert!(seen.to_string().contains("BadRecordMac"), "{seen}");
}

#[test]
fn records_in_the_clear_after_the_handshake_are_refused() {
    for record in [
        &[0x15, 0x03, 0x03, 0x00, 0x02, 1, 0][..],
        &[0x16, 0x03, 0x03, 0x00, 0x04, 1, 0, 0, 0],
        &[0x17, 0x03, 0x03, 0x48, 0x01],
    ] {
        let mut p = Pair::new();
        p.handshake(b"HELLO\n");
        p.client_receives();
        p.wire().to_server.extend(record.iter().copied());
        let err = p.server_reads().expect_err("refused");
        assert!(
            matches!(
                err.get_ref().and_then(|e| e.downcast_ref::<TlsLinkError>()),
                Some(TlsLinkError::Record(RecordError::Protocol(_)))
            ),
            "{record:?}: {err}"
        );
    }
}

#[test]
fn at_rest_a_connection_keeps_no_expanded_key_and_goes_on_after() {
    let mut p = Pair::new();
    p.handshake(b"HELLO\n");
    p.client_receives();
    assert!(p.link.can_rest(), "the greeting built the sealing key");
    p.link.rest();
    assert!(!p.link.can_rest());
    p.client.writer().write_all(b"still here\n").expect("write");
    p.client_sends();
    assert_eq!(p.server_reads().expect("read").0, b"still here\n");
    assert_eq!(
        p.link.write(&[IoSlice::new(b"me too\n")]).expect("write"),
        7
    );
    assert_eq!(p.client_receives(), b"me too\n");
    p.link.rest();
    assert_eq!(p.link.close_write().expect("close"), Closed::Done);
}
