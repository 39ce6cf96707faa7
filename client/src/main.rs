//! `lanchat`: chat on a lanchat server from the terminal.
//!
//! Thin glue around `lanchat_client`: flags, then one of two front ends.
//!
//! - **Interactive** (stdin and stdout are terminals): rustyline prompts for the address and
//!   name, then edits chat lines on the main thread while a reader thread prints what arrives
//!   through rustyline's `ExternalPrinter`, above the line being typed.
//! - **Scripted** (otherwise): no prompts, no line editor; stdin lines are sent, received lines
//!   go to stdout rendered without colour.
//!
//! Exit codes: 0 after quitting (the server answered the quit), 1 when no server could be
//! joined, 2 for bad flags (clap), 3 when the server went away or did not answer the quit.

use std::io::{self, BufRead, IsTerminal, Write};
use std::net::{IpAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor, EventHandler, KeyEvent};

use lanchat_client::addr::ServerAddr;
use lanchat_client::clock::{local_hhmm, now_ms};
use lanchat_client::conn::{encode_line, plain_io, Conn, NameReply, CONNECT_TIMEOUT};
use lanchat_client::discovery::{self, Found, Pick};
use lanchat_client::editor::{ChatHelper, ClearOrInterrupt};
use lanchat_client::members::{Change, Members};
use lanchat_client::render::{Renderer, Style};
use lanchat_client::sanitize::sanitize;
use lanchat_proto::client::is_quit;
use lanchat_proto::{bucket, validate_name, ServerMsg, DEFAULT_PORT};

/// How long to wait for the server's `BYE` after sending the quit.
const QUIT_WAIT: Duration = Duration::from_secs(3);
/// The client sends at most this many lines per second (piped input, pastes) ...
const SEND_RATE: f64 = bucket::DEFAULT_RATE - 1.0;
/// ... after a first burst of this many: just inside the server's default flood control
/// (10/s, bursts of 20, of which the name takes one).
const SEND_BURST: u32 = bucket::DEFAULT_BURST - 2;
/// Scripted mode gives up on a server that takes no bytes for this long.
const SCRIPTED_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Spaces out sends: the protocol's token bucket, slept on until a token is due. A person
/// typing never meets it; piped input and a pasted block of more lines than the server's
/// burst do.
struct Pacer(bucket::TokenBucket);

impl Pacer {
    fn new(rate: f64, burst: u32) -> Self {
        Pacer(bucket::TokenBucket::new(
            rate,
            burst,
            std::time::Instant::now(),
        ))
    }

    fn wait(&mut self) {
        loop {
            let now = std::time::Instant::now();
            if self.0.take(now) {
                return;
            }
            std::thread::sleep(self.0.wait_time(now));
        }
    }
}
/// Exit code when the server went away.
const EXIT_SERVER_GONE: u8 = 3;

/// Chat on your LAN: connect to a lanchat server and talk.
#[derive(Debug, Parser)]
#[command(name = "lanchat", version, after_help = AFTER_HELP)]
struct Args {
    /// Server address: host, host:port, ip, ip:port or [v6]:port (port 7070 unless given).
    /// Asked for when missing.
    #[arg(value_name = "ADDR")]
    addr: Option<String>,

    /// Your name (asked for when missing; without a terminal, the first line of stdin).
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    name: Option<String>,

    /// Look for servers on the local network first (UDP broadcast), then pick one.
    #[arg(long, conflicts_with = "addr")]
    discover: bool,

    /// UDP port to send discovery probes to.
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_PORT)]
    discover_port: u16,

    /// Send discovery probes to this address instead of broadcasting (repeatable), e.g. a
    /// server on another subnet.
    #[arg(long, value_name = "IP", value_parser = parse_ipv4)]
    discover_to: Vec<IpAddr>,

    /// Do not ring the terminal bell when someone mentions you or writes to you privately.
    #[arg(long)]
    no_bell: bool,

    /// Do not show [HH:MM] timestamps.
    #[arg(long)]
    no_timestamps: bool,
}

const AFTER_HELP: &str = "\
In the chat: <quit>, /quit or Ctrl-D leaves; Ctrl-C clears the line (on an empty line, leaves);
Tab completes names; /help lists the server's commands. At the address prompt, ? looks for
servers on the local network. NO_COLOR (or TERM=dumb) turns colours off.";

/// How a run ended, when it ended without an error.
enum Outcome {
    /// The user left.
    Quit,
    /// The server went away; the line says how.
    ServerGone(String),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let interactive = io::stdin().is_terminal() && io::stdout().is_terminal();
    let result = if interactive {
        interactive::run(&args)
    } else {
        scripted::run(&args)
    };
    match result {
        Ok(Outcome::Quit) => ExitCode::SUCCESS,
        Ok(Outcome::ServerGone(why)) => {
            eprintln!("lanchat: {why}");
            ExitCode::from(EXIT_SERVER_GONE)
        }
        Err(e) => {
            eprintln!("lanchat: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `--name`: checked by the protocol's own rules before anything is sent, so a name the server
/// would refuse (or a blank one, which it would not even answer) is a clear flag error.
fn parse_name(s: &str) -> Result<String, String> {
    let name = s.trim();
    validate_name(name).map_err(|e| e.to_string())?;
    Ok(name.to_owned())
}

/// `--discover-to`: discovery probes go out on an IPv4 UDP socket (LAN broadcast is IPv4).
fn parse_ipv4(s: &str) -> Result<IpAddr, String> {
    match s.parse::<IpAddr>() {
        Ok(ip @ IpAddr::V4(_)) => Ok(ip),
        Ok(IpAddr::V6(_)) => Err("discovery is IPv4 only; give an IPv4 address".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Where discovery sends its probe.
fn discovery_targets(args: &Args) -> Vec<IpAddr> {
    if args.discover_to.is_empty() {
        discovery::broadcast_targets()
    } else {
        args.discover_to.clone()
    }
}

/// Look for servers, telling the user what happens through `say`.
fn run_discovery(args: &Args, say: &mut dyn FnMut(&str)) -> Vec<Found> {
    say(&format!(
        "Looking for lanchat servers on the local network (UDP port {}) ...",
        args.discover_port
    ));
    match discovery::discover(
        &discovery_targets(args),
        args.discover_port,
        discovery::DEFAULT_WAIT,
    ) {
        Ok(found) if found.is_empty() => {
            say("No lanchat server answered.");
            found
        }
        Ok(found) => {
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

/// Set by the SIGINT handler of a terminal rustyline cannot drive, after it sent the quit.
static QUIT_BY_SIGNAL: AtomicBool = AtomicBool::new(false);

/// State the reader thread and the main thread share.
struct Shared {
    /// The main thread sent the quit; a `BYE` or EOF now is the expected end.
    quitting: AtomicBool,
    /// Why the server went away, once it has.
    gone: Mutex<Option<String>>,
    /// The main thread has seen `gone` (stops the reader's wake-up signals).
    acked: AtomicBool,
    /// After the quit, the server answered (`BYE`, or an orderly close): everything sent
    /// before it was read.
    confirmed: AtomicBool,
}

impl Shared {
    /// `acked` starts true where nobody needs waking (scripted mode).
    fn new(acked: bool) -> Arc<Shared> {
        Arc::new(Shared {
            quitting: AtomicBool::new(false),
            gone: Mutex::new(None),
            acked: AtomicBool::new(acked),
            confirmed: AtomicBool::new(false),
        })
    }
}

/// What the reader thread does with what it reads.
trait Sink: Send {
    /// Show one rendered line.
    fn print(&mut self, line: String);
    /// The server went away (not after our quit): `why` says how.
    fn gone(&mut self, why: String);
    /// Our quit was answered (or the connection ended after it).
    fn quit_done(&mut self) {}
}

/// Prints rendered lines straight to stdout, one flush per line so a reader sees them at once:
/// scripted mode, and terminals rustyline cannot drive (e.g. `TERM=dumb`). In both the main
/// thread may sit in a read that nothing interrupts (stdin, or a cooked-mode line), so the end
/// is acted on here.
struct StdoutSink {
    /// Exit 0 once our quit is answered (the terminal case; in scripted mode the main thread
    /// is waiting for that and exits itself).
    exit_on_quit: bool,
}

impl Sink for StdoutSink {
    fn print(&mut self, line: String) {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    fn gone(&mut self, why: String) {
        let _ = io::stdout().flush();
        eprintln!("lanchat: {why}");
        std::process::exit(i32::from(EXIT_SERVER_GONE));
    }
    fn quit_done(&mut self) {
        if self.exit_on_quit {
            std::process::exit(0);
        }
    }
}

/// Start the reader thread; the receiver hears once when it has ended.
fn spawn_reader(
    conn: Conn,
    members: &Arc<Mutex<Members>>,
    renderer: Renderer,
    shared: &Arc<Shared>,
    sink: Box<dyn Sink>,
) -> anyhow::Result<Receiver<()>> {
    let (done_tx, done_rx) = mpsc::channel();
    let (members, shared) = (Arc::clone(members), Arc::clone(shared));
    std::thread::Builder::new()
        .name("server reader".into())
        .spawn(move || read_loop(conn, members, renderer, shared, done_tx, sink))
        .context("starting the reader thread")?;
    Ok(done_rx)
}

/// The reader thread: decode, track members, render, print; report the end.
fn read_loop(
    mut conn: Conn,
    members: Arc<Mutex<Members>>,
    mut renderer: Renderer,
    shared: Arc<Shared>,
    done: Sender<()>,
    mut sink: Box<dyn Sink>,
) {
    let why = loop {
        let line = match conn.read_line(None) {
            Ok(Some(line)) => line,
            Ok(None) => {
                if shared.quitting.load(Ordering::SeqCst) {
                    shared.confirmed.store(true, Ordering::SeqCst);
                }
                break "the server closed the connection".to_owned();
            }
            Err(e) => break format!("lost the connection to the server: {}", plain_io(&e)),
        };
        // Kinds from a newer protocol, and malformed lines, are skipped.
        let Ok(msg) = ServerMsg::parse(&line) else {
            continue;
        };
        if let ServerMsg::Bye { text } = msg {
            if shared.quitting.load(Ordering::SeqCst) || QUIT_BY_SIGNAL.load(Ordering::SeqCst) {
                shared.confirmed.store(true, Ordering::SeqCst);
                break String::new();
            }
            break format!("the server closed the connection: {}", sanitize(text));
        }
        let (change, me) = match members.lock() {
            Ok(mut m) => {
                let change = m.apply(&msg);
                (change, m.me().to_owned())
            }
            Err(_) => (Change::None, String::new()),
        };
        for l in renderer.render(&msg, &change, &me, now_ms()) {
            sink.print(l);
        }
    };
    if shared.quitting.load(Ordering::SeqCst) || QUIT_BY_SIGNAL.load(Ordering::SeqCst) {
        let _ = done.send(());
        sink.quit_done();
        return;
    }
    if let Ok(mut g) = shared.gone.lock() {
        *g = Some(why.clone());
    }
    let _ = done.send(());
    sink.gone(why);
}

/// Send the quit and wait (bounded) for the reader to see `BYE` or the end. Without that
/// answer the lines sent last may never have arrived, so the run ends as "server gone" (exit
/// 3), not as a clean quit.
fn quit(writer: &mut TcpStream, shared: &Shared, done: &Receiver<()>) -> Outcome {
    shared.quitting.store(true, Ordering::SeqCst);
    if writer.write_all(&encode_line("/quit")).is_ok() {
        let _ = done.recv_timeout(QUIT_WAIT);
    }
    if shared.confirmed.load(Ordering::SeqCst) {
        Outcome::Quit
    } else {
        Outcome::ServerGone(format!(
            "the server did not answer the quit within {} s; what was sent last may not have \
             arrived",
            QUIT_WAIT.as_secs()
        ))
    }
}

/// Send one typed line; `false` when the socket is gone.
fn send(writer: &mut TcpStream, line: &str) -> bool {
    writer.write_all(&encode_line(line)).is_ok()
}

/// After a failed send: the reader thread will have seen the end; take its words.
fn gone_after_failed_send(shared: &Shared, done: &Receiver<()>) -> Outcome {
    let _ = done.recv_timeout(Duration::from_secs(1));
    let why = shared
        .gone
        .lock()
        .ok()
        .and_then(|g| g.clone())
        .unwrap_or_else(|| "lost the connection to the server".to_owned());
    Outcome::ServerGone(why)
}

mod interactive {
    //! The terminal front end: prompts, rustyline, the external printer.

    use super::*;

    /// Set by our SIGINT handler when a SIGINT arrives outside the line editor.
    static SIGINT_SEEN: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_sigint(_: libc::c_int) {
        SIGINT_SEEN.store(true, Ordering::SeqCst);
    }

    /// Install a SIGINT handler that only sets a flag. Rustyline installs its own while it
    /// reads a line (a SIGINT then ends `readline` with `Interrupted`) and puts this one back
    /// after; between lines, a SIGINT must not kill the process with the terminal half set up.
    fn catch_sigint() {
        install(libc::SIGINT, on_sigint, 0);
    }

    /// Install `handler` for `sig`. Every handler given here does only async-signal-safe
    /// things (atomic stores, write(2), alarm(2), _exit(2)).
    fn install(sig: libc::c_int, handler: extern "C" fn(libc::c_int), flags: libc::c_int) {
        // SAFETY: the sigaction struct is fully initialised before the call, and the handler
        // is async-signal-safe (above).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as libc::sighandler_t;
            sa.sa_flags = flags;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }

    /// Wake the main thread out of `readline`: rustyline turns a SIGINT into `Interrupted`.
    /// Repeated until the main thread says it has seen it, since a signal that lands between
    /// two `readline` calls only sets [`SIGINT_SEEN`].
    fn interrupt_main(shared: &Shared) {
        while !shared.acked.load(Ordering::SeqCst) {
            // SAFETY: kill(2) to our own pid; no memory is involved.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGINT);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Prints through rustyline, above the line being edited.
    struct Printer<P> {
        printer: P,
        shared: Arc<Shared>,
    }

    impl<P: rustyline::ExternalPrinter + Send> Sink for Printer<P> {
        fn print(&mut self, mut line: String) {
            // Raw mode adds the newline itself only when missing; cooked mode writes as is.
            line.push('\n');
            let _ = self.printer.print(line);
        }
        fn gone(&mut self, _why: String) {
            interrupt_main(&self.shared);
        }
    }

    /// The socket the SIGINT handler of a plain terminal writes its quit to (-1: none yet).
    static PLAIN_SOCKET: AtomicI32 = AtomicI32::new(-1);
    const QUIT_BYTES: &[u8] = b"/quit\n";

    /// Ctrl-C in a terminal rustyline cannot drive: the kernel has already discarded the line
    /// being typed, so this is "quit": send it from the handler (write(2) is
    /// async-signal-safe) and let the reader thread exit on the `BYE`; `alarm` bounds the wait.
    extern "C" fn on_sigint_plain(_: libc::c_int) {
        let fd = PLAIN_SOCKET.load(Ordering::SeqCst);
        if fd >= 0 && !QUIT_BY_SIGNAL.swap(true, Ordering::SeqCst) {
            // SAFETY: write(2) and alarm(2) are async-signal-safe; the buffer is static.
            unsafe {
                libc::write(fd, QUIT_BYTES.as_ptr().cast(), QUIT_BYTES.len());
                libc::alarm(QUIT_WAIT.as_secs() as libc::c_uint);
            }
        }
    }

    /// No `BYE` within the wait after a Ctrl-C: leave anyway, with the exit code of a quit
    /// the server did not answer (3), as everywhere else.
    extern "C" fn on_sigalrm_plain(_: libc::c_int) {
        // SAFETY: _exit(2) is async-signal-safe.
        unsafe { libc::_exit(i32::from(EXIT_SERVER_GONE)) }
    }

    fn catch_sigint_plain(socket: &TcpStream) {
        use std::os::fd::AsRawFd;
        PLAIN_SOCKET.store(socket.as_raw_fd(), Ordering::SeqCst);
        // SA_RESTART keeps the main thread's read going (the reader thread ends the process).
        install(libc::SIGINT, on_sigint_plain, libc::SA_RESTART);
        install(libc::SIGALRM, on_sigalrm_plain, libc::SA_RESTART);
    }

    /// Ctrl-C at the address or name prompt of a terminal rustyline cannot drive: nothing is
    /// joined yet, so leave at once, with the 0 a driven terminal gives (not the 130 of being
    /// killed). Replaced by [`catch_sigint_plain`] once joined.
    extern "C" fn on_sigint_before_join(_: libc::c_int) {
        // SAFETY: _exit(2) is async-signal-safe.
        unsafe { libc::_exit(0) }
    }

    fn leave_on_sigint() {
        install(libc::SIGINT, on_sigint_before_join, 0);
    }

    type Rl = Editor<ChatHelper, DefaultHistory>;

    /// One line from a prompt; `None` when the user pressed Ctrl-D or Ctrl-C.
    fn prompt(rl: &mut Rl, text: &str) -> anyhow::Result<Option<String>> {
        match rl.readline(text) {
            Ok(line) => Ok(Some(line.trim().to_owned())),
            Err(ReadlineError::Eof | ReadlineError::Interrupted) => Ok(None),
            Err(e) => Err(e).context("reading the terminal"),
        }
    }

    /// Ask for the server address (`?` looks for servers); `None` if the user gave up.
    fn ask_address(
        rl: &mut Rl,
        args: &Args,
        mut discover_now: bool,
    ) -> anyhow::Result<Option<String>> {
        loop {
            if discover_now {
                discover_now = false;
                let found = run_discovery(args, &mut |l| println!("{l}"));
                if found.is_empty() {
                    println!("Type the server's address instead (ask whoever runs it).");
                } else {
                    loop {
                        let Some(answer) = prompt(rl, "Pick a number, or type an address: ")?
                        else {
                            return Ok(None);
                        };
                        match discovery::pick(&answer, &found) {
                            Pick::Server(a) => return Ok(Some(a.to_string())),
                            Pick::OutOfRange(n) => println!("There is no {n} on the list."),
                            Pick::Typed(t) if t == "?" => {
                                discover_now = true;
                                break;
                            }
                            Pick::Typed(t) if t.is_empty() => {}
                            Pick::Typed(t) => return Ok(Some(t)),
                        }
                    }
                    continue;
                }
            }
            let Some(answer) = prompt(rl, "Server address: ")? else {
                return Ok(None);
            };
            match answer.as_str() {
                "" => {}
                "?" => discover_now = true,
                a => return Ok(Some(a.to_owned())),
            }
        }
    }

    /// Connect: the address from the command line first, then whatever the user types, until
    /// a server greets us. `None` if the user gave up.
    fn connect(rl: &mut Rl, args: &Args) -> anyhow::Result<Option<(Conn, ServerAddr)>> {
        let mut given = args.addr.clone();
        let mut discover_first = args.discover;
        loop {
            let typed = match given.take() {
                Some(a) => a,
                None => match ask_address(rl, args, std::mem::take(&mut discover_first))? {
                    Some(a) => a,
                    None => return Ok(None),
                },
            };
            let addr = match ServerAddr::parse(&typed) {
                Ok(a) => a,
                Err(e) => {
                    println!("{typed:?} is not an address: {e}.");
                    continue;
                }
            };
            match Conn::connect(&addr, CONNECT_TIMEOUT) {
                Ok((conn, _hello)) => return Ok(Some((conn, addr))),
                Err(e) => println!("{e}"),
            }
        }
    }

    /// Offer names until one is accepted. `None` if the user gave up.
    fn join(
        rl: &mut Rl,
        args: &Args,
        mut conn: Conn,
        addr: &ServerAddr,
    ) -> anyhow::Result<Option<(Conn, String, String)>> {
        let mut given = args.name.clone();
        let mut reconnected = false;
        loop {
            let name = match given.take() {
                Some(n) => n,
                None => match prompt(rl, "Your name: ")? {
                    Some(n) if n.is_empty() => continue,
                    Some(n) => {
                        reconnected = false;
                        n
                    }
                    None => {
                        let _ = conn.send_line("/quit");
                        return Ok(None);
                    }
                },
            };
            if is_quit(&name) {
                let _ = conn.send_line("/quit");
                return Ok(None);
            }
            let reply = conn.offer_name(&name);
            match reply {
                Ok(NameReply::Welcome { name, text }) => return Ok(Some((conn, name, text))),
                Ok(NameReply::Refused { text }) => println!("{text}"),
                // Most likely the server stopped waiting while the name was being typed
                // (its handshake timeout): connect again once and offer the same name.
                Ok(NameReply::Closed { .. }) | Err(_) if !reconnected => {
                    reconnected = true;
                    conn = Conn::connect(addr, CONNECT_TIMEOUT)?.0;
                    given = Some(name);
                }
                Ok(NameReply::Closed { text }) => bail!("{} closed the connection: {text}", addr),
                Err(e) => bail!("{addr}: {}", plain_io(&e)),
            }
        }
    }

    pub(super) fn run(args: &Args) -> anyhow::Result<Outcome> {
        let members = Arc::new(Mutex::new(Members::new("")));
        let config = Config::builder().auto_add_history(false).build();
        let mut rl: Rl = Editor::with_config(config).context("setting up the terminal")?;
        rl.set_helper(Some(ChatHelper {
            members: Arc::clone(&members),
        }));
        rl.bind_sequence(
            KeyEvent::ctrl('C'),
            EventHandler::Conditional(Box::new(ClearOrInterrupt)),
        );

        // Rustyline may not be able to drive this terminal (e.g. TERM=dumb): then it reads
        // cooked lines, Ctrl-C is a signal, and lines from the server are printed plainly.
        let printer = rl.create_external_printer();
        if printer.is_err() {
            leave_on_sigint();
        }
        let Some((conn, addr)) = connect(&mut rl, args)? else {
            return Ok(Outcome::Quit);
        };
        let Some((conn, name, welcome)) = join(&mut rl, args, conn, &addr)? else {
            return Ok(Outcome::Quit);
        };

        // A terminal rustyline cannot drive gets no colour escapes either.
        let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
        let color =
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && !dumb && printer.is_ok();
        let style = Style {
            color,
            timestamps: !args.no_timestamps,
            bell: !args.no_bell,
        };
        let mut renderer = Renderer::new(style, local_hhmm);
        let welcome_msg = ServerMsg::Welcome {
            name: &name,
            text: &welcome,
        };
        let change = members
            .lock()
            .map(|mut m| m.apply(&welcome_msg))
            .unwrap_or(Change::None);
        for l in renderer.render(&welcome_msg, &change, &name, now_ms()) {
            println!("{l}");
        }

        let shared = Shared::new(false);
        let mut writer = conn
            .try_clone_stream()
            .context("setting up the connection")?;
        let sink: Box<dyn Sink> = match printer {
            Ok(printer) => {
                catch_sigint();
                Box::new(Printer {
                    printer,
                    shared: Arc::clone(&shared),
                })
            }
            // Rustyline cannot drive this terminal (e.g. TERM=dumb): it reads cooked lines,
            // Ctrl-C (which the kernel turns into SIGINT after discarding the typed line)
            // quits, and the reader thread ends the process itself.
            Err(_) => {
                catch_sigint_plain(&writer);
                Box::new(StdoutSink { exit_on_quit: true })
            }
        };
        let done_rx = spawn_reader(conn, &members, renderer, &shared, sink)?;

        let gone = |shared: &Shared| -> Option<Outcome> {
            let why = shared.gone.lock().ok()?.clone()?;
            shared.acked.store(true, Ordering::SeqCst);
            Some(Outcome::ServerGone(why))
        };
        let mut pace = Pacer::new(SEND_RATE, SEND_BURST);
        loop {
            if let Some(out) = gone(&shared) {
                return Ok(out);
            }
            if SIGINT_SEEN.swap(false, Ordering::SeqCst) {
                return Ok(quit(&mut writer, &shared, &done_rx));
            }
            let me = members
                .lock()
                .map(|m| m.me().to_owned())
                .unwrap_or_default();
            match rl.readline(&format!("{}> ", sanitize(&me))) {
                Ok(line) => {
                    // A paste can bring several lines at once; each is one chat line.
                    for part in line.split(['\n', '\r']) {
                        if part.trim().is_empty() {
                            continue;
                        }
                        let _ = rl.add_history_entry(part);
                        if is_quit(part) {
                            return Ok(quit(&mut writer, &shared, &done_rx));
                        }
                        // A paste of more lines than the server's burst would lose the rest
                        // to its flood control.
                        pace.wait();
                        if !send(&mut writer, part) {
                            shared.acked.store(true, Ordering::SeqCst);
                            return Ok(gone_after_failed_send(&shared, &done_rx));
                        }
                    }
                }
                Err(ReadlineError::Interrupted) => {
                    if let Some(out) = gone(&shared) {
                        return Ok(out);
                    }
                    return Ok(quit(&mut writer, &shared, &done_rx));
                }
                Err(ReadlineError::Eof) => return Ok(quit(&mut writer, &shared, &done_rx)),
                Err(e) => return Err(e).context("reading the terminal"),
            }
        }
    }
}

mod scripted {
    //! Without a terminal: stdin lines in, rendered lines out.

    use super::*;

    pub(super) fn run(args: &Args) -> anyhow::Result<Outcome> {
        let addr = match (&args.addr, args.discover) {
            (Some(a), _) => ServerAddr::parse(a).map_err(|e| anyhow::anyhow!("{a:?}: {e}"))?,
            (None, true) => {
                let found = run_discovery(args, &mut |l| eprintln!("{l}"));
                match found.as_slice() {
                    [one] => ServerAddr::from(one.addr),
                    [] => bail!("no server found; give its address as ADDR"),
                    _ => bail!("several servers answered; give one as ADDR"),
                }
            }
            (None, false) => bail!(
                "no server address: give it as ADDR (or --discover); \
                 without a terminal there is no prompt"
            ),
        };
        // The name first: connecting before it is known would start the server's handshake
        // clock while a slow producer is still thinking.
        let stdin = io::stdin();
        // Bytes, not `lines()`: one line that is not UTF-8 must not end the whole script. It
        // is sent with U+FFFD in place of the bad bytes (the server would refuse it raw).
        let mut lines = stdin
            .lock()
            .split(b'\n')
            .map(|line| line.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()));
        let name = match &args.name {
            Some(n) => n.clone(),
            None => loop {
                match lines.next() {
                    Some(Ok(l)) if l.trim().is_empty() => {}
                    Some(Ok(l)) => break l.trim().to_owned(),
                    Some(Err(e)) => return Err(e).context("reading stdin"),
                    None => bail!("no name: give --name or make it the first line of stdin"),
                }
            },
        };
        let (mut conn, _hello) = Conn::connect(&addr, CONNECT_TIMEOUT)?;
        let (name, welcome) = match conn.offer_name(&name)? {
            NameReply::Welcome { name, text } => (name, text),
            NameReply::Refused { text } => bail!("name {name:?} refused: {text}"),
            NameReply::Closed { text } => bail!("{addr} closed the connection: {text}"),
        };

        let members = Arc::new(Mutex::new(Members::new(&name)));
        let style = Style {
            timestamps: !args.no_timestamps,
            ..Style::PLAIN
        };
        let mut renderer = Renderer::new(style, local_hhmm);
        let welcome_msg = ServerMsg::Welcome {
            name: &name,
            text: &welcome,
        };
        for l in renderer.render(&welcome_msg, &Change::None, &name, now_ms()) {
            StdoutSink {
                exit_on_quit: false,
            }
            .print(l);
        }
        let shared = Shared::new(true);
        let mut writer = conn
            .try_clone_stream()
            .context("setting up the connection")?;
        // A server that stops reading (stopped, wedged) must not hang a script for ever.
        writer
            .set_write_timeout(Some(SCRIPTED_WRITE_TIMEOUT))
            .context("setting up the connection")?;
        let sink = Box::new(StdoutSink {
            exit_on_quit: false,
        });
        let done_rx = spawn_reader(conn, &members, renderer, &shared, sink)?;
        let mut pace = Pacer::new(SEND_RATE, SEND_BURST);
        for line in lines {
            let line = line.context("reading stdin")?;
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if line.trim().is_empty() {
                continue;
            }
            if is_quit(line) {
                break;
            }
            // Piped input arrives all at once; the server's flood control (by default 10
            // lines/s, bursts of 20, the name included) would drop what exceeds it. Keep under.
            pace.wait();
            if !send(&mut writer, line) {
                return Ok(gone_after_failed_send(&shared, &done_rx));
            }
        }
        Ok(quit(&mut writer, &shared, &done_rx))
    }
}
