//! The words the server says to people: greetings, help, and the text after each `ERR` code.
//!
//! Kept apart from the logic so wording can change without touching behaviour; programs match
//! on kinds and codes, never on these texts.

use std::borrow::Cow;

/// `HELLO` on connect.
pub const HELLO: &str = "Welcome to lanchat! What is your name?";
/// `BYE` after `<quit>`.
pub const BYE_QUIT: &str = "Goodbye!";
/// `BYE` to everyone when the server stops (the protocol fixes this wording: clients tell it
/// from being sent away).
pub const BYE_SHUTDOWN: &str = lanchat_proto::BYE_SHUTDOWN;
/// `BYE` to a connection dropped for not reading.
pub const BYE_TOO_SLOW: &str = "too-slow";
/// `BYE` to a connection dropped for flooding.
pub const BYE_FLOODING: &str = "flooding";
/// `ERR bad-utf8`.
pub const BAD_UTF8: &str = "lines must be UTF-8 text; that line was dropped";

/// The `INFO` lines answering `/help`.
pub const HELP: &[&str] = &[
    "Type a line and press Enter to talk to everyone (in #general).",
    "/who                 list who is here",
    "/msg <name> <text>   private message to one person",
    "/me <action>         say what you are doing (~ ann waves)",
    "/nick <name>         change your name",
    "/join #room          join a room (made if it does not exist)",
    "/part #room          leave a room",
    "/in #room <line>     say something (or /me, /who, /topic <text>) in a room",
    "/rooms               list the rooms",
    "/away [message]      say you are away (/away again, or /back, when you return)",
    "/back                no longer away",
    "/help                this help",
    "<quit> or /quit      leave (/quit <message> says goodbye to the others)",
    "//text               send a line that starts with /",
];

/// `ERR bad-usage` for `/part #general`.
pub const PART_GENERAL: &str = "#general cannot be left; <quit> leaves the server";

/// `ERR bad-usage` for a topic of `#general`.
pub const GENERAL_TOPIC: &str = "#general has no topic; /join a room of your own to set one";

/// `ERR bad-usage` for a line in a room that is not about a room.
pub const NOT_A_ROOM_LINE: &str =
    "only a message, /me, /who or /topic can be done in a room; send other commands alone";

/// `WELCOME`: says how to leave.
pub fn welcome(name: &str) -> String {
    format!("Hi {name}! Type <quit> to leave, /help for commands.")
}

/// `ERR line-too-long`.
pub fn line_too_long(limit: usize) -> String {
    format!("lines are limited to {limit} bytes; that line was dropped")
}

/// `ERR name-taken`.
pub fn name_taken(name: &str) -> String {
    format!("{name} is already taken; try another name")
}

/// `ERR no-such-user`; echoes the name only if it is a valid one.
pub fn no_such_user(name: &str) -> String {
    if lanchat_proto::validate_name(name).is_ok() {
        format!("nobody called {name} is here; /who lists who is")
    } else {
        "nobody by that name is here; /who lists who is".to_owned()
    }
}

/// `ERR server-full`.
pub fn server_full(max: usize) -> String {
    format!("the server is full ({max} users); try again later")
}

/// `ERR rate-limited`.
pub fn rate_limited(rate: f64, burst: u32) -> String {
    format!(
        "slow down: at most {rate} lines per second (bursts of {burst}); lines are being dropped"
    )
}

/// `ERR handshake-timeout`.
pub fn handshake_timeout(secs: u64) -> String {
    let unit = if secs == 1 { "second" } else { "seconds" };
    format!("no name was given within {secs} {unit}; goodbye")
}

/// `ERR unknown-command`: the word as `CommandError` quotes it (cut to a few characters there,
/// so that, even with [`inert`] making each control character 3 bytes, the line stays within
/// `max-line + SERVER_LINE_OVERHEAD` bytes), made inert.
pub fn unknown_command(word: &str) -> String {
    inert(&lanchat_proto::CommandError::Unknown(word).to_string()).into_owned()
}

/// `ERR not-in-room`; `room` has passed the room name rules.
pub fn not_in_room(room: &str) -> String {
    format!("you are not in {room}; /join {room} first")
}

/// `INFO` for `/join` of a room one is in.
pub fn already_in(room: &str) -> String {
    format!("you are already in {room}")
}

/// `ERR too-many-rooms`: the user's limit.
pub fn too_many_rooms_user(max: usize) -> String {
    format!("you are in {max} rooms (#general too), the most this server allows; /part one first")
}

/// `ERR too-many-rooms`: the server's limit.
pub fn too_many_rooms_server(max: usize) -> String {
    format!("the server has {max} rooms (#general too), its most; /rooms lists them, join one")
}

/// `ERR bad-usage` for an overlong topic.
pub fn topic_too_long(max: usize) -> String {
    format!("a topic has at most {max} bytes")
}
/// `INFO` to someone who sent a private message to a member who is away.
pub fn away_reply(name: &str, message: &str) -> String {
    if message.is_empty() {
        format!("{name} is away")
    } else {
        format!("{name} is away: {message}")
    }
}

/// `INFO` for `/back` from someone who is not away.
pub const NOT_AWAY: &str = "you are not marked away";

/// `INFO` for `/nick` to the name one already has.
pub fn already_named(name: &str) -> String {
    format!("you are already called {name}")
}

/// `s` with control and bidi-override characters replaced, for echoing user input back in an
/// `ERR` text (relayed chat text is passed through as is; clients sanitise what they print).
pub fn inert(s: &str) -> Cow<'_, str> {
    let bad = lanchat_proto::is_terminal_control;
    if s.chars().any(bad) {
        Cow::Owned(
            s.chars()
                .map(|c| if bad(c) { '\u{fffd}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(s)
    }
}
