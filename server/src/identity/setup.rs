//! Identity at start: the files the flags name (`--allow`, `--ops`, `--password-file`), read
//! once (a file that cannot be read is an error: the binary exits 2), and the state kept in the
//! state directory (the claims on names, the bans and mutes), read back from where the last run
//! left it. [`Reload`] reads the flags' files again (SIGHUP).

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{Access, Bans, Claims, FileError, KeyList, Names, PasswordFile};
use crate::config::Config;
use crate::persist::snapshot::{Loaded, Snapshot};

/// The claims file's name in the state directory.
pub const CLAIMS_FILE: &str = "claims";
/// The bans (and mutes) file's name in the state directory.
pub const BANS_FILE: &str = "bans";

/// The files the flags name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// `--allow`.
    pub allow: Option<PathBuf>,
    /// `--ops`.
    pub ops: Option<PathBuf>,
    /// `--password-file`.
    pub password: Option<PathBuf>,
}

impl Sources {
    /// The files `config` names.
    pub fn of(config: &Config) -> Sources {
        Sources {
            allow: config.allow.clone(),
            ops: config.ops.clone(),
            password: config.password_file.clone(),
        }
    }
}

/// What the flags' files say.
#[derive(Debug, Clone, Default)]
pub struct Lists {
    /// `--allow`'s keys.
    pub allow: Option<KeyList>,
    /// `--ops`' keys.
    pub ops: Option<KeyList>,
    /// `--password-file`'s password.
    pub password: Option<PasswordFile>,
}

impl Lists {
    /// Read every file `sources` names.
    ///
    /// # Errors
    /// The first file that cannot be read or used.
    pub fn read(sources: &Sources) -> Result<Lists, FileError> {
        Ok(Lists {
            allow: sources.allow.as_deref().map(KeyList::load).transpose()?,
            ops: sources.ops.as_deref().map(KeyList::load).transpose()?,
            password: sources
                .password
                .as_deref()
                .map(PasswordFile::load)
                .transpose()?,
        })
    }
}

/// The state files, as the loop writes them.
#[derive(Debug)]
pub struct StateFiles {
    /// `<state-dir>/claims`.
    pub claims: Snapshot,
    /// `<state-dir>/bans`.
    pub bans: Snapshot,
}

/// Everything identity needs at start.
#[derive(Debug)]
pub struct Setup {
    /// What the room consults.
    pub access: Access,
    /// Where claims and bans are kept (`None`: in memory only, no state directory).
    pub files: Option<StateFiles>,
    /// The flags' files, to read again on SIGHUP.
    pub sources: Sources,
    /// Lines for the start-up log (what was loaded, what was skipped).
    pub report: Vec<String>,
}

impl Setup {
    /// Read what `sources` names and what `state_dir` holds; `names` says whether names can
    /// be claimed (TLS) or are first come, first served (plaintext). `now_ms` ages the claims.
    ///
    /// # Errors
    /// A file the flags name cannot be read or used.
    pub fn load(
        sources: Sources,
        state_dir: Option<&Path>,
        names: Names,
        claim_days: u32,
        now: Instant,
        now_ms: u64,
    ) -> Result<Setup, FileError> {
        let lists = Lists::read(&sources)?;
        let mut report = Vec::new();
        if let Some(allow) = &lists.allow {
            report.push(format!(
                "allowlist {}: {} keys",
                path_of(sources.allow.as_deref()),
                allow.len()
            ));
        }
        if let Some(ops) = &lists.ops {
            report.push(format!(
                "operators {}: {} keys",
                path_of(sources.ops.as_deref()),
                ops.len()
            ));
        }
        if let Some(p) = &lists.password {
            report.push(format!("password from {}", p.path.display()));
        }
        let mut claims = Claims::new(claim_days);
        let mut bans = Bans::new();
        let files = state_dir.map(|dir| {
            let (claims_file, loaded) = Snapshot::open(dir.join(CLAIMS_FILE), now);
            if let Some(text) = read_back(&claims_file, loaded, &mut report) {
                match Claims::decode(&text, claim_days) {
                    Ok((c, skipped)) => {
                        claims = c;
                        let lapsed = claims.sweep(now_ms);
                        report.push(format!(
                            "{} names claimed ({lapsed} lapsed, {skipped} lines skipped)",
                            claims.len()
                        ));
                    }
                    Err(e) => report.push(format!(
                        "{} is not a claims file ({e}); starting without claims",
                        claims_file.path().display()
                    )),
                }
            }
            let (bans_file, loaded) = Snapshot::open(dir.join(BANS_FILE), now);
            if let Some(text) = read_back(&bans_file, loaded, &mut report) {
                match Bans::decode(&text) {
                    Ok((b, skipped)) => {
                        bans = b;
                        let ended = bans.sweep(now_ms);
                        report.push(format!(
                            "{} bans and {} mutes ({ended} ended, {skipped} lines skipped)",
                            bans.bans(now_ms).len(),
                            bans.mutes(now_ms).len()
                        ));
                    }
                    Err(e) => report.push(format!(
                        "{} is not a bans file ({e}); starting without bans",
                        bans_file.path().display()
                    )),
                }
            }
            StateFiles {
                claims: claims_file,
                bans: bans_file,
            }
        });
        let access = Access {
            names,
            claims,
            bans,
            allow: lists.allow,
            ops: lists.ops,
            password: lists.password.map(|p| p.password),
            tries: Default::default(),
        };
        Ok(Setup {
            access,
            files,
            sources,
            report,
        })
    }
}

fn path_of(p: Option<&Path>) -> String {
    p.map_or_else(String::new, |p| p.display().to_string())
}

/// The text a state file held, saying in `report` where it came from or why there is none.
fn read_back(file: &Snapshot, loaded: Loaded, report: &mut Vec<String>) -> Option<String> {
    if let Some(problem) = loaded.problem {
        report.push(format!(
            "{}: {problem}; it is left as it is and replaced at the next change",
            file.path().display()
        ));
    }
    if loaded.from_new {
        report.push(format!(
            "{}: the version written just before the last stop is used",
            file.path().display()
        ));
    }
    loaded.text
}

/// What a reload (SIGHUP) changed, for the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloaded {
    /// One line per file read again: what changed in it.
    pub lines: Vec<String>,
}

/// Read the flags' files again and put what they say in `access`, keeping what was there for a
/// file that cannot be read now (said in the returned lines). Connected users stay; who is an
/// operator follows the new list (the caller refreshes the connections).
pub fn reload(sources: &Sources, access: &mut Access) -> Reloaded {
    let mut lines = Vec::new();
    let mut list = |what: &str, path: &Option<PathBuf>, slot: &mut Option<KeyList>| {
        let Some(path) = path else {
            return;
        };
        match KeyList::load(path) {
            Ok(new) => {
                let changes = new.changes_from(slot.as_ref().unwrap_or(&KeyList::default()));
                lines.push(format!("{what} {}: {changes}", path.display()));
                *slot = Some(new);
            }
            Err(e) => lines.push(format!("{what} not reloaded, the old one stays: {e}")),
        }
    };
    list("allowlist", &sources.allow, &mut access.allow);
    list("operators", &sources.ops, &mut access.ops);
    if let Some(path) = &sources.password {
        match PasswordFile::load(path) {
            Ok(new) => {
                let changed = access.password.as_ref() != Some(&new.password);
                lines.push(format!(
                    "password {}: {}",
                    path.display(),
                    if changed { "changed" } else { "unchanged" }
                ));
                access.password = Some(new.password);
            }
            Err(e) => lines.push(format!("password not reloaded, the old one stays: {e}")),
        }
    }
    Reloaded { lines }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "SHA256:EomIL8NNTbB3jdrTzEWDxjbDmeo/2MbCpV8XzVKvyxs";
    const B: &str = "SHA256:LJYxuZa2D+V2uulRJWlFKoy1Z5+admL3iQ9d4AmgABk";

    #[test]
    fn unreadable_files_are_errors_at_start_and_kept_on_reload() {
        let dir = tempfile::tempdir().expect("tempdir");
        let allow = dir.path().join("allow");
        let pass = dir.path().join("pass");
        std::fs::write(&allow, format!("{A} ann\n")).expect("write");
        std::fs::write(&pass, "s3cret\n").expect("write");
        let sources = Sources {
            allow: Some(allow.clone()),
            ops: Some(dir.path().join("missing")),
            password: Some(pass.clone()),
        };
        let now = Instant::now();
        let err = Setup::load(sources.clone(), None, Names::Claimed, 90, now, 0)
            .expect_err("the ops file is missing");
        assert!(err.to_string().contains("missing"), "{err}");

        let sources = Sources {
            ops: None,
            ..sources
        };
        let mut setup = Setup::load(
            sources.clone(),
            Some(dir.path()),
            Names::Claimed,
            90,
            now,
            0,
        )
        .expect("loads");
        assert!(setup.access.allows(Some(&A.parse().expect("fp"))));
        assert!(!setup.access.allows(Some(&B.parse().expect("fp"))));
        assert!(setup
            .access
            .password
            .as_ref()
            .is_some_and(|p| p.matches("s3cret")));

        std::fs::write(&allow, format!("{B} bob\n")).expect("write");
        std::fs::write(&pass, "new\n").expect("write");
        let r = reload(&sources, &mut setup.access);
        assert_eq!(
            r.lines,
            [
                format!(
                    "allowlist {}: added {B} (bob); removed {A} (ann)",
                    allow.display()
                ),
                format!("password {}: changed", pass.display()),
            ]
        );
        assert!(setup.access.allows(Some(&B.parse().expect("fp"))));
        assert!(setup
            .access
            .password
            .as_ref()
            .is_some_and(|p| p.matches("new")));

        std::fs::remove_file(&allow).expect("rm");
        let r = reload(&sources, &mut setup.access);
        assert!(
            r.lines[0].starts_with("allowlist not reloaded, the old one stays"),
            "{r:?}"
        );
        assert!(
            setup.access.allows(Some(&B.parse().expect("fp"))),
            "the old list stays"
        );
    }
}
