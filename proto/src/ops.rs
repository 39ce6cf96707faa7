//! What identity adds to the line protocol on the client's side: the password line before a
//! name (`/pass <password>`, asked for by `AUTH password`), and the operators' commands
//! (`/kick`, `/ban`, `/unban`, `/bans`, `/mute`, `/unmute`, `/release`) with the durations they
//! take (`30m`, `2h`, `7d`).
//!
//! A named client's line reaches these through [`crate::ClientMsg::parse`], as
//! [`crate::ClientMsg::Op`].

use std::time::Duration;

use crate::client::CommandError;

/// The method word of `AUTH password <text>`: the server wants `/pass <password>` first.
pub const AUTH_PASSWORD: &str = "password";

/// How the `BYE` to someone an operator removed starts: `BYE kicked by <op>: <reason>`.
pub const BYE_KICKED: &str = "kicked by ";

/// How the `BYE` to someone an operator banned starts: `BYE banned by <op> [for <duration>]:
/// <reason>`.
pub const BYE_BANNED: &str = "banned by ";

/// Why an operator sent someone away, from the `BYE` text (see [`BYE_KICKED`], [`BYE_BANNED`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentAway {
    /// `/kick`: they may come back.
    Kicked,
    /// `/ban`: they may not, until it ends or is lifted.
    Banned,
}

/// Whether a `BYE` text says an operator kicked or banned the reader.
pub fn sent_away(bye: &str) -> Option<SentAway> {
    if bye.starts_with(BYE_KICKED) {
        Some(SentAway::Kicked)
    } else if bye.starts_with(BYE_BANNED) {
        Some(SentAway::Banned)
    } else {
        None
    }
}

/// Longest a ban or mute may be set for (ten years): past that, none ("until lifted") says
/// what is meant.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The operators' commands, each with its usage, in the order `/help` lists them.
pub const OP_COMMANDS: [(&str, &str); 7] = [
    ("kick", "/kick <name> [reason]"),
    ("ban", "/ban <name|SHA256:key|address> [30m|2h|7d] [reason]"),
    ("unban", "/unban <name|SHA256:key|address>"),
    ("bans", "/bans"),
    ("mute", "/mute <name> [30m|2h|7d] [reason]"),
    ("unmute", "/unmute <name>"),
    ("release", "/release <name>"),
];

/// An operator's command, parsed (whether the sender is an operator is the server's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCommand<'a> {
    /// `/kick <name> [reason]`.
    Kick {
        /// Who.
        name: &'a str,
        /// Why (may be empty).
        reason: &'a str,
    },
    /// `/ban <name|SHA256:key|address> [duration] [reason]`.
    Ban {
        /// Whom or what, as typed.
        target: &'a str,
        /// For how long; `None`: until lifted.
        duration: Option<Duration>,
        /// Why (may be empty).
        reason: &'a str,
    },
    /// `/unban <name|SHA256:key|address>`.
    Unban(&'a str),
    /// `/bans`: list the bans (and mutes).
    Bans,
    /// `/mute <name> [duration] [reason]`.
    Mute {
        /// Who.
        name: &'a str,
        /// For how long; `None`: until lifted.
        duration: Option<Duration>,
        /// Why (may be empty).
        reason: &'a str,
    },
    /// `/unmute <name>`.
    Unmute(&'a str),
    /// `/release <name>`: drop the claim on a name.
    Release(&'a str),
}

impl<'a> OpCommand<'a> {
    /// The command `word` (any ASCII case) with the rest of its line; `None` when `word` is
    /// not an operators' command.
    ///
    /// # Errors
    /// [`CommandError::Usage`] when its required argument is missing.
    pub fn parse(word: &str, rest: &'a str) -> Option<Result<OpCommand<'a>, CommandError<'a>>> {
        let (index, _) = OP_COMMANDS
            .iter()
            .enumerate()
            .find(|(_, (w, _))| word.eq_ignore_ascii_case(w))?;
        let usage = Err(CommandError::Usage(OP_COMMANDS[index].1));
        let (first, after) = split_word(rest);
        let need = |cmd: OpCommand<'a>| if first.is_empty() { usage } else { Ok(cmd) };
        let (duration, reason) = match split_word(after) {
            (w, r) if parse_duration(w).is_some() => (parse_duration(w), r.trim_end()),
            _ => (None, after.trim_end()),
        };
        Some(match OP_COMMANDS[index].0 {
            "kick" => need(OpCommand::Kick {
                name: first,
                reason: after.trim_end(),
            }),
            "ban" => need(OpCommand::Ban {
                target: first,
                duration,
                reason,
            }),
            "unban" => need(OpCommand::Unban(first)),
            "bans" => Ok(OpCommand::Bans),
            "mute" => need(OpCommand::Mute {
                name: first,
                duration,
                reason,
            }),
            "unmute" => need(OpCommand::Unmute(first)),
            _ => need(OpCommand::Release(first)),
        })
    }

    /// Append this command as one wire line (with its `\n`) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut line = String::from("/");
        let mut word = |w: &str| {
            if !w.is_empty() {
                if !line.ends_with('/') {
                    line.push(' ');
                }
                line.push_str(w);
            }
        };
        let dur = |d: &Option<Duration>| d.map(format_duration).unwrap_or_default();
        match self {
            OpCommand::Kick { name, reason } => {
                word("kick");
                word(name);
                word(reason);
            }
            OpCommand::Ban {
                target,
                duration,
                reason,
            } => {
                word("ban");
                word(target);
                word(&dur(duration));
                word(reason);
            }
            OpCommand::Unban(t) => {
                word("unban");
                word(t);
            }
            OpCommand::Bans => word("bans"),
            OpCommand::Mute {
                name,
                duration,
                reason,
            } => {
                word("mute");
                word(name);
                word(&dur(duration));
                word(reason);
            }
            OpCommand::Unmute(n) => {
                word("unmute");
                word(n);
            }
            OpCommand::Release(n) => {
                word("release");
                word(n);
            }
        }
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
}

/// What a password line starts with: `/pass <password>`.
pub const PASS_PREFIX: &str = "/pass ";

/// The password of a `/pass <password>` line (any case of `/pass`; the password is the rest of
/// the line after one space, kept as typed); `None` for any other line.
pub fn parse_pass(line: &str) -> Option<&str> {
    let cmd = line.strip_prefix('/')?;
    let (word, rest) = cmd.split_at(cmd.find(' ').unwrap_or(cmd.len()));
    word.eq_ignore_ascii_case("pass")
        .then(|| rest.strip_prefix(' ').unwrap_or(rest))
}

/// A duration as operators type it: a whole number and `m` (minutes), `h` (hours) or `d`
/// (days): `30m`, `2h`, `7d`. `None` for anything else (then the word is not a duration but
/// the start of a reason), for zero, and for more than [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Option<Duration> {
    let unit = match s.chars().last()? {
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return None,
    };
    let n = &s[..s.len() - 1];
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs = n.parse::<u64>().ok()?.checked_mul(unit)?;
    (secs > 0 && secs <= MAX_DURATION.as_secs()).then(|| Duration::from_secs(secs))
}

/// A duration in the largest of those units that says it exactly (`90m`, `2h`, `7d`; seconds
/// are rounded up to a minute).
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs > 0 && secs.is_multiple_of(86_400) {
        format!("{}d", secs / 86_400)
    } else if secs > 0 && secs.is_multiple_of(3_600) {
        format!("{}h", secs / 3_600)
    } else {
        format!("{}m", secs.div_ceil(60).max(1))
    }
}

/// Split off the first white-space-delimited word; the rest has its leading white space removed.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H2: Option<Duration> = Some(Duration::from_secs(7_200));

    #[test]
    fn parse_table() {
        use OpCommand::*;
        type Parsed<'a> = Option<Result<OpCommand<'a>, CommandError<'a>>>;
        let cases: &[(&str, &str, Parsed)] = &[
            (
                "kick",
                "bob",
                Some(Ok(Kick {
                    name: "bob",
                    reason: "",
                })),
            ),
            (
                "KICK",
                "bob  go  away ",
                Some(Ok(Kick {
                    name: "bob",
                    reason: "go  away",
                })),
            ),
            (
                "kick",
                "",
                Some(Err(CommandError::Usage("/kick <name> [reason]"))),
            ),
            (
                "ban",
                "bob 2h spam",
                Some(Ok(Ban {
                    target: "bob",
                    duration: H2,
                    reason: "spam",
                })),
            ),
            (
                "ban",
                "SHA256:abc for spam",
                Some(Ok(Ban {
                    target: "SHA256:abc",
                    duration: None,
                    reason: "for spam",
                })),
            ),
            (
                "ban",
                "10.0.0.9 7d",
                Some(Ok(Ban {
                    target: "10.0.0.9",
                    duration: Some(Duration::from_secs(7 * 86_400)),
                    reason: "",
                })),
            ),
            ("unban", "bob", Some(Ok(Unban("bob")))),
            ("bans", "", Some(Ok(Bans))),
            ("bans", "extra", Some(Ok(Bans))),
            (
                "mute",
                "bob 30m",
                Some(Ok(Mute {
                    name: "bob",
                    duration: Some(Duration::from_secs(1_800)),
                    reason: "",
                })),
            ),
            (
                "mute",
                " ",
                Some(Err(CommandError::Usage(OP_COMMANDS[4].1))),
            ),
            ("unmute", "bob", Some(Ok(Unmute("bob")))),
            ("release", "ann", Some(Ok(Release("ann")))),
            (
                "release",
                "",
                Some(Err(CommandError::Usage("/release <name>"))),
            ),
            ("banana", "x", None),
            ("who", "", None),
        ];
        for (word, rest, want) in cases {
            assert_eq!(&OpCommand::parse(word, rest), want, "/{word} {rest}");
        }
    }

    #[test]
    fn encode_parses_back() {
        for line in [
            "/kick bob go away",
            "/kick bob",
            "/ban bob 2h spam",
            "/ban 10.0.0.9",
            "/unban SHA256:abc",
            "/bans",
            "/mute bob 7d",
            "/unmute bob",
            "/release ann",
        ] {
            let cmd = &line[1..];
            let (word, rest) = cmd.split_once(' ').unwrap_or((cmd, ""));
            let parsed = OpCommand::parse(word, rest)
                .expect("a command")
                .expect("valid");
            let mut out = Vec::new();
            parsed.encode(&mut out);
            assert_eq!(out, format!("{line}\n").into_bytes());
        }
    }

    #[test]
    fn bye_words() {
        assert_eq!(sent_away("kicked by op: calm down"), Some(SentAway::Kicked));
        assert_eq!(
            sent_away("banned by op for 2h: spam"),
            Some(SentAway::Banned)
        );
        assert_eq!(sent_away(crate::BYE_SHUTDOWN), None);
        assert_eq!(sent_away("Goodbye!"), None);
    }

    #[test]
    fn pass_lines() {
        assert_eq!(parse_pass("/pass s3cret"), Some("s3cret"));
        assert_eq!(parse_pass("/PASS two words "), Some("two words "));
        assert_eq!(parse_pass("/pass"), Some(""));
        assert_eq!(parse_pass("/password x"), None);
        assert_eq!(parse_pass("pass x"), None);
        assert_eq!(parse_pass("ann"), None);
    }

    #[test]
    fn durations() {
        for (s, want) in [
            ("30m", Some(1_800)),
            ("2h", Some(7_200)),
            ("7d", Some(604_800)),
            ("3650d", Some(3650 * 86_400)),
        ] {
            assert_eq!(parse_duration(s).map(|d| d.as_secs()), want, "{s}");
        }
        for s in [
            "",
            "m",
            "0m",
            "-1h",
            "1.5h",
            "2w",
            "h2",
            "spam",
            "3651d",
            "99999999999999999d",
            "２h",
        ] {
            assert_eq!(parse_duration(s), None, "{s}");
        }
        for (secs, text) in [
            (1_800, "30m"),
            (7_200, "2h"),
            (604_800, "7d"),
            (5_400, "90m"),
            (1, "1m"),
        ] {
            assert_eq!(format_duration(Duration::from_secs(secs)), text);
        }
    }
}
