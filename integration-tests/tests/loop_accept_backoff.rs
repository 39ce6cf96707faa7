//! The accept back-off after fd exhaustion, on a clock the test moves: the listener rests
//! exactly `ACCEPT_BACKOFF_START` after the first EMFILE, twice that after the next one in the
//! same episode, and is back at the start once everyone waiting got in.
//!
//! The in-process server shares this process's fd limit, which this test lowers: so it is
//! the only test in its binary (nothing else may open fds meanwhile), and every client socket
//! is made before the limit goes down (connecting a made socket takes no new fd).

use std::net::TcpStream;
use std::time::Duration;

use integration_tests::{Client, TestServer};
use lanchat_server::limits;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

const MS: Duration = Duration::from_millis(1);

/// This process's soft fd limit, put back when dropped.
struct FdLimit {
    saved: libc::rlimit,
}

impl FdLimit {
    fn current() -> FdLimit {
        let mut saved = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `saved` is a valid, writable rlimit for the duration of the call.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut saved) };
        assert_eq!(rc, 0, "getrlimit");
        FdLimit { saved }
    }

    /// Lower the soft limit so that exactly `free` more fds can be opened.
    fn leave_free(&self, free: usize) {
        // Asked fd by fd: listing /proc/self/fd would count the listing's own fd.
        let open = |fd: usize| {
            let fd = i32::try_from(fd).expect("fd fits i32");
            // SAFETY: F_GETFD only reads the flags of `fd`, failing with EBADF if it is closed.
            unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
        };
        // fds are numbered lowest-free first; one at or above the limit cannot be handed out.
        let limit = (0..)
            .find(|&limit| (0..limit).filter(|&fd| !open(fd)).count() == free)
            .expect("some limit fits");
        self.set(limit as libc::rlim_t);
    }

    fn set(&self, soft: libc::rlim_t) {
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: self.saved.rlim_max,
        };
        // SAFETY: `lim` is a valid rlimit; setrlimit only reads it.
        let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        assert_eq!(rc, 0, "setrlimit");
    }
}

impl Drop for FdLimit {
    fn drop(&mut self) {
        self.set(self.saved.rlim_cur);
    }
}

/// A client made now, with every fd it needs, to connect later.
fn unconnected() -> Client {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    s.set_tcp_nodelay(true).expect("nodelay");
    Client::from_stream(TcpStream::from(s), "")
}

fn connect(mut c: Client, server: &TestServer, name: &str) -> Client {
    SockRef::from(c.stream())
        .connect(&server.addr().into())
        .expect("connect");
    c.name = name.to_owned();
    c
}

/// Make the server let go of `c` (its fd frees up) while this process keeps `c`'s own fds: a
/// quit, then our side shut too so the server does not linger.
#[track_caller]
fn leave(c: &mut Client) {
    c.send("<quit>");
    c.expect("BYE Goodbye!");
    c.stream()
        .shutdown(std::net::Shutdown::Write)
        .expect("shutdown");
    assert_eq!(c.expect_eof(), Vec::<String>::new());
}

#[test]
fn the_listener_rests_on_emfile_for_the_back_off_doubles_it_in_an_episode_then_starts_over() {
    let server = TestServer::with_manual_clock(TestServer::config());
    let mut ann = Client::join(server.addr(), "ann");
    let mut sockets: Vec<Client> = (0..6).map(|_| unconnected()).collect();
    let mut next = |name: &str| connect(sockets.remove(0), &server, name);
    let limit = FdLimit::current();
    // The server may accept two more connections.
    limit.leave_free(2);
    let mut first = next("first");
    let mut second = next("second");
    first.expect_prefix("HELLO ");
    second.expect_prefix("HELLO ");
    // These complete the TCP handshake in the kernel, but accept fails: EMFILE.
    let mut third = next("third");
    let mut fourth = next("fourth");
    assert_eq!(ann.settle(), Vec::<String>::new());

    // One fd frees up (the server closes its end of first), but the listener rests.
    leave(&mut first);
    assert_eq!(ann.settle(), Vec::<String>::new());
    server.advance(limits::ACCEPT_BACKOFF_START - MS);
    assert_eq!(ann.settle(), Vec::<String>::new());
    third.expect_nothing_for(Duration::from_millis(50));
    // On the dot it tries again: third gets the free fd, the next accept fails again, and in
    // the same episode the rest is twice as long.
    server.advance(MS);
    third.expect_prefix("HELLO ");
    assert_eq!(ann.settle(), Vec::<String>::new());
    // Two fds free up. (With none free, Linux fails accept with EMFILE even when nobody waits,
    // so an episode ends only at a `WouldBlock` with an fd to spare.)
    leave(&mut second);
    leave(&mut third);
    assert_eq!(ann.settle(), Vec::<String>::new());
    server.advance(limits::ACCEPT_BACKOFF_START * 2 - MS);
    assert_eq!(ann.settle(), Vec::<String>::new());
    fourth.expect_nothing_for(Duration::from_millis(50));
    server.advance(MS);
    fourth.expect_prefix("HELLO ");

    // fourth got in with an fd to spare: the episode is over. In the next one (fifth takes the
    // spare fd, the accept after it fails) the listener rests the first back-off again.
    assert_eq!(ann.settle(), Vec::<String>::new());
    let mut fifth = next("fifth");
    fifth.expect_prefix("HELLO ");
    let mut sixth = next("sixth");
    assert_eq!(ann.settle(), Vec::<String>::new());
    leave(&mut fourth);
    assert_eq!(ann.settle(), Vec::<String>::new());
    server.advance(limits::ACCEPT_BACKOFF_START - MS);
    assert_eq!(ann.settle(), Vec::<String>::new());
    sixth.expect_nothing_for(Duration::from_millis(50));
    server.advance(MS);
    sixth.expect_prefix("HELLO ");
    drop(limit);
    ann.send("still here");
    assert_eq!(ann.sync(), Vec::<String>::new());
    drop((first, second, third, fourth, fifth, sixth));
}
