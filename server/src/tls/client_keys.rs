//! Clients' keys: the server asks every client for a certificate and requires none. A client
//! that shows one is known by its key's fingerprint (the key, not the certificate, as SSH knows
//! users by their keys), which is what owns a name and what `--allow` and `--ops` list.
//!
//! There is no certificate authority to check a client's certificate against, and none is
//! wanted: any certificate rustls can parse is taken (self-signed, as the client makes them,
//! or from an office CA), names and dates unread. What makes the key the client's is the
//! handshake's `CertificateVerify`: rustls has the client sign the transcript with the
//! certificate's key, and [`ClientKeyVerifier`] checks that signature with the provider's
//! algorithms, so only a client holding the private key gets past the handshake with it.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

/// Asks for a client certificate, takes any that parses, checks the proof of possession.
#[derive(Debug)]
pub struct ClientKeyVerifier {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientKeyVerifier {
    /// A verifier checking signatures with `provider`'s algorithms.
    pub fn new(provider: &Arc<CryptoProvider>) -> Self {
        ClientKeyVerifier {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for ClientKeyVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    /// A client without a key is served (`openssl s_client`, `--plaintext`-minded scripts):
    /// it is anonymous, and what it may do is decided above the transport.
    fn client_auth_mandatory(&self) -> bool {
        false
    }

    /// No hints: an empty list tells the client to send whatever certificate it has.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Only that its key can be read: the fingerprint is taken from it after the handshake.
        ParsedCertificate::try_from(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // The server speaks TLS 1.3 only; rustls never gets here.
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use rustls::client::ResolvesClientCert;
    use rustls::pki_types::ServerName;
    use rustls::server::UnbufferedServerConnection;
    use rustls::sign::CertifiedKey;
    use rustls::ClientConnection;

    use super::*;
    use crate::tls::{fingerprint_of, Identity, KeySource};

    fn server() -> (Identity, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let id = Identity::load(&KeySource::StateDir(dir.path().to_path_buf())).expect("identity");
        (id, dir)
    }

    fn user(dir: &Path, file: &str) -> lanchat_client::identity::Identity {
        lanchat_client::identity::Identity::load_or_create(&dir.join(file))
            .expect("user key")
            .0
    }

    /// A handshake in memory between `client` and a server of `id`, through the server's
    /// unbuffered connection as the loop drives it; the server's connection once done.
    fn handshake(
        client: &mut ClientConnection,
        id: &Identity,
    ) -> Result<UnbufferedServerConnection, rustls::Error> {
        use rustls::unbuffered::ConnectionState;
        let mut server = UnbufferedServerConnection::new(id.server_config())?;
        let mut incoming: Vec<u8> = Vec::new();
        for _ in 0..20 {
            let mut buf = Vec::new();
            client.write_tls(&mut buf).expect("to vec");
            incoming.extend_from_slice(&buf);
            let mut to_client = Vec::new();
            loop {
                let status = server.process_tls_records(&mut incoming);
                let discard = status.discard;
                match status.state? {
                    ConnectionState::EncodeTlsData(mut m) => {
                        let mut out = vec![0; 16 * 1024];
                        let n = m.encode(&mut out).expect("encode");
                        to_client.extend_from_slice(&out[..n]);
                    }
                    ConnectionState::TransmitTlsData(t) => t.done(),
                    _ => {
                        incoming.drain(..discard);
                        break;
                    }
                }
                incoming.drain(..discard);
            }
            let mut rd = &to_client[..];
            while !rd.is_empty() {
                client.read_tls(&mut rd).expect("read");
            }
            client.process_new_packets()?;
            if !client.is_handshaking() && !server.is_handshaking() && !client.wants_write() {
                return Ok(server);
            }
        }
        panic!("handshake did not finish");
    }

    fn client_as(
        id: &Identity,
        me: Option<&lanchat_client::identity::Identity>,
    ) -> ClientConnection {
        let (config, _) = lanchat_client::tls::pinned_config_as(Some(id.fingerprint()), me);
        let name = ServerName::try_from("lanchat").expect("name");
        ClientConnection::new(config, name).expect("client")
    }

    fn key_of(server: &UnbufferedServerConnection) -> Option<lanchat_proto::Fingerprint> {
        fingerprint_of(server.peer_certificates()?.first()?).ok()
    }

    #[test]
    fn a_client_key_is_known_by_its_fingerprint_and_none_is_anonymous() {
        let (id, dir) = server();
        let me = user(dir.path(), "me.key");
        let done = handshake(&mut client_as(&id, Some(&me)), &id).expect("with a key");
        assert_eq!(key_of(&done), Some(me.fingerprint()));
        let done = handshake(&mut client_as(&id, None), &id).expect("without a key");
        assert_eq!(key_of(&done), None, "no key: anonymous, still served");
    }

    /// Presents `cert` (someone else's) but signs with `key` (its own).
    #[derive(Debug)]
    struct Impostor(Arc<CertifiedKey>);

    impl ResolvesClientCert for Impostor {
        fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
            Some(Arc::clone(&self.0))
        }

        fn has_certs(&self) -> bool {
            true
        }
    }

    #[test]
    fn another_users_certificate_without_their_private_key_fails_the_handshake() {
        let (id, dir) = server();
        let victim = user(dir.path(), "victim.key");
        let thief = user(dir.path(), "thief.key");
        let stolen = CertifiedKey::new(
            victim.certified_key().cert.clone(),
            Arc::clone(&thief.certified_key().key),
        );
        let (config, _) = lanchat_client::tls::pinned_config(Some(id.fingerprint()));
        let mut config = (*config).clone();
        config.client_auth_cert_resolver = Arc::new(Impostor(Arc::new(stolen)));
        let name = ServerName::try_from("lanchat").expect("name");
        let mut client = ClientConnection::new(Arc::new(config), name).expect("client");
        let Err(err) = handshake(&mut client, &id) else {
            panic!("a certificate without its private key got through");
        };
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(_) | rustls::Error::PeerMisbehaved(_)
            ),
            "{err:?}"
        );
    }
}
