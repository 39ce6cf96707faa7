//! LAN discovery datagrams (UDP, on the server's TCP port): the probe a client broadcasts and
//! the reply a server sends back, version 1. Rate limits and sanitising are the server's and
//! the client's business; this module only says what the bytes are.

/// The probe a client broadcasts over UDP to find servers on the LAN.
pub const PROBE: &str = "LANCHAT? 1";

/// What every version-1 reply starts with: `LANCHAT! 1 <tcp-port> <users> <name>`.
pub const REPLY_PREFIX: &str = "LANCHAT! 1 ";

/// A reply, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The server's TCP port (never 0).
    pub port: u16,
    /// How many people are connected.
    pub users: u64,
    /// The server's name as sent (trimmed; possibly empty). Not sanitised.
    pub name: &'a str,
}

/// Append a reply's fixed part, `LANCHAT! 1 <tcp-port> <users> `, to `out`; the name follows.
pub fn encode_reply_head(tcp_port: u16, users: usize, out: &mut Vec<u8>) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{REPLY_PREFIX}{tcp_port} {users} ");
}

/// Parse a reply (one trailing `\n` allowed). `None` for anything that is not a version-1
/// reply: other datagrams on the port, a newer version, garbage, port 0.
pub fn parse_reply(text: &str) -> Option<Reply<'_>> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let rest = text.strip_prefix(REPLY_PREFIX)?;
    let mut parts = rest.splitn(3, ' ');
    let port: u16 = parts.next()?.parse().ok().filter(|&p| p != 0)?;
    let users: u64 = parts.next()?.parse().ok()?;
    let name = parts.next().unwrap_or("").trim();
    Some(Reply { port, users, name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_reads_back() {
        let mut out = Vec::new();
        encode_reply_head(7070, 3, &mut out);
        out.extend_from_slice(b"office");
        let text = std::str::from_utf8(&out).expect("utf-8");
        assert_eq!(
            parse_reply(text),
            Some(Reply {
                port: 7070,
                users: 3,
                name: "office"
            })
        );
        assert_eq!(parse_reply("LANCHAT! 1 0 3 x"), None, "port 0");
        assert_eq!(parse_reply("LANCHAT! 2 7070 3 future"), None);
        assert_eq!(parse_reply(PROBE), None);
    }
}
