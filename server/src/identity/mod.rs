//! Who is who: the keys clients prove they hold (see [`crate::tls::client_keys`]), the names
//! those keys own ([`claims`]), who may come in ([`keylist`] for `--allow`, [`password`] for
//! `--password-file`), who the operators are (`--ops`, a [`keylist`] too), and the bans and
//! mutes operators set ([`bans`]).
//!
//! Plain bookkeeping fed the time, as the room is: the room asks it and tells it what happened;
//! the files it reads at start are read here; the state it
//! keeps (claims, bans) goes to disk through [`crate::persist::snapshot`].

pub mod access;
pub mod bans;
pub mod claims;
pub mod keylist;
pub mod password;
pub mod setup;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

pub use access::{Access, Names, Tries, Turn};
pub use bans::{Bans, Entry, Target};
pub use claims::{Claim, Claims, Verdict};
pub use keylist::{Changes, KeyList, ListFile};
pub use password::{Password, PasswordFile};
pub use setup::{reload, Lists, Reloaded, Setup, Sources, StateFiles};

/// Longest file `--allow`, `--ops` or `--password-file` may be: a list of keys for a whole
/// company is a few hundred KiB; anything much larger is a mistake (the wrong file).
pub const MAX_FILE: u64 = 16 << 20;

/// A file given with `--allow`, `--ops` or `--password-file` that cannot be used.
#[derive(Debug)]
pub enum FileError {
    /// It cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The OS's error.
        source: io::Error,
    },
    /// It is larger than [`MAX_FILE`].
    TooLarge(PathBuf),
    /// A line is not a key (a key list).
    BadLine {
        /// The file.
        path: PathBuf,
        /// Which line and why.
        bad: keylist::BadLine,
    },
    /// Its first line is empty (a password file).
    EmptyPassword(PathBuf),
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            FileError::TooLarge(path) => write!(
                f,
                "{} is larger than {} MiB: is it the right file?",
                path.display(),
                MAX_FILE >> 20
            ),
            FileError::BadLine { path, bad } => write!(f, "{}: {bad}", path.display()),
            FileError::EmptyPassword(path) => write!(
                f,
                "{}: the password is the first line, and it is empty",
                path.display()
            ),
        }
    }
}

impl std::error::Error for FileError {}

/// The text of the file at `path` (UTF-8; at most [`MAX_FILE`] bytes).
fn read_text(path: &Path) -> Result<String, FileError> {
    let read_err = |source| FileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_FILE {
        return Err(FileError::TooLarge(path.to_path_buf()));
    }
    std::fs::read_to_string(path).map_err(read_err)
}
