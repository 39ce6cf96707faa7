//! Why the server's TLS identity could not be set up, in words an operator can act on.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// What the server was doing with a file when the OS said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Creating the state directory.
    CreateDir,
    /// Reading a key or certificate.
    Read,
    /// Writing a generated key or certificate.
    Write,
}

/// Setting up the server's key and certificate failed. Each one names the file and, where
/// there is one, the fix.
#[derive(Debug)]
pub enum TlsError {
    /// No `--state-dir`, and neither `STATE_DIRECTORY`, `XDG_STATE_HOME` nor `HOME` is set.
    NoStateDir,
    /// The OS refused an operation on `path`.
    Io {
        /// What was being done.
        action: Action,
        /// The file or directory.
        path: PathBuf,
        /// The OS's error.
        source: io::Error,
    },
    /// The private key file can be read (or written) by group or others: anyone else on the
    /// machine could take the key and pose as the server. Refused, as sshd refuses.
    KeyTooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file holds no PEM private key.
    NoKey(PathBuf),
    /// The file holds no PEM certificate.
    NoCert(PathBuf),
    /// Generating a key or certificate failed.
    Generate(rcgen::Error),
    /// rustls refused the key or certificate (for example, they do not belong together).
    Rustls {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
}

impl TlsError {
    pub(crate) fn io(action: Action, path: &Path, source: io::Error) -> TlsError {
        TlsError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::NoStateDir => write!(
                f,
                "cannot tell where to keep the server's key (HOME is not set): \
                 give --state-dir DIR or set LANCHAT_STATE_DIR"
            ),
            TlsError::Io {
                action,
                path,
                source,
            } => {
                let what = match action {
                    Action::CreateDir => "cannot create the state directory",
                    Action::Read => "cannot read",
                    Action::Write => "cannot write",
                };
                write!(f, "{what} {}: {source}", path.display())
            }
            TlsError::KeyTooOpen { path, mode } => write!(
                f,
                "the private key file {path} can be read by others (permissions {mode:04o}): \
                 anyone on this machine could take it and pose as this server. \
                 Refusing to start; fix it with: chmod 600 {path}",
                path = path.display(),
                mode = mode & 0o7777
            ),
            TlsError::NoKey(path) => write!(
                f,
                "{} holds no private key (PEM: -----BEGIN PRIVATE KEY-----)",
                path.display()
            ),
            TlsError::NoCert(path) => write!(
                f,
                "{} holds no certificate (PEM: -----BEGIN CERTIFICATE-----)",
                path.display()
            ),
            TlsError::Generate(e) => write!(f, "cannot generate the server's key: {e}"),
            TlsError::Rustls { cert, key, source } => write!(
                f,
                "cannot use certificate {} with key {}: {source}",
                cert.display(),
                key.display()
            ),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Io { source, .. } => Some(source),
            TlsError::Generate(e) => Some(e),
            TlsError::Rustls { source, .. } => Some(source),
            _ => None,
        }
    }
}
