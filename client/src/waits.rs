//! The client's fixed waits: for the server's answer to a quit, for discovery replies, and for
//! a word from the server between its greeting and the name. The defaults are what a user gets;
//! tests of the built binary shorten them through variables that are in no `--help`, so that
//! a server that never answers (or no server at all) costs a test a moment instead of seconds.

use std::time::Duration;

/// Milliseconds to wait for the answer to a quit, instead of [`crate::session::QUIT_WAIT`].
pub const QUIT_VAR: &str = "LANCHAT_TEST_QUIT_WAIT_MS";
/// Milliseconds to listen for discovery replies, instead of
/// [`crate::discovery::DEFAULT_WAIT`].
pub const DISCOVERY_VAR: &str = "LANCHAT_TEST_DISCOVERY_WAIT_MS";
/// Milliseconds to look for a word after the greeting, instead of [`EARLY_WORD`].
pub const EARLY_WORD_VAR: &str = "LANCHAT_TEST_EARLY_WORD_MS";

/// How long the client looks for a word from the server (a password wanted, a ban) after its
/// greeting, before asking for the name: the server says it in the same breath as `HELLO`.
pub const EARLY_WORD: Duration = Duration::from_millis(200);

/// The waits one run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    /// After sending the quit, for the server's `BYE`.
    pub quit: Duration,
    /// For discovery replies.
    pub discovery: Duration,
    /// After the greeting, for a password request or a refusal before the name is asked.
    pub early_word: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            quit: crate::session::QUIT_WAIT,
            discovery: crate::discovery::DEFAULT_WAIT,
            early_word: EARLY_WORD,
        }
    }
}

impl Waits {
    /// The defaults, each replaced by its variable where that holds a number of milliseconds.
    pub fn from_env() -> Waits {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Waits::from_env`], the variables read through `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Waits {
        let or = |name: &str, default: Duration| {
            var(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(default, Duration::from_millis)
        };
        let default = Waits::default();
        Waits {
            quit: or(QUIT_VAR, default.quit),
            discovery: or(DISCOVERY_VAR, default.discovery),
            early_word: or(EARLY_WORD_VAR, default.early_word),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variable_replaces_its_wait_and_nothing_else() {
        assert_eq!(Waits::from_vars(|_| None), Waits::default());
        let w = Waits::from_vars(|name| (name == QUIT_VAR).then(|| "300".to_owned()));
        assert_eq!(
            w,
            Waits {
                quit: Duration::from_millis(300),
                ..Waits::default()
            }
        );
        let all = Waits::from_vars(|name| {
            Some(match name {
                DISCOVERY_VAR => "50".to_owned(),
                EARLY_WORD_VAR => " 5 ".to_owned(),
                _ => "not a number".to_owned(),
            })
        });
        assert_eq!(all.quit, Waits::default().quit);
        assert_eq!(all.discovery, Duration::from_millis(50));
        assert_eq!(all.early_word, Duration::from_millis(5));
    }
}
