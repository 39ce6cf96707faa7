//! A line client for tests: every read has a deadline, every expectation names what it wanted.
//! It speaks plain TCP, or TLS pinned to the server's key ([`Client::connect_tls`]).

use std::io::{self, BufRead, BufReader, ErrorKind, Read as _, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanchat_client::stream::{Stream, TlsStream};
use lanchat_proto::Fingerprint;
use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use crate::DEADLINE;

/// A TLS handshake on `sock` trusting only the key `pin` (lanchat's own pinning verifier), with
/// ALPN `lanchat/1`, finished within [`DEADLINE`].
///
/// # Errors
/// The handshake's: rustls's (a wrong key, a server that is not TLS), or the socket's.
pub fn tls_handshake(mut sock: TcpStream, pin: Fingerprint) -> io::Result<TlsStream> {
    let (config, _) = lanchat_client::tls::pinned_config(Some(pin));
    let name = ServerName::try_from("lanchat").map_err(io::Error::other)?;
    let mut conn = ClientConnection::new(Arc::clone(&config), name).map_err(io::Error::other)?;
    sock.set_read_timeout(Some(DEADLINE))?;
    sock.set_write_timeout(Some(DEADLINE))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    while conn.wants_write() {
        conn.write_tls(&mut sock)?;
    }
    Ok(TlsStream::new(sock, conn))
}

/// A raw protocol client over a real TCP socket.
pub struct Client {
    reader: BufReader<Stream>,
    /// The start of a line a read with a deadline had taken when the deadline passed; the
    /// next read goes on from it.
    partial: Vec<u8>,
    /// Name given at [`Client::join`], for messages.
    pub name: String,
}

/// What [`Client::read_line_until`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// A line, without its `\n`.
    Line(String),
    /// The server closed the connection.
    Eof,
    /// Nothing complete arrived before the deadline.
    Timeout,
}

impl Client {
    /// Connect (TCP_NODELAY on, like the real client).
    #[track_caller]
    pub fn connect(addr: SocketAddr) -> Client {
        Client::from_stream(tcp_connect(addr), "")
    }

    /// Connect over TLS, trusting only the key `pin` (the server's printed fingerprint); the
    /// handshake is done when this returns.
    #[track_caller]
    pub fn connect_tls(addr: SocketAddr, pin: Fingerprint) -> Client {
        let tls = tls_handshake(tcp_connect(addr), pin).expect("TLS handshake with the server");
        Client::from(Stream::Tls(tls), "")
    }

    /// Wrap a TLS stream whose handshake is done (say, one that presented a user's key).
    pub fn from_tls(tls: TlsStream) -> Client {
        Client::from(Stream::Tls(tls), "")
    }

    /// Connect from the local address `from` (see [`tcp_from`]): to the server, another host
    /// than 127.0.0.1.
    #[track_caller]
    pub fn connect_from(from: IpAddr, addr: SocketAddr) -> Client {
        let stream = tcp_from(from, addr).expect("connect to server");
        Client::from_stream(stream, "")
    }

    /// Wrap a stream connected some other way (say, with special socket options), known to
    /// the server as `name` if it already joined.
    #[track_caller]
    pub fn from_stream(stream: TcpStream, name: &str) -> Client {
        Client::from(Stream::Plain(stream), name)
    }

    fn from(stream: Stream, name: &str) -> Client {
        Client {
            reader: BufReader::new(stream),
            partial: Vec::new(),
            name: name.to_owned(),
        }
    }

    /// Connect, read `HELLO`, give `name`, and read through the member list; panics unless the
    /// name is accepted. Returns the client with the handshake consumed.
    #[track_caller]
    pub fn join(addr: SocketAddr, name: &str) -> Client {
        Client::connect(addr).named(name)
    }

    /// [`Client::join`] over TLS, trusting only the key `pin`.
    #[track_caller]
    pub fn join_tls(addr: SocketAddr, pin: Fingerprint, name: &str) -> Client {
        Client::connect_tls(addr, pin).named(name)
    }

    /// [`Client::join_tls`] from the local address `from` (see [`tcp_from`]).
    #[track_caller]
    pub fn join_tls_from(from: IpAddr, addr: SocketAddr, pin: Fingerprint, name: &str) -> Client {
        let sock = tcp_from(from, addr).expect("connect to server");
        let tls = tls_handshake(sock, pin).expect("TLS handshake with the server");
        Client::from(Stream::Tls(tls), "").named(name)
    }

    /// Read `HELLO`, give `name`, read through the member list.
    #[track_caller]
    fn named(mut self, name: &str) -> Client {
        self.name = name.to_owned();
        self.expect_prefix("HELLO ");
        self.send(name);
        self.expect_prefix(&format!("WELCOME {name} "));
        self.read_until_prefix("WHOEND ");
        self
    }

    /// The underlying TCP socket (for shutdown, SO_LINGER tricks, ...).
    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref().socket()
    }

    /// Send one line (a `\n` is added).
    #[track_caller]
    pub fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\n").as_bytes());
    }

    /// Send raw bytes as they are.
    #[track_caller]
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stream = self.reader.get_mut();
        stream
            .write_all(bytes)
            .and_then(|()| stream.flush())
            .expect("send to server");
    }

    /// Read one line, waiting until `deadline`.
    pub fn read_line_until(&mut self, deadline: Instant) -> Read {
        let mut buf = std::mem::take(&mut self.partial);
        loop {
            // A line already here is taken without looking at the clock or setting the socket's
            // deadline: a reader of many lines spent most of its time on those two calls.
            if !self.reader.buffer().contains(&b'\n') {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    self.partial = buf;
                    return Read::Timeout;
                }
                let _ = self.stream().set_read_timeout(Some(left));
            }
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => return Read::Eof,
                Ok(_) if buf.ends_with(b"\n") => {
                    buf.pop();
                    let line = String::from_utf8(buf)
                        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                    return Read::Line(line);
                }
                Ok(_) => {} // partial line; keep reading
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // A TLS server that closed without close_notify (it dropped a connection
                // still in its handshake) ends the stream as a reset would.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset | ErrorKind::UnexpectedEof
                    ) =>
                {
                    return Read::Eof
                }
                Err(e) => panic!("read from server: {e}"),
            }
        }
    }

    /// The next line; panics on EOF or after [`DEADLINE`].
    #[track_caller]
    pub fn line(&mut self) -> String {
        match self.read_line_until(Instant::now() + DEADLINE) {
            Read::Line(l) => l,
            other => panic!("{}: expected a line, got {other:?}", self.name),
        }
    }

    /// The next line must be exactly `want`.
    #[track_caller]
    pub fn expect(&mut self, want: &str) {
        let got = self.line();
        assert_eq!(got, want, "{}: unexpected line", self.name);
    }

    /// The next line must start with `prefix`; returns it.
    #[track_caller]
    pub fn expect_prefix(&mut self, prefix: &str) -> String {
        let got = self.line();
        assert!(
            got.starts_with(prefix),
            "{}: expected a line starting {prefix:?}, got {got:?}",
            self.name
        );
        got
    }

    /// Read lines until one starts with `prefix`; returns the lines before it and the line.
    #[track_caller]
    pub fn read_until_prefix(&mut self, prefix: &str) -> (Vec<String>, String) {
        let mut before = Vec::new();
        loop {
            let l = self.line();
            if l.starts_with(prefix) {
                return (before, l);
            }
            before.push(l);
        }
    }

    /// Prove nothing else is pending: send `/who` and return every line that arrived before
    /// its answer (the server keeps order, so a line that was due must be here). Needs a
    /// named client.
    #[track_caller]
    pub fn sync(&mut self) -> Vec<String> {
        self.send("/who");
        let mut before = Vec::new();
        loop {
            let l = self.line();
            // The answer is #general's list, whose lines name no room (a room's list, from a
            // `/join` or `/in #room /who`, is not it).
            if l.starts_with("WHOEND ") && !l.starts_with("WHOEND #") {
                break;
            }
            before.push(l);
        }
        before.retain(|l| {
            let general_list =
                (l.starts_with("WHO ") && !l.starts_with("WHO #")) || l.starts_with("WHOAWAY ");
            !general_list
        });
        before
    }

    /// Prove the server has written out everything it did up to now, including what it did in
    /// the round that answers: two [`Client::sync`]s, the second read by the server in a round
    /// that began after the first one's flush. Returns the lines that came before the answers.
    /// (After moving a test server's clock: whatever the first round after it did has reached
    /// every socket.)
    #[track_caller]
    pub fn settle(&mut self) -> Vec<String> {
        let mut seen = self.sync();
        seen.extend(self.sync());
        seen
    }

    /// The server must close the connection (after any lines, which are returned).
    #[track_caller]
    pub fn expect_eof(&mut self) -> Vec<String> {
        let deadline = Instant::now() + DEADLINE;
        let mut lines = Vec::new();
        loop {
            match self.read_line_until(deadline) {
                Read::Eof => return lines,
                Read::Line(l) => lines.push(l),
                Read::Timeout => panic!("{}: connection still open; got {lines:?}", self.name),
            }
        }
    }

    /// Read with a short deadline, expecting nothing (for proving silence where no `sync`
    /// is possible, e.g. before a name is accepted).
    #[track_caller]
    pub fn expect_nothing_for(&mut self, wait: Duration) {
        match self.read_line_until(Instant::now() + wait) {
            Read::Timeout => {}
            other => panic!("{}: expected silence, got {other:?}", self.name),
        }
    }
}

/// A TCP connection to `addr`, `TCP_NODELAY` on.
#[track_caller]
fn tcp_connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, DEADLINE).expect("connect to server");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// A TCP connection to `addr` from the local address `from`, `TCP_NODELAY` on. Every address
/// of 127.0.0.0/8 is this machine, so on loopback a test can be several hosts at once.
///
/// # Errors
/// Binding to `from` or connecting failed (within [`DEADLINE`]).
pub fn tcp_from(from: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.bind(&SocketAddr::new(from, 0).into())?;
    sock.connect_timeout(&addr.into(), DEADLINE)?;
    sock.set_tcp_nodelay(true)?;
    Ok(sock.into())
}

/// Read from `s` until the server closes it (EOF or reset); the bytes that came first.
/// Panics if it is still open after [`DEADLINE`].
#[track_caller]
pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let end = Instant::now() + DEADLINE;
    let mut got = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "still open after {DEADLINE:?}; got {} bytes",
            got.len()
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

/// A raw connection with a small receive buffer (and `TCP_NODELAY`), so the kernel soaks up
/// little of what the server sends it once it stops reading: the server's own buffering is
/// what a test then sees.
pub fn connect_small_window(addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Protocol, Socket, Type};
    let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    sock.set_recv_buffer_size(16 * 1024).expect("SO_RCVBUF");
    sock.connect_timeout(&addr.into(), DEADLINE)
        .expect("connect to server");
    sock.set_tcp_nodelay(true).expect("nodelay");
    sock.into()
}

/// Join as `name` on a [`connect_small_window`] stream that will never read (the greeting is
/// left unread too).
pub fn join_never_reading(addr: SocketAddr, name: &str) -> TcpStream {
    let mut s = connect_small_window(addr);
    s.write_all(format!("{name}\n").as_bytes())
        .expect("send name");
    s
}

/// Give `stuck` (which never reads) more private output from `talker` than its socket buffers
/// hold (8 MB), so the server has bytes it cannot deliver; returns once the server has read
/// them all.
#[track_caller]
pub fn clog(talker: &mut Client, stuck: &str) {
    let batch = format!("/msg {stuck} {}\n", "x".repeat(2000)).repeat(100);
    for _ in 0..40 {
        talker.send_raw(batch.as_bytes());
    }
    assert_eq!(talker.sync(), Vec::<String>::new());
}
