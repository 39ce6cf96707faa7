//! Starting and stopping servers for tests: in-process ([`TestServer`]) or the real binary
//! ([`ServerProcess`]).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use lanchat_proto::Fingerprint;
use lanchat_server::identity::Setup;
use lanchat_server::tls::Mode;
use lanchat_server::{Config, Exit, ManualClock, Server, ServerHandle};

/// The address the standard test servers exempt from the per-address limits, since tests open
/// many connections from it. Tests of those limits connect from other loopback addresses
/// (127.0.0.2 and up, which are not exempt) or start a server that trusts nothing.
pub const TRUSTED_LOOPBACK: &str = "127.0.0.1";

/// The lanchat server running on a thread of this process, on `127.0.0.1:<free port>`.
/// Dropping it shuts the server down and waits for its thread.
///
/// Started with [`TestServer::with_manual_clock`], its loop reads a clock that stands still
/// until the test moves it ([`TestServer::advance`]): deadlines of seconds (write stall, linger,
/// accept back-off, shutdown) are then tested without waiting for them.
pub struct TestServer {
    addr: SocketAddr,
    /// The key's fingerprint when it speaks TLS.
    fingerprint: Option<Fingerprint>,
    handle: ServerHandle,
    clock: Option<ManualClock>,
    thread: Option<JoinHandle<std::io::Result<Exit>>>,
    /// Receives once when the loop has ended.
    ended: mpsc::Receiver<()>,
}

impl TestServer {
    /// Defaults, but flood control off (tests send bulk traffic), no discovery, 127.0.0.1
    /// exempt from the per-address limits (tests open many connections from it), and the line
    /// protocol in plaintext (what most tests are about; [`TestServer::tls`] speaks TLS).
    pub fn start() -> TestServer {
        Self::with(TestServer::config())
    }

    /// [`TestServer::start`], speaking TLS with the tests' shared key: connect with
    /// [`crate::Client::connect_tls`] and [`TestServer::fingerprint`].
    pub fn tls() -> TestServer {
        Self::with(TestServer::tls_config())
    }

    /// The configuration [`TestServer::start`] uses, to adjust and pass to [`TestServer::with`].
    pub fn config() -> Config {
        Config {
            rate: 0.0,
            no_discovery: true,
            plaintext: true,
            trusted_hosts: vec![TRUSTED_LOOPBACK.parse().expect("an address")],
            ..Config::loopback()
        }
    }

    /// The configuration [`TestServer::tls`] uses: [`TestServer::config`] over TLS, its key
    /// in the tests' shared state directory.
    pub fn tls_config() -> Config {
        Config {
            plaintext: false,
            state_dir: Some(shared_state_dir()),
            ..TestServer::config()
        }
    }

    /// Start with `config` (bind address and port are taken as given).
    #[track_caller]
    pub fn with(config: Config) -> TestServer {
        let mode = Self::mode(&config);
        let server = Server::bind(&config, &mode).expect("bind test server");
        Self::spawn(server, &mode, None)
    }

    /// Start with `config`, the loop reading a [`ManualClock`] that only
    /// [`TestServer::advance`] moves.
    #[track_caller]
    pub fn with_manual_clock(config: Config) -> TestServer {
        let clock = ManualClock::new();
        let mode = Self::mode(&config);
        let server = Server::bind_with_clock(&config, &mode, Box::new(clock.clone()))
            .expect("bind test server");
        Self::spawn(server, &mode, Some(clock))
    }

    /// [`TestServer::with_manual_clock`], with identity as `setup` says (claims, bans, the
    /// allowlist, operators, the password).
    #[track_caller]
    pub fn with_manual_clock_identity(config: Config, setup: Setup) -> TestServer {
        let clock = ManualClock::new();
        let mode = Self::mode(&config);
        let server = Server::bind_with_clock(&config, &mode, Box::new(clock.clone()))
            .expect("bind test server")
            .with_identity(setup);
        Self::spawn(server, &mode, Some(clock))
    }

    /// Ask the server to read its `--allow`, `--ops` and `--password-file` again.
    pub fn reload(&self) {
        self.handle.reload();
    }

    /// TLS (with the key `config` names) or plaintext, as `config` says.
    #[track_caller]
    fn mode(config: &Config) -> Mode {
        Mode::from_config(config).expect("the test server's key")
    }

    #[track_caller]
    fn spawn(server: Server, mode: &Mode, clock: Option<ManualClock>) -> TestServer {
        let addr = server.local_addr();
        let handle = server.handle();
        let (tx, ended) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(format!("lanchat-server {addr}"))
            .spawn(move || {
                let exit = server.run();
                let _ = tx.send(());
                exit
            })
            .expect("spawn server thread");
        let fingerprint = match mode {
            Mode::Tls(identity) => Some(identity.fingerprint()),
            Mode::Plaintext => None,
        };
        TestServer {
            addr,
            fingerprint,
            handle,
            clock,
            thread: Some(thread),
            ended,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fingerprint of its key. Panics for a plaintext server.
    #[track_caller]
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
            .expect("a plaintext test server has no key; start it with TestServer::tls")
    }

    /// Move the server's clock forward by `by` and wake its loop, which then fires whatever
    /// became due. Panics unless started with [`TestServer::with_manual_clock`].
    #[track_caller]
    pub fn advance(&self, by: Duration) {
        let clock = self
            .clock
            .as_ref()
            .expect("advance needs TestServer::with_manual_clock");
        clock.advance(by);
        self.handle.wake();
    }

    /// How far [`TestServer::advance`] has moved the server's clock.
    #[track_caller]
    pub fn clock_elapsed(&self) -> Duration {
        self.clock
            .as_ref()
            .expect("a clock needs TestServer::with_manual_clock")
            .elapsed()
    }

    /// Ask the server to shut down, without waiting for it (see [`TestServer::wait`]).
    pub fn begin_shutdown(&self) {
        self.handle.shutdown();
    }

    /// Wait for the loop to end after [`TestServer::begin_shutdown`], at most `deadline`;
    /// `None` if it is still running then.
    pub fn wait(&mut self, deadline: Duration) -> Option<Exit> {
        match self.ended.recv_timeout(deadline) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                self.thread.take()?.join().ok()?.ok()
            }
            Err(mpsc::RecvTimeoutError::Timeout) => None,
        }
    }

    /// True once the server's loop has ended.
    pub fn has_stopped(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Shut down gracefully and wait; returns how the loop ended.
    pub fn stop(mut self) -> Exit {
        self.stop_inner().expect("server loop failed")
    }

    fn stop_inner(&mut self) -> Option<Exit> {
        self.handle.shutdown();
        let thread = self.thread.take()?;
        thread.join().ok()?.ok()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// The state directory (server key and certificate) the test servers share unless a test sets
/// its own: under the system's temporary directory, never the user's home.
pub fn shared_state_dir() -> PathBuf {
    std::env::temp_dir().join("lanchat-tests-state")
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then let go): for a
/// server that must come back on the same port.
#[track_caller]
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// History kept in the shared state directory would be replayed by every other test's server:
/// unless `cmd` names a state directory of its own (or says itself whether to persist), the
/// server keeps history in memory only (`LANCHAT_NO_PERSIST=yes`).
fn keep_history_private(cmd: &mut Command) {
    let shared = shared_state_dir();
    let own_dir = cmd
        .get_envs()
        .any(|(k, v)| k == "LANCHAT_STATE_DIR" && v.is_some_and(|v| Path::new(v) != shared))
        || cmd.get_args().any(|a| a == "--state-dir");
    let said = cmd.get_envs().any(|(k, _)| k == "LANCHAT_NO_PERSIST")
        || cmd.get_args().any(|a| a == "--no-persist");
    if !own_dir && !said {
        cmd.env("LANCHAT_NO_PERSIST", "yes");
    }
}

/// Path of a binary built from this workspace (`lanchat-server`, `lanchat`, `lanchat-load`),
/// next to the test executable's `deps/` folder. `make test` builds them first.
#[track_caller]
pub fn bin_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build --workspace --bins` (make test does) first",
        path.display()
    );
    path
}

/// The `lanchat-server` binary, started on `127.0.0.1` port 0. Killed when dropped.
///
/// It speaks the line protocol in plaintext (`LANCHAT_PLAINTEXT=1`) unless the command says
/// otherwise: [`ServerProcess::start_tls`], or `LANCHAT_PLAINTEXT` set on the command.
///
/// Its stdout and stderr are drained on threads (a full pipe would block the server's loop);
/// the log is available through [`ServerProcess::log`] and printed if the test fails.
pub struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    /// Receives once when the server's stdout closes, i.e. when the process has exited.
    stdout_closed: mpsc::Receiver<Option<String>>,
    /// Receives once when all the server wrote to stderr is in `log` (never, when its stderr
    /// goes elsewhere).
    stderr_closed: mpsc::Receiver<()>,
    /// Receives the stdout line after `listening on` (a TLS server's `fingerprint` line), or
    /// `None` at EOF.
    second_line: mpsc::Receiver<Option<String>>,
}

impl ServerProcess {
    /// Start `lanchat-server --bind 127.0.0.1 --port 0 --no-discovery --trusted-hosts 127.0.0.1
    /// <args>` in plaintext, and wait (with a deadline) for its `listening on` line.
    #[track_caller]
    pub fn start(args: &[&str]) -> ServerProcess {
        Self::spawn(Self::command(args))
    }

    /// [`ServerProcess::start`] speaking TLS (its default): its key in the tests' shared state
    /// directory unless `args` name another; [`ServerProcess::fingerprint`] reads its key's
    /// fingerprint.
    #[track_caller]
    pub fn start_tls(args: &[&str]) -> ServerProcess {
        Self::spawn(Self::tls(Self::command(args)))
    }

    /// `cmd`, speaking TLS: `LANCHAT_PLAINTEXT` set to off, so the harness does not make it
    /// plaintext.
    pub fn tls(mut cmd: Command) -> Command {
        cmd.env("LANCHAT_PLAINTEXT", "0");
        cmd
    }

    /// The command [`ServerProcess::start`] runs (plaintext; [`ServerProcess::tls`] makes it
    /// TLS), to adjust (environment, stdio) before [`ServerProcess::spawn`].
    pub fn command(args: &[&str]) -> Command {
        Self::command_on(0, args)
    }

    /// The command for a server on `port` (a restart on the port of one that stopped: take a
    /// free one with [`free_port`] first).
    pub fn command_on(port: u16, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin_path("lanchat-server"));
        cmd.args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--no-discovery",
        ])
        .args(["--trusted-hosts", TRUSTED_LOOPBACK])
        .args(args)
        .env("LANCHAT_STATE_DIR", shared_state_dir())
        .env("LANCHAT_PLAINTEXT", "1");
        cmd
    }

    /// `lanchat-server --bind 127.0.0.1 --port <port> --no-discovery <args>` in plaintext,
    /// waited for.
    #[track_caller]
    pub fn start_on(port: u16, args: &[&str]) -> ServerProcess {
        Self::spawn(Self::command_on(port, args))
    }

    /// The server with LAN discovery on, named `name`, flood control off, plaintext. On
    /// 127.0.0.1, so probes sent to it are unicast to loopback.
    #[track_caller]
    pub fn discoverable(name: &str) -> ServerProcess {
        Self::spawn(Self::discoverable_command(name))
    }

    /// [`ServerProcess::discoverable`], speaking TLS.
    #[track_caller]
    pub fn discoverable_tls(name: &str) -> ServerProcess {
        Self::spawn(Self::tls(Self::discoverable_command(name)))
    }

    fn discoverable_command(name: &str) -> Command {
        let mut cmd = Command::new(bin_path("lanchat-server"));
        cmd.args([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--rate",
            "0",
            "--name",
            name,
        ]);
        cmd
    }

    /// Start a prepared command (e.g. wrapped in `prlimit`); it must print `listening on`.
    #[track_caller]
    pub fn spawn(cmd: Command) -> ServerProcess {
        Self::spawn_with_stderr(cmd, None)
    }

    /// [`ServerProcess::spawn`], with the server's stderr going to `stderr` instead of the
    /// log [`ServerProcess::log`] collects (which then stays empty).
    #[track_caller]
    pub fn spawn_with_stderr(mut cmd: Command, stderr: Option<Stdio>) -> ServerProcess {
        let own_stderr = stderr.is_some();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr.unwrap_or_else(Stdio::piped));
        // Tests keep the server's key out of the home directory: one shared state directory
        // (key made once, reused), unless the test picks its own.
        let state_set = cmd.get_envs().any(|(k, _)| k == "LANCHAT_STATE_DIR")
            || cmd.get_args().any(|a| a == "--state-dir");
        if !state_set {
            cmd.env("LANCHAT_STATE_DIR", shared_state_dir());
        }
        // Most tests are about the line protocol: plaintext unless the command chose.
        if !cmd.get_envs().any(|(k, _)| k == "LANCHAT_PLAINTEXT") {
            cmd.env("LANCHAT_PLAINTEXT", "1");
        }
        keep_history_private(&mut cmd);
        // A level set on the command (a test that reads debug lines) wins over the default.
        let set_on_cmd = cmd.get_envs().any(|(k, _)| k == "RUST_LOG");
        if std::env::var_os("RUST_LOG").is_none() && !set_on_cmd {
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd.spawn().expect("spawn lanchat-server");
        let stdout = child.stdout.take().expect("piped stdout");
        let log = Arc::new(Mutex::new(String::new()));
        let (stderr_tx, stderr_closed) = mpsc::channel();
        if !own_stderr {
            let stderr = child.stderr.take().expect("piped stderr");
            let sink = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(mut log) = sink.lock() {
                        log.push_str(&line);
                        log.push('\n');
                    }
                }
                let _ = stderr_tx.send(());
            });
        }
        let (first_tx, first_rx) = mpsc::channel();
        let (closed_tx, closed_rx) = mpsc::channel();
        let (second_tx, second_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let _ = first_tx.send(lines.next());
            let _ = second_tx.send(lines.next());
            let rest: Vec<String> = lines.collect();
            let _ = closed_tx.send(Some(rest.join("\n")));
        });
        let line = match first_rx.recv_timeout(crate::DEADLINE) {
            Ok(Some(line)) => line,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "lanchat-server did not print its address ({other:?}); log:\n{}",
                    log.lock().map(|l| l.clone()).unwrap_or_default()
                );
            }
        };
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        ServerProcess {
            child,
            addr,
            log,
            stdout_closed: closed_rx,
            stderr_closed,
            second_line: second_rx,
        }
    }

    /// The `SHA256:...` fingerprint a TLS server prints after its address (waits at most
    /// [`crate::DEADLINE`]). Panics when the line does not come or is something else.
    #[track_caller]
    pub fn fingerprint(&self) -> String {
        let line = self.second_line.recv_timeout(crate::DEADLINE);
        match &line {
            Ok(Some(l)) => match l.strip_prefix("fingerprint ") {
                Some(fp) => fp.to_owned(),
                None => panic!("expected the fingerprint line, got {l:?}"),
            },
            _ => panic!("no fingerprint line ({line:?}); log:\n{}", self.log()),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The process id (for `/proc` and signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's log (stderr) so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Wait (at most [`crate::DEADLINE`]) until `needle` is in the log `times` times; how many
    /// times it is there when this returns.
    pub fn wait_for_log(&self, needle: &str, times: usize) -> usize {
        crate::procfs::wait_for(
            crate::DEADLINE,
            || self.log().matches(needle).count(),
            |&n| n >= times,
        )
    }

    /// Send `signal` (e.g. `libc::SIGTERM`).
    pub fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("pid fits i32");
        // SAFETY: kill(2) on a child we spawned and have not reaped, so the pid is still ours.
        unsafe {
            libc::kill(pid, signal);
        }
    }

    /// Wait up to `deadline` for the process to exit; its status, or `None` if it did not.
    /// Once it has, its whole log is in [`ServerProcess::log`].
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        let end = std::time::Instant::now() + deadline;
        match self.stdout_closed.recv_timeout(deadline) {
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let left = end.saturating_duration_since(std::time::Instant::now());
                // Its last lines may still be on their way from the pipe to the log.
                let _ = self
                    .stderr_closed
                    .recv_timeout(left.max(Duration::from_secs(1)));
                self.child.wait().ok()
            }
            Err(mpsc::RecvTimeoutError::Timeout) => None,
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- lanchat-server log ---\n{}", self.log());
        }
    }
}
