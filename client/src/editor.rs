//! The pieces the line editor (rustyline) calls back into: name and room completion on Tab,
//! Ctrl-C that clears a line with text and quits on an empty one, the Enter that holds the
//! screen while the typed line is tidied away, the keys that switch rooms, the line being
//! typed as rustyline last showed it (so an edit can be carried over when the prompt is drawn
//! again), and how many rows rustyline used for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{
    Cmd, ConditionalEventHandler, Context, Event, EventContext, GraphemeClusterMode, Helper,
    Movement, RepeatCount,
};
use unicode_segmentation::UnicodeSegmentation as _;

use crate::redraw::Redraw;
use crate::rooms::Step;
use crate::screen::Screen;
use crate::session::Session;

/// The line being edited and the cursor's byte offset in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Typing {
    /// The text.
    pub line: String,
    /// Where the cursor is (a byte offset on a character boundary).
    pub pos: usize,
}

impl Typing {
    /// The text left and right of the cursor.
    pub fn halves(&self) -> (&str, &str) {
        let pos = if self.line.is_char_boundary(self.pos) {
            self.pos
        } else {
            self.line.len()
        };
        self.line.split_at(pos)
    }
}

/// Completes names (and commands) from the session's member list, and keeps the line being
/// typed current (rustyline asks for a hint after every edit).
#[derive(Debug, Clone)]
pub struct ChatHelper {
    /// The session the reader thread keeps current.
    session: Arc<Mutex<Session>>,
    typing: Arc<Mutex<Typing>>,
}

impl ChatHelper {
    /// Completion from `session`'s members.
    pub fn new(session: Arc<Mutex<Session>>) -> ChatHelper {
        ChatHelper {
            session,
            typing: Arc::default(),
        }
    }

    /// The line being typed, as of the last edit.
    pub fn typing(&self) -> Typing {
        self.typing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A new line starts with `typing` (what `readline_with_initial` is given).
    pub fn set_typing(&self, typing: Typing) {
        *self.typing.lock().unwrap_or_else(PoisonError::into_inner) = typing;
    }
}

impl Completer for ChatHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(match self.session.lock() {
            Ok(s) => s.complete(line, pos),
            Err(_) => (pos, Vec::new()),
        })
    }
}

impl Hinter for ChatHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        self.set_typing(Typing {
            line: line.to_owned(),
            pos,
        });
        None
    }
}

impl Highlighter for ChatHelper {}

impl Validator for ChatHelper {}

impl Helper for ChatHelper {}

/// Ctrl-C: with text on the line, clear it (it can be yanked back with Ctrl-Y); on an empty
/// line, interrupt, which the client takes as "stop sending what is left", or "quit" when
/// nothing is left. In the chat (`hold` given), the screen is held from the interrupt until
/// the front end has tidied the prompt away.
#[derive(Debug, Clone, Default)]
pub struct ClearOrInterrupt {
    /// What to hold, and whether the chat prompt is up.
    pub hold: Option<(Arc<Screen>, Arc<AtomicBool>)>,
    /// Set when the interrupt is this key's (not a signal's: the client raises SIGINT
    /// itself to wake the editor).
    pub pressed: Arc<AtomicBool>,
}

impl ConditionalEventHandler for ClearOrInterrupt {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext<'_>) -> Option<Cmd> {
        if !ctx.line().is_empty() {
            return Some(Cmd::Kill(Movement::WholeLine));
        }
        if let Some((screen, chatting)) = &self.hold {
            if chatting.load(Ordering::SeqCst) {
                screen.hold();
            }
        }
        self.pressed.store(true, Ordering::SeqCst);
        None // the default: Cmd::Interrupt
    }
}

/// Enter in the chat (once `chatting` is set; not at the address and name prompts): hold the
/// screen (arrivals wait) from the moment the line is accepted until the front end has
/// replaced it with its echo; then the default (accept the line).
#[derive(Debug, Clone)]
pub struct HoldOnEnter {
    /// What to hold.
    pub screen: Arc<Screen>,
    /// Whether the chat prompt is up.
    pub chatting: Arc<AtomicBool>,
}

impl ConditionalEventHandler for HoldOnEnter {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, _: &EventContext<'_>) -> Option<Cmd> {
        if self.chatting.load(Ordering::SeqCst) {
            self.screen.hold();
        }
        None
    }
}

/// Alt-Left / Alt-Right (and Ctrl-P / Ctrl-N): the previous or next room becomes the current
/// one. The read ends (as an interrupt the front end knows for a redraw), so the prompt is
/// drawn again with the half-typed line.
#[derive(Debug, Clone)]
pub struct SwitchRoom {
    /// Whose rooms.
    pub session: Arc<Mutex<Session>>,
    /// Told that the prompt is stale.
    pub redraw: Arc<Redraw>,
    /// Which way.
    pub step: Step,
}

impl ConditionalEventHandler for SwitchRoom {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, _: &EventContext<'_>) -> Option<Cmd> {
        let moved = self
            .session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cycle(self.step);
        if !moved {
            return Some(Cmd::Noop);
        }
        self.redraw.now();
        Some(Cmd::Interrupt)
    }
}

/// How many terminal rows rustyline used for `prompt` followed by `line` in a terminal
/// `cols` wide: the same arithmetic as its layout (graphemes never split, a tab to the next
/// stop, a line exactly filling its last row moves the cursor to the next one).
pub fn edit_rows(
    prompt: &str,
    line: &str,
    cols: u16,
    tab_stop: u8,
    mode: GraphemeClusterMode,
) -> usize {
    let cols = usize::from(cols.max(1));
    let tab = usize::from(tab_stop.max(1));
    let place = |text: &str, mut row: usize, mut col: usize| {
        for g in text.graphemes(true) {
            if g == "\n" {
                row += 1;
                col = 0;
                continue;
            }
            let w = if g == "\t" {
                tab - col % tab
            } else {
                usize::from(mode.width(g))
            };
            col += w;
            if col > cols {
                row += 1;
                col = w;
            }
        }
        if col == cols {
            (row + 1, 0)
        } else {
            (row, col)
        }
    };
    let (row, col) = place(prompt, 0, 0);
    let (row, _) = place(line, row, col);
    row + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::utc;
    use crate::render::Style;
    use rustyline::history::DefaultHistory;

    #[test]
    fn completes_through_rustyline_trait() {
        let mut s = Session::new("me", Style::PLAIN, utc);
        for l in ["WHO bob bea me", "WHOEND 3"] {
            s.on_line(l, 0);
        }
        let h = ChatHelper::new(Arc::new(Mutex::new(s)));
        let history = DefaultHistory::new();
        let ctx = Context::new(&history);
        assert_eq!(
            h.complete("hi b", 4, &ctx).unwrap(),
            (3, vec!["bea ".to_owned(), "bob ".to_owned()])
        );
        // The reader thread renames someone; the next Tab sees it.
        h.session.lock().unwrap().on_line("NICK bob zed", 0);
        assert_eq!(
            h.complete("z", 1, &ctx).unwrap(),
            (0, vec!["zed: ".to_owned()])
        );
        // Every edit asks for a hint: the line being typed is kept.
        assert_eq!(h.hint("héllo", 3, &ctx), None);
        let t = h.typing();
        assert_eq!(t.halves(), ("hé", "llo"));
    }

    #[test]
    fn rows_as_rustyline_lays_them_out() {
        let w = GraphemeClusterMode::WcWidth;
        let cases: &[(&str, &str, u16, usize)] = &[
            ("ann> ", "", 80, 1),
            ("ann> ", "hi", 80, 1),
            ("ann> ", &"x".repeat(74), 80, 1),
            // Exactly full: the cursor is on the next row.
            ("ann> ", &"x".repeat(75), 80, 2),
            ("ann> ", &"x".repeat(76), 80, 2),
            ("ann> ", &"x".repeat(155), 80, 3),
            ("ann> ", "a\nb\nc", 80, 3),
            // A wide character never splits: 9 columns used, the 2-wide one goes below.
            ("", "123456789東", 10, 2),
            ("", "\tx", 8, 2),
        ];
        for (prompt, line, cols, want) in cases {
            assert_eq!(
                edit_rows(prompt, line, *cols, 8, w),
                *want,
                "{line:?} at {cols}"
            );
        }
    }
}
