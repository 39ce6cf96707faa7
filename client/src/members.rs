//! Who is on the server, as far as it has told us, and tab completion of their names.
//!
//! The list is `#general`'s, which everyone is in: rebuilt from each of its member lists (`WHO`
//! lines, then `WHOEND`) and kept current between lists by `JOIN`, `LEAVE` and `NICK`; who is
//! away, from its list's `WHOAWAY` lines and then `AWAY` and `BACK` (away is about a user, not
//! a room). A room's member list (`WHO #room`) is gathered the same way, marked with who is
//! away, handed to the renderer, and leaves the list alone. Names are compared the way the
//! server compares them: ignoring case
//! ([`fold_name`]).

use std::collections::{BTreeMap, BTreeSet};

use lanchat_proto::{fold_name, validate_name, ServerMsg};

/// Only names that follow the rules are kept: they become Tab completions, which rustyline
/// inserts into the line being edited *unsanitised*, so a hostile server's `WHO ev\x1b[2Jil`
/// must never get that far.
fn is_valid(name: &str) -> bool {
    // The length first: a hostile megabyte "name" is not worth walking through.
    name.len() <= MAX_NAME_BYTES && validate_name(name).is_ok()
}

/// No valid name is longer: the most characters a name may have, four bytes each.
const MAX_NAME_BYTES: usize = lanchat_proto::name::MAX_NAME_CHARS * 4;

/// Most names kept. The server allows at most 1,000,000 clients but is meant for an office;
/// a hostile server streaming `WHO` lines without `WHOEND`, or `JOIN`s of ever new names, must
/// not grow the client without bound (100,000 names are ~10 MB).
pub const MAX_MEMBERS: usize = 100_000;

/// Most bytes of names held for a member list being received: names that break the rules
/// (a hostile server's 1 MiB "names") are not kept at all, and the rest at most this much.
pub const MAX_MEMBER_BYTES: usize = 4 << 20;

/// The server's commands a line may start with, for completing `/w<Tab>` (beside the
/// client's own, [`crate::commands::LOCAL_COMMANDS`]).
pub const COMMANDS: [&str; 15] = [
    "/away", "/back", "/help", "/in", "/join", "/me", "/msg", "/nick", "/part", "/quit", "/rooms",
    "/stats", "/topic", "/who", "<quit>",
];

/// The member list, and which of them is this client.
#[derive(Debug, Default, Clone)]
pub struct Members {
    /// This client's name, as the server last confirmed it (`WELCOME`, then `NICK`).
    me: String,
    /// Folded name -> name as the server spells it.
    names: BTreeMap<String, String>,
    /// A member list being received (`WHO` lines seen, `WHOEND` not yet).
    incoming: Option<Vec<String>>,
    /// Bytes of names in `incoming`; at most `max_bytes`.
    incoming_bytes: usize,
    /// Folded names of members who are away. Invariant: each is in `names`.
    away: BTreeSet<String>,
    /// Folded names marked away in the member list being received (at most
    /// [`MAX_MEMBERS`]).
    incoming_away: Vec<String>,
    /// This client's own away message, while it is away (empty: away without one).
    my_away: Option<String>,
    /// Names kept at most: [`MAX_MEMBERS`] (smaller in tests, which would otherwise check
    /// 200,000 names against the name rules to see the cap hold).
    max: usize,
    /// Bytes of names a member list being received may hold: [`MAX_MEMBER_BYTES`] (smaller
    /// in tests, as `max`).
    max_bytes: usize,
}

/// One name of a member list, as the renderer shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The name as the server spells it.
    pub name: String,
    /// Marked away.
    pub away: bool,
}

impl From<&str> for Listed {
    fn from(name: &str) -> Listed {
        Listed {
            name: name.to_owned(),
            away: false,
        }
    }
}

/// What a message did to the member list, for the renderer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Nothing.
    None,
    /// A complete member list arrived: these names, in the server's order.
    List(Vec<Listed>),
}

impl Members {
    /// An empty list for the client called `me`.
    pub fn new(me: &str) -> Members {
        Members {
            me: me.to_owned(),
            max: MAX_MEMBERS,
            max_bytes: MAX_MEMBER_BYTES,
            ..Members::default()
        }
    }

    /// An empty list that keeps at most `max` names of `max_bytes` in all.
    #[cfg(test)]
    fn with_max(me: &str, max: usize, max_bytes: usize) -> Members {
        Members {
            max,
            max_bytes,
            ..Members::new(me)
        }
    }

    /// This client's current name.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// Update from one server message.
    pub fn apply(&mut self, msg: &ServerMsg<'_>) -> Change {
        match msg {
            ServerMsg::Who { names, .. } => {
                let incoming = self.incoming.get_or_insert_with(Vec::new);
                for name in ServerMsg::who_names(names).filter(|n| is_valid(n)) {
                    if incoming.len() == self.max
                        || self.incoming_bytes + name.len() > self.max_bytes
                    {
                        break;
                    }
                    self.incoming_bytes += name.len();
                    incoming.push(name.to_owned());
                }
            }
            ServerMsg::WhoAway { name, .. } => {
                self.incoming.get_or_insert_with(Vec::new);
                if is_valid(name) && self.incoming_away.len() < self.max {
                    self.incoming_away.push(fold_name(name));
                }
            }
            ServerMsg::WhoEnd { room, .. } => {
                let list = self.incoming.take().unwrap_or_default();
                self.incoming_bytes = 0;
                if room.is_none() {
                    self.names = list.iter().map(|n| (fold_name(n), n.clone())).collect();
                    let marked: BTreeSet<String> = std::mem::take(&mut self.incoming_away)
                        .into_iter()
                        .collect();
                    self.away = marked
                        .into_iter()
                        .filter(|k| self.names.contains_key(k))
                        .collect();
                }
                let list = list
                    .into_iter()
                    .map(|name| Listed {
                        away: self.away.contains(&fold_name(&name)),
                        name,
                    })
                    .collect();
                return Change::List(list);
            }
            ServerMsg::Join { room: None, name } => self.add(name),
            ServerMsg::Leave {
                room: None, name, ..
            } => {
                let key = fold_name(name);
                self.names.remove(&key);
                self.away.remove(&key);
            }
            ServerMsg::Nick { old, new } => {
                let key = fold_name(old);
                self.names.remove(&key);
                let was_away = self.away.remove(&key);
                self.add(new);
                if was_away && self.contains(new) {
                    self.away.insert(fold_name(new));
                }
                if key == fold_name(&self.me) {
                    self.me = (*new).to_owned();
                }
            }
            ServerMsg::Away { name, text } => {
                let key = fold_name(name);
                if self.names.contains_key(&key) {
                    self.away.insert(key.clone());
                }
                if key == fold_name(&self.me) {
                    self.my_away = Some((*text).to_owned());
                }
            }
            ServerMsg::Back { name } => {
                let key = fold_name(name);
                self.away.remove(&key);
                if key == fold_name(&self.me) {
                    self.my_away = None;
                }
            }
            ServerMsg::Welcome { name, .. } => self.me = (*name).to_owned(),
            _ => {}
        }
        Change::None
    }

    fn add(&mut self, name: &str) {
        if is_valid(name) && self.names.len() < self.max {
            self.names.insert(fold_name(name), name.to_owned());
        }
    }

    /// Whether `name` (ignoring case) is marked away.
    pub fn is_away(&self, name: &str) -> bool {
        self.away.contains(&fold_name(name))
    }

    /// This client's away message while it is away (empty: away without one), as the server
    /// last confirmed it.
    pub fn my_away(&self) -> Option<&str> {
        self.my_away.as_deref()
    }

    /// How many members.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when nobody is known.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether `name` (ignoring case) is here.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(&fold_name(name))
    }

    /// Every name, sorted ignoring case.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.values().map(String::as_str)
    }

    /// Names starting with `prefix`, ignoring case, sorted.
    pub fn starting_with(&self, prefix: &str) -> Vec<&str> {
        let folded = fold_name(prefix);
        self.names
            .range(folded.clone()..)
            .take_while(|(k, _)| k.starts_with(&folded))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Tab completion for `line` with the cursor at byte `pos`: where the replaced word starts
    /// and the candidates for it.
    ///
    /// The word is what precedes the cursor back to the last space. As the first word, `/w`
    /// completes to a command; a name completes to `name: ` (addressing someone); elsewhere a
    /// name completes to `name ` (after `/msg`, inside a sentence). An `@` before the name stays.
    pub fn complete(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let Some((head, start)) = word_at(line, pos) else {
            return (pos, Vec::new());
        };
        let word = &head[start..];
        if start == 0 && (word.starts_with('/') || word.starts_with('<')) {
            let mut candidates: Vec<String> = COMMANDS
                .iter()
                .chain(crate::commands::LOCAL_COMMANDS.iter())
                .filter(|c| c.starts_with(&word.to_ascii_lowercase()))
                .map(|c| format!("{c} "))
                .collect();
            candidates.sort();
            return (0, candidates);
        }
        let (start, word) = match word.strip_prefix('@') {
            Some(w) => (start + 1, w),
            None => (start, word),
        };
        let first_word = start == 0;
        let own = fold_name(&self.me);
        let after_msg = head[..start].trim_end().eq_ignore_ascii_case("/msg");
        let candidates = self
            .starting_with(word)
            .into_iter()
            .filter(|n| fold_name(n) != own)
            .map(|n| {
                if first_word && !after_msg {
                    format!("{n}: ")
                } else {
                    format!("{n} ")
                }
            })
            .collect();
        (start, candidates)
    }
}

/// The text before the cursor at byte `pos` and where the word being completed starts in it
/// (after the last space); `None` when `pos` is inside a character.
pub(crate) fn word_at(line: &str, pos: usize) -> Option<(&str, usize)> {
    let head = line.get(..pos.min(line.len()))?;
    Some((head, head.rfind(' ').map_or(0, |i| i + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(m: &mut Members, lines: &[&str]) -> Vec<Change> {
        lines
            .iter()
            .map(|l| m.apply(&ServerMsg::parse(l).expect(l)))
            .collect()
    }

    fn names(m: &Members) -> Vec<&str> {
        m.names().collect()
    }

    #[test]
    fn a_hostile_server_cannot_grow_the_list_without_bound() {
        assert_eq!(Members::new("ann").max, MAX_MEMBERS);
        let max = 1_000;
        let mut m = Members::with_max("ann", max, MAX_MEMBER_BYTES);
        let chunk: Vec<String> = (0..100).map(|i| format!("n{i}")).collect();
        let who = format!("WHO {}", chunk.join(" "));
        for _ in 0..(max / 100 + 5) {
            feed(&mut m, &[&who]);
        }
        assert_eq!(m.incoming.as_ref().map(Vec::len), Some(max));
        feed(&mut m, &["WHOEND 1"]);
        for i in 0..max + 10 {
            m.apply(&ServerMsg::Join {
                room: None,
                name: &format!("j{i}"),
            });
        }
        assert_eq!(m.len(), max);
    }

    #[test]
    fn names_breaking_the_rules_never_become_completions() {
        let mut m = Members::new("me");
        feed(
            &mut m,
            &[
                "WHO ann ev\u{1b}]0;PWNED\u{7}\u{1b}[2Jil",
                "WHOEND 2",
                "JOIN x\u{202e}y",
                "NICK ann \u{9b}2J",
            ],
        );
        assert_eq!(names(&m), Vec::<&str>::new());
        assert_eq!(m.complete("e", 1).1, Vec::<String>::new());
    }

    #[test]
    fn tracks_who_join_leave_nick() {
        let mut m = Members::new("me");
        let changes = feed(&mut m, &["WHO bob ann", "WHO Zoë", "WHOEND 3"]);
        assert_eq!(
            changes,
            vec![
                Change::None,
                Change::None,
                Change::List(vec!["bob".into(), "ann".into(), "Zoë".into()])
            ]
        );
        assert_eq!(names(&m), ["ann", "bob", "Zoë"]);
        feed(&mut m, &["JOIN carl", "LEAVE bob quit", "NICK ann Annie"]);
        assert_eq!(names(&m), ["Annie", "carl", "Zoë"]);
        assert!(m.contains("ANNIE") && !m.contains("ann") && !m.contains("bob"));
        // A change of case only.
        feed(&mut m, &["NICK carl Carl"]);
        assert_eq!(names(&m), ["Annie", "Carl", "Zoë"]);
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn follows_its_own_renames() {
        let mut m = Members::new("ann");
        feed(
            &mut m,
            &[
                "WELCOME Ann hi",
                "WHO Ann bob",
                "WHOEND 2",
                "NICK ANN annie",
            ],
        );
        assert_eq!(m.me(), "annie");
        feed(&mut m, &["NICK bob robert"]);
        assert_eq!(m.me(), "annie");
        assert_eq!(names(&m), ["annie", "robert"]);
    }

    #[test]
    fn tracks_who_is_away() {
        let mut m = Members::new("me");
        let changes = feed(
            &mut m,
            &[
                "WHOAWAY bob lunch",
                "WHOAWAY ghost x",
                "WHO ann bob me",
                "WHOEND 3",
            ],
        );
        let listed = |name: &str, away: bool| Listed {
            name: name.into(),
            away,
        };
        assert_eq!(
            changes[3],
            Change::List(vec![
                listed("ann", false),
                listed("bob", true),
                listed("me", false)
            ])
        );
        assert!(m.is_away("BOB") && !m.is_away("ann") && !m.is_away("ghost"));
        feed(&mut m, &["NICK bob robert", "AWAY ann"]);
        assert!(m.is_away("robert") && !m.is_away("bob") && m.is_away("ann"));
        feed(&mut m, &["BACK robert", "LEAVE ann quit bye", "JOIN ann"]);
        assert!(!m.is_away("robert") && !m.is_away("ann"));
        // This client's own state, for a rejoin.
        assert_eq!(m.my_away(), None);
        feed(&mut m, &["AWAY me brb"]);
        assert_eq!(m.my_away(), Some("brb"));
        feed(&mut m, &["AWAY me"]);
        assert_eq!(m.my_away(), Some(""));
        // A new list without marks: nobody is away.
        feed(&mut m, &["WHO me robert", "WHOEND 2"]);
        assert!(!m.is_away("me"));
        feed(&mut m, &["BACK me"]);
        assert_eq!(m.my_away(), None);
    }

    #[test]
    fn a_new_list_replaces_the_old_one() {
        let mut m = Members::new("me");
        feed(&mut m, &["WHO a b c", "WHOEND 3"]);
        feed(&mut m, &["WHO d", "WHOEND 1"]);
        assert_eq!(names(&m), ["d"]);
        feed(&mut m, &["WHOEND 0"]);
        assert!(m.is_empty());
    }

    #[test]
    fn other_lines_change_nothing() {
        let mut m = Members::new("me");
        feed(&mut m, &["WHO a", "WHOEND 1"]);
        let changes = feed(
            &mut m,
            &["MSG a hi", "PRIV a x", "INFO y", "LEAVE nobody quit"],
        );
        assert!(changes.iter().all(|c| *c == Change::None));
        assert_eq!(names(&m), ["a"]);
    }

    #[test]
    fn completion_table() {
        let mut m = Members::new("me");
        feed(&mut m, &["WHO ann Anna bob me", "WHOEND 4"]);
        let cases: &[(&str, usize, usize, &[&str])] = &[
            ("an", 2, 0, &["ann: ", "Anna: "]),
            ("AN", 2, 0, &["ann: ", "Anna: "]),
            ("b", 1, 0, &["bob: "]),
            ("hi b", 4, 3, &["bob "]),
            ("hi @b", 5, 4, &["bob "]),
            ("/msg b", 6, 5, &["bob "]),
            ("/msg  b", 7, 6, &["bob "]),
            ("hi x", 4, 3, &[]),
            ("m", 1, 0, &[]), // never your own name
            ("", 0, 0, &["ann: ", "Anna: ", "bob: "]),
            ("b and more", 1, 0, &["bob: "]),
            ("/m", 2, 0, &["/m ", "/me ", "/msg "]),
            ("/W", 2, 0, &["/w ", "/who "]),
            ("/j", 2, 0, &["/join "]),
            ("/g", 2, 0, &["/go "]),
            ("<q", 2, 0, &["<quit> "]),
        ];
        for &(line, pos, start, want) in cases {
            let (s, got) = m.complete(line, pos);
            let got: Vec<&str> = got.iter().map(String::as_str).collect();
            assert_eq!((s, got.as_slice()), (start, want), "{line:?} at {pos}");
        }
    }

    #[test]
    fn completion_tolerates_a_cursor_inside_a_character() {
        let mut m = Members::new("me");
        feed(&mut m, &["WHO Zoë", "WHOEND 1"]);
        assert_eq!(m.complete("é", 1), (1, vec![]));
        assert_eq!(m.complete("z", 99), (0, vec!["Zoë: ".to_owned()]));
    }

    #[test]
    fn huge_names_from_a_hostile_server_are_not_kept() {
        // WHO lines of 1 MiB "names" without WHOEND grew the client by 1 MiB each.
        assert_eq!(Members::new("ann").max_bytes, MAX_MEMBER_BYTES);
        let max_bytes = 200_000;
        let mut m = Members::with_max("ann", MAX_MEMBERS, max_bytes);
        let huge = format!("WHO {}", "x".repeat(1 << 20));
        for _ in 0..3 {
            feed(&mut m, &[&huge]);
        }
        assert_eq!(m.incoming.as_ref().map(Vec::len), Some(0));
        // Valid names of 64 bytes, past the byte cap: held to it.
        let chunk: Vec<String> = (0..1000)
            .map(|i| format!("{}{i:04}", "東".repeat(20)))
            .collect();
        let who = format!("WHO {}", chunk.join(" "));
        for _ in 0..(max_bytes / 64_000 + 2) {
            feed(&mut m, &[&who]);
        }
        assert!(m.incoming_bytes <= max_bytes, "{}", m.incoming_bytes);
        assert!(m.incoming_bytes > max_bytes - 64, "filled to the cap");
        let held: usize = m
            .incoming
            .as_ref()
            .map_or(0, |v| v.iter().map(String::len).sum());
        assert_eq!(held, m.incoming_bytes);
    }
}
