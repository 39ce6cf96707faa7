//! What a person sees for each server line: `[HH:MM] <bob> text` and friends.
//!
//! [`Renderer::render`] turns one [`ServerMsg`] into zero or more display lines (no `\n`).
//! Every field from the network goes through [`sanitize`] first; only then does the renderer add
//! escape sequences of its own (colours, when [`Style::color`] is on) and, for a mention, one
//! BEL of its own (when [`Style::bell`] is on). The renderer reads no clock: the caller passes
//! the time, and a function that turns it into `HH:MM`.
//!
//! | line | shown as |
//! |---|---|
//! | `MSG bob hi` | `[12:01] <bob> hi` |
//! | `ACTION bob waves` | `[12:01] ~ bob waves` |
//! | `PRIV bob psst` | `[12:01] [private] <bob> psst` |
//! | `JOIN bob` | `[12:01] * bob has joined the chat` |
//! | `LEAVE bob quit` | `[12:01] * bob has left the chat (quit)` |
//! | `NICK bob rob` | `[12:01] * bob is now known as rob` |
//! | `WHO ...` + `WHOEND 2` | `[12:01] * here now (2): ann, bob` |
//! | `INFO text`, `WELCOME ann text`, `HELLO text`, `BYE text` | `[12:01] * text` |
//! | `ERR code text` | `[12:01] error: text` |
//! | `HIST <ms> <frame>` | `--- earlier messages ---` once, then the frame at its own time |
//!
//! A message that names this client as a word (ignoring case), and every private message, is
//! a mention: the line starts with `! ` (and is bold in colour) and, live, ends with one BEL.

use std::fmt::Write as _;

use lanchat_proto::name::is_name_char;
use lanchat_proto::{fold_name, ClientMsg, ServerMsg};

use crate::clock::ToHhMm;
use crate::members::Change;
use crate::sanitize::sanitize;

/// The separator shown above history.
pub const HISTORY_SEPARATOR: &str = "--- earlier messages ---";

/// At most this many names are listed for a member list; the rest are counted.
pub const MAX_LISTED_NAMES: usize = 30;

/// The terminal bell.
pub const BEL: char = '\u{7}';

/// At most one bell in this many milliseconds: a burst of mentions (or a hostile flood of
/// private messages) rings once, not once per line.
pub const BELL_EVERY_MS: u64 = 3_000;

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const MAGENTA_BOLD: &str = "\x1b[1;35m";
const YELLOW_BOLD: &str = "\x1b[1;33m";

/// Name colours: the six basic hues and their bright forms (no black, white or grey, which
/// vanish on one background or another).
const NAME_COLOURS: [u8; 12] = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];

/// How lines are dressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours and bold/dim (off with `NO_COLOR` or when stdout is not a terminal).
    pub color: bool,
    /// `[HH:MM] ` in front of each line (off with `--no-timestamps`).
    pub timestamps: bool,
    /// One BEL after a live mention (off with `--no-bell`, or when stdout is not a terminal).
    pub bell: bool,
}

impl Style {
    /// No colour, no bell, timestamps on: what scripts get.
    pub const PLAIN: Style = Style {
        color: false,
        timestamps: true,
        bell: false,
    };
}

/// The ANSI colour code for `name`: stable across runs and machines (FNV-1a of the folded
/// name, so `Bob` and `bob`, the same user, share it).
pub fn name_colour(name: &str) -> u8 {
    let mut h: u32 = 0x811c_9dc5;
    for b in fold_name(name).bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    NAME_COLOURS[h as usize % NAME_COLOURS.len()]
}

/// Whether `text` mentions `name`: contains it, ignoring case, as a whole word (not inside a
/// longer name: `ann` is not mentioned by `annie` or `jo.ann`).
pub fn mentions(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    // Both sides folded the same way, or `Weiß`/`WEISS` and `Νίκος` (final sigma) are missed.
    let text = fold_name(text);
    let name = fold_name(name);
    // A '.' ends a sentence as often as it joins a name: it only glues when a name character
    // follows it.
    let glues_before = |s: &str| {
        let mut rev = s.chars().rev();
        match rev.next() {
            None => false,
            Some('.') => rev.next().is_some_and(is_name_char),
            Some(c) => is_name_char(c),
        }
    };
    let glues_after = |s: &str| {
        let mut it = s.chars();
        match it.next() {
            None => false,
            Some('.') => it.next().is_some_and(is_name_char),
            Some(c) => is_name_char(c),
        }
    };
    text.match_indices(&name)
        .any(|(i, m)| !glues_before(&text[..i]) && !glues_after(&text[i + m.len()..]))
}

/// Turns server lines into display lines. Keeps one piece of state: whether the history
/// separator has been shown.
#[derive(Debug)]
pub struct Renderer {
    style: Style,
    to_hhmm: ToHhMm,
    in_history: bool,
    /// When the bell last rang.
    last_bell_ms: Option<u64>,
}

impl Renderer {
    /// A renderer with `style`, showing times through `to_hhmm`.
    pub fn new(style: Style, to_hhmm: ToHhMm) -> Renderer {
        Renderer {
            style,
            to_hhmm,
            in_history: false,
            last_bell_ms: None,
        }
    }

    /// The style in use.
    pub fn style(&self) -> Style {
        self.style
    }

    /// The display lines for `msg`, received at `now_ms`, for the client called `me`;
    /// `change` is what the message did to the member list ([`crate::members::Members::apply`]).
    pub fn render(
        &mut self,
        msg: &ServerMsg<'_>,
        change: &Change,
        me: &str,
        now_ms: u64,
    ) -> Vec<String> {
        let mut out = Vec::new();
        match msg {
            ServerMsg::Hist { at_ms, frame } => {
                if !self.in_history {
                    self.in_history = true;
                    out.push(self.paint(DIM, HISTORY_SEPARATOR));
                }
                if let Some(line) = self.line(frame, change, me, *at_ms, Live::No) {
                    out.push(line);
                }
            }
            _ => {
                self.in_history = false;
                if let Some(line) = self.line(msg, change, me, now_ms, Live::Yes) {
                    out.push(line);
                }
            }
        }
        out
    }

    /// The echo of a line this client (`me`) sent at `now_ms`, drawn the way others see it:
    /// `<ann> hi`, `~ ann waves`, `[private] -> bob: psst`. Commands that are not messages
    /// (`/who`, `/nick`, ...) echo nothing: their answer shows.
    pub fn own(&mut self, msg: &ClientMsg<'_>, me: &str, now_ms: u64) -> Option<String> {
        self.in_history = false;
        let body = match msg {
            ClientMsg::Say(text) => format!("<{}> {}", self.name(me, Live::Yes), sanitize(text)),
            ClientMsg::Me(text) => format!("~ {} {}", self.name(me, Live::Yes), sanitize(text)),
            ClientMsg::Msg { to, text } => format!(
                "{} -> {}: {}",
                self.paint(MAGENTA_BOLD, "[private]"),
                self.name(to, Live::Yes),
                sanitize(text)
            ),
            _ => return None,
        };
        Some(self.stamped(&body, now_ms))
    }

    fn stamped(&self, body: &str, at_ms: u64) -> String {
        let mut line = String::new();
        if self.style.timestamps {
            let (h, m) = (self.to_hhmm)(at_ms);
            let _ = write!(line, "[{h:02}:{m:02}] ");
        }
        line.push_str(body);
        line
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.style.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    fn name(&self, name: &str, live: Live) -> String {
        let name = sanitize(name);
        if self.style.color && live == Live::Yes {
            format!("\x1b[{}m{name}{RESET}", name_colour(&name))
        } else {
            name.into_owned()
        }
    }

    fn line(
        &mut self,
        msg: &ServerMsg<'_>,
        change: &Change,
        me: &str,
        at_ms: u64,
        live: Live,
    ) -> Option<String> {
        let mut mention = false;
        let body = match msg {
            ServerMsg::Msg { from, text } => {
                mention = mentions(text, me);
                format!(
                    "<{}> {}",
                    self.name(from, live),
                    self.text(text, mention, live)
                )
            }
            ServerMsg::Action { from, text } => {
                mention = mentions(text, me);
                format!(
                    "~ {} {}",
                    self.name(from, live),
                    self.text(text, mention, live)
                )
            }
            ServerMsg::Priv { from, text } => {
                mention = true;
                format!(
                    "{} <{}> {}",
                    self.paint(MAGENTA_BOLD, "[private]"),
                    self.name(from, live),
                    self.text(text, mention, live)
                )
            }
            ServerMsg::Join { name } => format!("* {} has joined the chat", self.name(name, live)),
            ServerMsg::Leave { name, reason: "" } => {
                format!("* {} has left the chat", self.name(name, live))
            }
            ServerMsg::Leave { name, reason } => format!(
                "* {} has left the chat ({})",
                self.name(name, live),
                sanitize(reason)
            ),
            ServerMsg::Nick { new, .. } if fold_name(new) == fold_name(me) => {
                format!("* you are now known as {}", self.name(new, live))
            }
            ServerMsg::Nick { old, new } => format!(
                "* {} is now known as {}",
                self.name(old, live),
                self.name(new, live)
            ),
            ServerMsg::Who { .. } => return None,
            ServerMsg::WhoEnd { count } => {
                let names = match change {
                    Change::List(names) => names.as_slice(),
                    Change::None => &[],
                };
                let mut s = format!("* here now ({count})");
                for (i, n) in names.iter().take(MAX_LISTED_NAMES).enumerate() {
                    s.push_str(if i == 0 { ": " } else { ", " });
                    s.push_str(&self.name(n, live));
                }
                if names.len() > MAX_LISTED_NAMES {
                    let _ = write!(s, " and {} more", names.len() - MAX_LISTED_NAMES);
                }
                s
            }
            ServerMsg::Hello { text }
            | ServerMsg::Welcome { text, .. }
            | ServerMsg::Info { text }
            | ServerMsg::Bye { text } => format!("* {}", sanitize(text)),
            ServerMsg::Err { code, text } => {
                let words = if text.is_empty() {
                    sanitize(code.as_str())
                } else {
                    sanitize(text)
                };
                format!("{} {words}", self.paint(RED, "error:"))
            }
            ServerMsg::Hist { .. } => return None, // HIST inside HIST does not parse
        };
        let mut line = String::new();
        if mention && live == Live::Yes {
            line.push_str(&self.paint(YELLOW_BOLD, "!"));
            line.push(' ');
        } else if mention {
            // Replayed history is dimmed as a whole: a colour here would end with a reset
            // that undoes the dimming for the rest of the line.
            line.push_str("! ");
        }
        if self.style.timestamps {
            let (h, m) = (self.to_hhmm)(at_ms);
            let _ = write!(line, "[{h:02}:{m:02}] ");
        }
        line.push_str(&body);
        if live == Live::No && self.style.color {
            line = format!("{DIM}{line}{RESET}");
        }
        if mention && live == Live::Yes && self.style.bell && self.bell_due(at_ms) {
            line.push(BEL);
        }
        Some(line)
    }

    /// Whether the bell may ring at `now_ms` (and if so, it counts as rung).
    fn bell_due(&mut self, now_ms: u64) -> bool {
        let due = self
            .last_bell_ms
            .is_none_or(|last| now_ms.saturating_sub(last) >= BELL_EVERY_MS);
        if due {
            self.last_bell_ms = Some(now_ms);
        }
        due
    }

    fn text(&self, text: &str, mention: bool, live: Live) -> String {
        if mention && live == Live::Yes {
            self.paint(BOLD, &sanitize(text))
        } else {
            sanitize(text).into_owned()
        }
    }
}

/// Whether a line is happening now (colours, bell) or replayed history (dimmed, silent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Live {
    Yes,
    No,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::utc_hhmm;
    use crate::members::Members;

    /// 2025-11-27 12:01 UTC.
    const NOW: u64 = 1_764_244_860_000;

    fn render_all(style: Style, me: &str, lines: &[&str]) -> Vec<String> {
        let mut r = Renderer::new(style, utc_hhmm);
        let mut m = Members::new(me);
        let mut out = Vec::new();
        // One bell's spacing apart, so each line may ring (all within the same minute).
        for (i, l) in (0u64..).zip(lines) {
            let msg = ServerMsg::parse(l).expect(l);
            let change = m.apply(&msg);
            out.extend(r.render(&msg, &change, m.me(), NOW + i * BELL_EVERY_MS));
        }
        out
    }

    fn plain(lines: &[&str]) -> Vec<String> {
        render_all(Style::PLAIN, "ann", lines)
    }

    #[test]
    fn every_server_message_plain() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["MSG bob hello  there "], &["[12:01] <bob> hello  there "]),
            (&["ACTION bob waves"], &["[12:01] ~ bob waves"]),
            (&["PRIV bob psst"], &["! [12:01] [private] <bob> psst"]),
            (&["JOIN bob"], &["[12:01] * bob has joined the chat"]),
            (
                &["LEAVE bob quit"],
                &["[12:01] * bob has left the chat (quit)"],
            ),
            (
                &["LEAVE bob too-slow"],
                &["[12:01] * bob has left the chat (too-slow)"],
            ),
            (&["LEAVE bob"], &["[12:01] * bob has left the chat"]),
            (
                &["NICK bob robert"],
                &["[12:01] * bob is now known as robert"],
            ),
            (
                &["NICK ann Annie"],
                &["[12:01] * you are now known as Annie"],
            ),
            (
                &["WHO bob ann", "WHOEND 2"],
                &["[12:01] * here now (2): bob, ann"],
            ),
            (&["WHOEND 0"], &["[12:01] * here now (0)"]),
            (&["INFO /who lists users"], &["[12:01] * /who lists users"]),
            (
                &["WELCOME ann Hi ann! Type <quit> to leave."],
                &["[12:01] * Hi ann! Type <quit> to leave."],
            ),
            (&["HELLO Who are you?"], &["[12:01] * Who are you?"]),
            (
                &["BYE server shutting down"],
                &["[12:01] * server shutting down"],
            ),
            (
                &["ERR no-such-user nobody called zed is here"],
                &["[12:01] error: nobody called zed is here"],
            ),
            (&["ERR brand-new-code"], &["[12:01] error: brand-new-code"]),
            (
                &[
                    "HIST 1764227000000 MSG bob anyone here?",
                    "HIST 1764227060000 ACTION bob yawns",
                    "WHO ann bob",
                    "WHOEND 2",
                ],
                &[
                    HISTORY_SEPARATOR,
                    "[07:03] <bob> anyone here?",
                    "[07:04] ~ bob yawns",
                    "[12:01] * here now (2): ann, bob",
                ],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(&plain(input), want, "{input:?}");
        }
    }

    #[test]
    fn no_timestamps() {
        let style = Style {
            timestamps: false,
            ..Style::PLAIN
        };
        assert_eq!(
            render_all(style, "ann", &["MSG bob hi", "JOIN carl", "PRIV bob x"]),
            [
                "<bob> hi",
                "* carl has joined the chat",
                "! [private] <bob> x"
            ]
        );
    }

    #[test]
    fn long_member_lists_are_cut() {
        let names: Vec<String> = (0..40).map(|i| format!("u{i}")).collect();
        let who = format!("WHO {}", names.join(" "));
        let out = plain(&[&who, "WHOEND 40"]);
        assert!(
            out[0].starts_with("[12:01] * here now (40): u0, u1, "),
            "{out:?}"
        );
        assert!(out[0].ends_with(", u29 and 10 more"), "{out:?}");
    }

    #[test]
    fn history_separator_once_per_block() {
        let out = plain(&[
            "HIST 0 MSG a 1",
            "HIST 60000 MSG a 2",
            "MSG b live",
            "HIST 0 MSG a 3",
        ]);
        assert_eq!(
            out,
            [
                HISTORY_SEPARATOR,
                "[00:00] <a> 1",
                "[00:01] <a> 2",
                "[12:01] <b> live",
                HISTORY_SEPARATOR,
                "[00:00] <a> 3"
            ]
        );
    }

    #[test]
    fn escape_sequences_and_bidi_are_inert_in_text_and_names() {
        let out = plain(&[
            "MSG bob \u{1b}[2J\u{1b}[H cleared?",
            "MSG bob \u{1b}]0;pwned\u{7} title",
            "MSG bob abc\u{202e}fed",
            "MSG bob c1 \u{9b}31m red",
            "JOIN ev\u{1b}[31mil",
            "ERR x \u{1b}[1A up",
            "LEAVE bob \u{1b}c",
            "HIST 0 MSG m\u{202e}x \u{1b}[5m",
        ]);
        assert_eq!(
            out,
            [
                "[12:01] <bob> ␛[2J␛[H cleared?",
                "[12:01] <bob> ␛]0;pwned␇ title",
                "[12:01] <bob> abc\u{fffd}fed",
                "[12:01] <bob> c1 \u{fffd}31m red",
                "[12:01] * ev␛[31mil has joined the chat",
                "[12:01] error: ␛[1A up",
                "[12:01] * bob has left the chat (␛c)",
                HISTORY_SEPARATOR,
                "[00:00] <m\u{fffd}x> ␛[5m",
            ]
        );
        for line in out {
            assert!(
                !line.contains(['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}']),
                "{line:?}"
            );
        }
    }

    #[test]
    fn colour_names_are_stable_and_escapes_are_only_ours() {
        let style = Style {
            color: true,
            ..Style::PLAIN
        };
        let out = render_all(style, "ann", &["MSG bob hi \u{1b}[2J", "JOIN bob"]);
        let c = name_colour("bob");
        assert_eq!(out[0], format!("[12:01] <\x1b[{c}mbob\x1b[0m> hi ␛[2J"));
        assert_eq!(
            out[1],
            format!("[12:01] * \x1b[{c}mbob\x1b[0m has joined the chat")
        );
        assert_eq!(name_colour("bob"), name_colour("BOB"));
        // Not every name gets the same colour.
        let colours: std::collections::HashSet<u8> =
            ["ann", "bob", "carl", "dora", "eve", "fay", "gus"]
                .iter()
                .map(|n| name_colour(n))
                .collect();
        assert!(colours.len() >= 3, "{colours:?}");
    }

    #[test]
    fn history_is_dimmed_in_colour() {
        let style = Style {
            color: true,
            ..Style::PLAIN
        };
        let out = render_all(style, "ann", &["HIST 0 MSG bob old"]);
        assert_eq!(
            out,
            [
                format!("{DIM}{HISTORY_SEPARATOR}{RESET}"),
                format!("{DIM}[00:00] <bob> old{RESET}")
            ]
        );
    }

    #[test]
    fn mention_detection_table() {
        let cases: &[(&str, bool)] = &[
            ("hi ann", true),
            ("ANN: lunch?", true),
            ("hey @ann!", true),
            ("thanks ann.", true),
            ("ann", true),
            ("annie is here", false),
            ("joann", false),
            ("jo.ann said", false),
            ("ann.b is someone else", false),
            ("ann_2", false),
            ("ann-marie", false),
            ("see anne and ann", true),
            ("", false),
        ];
        for (text, want) in cases {
            assert_eq!(mentions(text, "ann"), *want, "{text:?}");
        }
        assert!(mentions("ÉMILE!", "émile"));
        assert!(mentions("hi Weiß", "Weiß"));
        assert!(mentions("hi STRASSE!", "Straße"));
        assert!(mentions("Νίκος, έλα", "Νίκος"));
        assert!(mentions("hey ſam", "sam"));
        assert!(!mentions("anything", ""));
    }

    #[test]
    fn mentions_are_marked_and_ring_once() {
        let style = Style {
            bell: true,
            ..Style::PLAIN
        };
        let out = render_all(
            style,
            "ann",
            &[
                "MSG bob hi ann \u{7}\u{7}",
                "ACTION bob pokes Ann",
                "PRIV bob psst",
                "MSG bob hi annie",
                "HIST 0 MSG bob ann, you there?",
            ],
        );
        assert_eq!(
            out,
            [
                "! [12:01] <bob> hi ann ␇␇\u{7}",
                "! [12:01] ~ bob pokes Ann\u{7}",
                "! [12:01] [private] <bob> psst\u{7}",
                "[12:01] <bob> hi annie",
                HISTORY_SEPARATOR,
                "! [00:00] <bob> ann, you there?",
            ]
        );
        for line in &out {
            assert!(line.matches(BEL).count() <= 1, "{line:?}");
        }
    }

    #[test]
    fn no_bell_means_no_bel() {
        let out = plain(&["MSG bob ann!", "PRIV bob x"]);
        assert!(out.iter().all(|l| !l.contains(BEL)), "{out:?}");
        assert!(out.iter().all(|l| l.starts_with("! ")), "{out:?}");
    }

    #[test]
    fn a_rename_moves_mentions_to_the_new_name() {
        let out = plain(&[
            "WELCOME ann hi",
            "NICK ann zed",
            "MSG bob hi ann",
            "MSG bob hi zed",
        ]);
        assert_eq!(
            out,
            [
                "[12:01] * hi",
                "[12:01] * you are now known as zed",
                "[12:01] <bob> hi ann",
                "! [12:01] <bob> hi zed"
            ]
        );
    }

    #[test]
    fn mentions_in_colour_are_bold() {
        let style = Style {
            color: true,
            bell: true,
            timestamps: false,
        };
        let out = render_all(style, "ann", &["MSG bob ann?"]);
        let c = name_colour("bob");
        assert_eq!(
            out,
            [format!(
                "{YELLOW_BOLD}!{RESET} <\x1b[{c}mbob\x1b[0m> {BOLD}ann?{RESET}\u{7}"
            )]
        );
    }

    #[test]
    fn a_burst_of_mentions_rings_once() {
        // A hostile flood of private messages rang the bell once per line.
        let style = Style {
            bell: true,
            ..Style::PLAIN
        };
        let mut r = Renderer::new(style, utc_hhmm);
        let m = Members::new("ann");
        let ring = |r: &mut Renderer, at: u64| {
            let msg = ServerMsg::parse("PRIV bob hey").unwrap();
            r.render(&msg, &Change::None, m.me(), at)[0].contains(BEL)
        };
        let rang: Vec<bool> = (0..300).map(|i| ring(&mut r, NOW + i * 10)).collect();
        assert_eq!(rang.iter().filter(|&&b| b).count(), 1, "300 in 3 s");
        assert!(
            ring(&mut r, NOW + BELL_EVERY_MS),
            "rings again after the pause"
        );
        assert!(!ring(&mut r, NOW + BELL_EVERY_MS + 1));
    }

    #[test]
    fn own_lines_look_like_everyone_elses() {
        let mut r = Renderer::new(Style::PLAIN, utc_hhmm);
        let cases: &[(&str, Option<&str>)] = &[
            ("hi", Some("[12:01] <ann> hi")),
            ("/me waves", Some("[12:01] ~ ann waves")),
            ("/msg bob psst", Some("[12:01] [private] -> bob: psst")),
            ("/who", None),
        ];
        for (line, want) in cases {
            let msg = ClientMsg::parse(line).unwrap();
            assert_eq!(r.own(&msg, "ann", NOW).as_deref(), *want, "{line:?}");
        }
    }
}
