//! SIGHUP (`systemctl reload lanchat`): re-read what the server takes from outside itself that
//! can change while it runs, put what is good in force, keep the old where reading fails, and
//! log one line saying what came of each. Nobody connected notices: no connection is touched.
//!
//! Flags and `LANCHAT_*` variables are read once, at start (a running process's environment
//! does not change): changing one takes a restart, and the reload line says so. What a reload
//! re-reads, one [`Reload`] each:
//! - the **discovery name**, when it is the host name (no `--name`): discovery replies carry
//!   the new one. (Under the systemd unit, `ProtectHostname=yes` gives the server a host name
//!   of its own, fixed at start, so there it does not change.)
//! - the operator's **TLS certificate and key** (`--tls-cert`, `--tls-key`), e.g. renewed by
//!   the office CA: read and checked (a key that does not belong to the certificate, a key file
//!   others can read, a file that is not there are failures), and a new fingerprint is warned
//!   about, since clients that pinned the old one will refuse the new. A generated key (in the
//!   state directory) is not re-read: nobody renews it, and reading a missing one would make
//!   a new one.
//!
//! Extending it: each thing that can be reloaded is one [`Part`] and one step in
//! [`Server::reload`] returning a [`Reload`]. The TLS step puts the new certificate's
//! `rustls::ServerConfig` in the loop's place for new connections (connections open keep
//! theirs).

use std::fmt;
use std::path::PathBuf;

use lanchat_proto::Fingerprint;

use super::Server;
use crate::config::Config;
use crate::discovery::host_name;
use crate::tls::{Identity, KeySource, Origin, TlsError};

/// Something a reload re-reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The server name discovery replies give.
    DiscoveryName,
    /// The operator's TLS certificate and key.
    TlsFiles,
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Part::DiscoveryName => "discovery name",
            Part::TlsFiles => "TLS certificate and key",
        })
    }
}

/// Why a part was not re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// `--name` fixes the discovery name.
    NameFromFlag,
    /// `--no-discovery`.
    DiscoveryOff,
    /// The key was generated in the state directory.
    GeneratedKey,
    /// `--plaintext`: there is no key.
    Plaintext,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Skip::NameFromFlag => "set by --name",
            Skip::DiscoveryOff => "discovery is off",
            Skip::GeneratedKey => "generated in the state directory, read at start only",
            Skip::Plaintext => "none (--plaintext)",
        })
    }
}

/// Why a part could not be reloaded.
#[derive(Debug)]
pub enum ReloadError {
    /// Reading or checking the certificate and key failed.
    Tls(TlsError),
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::Tls(e) => write!(f, "{e}"),
        }
    }
}

/// What a reload did with one [`Part`].
#[derive(Debug)]
pub enum Reload {
    /// Re-read; it says something new, which is in force now.
    Changed {
        /// What.
        part: Part,
        /// Before.
        was: String,
        /// Now.
        now: String,
    },
    /// Re-read; it says what it said before.
    Unchanged {
        /// What.
        part: Part,
        /// What it says.
        value: String,
    },
    /// Could not be re-read: what was in force stays.
    Failed {
        /// What.
        part: Part,
        /// Why.
        error: ReloadError,
    },
    /// Not re-read, and why.
    Skipped {
        /// What.
        part: Part,
        /// Why not.
        why: Skip,
    },
}

impl Reload {
    /// Whether the operator should look: a failure, or a new TLS key (clients that pinned the
    /// old one will refuse this server).
    pub fn is_alarming(&self) -> bool {
        matches!(
            self,
            Reload::Failed { .. }
                | Reload::Changed {
                    part: Part::TlsFiles,
                    ..
                }
        )
    }
}

impl fmt::Display for Reload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reload::Changed {
                part: Part::TlsFiles,
                was,
                now,
            } => write!(
                f,
                "{} changed, from {was} to {now}: clients that remember the old key will refuse \
                 this server until their users accept the new one",
                Part::TlsFiles
            ),
            Reload::Changed { part, was, now } => write!(f, "{part} changed from {was} to {now}"),
            Reload::Unchanged { part, value } => write!(f, "{part} unchanged ({value})"),
            Reload::Failed { part, error } => {
                write!(
                    f,
                    "{part} NOT reloaded, the old one stays in force: {error}"
                )
            }
            Reload::Skipped { part, why } => write!(f, "{part} not re-read ({why})"),
        }
    }
}

/// Everything one SIGHUP did.
#[derive(Debug)]
pub struct Reloads(pub Vec<Reload>);

impl fmt::Display for Reloads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SIGHUP: reload: ")?;
        for r in &self.0 {
            write!(f, "{r}; ")?;
        }
        f.write_str("flags and the environment are read at start only (restart to change them)")
    }
}

/// Where the reloadable things come from, noted at start.
#[derive(Debug)]
pub(super) struct Sources {
    /// The discovery name is the host name (no `--name`).
    name_from_host: bool,
    tls: TlsSource,
}

/// Where the TLS key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TlsSource {
    /// `--plaintext`.
    Plaintext,
    /// Generated in the state directory (or not told yet: [`Server::keep_tls_identity`]).
    Generated,
    /// The operator's files, and the fingerprint of the key in force.
    Files {
        cert: PathBuf,
        key: PathBuf,
        fingerprint: Option<Fingerprint>,
    },
}

impl Sources {
    pub(super) fn of(config: &Config) -> Sources {
        let tls = match (&config.tls_cert, &config.tls_key) {
            _ if config.plaintext => TlsSource::Plaintext,
            (Some(cert), Some(key)) => TlsSource::Files {
                cert: cert.clone(),
                key: key.clone(),
                fingerprint: None,
            },
            _ => TlsSource::Generated,
        };
        Sources {
            name_from_host: config.name.is_none(),
            tls,
        }
    }
}

impl Server {
    /// The key and certificate the server started with, so that a reload can tell whether the
    /// operator's files now hold another key.
    pub fn keep_tls_identity(&mut self, identity: &Identity) {
        self.sources.tls = match identity.origin() {
            Origin::Operator => TlsSource::Files {
                cert: identity.cert_path().to_path_buf(),
                key: identity.key_path().to_path_buf(),
                fingerprint: Some(identity.fingerprint()),
            },
            Origin::Generated | Origin::Loaded | Origin::CertRenewed => TlsSource::Generated,
        };
    }

    /// SIGHUP: re-read every part, log one line (a warning if one failed or the key changed).
    pub(super) fn reload(&mut self) -> Reloads {
        let reloads = Reloads(vec![self.reload_discovery_name(), self.reload_tls()]);
        if reloads.0.iter().any(Reload::is_alarming) {
            log::warn!("{reloads}");
        } else {
            log::info!("{reloads}");
        }
        reloads
    }

    fn reload_discovery_name(&mut self) -> Reload {
        let part = Part::DiscoveryName;
        let Some(discovery) = &mut self.discovery else {
            return Reload::Skipped {
                part,
                why: Skip::DiscoveryOff,
            };
        };
        if !self.sources.name_from_host {
            return Reload::Skipped {
                part,
                why: Skip::NameFromFlag,
            };
        }
        let now = host_name();
        match discovery.rename(now.clone()) {
            Some(was) => Reload::Changed {
                part,
                was: format!("{was:?}"),
                now: format!("{now:?}"),
            },
            None => Reload::Unchanged {
                part,
                value: format!("{now:?}, the host name"),
            },
        }
    }

    fn reload_tls(&mut self) -> Reload {
        let part = Part::TlsFiles;
        let (cert, key, fingerprint) = match &mut self.sources.tls {
            TlsSource::Plaintext => {
                return Reload::Skipped {
                    part,
                    why: Skip::Plaintext,
                }
            }
            TlsSource::Generated => {
                return Reload::Skipped {
                    part,
                    why: Skip::GeneratedKey,
                }
            }
            TlsSource::Files {
                cert,
                key,
                fingerprint,
            } => (cert.clone(), key.clone(), fingerprint),
        };
        let source = KeySource::Files {
            cert: cert.clone(),
            key: key.clone(),
        };
        let identity = match Identity::load(&source) {
            Ok(identity) => identity,
            Err(e) => {
                return Reload::Failed {
                    part,
                    error: ReloadError::Tls(e),
                }
            }
        };
        // New connections take the new certificate from here on; open ones keep the
        // configuration they were made with.
        if self.tls.is_some() {
            self.tls = Some(identity.server_config());
        }
        let new = identity.fingerprint();
        let was = fingerprint.replace(new);
        match was {
            Some(was) if was != new => Reload::Changed {
                part,
                was: was.to_string(),
                now: new.to_string(),
            },
            _ => Reload::Unchanged {
                part,
                value: format!(
                    "fingerprint {new}, from {} and {}",
                    cert.display(),
                    key.display()
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_says_what_each_part_did() {
        let reloads = Reloads(vec![
            Reload::Unchanged {
                part: Part::DiscoveryName,
                value: "\"box\", the host name".into(),
            },
            Reload::Skipped {
                part: Part::TlsFiles,
                why: Skip::GeneratedKey,
            },
        ]);
        assert!(!reloads.0.iter().any(Reload::is_alarming));
        assert_eq!(
            reloads.to_string(),
            "SIGHUP: reload: discovery name unchanged (\"box\", the host name); TLS certificate \
             and key not re-read (generated in the state directory, read at start only); flags \
             and the environment are read at start only (restart to change them)"
        );
        let changed = Reload::Changed {
            part: Part::TlsFiles,
            was: "SHA256:a".into(),
            now: "SHA256:b".into(),
        };
        assert!(changed.is_alarming());
        let renamed = Reload::Changed {
            part: Part::DiscoveryName,
            was: "\"a\"".into(),
            now: "\"b\"".into(),
        };
        assert!(!renamed.is_alarming());
        assert_eq!(
            renamed.to_string(),
            "discovery name changed from \"a\" to \"b\""
        );
    }
}
