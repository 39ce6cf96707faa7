//! Names that belong to keys. The first key accepted under a name owns it; the name, any case
//! of it and any look-alike of it (the name rules' [`NameKey`], as for connected users) are
//! then refused to every other key and to connections without one, until the claim lapses
//! (`--claim-days` without use) or an operator releases it. A key holds at most
//! [`MAX_NAMES_PER_KEY`] names: claiming one more lets its least recently used claim go.
//!
//! "Use" is being connected under the name: a claim is refreshed when its owner takes the name
//! and again when the owner lets it go (leaves or changes name), so a claim lapses
//! `--claim-days` after its owner last had it, however long they had it.
//!
//! Pure bookkeeping, fed the time: the file it is kept in is [`crate::persist::snapshot`]'s,
//! in the text form of [`Claims::encode`] / [`Claims::decode`].

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;

use lanchat_proto::{Fingerprint, NameIndex, NameKey};

use crate::limits;

/// Most names one key holds at once.
pub const MAX_NAMES_PER_KEY: usize = 5;

/// Bytes of a claims file line, about: a fingerprint (50), a time (13), a name, two spaces.
const LINE_GUESS: usize = 80;

/// The first line of the claims file (its format's name and version).
pub const HEADER: &str = "lanchat-claims 1";

/// One name's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The name as its owner spelled it when claiming it.
    pub name: Box<str>,
    /// Whose it is.
    pub key: Fingerprint,
    /// When it was last taken or let go by its owner (Unix milliseconds).
    pub last_used_ms: u64,
}

/// What a name is to someone asking for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nobody owns it (or its claim had lapsed, and is gone now).
    Free,
    /// The asker's key owns it.
    Own,
    /// Another key owns it, under this spelling.
    Owned(Box<str>),
}

/// What [`Claims::take`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Taken {
    /// The name was not the key's before.
    pub new: bool,
    /// A claim the key had to give up to stay within [`MAX_NAMES_PER_KEY`].
    pub dropped: Option<Box<str>>,
    /// The server holds [`limits::MAX_CLAIMS`] claims already: the name is used, not claimed.
    pub full: bool,
}

/// Every claim, findable by any spelling of its name and by its key.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    /// Any spelling of a claimed name -> the case-fold key it is filed under in `claims`.
    index: NameIndex<String>,
    /// Case-fold key -> claim; in key order, so the file is written without sorting.
    claims: BTreeMap<String, Claim>,
    /// Each key's names (case-fold keys).
    by_key: HashMap<Fingerprint, Vec<String>>,
    /// A claim unused this long lapses (milliseconds).
    lapse_ms: u64,
    /// Changed since [`Claims::take_changed`] was last called.
    changed: bool,
}

impl Claims {
    /// No claims; a claim lapses after `days` days without use.
    pub fn new(days: u32) -> Claims {
        Claims {
            lapse_ms: u64::from(days) * 86_400_000,
            ..Claims::default()
        }
    }

    /// How many names are claimed.
    pub fn len(&self) -> usize {
        self.claims.len()
    }

    /// True when no name is claimed.
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
    }

    /// True once if anything changed since the last call (the file is due a write).
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// The claim `name` (any spelling) falls under, if any, lapsed or not.
    pub fn get(&self, name: &str) -> Option<&Claim> {
        let folded = self.index.get(name)?;
        self.claims.get(folded)
    }

    /// The claims of `key`, least recently used first.
    pub fn names_of(&self, key: &Fingerprint) -> Vec<&Claim> {
        let mut v: Vec<&Claim> = self
            .by_key
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|f| self.claims.get(f))
            .collect();
        v.sort_by_key(|c| c.last_used_ms);
        v
    }

    /// What the name whose keys are `key` is to `who` (a key, or `None` for a connection
    /// without one) at `now_ms`. A lapsed claim found on the way is dropped.
    pub fn check(&mut self, key: &NameKey, who: Option<&Fingerprint>, now_ms: u64) -> Verdict {
        let found: Vec<String> = self.index.holders(key).cloned().collect();
        let mut verdict = Verdict::Free;
        for folded in found {
            let Some(claim) = self.claims.get(&folded) else {
                continue;
            };
            if self.lapsed(claim, now_ms) {
                let name = claim.name.clone();
                log::info!(
                    "the claim on {name} lapsed (unused for {} days)",
                    self.days()
                );
                self.remove(&name);
                continue;
            }
            if Some(&claim.key) == who {
                // The asker's own name (or a look-alike of it): theirs.
                if verdict == Verdict::Free {
                    verdict = Verdict::Own;
                }
            } else {
                return Verdict::Owned(claim.name.clone());
            }
        }
        verdict
    }

    /// `who` takes `name` (whose keys are `key`) at `now_ms`: claimed if it was free, its use
    /// noted if it was `who`'s. Call after [`Claims::check`] said [`Verdict::Free`] or
    /// [`Verdict::Own`].
    pub fn take(&mut self, name: &str, key: NameKey, who: Fingerprint, now_ms: u64) -> Taken {
        if let Some(folded) = self.index.holders(&key).next().cloned() {
            if let Some(claim) = self.claims.get_mut(&folded) {
                if claim.key == who {
                    claim.last_used_ms = now_ms;
                    self.changed = true;
                    return Taken::default();
                }
            }
            // Another key's claim (check was not called): leave it be.
            return Taken::default();
        }
        let mut taken = Taken {
            new: true,
            ..Taken::default()
        };
        let held = self.by_key.get(&who).map_or(0, Vec::len);
        if held < MAX_NAMES_PER_KEY && self.claims.len() >= limits::MAX_CLAIMS {
            return Taken {
                full: true,
                ..Taken::default()
            };
        }
        if held >= MAX_NAMES_PER_KEY {
            let oldest = self.names_of(&who).first().map(|c| c.name.clone());
            if let Some(oldest) = oldest {
                self.remove(&oldest);
                taken.dropped = Some(oldest);
            }
        }
        let folded = key.folded().to_owned();
        if !self.index.insert(key, folded.clone()) {
            return Taken::default();
        }
        self.claims.insert(
            folded.clone(),
            Claim {
                name: name.into(),
                key: who,
                last_used_ms: now_ms,
            },
        );
        self.by_key.entry(who).or_default().push(folded);
        self.changed = true;
        taken
    }

    /// `who` lets `name` go at `now_ms` (leaves, or takes another name): the claim's last use.
    pub fn let_go(&mut self, name: &str, who: &Fingerprint, now_ms: u64) {
        let Some(folded) = self.index.get(name).cloned() else {
            return;
        };
        if let Some(claim) = self.claims.get_mut(&folded) {
            if claim.key == *who {
                claim.last_used_ms = now_ms;
                self.changed = true;
            }
        }
    }

    /// Drop the claim `name` (any spelling) falls under; the claim, if there was one.
    pub fn release(&mut self, name: &str) -> Option<Claim> {
        self.remove(name)
    }

    /// Drop every claim unused for longer than the lapse at `now_ms`; how many went.
    pub fn sweep(&mut self, now_ms: u64) -> usize {
        let lapsed: Vec<Box<str>> = self
            .claims
            .values()
            .filter(|c| self.lapsed(c, now_ms))
            .map(|c| c.name.clone())
            .collect();
        for name in &lapsed {
            self.remove(name);
        }
        lapsed.len()
    }

    fn lapsed(&self, claim: &Claim, now_ms: u64) -> bool {
        now_ms.saturating_sub(claim.last_used_ms) > self.lapse_ms
    }

    fn days(&self) -> u64 {
        self.lapse_ms / 86_400_000
    }

    fn remove(&mut self, name: &str) -> Option<Claim> {
        let folded = self.index.get(name)?.clone();
        let claim = self.claims.remove(&folded)?;
        self.index.remove(&claim.name);
        if let Some(names) = self.by_key.get_mut(&claim.key) {
            names.retain(|f| *f != folded);
            if names.is_empty() {
                self.by_key.remove(&claim.key);
            }
        }
        self.changed = true;
        Some(claim)
    }

    /// The claims as the file holds them: [`HEADER`], then one `<fingerprint> <last-used-ms>
    /// <name>` line per claim, in the order of the names' case folds (so the file of the same
    /// claims is the same).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(HEADER.len() + 1 + self.claims.len() * LINE_GUESS);
        let _ = writeln!(out, "{HEADER}");
        for c in self.claims.values() {
            let _ = writeln!(out, "{} {} {}", c.key, c.last_used_ms, c.name);
        }
    }

    /// Claims from the file's `text` (see [`Claims::encode`]), lapsing after `days`. Lines that
    /// do not parse, or whose name clashes with one read before, are skipped and counted.
    ///
    /// # Errors
    /// The text does not start with [`HEADER`]: not a claims file (or a later version).
    pub fn decode(text: &str, days: u32) -> Result<(Claims, usize), String> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(format!("it does not start with {HEADER:?}"));
        }
        let mut claims = Claims::new(days);
        let mut skipped = 0;
        for line in lines {
            let mut parts = line.splitn(3, ' ');
            let (Some(fp), Some(ms), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                skipped += 1;
                continue;
            };
            let (Ok(fp), Ok(ms)) = (fp.parse::<Fingerprint>(), ms.parse::<u64>()) else {
                skipped += 1;
                continue;
            };
            let Ok(key) = lanchat_proto::name_key(name) else {
                skipped += 1;
                continue;
            };
            if claims.index.holders(&key).next().is_some()
                || claims.by_key.get(&fp).map_or(0, Vec::len) >= MAX_NAMES_PER_KEY
            {
                skipped += 1;
                continue;
            }
            claims.take(name, key, fp, ms);
        }
        claims.changed = false;
        Ok((claims, skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400_000;

    fn fp(b: u8) -> Fingerprint {
        Fingerprint::from_digest([b; 32])
    }

    fn key(name: &str) -> NameKey {
        NameKey::of(name)
    }

    /// Check, and take when allowed; the verdict.
    fn ask(c: &mut Claims, name: &str, who: Option<Fingerprint>, now: u64) -> Verdict {
        let v = c.check(&key(name), who.as_ref(), now);
        if let (Verdict::Free | Verdict::Own, Some(who)) = (&v, who) {
            c.take(name, key(name), who, now);
        }
        v
    }

    #[test]
    fn the_first_key_owns_a_name_in_every_case_and_look_alike() {
        let mut c = Claims::new(90);
        assert_eq!(ask(&mut c, "ann", Some(fp(1)), 0), Verdict::Free);
        for other in ["ann", "ANN", "\u{430}nn", "Ann"] {
            assert_eq!(
                ask(&mut c, other, Some(fp(2)), 1),
                Verdict::Owned("ann".into()),
                "{other}"
            );
            assert_eq!(
                ask(&mut c, other, None, 1),
                Verdict::Owned("ann".into()),
                "{other} without a key"
            );
        }
        assert_eq!(ask(&mut c, "ANN", Some(fp(1)), 2), Verdict::Own);
        assert_eq!(
            c.len(),
            1,
            "a case spelling of one's own name is no new claim"
        );
        assert_eq!(ask(&mut c, "bob", None, 3), Verdict::Free);
        assert_eq!(c.len(), 1, "no key, no claim");
        assert!(c.take_changed());
        assert!(!c.take_changed());
    }

    #[test]
    fn a_claim_lapses_after_the_days_without_use_counting_from_the_last_use() {
        let mut c = Claims::new(90);
        ask(&mut c, "ann", Some(fp(1)), 0);
        c.let_go("ann", &fp(1), 10 * DAY);
        assert_eq!(
            ask(&mut c, "ann", Some(fp(2)), 100 * DAY),
            Verdict::Owned("ann".into()),
            "90 days after the last use, not after the claim"
        );
        assert_eq!(
            ask(&mut c, "ann", Some(fp(2)), 100 * DAY + 1),
            Verdict::Free
        );
        assert_eq!(c.get("ann").map(|c| c.key), Some(fp(2)), "claimed anew");
        ask(&mut c, "zed", Some(fp(3)), 0);
        assert_eq!(c.sweep(91 * DAY), 1);
        assert!(c.get("zed").is_none());
    }

    #[test]
    fn a_key_holds_five_names_and_the_least_recently_used_goes() {
        let mut c = Claims::new(90);
        for (i, name) in ["a1", "a2", "a3", "a4", "a5"].iter().enumerate() {
            ask(&mut c, name, Some(fp(1)), i as u64);
        }
        // a1 used again: a2 is now the least recently used.
        ask(&mut c, "a1", Some(fp(1)), 10);
        let v = c.check(&key("a6"), Some(&fp(1)), 11);
        assert_eq!(v, Verdict::Free);
        let taken = c.take("a6", key("a6"), fp(1), 11);
        assert_eq!(taken.dropped.as_deref(), Some("a2"));
        assert!(taken.new);
        assert_eq!(c.names_of(&fp(1)).len(), MAX_NAMES_PER_KEY);
        assert_eq!(ask(&mut c, "a2", Some(fp(2)), 12), Verdict::Free);
    }

    #[test]
    fn past_the_servers_limit_names_are_used_but_not_claimed() {
        let mut c = Claims::new(90);
        for i in 0..limits::MAX_CLAIMS {
            let name = format!("u{i}");
            let who = Fingerprint::from_digest([
                (i / 5 % 251) as u8,
                (i / 5 / 251) as u8,
                1,
                2,
                3,
                4,
                5,
                6,
                7,
                8,
                9,
                10,
                11,
                12,
                13,
                14,
                15,
                16,
                17,
                18,
                19,
                20,
                21,
                22,
                23,
                24,
                25,
                26,
                27,
                28,
                29,
                30,
            ]);
            assert!(c.take(&name, key(&name), who, 0).new, "{name}");
        }
        let taken = c.take("late", key("late"), fp(200), 1);
        assert!(taken.full && !taken.new);
        assert_eq!(c.len(), limits::MAX_CLAIMS);
        assert_eq!(c.check(&key("late"), None, 2), Verdict::Free);
    }

    #[test]
    fn released_names_are_free_and_the_file_form_round_trips() {
        let mut c = Claims::new(90);
        ask(&mut c, "ann", Some(fp(1)), 5);
        ask(&mut c, "bob", Some(fp(2)), 6);
        ask(&mut c, "李雷", Some(fp(2)), 7);
        let mut text = Vec::new();
        c.encode(&mut text);
        let text = String::from_utf8(text).expect("utf-8");
        let (back, skipped) = Claims::decode(&text, 90).expect("decodes");
        assert_eq!(skipped, 0);
        assert_eq!(back.len(), 3);
        assert_eq!(
            back.get("BOB").map(|c| (c.key, c.last_used_ms)),
            Some((fp(2), 6))
        );
        assert_eq!(back.get("李雷").map(|c| c.key), Some(fp(2)));
        let mut again = Vec::new();
        back.encode(&mut again);
        assert_eq!(again, text.as_bytes(), "same claims, same file");
        assert!(Claims::decode("something else\n", 90).is_err());
        let junk = format!("{HEADER}\nnot a line\n{} 1 ann\n{} x bob\n", fp(1), fp(2));
        let (some, skipped) = Claims::decode(&junk, 90).expect("decodes");
        assert_eq!((some.len(), skipped), (1, 2));

        let mut c = back;
        assert_eq!(c.release("Bob").map(|c| c.key), Some(fp(2)));
        assert_eq!(c.release("bob"), None);
        assert_eq!(ask(&mut c, "bob", Some(fp(3)), 8), Verdict::Free);
        assert_eq!(c.names_of(&fp(2)).len(), 1);
    }
}
