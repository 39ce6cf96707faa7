//! The password a server may ask for (`AUTH password`): from `--password-file` (its first
//! line, for scripts), or typed at a terminal without echo (the front end's prompt).

use std::fmt;
use std::path::{Path, PathBuf};

/// `--password-file` could not be used.
#[derive(Debug)]
pub enum PasswordFileError {
    /// It cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// The OS's error.
        source: std::io::Error,
    },
    /// Its first line is empty.
    Empty(PathBuf),
}

impl fmt::Display for PasswordFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordFileError::Read { path, source } => {
                write!(
                    f,
                    "cannot read the password file {}: {source}",
                    path.display()
                )
            }
            PasswordFileError::Empty(path) => write!(
                f,
                "{}: the password is the first line, and it is empty",
                path.display()
            ),
        }
    }
}

impl std::error::Error for PasswordFileError {}

/// The password in a file's text: its first line, without the line ending (as the server reads
/// its own `--password-file`).
pub fn first_line(text: &str) -> Option<String> {
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_suffix('\r').unwrap_or(first);
    (!first.is_empty()).then(|| first.to_owned())
}

/// The password in the file at `path`.
///
/// # Errors
/// [`PasswordFileError`]: unreadable, or an empty first line.
pub fn from_file(path: &Path) -> Result<String, PasswordFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| PasswordFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    first_line(&text).ok_or_else(|| PasswordFileError::Empty(path.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_as_the_server_reads_it() {
        assert_eq!(first_line("s3cret\nrest\n").as_deref(), Some("s3cret"));
        assert_eq!(first_line("two words\r\n").as_deref(), Some("two words"));
        assert_eq!(first_line("\nsecond"), None);
        assert_eq!(first_line(""), None);
        let dir = tempfile::tempdir().expect("tempdir");
        let err = from_file(&dir.path().join("missing")).expect_err("missing");
        assert!(
            err.to_string().starts_with("cannot read the password file"),
            "{err}"
        );
    }
}
