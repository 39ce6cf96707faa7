//! The real `lanchat` binary against a hostile server: a test plays the server over loopback
//! and sends what no lanchat server would, and the client must stay small and sane. Every
//! client process is killed when its guard drops.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Instant;

use integration_tests::procfs::rss_kib;
use integration_tests::{bin_path, ChildGuard, DEADLINE};

#[test]
fn who_lines_of_huge_names_without_an_end_do_not_grow_the_client() {
    // Red team: WHO lines of 1 MiB names and no WHOEND grew the client by 100 MiB per 100
    // lines (the cap counted names, not bytes).
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut child = ChildGuard(
        Command::new(bin_path("lanchat"))
            .args([&addr, "--name", "ann", "--no-timestamps", "--plaintext"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn lanchat"),
    );
    let (mut server, _from_client, name) = greet(&listener);
    assert_eq!(name, "ann\n");
    server.write_all(b"WELCOME ann hi\n").expect("welcome");
    let huge = format!("WHO {}\n", "x".repeat(1 << 20));
    for _ in 0..100 {
        server.write_all(huge.as_bytes()).expect("send a huge WHO");
    }
    server.write_all(b"INFO done\n").expect("send INFO");
    // Once "done" is shown, every WHO line before it was taken in.
    let stdout = child.0.stdout.take().expect("stdout");
    let deadline = Instant::now() + DEADLINE;
    let mut lines = BufReader::new(stdout).lines();
    loop {
        assert!(Instant::now() < deadline, "no \"* done\" from the client");
        match lines.next() {
            Some(Ok(l)) if l == "* done" => break,
            Some(Ok(_)) => {}
            other => panic!("the client's stdout ended: {other:?}"),
        }
    }
    let rss = rss_kib(child.0.id());
    eprintln!("client RSS after 100 WHO lines of 1 MiB: {rss} KiB");
    assert!(
        rss < 40 * 1024,
        "client RSS {rss} KiB after 100 MiB of WHO names"
    );
}

#[test]
fn a_client_sent_away_does_not_come_back_even_with_reconnect() {
    // Only a server going away (BYE server shutting down, or a lost connection) is knocked on
    // again: one that sent this user away (too slow, flooding, later kicked or banned) is not.
    for why in ["flooding", "too-slow"] {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let mut child = ChildGuard(
            Command::new(bin_path("lanchat"))
                .args([
                    &addr,
                    "--name",
                    "ann",
                    "--no-timestamps",
                    "--reconnect",
                    "--plaintext",
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn lanchat"),
        );
        let (mut server, from_client, _name) = greet(&listener);
        let bye = format!("WELCOME ann hi\nWHO ann\nWHOEND 1\nBYE {why}\n");
        server
            .write_all(bye.as_bytes())
            .expect("welcome, then send away");
        drop(server);
        drop(from_client);
        // Its stdin stays open (its end would be a quit of its own).
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(status) = child.0.try_wait().expect("wait for the client") {
                break status;
            }
            assert!(Instant::now() < deadline, "{why}: the client did not exit");
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let mut shown = String::new();
        for pipe in [
            child.0.stdout.take().map(|p| Box::new(p) as Box<dyn Read>),
            child.0.stderr.take().map(|p| Box::new(p) as Box<dyn Read>),
        ]
        .into_iter()
        .flatten()
        {
            BufReader::new(pipe)
                .read_to_string(&mut shown)
                .expect("the client's output");
        }
        assert_eq!(status.code(), Some(3), "{why}: {shown}");
        assert!(
            shown.contains(&format!("the server closed the connection: {why}")),
            "{why}: {shown}"
        );
        assert!(!shown.contains("reconnecting"), "{why}: {shown}");
        // It has exited: nothing can knock again.
        listener.set_nonblocking(true).expect("nonblocking");
        assert!(listener.accept().is_err(), "{why}: it came back");
    }
}

/// Play a server's greeting to the client connecting to `listener`: the connection, a reader
/// of what the client sends, and the name it answered with (its line).
fn greet(listener: &TcpListener) -> (TcpStream, BufReader<TcpStream>, String) {
    let (mut server, _) = listener.accept().expect("the client connects");
    server.write_all(b"HELLO who are you?\n").expect("greet");
    let mut from_client = BufReader::new(server.try_clone().expect("clone"));
    let mut name = String::new();
    from_client.read_line(&mut name).expect("a name");
    (server, from_client, name)
}
