//! The real `lanchat` binary in a pseudo-terminal when the server goes away: it says so on one
//! line and comes back on its own, with the same name, the half-typed line and no history
//! shown twice; leaving while it waits is at once, with exit code 3.
//!
//! Servers are the real binary. A restart is a SIGTERM and a new server on the same port (one
//! found free first); a network failure that leaves the server running is a [`Relay`] in
//! between whose connections the test cuts.

mod pty;

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use integration_tests::clock::BinaryClock;
use integration_tests::{free_port, Client, ServerProcess, DEADLINE};
use pty::{join, Pty};

/// A TCP relay in front of a server, whose connections the test can cut (as a network failure
/// would) while the server runs on. Stops, and cuts everything, when dropped.
struct Relay {
    addr: SocketAddr,
    /// Both ends of every relayed connection.
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    #[track_caller]
    fn start(to: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let conns = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (kept, stopped) = (Arc::clone(&conns), Arc::clone(&stop));
        std::thread::spawn(move || {
            for down in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let (Ok(down), Ok(up)) = (down, TcpStream::connect(to)) else {
                    continue;
                };
                let _ = (down.set_nodelay(true), up.set_nodelay(true));
                if let Ok(mut k) = kept.lock() {
                    k.extend([&down, &up].iter().filter_map(|s| s.try_clone().ok()));
                }
                pipe(&down, &up);
                pipe(&up, &down);
            }
        });
        Relay { addr, conns, stop }
    }

    /// Cut every connection relayed so far, both ways.
    fn cut(&self) {
        let mut conns = self.conns.lock().unwrap_or_else(PoisonError::into_inner);
        for s in conns.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Copy `from` to `to` on a thread, until either ends.
fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Both);
    });
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wakes the accept loop to see the stop
        self.cut();
    }
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn after_a_server_restart_the_client_comes_back_with_its_half_typed_line_and_no_history_twice() {
    // A state directory of its own: the history is on disk, so the restarted server replays
    // the same lines, and the client must show none of them a second time.
    let state = tempfile::tempdir().expect("a temporary state directory");
    let on_disk = |port, clock: Option<&BinaryClock>| {
        let mut cmd = ServerProcess::command_on(port, &["--rate", "0"]);
        cmd.env("LANCHAT_STATE_DIR", state.path());
        if let Some(clock) = clock {
            clock.set_on(&mut cmd);
        }
        ServerProcess::spawn(cmd)
    };
    let port = free_port();
    // The first server's clock never moves, so its shutdown flush never reaches its deadline:
    // it can exit only when every client has let go, however slow the machine is.
    let frozen = BinaryClock::new();
    let mut server = on_disk(port, Some(&frozen));
    let mut bob = Client::join(server.addr(), "bob");
    bob.send("said before ann came");
    bob.sync();
    let mut ann = join(&server, "ann");
    bob.expect("JOIN ann");
    bob.send("said while ann is here");
    ann.expect("<bob> said while ann is here");
    ann.keys("half typed");
    ann.expect("half typed");

    server.signal(libc::SIGTERM);
    ann.expect("* the server closed the connection: server shutting down; reconnecting");
    ann.expect("[reconnecting (attempt 1, next in 1 s)] ann> half typed");
    drop(bob);
    // The client lets go of its connection at once: the server (and so its restart) does not
    // wait for it until its flush deadline (it did: the client kept the socket open).
    assert!(
        server.wait_exit(DEADLINE).is_some(),
        "the server waited for the client to close"
    );

    let server = on_disk(port, None);
    ann.expect("* reconnected as ann");
    ann.expect("* here now (1): ann");
    ann.expect("ann> half typed");
    // The restarted server did replay the history (else "shown once" below proves nothing).
    let mut carl = Client::connect(server.addr());
    carl.expect_prefix("HELLO ");
    carl.send("carl");
    let (welcome, _) = carl.read_until_prefix("WHOEND ");
    let replayed = welcome.iter().filter(|l| l.starts_with("HIST ")).count();
    assert!(replayed >= 2, "no history after the restart: {welcome:?}");
    drop(carl);
    let mut bob = Client::join(server.addr(), "bob");
    ann.expect("* bob has joined the chat");
    ann.keys(" and finished\r");
    bob.expect("MSG ann half typed and finished");

    let all = ann.transcript();
    assert_eq!(count(&all, "said before ann came"), 1, "{all}");
    assert_eq!(count(&all, "said while ann is here"), 1, "{all}");
    ann.line("/quit");
    assert_eq!(ann.expect_exit(), 0);
}

#[test]
fn after_the_connection_drops_only_the_history_not_yet_shown_is_shown() {
    let server = ServerProcess::start(&["--rate", "0"]);
    let relay = Relay::start(server.addr());
    let mut bob = Client::join(server.addr(), "bob");
    bob.send("said before ann came");
    bob.sync();
    let relayed = relay.addr.to_string();
    let mut ann = Pty::spawn("ann", &[&relayed, "--name", "ann", "--no-timestamps"]);
    ann.expect("* here now (2): bob, ann");
    bob.expect("JOIN ann");
    bob.send("said while ann is here");
    ann.expect("<bob> said while ann is here");
    ann.line("this one is mine");
    bob.expect("MSG ann this one is mine");

    // The network fails; the server runs on, with all of that in its history.
    relay.cut();
    ann.expect("; reconnecting");
    // Typed while there is no server: it waits, and says so.
    ann.line("typed while away");
    ann.expect("* not connected: that goes out once reconnected");
    bob.expect("LEAVE ann disconnected");
    bob.send("said while ann was away");
    bob.sync();
    ann.expect("* reconnected as ann");
    ann.expect("<bob> said while ann was away");
    ann.expect("* here now (2): bob, ann");
    bob.expect("JOIN ann");
    bob.expect("MSG ann typed while away");
    // Its echo, once sent (before or after the lines of the rejoin).
    ann.wait_for("the echo", |t| {
        String::from_utf8_lossy(&t.data).contains("<ann> typed while away")
    });

    let all = ann.transcript();
    for seen_once in [
        "said before ann came",
        "said while ann is here",
        "<ann> this one is mine",
        "said while ann was away",
        "<ann> typed while away",
    ] {
        assert_eq!(count(&all, seen_once), 1, "{seen_once:?} in:\n{all}");
    }
    // Two separators: the first join's history, and the one line that was new.
    assert_eq!(count(&all, "--- earlier messages"), 2, "{all}");
}

#[test]
fn ctrl_d_or_quit_while_reconnecting_leaves_at_once_with_3() {
    // Ctrl-C clears the half-typed line, then Ctrl-D on the empty one; or <quit> typed after it.
    for keys in ["\x03\x04", "\x03<quit>\r"] {
        let mut server = ServerProcess::start(&["--rate", "0"]);
        let mut ann = join(&server, "ann");
        ann.keys("half typed");
        ann.expect("half typed");
        server.signal(libc::SIGTERM);
        ann.expect("* the server closed the connection: server shutting down; reconnecting");
        assert!(
            server.wait_exit(DEADLINE).is_some(),
            "the server did not stop"
        );
        // Nobody to answer: the quit does not wait.
        ann.keys(keys);
        ann.expect(
            "lanchat: the server closed the connection: server shutting down; left before \
             reconnecting",
        );
        assert_eq!(ann.expect_exit(), 3, "{keys:?}");
        assert!(!ann.transcript().contains("panicked"));
    }
}

#[test]
fn a_server_that_dies_is_said_on_one_line_and_ctrl_c_while_reconnecting_leaves_with_3() {
    let server = ServerProcess::start(&["--rate", "0"]);
    let mut ann = join(&server, "ann");
    server.signal(libc::SIGKILL);
    ann.expect("* the server closed the connection; reconnecting");
    // The status line may be drawn just before the line above it is printed (the expect above
    // then reads past it): look in what was read, else wait for it.
    if !ann.transcript().contains("[reconnecting (attempt 1, ") {
        ann.expect("[reconnecting (attempt 1, ");
    }
    ann.keys("\x03");
    ann.expect("lanchat: the server closed the connection; left before reconnecting");
    assert_eq!(ann.expect_exit(), 3);
}

#[test]
fn over_tls_it_comes_back_to_the_same_key_and_a_changed_key_ends_the_run_with_4() {
    let port = free_port();
    let (key, other_key) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let tls_server = |state: &std::path::Path| {
        let state = state.to_str().expect("utf-8 path");
        ServerProcess::spawn(ServerProcess::tls(ServerProcess::command_on(
            port,
            &["--rate", "0", "--state-dir", state],
        )))
    };
    let mut server = tls_server(key.path());
    let fp = server.fingerprint();
    let known_dir = tempfile::tempdir().expect("tmp");
    let known = known_dir.path().join("known_servers");
    let addr = server.addr().to_string();
    let mut ann = Pty::spawn_env(
        "ann",
        &[
            &addr,
            "--name",
            "ann",
            "--no-timestamps",
            "--accept-new",
            "--known-servers",
            known.to_str().expect("utf-8 path"),
        ],
        &[("NO_COLOR", "1"), ("LANCHAT_PLAINTEXT", "0")],
    );
    ann.expect(&format!("the server's key is {fp}."));
    ann.expect("* here now (1): ann");

    // The same server, the same key: back without a question.
    server.signal(libc::SIGTERM);
    ann.expect("; reconnecting");
    assert!(server.wait_exit(DEADLINE).is_some(), "the server stopped");
    let mut server = tls_server(key.path());
    ann.expect("* reconnected as ann");
    let fp = server.fingerprint().parse().expect("fingerprint");
    let mut bob = Client::join_tls(server.addr(), fp, "bob");
    ann.expect("* bob has joined the chat");
    ann.line("still encrypted");
    bob.expect("MSG ann still encrypted");

    // Another key on the same address: the reconnection checks it, refuses it loudly, and
    // the run ends with 4; nothing was said to the impostor.
    server.signal(libc::SIGTERM);
    ann.expect("; reconnecting");
    // bob closes too, so the server need not wait for him until its flush deadline.
    bob.read_until_prefix("BYE ");
    drop(bob);
    assert!(server.wait_exit(DEADLINE).is_some(), "the server stopped");
    let impostor = tls_server(other_key.path());
    let presented = impostor.fingerprint();
    assert_ne!(presented, fp.to_string());
    ann.expect(&format!("WARNING: THE KEY OF SERVER {addr} HAS CHANGED!"));
    ann.expect(&format!("remembered: {fp}"));
    ann.expect(&format!("presented:  {presented}"));
    assert_eq!(ann.expect_exit(), 4);
    let mut mallory = Client::connect_tls(impostor.addr(), presented.parse().expect("fingerprint"));
    mallory.expect_prefix("HELLO ");
    mallory.send("mallory");
    mallory.expect_prefix("WELCOME mallory ");
    let (members, _) = mallory.read_until_prefix("WHOEND ");
    assert_eq!(members, ["WHO mallory"], "ann never joined the impostor");
}
