//! The binary's front ends and what they share: the flags, discovery as the user sees it, the
//! reader thread's sink, the sender's callbacks, and the quit.
//!
//! Everything here is wiring; every decision is in `lanchat_client` ([`Session`] above all).

pub mod interactive;
pub mod scripted;

pub use lanchat_client::cli::Args;

use std::fs;
use std::io::{self, Write};
use std::net::Shutdown;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use lanchat_client::addr::ServerAddr;
use lanchat_client::backoff::random_unit;
use lanchat_client::clock::{local, now_ms};
use lanchat_client::commands::{self, Local};
use lanchat_client::config::{self, Config, ConfigError};
use lanchat_client::conn::{plain_io, Conn, Transport as _};
use lanchat_client::connect::{Asker, JoinError, NoAsker, Security, Target};
use lanchat_client::discovery::{self, Found};
use lanchat_client::identity::{self, Identity, IdentityError, Made};
use lanchat_client::known_servers::{self, KnownServers, TrustFlags, Ui};
use lanchat_client::outbox::split_long;
use lanchat_client::outbox::{Outbox, Progress, Sending};
use lanchat_client::password::PasswordFileError;
use lanchat_client::reader::Sink;
use lanchat_client::reconnect::{Connector, Reconnect};
use lanchat_client::redraw::{Redo, Redraw};
use lanchat_client::render::{plain_text, Palette, Shown, Style};
use lanchat_client::sanitize::sanitize;
use lanchat_client::screen::{Screen, Terminal};
use lanchat_client::session::{Action, EndSlot, Outcome, Session};
use lanchat_client::signals::{self, InterruptFlag};
use lanchat_client::stream::Stream;
use lanchat_client::tls::ca_config_as;
use lanchat_client::waits::Waits;

/// The flags with the config file's defaults filled in where a flag was not given.
pub struct Settings {
    /// The flags as given.
    pub args: Args,
    /// The config file read (`None`: there is no place for one).
    pub config_path: Option<PathBuf>,
    /// What it said.
    pub config: Config,
    /// The fixed waits (shortened by tests only).
    pub waits: Waits,
}

impl Settings {
    /// Read the config file (its place from the environment) under the flags.
    ///
    /// # Errors
    /// The config file exists but cannot be read or is not valid.
    pub fn load(args: Args) -> Result<Settings, ConfigError> {
        let config_path = config::default_path();
        let config = match &config_path {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        Ok(Settings {
            args,
            config_path,
            config,
            waits: Waits::from_env(),
        })
    }

    /// How connections are secured: plaintext, trust on first use, or an office CA.
    ///
    /// # Errors
    /// `--ca`'s file cannot be read or holds no certificate.
    pub fn security(&self) -> anyhow::Result<Security> {
        let args = &self.args;
        if args.plaintext {
            // A plaintext connection has no key to present (nor any way to prove one).
            return Ok(Security::Plaintext);
        }
        let me = self.identity(&mut |note| eprintln!("{note}"))?;
        Ok(if let Some(ca) = &args.ca {
            Security::Ca(ca_config_as(ca, Some(&me))?)
        } else {
            Security::Pinned {
                known_servers: self.known_servers(),
                flags: TrustFlags {
                    accept_new: args.accept_new,
                    trust: args.trust,
                    joined: None,
                },
                me: Some(Arc::new(me)),
            }
        })
    }

    /// The password to give a server that asks: `--password-file`'s first line; `None` to
    /// ask the user (or, without a terminal, to fail when asked).
    ///
    /// # Errors
    /// The file cannot be read or its first line is empty.
    pub fn password(&self) -> Result<Option<String>, PasswordFileError> {
        self.args
            .password_file
            .as_deref()
            .map(lanchat_client::password::from_file)
            .transpose()
    }

    /// The user's key (--identity, else the default place), made on first use; `note` is told
    /// when it was made.
    ///
    /// # Errors
    /// [`IdentityError`]: no place for it, a key file others can read, not a key, IO.
    pub fn identity(&self, note: &mut dyn FnMut(&str)) -> Result<Identity, IdentityError> {
        let path = self
            .args
            .identity
            .clone()
            .or_else(identity::default_path_from_env)
            .ok_or(IdentityError::NoPlace)?;
        let (me, made) = Identity::load_or_create(&path)?;
        if made == Made::Created {
            note(&format!(
                "lanchat: made your key {} (fingerprint {}); servers know you by it",
                path.display(),
                me.fingerprint()
            ));
        }
        Ok(me)
    }

    /// The known_servers file: --known-servers, else the default place.
    pub fn known_servers(&self) -> Option<PathBuf> {
        self.args
            .known_servers
            .clone()
            .or_else(known_servers::default_path_from_env)
    }

    /// The server: ADDR, else the config's.
    pub fn addr(&self) -> Option<String> {
        self.args
            .addr
            .clone()
            .or_else(|| self.config.server.clone())
    }

    /// The name: --name, else the config's.
    pub fn name(&self) -> Option<String> {
        self.args.name.clone().or_else(|| self.config.name.clone())
    }

    /// The style, given whether colour is possible at all here.
    pub fn style(&self, color_possible: bool, palette: Palette) -> Style {
        Style {
            color: color_possible && self.config.color != Some(false),
            palette,
            timestamps: !self.args.no_timestamps && self.config.timestamps != Some(false),
            iso_time: self.args.iso_time || self.config.iso_time == Some(true),
            bell: !self.args.no_bell && self.config.bell != Some(false),
        }
    }

    /// A session for `name` in `style`, with the ignore list and history setting applied.
    pub fn session(&self, name: &str, style: Style) -> Shared {
        let mut s = Session::new(name, style, local);
        s.set_history(!self.args.no_history);
        s.set_quit_wait(self.waits.quit);
        for n in &self.config.ignore {
            s.ignore(n);
        }
        Arc::new(Mutex::new(s))
    }

    /// Where shown lines go: `term`, and the log file too with `--log`.
    ///
    /// # Errors
    /// The log file cannot be opened.
    pub fn screen(&self, term: Box<dyn Terminal>) -> anyhow::Result<Arc<Screen>> {
        let term: Box<dyn Terminal> = match &self.args.log {
            None => term,
            Some(path) => {
                let file = fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening the log {}", path.display()))?;
                Box::new(Logged { term, file })
            }
        };
        Ok(Screen::new(term))
    }
}

/// Shows through `term` and appends the line, as plain text with the date and time, to `file`.
struct Logged {
    term: Box<dyn Terminal>,
    file: fs::File,
}

impl Terminal for Logged {
    fn show(&mut self, line: &str) {
        self.term.show(line);
        let t = local(now_ms());
        let _ = writeln!(
            self.file,
            "{:04}-{:02}-{:02} {:02}:{:02} {}",
            t.year,
            t.month,
            t.day,
            t.hour,
            t.minute,
            plain_text(line)
        );
    }
}

/// One typed line for the server (not blank, not the quit): the client's own commands are
/// carried out here, anything else is queued, cut into pieces the server takes. With `notice`,
/// a line queued while the client is reconnecting is said to wait.
fn send_line(
    line: &str,
    session: &Mutex<Session>,
    outbox: &Outbox,
    screen: &Screen,
    config_path: Option<&Path>,
    notice: bool,
) {
    let say = |text: String| screen.print(format!("* {text}"));
    let send = |line: &str| {
        let max_line = lock(session).max_line();
        let pieces = split_long(line, max_line);
        if pieces.len() > 1 {
            say(format!(
                "that line is longer than the server takes; it goes as {} messages",
                pieces.len()
            ));
        }
        for piece in &pieces {
            outbox.push(piece);
        }
        if notice && lock(session).is_reconnecting() {
            screen.print(NOT_CONNECTED);
        }
    };
    let save = |session: &Session| {
        if let Some(path) = config_path {
            if let Err(e) = config::save_ignore(path, session.ignored()) {
                say(format!("could not save the ignore list: {e}"));
            }
        }
    };
    match commands::local(line) {
        // In a room other than #general, with `/in #room` added where the line is about it:
        // the room current when the line was typed, whenever it goes out.
        None => {
            // Taken before sending: `send` locks the session itself.
            let line = lock(session).outgoing(line);
            send(&line);
        }
        Some(Local::Send(line)) => send(&line),
        Some(Local::Go(room)) => {
            let went = lock(session).go(room);
            say(if went {
                format!("now in {}", sanitize(room))
            } else {
                format!("you are not in {0}; /join {0} first", sanitize(room))
            });
        }
        Some(Local::Usage(usage)) => say(format!("usage: {usage}")),
        Some(Local::Reply(text)) => {
            let to = lock(session).reply_to().map(str::to_owned);
            match to {
                Some(to) => send(&format!("/msg {to} {text}")),
                None => say("nobody has written to you privately yet".into()),
            }
        }
        Some(Local::Clear) => screen.release(|| {
            let mut out = io::stdout().lock();
            let _ = write!(out, "\x1b[H\x1b[2J");
            let _ = out.flush();
        }),
        Some(Local::Ignore(None)) => {
            let list = lock(session).ignored().join(", ");
            say(if list.is_empty() {
                "you ignore nobody".into()
            } else {
                format!("you ignore: {list}")
            });
        }
        Some(Local::Ignore(Some(name))) => {
            let mut s = lock(session);
            if s.ignore(name) {
                save(&s);
                drop(s);
                say(format!(
                    "ignoring {}; /unignore {0} to stop",
                    sanitize(name)
                ));
            } else {
                drop(s);
                say(format!("you already ignore {}", sanitize(name)));
            }
        }
        Some(Local::Unignore(name)) => {
            let mut s = lock(session);
            if s.unignore(name) {
                save(&s);
                drop(s);
                say(format!("no longer ignoring {}", sanitize(name)));
            } else {
                drop(s);
                say(format!("you do not ignore {}", sanitize(name)));
            }
        }
    }
}

/// Said when a line is typed while the client is reconnecting.
const NOT_CONNECTED: &str =
    "* not connected: that goes out once reconnected (Ctrl-C on an empty line drops it)";

/// Look for servers, telling the user what happens through `say`; servers whose key is
/// already known are marked so.
fn run_discovery(settings: &Settings, say: &mut dyn FnMut(&str)) -> Vec<Found> {
    let args = &settings.args;
    say(&format!(
        "Looking for lanchat servers on the local network (UDP port {}) ...",
        args.discover_port
    ));
    let targets = if args.discover_to.is_empty() {
        discovery::broadcast_targets()
    } else {
        args.discover_to.clone()
    };
    match discovery::discover(&targets, args.discover_port, settings.waits.discovery) {
        Ok(found) if found.is_empty() => {
            say("No lanchat server answered.");
            found
        }
        Ok(mut found) => {
            // Only a hint for the list (the handshake decides): an unreadable file marks none.
            if let Some(known) = settings
                .known_servers()
                .and_then(|path| KnownServers::load(&path).ok())
            {
                discovery::mark_known(&mut found, &known);
            }
            for line in discovery::format_found(&found) {
                say(&line);
            }
            found
        }
        Err(e) => {
            say(&format!("Cannot look for servers: {}", plain_io(&e)));
            Vec::new()
        }
    }
}

/// Without a terminal nobody can be asked: first contact is refused (with the two ways on),
/// and what the user should know goes to stderr.
pub struct StderrAsker;

impl Asker for StderrAsker {
    fn ui(&self) -> Ui {
        Ui::NoTerminal
    }

    fn ask(&mut self, _text: &str) -> bool {
        false
    }

    fn note(&mut self, text: &str) {
        eprintln!("{text}");
    }
}

/// The session, shared by the reader thread, the main thread, the sender and Tab completion.
pub type Shared = Arc<Mutex<Session>>;

fn lock(session: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    session.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Lines straight to stdout, one flush per line so a reader sees them at once (scripted mode).
/// A failed write (a full disk, a closed pipe) ends the client with exit code 1: a script
/// must not believe it got everything.
pub struct StdoutTerm;

impl Terminal for StdoutTerm {
    fn show(&mut self, line: &str) {
        let mut out = io::stdout().lock();
        if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
            eprintln!("lanchat: cannot write to stdout: {}", plain_io(&e));
            signals::exit_now(EXIT_OUTPUT_FAILED);
        }
    }
}

/// Exit code when what was received could not be written out.
const EXIT_OUTPUT_FAILED: u8 = 1;

/// Once set, stays set; waiters wake.
#[derive(Debug, Default)]
pub struct Latch {
    set: Mutex<bool>,
    cond: Condvar,
}

impl Latch {
    /// Set it.
    pub fn set(&self) {
        *self.set.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cond.notify_all();
    }

    /// Wait until it is set or `deadline` passes.
    pub fn wait_until(&self, deadline: Instant) {
        let mut g = self.set.lock().unwrap_or_else(PoisonError::into_inner);
        while !*g {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            g = self
                .cond
                .wait_timeout(g, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// How long the first prompt waits for the join's burst (welcome, history, who is here) to be
/// shown, so that it comes below it.
const BURST_WAIT: Duration = Duration::from_secs(2);

/// What the reader thread's end means for a front end.
pub enum OnEnd {
    /// Print the last line and end the process at once: the main thread may sit in a read
    /// that nothing interrupts (stdin, or a cooked-mode line).
    Exit,
    /// Leave the outcome and wake the main thread out of `readline`, so rustyline restores
    /// the terminal before the process ends.
    Wake(Arc<EndSlot>),
}

/// The reader thread's sink: lines to the screen, the end as the front end needs it, and the
/// events the main thread waits for.
pub struct ScreenSink {
    /// Where lines go.
    pub screen: Arc<Screen>,
    /// What the end means.
    pub on_end: OnEnd,
    /// Set when the join's burst is shown.
    pub listed: Arc<Latch>,
    /// Asked to draw the prompt again when it changes (a terminal the line editor drives).
    pub redraw: Option<Arc<Redraw>>,
}

/// How often the reader thread repeats its wake-up signal until the main thread has seen the
/// end (a signal that lands between two `readline` calls only sets the interrupt flag).
const WAKE_EVERY: Duration = Duration::from_millis(100);

impl Sink for ScreenSink {
    fn print(&mut self, line: Shown) {
        self.screen.print(line);
    }

    fn end(&mut self, outcome: Outcome) {
        match &self.on_end {
            OnEnd::Exit => {
                self.screen.flush(Instant::now() + FLUSH_WAIT);
                leave(&outcome)
            }
            OnEnd::Wake(ended) => {
                ended.set(outcome);
                while !ended.is_acked() {
                    let _ = signals::wake_main();
                    std::thread::sleep(WAKE_EVERY);
                }
            }
        }
    }

    fn live_status(&self) -> bool {
        self.redraw.is_some()
    }

    fn event(&mut self, action: Action) {
        match action {
            Action::Listed => self.listed.set(),
            Action::PromptChanged => {
                if let Some(redraw) = &self.redraw {
                    redraw.request(Redo::Prompt);
                }
            }
            _ => {}
        }
    }
}

/// How long the end waits for lines still on their way to the terminal.
pub const FLUSH_WAIT: Duration = Duration::from_secs(1);

/// End the process now with `outcome` (from any thread).
fn leave(outcome: &Outcome) -> ! {
    let _ = io::stdout().flush();
    if let Some(text) = outcome.farewell_text() {
        eprintln!("{text}");
    }
    signals::exit_now(outcome.exit_code())
}

/// What the sender thread asks of the session: the echo of a sent line (when `screen` is
/// given), and the quit's bytes when it is the quit's turn.
pub struct SessionSending {
    /// The session.
    pub session: Shared,
    /// Where echoes go; `None`: no echo (scripts, and terminals that echo typed lines
    /// themselves).
    pub echo: Option<Arc<Screen>>,
}

impl Sending for SessionSending {
    fn sending(&mut self, line: &str) {
        // Before the write: the reader thread may take the answer before `sent` runs.
        lock(&self.session).on_sending(line);
    }

    fn sent(&mut self, line: &str) {
        // The session hears of every line sent (a `/who` asked for is shown as a table).
        let actions = lock(&self.session).on_sent(line, now_ms());
        if let Some(screen) = &self.echo {
            for action in actions {
                if let Action::Print(l) = action {
                    screen.print(l);
                }
            }
        }
    }

    fn quit(&mut self, message: Option<&str>) -> Option<Vec<u8>> {
        lock(&self.session).on_quit(Instant::now(), message)
    }
}

/// How often a quit waiting for the lines before it looks for a Ctrl-C.
const QUIT_POLL: Duration = Duration::from_millis(100);

/// Send the quit after what is still queued, and wait (bounded) for the session to see its
/// answer. Without that answer the lines sent last may never have arrived, so the run ends as
/// "server gone" (exit 3), not as a clean quit. While queued lines go out first, a Ctrl-C
/// (`interrupted`) drops them. The others see `message` (`/quit <message>`).
fn quit(
    outbox: &Outbox,
    session: &Mutex<Session>,
    ended: &EndSlot,
    screen: &Screen,
    interrupted: Option<&InterruptFlag>,
    message: Option<&str>,
) -> Outcome {
    ended.ack();
    // Not connected: there is nobody to answer, and nothing to wait for.
    if let Some(outcome) = lock(session).leave_while_away() {
        return outcome;
    }
    let pending = outbox.pending();
    if pending > 0 && interrupted.is_some() {
        screen.print(format!(
            "* sending the {pending} lines not sent yet before leaving (Ctrl-C drops them)"
        ));
    }
    outbox.quit(message);
    loop {
        match outbox.wait_done(Instant::now() + QUIT_POLL) {
            Progress::Done => break,
            Progress::Failed => return gone_after_failed_send(session, ended),
            Progress::Busy => {
                if interrupted.is_some_and(InterruptFlag::take) {
                    not_sent(screen, outbox.cancel());
                }
            }
        }
    }
    let deadline = lock(session).quit_deadline();
    if let Some(deadline) = deadline {
        ended.wait_until(deadline);
    }
    lock(session).on_quit_timeout()
}

/// The socket of the connection in use, shared by the reconnection (which replaces it) and
/// the threads that must reach it: the main thread cuts it when a write fails (so the reader
/// sees the connection gone, even when the server merely stopped reading), and a terminal the
/// line editor cannot drive writes its Ctrl-C quit to it.
#[derive(Debug, Clone, Default)]
pub struct Current(Arc<Mutex<Option<Stream>>>);

impl Current {
    /// Use `conn`'s stream from now on: a second handle on it to write to (over TLS, through
    /// the same TLS connection), each write bounded by `write_timeout`.
    ///
    /// # Errors
    /// The stream cannot be shared or set up.
    pub fn attach(&self, conn: &Conn, write_timeout: Option<Duration>) -> io::Result<Stream> {
        let writer = conn.try_clone_stream()?;
        writer.set_write_timeout(write_timeout)?;
        self.set(Some(writer.try_clone()?));
        Ok(writer)
    }

    /// Use `stream` from now on (`None`: there is none).
    fn set(&self, socket: Option<Stream>) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = socket;
    }

    /// Shut the connection down both ways: its reader sees it gone.
    pub fn cut(&self) {
        if let Some(s) = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            let _ = s.socket().shutdown(Shutdown::Both);
        }
    }

    /// Write `bytes` to the connection; whether they were taken.
    pub fn write_all(&self, bytes: &[u8]) -> bool {
        let mut g = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        g.as_mut().is_some_and(|s| s.write_all(bytes).is_ok())
    }
}

/// How the front ends connect again: the same server, its key checked again (the one the run
/// joined with), lines typed meanwhile held by the outbox and written to the new connection
/// once joined.
pub struct Link {
    /// Where the server is, and the key to trust ([`Target::joined_with`]).
    pub target: Target,
    /// What sends typed lines.
    pub outbox: Outbox,
    /// A bound on each write (scripts: a server that stops reading must not hang them).
    pub write_timeout: Option<Duration>,
    /// The socket in use.
    pub current: Current,
    /// Where a note on the way goes (a key remembered): not the chat's stdout.
    pub notes: Arc<dyn Fn(&str) + Send + Sync>,
}

impl Link {
    /// Come back on its own through this link (jitter from [`random_unit`]).
    pub fn reconnect(self) -> Box<Reconnect<Link>> {
        Box::new(Reconnect::new(self, Box::new(random_unit)))
    }
}

impl Connector<Stream> for Link {
    fn lost(&mut self) {
        self.outbox.pause();
        // Closed at once: a server that is shutting down waits for its clients' EOF (up to
        // its flush deadline) before it exits, and the restart with it.
        self.current.cut();
        self.current.set(None);
    }

    fn join(&mut self, name: &str) -> Result<Conn, JoinError> {
        // Nobody is asked in the middle of the chat: the key must be the one trusted.
        let notes = Arc::clone(&self.notes);
        let mut asker = NoAsker(move |text: &str| notes(text));
        self.target.join(name, &mut asker).map(|joined| joined.conn)
    }

    fn resume(&mut self, conn: &Conn) -> io::Result<()> {
        let writer = self.current.attach(conn, self.write_timeout)?;
        self.outbox.connect(Box::new(writer));
        Ok(())
    }
}

/// Joining `addr` failed: as `main` shows it (a trust failure with its own words and exit
/// code; an IO error in plain words after the address; being kept out with its exit code).
fn join_failed(e: JoinError, addr: &ServerAddr) -> anyhow::Error {
    match e {
        JoinError::Connect(failure) => failure.into(),
        JoinError::Io(e) => anyhow::anyhow!("{addr}: {}", plain_io(&e)),
        e => e.into(),
    }
}

/// Say that `n` queued lines were dropped.
fn not_sent(screen: &Screen, n: usize) {
    if n > 0 {
        let s = if n == 1 { "" } else { "s" };
        screen.print(format!("* stopped: {n} line{s} not sent"));
    }
}

/// After a failed send: the reader thread will see the end soon; take its words.
fn gone_after_failed_send(session: &Mutex<Session>, ended: &EndSlot) -> Outcome {
    ended.ack();
    ended.wait_until(Instant::now() + Duration::from_secs(1));
    lock(session)
        .outcome()
        .cloned()
        .unwrap_or_else(|| Outcome::ServerGone("lost the connection to the server".into()))
}
