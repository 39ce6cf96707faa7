//! A held name's string ([`HeldName`]): a block of its own, or a range of one block that many
//! names share.
//!
//! Why shared blocks: a server makes each user's name when the user joins, in the middle of
//! whatever else the join allocates (the welcome, the member list, the history), and those
//! others are freed a moment later. After a join storm every name sits alone on a page of
//! heap the storm used, and one live name is enough to keep a page resident: 2,000 names of
//! 96 bytes kept ~900 KiB of pages. [`crate::NameIndex::repack`] copies the names made since
//! into one block of their own, at rest, so the pages they were scattered over go back to the
//! OS.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// `end` of a name that is its whole block (no range to keep).
const WHOLE: u32 = u32::MAX;

/// A name's string, shared by those who hold it (cloning it copies no bytes). It compares,
/// hashes and derefs as the `str` it is, so a map keyed by it is searched with a `&str`.
#[derive(Clone)]
pub struct HeldName {
    /// The bytes: this name alone, or many names one after another.
    block: Arc<str>,
    /// Where the name lies in `block`; `end` is [`WHOLE`] when it is all of it.
    start: u32,
    end: u32,
}

impl Default for HeldName {
    /// The empty name, in a block of its own (not packed).
    fn default() -> Self {
        HeldName::new("")
    }
}

impl HeldName {
    /// `name` in a block of its own.
    pub fn new(name: &str) -> Self {
        HeldName {
            block: name.into(),
            start: 0,
            end: WHOLE,
        }
    }

    /// Bytes `start..end` of `block` (char boundaries: the caller wrote a name there). `None`
    /// when the range does not fit the compact form (a block of 4 GiB or more).
    pub(crate) fn packed(block: &Arc<str>, start: usize, end: usize) -> Option<Self> {
        let end = u32::try_from(end).ok().filter(|&e| e != WHOLE)?;
        Some(HeldName {
            block: Arc::clone(block),
            start: u32::try_from(start).ok()?,
            end,
        })
    }

    /// True when it lies in a block shared with other names (made by a repack).
    pub fn is_packed(&self) -> bool {
        self.end != WHOLE
    }

    /// True when `self` and `other` lie in the same block.
    pub fn same_block(&self, other: &HeldName) -> bool {
        Arc::ptr_eq(&self.block, &other.block)
    }

    /// How many held names point into its block (itself included).
    #[cfg(test)]
    pub(crate) fn block_holders(&self) -> usize {
        Arc::strong_count(&self.block)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        if self.end == WHOLE {
            &self.block
        } else {
            // The range was written by `packed`'s caller on char boundaries of this block.
            &self.block[self.start as usize..self.end as usize]
        }
    }
}

impl From<&str> for HeldName {
    fn from(name: &str) -> Self {
        HeldName::new(name)
    }
}

impl Deref for HeldName {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for HeldName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for HeldName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

// As the `str` it is (what `Borrow<str>` requires of a map key).
impl Hash for HeldName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq for HeldName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for HeldName {}

impl PartialEq<str> for HeldName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl fmt::Debug for HeldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for HeldName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn a_packed_name_is_its_range_and_looks_up_as_a_str() {
        let block: Arc<str> = "alicebob".into();
        let bob = HeldName::packed(&block, 5, 8).unwrap();
        let alice = HeldName::packed(&block, 0, 5).unwrap();
        assert_eq!((&*alice, &*bob), ("alice", "bob"));
        assert!(bob.is_packed() && bob.same_block(&alice));
        assert_eq!(bob, HeldName::new("bob"), "equal to the same name alone");
        assert!(!HeldName::new("bob").is_packed());
        assert!(!HeldName::default().is_packed());
        assert_eq!(HeldName::default().as_str(), "");
        let mut map = HashMap::new();
        map.insert(bob, 2);
        map.insert(HeldName::new("carol"), 3);
        assert_eq!((map.get("bob"), map.get("carol")), (Some(&2), Some(&3)));
        assert_eq!(format!("{alice} {alice:?}"), "alice \"alice\"");
    }

    #[test]
    fn a_range_that_does_not_fit_is_refused() {
        let block: Arc<str> = "x".into();
        assert!(HeldName::packed(&block, 0, u32::MAX as usize).is_none());
        assert!(HeldName::packed(&block, 0, 1 << 32).is_none());
    }
}
