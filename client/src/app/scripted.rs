//! Without a terminal: stdin lines in, rendered lines out.

use std::io::{self, BufRead};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use lanchat_client::addr::ServerAddr;
use lanchat_client::clock::now_ms;
use lanchat_client::conn::NameReply;
use lanchat_client::connect::connect;
use lanchat_client::outbox::{typed, Outbox, Typed};
use lanchat_client::reader;
use lanchat_client::render::{Palette, Style};
use lanchat_client::session::{Action, EndSlot, Outcome};

use super::{
    gone_after_failed_send, lock, quit, run_discovery, send_line, Latch, OnEnd, ScreenSink,
    SessionSending, Settings, StderrAsker, StdoutTerm, FLUSH_WAIT,
};

/// Scripted mode gives up on a server that takes no bytes for this long.
const SCRIPTED_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines read from stdin ahead of the sender.
const SCRIPTED_QUEUE: usize = 64;

pub fn run(settings: &Settings) -> anyhow::Result<Outcome> {
    let args = &settings.args;
    let addr = match (&settings.addr(), args.discover) {
        (Some(a), _) => ServerAddr::parse(a).map_err(|e| anyhow::anyhow!("{a:?}: {e}"))?,
        (None, true) => {
            let found = run_discovery(settings, &mut |l| eprintln!("{l}"));
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
    // The name first: connecting before it is known would start the server's handshake clock
    // while a slow producer is still thinking.
    let stdin = io::stdin();
    // Bytes, not `lines()`: one line that is not UTF-8 must not end the whole script. It is
    // sent with U+FFFD in place of the bad bytes (the server would refuse it raw).
    let mut lines = stdin
        .lock()
        .split(b'\n')
        .map(|line| line.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()));
    let name = match &settings.name() {
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
    let security = settings.security()?;
    let (mut conn, _hello, secured) = connect(&addr, &security, &mut StderrAsker)?;
    let (name, welcome) = match conn.offer_name(&name)? {
        NameReply::Welcome { name, text } => (name, text),
        NameReply::Refused { text } => bail!("name {name:?} refused: {text}"),
        NameReply::Closed { text } => bail!("{addr} closed the connection: {text}"),
    };
    // With the welcome, but not on stdout, which a script reads for the chat.
    eprintln!("{}", secured.notice());

    // No colour and no bell for a script: only the times follow the flags and the config.
    let style = Style {
        bell: false,
        ..settings.style(false, Palette::Basic)
    };
    let session = settings.session(&name, style);
    let screen = settings.screen(Box::new(StdoutTerm))?;
    let welcome = lock(&session).welcome(&name, &welcome, now_ms());
    for action in welcome {
        if let Action::Print(l) = action {
            screen.print(l);
        }
    }
    let writer = conn
        .try_clone_stream()
        .context("setting up the connection")?;
    // A server that stops reading (stopped, wedged) must not hang a script for ever.
    writer
        .set_write_timeout(Some(SCRIPTED_WRITE_TIMEOUT))
        .context("setting up the connection")?;
    let ended = EndSlot::new();
    let sink = ScreenSink {
        screen: Arc::clone(&screen),
        on_end: OnEnd::Exit,
        listed: Arc::new(Latch::default()),
        restart: None,
    };
    reader::spawn(conn, Arc::clone(&session), Box::new(sink))
        .context("starting the reader thread")?;
    let sending = SessionSending {
        session: Arc::clone(&session),
        echo: None,
    };
    // Piped input arrives all at once; the sender keeps under the server's flood control, and
    // stdin is read no faster than that.
    let outbox = Outbox::spawn(writer, Box::new(sending), Some(SCRIPTED_QUEUE))
        .context("starting the sender")?;
    for line in lines {
        let line = line.context("reading stdin")?;
        match typed(line.strip_suffix('\r').unwrap_or(&line)) {
            Typed::Blank => {}
            Typed::Quit => break,
            Typed::Line(l) => send_line(
                l,
                &session,
                &outbox,
                &screen,
                settings.config_path.as_deref(),
            ),
        }
        if outbox.failed() {
            return Ok(gone_after_failed_send(&session, &ended));
        }
    }
    let outcome = quit(&outbox, &session, &ended, &screen, None);
    screen.flush(Instant::now() + FLUSH_WAIT);
    Ok(outcome)
}
