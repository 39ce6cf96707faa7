//! File descriptors: `--max-clients` fitted to the fd limit, and accept running out of fds
//! (EMFILE) without spinning or stalling. The server runs under `prlimit` (util-linux); where
//! that is missing these tests are ignored, with the reason (`build.rs` looks for it). See
//! docs/ROBUSTNESS.md.

use std::process::Command;
use std::time::{Duration, Instant};

use integration_tests::{bin_path, procfs, Client, ServerProcess};
use lanchat_server::limits::RESERVED_FDS;

// The accept test's 2 members and 16 waiting fit under the --max-clients a 64-fd limit leaves.
const _: () = assert!(2 + 16 <= 64 - RESERVED_FDS);

/// The server binary started under an fd limit of 64 (soft and hard).
fn server_under_64_fds() -> ServerProcess {
    let mut cmd = Command::new("prlimit");
    cmd.arg("--nofile=64:64")
        .arg(bin_path("lanchat-server"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--no-discovery"])
        // Every client comes from 127.0.0.1: the per-address limits are not what is tested.
        .args(["--max-per-host", "0", "--join-rate", "0"]);
    ServerProcess::spawn(cmd)
}

/// Set the running server's fd limit.
fn set_fd_limit(pid: u32, soft: usize, hard: usize) {
    let status = Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={soft}:{hard}"),
        ])
        .status()
        .expect("run prlimit");
    assert!(status.success(), "prlimit --pid {pid} failed");
}

/// The fd limit under which exactly `free` more fds can be opened by `pid` (fds are numbered
/// lowest-free first, and a number at or above the limit cannot be handed out).
fn limit_leaving_free(pid: u32, free: usize) -> usize {
    let used: Vec<usize> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/<pid>/fd")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..)
        .find(|&limit| limit - used.iter().filter(|&&fd| fd < limit).count() == free)
        .expect("some limit fits")
}

/// The share of one core the server used while `window` passed.
fn cpu_share_over(pid: u32, window: Duration) -> f64 {
    let (cpu0, t0) = (procfs::cpu_time(pid), Instant::now());
    std::thread::sleep(window);
    let (cpu1, t1) = (procfs::cpu_time(pid), Instant::now());
    (cpu1 - cpu0).as_secs_f64() / (t1 - t0).as_secs_f64()
}

#[test]
#[cfg_attr(lanchat_no_prlimit, ignore = "prlimit (util-linux) is not installed")]
fn under_a_64_fd_limit_max_clients_is_lowered_and_extra_clients_are_refused() {
    let server = server_under_64_fds();
    let addr = server.addr();
    let fit = 64 - RESERVED_FDS;
    let lowered =
        format!("--max-clients lowered from 10000 to {fit} to fit the file-descriptor limit (64)");
    assert_eq!(server.wait_for_log(&lowered, 1), 1, "{}", server.log());
    let mut ann = Client::join(addr, "ann");
    let mut bob = Client::join(addr, "bob");
    ann.expect("JOIN bob");
    let mut unnamed: Vec<Client> = (2..fit)
        .map(|_| {
            let mut c = Client::connect(addr);
            c.expect_prefix("HELLO ");
            c
        })
        .collect();
    // 60 more than fit: each is told and let go, none waits.
    for _ in 0..60 {
        let mut c = Client::connect(addr);
        c.expect(&format!(
            "ERR server-full the server is full ({fit} users); try again later"
        ));
        c.expect_eof();
    }
    bob.send("full house");
    ann.expect("MSG bob full house");
    // Room is made: new clients get in again (once the server has seen the eight go).
    let open = procfs::open_fds(server.pid());
    unnamed.truncate(unnamed.len() - 8);
    let settled = procfs::wait_for(
        Duration::from_secs(5),
        || procfs::open_fds(server.pid()),
        |&n| n == open - 8,
    );
    assert_eq!(settled, open - 8);
    for i in 0..8 {
        let mut c = Client::join(addr, &format!("new{i}"));
        c.sync();
    }
    assert!(!server.log().contains("accept failed"), "{}", server.log());
}

#[test]
#[cfg_attr(lanchat_no_prlimit, ignore = "prlimit (util-linux) is not installed")]
fn the_soft_fd_limit_is_raised_to_the_hard_limit_at_start() {
    let mut cmd = Command::new("prlimit");
    cmd.arg("--nofile=64:128")
        .arg(bin_path("lanchat-server"))
        .args(["--bind", "127.0.0.1", "--port", "0", "--no-discovery"])
        // Every client comes from 127.0.0.1: the per-address limits are not what is tested.
        .args(["--max-per-host", "0", "--join-rate", "0"]);
    let server = ServerProcess::spawn(cmd);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid()))
        .expect("read /proc/<pid>/limits");
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("Max open files in /proc/<pid>/limits");
    assert_eq!(
        open_files.split_whitespace().collect::<Vec<_>>(),
        ["Max", "open", "files", "128", "128", "files"]
    );
    let lowered = format!(
        "--max-clients lowered from 10000 to {} to fit the file-descriptor limit (128)",
        128 - RESERVED_FDS
    );
    assert_eq!(server.wait_for_log(&lowered, 1), 1, "{}", server.log());
}

#[test]
#[cfg_attr(lanchat_no_prlimit, ignore = "prlimit (util-linux) is not installed")]
fn when_accept_runs_out_of_fds_the_listener_rests_without_spinning_and_comes_back() {
    let server = server_under_64_fds();
    let (addr, pid) = (server.addr(), server.pid());
    let mut ann = Client::join(addr, "ann");
    let mut bob = Client::join(addr, "bob");
    ann.expect("JOIN bob");
    // --max-clients was fitted to 64 fds at start, so clients alone never exhaust them. Fds
    // can still run out (the limit lowered at run time, fds taken by something the start-up
    // fit cannot see, the system-wide table full): lower the running server's soft limit so
    // that only 10 more connections fit.
    set_fd_limit(pid, limit_leaving_free(pid, 10), 64);
    let mut first: Vec<Client> = (0..10)
        .map(|_| {
            let mut c = Client::connect(addr);
            c.expect_prefix("HELLO ");
            c
        })
        .collect();
    // Sixteen more complete the TCP handshake (the kernel's backlog) but cannot be accepted
    // (all of them together stay under --max-clients, so none is refused for that).
    let mut waiting: Vec<Client> = (0..16).map(|_| Client::connect(addr)).collect();
    assert_eq!(
        server.wait_for_log("accept failed", 1),
        1,
        "{}",
        server.log()
    );
    waiting[0].expect_nothing_for(Duration::from_millis(200));

    // Out of fds with connections pending: the loop must neither spin nor stop serving.
    // A spinning loop shows at once; half a second spans the back-off's first retries.
    let share = cpu_share_over(pid, Duration::from_millis(500));
    assert!(
        share < 0.2,
        "server used {:.0}% of a core while out of fds",
        share * 100.0
    );
    bob.send("still chatting");
    ann.expect("MSG bob still chatting");
    for c in &mut first {
        c.send("/who");
        c.expect_prefix("ERR name-invalid ");
    }

    // Ten leave: ten of the waiting get in (the accept queue is first come, first served).
    drop(first);
    for c in &mut waiting[..10] {
        c.expect_prefix("HELLO ");
    }
    // The limit goes back up: the rest get in.
    set_fd_limit(pid, 64, 64);
    for c in &mut waiting[10..] {
        c.expect_prefix("HELLO ");
    }
    // One episode, logged once at its start and once at its end.
    assert_eq!(
        server.wait_for_log("accepting again", 1),
        1,
        "{}",
        server.log()
    );
    assert_eq!(
        server.log().matches("accept failed").count(),
        1,
        "{}",
        server.log()
    );
    bob.send("all in");
    ann.expect("MSG bob all in");
}
