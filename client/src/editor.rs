//! The pieces the line editor (rustyline) calls back into: name completion on Tab, and Ctrl-C
//! that clears a line with text and quits on an empty one.

use std::sync::{Arc, Mutex};

use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{
    Cmd, ConditionalEventHandler, Context, Event, EventContext, Helper, Movement, RepeatCount,
};

use crate::session::Session;

/// Completes names (and commands) from the session's member list.
#[derive(Debug, Clone)]
pub struct ChatHelper {
    /// The session the reader thread keeps current.
    session: Arc<Mutex<Session>>,
}

impl ChatHelper {
    /// Completion from `session`'s members.
    pub fn new(session: Arc<Mutex<Session>>) -> ChatHelper {
        ChatHelper { session }
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
            Ok(s) => s.members().complete(line, pos),
            Err(_) => (pos, Vec::new()),
        })
    }
}

impl Hinter for ChatHelper {
    type Hint = String;
}

impl Highlighter for ChatHelper {}

impl Validator for ChatHelper {}

impl Helper for ChatHelper {}

/// Ctrl-C: with text on the line, clear it (it can be yanked back with Ctrl-Y); on an empty
/// line, interrupt, which the client takes as "quit".
#[derive(Debug, Clone, Copy, Default)]
pub struct ClearOrInterrupt;

impl ConditionalEventHandler for ClearOrInterrupt {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext<'_>) -> Option<Cmd> {
        if ctx.line().is_empty() {
            None // the default: Cmd::Interrupt
        } else {
            Some(Cmd::Kill(Movement::WholeLine))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::utc_hhmm;
    use crate::render::Style;
    use rustyline::history::DefaultHistory;

    #[test]
    fn completes_through_rustyline_trait() {
        let mut s = Session::new("me", Style::PLAIN, utc_hhmm);
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
    }
}
