//! What a person sees for each server line: `[HH:MM] <bob> text` and friends.
//!
//! [`Renderer::render`] turns one [`ServerMsg`] into zero or more display lines (no `\n`), one
//! per screen row. Every field from the network goes through [`sanitize`] first; only then
//! does the renderer add escape sequences of its own (colours, when [`Style::color`] is on)
//! and, for a mention, one BEL of its own (when [`Style::bell`] is on, at most one every
//! [`BELL_EVERY_MS`]). The renderer reads no clock: the caller passes the time, and a function
//! that turns it into a date and time.
//!
//! | line | shown as |
//! |---|---|
//! | `MSG bob hi` | `[12:01] <bob> hi` |
//! | `ACTION bob waves` | `[12:01] ~ bob waves` |
//! | `PRIV bob psst` | `[12:01] [private] <bob> psst` |
//! | `JOIN bob` | `[12:01] * bob has joined the chat` |
//! | `LEAVE bob quit` | `[12:01] * bob has left the chat (quit)` |
//! | `LEAVE bob quit see you` | `[12:01] * bob has left the chat (quit: see you)` |
//! | `AWAY bob lunch`, `AWAY bob`, `BACK bob` | `[12:01] * bob is away: lunch`, `* bob is away`, `* bob is back` (of oneself: `* you are away: lunch`, `* you are back`) |
//! | `NICK bob rob` | `[12:01] * bob is now known as rob` |
//! | `WHO ...` + `WHOEND 2` | `[12:01] * here now (2): ann, bob` (`bob (away)` after `WHOAWAY bob ...`) |
//! | `INFO text`, `WELCOME ann text`, `HELLO text`, `BYE text` | `[12:01] * text` |
//! | `ERR code text` | `[12:01] error: text` |
//! | `STATS uptime 7380` ... `STATSEND` | `[12:01] * server stats:`, then one row per figure under it: `uptime  2 h 03 min` ([`crate::stats`]) |
//! | `HIST <ms> <frame>` | the frames of a block at their own times, under `--- earlier messages (10:02 to 11:58) ---` |
//! | `HIST <ms> PRIV bob psst` | a note kept while this client was away, after the block: `! [Nov 24 10:09] [private, kept] <bob> psst` |
//! | `MSG #ops bob hi` (not the current room) | `[12:01] #ops <bob> hi` |
//! | `JOIN #dev bob`, `LEAVE #dev bob parted` | `[12:01] * bob has joined #dev`, `... has left #dev` |
//! | `ROOM #dev release` | `[12:01] * you joined #dev (topic: release)` |
//! | `TOPIC #dev bob lunch` | `[12:01] * bob set the topic of #dev: lunch` |
//! | `PARTED #dev` | `[12:01] * you left #dev` |
//! | `WHOEND #dev 2` | `[12:01] * here now in #dev (2): ann, bob` |
//! | `ROOMLIST ...` + `ROOMLISTEND 3` | `[12:01] * rooms (3):` and a table: name, people, topic |
//!
//! A member list that answers the user's own `/who` is a table too: the names in columns.
//!
//! A time not from today shows its date: `[Dec 01 10:09]` (`[2025-12-01 10:09]` with
//! [`Style::iso_time`]).
//!
//! A message that names this client as a word (ignoring case), and every private message, is
//! a mention: the line starts with `! ` (and is bold in colour) and, live, ends with one BEL.
//!
//! The start of every message is unmistakable: shown in a terminal ([`Shown::rows`]), a
//! long message is wrapped at word boundaries with its continuation rows indented under its
//! body (never at column 0), a run of more than [`MAX_SPACE_RUN`] white-space characters is
//! shown as one stand-in ([`SPACE_RUN`]), and a tab as [`TAB`], so padding cannot push text
//! to the start of a row of its own and pass it off as a notice or someone else's line.

use std::fmt::Write as _;

use lanchat_proto::name::is_name_char;
use lanchat_proto::{fold_name, ClientMsg, ServerMsg};
use unicode_width::UnicodeWidthChar as _;

use crate::clock::{Civil, ToCivil};
use crate::members::{Change, Listed};
use crate::sanitize::sanitize;
use crate::stats::Figures;

/// How the separator above history starts.
pub const HISTORY_SEPARATOR: &str = "--- earlier messages";

/// At most this many names are listed for a member list; the rest are counted.
pub const MAX_LISTED_NAMES: usize = 30;

/// A member list line takes at most this many rows of the screen.
pub const HERE_NOW_ROWS: usize = 10;

/// At most this many history lines wait for their block's end (a server sends `--history`,
/// 50 by default); past that they are shown as a block of their own.
pub const MAX_HISTORY_BLOCK: usize = 1_000;

/// At most this many rooms are listed in the table answering `/rooms`; the rest are counted.
pub const MAX_LISTED_ROOMS: usize = 200;

/// The terminal bell.
pub const BEL: char = '\u{7}';

/// At most one bell in this many milliseconds: a burst of mentions (or a hostile flood of
/// private messages) rings once, not once per line.
pub const BELL_EVERY_MS: u64 = 3_000;

/// Runs of white space up to this long are shown as they are.
pub const MAX_SPACE_RUN: usize = 3;
/// What a longer run is shown as (with a space either side).
pub const SPACE_RUN: char = '\u{22EF}';
/// What a tab is shown as.
pub const TAB: char = '\u{21E5}';

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const MAGENTA_BOLD: &str = "\x1b[1;35m";
const YELLOW_BOLD: &str = "\x1b[1;33m";
const CYAN: &str = "\x1b[36m";

/// Name colours in a 16-colour terminal: the six basic hues and their bright forms (no black,
/// white or grey, which vanish on one background or another).
const NAME_COLOURS: [u8; 12] = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];

/// Name colours in a 256-colour terminal: hues of the 6x6x6 cube that read on both dark and
/// light backgrounds (no near-black, near-white or grey).
const NAME_COLOURS_256: [u8; 36] = [
    25, 26, 27, 31, 32, 33, 37, 38, 39, 61, 62, 63, 67, 68, 69, 71, 72, 73, 97, 98, 99, 130, 131,
    132, 133, 134, 135, 160, 161, 162, 166, 167, 168, 172, 173, 178,
];

/// Which colours the terminal has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Palette {
    /// The 16 basic colours.
    Basic,
    /// 256 colours (`TERM=*-256color`, or `COLORTERM` set).
    Ansi256,
}

/// How lines are dressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// ANSI colours and bold/dim (off with `NO_COLOR` or when stdout is not a terminal).
    pub color: bool,
    /// Which colours names get.
    pub palette: Palette,
    /// `[HH:MM] ` in front of each line (off with `--no-timestamps`).
    pub timestamps: bool,
    /// Dates as `2025-12-01` rather than `Dec 01` (`--iso-time`).
    pub iso_time: bool,
    /// One BEL after a live mention (off with `--no-bell`, or when stdout is not a terminal).
    pub bell: bool,
}

impl Style {
    /// No colour, no bell, timestamps on: what scripts get.
    pub const PLAIN: Style = Style {
        color: false,
        palette: Palette::Basic,
        timestamps: true,
        iso_time: false,
        bell: false,
    };
}

/// FNV-1a of the folded name (so `Bob` and `bob`, the same user, share it), with a final mix
/// so that names differing in their last letter spread over the palette.
fn name_hash(name: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in fold_name(name).bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^ (h >> 12)
}

/// The ANSI colour code for `name` in the 16-colour palette: stable across runs and machines.
pub fn name_colour(name: &str) -> u8 {
    NAME_COLOURS[name_hash(name) as usize % NAME_COLOURS.len()]
}

/// The SGR parameters that colour `name` in `palette`.
pub fn name_sgr(name: &str, palette: Palette) -> String {
    match palette {
        Palette::Basic => name_colour(name).to_string(),
        Palette::Ansi256 => format!(
            "38;5;{}",
            NAME_COLOURS_256[name_hash(name) as usize % NAME_COLOURS_256.len()]
        ),
    }
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

/// Received text as shown: inert ([`sanitize`]), a tab as [`TAB`], a run of more than
/// [`MAX_SPACE_RUN`] white-space characters as ` ⋯ `.
pub fn shown(text: &str) -> String {
    let clean = sanitize(text);
    let mut out = String::with_capacity(clean.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.chars().count() > MAX_SPACE_RUN {
            out.push(' ');
            out.push(SPACE_RUN);
            out.push(' ');
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in clean.chars() {
        if c == '\t' {
            flush(&mut run, &mut out);
            out.push(TAB);
        } else if c.is_whitespace() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// `s` (shown text, no escapes) cut to at most `width` columns, with `…` where it was cut.
fn cut_to_width(s: &str, width: usize) -> String {
    if display_width(s) <= width {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// Display width of `s`, not counting our own escape sequences (`ESC [ ... m`).
pub fn display_width(s: &str) -> usize {
    let mut width = 0;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Ours are all `ESC [ params m`.
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
            continue;
        }
        width += c.width().unwrap_or(0);
    }
    width
}

/// `s` without our own escape sequences and bell: the text as a log keeps it.
pub fn plain_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            }
            BEL => {}
            c => out.push(c),
        }
    }
    out
}

/// `line` cut into rows of at most `width` columns, at spaces where it can be; every row
/// after the first starts with `indent` spaces. Colour escapes are carried over: a row that
/// ends inside a coloured stretch is reset and the next row starts it again.
pub fn wrap(line: &str, indent: usize, width: usize) -> Vec<String> {
    let width = width.max(indent + 8);
    if display_width(line) <= width {
        return vec![line.to_owned()];
    }
    let mut rows = Vec::new();
    let mut row = String::new();
    let mut row_width = 0;
    // The escape in force (the last one that was not a reset), to carry to the next row.
    let mut active = String::new();
    let mut word = String::new();
    let mut word_width = 0;
    let new_row = |rows: &mut Vec<String>, row: &mut String, active: &str| {
        let done = std::mem::take(row);
        rows.push(if active.is_empty() {
            done.trim_end().to_owned()
        } else {
            format!("{}{RESET}", done.trim_end())
        });
        row.push_str(&" ".repeat(indent));
        row.push_str(active);
        indent
    };
    let mut chars = line.chars().peekable();
    loop {
        let c = chars.next();
        let at_break = matches!(c, None | Some(' '));
        if at_break && !word.is_empty() {
            if row_width + word_width > width && row_width > indent {
                row_width = new_row(&mut rows, &mut row, &active);
            }
            // A word longer than a row is cut where the row ends.
            for ch in std::mem::take(&mut word).chars() {
                if ch == '\x1b' {
                    row.push(ch);
                    continue;
                }
                let w = ch.width().unwrap_or(0);
                if row_width + w > width && row_width > indent {
                    row_width = new_row(&mut rows, &mut row, &active);
                }
                row.push(ch);
                row_width += w;
            }
            word_width = 0;
        }
        match c {
            None => break,
            Some(' ') => {
                if row_width < width {
                    row.push(' ');
                    row_width += 1;
                }
            }
            Some('\x1b') => {
                let mut esc = String::from('\x1b');
                for e in chars.by_ref() {
                    esc.push(e);
                    if e == 'm' {
                        break;
                    }
                }
                active = if esc == RESET {
                    String::new()
                } else {
                    esc.clone()
                };
                word.push_str(&esc);
            }
            Some(ch) => {
                word.push(ch);
                word_width += ch.width().unwrap_or(0);
            }
        }
    }
    rows.push(row.trim_end().to_owned());
    rows
}

/// One line to show, not yet cut into screen rows: the screen wraps it at the terminal's
/// width as it shows it ([`Shown::rows`]), and again at the new width when the window is
/// resized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The line: sanitised text with our own colour escapes, and a [`BEL`] at its end when it
    /// rings.
    pub text: String,
    /// Columns of the line's head (mark, time, who): continuation rows are indented by as
    /// much, so that they never start where a message could.
    pub indent: usize,
    /// Replayed history in colour: every row is dimmed.
    pub dim: bool,
}

impl Shown {
    /// A line of the client's own (a notice, a prompt's answer), wrapped from column 0.
    pub fn plain(text: impl Into<String>) -> Shown {
        Shown {
            text: text.into(),
            indent: 0,
            dim: false,
        }
    }

    /// The screen rows of this line in a terminal `width` columns wide (`None`: one row,
    /// however long, as scripts get it).
    pub fn rows(&self, width: Option<usize>) -> Vec<String> {
        let mut rows = match width {
            Some(width) => wrap(&self.text, self.indent, width),
            None => vec![self.text.clone()],
        };
        if self.dim {
            for row in &mut rows {
                *row = format!("{DIM}{row}{RESET}");
            }
        }
        rows
    }
}

impl From<String> for Shown {
    fn from(text: String) -> Shown {
        Shown::plain(text)
    }
}

impl From<&str> for Shown {
    fn from(text: &str) -> Shown {
        Shown::plain(text)
    }
}

/// A line rendered but not yet wrapped: the head (mark, time, who) and the body.
struct Parts {
    head: String,
    body: String,
    mention: bool,
}

/// What the session knows about a server line beyond the line itself.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// What the line did to the member list.
    pub change: &'a Change,
    /// This client's name.
    pub me: &'a str,
    /// The room to tag the line with: it is about a room other than the current one.
    pub tag: Option<&'a str>,
    /// How a member list is shown.
    pub list: Listing,
}

/// How a member list is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// One line: `here now (3): ann, bob, cid` (as a join shows it).
    Line,
    /// A table of names in columns (the answer to the user's own `/who`).
    Table,
}

/// One room of a `/rooms` answer being received: name, people, topic.
type ListedRoom = (String, usize, String);

/// Turns server lines into display lines. Keeps the history block being received, when the
/// bell last rang, and the width to wrap at.
#[derive(Debug)]
pub struct Renderer {
    style: Style,
    to_civil: ToCivil,
    /// History lines of the block being received, with their times.
    history: Vec<(u64, Shown)>,
    /// When the bell last rang.
    last_bell_ms: Option<u64>,
    /// The terminal's width, which bounds a member list and a table (`None`: no terminal).
    width: Option<usize>,
    /// `STATS` lines waiting for their `STATSEND`.
    stats: Figures,
    /// A `/rooms` answer being received (at most [`MAX_LISTED_ROOMS`] kept, the rest
    /// counted).
    rooms: Option<(Vec<ListedRoom>, usize)>,
}

impl Renderer {
    /// A renderer with `style`, showing times through `to_civil`.
    pub fn new(style: Style, to_civil: ToCivil) -> Renderer {
        Renderer {
            style,
            to_civil,
            history: Vec::new(),
            last_bell_ms: None,
            width: None,
            stats: Figures::default(),
            rooms: None,
        }
    }

    /// The style in use.
    pub fn style(&self) -> Style {
        self.style
    }

    /// The terminal is `width` columns wide (`None`: there is none); a member list takes at
    /// most [`HERE_NOW_ROWS`] rows of it. (Lines are wrapped by whoever shows them:
    /// [`Shown::rows`].)
    pub fn set_width(&mut self, width: Option<usize>) {
        self.width = width;
    }

    /// The display lines for `msg`, received at `now_ms`, for the client called `me`;
    /// `change` is what the message did to the member list ([`crate::members::Members::apply`]).
    /// History is held until its block ends (the next line that is not history), then shown
    /// under a separator that says from when to when. A note kept for this client while it
    /// was away (`HIST <ms> PRIV ...`) ends the block and shows as a private message at its
    /// own time, marked as kept, with the colours and the bell of a live one: it is news.
    pub fn render(
        &mut self,
        msg: &ServerMsg<'_>,
        change: &Change,
        me: &str,
        now_ms: u64,
    ) -> Vec<Shown> {
        let context = Context {
            change,
            me,
            tag: None,
            list: Listing::Line,
        };
        self.render_in(msg, &context, now_ms)
    }

    /// [`Renderer::render`], with what the session knows of the line: the room to tag it with
    /// and how to show a member list.
    pub fn render_in(
        &mut self,
        msg: &ServerMsg<'_>,
        context: &Context<'_>,
        now_ms: u64,
    ) -> Vec<Shown> {
        if let ServerMsg::Hist { at_ms, frame } = msg {
            if let ServerMsg::Priv { .. } = **frame {
                let mut out = self.end_history(now_ms);
                if let Some(parts) = self.parts(frame, context, *at_ms, now_ms, Live::Kept) {
                    out.push(self.finish(parts, now_ms, Live::Kept));
                }
                return out;
            }
            let mut out = Vec::new();
            if self.history.len() == MAX_HISTORY_BLOCK {
                out = self.end_history(now_ms);
            }
            if let Some(parts) = self.parts(frame, context, *at_ms, now_ms, Live::No) {
                let line = self.finish(parts, *at_ms, Live::No);
                self.history.push((*at_ms, line));
            }
            return out;
        }
        if let ServerMsg::RoomList {
            room,
            members,
            topic,
        } = msg
        {
            let (rooms, more) = self.rooms.get_or_insert_with(|| (Vec::new(), 0));
            if rooms.len() < MAX_LISTED_ROOMS {
                rooms.push((sanitize(room).into_owned(), *members, shown(topic)));
            } else {
                *more += 1;
            }
            return Vec::new();
        }
        let mut out = self.end_history(now_ms);
        match (msg, context.change, context.list) {
            (ServerMsg::RoomListEnd { count }, ..) => out.extend(self.room_table(*count, now_ms)),
            (ServerMsg::WhoEnd { room, count }, Change::List(names), Listing::Table) => {
                out.extend(self.who_table(*room, *count, names, context.me, now_ms));
            }
            _ => {
                if let Some(parts) = self.parts(msg, context, now_ms, now_ms, Live::Yes) {
                    let line = self.finish(parts, now_ms, Live::Yes);
                    let indent = line.indent;
                    out.push(line);
                    if let ServerMsg::StatsEnd = msg {
                        // The figures, under the heading's text.
                        out.extend(self.stats.take_rows().into_iter().map(|row| Shown {
                            text: format!("{:indent$}{row}", ""),
                            indent,
                            dim: false,
                        }));
                    }
                }
            }
        }
        out
    }

    /// A notice (`* ...`) at `now_ms` as a [`Parts`].
    fn notice(&self, body: String, now_ms: u64) -> Parts {
        Parts {
            head: format!("{}* ", self.stamp(now_ms, now_ms)),
            body,
            mention: false,
        }
    }

    /// The columns a table under a head `indent` wide may fill.
    fn table_width(&self, indent: usize) -> usize {
        self.width.unwrap_or(80).saturating_sub(indent).max(20)
    }

    /// A row of a table under a head `indent` wide: wrapped (should the window narrow) at
    /// the same indent.
    fn table_row(row: String, indent: usize) -> Shown {
        Shown {
            text: row,
            indent,
            dim: false,
        }
    }

    /// The answer to `/who`: a heading, then the names in columns, `(away)` after those who
    /// are (at most [`HERE_NOW_ROWS`] rows; the rest counted).
    fn who_table(
        &mut self,
        room: Option<&str>,
        count: usize,
        names: &[Listed],
        me: &str,
        now_ms: u64,
    ) -> Vec<Shown> {
        let title = match room {
            Some(room) => format!("here now in {} ({count}):", sanitize(room)),
            None => format!("here now ({count}):"),
        };
        let head = self.notice(title, now_ms);
        let indent = display_width(&head.head);
        let mut out = vec![self.finish(head, now_ms, Live::Yes)];
        let cells: Vec<(String, usize)> = names
            .iter()
            .map(|n| {
                let mut plain = sanitize(&n.name).into_owned();
                let mut shown = if fold_name(&n.name) == fold_name(me) {
                    self.own_name(&n.name)
                } else {
                    self.name(&n.name, Live::Yes)
                };
                if n.away {
                    plain.push_str(" (away)");
                    shown.push_str(" (away)");
                }
                let w = display_width(&plain);
                (shown, w)
            })
            .collect();
        let col = cells.iter().map(|(_, w)| *w).max().unwrap_or(0) + 2;
        // The last column needs no gap after it.
        let per_row = ((self.table_width(indent) + 2) / col).max(1);
        let pad = " ".repeat(indent);
        let mut rows = cells.chunks(per_row);
        for chunk in rows.by_ref().take(HERE_NOW_ROWS) {
            let mut row = pad.clone();
            for (i, (name, w)) in chunk.iter().enumerate() {
                row.push_str(name);
                if i + 1 < chunk.len() {
                    row.push_str(&" ".repeat(col - w));
                }
            }
            out.push(Self::table_row(row, indent));
        }
        let left: usize = rows.map(<[_]>::len).sum();
        if left > 0 {
            out.push(Self::table_row(format!("{pad}... and {left} more"), indent));
        }
        out
    }

    /// The answer to `/rooms`: a heading, then one row per room (name, people, topic).
    fn room_table(&mut self, count: usize, now_ms: u64) -> Vec<Shown> {
        let (rooms, more) = self.rooms.take().unwrap_or_default();
        let head = self.notice(format!("rooms ({count}):"), now_ms);
        let indent = display_width(&head.head);
        let mut out = vec![self.finish(head, now_ms, Live::Yes)];
        let name_w = rooms
            .iter()
            .map(|(r, ..)| display_width(r))
            .max()
            .unwrap_or(0);
        let count_w = rooms
            .iter()
            .map(|(_, n, _)| n.to_string().len())
            .max()
            .unwrap_or(1);
        let pad = " ".repeat(indent);
        let room_for_topic = self
            .table_width(indent)
            .saturating_sub(name_w + count_w + 4);
        for (room, people, topic) in &rooms {
            let name = self.paint(CYAN, room);
            let mut row = format!(
                "{pad}{name}{}  {people:>count_w$}",
                " ".repeat(name_w - display_width(room))
            );
            if !topic.is_empty() {
                row.push_str("  ");
                row.push_str(&cut_to_width(topic, room_for_topic.max(10)));
            }
            out.push(Self::table_row(row, indent));
        }
        if more > 0 {
            out.push(Self::table_row(format!("{pad}... and {more} more"), indent));
        }
        out
    }

    /// The history block received so far, under its separator (nothing if there is none).
    pub fn end_history(&mut self, now_ms: u64) -> Vec<Shown> {
        let block = std::mem::take(&mut self.history);
        let (Some((first, _)), Some((last, _))) = (block.first(), block.last()) else {
            return Vec::new();
        };
        let (from, to) = (self.when(*first, now_ms), self.when(*last, now_ms));
        let sep = format!("{HISTORY_SEPARATOR} ({from} to {to}) ---");
        let mut out = vec![Shown::plain(self.paint(DIM, &sep))];
        out.extend(block.into_iter().map(|(_, line)| line));
        out
    }

    /// The echo of a line this client (`me`) sent at `now_ms`, drawn the way others see it:
    /// `<ann> hi`, `~ ann waves`, `[private] -> bob: psst`; a line done in a room other than
    /// the current one (`tag`) is tagged with it. Commands that are not messages (`/who`,
    /// `/nick`, ...) echo nothing: their answer shows.
    pub fn own(
        &mut self,
        msg: &ClientMsg<'_>,
        me: &str,
        tag: Option<&str>,
        now_ms: u64,
    ) -> Option<Shown> {
        let tag = self.tag(tag);
        let (head, body) = match msg {
            ClientMsg::Say(text) => (format!("{tag}<{}> ", self.own_name(me)), shown(text)),
            ClientMsg::Me(text) => (format!("{tag}~ {} ", self.own_name(me)), shown(text)),
            ClientMsg::Msg { to, text } => (
                format!(
                    "{} -> {}: ",
                    self.paint(MAGENTA_BOLD, "[private]"),
                    self.name(to, Live::Yes)
                ),
                shown(text),
            ),
            _ => return None,
        };
        let parts = Parts {
            head: format!("{}{head}", self.stamp(now_ms, now_ms)),
            body,
            mention: false,
        };
        Some(self.finish(parts, now_ms, Live::Yes))
    }

    /// `HH:MM`, with the date in front when `at_ms` is not from the day of `now_ms`.
    fn when(&self, at_ms: u64, now_ms: u64) -> String {
        let at: Civil = (self.to_civil)(at_ms);
        let now = (self.to_civil)(now_ms);
        let time = format!("{:02}:{:02}", at.hour, at.minute);
        if at.same_day(&now) {
            time
        } else if self.style.iso_time {
            format!("{:04}-{:02}-{:02} {time}", at.year, at.month, at.day)
        } else {
            format!("{} {:02} {time}", at.month_abbrev(), at.day)
        }
    }

    /// `[HH:MM] ` (dated when not from today), or nothing without timestamps.
    fn stamp(&self, at_ms: u64, now_ms: u64) -> String {
        if self.style.timestamps {
            format!("[{}] ", self.when(at_ms, now_ms))
        } else {
            String::new()
        }
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
        if self.style.color && live.is_vivid() {
            format!("\x1b[{}m{name}{RESET}", name_sgr(&name, self.style.palette))
        } else {
            name.into_owned()
        }
    }

    /// `#room ` in front of a line about a room other than the current one; empty for none.
    fn tag(&self, room: Option<&str>) -> String {
        match room {
            Some(room) => format!("{} ", self.paint(CYAN, &sanitize(room))),
            None => String::new(),
        }
    }

    /// This client's own name: bold, in no one's colour.
    fn own_name(&self, me: &str) -> String {
        self.paint(BOLD, &sanitize(me))
    }

    fn parts(
        &mut self,
        msg: &ServerMsg<'_>,
        context: &Context<'_>,
        at_ms: u64,
        now_ms: u64,
        live: Live,
    ) -> Option<Parts> {
        let (change, me) = (context.change, context.me);
        // A line of a room other than the current one says which.
        let tag = self.tag(context.tag);
        let mut mention = false;
        let who = |r: &Self, from: &str| {
            if fold_name(from) == fold_name(me) {
                r.own_name(from)
            } else {
                r.name(from, live)
            }
        };
        let (head, body) = match msg {
            ServerMsg::Msg { from, text, .. } => {
                mention = mentions(text, me);
                (
                    format!("{tag}<{}> ", who(self, from)),
                    self.text(text, mention, live),
                )
            }
            ServerMsg::Action { from, text, .. } => {
                mention = mentions(text, me);
                (
                    format!("{tag}~ {} ", who(self, from)),
                    self.text(text, mention, live),
                )
            }
            ServerMsg::Priv { from, text } => {
                mention = true;
                let tag = match live {
                    Live::Kept => "[private, kept]",
                    Live::Yes | Live::No => "[private]",
                };
                (
                    format!(
                        "{} <{}> ",
                        self.paint(MAGENTA_BOLD, tag),
                        self.name(from, live)
                    ),
                    self.text(text, mention, live),
                )
            }
            ServerMsg::Join {
                room: Some(room),
                name,
            } => (
                "* ".into(),
                format!("{} has joined {}", self.name(name, live), sanitize(room)),
            ),
            ServerMsg::Leave {
                room: Some(room),
                name,
                ..
            } => (
                "* ".into(),
                format!("{} has left {}", self.name(name, live), sanitize(room)),
            ),
            ServerMsg::Join { name, .. } => (
                "* ".into(),
                format!("{} has joined the chat", self.name(name, live)),
            ),
            ServerMsg::Leave {
                name, reason: "", ..
            } => (
                "* ".into(),
                format!("{} has left the chat", self.name(name, live)),
            ),
            ServerMsg::Leave {
                name,
                reason,
                text: "",
                ..
            } => (
                "* ".into(),
                format!(
                    "{} has left the chat ({})",
                    self.name(name, live),
                    shown(reason)
                ),
            ),
            ServerMsg::Leave {
                name, reason, text, ..
            } => (
                "* ".into(),
                format!(
                    "{} has left the chat ({}: {})",
                    self.name(name, live),
                    shown(reason),
                    shown(text)
                ),
            ),
            ServerMsg::Away { name, text } => {
                let who = if fold_name(name) == fold_name(me) {
                    "you are".to_owned()
                } else {
                    format!("{} is", self.name(name, live))
                };
                let body = if text.is_empty() {
                    format!("{who} away")
                } else {
                    format!("{who} away: {}", shown(text))
                };
                ("* ".into(), body)
            }
            ServerMsg::Back { name } if fold_name(name) == fold_name(me) => {
                ("* ".into(), "you are back".into())
            }
            ServerMsg::Back { name } => ("* ".into(), format!("{} is back", self.name(name, live))),
            ServerMsg::WhoAway { .. } => return None,
            ServerMsg::Nick { new, .. } if fold_name(new) == fold_name(me) => (
                "* ".into(),
                format!("you are now known as {}", self.own_name(new)),
            ),
            ServerMsg::Nick { old, new } => (
                "* ".into(),
                format!(
                    "{} is now known as {}",
                    self.name(old, live),
                    self.name(new, live)
                ),
            ),
            ServerMsg::Who { .. } | ServerMsg::Limit { .. } => return None,
            ServerMsg::WhoEnd { room, count } => {
                let names = match change {
                    Change::List(names) => names.as_slice(),
                    Change::None => &[],
                };
                // At most MAX_LISTED_NAMES names, and never more than a screen's worth.
                let budget = self.width.unwrap_or(80) * HERE_NOW_ROWS;
                let mut s = match room {
                    Some(room) => format!("here now in {} ({count})", sanitize(room)),
                    None => format!("here now ({count})"),
                };
                let mut listed = 0;
                for n in names.iter().take(MAX_LISTED_NAMES) {
                    let mut name = who(self, &n.name);
                    if n.away {
                        name.push_str(" (away)");
                    }
                    if display_width(&s) + display_width(&name) + 2 > budget {
                        break;
                    }
                    s.push_str(if listed == 0 { ": " } else { ", " });
                    s.push_str(&name);
                    listed += 1;
                }
                if names.len() > listed {
                    let _ = write!(s, " and {} more", names.len() - listed);
                }
                ("* ".into(), s)
            }
            ServerMsg::Hello { text }
            | ServerMsg::Welcome { text, .. }
            | ServerMsg::Info { text }
            | ServerMsg::Bye { text } => ("* ".into(), shown(text)),
            ServerMsg::Err { code, text } => {
                let words = if text.is_empty() {
                    shown(code.as_str())
                } else {
                    shown(text)
                };
                (format!("{} ", self.paint(RED, "error:")), words)
            }
            ServerMsg::Stats { key, value } => {
                self.stats.add(key, value);
                return None;
            }
            ServerMsg::StatsEnd => ("* ".into(), "server stats:".into()),
            ServerMsg::Room { room, topic: "" } => {
                ("* ".into(), format!("you joined {}", sanitize(room)))
            }
            ServerMsg::Room { room, topic } => (
                "* ".into(),
                format!("you joined {} (topic: {})", sanitize(room), shown(topic)),
            ),
            ServerMsg::Topic {
                room,
                name,
                text: "",
            } => (
                "* ".into(),
                format!(
                    "{} cleared the topic of {}",
                    who(self, name),
                    sanitize(room)
                ),
            ),
            ServerMsg::Topic { room, name, text } => (
                "* ".into(),
                format!(
                    "{} set the topic of {}: {}",
                    who(self, name),
                    sanitize(room),
                    shown(text)
                ),
            ),
            ServerMsg::Parted { room } => ("* ".into(), format!("you left {}", sanitize(room))),
            // Gathered into a table by `render_in`.
            ServerMsg::RoomList { .. } | ServerMsg::RoomListEnd { .. } => return None,
            ServerMsg::Hist { .. } => return None, // HIST inside HIST does not parse
        };
        let mut lead = String::new();
        if mention && live.is_vivid() {
            lead.push_str(&self.paint(YELLOW_BOLD, "!"));
            lead.push(' ');
        } else if mention {
            // Replayed history is dimmed as a whole: a colour here would end with a reset
            // that undoes the dimming for the rest of the line.
            lead.push_str("! ");
        }
        lead.push_str(&self.stamp(at_ms, now_ms));
        lead.push_str(&head);
        Some(Parts {
            head: lead,
            body,
            mention,
        })
    }

    /// One rendered line as shown: its indent, dimmed (history), ringing (a live mention).
    fn finish(&mut self, parts: Parts, at_ms: u64, live: Live) -> Shown {
        let indent = display_width(&parts.head);
        let mut text = format!("{}{}", parts.head, parts.body);
        if parts.mention && live.is_vivid() && self.style.bell && self.bell_due(at_ms) {
            text.push(BEL);
        }
        Shown {
            text,
            indent,
            dim: live == Live::No && self.style.color,
        }
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
        if mention && live.is_vivid() {
            self.paint(BOLD, &shown(text))
        } else {
            shown(text)
        }
    }
}

/// Whether a line is happening now (colours, bell), replayed history (dimmed, silent), or a
/// note kept while this client was away (from the past, but news: as a live one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Live {
    Yes,
    No,
    Kept,
}

impl Live {
    /// Shown in colour, and a mention rings.
    fn is_vivid(self) -> bool {
        matches!(self, Live::Yes | Live::Kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::utc;
    use crate::members::Members;

    /// 2025-11-27 12:01 UTC.
    const NOW: u64 = 1_764_244_860_000;

    fn render_all(style: Style, me: &str, lines: &[&str]) -> Vec<String> {
        let mut r = Renderer::new(style, utc);
        let mut m = Members::new(me);
        let mut out = Vec::new();
        // One bell's spacing apart, so each line may ring (all within the same minute).
        for (i, l) in (0u64..).zip(lines) {
            let msg = ServerMsg::parse(l).expect(l);
            let change = m.apply(&msg);
            out.extend(r.render(&msg, &change, m.me(), NOW + i * BELL_EVERY_MS));
        }
        // A history block ends with the next live line; here, with the input.
        out.extend(r.end_history(NOW));
        out.iter().flat_map(|l| l.rows(None)).collect()
    }

    fn plain(lines: &[&str]) -> Vec<String> {
        render_all(Style::PLAIN, "ann", lines)
    }

    #[test]
    fn room_lines_plain() {
        let cases: &[(&[&str], &[&str])] = &[
            (&["JOIN #dev bob"], &["[12:01] * bob has joined #dev"]),
            (&["LEAVE #dev bob parted"], &["[12:01] * bob has left #dev"]),
            (&["ROOM #dev"], &["[12:01] * you joined #dev"]),
            (
                &["ROOM #dev release on friday"],
                &["[12:01] * you joined #dev (topic: release on friday)"],
            ),
            (
                &["TOPIC #dev bob lunch"],
                &["[12:01] * bob set the topic of #dev: lunch"],
            ),
            (
                &["TOPIC #dev bob"],
                &["[12:01] * bob cleared the topic of #dev"],
            ),
            (&["PARTED #dev"], &["[12:01] * you left #dev"]),
            (
                &["WHO #dev bob ann", "WHOEND #dev 2"],
                &["[12:01] * here now in #dev (2): bob, ann"],
            ),
            (
                &[
                    "ROOMLIST #general 2",
                    "ROOMLIST #d\u{1b}[2J 1 t\u{7}",
                    "ROOMLISTEND 2",
                ],
                &[
                    "[12:01] * rooms (2):",
                    "          #general  2",
                    "          #d␛[2J    1  t␇",
                ],
            ),
            (&["MSG #dev bob hi"], &["[12:01] <bob> hi"]),
        ];
        for (lines, want) in cases {
            assert_eq!(plain(lines), *want, "{lines:?}");
        }
        // Tagged when the room is not the current one (the session says which).
        let mut r = Renderer::new(Style::PLAIN, utc);
        let context = Context {
            change: &Change::None,
            me: "ann",
            tag: Some("#ops"),
            list: Listing::Line,
        };
        let msg = ServerMsg::parse("ACTION #ops bob waves").unwrap();
        let texts = |lines: Vec<Shown>| lines.into_iter().map(|l| l.text).collect::<Vec<_>>();
        assert_eq!(
            texts(r.render_in(&msg, &context, NOW)),
            ["[12:01] #ops ~ bob waves"]
        );
        let own = ClientMsg::Say("hi");
        assert_eq!(
            r.own(&own, "ann", Some("#ops"), NOW).map(|l| l.text),
            Some("[12:01] #ops <ann> hi".to_owned())
        );
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
                &["LEAVE bob quit see you \u{1b}[2J"],
                &["[12:01] * bob has left the chat (quit: see you ␛[2J)"],
            ),
            (
                &["AWAY bob lunch, back at 2"],
                &["[12:01] * bob is away: lunch, back at 2"],
            ),
            (&["AWAY bob"], &["[12:01] * bob is away"]),
            (&["AWAY ANN brb"], &["[12:01] * you are away: brb"]),
            (&["BACK bob"], &["[12:01] * bob is back"]),
            (&["BACK ann"], &["[12:01] * you are back"]),
            (
                &["WHOAWAY bob lunch", "WHO ann bob", "WHOEND 2"],
                &["[12:01] * here now (2): ann, bob (away)"],
            ),
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
            (
                &["STATS uptime 7380", "STATS rss unknown", "STATSEND"],
                &[
                    "[12:01] * server stats:",
                    "          uptime  2 h 03 min",
                    "          rss     unknown",
                ],
            ),
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
                    "--- earlier messages (07:03 to 07:04) ---",
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

    /// A note kept while this client was away ends the history block and shows as a private
    /// message at its own time (dated), marked as kept, loud like a live one.
    #[test]
    fn a_note_kept_while_away_is_a_private_message_from_the_past() {
        // 2025-11-24 10:09 UTC, three days before NOW.
        let old: u64 = 1_763_978_940_000;
        let lines = [
            format!("HIST {} MSG bob today", NOW - 60_000),
            format!("HIST {old} PRIV carl call me back"),
            format!("HIST {} PRIV carl and soon", NOW - 30_000),
            "WHOEND 0".to_owned(),
        ];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(
            plain(&lines),
            [
                "--- earlier messages (12:00 to 12:00) ---",
                "[12:00] <bob> today",
                "! [Nov 24 10:09] [private, kept] <carl> call me back",
                "! [12:00] [private, kept] <carl> and soon",
                "[12:01] * here now (0)",
            ]
        );
        let loud = Style {
            color: true,
            bell: true,
            ..Style::PLAIN
        };
        let out = render_all(loud, "ann", &lines[1..2]);
        assert!(out[0].ends_with(BEL), "rings like a live one: {out:?}");
        assert!(!out[0].starts_with(DIM), "not dimmed as history: {out:?}");
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
                "--- earlier messages (Jan 01 00:00 to Jan 01 00:01) ---",
                "[Jan 01 00:00] <a> 1",
                "[Jan 01 00:01] <a> 2",
                "[12:01] <b> live",
                "--- earlier messages (Jan 01 00:00 to Jan 01 00:00) ---",
                "[Jan 01 00:00] <a> 3"
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
                "--- earlier messages (Jan 01 00:00 to Jan 01 00:00) ---",
                "[Jan 01 00:00] <m\u{fffd}x> ␛[5m",
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
                format!("{DIM}--- earlier messages (Jan 01 00:00 to Jan 01 00:00) ---{RESET}"),
                format!("{DIM}[Jan 01 00:00] <bob> old{RESET}")
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
                "--- earlier messages (Jan 01 00:00 to Jan 01 00:00) ---",
                "! [Jan 01 00:00] <bob> ann, you there?",
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
            ..Style::PLAIN
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
        let mut r = Renderer::new(style, utc);
        let m = Members::new("ann");
        let ring = |r: &mut Renderer, at: u64| {
            let msg = ServerMsg::parse("PRIV bob hey").unwrap();
            r.render(&msg, &Change::None, m.me(), at)[0]
                .text
                .contains(BEL)
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
        let mut r = Renderer::new(Style::PLAIN, utc);
        let cases: &[(&str, Option<&str>)] = &[
            ("hi", Some("[12:01] <ann> hi")),
            ("/me waves", Some("[12:01] ~ ann waves")),
            ("/msg bob psst", Some("[12:01] [private] -> bob: psst")),
            ("/who", None),
        ];
        for (line, want) in cases {
            let msg = ClientMsg::parse(line).unwrap();
            let got = r.own(&msg, "ann", None, NOW).map(|l| l.text);
            assert_eq!(got.as_deref(), *want, "{line:?}");
        }
    }

    #[test]
    fn times_not_from_today_carry_their_date_and_the_block_its_range() {
        // 2025-11-24 10:09 UTC, three days before NOW.
        let old: u64 = 1_763_978_940_000;
        let lines = [
            format!("HIST {old} MSG bob from monday"),
            format!("HIST {} MSG bob today", NOW - 60_000),
            "WHOEND 0".to_owned(),
        ];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        assert_eq!(
            plain(&lines),
            [
                "--- earlier messages (Nov 24 10:09 to 12:00) ---",
                "[Nov 24 10:09] <bob> from monday",
                "[12:00] <bob> today",
                "[12:01] * here now (0)",
            ]
        );
        let iso = Style {
            iso_time: true,
            ..Style::PLAIN
        };
        assert_eq!(
            render_all(iso, "ann", &lines[..1]),
            [
                "--- earlier messages (2025-11-24 10:09 to 2025-11-24 10:09) ---",
                "[2025-11-24 10:09] <bob> from monday",
            ]
        );
    }

    /// Render `lines` for `ann` at `width` columns.
    fn at_width(width: usize, lines: &[&str]) -> Vec<String> {
        let mut r = Renderer::new(Style::PLAIN, utc);
        r.set_width(Some(width));
        let mut m = Members::new("ann");
        let mut out = Vec::new();
        for l in lines {
            let msg = ServerMsg::parse(l).expect(l);
            let change = m.apply(&msg);
            out.extend(r.render(&msg, &change, m.me(), NOW));
        }
        out.iter().flat_map(|l| l.rows(Some(width))).collect()
    }

    #[test]
    fn long_lines_wrap_at_words_under_the_body() {
        let text = "the quick brown fox jumps over the lazy dog and keeps running far away";
        let out = at_width(40, &[&format!("MSG bob {text}")]);
        assert_eq!(
            out,
            [
                "[12:01] <bob> the quick brown fox jumps",
                "              over the lazy dog and",
                "              keeps running far away",
            ]
        );
        assert!(out.iter().all(|r| display_width(r) <= 40), "{out:?}");
        // A word longer than a row is cut; wide characters are never split.
        let out = at_width(30, &["MSG bob 東京東京東京東京東京東京東京東京"]);
        assert_eq!(
            out,
            [
                "[12:01] <bob> 東京東京東京東京",
                "              東京東京東京東京"
            ]
        );
    }

    #[test]
    fn padding_cannot_fake_the_start_of_a_message() {
        // A red-team line: text, padding to the end of a row, then what looks like a notice
        // or someone else's message, so it would sit at the start of a screen row of its own.
        let fakes = [
            "[10:21] * alice has left the chat (quit)",
            "<alice> please /msg me your password",
            "* alice has joined the chat",
        ];
        let looks_like_a_start = |row: &str| {
            let row = row.trim_start_matches("! ");
            let b = row.as_bytes();
            (b.len() > 7 && b[0] == b'[' && b[3] == b':' && b[6] == b']')
                || row.starts_with("* ")
                || row.starts_with('<')
                || row.starts_with("~ ")
                || row.starts_with("error:")
                || row.starts_with("[private]")
        };
        for width in [80, 100] {
            for fake in fakes {
                for pad in [
                    " ".repeat(width),
                    "\t".repeat(width / 8 + 1),
                    " \t".repeat(width),
                ] {
                    for kind in ["MSG", "ACTION", "PRIV"] {
                        let line = format!("{kind} mallory brb{pad}{fake}");
                        let out = at_width(width, &[&line]);
                        for (i, row) in out.iter().enumerate() {
                            assert!(display_width(row) <= width, "{row:?}");
                            if i > 0 {
                                assert!(
                                    row.starts_with(' ') && !looks_like_a_start(row),
                                    "row {i} at {width} looks like a message: {out:#?}"
                                );
                            }
                        }
                    }
                }
            }
        }
        // The padding itself is shown as one stand-in, tabs as theirs.
        assert_eq!(
            at_width(200, &["MSG m a          b\tc"]),
            ["[12:01] <m> a \u{22ef} b\u{21e5}c"]
        );
        assert_eq!(
            shown("two  spaces, three   too"),
            "two  spaces, three   too"
        );
    }

    #[test]
    fn names_spread_over_the_palette_and_ours_stands_apart() {
        let names = ["ann", "bob", "carl", "dora", "eve", "fay", "gus"];
        for palette in [Palette::Basic, Palette::Ansi256] {
            let colours: std::collections::HashSet<String> =
                names.iter().map(|n| name_sgr(n, palette)).collect();
            let want = if palette == Palette::Basic { 5 } else { 6 };
            assert!(colours.len() >= want, "{palette:?}: {colours:?}");
        }
        assert_eq!(
            name_sgr("Bob", Palette::Ansi256),
            name_sgr("bob", Palette::Ansi256)
        );
        // One's own name is bold, in no one's colour.
        let style = Style {
            color: true,
            ..Style::PLAIN
        };
        let out = render_all(style, "ann", &["MSG ann hi", "WHO ann bob", "WHOEND 2"]);
        assert_eq!(out[0], format!("[12:01] <{BOLD}ann{RESET}> hi"));
        assert!(out[1].contains(&format!("{BOLD}ann{RESET}")), "{out:?}");
    }
}
