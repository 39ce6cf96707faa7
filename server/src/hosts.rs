//! Per-address limits, as plain bookkeeping with the time passed in: how many connections each
//! address holds, how fast it may open new ones, the line budget all its connections share, and
//! the bytes of large replies (`/who`) it may pull.
//!
//! Every per-connection budget is per connection, so without these one host could open
//! connections until the others are locked out, churn through fresh flood-control buckets, and
//! ask for replies far bigger than its requests on as many connections as it likes. An address
//! here is a [`HostKey`]: an IPv4 address, or the /64 an IPv6 address is in (one machine is
//! routinely given a whole /64 and can pick any address in it). Addresses on the trusted list
//! ([`Network`]s) are not counted at all. The room ([`crate::room`]) consults the table; it
//! reads no clock and owns no socket.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use lanchat_proto::bucket::TokenBucket;

use crate::limits;

/// The unit per-address limits are kept for: an IPv4 address (also when the peer is seen as
/// `::ffff:a.b.c.d` on a dual-stack socket), or the /64 an IPv6 address is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HostKey(IpAddr);

impl HostKey {
    /// The key of a peer address.
    pub fn of(ip: IpAddr) -> HostKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => HostKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                HostKey(IpAddr::V6(Ipv6Addr::new(
                    s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                )))
            }
        }
    }
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// An address or a network (`10.1.2.3`, `192.168.0.0/16`, `fd00::/8`): what `--trusted-hosts`
/// lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// Host bits are zero.
    base: IpAddr,
    /// At most 32 for IPv4, 128 for IPv6.
    prefix: u8,
}

/// Why a `--trusted-hosts` entry was not understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetworkError {
    /// Not an IP address (before the `/`).
    Address(String),
    /// The prefix length is not a number or is too long for the address family.
    Prefix {
        /// As written.
        prefix: String,
        /// 32 or 128.
        max: u8,
    },
    /// Bits set past the prefix: likely a typo, so it is refused rather than guessed at.
    HostBits {
        /// As written.
        given: String,
        /// The network it would be with those bits cleared.
        network: Network,
    },
}

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetworkError::Address(a) => write!(f, "{a:?} is not an IP address"),
            NetworkError::Prefix { prefix, max } => {
                write!(
                    f,
                    "prefix length {prefix:?} must be a number from 0 to {max}"
                )
            }
            NetworkError::HostBits { given, network } => {
                write!(
                    f,
                    "{given} has bits set past its prefix; did you mean {network}?"
                )
            }
        }
    }
}

impl std::error::Error for NetworkError {}

impl FromStr for Network {
    type Err = NetworkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| NetworkError::Address(addr.to_owned()))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix =
            match prefix {
                None => max,
                Some(p) => p.parse::<u8>().ok().filter(|&n| n <= max).ok_or_else(|| {
                    NetworkError::Prefix {
                        prefix: p.to_owned(),
                        max,
                    }
                })?,
            };
        let network = Network {
            base: masked(ip, prefix),
            prefix,
        };
        if network.base != ip {
            return Err(NetworkError::HostBits {
                given: s.to_owned(),
                network,
            });
        }
        Ok(network)
    }
}

impl Network {
    /// True when `ip` is in this network. A peer seen as `::ffff:a.b.c.d` is the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.base.is_ipv4() && masked(ip, self.prefix) == self.base
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let max = if self.base.is_ipv4() { 32 } else { 128 };
        if self.prefix == max {
            write!(f, "{}", self.base)
        } else {
            write!(f, "{}/{}", self.base, self.prefix)
        }
    }
}

/// `ip` with the bits past the first `prefix` cleared.
fn masked(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

/// A sustained rate and a burst, for a token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Per second; above zero.
    pub per_sec: f64,
    /// Taken at once before the rate applies; at least 1.
    pub burst: u32,
}

impl Rate {
    /// `None` (no limit) for a rate of zero, as the flags say.
    pub fn new(per_sec: f64, burst: u32) -> Option<Rate> {
        (per_sec > 0.0 && per_sec.is_finite()).then_some(Rate {
            per_sec,
            burst: burst.max(1),
        })
    }

    fn bucket(self, now: Instant) -> TokenBucket {
        TokenBucket::new(self.per_sec, self.burst, now)
    }
}

/// What the table enforces; `None` turns a limit off.
#[derive(Debug, Clone, PartialEq)]
pub struct HostLimits {
    /// Connections (named or not) one address may hold at once (`--max-per-host`).
    pub max_open: Option<usize>,
    /// New connections one address may open (`--join-rate`, `--join-burst`).
    pub joins: Option<Rate>,
    /// Lines all connections of one address may send together, on top of each connection's own
    /// budget ([`limits::HOST_LINE_SHARE`] times `--rate` and `--burst`).
    pub lines: Option<Rate>,
    /// Bytes of large replies (`/who`) one address may pull, per second and at once.
    pub replies: Option<Rate>,
    /// Addresses none of these limits apply to (`--trusted-hosts`).
    pub trusted: Vec<Network>,
}

impl HostLimits {
    /// No per-address limit at all (what a room started without an address uses).
    pub fn off() -> HostLimits {
        HostLimits {
            max_open: None,
            joins: None,
            lines: None,
            replies: None,
            trusted: Vec::new(),
        }
    }
}

impl Default for HostLimits {
    fn default() -> Self {
        let share = limits::HOST_LINE_SHARE;
        HostLimits {
            max_open: Some(limits::DEFAULT_MAX_PER_HOST),
            joins: Rate::new(limits::DEFAULT_JOIN_RATE, limits::DEFAULT_JOIN_BURST),
            lines: Rate::new(
                limits::DEFAULT_RATE * f64::from(share),
                limits::DEFAULT_BURST * share,
            ),
            replies: Rate::new(f64::from(limits::HOST_REPLY_RATE), limits::HOST_REPLY_BURST),
            trusted: Vec::new(),
        }
    }
}

/// Why a new connection was refused (`ERR too-many-connections <this>`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// The address already holds `limit` connections.
    TooManyOpen {
        /// `--max-per-host`.
        limit: usize,
    },
    /// The address opened its burst of connections and is over the rate.
    TooFast {
        /// `--join-rate` and `--join-burst`.
        rate: Rate,
    },
}

impl Refusal {
    /// The flag whose limit was reached, for the log.
    pub fn flag(&self) -> &'static str {
        match self {
            Refusal::TooManyOpen { .. } => "--max-per-host",
            Refusal::TooFast { .. } => "--join-rate",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TooManyOpen { limit } => write!(
                f,
                "your address already has {limit} connections open here, the most one may \
                 have; close one and try again"
            ),
            Refusal::TooFast { rate } => write!(
                f,
                "your address is connecting too often: at most {} new connections a second \
                 (bursts of {}); try again in a moment",
                rate.per_sec, rate.burst
            ),
        }
    }
}

/// One address's books.
#[derive(Debug)]
struct Host {
    /// Connections it holds now.
    open: usize,
    joins: Option<TokenBucket>,
    lines: Option<TokenBucket>,
    replies: Option<TokenBucket>,
}

impl Host {
    fn new(limits: &HostLimits, now: Instant) -> Host {
        Host {
            open: 0,
            joins: limits.joins.map(|r| r.bucket(now)),
            lines: limits.lines.map(|r| r.bucket(now)),
            replies: limits.replies.map(|r| r.bucket(now)),
        }
    }

    /// Holds nothing and every budget is full again: the entry can go, as a new one would be
    /// the same.
    fn is_idle(&mut self, now: Instant) -> bool {
        self.open == 0
            && [&mut self.joins, &mut self.lines, &mut self.replies]
                .into_iter()
                .flatten()
                .all(|b| b.is_full(now))
    }
}

/// The per-address table.
///
/// Memory: one entry per address that holds a connection or has used a budget recently (until
/// it refills, a few seconds); entries of idle addresses are swept once the table has doubled
/// since the last sweep.
#[derive(Debug)]
pub struct Hosts {
    limits: HostLimits,
    table: HashMap<HostKey, Host>,
    /// Sweep idle entries when the table reaches this size.
    sweep_at: usize,
}

impl Hosts {
    /// An empty table enforcing `limits`.
    pub fn new(limits: HostLimits) -> Hosts {
        Hosts {
            limits,
            table: HashMap::new(),
            sweep_at: limits::HOSTS_SWEEP_MIN,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &HostLimits {
        &self.limits
    }

    /// Addresses with an entry (connections or a budget still refilling).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when no address has an entry.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The key `ip`'s connections are counted under, or `None` for a trusted address.
    pub fn key(&self, ip: IpAddr) -> Option<HostKey> {
        let trusted = self.limits.trusted.iter().any(|n| n.contains(ip));
        (!trusted).then(|| HostKey::of(ip))
    }

    /// Connections `host` holds now.
    pub fn open(&self, host: HostKey) -> usize {
        self.table.get(&host).map_or(0, |h| h.open)
    }

    /// May `host` open a new connection now? Nothing is counted: [`Hosts::opened`] does that
    /// once the connection is in.
    ///
    /// # Errors
    /// The [`Refusal`] to send.
    pub fn check_connect(&mut self, host: HostKey, now: Instant) -> Result<(), Refusal> {
        let Some(h) = self.table.get_mut(&host) else {
            return Ok(()); // a new address: nothing used yet
        };
        if let Some(limit) = self.limits.max_open {
            if h.open >= limit {
                return Err(Refusal::TooManyOpen { limit });
            }
        }
        if let (Some(bucket), Some(rate)) = (h.joins.as_mut(), self.limits.joins) {
            if !bucket.ready(now) {
                return Err(Refusal::TooFast { rate });
            }
        }
        Ok(())
    }

    /// A connection from `host` was admitted (after [`Hosts::check_connect`]).
    pub fn opened(&mut self, host: HostKey, now: Instant) {
        if self.table.len() >= self.sweep_at {
            self.sweep(now);
        }
        let h = self.entry(host, now);
        h.open += 1;
        if let Some(b) = h.joins.as_mut() {
            b.take(now);
        }
    }

    /// A connection from `host` is gone.
    pub fn closed(&mut self, host: HostKey) {
        if let Some(h) = self.table.get_mut(&host) {
            h.open = h.open.saturating_sub(1);
        }
    }

    /// Every connection is gone at once (shutdown).
    pub fn forget_connections(&mut self) {
        self.table.clear();
    }

    /// Take one line from `host`'s shared budget; false when it is spent.
    pub fn take_line(&mut self, host: HostKey, now: Instant) -> bool {
        self.entry(host, now)
            .lines
            .as_mut()
            .is_none_or(|b| b.take(now))
    }

    /// `None` when `host` may be sent a large reply now, else how long until it may: a reply is
    /// sent whenever the budget is not in debt, and its size charged after
    /// ([`Hosts::charge_reply`]), so a reply of any size goes through for an address that has
    /// not been asking.
    pub fn reply_wait(&mut self, host: HostKey, now: Instant) -> Option<Duration> {
        let b = self.entry(host, now).replies.as_mut()?;
        (!b.ready(now)).then(|| b.wait_time(now))
    }

    /// Charge `bytes` of reply to `host`.
    pub fn charge_reply(&mut self, host: HostKey, bytes: usize, now: Instant) {
        if let Some(b) = self.entry(host, now).replies.as_mut() {
            // Exact below 2^53 bytes; a reply is far smaller.
            #[allow(clippy::cast_precision_loss)]
            b.charge(bytes as f64, now);
        }
    }

    /// Connections held per address (for the room's invariant check).
    pub fn open_counts(&self) -> impl Iterator<Item = (HostKey, usize)> + '_ {
        self.table.iter().map(|(k, h)| (*k, h.open))
    }

    fn entry(&mut self, host: HostKey, now: Instant) -> &mut Host {
        let limits = &self.limits;
        self.table
            .entry(host)
            .or_insert_with(|| Host::new(limits, now))
    }

    /// Forget addresses that hold nothing and whose budgets are full again.
    fn sweep(&mut self, now: Instant) {
        self.table.retain(|_, h| !h.is_idle(now));
        self.sweep_at = (2 * self.table.len()).max(limits::HOSTS_SWEEP_MIN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn key(s: &str) -> HostKey {
        HostKey::of(ip(s))
    }

    fn secs(t0: Instant, s: f64) -> Instant {
        t0 + Duration::from_secs_f64(s)
    }

    fn limits() -> HostLimits {
        HostLimits {
            max_open: Some(3),
            joins: Rate::new(2.0, 5),
            lines: Rate::new(40.0, 80),
            replies: Rate::new(1000.0, 4000),
            trusted: vec!["127.0.0.1".parse().unwrap(), "10.0.0.0/8".parse().unwrap()],
        }
    }

    #[test]
    fn keys_are_ipv4_addresses_and_ipv6_slash_64s() {
        for (a, b, same) in [
            ("fe80::1", "fe80::2:3:4:5", true),
            ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true),
            ("fe80::1", "fe80:0:0:1::1", false),
            ("192.0.2.1", "::ffff:192.0.2.1", true),
            ("192.0.2.1", "192.0.2.2", false),
        ] {
            assert_eq!(key(a) == key(b), same, "{a} {b}");
        }
        assert_eq!(key("2001:db8:1:2:3:4:5:6").to_string(), "2001:db8:1:2::/64");
        assert_eq!(key("::ffff:192.0.2.1").to_string(), "192.0.2.1");
    }

    #[test]
    fn networks_parse_and_contain() {
        for (net, inside, outside) in [
            ("127.0.0.1", "127.0.0.1", "127.0.0.2"),
            ("10.0.0.0/8", "10.255.1.2", "11.0.0.1"),
            ("192.168.4.0/22", "192.168.7.255", "192.168.8.0"),
            ("0.0.0.0/0", "203.0.113.9", "::1"),
            ("fd00::/8", "fd12:3456::1", "fe80::1"),
            ("::1", "::1", "::2"),
            ("192.0.2.0/24", "::ffff:192.0.2.7", "::ffff:192.0.3.7"),
        ] {
            let n: Network = net.parse().unwrap();
            assert!(n.contains(ip(inside)), "{net} {inside}");
            assert!(!n.contains(ip(outside)), "{net} {outside}");
            assert_eq!(n.to_string(), net);
        }
        for (bad, says) in [
            ("10.0.0.1/8", "did you mean 10.0.0.0/8?"),
            ("10.0.0.0/33", "from 0 to 32"),
            ("fd00::/129", "from 0 to 128"),
            ("10.0.0.0/x", "from 0 to 32"),
            ("localhost", "not an IP address"),
            ("", "not an IP address"),
        ] {
            let err = bad.parse::<Network>().unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert_eq!(
            " 10.0.0.0/8 ".parse::<Network>().unwrap().to_string(),
            "10.0.0.0/8"
        );
    }

    #[test]
    fn trusted_addresses_have_no_key() {
        let hosts = Hosts::new(limits());
        assert_eq!(hosts.key(ip("127.0.0.1")), None);
        assert_eq!(hosts.key(ip("10.9.8.7")), None);
        assert_eq!(hosts.key(ip("::ffff:10.9.8.7")), None);
        assert_eq!(hosts.key(ip("127.0.0.2")), Some(key("127.0.0.2")));
        assert_eq!(
            Hosts::new(HostLimits::default()).key(ip("127.0.0.1")),
            Some(key("127.0.0.1"))
        );
    }

    #[test]
    fn connections_open_at_once_are_capped_per_address() {
        let t0 = Instant::now();
        let mut hosts = Hosts::new(HostLimits {
            joins: None,
            ..limits()
        });
        let (a, b) = (key("192.0.2.1"), key("192.0.2.2"));
        for _ in 0..3 {
            assert_eq!(hosts.check_connect(a, t0), Ok(()));
            hosts.opened(a, t0);
        }
        assert_eq!(
            hosts.check_connect(a, t0),
            Err(Refusal::TooManyOpen { limit: 3 })
        );
        assert_eq!(
            hosts.check_connect(b, t0),
            Ok(()),
            "another address is not held back"
        );
        hosts.closed(a);
        assert_eq!(hosts.check_connect(a, t0), Ok(()));
        assert_eq!(hosts.open(a), 2);
    }

    #[test]
    fn new_connections_get_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut hosts = Hosts::new(HostLimits {
            max_open: None,
            ..limits()
        });
        let a = key("192.0.2.1");
        let mut admitted = 0;
        for _ in 0..20 {
            if hosts.check_connect(a, t0).is_ok() {
                hosts.opened(a, t0);
                hosts.closed(a); // churn: connect and leave at once
                admitted += 1;
            }
        }
        assert_eq!(admitted, 5, "the burst");
        let rate = Rate::new(2.0, 5).unwrap();
        assert_eq!(hosts.check_connect(a, t0), Err(Refusal::TooFast { rate }));
        assert!(hosts.check_connect(a, secs(t0, 0.49)).is_err());
        assert!(
            hosts.check_connect(a, secs(t0, 0.5)).is_ok(),
            "two a second"
        );
        // Refused attempts cost nothing: 10 s later the burst is whole again.
        let t10 = secs(t0, 10.0);
        assert_eq!(
            (0..20)
                .filter(|_| {
                    let ok = hosts.check_connect(a, t10).is_ok();
                    if ok {
                        hosts.opened(a, t10);
                    }
                    ok
                })
                .count(),
            5,
            "the burst again"
        );
    }

    #[test]
    fn lines_are_shared_by_every_connection_of_an_address() {
        let t0 = Instant::now();
        let mut hosts = Hosts::new(limits());
        let (a, b) = (key("192.0.2.1"), key("192.0.2.2"));
        hosts.opened(a, t0);
        hosts.opened(a, t0);
        assert_eq!((0..200).filter(|_| hosts.take_line(a, t0)).count(), 80);
        assert!(hosts.take_line(b, t0), "another address has its own");
        assert_eq!(
            (0..200)
                .filter(|_| hosts.take_line(a, secs(t0, 1.0)))
                .count(),
            40
        );
    }

    #[test]
    fn a_large_reply_goes_while_the_budget_is_not_in_debt_and_is_paid_for_after() {
        let t0 = Instant::now();
        let mut hosts = Hosts::new(limits());
        let a = key("192.0.2.1");
        let mut sent = 0;
        while hosts.reply_wait(a, t0).is_none() && sent < 100 {
            hosts.charge_reply(a, 1500, t0);
            sent += 1;
        }
        assert_eq!(
            sent, 3,
            "4,000 bytes of credit: 1,500 + 1,500 + 1,500 (the last in debt)"
        );
        let wait = hosts.reply_wait(a, t0).unwrap();
        assert!(
            wait.abs_diff(Duration::from_millis(501)) < Duration::from_millis(1),
            "{wait:?}"
        );
        assert!(hosts.reply_wait(a, secs(t0, 0.49)).is_some());
        assert_eq!(hosts.reply_wait(a, secs(t0, 0.51)), None);
        // One reply bigger than the whole burst still goes, to an address that was quiet.
        let b = key("192.0.2.2");
        assert_eq!(hosts.reply_wait(b, t0), None);
        hosts.charge_reply(b, 100_000, t0);
        assert!(hosts.reply_wait(b, secs(t0, 95.0)).is_some());
        assert_eq!(hosts.reply_wait(b, secs(t0, 96.01)), None);
    }

    #[test]
    fn idle_addresses_are_forgotten_once_their_budgets_refill() {
        let t0 = Instant::now();
        let mut hosts = Hosts::new(limits());
        let held = key("198.51.100.1");
        hosts.opened(held, t0);
        for i in 1..limits::HOSTS_SWEEP_MIN {
            let k = HostKey::of(IpAddr::from([192, 0, 2, u8::try_from(i).unwrap()]));
            hosts.opened(k, t0);
            hosts.closed(k);
        }
        assert_eq!(hosts.len(), limits::HOSTS_SWEEP_MIN);
        // Their join buckets are full again 2.5 s later (5 at 2 a second): the next connection
        // sweeps all but the address that still holds one.
        let later = secs(t0, 3.0);
        hosts.opened(key("203.0.113.1"), later);
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts.open(held), 1);
    }

    #[test]
    fn refusals_say_what_to_do() {
        let many = Refusal::TooManyOpen { limit: 16 }.to_string();
        assert!(
            many.contains("16 connections") && many.contains("close one"),
            "{many}"
        );
        let fast = Refusal::TooFast {
            rate: Rate::new(2.0, 10).unwrap(),
        }
        .to_string();
        assert!(
            fast.contains("2 new connections a second") && fast.contains("10"),
            "{fast}"
        );
    }
}
