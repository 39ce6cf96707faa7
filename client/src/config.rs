//! The client's config file, `$XDG_CONFIG_HOME/lanchat/config.toml` (or
//! `~/.config/lanchat/config.toml`): defaults that flags override, and the ignore list, which
//! `/ignore` and `/unignore` write back (keeping the rest of the file, comments included).
//!
//! ```toml
//! server = "192.168.1.20:7070"   # used when no ADDR is given
//! name = "ann"                   # used when no --name is given
//! color = true                   # false: as NO_COLOR
//! timestamps = true              # false: as --no-timestamps
//! iso_time = false               # true: as --iso-time
//! bell = true                    # false: as --no-bell
//! ignore = ["mallory"]           # whose messages are not shown
//! ```

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use toml_edit::{Array, DocumentMut, Item, Value};

/// Why the config file could not be used.
#[derive(Debug)]
pub enum ConfigError {
    /// It could not be read or written.
    Io {
        /// Which file.
        path: PathBuf,
        /// What failed.
        err: io::Error,
    },
    /// It is not valid TOML, or a key has the wrong type.
    Invalid {
        /// Which file.
        path: PathBuf,
        /// What is wrong, in words.
        why: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Io { path, err } => write!(f, "{}: {err}", path.display()),
            ConfigError::Invalid { path, why } => write!(f, "{}: {why}", path.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// What the config file says; `None` where it says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// The server to join when no address is given.
    pub server: Option<String>,
    /// The name to offer when none is given.
    pub name: Option<String>,
    /// Colours on (`false`: as `NO_COLOR`).
    pub color: Option<bool>,
    /// Timestamps on.
    pub timestamps: Option<bool>,
    /// ISO dates.
    pub iso_time: Option<bool>,
    /// The bell on.
    pub bell: Option<bool>,
    /// Names whose messages are not shown.
    pub ignore: Vec<String>,
}

/// Where the config file is: `$XDG_CONFIG_HOME/lanchat/config.toml`, else
/// `$HOME/.config/lanchat/config.toml`; `None` with neither variable set.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("lanchat").join("config.toml"))
}

impl Config {
    /// Parse the text of a config file (`path` is for messages).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for bad TOML or a key of the wrong type.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let invalid = |why: String| ConfigError::Invalid {
            path: path.to_owned(),
            why,
        };
        let doc: DocumentMut = text.parse().map_err(|e| invalid(format!("{e}")))?;
        let string = |key: &str| match doc.get(key) {
            None => Ok(None),
            Some(item) => item
                .as_str()
                .map(|s| Some(s.to_owned()))
                .ok_or_else(|| invalid(format!("{key} must be a string"))),
        };
        let boolean = |key: &str| match doc.get(key) {
            None => Ok(None),
            Some(item) => item
                .as_bool()
                .map(Some)
                .ok_or_else(|| invalid(format!("{key} must be true or false"))),
        };
        let ignore = match doc.get("ignore") {
            None => Vec::new(),
            Some(item) => item
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .map(|v| v.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                })
                .ok_or_else(|| invalid("ignore must be a list of names".into()))?,
        };
        Ok(Config {
            server: string("server")?,
            name: string("name")?,
            color: boolean("color")?,
            timestamps: boolean("timestamps")?,
            iso_time: boolean("iso_time")?,
            bell: boolean("bell")?,
            ignore,
        })
    }

    /// Read the file at `path`; a file that does not exist is an empty config.
    ///
    /// # Errors
    /// The file cannot be read, or is not a valid config.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match fs::read_to_string(path) {
            Ok(text) => Config::parse(&text, path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Config::default()),
            Err(err) => Err(ConfigError::Io {
                path: path.to_owned(),
                err,
            }),
        }
    }
}

/// Write `ignore` into the config file at `path` (created if missing), keeping everything else
/// in it as it was.
///
/// # Errors
/// The file cannot be read, parsed or written.
pub fn save_ignore(path: &Path, ignore: &[String]) -> Result<(), ConfigError> {
    let io_err = |err| ConfigError::Io {
        path: path.to_owned(),
        err,
    };
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(io_err(e)),
    };
    let mut doc: DocumentMut = text.parse().map_err(|e| ConfigError::Invalid {
        path: path.to_owned(),
        why: format!("{e}"),
    })?;
    let list: Array = ignore.iter().map(|n| Value::from(n.as_str())).collect();
    doc["ignore"] = Item::Value(Value::Array(list));
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err)?;
    }
    fs::write(path, doc.to_string()).map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_read_and_wrong_types_said() {
        let p = Path::new("config.toml");
        let c = Config::parse(
            "server = \"chatbox:7071\"\nname = \"ann\"\ncolor = false\ntimestamps = false\n\
             iso_time = true\nbell = false\nignore = [\"mallory\", \"eve\"]\n",
            p,
        )
        .unwrap();
        assert_eq!(
            c,
            Config {
                server: Some("chatbox:7071".into()),
                name: Some("ann".into()),
                color: Some(false),
                timestamps: Some(false),
                iso_time: Some(true),
                bell: Some(false),
                ignore: vec!["mallory".into(), "eve".into()],
            }
        );
        assert_eq!(Config::parse("", p).unwrap(), Config::default());
        for (bad, says) in [
            ("bell = \"yes\"", "bell must be true or false"),
            ("name = 3", "name must be a string"),
            ("ignore = \"bob\"", "ignore must be a list of names"),
        ] {
            let e = Config::parse(bad, p).unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
        assert!(Config::parse("name = ", p).is_err());
    }

    #[test]
    fn the_ignore_list_is_written_back_keeping_the_rest() {
        let dir = std::env::temp_dir().join(format!("lanchat-config-{}", std::process::id()));
        let path = dir.join("lanchat").join("config.toml");
        save_ignore(&path, &["bob".into()]).unwrap();
        assert_eq!(Config::load(&path).unwrap().ignore, ["bob"]);
        fs::write(&path, "# mine\nname = \"ann\" # me\nignore = []\n").unwrap();
        save_ignore(&path, &["eve".into(), "bob".into()]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("# mine") && text.contains("# me"), "{text}");
        let c = Config::load(&path).unwrap();
        assert_eq!(
            (c.name.as_deref(), c.ignore),
            (Some("ann"), vec!["eve".into(), "bob".into()])
        );
        assert_eq!(
            Config::load(&dir.join("none.toml")).unwrap(),
            Config::default()
        );
        let _ = fs::remove_dir_all(&dir);
    }
}
