//! The user's own key: `$XDG_CONFIG_HOME/lanchat/identity.key` (or `--identity FILE`), made on
//! first use, private to its owner (0600), and presented to servers as a TLS client
//! certificate. A server tells its users apart by the key's fingerprint (the same `SHA256:`
//! form as a server's), which is what owns a name there, and what an allowlist or an
//! operators' list names.
//!
//! Only the key is kept: the certificate is made afresh from it on each start (a self-signed
//! one, names and dates meaningless, as the server's own), and the fingerprint is of the key,
//! so it never changes while the file does not.

use std::ffi::OsString;
use std::fmt;
use std::fs::{DirBuilder, File};
use std::io::{self, ErrorKind, Read as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lanchat_proto::Fingerprint;
use rcgen::{CertificateParams, DnType, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::known_servers;

/// The key file's name inside `$XDG_CONFIG_HOME/lanchat/`.
pub const FILE_NAME: &str = "identity.key";

/// Permission bits that must be clear on the key file: anything for group or others.
const FORBIDDEN_BITS: u32 = 0o077;

/// The default key file: beside the known_servers file (`$XDG_CONFIG_HOME/lanchat/`, else
/// `$HOME/.config/lanchat/`); `None` when neither variable helps.
pub fn default_path(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    known_servers::default_path(env).map(|p| p.with_file_name(FILE_NAME))
}

/// [`default_path`] with the process's environment.
pub fn default_path_from_env() -> Option<PathBuf> {
    default_path(&|name| std::env::var_os(name))
}

/// Why the key could not be used.
#[derive(Debug)]
pub enum IdentityError {
    /// There is no place for the default file (no `XDG_CONFIG_HOME`, no `HOME`).
    NoPlace,
    /// Group or others may read the key file: it is refused, as ssh refuses such keys.
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its mode bits.
        mode: u32,
    },
    /// The file (or its directory) could not be read or written.
    Io {
        /// The file.
        path: PathBuf,
        /// The OS's error.
        source: io::Error,
    },
    /// The file holds no key this client can use.
    NotAKey(PathBuf),
    /// Making the key or its certificate failed.
    Generate(rcgen::Error),
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityError::NoPlace => f.write_str(
                "there is no place for your key (neither XDG_CONFIG_HOME nor HOME is set): give \
                 one with --identity FILE",
            ),
            IdentityError::TooOpen { path, mode } => write!(
                f,
                "your key {} can be read by others (mode {:o}): run chmod 600 {0} (or make a \
                 new one by removing it)",
                path.display(),
                mode & 0o777
            ),
            IdentityError::Io { path, source } => {
                write!(f, "cannot use your key {}: {source}", path.display())
            }
            IdentityError::NotAKey(path) => write!(
                f,
                "{} holds no private key (PEM: -----BEGIN PRIVATE KEY-----)",
                path.display()
            ),
            IdentityError::Generate(e) => write!(f, "cannot make a key: {e}"),
        }
    }
}

impl std::error::Error for IdentityError {}

/// Whether the key was made by this call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    /// The file was there.
    Loaded,
    /// The file was made now.
    Created,
}

/// The user's key and a certificate for it, ready to hand to rustls.
pub struct Identity {
    /// The certificate and the key, as rustls signs with them.
    certified: Arc<CertifiedKey>,
    fingerprint: Fingerprint,
    path: PathBuf,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key itself.
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// The key in `path`, made there (0600, its directory 0700) when the file does not exist.
    ///
    /// # Errors
    /// [`IdentityError`]: a key file others can read, one that is not a key, IO.
    pub fn load_or_create(path: &Path) -> Result<(Identity, Made), IdentityError> {
        let io_err = |source| IdentityError::Io {
            path: path.to_path_buf(),
            source,
        };
        let (pem, made) = match read_private(path)? {
            Some(pem) => (pem, Made::Loaded),
            None => {
                let fresh = KeyPair::generate().map_err(IdentityError::Generate)?;
                let pem = fresh.serialize_pem();
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    DirBuilder::new()
                        .recursive(true)
                        .mode(0o700)
                        .create(dir)
                        .map_err(io_err)?;
                }
                if create_exclusive(path, pem.as_bytes()).map_err(io_err)? {
                    (pem, Made::Created)
                } else {
                    // Another lanchat made it first: that one is the key.
                    let pem = read_private(path)?.ok_or(IdentityError::NotAKey(path.into()))?;
                    (pem, Made::Loaded)
                }
            }
        };
        Identity::from_pem(&pem, path).map(|id| (id, made))
    }

    /// The identity of a PEM key (PKCS#8), `path` naming it in errors.
    ///
    /// # Errors
    /// [`IdentityError::NotAKey`], or [`IdentityError::Generate`] if no certificate can be
    /// made for it.
    pub fn from_pem(pem: &str, path: &Path) -> Result<Identity, IdentityError> {
        let not_a_key = || IdentityError::NotAKey(path.to_path_buf());
        let key = KeyPair::from_pem(pem).map_err(|_| not_a_key())?;
        let cert = self_signed(&key)?;
        let fingerprint = crate::tls::fingerprint_of(&cert).map_err(|_| not_a_key())?;
        // A key of a kind ring cannot sign with (a file made by hand) is refused here, not
        // found out in the middle of a handshake.
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let certified = CertifiedKey::from_der(vec![cert], der, &crate::tls::provider())
            .map_err(|_| not_a_key())?;
        Ok(Identity {
            certified: Arc::new(certified),
            fingerprint,
            path: path.to_path_buf(),
        })
    }

    /// The key's fingerprint, as servers see it.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The certificate (one, self-signed) and the key, as a client configuration presents
    /// them.
    pub fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.certified)
    }
}

/// A self-signed certificate for `key`: servers look only at the key in it.
fn self_signed(key: &KeyPair) -> Result<CertificateDer<'static>, IdentityError> {
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(IdentityError::Generate)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "lanchat user");
    let cert = params.self_signed(key).map_err(IdentityError::Generate)?;
    Ok(cert.der().clone())
}

/// The key file's text, `None` if there is none; refused when others may read it (the check is
/// made on the opened file, so the file checked is the file read).
fn read_private(path: &Path) -> Result<Option<String>, IdentityError> {
    let io_err = |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    let mode = file.metadata().map_err(io_err)?.permissions().mode();
    if mode & FORBIDDEN_BITS != 0 {
        return Err(IdentityError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut text = String::new();
    match file.read_to_string(&mut text) {
        Ok(_) => Ok(Some(text)),
        Err(e) if e.kind() == ErrorKind::InvalidData => Err(IdentityError::NotAKey(path.into())),
        Err(e) => Err(io_err(e)),
    }
}

/// Write `bytes` to a new file at `path` (mode 0600), fully or not at all: a temporary file
/// beside it, synced, then linked into place only if nothing is there yet. False when a file
/// was already there.
fn create_exclusive(path: &Path, bytes: &[u8]) -> io::Result<bool> {
    let tmp = crate::atomic::synced_temp(path, bytes, 0o600)?;
    let linked = match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&tmp);
    linked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_private_and_the_same_key_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join(FILE_NAME);
        let (first, made) = Identity::load_or_create(&path).expect("made");
        assert_eq!(made, Made::Created);
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let dir_mode = std::fs::metadata(path.parent().expect("dir"))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let (again, made) = Identity::load_or_create(&path).expect("loaded");
        assert_eq!(made, Made::Loaded);
        assert_eq!(again.fingerprint(), first.fingerprint());
        assert_eq!(
            again.certified_key().cert.len(),
            1,
            "a certificate to present"
        );
        let other = Identity::load_or_create(&dir.path().join("other.key")).expect("another");
        assert_ne!(other.0.fingerprint(), first.fingerprint());
    }

    #[test]
    fn a_key_others_can_read_is_refused_and_junk_is_not_a_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        Identity::load_or_create(&path).expect("made");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let err = Identity::load_or_create(&path).expect_err("too open");
        assert!(matches!(err, IdentityError::TooOpen { .. }), "{err:?}");
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::write(&path, "not a key").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let err = Identity::load_or_create(&path).expect_err("junk");
        assert!(matches!(err, IdentityError::NotAKey(_)), "{err:?}");
    }

    #[test]
    fn default_place_is_beside_known_servers() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        assert_eq!(
            default_path(&env(&[("XDG_CONFIG_HOME", "/x")])),
            Some(PathBuf::from("/x/lanchat/identity.key"))
        );
        assert_eq!(
            default_path(&env(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.config/lanchat/identity.key"))
        );
        assert_eq!(default_path(&env(&[])), None);
    }
}
