//! The terminal front end: prompts, rustyline, the external printer.

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor, EventHandler, KeyEvent};

use lanchat_client::addr::ServerAddr;
use lanchat_client::clock::{local_hhmm, now_ms};
use lanchat_client::conn::{plain_io, Conn, NameReply, CONNECT_TIMEOUT};
use lanchat_client::discovery::{self, Pick};
use lanchat_client::editor::{ChatHelper, ClearOrInterrupt};
use lanchat_client::outbox::{Outbox, Sent};
use lanchat_client::reader::{self, Sink};
use lanchat_client::render::Style;
use lanchat_client::session::{Action, EndSlot, Outcome, Session};
use lanchat_client::signals::{self, InterruptFlag};
use lanchat_proto::client::is_quit;

use super::{gone_after_failed_send, leave, lock, quit, run_discovery, Args, Shared, StdoutSink};

/// How often the reader thread repeats its wake-up signal until the main thread has seen it
/// (a signal that lands between two `readline` calls only sets the interrupt flag).
const WAKE_EVERY: Duration = Duration::from_millis(100);

/// Prints through rustyline, above the line being edited; wakes the main thread out of
/// `readline` when the session ends.
struct Printer<P> {
    printer: P,
    ended: Arc<EndSlot>,
}

impl<P: rustyline::ExternalPrinter + Send> Sink for Printer<P> {
    fn print(&mut self, mut line: String) {
        // Raw mode adds the newline itself only when missing; cooked mode writes as is.
        line.push('\n');
        let _ = self.printer.print(line);
    }

    fn end(&mut self, outcome: Outcome) {
        self.ended.set(outcome);
        while !self.ended.is_acked() {
            let _ = signals::wake_main();
            std::thread::sleep(WAKE_EVERY);
        }
    }
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
fn ask_address(rl: &mut Rl, args: &Args, mut discover_now: bool) -> anyhow::Result<Option<String>> {
    loop {
        if discover_now {
            discover_now = false;
            let found = run_discovery(args, &mut |l| println!("{l}"));
            if found.is_empty() {
                println!("Type the server's address instead (ask whoever runs it).");
            } else {
                loop {
                    let Some(answer) = prompt(rl, "Pick a number, or type an address: ")? else {
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

/// Connect: the address from the command line first, then whatever the user types, until a
/// server greets us. `None` if the user gave up.
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

/// Offer names until one is accepted: the connection, the name and the welcome text. `None`
/// if the user gave up.
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
        match conn.offer_name(&name) {
            Ok(NameReply::Welcome { name, text }) => return Ok(Some((conn, name, text))),
            Ok(NameReply::Refused { text }) => println!("{text}"),
            // Most likely the server stopped waiting while the name was being typed (its
            // handshake timeout): connect again once and offer the same name.
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

/// Ctrl-C on a terminal rustyline cannot drive: before joining, leave at once (0, as a driven
/// terminal gives, not the 130 of being killed); once joined, the kernel has already discarded
/// the line being typed, so it means "quit": send it, and leave with 3 if the server does not
/// answer in time (the reader thread leaves with 0 on the answer).
fn leave_on_interrupt(joined: Arc<OnceLock<(Shared, Mutex<TcpStream>)>>) -> anyhow::Result<()> {
    signals::on_interrupt(move || match joined.get() {
        None => signals::exit_now(0),
        Some((session, writer)) => {
            let Some(bytes) = lock(session).on_quit(Instant::now()) else {
                return;
            };
            let sent = writer
                .lock()
                .map(|mut w| w.write_all(&bytes).is_ok())
                .unwrap_or(false);
            let deadline = lock(session).quit_deadline();
            if let (true, Some(deadline)) = (sent, deadline) {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            }
            let outcome = lock(session).on_quit_timeout();
            leave(&outcome);
        }
    })
    .context("setting up Ctrl-C")
}

pub fn run(args: &Args) -> anyhow::Result<Outcome> {
    let config = Config::builder().auto_add_history(false).build();
    let mut rl: Rl = Editor::with_config(config).context("setting up the terminal")?;
    // Rustyline may not be able to drive this terminal (e.g. TERM=dumb): then it reads cooked
    // lines, Ctrl-C is a signal, and lines from the server are printed plainly.
    let printer = rl.create_external_printer();
    // A terminal rustyline cannot drive gets no colour escapes either.
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    let color =
        std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && !dumb && printer.is_ok();
    let style = Style {
        color,
        timestamps: !args.no_timestamps,
        bell: !args.no_bell,
    };
    // Named once the server accepts a name (the welcome).
    let session: Shared = Arc::new(Mutex::new(Session::new("", style, local_hhmm)));
    rl.set_helper(Some(ChatHelper::new(Arc::clone(&session))));
    rl.bind_sequence(
        KeyEvent::ctrl('C'),
        EventHandler::Conditional(Box::new(ClearOrInterrupt)),
    );

    let dumb_joined = Arc::new(OnceLock::new());
    if printer.is_err() {
        leave_on_interrupt(Arc::clone(&dumb_joined))?;
    }
    let Some((conn, addr)) = connect(&mut rl, args)? else {
        return Ok(Outcome::Quit);
    };
    let Some((conn, name, welcome)) = join(&mut rl, args, conn, &addr)? else {
        return Ok(Outcome::Quit);
    };
    for action in lock(&session).welcome(&name, &welcome, now_ms()) {
        if let Action::Print(l) = action {
            println!("{l}");
        }
    }

    let writer = conn
        .try_clone_stream()
        .context("setting up the connection")?;
    let ended = EndSlot::new();
    let interrupted = match printer {
        Ok(printer) => {
            let flag = InterruptFlag::register().context("setting up Ctrl-C")?;
            let sink = Printer {
                printer,
                ended: Arc::clone(&ended),
            };
            reader::spawn(conn, Arc::clone(&session), Box::new(sink))
                .context("starting the reader thread")?;
            Some(flag)
        }
        // Rustyline cannot drive this terminal: it reads cooked lines, Ctrl-C quits (above),
        // and the reader thread ends the process itself.
        Err(_) => {
            let plain = writer.try_clone().context("setting up the connection")?;
            let _ = dumb_joined.set((Arc::clone(&session), Mutex::new(plain)));
            reader::spawn(conn, Arc::clone(&session), Box::new(StdoutSink))
                .context("starting the reader thread")?;
            None
        }
    };

    let mut outbox = Outbox::new(writer, Instant::now());
    loop {
        if let Some(out) = ended.get() {
            ended.ack();
            return Ok(out);
        }
        if interrupted.as_ref().is_some_and(InterruptFlag::take) {
            return Ok(quit(&mut outbox, &session, &ended));
        }
        let prompt = lock(&session).prompt();
        match rl.readline(&prompt) {
            Ok(line) => {
                // A paste can bring several lines at once; each is one chat line.
                for part in line.split(['\n', '\r']) {
                    if !part.trim().is_empty() {
                        let _ = rl.add_history_entry(part);
                    }
                    match outbox.send_typed(part) {
                        Ok(Sent::Skipped | Sent::Sent) => {}
                        Ok(Sent::Quit) => return Ok(quit(&mut outbox, &session, &ended)),
                        Err(_) => return Ok(gone_after_failed_send(&session, &ended)),
                    }
                }
            }
            Err(ReadlineError::Interrupted) => {
                if let Some(out) = ended.get() {
                    ended.ack();
                    return Ok(out);
                }
                return Ok(quit(&mut outbox, &session, &ended));
            }
            Err(ReadlineError::Eof) => return Ok(quit(&mut outbox, &session, &ended)),
            Err(e) => return Err(e).context("reading the terminal"),
        }
    }
}
