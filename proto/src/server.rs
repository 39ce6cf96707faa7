//! What the server sends: one [`ServerMsg`] per line, `KIND field field <text>`.
//!
//! Fields are separated by one space; a trailing `<text>` runs to the end of the line and may
//! itself contain spaces. Clients should ignore kinds they do not know (see [`ParseError`]):
//! later versions add kinds, never change existing ones.
//!
//! Lines about a room other than `#general` carry the room as their first field (`MSG #dev bob
//! hi`); a line without one is about `#general`, exactly as in version 1. A user name never
//! starts with `#`, so the field cannot be mistaken ([`crate::room::is_room_field`]).

use crate::code::ErrCode;

/// One line from the server, parsed (borrowing from the line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMsg<'a> {
    /// `HELLO <text>`: first line on connect; asks for a name.
    Hello {
        /// Greeting for people.
        text: &'a str,
    },
    /// `WELCOME <name> <text>`: the name was accepted.
    Welcome {
        /// The accepted name.
        name: &'a str,
        /// Says how to leave.
        text: &'a str,
    },
    /// `LIMIT <name> <value>`: right after `WELCOME`, a limit the server holds this client
    /// to; [`LIMIT_MAX_LINE`] is the longest line it takes, in bytes. Clients ignore names
    /// they do not know.
    Limit {
        /// Which limit.
        name: &'a str,
        /// Its value.
        value: u64,
    },
    /// `WHO [#room] <name> <name> ...`: part of a room's member list.
    Who {
        /// The room; `None` for `#general`.
        room: Option<&'a str>,
        /// Space-separated names; see [`ServerMsg::who_names`].
        names: &'a str,
    },
    /// `WHOEND [#room] <count>`: the member list is complete.
    WhoEnd {
        /// The room; `None` for `#general`.
        room: Option<&'a str>,
        /// How many members there are.
        count: usize,
    },
    /// `JOIN [#room] <name>`: someone joined (the server, for `#general`; a room, else).
    Join {
        /// The room; `None` for `#general` (joining the server).
        room: Option<&'a str>,
        /// Who.
        name: &'a str,
    },
    /// `LEAVE [#room] <name> <reason>` or `LEAVE <name> quit <message>`: someone left;
    /// `reason` is one word (`quit`, `disconnected`, ...; `parted` for a room), and after `quit`
    /// the text the user left with may follow. Without a room: gone from the server, so from
    /// every room.
    Leave {
        /// The room left (by `/part`); `None` when the user left the server.
        room: Option<&'a str>,
        /// Who.
        name: &'a str,
        /// Why, one word.
        reason: &'a str,
        /// What they said as they left (`/quit <message>`); empty when nothing.
        text: &'a str,
    },
    /// `AWAY <name>` or `AWAY <name> <message>`: someone is away (or changed their message).
    Away {
        /// Who.
        name: &'a str,
        /// Their away message; empty when none.
        text: &'a str,
    },
    /// `BACK <name>`: someone is no longer away.
    Back {
        /// Who.
        name: &'a str,
    },
    /// `WHOAWAY <name> <message>`: in a member list, before its `WHO` lines: this member is
    /// away.
    WhoAway {
        /// Who.
        name: &'a str,
        /// Their away message; empty when none.
        text: &'a str,
    },
    /// `MSG [#room] <from> <text>`: a public message.
    Msg {
        /// The room; `None` for `#general`.
        room: Option<&'a str>,
        /// Sender.
        from: &'a str,
        /// The message.
        text: &'a str,
    },
    /// `PRIV <from> <text>`: a private message to this client.
    Priv {
        /// Sender.
        from: &'a str,
        /// The message.
        text: &'a str,
    },
    /// `ACTION [#room] <from> <text>`: a `/me` action.
    Action {
        /// The room; `None` for `#general`.
        room: Option<&'a str>,
        /// Who acts.
        from: &'a str,
        /// The action.
        text: &'a str,
    },
    /// `NICK <old> <new>`: someone was renamed.
    Nick {
        /// Name before.
        old: &'a str,
        /// Name after.
        new: &'a str,
    },
    /// `INFO <text>`: information for people (e.g. `/help`).
    Info {
        /// The information.
        text: &'a str,
    },
    /// `ERR <code> <text>`: something was refused.
    Err {
        /// Stable, for programs.
        code: ErrCode<'a>,
        /// For people.
        text: &'a str,
    },
    /// `BYE <text>`: the server is closing this connection.
    Bye {
        /// Why.
        text: &'a str,
    },
    /// `STATS <key> <value>`: one figure of the answer to `/stats` ([`crate::stats`]).
    Stats {
        /// Lowercase-hyphenated; [`crate::stats::StatKey::parse`] knows this version's.
        key: &'a str,
        /// A decimal integer in the key's unit, or `unknown`
        /// ([`crate::stats::StatValue::parse`]).
        value: &'a str,
    },
    /// `STATSEND`: the answer to `/stats` is complete.
    StatsEnd,
    /// `HIST <unix-millis> <frame>`: something said before this client joined, with the time
    /// the server received it: a room's history (`MSG ...` or `ACTION ...`, exactly as it was
    /// sent live), or a note kept for this client while it was away (`PRIV ...`, once).
    Hist {
        /// Milliseconds since the Unix epoch.
        at_ms: u64,
        /// The original frame.
        frame: Box<ServerMsg<'a>>,
    },
    /// `ROOM #room <topic>`: this client is now in `room`; its history and member list follow.
    Room {
        /// The room, as the server spells it.
        room: &'a str,
        /// The room's topic; may be empty.
        topic: &'a str,
    },
    /// `TOPIC #room <name> <text>`: `name` set the room's topic (empty: cleared it).
    Topic {
        /// The room.
        room: &'a str,
        /// Who set it.
        name: &'a str,
        /// The topic; may be empty.
        text: &'a str,
    },
    /// `PARTED #room`: this client left `room`.
    Parted {
        /// The room.
        room: &'a str,
    },
    /// `ROOMLIST #room <members> <topic>`: one room of the server's list.
    RoomList {
        /// The room.
        room: &'a str,
        /// How many are in it.
        members: usize,
        /// Its topic; may be empty.
        topic: &'a str,
    },
    /// `ROOMLISTEND <count>`: the room list is complete.
    RoomListEnd {
        /// How many rooms there are.
        count: usize,
    },
}

/// The `LIMIT` name of the longest line the server takes from this client, in bytes
/// (without the `\n`): its `--max-line`.
pub const LIMIT_MAX_LINE: &str = "max-line";

/// A server line that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The line is empty.
    Empty,
    /// The first word is not a kind this version knows. Clients should ignore such lines.
    UnknownKind(String),
    /// A required field is missing.
    Missing {
        /// The kind of line.
        kind: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A numeric field is not a number.
    BadNumber {
        /// The kind of line.
        kind: &'static str,
    },
    /// `HIST` may only carry `MSG`, `ACTION` or `PRIV` frames.
    BadHistFrame,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Empty => write!(f, "empty line"),
            ParseError::UnknownKind(k) => write!(f, "unknown line kind {k:?}"),
            ParseError::Missing { kind, field } => write!(f, "{kind} line without its {field}"),
            ParseError::BadNumber { kind } => write!(f, "{kind} line with a bad number"),
            ParseError::BadHistFrame => {
                write!(f, "HIST line must carry a MSG, ACTION or PRIV frame")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Cuts a line into fields from the left.
struct Fields<'a> {
    kind: &'static str,
    rest: &'a str,
}

impl<'a> Fields<'a> {
    fn word(&mut self, field: &'static str) -> Result<&'a str, ParseError> {
        let (w, rest) = self.rest.split_once(' ').unwrap_or((self.rest, ""));
        if w.is_empty() {
            return Err(ParseError::Missing {
                kind: self.kind,
                field,
            });
        }
        self.rest = rest;
        Ok(w)
    }

    fn number<T: std::str::FromStr>(&mut self, field: &'static str) -> Result<T, ParseError> {
        self.word(field)?
            .parse()
            .map_err(|_| ParseError::BadNumber { kind: self.kind })
    }

    fn text(self) -> &'a str {
        self.rest
    }

    /// The room field, if the next field is one (it starts with `#`); `None` for a v1 line.
    fn room(&mut self) -> Option<&'a str> {
        if !crate::room::is_room_field(self.rest) {
            return None;
        }
        let (w, rest) = self.rest.split_once(' ').unwrap_or((self.rest, ""));
        self.rest = rest;
        Some(w)
    }
}

impl<'a> ServerMsg<'a> {
    /// The wire word for this kind of line.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerMsg::Hello { .. } => "HELLO",
            ServerMsg::Welcome { .. } => "WELCOME",
            ServerMsg::Limit { .. } => "LIMIT",
            ServerMsg::Who { .. } => "WHO",
            ServerMsg::WhoEnd { .. } => "WHOEND",
            ServerMsg::Join { .. } => "JOIN",
            ServerMsg::Leave { .. } => "LEAVE",
            ServerMsg::Away { .. } => "AWAY",
            ServerMsg::Back { .. } => "BACK",
            ServerMsg::WhoAway { .. } => "WHOAWAY",
            ServerMsg::Msg { .. } => "MSG",
            ServerMsg::Priv { .. } => "PRIV",
            ServerMsg::Action { .. } => "ACTION",
            ServerMsg::Nick { .. } => "NICK",
            ServerMsg::Info { .. } => "INFO",
            ServerMsg::Err { .. } => "ERR",
            ServerMsg::Bye { .. } => "BYE",
            ServerMsg::Stats { .. } => "STATS",
            ServerMsg::StatsEnd => "STATSEND",
            ServerMsg::Hist { .. } => "HIST",
            ServerMsg::Room { .. } => "ROOM",
            ServerMsg::Topic { .. } => "TOPIC",
            ServerMsg::Parted { .. } => "PARTED",
            ServerMsg::RoomList { .. } => "ROOMLIST",
            ServerMsg::RoomListEnd { .. } => "ROOMLISTEND",
        }
    }

    /// The room this line is about, as its room field names it: `None` for `#general` (and
    /// for lines about no room: `PRIV`, `NICK`, a `LEAVE` from the server, ...). A `HIST`
    /// line is about its frame's room.
    pub fn room(&self) -> Option<&'a str> {
        match self {
            ServerMsg::Who { room, .. }
            | ServerMsg::WhoEnd { room, .. }
            | ServerMsg::Join { room, .. }
            | ServerMsg::Leave { room, .. }
            | ServerMsg::Msg { room, .. }
            | ServerMsg::Action { room, .. } => *room,
            ServerMsg::Room { room, .. }
            | ServerMsg::Topic { room, .. }
            | ServerMsg::Parted { room }
            | ServerMsg::RoomList { room, .. } => Some(room),
            ServerMsg::Hist { frame, .. } => frame.room(),
            _ => None,
        }
    }

    /// Parse one line as the line decoder hands it out (its `\n`, and one `\r` before that,
    /// already gone: any other `\r` is part of the text, as PROTOCOL.md says).
    ///
    /// # Errors
    /// [`ParseError::UnknownKind`] for kinds from a newer protocol (ignore those), other
    /// variants for malformed lines.
    pub fn parse(line: &'a str) -> Result<Self, ParseError> {
        if line.is_empty() {
            return Err(ParseError::Empty);
        }
        let (kind_word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let kind: &'static str = match kind_word {
            "HELLO" => "HELLO",
            "WELCOME" => "WELCOME",
            "WHO" => "WHO",
            "WHOEND" => "WHOEND",
            "JOIN" => "JOIN",
            "LEAVE" => "LEAVE",
            "AWAY" => "AWAY",
            "BACK" => "BACK",
            "WHOAWAY" => "WHOAWAY",
            "MSG" => "MSG",
            "PRIV" => "PRIV",
            "ACTION" => "ACTION",
            "NICK" => "NICK",
            "INFO" => "INFO",
            "ERR" => "ERR",
            "BYE" => "BYE",
            "LIMIT" => "LIMIT",
            "STATS" => "STATS",
            "STATSEND" => "STATSEND",
            "HIST" => "HIST",
            "ROOM" => "ROOM",
            "TOPIC" => "TOPIC",
            "PARTED" => "PARTED",
            "ROOMLIST" => "ROOMLIST",
            "ROOMLISTEND" => "ROOMLISTEND",
            other => return Err(ParseError::UnknownKind(other.to_owned())),
        };
        let mut f = Fields { kind, rest };
        Ok(match kind {
            "HELLO" => ServerMsg::Hello { text: f.text() },
            "WELCOME" => ServerMsg::Welcome {
                name: f.word("name")?,
                text: f.text(),
            },
            "WHO" => ServerMsg::Who {
                room: f.room(),
                names: f.text(),
            },
            "WHOEND" => ServerMsg::WhoEnd {
                room: f.room(),
                count: f.number("count")?,
            },
            "JOIN" => ServerMsg::Join {
                room: f.room(),
                name: f.word("name")?,
            },
            "LEAVE" => {
                let room = f.room();
                let name = f.word("name")?;
                // The reason is one word; a version-1 server sends nothing after it.
                let rest = f.text();
                let (reason, text) = rest.split_once(' ').unwrap_or((rest, ""));
                ServerMsg::Leave {
                    room,
                    name,
                    reason,
                    text,
                }
            }
            "AWAY" => ServerMsg::Away {
                name: f.word("name")?,
                text: f.text(),
            },
            "BACK" => ServerMsg::Back {
                name: f.word("name")?,
            },
            "WHOAWAY" => ServerMsg::WhoAway {
                name: f.word("name")?,
                text: f.text(),
            },
            "MSG" => ServerMsg::Msg {
                room: f.room(),
                from: f.word("name")?,
                text: f.text(),
            },
            "PRIV" => ServerMsg::Priv {
                from: f.word("name")?,
                text: f.text(),
            },
            "ACTION" => ServerMsg::Action {
                room: f.room(),
                from: f.word("name")?,
                text: f.text(),
            },
            "NICK" => ServerMsg::Nick {
                old: f.word("old name")?,
                new: f.word("new name")?,
            },
            "INFO" => ServerMsg::Info { text: f.text() },
            "ERR" => ServerMsg::Err {
                code: ErrCode::parse(f.word("code")?),
                text: f.text(),
            },
            "BYE" => ServerMsg::Bye { text: f.text() },
            "LIMIT" => ServerMsg::Limit {
                name: f.word("name")?,
                value: f.number("value")?,
            },
            "STATS" => ServerMsg::Stats {
                key: f.word("key")?,
                value: f.word("value")?,
            },
            "STATSEND" => ServerMsg::StatsEnd,
            "ROOM" => ServerMsg::Room {
                room: f.word("room")?,
                topic: f.text(),
            },
            "TOPIC" => ServerMsg::Topic {
                room: f.word("room")?,
                name: f.word("name")?,
                text: f.text(),
            },
            "PARTED" => ServerMsg::Parted {
                room: f.word("room")?,
            },
            "ROOMLIST" => ServerMsg::RoomList {
                room: f.word("room")?,
                members: f.number("members")?,
                topic: f.text(),
            },
            "ROOMLISTEND" => ServerMsg::RoomListEnd {
                count: f.number("count")?,
            },
            _ => {
                let at_ms = f.number("time")?;
                let inner = f.text();
                // Checked before parsing, so the parse below never recurses: a hostile
                // `HIST 1 HIST 1 ...` would otherwise nest once per level, until the stack ends.
                let inner_kind = inner.split_once(' ').map_or(inner, |(kind, _)| kind);
                if !matches!(inner_kind, "MSG" | "ACTION" | "PRIV") {
                    return Err(ParseError::BadHistFrame);
                }
                let frame = ServerMsg::parse(inner)?;
                ServerMsg::Hist {
                    at_ms,
                    frame: Box::new(frame),
                }
            }
        })
    }

    /// Append this message as one wire line (with its `\n`) to `out`.
    ///
    /// Text fields must not contain `\n`; the server only relays text that came out of the line
    /// decoder, which guarantees that.
    pub fn encode(&self, out: &mut Vec<u8>) {
        if let ServerMsg::Hist { at_ms, frame } = self {
            encode_hist_prefix(*at_ms, out);
            frame.encode(out); // it brings the newline
            return;
        }
        out.extend_from_slice(self.kind().as_bytes());
        let mut field = |s: &str| {
            out.push(b' ');
            out.extend_from_slice(s.as_bytes());
        };
        if let Some(room) = self.room() {
            field(room);
        }
        match self {
            ServerMsg::Hello { text }
            | ServerMsg::Info { text }
            | ServerMsg::Bye { text }
            | ServerMsg::Who { names: text, .. } => field(text),
            ServerMsg::Join { name, .. } | ServerMsg::Back { name } => field(name),
            ServerMsg::Leave {
                name, reason, text, ..
            } => {
                field(name);
                field(reason);
                if !text.is_empty() {
                    field(text);
                }
            }
            ServerMsg::Away { name, text } | ServerMsg::WhoAway { name, text } => {
                field(name);
                if !text.is_empty() {
                    field(text);
                }
            }
            ServerMsg::WhoEnd { count, .. } | ServerMsg::RoomListEnd { count } => {
                field(&count.to_string());
            }
            ServerMsg::Limit { name, value } => {
                field(name);
                field(&value.to_string());
            }
            ServerMsg::Welcome { name: a, text: b }
            | ServerMsg::Msg {
                from: a, text: b, ..
            }
            | ServerMsg::Priv { from: a, text: b }
            | ServerMsg::Action {
                from: a, text: b, ..
            }
            | ServerMsg::Nick { old: a, new: b } => {
                field(a);
                field(b);
            }
            ServerMsg::Err { code, text } => {
                field(code.as_str());
                field(text);
            }
            ServerMsg::Stats { key, value } => {
                field(key);
                field(value);
            }
            ServerMsg::StatsEnd => {}
            // The kinds rooms brought end in a text that may be empty; an empty one leaves no
            // trailing space (`ROOM #dev`).
            ServerMsg::Room { topic: text, .. } => {
                if !text.is_empty() {
                    field(text);
                }
            }
            ServerMsg::Topic { name, text, .. } => {
                field(name);
                if !text.is_empty() {
                    field(text);
                }
            }
            ServerMsg::Parted { .. } => {}
            ServerMsg::RoomList { members, topic, .. } => {
                field(&members.to_string());
                if !topic.is_empty() {
                    field(topic);
                }
            }
            ServerMsg::Hist { .. } => return, // written above, prefix and frame
        }
        out.push(b'\n');
    }

    /// Encode to an owned line with its `\n` (convenience for tests and tools).
    pub fn to_line(&self) -> String {
        let mut out = Vec::new();
        self.encode(&mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// The names in a `WHO` line's list.
    pub fn who_names(names: &'a str) -> impl Iterator<Item = &'a str> {
        names.split(' ').filter(|n| !n.is_empty())
    }
}

/// `HIST <at_ms> `: what goes in front of a kept frame (which brings its own newline). The
/// server's history ring stores frames already encoded and only adds this.
pub fn encode_hist_prefix(at_ms: u64, out: &mut Vec<u8>) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "HIST {at_ms} ");
}

/// Append the member list of `room` (`None`: `#general`) as `WHO` lines, none longer than
/// `max_line` bytes, then `WHOEND`; returns the count.
///
/// A name longer than the line allows still gets a line of its own (names are at most 96 bytes,
/// room names 97, far below any sane limit).
pub fn encode_member_list<'n>(
    room: Option<&str>,
    names: impl IntoIterator<Item = &'n str>,
    max_line: usize,
    out: &mut Vec<u8>,
) -> usize {
    let mut count = 0;
    let mut line_len = 0; // bytes of the current WHO line, 0 when none is open
    for name in names {
        if line_len > 0 && line_len + 1 + name.len() > max_line {
            out.push(b'\n');
            line_len = 0;
        }
        if line_len == 0 {
            let start = out.len();
            out.extend_from_slice(b"WHO");
            if let Some(room) = room {
                out.push(b' ');
                out.extend_from_slice(room.as_bytes());
            }
            line_len = out.len() - start;
        }
        out.push(b' ');
        out.extend_from_slice(name.as_bytes());
        line_len += 1 + name.len();
        count += 1;
    }
    if line_len > 0 {
        out.push(b'\n');
    }
    ServerMsg::WhoEnd { room, count }.encode(out);
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_every_kind() {
        use ServerMsg as S;
        let cases: Vec<(&str, ServerMsg)> = vec![
            (
                "HELLO hi, who are you?",
                S::Hello {
                    text: "hi, who are you?",
                },
            ),
            ("HELLO", S::Hello { text: "" }),
            (
                "WELCOME ann type <quit> to leave",
                S::Welcome {
                    name: "ann",
                    text: "type <quit> to leave",
                },
            ),
            (
                "WHO ann bob",
                S::Who {
                    room: None,
                    names: "ann bob",
                },
            ),
            (
                "WHOEND 2",
                S::WhoEnd {
                    room: None,
                    count: 2,
                },
            ),
            (
                "JOIN bob",
                S::Join {
                    room: None,
                    name: "bob",
                },
            ),
            (
                "LEAVE bob quit",
                S::Leave {
                    room: None,
                    name: "bob",
                    reason: "quit",
                    text: "",
                },
            ),
            (
                "LEAVE bob quit see you  tomorrow",
                S::Leave {
                    room: None,
                    name: "bob",
                    reason: "quit",
                    text: "see you  tomorrow",
                },
            ),
            (
                "LEAVE bob",
                S::Leave {
                    room: None,
                    name: "bob",
                    reason: "",
                    text: "",
                },
            ),
            (
                "AWAY bob lunch, back at 2",
                S::Away {
                    name: "bob",
                    text: "lunch, back at 2",
                },
            ),
            (
                "AWAY bob",
                S::Away {
                    name: "bob",
                    text: "",
                },
            ),
            ("BACK bob", S::Back { name: "bob" }),
            (
                "WHOAWAY bob lunch",
                S::WhoAway {
                    name: "bob",
                    text: "lunch",
                },
            ),
            (
                "WHOAWAY bob",
                S::WhoAway {
                    name: "bob",
                    text: "",
                },
            ),
            (
                "MSG bob hello  world ",
                S::Msg {
                    room: None,
                    from: "bob",
                    text: "hello  world ",
                },
            ),
            (
                "MSG bob #not-a-room",
                S::Msg {
                    room: None,
                    from: "bob",
                    text: "#not-a-room",
                },
            ),
            (
                "PRIV bob psst",
                S::Priv {
                    from: "bob",
                    text: "psst",
                },
            ),
            (
                "ACTION bob waves",
                S::Action {
                    room: None,
                    from: "bob",
                    text: "waves",
                },
            ),
            (
                "NICK bob robert",
                S::Nick {
                    old: "bob",
                    new: "robert",
                },
            ),
            (
                "INFO /who lists users",
                S::Info {
                    text: "/who lists users",
                },
            ),
            (
                "ERR name-taken someone has that name",
                S::Err {
                    code: ErrCode::NameTaken,
                    text: "someone has that name",
                },
            ),
            (
                "ERR future-thing x",
                S::Err {
                    code: ErrCode::Other("future-thing"),
                    text: "x",
                },
            ),
            ("BYE see you\r", S::Bye { text: "see you\r" }),
            (
                "LIMIT max-line 2048",
                S::Limit {
                    name: LIMIT_MAX_LINE,
                    value: 2048,
                },
            ),
            (
                "STATS uptime 3723",
                S::Stats {
                    key: "uptime",
                    value: "3723",
                },
            ),
            (
                "STATS rss unknown",
                S::Stats {
                    key: "rss",
                    value: "unknown",
                },
            ),
            ("STATSEND", S::StatsEnd),
            (
                "HIST 1700000000000 MSG bob hi",
                S::Hist {
                    at_ms: 1_700_000_000_000,
                    frame: Box::new(S::Msg {
                        room: None,
                        from: "bob",
                        text: "hi",
                    }),
                },
            ),
            // Rooms.
            (
                "HIST 5 MSG #dev bob hi",
                S::Hist {
                    at_ms: 5,
                    frame: Box::new(S::Msg {
                        room: Some("#dev"),
                        from: "bob",
                        text: "hi",
                    }),
                },
            ),
            (
                "ACTION #dev bob waves",
                S::Action {
                    room: Some("#dev"),
                    from: "bob",
                    text: "waves",
                },
            ),
            (
                "WHO #dev ann bob",
                S::Who {
                    room: Some("#dev"),
                    names: "ann bob",
                },
            ),
            (
                "WHOEND #dev 2",
                S::WhoEnd {
                    room: Some("#dev"),
                    count: 2,
                },
            ),
            (
                "JOIN #dev bob",
                S::Join {
                    room: Some("#dev"),
                    name: "bob",
                },
            ),
            (
                "LEAVE #dev bob parted",
                S::Leave {
                    room: Some("#dev"),
                    name: "bob",
                    reason: "parted",
                    text: "",
                },
            ),
            (
                "ROOM #dev release on friday",
                S::Room {
                    room: "#dev",
                    topic: "release on friday",
                },
            ),
            (
                "ROOM #dev",
                S::Room {
                    room: "#dev",
                    topic: "",
                },
            ),
            (
                "TOPIC #dev ann release  on friday",
                S::Topic {
                    room: "#dev",
                    name: "ann",
                    text: "release  on friday",
                },
            ),
            (
                "TOPIC #dev ann",
                S::Topic {
                    room: "#dev",
                    name: "ann",
                    text: "",
                },
            ),
            ("PARTED #dev", S::Parted { room: "#dev" }),
            (
                "ROOMLIST #dev 3 release",
                S::RoomList {
                    room: "#dev",
                    members: 3,
                    topic: "release",
                },
            ),
            (
                "ROOMLIST #ops 1",
                S::RoomList {
                    room: "#ops",
                    members: 1,
                    topic: "",
                },
            ),
            ("ROOMLISTEND 2", S::RoomListEnd { count: 2 }),
            (
                "HIST 1700000000000 PRIV bob call me back",
                S::Hist {
                    at_ms: 1_700_000_000_000,
                    frame: Box::new(S::Priv {
                        from: "bob",
                        text: "call me back",
                    }),
                },
            ),
            (
                "ERR mailbox-full ann already has 100 notes waiting",
                S::Err {
                    code: ErrCode::MailboxFull,
                    text: "ann already has 100 notes waiting",
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(ServerMsg::parse(line), Ok(want), "{line:?}");
        }
    }

    #[test]
    fn parse_errors() {
        assert_eq!(ServerMsg::parse(""), Err(ParseError::Empty));
        assert_eq!(
            ServerMsg::parse("PING x"),
            Err(ParseError::UnknownKind("PING".into()))
        );
        assert_eq!(
            ServerMsg::parse("JOIN"),
            Err(ParseError::Missing {
                kind: "JOIN",
                field: "name"
            })
        );
        assert_eq!(
            ServerMsg::parse("JOIN #dev"),
            Err(ParseError::Missing {
                kind: "JOIN",
                field: "name"
            })
        );
        assert_eq!(
            ServerMsg::parse("PARTED"),
            Err(ParseError::Missing {
                kind: "PARTED",
                field: "room"
            })
        );
        assert_eq!(
            ServerMsg::parse("ROOMLIST #dev x"),
            Err(ParseError::BadNumber { kind: "ROOMLIST" })
        );
        assert_eq!(
            ServerMsg::parse("AWAY"),
            Err(ParseError::Missing {
                kind: "AWAY",
                field: "name"
            })
        );
        assert_eq!(
            ServerMsg::parse("STATS uptime"),
            Err(ParseError::Missing {
                kind: "STATS",
                field: "value"
            })
        );
        assert_eq!(
            ServerMsg::parse("WHOEND x"),
            Err(ParseError::BadNumber { kind: "WHOEND" })
        );
        assert_eq!(
            ServerMsg::parse("HIST 5 JOIN bob"),
            Err(ParseError::BadHistFrame)
        );
        assert_eq!(
            ServerMsg::parse("HIST 5 HIST 6 MSG a b"),
            Err(ParseError::BadHistFrame)
        );
        assert_eq!(
            ServerMsg::parse("HIST 5 MSGx a b"),
            Err(ParseError::BadHistFrame)
        );
        assert_eq!(
            ServerMsg::parse("HIST 5 ACTION"),
            Err(ParseError::Missing {
                kind: "ACTION",
                field: "name"
            })
        );
        assert_eq!(
            ServerMsg::parse("HIST 5 PRIV"),
            Err(ParseError::Missing {
                kind: "PRIV",
                field: "name"
            })
        );
        assert_eq!(
            ServerMsg::parse("HIST 5 PRIVATE a b"),
            Err(ParseError::BadHistFrame)
        );
    }

    #[test]
    fn deeply_nested_hist_is_refused_without_recursing() {
        // Regression: a hostile server's `HIST 1 HIST 1 ...` (1 MiB of it fits in a line the
        // client accepts) overflowed the client's stack, one parse per level.
        let mut line = "HIST 1 ".repeat(150_000);
        line.push_str("MSG a b");
        assert_eq!(ServerMsg::parse(&line), Err(ParseError::BadHistFrame));
    }

    #[test]
    fn member_list_respects_line_limit() {
        let names: Vec<String> = (0..100).map(|i| format!("user{i:03}")).collect();
        for room in [None, Some("#a-room-name")] {
            let mut out = Vec::new();
            let n = encode_member_list(room, names.iter().map(String::as_str), 40, &mut out);
            assert_eq!(n, 100);
            let text = String::from_utf8(out).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            let end = ServerMsg::parse(lines[lines.len() - 1]).unwrap();
            assert_eq!(end, ServerMsg::WhoEnd { room, count: 100 });
            let mut seen = Vec::new();
            for l in &lines[..lines.len() - 1] {
                assert!(l.len() <= 40, "{l:?}");
                match ServerMsg::parse(l).unwrap() {
                    ServerMsg::Who { room: r, names } if r == room => {
                        seen.extend(ServerMsg::who_names(names));
                    }
                    other => panic!("{other:?}"),
                }
            }
            assert_eq!(seen, names);
        }
    }

    #[test]
    fn empty_member_list() {
        let mut out = Vec::new();
        assert_eq!(encode_member_list(None, [], 100, &mut out), 0);
        assert_eq!(out, b"WHOEND 0\n");
        out.clear();
        encode_member_list(Some("#dev"), [], 100, &mut out);
        assert_eq!(out, b"WHOEND #dev 0\n");
    }

    fn name() -> impl Strategy<Value = String> {
        "[\\p{L}\\p{Nd}_.-]{1,24}"
    }

    fn text() -> impl Strategy<Value = String> {
        "[^\n\r]{0,60}"
    }

    fn msg() -> impl Strategy<Value = (u8, String, String, u64, Option<String>)> {
        let room = prop::option::of(name().prop_map(|n| format!("#{n}")));
        (0u8..28, name(), text(), any::<u64>(), room)
    }

    proptest! {
        #[test]
        fn encode_then_parse_round_trips((kind, n, t, num, room) in msg()) {
            let code = ErrCode::ALL[(num % ErrCode::ALL.len() as u64) as usize];
            let num_s = num.to_string();
            let room = room.as_deref();
            let r = room.unwrap_or("#general");
            let topic = t.as_str();
            let m = match kind {
                0 => ServerMsg::Hello { text: &t },
                1 => ServerMsg::Welcome { name: &n, text: &t },
                2 => ServerMsg::Who { room, names: &n },
                3 => ServerMsg::WhoEnd { room, count: num as usize },
                4 => ServerMsg::Join { room, name: &n },
                5 => ServerMsg::Leave { room, name: &n, reason: "quit", text: "" },
                6 => ServerMsg::Msg { room, from: &n, text: &t },
                7 => ServerMsg::Priv { from: &n, text: &t },
                8 => ServerMsg::Action { room, from: &n, text: &t },
                9 => ServerMsg::Nick { old: &n, new: &n },
                10 => ServerMsg::Info { text: &t },
                11 => ServerMsg::Err { code, text: &t },
                12 => ServerMsg::Bye { text: &t },
                13 => ServerMsg::Hist { at_ms: num, frame: Box::new(ServerMsg::Action { room, from: &n, text: &t }) },
                14 => ServerMsg::Hist { at_ms: num, frame: Box::new(ServerMsg::Msg { room, from: &n, text: &t }) },
                15 => ServerMsg::Room { room: r, topic },
                16 => ServerMsg::Topic { room: r, name: &n, text: topic },
                17 => ServerMsg::Parted { room: r },
                18 => ServerMsg::RoomList { room: r, members: num as usize, topic },
                19 => ServerMsg::Leave { room: None, name: &n, reason: "quit", text: &t },
                20 => ServerMsg::Away { name: &n, text: &t },
                21 => ServerMsg::Back { name: &n },
                22 => ServerMsg::WhoAway { name: &n, text: &t },
                23 => ServerMsg::Hist { at_ms: num, frame: Box::new(ServerMsg::Priv { from: &n, text: &t }) },
                24 => ServerMsg::Limit { name: &n, value: num },
                25 => ServerMsg::Stats { key: &n, value: &num_s },
                26 => ServerMsg::StatsEnd,
                _ => ServerMsg::RoomListEnd { count: num as usize },
            };
            let line = m.to_line();
            let body = line.strip_suffix('\n').unwrap();
            prop_assert!(!body.contains('\n'));
            prop_assert_eq!(ServerMsg::parse(body), Ok(m));
        }
    }
}
