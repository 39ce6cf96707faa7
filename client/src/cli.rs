//! The `lanchat` command line: its flags and `--help`, in the library so the man page and the
//! shell completions (`lanchat-packaging`) are generated from the very definitions the binary
//! parses.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Parser;
use lanchat_proto::{validate_name, DEFAULT_PORT};

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

    /// Without a terminal (a script, a bot): when the server goes away, connect again on
    /// its own, with the same name (on a terminal the client always does). Lines read
    /// meanwhile are sent once it is back.
    #[arg(long)]
    pub reconnect: bool,
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
  rooms. NO_COLOR (or TERM=dumb) turns colours off.";

/// `--name`: checked by the protocol's own rules before anything is sent, so a name the server
/// would refuse (or a blank one, which it would not even answer) is a clear flag error.
fn parse_name(s: &str) -> Result<String, String> {
    let name = s.trim();
    validate_name(name).map_err(|e| e.to_string())?;
    Ok(name.to_owned())
}

/// `--discover-to`: discovery probes go out on an IPv4 UDP socket (LAN broadcast is IPv4).
fn parse_ipv4(s: &str) -> Result<IpAddr, String> {
    match s.parse::<IpAddr>() {
        Ok(ip @ IpAddr::V4(_)) => Ok(ip),
        Ok(IpAddr::V6(_)) => Err("discovery is IPv4 only; give an IPv4 address".into()),
        Err(e) => Err(e.to_string()),
    }
}
