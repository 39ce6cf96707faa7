//! Finding servers on the LAN without knowing their address (`lanchat --discover`).
//!
//! The client sends two datagrams to UDP port 7070 of the limited broadcast address
//! (255.255.255.255) and of each IPv4 interface's own broadcast address (a host without a
//! default route cannot send to the limited one): `LANCHAT? 2` padded to 256 bytes, answered
//! `LANCHAT! 2 <tcp-port> <users> <tls|plain> <fingerprint or -> <name>`, and `LANCHAT? 1` for
//! servers that predate version 2, answered `LANCHAT! 1 <tcp-port> <users> <name>`. It waits
//! about a second and lists what answered: name, address, users, whether the server is
//! encrypted, the start of its key's fingerprint and whether that key is already known.
//! Only ever run when the user asks.
//!
//! A reply is never trusted: anyone on the LAN can send one. Picking a server only gives an
//! address; connecting to it still goes through the TLS handshake and first contact.

use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use lanchat_proto::discovery::{probe_v2, Transport};
use lanchat_proto::DISCOVERY_PROBE;

use crate::addr::ServerAddr;
use crate::known_servers::{host_key, KnownServers, Lookup};
use crate::sanitize::sanitize;

/// How long to listen for replies.
pub const DEFAULT_WAIT: Duration = Duration::from_millis(1000);

/// Largest reply datagram read (servers send at most 256 bytes).
const MAX_REPLY: usize = 512;

/// Base64 characters of a fingerprint shown in the list: enough to tell servers apart and to
/// spot a change, never enough to check a key by (first contact shows all of it).
pub const SHORT_FINGERPRINT: usize = 12;

/// One server that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The server's name (its `--name` or host name), sanitised for display.
    pub name: String,
    /// Where to connect: the address the reply came from, with the TCP port it gave.
    pub addr: SocketAddr,
    /// How many people are connected.
    pub users: u64,
    /// What the server said about encryption; `None` when it answered version 1 only.
    pub transport: Option<Transport>,
    /// Whether its key is already known ([`mark_known`]).
    pub known: Known,
}

/// Whether the key a server announced is one this user already trusts. Only a hint: the
/// handshake decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Not looked up (or the server announced no key).
    Unchecked,
    /// No key remembered for this address.
    New,
    /// The remembered key.
    Remembered,
    /// Another key than the one remembered for this address.
    Differs,
}

/// Parse a reply datagram received from `from`. `None` for anything that is not a reply
/// (other datagrams on the port, an unknown version, garbage).
pub fn parse_reply(datagram: &[u8], from: SocketAddr) -> Option<Found> {
    let reply = lanchat_proto::discovery::parse_reply(std::str::from_utf8(datagram).ok()?)?;
    let name = if reply.name.is_empty() {
        "(no name)".to_owned()
    } else {
        sanitize(reply.name).into_owned()
    };
    Some(Found {
        name,
        addr: SocketAddr::new(from.ip(), reply.port),
        users: reply.users,
        transport: reply.transport,
        known: Known::Unchecked,
    })
}

/// Look each found server's announced key up in `known` (by `<ip>:<port>`, as the address
/// would be typed).
pub fn mark_known(found: &mut [Found], known: &KnownServers) {
    for f in found {
        f.known = match f.transport {
            Some(Transport::Tls(fp)) => {
                let addr = ServerAddr {
                    host: f.addr.ip().to_string(),
                    port: f.addr.port(),
                };
                match known.lookup(&host_key(&addr), &fp) {
                    Lookup::Unknown => Known::New,
                    Lookup::Match => Known::Remembered,
                    Lookup::Changed { .. } => Known::Differs,
                }
            }
            Some(Transport::Plain) | None => Known::Unchecked,
        };
    }
}

/// The IPv4 broadcast addresses to probe: 255.255.255.255, then the broadcast address of each
/// interface that is up, not loopback, and can broadcast.
pub fn broadcast_targets() -> Vec<IpAddr> {
    let mut out = vec![IpAddr::V4(Ipv4Addr::BROADCAST)];
    for b in interface_broadcasts() {
        let ip = IpAddr::V4(b);
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn interface_broadcasts() -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we own until freeifaddrs; we only read it
    // in between, following `ifa_next` and checking each pointer before use.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while let Some(ifa) = cur.as_ref() {
            cur = ifa.ifa_next;
            let flags = ifa.ifa_flags as libc::c_int;
            let wanted = flags & libc::IFF_UP != 0
                && flags & libc::IFF_BROADCAST != 0
                && flags & libc::IFF_LOOPBACK == 0;
            if !wanted || ifa.ifa_addr.is_null() || ifa.ifa_ifu.is_null() {
                continue;
            }
            if i32::from((*ifa.ifa_addr).sa_family) != libc::AF_INET
                || i32::from((*ifa.ifa_ifu).sa_family) != libc::AF_INET
            {
                continue;
            }
            // With IFF_BROADCAST, ifa_ifu is the broadcast address (a sockaddr_in here).
            let sin = &*(ifa.ifa_ifu as *const libc::sockaddr_in);
            out.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
        }
        libc::freeifaddrs(head);
    }
    out
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn interface_broadcasts() -> Vec<Ipv4Addr> {
    Vec::new()
}

/// Most servers listed from one discovery: a host spraying replies cannot flood the screen.
pub const MAX_FOUND: usize = 50;

/// Answers of up to this many digits at the pick prompt are list numbers, never addresses.
const MAX_PICK_DIGITS: usize = 5;

/// Probe `targets` on UDP `port` and collect replies for `wait`. The probe is sent twice (at
/// the start and a third of the way in) in case one is lost; replies are de-duplicated by
/// address and sorted by name.
///
/// # Errors
/// The socket could not be set up, or the probe could not be sent to any target.
pub fn discover(targets: &[IpAddr], port: u16, wait: Duration) -> io::Result<Vec<Found>> {
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket.set_broadcast(true)?;
    // Version 2 first: a server that rations its replies answers the first probe it gets.
    let probes = [probe_v2(), DISCOVERY_PROBE.as_bytes().to_vec()];
    let send_all = || -> io::Result<()> {
        let mut last_err = None;
        let mut sent = false;
        for ip in targets {
            for probe in &probes {
                match socket.send_to(probe, SocketAddr::new(*ip, port)) {
                    Ok(_) => sent = true,
                    // One interface without a route is not a failure while others work.
                    Err(e) => last_err = Some(e),
                }
            }
        }
        match (sent, last_err) {
            (false, Some(e)) => Err(e),
            _ => Ok(()),
        }
    };
    send_all()?;
    let start = Instant::now();
    let deadline = start + wait;
    let mut resend_at = Some(start + wait / 3);
    let mut found: Vec<Found> = Vec::new();
    let mut buf = [0u8; MAX_REPLY];
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let next = resend_at.map_or(deadline, |r| r.min(deadline));
        if let Some(r) = resend_at {
            if now >= r {
                resend_at = None;
                let _ = send_all();
                continue;
            }
        }
        socket.set_read_timeout(Some(
            next.saturating_duration_since(now)
                .max(Duration::from_millis(1)),
        ))?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                if let Some(f) = parse_reply(&buf[..n], from) {
                    add_found(&mut found, f);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            // ICMP port unreachable from a unicast target shows up here; keep listening.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
            Err(e) => return Err(e),
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name).then(a.addr.cmp(&b.addr)));
    Ok(found)
}

/// Add `f` unless its address is listed already; a version-2 reply replaces a version-1 reply
/// from the same server (it says more). At most [`MAX_FOUND`].
fn add_found(found: &mut Vec<Found>, f: Found) {
    match found.iter().position(|g| g.addr == f.addr) {
        Some(i) if found[i].transport.is_none() && f.transport.is_some() => found[i] = f,
        Some(_) => {}
        None if found.len() < MAX_FOUND => found.push(f),
        None => {}
    }
}

/// The list shown to the user, numbered from 1: per server a line with name, address and
/// users, and under it one saying whether it is encrypted, with the start of its key's
/// fingerprint and whether that key is known.
pub fn format_found(found: &[Found]) -> Vec<String> {
    let mut lines = Vec::with_capacity(found.len() * 2);
    for (i, f) in found.iter().enumerate() {
        let users = if f.users == 1 { "user" } else { "users" };
        let head = format!("  {}) ", i + 1);
        let indent = " ".repeat(head.len());
        lines.push(format!(
            "{head}{} at {}, {} {users}",
            f.name, f.addr, f.users
        ));
        let security = match f.transport {
            Some(Transport::Tls(fp)) => {
                let known = match f.known {
                    Known::Unchecked => "",
                    Known::New => ", new to you",
                    Known::Remembered => ", known",
                    Known::Differs => ", NOT the key you know for it",
                };
                format!("encrypted, key {}…{known}", fp.short(SHORT_FINGERPRINT))
            }
            Some(Transport::Plain) => "NOT encrypted: anyone on the network can read it".into(),
            None => "encryption not stated (an older lanchat server)".into(),
        };
        lines.push(format!("{indent}{security}"));
    }
    lines
}

/// What the user answered to the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// A server from the list.
    Server(SocketAddr),
    /// Something else: an address to parse, or `?` to look again.
    Typed(String),
    /// A number that is not on the list.
    OutOfRange(usize),
}

/// Interpret `answer` (a number from the list, or anything else) against `found`.
pub fn pick(answer: &str, found: &[Found]) -> Pick {
    let a = answer.trim();
    match a.parse::<usize>() {
        Ok(n) if (1..=found.len()).contains(&n) => Pick::Server(found[n - 1].addr),
        // A short number is a wrong pick; a long one (a bare IPv4 address has dots, but
        // `7070`-like answers are ambiguous) is more likely a typed address or host.
        Ok(n) if a.len() <= MAX_PICK_DIGITS => Pick::OutOfRange(n),
        _ => Pick::Typed(a.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lanchat_proto::Fingerprint;

    const FP: &str = "SHA256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn fp() -> Fingerprint {
        FP.parse().unwrap()
    }

    fn from() -> SocketAddr {
        "192.168.1.20:7070".parse().unwrap()
    }

    #[test]
    fn reply_table() {
        let found = |name: &str, port: u16, users: u64, transport| {
            Some(Found {
                name: name.to_owned(),
                addr: SocketAddr::new(from().ip(), port),
                users,
                transport,
                known: Known::Unchecked,
            })
        };
        let ok = |name: &str, port: u16, users: u64| found(name, port, users, None);
        let tls_office = format!("LANCHAT! 2 7070 3 tls {FP} office");
        let cases: &[(&[u8], Option<Found>)] = &[
            (b"LANCHAT! 1 7070 3 office", ok("office", 7070, 3)),
            (
                b"LANCHAT! 1 7071 0 the big room",
                ok("the big room", 7071, 0),
            ),
            (b"LANCHAT! 1 7070 1 office\n", ok("office", 7070, 1)),
            (b"LANCHAT! 1 7070 1", ok("(no name)", 7070, 1)),
            (b"LANCHAT! 1 7070 1 ", ok("(no name)", 7070, 1)),
            (
                "LANCHAT! 1 7070 2 ev\u{1b}[2Jil\u{202e}".as_bytes(),
                ok("ev␛[2Jil\u{fffd}", 7070, 2),
            ),
            (
                tls_office.as_bytes(),
                found("office", 7070, 3, Some(Transport::Tls(fp()))),
            ),
            (
                b"LANCHAT! 2 7071 0 plain - lab",
                found("lab", 7071, 0, Some(Transport::Plain)),
            ),
            (b"LANCHAT! 2 7070 3 future", None),
            (b"LANCHAT! 2 7070 3 tls - x", None),
            (b"LANCHAT! 3 7070 3 plain - x", None),
            (b"LANCHAT? 1", None),
            (b"LANCHAT! 1 0 3 x", None),
            (b"LANCHAT! 1 70000 3 x", None),
            (b"LANCHAT! 1 7070 many x", None),
            (b"LANCHAT! 1 7070", None),
            (b"LANCHAT! 1 ", None),
            (b"\xff\xfe", None),
            (b"", None),
        ];
        for (datagram, want) in cases {
            assert_eq!(
                &parse_reply(datagram, from()),
                want,
                "{:?}",
                String::from_utf8_lossy(datagram)
            );
        }
    }

    #[test]
    fn targets_start_with_the_limited_broadcast_and_have_no_loopback() {
        let t = broadcast_targets();
        assert_eq!(t[0], IpAddr::V4(Ipv4Addr::BROADCAST));
        assert!(t.iter().all(|ip| !ip.is_loopback()), "{t:?}");
    }

    #[test]
    fn a_v2_reply_replaces_a_v1_reply_from_the_same_server_and_not_the_other_way() {
        let v1 = parse_reply(b"LANCHAT! 1 7070 1 office", from()).unwrap();
        let v2 = parse_reply(b"LANCHAT! 2 7070 1 plain - office", from()).unwrap();
        for order in [[&v1, &v2], [&v2, &v1]] {
            let mut found = Vec::new();
            for f in order {
                add_found(&mut found, f.clone());
            }
            assert_eq!(found, std::slice::from_ref(&v2));
        }
    }

    #[test]
    fn list_and_pick() {
        let mut found = vec![
            parse_reply(b"LANCHAT! 1 7070 1 office", from()).unwrap(),
            parse_reply(
                b"LANCHAT! 2 7071 5 plain - lab",
                "10.0.0.2:7070".parse().unwrap(),
            )
            .unwrap(),
        ];
        for (i, port) in [(3, 7072), (4, 7073), (5, 7074), (10, 7075)] {
            let reply = format!("LANCHAT! 2 {port} 0 tls {FP} room{i}");
            found.push(parse_reply(reply.as_bytes(), "10.0.0.3:7070".parse().unwrap()).unwrap());
        }
        let known = KnownServers::parse(&format!(
            "10.0.0.3:7073 {FP}\n10.0.0.3:7074 {}\n",
            Fingerprint::from_digest([1; 32])
        ));
        mark_known(&mut found[3..], &known);
        assert_eq!(found[2].known, Known::Unchecked, "not looked up");
        assert_eq!(found[3].known, Known::Remembered);
        assert_eq!(found[4].known, Known::Differs);
        assert_eq!(found[5].known, Known::New);
        assert_eq!(
            format_found(&found),
            [
                "  1) office at 192.168.1.20:7070, 1 user",
                "     encryption not stated (an older lanchat server)",
                "  2) lab at 10.0.0.2:7071, 5 users",
                "     NOT encrypted: anyone on the network can read it",
                "  3) room3 at 10.0.0.3:7072, 0 users",
                "     encrypted, key SHA256:AAECAwQFBgcI…",
                "  4) room4 at 10.0.0.3:7073, 0 users",
                "     encrypted, key SHA256:AAECAwQFBgcI…, known",
                "  5) room5 at 10.0.0.3:7074, 0 users",
                "     encrypted, key SHA256:AAECAwQFBgcI…, NOT the key you know for it",
                "  6) room10 at 10.0.0.3:7075, 0 users",
                "     encrypted, key SHA256:AAECAwQFBgcI…, new to you",
            ]
        );
        assert_eq!(
            pick(" 2 ", &found),
            Pick::Server("10.0.0.2:7071".parse().unwrap())
        );
        assert_eq!(pick("7", &found), Pick::OutOfRange(7));
        assert_eq!(pick("0", &found), Pick::OutOfRange(0));
        assert_eq!(pick("10.0.0.9", &found), Pick::Typed("10.0.0.9".into()));
        assert_eq!(
            pick("chatbox:7071", &found),
            Pick::Typed("chatbox:7071".into())
        );
        assert_eq!(pick("?", &found), Pick::Typed("?".into()));
    }

    #[test]
    fn probe_and_reply_over_loopback() {
        // A stand-in server on loopback: answers each probe as a version-2 server does. (The
        // real server is tested against the real binary in integration-tests.)
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            let mut seen = Vec::new();
            for _ in 0..2 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                seen.push(buf[..n].to_vec());
                let reply = if buf[..n].starts_with(b"LANCHAT? 2") {
                    format!("LANCHAT! 2 7070 2 tls {FP} loop")
                } else {
                    "LANCHAT! 1 7070 2 loop".to_owned()
                };
                server.send_to(reply.as_bytes(), from).unwrap();
            }
            seen
        });
        let found = discover(
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            port,
            Duration::from_millis(500),
        )
        .unwrap();
        let seen = t.join().unwrap();
        assert_eq!(seen, [probe_v2(), DISCOVERY_PROBE.as_bytes().to_vec()]);
        assert_eq!(
            found,
            [Found {
                name: "loop".into(),
                addr: "127.0.0.1:7070".parse().unwrap(),
                users: 2,
                transport: Some(Transport::Tls(fp())),
                known: Known::Unchecked,
            }]
        );
    }
}
