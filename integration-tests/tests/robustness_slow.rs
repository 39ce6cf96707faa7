//! Slow consumers and dead peers: `--sendq`, `--write-timeout`, TCP keepalive.
//!
//! A peer that stops reading is never removed by TCP itself (a zero window keeps the connection
//! open for ever), so these limits are what keeps the server's memory bounded and everyone else
//! served. See docs/ROBUSTNESS.md.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use integration_tests::client::{clog, join_never_reading, Read as Got};
use integration_tests::{procfs, Client, ServerProcess, TestServer};
use lanchat_server::limits;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// Read and discard until the server closes `s`; panics if it is still open after `deadline`.
fn drain_to_eof(s: &mut TcpStream, deadline: Duration) -> usize {
    let end = Instant::now() + deadline;
    let mut buf = vec![0; 256 * 1024];
    let mut total = 0;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "connection still open after {deadline:?}");
        s.set_read_timeout(Some(left)).expect("read timeout");
        match s.read(&mut buf) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return total,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// The filler of flooder `from`'s line `seq`: checkable on arrival without a copy of it.
fn payload(from: usize, seq: usize, len: usize) -> String {
    let c = char::from(b'a' + u8::try_from((from + seq) % 26).expect("< 26"));
    std::iter::repeat_n(c, len).collect()
}

const FLOODERS: usize = 20;
const LINES: usize = 500;
const PUBLIC_LEN: usize = 100;
const PRIVATE_LEN: usize = 2000;

/// What one flooder's reader saw.
#[derive(Debug, Default)]
struct Seen {
    /// Public lines received, per sender.
    got: Vec<usize>,
    leave_too_slow: bool,
    /// `ERR no-such-user` for `/msg stuck` after stuck was gone (expected, counted).
    no_such_user: usize,
    problems: Vec<String>,
}

/// Read until every other flooder's `LINES` public lines have arrived, checking their order
/// and content.
fn read_flood(me: usize, client: &mut Client) -> Seen {
    let mut seen = Seen {
        got: vec![0; FLOODERS],
        ..Seen::default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let done = |s: &Seen| (0..FLOODERS).all(|j| j == me || s.got[j] == LINES);
    while !done(&seen) {
        let line = match client.read_line_until(deadline) {
            Got::Line(l) => l,
            other => {
                seen.problems.push(format!("{other:?} with {:?}", seen.got));
                return seen;
            }
        };
        if line == "LEAVE stuck too-slow" {
            seen.leave_too_slow = true;
            continue;
        }
        if line.starts_with("ERR no-such-user ") && seen.leave_too_slow {
            seen.no_such_user += 1;
            continue;
        }
        let parsed = line.strip_prefix("MSG f").and_then(|rest| {
            let (from, rest) = rest.split_once(' ')?;
            let (seq, text) = rest.split_once(' ')?;
            Some((
                from.parse::<usize>().ok()?,
                seq.parse::<usize>().ok()?,
                text,
            ))
        });
        match parsed {
            Some((from, seq, text))
                if from < FLOODERS
                    && seq == seen.got[from]
                    && text == payload(from, seq, PUBLIC_LEN) =>
            {
                seen.got[from] += 1;
            }
            _ => {
                let shown: String = line.chars().take(60).collect();
                seen.problems.push(format!("unexpected line {shown:?}"));
                return seen;
            }
        }
    }
    seen
}

#[test]
fn a_never_reading_client_among_flooders_is_dropped_and_memory_stays_bounded() {
    // Flood control off, and a small send queue so the drop comes early.
    let server = ServerProcess::start(&["--rate", "0", "--sendq", "64K"]);
    let addr = server.addr();
    let pid = server.pid();
    let mut flooders: Vec<Client> = (0..FLOODERS)
        .map(|i| Client::join(addr, &format!("f{i}")))
        .collect();
    let mut stuck = join_never_reading(addr, "stuck");
    for f in &mut flooders {
        f.read_until_prefix("JOIN stuck");
    }

    let rss_before = procfs::rss_kib(pid);
    let peak_resettable = procfs::reset_peak_rss(pid);
    let start = Arc::new(Barrier::new(FLOODERS));
    let threads: Vec<_> = flooders
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            let mut writer = client.stream().try_clone().expect("clone stream");
            let start = Arc::clone(&start);
            let sender = std::thread::spawn(move || {
                start.wait();
                // Every public line is followed by a private one to stuck: stuck is sent far
                // more than its socket buffers hold, without multiplying what the other
                // flooders must read.
                let private = format!("/msg stuck {}\n", "p".repeat(PRIVATE_LEN));
                for seq in 0..LINES {
                    let public = format!("{seq} {}\n", payload(i, seq, PUBLIC_LEN));
                    writer.write_all(public.as_bytes()).expect("flood");
                    writer.write_all(private.as_bytes()).expect("flood");
                }
            });
            let reader = std::thread::spawn(move || {
                let seen = read_flood(i, &mut client);
                (client, seen)
            });
            (sender, reader)
        })
        .collect();

    let results: Vec<_> = threads
        .into_iter()
        .map(|(sender, reader)| {
            sender.join().expect("sender thread");
            reader.join().expect("reader thread")
        })
        .collect();
    // The peak memory over the whole flood stayed small although stuck alone was sent about
    // 20 MB (without the cap the server would hold most of that).
    let sent_to_stuck_kib = FLOODERS * LINES * (PRIVATE_LEN + PUBLIC_LEN) / 1024;
    let peak = procfs::peak_or_current_rss_kib(pid, peak_resettable);
    let growth = peak.saturating_sub(rss_before);
    assert!(
        growth < 8 * 1024,
        "server memory grew by {growth} KiB (stuck was sent {sent_to_stuck_kib} KiB)"
    );
    // Every flooder got every other flooder's lines, complete and in order (checked by the
    // readers), and was told why stuck left.
    for (i, (_, seen)) in results.iter().enumerate() {
        assert!(seen.problems.is_empty(), "f{i}: {:?}", seen.problems);
        assert!(
            seen.leave_too_slow,
            "f{i} was not told stuck left as too-slow"
        );
    }
    assert!(
        server.log().contains(" stuck left (too-slow, "),
        "drop not logged:\n{}",
        server.log()
    );
    // The server closed stuck: what the kernel still held for it arrives, then EOF.
    drain_to_eof(&mut stuck, Duration::from_secs(10));
}

#[test]
fn a_client_whose_output_stalls_is_dropped_after_the_write_timeout() {
    // A send queue far larger than what is sent, so it is the stall, not the cap, that drops.
    // The server's clock is the test's: the 1 s timeout is checked to the millisecond.
    let server = TestServer::with_manual_clock(lanchat_server::Config {
        write_timeout: 1,
        sendq: 64 << 20,
        ..TestServer::config()
    });
    let mut talker = Client::join(server.addr(), "talker");
    let mut stuck = join_never_reading(server.addr(), "stuck");
    talker.expect("JOIN stuck");
    // 8 MB, private to stuck: more than its socket buffers hold, far less than the send queue.
    // Once the server has read it all, stuck's socket has taken what it could.
    clog(&mut talker, "stuck");
    server.advance(Duration::from_millis(999));
    assert_eq!(
        talker.settle(),
        Vec::<String>::new(),
        "dropped before the 1 s write timeout"
    );
    server.advance(Duration::from_millis(1));
    match talker.read_line_until(Instant::now() + integration_tests::DEADLINE) {
        Got::Line(l) => assert_eq!(l, "LEAVE stuck timeout"),
        other => panic!("expected LEAVE stuck timeout, got {other:?}"),
    }
    // Nobody else was touched.
    let mut other = Client::join(server.addr(), "other");
    let (before, _) = talker.read_until_prefix("JOIN other");
    // Private lines the server read after stuck was gone are answered, nothing else.
    assert!(
        before.iter().all(|l| l.starts_with("ERR no-such-user ")),
        "{before:?}"
    );
    talker.send("still here");
    other.expect("MSG talker still here");
    drain_to_eof(&mut stuck, Duration::from_secs(10));
}

/// The server end of the connection whose client end is `peer`, found among this process's
/// own fds (the in-process server's sockets live here too). The fd is duplicated, so the
/// returned socket is ours to inspect even if the server closes its copy meanwhile.
fn server_side_socket(server: SocketAddr, peer: SocketAddr) -> Option<Socket> {
    for entry in std::fs::read_dir("/proc/self/fd").ok()?.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) on any number is harmless: it fails with EBADF if the
        // fd is not open, and otherwise returns a new fd that nobody else owns.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            continue;
        }
        // SAFETY: `dup` is an open fd that this function alone owns; if it is not a socket,
        // the address queries below fail and it is closed on drop.
        let sock = unsafe { <Socket as std::os::fd::FromRawFd>::from_raw_fd(dup) };
        let local = sock.local_addr().ok().and_then(|a| a.as_socket());
        let remote = sock.peer_addr().ok().and_then(|a| a.as_socket());
        if local == Some(server) && remote == Some(peer) {
            return Some(sock);
        }
    }
    None
}

#[test]
fn accepted_sockets_have_keepalive_and_nodelay() {
    let server = TestServer::start();
    let ann = Client::join(server.addr(), "ann");
    let peer = ann.stream().local_addr().expect("local addr");
    let sock = server_side_socket(server.addr(), peer).expect("server end of ann's socket");
    let sock = SockRef::from(&sock);
    assert!(sock.tcp_nodelay().expect("TCP_NODELAY"), "TCP_NODELAY off");
    assert!(sock.keepalive().expect("SO_KEEPALIVE"), "SO_KEEPALIVE off");
    assert_eq!(
        sock.tcp_keepalive_time().expect("TCP_KEEPIDLE"),
        limits::KEEPALIVE_IDLE
    );
    assert_eq!(
        sock.tcp_keepalive_interval().expect("TCP_KEEPINTVL"),
        limits::KEEPALIVE_INTERVAL
    );
    assert_eq!(
        sock.tcp_keepalive_retries().expect("TCP_KEEPCNT"),
        limits::KEEPALIVE_PROBES
    );
}

#[test]
fn a_welcome_bigger_than_sendq_does_not_make_the_newcomer_too_slow() {
    // Regression: the welcome (history + member list) is one frame; past --sendq, the next
    // line to anyone made the newcomer "too slow" before it could read a byte of it.
    let server = TestServer::with(lanchat_server::Config {
        sendq: limits::MIN_SENDQ,
        history: 1000,
        ..TestServer::config()
    });
    let mut ann = Client::join(server.addr(), "ann");
    let long = "h".repeat(2000);
    for _ in 0..1000 {
        ann.send(&long);
    }
    ann.sync();
    // ~2 MB of welcome for bob. His small window and LAN-sized segments (loopback's 64 KiB
    // ones let the kernel absorb megabytes) leave most of it in the server's queue.
    let sock = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    sock.set_recv_buffer_size(16 * 1024).expect("SO_RCVBUF");
    sock.set_tcp_mss(1448).expect("TCP_MAXSEG");
    sock.connect_timeout(&server.addr().into(), integration_tests::DEADLINE)
        .expect("connect to server");
    let mut bob: TcpStream = sock.into();
    bob.write_all(b"bob\n").expect("send name");
    ann.expect("JOIN bob");
    ann.send("after the welcome");
    // A drop would be decided in the round that reads this line; its LEAVE can follow the
    // first /who's answer, never the second's.
    let mut seen = ann.sync();
    seen.extend(ann.sync());
    assert!(
        !seen.iter().any(|l| l.starts_with("LEAVE bob")),
        "bob was dropped: {seen:?}"
    );

    // And bob, reading now, gets all of it: welcome, 1,000 history lines, members, ann's line.
    let mut bob_reader = Client::from_stream(bob.try_clone().expect("clone bob"), "bob");
    let (before, _) = bob_reader.read_until_prefix("MSG ann after the welcome");
    assert_eq!(
        before.iter().filter(|l| l.starts_with("HIST ")).count(),
        1000,
        "{:?}",
        &before[..3.min(before.len())]
    );
    assert!(!before.iter().any(|l| l.starts_with("BYE")), "{before:?}");
    let _ = bob.write_all(b"<quit>\n");
}
