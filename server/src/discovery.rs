//! LAN discovery, as pure logic: which datagrams are probes, what the reply says, and how often
//! anyone may get one. The event loop owns the UDP socket and calls in here.
//!
//! A probe is the datagram `LANCHAT? 1`; the reply is `LANCHAT! 1 <tcp-port> <users> <name>`,
//! sent to the asker only. Replies are capped in size ([`MAX_REPLY`]) and in rate, per source
//! address and in total, so the server cannot be used to amplify traffic at a forged address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use lanchat_proto::discovery::PROBE;

/// Largest reply, in bytes. The name is cut (at a character boundary) to fit.
pub const MAX_REPLY: usize = 128;
/// Largest datagram read; anything longer is not a probe.
pub const MAX_PROBE: usize = 64;
/// Replies per source address per window.
pub const PER_SOURCE: u32 = 5;
/// Replies in total per window.
pub const TOTAL: u32 = 100;
/// The rate window.
pub const WINDOW: Duration = Duration::from_secs(1);
/// Sources remembered at once; the table is cleared when a window passes with this many.
const MAX_SOURCES: usize = 4096;

/// True when `datagram` is a discovery probe (version 1).
pub fn is_probe(datagram: &[u8]) -> bool {
    datagram.len() <= MAX_PROBE && std::str::from_utf8(datagram).is_ok_and(|s| s.trim() == PROBE)
}

/// The reply datagram, never longer than [`MAX_REPLY`].
pub fn reply(tcp_port: u16, users: usize, name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAX_REPLY);
    lanchat_proto::discovery::encode_reply_head(tcp_port, users, &mut out);
    let mut room = MAX_REPLY.saturating_sub(out.len());
    // Control and bidi-override characters would let a server name rearrange a client's screen.
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
    out
}

/// Reply budget per source and in total, over fixed windows; time is passed in.
#[derive(Debug, Default)]
pub struct ReplyLimiter {
    window_start: Option<Instant>,
    total: u32,
    per_source: HashMap<IpAddr, u32>,
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
        if self.total >= TOTAL {
            return false;
        }
        if self.per_source.len() >= MAX_SOURCES && !self.per_source.contains_key(&source) {
            return false;
        }
        let n = self.per_source.entry(source).or_insert(0);
        if *n >= PER_SOURCE {
            return false;
        }
        *n += 1;
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

    #[test]
    fn probes() {
        assert!(is_probe(b"LANCHAT? 1"));
        assert!(is_probe(b"LANCHAT? 1\n"));
        assert!(!is_probe(b"LANCHAT? 2"));
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
    fn limiter_caps_per_source_and_total() {
        let t0 = Instant::now();
        let mut l = ReplyLimiter::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
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
        assert!(l.allow(a, t0 + WINDOW));
    }
}
