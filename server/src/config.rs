//! The server's configuration: every flag, its `LANCHAT_*` environment variable, its default.
//!
//! Defaults come from [`crate::limits`], where each one's reason is written down.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::hosts::{HostLimits, Network, Rate};
use crate::limits;
use crate::room::RoomConfig;

/// Shown after the flags by `--help`, and in the man page (one section per heading).
const AFTER_HELP: &str = "\
Examples:
  lanchat-server
      Serve the LAN: every interface, port 7070, answering discovery probes.
  lanchat-server --bind 192.168.1.20 --name \"3rd floor\" --max-clients 500
      One interface, a name for clients' server lists, at most 500 people.
  LANCHAT_NO_DISCOVERY=yes RUST_LOG=warn lanchat-server
      Settings from the environment (as a systemd unit's Environment= lines
      give them); only warnings and errors in the log.

Logging:
  To stderr: each line starts with the local time, or under systemd with its
  priority for the journal (journalctl -u lanchat). One line per join (with
  the address), leave (with the reason), rename and refusal, under the
  connection's number (#17, never reused); never what anyone wrote. RUST_LOG
  picks what is logged: a level (error, warn, info (the default), debug,
  trace, off), then TARGET=LEVEL pairs, e.g. RUST_LOG=info,mio=warn or
  RUST_LOG=info,lanchat_server::join=warn (kinds: connection, join, leave,
  rename, kick, refusal). Past a few lines a second of one kind, lines are
  counted and summarised.

Signals:
  SIGINT, SIGTERM  every client gets BYE, then exit 0 (a second one: at once).
  SIGHUP           reload (systemctl reload lanchat): re-read the host name
                   for discovery, the --tls-cert/--tls-key files and the
                   --allow, --ops and --password-file files; a bad file
                   keeps the old one. Nobody is disconnected.
  SIGUSR1          log uptime, connections, traffic, drops and memory on one
                   line: what /stats shows a client
                   (systemctl kill -s USR1 lanchat).";

/// `lanchat-server`: a LAN chat server on one thread.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = "lanchat-server", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Config {
    /// Address to listen on (`0.0.0.0` = every IPv4 interface, `::` = every interface).
    #[arg(long, env = "LANCHAT_BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// TCP port (and UDP discovery port); 0 picks a free port.
    #[arg(long, env = "LANCHAT_PORT", default_value_t = lanchat_proto::DEFAULT_PORT)]
    pub port: u16,

    /// Most connections at once; lowered at start to fit the file-descriptor limit.
    #[arg(long, env = "LANCHAT_MAX_CLIENTS", default_value_t = limits::DEFAULT_MAX_CLIENTS,
          value_parser = parse_max_clients)]
    pub max_clients: usize,

    /// Longest line a client may send, in bytes (128 to 1048576).
    #[arg(long, env = "LANCHAT_MAX_LINE", default_value_t = limits::DEFAULT_MAX_LINE,
          value_parser = parse_max_line)]
    pub max_line: usize,

    /// Unsent output a client may hold before it is dropped as too slow (bytes; K/M suffixes).
    #[arg(long, env = "LANCHAT_SENDQ", default_value = limits::DEFAULT_SENDQ_FLAG,
          value_parser = parse_sendq)]
    pub sendq: usize,

    /// Lines per second each client may send (token bucket); 0 turns flood control off.
    #[arg(long, env = "LANCHAT_RATE", default_value_t = limits::DEFAULT_RATE,
          value_parser = parse_rate)]
    pub rate: f64,

    /// Lines a client may send in a burst before --rate applies.
    #[arg(long, env = "LANCHAT_BURST", default_value_t = limits::DEFAULT_BURST,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(limits::MAX_BURST)))]
    pub burst: u32,

    /// Seconds a new connection has to give an acceptable name.
    #[arg(long, env = "LANCHAT_HANDSHAKE_TIMEOUT", default_value_t = limits::DEFAULT_HANDSHAKE_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=limits::MAX_TIMEOUT_SECS))]
    pub handshake_timeout: u64,

    /// Seconds a client's pending output may make no progress before it is dropped.
    #[arg(long, env = "LANCHAT_WRITE_TIMEOUT", default_value_t = limits::DEFAULT_WRITE_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..=limits::MAX_TIMEOUT_SECS))]
    pub write_timeout: u64,

    /// Public messages kept per room and replayed to whoever joins it, also after a restart; 0
    /// keeps none.
    #[arg(long, env = "LANCHAT_HISTORY", default_value_t = limits::DEFAULT_HISTORY,
          value_parser = parse_history)]
    pub history: usize,

    /// Rooms that may exist at once, #general included.
    #[arg(long, env = "LANCHAT_MAX_ROOMS", default_value_t = limits::DEFAULT_MAX_ROOMS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
              .range(1..=limits::MAX_MAX_ROOMS as u64))]
    pub max_rooms: usize,

    /// Rooms one user may be in at once, #general included.
    #[arg(long, env = "LANCHAT_ROOMS_PER_USER", default_value_t = limits::DEFAULT_ROOMS_PER_USER,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
              .range(1..=limits::MAX_ROOMS_PER_USER as u64))]
    pub rooms_per_user: usize,

    /// Keep history, notes, claims on names and bans in memory only: nothing but the key is
    /// written to the state directory, and a restart forgets them (`--history 0` writes no
    /// history either).
    #[arg(long, env = "LANCHAT_NO_PERSIST", value_parser = parse_switch)]
    pub no_persist: bool,

    /// Server name shown to clients that discover it (default: the host name).
    #[arg(long, env = "LANCHAT_NAME")]
    pub name: Option<String>,

    /// Do not answer LAN discovery probes on UDP.
    #[arg(long, env = "LANCHAT_NO_DISCOVERY", value_parser = parse_switch)]
    pub no_discovery: bool,

    /// Serve without encryption, as protocol v1 over bare TCP (for nc and trusted networks):
    /// anyone on the network can read the traffic.
    // Not `conflicts_with` the certificate flags: clap would count `LANCHAT_PLAINTEXT=0` as
    // given; `Config::validate` checks it.
    #[arg(long, env = "LANCHAT_PLAINTEXT", value_parser = parse_switch)]
    pub plaintext: bool,

    /// Directory for the server's key and certificate, and the history and notes that survive
    /// a restart (default: $STATE_DIRECTORY, else $XDG_STATE_HOME/lanchat, else
    /// ~/.local/state/lanchat).
    #[arg(long, env = "LANCHAT_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Your own certificate chain (PEM), e.g. from an office CA, instead of the generated one.
    #[arg(
        long,
        env = "LANCHAT_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert; must be readable by its owner only.
    #[arg(
        long,
        env = "LANCHAT_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// Print the server's key fingerprint (creating the key if needed) and exit.
    #[arg(long)]
    pub fingerprint: bool,

    /// Most connections one address may hold at once (an IPv6 address counts as its /64);
    /// 0 is no limit.
    #[arg(long, env = "LANCHAT_MAX_PER_HOST", default_value_t = limits::DEFAULT_MAX_PER_HOST,
          value_parser = parse_max_per_host)]
    pub max_per_host: usize,

    /// New connections per second one address may open after --join-burst; 0 turns it off.
    #[arg(long, env = "LANCHAT_JOIN_RATE", default_value_t = limits::DEFAULT_JOIN_RATE,
          value_parser = parse_join_rate)]
    pub join_rate: f64,

    /// New connections one address may open at once before --join-rate applies.
    #[arg(long, env = "LANCHAT_JOIN_BURST", default_value_t = limits::DEFAULT_JOIN_BURST,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(limits::MAX_BURST)))]
    pub join_burst: u32,

    /// Addresses and networks exempt from the per-address limits, comma-separated
    /// (e.g. 127.0.0.1,10.1.0.0/16,fd00::/8). None by default, loopback included.
    #[arg(
        long,
        env = "LANCHAT_TRUSTED_HOSTS",
        value_name = "ADDR[/PREFIX],...",
        value_delimiter = ','
    )]
    pub trusted_hosts: Vec<Network>,
    /// Let in only the keys listed in FILE (one SHA256:... per line, then a comment; # lines
    /// ignored), as ssh's authorized_keys. Others get ERR not-allowed. Needs TLS.
    #[arg(long, env = "LANCHAT_ALLOW", value_name = "FILE")]
    pub allow: Option<PathBuf>,

    /// The operators' keys, in the format of --allow: they may /kick, /ban, /mute, /release.
    /// Needs TLS.
    #[arg(long, env = "LANCHAT_OPS", value_name = "FILE")]
    pub ops: Option<PathBuf>,

    /// Ask for a shared password (the first line of FILE) before a name.
    #[arg(long, env = "LANCHAT_PASSWORD_FILE", value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Allow --password-file on a --plaintext server, where the password crosses the network
    /// in the clear.
    #[arg(long, env = "LANCHAT_PLAINTEXT_PASSWORD", value_parser = parse_switch)]
    pub plaintext_password: bool,

    /// Days a name stays its key's without being used before anyone may take it.
    #[arg(long, env = "LANCHAT_CLAIM_DAYS", default_value_t = limits::DEFAULT_CLAIM_DAYS,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(limits::MAX_CLAIM_DAYS)))]
    pub claim_days: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: lanchat_proto::DEFAULT_PORT,
            max_clients: limits::DEFAULT_MAX_CLIENTS,
            max_line: limits::DEFAULT_MAX_LINE,
            sendq: limits::DEFAULT_SENDQ,
            rate: limits::DEFAULT_RATE,
            burst: limits::DEFAULT_BURST,
            handshake_timeout: limits::DEFAULT_HANDSHAKE_TIMEOUT_SECS,
            write_timeout: limits::DEFAULT_WRITE_TIMEOUT_SECS,
            history: limits::DEFAULT_HISTORY,
            max_rooms: limits::DEFAULT_MAX_ROOMS,
            rooms_per_user: limits::DEFAULT_ROOMS_PER_USER,
            no_persist: false,
            name: None,
            no_discovery: false,
            plaintext: false,
            state_dir: None,
            tls_cert: None,
            tls_key: None,
            fingerprint: false,
            max_per_host: limits::DEFAULT_MAX_PER_HOST,
            join_rate: limits::DEFAULT_JOIN_RATE,
            join_burst: limits::DEFAULT_JOIN_BURST,
            trusted_hosts: Vec::new(),
            allow: None,
            ops: None,
            password_file: None,
            plaintext_password: false,
            claim_days: limits::DEFAULT_CLAIM_DAYS,
        }
    }
}

impl Config {
    /// Loopback on a free port: what tests and tools start.
    pub fn loopback() -> Self {
        Config {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            ..Config::default()
        }
    }

    /// What clap cannot check: `--plaintext` (or `LANCHAT_PLAINTEXT` on) with a certificate,
    /// which would ask for both TLS and plaintext on one port.
    ///
    /// # Errors
    /// The message for the user.
    pub fn validate(&self) -> Result<(), String> {
        if self.plaintext && (self.tls_cert.is_some() || self.tls_key.is_some()) {
            return Err(
                "--plaintext (or LANCHAT_PLAINTEXT) cannot be used with --tls-cert / \
                        --tls-key: a server speaks TLS or plaintext, never both on one port"
                    .into(),
            );
        }
        if self.plaintext {
            for (given, flag) in [
                (self.allow.is_some(), "--allow"),
                (self.ops.is_some(), "--ops"),
            ] {
                if given {
                    return Err(format!(
                        "{flag} needs TLS: over --plaintext nobody can prove a key"
                    ));
                }
            }
            if self.password_file.is_some() && !self.plaintext_password {
                return Err(
                    "--password-file on a --plaintext server sends the password across the \
                     network in the clear; add --plaintext-password to do it anyway"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// The TCP address to bind.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// The handshake deadline.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.handshake_timeout)
    }

    /// The write-stall deadline.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.write_timeout)
    }

    /// Lower `max_clients` so every client fits under a file-descriptor limit of `nofile`.
    /// Returns the old value when it had to be lowered.
    pub fn fit_fd_limit(&mut self, nofile: u64) -> Option<usize> {
        let room = usize::try_from(nofile)
            .unwrap_or(usize::MAX)
            .saturating_sub(limits::RESERVED_FDS)
            .max(1);
        (self.max_clients > room).then(|| std::mem::replace(&mut self.max_clients, room))
    }

    /// The most memory the history rings can hold once full: every room that may exist with
    /// every slot a line as long as `--max-line` allows, plus the server's own framing.
    pub fn history_bound(&self) -> usize {
        self.history
            .saturating_mul(self.max_line + lanchat_proto::SERVER_LINE_OVERHEAD)
            .saturating_mul(self.max_rooms)
    }

    /// The part the chat room needs.
    pub fn room(&self) -> RoomConfig {
        RoomConfig {
            max_clients: self.max_clients,
            max_line: self.max_line,
            rate: self.rate,
            burst: self.burst,
            history: self.history,
            handshake_timeout_secs: self.handshake_timeout,
            max_rooms: self.max_rooms,
            rooms_per_user: self.rooms_per_user,
        }
    }

    /// The per-address limits. The line budget an address's connections share is
    /// [`limits::HOST_LINE_SHARE`] times one connection's, and off when flood control is.
    pub fn hosts(&self) -> HostLimits {
        let share = limits::HOST_LINE_SHARE;
        HostLimits {
            max_open: (self.max_per_host > 0).then_some(self.max_per_host),
            joins: Rate::new(self.join_rate, self.join_burst),
            lines: Rate::new(
                self.rate * f64::from(share),
                self.burst.saturating_mul(share),
            ),
            trusted: self.trusted_hosts.clone(),
            ..HostLimits::default()
        }
    }
}

fn parse_max_per_host(s: &str) -> Result<usize, String> {
    s.parse()
        .map_err(|_| format!("{s:?} is not a whole number (0 is no limit)"))
}

fn parse_join_rate(s: &str) -> Result<f64, String> {
    parse_per_second(s, "connections")
}

fn parse_max_clients(s: &str) -> Result<usize, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number"))?;
    if n == 0 || n > limits::MAX_MAX_CLIENTS {
        return Err(format!("must be between 1 and {}", limits::MAX_MAX_CLIENTS));
    }
    Ok(n)
}

fn parse_max_line(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    if !(limits::MIN_MAX_LINE..=limits::MAX_MAX_LINE).contains(&n) {
        return Err(format!(
            "must be between {} and {} bytes",
            limits::MIN_MAX_LINE,
            limits::MAX_MAX_LINE
        ));
    }
    Ok(n)
}

fn parse_sendq(s: &str) -> Result<usize, String> {
    let n = parse_size(s)?;
    if n < limits::MIN_SENDQ {
        return Err(format!("must be at least {} bytes", limits::MIN_SENDQ));
    }
    Ok(n)
}

fn parse_history(s: &str) -> Result<usize, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number"))?;
    if n > limits::MAX_HISTORY {
        return Err(format!("must be at most {}", limits::MAX_HISTORY));
    }
    Ok(n)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    parse_per_second(s, "lines")
}

/// A rate of `what` per second: 0 (off) or positive.
fn parse_per_second(s: &str, what: &str) -> Result<f64, String> {
    let r: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !r.is_finite() || r < 0.0 {
        return Err(format!(
            "must be 0 (off) or a positive number of {what} per second"
        ));
    }
    Ok(r)
}

/// An on/off environment variable as people write them in systemd `Environment=` lines:
/// 1/0, yes/no, on/off, true/false (any case); empty is off, like an unset variable.
fn parse_switch(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "on" | "true" => Ok(true),
        "0" | "no" | "off" | "false" | "" => Ok(false),
        _ => Err(format!("{s:?} is not 1/0, yes/no, on/off or true/false")),
    }
}

/// A byte count with an optional `K`/`KiB`/`M`/`MiB` suffix (powers of 1024).
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 4096, 256K, 1M)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => return Err(format!("{s:?} has an unknown unit (use K or M)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_flag_defaults() {
        // Holds as long as no LANCHAT_* variable is set in the test environment.
        if std::env::vars().any(|(k, _)| k.starts_with("LANCHAT_")) {
            return;
        }
        assert_eq!(Config::parse_from(["lanchat-server"]), Config::default());
    }

    #[test]
    fn history_bound_is_slots_times_the_longest_frame() {
        let default = Config::default();
        assert_eq!(
            default.history_bound(),
            50 * (2048 + lanchat_proto::SERVER_LINE_OVERHEAD) * 1000
        );
        let big = Config {
            history: 10_000,
            max_line: 1 << 20,
            ..Config::default()
        };
        assert!(big.history_bound() > limits::HISTORY_WARN_BYTES);
        assert!(default.history_bound() < limits::HISTORY_WARN_BYTES);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("256K"), Ok(256 * 1024));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn no_persist_is_a_switch() {
        assert!(Config::try_parse_from(["x", "--no-persist"]).is_ok_and(|c| c.no_persist));
        assert!(Config::try_parse_from(["x", "--no-persist=1"]).is_err());
        for (s, want) in [("yes", Ok(true)), ("Off", Ok(false)), ("", Ok(false))] {
            assert_eq!(parse_switch(s), want, "{s:?}");
        }
        assert!(parse_switch("maybe").is_err());
    }

    #[test]
    fn bad_flags_are_refused() {
        for args in [
            &["x", "--port", "70000"][..],
            &["x", "--max-line", "10"],
            &["x", "--rate", "-1"],
            &["x", "--max-clients", "0"],
            &["x", "--max-clients", "1000001"],
            &["x", "--burst", "1000001"],
            &["x", "--handshake-timeout", "86401"],
            &["x", "--write-timeout", "0"],
            &["x", "--bind", "not-an-ip"],
            &["x", "--sendq", "1"],
            &["x", "--max-rooms", "0"],
            &["x", "--max-rooms", "100001"],
            &["x", "--rooms-per-user", "0"],
            &["x", "--rooms-per-user", "10001"],
            &["x", "--frobnicate"],
            &["x", "--tls-cert", "c.pem"],
            &["x", "--max-per-host", "-1"],
            &["x", "--join-rate", "-2"],
            &["x", "--join-burst", "0"],
            &["x", "--trusted-hosts", "10.0.0.1/8"],
            &["x", "--trusted-hosts", "localhost"],
            &["x", "--tls-key", "k.pem"],
            &["x", "--claim-days", "0"],
            &["x", "--claim-days", "3651"],
        ] {
            assert!(Config::try_parse_from(args).is_err(), "{args:?}");
        }
        let both = [
            "x",
            "--plaintext",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k.pem",
        ];
        let both = Config::try_parse_from(both).expect("parses");
        assert!(both.validate().is_err(), "TLS and plaintext on one port");
        for args in [
            &["x", "--plaintext", "--allow", "a"][..],
            &["x", "--plaintext", "--ops", "o"],
            &["x", "--plaintext", "--password-file", "p"],
        ] {
            let c = Config::try_parse_from(args).expect("parses");
            assert!(c.validate().is_err(), "{args:?}");
        }
        for args in [
            &[
                "x",
                "--plaintext",
                "--password-file",
                "p",
                "--plaintext-password",
            ][..],
            &["x", "--allow", "a", "--ops", "o", "--password-file", "p"],
        ] {
            let c = Config::try_parse_from(args).expect("parses");
            assert_eq!(c.validate(), Ok(()), "{args:?}");
        }
        let tls = Config::try_parse_from(["x", "--tls-cert", "c.pem", "--tls-key", "k.pem"]);
        assert!(
            tls.is_ok_and(|c| c.validate().is_ok()),
            "a certificate alone is fine"
        );
        // ... and the bounds themselves are taken.
        let edge = [
            "x",
            "--max-clients",
            "1000000",
            "--burst",
            "1000000",
            "--write-timeout",
            "86400",
            "--max-rooms",
            "100000",
            "--rooms-per-user",
            "10000",
        ];
        assert!(Config::try_parse_from(edge).is_ok());
    }

    #[test]
    fn switches() {
        for (s, want) in [
            ("1", Ok(true)),
            ("yes", Ok(true)),
            ("On", Ok(true)),
            ("TRUE", Ok(true)),
            ("0", Ok(false)),
            ("no", Ok(false)),
            ("off", Ok(false)),
            ("false", Ok(false)),
            ("", Ok(false)),
        ] {
            assert_eq!(parse_switch(s), want, "{s:?}");
        }
        assert!(parse_switch("maybe").is_err());
        assert!(Config::try_parse_from(["x", "--no-discovery"]).is_ok_and(|c| c.no_discovery));
        assert!(
            Config::try_parse_from(["x", "--no-discovery=yes"]).is_err(),
            "a flag takes no value"
        );
    }

    #[test]
    fn per_host_flags_become_the_limits() {
        let c = Config::try_parse_from([
            "x",
            "--max-per-host",
            "0",
            "--join-rate",
            "0",
            "--trusted-hosts",
            "127.0.0.1, 10.1.0.0/16,fd00::/8",
        ])
        .unwrap();
        let hosts = c.hosts();
        assert_eq!((hosts.max_open, hosts.joins), (None, None));
        let trusted: Vec<String> = hosts.trusted.iter().map(ToString::to_string).collect();
        assert_eq!(trusted, ["127.0.0.1", "10.1.0.0/16", "fd00::/8"]);
        let default = Config::default().hosts();
        assert_eq!(default.max_open, Some(16));
        assert_eq!(default.joins, Rate::new(2.0, 10));
        assert_eq!(
            default.lines,
            Rate::new(40.0, 80),
            "4 x --rate 10 --burst 20"
        );
        assert!(
            default.trusted.is_empty(),
            "no address is trusted by default"
        );
        assert_eq!(default, HostLimits::default());
        let no_flood_control = Config {
            rate: 0.0,
            ..Config::default()
        };
        assert_eq!(no_flood_control.hosts().lines, None);
    }

    #[test]
    fn fd_limit_lowers_max_clients() {
        let mut c = Config::default();
        assert_eq!(c.fit_fd_limit(1 << 20), None);
        assert_eq!(c.fit_fd_limit(64), Some(10_000));
        assert_eq!(c.max_clients, 64 - limits::RESERVED_FDS);
    }
}
