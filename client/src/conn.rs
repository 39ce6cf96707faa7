//! The client's connection to a server: connecting with a timeout, reading server lines with a
//! deadline, sending lines, and the handshake (greeting, then offering a name).
//!
//! [`Conn`] works on any [`Transport`] (bytes both ways, a read timeout, a second handle for
//! the writer): a [`Stream`], plain TCP or TLS, without the session or the reader noticing
//! which. Setting up TLS and trusting the server's key is [`crate::connect`]'s.
//!
//! Lines are framed by [`LineDecoder`] sized for the longest line any server may send (the
//! largest `--max-line` plus the protocol's server-line overhead), so a server with a raised
//! `--max-line` still works; a line past even that is skipped, never buffered without bound.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use lanchat_proto::{ClientMsg, ErrCode, LineDecoder, ServerMsg};

use crate::addr::ServerAddr;
use crate::stream::Stream;

/// How long one connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the server may take to greet (`HELLO`) or to answer a name.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest server line kept; longer ones are skipped: the largest `--max-line` a server accepts
/// (1 MiB) plus what the server puts in front (`HIST <millis> MSG <name> `).
pub const MAX_SERVER_LINE: usize =
    lanchat_proto::MAX_MAX_LINE + lanchat_proto::SERVER_LINE_OVERHEAD;
/// Keepalive: the first probe after this much silence ...
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// ... then one probe every this long ...
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// ... and the server counts as gone after this many unanswered: idle, a vanished server is
/// noticed within `KEEPALIVE_IDLE + KEEPALIVE_RETRIES x KEEPALIVE_INTERVAL` (one minute).
pub const KEEPALIVE_RETRIES: u32 = 3;
/// How long sent data may stay unacknowledged before the server counts as gone (Linux's
/// `TCP_USER_TIMEOUT`): the same minute as keepalive gives the idle case.
pub const USER_TIMEOUT: Duration = Duration::from_secs(60);

/// What the client needs of a byte stream to a server. Plain TCP implements it; an encrypted
/// stream would too, so nothing above [`Conn`] depends on the socket type.
pub trait Transport: Read + Write + Send + Sized + 'static {
    /// Bound the next reads (`None`: block).
    ///
    /// # Errors
    /// The socket option call's error.
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// A second handle on the same stream, for a writer on another thread.
    ///
    /// # Errors
    /// The stream cannot be shared (`dup` failing, say).
    fn try_clone(&self) -> io::Result<Self>;
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn try_clone(&self) -> io::Result<Self> {
        TcpStream::try_clone(self)
    }
}

/// Why joining a server failed, in words fit to show a person.
#[derive(Debug)]
pub enum ConnectError {
    /// The host name did not resolve.
    Resolve {
        /// What was asked for.
        addr: ServerAddr,
        /// The resolver's answer.
        err: io::Error,
    },
    /// No address of the host accepted a connection.
    Connect {
        /// What was asked for.
        addr: ServerAddr,
        /// The last attempt's error.
        err: io::Error,
    },
    /// Connected, but the peer did not greet like a lanchat server.
    NoGreeting {
        /// Where.
        addr: SocketAddr,
        /// What happened instead.
        why: String,
    },
    /// The server refused the connection (e.g. `ERR server-full`).
    Refused {
        /// Where.
        addr: SocketAddr,
        /// The server's words.
        text: String,
    },
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Resolve { addr, err } => {
                write!(f, "cannot find host {:?}: {}", addr.host, plain_io(err))
            }
            ConnectError::Connect { addr, err } => {
                write!(f, "cannot connect to {addr}: {}", plain_io(err))?;
                if err.kind() == ErrorKind::ConnectionRefused {
                    write!(f, " (is the lanchat server running there?)")?;
                }
                Ok(())
            }
            ConnectError::NoGreeting { addr, why } => {
                write!(f, "{addr} does not answer like a lanchat server: {why}")
            }
            ConnectError::Refused { addr, text } => write!(f, "{addr} refused: {text}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// An IO error in plain words (no "os error 111").
pub fn plain_io(err: &io::Error) -> String {
    let s = match err.kind() {
        ErrorKind::ConnectionRefused => "connection refused",
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "timed out",
        ErrorKind::ConnectionReset => "connection reset",
        ErrorKind::ConnectionAborted => "connection aborted",
        ErrorKind::BrokenPipe => "connection closed",
        ErrorKind::HostUnreachable => "host unreachable",
        ErrorKind::NetworkUnreachable => "network unreachable",
        ErrorKind::AddrNotAvailable => "address not available",
        _ => return strip_os_error(&err.to_string()),
    };
    s.to_owned()
}

fn strip_os_error(s: &str) -> String {
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// What the server said to a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameReply {
    /// `WELCOME <name> <text>`.
    Welcome {
        /// The name as accepted.
        name: String,
        /// Says how to leave.
        text: String,
    },
    /// `ERR name-taken` / `ERR name-invalid` / `ERR name-owned`: try another.
    Refused {
        /// Which of them.
        why: Refusal,
        /// The server's reason.
        text: String,
    },
    /// The server wants a password first (`AUTH password`, or `ERR password-required`): give
    /// it with [`Conn::offer_password`], then offer the name again.
    Password {
        /// The server's words.
        text: String,
    },
    /// The server said goodbye or gave up (`BYE`, `ERR handshake-timeout`, `ERR banned`,
    /// another `ERR`), or closed the connection.
    Closed {
        /// What it was about, for the exit code.
        why: Ending,
        /// Why, in words.
        text: String,
    },
}

/// Why a server ended a connection before a name was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// `ERR banned`: this key or address is banned.
    Banned,
    /// `ERR not-allowed`: the server takes only the keys on its list.
    NotAllowed,
    /// `ERR bad-password`, the last of the tries.
    BadPassword,
    /// Anything else (`BYE`, `ERR handshake-timeout`, a closed connection).
    Other,
}

impl Ending {
    /// The `ERR` code's ending, if it is one of those.
    fn of(code: ErrCode<'_>) -> Ending {
        match code {
            ErrCode::Banned => Ending::Banned,
            ErrCode::NotAllowed => Ending::NotAllowed,
            ErrCode::BadPassword => Ending::BadPassword,
            _ => Ending::Other,
        }
    }
}

/// What the server said to a password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassReply {
    /// Right: now the name.
    Accepted,
    /// `ERR bad-password`: wrong, and another try is allowed.
    Wrong {
        /// The server's words.
        text: String,
    },
    /// The server closed the connection (the last wrong try, a ban, ...).
    Closed {
        /// What it was about.
        why: Ending,
        /// Why, in words.
        text: String,
    },
}

/// Why a name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Someone connected has it (or a look-alike of it).
    Taken,
    /// It breaks the rules (or looks like a reserved name).
    Invalid,
    /// Another key owns it (or a look-alike of it), or this connection has no key.
    Owned,
}

/// A connection to a lanchat server over the transport `S`.
#[derive(Debug)]
pub struct Conn<S: Transport = Stream> {
    stream: S,
    peer: SocketAddr,
    decoder: LineDecoder,
    /// Lines decoded but not yet handed out.
    lines: VecDeque<String>,
    eof: bool,
}

/// Connect a TCP socket to `addr` (each address it resolves to in turn, `timeout` each), with
/// `TCP_NODELAY` and keepalive on ([`tune`]).
///
/// # Errors
/// [`ConnectError`] saying what failed and why.
pub fn dial(addr: &ServerAddr, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let targets = addr.resolve().map_err(|err| ConnectError::Resolve {
        addr: addr.clone(),
        err,
    })?;
    let mut last = io::Error::new(ErrorKind::NotFound, "no address");
    for target in targets {
        match TcpStream::connect_timeout(&target, timeout).and_then(|s| tune(&s).map(|()| s)) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(ConnectError::Connect {
        addr: addr.clone(),
        err: last,
    })
}

/// Set a chat socket's options: `TCP_NODELAY`, keepalive, `TCP_USER_TIMEOUT`.
///
/// # Errors
/// The socket option calls' errors.
pub fn tune(stream: &TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    // A server that vanishes without a FIN (power cut, cable) is noticed within about a
    // minute instead of never: keepalive when we are idle, and TCP_USER_TIMEOUT once we
    // have sent something it does not acknowledge (keepalive sends no probes while data
    // is unacknowledged, and retransmissions alone give up only after ~15 minutes).
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_RETRIES);
    let sock = socket2::SockRef::from(stream);
    sock.set_tcp_keepalive(&keepalive)?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    sock.set_tcp_user_timeout(Some(USER_TIMEOUT))?;
    Ok(())
}

impl Conn<Stream> {
    /// Connect to `addr` in plaintext ([`dial`]) and read the server's greeting.
    ///
    /// # Errors
    /// [`ConnectError`] saying what failed and why.
    pub fn connect(addr: &ServerAddr, timeout: Duration) -> Result<(Conn, String), ConnectError> {
        let stream = dial(addr, timeout)?;
        let mut conn = Conn::from_stream(stream).map_err(|err| ConnectError::Connect {
            addr: addr.clone(),
            err,
        })?;
        let hello = conn.greeting()?;
        Ok((conn, hello))
    }

    /// Wrap a connected plain stream (sets `TCP_NODELAY` and keepalive).
    ///
    /// # Errors
    /// The socket option calls' errors.
    pub fn from_stream(stream: TcpStream) -> io::Result<Conn> {
        tune(&stream)?;
        let peer = stream.peer_addr()?;
        Ok(Conn::over(Stream::Plain(stream), peer))
    }
}

impl<S: Transport> Conn<S> {
    /// Wrap a transport already connected to `peer` (socket options are the caller's).
    pub fn over(stream: S, peer: SocketAddr) -> Conn<S> {
        Conn {
            stream,
            peer,
            decoder: LineDecoder::new(MAX_SERVER_LINE),
            lines: VecDeque::new(),
            eof: false,
        }
    }

    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Read the server's greeting (`HELLO <text>`): its text.
    ///
    /// # Errors
    /// [`ConnectError::NoGreeting`], or [`ConnectError::Refused`] for an `ERR` or `BYE`.
    pub fn greeting(&mut self) -> Result<String, ConnectError> {
        let peer = self.peer;
        let no_greeting = |why: String| ConnectError::NoGreeting { addr: peer, why };
        let line = match self.read_line(Some(Instant::now() + REPLY_TIMEOUT)) {
            Ok(Some(line)) => line,
            Ok(None) => return Err(no_greeting("it closed the connection".into())),
            Err(e) if e.kind() == ErrorKind::TimedOut => {
                return Err(no_greeting(format!(
                    "no greeting within {} s",
                    REPLY_TIMEOUT.as_secs()
                )))
            }
            Err(e) => return Err(no_greeting(plain_io(&e))),
        };
        match ServerMsg::parse(&line) {
            Ok(ServerMsg::Hello { text }) => Ok(text.to_owned()),
            Ok(ServerMsg::Err { text, .. } | ServerMsg::Bye { text }) => {
                Err(ConnectError::Refused {
                    addr: self.peer,
                    text: crate::sanitize::sanitize(text).into_owned(),
                })
            }
            _ => Err(no_greeting("its first line is not HELLO".into())),
        }
    }

    /// The next line from the server (without its `\n`), waiting until `deadline` (forever if
    /// `None`). `Ok(None)` is end of stream.
    ///
    /// # Errors
    /// `TimedOut` when the deadline passes; the socket's errors (reset, ...).
    pub fn read_line(&mut self, deadline: Option<Instant>) -> io::Result<Option<String>> {
        let mut buf = [0u8; 8192];
        loop {
            if let Some(line) = self.lines.pop_front() {
                return Ok(Some(line));
            }
            if self.eof {
                return Ok(None);
            }
            let timeout = match deadline {
                None => None,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(ErrorKind::TimedOut.into());
                    }
                    Some(left)
                }
            };
            self.stream.set_read_timeout(timeout)?;
            match self.stream.read(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    let mut lines = self.decoder.lines(&buf[..n]);
                    while let Some(item) = lines.next_line() {
                        // An over-long line is skipped: the decoder already dropped it.
                        if let Ok(line) = item {
                            self.lines
                                .push_back(String::from_utf8_lossy(line).into_owned());
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if deadline.is_none() {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Send one line as typed: a line the protocol knows ([`ClientMsg`]) is encoded by
    /// lanchat-proto; anything else (an unknown `/word`, a command missing its arguments) goes
    /// as it is, so the server answers it (and a newer server's commands still work).
    ///
    /// # Errors
    /// The socket's write error.
    pub fn send_line(&mut self, line: &str) -> io::Result<()> {
        let wire = encode_line(line);
        self.stream.write_all(&wire)
    }

    /// A second handle on the stream, for a writer on another thread.
    ///
    /// # Errors
    /// The transport cannot be shared.
    pub fn try_clone_stream(&self) -> io::Result<S> {
        self.stream.try_clone()
    }

    /// Offer `name` and wait (bounded) for the server's answer.
    ///
    /// # Errors
    /// The socket's errors; a server that does not answer in [`REPLY_TIMEOUT`] is `TimedOut`.
    pub fn offer_name(&mut self, name: &str) -> io::Result<NameReply> {
        self.stream
            .write_all(format!("{}\n", name.trim()).as_bytes())?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let Some(line) = self.read_line(Some(deadline))? else {
                return Ok(NameReply::Closed {
                    why: Ending::Other,
                    text: "the server closed the connection".into(),
                });
            };
            let shown = |text: &str| crate::sanitize::sanitize(text).into_owned();
            let reply = match ServerMsg::parse(&line) {
                Ok(ServerMsg::Welcome { name, text }) => NameReply::Welcome {
                    name: name.to_owned(),
                    text: text.to_owned(),
                },
                Ok(ServerMsg::Err {
                    code: code @ (ErrCode::NameTaken | ErrCode::NameInvalid | ErrCode::NameOwned),
                    text,
                }) => NameReply::Refused {
                    why: match code {
                        ErrCode::NameTaken => Refusal::Taken,
                        ErrCode::NameOwned => Refusal::Owned,
                        _ => Refusal::Invalid,
                    },
                    text: shown(text),
                },
                // The name went before the server's `AUTH` was read; its `ERR
                // password-required` follows, and is skipped by `offer_password`.
                Ok(ServerMsg::Auth { text, .. }) => NameReply::Password { text: shown(text) },
                Ok(ServerMsg::Err {
                    code: ErrCode::PasswordRequired,
                    text,
                }) => NameReply::Password { text: shown(text) },
                Ok(ServerMsg::Err { code, text }) => NameReply::Closed {
                    why: Ending::of(code),
                    text: shown(text),
                },
                Ok(ServerMsg::Bye { text }) => NameReply::Closed {
                    why: Ending::Other,
                    text: shown(text),
                },
                // Anything else before the answer (a newer server's extra lines) is skipped.
                _ => continue,
            };
            return Ok(reply);
        }
    }
}

impl<S: Transport> Conn<S> {
    /// Give the password the server asked for (`/pass <password>`) and wait (bounded) for its
    /// answer. An `ERR password-required` to a name sent before the server's `AUTH` was read
    /// is skipped.
    ///
    /// # Errors
    /// The socket's errors; a server that does not answer in [`REPLY_TIMEOUT`] is `TimedOut`.
    pub fn offer_password(&mut self, password: &str) -> io::Result<PassReply> {
        let mut line = lanchat_proto::ops::PASS_PREFIX.to_owned();
        line.push_str(password);
        line.push('\n');
        self.stream.write_all(line.as_bytes())?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let Some(line) = self.read_line(Some(deadline))? else {
                return Ok(PassReply::Closed {
                    why: Ending::Other,
                    text: "the server closed the connection".into(),
                });
            };
            let shown = |text: &str| crate::sanitize::sanitize(text).into_owned();
            return Ok(match ServerMsg::parse(&line) {
                Ok(ServerMsg::Info { .. }) => PassReply::Accepted,
                Ok(ServerMsg::Err {
                    code: ErrCode::PasswordRequired | ErrCode::NameOwned,
                    ..
                }) => continue,
                Ok(ServerMsg::Err {
                    code: ErrCode::BadPassword,
                    text,
                }) => {
                    // The last wrong try is followed by the close.
                    match self.read_line(Some(Instant::now() + CLOSE_PEEK)) {
                        Ok(None) => PassReply::Closed {
                            why: Ending::BadPassword,
                            text: shown(text),
                        },
                        Ok(Some(next)) => {
                            self.lines.push_front(next);
                            PassReply::Wrong { text: shown(text) }
                        }
                        Err(_) => PassReply::Wrong { text: shown(text) },
                    }
                }
                Ok(ServerMsg::Err { code, text }) => PassReply::Closed {
                    why: Ending::of(code),
                    text: shown(text),
                },
                Ok(ServerMsg::Bye { text }) => PassReply::Closed {
                    why: Ending::Other,
                    text: shown(text),
                },
                _ => continue,
            });
        }
    }
}

impl<S: Transport> Conn<S> {
    /// Before a name is asked for: what the server said right after `HELLO`, if it said
    /// something within `wait` (it does so in the same breath): a password wanted
    /// ([`NameReply::Password`]) or a refusal (`ERR banned`, `ERR not-allowed`:
    /// [`NameReply::Closed`]). `None` when nothing came (the name comes next); a line of any
    /// other kind is left for later.
    ///
    /// # Errors
    /// The socket's errors.
    pub fn before_name(&mut self, wait: Duration) -> io::Result<Option<NameReply>> {
        let line = match self.read_line(Some(Instant::now() + wait)) {
            Ok(Some(line)) => line,
            Ok(None) => {
                return Ok(Some(NameReply::Closed {
                    why: Ending::Other,
                    text: "the server closed the connection".into(),
                }))
            }
            Err(e) if e.kind() == ErrorKind::TimedOut => return Ok(None),
            Err(e) => return Err(e),
        };
        let shown = |text: &str| crate::sanitize::sanitize(text).into_owned();
        Ok(match ServerMsg::parse(&line) {
            Ok(ServerMsg::Auth { text, .. }) => Some(NameReply::Password { text: shown(text) }),
            Ok(ServerMsg::Err { code, text }) => Some(NameReply::Closed {
                why: Ending::of(code),
                text: shown(text),
            }),
            _ => {
                self.lines.push_front(line);
                None
            }
        })
    }
}

/// After a wrong password: how long to look for the close that follows the last allowed try.
const CLOSE_PEEK: Duration = Duration::from_millis(200);

/// The wire bytes for one line typed by a person (see [`Conn::send_line`]).
pub fn encode_line(line: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len() + 1);
    match ClientMsg::parse(line) {
        Ok(msg) => msg.encode(&mut out),
        Err(_) => {
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn typed_lines_go_out_as_the_protocol_spells_them() {
        let cases: &[(&str, &str)] = &[
            ("hello", "hello\n"),
            ("<quit>", "/quit\n"),
            ("/QUIT", "/quit\n"),
            ("/who", "/who\n"),
            ("/msg bob  hi there", "/msg bob hi there\n"),
            ("/me waves", "/me waves\n"),
            ("//slash", "//slash\n"),
            ("/frob x", "/frob x\n"),
            ("/msg bob", "/msg bob\n"),
            ("  /who", "  /who\n"),
        ];
        for (typed, wire) in cases {
            assert_eq!(
                String::from_utf8(encode_line(typed)).unwrap(),
                *wire,
                "{typed:?}"
            );
        }
    }

    #[test]
    fn plain_io_errors() {
        let e = io::Error::from(ErrorKind::ConnectionRefused);
        assert_eq!(plain_io(&e), "connection refused");
        assert_eq!(
            strip_os_error("No route to host (os error 113)"),
            "No route to host"
        );
    }

    #[test]
    fn refused_connection_is_one_clear_line() {
        // A port nobody listens on: bind, note the port, close.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = ServerAddr::parse(&format!("127.0.0.1:{port}")).unwrap();
        let err = Conn::connect(&addr, CONNECT_TIMEOUT).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot connect to 127.0.0.1:{port}: connection refused \
                 (is the lanchat server running there?)"
            )
        );
    }

    #[test]
    fn lines_are_read_across_chunks_and_deadlines_hold() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = ServerAddr::from(listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"HELLO hi\r\nWEL").unwrap();
            s.flush().unwrap();
            s.write_all(b"COME ann x\n").unwrap();
            let mut name = [0u8; 16];
            let n = s.read(&mut name).unwrap();
            assert_eq!(&name[..n], b"ann\n");
            s
        });
        let (mut conn, hello) = Conn::connect(&addr, CONNECT_TIMEOUT).unwrap();
        assert_eq!(hello, "hi");
        assert_eq!(
            conn.offer_name(" ann ").unwrap(),
            NameReply::Welcome {
                name: "ann".into(),
                text: "x".into()
            }
        );
        let _s = server.join().unwrap();
        let err = conn
            .read_line(Some(Instant::now() + Duration::from_millis(50)))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
    }

    #[test]
    fn a_vanished_server_is_noticed_idle_or_not() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let conn = Conn::from_stream(stream).unwrap();
        let sock = socket2::SockRef::from(&conn.stream);
        assert!(sock.tcp_nodelay().unwrap());
        assert!(sock.keepalive().unwrap());
        assert_eq!(sock.tcp_keepalive_time().unwrap(), KEEPALIVE_IDLE);
        assert_eq!(sock.tcp_keepalive_interval().unwrap(), KEEPALIVE_INTERVAL);
        assert_eq!(sock.tcp_keepalive_retries().unwrap(), KEEPALIVE_RETRIES);
        #[cfg(target_os = "linux")]
        assert_eq!(sock.tcp_user_timeout().unwrap(), Some(USER_TIMEOUT));
    }

    #[test]
    fn a_silent_peer_is_not_a_server() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = ServerAddr::from(listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"SSH-2.0-OpenSSH\r\n").unwrap();
            s
        });
        let err = Conn::connect(&addr, CONNECT_TIMEOUT).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("does not answer like a lanchat server: its first line is not HELLO"),
            "{err}"
        );
        drop(server.join());
    }
}
