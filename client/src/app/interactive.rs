//! The terminal front end: prompts, rustyline, the external printer. What joining decides
//! (names, the password, connecting again) is `lanchat_client::join`'s; this only asks.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rustyline::error::ReadlineError;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::history::DefaultHistory;
use rustyline::{Config, Editor, EventHandler, GraphemeClusterMode, KeyCode, KeyEvent, Modifiers};

use lanchat_client::addr::ServerAddr;
use lanchat_client::clock::now_ms;
use lanchat_client::conn::Conn;
use lanchat_client::connect::{
    connect as join_server, Asker, JoinError, Joined, Secured, Security, Target,
};
use lanchat_client::discovery::{self, Pick};
use lanchat_client::editor::{
    edit_rows, ChatHelper, ClearOrInterrupt, HoldOnEnter, SwitchRoom, Typing,
};
use lanchat_client::join::Join;
use lanchat_client::known_servers::{is_yes, Ui, TRUST_QUESTION};
use lanchat_client::outbox::{typed, Outbox, Typed};
use lanchat_client::reader;
use lanchat_client::redraw::{Redo, Redraw};
use lanchat_client::render::Palette;
use lanchat_client::rooms::Step;
use lanchat_client::screen::{last_rows, Screen, Terminal};
use lanchat_client::session::{Action, EndSlot, Outcome};
use lanchat_client::signals::{self, InterruptFlag};

use super::{
    join_failed, leave, lock, not_sent, quit, run_discovery, send_line, Current, Latch, Link,
    OnEnd, ScreenSink, SessionSending, Settings, Shared, BURST_WAIT, FLUSH_WAIT,
};

/// Prints through rustyline, above the line being edited (or straight to the terminal
/// between two lines).
struct EditorTerm<P>(P);

impl<P: rustyline::ExternalPrinter + Send> Terminal for EditorTerm<P> {
    fn show(&mut self, line: &str) {
        // Raw mode adds the newline itself only when missing; cooked mode writes as is.
        let _ = self.0.print(format!("{line}\n"));
    }
}

/// A terminal rustyline cannot drive (`TERM=dumb`): the kernel echoes and edits the typed
/// line, and nothing can be redrawn, so after each arrival the prompt is shown again.
struct DumbTerm {
    session: Shared,
    /// The chat prompt is up (not before the join's burst is shown).
    prompting: Arc<AtomicBool>,
}

impl Terminal for DumbTerm {
    fn show(&mut self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        if self.prompting.load(Ordering::SeqCst) {
            let _ = write!(out, "{}", lock(&self.session).prompt());
        }
        let _ = out.flush();
    }
}

type Rl = Editor<ChatHelper, DefaultHistory>;

/// One line from a prompt; `None` when the user pressed Ctrl-D or Ctrl-C.
fn prompt(rl: &mut Rl, text: &str) -> anyhow::Result<Option<String>> {
    read_trimmed(rl, text).context("reading the terminal")
}

/// [`prompt`] for the library's [`Asker`]: the terminal's error as an IO error.
fn read_trimmed(rl: &mut Rl, text: &str) -> io::Result<Option<String>> {
    Ok(answered(rl.readline(text))?.map(|line| line.trim().to_owned()))
}

/// A line read at the terminal: `None` when the user gave up (Ctrl-C, Ctrl-D); an error when
/// the terminal could not be read.
fn answered(answer: rustyline::Result<String>) -> io::Result<Option<String>> {
    match answer {
        Ok(line) => Ok(Some(line)),
        Err(ReadlineError::Eof | ReadlineError::Interrupted) => Ok(None),
        Err(ReadlineError::Io(e)) => Err(e),
        Err(e) => Err(io::Error::other(e)),
    }
}

/// At a terminal the user decides about a server met for the first time.
struct RlAsker<'a>(&'a mut Rl);

impl Asker for RlAsker<'_> {
    fn ui(&self) -> Ui {
        Ui::Terminal
    }

    fn ask(&mut self, text: &str) -> bool {
        println!("{text}");
        // Ctrl-C, Ctrl-D or a failing terminal: not a yes.
        prompt(self.0, TRUST_QUESTION).is_ok_and(|a| a.as_deref().is_some_and(is_yes))
    }

    fn note(&mut self, text: &str) {
        println!("{text}");
    }

    fn name(&mut self) -> io::Result<Option<String>> {
        read_trimmed(self.0, "Your name: ")
    }

    fn password(&mut self, _text: &str) -> io::Result<Option<String>> {
        ask_password()
    }
}

/// Shows nothing of what is typed: a password prompt.
struct Hidden;

impl rustyline::completion::Completer for Hidden {
    type Candidate = String;
}

impl rustyline::hint::Hinter for Hidden {
    type Hint = String;
}

impl rustyline::validate::Validator for Hidden {}

impl rustyline::Helper for Hidden {}

impl Highlighter for Hidden {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        use unicode_width::UnicodeWidthStr as _;
        Cow::Owned(" ".repeat(line.width()))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, kind: CmdKind) -> bool {
        kind != CmdKind::MoveCursor
    }
}

/// `Password: `, read without echo (a line editor of its own that shows nothing, keeps no
/// history); `None` on Ctrl-C or Ctrl-D.
fn ask_password() -> io::Result<Option<String>> {
    let config = Config::builder()
        .auto_add_history(false)
        .color_mode(rustyline::ColorMode::Forced)
        .build();
    let mut rl: Editor<Hidden, DefaultHistory> = Editor::with_config(config)
        .map_err(|e| io::Error::other(format!("setting up the terminal: {e}")))?;
    rl.set_helper(Some(Hidden));
    let cursor = rl.set_cursor_visibility(false);
    let answer = rl.readline(PASSWORD_PROMPT);
    drop(cursor);
    answered(answer)
}

/// What the client asks when the server wants a password.
const PASSWORD_PROMPT: &str = "Password: ";

/// Ask for the server address (`?` looks for servers); `None` if the user gave up.
fn ask_address(
    rl: &mut Rl,
    settings: &Settings,
    mut discover_now: bool,
) -> anyhow::Result<Option<String>> {
    if !discover_now {
        println!("{ADDRESS_HINT}");
    }
    loop {
        if discover_now {
            discover_now = false;
            let found = run_discovery(settings, &mut |l| println!("{l}"));
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

/// Said once before the first address prompt.
const ADDRESS_HINT: &str = "Which lanchat server? Type its address (e.g. 192.168.1.20, \
                            chatbox or chatbox:7071), or ? to look for servers on the LAN.";

/// Connect: the address from the command line first, then whatever the user types, until a
/// server greets us (and is trusted). `None` if the user gave up.
fn connect(
    rl: &mut Rl,
    settings: &Settings,
    security: &Security,
) -> anyhow::Result<Option<(Conn, ServerAddr, Secured)>> {
    let mut given = settings.addr();
    let mut discover_first = settings.args.discover;
    loop {
        let typed = match given.take() {
            Some(a) => a,
            None => match ask_address(rl, settings, std::mem::take(&mut discover_first))? {
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
        // Up to CONNECT_TIMEOUT per address and then the greeting's wait: say what is going on.
        println!("connecting to {addr} ...");
        match join_server(&addr, security, &mut RlAsker(rl)) {
            Ok((conn, _hello, secured)) => {
                // Before the name is asked: whether what you type is encrypted, and with
                // which key, or the warning that it is not.
                println!("{}", secured.notice());
                return Ok(Some((conn, addr, secured)));
            }
            // A server not trusted (or not encrypted) ends the run with its own exit code.
            Err(e) if e.is_final() => return Err(e.into()),
            Err(e) => println!("{e}"),
        }
    }
}

/// Ctrl-C on a terminal rustyline cannot drive: before joining, leave at once (0, as a driven
/// terminal gives, not the 130 of being killed); once joined, the kernel has already discarded
/// the line being typed, so it means "quit": send it, and leave with 3 if the server does not
/// answer in time (the reader thread leaves with 0 on the answer).
fn leave_on_interrupt(joined: Arc<OnceLock<(Shared, Current)>>) -> anyhow::Result<()> {
    signals::on_interrupt(move || match joined.get() {
        None => signals::exit_now(0),
        Some((session, current)) => {
            // Not connected: nobody to tell.
            let away = lock(session).leave_while_away();
            if let Some(outcome) = away {
                leave(&outcome);
            }
            let Some(bytes) = lock(session).on_quit(Instant::now(), None) else {
                return;
            };
            let sent = current.write_all(&bytes);
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

/// The terminal's size: columns and rows (80 x 24 where it cannot say).
fn size() -> (u16, u16) {
    // SAFETY: TIOCGWINSZ only writes the winsize we hand it, which lives on this frame for
    // the call; an all-zero winsize is a valid value to start from.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: as above: the ioctl writes only `ws`, which outlives the call.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    let or = |n: u16, default: u16| if ok && n > 0 { n } else { default };
    (or(ws.ws_col, 80), or(ws.ws_row, 24))
}

/// The terminal's width in columns (80 if it cannot say).
fn columns() -> u16 {
    size().0
}

/// Lines are cut into rows at `cols` columns from now on.
fn set_width(session: &Shared, screen: &Screen, cols: u16) {
    lock(session).set_width(Some(usize::from(cols)));
    screen.set_width(Some(usize::from(cols)));
}

/// Draw the whole screen again at its present size: the last lines shown, cut at the new
/// width, from the top, and room below them for `prompt` with `line` (which `readline` then
/// draws). Each row is erased before it is written and nothing is cleared from the top-left
/// corner, so a terminal that keeps what a full clear removes (tmux's `scroll-on-clear`)
/// gains no stale copy in its scrollback. Returns the width it drew at.
fn repaint(
    screen: &Screen,
    prompt: &str,
    line: &str,
    tab_stop: u8,
    mode: GraphemeClusterMode,
) -> u16 {
    let (cols, rows) = size();
    screen.set_width(Some(usize::from(cols)));
    let reserve = edit_rows(prompt, line, cols, tab_stop, mode);
    let room = usize::from(rows).saturating_sub(reserve);
    screen.redraw(|lines| {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\x1b[H");
        for row in last_rows(lines, usize::from(cols), room) {
            let _ = write!(out, "\x1b[2K{row}\r\n");
        }
        let _ = write!(out, "\x1b[J");
        let _ = out.flush();
    });
    cols
}

/// Erase the `rows` rows above the cursor (the line rustyline just left), so what comes next
/// is written where it was.
fn erase_rows(rows: usize) {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\x1b[{rows}A\r\x1b[J");
    let _ = out.flush();
}

pub fn run(settings: &Settings) -> anyhow::Result<Outcome> {
    // Before any thread starts, so that none of them (nor the line editor) takes a resize.
    signals::block_resize().context("setting up the terminal")?;
    let config = Config::builder()
        .auto_add_history(false)
        .max_history_size(HISTORY_LINES)
        .context("setting up the line editor")?
        .build();
    let (tab_stop, cluster_mode) = (config.tab_stop(), config.grapheme_cluster_mode());
    let mut rl: Rl = Editor::with_config(config).context("setting up the terminal")?;
    // Rustyline may not be able to drive this terminal (e.g. TERM=dumb): then it reads cooked
    // lines, Ctrl-C is a signal, and lines from the server are printed plainly.
    let printer = rl.create_external_printer();
    let driven = printer.is_ok();
    // A terminal rustyline cannot drive gets no colour escapes either.
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && !dumb && driven;
    let many_colours = std::env::var("TERM").is_ok_and(|t| t.contains("256color"))
        || std::env::var_os("COLORTERM").is_some_and(|v| !v.is_empty());
    let palette = if many_colours {
        Palette::Ansi256
    } else {
        Palette::Basic
    };
    // Named once the server accepts a name (the welcome).
    let session = settings.session("", settings.style(color, palette));
    let prompting = Arc::new(AtomicBool::new(false));
    let screen = match printer {
        Ok(p) => settings.screen(Box::new(EditorTerm(p)))?,
        Err(_) => settings.screen(Box::new(DumbTerm {
            session: Arc::clone(&session),
            prompting: Arc::clone(&prompting),
        }))?,
    };
    set_width(&session, &screen, columns());
    let redraw = Redraw::spawn(Arc::clone(&screen)).context("starting the redraw thread")?;
    watch_size(
        &session,
        &screen,
        driven.then(|| (Arc::clone(&redraw), Arc::clone(&prompting))),
    )?;
    let history = history_path();
    if let Some(path) = &history {
        let _ = rl.load_history(path);
    }
    let outcome = chat(
        settings,
        &mut rl,
        driven,
        &session,
        &screen,
        &prompting,
        &redraw,
        tab_stop,
        cluster_mode,
    );
    if let Some(path) = &history {
        save_history(&mut rl, path);
    }
    outcome
}

/// Lines of typed input kept across runs.
const HISTORY_LINES: usize = 1_000;

/// Where typed input is kept across runs: `$XDG_STATE_HOME/lanchat/history`, else
/// `~/.local/state/lanchat/history`.
fn history_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state"))
        })?;
    Some(base.join("lanchat").join("history"))
}

/// Save typed input, readable by its owner only (it may hold private messages).
fn save_history(rl: &mut Rl, path: &Path) {
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // Created private before anything is written to it.
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path);
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    let _ = rl.save_history(path);
}

/// How long a resize waits for the window to settle (a drag sends many) before the width is
/// read.
const RESIZE_SETTLE: Duration = Duration::from_millis(50);

/// Follow the window's width: lines are cut at the new width from then on, and, once the chat
/// prompt is up on a terminal the line editor drives (`repaint`), the main thread is asked to
/// draw the whole screen again.
fn watch_size(
    session: &Shared,
    screen: &Arc<Screen>,
    repaint: Option<(Arc<Redraw>, Arc<AtomicBool>)>,
) -> anyhow::Result<()> {
    let (session, screen) = (Arc::clone(session), Arc::clone(screen));
    signals::on_resize(move || {
        std::thread::sleep(RESIZE_SETTLE);
        let cols = columns();
        if screen.width() == Some(usize::from(cols)) {
            return;
        }
        set_width(&session, &screen, cols);
        if let Some((redraw, prompting)) = &repaint {
            if prompting.load(Ordering::SeqCst) {
                redraw.request(Redo::Screen);
            }
        }
    })
    .context("watching the window size")
}

#[allow(clippy::too_many_arguments)]
fn chat(
    settings: &Settings,
    rl: &mut Rl,
    driven: bool,
    session: &Shared,
    screen: &Arc<Screen>,
    prompting: &Arc<AtomicBool>,
    redraw: &Arc<Redraw>,
    tab_stop: u8,
    cluster_mode: GraphemeClusterMode,
) -> anyhow::Result<Outcome> {
    let helper = ChatHelper::new(Arc::clone(session));
    let ctrl_c = Arc::new(AtomicBool::new(false));
    rl.set_helper(Some(helper.clone()));
    rl.bind_sequence(
        KeyEvent::ctrl('C'),
        EventHandler::Conditional(Box::new(ClearOrInterrupt {
            hold: Some((Arc::clone(screen), Arc::clone(prompting))),
            pressed: Arc::clone(&ctrl_c),
        })),
    );
    for (key, step) in [
        (KeyEvent(KeyCode::Left, Modifiers::ALT), Step::Prev),
        (KeyEvent(KeyCode::Right, Modifiers::ALT), Step::Next),
        (KeyEvent::ctrl('P'), Step::Prev),
        (KeyEvent::ctrl('N'), Step::Next),
    ] {
        rl.bind_sequence(
            key,
            EventHandler::Conditional(Box::new(SwitchRoom {
                session: Arc::clone(session),
                redraw: Arc::clone(redraw),
                step,
            })),
        );
    }
    for enter in [
        KeyEvent(KeyCode::Enter, Modifiers::NONE),
        KeyEvent::ctrl('J'),
    ] {
        rl.bind_sequence(
            enter,
            EventHandler::Conditional(Box::new(HoldOnEnter {
                screen: Arc::clone(screen),
                chatting: Arc::clone(prompting),
            })),
        );
    }

    let dumb_joined = Arc::new(OnceLock::new());
    if !driven {
        leave_on_interrupt(Arc::clone(&dumb_joined))?;
    }
    let security = settings.security()?;
    let Some((conn, addr, secured)) = connect(rl, settings, &security)? else {
        return Ok(Outcome::Quit);
    };
    let target = Target {
        addr,
        security,
        password: settings.password()?,
    };
    let join = Join::person(settings.name(), target.password.clone());
    // A password, a ban or the allowlist comes right after the greeting: before the name.
    let early = Some(settings.waits.early_word);
    let Joined {
        conn,
        name,
        welcome,
        secured,
        password,
    } = match target.join_on(conn, secured, join, early, &mut RlAsker(rl)) {
        Ok(joined) => joined,
        Err(JoinError::GaveUp) => return Ok(Outcome::Quit),
        Err(e) => return Err(join_failed(e, &target.addr)),
    };
    let welcome = lock(session).welcome(&name, &welcome, now_ms());
    for action in welcome {
        if let Action::Print(l) = action {
            screen.print(l);
        }
    }

    let current = Current::default();
    let writer = current
        .attach(&conn, None)
        .context("setting up the connection")?;
    let ended = EndSlot::new();
    let listed = Arc::new(Latch::default());
    let (on_end, interrupted) = if driven {
        let flag = InterruptFlag::register().context("setting up Ctrl-C")?;
        (OnEnd::Wake(Arc::clone(&ended)), Some(flag))
    } else {
        // Ctrl-C quits (above), and the reader thread ends the process itself.
        let _ = dumb_joined.set((Arc::clone(session), current.clone()));
        (OnEnd::Exit, None)
    };
    // On a driven terminal the typed line is replaced by its echo; a dumb one keeps what the
    // kernel echoed.
    let sending = SessionSending {
        session: Arc::clone(session),
        echo: driven.then(|| Arc::clone(screen)),
    };
    let outbox = Outbox::spawn(writer, Box::new(sending), None).context("starting the sender")?;
    let sink = ScreenSink {
        screen: Arc::clone(screen),
        on_end,
        listed: Arc::clone(&listed),
        redraw: driven.then(|| Arc::clone(redraw)),
    };
    // On a terminal the client always comes back on its own.
    lock(session).set_reconnect(true);
    let notes = Arc::clone(screen);
    let link = Link {
        target: Target {
            password,
            ..target.joined_with(secured)
        },
        outbox: outbox.clone(),
        write_timeout: None,
        current: current.clone(),
        notes: Arc::new(move |text: &str| notes.print(format!("* {text}"))),
    };
    reader::spawn(
        conn,
        Arc::clone(session),
        Box::new(sink),
        Some(link.reconnect()),
    )
    .context("starting the reader thread")?;
    let quit = |interrupted: Option<&InterruptFlag>, message: Option<&str>| {
        quit(&outbox, session, &ended, screen, interrupted, message)
    };

    // The prompt comes below the join's burst, not in the middle of it.
    listed.wait_until(Instant::now() + BURST_WAIT);
    screen.flush(Instant::now() + FLUSH_WAIT);
    prompting.store(true, Ordering::SeqCst);
    let mut carried = Typing::default();
    // The width the screen was last drawn at: a resize the line editor did not see (it
    // never sees one) is caught up with before the next prompt.
    let mut drawn_at = columns();
    let outcome = 'chat: loop {
        if let Some(out) = ended.get() {
            ended.ack();
            break 'chat out;
        }
        let (redo, interrupt) = redraw.take(interrupted.as_ref());
        set_width(session, screen, columns());
        let prompt = lock(session).prompt();
        if driven && (redo == Some(Redo::Screen) || columns() != drawn_at) {
            drawn_at = repaint(screen, &prompt, &carried.line, tab_stop, cluster_mode);
        } else if redo.is_some() {
            // Asked between two lines: the prompt is drawn anew below anyway.
            screen.release(|| {});
        }
        if interrupt {
            // A Ctrl-C between two lines: as on an empty line.
            match outbox.cancel() {
                0 => break 'chat quit(interrupted.as_ref(), None),
                n => not_sent(screen, n),
            }
        }
        helper.set_typing(carried.clone());
        let read = {
            let (left, right) = carried.halves();
            rl.readline_with_initial(&prompt, (left, right))
        };
        carried = Typing::default();
        let rows = |line: &str| edit_rows(&prompt, line, columns(), tab_stop, cluster_mode);
        match read {
            Ok(line) => {
                // The typed line gives way to its echo (as others see it), once sent.
                if driven {
                    let rows = rows(&line);
                    screen.release(|| erase_rows(rows));
                }
                // A paste can bring several lines at once; each is one chat line.
                for part in line.split(['\n', '\r']) {
                    match typed(part) {
                        Typed::Blank => {}
                        Typed::Quit(message) => {
                            let _ = rl.add_history_entry(part);
                            break 'chat quit(interrupted.as_ref(), message);
                        }
                        Typed::Line(l) => {
                            let _ = rl.add_history_entry(l);
                            let config = settings.config_path.as_deref();
                            send_line(l, session, &outbox, screen, config, true);
                        }
                    }
                }
                if outbox.failed() {
                    // The reader thread sees the connection gone and reconnects; what failed
                    // to go waits for the new one.
                    current.cut();
                }
            }
            Err(ReadlineError::Interrupted) => {
                if let Some(out) = ended.get() {
                    ended.ack();
                    break 'chat out;
                }
                let pressed = ctrl_c.swap(false, Ordering::SeqCst);
                let (redo, _) = redraw.take(None);
                if redo.is_some() || !pressed {
                    // Not the key: the prompt changed under the line being typed (a room
                    // switched, a rename, unread lines, reconnecting), the window was resized
                    // (or a wake-up came late): draw again, keeping the line.
                    carried = helper.typing();
                    if redo == Some(Redo::Screen) || columns() != drawn_at {
                        let prompt = lock(session).prompt();
                        drawn_at = repaint(screen, &prompt, &carried.line, tab_stop, cluster_mode);
                    } else {
                        let rows = rows(&carried.line);
                        screen.release(|| erase_rows(rows));
                    }
                    continue;
                }
                // Ctrl-C on an empty line: stop a paste being sent, or leave.
                match outbox.cancel() {
                    0 => break 'chat quit(interrupted.as_ref(), None),
                    n => {
                        let rows = rows("");
                        screen.release(|| erase_rows(rows));
                        not_sent(screen, n);
                    }
                }
            }
            Err(ReadlineError::Eof) => break 'chat quit(interrupted.as_ref(), None),
            Err(e) => return Err(e).context("reading the terminal"),
        }
    };
    // Lines still on their way (the last arrivals, a farewell notice) reach the terminal first.
    screen.flush(Instant::now() + FLUSH_WAIT);
    Ok(outcome)
}
