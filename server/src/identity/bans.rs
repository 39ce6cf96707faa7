//! Bans and mutes: who set them, on what, until when. A ban is on a key or an address (a ban
//! "by name" is turned into the key, or for someone without one the address, of whoever has
//! the name); a mute is on a key, or for someone without one on the name. Both may end at a
//! time (`30m`, `2h`, `7d` from when they were set) or last until lifted.
//!
//! Pure bookkeeping, fed the wall-clock time (bans outlive restarts, so they end at a time of
//! day, not after a monotonic interval): the file is [`crate::persist::snapshot`]'s, in the text
//! form of [`Bans::encode`] / [`Bans::decode`].

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::str::FromStr;

use lanchat_proto::{Fingerprint, NameKey};

/// The first line of the bans file (its format's name and version).
pub const HEADER: &str = "lanchat-bans 1";

/// What a ban or mute is on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A key (its fingerprint).
    Key(Fingerprint),
    /// An address (IPv4-mapped IPv6 addresses as IPv4).
    Addr(IpAddr),
    /// A name, by its case-fold key (mutes of someone without a key).
    Name(String),
}

impl Target {
    /// An address, as bans compare them.
    pub fn addr(ip: IpAddr) -> Target {
        Target::Addr(ip.to_canonical())
    }

    /// A name, by the key all its case spellings share.
    pub fn name(name: &str) -> Target {
        Target::Name(NameKey::of(name).folded().to_owned())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Key(k) => k.fmt(f),
            Target::Addr(ip) => ip.fmt(f),
            Target::Name(n) => write!(f, "name:{n}"),
        }
    }
}

impl FromStr for Target {
    type Err = ();

    fn from_str(s: &str) -> Result<Target, ()> {
        if let Some(name) = s.strip_prefix("name:") {
            return Ok(Target::Name(name.to_owned()));
        }
        if s.starts_with(lanchat_proto::fingerprint::PREFIX) {
            return s.parse().map(Target::Key).map_err(drop);
        }
        s.parse::<IpAddr>().map(Target::addr).map_err(drop)
    }
}

/// One ban or mute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What it is on.
    pub target: Target,
    /// The name of whom it was set on, when set by name (`/unban <name>` finds it by that).
    pub who: Option<Box<str>>,
    /// The operator who set it (their name then).
    pub by: Box<str>,
    /// When it was set (Unix milliseconds).
    pub set_ms: u64,
    /// When it ends (Unix milliseconds); `None`: when lifted.
    pub until_ms: Option<u64>,
    /// Why, as the operator said (may be empty).
    pub reason: Box<str>,
}

impl Entry {
    /// Over at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.until_ms.is_some_and(|t| now_ms >= t)
    }

    /// Set on `who` (any case or look-alike spelling).
    fn names(&self, who: &NameKey) -> bool {
        self.who
            .as_deref()
            .is_some_and(|w| NameKey::of(w).clashes(who))
    }
}

/// Bans or mutes, by what they are on.
#[derive(Debug, Clone, Default)]
struct Book(HashMap<Target, Entry>);

impl Book {
    /// The live entry on `target`; an expired one found is dropped (and `changed` set).
    fn live(&mut self, target: &Target, now_ms: u64, changed: &mut bool) -> Option<&Entry> {
        if self.0.get(target).is_some_and(|e| e.expired(now_ms)) {
            self.0.remove(target);
            *changed = true;
        }
        self.0.get(target)
    }

    /// Remove the entries on `target`, or set on the name `name`; what was removed.
    fn lift(&mut self, target: Option<&Target>, name: Option<&NameKey>) -> Vec<Entry> {
        let gone: Vec<Target> = self
            .0
            .values()
            .filter(|e| Some(&e.target) == target || name.is_some_and(|n| e.names(n)))
            .map(|e| e.target.clone())
            .collect();
        gone.iter().filter_map(|t| self.0.remove(t)).collect()
    }

    fn sweep(&mut self, now_ms: u64) -> usize {
        let before = self.0.len();
        self.0.retain(|_, e| !e.expired(now_ms));
        before - self.0.len()
    }

    /// Live entries, oldest first.
    fn list(&self, now_ms: u64) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.0.values().filter(|e| !e.expired(now_ms)).collect();
        v.sort_by_key(|e| (e.set_ms, e.target.to_string()));
        v
    }
}

/// Every ban and mute.
#[derive(Debug, Clone, Default)]
pub struct Bans {
    bans: Book,
    mutes: Book,
    /// Changed since [`Bans::take_changed`] was last called.
    changed: bool,
}

impl Bans {
    /// No bans, no mutes.
    pub fn new() -> Bans {
        Bans::default()
    }

    /// True once if anything changed since the last call (the file is due a write).
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Ban `entry.target` (replacing a ban already on it).
    pub fn ban(&mut self, entry: Entry) {
        self.bans.0.insert(entry.target.clone(), entry);
        self.changed = true;
    }

    /// Lift the bans on `target`, or set on the name `name`; the bans lifted.
    pub fn unban(&mut self, target: Option<&Target>, name: Option<&NameKey>) -> Vec<Entry> {
        let gone = self.bans.lift(target, name);
        self.changed |= !gone.is_empty();
        gone
    }

    /// The ban keeping out a connection with `key` from `ip` at `now_ms`, if any.
    pub fn banned(
        &mut self,
        key: Option<&Fingerprint>,
        ip: Option<IpAddr>,
        now_ms: u64,
    ) -> Option<&Entry> {
        let targets = [key.map(|k| Target::Key(*k)), ip.map(Target::addr)];
        let hit = targets
            .into_iter()
            .flatten()
            .find(|t| self.bans.live(t, now_ms, &mut self.changed).is_some())?;
        self.bans.0.get(&hit)
    }

    /// The bans in force at `now_ms`, oldest first.
    pub fn bans(&self, now_ms: u64) -> Vec<&Entry> {
        self.bans.list(now_ms)
    }

    /// Mute `entry.target` (replacing a mute already on it).
    pub fn mute(&mut self, entry: Entry) {
        self.mutes.0.insert(entry.target.clone(), entry);
        self.changed = true;
    }

    /// Lift the mutes on `target`, or set on the name `name`; the mutes lifted.
    pub fn unmute(&mut self, target: Option<&Target>, name: Option<&NameKey>) -> Vec<Entry> {
        let gone = self.mutes.lift(target, name);
        self.changed |= !gone.is_empty();
        gone
    }

    /// The mute on a user with `key` (else called `name`) at `now_ms`, if any.
    pub fn muted(&mut self, key: Option<&Fingerprint>, name: &str, now_ms: u64) -> Option<&Entry> {
        let target = match key {
            Some(k) => Target::Key(*k),
            None => Target::name(name),
        };
        self.mutes.live(&target, now_ms, &mut self.changed)
    }

    /// The mutes in force at `now_ms`, oldest first.
    pub fn mutes(&self, now_ms: u64) -> Vec<&Entry> {
        self.mutes.list(now_ms)
    }

    /// Drop what has expired at `now_ms`; how many went.
    pub fn sweep(&mut self, now_ms: u64) -> usize {
        let n = self.bans.sweep(now_ms) + self.mutes.sweep(now_ms);
        self.changed |= n > 0;
        n
    }

    /// The file form: [`HEADER`], then one line per entry, `ban` or `mute`, the target, when
    /// set, until when (`-`: until lifted), by whom, on whom (`-`: not set by name), and the
    /// reason (the rest of the line).
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut text = String::new();
        text.push_str(HEADER);
        text.push('\n');
        for (word, book) in [("ban", &self.bans), ("mute", &self.mutes)] {
            for e in book.list(0) {
                let until = e.until_ms.map_or("-".to_owned(), |t| t.to_string());
                let _ = writeln!(
                    text,
                    "{word} {} {} {until} {} {} {}",
                    e.target,
                    e.set_ms,
                    e.by,
                    e.who.as_deref().unwrap_or("-"),
                    e.reason
                );
            }
        }
        out.extend_from_slice(text.as_bytes());
    }

    /// Bans and mutes from the file's `text` (see [`Bans::encode`]); lines that do not parse
    /// are skipped and counted.
    ///
    /// # Errors
    /// The text does not start with [`HEADER`].
    pub fn decode(text: &str) -> Result<(Bans, usize), String> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(format!("it does not start with {HEADER:?}"));
        }
        let mut bans = Bans::new();
        let mut skipped = 0;
        for line in lines {
            match parse_line(line) {
                Some(("ban", e)) => bans.ban(e),
                Some(("mute", e)) => bans.mute(e),
                _ => skipped += 1,
            }
        }
        bans.changed = false;
        Ok((bans, skipped))
    }
}

fn parse_line(line: &str) -> Option<(&str, Entry)> {
    let mut parts = line.splitn(7, ' ');
    let word = parts.next()?;
    let target = parts.next()?.parse().ok()?;
    let set_ms = parts.next()?.parse().ok()?;
    let until_ms = match parts.next()? {
        "-" => None,
        t => Some(t.parse().ok()?),
    };
    let by = parts.next()?.into();
    let who = match parts.next()? {
        "-" => None,
        w => Some(w.into()),
    };
    let reason = parts.next().unwrap_or_default().into();
    Some((
        word,
        Entry {
            target,
            who,
            by,
            set_ms,
            until_ms,
            reason,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(b: u8) -> Fingerprint {
        Fingerprint::from_digest([b; 32])
    }

    fn entry(target: Target, who: Option<&str>, until_ms: Option<u64>) -> Entry {
        Entry {
            target,
            who: who.map(Into::into),
            by: "op".into(),
            set_ms: 1,
            until_ms,
            reason: "spam and more".into(),
        }
    }

    #[test]
    fn a_ban_on_a_key_or_an_address_keeps_it_out_until_it_ends_or_is_lifted() {
        let mut b = Bans::new();
        let ip: IpAddr = "192.168.1.9".parse().expect("ip");
        b.ban(entry(Target::Key(fp(1)), Some("ann"), Some(1_000)));
        b.ban(entry(Target::addr(ip), None, None));
        assert!(b.take_changed());
        assert!(b.banned(Some(&fp(1)), None, 999).is_some());
        assert!(b.banned(Some(&fp(2)), None, 999).is_none());
        let mapped: IpAddr = "::ffff:192.168.1.9".parse().expect("ip");
        assert!(
            b.banned(None, Some(mapped), 5).is_some(),
            "v4-mapped is the same"
        );
        assert!(b.banned(Some(&fp(1)), None, 1_000).is_none(), "ended");
        assert!(b.take_changed(), "the ended ban is gone from the file too");
        assert_eq!(b.bans(2_000).len(), 1);
        let name = NameKey::of("ANN");
        b.ban(entry(Target::Key(fp(1)), Some("ann"), None));
        assert_eq!(
            b.unban(None, Some(&name)).len(),
            1,
            "lifted by the name it was set on"
        );
        assert_eq!(b.unban(Some(&Target::addr(ip)), None).len(), 1);
        assert!(b.bans(0).is_empty());
    }

    #[test]
    fn mutes_are_on_the_key_or_for_someone_without_one_the_name() {
        let mut b = Bans::new();
        b.mute(entry(Target::Key(fp(1)), Some("ann"), None));
        b.mute(entry(Target::name("Bob"), Some("Bob"), Some(50)));
        assert!(b.muted(Some(&fp(1)), "whatever", 0).is_some());
        assert!(
            b.muted(None, "ann", 0).is_none(),
            "the name alone is not the key"
        );
        assert!(b.muted(None, "BOB", 10).is_some());
        assert!(b.muted(None, "bob", 50).is_none(), "ended");
        assert_eq!(b.unmute(Some(&Target::Key(fp(1))), None).len(), 1);
        assert!(b.mutes(0).is_empty());
    }

    #[test]
    fn the_file_form_round_trips() {
        let mut b = Bans::new();
        b.ban(entry(Target::Key(fp(1)), Some("ann"), Some(99)));
        b.ban(entry(
            Target::addr("fe80::1".parse().expect("ip")),
            None,
            None,
        ));
        b.mute(entry(Target::name("bob"), Some("bob"), None));
        let mut text = Vec::new();
        b.encode(&mut text);
        let text = String::from_utf8(text).expect("utf-8");
        let (back, skipped) = Bans::decode(&text).expect("decodes");
        assert_eq!(skipped, 0);
        assert_eq!(back.bans(0), b.bans(0));
        assert_eq!(back.mutes(0), b.mutes(0));
        assert_eq!(back.bans(0)[0].reason.as_ref(), "spam and more");
        let (_, skipped) = Bans::decode(&format!("{HEADER}\nban nonsense\n")).expect("decodes");
        assert_eq!(skipped, 1);
        assert!(Bans::decode("").is_err());
    }
}
