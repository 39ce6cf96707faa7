//! The server address a person types: `host`, `host:port`, `ip`, `ip:port` or `[v6]:port`.
//!
//! Parsing is pure; turning a host name into socket addresses ([`ServerAddr::resolve`]) asks
//! the system resolver.

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

use lanchat_proto::DEFAULT_PORT;

/// Where the server is: a host name or IP, and a port (7070 unless given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    /// Host name or IP literal, without brackets.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Why an address could not be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrError {
    /// Nothing was typed.
    Empty,
    /// The address has white space inside it.
    Space,
    /// `[` without its `]`, or something other than `:port` after the `]`.
    Brackets,
    /// The brackets hold something that is not an IPv6 address.
    NotIpv6(String),
    /// The port is not a number from 1 to 65535.
    BadPort(String),
    /// A `:port` with no host before it.
    NoHost,
}

impl fmt::Display for AddrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddrError::Empty => write!(f, "no address given"),
            AddrError::Space => write!(f, "an address has no spaces in it"),
            AddrError::Brackets => {
                write!(f, "an IPv6 address with a port looks like [fe80::1]:7070")
            }
            AddrError::NotIpv6(s) => write!(f, "{s:?} in brackets is not an IPv6 address"),
            AddrError::BadPort(p) => write!(f, "port {p:?} is not a number from 1 to 65535"),
            AddrError::NoHost => write!(f, "a host name or IP address is missing before the port"),
        }
    }
}

impl std::error::Error for AddrError {}

fn port(s: &str) -> Result<u16, AddrError> {
    match s.parse::<u16>() {
        Ok(p) if p != 0 => Ok(p),
        _ => Err(AddrError::BadPort(s.to_owned())),
    }
}

impl ServerAddr {
    /// Parse what a person typed (surrounding white space is ignored).
    ///
    /// A bare IPv6 address (`fe80::1`) is taken whole, with the default port; to give a port
    /// with an IPv6 address, use brackets: `[fe80::1]:7071`.
    ///
    /// # Errors
    /// [`AddrError`] saying what is wrong, in words fit to show.
    pub fn parse(input: &str) -> Result<ServerAddr, AddrError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(AddrError::Empty);
        }
        if s.contains(char::is_whitespace) {
            return Err(AddrError::Space);
        }
        if let Some(rest) = s.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or(AddrError::Brackets)?;
            if inside.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(AddrError::NotIpv6(inside.to_owned()));
            }
            let port = match after {
                "" => DEFAULT_PORT,
                _ => port(after.strip_prefix(':').ok_or(AddrError::Brackets)?)?,
            };
            return Ok(ServerAddr {
                host: inside.to_owned(),
                port,
            });
        }
        if s.parse::<std::net::Ipv6Addr>().is_ok() {
            return Ok(ServerAddr {
                host: s.to_owned(),
                port: DEFAULT_PORT,
            });
        }
        if s.contains(']') {
            return Err(AddrError::Brackets);
        }
        match s.split_once(':') {
            None => Ok(ServerAddr {
                host: s.to_owned(),
                port: DEFAULT_PORT,
            }),
            Some(("", _)) => Err(AddrError::NoHost),
            Some((host, p)) => Ok(ServerAddr {
                host: host.to_owned(),
                port: port(p)?,
            }),
        }
    }

    /// The socket addresses this names: the IP itself, or what the resolver says.
    ///
    /// # Errors
    /// The resolver's error, or `NotFound` when it returned nothing.
    pub fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port).to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the name has no addresses",
            ));
        }
        Ok(addrs)
    }
}

impl fmt::Display for ServerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl From<SocketAddr> for ServerAddr {
    fn from(a: SocketAddr) -> Self {
        ServerAddr {
            host: a.ip().to_string(),
            port: a.port(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(host: &str, port: u16) -> Result<ServerAddr, AddrError> {
        Ok(ServerAddr {
            host: host.to_owned(),
            port,
        })
    }

    #[test]
    fn parse_table() {
        let cases: &[(&str, Result<ServerAddr, AddrError>)] = &[
            ("chatbox", ok("chatbox", 7070)),
            ("chatbox.lan:7071", ok("chatbox.lan", 7071)),
            ("192.168.1.20", ok("192.168.1.20", 7070)),
            ("  192.168.1.20:9000 \n", ok("192.168.1.20", 9000)),
            ("[fe80::1]:7071", ok("fe80::1", 7071)),
            ("[::1]", ok("::1", 7070)),
            ("::1", ok("::1", 7070)),
            ("fe80::1:2", ok("fe80::1:2", 7070)),
            ("", Err(AddrError::Empty)),
            ("   ", Err(AddrError::Empty)),
            ("my host", Err(AddrError::Space)),
            ("host:", Err(AddrError::BadPort(String::new()))),
            ("host:0", Err(AddrError::BadPort("0".into()))),
            ("host:70000", Err(AddrError::BadPort("70000".into()))),
            ("host:http", Err(AddrError::BadPort("http".into()))),
            ("host:1:2", Err(AddrError::BadPort("1:2".into()))),
            (":7070", Err(AddrError::NoHost)),
            ("[::1", Err(AddrError::Brackets)),
            ("[::1]7070", Err(AddrError::Brackets)),
            ("host]:1", Err(AddrError::Brackets)),
            ("[nope]:1", Err(AddrError::NotIpv6("nope".into()))),
            ("[::1]:x", Err(AddrError::BadPort("x".into()))),
        ];
        for (input, want) in cases {
            assert_eq!(&ServerAddr::parse(input), want, "{input:?}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["chatbox:7070", "10.0.0.1:1", "[fe80::1]:7071"] {
            assert_eq!(ServerAddr::parse(s).expect(s).to_string(), s);
        }
    }

    #[test]
    fn ip_literals_resolve_without_the_resolver() {
        let a = ServerAddr::parse("[::1]:9").expect("parse");
        assert_eq!(
            a.resolve().expect("resolve"),
            vec!["[::1]:9".parse().unwrap()]
        );
        let a = ServerAddr::parse("127.0.0.1").expect("parse");
        assert_eq!(
            a.resolve().expect("resolve"),
            vec!["127.0.0.1:7070".parse().unwrap()]
        );
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            AddrError::BadPort("x".into()).to_string(),
            "port \"x\" is not a number from 1 to 65535"
        );
    }
}
