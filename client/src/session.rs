//! The client's side of one chat session, as a state machine with no IO and no clock: it is fed
//! the server's lines, the user's quit and the end of the stream, and says what to show and how
//! the run ends.
//!
//! Ending is the part with rules. After [`Session::on_quit`] the server's `BYE`, or its orderly
//! close, is the answer (everything sent before the quit was read): [`Outcome::Quit`], exit 0.
//! Without an answer within [`QUIT_WAIT`] the lines sent last may never have arrived, so the
//! run ends as [`Outcome::ServerGone`], exit 3 — as it does when the server goes away unasked
//! (`BYE` we did not ask for, EOF, a reset).
//!
//! Unless the session comes back on its own ([`Session::set_reconnect`]): then EOF, a reset, a
//! keepalive timeout and `BYE server shutting down` are not the end but [`Action::Lost`], and
//! the session waits, reconnecting, until it has joined again ([`Session::on_rejoined`], with
//! the same name and, if it was away, the same away message: [`Session::rejoin`]) or the user
//! leaves ([`Session::leave_while_away`], exit 3). A `BYE` the server sends this user for any
//! other reason (too slow, flooding; later: kicked, banned), and a quit of one's own, stay
//! final. After a rejoin the history the server replays is shown only where it was not shown
//! before ([`crate::seen`]), and the rooms this client was in are joined again, the current one
//! staying current ([`crate::rooms`]).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lanchat_proto::{fold_name, ClientMsg, ServerMsg, BYE_SHUTDOWN};

use crate::clock::ToCivil;
use crate::conn::plain_io;
use crate::members::{Change, Members};
use crate::render::{Context, Listing, Renderer, Shown, Style};
use crate::rooms::{Follow, Rooms, Step};
use crate::sanitize::sanitize;
use crate::seen::{frame_key, Seen};
use lanchat_proto::ops::{sent_away, SentAway};

/// How long to wait for the server's `BYE` after sending the quit.
pub const QUIT_WAIT: Duration = Duration::from_secs(3);

/// Exit code after a quit the server answered.
pub const EXIT_QUIT: u8 = 0;
/// Exit code when the server went away, or did not answer the quit.
pub const EXIT_SERVER_GONE: u8 = 3;
/// Exit code when an operator kicked the user (`BYE kicked by ...`).
pub const EXIT_KICKED: u8 = 5;
/// Exit code when the user is banned: sent away by `/ban` (`BYE banned by ...`), or refused
/// on arrival (`ERR banned`).
pub const EXIT_BANNED: u8 = 6;

/// How a run ended, when it ended without an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The user left and the server answered.
    Quit,
    /// The server went away (or did not answer the quit); the text says how.
    ServerGone(String),
    /// An operator sent the user away; the text says who and why.
    SentAway {
        /// Kicked or banned.
        how: SentAway,
        /// What to show: who did it and why, in words.
        why: String,
    },
    /// Joining again, the server was not one to trust any more (its key changed, it stopped
    /// encrypting): the whole message, and the exit code that goes with it.
    Untrusted {
        /// What to show, complete (a changed key's warning starts with its banner).
        message: String,
        /// The exit code (4 for a changed key).
        code: u8,
    },
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn exit_code(&self) -> u8 {
        match self {
            Outcome::Quit => EXIT_QUIT,
            Outcome::ServerGone(_) => EXIT_SERVER_GONE,
            Outcome::SentAway {
                how: SentAway::Kicked,
                ..
            } => EXIT_KICKED,
            Outcome::SentAway {
                how: SentAway::Banned,
                ..
            } => EXIT_BANNED,
            Outcome::Untrusted { code, .. } => *code,
        }
    }

    /// Why the run ended, if it was not a quit.
    pub fn farewell(&self) -> Option<&str> {
        match self {
            Outcome::Quit => None,
            Outcome::ServerGone(why) | Outcome::SentAway { why, .. } => Some(why),
            Outcome::Untrusted { message, .. } => Some(message),
        }
    }

    /// What to show on stderr as the client ends, if anything: the farewell, after
    /// `lanchat: ` unless it is a message complete in itself.
    pub fn farewell_text(&self) -> Option<String> {
        match self {
            Outcome::Quit => None,
            Outcome::ServerGone(why) | Outcome::SentAway { why, .. } => {
                Some(format!("lanchat: {why}"))
            }
            Outcome::Untrusted { message, .. } => Some(message.clone()),
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
    /// Show this line.
    Print(Shown),
    /// The prompt changed (this client was renamed, joined or left a room, a room has new
    /// unread lines, reconnecting moved on): the one shown is stale until drawn again.
    PromptChanged,
    /// The first member list arrived: the join's burst (welcome, history, who is here) is
    /// shown, so the prompt can come below it.
    Listed,
    /// The session is over.
    End(Outcome),
    /// The connection is gone but the session is not: connect and join again
    /// ([`Session::rejoin`]), then read on.
    Lost,
}

/// Where a reconnection stands, for the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The next attempt is in this many seconds.
    In(u64),
    /// An attempt is under way.
    Connecting,
}

/// Where the session is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// Joined and chatting.
    Chatting,
    /// Our quit is sent; an answer is due by `deadline`.
    Quitting { deadline: Instant },
    /// The connection was lost (`why`); reconnecting (`attempt` 0: not yet started).
    Reconnecting {
        why: String,
        attempt: u32,
        wait: Wait,
    },
    /// Over, with this outcome; nothing more is shown.
    Ended(Outcome),
}

/// How to join again after the connection was lost: with this name, then these lines (the
/// away message, if the user was away; when there are rooms, a join for each room it was in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejoin {
    /// The name, as the server last confirmed it.
    pub name: String,
    /// Lines to send once joined.
    pub then: Vec<String>,
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
    /// Whether the session comes back on its own when the connection is lost.
    reconnect: bool,
    /// The public lines shown, so a replay after a rejoin shows only new ones.
    seen: Seen,
    /// The longest line the server takes (its `LIMIT max-line`; the default until it says).
    max_line: usize,
    /// The rooms this client is in, and the current one.
    rooms: Rooms,
    /// `/who` lines sent whose answer is still to come (each is shown as a table).
    who_asked: usize,
    /// A `/join`'s answer is arriving: its member list is shown as a line, as a join's is.
    joining: bool,
    /// How long the answer to a quit is waited for ([`QUIT_WAIT`] unless told otherwise).
    quit_wait: Duration,
}

/// At most this many `/who` answers are awaited as tables (more is a paste gone wild).
const MAX_WHO_ASKED: usize = 100;

/// The shortest line limit the client believes a server's `LIMIT max-line` about: below it a
/// piece of a long line could not even hold `/msg <name> ` and a word.
const MIN_SENT_LINE: usize = 64;

/// The text of a quit unanswered for `wait`.
fn unanswered(wait: Duration) -> String {
    format!(
        "the server did not answer the quit within {} s; what was sent last may not have \
         arrived",
        wait.as_secs_f64()
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
            reconnect: false,
            seen: Seen::default(),
            max_line: lanchat_proto::DEFAULT_MAX_LINE,
            rooms: Rooms::default(),
            who_asked: 0,
            joining: false,
            quit_wait: QUIT_WAIT,
        }
    }

    /// Wait `wait` for the answer to a quit instead of [`QUIT_WAIT`] (tests shorten it:
    /// [`crate::waits`]).
    pub fn set_quit_wait(&mut self, wait: Duration) {
        self.quit_wait = wait;
    }

    /// Whether a `/join` makes the joined room current ([`Follow::Joins`], the default) or
    /// lines stay in `#general` unless they say `/in #room` ([`Follow::Never`], for scripts).
    pub fn set_follow(&mut self, follow: Follow) {
        self.rooms = Rooms::new(follow);
    }

    /// The rooms this client is in.
    pub fn rooms(&self) -> &Rooms {
        &self.rooms
    }

    /// Make `room` (any case) current (`/go`); `false` if this client is not in it.
    pub fn go(&mut self, room: &str) -> bool {
        self.rooms.go(room)
    }

    /// Make the next or previous room current; `false` when there is no other room.
    pub fn cycle(&mut self, step: Step) -> bool {
        self.rooms.cycle(step)
    }

    /// A typed line as it goes to the server: in a room other than `#general`, with
    /// `/in #room` added where the line is about the room.
    pub fn outgoing(&self, line: &str) -> String {
        self.rooms.outgoing(line).into_owned()
    }

    /// Tab completion for `line` with the cursor at byte `pos`: room names for a word that
    /// starts with `#` or follows a room command (`/join`, `/part`, `/in`, `/go`), else what
    /// [`Members::complete`] offers.
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let Some((head, start)) = crate::members::word_at(line, pos) else {
            return (pos, Vec::new());
        };
        let word = &head[start..];
        let before: Vec<&str> = head[..start].split_whitespace().collect();
        let after_room_command = matches!(before.as_slice(), [cmd]
            if ["/join", "/part", "/in", "/go"].iter().any(|c| cmd.eq_ignore_ascii_case(c)));
        if word.starts_with('#') || (after_room_command && start > 0) {
            let rooms = self.rooms.completions(word);
            return (start, rooms.into_iter().map(|r| format!("{r} ")).collect());
        }
        self.members.complete(line, pos)
    }

    /// Come back on its own when the connection is lost (see the module docs), or not.
    pub fn set_reconnect(&mut self, on: bool) {
        self.reconnect = on;
    }

    /// Who is here (for Tab completion).
    pub fn members(&self) -> &Members {
        &self.members
    }

    /// This client's name as the server last confirmed it.
    pub fn me(&self) -> &str {
        self.members.me()
    }

    /// The prompt in front of the line being typed: `name> `; once this client is in a room
    /// besides `#general`, the current room and the others' unread lines:
    /// `ann #dev [#ops 3]> `; and while reconnecting what that is doing:
    /// `[reconnecting (attempt 3, next in 4 s)] ann #dev> `.
    pub fn prompt(&self) -> String {
        let me = sanitize(self.me());
        let rooms = self.rooms.prompt_part();
        match self.status() {
            Some(status) => format!("[{status}] {me}{rooms}> "),
            None => format!("{me}{rooms}> "),
        }
    }

    /// While reconnecting, what that is doing: `reconnecting (attempt 3, next in 4 s)`.
    pub fn status(&self) -> Option<String> {
        let Phase::Reconnecting { attempt, wait, .. } = &self.phase else {
            return None;
        };
        Some(match (attempt, wait) {
            (0, _) => "reconnecting".to_owned(),
            (n, Wait::In(secs)) => format!("reconnecting (attempt {n}, next in {secs} s)"),
            (n, Wait::Connecting) => format!("reconnecting (attempt {n}, connecting ...)"),
        })
    }

    /// The longest line the server takes, in bytes (without the `\n`).
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Whether the connection is lost and the session is coming back.
    pub fn is_reconnecting(&self) -> bool {
        matches!(self.phase, Phase::Reconnecting { .. })
    }

    /// Whether the quit was sent and its answer is awaited.
    pub fn is_quitting(&self) -> bool {
        matches!(self.phase, Phase::Quitting { .. })
    }

    /// The welcome the name handshake ended with, as the first lines shown.
    pub fn welcome(&mut self, name: &str, text: &str, now_ms: u64) -> Vec<Action> {
        // A server says its line limit after the welcome only when it is not the default (and
        // the server may have been restarted with another since the last welcome).
        self.max_line = lanchat_proto::DEFAULT_MAX_LINE;
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
        if self.outcome().is_some() || self.is_reconnecting() {
            return Vec::new();
        }
        if let ServerMsg::Bye { text } = msg {
            if self.is_quitting() {
                return vec![self.end(Outcome::Quit)];
            }
            if let Some(how) = sent_away(text) {
                // Not knocked on again: the operator meant it.
                let why = format!("you were {}", sanitize(text));
                return vec![self.end(Outcome::SentAway { how, why })];
            }
            let why = format!("the server closed the connection: {}", sanitize(text));
            // Only a server that is going is come back to; one that sent this user away is
            // not knocked on again.
            if self.reconnect && *text == BYE_SHUTDOWN {
                return self.lose(why, now_ms);
            }
            return vec![self.end(Outcome::ServerGone(why))];
        }
        if let ServerMsg::Limit { name, value } = msg {
            if *name == lanchat_proto::LIMIT_MAX_LINE {
                self.max_line = usize::try_from(*value)
                    .unwrap_or(usize::MAX)
                    .clamp(MIN_SENT_LINE, lanchat_proto::MAX_MAX_LINE);
            }
            return Vec::new();
        }
        if let Some(from) = private_from(msg) {
            if !self.is_ignored(from) {
                self.last_private = Some(from.to_owned());
            }
        }
        if self.hidden(msg) {
            return Vec::new();
        }
        match msg {
            ServerMsg::Hist { at_ms, frame } => {
                let shown_before = frame_key(frame).is_some_and(|k| self.seen.replayed(k, *at_ms));
                if shown_before {
                    return Vec::new();
                }
            }
            ServerMsg::Msg { .. } | ServerMsg::Action { .. } => {
                if let Some(k) = frame_key(msg) {
                    self.seen.live(k, now_ms);
                }
            }
            _ => {}
        }
        let prompt = self.prompt();
        // Tagged by the room it is about when that is not the current room (as it was when
        // the line arrived, before a `/join`'s `ROOM` makes the room current).
        let tag = match msg {
            ServerMsg::Msg { room, .. } | ServerMsg::Action { room, .. } => self.rooms.tag(*room),
            ServerMsg::Hist { frame, .. } => self.rooms.tag(frame.room()),
            _ => None,
        };
        self.rooms.apply(msg);
        let list = self.listing(msg);
        let change = self.members.apply(msg);
        let me = self.members.me().to_owned();
        let context = Context {
            change: &change,
            me: &me,
            tag,
            list,
        };
        let mut actions: Vec<Action> = self
            .renderer
            .render_in(msg, &context, now_ms)
            .into_iter()
            .map(Action::Print)
            .collect();
        if self.prompt() != prompt {
            actions.push(Action::PromptChanged);
        }
        let general_list = matches!(msg, ServerMsg::WhoEnd { room: None, .. });
        if general_list && !std::mem::replace(&mut self.listed, true) {
            actions.push(Action::Listed);
        }
        actions
    }

    /// How a member list ending with `msg` is shown: as a table when it answers this client's
    /// own `/who`, as a line when a join (of the server or a room) brought it.
    fn listing(&mut self, msg: &ServerMsg<'_>) -> Listing {
        match msg {
            ServerMsg::Room { .. } => {
                self.joining = true;
                Listing::Line
            }
            ServerMsg::WhoEnd { .. } => {
                let burst = std::mem::take(&mut self.joining) || !self.listed;
                if burst || self.who_asked == 0 {
                    Listing::Line
                } else {
                    self.who_asked -= 1;
                    Listing::Table
                }
            }
            _ => Listing::Line,
        }
    }

    /// Whether `msg` is not shown: from someone ignored, or history when it is off. A note kept
    /// while this client was away (`HIST ... PRIV`) is not history: the server delivers it once.
    fn hidden(&self, msg: &ServerMsg<'_>) -> bool {
        match msg {
            ServerMsg::Hist { frame, .. } if matches!(**frame, ServerMsg::Priv { .. }) => {
                self.hidden(frame)
            }
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

    /// `line` is about to be written to the server: a `/who` (also `/in #room /who`) is
    /// expected to be answered, and its answer is shown as a table. Called before the write,
    /// as the answer can be read before the write returns.
    pub fn on_sending(&mut self, line: &str) {
        let asks_who = match ClientMsg::parse(line) {
            Ok(ClientMsg::Who) => true,
            Ok(ClientMsg::In { line, .. }) => ClientMsg::parse(line) == Ok(ClientMsg::Who),
            _ => false,
        };
        if asks_who {
            self.who_asked = (self.who_asked + 1).min(MAX_WHO_ASKED);
        }
    }

    /// A line this client typed went to the server at `now_ms`: its echo, drawn the way
    /// others see it (nothing for commands whose answer shows; tagged when done in a room
    /// that is not the current one).
    pub fn on_sent(&mut self, line: &str, now_ms: u64) -> Vec<Action> {
        let Ok(msg) = ClientMsg::parse(line) else {
            return Vec::new();
        };
        let (msg, room) = match msg {
            ClientMsg::In { room, line } => match ClientMsg::parse(line) {
                Ok(inner) => (inner, Some(room)),
                Err(_) => return Vec::new(),
            },
            other => (other, None),
        };
        // The room field the server's lines give it: none for `#general`.
        let field = room.filter(|r| !lanchat_proto::room::is_general(r));
        let tag = self.rooms.tag(field);
        let me = self.members.me().to_owned();
        // As the server keeps it in its history, for a replay after a rejoin.
        let kept = match msg {
            ClientMsg::Say(text) => frame_key(&ServerMsg::Msg {
                room: field,
                from: &me,
                text,
            }),
            ClientMsg::Me(text) => frame_key(&ServerMsg::Action {
                room: field,
                from: &me,
                text,
            }),
            _ => None,
        };
        if let Some(k) = kept {
            self.seen.live(k, now_ms);
        }
        self.renderer
            .own(&msg, &me, tag, now_ms)
            .into_iter()
            .map(Action::Print)
            .collect()
    }

    /// The terminal is `width` columns wide (`None`: there is none), which bounds how much
    /// of a member list is shown.
    pub fn set_width(&mut self, width: Option<usize>) {
        self.renderer.set_width(width);
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

    /// The user leaves, saying `message` to the others: the bytes to send (once; `None` if
    /// the quit is already under way or the session is over). Its answer is due within
    /// [`QUIT_WAIT`] (or what [`Session::set_quit_wait`] set) of `now`.
    pub fn on_quit(&mut self, now: Instant, message: Option<&str>) -> Option<Vec<u8>> {
        if self.phase != Phase::Chatting {
            return None;
        }
        self.phase = Phase::Quitting {
            deadline: now + self.quit_wait,
        };
        let mut bytes = Vec::new();
        ClientMsg::Quit(message).encode(&mut bytes);
        Some(bytes)
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
        if let Some(o) = self.leave_while_away() {
            return o;
        }
        let outcome = Outcome::ServerGone(unanswered(self.quit_wait));
        self.phase = Phase::Ended(outcome.clone());
        outcome
    }

    /// The stream from the server ended at `now_ms`. After our quit an orderly close is its
    /// answer; a failed read is not (what was sent last may be lost). Otherwise the session
    /// ends, or, coming back on its own, is [`Action::Lost`].
    pub fn on_server_gone(&mut self, how: Gone, now_ms: u64) -> Vec<Action> {
        if self.outcome().is_some() || self.is_reconnecting() {
            return Vec::new();
        }
        let quitting = self.is_quitting();
        let why = match how {
            Gone::Closed if quitting => return vec![self.end(Outcome::Quit)],
            Gone::Lost(_) if quitting => {
                return vec![self.end(Outcome::ServerGone(unanswered(self.quit_wait)))]
            }
            Gone::Closed => "the server closed the connection".to_owned(),
            Gone::Lost(e) => format!("lost the connection to the server: {}", plain_io(&e)),
        };
        if self.reconnect {
            self.lose(why, now_ms)
        } else {
            vec![self.end(Outcome::ServerGone(why))]
        }
    }

    /// The connection is lost (`why`), and the session goes on: says so, on one line.
    fn lose(&mut self, why: String, now_ms: u64) -> Vec<Action> {
        let mut actions = self.notice(&format!("{why}; reconnecting"), now_ms);
        self.phase = Phase::Reconnecting {
            why,
            attempt: 0,
            wait: Wait::In(0),
        };
        actions.push(Action::PromptChanged);
        actions.push(Action::Lost);
        actions
    }

    /// A line of the client's own, shown at `now_ms` as the server's notices are
    /// (`[12:01] * ...`).
    pub fn notice(&mut self, text: &str, now_ms: u64) -> Vec<Action> {
        let me = self.members.me().to_owned();
        self.renderer
            .render(&ServerMsg::Info { text }, &Change::None, &me, now_ms)
            .into_iter()
            .map(Action::Print)
            .collect()
    }

    /// Reconnecting: attempt `attempt` is `wait` away (the prompt shows it). Nothing if the
    /// session is not reconnecting (the user left meanwhile).
    pub fn on_retry(&mut self, attempt: u32, wait: Wait) -> Vec<Action> {
        match &mut self.phase {
            Phase::Reconnecting {
                attempt: a,
                wait: w,
                ..
            } => {
                *a = attempt;
                *w = wait;
                vec![Action::PromptChanged]
            }
            _ => Vec::new(),
        }
    }

    /// How to join again, while reconnecting.
    pub fn rejoin(&self) -> Option<Rejoin> {
        if !self.is_reconnecting() {
            return None;
        }
        let mut then: Vec<String> = self
            .members
            .my_away()
            .map(|m| {
                let mut line = Vec::new();
                let message = (!m.is_empty()).then_some(m);
                ClientMsg::Away(message).encode(&mut line);
                String::from_utf8_lossy(&line).trim_end().to_owned()
            })
            .into_iter()
            .collect();
        then.extend(self.rooms.rejoin_lines());
        Some(Rejoin {
            name: self.members.me().to_owned(),
            then,
        })
    }

    /// Joined again at `now_ms` (the server's welcome read): chatting, and the history it
    /// replays shows only what was not shown.
    pub fn on_rejoined(&mut self, now_ms: u64) -> Vec<Action> {
        if !self.is_reconnecting() {
            return Vec::new();
        }
        self.phase = Phase::Chatting;
        self.seen.new_replay();
        self.rooms.rejoined();
        let name = sanitize(self.members.me()).into_owned();
        let mut actions = self.notice(&format!("reconnected as {name}"), now_ms);
        actions.push(Action::PromptChanged);
        actions
    }

    /// Reconnecting can never succeed (`why`: the name is no longer allowed, say): how the
    /// run ends.
    pub fn give_up(&mut self, why: &str) -> Outcome {
        let lost = match &self.phase {
            Phase::Reconnecting { why, .. } => why.clone(),
            _ => return self.on_quit_timeout(),
        };
        let outcome = Outcome::ServerGone(format!("{lost}; cannot join again: {why}"));
        self.phase = Phase::Ended(outcome.clone());
        outcome
    }

    /// Joining again found a server not to trust: the run ends with `message` (complete) and
    /// the exit code `code`.
    pub fn untrusted(&mut self, message: String, code: u8) -> Outcome {
        let outcome = Outcome::Untrusted { message, code };
        self.phase = Phase::Ended(outcome.clone());
        outcome
    }

    /// The user leaves while reconnecting: the run ends at once (exit 3: there is no server
    /// to answer). `None` when not reconnecting.
    pub fn leave_while_away(&mut self) -> Option<Outcome> {
        let Phase::Reconnecting { why, .. } = &self.phase else {
            return None;
        };
        let outcome = Outcome::ServerGone(format!("{why}; left before reconnecting"));
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

/// Who wrote `msg` to this client privately: a private message, or a note kept while it was
/// away.
fn private_from<'m>(msg: &'m ServerMsg<'_>) -> Option<&'m str> {
    match msg {
        ServerMsg::Priv { from, .. } => Some(from),
        ServerMsg::Hist { frame, .. } => private_from(frame),
        _ => None,
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

    #[test]
    fn the_servers_line_limit_is_learnt_and_kept_sane() {
        let mut s = session();
        assert_eq!(s.max_line(), lanchat_proto::DEFAULT_MAX_LINE);
        let limit = |value| ServerMsg::Limit {
            name: lanchat_proto::LIMIT_MAX_LINE,
            value,
        };
        assert_eq!(s.on_msg(&limit(300), NOW), []);
        assert_eq!(s.max_line(), 300);
        s.on_msg(&limit(3), NOW);
        assert_eq!(s.max_line(), MIN_SENT_LINE);
        s.on_msg(&limit(u64::MAX), NOW);
        assert_eq!(s.max_line(), lanchat_proto::MAX_MAX_LINE);
        // A limit this client does not know changes nothing and shows nothing.
        let other = ServerMsg::Limit {
            name: "rate",
            value: 5,
        };
        assert_eq!(s.on_msg(&other, NOW), []);
        assert_eq!(s.max_line(), lanchat_proto::MAX_MAX_LINE);
    }

    fn prints(lines: &[&str]) -> Vec<Action> {
        lines
            .iter()
            .map(|l| Action::Print(Shown::plain(*l)))
            .collect()
    }

    /// `actions` with what is printed compared by its text alone.
    fn norm(actions: Vec<Action>) -> Vec<Action> {
        actions
            .into_iter()
            .map(|a| match a {
                Action::Print(l) => Action::Print(Shown::plain(l.text)),
                other => other,
            })
            .collect()
    }

    #[test]
    fn lines_become_what_is_shown() {
        let mut s = session();
        assert_eq!(
            norm(s.welcome("ann", "Hi ann!", NOW)),
            prints(&["* Hi ann!"])
        );
        assert_eq!(norm(s.on_line("WHO bob ann", NOW)), vec![]);
        let mut listed = prints(&["* here now (2): bob, ann"]);
        listed.push(Action::Listed);
        assert_eq!(norm(s.on_line("WHOEND 2", NOW)), listed);
        assert!(s.members().contains("bob"));
        // Only the first list ends the join's burst.
        assert_eq!(
            norm(s.on_line("WHOEND 0", NOW)),
            prints(&["* here now (0)"])
        );
        assert_eq!(norm(s.on_line("MSG bob hi", NOW)), prints(&["<bob> hi"]));
        assert_eq!(norm(s.on_line("FROB from a newer server", NOW)), vec![]);
        assert_eq!(norm(s.on_line("", NOW)), vec![]);
        assert_eq!(s.prompt(), "ann> ");
        assert_eq!(
            norm(s.on_line("NICK ann annie", NOW)),
            vec![
                Action::Print("* you are now known as annie".into()),
                Action::PromptChanged
            ]
        );
        assert_eq!(s.prompt(), "annie> ");
        assert_eq!(
            norm(s.on_line("NICK bob rob", NOW)),
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
            assert_eq!(norm(s.on_sent(line, NOW)), prints(want), "{line:?}");
        }
    }

    #[test]
    fn a_bye_we_did_not_ask_for_is_the_server_going_away() {
        let mut s = session();
        assert_eq!(
            norm(s.on_line("BYE server shutting down", NOW)),
            vec![Action::End(Outcome::ServerGone(
                "the server closed the connection: server shutting down".into()
            ))]
        );
        // Nothing after the end.
        assert_eq!(norm(s.on_line("MSG bob late", NOW)), vec![]);
        assert_eq!(s.on_server_gone(Gone::Closed, NOW), vec![]);
        assert_eq!(s.on_quit(Instant::now(), None), None);
    }

    #[test]
    fn the_bye_after_our_quit_is_its_answer() {
        let mut s = session();
        let t0 = Instant::now();
        assert_eq!(s.on_quit(t0, None), Some(b"/quit\n".to_vec()));
        assert_eq!(s.quit_deadline(), Some(t0 + QUIT_WAIT));
        assert_eq!(s.on_quit(t0, None), None, "sent once");
        // Lines still arriving before the answer are shown.
        assert_eq!(
            norm(s.on_line("MSG bob so long", NOW)),
            prints(&["<bob> so long"])
        );
        assert_eq!(
            norm(s.on_line("BYE see you", NOW)),
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
            (true, reset(), Outcome::ServerGone(unanswered(QUIT_WAIT))),
        ];
        for (quitting, how, want) in cases {
            let mut s = session();
            if quitting {
                s.on_quit(Instant::now(), None);
            }
            assert_eq!(
                s.on_server_gone(how, NOW),
                vec![Action::End(want)],
                "quitting: {quitting}"
            );
        }
    }

    #[test]
    fn an_unanswered_quit_is_exit_3() {
        let mut s = session();
        s.on_quit(Instant::now(), None);
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
    fn rooms_in_the_prompt_tags_unread_counts_and_redraws() {
        let mut s = session();
        s.welcome("ann", "hi", NOW);
        s.on_line("WHO bob ann", NOW);
        s.on_line("WHOEND 2", NOW);
        let mut joined = prints(&["* you joined #dev (topic: release)"]);
        joined.push(Action::PromptChanged);
        assert_eq!(norm(s.on_line("ROOM #dev release", NOW)), joined);
        assert_eq!(s.prompt(), "ann #dev> ");
        assert_eq!(
            s.on_line("HIST 1764244800000 MSG #dev bob before", NOW),
            vec![]
        );
        assert_eq!(
            norm(s.on_line("WHO #dev bob", NOW)),
            prints(&["--- earlier messages (12:00 to 12:00) ---", "<bob> before"])
        );
        assert_eq!(
            norm(s.on_line("WHOEND #dev 1", NOW)),
            prints(&["* here now in #dev (1): bob"])
        );
        assert!(
            s.members().contains("ann"),
            "a room's list leaves the server's alone"
        );
        assert_eq!(
            norm(s.on_line("MSG #dev bob in dev", NOW)),
            prints(&["<bob> in dev"])
        );
        let mut other = prints(&["#general <bob> in general"]);
        other.push(Action::PromptChanged);
        assert_eq!(norm(s.on_line("MSG bob in general", NOW)), other);
        assert_eq!(s.prompt(), "ann #dev [#general 1]> ");
        assert_eq!(
            norm(s.on_line("MSG #dev bob ann: look", NOW)),
            prints(&["! <bob> ann: look"]),
            "a mention in any room"
        );
        assert!(s.go("#general"));
        assert_eq!(s.prompt(), "ann #general> ");
        assert_eq!(
            norm(s.on_line("ACTION #dev bob waves", NOW))[0],
            Action::Print(Shown::plain("#dev ~ bob waves"))
        );
        assert_eq!(s.prompt(), "ann #general [#dev 1]> ");
        assert_eq!(s.outgoing("hi"), "hi");
        assert!(s.cycle(Step::Next));
        assert_eq!(s.prompt(), "ann #dev> ");
        assert_eq!(s.outgoing("hi"), "/in #dev hi");
        let mut parted = prints(&["* you left #dev"]);
        parted.push(Action::PromptChanged);
        assert_eq!(norm(s.on_line("PARTED #dev", NOW)), parted);
        assert_eq!(s.prompt(), "ann> ");
    }

    #[test]
    fn a_who_asked_for_is_a_table_and_so_is_the_room_list() {
        let mut s = session();
        s.set_width(Some(40));
        s.welcome("ann", "hi", NOW);
        s.on_line("WHO ann", NOW);
        s.on_line("WHOEND 1", NOW);
        s.on_line("ROOM #dev", NOW);
        s.on_line("WHO #dev ann", NOW);
        s.on_line("WHOEND #dev 1", NOW);
        s.on_sending("/in #dev /who");
        assert_eq!(s.on_sent("/in #dev /who", NOW), vec![]);
        let names = "WHO #dev ann bob cid dan eve fay gus hal ivy jan";
        s.on_line(names, NOW);
        assert_eq!(
            norm(s.on_line("WHOEND #dev 10", NOW)),
            prints(&[
                "* here now in #dev (10):",
                "  ann  bob  cid  dan  eve  fay  gus  hal",
                "  ivy  jan",
            ])
        );
        s.on_line("ROOMLIST #general 12", NOW);
        s.on_line("ROOMLIST #dev 10 release on friday at noon, or so", NOW);
        assert_eq!(
            norm(s.on_line("ROOMLISTEND 2", NOW)),
            prints(&[
                "* rooms (2):",
                "  #general  12",
                "  #dev      10  release on friday at no…",
            ])
        );
        assert_eq!(s.complete("/join #d", 8), (6, vec!["#dev ".to_owned()]));
        assert_eq!(s.complete("/go ", 4).1, ["#general ", "#dev "]);
    }

    #[test]
    fn ignored_names_are_not_shown_and_replies_go_to_the_last_private_writer() {
        let mut s = session();
        assert!(s.ignore("Mallory"));
        assert!(!s.ignore("mallory"));
        assert_eq!(norm(s.on_line("MSG mallory buy now", NOW)), vec![]);
        assert_eq!(norm(s.on_line("PRIV MALLORY psst", NOW)), vec![]);
        assert_eq!(norm(s.on_line("HIST 0 ACTION mallory waves", NOW)), vec![]);
        assert_eq!(s.reply_to(), None);
        assert_eq!(s.on_line("PRIV bob psst", NOW).len(), 1);
        assert_eq!(s.reply_to(), Some("bob"));
        // Notices about them still show.
        assert_eq!(s.on_line("JOIN mallory", NOW).len(), 1);
        assert!(s.unignore("mallory"));
        assert_eq!(s.on_line("MSG mallory back", NOW).len(), 1);
        s.set_history(false);
        assert_eq!(norm(s.on_line("HIST 0 MSG bob old", NOW)), vec![]);
    }

    /// A session that comes back on its own, joined and listed, with the prompt's status
    /// and the notices it prints as text.
    fn coming_back() -> Session {
        let mut s = session();
        s.set_reconnect(true);
        s.welcome("ann", "hi", NOW);
        s.on_line("WHO ann bob", NOW);
        s.on_line("WHOEND 2", NOW);
        s
    }

    fn texts(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Print(l) => l.text.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_server_going_away_is_lost_not_the_end_when_coming_back() {
        let reset = || Gone::Lost(io::Error::from(io::ErrorKind::ConnectionReset));
        type Event = Box<dyn Fn(&mut Session) -> Vec<Action>>;
        let cases: Vec<(&str, Event)> = vec![
            (
                "the server closed the connection: server shutting down",
                Box::new(|s| s.on_line("BYE server shutting down", NOW)),
            ),
            (
                "the server closed the connection",
                Box::new(|s| s.on_server_gone(Gone::Closed, NOW)),
            ),
            (
                "lost the connection to the server: connection reset",
                Box::new(move |s| s.on_server_gone(reset(), NOW)),
            ),
        ];
        for (why, event) in cases {
            let mut s = coming_back();
            let actions = event(&mut s);
            assert_eq!(
                texts(&actions),
                [
                    format!("* {why}; reconnecting"),
                    "PromptChanged".into(),
                    "Lost".into()
                ]
            );
            assert!(s.is_reconnecting());
            assert_eq!(s.outcome(), None);
            assert_eq!(s.prompt(), "[reconnecting] ann> ");
            // Nothing more from the old connection counts.
            assert_eq!(s.on_server_gone(Gone::Closed, NOW), vec![]);
            assert_eq!(s.on_line("MSG bob late", NOW), vec![]);
        }
    }

    #[test]
    fn sent_away_or_leaving_is_final_even_when_coming_back() {
        // A BYE to this user for anything but the server's shutdown: too slow, flooding, and
        // what a later server might say.
        for bye in ["BYE too-slow", "BYE flooding", "BYE banned"] {
            let mut s = coming_back();
            let actions = s.on_line(bye, NOW);
            assert!(
                matches!(actions.as_slice(), [Action::End(Outcome::ServerGone(_))]),
                "{bye}: {actions:?}"
            );
            assert!(!s.is_reconnecting());
        }
        // An operator's kick or ban: final too, with its own words and exit code.
        for (bye, how, code) in [
            (
                "BYE kicked by carl: calm down",
                SentAway::Kicked,
                EXIT_KICKED,
            ),
            ("BYE banned by carl for 2h", SentAway::Banned, EXIT_BANNED),
        ] {
            let mut s = coming_back();
            let actions = s.on_line(bye, NOW);
            let [Action::End(out)] = actions.as_slice() else {
                panic!("{bye}: {actions:?}");
            };
            assert_eq!(out.exit_code(), code, "{bye}");
            assert!(matches!(out, Outcome::SentAway { how: h, .. } if *h == how));
            assert_eq!(
                out.farewell_text(),
                Some(format!("lanchat: you were {}", &bye[4..]))
            );
            assert!(!s.is_reconnecting());
        }
        // Our own quit: the server's close is its answer.
        let mut s = coming_back();
        s.on_quit(Instant::now(), Some("bye"));
        assert_eq!(
            s.on_server_gone(Gone::Closed, NOW),
            vec![Action::End(Outcome::Quit)]
        );
        let mut s = coming_back();
        s.on_quit(Instant::now(), None);
        assert_eq!(
            s.on_line("BYE server shutting down", NOW),
            vec![Action::End(Outcome::Quit)]
        );
    }

    #[test]
    fn reconnecting_counts_down_in_the_prompt_and_rejoins_as_it_was() {
        let mut s = coming_back();
        s.on_line("AWAY ann lunch", NOW);
        s.on_line("BYE server shutting down", NOW);
        assert_eq!(s.on_retry(3, Wait::In(4)), vec![Action::PromptChanged]);
        assert_eq!(s.prompt(), "[reconnecting (attempt 3, next in 4 s)] ann> ");
        s.on_retry(3, Wait::Connecting);
        assert_eq!(
            s.status().as_deref(),
            Some("reconnecting (attempt 3, connecting ...)")
        );
        // Nothing can be sent meanwhile: the quit has nobody to go to.
        assert_eq!(s.on_quit(Instant::now(), None), None);
        assert_eq!(
            s.rejoin(),
            Some(Rejoin {
                name: "ann".into(),
                then: vec!["/away lunch".into()],
            })
        );
        assert_eq!(
            texts(&s.on_rejoined(NOW)),
            ["* reconnected as ann", "PromptChanged"]
        );
        assert_eq!(s.prompt(), "ann> ");
        assert_eq!(s.rejoin(), None);
        assert_eq!(s.on_retry(1, Wait::In(1)), vec![], "not reconnecting");
        // And the quit works again.
        assert!(s.on_quit(Instant::now(), None).is_some());
    }

    #[test]
    fn leaving_while_reconnecting_ends_at_once_with_3() {
        let mut s = coming_back();
        assert_eq!(s.leave_while_away(), None, "connected");
        s.on_server_gone(Gone::Closed, NOW);
        let out = s.leave_while_away().unwrap();
        assert_eq!(out.exit_code(), EXIT_SERVER_GONE);
        assert_eq!(
            out.farewell(),
            Some("the server closed the connection; left before reconnecting")
        );
        assert_eq!(s.on_rejoined(NOW), vec![], "the user left first");
        // Giving up (the name is no longer allowed) is also exit 3.
        let mut s = coming_back();
        s.on_server_gone(Gone::Closed, NOW);
        let out = s.give_up("the name was refused: not allowed");
        assert_eq!(
            out.farewell(),
            Some(
                "the server closed the connection; cannot join again: the name was refused: \
                 not allowed"
            )
        );
        assert_eq!(s.outcome(), Some(&out));
    }

    #[test]
    fn after_a_rejoin_only_history_not_shown_yet_is_shown() {
        let mut s = coming_back();
        // Shown so far: one line of history, one live, one of our own.
        s.on_line("HIST 1000 MSG bob before you came", NOW);
        s.on_line("MSG bob live", NOW);
        s.on_sent("mine", NOW + 1_000);
        s.on_line("BYE server shutting down", NOW + 2_000);
        s.on_rejoined(NOW + 5_000);
        let replay = [
            "HIST 1000 MSG bob before you came",
            &format!("HIST {} MSG bob live", NOW + 100),
            &format!("HIST {} MSG ann mine", NOW + 1_100),
            &format!("HIST {} MSG bob while you were gone", NOW + 3_000),
            "WHO ann bob",
            "WHOEND 2",
        ];
        let shown: Vec<String> = replay
            .iter()
            .flat_map(|l| texts(&s.on_line(l, NOW + 6_000)))
            .collect();
        assert_eq!(shown.len(), 3, "{shown:?}");
        assert!(shown[0].starts_with("--- earlier messages"), "{shown:?}");
        assert!(shown[1].ends_with("<bob> while you were gone"), "{shown:?}");
        assert!(shown[2].starts_with("* here now (2)"), "{shown:?}");
    }

    /// A note kept while away is delivered once: it shows even with history off (unless its
    /// sender is ignored), and `/reply` answers it.
    #[test]
    fn notes_kept_while_away_show_without_history_and_can_be_replied_to() {
        let mut s = session();
        s.set_history(false);
        assert_eq!(
            texts(&s.on_line("HIST 1764244800000 PRIV carl call me back", NOW)),
            ["! [private, kept] <carl> call me back"]
        );
        assert_eq!(s.reply_to(), Some("carl"));
        s.ignore("mallory");
        assert_eq!(s.on_line("HIST 0 PRIV mallory psst", NOW), vec![]);
        assert_eq!(s.reply_to(), Some("carl"));
    }
}
