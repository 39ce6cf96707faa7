//! Joining a server as the flags say: TCP ([`crate::conn::dial`]), then TLS and trust on
//! first use, or TLS checked against an office CA, or the clear (`--plaintext`); then the
//! server's greeting; then the name (and a password) as [`crate::join`] decides, driven by
//! [`Target::join_on`] for both front ends and for reconnecting.
//!
//! Trust on first use, in order (as SSH does): the TLS handshake, pinned to the key remembered
//! for the address (or the one given with `--trust`); then [`KnownServers::decide`] on the key
//! presented: go on, remember and go on (`--accept-new`, `--trust`), ask the user (first
//! contact on a terminal), or refuse (first contact without a terminal: exit 1; a changed key:
//! exit 4). Nothing of the user's is sent before that decision. The client never falls back to
//! plaintext: a server that answers in the clear is named as such (exit 1).

use std::fmt;
use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lanchat_proto::Fingerprint;
use rustls::{ClientConfig, ClientConnection};

use crate::addr::ServerAddr;
use crate::conn::{
    dial, plain_io, Conn, ConnectError, Ending, Refusal as NameRefusal, CONNECT_TIMEOUT,
    REPLY_TIMEOUT,
};
use crate::identity::Identity;
use crate::join::{Join, Step};
use crate::known_servers::{
    first_contact_text, host_key, remember_in, Contact, Decision, FileError, KnownServers, Refusal,
    TrustFlags, Ui, EXIT_NOT_TRUSTED, SAID_NO,
};
use crate::stream::{Stream, TlsStream};
use crate::tls::{
    encrypted_notice, handshake_ca, handshake_pinned_as, HandshakeError, PLAINTEXT_SERVER,
    PLAINTEXT_WARNING,
};

/// How the connection is secured, from the flags.
#[derive(Debug, Clone)]
pub enum Security {
    /// `--plaintext`: the line protocol in the clear.
    Plaintext,
    /// TLS, trusting the server by its key (trust on first use).
    Pinned {
        /// The known_servers file; `None` when there is no place for one (then a TLS
        /// connection needs `--known-servers`).
        known_servers: Option<PathBuf>,
        /// `--accept-new`, `--trust`.
        flags: TrustFlags,
        /// The user's key, presented when the server asks for one (`None`: anonymous).
        me: Option<Arc<Identity>>,
    },
    /// `--ca`: TLS, the server's certificate checked against an office CA.
    Ca(Arc<ClientConfig>),
}

impl Security {
    /// The same, for connecting again after the connection `secured` was lost: a pinned
    /// server must present the key this run trusted (or the one known_servers lists), and
    /// nobody is asked again. The handshake is made and the key checked anew each time.
    #[must_use]
    pub fn joined_with(&self, secured: Secured) -> Security {
        match (self, secured) {
            (
                Security::Pinned {
                    known_servers,
                    flags,
                    me,
                },
                Secured::Encrypted(fp),
            ) => Security::Pinned {
                known_servers: known_servers.clone(),
                flags: TrustFlags {
                    joined: Some(fp),
                    ..*flags
                },
                me: me.clone(),
            },
            _ => self.clone(),
        }
    }
}

/// What the connection turned out to be, for the welcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secured {
    /// TLS, with the server's key.
    Encrypted(Fingerprint),
    /// In the clear (`--plaintext`).
    Plaintext,
}

impl Secured {
    /// What the welcome says about it: encrypted with this key, or a warning.
    pub fn notice(&self) -> String {
        match self {
            Secured::Encrypted(fp) => encrypted_notice(fp),
            Secured::Plaintext => PLAINTEXT_WARNING.to_owned(),
        }
    }
}

/// The user, as far as trusting a server goes.
pub trait Asker {
    /// Whether the user can be asked (a terminal).
    fn ui(&self) -> Ui;
    /// Show `text` (first contact) and ask [`crate::known_servers::TRUST_QUESTION`]: true for
    /// yes ([`crate::known_servers::is_yes`]).
    fn ask(&mut self, text: &str) -> bool;
    /// Tell the user something on the way (a key remembered, or that it could not be).
    fn note(&mut self, text: &str);
    /// A name to offer, typed by the user (none was given, or the server refused one); `None`
    /// when they gave up (the end of input, Ctrl-C) or there is nobody to ask.
    ///
    /// # Errors
    /// The terminal could not be read.
    fn name(&mut self) -> io::Result<Option<String>> {
        Ok(None)
    }
    /// The server asks for a password (`text` says so): the user's answer, read without echo;
    /// `None` when there is nobody to ask, or they gave up.
    ///
    /// # Errors
    /// The terminal could not be read.
    fn password(&mut self, _text: &str) -> io::Result<Option<String>> {
        Ok(None)
    }
}

/// Why joining failed.
#[derive(Debug)]
pub enum ConnectFailure {
    /// Not reached, or not a lanchat server (see [`ConnectError`]).
    Connect(ConnectError),
    /// `--plaintext`, and the server sent nothing: most likely it speaks TLS.
    NoPlaintextGreeting(ConnectError),
    /// The server speaks plaintext and `--plaintext` was not given.
    Plaintext(ServerAddr),
    /// The TLS handshake failed.
    Handshake {
        /// The server.
        addr: ServerAddr,
        /// Why.
        err: HandshakeError,
    },
    /// Its key is not one to trust (see [`Refusal`]; boxed: it carries several lines).
    Refused(Box<Refusal>),
    /// First contact on a terminal, and the user did not say yes.
    SaidNo,
    /// The known_servers file could not be read.
    KnownServers(FileError),
    /// There is no place for a known_servers file (no `XDG_CONFIG_HOME`, no `HOME`).
    NoKnownServersFile,
}

impl ConnectFailure {
    /// The exit code: 4 for a key other than the one expected, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            ConnectFailure::Refused(r) => r.exit_code(),
            _ => EXIT_NOT_TRUSTED,
        }
    }

    /// Whether it ends the run, rather than let a user at a terminal type another address:
    /// everything that is about trust.
    pub fn is_final(&self) -> bool {
        !matches!(
            self,
            ConnectFailure::Connect(_)
                | ConnectFailure::NoPlaintextGreeting(_)
                | ConnectFailure::Handshake { .. }
        )
    }

    /// The whole message for stderr, `lanchat: ` in front where the text does not start with
    /// it (the changed-key warning starts with its banner).
    pub fn message(&self) -> String {
        match self {
            ConnectFailure::Refused(_) | ConnectFailure::SaidNo => self.to_string(),
            _ => format!("lanchat: {self}"),
        }
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectFailure::Connect(e) => e.fmt(f),
            ConnectFailure::NoPlaintextGreeting(e) => {
                write!(
                    f,
                    "{e} (with --plaintext: is it an encrypted server? try without it)"
                )
            }
            ConnectFailure::Plaintext(addr) => write!(f, "{addr}: {PLAINTEXT_SERVER}"),
            ConnectFailure::Handshake { addr, err } => write!(f, "{addr}: {err}"),
            ConnectFailure::Refused(r) => r.fmt(f),
            ConnectFailure::SaidNo => f.write_str(SAID_NO),
            ConnectFailure::KnownServers(e) => e.fmt(f),
            ConnectFailure::NoKnownServersFile => f.write_str(
                "there is no place for the known_servers file (neither XDG_CONFIG_HOME nor HOME \
                 is set): give one with --known-servers FILE",
            ),
        }
    }
}

impl std::error::Error for ConnectFailure {}

impl From<ConnectError> for ConnectFailure {
    fn from(e: ConnectError) -> Self {
        ConnectFailure::Connect(e)
    }
}

/// Join `addr` as `security` says, asking `asker` when the user has to decide. Returns the
/// connection, the greeting's text and what the connection is.
///
/// # Errors
/// [`ConnectFailure`]: [`ConnectFailure::is_final`] tells whether trying another address makes
/// sense, [`ConnectFailure::exit_code`] the exit code if not.
pub fn connect(
    addr: &ServerAddr,
    security: &Security,
    asker: &mut dyn Asker,
) -> Result<(Conn, String, Secured), ConnectFailure> {
    match security {
        Security::Plaintext => {
            let (conn, hello) = Conn::connect(addr, CONNECT_TIMEOUT).map_err(|e| match e {
                ConnectError::NoGreeting { .. } => ConnectFailure::NoPlaintextGreeting(e),
                e => ConnectFailure::Connect(e),
            })?;
            Ok((conn, hello, Secured::Plaintext))
        }
        Security::Ca(config) => {
            let mut sock = dial(addr, CONNECT_TIMEOUT)?;
            let (tls, fp) = handshake_ca(&mut sock, addr, Arc::clone(config), deadline())
                .map_err(|err| handshake_failure(addr, err))?;
            greet(addr, sock, tls, fp)
        }
        Security::Pinned {
            known_servers,
            flags,
            me,
        } => {
            let path = known_servers
                .as_deref()
                .ok_or(ConnectFailure::NoKnownServersFile)?;
            let me = me.as_deref();
            let (sock, tls, fp, asked) = pinned(addr, path, flags, me, asker)?;
            match greet(addr, sock, tls, fp) {
                // The user took long enough to answer for the server to give up waiting for a
                // name: once more, now that the key is known.
                Err(ConnectFailure::Connect(_)) if asked => {
                    let (sock, tls, fp, _) = pinned(addr, path, flags, me, asker)?;
                    greet(addr, sock, tls, fp)
                }
                done => done,
            }
        }
    }
}

/// When a handshake (or the greeting after it) must be done.
fn deadline() -> Instant {
    Instant::now() + REPLY_TIMEOUT
}

fn handshake_failure(addr: &ServerAddr, err: HandshakeError) -> ConnectFailure {
    match err {
        HandshakeError::Plaintext => ConnectFailure::Plaintext(addr.clone()),
        err => ConnectFailure::Handshake {
            addr: addr.clone(),
            err,
        },
    }
}

/// A handshake trusted by its key: connected, the key decided on. Also returns whether the
/// user was asked.
fn pinned(
    addr: &ServerAddr,
    file: &Path,
    flags: &TrustFlags,
    me: Option<&Identity>,
    asker: &mut dyn Asker,
) -> Result<(TcpStream, ClientConnection, Fingerprint, bool), ConnectFailure> {
    let known = KnownServers::load(file).map_err(ConnectFailure::KnownServers)?;
    let host = host_key(addr);
    let decide = |presented: Fingerprint, ui: Ui| {
        let contact = Contact {
            host: &host,
            presented,
            file,
        };
        known.decide(&contact, flags, ui)
    };
    // The key given with --trust, else the one remembered, else the one this run joined with:
    // any other fails the handshake.
    let mut expected = flags
        .trust
        .or_else(|| known.remembered(&host))
        .or(flags.joined);
    let mut last = None;
    for _ in 0..2 {
        let mut sock = dial(addr, CONNECT_TIMEOUT)?;
        let (tls, presented) = match handshake_pinned_as(&mut sock, addr, expected, me, deadline())
        {
            Ok(done) => done,
            Err(HandshakeError::KeyMismatch { presented }) => {
                match decide(presented, asker.ui()) {
                    Decision::Refuse(r) => return Err(ConnectFailure::Refused(Box::new(r))),
                    // Listed under another of the file's lines for this server: pin that one.
                    _ => {
                        expected = Some(presented);
                        last = Some(HandshakeError::KeyMismatch { presented });
                        continue;
                    }
                }
            }
            Err(err) => return Err(handshake_failure(addr, err)),
        };
        let asked = match decide(presented, asker.ui()) {
            Decision::Go => false,
            Decision::GoAndRemember => {
                remember(file, &host, presented, asker);
                false
            }
            Decision::Ask => {
                if !asker.ask(&first_contact_text(&host, &presented)) {
                    return Err(ConnectFailure::SaidNo);
                }
                remember(file, &host, presented, asker);
                true
            }
            Decision::Refuse(r) => return Err(ConnectFailure::Refused(Box::new(r))),
        };
        return Ok((sock, tls, presented, asked));
    }
    Err(handshake_failure(
        addr,
        last.unwrap_or(HandshakeError::Closed),
    ))
}

/// Remember `fingerprint` for `host`, saying so (or saying it could not: the connection is
/// trusted all the same, as ssh does).
fn remember(file: &Path, host: &str, fingerprint: Fingerprint, asker: &mut dyn Asker) {
    match remember_in(file, host, fingerprint) {
        Ok(()) => asker.note(&format!(
            "lanchat: {host} and its key are now remembered in {}",
            file.display()
        )),
        Err(e) => asker.note(&format!(
            "lanchat: the key could not be remembered ({e}); you will be asked again next time"
        )),
    }
}

/// The line protocol inside the finished handshake: read the greeting.
fn greet(
    addr: &ServerAddr,
    sock: TcpStream,
    tls: ClientConnection,
    fp: Fingerprint,
) -> Result<(Conn, String, Secured), ConnectFailure> {
    let peer = sock.peer_addr().map_err(|err| {
        ConnectFailure::Connect(ConnectError::Connect {
            addr: addr.clone(),
            err,
        })
    })?;
    let mut conn = Conn::over(Stream::Tls(TlsStream::new(sock, tls)), peer);
    let hello = conn.greeting()?;
    Ok((conn, hello, Secured::Encrypted(fp)))
}

/// Where the server is and how to reach it safely: what joining (again) needs.
#[derive(Debug, Clone)]
pub struct Target {
    /// The address as given.
    pub addr: ServerAddr,
    /// How the connection is secured, and which key to trust.
    pub security: Security,
    /// The password to give if the server asks for one (`--password-file`, or the one this
    /// run was let in with); `None`: ask the user.
    pub password: Option<String>,
}

/// A connection that has joined: greeted, and its name accepted.
#[derive(Debug)]
pub struct Joined {
    /// The connection, ready for chat lines.
    pub conn: Conn,
    /// The name as the server accepted it.
    pub name: String,
    /// The `WELCOME` text.
    pub welcome: String,
    /// Encrypted (with which key) or not.
    pub secured: Secured,
    /// The password the server took, if it asked for one (to give again on reconnecting).
    pub password: Option<String>,
}

/// Why joining failed.
#[derive(Debug)]
pub enum JoinError {
    /// No connection, or not to a lanchat server that let us in, or not to one to trust (see
    /// [`ConnectFailure`]).
    Connect(ConnectFailure),
    /// The server refused the name.
    Name {
        /// How.
        why: NameRefusal,
        /// The server's words.
        text: String,
    },
    /// The server ended the handshake (`BYE`, `ERR`), or closed the connection.
    Closed {
        /// What it was about (a ban has an exit code of its own).
        why: Ending,
        /// The server's words.
        text: String,
    },
    /// The server asks for a password, and there is none to give (no terminal, no
    /// `--password-file`).
    NoPassword(String),
    /// Reading or writing failed during the handshake.
    Io(io::Error),
    /// The user's terminal could not be read (asking for a name).
    Terminal(io::Error),
    /// The user gave up at a prompt (`<quit>`, the end of input, no password).
    GaveUp,
}

impl JoinError {
    /// Whether trying again later cannot help: the name itself is refused as invalid, or the
    /// server is not one to trust ([`ConnectFailure::is_final`]: a changed key, a server now
    /// in plaintext). A name someone else holds, or a full server, may be free later.
    pub fn is_final(&self) -> bool {
        match self {
            JoinError::Name { why, .. } => *why == NameRefusal::Invalid,
            JoinError::Connect(failure) => failure.is_final(),
            // Kept out (a ban, an allowlist, a wrong password): knocking again cannot help.
            JoinError::Closed { why, .. } => *why != Ending::Other,
            JoinError::NoPassword(_) | JoinError::Terminal(_) | JoinError::GaveUp => true,
            JoinError::Io(_) => false,
        }
    }

    /// The exit code when this ends the run: 6 for a ban ([`crate::session::EXIT_BANNED`]),
    /// a trust failure's own, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            JoinError::Closed {
                why: Ending::Banned,
                ..
            } => crate::session::EXIT_BANNED,
            JoinError::Connect(failure) => failure.exit_code(),
            _ => crate::known_servers::EXIT_NOT_TRUSTED,
        }
    }

    /// The trust failure that ends the run with its own words and exit code, if it is one.
    pub fn untrusted(&self) -> Option<&ConnectFailure> {
        match self {
            JoinError::Connect(failure) if failure.is_final() => Some(failure),
            _ => None,
        }
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Connect(e) => e.fmt(f),
            JoinError::Name { text, .. } => write!(f, "the name was refused: {text}"),
            JoinError::Closed { why, text } => f.write_str(&ending_words(*why, text)),
            JoinError::NoPassword(text) => write!(
                f,
                "the server asks for a password ({text}); without a terminal, give it with \
                 --password-file FILE"
            ),
            JoinError::Io(e) => f.write_str(&plain_io(e)),
            JoinError::Terminal(e) => write!(f, "reading the terminal: {e}"),
            JoinError::GaveUp => f.write_str("gave up before joining"),
        }
    }
}

impl std::error::Error for JoinError {}

impl Target {
    /// Connect as [`connect`] does (asking `asker` when the user has to decide) and join as
    /// `name` ([`Join::script`]: no prompt; a refused name fails): the one step a reconnection
    /// takes.
    ///
    /// # Errors
    /// [`JoinError`], saying what failed.
    pub fn join(&self, name: &str, asker: &mut dyn Asker) -> Result<Joined, JoinError> {
        let (conn, _hello, secured) =
            connect(&self.addr, &self.security, asker).map_err(JoinError::Connect)?;
        let join = Join::script(name, self.password.clone());
        self.join_on(conn, secured, join, None, asker)
    }

    /// Join over `conn` (greeted; `secured` says how) as `join` decides: do each [`Step`] it
    /// returns and feed it the result, asking and telling the user through `asker`, connecting
    /// to this target again when it says so. `early`: how long to wait for the server's word
    /// before the name (a password wanted, a refusal), or `None` to offer the name at once.
    ///
    /// # Errors
    /// [`JoinError`], saying what failed; [`JoinError::GaveUp`] when the user gave up (after
    /// `/quit` was sent).
    pub fn join_on(
        &self,
        mut conn: Conn,
        secured: Secured,
        mut join: Join,
        early: Option<Duration>,
        asker: &mut dyn Asker,
    ) -> Result<Joined, JoinError> {
        let first_words = |conn: &mut Conn| early.map_or(Ok(None), |wait| conn.before_name(wait));
        let mut step = join.on_connected(first_words(&mut conn));
        loop {
            step = match step {
                Step::AskName => join.on_typed_name(asker.name().map_err(JoinError::Terminal)?),
                Step::Offer(name) => join.on_name_reply(conn.offer_name(&name)),
                Step::Say(text, then) => {
                    asker.note(&text);
                    *then
                }
                Step::AskPassword(text) => {
                    join.on_typed_password(asker.password(&text).map_err(JoinError::Terminal)?)
                }
                Step::GivePassword(password) => {
                    join.on_password_reply(conn.offer_password(&password))
                }
                Step::ConnectAgain => {
                    conn = connect(&self.addr, &self.security, asker)
                        .map_err(JoinError::Connect)?
                        .0;
                    join.on_connected(first_words(&mut conn))
                }
                Step::Quit => {
                    let _ = conn.send_line("/quit");
                    return Err(JoinError::GaveUp);
                }
                Step::Joined {
                    name,
                    welcome,
                    password,
                } => {
                    return Ok(Joined {
                        conn,
                        name,
                        welcome,
                        secured,
                        password,
                    })
                }
                Step::Fail(e) => return Err(e),
            };
        }
    }

    /// The target for connecting again after `secured` was lost ([`Security::joined_with`]).
    #[must_use]
    pub fn joined_with(&self, secured: Secured) -> Target {
        Target {
            addr: self.addr.clone(),
            security: self.security.joined_with(secured),
            password: self.password.clone(),
        }
    }
}

/// How a connection the server ended reads for a person: a ban, an allowlist, a wrong password
/// in plain words, anything else as the server said it.
pub fn ending_words(why: Ending, text: &str) -> String {
    match why {
        Ending::Banned => format!("you are banned from this server: {text}"),
        Ending::NotAllowed => format!(
            "this server lets in only the people on its list, and your key is not on it: give \
             its operator your key's fingerprint (lanchat --fingerprint) ({text})"
        ),
        Ending::BadPassword => format!("wrong password; the server closed the connection ({text})"),
        Ending::Other => format!("the server closed the connection: {text}"),
    }
}

/// Nobody to ask (a reconnection, or no terminal): first contact is refused, and what the
/// user should know goes to `note`.
pub struct NoAsker<F>(pub F);

impl<F: FnMut(&str)> Asker for NoAsker<F> {
    fn ui(&self) -> Ui {
        Ui::NoTerminal
    }

    fn ask(&mut self, _text: &str) -> bool {
        false
    }

    fn note(&mut self, text: &str) {
        (self.0)(text);
    }
}
