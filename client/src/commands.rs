//! Commands the client carries out itself, before anything goes to the server: `/w`, `/m`
//! and `/query` (aliases of `/msg`), `/reply`, `/clear`, `/ignore`, `/unignore` and `/go`.
//! Anything else goes to the server as typed (or, in a room, as the room has it:
//! [`crate::rooms::Rooms::outgoing`]).

/// What a typed line asks of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Local<'a> {
    /// Send this line instead (an alias spelled out).
    Send(String),
    /// `/reply <text>`: a private message to whoever last wrote privately.
    Reply(&'a str),
    /// `/clear`: clear the screen.
    Clear,
    /// `/ignore <name>`, or `/ignore` alone: list who is ignored.
    Ignore(Option<&'a str>),
    /// `/unignore <name>`.
    Unignore(&'a str),
    /// `/go #room`: make a room this client is in the current one.
    Go(&'a str),
    /// A client command without what it needs: its usage.
    Usage(&'static str),
}

/// The client's own commands, for `/w<Tab>` completion beside the server's.
pub const LOCAL_COMMANDS: [&str; 8] = [
    "/clear",
    "/go",
    "/ignore",
    "/m",
    "/query",
    "/reply",
    "/unignore",
    "/w",
];

/// What `line` asks of the client, or `None` when it is for the server.
pub fn local(line: &str) -> Option<Local<'_>> {
    let cmd = line.strip_prefix('/')?;
    let (word, rest) = match cmd.find(char::is_whitespace) {
        Some(i) => (&cmd[..i], cmd[i..].trim()),
        None => (cmd, ""),
    };
    let word = word.to_ascii_lowercase();
    Some(match word.as_str() {
        "w" | "m" | "query" => Local::Send(format!("/msg {rest}")),
        "reply" if rest.is_empty() => Local::Usage("/reply <text>"),
        "reply" => Local::Reply(rest),
        "clear" => Local::Clear,
        "ignore" if rest.is_empty() => Local::Ignore(None),
        "ignore" => Local::Ignore(Some(first_word(rest))),
        "unignore" if rest.is_empty() => Local::Usage("/unignore <name>"),
        "unignore" => Local::Unignore(first_word(rest)),
        "go" if rest.is_empty() => Local::Usage("/go #room"),
        "go" => Local::Go(first_word(rest)),
        _ => return None,
    })
}

fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, Option<Local<'_>>)] = &[
            ("hello", None),
            ("/who", None),
            ("/msg bob hi", None),
            ("//w slash", None),
            (
                "/w bob hi there",
                Some(Local::Send("/msg bob hi there".into())),
            ),
            ("/M bob hi", Some(Local::Send("/msg bob hi".into()))),
            ("/query bob  hi", Some(Local::Send("/msg bob  hi".into()))),
            ("/reply sure", Some(Local::Reply("sure"))),
            ("/reply", Some(Local::Usage("/reply <text>"))),
            ("/clear", Some(Local::Clear)),
            ("/ignore", Some(Local::Ignore(None))),
            ("/ignore mallory now", Some(Local::Ignore(Some("mallory")))),
            ("/unignore mallory", Some(Local::Unignore("mallory"))),
            ("/unignore", Some(Local::Usage("/unignore <name>"))),
            ("/go #dev", Some(Local::Go("#dev"))),
            ("/GO  #dev now", Some(Local::Go("#dev"))),
            ("/go", Some(Local::Usage("/go #room"))),
        ];
        for (line, want) in cases {
            assert_eq!(local(line), *want, "{line:?}");
        }
    }
}
