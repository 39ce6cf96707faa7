//! The shared password of `--password-file`: the file's first line. Kept only as its SHA-256,
//! and compared in constant time, so neither a core dump nor the time an answer takes gives
//! it away.

use std::fmt;
use std::path::{Path, PathBuf};

use super::FileError;

/// The password a server asks for.
#[derive(Clone, PartialEq, Eq)]
pub struct Password {
    digest: [u8; 32],
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

impl Password {
    /// The password in a file's `text`: its first line, without the line ending. `None` when
    /// that line is empty (a password nobody could type by mistake is no password).
    pub fn from_text(text: &str) -> Option<Password> {
        let first = text.lines().next().unwrap_or_default();
        let first = first.strip_suffix('\r').unwrap_or(first);
        (!first.is_empty()).then(|| Password {
            digest: digest(first),
        })
    }

    /// Whether `typed` is the password.
    pub fn matches(&self, typed: &str) -> bool {
        // Digests of equal length, compared without an early exit.
        let other = digest(typed);
        self.digest
            .iter()
            .zip(other.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

fn digest(s: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The password and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordFile {
    /// The file.
    pub path: PathBuf,
    /// Its first line.
    pub password: Password,
}

impl PasswordFile {
    /// Read the file at `path`.
    ///
    /// # Errors
    /// [`FileError`]: it cannot be read, or its first line is empty.
    pub fn load(path: &Path) -> Result<PasswordFile, FileError> {
        let text = super::read_text(path)?;
        let password =
            Password::from_text(&text).ok_or_else(|| FileError::EmptyPassword(path.into()))?;
        Ok(PasswordFile {
            path: path.to_path_buf(),
            password,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_without_its_ending() {
        for text in ["s3cret", "s3cret\n", "s3cret\r\nsecond line\n"] {
            let p = Password::from_text(text).expect("a password");
            assert!(p.matches("s3cret"), "{text:?}");
            assert!(!p.matches("s3cret\n"), "{text:?}");
            assert!(!p.matches("S3cret"), "{text:?}");
            assert!(!p.matches(""), "{text:?}");
        }
        assert!(
            Password::from_text(" two words ").is_some_and(|p| p.matches(" two words ")),
            "spaces are part of it"
        );
        for empty in ["", "\n", "\r\nsecond"] {
            assert_eq!(Password::from_text(empty), None, "{empty:?}");
        }
        assert_eq!(
            format!("{:?}", Password::from_text("x")),
            "Some(Password(..))"
        );
    }
}
