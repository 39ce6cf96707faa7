//! The server's TLS identity: its key and certificate (generated on first start, or the
//! operator's), the fingerprint clients pin, and the rustls `ServerConfig` every connection is
//! made from. No sockets here: the event loop drives rustls' unbuffered server connections made
//! from [`Identity::server_config`] (`transport::tls`).
//!
//! - [`state_dir`]: where the generated key lives.
//! - [`keys`]: reading, generating and checking key and certificate files.
//! - [`client_keys`]: clients' keys: asked for, not required, proof of possession checked.
//!
//! TLS 1.3 only, with the `ring` provider. ALPN `lanchat/1` is offered; a client offering no
//! ALPN at all is served too (so `openssl s_client` works), one offering only other protocols
//! is refused by rustls. No session tickets or resumption: every connection is a full
//! handshake, so a client checks the server's key every time.

pub mod client_keys;
mod error;
pub mod keys;
pub mod state_dir;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lanchat_proto::Fingerprint;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, SubjectPublicKeyInfoDer};
use rustls::server::{NoServerSessionStorage, ParsedCertificate};
use rustls::ServerConfig;

pub use error::{Action, TlsError};
pub use keys::Origin;

use crate::config::Config;
use crate::discovery::Transport;

/// Where the key and certificate come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Generated in (and reused from) this directory.
    StateDir(PathBuf),
    /// The operator's own files (`--tls-cert`, `--tls-key`).
    Files {
        /// Certificate chain, PEM, end-entity first.
        cert: PathBuf,
        /// Private key, PEM.
        key: PathBuf,
    },
}

impl KeySource {
    /// The source `config` names: its `--tls-cert`/`--tls-key`, else its state directory
    /// (resolved from the environment when `--state-dir` is not given).
    ///
    /// # Errors
    /// [`TlsError::NoStateDir`] when no state directory can be found.
    pub fn of(config: &Config) -> Result<KeySource, TlsError> {
        match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Ok(KeySource::Files {
                cert: cert.clone(),
                key: key.clone(),
            }),
            // clap makes each of the two require the other.
            _ => state_dir::resolve_from_env(config.state_dir.as_deref()).map(KeySource::StateDir),
        }
    }
}

/// Encrypted or not: what the server speaks on its TCP port. Never both on one port.
#[derive(Debug)]
pub enum Mode {
    /// `--plaintext`: the line protocol in the clear.
    Plaintext,
    /// TLS 1.3 with this identity.
    Tls(Identity),
}

impl Mode {
    /// The mode `config` asks for, loading (or creating) the key unless `--plaintext`.
    ///
    /// # Errors
    /// As [`Identity::load`].
    pub fn from_config(config: &Config) -> Result<Mode, TlsError> {
        if config.plaintext {
            return Ok(Mode::Plaintext);
        }
        Identity::load(&KeySource::of(config)?).map(Mode::Tls)
    }

    /// The configuration every TLS connection is made from; `None` in plaintext mode.
    pub fn server_config(&self) -> Option<Arc<ServerConfig>> {
        match self {
            Mode::Plaintext => None,
            Mode::Tls(id) => Some(id.server_config()),
        }
    }

    /// What discovery replies say about this mode.
    pub fn transport(&self) -> Transport {
        match self {
            Mode::Plaintext => Transport::Plain,
            Mode::Tls(id) => Transport::Tls(id.fingerprint()),
        }
    }
}

/// The server's key, certificate and fingerprint, and the TLS configuration built from them.
#[derive(Debug)]
pub struct Identity {
    config: Arc<ServerConfig>,
    fingerprint: Fingerprint,
    cert_path: PathBuf,
    key_path: PathBuf,
    origin: Origin,
}

impl Identity {
    /// Load the key and certificate from `source` (creating them in a state directory on first
    /// use) and build the TLS configuration.
    ///
    /// # Errors
    /// See [`TlsError`]: unreadable or missing files, a key file others can read, a key that
    /// does not belong to the certificate.
    pub fn load(source: &KeySource) -> Result<Identity, TlsError> {
        let material = match source {
            KeySource::StateDir(dir) => keys::from_state_dir(dir)?,
            KeySource::Files { cert, key } => keys::from_files(cert, key)?,
        };
        let rustls_err = |source| TlsError::Rustls {
            cert: material.cert_path.clone(),
            key: material.key_path.clone(),
            source,
        };
        let fingerprint = fingerprint_of(&material.certs[0]).map_err(rustls_err)?;
        let config =
            server_config(material.certs.clone(), material.key.clone_key()).map_err(rustls_err)?;
        Ok(Identity {
            config: Arc::new(config),
            fingerprint,
            cert_path: material.cert_path,
            key_path: material.key_path,
            origin: material.origin,
        })
    }

    /// The fingerprint clients pin: SHA-256 of the certificate's public key.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The configuration to make each connection's `rustls::ServerConnection` from.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.config)
    }

    /// How the key and certificate came to be (for the start-up log).
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The key file.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }
}

/// The crypto provider: `ring` (see README's dependency table for why), its TLS 1.3 suites in
/// the server's order of preference: AES-128-GCM with SHA-256 first. It is TLS 1.3's
/// mandatory suite, and the cheapest here: against AES-256-GCM-SHA384 (rustls clients' first
/// choice) a handshake costs the server ~15 % less (SHA-256 has CPU instructions, SHA-384
/// not) and encrypting chat-sized records ~25 % less (10 AES rounds, not 14); ChaCha20 is
/// slower than either on CPUs with AES instructions.
pub fn provider() -> Arc<CryptoProvider> {
    use rustls::crypto::ring::cipher_suite::{
        TLS13_AES_128_GCM_SHA256, TLS13_AES_256_GCM_SHA384, TLS13_CHACHA20_POLY1305_SHA256,
    };
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = vec![
        TLS13_AES_128_GCM_SHA256,
        TLS13_AES_256_GCM_SHA384,
        TLS13_CHACHA20_POLY1305_SHA256,
    ];
    Arc::new(provider)
}

/// The server configuration for `certs` (end-entity first) and their `key`: TLS 1.3 only,
/// ALPN `lanchat/1`, a client certificate asked for but not required ([`client_keys`]), no
/// session tickets or resumption.
///
/// # Errors
/// rustls's, e.g. a key that does not match the certificate or that ring cannot use.
pub fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, rustls::Error> {
    let provider = provider();
    let clients = Arc::new(client_keys::ClientKeyVerifier::new(&provider));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(clients)
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![lanchat_proto::ALPN.as_bytes().to_vec()];
    // The suite is the server's choice (see `provider`): every suite offered is as strong as
    // TLS 1.3 requires, and this one is the cheapest to serve.
    config.ignore_client_order = true;
    // Nothing to resume: a full handshake each time costs one ECDHE and one signature, and
    // tickets would cost an encryption per handshake and bytes per connection for nothing.
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    // After the handshake the connection's record layer is the server's own
    // (`transport::tls::records`), with the traffic secrets rustls hands over; rustls keeps
    // the key schedule for key updates.
    config.enable_secret_extraction = true;
    Ok(config)
}

/// The fingerprint of `cert`: SHA-256 over its SubjectPublicKeyInfo (DER).
///
/// # Errors
/// rustls's, when `cert` is not a certificate it can parse.
pub fn fingerprint_of(cert: &CertificateDer<'_>) -> Result<Fingerprint, rustls::Error> {
    let spki = spki_of(cert)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, spki.as_ref());
    let mut out = [0u8; lanchat_proto::fingerprint::DIGEST_LEN];
    out.copy_from_slice(digest.as_ref());
    Ok(Fingerprint::from_digest(out))
}

/// The SubjectPublicKeyInfo (DER) of `cert`.
fn spki_of(cert: &CertificateDer<'_>) -> Result<SubjectPublicKeyInfoDer<'static>, rustls::Error> {
    Ok(ParsedCertificate::try_from(cert)?.subject_public_key_info())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use rustls::{ClientConnection, ServerConnection};

    fn temp_identity() -> (Identity, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let id = Identity::load(&KeySource::StateDir(dir.path().to_path_buf())).expect("identity");
        (id, dir)
    }

    /// A client with lanchat's own pinning configuration (expecting `fp`), offering `alpn`.
    fn client(fp: Fingerprint, alpn: &[&[u8]]) -> ClientConnection {
        let (config, _) = lanchat_client::tls::pinned_config(Some(fp));
        let mut config = (*config).clone();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let name = ServerName::try_from("lanchat").expect("name");
        ClientConnection::new(Arc::new(config), name).expect("client")
    }

    /// Run a handshake in memory; the certificate the client saw, or the first error.
    fn handshake(
        client: &mut ClientConnection,
        server: &mut ServerConnection,
    ) -> Result<(), rustls::Error> {
        for _ in 0..10 {
            let mut buf = Vec::new();
            client.write_tls(&mut buf).expect("to vec");
            let mut rd = &buf[..];
            while !rd.is_empty() {
                server.read_tls(&mut rd).expect("read");
            }
            server.process_new_packets()?;
            let mut buf = Vec::new();
            server.write_tls(&mut buf).expect("to vec");
            let mut rd = &buf[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).expect("read");
            }
            client.process_new_packets()?;
            if !client.is_handshaking() && !server.is_handshaking() {
                return Ok(());
            }
        }
        panic!("handshake did not finish");
    }

    #[test]
    fn tls13_with_alpn_offered_and_optional() {
        let (id, _dir) = temp_identity();
        for (offer, want) in [
            (&[&b"lanchat/1"[..]][..], Some(&b"lanchat/1"[..])),
            (
                &[&b"h2"[..], &b"lanchat/1"[..]][..],
                Some(&b"lanchat/1"[..]),
            ),
            (&[][..], None),
        ] {
            let mut c = client(id.fingerprint(), offer);
            let mut s = ServerConnection::new(id.server_config()).expect("server");
            handshake(&mut c, &mut s).expect("handshake");
            assert_eq!(s.alpn_protocol(), want);
            assert_eq!(s.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
            assert_eq!(
                s.negotiated_cipher_suite().map(|c| c.suite()),
                Some(rustls::CipherSuite::TLS13_AES_128_GCM_SHA256),
                "the server's choice, though the client prefers AES-256"
            );
            let seen = c.peer_certificates().expect("cert")[0].clone();
            assert_eq!(fingerprint_of(&seen).expect("fp"), id.fingerprint());
            assert_eq!(
                lanchat_client::tls::fingerprint_of(&seen).expect("fp"),
                id.fingerprint(),
                "the client computes the fingerprint the server prints"
            );
        }
        let mut c = client(id.fingerprint(), &[b"h2"]);
        let mut s = ServerConnection::new(id.server_config()).expect("server");
        assert!(
            handshake(&mut c, &mut s).is_err(),
            "a client speaking only another protocol is refused"
        );
    }

    #[test]
    fn fingerprint_is_stable_across_loads_and_certificate_renewal() {
        let (id, dir) = temp_identity();
        let source = KeySource::StateDir(dir.path().to_path_buf());
        let again = Identity::load(&source).expect("reload");
        assert_eq!(again.origin(), Origin::Loaded);
        assert_eq!(again.fingerprint(), id.fingerprint());
        std::fs::remove_file(dir.path().join(keys::CERT_FILE)).expect("rm cert");
        let renewed = Identity::load(&source).expect("renew");
        assert_eq!(renewed.origin(), Origin::CertRenewed);
        assert_eq!(renewed.fingerprint(), id.fingerprint());
    }

    #[test]
    fn an_operator_key_for_another_certificate_is_refused() {
        let (a, _dir_a) = temp_identity();
        let (b, _dir_b) = temp_identity();
        let err = Identity::load(&KeySource::Files {
            cert: a.cert_path().to_path_buf(),
            key: b.key_path().to_path_buf(),
        })
        .expect_err("mismatch");
        let text = err.to_string();
        assert!(
            text.contains(&a.cert_path().display().to_string()),
            "{text}"
        );
        let ok = Identity::load(&KeySource::Files {
            cert: a.cert_path().to_path_buf(),
            key: a.key_path().to_path_buf(),
        })
        .expect("own pair");
        assert_eq!(ok.fingerprint(), a.fingerprint());
        assert_eq!(ok.origin(), Origin::Operator);
    }
}
