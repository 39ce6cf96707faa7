//! `RUST_LOG`: the usual directive syntax (`info`, `info,mio=warn`,
//! `info,lanchat_server::join=off`, `debug/text`), parsed by `env_filter`, and a plain account
//! of every part that was not understood, for the server to say at start.
//!
//! One rule beyond `env_filter`'s: a bare word that is not a level must name a log target of
//! this server. `env_filter` takes any bare word for a target to log in full, so a misspelt
//! level (`RUST_LOG=warning`) would log that non-existent target alone: nothing at all.

use std::ffi::OsStr;
use std::fmt;

use env_filter::{Builder, Filter};
use log::LevelFilter;

/// The roots of every log target in the server: its own modules and kinds, and the
/// dependencies that log. A bare word must be one of these, a path under one, or a prefix.
pub const TARGETS: [&str; 2] = ["lanchat_server", "mio"];

/// The level when `RUST_LOG` is unset, empty, or names no level that was understood.
pub const DEFAULT: LevelFilter = LevelFilter::Info;

/// A part of `RUST_LOG` that was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The value is not UTF-8.
    NotUnicode,
    /// Not a directive: e.g. `lanchat_server=verbose`, `a=b=c`, a second `/`.
    Invalid(String),
    /// A bare word that is neither a level nor a target of this server (`warning`).
    NotALevel(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotUnicode => f.write_str("the value is not UTF-8"),
            Problem::Invalid(part) => write!(
                f,
                "{part:?} is not a directive (LEVEL, TARGET=LEVEL or TARGET, then at most one /TEXT)"
            ),
            Problem::NotALevel(word) => write!(
                f,
                "{word:?} is neither a level (off, error, warn, info, debug, trace) nor a log \
                 target here ({})",
                TARGETS.join(", ")
            ),
        }
    }
}

/// A parsed `RUST_LOG`.
#[derive(Debug)]
pub struct Spec {
    /// What is logged.
    pub filter: Filter,
    /// What was ignored, in order.
    pub problems: Vec<Problem>,
    /// The value as given, for the warning.
    value: String,
    /// No directive was understood, so [`DEFAULT`] applies.
    fell_back: bool,
}

impl Spec {
    /// The `RUST_LOG` value `value` (`None`: unset).
    pub fn parse(value: Option<&OsStr>) -> Spec {
        let mut spec = Spec {
            filter: Builder::new().filter_level(DEFAULT).build(),
            problems: Vec::new(),
            value: value
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_default(),
            fell_back: true,
        };
        let Some(value) = value else {
            return spec;
        };
        let Some(text) = value.to_str() else {
            spec.problems.push(Problem::NotUnicode);
            return spec;
        };
        let (directives, text_filter) = match text.split_once('/') {
            Some((d, t)) => (d, Some(t)),
            None => (text, None),
        };
        let mut kept = Vec::new();
        // `env_filter` trims a level but not a target: `mio = warn` would name `mio `.
        let parts = directives
            .split(',')
            .map(|p| p.split('=').map(str::trim).collect::<Vec<_>>().join("="));
        let parts: Vec<String> = parts.filter(|p| !p.is_empty()).collect();
        for part in &parts {
            let part = part.as_str();
            if Builder::new().try_parse(part).is_err() {
                spec.problems.push(Problem::Invalid(part.to_owned()));
            } else if !part.contains('=')
                && part.parse::<LevelFilter>().is_err()
                && !names_a_target(part)
            {
                spec.problems.push(Problem::NotALevel(part.to_owned()));
            } else {
                kept.push(part);
            }
        }
        let mut understood = kept.join(",");
        if let Some(t) = text_filter {
            let with_filter = format!("{understood}/{t}");
            if Builder::new().try_parse(&with_filter).is_ok() {
                understood = with_filter;
            } else {
                spec.problems.push(Problem::Invalid(format!("/{t}")));
            }
        }
        let mut builder = Builder::new();
        spec.fell_back = kept.is_empty();
        if spec.fell_back {
            builder.filter_level(DEFAULT);
        }
        // Every part was checked alone above, so the whole parses.
        if builder.try_parse(&understood).is_ok() {
            spec.filter = builder.build();
        }
        spec
    }

    /// The line to log at start when something was not understood.
    pub fn warning(&self) -> Option<String> {
        if self.problems.is_empty() {
            return None;
        }
        let problems: Vec<String> = self.problems.iter().map(Problem::to_string).collect();
        let outcome = if self.fell_back {
            format!("logging at {}", DEFAULT.as_str().to_ascii_lowercase())
        } else {
            "the rest applies".to_owned()
        };
        Some(format!(
            "RUST_LOG={:?} not understood: {}; {outcome}",
            self.value,
            problems.join("; ")
        ))
    }
}

/// Is `word` a target (or a prefix of one) this server logs under?
fn names_a_target(word: &str) -> bool {
    TARGETS.iter().any(|root| {
        root.starts_with(word)
            || word
                .strip_prefix(root)
                .is_some_and(|rest| rest.starts_with("::"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::{Level, Metadata};

    fn enabled(spec: &Spec, target: &str, level: Level) -> bool {
        spec.filter
            .enabled(&Metadata::builder().target(target).level(level).build())
    }

    fn parse(s: &str) -> Spec {
        Spec::parse(Some(OsStr::new(s)))
    }

    #[test]
    fn directives() {
        use Level::*;
        // (RUST_LOG, target, level, logged?)
        for (value, target, level, want) in [
            ("", "lanchat_server::room", Info, true),
            ("", "lanchat_server::room", Debug, false),
            ("debug", "lanchat_server::event_loop", Debug, true),
            ("warn", "lanchat_server::room", Info, false),
            ("info,mio=warn", "lanchat_server::room", Info, true),
            ("info,mio=warn", "mio::poll", Info, false),
            ("info,mio=warn", "mio::poll", Warn, true),
            (
                "info,lanchat_server::join=off",
                "lanchat_server::join",
                Error,
                false,
            ),
            (
                "info,lanchat_server::join=off",
                "lanchat_server::leave",
                Info,
                true,
            ),
            ("lanchat_server=debug", "lanchat_server::join", Debug, true),
            ("lanchat_server=debug", "mio::poll", Error, false),
            ("lanchat_server", "lanchat_server::room", Trace, true),
            ("OFF", "lanchat_server::room", Error, false),
            (" info , mio = warn ", "mio::poll", Info, false),
            ("garbage", "lanchat_server::room", Info, true),
            ("garbage", "lanchat_server::room", Debug, false),
            ("warning,mio=debug", "lanchat_server::room", Error, false),
            ("warning,mio=debug", "mio::poll", Debug, true),
            ("lanchat_server=verbose", "lanchat_server::room", Info, true),
        ] {
            assert_eq!(
                enabled(&parse(value), target, level),
                want,
                "RUST_LOG={value:?}: {target} at {level}"
            );
        }
        let unset = Spec::parse(None);
        assert!(enabled(&unset, "lanchat_server::room", Info));
        assert!(!enabled(&unset, "lanchat_server::room", Debug));
        assert_eq!(unset.warning(), None);
    }

    #[test]
    fn what_is_not_understood_is_said() {
        for (value, want) in [
            ("info", None),
            ("info,mio=warn", None),
            ("lanchat_server::room=debug,info", None),
            ("lanchat", None),
            ("", None),
            (
                "garbage",
                Some(
                    "RUST_LOG=\"garbage\" not understood: \"garbage\" is neither a level (off, \
                     error, warn, info, debug, trace) nor a log target here (lanchat_server, \
                     mio); logging at info",
                ),
            ),
            (
                "debug,lanchat_server=verbose",
                Some(
                    "RUST_LOG=\"debug,lanchat_server=verbose\" not understood: \
                     \"lanchat_server=verbose\" is not a directive (LEVEL, TARGET=LEVEL or \
                     TARGET, then at most one /TEXT); the rest applies",
                ),
            ),
        ] {
            assert_eq!(parse(value).warning().as_deref(), want, "{value:?}");
        }
        assert_eq!(
            parse("info/a/b").problems,
            [Problem::Invalid("/a/b".into())]
        );
        assert_eq!(
            parse("warning,lanchat_serverx").problems,
            [
                Problem::NotALevel("warning".into()),
                Problem::NotALevel("lanchat_serverx".into())
            ]
        );
    }

    #[test]
    fn a_value_that_is_not_utf8_means_the_default() {
        use std::os::unix::ffi::OsStrExt;
        let spec = Spec::parse(Some(OsStr::from_bytes(b"de\xffbug")));
        assert_eq!(spec.problems, [Problem::NotUnicode]);
        assert!(enabled(&spec, "lanchat_server::room", Level::Info));
        assert!(!enabled(&spec, "lanchat_server::room", Level::Debug));
    }

    #[test]
    fn a_text_filter_keeps_only_lines_containing_it() {
        let spec = parse("info/joined");
        assert!(spec.problems.is_empty());
        let record = |msg| {
            let ok = spec.filter.matches(
                &log::Record::builder()
                    .target("lanchat_server::room")
                    .level(Level::Info)
                    .args(format_args!("{msg}"))
                    .build(),
            );
            ok
        };
        assert!(record("#3 joined as ann"));
        assert!(!record("#3 ann left (quit)"));
    }
}
