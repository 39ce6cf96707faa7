//! Finding servers on the LAN without knowing their address (`lanchat --discover`).
//!
//! The client sends the datagram `LANCHAT? 1` to UDP port 7070 of the limited broadcast address
//! (255.255.255.255) and of each IPv4 interface's own broadcast address (a host without a
//! default route cannot send to the limited one), waits about a second, and collects the replies
//! `LANCHAT! 1 <tcp-port> <users> <name>`. Only ever run when the user asks.

use std::io::{self, ErrorKind};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use lanchat_proto::DISCOVERY_PROBE;

use crate::sanitize::sanitize;

/// How long to listen for replies.
pub const DEFAULT_WAIT: Duration = Duration::from_millis(1000);

/// Largest reply datagram read (servers send at most 128 bytes).
const MAX_REPLY: usize = 512;

/// One server that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The server's name (its `--name` or host name), sanitised for display.
    pub name: String,
    /// Where to connect: the address the reply came from, with the TCP port it gave.
    pub addr: SocketAddr,
    /// How many people are connected.
    pub users: u64,
}

/// Parse a reply datagram received from `from`. `None` for anything that is not a version-1
/// reply (other datagrams on the port, a newer version, garbage).
pub fn parse_reply(datagram: &[u8], from: SocketAddr) -> Option<Found> {
    let reply = lanchat_proto::discovery::parse_reply(std::str::from_utf8(datagram).ok()?)?;
    let (port, users, name) = (reply.port, reply.users, reply.name);
    let name = if name.is_empty() {
        "(no name)".to_owned()
    } else {
        sanitize(name).into_owned()
    };
    Some(Found {
        name,
        addr: SocketAddr::new(from.ip(), port),
        users,
    })
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
    let send_all = || -> io::Result<()> {
        let mut last_err = None;
        let mut sent = false;
        for ip in targets {
            match socket.send_to(DISCOVERY_PROBE.as_bytes(), SocketAddr::new(*ip, port)) {
                Ok(_) => sent = true,
                // One interface without a route is not a failure while others work.
                Err(e) => last_err = Some(e),
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
                    if found.len() < MAX_FOUND && !found.iter().any(|g| g.addr == f.addr) {
                        found.push(f);
                    }
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

/// The list shown to the user, one line per server, numbered from 1.
pub fn format_found(found: &[Found]) -> Vec<String> {
    found
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let users = if f.users == 1 { "user" } else { "users" };
            format!("  {}) {} at {}, {} {users}", i + 1, f.name, f.addr, f.users)
        })
        .collect()
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

    fn from() -> SocketAddr {
        "192.168.1.20:7070".parse().unwrap()
    }

    #[test]
    fn reply_table() {
        let ok = |name: &str, port: u16, users: u64| {
            Some(Found {
                name: name.to_owned(),
                addr: SocketAddr::new(from().ip(), port),
                users,
            })
        };
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
            (b"LANCHAT! 2 7070 3 future", None),
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
    fn list_and_pick() {
        let found = vec![
            parse_reply(b"LANCHAT! 1 7070 1 office", from()).unwrap(),
            parse_reply(b"LANCHAT! 1 7071 5 lab", "10.0.0.2:7070".parse().unwrap()).unwrap(),
        ];
        assert_eq!(
            format_found(&found),
            [
                "  1) office at 192.168.1.20:7070, 1 user",
                "  2) lab at 10.0.0.2:7071, 5 users"
            ]
        );
        assert_eq!(
            pick(" 2 ", &found),
            Pick::Server("10.0.0.2:7071".parse().unwrap())
        );
        assert_eq!(pick("3", &found), Pick::OutOfRange(3));
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
        // A stand-in server on loopback: answers one probe the way the real one does. (The
        // real server is tested against the real binary in integration-tests.)
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], DISCOVERY_PROBE.as_bytes());
            server.send_to(b"LANCHAT! 1 7070 2 loop", from).unwrap();
        });
        let found = discover(
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            port,
            Duration::from_millis(500),
        )
        .unwrap();
        t.join().unwrap();
        assert_eq!(
            found,
            [Found {
                name: "loop".into(),
                addr: "127.0.0.1:7070".parse().unwrap(),
                users: 2
            }]
        );
    }
}
