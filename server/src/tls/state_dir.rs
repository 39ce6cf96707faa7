//! Where the server keeps its own files (its key and certificate): resolving the directory from
//! the flag and the environment, and creating it private to its owner.

use std::ffi::{OsStr, OsString};
use std::fs::DirBuilder;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use super::error::{Action, TlsError};

/// The state directory: `flag` (`--state-dir` / `LANCHAT_STATE_DIR`) when given; else the
/// first entry of `$STATE_DIRECTORY` (systemd's `StateDirectory=`); else
/// `$XDG_STATE_HOME/lanchat`; else `$HOME/.local/state/lanchat`. `env` reads a variable, so
/// tests can pass a table. Empty variables count as unset; a relative `XDG_STATE_HOME` is
/// ignored, as the XDG spec says.
///
/// # Errors
/// [`TlsError::NoStateDir`] when there is no flag and none of the variables helps.
pub fn resolve(
    flag: Option<&Path>,
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Result<PathBuf, TlsError> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    if let Some(systemd) = var("STATE_DIRECTORY") {
        // systemd joins several directories with ':'; the first is the unit's own.
        let first = systemd.as_bytes().split(|&b| b == b':').next();
        if let Some(first) = first.filter(|f| !f.is_empty()) {
            return Ok(PathBuf::from(OsStr::from_bytes(first)));
        }
    }
    if let Some(xdg) = var("XDG_STATE_HOME").map(PathBuf::from) {
        if xdg.is_absolute() {
            return Ok(xdg.join("lanchat"));
        }
    }
    if let Some(home) = var("HOME") {
        return Ok(PathBuf::from(home).join(".local/state/lanchat"));
    }
    Err(TlsError::NoStateDir)
}

/// [`resolve`] with the process's environment.
///
/// # Errors
/// As [`resolve`].
pub fn resolve_from_env(flag: Option<&Path>) -> Result<PathBuf, TlsError> {
    resolve(flag, &|name| std::env::var_os(name))
}

/// Create `dir` (and missing parents) with mode 0700, so only its owner can list or enter it.
/// An existing directory is left as it is: its mode is the operator's choice.
///
/// # Errors
/// The OS's, with the path.
pub fn create(dir: &Path) -> Result<(), TlsError> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| TlsError::io(Action::CreateDir, dir, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn resolution_order() {
        let all = [
            ("STATE_DIRECTORY", "/var/lib/lanchat:/var/lib/other"),
            ("XDG_STATE_HOME", "/home/ann/.state"),
            ("HOME", "/home/ann"),
        ];
        type Vars<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Option<&str>, Vars, Option<&str>)] = &[
            (Some("/srv/chat"), &all, Some("/srv/chat")),
            (None, &all, Some("/var/lib/lanchat")),
            (None, &all[1..], Some("/home/ann/.state/lanchat")),
            (None, &all[2..], Some("/home/ann/.local/state/lanchat")),
            (
                None,
                &[("STATE_DIRECTORY", ""), ("HOME", "/home/ann")],
                Some("/home/ann/.local/state/lanchat"),
            ),
            (
                None,
                &[("XDG_STATE_HOME", "relative/state"), ("HOME", "/h")],
                Some("/h/.local/state/lanchat"),
            ),
            (None, &[], None),
            (None, &[("HOME", "")], None),
        ];
        for (flag, vars, want) in cases {
            let got = resolve(flag.map(Path::new), &env_of(vars)).ok();
            assert_eq!(got, want.map(PathBuf::from), "{flag:?} {vars:?}");
        }
    }

    #[test]
    fn created_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt as _;
        let base = tempfile::tempdir().expect("temporary directory");
        let dir = base.path().join("a/b");
        create(&dir).expect("create");
        for d in [&dir, &base.path().join("a")] {
            let mode = std::fs::metadata(d).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}: {mode:o}", d.display());
        }
        create(&dir).expect("an existing directory is fine");
    }
}
