//! Harness for identity tests: users' keys in a directory of the test's own, TLS clients that
//! present them, and the server binary on a state directory of its own (its key, the claims and
//! bans files), with `--allow` / `--ops` / `--password-file` files written for it.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;

use lanchat_client::identity::Identity;
use lanchat_client::stream::TlsStream;
use lanchat_proto::Fingerprint;
use rustls::pki_types::ServerName;
use rustls::ClientConnection;

use crate::{Client, ServerProcess, DEADLINE};

/// Where the `lanchat` binaries tests start keep the user's key (`XDG_CONFIG_HOME`) unless a
/// test gives its own: under the system's temporary directory, never the home directory.
pub fn shared_config_dir() -> PathBuf {
    std::env::temp_dir().join("lanchat-tests-config")
}

/// A directory of the test's own: users' keys, the server's state directory, its files.
pub struct Place {
    dir: tempfile::TempDir,
}

impl Place {
    /// A fresh one.
    pub fn new() -> Place {
        Place {
            dir: tempfile::Builder::new()
                .prefix("lanchat-identity-")
                .tempdir()
                .expect("temporary directory"),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The server's state directory.
    pub fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    /// User `who`'s key (made on first use, kept under `keys/`).
    pub fn user(&self, who: &str) -> Identity {
        let path = self.path().join("keys").join(format!("{who}.key"));
        Identity::load_or_create(&path).expect("a user key").0
    }

    /// User `who`'s key file (made if needed), for `lanchat --identity`.
    pub fn user_file(&self, who: &str) -> PathBuf {
        let id = self.user(who);
        id.path().to_path_buf()
    }

    /// Write `text` to the file `name` here; its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, text).expect("write a file");
        path
    }

    /// An `--allow`/`--ops` file listing these users' keys (with their names as comments).
    pub fn key_list(&self, name: &str, users: &[&str]) -> PathBuf {
        let text: String = users
            .iter()
            .map(|u| format!("{} {u}\n", self.user(u).fingerprint()))
            .collect();
        self.file(name, &format!("# {name}\n{text}"))
    }

    /// `lanchat-server --state-dir <state> <args>` over TLS, not yet started.
    pub fn server_command(&self, args: &[&str]) -> Command {
        let mut cmd = ServerProcess::tls(ServerProcess::command(args));
        cmd.env("LANCHAT_STATE_DIR", self.state());
        cmd
    }

    /// [`Place::server_command`], started; with its key's fingerprint.
    #[track_caller]
    pub fn server(&self, args: &[&str]) -> (ServerProcess, Fingerprint) {
        let server = ServerProcess::spawn(self.server_command(args));
        let fp = server
            .fingerprint()
            .parse()
            .expect("the printed fingerprint");
        (server, fp)
    }
}

impl Default for Place {
    fn default() -> Self {
        Place::new()
    }
}

/// A TLS handshake with the server at `addr` (trusting only `pin`), presenting `me`'s key when
/// given; the line client over it, nothing read yet.
#[track_caller]
pub fn connect_as(addr: SocketAddr, pin: Fingerprint, me: Option<&Identity>) -> Client {
    let sock = TcpStream::connect_timeout(&addr, DEADLINE).expect("connect to the server");
    tls_over(sock, pin, me)
}

/// [`connect_as`] from the local address `from` (another loopback address than 127.0.0.1:
/// to the server, another host).
#[track_caller]
pub fn connect_from(
    from: IpAddr,
    addr: SocketAddr,
    pin: Fingerprint,
    me: Option<&Identity>,
) -> Client {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("a socket");
    sock.bind(&SocketAddr::new(from, 0).into())
        .expect("bind the local address");
    sock.connect_timeout(&addr.into(), DEADLINE)
        .expect("connect to the server");
    tls_over(sock.into(), pin, me)
}

#[track_caller]
fn tls_over(mut sock: TcpStream, pin: Fingerprint, me: Option<&Identity>) -> Client {
    sock.set_nodelay(true).expect("nodelay");
    let (config, _) = lanchat_client::tls::pinned_config_as(Some(pin), me);
    let name = ServerName::try_from("lanchat").expect("a name");
    let mut conn = ClientConnection::new(config, name).expect("a TLS client");
    sock.set_read_timeout(Some(DEADLINE)).expect("timeout");
    sock.set_write_timeout(Some(DEADLINE)).expect("timeout");
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).expect("TLS handshake");
    }
    while conn.wants_write() {
        conn.write_tls(&mut sock).expect("TLS handshake");
    }
    Client::from_tls(TlsStream::new(sock, conn))
}

/// [`connect_as`], then `HELLO`, `name`, and through the member list (panics unless the name
/// is taken).
#[track_caller]
pub fn join_as(addr: SocketAddr, pin: Fingerprint, me: Option<&Identity>, name: &str) -> Client {
    let mut c = connect_as(addr, pin, me);
    c.expect_prefix("HELLO ");
    c.send(name);
    c.expect_prefix(&format!("WELCOME {name} "));
    c.read_until_prefix("WHOEND ");
    c.name = name.to_owned();
    c
}
