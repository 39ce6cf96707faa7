//! A server key's fingerprint as people and files spell it: `SHA256:` and the unpadded base64
//! of a SHA-256 digest, the way SSH prints keys.
//!
//! What is hashed (the DER of the certificate's SubjectPublicKeyInfo, so a new certificate for
//! the same key keeps its fingerprint) and the hashing itself are the caller's: this module is
//! only the text form, shared by the server (which prints it), the client (which remembers and
//! compares it) and discovery replies (which carry it).

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::{STANDARD_NO_PAD, STANDARD_NO_PAD_INDIFFERENT};
use base64::Engine as _;

/// What every fingerprint starts with.
pub const PREFIX: &str = "SHA256:";

/// Bytes in a SHA-256 digest.
pub const DIGEST_LEN: usize = 32;

/// Characters in a fingerprint's text form: the prefix and 43 base64 characters.
pub const TEXT_LEN: usize = PREFIX.len() + 43;

/// The SHA-256 digest of a server's public key (its SubjectPublicKeyInfo, DER).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; DIGEST_LEN]);

/// Why a text is not a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerprintError {
    /// It does not start with `SHA256:`.
    NoPrefix,
    /// What follows the prefix is not base64.
    NotBase64,
    /// It decodes to this many bytes instead of 32.
    WrongLength(usize),
}

impl fmt::Display for FingerprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FingerprintError::NoPrefix => write!(f, "a fingerprint starts with {PREFIX}"),
            FingerprintError::NotBase64 => {
                write!(
                    f,
                    "a fingerprint is {PREFIX} followed by base64 (A-Z a-z 0-9 + /)"
                )
            }
            FingerprintError::WrongLength(n) => write!(
                f,
                "a fingerprint holds {DIGEST_LEN} bytes (43 base64 characters), this one {n}"
            ),
        }
    }
}

impl std::error::Error for FingerprintError {}

impl Fingerprint {
    /// The fingerprint of a SHA-256 digest the caller computed.
    pub const fn from_digest(digest: [u8; DIGEST_LEN]) -> Fingerprint {
        Fingerprint(digest)
    }

    /// The digest.
    pub const fn digest(&self) -> &[u8; DIGEST_LEN] {
        &self.0
    }

    /// The start of the text form, `SHA256:` and the first `chars` base64 characters: enough
    /// to tell servers apart in a list, never enough to check a key by.
    pub fn short(&self, chars: usize) -> String {
        let mut s = self.to_string();
        s.truncate(PREFIX.len() + chars);
        s
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", STANDARD_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    /// Parse `SHA256:<base64>`. Surrounding white space and `=` padding (some tools print it)
    /// are accepted; base64 is case-sensitive, so nothing else is folded.
    fn from_str(s: &str) -> Result<Fingerprint, FingerprintError> {
        let b64 = s
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(FingerprintError::NoPrefix)?;
        let bytes = STANDARD_NO_PAD_INDIFFERENT
            .decode(b64)
            .map_err(|_| FingerprintError::NotBase64)?;
        let digest: [u8; DIGEST_LEN] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| FingerprintError::WrongLength(bytes.len()))?;
        Ok(Fingerprint(digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text form of the digest 0x00, 0x01, ... 0x1f.
    const COUNTING: &str = "SHA256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn counting() -> Fingerprint {
        let mut d = [0u8; DIGEST_LEN];
        for (i, b) in d.iter_mut().enumerate() {
            *b = i as u8;
        }
        Fingerprint::from_digest(d)
    }

    #[test]
    fn text_form_is_prefix_and_unpadded_standard_base64() {
        assert_eq!(counting().to_string(), COUNTING);
        assert_eq!(COUNTING.len(), TEXT_LEN);
        let ff = Fingerprint::from_digest([0xff; DIGEST_LEN]).to_string();
        assert_eq!(
            ff,
            format!("SHA256:{}8", "/".repeat(42)),
            "standard alphabet"
        );
        assert_eq!(counting().short(8), "SHA256:AAECAwQF");
    }

    #[test]
    fn parse_table() {
        let ok = Ok(counting());
        let cases: &[(&str, Result<Fingerprint, FingerprintError>)] = &[
            (COUNTING, ok.clone()),
            (&format!("  {COUNTING}\n"), ok.clone()),
            (&format!("{COUNTING}="), ok.clone()),
            (
                "sha256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
                Err(FingerprintError::NoPrefix),
            ),
            (
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
                Err(FingerprintError::NoPrefix),
            ),
            ("SHA256:", Err(FingerprintError::WrongLength(0))),
            ("SHA256:AAEC", Err(FingerprintError::WrongLength(3))),
            (
                "SHA256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8A",
                Err(FingerprintError::WrongLength(33)),
            ),
            (
                "SHA256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-",
                Err(FingerprintError::NotBase64),
            ),
            ("SHA256:AAEC AwQF", Err(FingerprintError::NotBase64)),
        ];
        for (text, want) in cases {
            assert_eq!(&text.parse::<Fingerprint>(), want, "{text:?}");
        }
    }

    #[test]
    fn round_trips() {
        for seed in 0..=255u8 {
            let fp = Fingerprint::from_digest([seed.wrapping_mul(37); DIGEST_LEN]);
            assert_eq!(fp.to_string().parse(), Ok(fp));
        }
    }
}
