//! The public messages this client has shown, so that the history a server replays when the
//! client joins again (after the connection was lost) shows only what was not shown yet.
//!
//! A replayed line (`HIST <unix-millis> MSG|ACTION ...`) was shown before if this client
//! showed the same frame (kind, room, sender, text):
//! - as history too, with the very same time (the server's clock both times); or
//! - live, received (by this client's clock) within [`CLOCK_SLACK_MS`] of the time the server
//!   gives it: a live line carries no time of its own, and the two clocks may differ.
//!
//! Each line shown absorbs at most one replayed line per replay, so a message said twice is
//! shown again only if it was shown once. Bounded: the last [`MAX_SEEN`] lines, at most
//! [`MAX_PER_FRAME`] of any one frame (a hostile server repeating one line cannot make a
//! lookup slow). Frames are kept as 64-bit hashes, not text.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use lanchat_proto::{fold_name, ServerMsg};

/// Lines remembered: the most history a server replays (`--history` is at most 10,000).
pub const MAX_SEEN: usize = 10_000;
/// Copies of one frame remembered.
pub const MAX_PER_FRAME: usize = 64;
/// How far apart the client's clock and the server's may be for a line shown live to count as
/// the same as a replayed one: 5 minutes.
pub const CLOCK_SLACK_MS: u64 = 5 * 60 * 1000;

/// When a line was shown, and by whose clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stamp {
    /// Replayed history: the server's time.
    Server(u64),
    /// Live: when this client received (or sent) it.
    Local(u64),
}

#[derive(Debug, Clone)]
struct Shown {
    serial: u64,
    at: Stamp,
    /// Already stood for a replayed line in the current replay.
    used: bool,
}

/// What has been shown.
#[derive(Debug, Default)]
pub struct Seen {
    by_frame: HashMap<u64, VecDeque<Shown>>,
    /// Every remembered line's frame, oldest first, with its serial (to forget the oldest).
    order: VecDeque<(u64, u64)>,
    next_serial: u64,
}

/// The frame of a public line: its kind, sender and text (`None` for other kinds).
pub fn frame_key(msg: &ServerMsg<'_>) -> Option<u64> {
    let (kind, room, from, text) = match msg {
        ServerMsg::Msg { room, from, text } => (0u8, room, from, text),
        ServerMsg::Action { room, from, text } => (1u8, room, from, text),
        _ => return None,
    };
    // The room as the server compares it: any case spelling is the same room.
    let room = room.map(fold_name);
    let mut h = DefaultHasher::new();
    (kind, room, from, text).hash(&mut h);
    Some(h.finish())
}

impl Seen {
    /// `frame` was shown live at `now_ms` (this client's clock).
    pub fn live(&mut self, frame: u64, now_ms: u64) {
        self.remember(frame, Stamp::Local(now_ms), false);
    }

    /// A replayed `frame` from `at_ms` (the server's clock): `true` if it was shown before (so
    /// it is not shown again); otherwise it is remembered as shown now.
    pub fn replayed(&mut self, frame: u64, at_ms: u64) -> bool {
        if let Some(copies) = self.by_frame.get_mut(&frame) {
            let same = |s: &Shown| match s.at {
                Stamp::Server(t) => t == at_ms,
                Stamp::Local(t) => t.abs_diff(at_ms) <= CLOCK_SLACK_MS,
            };
            if let Some(s) = copies.iter_mut().find(|s| !s.used && same(s)) {
                s.used = true;
                return true;
            }
        }
        // Used at once: it stands for nothing else in this replay.
        self.remember(frame, Stamp::Server(at_ms), true);
        false
    }

    /// A new replay begins (the client joined again): every line shown may stand for one
    /// replayed line again.
    pub fn new_replay(&mut self) {
        for s in self.by_frame.values_mut().flatten() {
            s.used = false;
        }
    }

    /// Lines remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Nothing remembered.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn remember(&mut self, frame: u64, at: Stamp, used: bool) {
        let serial = self.next_serial;
        self.next_serial += 1;
        let copies = self.by_frame.entry(frame).or_default();
        if copies.len() == MAX_PER_FRAME {
            copies.pop_front();
        }
        copies.push_back(Shown { serial, at, used });
        self.order.push_back((frame, serial));
        while self.order.len() > MAX_SEEN {
            let Some((old, old_serial)) = self.order.pop_front() else {
                break;
            };
            if let Some(copies) = self.by_frame.get_mut(&old) {
                copies.retain(|s| s.serial != old_serial);
                if copies.is_empty() {
                    self.by_frame.remove(&old);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(line: &str) -> u64 {
        frame_key(&ServerMsg::parse(line).unwrap()).unwrap()
    }

    const T: u64 = 1_764_244_860_000;

    #[test]
    fn frames_differ_by_kind_sender_and_text() {
        let keys = [
            key("MSG bob hi"),
            key("ACTION bob hi"),
            key("MSG Bob hi"),
            key("MSG bob hi "),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(frame_key(&ServerMsg::parse("JOIN bob").unwrap()), None);
    }

    #[test]
    fn a_replay_shows_only_what_was_not_shown() {
        let mut seen = Seen::default();
        // The first join: two lines of history, then one live, and one of our own.
        assert!(!seen.replayed(key("MSG bob one"), T));
        assert!(!seen.replayed(key("MSG bob two"), T + 1));
        seen.live(key("MSG bob three"), T + 60_000);
        seen.live(key("MSG ann mine"), T + 61_000);
        // Joined again: the server replays them (its clock a little ahead of ours), then a
        // line said while we were away.
        seen.new_replay();
        let replay = [
            ("MSG bob one", T, true),
            ("MSG bob two", T + 1, true),
            ("MSG bob three", T + 62_000, true),
            ("MSG ann mine", T + 62_500, true),
            ("MSG bob while you were away", T + 90_000, false),
        ];
        for (line, at, shown_before) in replay {
            assert_eq!(seen.replayed(key(line), at), shown_before, "{line}");
        }
        // And again, after another loss: everything was shown by now.
        seen.new_replay();
        for (line, at, _) in replay {
            assert!(seen.replayed(key(line), at), "{line}");
        }
    }

    #[test]
    fn the_same_words_said_twice_are_shown_twice_when_only_one_was_seen() {
        let mut seen = Seen::default();
        seen.live(key("MSG bob ok"), T);
        seen.new_replay();
        assert!(seen.replayed(key("MSG bob ok"), T + 1_000), "the one seen");
        assert!(
            !seen.replayed(key("MSG bob ok"), T + 2_000),
            "said again while away"
        );
        // One from long before (history that scrolled out), when the clocks cannot be that
        // far apart: not the same line.
        seen.new_replay();
        let mut fresh = Seen::default();
        fresh.live(key("MSG bob ok"), T);
        fresh.new_replay();
        assert!(!fresh.replayed(key("MSG bob ok"), T + CLOCK_SLACK_MS + 1));
        // History is matched to the millisecond.
        let mut hist = Seen::default();
        assert!(!hist.replayed(key("MSG bob ok"), T));
        hist.new_replay();
        assert!(!hist.replayed(key("MSG bob ok"), T + 1));
        assert!(hist.replayed(key("MSG bob ok"), T));
    }

    #[test]
    fn memory_is_bounded() {
        let mut seen = Seen::default();
        for i in 0..(MAX_SEEN as u64 + 100) {
            seen.live(key(&format!("MSG bob {i}")), T + i);
        }
        assert_eq!(seen.len(), MAX_SEEN);
        seen.new_replay();
        assert!(
            !seen.replayed(key("MSG bob 0"), T),
            "the oldest is forgotten"
        );
        // One frame over and over keeps at most MAX_PER_FRAME copies (and the lookup short).
        let mut same = Seen::default();
        for i in 0..1_000 {
            same.live(key("MSG bob spam"), T + i);
        }
        assert_eq!(same.by_frame[&key("MSG bob spam")].len(), MAX_PER_FRAME);
    }
}
