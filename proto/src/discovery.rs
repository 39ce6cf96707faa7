//! LAN discovery datagrams (UDP, on the server's TCP port): the probes a client broadcasts and
//! the replies a server sends back, versions 1 and 2. Rate limits and sanitising are the
//! server's and the client's business; this module only says what the bytes are.
//!
//! Version 2 says whether the server is encrypted and with which key, and is built so the
//! server can never be used to amplify a flood sent from a forged address: a v2 probe is padded
//! to [`V2_PROBE_LEN`] bytes, and no v2 reply is longer than that.

use crate::fingerprint::Fingerprint;

/// The version-1 probe.
pub const PROBE: &str = "LANCHAT? 1";

/// What a version-2 probe starts with; spaces pad it to [`V2_PROBE_LEN`] bytes.
pub const PROBE_V2: &str = "LANCHAT? 2";

/// Shortest version-2 probe a server answers, and the longest version-2 reply: a reply is never
/// bigger than the probe that asked for it.
pub const V2_PROBE_LEN: usize = 256;

/// What every version-1 reply starts with: `LANCHAT! 1 <tcp-port> <users> <name>`.
pub const REPLY_PREFIX: &str = "LANCHAT! 1 ";

/// What every version-2 reply starts with:
/// `LANCHAT! 2 <tcp-port> <users> <tls|plain> <fingerprint or -> <name>`.
pub const REPLY_PREFIX_V2: &str = "LANCHAT! 2 ";

/// A probe, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `LANCHAT? 1`: answered with a version-1 reply.
    V1,
    /// `LANCHAT? 2` padded to at least [`V2_PROBE_LEN`] bytes: answered with a version-2 reply.
    V2,
}

/// Read a datagram as a probe. `None` for anything else, including a version-2 probe shorter
/// than [`V2_PROBE_LEN`] (answering it could send more than was asked).
///
/// White space around the probe word is allowed (a trailing `\n` from `nc`, the padding).
pub fn parse_probe(datagram: &[u8]) -> Option<Probe> {
    let text = std::str::from_utf8(datagram).ok()?.trim();
    if text == PROBE {
        Some(Probe::V1)
    } else if text == PROBE_V2 && datagram.len() >= V2_PROBE_LEN {
        Some(Probe::V2)
    } else {
        None
    }
}

/// The version-2 probe a client sends: [`PROBE_V2`] and spaces, [`V2_PROBE_LEN`] bytes.
pub fn probe_v2() -> Vec<u8> {
    let mut out = PROBE_V2.as_bytes().to_vec();
    out.resize(V2_PROBE_LEN, b' ');
    out
}

/// How a server's TCP port is reached, as a version-2 reply says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `plain -`: the line protocol in the clear (`--plaintext`).
    Plain,
    /// `tls <fingerprint>`: TLS 1.3 with the key of this fingerprint.
    Tls(Fingerprint),
}

/// A reply, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The server's TCP port (never 0).
    pub port: u16,
    /// How many people are connected.
    pub users: u64,
    /// What a version-2 reply says of the transport; `None` for a version-1 reply, which
    /// does not say.
    pub transport: Option<Transport>,
    /// The server's name as sent (trimmed; possibly empty). Not sanitised.
    pub name: &'a str,
}

/// Append a version-1 reply's fixed part, `LANCHAT! 1 <tcp-port> <users> `, to `out`; the name
/// follows.
pub fn encode_reply_head(tcp_port: u16, users: usize, out: &mut Vec<u8>) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{REPLY_PREFIX}{tcp_port} {users} ");
}

/// Append a version-2 reply's fixed part,
/// `LANCHAT! 2 <tcp-port> <users> <tls|plain> <fingerprint or -> `, to `out`; the name follows.
pub fn encode_reply_v2_head(tcp_port: u16, users: usize, transport: &Transport, out: &mut Vec<u8>) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = match transport {
        Transport::Plain => write!(out, "{REPLY_PREFIX_V2}{tcp_port} {users} plain - "),
        Transport::Tls(fp) => write!(out, "{REPLY_PREFIX_V2}{tcp_port} {users} tls {fp} "),
    };
}

/// Parse a reply of either version (one trailing `\n` allowed). `None` for anything else:
/// other datagrams on the port, a version this crate does not know, garbage, port 0, a
/// transport word other than `tls`/`plain`, `tls` without a fingerprint.
pub fn parse_reply(text: &str) -> Option<Reply<'_>> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    if let Some(rest) = text.strip_prefix(REPLY_PREFIX) {
        let (port, users, rest) = port_and_users(rest)?;
        let name = rest.unwrap_or("").trim();
        return Some(Reply {
            port,
            users,
            transport: None,
            name,
        });
    }
    let rest = text.strip_prefix(REPLY_PREFIX_V2)?;
    let (port, users, rest) = port_and_users(rest)?;
    let mut parts = rest?.splitn(3, ' ');
    let transport = match (parts.next()?, parts.next()?) {
        ("plain", "-") => Transport::Plain,
        ("tls", fp) => Transport::Tls(fp.parse().ok()?),
        _ => return None,
    };
    let name = parts.next().unwrap_or("").trim();
    Some(Reply {
        port,
        users,
        transport: Some(transport),
        name,
    })
}

/// `<port> <users>[ <rest>]`: the two numbers every reply starts with.
fn port_and_users(text: &str) -> Option<(u16, u64, Option<&str>)> {
    let mut parts = text.splitn(3, ' ');
    let port: u16 = parts.next()?.parse().ok().filter(|&p| p != 0)?;
    let users: u64 = parts.next()?.parse().ok()?;
    Some((port, users, parts.next()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "SHA256:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn fp() -> Fingerprint {
        FP.parse().expect("a fingerprint")
    }

    #[test]
    fn a_v1_reply_reads_back() {
        let mut out = Vec::new();
        encode_reply_head(7070, 3, &mut out);
        out.extend_from_slice(b"office");
        let text = std::str::from_utf8(&out).expect("utf-8");
        assert_eq!(
            parse_reply(text),
            Some(Reply {
                port: 7070,
                users: 3,
                transport: None,
                name: "office"
            })
        );
    }

    #[test]
    fn v2_replies_read_back() {
        for transport in [Transport::Plain, Transport::Tls(fp())] {
            let mut out = Vec::new();
            encode_reply_v2_head(7071, 12, &transport, &mut out);
            out.extend_from_slice(b"the big room");
            let text = std::str::from_utf8(&out).expect("utf-8");
            assert_eq!(
                parse_reply(text),
                Some(Reply {
                    port: 7071,
                    users: 12,
                    transport: Some(transport),
                    name: "the big room"
                }),
                "{text}"
            );
        }
        let mut out = Vec::new();
        encode_reply_v2_head(7070, 0, &Transport::Tls(fp()), &mut out);
        assert_eq!(out, format!("LANCHAT! 2 7070 0 tls {FP} ").as_bytes());
    }

    #[test]
    fn reply_table() {
        let v2 = |users, transport, name| {
            Some(Reply {
                port: 7070,
                users,
                transport: Some(transport),
                name,
            })
        };
        let tls_lab = format!("LANCHAT! 2 7070 1 tls {FP} lab");
        let tls_no_name = format!("LANCHAT! 2 7070 1 tls {FP}");
        let cases: &[(&str, Option<Reply>)] = &[
            (
                "LANCHAT! 2 7070 3 plain - office\n",
                v2(3, Transport::Plain, "office"),
            ),
            ("LANCHAT! 2 7070 3 plain -", v2(3, Transport::Plain, "")),
            (&tls_lab, v2(1, Transport::Tls(fp()), "lab")),
            (&tls_no_name, v2(1, Transport::Tls(fp()), "")),
            ("LANCHAT! 2 7070 3 tls - office", None),
            ("LANCHAT! 2 7070 3 tls SHA256:short office", None),
            ("LANCHAT! 2 7070 3 plain", None),
            ("LANCHAT! 2 7070 3 quic - office", None),
            ("LANCHAT! 2 7070 3", None),
            ("LANCHAT! 2 0 3 plain - x", None),
            ("LANCHAT! 1 0 3 x", None),
            ("LANCHAT! 3 7070 3 x", None),
            (PROBE, None),
            (PROBE_V2, None),
        ];
        for (text, want) in cases {
            assert_eq!(&parse_reply(text), want, "{text:?}");
        }
    }

    #[test]
    fn probes() {
        let padded = probe_v2();
        assert_eq!(padded.len(), V2_PROBE_LEN);
        assert!(padded.starts_with(PROBE_V2.as_bytes()));
        let cases: &[(&[u8], Option<Probe>)] = &[
            (b"LANCHAT? 1", Some(Probe::V1)),
            (b"LANCHAT? 1\n", Some(Probe::V1)),
            (&padded, Some(Probe::V2)),
            (&[&padded[..], &b"   \n"[..]].concat(), Some(Probe::V2)),
            // Too short for the reply it asks for: the server stays silent.
            (b"LANCHAT? 2", None),
            (&padded[..V2_PROBE_LEN - 1], None),
            (b"LANCHAT? 3", None),
            (b"LANCHAT! 1 7070 3 x", None),
            (b"\xff\xfe", None),
        ];
        for (datagram, want) in cases {
            assert_eq!(
                parse_probe(datagram),
                *want,
                "{:?}",
                String::from_utf8_lossy(datagram)
            );
        }
        let mut junk_padding = padded.clone();
        junk_padding[V2_PROBE_LEN - 1] = b'x';
        assert_eq!(parse_probe(&junk_padding), None);
    }
}
