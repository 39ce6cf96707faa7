//! A map from names to whatever holds them (a server's connections), in which no two names
//! clash: the name rules' "same user" ([`NameKey::clashes`]) kept as a data structure.
//!
//! A server keeps one entry per named connection, so each held name costs one map entry (a
//! pointer, a length and the value) and its case-fold key, stored once. Its second key (the
//! skeleton as written) is kept, beside, only when it is another string, as it is for few
//! names (`Ian`, whose capital `I` looks like `l`).
//!
//! The case-fold key is a shared string ([`HeldName`], an `Arc`, not an `Rc`: tests run a
//! server on a thread of their own): a holder whose name is spelled as its own case-fold key
//! (most lower-case names) keeps the index's copy as its name ([`NameIndex::insert_name`]), so
//! such a name is in memory once for both. At rest a server copies the keys into one block
//! ([`NameIndex::repack`]), so that names made in a burst do not each keep a page of the
//! burst's heap.

use std::collections::HashMap;
use std::sync::Arc;

use crate::held_name::HeldName;
use crate::name::NameKey;

/// Names made or let go since the last repack, below which [`NameIndex::repack`] leaves the
/// index as it is (with never less than an eighth of the names held): a repack copies every
/// name, so a server that sees one join at a time does it once in many.
const REPACK_MIN: usize = 64;

/// Names held, each with a value, such that no two of them clash.
///
/// Lookups take any spelling: case, look-alike letters or invisible characters do not matter
/// (`get("аlice")`, with a Cyrillic `а`, finds `alice`).
#[derive(Debug, Clone)]
pub struct NameIndex<V> {
    /// Each held name's case-fold key -> its value.
    names: HashMap<HeldName, V>,
    /// For each held name whose key as written is another string than its case-fold key:
    /// that key -> the case-fold key, and the case-fold key -> that key (to forget it with the
    /// name). No string is a key twice: a key as written that was another name's case-fold key
    /// would clash with it.
    written: HashMap<Box<str>, Box<str>>,
    /// How many names the last [`NameIndex::repack`] put in its block.
    packed: usize,
}

impl<V> Default for NameIndex<V> {
    fn default() -> Self {
        NameIndex {
            names: HashMap::new(),
            written: HashMap::new(),
            packed: 0,
        }
    }
}

impl<V: PartialEq> NameIndex<V> {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many names are held.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when no name is held.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Forget every name.
    pub fn clear(&mut self) {
        self.names.clear();
        self.written.clear();
        self.packed = 0;
    }

    /// The value of the held name that `name` is or looks like. A name that differs only in
    /// case comes first; otherwise the one whose look-alike it is.
    pub fn get(&self, name: &str) -> Option<&V> {
        let key = NameKey::of(name);
        self.holders(&key).next()
    }

    /// The values of the held names that clash with `key` (at most two: one per key), the
    /// case-fold match first.
    pub fn holders(&self, key: &NameKey) -> impl Iterator<Item = &V> {
        let [first, second] = key.keys().map(|k| self.holder(k));
        let second = second.filter(|s| first.is_none_or(|f| !std::ptr::eq(*s, f)));
        first.into_iter().chain(second)
    }

    /// The value of the held name that has `key` as one of its keys.
    fn holder(&self, key: &str) -> Option<&V> {
        self.names
            .get(key)
            .or_else(|| self.names.get(&**self.written.get(key)?))
    }

    /// Hold the name whose keys are `key`, with `value`. Returns false, changing nothing, when
    /// it clashes with a name already held.
    pub fn insert(&mut self, key: NameKey, value: V) -> bool {
        self.hold(key, value).is_some()
    }

    /// Hold `name`, whose keys are `key`, with `value`; returns the string to keep as the
    /// name, or `None`, changing nothing, when it clashes with a name already held. When
    /// `name` is spelled as its case-fold key, that string is the index's own copy of the key
    /// (the name is then in memory once for both); otherwise it is a copy of `name`.
    pub fn insert_name(&mut self, name: &str, key: NameKey, value: V) -> Option<HeldName> {
        let folded = self.hold(key, value)?;
        Some(if *folded == *name {
            folded
        } else {
            name.into()
        })
    }

    /// Hold the name whose keys are `key`, with `value`: its case-fold key as held, or `None`
    /// when it clashes.
    fn hold(&mut self, key: NameKey, value: V) -> Option<HeldName> {
        let taken = |k: &str| self.names.contains_key(k) || self.written.contains_key(k);
        if key.keys().iter().any(|k| taken(k)) {
            return None;
        }
        let [folded, as_written] = key.keys();
        if as_written != folded {
            self.written.insert(as_written.into(), folded.into());
            self.written.insert(folded.into(), as_written.into());
        }
        let folded = HeldName::new(folded);
        self.names.insert(folded.clone(), value);
        Some(folded)
    }

    /// When enough names were made or let go since the last repack (at least
    /// [`REPACK_MIN`] and an eighth of those held), copy every held case-fold key into one
    /// block and tell `moved` each key's new string with its value, so that a holder sharing
    /// the old one can take the new one instead (the old blocks are freed when nobody holds
    /// them). Returns whether it did. For a server at rest after a burst: see
    /// [`crate::held_name`].
    pub fn repack(&mut self, mut moved: impl FnMut(&V, &HeldName)) -> bool {
        let in_block = self.names.keys().filter(|k| k.is_packed()).count();
        let loose = self.names.len() - in_block;
        let gone = self.packed.saturating_sub(in_block);
        if loose + gone < REPACK_MIN.max(self.names.len() / 8) {
            return false;
        }
        let entries: Vec<(HeldName, V)> = std::mem::take(&mut self.names).into_iter().collect();
        let mut bytes = String::with_capacity(entries.iter().map(|(k, _)| k.len()).sum());
        for (k, _) in &entries {
            bytes.push_str(k);
        }
        let block: Arc<str> = bytes.into();
        self.names.reserve(entries.len());
        let mut at = 0;
        for (old, value) in entries {
            let end = at + old.len();
            // A block too large for a range (4 GiB of names) keeps the old strings.
            let key = HeldName::packed(&block, at, end).unwrap_or(old);
            at = end;
            moved(&value, &key);
            self.names.insert(key, value);
        }
        self.packed = self.names.len();
        true
    }

    /// Stop holding the name `name` is a case spelling of; its value, if it was held.
    pub fn remove(&mut self, name: &str) -> Option<V> {
        let key = NameKey::of(name);
        let folded = key.folded();
        let value = self.names.remove(folded)?;
        if let Some(as_written) = self.written.remove(folded) {
            self.written.remove(&as_written);
        }
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> NameKey {
        NameKey::of(name)
    }

    #[test]
    fn holds_names_that_do_not_clash_and_finds_them_by_any_spelling() {
        let mut index = NameIndex::new();
        assert!(index.insert(key("alice"), 1));
        assert!(index.insert(key("BOB"), 2));
        assert!(!index.insert(key("ALICE"), 3), "case");
        assert!(!index.insert(key("\u{251}lice"), 3), "Latin alpha");
        assert!(
            !index.insert(key("\u{412}\u{41e}\u{412}"), 3),
            "Cyrillic capitals"
        );
        assert_eq!(index.len(), 2);
        assert_eq!(index.get("Alice"), Some(&1));
        assert_eq!(index.get("\u{430}lice"), Some(&1));
        assert_eq!(index.get("alice\u{200b}"), Some(&1));
        assert_eq!(index.get("bob"), Some(&2));
        assert_eq!(index.get("carol"), None);
    }

    #[test]
    fn removing_by_another_case_frees_every_key() {
        let mut index = NameIndex::new();
        // `Ian` as written looks like `lan`: two keys.
        assert!(index.insert(key("Ian"), 1));
        assert!(!index.insert(key("lan"), 2));
        assert_eq!(index.remove("IAN"), Some(1));
        assert!(index.is_empty());
        assert!(index.insert(key("lan"), 2));
        assert_eq!(index.remove("nobody"), None);
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn a_key_only_as_written_neither_removes_nor_is_removed_with_the_wrong_name() {
        let mut index = NameIndex::new();
        // `Ian`'s key as written is `lan`'s case-fold key: `lan` is not `Ian` (a case spelling
        // of it is `ian`), so it removes nothing, yet finds `Ian` as a look-alike.
        assert!(index.insert(key("Ian"), 1));
        assert_eq!(index.remove("lan"), None);
        assert_eq!(index.get("lan"), Some(&1));
        assert_eq!(index.len(), 1);
        assert_eq!(index.remove("ian"), Some(1));
        assert_eq!(index.get("lan"), None);
        assert!(index.is_empty());
        // A name with one key and one with two, side by side; removing one leaves the other.
        assert!(index.insert(key("bob"), 2));
        assert!(index.insert(key("Ian"), 3));
        assert_eq!(index.remove("BOB"), Some(2));
        assert_eq!(index.get("IAN"), Some(&3));
        assert_eq!(index.get("lan"), Some(&3));
        assert!(!index.insert(key("lan"), 4));
    }

    #[test]
    fn a_name_spelled_as_its_key_is_kept_once_for_the_index_and_its_holder() {
        let mut index = NameIndex::new();
        let bob = index.insert_name("bob", key("bob"), 1).unwrap();
        assert_eq!(&*bob, "bob");
        assert_eq!(
            bob.block_holders(),
            2,
            "the index's key and the holder's name"
        );
        // A name that is not its own key (case, look-alikes) is a string of its own.
        let ann = index.insert_name("Ann", key("Ann"), 2).unwrap();
        assert_eq!((&*ann, ann.block_holders()), ("Ann", 1));
        assert_eq!(index.insert_name("BOB", key("BOB"), 3), None, "clashes");
        assert_eq!(index.get("ann"), Some(&2));
        assert_eq!(index.remove("Bob"), Some(1));
        assert_eq!(
            bob.block_holders(),
            1,
            "the holder's name outlives the entry"
        );
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn a_spelling_that_looks_like_two_names_finds_both_case_match_first() {
        let mut index = NameIndex::new();
        // `вов` (Cyrillic, lower case) and `bob` do not clash; `ВОВ` is a case spelling of the
        // first and looks like the second.
        assert!(index.insert(key("bob"), 1));
        assert!(index.insert(key("\u{432}\u{43e}\u{432}"), 2));
        let both = key("\u{412}\u{41e}\u{412}");
        assert_eq!(index.holders(&both).collect::<Vec<_>>(), [&2, &1]);
        assert_eq!(index.holders(&key("bob")).collect::<Vec<_>>(), [&1]);
        index.clear();
        assert_eq!(index.holders(&both).count(), 0);
    }

    /// The `i`-th of 64 names spelled as their own case-fold key (no digit, `l` or `rn`,
    /// which have look-alikes).
    fn nth(i: usize) -> String {
        let letter = |n: usize| char::from(b'a' + (n % 8) as u8);
        format!("ab{}{}", letter(i / 8), letter(i))
    }

    #[test]
    fn a_repack_puts_every_key_in_one_block_once_enough_changed() {
        let mut index = NameIndex::new();
        let mut holders = HashMap::new();
        for i in 0..REPACK_MIN - 1 {
            let name = nth(i);
            assert_eq!(key(&name).folded(), name);
            holders.insert(i, index.insert_name(&name, key(&name), i).unwrap());
        }
        assert!(!index.repack(|_, _| panic!("too few to repack")));
        let last = REPACK_MIN - 1;
        holders.insert(last, index.insert_name("Zed", key("Zed"), last).unwrap());
        let mut moved = 0;
        assert!(index.repack(|&i, new| {
            moved += 1;
            // A holder that shared the key takes the packed one; `Zed` keeps its own.
            let held = holders.get_mut(&i).unwrap();
            if **held == **new {
                *held = new.clone();
            }
        }));
        assert_eq!(moved, REPACK_MIN);
        let user0 = &holders[&0];
        assert_eq!(&**user0, "abaa");
        assert!(user0.is_packed(), "{user0:?}");
        assert!(!holders[&last].is_packed());
        assert!(holders
            .values()
            .filter(|h| h.is_packed())
            .all(|h| h.same_block(user0)));
        // The block: the index's keys and the holders sharing them, nothing else.
        assert_eq!(user0.block_holders(), 2 * REPACK_MIN - 1);
        assert_eq!(index.get("ABAF"), Some(&5));
        assert_eq!(index.get("zed"), Some(&last));
        assert!(!index.insert(key("Abah"), 99), "still clashes");
        // Nothing changed since: no repack; names let go of count towards the next one.
        assert!(!index.repack(|_, _| {}));
        for i in 0..REPACK_MIN / 2 {
            assert_eq!(index.remove(&nth(i)), Some(i));
        }
        assert!(!index.repack(|_, _| {}));
        for i in 0..REPACK_MIN / 2 {
            let name = format!("new{i}");
            assert!(index.insert(key(&name), 1000 + i));
        }
        assert!(index.repack(|_, _| {}));
        assert_eq!(index.get("new3"), Some(&1003));
        assert_eq!(index.get(&nth(40)), Some(&40));
        assert_eq!(index.len(), REPACK_MIN);
    }
}
