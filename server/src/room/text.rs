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

// --- Identity: the way in, names that belong to keys, operators. ---

/// `AUTH password <text>`.
pub const AUTH_PASSWORD: &str = "this server asks for a password: send /pass <password>";
/// `INFO` after the right password.
pub const PASSWORD_ACCEPTED: &str = "password accepted; now your name";
/// `INFO` for `/pass` once the password was accepted.
pub const PASSWORD_ALREADY: &str = "your password was accepted already";
/// `INFO` for `/pass` where none is asked.
pub const NO_PASSWORD: &str = "this server asks for no password";
/// `ERR password-required` for anything but `/pass` before the password.
pub const PASSWORD_REQUIRED: &str = "this server asks for a password first: /pass <password>";
/// `ERR password-required` while a try waits for its turn.
pub const PASSWORD_WAIT: &str =
    "wait for the answer to your password (wrong ones from your address are answered a second apart)";
/// `INFO` when a name cannot be claimed because the server holds as many claims as it keeps.
pub const CLAIMS_FULL: &str =
    "your name is not kept for you: the server holds as many claimed names as it keeps";
/// `INFO` for a ban that would reach the operator themselves.
pub const NOT_YOURSELF: &str = "that would reach you too; not done";
/// `INFO` for a ban on a member with neither key nor address.
pub const NOTHING_TO_BAN: &str = "that member has no key or address to ban";
/// `INFO` for `/bans` when there are none.
pub const NO_BANS: &str = "no bans and no mutes";
/// `INFO` to a member whose mute was lifted.
pub const UNMUTED_YOU: &str = "you are no longer muted";

/// The operators' part of `/help`, shown to operators only.
pub fn help_operators() -> Vec<String> {
    let mut lines = vec!["Operators' commands (you are an operator):".to_owned()];
    for (_, usage) in lanchat_proto::ops::OP_COMMANDS {
        lines.push(format!("  {usage}"));
    }
    lines
}

/// `OPERATOR` after an operator's `WELCOME`.
pub const OPERATOR: &str = "you are an operator here: /help lists your commands";

/// `/whois` in `/help`.
pub const HELP_WHOIS: &str = "/whois <name>        who that is: key, since when, idle for";

/// `INFO` to the sender of a private message kept for an absent owner of a name.
pub fn kept_for(name: &str) -> String {
    format!("kept for {name} until they return")
}

/// `ERR bad-password` after `failures` wrong ones.
pub fn bad_password(failures: u8) -> String {
    let max = crate::limits::PASSWORD_TRIES;
    if failures >= max {
        format!("wrong password ({failures} of {max}); goodbye")
    } else {
        format!("wrong password ({failures} of {max}); try again")
    }
}

/// `ERR not-allowed`.
pub fn not_allowed(key: Option<&lanchat_proto::Fingerprint>) -> String {
    match key {
        Some(k) => format!(
            "this server lets in only the keys on its list, and yours ({k}) is not on it; \
             ask its operator to add it"
        ),
        None => "this server lets in only the keys on its list, and this connection showed no \
                 key (lanchat shows one on its own)"
            .to_owned(),
    }
}

/// `ERR name-owned`: `name` falls under `owner`'s claim.
pub fn name_owned(name: &str, owner: &str, has_key: bool) -> String {
    let whose = if lanchat_proto::fold_name(name) == lanchat_proto::fold_name(owner) {
        format!("{name} belongs to someone else's key")
    } else {
        format!("{name} looks like {owner}, which belongs to someone else's key")
    };
    if has_key {
        format!("{whose}; pick another name")
    } else {
        format!("{whose}, and this connection has none; pick another name")
    }
}

/// `INFO` when a name is claimed.
pub fn claimed(name: &str) -> String {
    format!("{name} is now yours: while you keep using it, other keys cannot take it")
}

/// `INFO` when a claim goes to make room for a new one.
pub fn claim_dropped(name: &str) -> String {
    format!(
        "{name} is no longer yours: a key keeps at most {} names, and it was the one used least \
         recently",
        crate::identity::claims::MAX_NAMES_PER_KEY
    )
}

/// `ERR muted`.
pub fn muted(until_ms: Option<u64>, now_ms: u64) -> String {
    format!(
        "you are muted{}: messages and actions are not sent (private messages to operators are)",
        until_words(until_ms, now_ms)
    )
}

/// `ERR not-operator`.
pub fn not_operator(cmd: &lanchat_proto::OpCommand<'_>) -> String {
    let mut line = Vec::new();
    cmd.encode(&mut line);
    let word = String::from_utf8_lossy(&line);
    let word = word.trim_end().split(' ').next().unwrap_or("/").to_owned();
    format!("only operators can use {word}")
}

/// `INFO` for an operator's `/whois`: the address.
pub fn whois_address(name: &str, peer: std::net::SocketAddr) -> String {
    format!("{name} connects from {peer}")
}

/// `INFO` for an operator's `/whois` of an operator.
pub fn whois_operator(name: &str) -> String {
    format!("{name} is an operator")
}

/// `BYE` to someone kicked.
pub fn kicked(op: &str, reason: &str) -> String {
    let by = lanchat_proto::ops::BYE_KICKED;
    if reason.is_empty() {
        format!("{by}{op}")
    } else {
        format!("{by}{op}: {reason}")
    }
}

/// `BYE` to someone banned.
pub fn banned_bye(op: &str, duration: Option<std::time::Duration>, reason: &str) -> String {
    let time = duration.map_or(String::new(), |d| {
        format!(" for {}", lanchat_proto::ops::format_duration(d))
    });
    let by = lanchat_proto::ops::BYE_BANNED;
    if reason.is_empty() {
        format!("{by}{op}{time}")
    } else {
        format!("{by}{op}{time}: {reason}")
    }
}

/// `ERR banned` to a banned key or address coming back.
pub fn banned(ban: &crate::identity::Entry, now_ms: u64) -> String {
    let reason = if ban.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", ban.reason)
    };
    format!(
        "you are banned from this server{}{reason}",
        until_words(ban.until_ms, now_ms)
    )
}

/// A reason, or words saying there was none (for the log).
pub fn or_none(reason: &str) -> &str {
    if reason.is_empty() {
        "no reason given"
    } else {
        reason
    }
}

/// What a ban or mute is on, for people: `SHA256:... (ann)`, `192.168.1.9`, `ann`.
pub fn entry_what(e: &crate::identity::Entry) -> String {
    use crate::identity::Target;
    match (&e.target, &e.who) {
        (Target::Name(_), Some(who)) => who.to_string(),
        (t, Some(who)) => format!("{t} ({who})"),
        (Target::Name(n), None) => n.clone(),
        (t, None) => t.to_string(),
    }
}

/// ` until <UTC time> (in <span>)`, or ` until lifted`.
pub fn until_words(until_ms: Option<u64>, now_ms: u64) -> String {
    match until_ms {
        None => " until lifted".to_owned(),
        Some(t) => format!(
            " until {} (in {})",
            utc(t),
            span(t.saturating_sub(now_ms) / 1000)
        ),
    }
}

/// `INFO` confirming a ban.
pub fn ban_set(e: &crate::identity::Entry, now_ms: u64) -> String {
    format!(
        "banned {}{}",
        entry_what(e),
        until_words(e.until_ms, now_ms)
    )
}

/// `INFO` for `/unban` of something not banned.
pub fn not_banned(what: &str) -> String {
    format!("{} is not banned", inert(what))
}

/// `INFO` confirming a ban lifted.
pub fn unbanned(e: &crate::identity::Entry) -> String {
    format!("the ban on {} is lifted", entry_what(e))
}

/// One `INFO` line of `/bans`: what, by whom, until when, why.
pub fn ban_line(kind: &str, e: &crate::identity::Entry, now_ms: u64) -> String {
    let reason = if e.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", e.reason)
    };
    format!(
        "{kind} {} by {}{}{reason}",
        entry_what(e),
        e.by,
        until_words(e.until_ms, now_ms)
    )
}

/// `INFO` confirming a mute.
pub fn mute_set(name: &str, until_ms: Option<u64>, now_ms: u64) -> String {
    format!("muted {name}{}", until_words(until_ms, now_ms))
}

/// `INFO` to the member muted.
pub fn you_are_muted(op: &str, until_ms: Option<u64>, now_ms: u64, reason: &str) -> String {
    let reason = if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    };
    format!(
        "you were muted by {op}{}{reason}; private messages to operators still go",
        until_words(until_ms, now_ms)
    )
}

/// `INFO` for `/unmute` of someone not muted.
pub fn not_muted(name: &str) -> String {
    format!("{} is not muted", inert(name))
}

/// `INFO` confirming a mute lifted.
pub fn unmuted(name: &str) -> String {
    format!("{} is no longer muted", inert(name))
}

/// `INFO` confirming `/release`.
pub fn released(name: &str, key: &lanchat_proto::Fingerprint) -> String {
    format!("{name} is free again (it was claimed by {key})")
}

/// `INFO` for `/release` of a name nobody claims.
pub fn not_claimed(name: &str) -> String {
    format!("{} is not claimed", inert(name))
}

/// A Unix time in milliseconds as `2026-12-04 16:43 UTC`.
pub fn utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = secs / 86_400;
    let (h, m) = (secs / 3_600 % 24, secs / 60 % 60);
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm, proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{d:02} {h:02}:{m:02} UTC")
}

/// A span of seconds in its two largest units: `40 s`, `5 min`, `2 h 5 min`, `3 d 4 h`.
pub fn span(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min"),
        (0, _, 0) => format!("{h} h"),
        (0, _, _) => format!("{h} h {m} min"),
        (_, 0, _) => format!("{d} d"),
        _ => format!("{d} d {h} h"),
    }
}

/// `/stats` from someone who is not an operator, on a server that has operators.
pub const STATS_FOR_OPERATORS: &str = "/stats is for this server's operators";
