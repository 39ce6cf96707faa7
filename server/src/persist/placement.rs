//! Where the server keeps its state, decided once at start from the flags and the environment,
//! and the one log line that says so.
//!
//! The state directory is the one the server's key lives in (`tls::state_dir` resolves it:
//! `--state-dir`, `$STATE_DIRECTORY`, `$XDG_STATE_HOME/lanchat`, `~/.local/state/lanchat`), also
//! for a `--plaintext` server, which has no key but whose history survives a restart all the
//! same.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::tls::state_dir;

use super::Store;

/// Where history and notes are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// In memory and in this state directory: a restart gets them back.
    Dir(PathBuf),
    /// In memory only: a restart forgets them.
    Memory(MemoryOnly),
}

/// Why nothing is written to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryOnly {
    /// `--no-persist`.
    NoPersist,
    /// No `--state-dir`, and none of the variables that name one is set.
    NoStateDir,
}

impl Placement {
    /// Where `config` says state goes, with variables read through `env` (tests pass a table).
    pub fn of(config: &Config, env: &dyn Fn(&str) -> Option<OsString>) -> Placement {
        if config.no_persist {
            return Placement::Memory(MemoryOnly::NoPersist);
        }
        match state_dir::resolve(config.state_dir.as_deref(), env) {
            Ok(dir) => Placement::Dir(dir),
            Err(_) => Placement::Memory(MemoryOnly::NoStateDir),
        }
    }

    /// [`Placement::of`] with the process's environment.
    pub fn from_env(config: &Config) -> Placement {
        Placement::of(config, &|name| std::env::var_os(name))
    }

    /// The store, keeping `history` entries per room, opened here at `now_ms` (what a previous
    /// run left is read back); logs one line saying what was loaded, or why nothing is kept
    /// on disk. Never fails: a directory that cannot be used is reported by the store's first
    /// tick, and retried.
    pub fn open(&self, history: usize, now_ms: u64) -> Store {
        match self {
            Placement::Dir(dir) => open_dir(dir, history, now_ms),
            Placement::Memory(why) => {
                match why {
                    MemoryOnly::NoPersist => log::info!(
                        "--no-persist: history and notes are kept in memory only; a restart \
                         forgets them"
                    ),
                    MemoryOnly::NoStateDir => log::warn!(
                        "cannot tell where to keep history (HOME is not set): it is kept in \
                         memory only and a restart forgets it; give --state-dir DIR or set \
                         LANCHAT_STATE_DIR"
                    ),
                }
                Store::in_memory(history)
            }
        }
    }
}

fn open_dir(dir: &Path, history: usize, now_ms: u64) -> Store {
    // Private to its owner, as for the key. A directory that cannot be created makes the store
    // fail from the start, which its first tick reports (once) and later ticks retry.
    let _ = state_dir::create(dir);
    let (store, report) = Store::open(dir, history, now_ms);
    report.log(dir);
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_state_goes() {
        let home = |name: &str| (name == "HOME").then(|| OsString::from("/home/ann"));
        let nothing = |_: &str| None;
        let flag = Config {
            state_dir: Some("/srv/chat".into()),
            ..Config::default()
        };
        let off = Config {
            no_persist: true,
            ..flag.clone()
        };
        let plain = Config {
            plaintext: true,
            ..Config::default()
        };
        type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;
        let cases: [(&Config, Env, Placement); 5] = [
            (&flag, &nothing, Placement::Dir("/srv/chat".into())),
            (
                &plain,
                &home,
                Placement::Dir("/home/ann/.local/state/lanchat".into()),
            ),
            (&off, &home, Placement::Memory(MemoryOnly::NoPersist)),
            (
                &Config::default(),
                &nothing,
                Placement::Memory(MemoryOnly::NoStateDir),
            ),
            (
                &Config {
                    history: 0,
                    ..flag.clone()
                },
                &nothing,
                Placement::Dir("/srv/chat".into()),
            ),
        ];
        for (config, env, want) in cases {
            assert_eq!(Placement::of(config, env), want, "{config:?}");
        }
    }

    #[test]
    fn a_directory_is_made_private_and_memory_writes_nothing() {
        use std::os::unix::fs::PermissionsExt as _;
        let base = tempfile::tempdir().expect("temporary directory");
        let dir = base.path().join("state");
        let mut store = Placement::Dir(dir.clone()).open(5, 1);
        store.append("#general", 1, b"MSG ann hi\n");
        let mode = std::fs::metadata(&dir).expect("made").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        assert!(dir.join("rooms/general.log").exists());

        let mut store = Placement::Memory(MemoryOnly::NoPersist).open(5, 1);
        store.append("#general", 1, b"MSG ann hi\n");
        assert_eq!(store.history("#general").count(), 1);
    }
}
