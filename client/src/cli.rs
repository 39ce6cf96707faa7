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
}

const AFTER_HELP: &str = "\
In the chat: <quit>, /quit or Ctrl-D leaves; Ctrl-C clears the line (on an empty line, leaves);
Tab completes names; /help lists the server's commands. At the address prompt, ? looks for
servers on the local network. NO_COLOR (or TERM=dumb) turns colours off.";

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
