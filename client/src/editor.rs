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

use crate::members::Members;

/// Completes names (and commands) from the shared member list.
#[derive(Debug, Clone)]
pub struct ChatHelper {
    /// The list the reader thread keeps current.
    pub members: Arc<Mutex<Members>>,
}

impl Completer for ChatHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(match self.members.lock() {
            Ok(m) => m.complete(line, pos),
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
    use lanchat_proto::ServerMsg;
    use rustyline::history::DefaultHistory;

    #[test]
    fn completes_through_rustyline_trait() {
        let mut m = Members::new("me");
        for l in ["WHO bob bea me", "WHOEND 3"] {
            m.apply(&ServerMsg::parse(l).unwrap());
        }
        let h = ChatHelper {
            members: Arc::new(Mutex::new(m)),
        };
        let history = DefaultHistory::new();
        let ctx = Context::new(&history);
        assert_eq!(
            h.complete("hi b", 4, &ctx).unwrap(),
            (3, vec!["bea ".to_owned(), "bob ".to_owned()])
        );
        // The reader thread renames someone; the next Tab sees it.
        h.members
            .lock()
            .unwrap()
            .apply(&ServerMsg::parse("NICK bob zed").unwrap());
        assert_eq!(
            h.complete("z", 1, &ctx).unwrap(),
            (0, vec!["zed: ".to_owned()])
        );
    }
}
