//! A list of keys in a file, as `--allow` and `--ops` take them: one `SHA256:<...>` per line,
//! anything after it a comment (usually whose key it is), blank lines and `#` lines ignored, as
//! ssh's `authorized_keys`.
//!
//! A line that is neither is an error naming the file and the line: a typo in an allowlist
//! must not lock someone out without a word, nor (in an operators' list) pass unnoticed.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use lanchat_proto::Fingerprint;

use super::FileError;

/// The keys of one file, each with its comment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyList {
    keys: HashMap<Fingerprint, Box<str>>,
}

/// A line of a key list that is not a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// Its number, from 1.
    pub line: usize,
    /// Why: the fingerprint's own error.
    pub why: String,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: {} (a line is SHA256:<...> and a comment, or # and a comment)",
            self.line, self.why
        )
    }
}

impl KeyList {
    /// The keys in `text`.
    ///
    /// # Errors
    /// The first line that is not a key, a comment or blank.
    pub fn parse(text: &str) -> Result<KeyList, BadLine> {
        let mut keys = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (fp, comment) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let fp: Fingerprint =
                fp.parse()
                    .map_err(|e: lanchat_proto::FingerprintError| BadLine {
                        line: i + 1,
                        why: e.to_string(),
                    })?;
            keys.insert(fp, comment.trim().into());
        }
        Ok(KeyList { keys })
    }

    /// The keys in the file at `path`.
    ///
    /// # Errors
    /// [`FileError`]: it cannot be read, or a line is not a key.
    pub fn load(path: &Path) -> Result<KeyList, FileError> {
        let text = super::read_text(path)?;
        KeyList::parse(&text).map_err(|bad| FileError::BadLine {
            path: path.to_path_buf(),
            bad,
        })
    }

    /// Whether `key` is listed.
    pub fn contains(&self, key: &Fingerprint) -> bool {
        self.keys.contains_key(key)
    }

    /// How many keys are listed.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is listed.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// What changed from `old` to `self`, for the log after a reload: the keys added and the
    /// keys removed, each with its comment, in text order.
    pub fn changes_from(&self, old: &KeyList) -> Changes {
        let listed = |from: &KeyList, not_in: &KeyList| {
            let mut v: Vec<String> = from
                .keys
                .iter()
                .filter(|(k, _)| !not_in.keys.contains_key(*k))
                .map(|(k, c)| {
                    if c.is_empty() {
                        k.to_string()
                    } else {
                        format!("{k} ({c})")
                    }
                })
                .collect();
            v.sort();
            v
        };
        Changes {
            added: listed(self, old),
            removed: listed(old, self),
        }
    }
}

/// Keys added to and removed from a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Now listed, not before.
    pub added: Vec<String>,
    /// Listed before, not now.
    pub removed: Vec<String>,
}

impl Changes {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

impl fmt::Display for Changes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("unchanged");
        }
        let mut sep = "";
        if !self.added.is_empty() {
            write!(f, "added {}", self.added.join(", "))?;
            sep = "; ";
        }
        if !self.removed.is_empty() {
            write!(f, "{sep}removed {}", self.removed.join(", "))?;
        }
        Ok(())
    }
}

/// A key list and the file it came from, as the server holds `--allow` and `--ops`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListFile {
    /// The file.
    pub path: PathBuf,
    /// What it said when last read.
    pub keys: KeyList,
}

impl ListFile {
    /// Read the file at `path`.
    ///
    /// # Errors
    /// As [`KeyList::load`].
    pub fn load(path: &Path) -> Result<ListFile, FileError> {
        Ok(ListFile {
            path: path.to_path_buf(),
            keys: KeyList::load(path)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "SHA256:EomIL8NNTbB3jdrTzEWDxjbDmeo/2MbCpV8XzVKvyxs";
    const B: &str = "SHA256:LJYxuZa2D+V2uulRJWlFKoy1Z5+admL3iQ9d4AmgABk";

    fn fp(s: &str) -> Fingerprint {
        s.parse().expect("fingerprint")
    }

    #[test]
    fn keys_comments_and_blank_lines() {
        let text = format!("# the office\n\n{A} ann's laptop\n  {B}\t\n#{B} not this one\n");
        let list = KeyList::parse(&text).expect("parses");
        assert_eq!(list.len(), 2);
        assert!(list.contains(&fp(A)));
        assert!(list.contains(&fp(B)));
        assert!(KeyList::parse("").expect("empty").is_empty());
    }

    #[test]
    fn a_line_that_is_not_a_key_is_named() {
        for (text, line) in [
            (format!("{A}\nann\n"), 2),
            (format!("\n\nSHA256:short ann\n{A}"), 3),
            ("ssh-ed25519 AAAA ann".to_owned(), 1),
        ] {
            let bad = KeyList::parse(&text).expect_err("not a key");
            assert_eq!(bad.line, line, "{text:?}");
            assert!(
                bad.to_string().starts_with(&format!("line {line}: ")),
                "{bad}"
            );
        }
    }

    #[test]
    fn changes_name_what_was_added_and_removed() {
        let old = KeyList::parse(&format!("{A} ann\n")).expect("old");
        let new = KeyList::parse(&format!("{B} bob\n")).expect("new");
        let changes = new.changes_from(&old);
        assert_eq!(changes.added, [format!("{B} (bob)")]);
        assert_eq!(changes.removed, [format!("{A} (ann)")]);
        assert_eq!(
            changes.to_string(),
            format!("added {B} (bob); removed {A} (ann)")
        );
        assert!(new.changes_from(&new).is_empty());
        assert_eq!(new.changes_from(&new).to_string(), "unchanged");
    }
}
