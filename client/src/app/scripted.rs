//! Without a terminal: stdin lines in, rendered lines out.

use std::io::{self, BufRead};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use lanchat_client::addr::ServerAddr;
use lanchat_client::clock::now_ms;
use lanchat_client::connect::{JoinError, Joined, Target};
use lanchat_client::outbox::{typed, Outbox, Typed};
use lanchat_client::reader::{self, Redial};
use lanchat_client::render::{Palette, Style};
use lanchat_client::rooms::Follow;
use lanchat_client::session::{Action, EndSlot, Outcome};
use lanchat_client::stream::Stream;

use super::{
    gone_after_failed_send, join_failed, lock, quit, run_discovery, send_line, Current, Latch,
    Link, OnEnd, ScreenSink, SessionSending, Settings, StderrAsker, StdoutTerm, FLUSH_WAIT,
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
    let mut target = Target {
        addr,
        security: settings.security()?,
        password: settings.password()?,
    };
    let Joined {
        conn,
        name,
        welcome,
        secured,
        password,
    } = match target.join(&name, &mut StderrAsker) {
        Ok(joined) => joined,
        Err(JoinError::Name { text, .. }) => bail!("name {name:?} refused: {text}"),
        Err(e) => return Err(join_failed(e, &target.addr)),
    };
    target.password = password;
    // With the welcome, but not on stdout, which a script reads for the chat.
    eprintln!("{}", secured.notice());

    // No colour and no bell for a script: only the times follow the flags and the config.
    let style = Style {
        bell: false,
        ..settings.style(false, Palette::Basic)
    };
    let session = settings.session(&name, style);
    // A script's lines go to #general unless they say `/in #room`; every room line it reads
    // carries its room.
    lock(&session).set_follow(Follow::Never);
    lock(&session).set_reconnect(args.reconnect);
    let screen = settings.screen(Box::new(StdoutTerm))?;
    let welcome = lock(&session).welcome(&name, &welcome, now_ms());
    for action in welcome {
        if let Action::Print(l) = action {
            screen.print(l);
        }
    }
    let ended = EndSlot::new();
    let sink = ScreenSink {
        screen: Arc::clone(&screen),
        on_end: OnEnd::Exit,
        listed: Arc::new(Latch::default()),
        redraw: None,
    };
    let sending = SessionSending {
        session: Arc::clone(&session),
        echo: None,
    };
    // A server that stops reading (stopped, wedged) must not hang a script for ever.
    let write_timeout = Some(SCRIPTED_WRITE_TIMEOUT);
    let current = Current::default();
    let writer = current
        .attach(&conn, write_timeout)
        .context("setting up the connection")?;
    // Piped input arrives all at once; the sender keeps under the server's flood control, and
    // stdin is read no faster than that.
    let outbox = Outbox::spawn(writer, Box::new(sending), Some(SCRIPTED_QUEUE))
        .context("starting the sender")?;
    let redial = args.reconnect.then(|| {
        let link = Link {
            target: target.joined_with(secured),
            outbox: outbox.clone(),
            write_timeout,
            current: current.clone(),
            notes: Arc::new(|text: &str| eprintln!("{text}")),
        };
        link.reconnect() as Box<dyn Redial<Stream>>
    });
    reader::spawn(conn, Arc::clone(&session), Box::new(sink), redial)
        .context("starting the reader thread")?;
    let mut message = None;
    for line in lines {
        let line = line.context("reading stdin")?;
        match typed(line.strip_suffix('\r').unwrap_or(&line)) {
            Typed::Blank => {}
            Typed::Quit(m) => {
                message = m.map(str::to_owned);
                break;
            }
            Typed::Line(l) => send_line(
                l,
                &session,
                &outbox,
                &screen,
                settings.config_path.as_deref(),
                false,
            ),
        }
        if outbox.failed() {
            if !args.reconnect {
                return Ok(gone_after_failed_send(&session, &ended));
            }
            // The reader thread notices and reconnects; the line waits.
            current.cut();
        }
    }
    let outcome = quit(&outbox, &session, &ended, &screen, None, message.as_deref());
    screen.flush(Instant::now() + FLUSH_WAIT);
    Ok(outcome)
}
