//! The `lanchat` command line: its flags and `--help`, in the library so the man page and the
//! shell completions (`lanchat-packaging`) are generated from the very definitions the binary
//! parses.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;
use lanchat_proto::{validate_name, Fingerprint, DEFAULT_PORT};

/// Chat on your LAN: connect to a lanchat server and talk.
#[derive(Debug, Parser)]
#[command(name = "lanchat", version, after_help = AFTER_HELP)]
pub struct Args {
    /// Server address: host, host:port, ip, ip:port or [v6]:port (port 7070 unless given).
    /// Asked for when missing.
    #[arg(value_name = "ADDR")]
    pub addr: Option<String>,

    /// Your name (asked for when missing; without a terminal, the first line of stdin).
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub name: Option<String>,

    /// Look for servers on the local network first (UDP broadcast), then pick one.
    #[arg(long, conflicts_with = "addr")]
    pub discover: bool,

    /// UDP port to send discovery probes to.
    #[arg(long, value_name = "PORT", default_value_t = DEFAULT_PORT)]
    pub discover_port: u16,

    /// Send discovery probes to this address instead of broadcasting (repeatable), e.g. a
    /// server on another subnet.
    #[arg(long, value_name = "IP", value_parser = parse_ipv4)]
    pub discover_to: Vec<IpAddr>,

    /// Do not ring the terminal bell when someone mentions you or writes to you privately.
    #[arg(long)]
    pub no_bell: bool,

    /// Do not show [HH:MM] timestamps.
    #[arg(long)]
    pub no_timestamps: bool,

    /// Show dates of lines not from today as 2025-12-01 rather than Dec 01.
    #[arg(long)]
    pub iso_time: bool,

    /// Do not show the messages from before you joined that the server replays.
    #[arg(long)]
    pub no_history: bool,

    /// Also write what is shown to FILE, as plain text with the date and time of each line.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Talk to a server that does not encrypt (one run with --plaintext): anyone on the
    /// network can then read what you write and pose as the server.
    #[arg(long, env = "LANCHAT_PLAINTEXT", value_parser = clap::builder::BoolishValueParser::new())]
    pub plaintext: bool,

    /// The servers you trust and their keys (default: $XDG_CONFIG_HOME/lanchat/known_servers,
    /// else ~/.config/lanchat/known_servers).
    #[arg(long, value_name = "FILE")]
    pub known_servers: Option<PathBuf>,

    /// A server met for the first time: trust whatever key it has now, and remember it (a
    /// changed key is still refused).
    #[arg(long)]
    pub accept_new: bool,

    /// Go on only if the server's key has this fingerprint (from `lanchat-server
    /// --fingerprint`), then remember it; also the way past a changed key.
    #[arg(long, value_name = "SHA256:...", value_parser = parse_fingerprint)]
    pub trust: Option<Fingerprint>,

    /// Check the server's certificate against this CA certificate (PEM), e.g. an office CA,
    /// instead of trusting it on first use.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["accept_new", "trust", "known_servers"])]
    pub ca: Option<PathBuf>,

    /// Without a terminal (a script, a bot): when the server goes away, connect again on
    /// its own, with the same name (on a terminal the client always does). Lines read
    /// meanwhile are sent once it is back. The server's key is checked again each time.
    #[arg(long)]
    pub reconnect: bool,
}

impl Args {
    /// What clap cannot check: `--plaintext` (or `LANCHAT_PLAINTEXT` on) with a flag about
    /// trusting a server's key. (Not clap's `conflicts_with`: it would count
    /// `LANCHAT_PLAINTEXT=0` as given.)
    ///
    /// # Errors
    /// The message for the user.
    pub fn validate(&self) -> Result<(), String> {
        let trust_flag = [
            (self.known_servers.is_some(), "--known-servers"),
            (self.accept_new, "--accept-new"),
            (self.trust.is_some(), "--trust"),
            (self.ca.is_some(), "--ca"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag));
        match trust_flag {
            Some(flag) if self.plaintext => Err(format!(
                "--plaintext (or LANCHAT_PLAINTEXT) cannot be used with {flag}: a plaintext \
                 connection has no key to trust"
            )),
            _ => Ok(()),
        }
    }
}

/// Shown after the flags by `--help`, and in the man page (one section per heading).
const AFTER_HELP: &str = "\
Examples:
  lanchat
      Asks for the server (? at that prompt looks for servers on the local
      network) and for your name.
  lanchat 192.168.1.20 --name ann
      Joins the server on 192.168.1.20, port 7070, as ann.
  lanchat chat.example.lan:7071 --log ~/chat.log
      Another port, and a plain-text copy of what is shown, with dates.
  printf 'build is green\\n<quit>\\n' | lanchat 192.168.1.20 --name ci-bot
      From a script: each line of stdin is sent, then the bot leaves.

In the chat:
  <quit>, /quit [message] or Ctrl-D leaves; Ctrl-C clears the line (on an
  empty line, leaves); /away [message] marks you away (/back, or /away
  again, when you return); Tab completes names and rooms; /who lists who
  is here; /stats shows how the server is doing; /help lists the server's
  commands. /join #room joins a room and makes it the current one (typed
  lines go there); Alt-Left/Alt-Right or Ctrl-P/Ctrl-N and /go #room switch
  rooms. NO_COLOR (or TERM=dumb) turns colours off.

Encryption:
  Connections are TLS 1.3. The first time you connect to a server you are
  shown its key's fingerprint: compare it with what `lanchat-server
  --fingerprint` prints on the server. Once trusted, the key is remembered;
  a server whose key changed is refused (exit 4).

Exit codes:
  0 after quitting; 1 when no server could be joined (or it was not
  trusted); 2 for bad flags; 3 when the server went away; 4 when the
  server's key is not the one expected.";

/// `--name`: checked by the protocol's own rules before anything is sent, so a name the server
/// would refuse (or a blank one, which it would not even answer) is a clear flag error.
fn parse_name(s: &str) -> Result<String, String> {
    let name = s.trim();
    validate_name(name).map_err(|e| e.to_string())?;
    Ok(name.to_owned())
}

/// `--trust`: a fingerprint as `lanchat-server --fingerprint` prints it.
fn parse_fingerprint(s: &str) -> Result<Fingerprint, String> {
    s.parse::<Fingerprint>().map_err(|e| e.to_string())
}

/// `--discover-to`: discovery probes go out on an IPv4 UDP socket (LAN broadcast is IPv4).
fn parse_ipv4(s: &str) -> Result<IpAddr, String> {
    match s.parse::<IpAddr>() {
        Ok(ip @ IpAddr::V4(_)) => Ok(ip),
        Ok(IpAddr::V6(_)) => Err("discovery is IPv4 only; give an IPv4 address".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_goes_with_no_flag_about_trusting_a_key() {
        let parse = |args: &[&str]| Args::try_parse_from([&["lanchat"][..], args].concat());
        for args in [
            &["--plaintext", "--accept-new"][..],
            &["--plaintext", "--known-servers", "k"],
            &["--plaintext", "--ca", "ca.pem"],
            &[
                "--plaintext",
                "--trust",
                "SHA256:EomIL8NNTbB3jdrTzEWDxjbDmeo/2MbCpV8XzVKvyxs",
            ],
        ] {
            let parsed = parse(args).expect("parses");
            assert!(parsed.validate().is_err(), "{args:?}");
        }
        for args in [&["--plaintext"][..], &["--accept-new"], &["--ca", "ca.pem"]] {
            let parsed = parse(args).expect("parses");
            assert_eq!(parsed.validate(), Ok(()), "{args:?}");
        }
        assert!(parse(&["--trust", "SHA256:short"]).is_err());
        assert!(parse(&["--ca", "ca.pem", "--accept-new"]).is_err());
    }
}
