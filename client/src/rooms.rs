//! The rooms this client is in, as the server said (`ROOM` in, `PARTED` out), which one typed
//! lines go to (the current one), and how many lines each of the others has had since it was
//! last current. No IO, no clock.
//!
//! `#general` is always here and first. The prompt shows the current room once there is more
//! than one (`ann #dev [#ops 3]> `); a plain line, `/me`, `/who` and `/topic` typed in a room
//! other than `#general` go out as `/in #room <line>` ([`Rooms::outgoing`]). After the
//! connection was lost and the client joined again, it joins its rooms again
//! ([`Rooms::rejoin_lines`]) and they come back in the same order, the current one current
//! again ([`Rooms::rejoined`]).

use std::borrow::Cow;

use lanchat_proto::room::{room_key, GENERAL};
use lanchat_proto::{fold_name, ClientMsg, ServerMsg};

use crate::sanitize::sanitize;

/// Rooms kept at most, whatever a server sends (a server allows 50 per user by default).
pub const MAX_ROOMS: usize = 1_000;

/// Rooms with unread lines shown in the prompt at most; the rest are counted (`+2`).
pub const PROMPT_UNREAD: usize = 3;

/// Room names remembered from the last `/rooms` answer, for completion.
pub const MAX_KNOWN: usize = 10_000;

/// Whether a `/join` makes the joined room the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// It does (a person at a terminal).
    Joins,
    /// Lines go to `#general` unless they say `/in #room` (a script).
    Never,
}

/// Which way to go through the rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The next room (Alt-Right, Ctrl-N).
    Next,
    /// The previous room (Alt-Left, Ctrl-P).
    Prev,
}

/// One room this client is in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Joined {
    /// As the server spells it.
    name: String,
    /// Messages and actions since it was last current.
    unread: usize,
}

/// The rooms this client is in, and which is current.
#[derive(Debug, Clone)]
pub struct Rooms {
    /// In the order they were joined; `#general` first.
    list: Vec<Joined>,
    /// Index in `list`.
    current: usize,
    follow: Follow,
    /// Every room the last `/rooms` answer listed (for completion), sorted by folded name.
    known: Vec<String>,
    /// A `/rooms` answer being received.
    incoming: Option<Vec<String>>,
    /// After a rejoin, the rooms whose `ROOM` is still to come back.
    restoring: Option<Restoring>,
}

/// The rooms a rejoin joins again.
#[derive(Debug, Clone)]
struct Restoring {
    /// Folded names of the rooms still to come back.
    rooms: Vec<String>,
    /// Folded name of the room that was current.
    current: String,
}

impl Default for Rooms {
    fn default() -> Self {
        Rooms::new(Follow::Joins)
    }
}

impl Rooms {
    /// Only `#general`, current.
    pub fn new(follow: Follow) -> Rooms {
        Rooms {
            list: vec![Joined {
                name: GENERAL.to_owned(),
                unread: 0,
            }],
            current: 0,
            follow,
            known: Vec::new(),
            incoming: None,
            restoring: None,
        }
    }

    /// The current room, as the server spells it.
    pub fn current(&self) -> &str {
        &self.list[self.current].name
    }

    /// The rooms this client is in, in the order they were joined.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|j| j.name.as_str())
    }

    /// Unread lines of `room` (0 for a room this client is not in).
    pub fn unread(&self, room: &str) -> usize {
        self.find(room).map_or(0, |i| self.list[i].unread)
    }

    fn find(&self, room: &str) -> Option<usize> {
        let key = fold_name(room);
        self.list.iter().position(|j| fold_name(&j.name) == key)
    }

    /// The room a line's room field names: `None` is `#general`.
    fn of(room: Option<&str>) -> &str {
        room.unwrap_or(GENERAL)
    }

    /// Whether lines about `room` (`None`: `#general`) are lines of the current room.
    pub fn is_current(&self, room: Option<&str>) -> bool {
        self.find(Self::of(room)) == Some(self.current)
    }

    /// What a line about `room` is tagged with when shown: the room's name, unless it is the
    /// current room.
    pub fn tag<'a>(&self, room: Option<&'a str>) -> Option<&'a str> {
        (!self.is_current(room)).then(|| Self::of(room))
    }

    /// Follow one server line: `ROOM` adds a room (and makes it current when following
    /// joins), `PARTED` removes one, a message or action in a room that is not current counts
    /// as unread there, and the `/rooms` answer is remembered for completion.
    pub fn apply(&mut self, msg: &ServerMsg<'_>) {
        match msg {
            ServerMsg::Room { room, .. } if room_key(room).is_ok() => {
                if self.restore(room) {
                    return;
                }
                let at = match self.find(room) {
                    Some(at) => at,
                    None if self.list.len() < MAX_ROOMS => {
                        self.list.push(Joined {
                            name: (*room).to_owned(),
                            unread: 0,
                        });
                        self.list.len() - 1
                    }
                    None => return,
                };
                if self.follow == Follow::Joins {
                    self.go_to(at);
                }
            }
            ServerMsg::Parted { room } => {
                if let Some(at) = self.find(room).filter(|&at| at > 0) {
                    self.list.remove(at);
                    if self.current == at {
                        self.current = 0;
                    } else if self.current > at {
                        self.current -= 1;
                    }
                }
            }
            ServerMsg::Msg { room, .. } | ServerMsg::Action { room, .. } => {
                let at = self.find(Self::of(*room));
                if let Some(at) = at.filter(|&at| at != self.current) {
                    self.list[at].unread += 1;
                }
            }
            ServerMsg::RoomList { room, .. } if room_key(room).is_ok() => {
                let list = self.incoming.get_or_insert_with(Vec::new);
                if list.len() < MAX_KNOWN {
                    list.push((*room).to_owned());
                }
            }
            ServerMsg::RoomListEnd { .. } => {
                let mut list = self.incoming.take().unwrap_or_default();
                list.sort_by_key(|r| fold_name(r));
                self.known = list;
            }
            _ => {}
        }
    }

    /// A `ROOM` for a room a rejoin joined again: it comes back, current if it was. `false`
    /// when `room` is no such room.
    fn restore(&mut self, room: &str) -> bool {
        let Some(r) = &mut self.restoring else {
            return false;
        };
        let key = fold_name(room);
        let Some(i) = r.rooms.iter().position(|k| *k == key) else {
            return false;
        };
        r.rooms.remove(i);
        let was_current = r.current == key;
        if r.rooms.is_empty() {
            self.restoring = None;
        }
        if self.find(room).is_none() {
            self.list.push(Joined {
                name: room.to_owned(),
                unread: 0,
            });
        }
        if was_current {
            if let Some(at) = self.find(room) {
                self.go_to(at);
            }
        }
        true
    }

    /// The lines that join again, in the order they were joined, every room besides
    /// `#general` this client is in (for a rejoin after the connection was lost).
    pub fn rejoin_lines(&self) -> Vec<String> {
        self.list[1..]
            .iter()
            .map(|j| format!("/join {}", j.name))
            .collect()
    }

    /// This client joined the server again and sent [`Rooms::rejoin_lines`]: it is in
    /// `#general` alone until each room's `ROOM` comes back; the room that was current is
    /// current again when its does (until then `#general` is).
    pub fn rejoined(&mut self) {
        if self.list.len() < 2 && self.restoring.is_none() {
            return;
        }
        let mut rooms: Vec<String> = self.list[1..].iter().map(|j| fold_name(&j.name)).collect();
        // A rejoin while an earlier one was still restoring: its rooms are still wanted.
        if let Some(r) = self.restoring.take() {
            rooms.extend(r.rooms);
        }
        let current = fold_name(self.current());
        self.list.truncate(1);
        self.current = 0;
        self.restoring = Some(Restoring { rooms, current });
    }

    fn go_to(&mut self, at: usize) {
        self.current = at;
        self.list[at].unread = 0;
    }

    /// Make `room` (any case) current; `false` if this client is not in it.
    pub fn go(&mut self, room: &str) -> bool {
        match self.find(room) {
            Some(at) => {
                self.go_to(at);
                true
            }
            None => false,
        }
    }

    /// Make the next (or previous) room current, round the list; `false` when there is no
    /// other room.
    pub fn cycle(&mut self, step: Step) -> bool {
        let n = self.list.len();
        if n < 2 {
            return false;
        }
        let at = match step {
            Step::Next => (self.current + 1) % n,
            Step::Prev => (self.current + n - 1) % n,
        };
        self.go_to(at);
        true
    }

    /// What the prompt shows after the name: nothing while `#general` is the only room, else
    /// ` #room` and, for other rooms with unread lines, ` [#ops 3 #qa 1 +2]`.
    pub fn prompt_part(&self) -> String {
        if self.list.len() < 2 {
            return String::new();
        }
        let mut s = format!(" {}", sanitize(self.current()));
        let unread: Vec<&Joined> = self
            .list
            .iter()
            .enumerate()
            .filter(|&(i, j)| i != self.current && j.unread > 0)
            .map(|(_, j)| j)
            .collect();
        if !unread.is_empty() {
            let shown: Vec<String> = unread
                .iter()
                .take(PROMPT_UNREAD)
                .map(|j| format!("{} {}", sanitize(&j.name), j.unread))
                .collect();
            s.push_str(&format!(" [{}", shown.join(" ")));
            if unread.len() > PROMPT_UNREAD {
                s.push_str(&format!(" +{}", unread.len() - PROMPT_UNREAD));
            }
            s.push(']');
        }
        s
    }

    /// A typed line as it goes to the server: in a room other than `#general`, a message,
    /// `/me`, `/who` and `/topic` get `/in #room ` in front; everything else goes as typed.
    pub fn outgoing<'a>(&self, line: &'a str) -> Cow<'a, str> {
        if self.current == 0 {
            return Cow::Borrowed(line);
        }
        let room = self.current();
        match ClientMsg::parse(line) {
            // The server takes the line after `/in #room` from its first non-space: a message
            // whose first non-space is a `/` keeps its meaning with the `//` escape.
            Ok(ClientMsg::Say(text)) => match text.trim_start() {
                t if t.starts_with('/') => Cow::Owned(format!("/in {room} /{t}")),
                _ => Cow::Owned(format!("/in {room} {text}")),
            },
            Ok(ClientMsg::Me(_) | ClientMsg::Who | ClientMsg::Topic(_)) => {
                Cow::Owned(format!("/in {room} {line}"))
            }
            _ => Cow::Borrowed(line),
        }
    }

    /// Room names for Tab completion that start with `prefix` (with or without its `#`),
    /// ignoring case: the rooms this client is in, then those the last `/rooms` listed.
    pub fn completions(&self, prefix: &str) -> Vec<String> {
        let want = fold_name(prefix.strip_prefix('#').unwrap_or(prefix));
        let mut out: Vec<String> = Vec::new();
        let mine = self.list.iter().map(|j| j.name.as_str());
        for room in mine.chain(self.known.iter().map(String::as_str)) {
            let folded = fold_name(&room[1..]);
            if folded.starts_with(&want) && !out.iter().any(|o| fold_name(o) == fold_name(room)) {
                out.push(room.to_owned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(r: &mut Rooms, lines: &[&str]) {
        for l in lines {
            r.apply(&ServerMsg::parse(l).expect(l));
        }
    }

    #[test]
    fn joins_parts_and_the_current_room() {
        let mut r = Rooms::default();
        assert_eq!(r.current(), "#general");
        assert_eq!(r.prompt_part(), "");
        feed(&mut r, &["ROOM #dev release", "ROOM #ops"]);
        assert_eq!(r.current(), "#ops", "a join makes the room current");
        assert_eq!(r.names().collect::<Vec<_>>(), ["#general", "#dev", "#ops"]);
        assert_eq!(r.prompt_part(), " #ops");
        assert!(r.go("#DEV"));
        assert!(!r.go("#qa"));
        assert_eq!(r.current(), "#dev");
        feed(&mut r, &["PARTED #dev"]);
        assert_eq!(
            r.current(),
            "#general",
            "leaving the current room goes to #general"
        );
        feed(
            &mut r,
            &["PARTED #general", "ROOM #bad\u{1b}[2J", "ROOM dev"],
        );
        assert_eq!(r.names().collect::<Vec<_>>(), ["#general", "#ops"]);
    }

    #[test]
    fn unread_lines_are_counted_per_room_and_cleared_by_going_there() {
        let mut r = Rooms::default();
        feed(
            &mut r,
            &[
                "ROOM #ops",
                "ROOM #dev",
                "MSG #ops bob one",
                "ACTION #ops bob two",
                "MSG #ops bob three",
                "JOIN #ops cid",
                "MSG #dev bob here",
                "HIST 1 MSG #ops bob old",
                "MSG bob in general",
            ],
        );
        assert_eq!(r.prompt_part(), " #dev [#general 1 #ops 3]");
        assert_eq!(r.unread("#dev"), 0, "the current room has none");
        assert!(r.go("#ops"));
        assert_eq!(r.prompt_part(), " #ops [#general 1]");
        for room in ["#a", "#b", "#c", "#d"] {
            feed(&mut r, &[&format!("ROOM {room}")]);
        }
        assert!(r.go("#ops"));
        feed(
            &mut r,
            &["MSG #a x y", "MSG #b x y", "MSG #c x y", "MSG #d x y"],
        );
        assert_eq!(r.prompt_part(), " #ops [#general 1 #a 1 #b 1 +2]");
    }

    #[test]
    fn a_rejoin_joins_the_rooms_again_and_the_current_one_stays_current() {
        let mut r = Rooms::default();
        feed(&mut r, &["ROOM #dev", "ROOM #ops", "ROOM #qa"]);
        assert!(r.go("#ops"));
        assert_eq!(r.rejoin_lines(), ["/join #dev", "/join #ops", "/join #qa"]);
        r.rejoined();
        assert_eq!(r.names().collect::<Vec<_>>(), ["#general"]);
        assert_eq!(r.current(), "#general");
        feed(&mut r, &["ROOM #dev", "ROOM #OPS"]);
        assert_eq!(r.current(), "#OPS", "the current room is current again");
        feed(&mut r, &["ROOM #qa"]);
        assert_eq!(r.current(), "#OPS", "the other rooms are not followed");
        assert_eq!(
            r.names().collect::<Vec<_>>(),
            ["#general", "#dev", "#OPS", "#qa"]
        );
        feed(&mut r, &["ROOM #new"]);
        assert_eq!(r.current(), "#new", "a join of one's own is followed again");
        let mut alone = Rooms::default();
        assert!(alone.rejoin_lines().is_empty());
        alone.rejoined();
        feed(&mut alone, &["ROOM #x"]);
        assert_eq!(alone.current(), "#x");
    }

    #[test]
    fn cycling_goes_round_the_rooms() {
        let mut r = Rooms::default();
        assert!(!r.cycle(Step::Next), "one room: nowhere to go");
        feed(&mut r, &["ROOM #a", "ROOM #b"]);
        assert!(r.cycle(Step::Next));
        assert_eq!(r.current(), "#general");
        assert!(r.cycle(Step::Prev));
        assert_eq!(r.current(), "#b");
        assert!(r.cycle(Step::Prev));
        assert_eq!(r.current(), "#a");
    }

    #[test]
    fn typed_lines_go_to_the_current_room() {
        let mut r = Rooms::default();
        assert_eq!(r.outgoing("hi"), "hi", "nothing is added for #general");
        feed(&mut r, &["ROOM #dev"]);
        let cases = [
            ("hi", "/in #dev hi"),
            ("/me waves", "/in #dev /me waves"),
            ("/who", "/in #dev /who"),
            ("/topic lunch", "/in #dev /topic lunch"),
            ("//etc/hosts", "/in #dev //etc/hosts"),
            (" /not a command", "/in #dev //not a command"),
            ("/msg bob hi", "/msg bob hi"),
            ("/nick zed", "/nick zed"),
            ("/join #ops", "/join #ops"),
            ("/in #ops hi", "/in #ops hi"),
            ("/rooms", "/rooms"),
            ("/frob", "/frob"),
        ];
        for (typed, sent) in cases {
            assert_eq!(r.outgoing(typed), sent, "{typed:?}");
        }
    }

    #[test]
    fn scripts_stay_in_general_and_every_room_line_is_tagged() {
        let mut r = Rooms::new(Follow::Never);
        feed(&mut r, &["ROOM #dev"]);
        assert_eq!(r.current(), "#general");
        assert_eq!(r.outgoing("hi"), "hi");
        assert_eq!(r.tag(Some("#dev")), Some("#dev"));
        assert_eq!(r.tag(None), None);
    }

    #[test]
    fn room_names_complete_from_mine_and_the_listed() {
        let mut r = Rooms::default();
        feed(
            &mut r,
            &[
                "ROOM #Dev",
                "ROOMLIST #general 3",
                "ROOMLIST #Dev 1",
                "ROOMLIST #design 1",
                "ROOMLIST #ops 1",
                "ROOMLISTEND 4",
            ],
        );
        assert_eq!(r.completions("#d"), ["#Dev", "#design"]);
        assert_eq!(r.completions("o"), ["#ops"]);
        assert_eq!(r.completions("#"), ["#general", "#Dev", "#design", "#ops"]);
    }
}
