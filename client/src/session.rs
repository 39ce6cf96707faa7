//! The client's side of one chat session, as a state machine with no IO and no clock: it is fed
//! the server's lines, the user's quit and the end of the stream, and says what to show and how
//! the run ends.
//!
//! Ending is the part with rules. After [`Session::on_quit`] the server's `BYE`, or its orderly
//! close, is the answer (everything sent before the quit was read): [`Outcome::Quit`], exit 0.
//! Without an answer within [`QUIT_WAIT`] the lines sent last may never have arrived, so the
//! run ends as [`Outcome::ServerGone`], exit 3 — as it does when the server goes away unasked
//! (`BYE` we did not ask for, EOF, a reset). A later capability (reconnecting on its own) is
//! the other branch of [`Session::on_server_gone`].

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lanchat_proto::{fold_name, ClientMsg, ServerMsg};

use crate::clock::ToCivil;
use crate::conn::{encode_line, plain_io};
use crate::members::{Change, Members};
use crate::render::{Renderer, Style};
use crate::sanitize::sanitize;

/// How long to wait for the server's `BYE` after sending the quit.
pub const QUIT_WAIT: Duration = Duration::from_secs(3);

/// Exit code after a quit the server answered.
pub const EXIT_QUIT: u8 = 0;
/// Exit code when the server went away, or did not answer the quit.
pub const EXIT_SERVER_GONE: u8 = 3;

/// How a run ended, when it ended without an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The user left and the server answered.
    Quit,
    /// The server went away (or did not answer the quit); the text says how.
    ServerGone(String),
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Quit => EXIT_QUIT,
            Outcome::ServerGone(_) => EXIT_SERVER_GONE,
        }
    }

    /// The one line to show on stderr as the client ends, if any.
    pub fn farewell(&self) -> Option<&str> {
        match self {
            Outcome::Quit => None,
            Outcome::ServerGone(why) => Some(why),
        }
    }
}

/// How the stream from the server ended.
#[derive(Debug)]
pub enum Gone {
    /// End of stream: the server closed the connection.
    Closed,
    /// A read failed (reset, timeout of the keepalive, ...).
    Lost(io::Error),
}

/// What the front end does for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Show this display line.
    Print(String),
    /// This client was renamed: the prompt shows the old name until drawn again.
    PromptChanged,
    /// The first member list arrived: the join's burst (welcome, history, who is here) is
    /// shown, so the prompt can come below it.
    Listed,
    /// The session is over.
    End(Outcome),
}

/// Where the session is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Joined and chatting.
    Chatting,
    /// Our quit is sent; an answer is due by `deadline`.
    Quitting { deadline: Instant },
    /// Over, with this outcome; nothing more is shown.
    Ended(Outcome),
}

/// One joined session: who is here, how lines look, and where the quit handshake is.
#[derive(Debug)]
pub struct Session {
    members: Members,
    renderer: Renderer,
    phase: Phase,
    /// A member list has arrived since joining.
    listed: bool,
    /// Folded names whose messages are not shown.
    ignored: Vec<String>,
    /// Who last wrote to this client privately (for `/reply`).
    last_private: Option<String>,
    /// Whether history (`HIST`) is shown.
    history: bool,
}

/// The text of an unanswered quit.
fn unanswered() -> String {
    format!(
        "the server did not answer the quit within {} s; what was sent last may not have \
         arrived",
        QUIT_WAIT.as_secs()
    )
}

impl Session {
    /// A session for the client accepted as `name`, showing lines in `style`, times through
    /// `to_civil`.
    pub fn new(name: &str, style: Style, to_civil: ToCivil) -> Session {
        Session {
            members: Members::new(name),
            renderer: Renderer::new(style, to_civil),
            phase: Phase::Chatting,
            listed: false,
            ignored: Vec::new(),
            last_private: None,
            history: true,
        }
    }

    /// Who is here (for Tab completion).
    pub fn members(&self) -> &Members {
        &self.members
    }

    /// This client's name as the server last confirmed it.
    pub fn me(&self) -> &str {
        self.members.me()
    }

    /// The prompt in front of the line being typed: `name> `.
    pub fn prompt(&self) -> String {
        format!("{}> ", sanitize(self.me()))
    }

    /// Whether the quit was sent and its answer is awaited.
    pub fn is_quitting(&self) -> bool {
        matches!(self.phase, Phase::Quitting { .. })
    }

    /// The welcome the name handshake ended with, as the first lines shown.
    pub fn welcome(&mut self, name: &str, text: &str, now_ms: u64) -> Vec<Action> {
        self.on_msg(&ServerMsg::Welcome { name, text }, now_ms)
    }

    /// One line from the server (without its `\n`), received at `now_ms`. Kinds from a newer
    /// protocol, and malformed lines, show nothing.
    pub fn on_line(&mut self, line: &str, now_ms: u64) -> Vec<Action> {
        match ServerMsg::parse(line) {
            Ok(msg) => self.on_msg(&msg, now_ms),
            Err(_) => Vec::new(),
        }
    }

    /// One parsed message from the server, received at `now_ms`.
    pub fn on_msg(&mut self, msg: &ServerMsg<'_>, now_ms: u64) -> Vec<Action> {
        if self.outcome().is_some() {
            return Vec::new();
        }
        if let ServerMsg::Bye { text } = msg {
            let outcome = if self.is_quitting() {
                Outcome::Quit
            } else {
                Outcome::ServerGone(format!(
                    "the server closed the connection: {}",
                    sanitize(text)
                ))
            };
            return vec![self.end(outcome)];
        }
        if let ServerMsg::Priv { from, .. } = msg {
            if !self.is_ignored(from) {
                self.last_private = Some((*from).to_owned());
            }
        }
        if self.hidden(msg) {
            return Vec::new();
        }
        let before = fold_name(self.members.me());
        let change = self.members.apply(msg);
        let mut actions = self.render(msg, &change, now_ms);
        if matches!(msg, ServerMsg::Nick { .. }) && fold_name(self.members.me()) != before {
            actions.push(Action::PromptChanged);
        }
        if matches!(msg, ServerMsg::WhoEnd { .. }) && !std::mem::replace(&mut self.listed, true) {
            actions.push(Action::Listed);
        }
        actions
    }

    /// Whether `msg` is not shown: from someone ignored, or history when it is off.
    fn hidden(&self, msg: &ServerMsg<'_>) -> bool {
        match msg {
            ServerMsg::Hist { frame, .. } => !self.history || self.hidden(frame),
            ServerMsg::Msg { from, .. }
            | ServerMsg::Action { from, .. }
            | ServerMsg::Priv { from, .. } => self.is_ignored(from),
            _ => false,
        }
    }

    /// Show history (`HIST`) or not (`--no-history`).
    pub fn set_history(&mut self, on: bool) {
        self.history = on;
    }

    /// Whether `name`'s messages are hidden.
    pub fn is_ignored(&self, name: &str) -> bool {
        self.ignored.contains(&fold_name(name))
    }

    /// Hide `name`'s messages; `false` if they were already.
    pub fn ignore(&mut self, name: &str) -> bool {
        let key = fold_name(name);
        if self.ignored.contains(&key) {
            return false;
        }
        self.ignored.push(key);
        true
    }

    /// Show `name`'s messages again; `false` if they were not hidden.
    pub fn unignore(&mut self, name: &str) -> bool {
        let key = fold_name(name);
        let before = self.ignored.len();
        self.ignored.retain(|n| *n != key);
        self.ignored.len() != before
    }

    /// Who is ignored (folded names).
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// Who last wrote to this client privately.
    pub fn reply_to(&self) -> Option<&str> {
        self.last_private.as_deref()
    }

    /// A line this client typed went to the server at `now_ms`: its echo, drawn the way
    /// others see it (nothing for commands whose answer shows).
    pub fn on_sent(&mut self, line: &str, now_ms: u64) -> Vec<Action> {
        let Ok(msg) = ClientMsg::parse(line) else {
            return Vec::new();
        };
        let me = self.members.me().to_owned();
        self.renderer
            .own(&msg, &me, now_ms)
            .unwrap_or_default()
            .into_iter()
            .map(Action::Print)
            .collect()
    }

    /// Wrap shown lines at `width` columns from now on (`None`: do not wrap).
    pub fn set_width(&mut self, width: Option<usize>) {
        self.renderer.set_width(width);
    }

    fn render(&mut self, msg: &ServerMsg<'_>, change: &Change, now_ms: u64) -> Vec<Action> {
        let me = self.members.me().to_owned();
        self.renderer
            .render(msg, change, &me, now_ms)
            .into_iter()
            .map(Action::Print)
            .collect()
    }

    fn end(&mut self, outcome: Outcome) -> Action {
        self.phase = Phase::Ended(outcome.clone());
        Action::End(outcome)
    }

    /// How the session ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.phase {
            Phase::Ended(o) => Some(o),
            _ => None,
        }
    }

    /// The user leaves: the bytes to send (once; `None` if the quit is already under way or
    /// the session is over). Its answer is due within [`QUIT_WAIT`] of `now`.
    pub fn on_quit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.phase != Phase::Chatting {
            return None;
        }
        self.phase = Phase::Quitting {
            deadline: now + QUIT_WAIT,
        };
        Some(encode_line(lanchat_proto::QUIT_LINE))
    }

    /// When the quit's answer is due, if one is awaited.
    pub fn quit_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Quitting { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// No answer to the quit came in time (or the quit could not be sent): how the run ends.
    /// If the session ended meanwhile (the answer won the race), that outcome stands.
    pub fn on_quit_timeout(&mut self) -> Outcome {
        if let Some(o) = self.outcome() {
            return o.clone();
        }
        let outcome = Outcome::ServerGone(unanswered());
        self.phase = Phase::Ended(outcome.clone());
        outcome
    }

    /// The stream from the server ended. After our quit an orderly close is its answer; a
    /// failed read is not (what was sent last may be lost).
    pub fn on_server_gone(&mut self, how: Gone) -> Option<Outcome> {
        if self.outcome().is_some() {
            return None;
        }
        let quitting = self.is_quitting();
        let outcome = match how {
            Gone::Closed if quitting => Outcome::Quit,
            Gone::Closed => Outcome::ServerGone("the server closed the connection".into()),
            Gone::Lost(_) if quitting => Outcome::ServerGone(unanswered()),
            Gone::Lost(e) => Outcome::ServerGone(format!(
                "lost the connection to the server: {}",
                plain_io(&e)
            )),
        };
        self.phase = Phase::Ended(outcome.clone());
        Some(outcome)
    }
}

/// Where the reader thread leaves the outcome for a front end that waits for it, and where
/// the front end says it has seen it.
#[derive(Debug, Default)]
pub struct EndSlot {
    outcome: Mutex<Option<Outcome>>,
    cond: Condvar,
    seen: AtomicBool,
}

impl EndSlot {
    /// An empty slot to share.
    pub fn new() -> Arc<EndSlot> {
        Arc::new(EndSlot::default())
    }

    /// Record the outcome (the first one wins) and wake whoever waits.
    pub fn set(&self, outcome: Outcome) {
        let mut g = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        g.get_or_insert(outcome);
        self.cond.notify_all();
    }

    /// The outcome, if there is one yet.
    pub fn get(&self) -> Option<Outcome> {
        self.outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The front end has the outcome (or is leaving anyway): stop waking it.
    pub fn ack(&self) {
        self.seen.store(true, Ordering::SeqCst);
    }

    /// Whether [`EndSlot::ack`] was called.
    pub fn is_acked(&self) -> bool {
        self.seen.load(Ordering::SeqCst)
    }

    /// Wait until there is an outcome or `deadline` passes.
    pub fn wait_until(&self, deadline: Instant) -> Option<Outcome> {
        let mut g = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(o) = g.as_ref() {
                return Some(o.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            g = self
                .cond
                .wait_timeout(g, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::utc;

    const NOW: u64 = 1_764_244_860_000; // 12:01 UTC

    fn session() -> Session {
        let style = Style {
            timestamps: false,
            ..Style::PLAIN
        };
        Session::new("ann", style, utc)
    }

    fn prints(lines: &[&str]) -> Vec<Action> {
        lines
            .iter()
            .map(|l| Action::Print((*l).to_owned()))
            .collect()
    }

    #[test]
    fn lines_become_what_is_shown() {
        let mut s = session();
        assert_eq!(s.welcome("ann", "Hi ann!", NOW), prints(&["* Hi ann!"]));
        assert_eq!(s.on_line("WHO bob ann", NOW), vec![]);
        let mut listed = prints(&["* here now (2): bob, ann"]);
        listed.push(Action::Listed);
        assert_eq!(s.on_line("WHOEND 2", NOW), listed);
        assert!(s.members().contains("bob"));
        // Only the first list ends the join's burst.
        assert_eq!(s.on_line("WHOEND 0", NOW), prints(&["* here now (0)"]));
        assert_eq!(s.on_line("MSG bob hi", NOW), prints(&["<bob> hi"]));
        assert_eq!(s.on_line("FROB from a newer server", NOW), vec![]);
        assert_eq!(s.on_line("", NOW), vec![]);
        assert_eq!(s.prompt(), "ann> ");
        assert_eq!(
            s.on_line("NICK ann annie", NOW),
            vec![
                Action::Print("* you are now known as annie".into()),
                Action::PromptChanged
            ]
        );
        assert_eq!(s.prompt(), "annie> ");
        assert_eq!(
            s.on_line("NICK bob rob", NOW),
            prints(&["* bob is now known as rob"])
        );
    }

    #[test]
    fn what_we_sent_is_echoed_as_others_see_it() {
        let mut s = session();
        s.welcome("ann", "hi", NOW);
        let cases: &[(&str, &[&str])] = &[
            ("hello there", &["<ann> hello there"]),
            ("/me waves", &["~ ann waves"]),
            ("/msg bob psst", &["[private] -> bob: psst"]),
            ("//slash", &["<ann> /slash"]),
            ("/who", &[]),
            ("/nick zed", &[]),
            ("/frob", &[]),
            ("hi \u{1b}[2J", &["<ann> hi ␛[2J"]),
        ];
        for (line, want) in cases {
            assert_eq!(s.on_sent(line, NOW), prints(want), "{line:?}");
        }
    }

    #[test]
    fn a_bye_we_did_not_ask_for_is_the_server_going_away() {
        let mut s = session();
        assert_eq!(
            s.on_line("BYE server shutting down", NOW),
            vec![Action::End(Outcome::ServerGone(
                "the server closed the connection: server shutting down".into()
            ))]
        );
        // Nothing after the end.
        assert_eq!(s.on_line("MSG bob late", NOW), vec![]);
        assert_eq!(s.on_server_gone(Gone::Closed), None);
        assert_eq!(s.on_quit(Instant::now()), None);
    }

    #[test]
    fn the_bye_after_our_quit_is_its_answer() {
        let mut s = session();
        let t0 = Instant::now();
        assert_eq!(s.on_quit(t0), Some(b"/quit\n".to_vec()));
        assert_eq!(s.quit_deadline(), Some(t0 + QUIT_WAIT));
        assert_eq!(s.on_quit(t0), None, "sent once");
        // Lines still arriving before the answer are shown.
        assert_eq!(
            s.on_line("MSG bob so long", NOW),
            prints(&["<bob> so long"])
        );
        assert_eq!(
            s.on_line("BYE see you", NOW),
            vec![Action::End(Outcome::Quit)]
        );
        assert_eq!(
            s.on_quit_timeout(),
            Outcome::Quit,
            "the answer won the race"
        );
    }

    #[test]
    fn how_the_stream_ends_decides_the_outcome() {
        let reset = || Gone::Lost(io::Error::from(io::ErrorKind::ConnectionReset));
        let cases: Vec<(bool, Gone, Outcome)> = vec![
            (
                false,
                Gone::Closed,
                Outcome::ServerGone("the server closed the connection".into()),
            ),
            (true, Gone::Closed, Outcome::Quit),
            (
                false,
                reset(),
                Outcome::ServerGone("lost the connection to the server: connection reset".into()),
            ),
            (true, reset(), Outcome::ServerGone(unanswered())),
        ];
        for (quitting, how, want) in cases {
            let mut s = session();
            if quitting {
                s.on_quit(Instant::now());
            }
            assert_eq!(s.on_server_gone(how), Some(want), "quitting: {quitting}");
        }
    }

    #[test]
    fn an_unanswered_quit_is_exit_3() {
        let mut s = session();
        s.on_quit(Instant::now());
        let out = s.on_quit_timeout();
        assert_eq!(out.exit_code(), EXIT_SERVER_GONE);
        assert!(out
            .farewell()
            .is_some_and(|w| w.contains("did not answer the quit within 3 s")));
        assert_eq!(Outcome::Quit.exit_code(), 0);
        assert_eq!(Outcome::Quit.farewell(), None);
    }

    #[test]
    fn the_end_slot_keeps_the_first_outcome() {
        let slot = EndSlot::new();
        assert_eq!(slot.get(), None);
        assert_eq!(slot.wait_until(Instant::now()), None);
        slot.set(Outcome::Quit);
        slot.set(Outcome::ServerGone("later".into()));
        assert_eq!(slot.wait_until(Instant::now()), Some(Outcome::Quit));
    }

    #[test]
    fn ignored_names_are_not_shown_and_replies_go_to_the_last_private_writer() {
        let mut s = session();
        assert!(s.ignore("Mallory"));
        assert!(!s.ignore("mallory"));
        assert_eq!(s.on_line("MSG mallory buy now", NOW), vec![]);
        assert_eq!(s.on_line("PRIV MALLORY psst", NOW), vec![]);
        assert_eq!(s.on_line("HIST 0 ACTION mallory waves", NOW), vec![]);
        assert_eq!(s.reply_to(), None);
        assert_eq!(s.on_line("PRIV bob psst", NOW).len(), 1);
        assert_eq!(s.reply_to(), Some("bob"));
        // Notices about them still show.
        assert_eq!(s.on_line("JOIN mallory", NOW).len(), 1);
        assert!(s.unignore("mallory"));
        assert_eq!(s.on_line("MSG mallory back", NOW).len(), 1);
        s.set_history(false);
        assert_eq!(s.on_line("HIST 0 MSG bob old", NOW), vec![]);
    }
}
