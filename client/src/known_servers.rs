//! The servers this user trusts, and trust on first use: the `known_servers` file (one line per
//! server, `<host>:<port> SHA256:<...>`), and the decision to go on, ask, or refuse when a
//! server presents its key, with the words the user sees for each.
//!
//! As SSH does with `known_hosts`: a server met for the first time is asked about on a
//! terminal and refused without one (unless `--accept-new` or `--trust SHA256:...`); a
//! remembered server must present the remembered key, else the client refuses loudly (exit 4),
//! and only `--trust` with the new fingerprint overrides that. No IO but [`KnownServers::load`]
//! and [`remember_in`]; the decision is pure.

use std::ffi::OsString;
use std::fmt;
use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use lanchat_proto::Fingerprint;

use crate::addr::ServerAddr;

/// Exit code when the client refuses a server it cannot trust (first contact without a way on,
/// or the user said no).
pub const EXIT_NOT_TRUSTED: u8 = 1;

/// Exit code when the server's key is not the one expected: changed since it was remembered, or
/// not the one given with `--trust`.
pub const EXIT_KEY_CHANGED: u8 = 4;

/// The question asked on first contact on a terminal (after [`first_contact_text`]).
pub const TRUST_QUESTION: &str = "Trust this server? [y/N] ";

/// The file's name inside `$XDG_CONFIG_HOME/lanchat/`.
pub const FILE_NAME: &str = "known_servers";

/// The default file: `$XDG_CONFIG_HOME/lanchat/known_servers`, else
/// `$HOME/.config/lanchat/known_servers`; `None` when neither variable helps (then the client
/// needs `--known-servers FILE`). `env` reads a variable, so tests can pass a table; empty and
/// relative `XDG_CONFIG_HOME` are ignored, as the XDG spec says.
pub fn default_path(env: &dyn Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let config = var("XDG_CONFIG_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| var("HOME").map(|home| home.join(".config")))?;
    Some(config.join("lanchat").join(FILE_NAME))
}

/// [`default_path`] with the process's environment.
pub fn default_path_from_env() -> Option<PathBuf> {
    default_path(&|name| std::env::var_os(name))
}

/// What a server is remembered by: `<host>:<port>` with the host as typed, in lower case,
/// an IPv6 address in brackets (`chatbox:7070`, `192.168.1.20:7070`, `[fe80::1]:7070`).
pub fn host_key(addr: &ServerAddr) -> String {
    addr.to_string().to_lowercase()
}

/// The file could not be read or written.
#[derive(Debug)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// Reading (`false`) or writing (`true`).
    pub writing: bool,
    /// The OS's error.
    pub source: io::Error,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.writing { "write" } else { "read" };
        write!(f, "cannot {what} {}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for FileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// One line of the file, kept as it was so rewriting the file loses nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// `<host>:<port> SHA256:<...>` (host folded to lower case when read).
    Entry {
        host: String,
        fingerprint: Fingerprint,
        text: String,
    },
    /// A comment, a blank line, or a line this client does not understand: kept, ignored.
    Other(String),
}

/// The `known_servers` file, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownServers {
    lines: Vec<Line>,
}

/// What the file says about a server and the key it presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Not in the file.
    Unknown,
    /// In the file with this key.
    Match,
    /// In the file with another key.
    Changed {
        /// The (first) remembered fingerprint.
        remembered: Fingerprint,
        /// Its line number, from 1.
        line_no: usize,
        /// That line, as written.
        line: String,
    },
}

impl KnownServers {
    /// Read the file's text. Lines that are not `<host>:<port> SHA256:<...>` are kept but
    /// ignored.
    pub fn parse(text: &str) -> KnownServers {
        let lines = text
            .lines()
            .map(|raw| {
                let mut fields = raw.split_whitespace();
                match (fields.next(), fields.next(), fields.next()) {
                    (Some(host), Some(fp), None) if !host.starts_with('#') => match fp.parse() {
                        Ok(fingerprint) => Line::Entry {
                            host: host.to_lowercase(),
                            fingerprint,
                            text: raw.to_owned(),
                        },
                        Err(_) => Line::Other(raw.to_owned()),
                    },
                    _ => Line::Other(raw.to_owned()),
                }
            })
            .collect();
        KnownServers { lines }
    }

    /// Read `path`; a file that does not exist yet is empty.
    ///
    /// # Errors
    /// The OS's, other than "not found".
    pub fn load(path: &Path) -> Result<KnownServers, FileError> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(KnownServers::parse(&String::from_utf8_lossy(&bytes))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(KnownServers::default()),
            Err(source) => Err(FileError {
                path: path.to_path_buf(),
                writing: false,
                source,
            }),
        }
    }

    fn entries<'a>(&'a self, host: &'a str) -> impl Iterator<Item = (usize, &'a Line)> + 'a {
        self.lines
            .iter()
            .enumerate()
            .filter(move |(_, l)| matches!(l, Line::Entry { host: h, .. } if *h == host))
    }

    /// The fingerprint remembered for `host` (a [`host_key`]), the first if several are.
    pub fn remembered(&self, host: &str) -> Option<Fingerprint> {
        self.entries(&host.to_lowercase())
            .find_map(|(_, l)| match l {
                Line::Entry { fingerprint, .. } => Some(*fingerprint),
                Line::Other(_) => None,
            })
    }

    /// What the file says about `host` (a [`host_key`]) presenting `presented`: any of its
    /// lines matching is a match (as in `known_hosts`, a host may be listed more than once).
    pub fn lookup(&self, host: &str, presented: &Fingerprint) -> Lookup {
        let host = host.to_lowercase();
        let mut first = None;
        for (i, line) in self.entries(&host) {
            if let Line::Entry {
                fingerprint, text, ..
            } = line
            {
                if fingerprint == presented {
                    return Lookup::Match;
                }
                first.get_or_insert((i, *fingerprint, text.clone()));
            }
        }
        match first {
            None => Lookup::Unknown,
            Some((i, remembered, line)) => Lookup::Changed {
                remembered,
                line_no: i + 1,
                line,
            },
        }
    }

    /// Remember `fingerprint` for `host` (a [`host_key`]), replacing what was remembered for it.
    pub fn remember(&mut self, host: &str, fingerprint: Fingerprint) {
        let host = host.to_lowercase();
        self.lines
            .retain(|l| !matches!(l, Line::Entry { host: h, .. } if *h == host));
        let text = format!("{host} {fingerprint}");
        self.lines.push(Line::Entry {
            host,
            fingerprint,
            text,
        });
    }

    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            match line {
                Line::Entry { text, .. } | Line::Other(text) => out.push_str(text),
            }
            out.push('\n');
        }
        out
    }

    /// Write the file atomically: a complete temporary file beside it, renamed over it. Creates
    /// the directory (mode 0700) if needed.
    ///
    /// # Errors
    /// The OS's.
    pub fn save(&self, path: &Path) -> Result<(), FileError> {
        let err = |source| FileError {
            path: path.to_path_buf(),
            writing: true,
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(err)?;
        }
        let tmp =
            crate::atomic::synced_temp(path, self.to_text().as_bytes(), 0o644).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(e)
        })
    }

    /// Decide what to do about `contact` (see [`Decision`]). Pure: the caller asks, writes
    /// and exits.
    pub fn decide(&self, contact: &Contact<'_>, flags: &TrustFlags, ui: Ui) -> Decision {
        let lookup = self.lookup(contact.host, &contact.presented);
        if let Some(expected) = flags.trust {
            return if expected == contact.presented {
                match lookup {
                    Lookup::Match => Decision::Go,
                    _ => Decision::GoAndRemember,
                }
            } else {
                Decision::Refuse(Refusal::NotTheTrustedKey {
                    host: contact.host.to_owned(),
                    expected,
                    presented: contact.presented,
                })
            };
        }
        match lookup {
            Lookup::Match => Decision::Go,
            Lookup::Changed {
                remembered,
                line_no,
                line,
            } => Decision::Refuse(Refusal::Changed {
                host: contact.host.to_owned(),
                remembered,
                presented: contact.presented,
                file: contact.file.to_path_buf(),
                line_no,
                line,
            }),
            Lookup::Unknown => match flags.joined {
                Some(joined) if joined == contact.presented => Decision::Go,
                Some(joined) => Decision::Refuse(Refusal::ChangedSinceJoined {
                    host: contact.host.to_owned(),
                    joined,
                    presented: contact.presented,
                }),
                None => Self::first_contact(contact, flags, ui),
            },
        }
    }

    /// A server met for the first time: `--accept-new`, else ask on a terminal, else refuse.
    fn first_contact(contact: &Contact<'_>, flags: &TrustFlags, ui: Ui) -> Decision {
        match ui {
            _ if flags.accept_new => Decision::GoAndRemember,
            Ui::Terminal => Decision::Ask,
            Ui::NoTerminal => Decision::Refuse(Refusal::FirstContact {
                host: contact.host.to_owned(),
                presented: contact.presented,
            }),
        }
    }
}

/// A server presenting its key: what [`KnownServers::decide`] judges.
#[derive(Debug, Clone, Copy)]
pub struct Contact<'a> {
    /// The server as remembered ([`host_key`]).
    pub host: &'a str,
    /// The fingerprint of the key it presented in the TLS handshake.
    pub presented: Fingerprint,
    /// The known_servers file (named in the changed-key message).
    pub file: &'a Path,
}

/// The flags that can let a client go on without asking.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrustFlags {
    /// `--accept-new`: remember whatever key a server met for the first time presents (never
    /// overrides a changed key).
    pub accept_new: bool,
    /// `--trust SHA256:...`: go on only if the server presents exactly this key, then remember
    /// it (the one override of a changed key).
    pub trust: Option<Fingerprint>,
    /// The key this run has trusted already, when it connects again after losing the server:
    /// a server known_servers does not list (the key could not be remembered) goes on only
    /// with this key, without asking; any other is refused as changed.
    pub joined: Option<Fingerprint>,
}

/// Whether the user can be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ui {
    /// stdin and stdout are a terminal.
    Terminal,
    /// They are not (a script, a pipe).
    NoTerminal,
}

/// What to do about a server's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Known with this key: go on, nothing to write.
    Go,
    /// Go on and remember the key ([`remember_in`]): `--accept-new` on first contact, or the
    /// key given with `--trust`.
    GoAndRemember,
    /// First contact on a terminal: show [`first_contact_text`], ask [`TRUST_QUESTION`]; if
    /// [`is_yes`], remember and go on, else exit [`EXIT_NOT_TRUSTED`] with [`SAID_NO`].
    Ask,
    /// Do not go on: print the refusal and exit with its [`Refusal::exit_code`].
    Refuse(Refusal),
}

/// Why the client will not go on. `Display` is the message for the user (several lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// First contact without a terminal and without `--accept-new` or `--trust`.
    FirstContact {
        /// The server ([`host_key`]).
        host: String,
        /// Its key's fingerprint.
        presented: Fingerprint,
    },
    /// The server's key is not the one remembered.
    Changed {
        /// The server ([`host_key`]).
        host: String,
        /// The remembered fingerprint.
        remembered: Fingerprint,
        /// The presented one.
        presented: Fingerprint,
        /// The known_servers file.
        file: PathBuf,
        /// The line to delete if the change is expected, from 1.
        line_no: usize,
        /// That line.
        line: String,
    },
    /// Connecting again after the server was lost, it presented another key than the one this
    /// run joined with (and known_servers does not list the server).
    ChangedSinceJoined {
        /// The server ([`host_key`]).
        host: String,
        /// The fingerprint the run joined with.
        joined: Fingerprint,
        /// The presented one.
        presented: Fingerprint,
    },
    /// `--trust` named another key than the one presented.
    NotTheTrustedKey {
        /// The server ([`host_key`]).
        host: String,
        /// The fingerprint given with `--trust`.
        expected: Fingerprint,
        /// The presented one.
        presented: Fingerprint,
    },
}

impl Refusal {
    /// The exit code: [`EXIT_KEY_CHANGED`] when a key was expected and another came,
    /// [`EXIT_NOT_TRUSTED`] on first contact.
    pub fn exit_code(&self) -> u8 {
        match self {
            Refusal::FirstContact { .. } => EXIT_NOT_TRUSTED,
            Refusal::Changed { .. }
            | Refusal::ChangedSinceJoined { .. }
            | Refusal::NotTheTrustedKey { .. } => EXIT_KEY_CHANGED,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::FirstContact { host, presented } => write!(
                f,
                "lanchat: {host} is a server you have not trusted before; its key fingerprint is\n\
                 \x20   {presented}\n\
                 There is no terminal to ask you on, so lanchat stops here; nothing was sent.\n\
                 To go on, run it again with one of:\n\
                 \x20 --trust SHA256:<fingerprint>  go on only if the server has exactly this key; \
                 get it from\n\
                 \x20                               whoever runs the server \
                 (`lanchat-server --fingerprint`)\n\
                 \x20 --accept-new                  trust whatever key the server has now, \
                 and remember it"
            ),
            Refusal::Changed {
                host,
                remembered,
                presented,
                file,
                line_no,
                line,
            } => {
                write_banner(f, host)?;
                write!(
                    f,
                    "\
                     Someone may be posing as this server to read what you write (a \
                     man-in-the-middle attack),\n\
                     or whoever runs it has replaced its key. lanchat stops here; nothing was \
                     sent.\n\
                     \x20 remembered: {remembered}\n\
                     \x20 presented:  {presented}\n\
                     If the change is expected (ask whoever runs the server to confirm the new \
                     fingerprint\n\
                     with `lanchat-server --fingerprint`), delete line {line_no} of {file}:\n\
                     \x20 {line}\n\
                     or, once it is confirmed, connect with --trust <the new fingerprint>.",
                    file = file.display()
                )
            }
            Refusal::ChangedSinceJoined {
                host,
                joined,
                presented,
            } => {
                write_banner(f, host)?;
                write!(
                    f,
                    "It changed while you were connected: joining again after the server was \
                     lost, it\n\
                     presented another key than the one this session trusted. Someone may be \
                     posing as\n\
                     this server to read what you write (a man-in-the-middle attack), or whoever \
                     runs it\n\
                     has replaced its key. lanchat stops here; nothing more was sent.\n\
                     \x20 trusted:   {joined}\n\
                     \x20 presented: {presented}\n\
                     If the change is expected (ask whoever runs the server to confirm the new \
                     fingerprint\n\
                     with `lanchat-server --fingerprint`), connect with --trust <the new \
                     fingerprint>."
                )
            }
            Refusal::NotTheTrustedKey {
                host,
                expected,
                presented,
            } => write!(
                f,
                "lanchat: {host} presented the key\n\
                 \x20   {presented}\n\
                 not the one given with --trust:\n\
                 \x20   {expected}\n\
                 Someone may be posing as this server, or the fingerprint was mistyped.\n\
                 lanchat stops here; nothing was sent."
            ),
        }
    }
}

/// The first three lines of a changed key's warning, as ssh draws them.
fn write_banner(f: &mut fmt::Formatter<'_>, host: &str) -> fmt::Result {
    let title = format!("@  WARNING: THE KEY OF SERVER {host} HAS CHANGED!  @");
    let bar = "@".repeat(title.chars().count());
    writeln!(f, "{bar}\n{title}\n{bar}")
}

/// What a terminal user sees on first contact, before [`TRUST_QUESTION`].
pub fn first_contact_text(host: &str, presented: &Fingerprint) -> String {
    format!(
        "You have not connected to {host} before. Its key fingerprint is\n\
         \x20   {presented}\n\
         Compare it with what `lanchat-server --fingerprint` prints on the server (ask whoever \
         runs it).\n\
         The same: nobody is in between. Different: someone may be posing as the server; say no."
    )
}

/// Printed when the user does not say yes to [`TRUST_QUESTION`] (then exit
/// [`EXIT_NOT_TRUSTED`]).
pub const SAID_NO: &str = "lanchat: not trusted; nothing was sent.";

/// Whether an answer to [`TRUST_QUESTION`] is yes: `y` or `yes`, any case. Anything else,
/// an empty line included, is no.
pub fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
}

/// Remember `fingerprint` for `host` in the file at `path`: read it afresh (another lanchat may
/// have written it since it was loaded), replace the host's line, write it atomically.
///
/// # Errors
/// The OS's. The connection is trusted all the same; the caller says the key could not be
/// remembered and goes on (as ssh does).
pub fn remember_in(path: &Path, host: &str, fingerprint: Fingerprint) -> Result<(), FileError> {
    let mut known = KnownServers::load(path)?;
    known.remember(host, fingerprint);
    known.save(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(b: u8) -> Fingerprint {
        Fingerprint::from_digest([b; 32])
    }

    fn addr(s: &str) -> ServerAddr {
        ServerAddr::parse(s).expect("address")
    }

    #[test]
    fn host_keys_are_as_typed_lower_case_with_ipv6_in_brackets() {
        for (typed, key) in [
            ("ChatBox", "chatbox:7070"),
            ("chatbox:7071", "chatbox:7071"),
            ("192.168.1.20", "192.168.1.20:7070"),
            ("FE80::1", "[fe80::1]:7070"),
            ("[fe80::1]:7071", "[fe80::1]:7071"),
            ("chat.example.ORG", "chat.example.org:7070"),
        ] {
            assert_eq!(host_key(&addr(typed)), key, "{typed}");
        }
    }

    #[test]
    fn default_path_table() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            }
        };
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(
            default_path(&env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")])),
            p("/x/lanchat/known_servers")
        );
        assert_eq!(
            default_path(&env(&[("HOME", "/h")])),
            p("/h/.config/lanchat/known_servers")
        );
        assert_eq!(
            default_path(&env(&[("XDG_CONFIG_HOME", "rel"), ("HOME", "/h")])),
            p("/h/.config/lanchat/known_servers")
        );
        assert_eq!(default_path(&env(&[("XDG_CONFIG_HOME", "")])), None);
        assert_eq!(default_path(&env(&[])), None);
    }

    #[test]
    fn the_file_reads_and_writes_back_everything() {
        let text = format!(
            "# my servers\n\
             chatbox:7070 {a}\n\
             \n\
             ChatBox:7071  {b}\n\
             broken line\n\
             other:7070 SHA256:nope\n",
            a = fp(1),
            b = fp(2)
        );
        let known = KnownServers::parse(&text);
        assert_eq!(known.to_text(), text, "nothing lost");
        assert_eq!(known.lookup("chatbox:7070", &fp(1)), Lookup::Match);
        assert_eq!(known.lookup("CHATBOX:7071", &fp(2)), Lookup::Match);
        assert_eq!(known.lookup("other:7070", &fp(1)), Lookup::Unknown);
        assert_eq!(
            known.lookup("chatbox:7070", &fp(9)),
            Lookup::Changed {
                remembered: fp(1),
                line_no: 2,
                line: format!("chatbox:7070 {}", fp(1))
            }
        );
        assert_eq!(known.remembered("chatbox:7071"), Some(fp(2)));
        assert_eq!(known.remembered("nobody:1"), None);
    }

    #[test]
    fn remembering_replaces_the_old_line_and_keeps_the_rest() {
        let mut known = KnownServers::parse(&format!(
            "# mine\na:1 {}\nb:1 {}\na:1 {}\n",
            fp(1),
            fp(2),
            fp(3)
        ));
        known.remember("A:1", fp(4));
        assert_eq!(
            known.to_text(),
            format!("# mine\nb:1 {}\na:1 {}\n", fp(2), fp(4))
        );
        assert_eq!(known.lookup("a:1", &fp(4)), Lookup::Match);
    }

    #[test]
    fn several_lines_for_a_host_match_if_any_does() {
        let known = KnownServers::parse(&format!("a:1 {}\na:1 {}\n", fp(1), fp(2)));
        assert_eq!(known.lookup("a:1", &fp(2)), Lookup::Match);
    }

    #[test]
    fn saving_is_atomic_and_makes_the_directory() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("cfg/lanchat/known_servers");
        assert_eq!(
            KnownServers::load(&path).expect("missing is empty"),
            KnownServers::default()
        );
        remember_in(&path, "chatbox:7070", fp(1)).expect("write");
        remember_in(&path, "other:7070", fp(2)).expect("write");
        remember_in(&path, "chatbox:7070", fp(3)).expect("replace");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(
            text,
            format!("other:7070 {}\nchatbox:7070 {}\n", fp(2), fp(3))
        );
        let dir_mode = std::fs::metadata(path.parent().expect("dir"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, [FILE_NAME], "no temporary file left");
    }

    #[test]
    fn decision_table() {
        let file = Path::new("/home/ann/.config/lanchat/known_servers");
        let known = KnownServers::parse(&format!("known:7070 {}\n", fp(1)));
        let contact = |host, presented| Contact {
            host,
            presented,
            file,
        };
        let none = TrustFlags::default();
        let accept_new = TrustFlags {
            accept_new: true,
            ..none
        };
        let trust = |b| TrustFlags {
            trust: Some(fp(b)),
            ..none
        };
        // Connecting again, after joining with the key `b`.
        let joined = |b| TrustFlags {
            joined: Some(fp(b)),
            ..none
        };
        use Decision::*;
        use Ui::*;
        let exit = |d: Decision| match d {
            Refuse(r) => Some(r.exit_code()),
            _ => None,
        };
        // (host, presented, flags, ui) -> decision, or the refusal's exit code
        let go: &[(&str, u8, TrustFlags, Ui, Decision)] = &[
            ("known:7070", 1, none, NoTerminal, Go),
            ("known:7070", 1, accept_new, Terminal, Go),
            ("known:7070", 1, trust(1), NoTerminal, Go),
            ("new:7070", 5, none, Terminal, Ask),
            ("new:7070", 5, accept_new, NoTerminal, GoAndRemember),
            ("new:7070", 5, trust(5), NoTerminal, GoAndRemember),
            ("known:7070", 2, trust(2), NoTerminal, GoAndRemember),
            ("known:7070", 1, joined(1), NoTerminal, Go),
            ("new:7070", 5, joined(5), NoTerminal, Go),
            (
                "new:7070",
                5,
                TrustFlags {
                    accept_new: true,
                    ..joined(5)
                },
                NoTerminal,
                Go,
            ),
        ];
        for (host, presented, flags, ui, want) in go {
            let got = known.decide(&contact(host, fp(*presented)), flags, *ui);
            assert_eq!(&got, want, "{host} {presented} {flags:?} {ui:?}");
        }
        let refused: &[(&str, u8, TrustFlags, Ui, u8)] = &[
            ("new:7070", 5, none, NoTerminal, EXIT_NOT_TRUSTED),
            ("known:7070", 2, none, Terminal, EXIT_KEY_CHANGED),
            ("known:7070", 2, none, NoTerminal, EXIT_KEY_CHANGED),
            ("known:7070", 2, accept_new, NoTerminal, EXIT_KEY_CHANGED),
            ("known:7070", 2, trust(3), NoTerminal, EXIT_KEY_CHANGED),
            ("known:7070", 1, trust(3), Terminal, EXIT_KEY_CHANGED),
            ("new:7070", 5, trust(6), Terminal, EXIT_KEY_CHANGED),
            ("known:7070", 2, joined(1), NoTerminal, EXIT_KEY_CHANGED),
            ("new:7070", 6, joined(5), Terminal, EXIT_KEY_CHANGED),
            (
                "new:7070",
                6,
                TrustFlags {
                    accept_new: true,
                    ..joined(5)
                },
                NoTerminal,
                EXIT_KEY_CHANGED,
            ),
        ];
        for (host, presented, flags, ui, code) in refused {
            let got = known.decide(&contact(host, fp(*presented)), flags, *ui);
            assert_eq!(
                exit(got),
                Some(*code),
                "{host} {presented} {flags:?} {ui:?}"
            );
        }
    }

    #[test]
    fn the_changed_key_message_names_both_keys_and_the_line_to_delete() {
        let file = Path::new("/home/ann/.config/lanchat/known_servers");
        let known = KnownServers::parse(&format!("# x\nchatbox:7070 {}\n", fp(1)));
        let d = known.decide(
            &Contact {
                host: "chatbox:7070",
                presented: fp(2),
                file,
            },
            &TrustFlags::default(),
            Ui::Terminal,
        );
        let Decision::Refuse(r) = d else {
            panic!("{d:?}")
        };
        let text = r.to_string();
        for needle in [
            "WARNING: THE KEY OF SERVER chatbox:7070 HAS CHANGED".to_owned(),
            format!("remembered: {}", fp(1)),
            format!("presented:  {}", fp(2)),
            format!(
                "delete line 2 of {}:\n  chatbox:7070 {}",
                file.display(),
                fp(1)
            ),
            "--trust <the new fingerprint>".to_owned(),
            "nothing was sent".to_owned(),
        ] {
            assert!(text.contains(&needle), "{needle:?} not in:\n{text}");
        }
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], lines[2]);
        assert_eq!(lines[0].len(), lines[1].len(), "the banner is a box");
    }

    #[test]
    fn first_contact_texts_name_the_ways_on() {
        let refusal = Refusal::FirstContact {
            host: "chatbox:7070".into(),
            presented: fp(1),
        };
        let text = refusal.to_string();
        for needle in [
            "chatbox:7070",
            &fp(1).to_string(),
            "--accept-new",
            "--trust SHA256:",
            "lanchat-server --fingerprint",
        ] {
            assert!(text.contains(needle), "{needle:?} not in:\n{text}");
        }
        let ask = first_contact_text("chatbox:7070", &fp(1));
        assert!(ask.contains(&fp(1).to_string()) && ask.contains("lanchat-server --fingerprint"));
        for (answer, yes) in [
            ("y", true),
            ("YES\n", true),
            (" Yes ", true),
            ("", false),
            ("n", false),
            ("yeah", false),
            ("no", false),
        ] {
            assert_eq!(is_yes(answer), yes, "{answer:?}");
        }
    }
}
