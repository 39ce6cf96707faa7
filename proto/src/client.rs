//! What a client says after its name was accepted: commands and messages.
//!
//! Before the handshake completes, a client's non-blank line is a name (see [`crate::name`]);
//! `<quit>` and `/quit` are understood there too. Afterwards each non-blank line is one
//! [`ClientMsg`]. A line done in a room (`/in #room <line>`) carries another line, parsed the
//! same way by whoever carries it out.

/// One line from a named client, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMsg<'a> {
    /// `<quit>`, `/quit` or `/quit <message>`: leave, saying `message` to the others.
    Quit(Option<&'a str>),
    /// `/away` or `/away <message>`: be marked away (with `message`); `/away` alone, when
    /// already away, is back.
    Away(Option<&'a str>),
    /// `/back`: no longer away.
    Back,
    /// `/who`: ask for the member list.
    Who,
    /// `/help`: ask for the command summary.
    Help,
    /// `/stats`: ask how the server is doing (`STATS` lines, then `STATSEND`).
    Stats,
    /// `/msg <to> <text>`: a private message.
    Msg {
        /// Recipient's name as typed.
        to: &'a str,
        /// The message.
        text: &'a str,
    },
    /// `/me <text>`: an action.
    Me(&'a str),
    /// `/nick <new>`: rename (validated by the server like a first name).
    Nick(&'a str),
    /// `/join #room`: join a room, creating it if need be.
    Join(&'a str),
    /// `/part #room`: leave a room.
    Part(&'a str),
    /// `/in #room <line>`: do `line` (a message, `/me`, `/who`, `/topic`) in a room.
    /// `/msg #room <text>` is the same.
    In {
        /// The room as typed.
        room: &'a str,
        /// The line to do there.
        line: &'a str,
    },
    /// `/topic <text>`: set the topic of the room the line is done in (empty: clear it).
    Topic(&'a str),
    /// `/rooms`: ask for the list of rooms.
    Rooms,
    /// Anything else: a public message. A line starting `//` arrives here with one `/` removed.
    Say(&'a str),
}

/// A line that looked like a command but was not one the server can carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandError<'a> {
    /// `/word` where `word` is not a command.
    Unknown(&'a str),
    /// A command missing its arguments (or, for one that takes one room, given more);
    /// holds the usage, e.g. `/msg <name> <text>`.
    Usage(&'static str),
}

impl std::fmt::Display for CommandError<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::Unknown(w) => {
                // Echo at most a short word: the reply must stay far below the line limit.
                let mut shown: String = w.chars().take(MAX_ECHOED_WORD).collect();
                if shown.len() < w.len() {
                    shown.push('…');
                }
                write!(
                    f,
                    "unknown command /{shown}; /help lists them, // sends a line starting with /"
                )
            }
            CommandError::Usage(u) => write!(f, "usage: {u}"),
        }
    }
}

impl std::error::Error for CommandError<'_> {}

/// Characters of an unknown command word echoed back in `ERR unknown-command`.
const MAX_ECHOED_WORD: usize = 32;

/// True for a line the protocol ignores: empty, or only white space and characters that show
/// as nothing ([`crate::is_default_ignorable`]: zero-width space, word joiner, BOM, Hangul
/// fillers, ...). Such a line would reach the others as a message they cannot see.
pub fn is_blank(line: &str) -> bool {
    line.chars()
        .all(|c| c.is_whitespace() || crate::is_default_ignorable(c))
}

/// True for the two ways of leaving: `<quit>` (surrounding white space allowed) and `/quit`
/// (any case; what follows it is a quit message, see [`ClientMsg::Quit`]).
pub fn is_quit(line: &str) -> bool {
    if line.trim() == crate::QUIT_LINE {
        return true;
    }
    line.strip_prefix('/')
        .is_some_and(|cmd| split_word(cmd).0.eq_ignore_ascii_case("quit"))
}

/// The one room word of `/join` and `/part` (checked by whoever carries it out).
fn one_room<'a>(rest: &'a str, usage: &'static str) -> Result<&'a str, CommandError<'a>> {
    let (room, more) = split_word(rest);
    if room.is_empty() || !more.trim().is_empty() {
        return Err(CommandError::Usage(usage));
    }
    Ok(room)
}

/// Split off the first white-space-delimited word; the rest has its leading white space removed.
fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

impl<'a> ClientMsg<'a> {
    /// Parse one non-blank line from a named client.
    ///
    /// Command words are matched ignoring ASCII case (`/WHO` works).
    ///
    /// # Errors
    /// [`CommandError::Unknown`] for a `/word` that is no command, [`CommandError::Usage`] for a
    /// command without its required arguments.
    pub fn parse(line: &'a str) -> Result<Self, CommandError<'a>> {
        // Text that is blank (in the sense of `is_blank`) counts as none.
        let text = |rest: &'a str| (!is_blank(rest)).then(|| rest.trim_end());
        if is_quit(line) {
            let rest = line.strip_prefix('/').map_or("", |cmd| split_word(cmd).1);
            return Ok(ClientMsg::Quit(text(rest)));
        }
        if let Some(rest) = line.strip_prefix("//") {
            return Ok(ClientMsg::Say(&line[line.len() - rest.len() - 1..]));
        }
        let Some(cmd) = line.strip_prefix('/') else {
            return Ok(ClientMsg::Say(line));
        };
        let (word, rest) = split_word(cmd);
        let is = |name: &str| word.eq_ignore_ascii_case(name);
        match () {
            _ if is("who") => Ok(ClientMsg::Who),
            _ if is("help") => Ok(ClientMsg::Help),
            _ if is("stats") => Ok(ClientMsg::Stats),
            _ if is("away") => Ok(ClientMsg::Away(text(rest))),
            _ if is("back") => Ok(ClientMsg::Back),
            _ if is("me") && is_blank(rest) => Err(CommandError::Usage("/me <action>")),
            _ if is("me") => Ok(ClientMsg::Me(rest)),
            _ if is("nick") => Ok(ClientMsg::Nick(rest.trim_end())),
            _ if is("msg") => {
                let (to, text) = split_word(rest);
                if to.is_empty() || is_blank(text) {
                    Err(CommandError::Usage("/msg <name> <text>"))
                } else if crate::room::is_room_field(to) {
                    Ok(ClientMsg::In {
                        room: to,
                        line: text,
                    })
                } else {
                    Ok(ClientMsg::Msg { to, text })
                }
            }
            _ if is("join") => one_room(rest, "/join #room").map(ClientMsg::Join),
            _ if is("part") => one_room(rest, "/part #room").map(ClientMsg::Part),
            _ if is("in") => {
                let (room, line) = split_word(rest);
                if room.is_empty() || is_blank(line) {
                    Err(CommandError::Usage("/in #room <line>"))
                } else {
                    Ok(ClientMsg::In { room, line })
                }
            }
            _ if is("topic") => Ok(ClientMsg::Topic(rest)),
            _ if is("rooms") => Ok(ClientMsg::Rooms),
            _ => Err(CommandError::Unknown(word)),
        }
    }

    /// Append this message as one wire line (with its `\n`) to `out`.
    ///
    /// `Say` text that starts with `/` is escaped as `//`. The text must not contain `\n`, and
    /// `Say("<quit>")` cannot be expressed (it would mean leaving).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut put = |parts: &[&str]| {
            for p in parts {
                out.extend_from_slice(p.as_bytes());
            }
            out.push(b'\n');
        };
        match self {
            ClientMsg::Quit(None) => put(&["/quit"]),
            ClientMsg::Quit(Some(message)) => put(&["/quit ", message]),
            ClientMsg::Away(None) => put(&["/away"]),
            ClientMsg::Away(Some(message)) => put(&["/away ", message]),
            ClientMsg::Back => put(&["/back"]),
            ClientMsg::Who => put(&["/who"]),
            ClientMsg::Help => put(&["/help"]),
            ClientMsg::Stats => put(&["/stats"]),
            ClientMsg::Msg { to, text } => put(&["/msg ", to, " ", text]),
            ClientMsg::Me(text) => put(&["/me ", text]),
            ClientMsg::Nick(name) => put(&["/nick ", name]),
            ClientMsg::Join(room) => put(&["/join ", room]),
            ClientMsg::Part(room) => put(&["/part ", room]),
            ClientMsg::In { room, line } => put(&["/in ", room, " ", line]),
            ClientMsg::Topic("") => put(&["/topic"]),
            ClientMsg::Topic(text) => put(&["/topic ", text]),
            ClientMsg::Rooms => put(&["/rooms"]),
            ClientMsg::Say(text) if text.starts_with('/') => put(&["/", text]),
            ClientMsg::Say(text) => put(&[text]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_table() {
        use ClientMsg::*;
        let cases: &[(&str, Result<ClientMsg, CommandError>)] = &[
            ("hello there", Ok(Say("hello there"))),
            ("<quit>", Ok(Quit(None))),
            ("  <quit> ", Ok(Quit(None))),
            ("/quit", Ok(Quit(None))),
            ("/QUIT", Ok(Quit(None))),
            ("/quit now", Ok(Quit(Some("now")))),
            ("/quit   see you all  ", Ok(Quit(Some("see you all")))),
            ("/quit \u{200b} ", Ok(Quit(None))),
            ("<quit> now", Ok(Say("<quit> now"))),
            ("/away", Ok(Away(None))),
            (
                "/AWAY  lunch, back at 2 ",
                Ok(Away(Some("lunch, back at 2"))),
            ),
            ("/away \u{2060}", Ok(Away(None))),
            ("/back", Ok(Back)),
            ("/back from lunch", Ok(Back)),
            ("/awayy", Err(CommandError::Unknown("awayy"))),
            (" /quit", Ok(Say(" /quit"))),
            ("/quitter", Err(CommandError::Unknown("quitter"))),
            ("/who", Ok(Who)),
            ("/Who extra", Ok(Who)),
            ("/help", Ok(Help)),
            ("/STATS", Ok(Stats)),
            ("/stats now", Ok(Stats)),
            ("/statistics", Err(CommandError::Unknown("statistics"))),
            (
                "/msg bob hi there",
                Ok(Msg {
                    to: "bob",
                    text: "hi there",
                }),
            ),
            (
                "/msg  bob   hi",
                Ok(Msg {
                    to: "bob",
                    text: "hi",
                }),
            ),
            ("/msg bob", Err(CommandError::Usage("/msg <name> <text>"))),
            ("/msg", Err(CommandError::Usage("/msg <name> <text>"))),
            ("/me waves", Ok(Me("waves"))),
            ("/me", Err(CommandError::Usage("/me <action>"))),
            ("/me \u{200b}", Err(CommandError::Usage("/me <action>"))),
            (
                "/msg bob \u{200b}\u{2060}",
                Err(CommandError::Usage("/msg <name> <text>")),
            ),
            ("/nick carol", Ok(Nick("carol"))),
            ("/nick", Ok(Nick(""))),
            ("/nick two words", Ok(Nick("two words"))),
            ("//etc/hosts is a file", Ok(Say("/etc/hosts is a file"))),
            ("//", Ok(Say("/"))),
            ("/dance now", Err(CommandError::Unknown("dance"))),
            ("/", Err(CommandError::Unknown(""))),
            (" /who", Ok(Say(" /who"))),
            // Rooms.
            ("/join #dev", Ok(Join("#dev"))),
            ("/JOIN  #dev ", Ok(Join("#dev"))),
            ("/join dev", Ok(Join("dev"))),
            ("/join", Err(CommandError::Usage("/join #room"))),
            ("/join #a #b", Err(CommandError::Usage("/join #room"))),
            ("/part #dev", Ok(Part("#dev"))),
            ("/part", Err(CommandError::Usage("/part #room"))),
            (
                "/in #dev hi  there",
                Ok(In {
                    room: "#dev",
                    line: "hi  there",
                }),
            ),
            (
                "/in #dev /me waves",
                Ok(In {
                    room: "#dev",
                    line: "/me waves",
                }),
            ),
            ("/in #dev", Err(CommandError::Usage("/in #room <line>"))),
            (
                "/in #dev \u{200b}",
                Err(CommandError::Usage("/in #room <line>")),
            ),
            (
                "/msg #dev hi",
                Ok(In {
                    room: "#dev",
                    line: "hi",
                }),
            ),
            ("/msg #dev", Err(CommandError::Usage("/msg <name> <text>"))),
            ("/topic release on friday", Ok(Topic("release on friday"))),
            ("/topic", Ok(Topic(""))),
            ("/rooms", Ok(Rooms)),
            ("/ROOMS all", Ok(Rooms)),
        ];
        for (line, want) in cases {
            assert_eq!(&ClientMsg::parse(line), want, "{line:?}");
        }
    }

    #[test]
    fn unknown_command_echo_is_short() {
        let word = "x".repeat(2000);
        let line = format!("/{word}");
        let err = ClientMsg::parse(&line).unwrap_err().to_string();
        assert!(err.len() < 120, "{}", err.len());
        assert!(err.starts_with("unknown command /xxxxxxxx"));
    }

    #[test]
    fn encode_table() {
        let cases: &[(ClientMsg, &str)] = &[
            (ClientMsg::Quit(None), "/quit\n"),
            (ClientMsg::Quit(Some("bye all")), "/quit bye all\n"),
            (ClientMsg::Away(None), "/away\n"),
            (ClientMsg::Away(Some("lunch")), "/away lunch\n"),
            (ClientMsg::Back, "/back\n"),
            (ClientMsg::Say("hi"), "hi\n"),
            (ClientMsg::Say("/etc"), "//etc\n"),
            (
                ClientMsg::Msg {
                    to: "bob",
                    text: "psst",
                },
                "/msg bob psst\n",
            ),
            (ClientMsg::Me("waves"), "/me waves\n"),
            (ClientMsg::Nick("zed"), "/nick zed\n"),
            (ClientMsg::Who, "/who\n"),
            (ClientMsg::Help, "/help\n"),
            (ClientMsg::Stats, "/stats\n"),
            (ClientMsg::Join("#dev"), "/join #dev\n"),
            (ClientMsg::Part("#dev"), "/part #dev\n"),
            (
                ClientMsg::In {
                    room: "#dev",
                    line: "/me waves",
                },
                "/in #dev /me waves\n",
            ),
            (ClientMsg::Topic(""), "/topic\n"),
            (ClientMsg::Topic("lunch"), "/topic lunch\n"),
            (ClientMsg::Rooms, "/rooms\n"),
        ];
        for (msg, want) in cases {
            let mut out = Vec::new();
            msg.encode(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), *want);
        }
    }

    #[test]
    fn blank_lines() {
        assert!(is_blank(""));
        assert!(is_blank(" \t "));
        assert!(!is_blank(" x "));
        assert!(is_blank("\u{200b}"));
        assert!(is_blank(
            " \u{2060}\u{feff}\u{3000}\u{ad}\u{180e}\u{206a}\u{e0041} \u{3164}"
        ));
        assert!(!is_blank("\u{200b}x\u{200b}"));
        assert!(!is_blank("\u{fff9}"), "visible to a client, as a stand-in");
    }

    fn text() -> impl Strategy<Value = String> {
        "[^\n\r\\s][^\n\r]{0,40}"
            .prop_filter("not a quit, not blank", |t| !is_quit(t) && !is_blank(t))
    }

    fn word() -> impl Strategy<Value = String> {
        "[\\p{L}\\p{Nd}_.-]{1,24}"
    }

    fn msg() -> impl Strategy<Value = (u8, String, String)> {
        (0u8..18, word(), text())
    }

    proptest! {
        #[test]
        fn encode_then_parse_round_trips((kind, w, t) in msg()) {
            let room = format!("#{w}");
            let m = match kind {
                0 => ClientMsg::Quit(None),
                1 => ClientMsg::Who,
                2 => ClientMsg::Help,
                3 => ClientMsg::Msg { to: &w, text: &t },
                4 => ClientMsg::Me(&t),
                5 => ClientMsg::Nick(&w),
                6 => ClientMsg::Join(&room),
                7 => ClientMsg::Part(&room),
                8 => ClientMsg::In { room: &room, line: &t },
                9 => ClientMsg::Topic(&t),
                10 => ClientMsg::Rooms,
                11 => ClientMsg::Quit(Some(t.trim_end())),
                12 => ClientMsg::Away(None),
                13 => ClientMsg::Away(Some(t.trim_end())),
                14 => ClientMsg::Back,
                15 => ClientMsg::Stats,
                _ => ClientMsg::Say(&t),
            };
            let mut out = Vec::new();
            m.encode(&mut out);
            let line = std::str::from_utf8(&out).unwrap();
            let line = line.strip_suffix('\n').unwrap();
            prop_assert!(!line.contains('\n'));
            prop_assert_eq!(ClientMsg::parse(line), Ok(m));
        }
    }
}
