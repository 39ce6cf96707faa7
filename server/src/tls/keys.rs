//! The server's key and certificate on disk: generated on first start into the state
//! directory and reused from then on, or the operator's own files. Key files must be private
//! to their owner.
//!
//! In the state directory, `key.pem` is a PKCS#8 ECDSA P-256 key (mode 0600) and `cert.pem` a
//! self-signed certificate for it. The fingerprint comes from the key, so a missing, broken or
//! foreign `cert.pem` is simply made again for the same key and the fingerprint stays.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read as _, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{CertificateParams, DnType, KeyPair, PublicKeyData as _};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::error::{Action, TlsError};
use super::state_dir;

/// The key's file name in the state directory.
pub const KEY_FILE: &str = "key.pem";
/// The certificate's file name in the state directory.
pub const CERT_FILE: &str = "cert.pem";

/// Permission bits that must be clear on a private key file: anything for group or others.
const KEY_FORBIDDEN_BITS: u32 = 0o077;

/// How the key and certificate came to be, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// This start generated a new key (and certificate) in the state directory.
    Generated,
    /// Both were read from the state directory.
    Loaded,
    /// The key was read from the state directory and its certificate made anew (it was missing,
    /// broken or for another key); the fingerprint is unchanged.
    CertRenewed,
    /// The operator's `--tls-cert` and `--tls-key`.
    Operator,
}

/// A certificate chain and its private key, read and checked.
#[derive(Debug)]
pub struct Material {
    /// End-entity certificate first.
    pub certs: Vec<CertificateDer<'static>>,
    /// The private key of the first certificate.
    pub key: PrivateKeyDer<'static>,
    /// Where the certificate is.
    pub cert_path: PathBuf,
    /// Where the key is.
    pub key_path: PathBuf,
    /// How they came to be.
    pub origin: Origin,
}

/// The key and certificate in `dir`, creating the directory (0700), the key (0600) and the
/// certificate as needed. Two servers starting at once on an empty directory end up with the
/// same key: the key file is created only if absent, atomically.
///
/// # Errors
/// See [`TlsError`]; notably [`TlsError::KeyTooOpen`] when the key file is readable by others.
pub fn from_state_dir(dir: &Path) -> Result<Material, TlsError> {
    state_dir::create(dir)?;
    let key_path = dir.join(KEY_FILE);
    let cert_path = dir.join(CERT_FILE);
    let mut origin = Origin::Loaded;
    let key_pem = match read_private(&key_path)? {
        Some(pem) => pem,
        None => {
            let fresh = KeyPair::generate().map_err(TlsError::Generate)?;
            let pem = fresh.serialize_pem().into_bytes();
            if create_exclusive(&key_path, &pem, 0o600)? {
                origin = Origin::Generated;
                pem
            } else {
                // Another server created it first: use that one.
                read_private(&key_path)?.ok_or_else(|| TlsError::NoKey(key_path.clone()))?
            }
        }
    };
    let key = parse_key(&key_path, &key_pem)?;
    let key_pair = KeyPair::try_from(key.secret_der()).map_err(TlsError::Generate)?;
    let spki = key_pair.subject_public_key_info();
    let existing = read_public(&cert_path)?
        .and_then(|pem| parse_certs(&cert_path, &pem).ok())
        .filter(|certs| super::spki_of(&certs[0]).is_ok_and(|s| s.as_ref() == spki));
    let certs = match existing {
        Some(certs) => certs,
        None => {
            if origin == Origin::Loaded {
                origin = Origin::CertRenewed;
            }
            let cert = self_signed(&key_pair)?;
            replace(&cert_path, cert.pem().as_bytes(), 0o644)?;
            vec![cert.der().clone()]
        }
    };
    Ok(Material {
        certs,
        key,
        cert_path,
        key_path,
        origin,
    })
}

/// The operator's certificate chain (PEM, end-entity first) and key (PEM: PKCS#8, PKCS#1 or
/// SEC1). Whether they belong together is checked when the TLS config is built.
///
/// # Errors
/// See [`TlsError`]; a missing file is an error here.
pub fn from_files(cert_path: &Path, key_path: &Path) -> Result<Material, TlsError> {
    let missing = |path: &Path| {
        TlsError::io(
            Action::Read,
            path,
            std::io::Error::from(ErrorKind::NotFound),
        )
    };
    let key_pem = read_private(key_path)?.ok_or_else(|| missing(key_path))?;
    let cert_pem = read_public(cert_path)?.ok_or_else(|| missing(cert_path))?;
    Ok(Material {
        certs: parse_certs(cert_path, &cert_pem)?,
        key: parse_key(key_path, &key_pem)?,
        cert_path: cert_path.to_path_buf(),
        key_path: key_path.to_path_buf(),
        origin: Origin::Operator,
    })
}

/// A self-signed certificate for `key`. Its names do not matter: clients pin the key, not a
/// name (an operator who wants names uses `--tls-cert` from an office CA).
fn self_signed(key: &KeyPair) -> Result<rcgen::Certificate, TlsError> {
    let mut params =
        CertificateParams::new(vec!["lanchat".to_owned()]).map_err(TlsError::Generate)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "lanchat server");
    params.self_signed(key).map_err(TlsError::Generate)
}

/// Read a private key file; `None` if it does not exist. The permission check is made on the
/// opened file, so the file checked is the file read.
fn read_private(path: &Path) -> Result<Option<Vec<u8>>, TlsError> {
    let Some(mut file) = open_existing(path)? else {
        return Ok(None);
    };
    let mode = file
        .metadata()
        .map_err(|e| TlsError::io(Action::Read, path, e))?
        .permissions()
        .mode();
    if mode & KEY_FORBIDDEN_BITS != 0 {
        return Err(TlsError::KeyTooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    read_all(&mut file, path).map(Some)
}

/// Read a public file (a certificate); `None` if it does not exist.
fn read_public(path: &Path) -> Result<Option<Vec<u8>>, TlsError> {
    match open_existing(path)? {
        Some(mut file) => read_all(&mut file, path).map(Some),
        None => Ok(None),
    }
}

fn open_existing(path: &Path) -> Result<Option<File>, TlsError> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(TlsError::io(Action::Read, path, e)),
    }
}

fn read_all(file: &mut File, path: &Path) -> Result<Vec<u8>, TlsError> {
    let mut buf = Vec::new();
    file.read_to_end(&mut buf)
        .map_err(|e| TlsError::io(Action::Read, path, e))?;
    Ok(buf)
}

fn parse_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|_| TlsError::NoKey(path.to_path_buf()))
}

fn parse_certs(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCert(path.to_path_buf()))?;
    if certs.is_empty() {
        return Err(TlsError::NoCert(path.to_path_buf()));
    }
    Ok(certs)
}

/// Write `bytes` to a new file beside `path` with `mode`, flushed to disk.
fn write_temp(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, TlsError> {
    // Unique per process and call: two writers never share a temporary file.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = path.with_file_name(name);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(TlsError::io(Action::Write, path, e))
        }
    }
}

/// Create `path` with `bytes` only if it does not exist, all at once (a hard link of a
/// complete temporary file): no reader ever sees half a key, and of two racing writers the
/// second gets `false` and leaves the first one's file alone.
fn create_exclusive(path: &Path, bytes: &[u8], mode: u32) -> Result<bool, TlsError> {
    let tmp = write_temp(path, bytes, mode)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(TlsError::io(Action::Write, path, e)),
    }
}

/// Replace `path` with `bytes` all at once (rename of a complete temporary file).
fn replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let tmp = write_temp(path, bytes, mode)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        TlsError::io(Action::Write, path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp() -> tempfile::TempDir {
        tempfile::tempdir().expect("temporary directory")
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    fn spki(m: &Material) -> Vec<u8> {
        super::super::spki_of(&m.certs[0])
            .expect("spki")
            .as_ref()
            .to_vec()
    }

    #[test]
    fn first_start_generates_private_files_and_later_starts_reuse_them() {
        let dir = temp();
        let first = from_state_dir(&dir.path().join("state")).expect("generate");
        assert_eq!(first.origin, Origin::Generated);
        assert_eq!(mode(&dir.path().join("state")), 0o700);
        assert_eq!(mode(&first.key_path), 0o600);
        let again = from_state_dir(&dir.path().join("state")).expect("reuse");
        assert_eq!(again.origin, Origin::Loaded);
        assert_eq!(again.certs, first.certs);
        assert_eq!(again.key.secret_der(), first.key.secret_der());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("state"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
    }

    #[test]
    fn a_lost_or_foreign_certificate_is_made_again_for_the_same_key() {
        let dir = temp();
        let first = from_state_dir(dir.path()).expect("generate");
        std::fs::remove_file(&first.cert_path).expect("remove cert");
        let renewed = from_state_dir(dir.path()).expect("renew");
        assert_eq!(renewed.origin, Origin::CertRenewed);
        assert_eq!(spki(&renewed), spki(&first));

        // A certificate for some other key in cert.pem is replaced, not served.
        let other = temp();
        let foreign = from_state_dir(other.path()).expect("other key");
        std::fs::copy(&foreign.cert_path, &first.cert_path).expect("copy");
        let fixed = from_state_dir(dir.path()).expect("renew");
        assert_eq!(fixed.origin, Origin::CertRenewed);
        assert_eq!(spki(&fixed), spki(&first));
        assert_ne!(spki(&fixed), spki(&foreign));

        std::fs::write(&first.cert_path, b"garbage").expect("break cert");
        assert_eq!(
            spki(&from_state_dir(dir.path()).expect("renew")),
            spki(&first)
        );
    }

    #[test]
    fn a_key_file_others_can_read_is_refused_with_the_fix() {
        let dir = temp();
        let first = from_state_dir(dir.path()).expect("generate");
        for bad in [0o644, 0o640, 0o604, 0o602, 0o620] {
            std::fs::set_permissions(&first.key_path, std::fs::Permissions::from_mode(bad))
                .expect("chmod");
            let err = from_state_dir(dir.path()).expect_err("refused");
            assert!(
                matches!(err, TlsError::KeyTooOpen { mode, .. } if mode & 0o777 == bad),
                "{err:?}"
            );
            let text = err.to_string();
            let path = first.key_path.display().to_string();
            assert!(text.contains(&path), "{text}");
            assert!(text.contains(&format!("chmod 600 {path}")), "{text}");
            assert!(text.contains(&format!("{bad:04o}")), "{text}");
        }
        for fine in [0o600, 0o400] {
            std::fs::set_permissions(&first.key_path, std::fs::Permissions::from_mode(fine))
                .expect("chmod");
            from_state_dir(dir.path()).expect("owner-only is fine");
        }
    }

    #[test]
    fn operator_files_are_read_and_checked() {
        let dir = temp();
        let made = from_state_dir(dir.path()).expect("generate");
        let m = from_files(&made.cert_path, &made.key_path).expect("read");
        assert_eq!(m.origin, Origin::Operator);
        assert_eq!(m.certs, made.certs);

        let missing = dir.path().join("nope.pem");
        let err = from_files(&missing, &made.key_path).expect_err("missing cert");
        assert!(err.to_string().contains("nope.pem"), "{err}");
        let err = from_files(&made.key_path, &made.key_path).expect_err("a key is no cert");
        assert!(matches!(err, TlsError::NoCert(_)), "{err:?}");
        std::fs::set_permissions(&made.cert_path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        let err = from_files(&made.cert_path, &made.cert_path).expect_err("a cert is no key");
        assert!(matches!(err, TlsError::NoKey(_)), "{err:?}");
    }

    #[test]
    fn racing_first_starts_agree_on_one_key() {
        let dir = temp();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let d = dir.path().to_path_buf();
                std::thread::spawn(move || from_state_dir(&d).map(|m| m.key.secret_der().to_vec()))
            })
            .collect();
        let keys: Vec<_> = threads
            .into_iter()
            .map(|t| t.join().expect("thread").expect("key"))
            .collect();
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "all the same key");
    }
}
