//! A map from names to whatever holds them (a server's connections), in which no two names
//! clash: the name rules' "same user" ([`NameKey::clashes`]) kept as a data structure.

use std::collections::HashMap;

use crate::name::NameKey;

/// Names held, each with a value, such that no two of them clash.
///
/// Lookups take any spelling: case, look-alike letters or invisible characters do not matter
/// (`get("аlice")`, with a Cyrillic `а`, finds `alice`).
#[derive(Debug, Clone)]
pub struct NameIndex<V> {
    /// Each held name's case-fold key -> its value and all its keys.
    held: HashMap<String, (V, NameKey)>,
    /// Every key of every held name -> the case-fold key of the name holding it.
    owner: HashMap<String, String>,
}

impl<V> Default for NameIndex<V> {
    fn default() -> Self {
        NameIndex {
            held: HashMap::new(),
            owner: HashMap::new(),
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
        self.held.len()
    }

    /// True when no name is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Forget every name.
    pub fn clear(&mut self) {
        self.held.clear();
        self.owner.clear();
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
        let [first, second] = key
            .keys()
            .map(|k| self.owner.get(k).and_then(|o| self.held.get(o)));
        let second = second.filter(|s| first.is_none_or(|f| !std::ptr::eq(*s, f)));
        first.into_iter().chain(second).map(|(v, _)| v)
    }

    /// Hold the name whose keys are `key`, with `value`. Returns false, changing nothing, when
    /// it clashes with a name already held.
    pub fn insert(&mut self, key: NameKey, value: V) -> bool {
        if key.keys().iter().any(|k| self.owner.contains_key(*k)) {
            return false;
        }
        let folded = key.folded().to_owned();
        for k in key.keys() {
            self.owner.insert(k.to_owned(), folded.clone());
        }
        self.held.insert(folded, (value, key));
        true
    }

    /// Stop holding the name `name` is a case spelling of; its value, if it was held.
    pub fn remove(&mut self, name: &str) -> Option<V> {
        let (value, key) = self.held.remove(NameKey::of(name).folded())?;
        for k in key.keys() {
            self.owner.remove(k);
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
}
