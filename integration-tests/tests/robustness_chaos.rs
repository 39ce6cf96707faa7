//! Broken clients: killed mid-line, reset (RST), gone before the greeting. Everyone else hears a
//! `LEAVE`, no cut-off line is ever relayed, and the server's open fds return to their
//! baseline. See docs/ROBUSTNESS.md.

use std::collections::BTreeSet;
use std::time::Duration;

use integration_tests::{procfs, Client, ServerProcess};
use socket2::SockRef;

/// Wait until the server has exactly `want` fds open; returns what it had at the end.
fn fds_settle(pid: u32, want: usize) -> usize {
    procfs::wait_for(
        Duration::from_secs(5),
        || procfs::open_fds(pid),
        |&n| n == want,
    )
}

#[test]
fn killed_and_reset_clients_leave_cleanly_with_no_fragments_and_fds_return_to_baseline() {
    let server = ServerProcess::start(&["--rate", "0"]);
    let (addr, pid) = (server.addr(), server.pid());
    let baseline = procfs::open_fds(pid);

    let mut clients: Vec<Client> = (0..50)
        .map(|i| Client::join(addr, &format!("c{i}")))
        .collect();
    assert_eq!(fds_settle(pid, baseline + 50), baseline + 50);
    // Everyone has read every JOIN, so a close below is a plain FIN unless a LEAVE from an
    // earlier close has arrived meanwhile (then it is an RST: both must work).
    for c in &mut clients {
        c.sync();
    }
    let mut survivors = clients.split_off(20);
    let mut reset = clients.split_off(10);
    let killed = clients;

    // Ten "killed" mid-line: part of a line, then the socket is closed.
    let mut killed: Vec<Client> = killed;
    for c in &mut killed {
        c.send_raw(format!("fragment from {} that never ends", c.name).as_bytes());
    }
    drop(killed);
    // Ten reset: SO_LINGER 0 makes the close an RST, data in flight is discarded.
    for c in &mut reset {
        c.send_raw(format!("fragment from {} cut by a reset", c.name).as_bytes());
        SockRef::from(c.stream())
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER 0");
    }
    drop(reset);

    let gone: BTreeSet<String> = (0..20)
        .map(|i| format!("LEAVE c{i} disconnected"))
        .collect();
    for s in &mut survivors {
        let mut leaves = BTreeSet::new();
        let mut other = Vec::new();
        while leaves.len() < 20 {
            let l = s.line();
            if l.starts_with("LEAVE ") {
                leaves.insert(l);
            } else {
                other.push(l);
            }
        }
        other.extend(s.sync());
        assert_eq!(leaves, gone, "{}", s.name);
        assert_eq!(other, Vec::<String>::new(), "{}: fragments relayed", s.name);
    }
    assert_eq!(fds_settle(pid, baseline + 30), baseline + 30);

    // More churn: connections that go before the greeting is read, or without a name.
    for i in 0..20 {
        let c = Client::connect(addr);
        if i % 2 == 0 {
            SockRef::from(c.stream())
                .set_linger(Some(Duration::ZERO))
                .expect("SO_LINGER 0");
        }
    }

    // The room is intact: a message still reaches all 29 others.
    survivors[0].send("after the storm");
    for s in &mut survivors[1..] {
        s.expect("MSG c20 after the storm");
    }
    // Half quit politely, half just close.
    for (i, mut s) in survivors.into_iter().enumerate() {
        if i % 2 == 0 {
            s.send("<quit>");
            s.read_until_prefix("BYE ");
        }
    }
    assert_eq!(fds_settle(pid, baseline), baseline, "fds not given back");
    let mut late = Client::join(addr, "late");
    assert_eq!(late.sync(), Vec::<String>::new());
}
