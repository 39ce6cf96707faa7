//! LAN discovery, as pure logic: which datagrams are probes, what the reply says, and how often
//! anyone may get one. The event loop owns the UDP socket and calls in here.
//!
//! A probe is `LANCHAT? 1` (answered `LANCHAT! 1 <tcp-port> <users> <name>`) or `LANCHAT? 2`
//! padded to 256 bytes (answered `LANCHAT! 2 <tcp-port> <users> <tls|plain> <fingerprint or ->
//! <name>`), sent to the asker only. A version-2 reply is never longer than its probe, a
//! version-1 reply never longer than [`MAX_REPLY`]; replies are limited per source and in total,
//! and the total is shared fairly ([`ReplyLimiter`]), so the server can neither amplify traffic
//! at a forged address nor be silenced for everyone by a flood from a few.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use lanchat_proto::discovery::{self as wire, Probe, V2_PROBE_LEN};

use crate::hosts::HostKey;

pub use lanchat_proto::discovery::Transport;

/// Largest version-1 reply, in bytes. The name is cut (at a character boundary) to fit.
pub const MAX_REPLY: usize = 128;
/// Largest datagram read; anything longer is not a probe. Room for a padded version-2 probe and
/// some slack for clients that pad more.
pub const MAX_PROBE: usize = 2 * V2_PROBE_LEN;
/// Replies per source per window.
pub const PER_SOURCE: u32 = 5;
/// Replies in total per window.
pub const TOTAL: u32 = 100;
/// The rate window.
pub const WINDOW: Duration = Duration::from_secs(1);

/// True when `datagram` is a probe this server answers: `LANCHAT? 1`, or `LANCHAT? 2` padded
/// to at least 256 bytes.
pub fn is_probe(datagram: &[u8]) -> bool {
    datagram.len() <= MAX_PROBE && wire::parse_probe(datagram).is_some()
}

/// The version-1 reply, never longer than [`MAX_REPLY`].
pub fn reply(tcp_port: u16, users: usize, name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_REPLY);
    wire::encode_reply_head(tcp_port, users, &mut out);
    push_name(&mut out, name, MAX_REPLY);
    out
}

/// The reply to `probe` (a datagram [`is_probe`] accepted): version 2, saying `transport`, for
/// a version-2 probe, never longer than the probe; the version-1 [`reply`] otherwise.
pub fn reply_to(
    probe: &[u8],
    tcp_port: u16,
    users: usize,
    name: &str,
    transport: &Transport,
) -> Vec<u8> {
    match wire::parse_probe(probe) {
        Some(Probe::V2) => {
            let mut out = Vec::with_capacity(V2_PROBE_LEN);
            wire::encode_reply_v2_head(tcp_port, users, transport, &mut out);
            push_name(&mut out, name, V2_PROBE_LEN.min(probe.len()));
            out
        }
        Some(Probe::V1) | None => reply(tcp_port, users, name),
    }
}

/// Append as much of `name` as fits in `max` bytes of `out`, whole characters only, without
/// control or bidi-override characters (they would let a server name rearrange a client's
/// screen).
fn push_name(out: &mut Vec<u8>, name: &str, max: usize) {
    let mut room = max.saturating_sub(out.len());
    for c in name
        .chars()
        .filter(|&c| !lanchat_proto::is_terminal_control(c))
    {
        if c.len_utf8() > room {
            break;
        }
        room -= c.len_utf8();
        let mut buf = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
}

/// Reply budget per source and in total, over fixed windows; time is passed in.
///
/// Fair: a source's first reply in a window may use the whole [`TOTAL`], its second only the
/// first half of it, its third the first quarter, and so on. However hard some addresses
/// flood, they cannot take more than about half the budget from sources asking for the first
/// time, so a person's probe is still answered. A source is an IPv4 address or an IPv6 /64
/// (one host can hold a whole /64): a [`HostKey`], as for the per-address connection limits.
#[derive(Debug, Default)]
pub struct ReplyLimiter {
    window_start: Option<Instant>,
    total: u32,
    /// Replies granted this window, per source; holds at most [`TOTAL`] entries, since only
    /// granted replies are entered.
    per_source: HashMap<HostKey, u32>,
}

impl ReplyLimiter {
    /// May `source` get a reply now? Counts the reply if so.
    pub fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        let fresh = self
            .window_start
            .is_none_or(|s| now.saturating_duration_since(s) >= WINDOW);
        if fresh {
            self.window_start = Some(now);
            self.total = 0;
            self.per_source.clear();
        }
        let key = HostKey::of(source);
        let granted = self.per_source.get(&key).copied().unwrap_or(0);
        if granted >= PER_SOURCE || self.total >= TOTAL.checked_shr(granted).unwrap_or(0) {
            return false;
        }
        self.per_source.insert(key, granted + 1);
        self.total += 1;
        true
    }
}

/// This machine's host name, for the default server name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname NUL-terminates on success
    // when the name fits, and we never read past the buffer either way.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "lanchat".to_owned();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).trim().to_owned();
    if name.is_empty() {
        "lanchat".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanchat_proto::Fingerprint;

    fn fp() -> Fingerprint {
        Fingerprint::from_digest([7; 32])
    }

    #[test]
    fn probes() {
        let v2 = wire::probe_v2();
        assert!(is_probe(b"LANCHAT? 1"));
        assert!(is_probe(b"LANCHAT? 1\n"));
        assert!(is_probe(&v2));
        assert!(
            !is_probe(b"LANCHAT? 2"),
            "unpadded: the reply could be bigger"
        );
        assert!(!is_probe(&v2[..V2_PROBE_LEN - 1]));
        assert!(!is_probe(&[&v2[..], &[b' '; MAX_PROBE][..]].concat()));
        assert!(!is_probe(b"LANCHAT! 1 7070 3 x"));
        assert!(!is_probe(&[b'x'; 1000]));
        assert!(!is_probe(b"\xff\xfe"));
    }

    #[test]
    fn reply_is_bounded_and_clean() {
        assert_eq!(reply(7070, 3, "office"), b"LANCHAT! 1 7070 3 office");
        let long = "ü".repeat(500);
        let r = reply(7070, 10_000, &long);
        assert!(r.len() <= MAX_REPLY);
        assert!(std::str::from_utf8(&r).is_ok());
        assert_eq!(reply(1, 0, "a\u{1b}[2Jb"), b"LANCHAT! 1 1 0 a[2Jb");
        assert_eq!(reply(1, 0, "ab\u{202e}cd"), b"LANCHAT! 1 1 0 abcd");
    }

    #[test]
    fn a_reply_answers_the_version_asked_and_is_never_bigger_than_a_v2_probe() {
        let v2 = wire::probe_v2();
        assert_eq!(
            reply_to(b"LANCHAT? 1", 7070, 3, "office", &Transport::Tls(fp())),
            b"LANCHAT! 1 7070 3 office"
        );
        assert_eq!(
            reply_to(&v2, 7070, 3, "office", &Transport::Plain),
            b"LANCHAT! 2 7070 3 plain - office"
        );
        let tls = reply_to(&v2, 7070, 3, "office", &Transport::Tls(fp()));
        let text = std::str::from_utf8(&tls).expect("utf-8");
        assert_eq!(
            wire::parse_reply(text).map(|r| (r.transport, r.name)),
            Some((Some(Transport::Tls(fp())), "office"))
        );
        let long = "ü".repeat(500);
        for transport in [Transport::Plain, Transport::Tls(fp())] {
            let r = reply_to(&v2, u16::MAX, usize::MAX, &long, &transport);
            assert!(r.len() <= v2.len(), "{} > {}", r.len(), v2.len());
            let text = std::str::from_utf8(&r).expect("cut at a character boundary");
            assert!(wire::parse_reply(text).is_some_and(|p| p.name.starts_with('ü')));
        }
    }

    #[test]
    fn limiter_caps_per_source_and_total() {
        let t0 = Instant::now();
        let mut l = ReplyLimiter::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        // Alone, a source gets its PER_SOURCE replies (the tiers are far from full).
        assert_eq!(
            (0..20).filter(|_| l.allow(a, t0)).count(),
            PER_SOURCE as usize
        );
        let mut granted = PER_SOURCE;
        for i in 0..200u32 {
            let src = IpAddr::from([10, 0, (i / 250) as u8, (i % 250) as u8 + 2]);
            granted += u32::from(l.allow(src, t0));
        }
        assert_eq!(granted, TOTAL);
        assert!(l.allow(a, t0 + WINDOW), "a new window starts afresh");
    }

    #[test]
    fn a_flood_from_forty_addresses_leaves_first_probes_answered() {
        // 1,000 probes in one window from 40 addresses (25 each, interleaved), with a probe
        // from each of 40 other addresses spread through them.
        let t0 = Instant::now();
        let mut l = ReplyLimiter::default();
        let mut flood_granted = 0;
        let mut real_granted = 0;
        for round in 0..25u8 {
            for host in 0..40u8 {
                flood_granted += u32::from(l.allow(IpAddr::from([10, 1, 0, host]), t0));
            }
            for k in 0..2u8 {
                let real = IpAddr::from([10, 2, 0, round * 2 + k]);
                real_granted += u32::from(l.allow(real, t0));
            }
        }
        assert_eq!(real_granted, 50, "every first probe is answered");
        assert!(flood_granted <= TOTAL / 2, "the flood took {flood_granted}");
        assert!(flood_granted + real_granted <= TOTAL);
    }

    #[test]
    fn sources_are_ipv4_addresses_and_ipv6_slash_64s() {
        let t0 = Instant::now();
        // Each pair shares a budget when `same`; the first spends all of it.
        for (a, b, same) in [
            ("fe80::1", "fe80::2:3:4:5", true),
            ("fe80::1", "fe80:0:0:1::1", false),
            ("192.0.2.1", "::ffff:192.0.2.1", true),
            ("192.0.2.1", "192.0.2.2", false),
        ] {
            let mut l = ReplyLimiter::default();
            while l.allow(a.parse().unwrap(), t0) {}
            assert_eq!(l.allow(b.parse().unwrap(), t0), !same, "{a} {b}");
        }
    }
}
