//! What one host can do to everyone else, measured: the red team's four probes, re-run against
//! a server binary given on the command line (so a build from before the per-address limits
//! and one after can be compared on the same machine). Each run starts its own server on
//! 127.0.0.1 port 0 and stops it; clients bind 127.0.0.1 (the attacker) and 127.0.0.2 and up
//! (everyone else) before connecting, so to the server they are different hosts.
//!
//! - `churn`: `--threads` threads loop connect, name, `/quit` from one host for `--secs`; a
//!   member on another host counts the JOIN/LEAVE lines it receives, a third host says a line
//!   every 100 ms and the member times them. Visits/s, lines/s, server CPU.
//! - `relay`: `--conns` connections from one host each send `--size`-byte messages at
//!   `--rate` a second (their own flood-control budget) for `--secs`; a member on another host
//!   counts what is relayed.
//! - `lockout`: one host opens connections (for up to `--secs`) until it holds `--conns` or
//!   the server is full; then 20 other hosts try to join.
//! - `who`: `--members` members with 96-byte names (from 127.0.0.1; give the server
//!   `--trusted-hosts 127.0.0.1` where it has per-address limits, since real members come from
//!   as many addresses), then `--conns` connections from 127.0.0.2 each ask `/who` `--rate`
//!   times a second for `--secs`; bytes/s they pull.
//!
//! `cargo run --release -p integration-tests --example hosts_probe -- --server
//! target/release/lanchat-server churn [--threads 4] [--secs 5] [-- <server flags>]`
//! (loopback only; every loop is bounded by `--secs`, at most 30, and by a count.)

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use integration_tests::{longest_name, procfs, tcp_from, ServerProcess};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Probe {
    Churn,
    Relay,
    Lockout,
    Who,
}

#[derive(Debug, Parser)]
#[command(about = "Measure what one host can do to the others on a lanchat server")]
struct Args {
    /// The lanchat-server binary to start.
    #[arg(long)]
    server: PathBuf,
    #[arg(value_enum)]
    probe: Probe,
    #[arg(long, default_value_t = 4)]
    threads: usize,
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=30))]
    secs: u64,
    #[arg(long, default_value_t = 100)]
    conns: usize,
    #[arg(long, default_value_t = 2000)]
    size: usize,
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    #[arg(long, default_value_t = 1500)]
    members: usize,
    /// More flags for the server (after `--`).
    #[arg(last = true)]
    server_args: Vec<String>,
}

fn host(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// A line connection with a read deadline per line.
struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Conn {
    fn open(from: IpAddr, addr: SocketAddr) -> io::Result<Conn> {
        let s = tcp_from(from, addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Conn {
            w: s.try_clone()?,
            r: BufReader::new(s),
        })
    }

    fn line(&mut self) -> io::Result<String> {
        let mut l = String::new();
        if self.r.read_line(&mut l)? == 0 {
            return Err(ErrorKind::UnexpectedEof.into());
        }
        l.pop();
        Ok(l)
    }

    fn until(&mut self, prefix: &str) -> io::Result<String> {
        loop {
            let l = self.line()?;
            if l.starts_with(prefix) {
                return Ok(l);
            }
        }
    }

    fn send(&mut self, line: &str) -> io::Result<()> {
        self.w.write_all(format!("{line}\n").as_bytes())
    }

    /// Connect and join as `name`: `Ok(None)` when refused (the ERR line is returned).
    fn join(from: IpAddr, addr: SocketAddr, name: &str) -> io::Result<Result<Conn, String>> {
        let mut c = Conn::open(from, addr)?;
        let first = c.line()?;
        if !first.starts_with("HELLO ") {
            return Ok(Err(first));
        }
        c.send(name)?;
        let l = c.line()?;
        if !l.starts_with("WELCOME ") {
            return Ok(Err(l));
        }
        c.until("WHOEND ")?;
        Ok(Ok(c))
    }
}

/// A member that reads everything on a thread of its own and counts lines by kind.
struct Watcher {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    join_leave: u64,
    msgs: u64,
    bytes: u64,
    /// Latencies of `MSG sam t=<micros>` lines, from the sender's clock (same process).
    latencies: Vec<Duration>,
}

impl Watcher {
    fn start(addr: SocketAddr, t0: Instant) -> Watcher {
        let mut c = Conn::join(host(2), addr, "pat")
            .expect("watcher connects")
            .expect("watcher joins");
        c.r.get_ref()
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut n = Counts::default();
            let mut buf = String::new();
            while !flag.load(Ordering::Relaxed) {
                match c.r.read_line(&mut buf) {
                    Ok(0) => break,
                    Ok(_) if buf.ends_with('\n') => {
                        n.bytes += buf.len() as u64;
                        if buf.starts_with("JOIN ") || buf.starts_with("LEAVE ") {
                            n.join_leave += 1;
                        } else if let Some(rest) = buf.strip_prefix("MSG ") {
                            n.msgs += 1;
                            if let Some(us) = rest
                                .strip_prefix("sam t=")
                                .and_then(|t| t.trim().parse::<u64>().ok())
                            {
                                n.latencies
                                    .push(t0.elapsed().saturating_sub(Duration::from_micros(us)));
                            }
                        }
                        buf.clear();
                    }
                    Ok(_) => {}
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => break,
                }
            }
            n
        });
        Watcher { stop, thread }
    }

    fn stop(self) -> Counts {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("watcher thread")
    }
}

/// Server CPU time over a window.
struct Cpu {
    pid: u32,
    at: Instant,
    used: Duration,
}

impl Cpu {
    fn start(pid: u32) -> Cpu {
        Cpu {
            pid,
            at: Instant::now(),
            used: procfs::cpu_time(pid),
        }
    }

    fn percent(&self) -> f64 {
        let used = procfs::cpu_time(self.pid).saturating_sub(self.used);
        100.0 * used.as_secs_f64() / self.at.elapsed().as_secs_f64()
    }
}

fn per_sec(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    let args = Args::parse();
    let mut cmd = Command::new(&args.server);
    cmd.args(["--bind", "127.0.0.1", "--port", "0", "--no-discovery"])
        .args(&args.server_args)
        .env("RUST_LOG", "warn");
    let server = ServerProcess::spawn(cmd);
    let addr = server.addr();
    let pid = server.pid();
    println!(
        "{:?} against {} {} (pid {pid}); load average {}",
        args.probe,
        args.server.display(),
        args.server_args.join(" "),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let secs = Duration::from_secs(args.secs);
    match args.probe {
        Probe::Churn => churn(addr, pid, args.threads, secs),
        Probe::Relay => relay(addr, pid, args.conns, args.size, args.rate, secs),
        Probe::Lockout => lockout(addr, args.conns, secs),
        Probe::Who => who(addr, pid, args.members, args.conns, args.rate, secs),
    }
}

fn churn(addr: SocketAddr, pid: u32, threads: usize, secs: Duration) {
    let t0 = Instant::now();
    let watcher = Watcher::start(addr, t0);
    let mut sam = Conn::join(host(3), addr, "sam")
        .expect("connect")
        .expect("sam joins");
    let visits = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let cpu = Cpu::start(pid);
    let start = Instant::now();
    let end = start + secs;
    let churners: Vec<_> = (0..threads)
        .map(|t| {
            let (visits, refused, failed) = (
                Arc::clone(&visits),
                Arc::clone(&refused),
                Arc::clone(&failed),
            );
            std::thread::spawn(move || {
                for i in 0..1_000_000u64 {
                    if Instant::now() >= end {
                        break;
                    }
                    let r = Conn::join(host(1), addr, &format!("c{t}x{i}")).and_then(|j| match j {
                        Ok(mut c) => {
                            c.send("/quit")?;
                            c.until("BYE ")?;
                            Ok(true)
                        }
                        Err(_) => Ok(false),
                    });
                    match r {
                        Ok(true) => visits.fetch_add(1, Ordering::Relaxed),
                        Ok(false) => refused.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let mut said = 0;
    while Instant::now() < end {
        let _ = sam.send(&format!("t={}", t0.elapsed().as_micros()));
        said += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    for c in churners {
        let _ = c.join();
    }
    let took = start.elapsed();
    let cpu = cpu.percent();
    std::thread::sleep(Duration::from_millis(500)); // the last lines reach the watcher
    let n = watcher.stop();
    let mut lat = n.latencies.clone();
    lat.sort();
    let p50 = lat.get(lat.len() / 2).copied().unwrap_or_default();
    let max = lat.last().copied().unwrap_or_default();
    println!(
        "churn {threads} threads, {:.1} s: {:.0} visits/s ({} in all), {:.0} refused/s, {} failed; \
         member on another host: {:.0} JOIN/LEAVE lines/s; server CPU {cpu:.0} %; \
         third host: {} of {said} lines arrived, latency p50 {:.1} ms, max {:.1} ms",
        took.as_secs_f64(),
        per_sec(visits.load(Ordering::Relaxed), took),
        visits.load(Ordering::Relaxed),
        per_sec(refused.load(Ordering::Relaxed), took),
        failed.load(Ordering::Relaxed),
        per_sec(n.join_leave, took),
        lat.len(),
        p50.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
    );
}

/// Read whatever is waiting on `s` without blocking (a sender must read what the room sends it,
/// or it is dropped as too slow).
fn drain(s: &mut TcpStream, buf: &mut [u8]) {
    loop {
        match s.read(buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

fn relay(addr: SocketAddr, pid: u32, conns: usize, size: usize, rate: f64, secs: Duration) {
    let t0 = Instant::now();
    let watcher = Watcher::start(addr, t0);
    let mut senders = Vec::new();
    let mut refused = 0;
    for i in 0..conns {
        match Conn::join(host(1), addr, &format!("s{i}")) {
            Ok(Ok(c)) => {
                c.w.set_nonblocking(true).expect("nonblocking");
                senders.push(c.w);
            }
            Ok(Err(_)) | Err(_) => refused += 1,
        }
    }
    let admitted = senders.len();
    let text = "x".repeat(size);
    let cpu = Cpu::start(pid);
    let start = Instant::now();
    let end = start + secs;
    // Up to 10 connections per thread, each sending at `rate` a second and draining its input.
    let sent = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = senders
        .chunks(10)
        .map(|chunk| {
            let mut chunk: Vec<TcpStream> = chunk
                .iter()
                .map(|s| s.try_clone().expect("clone"))
                .collect();
            let (text, sent) = (text.clone(), Arc::clone(&sent));
            std::thread::spawn(move || {
                let mut buf = vec![0; 64 * 1024];
                let gap = Duration::from_secs_f64(1.0 / rate);
                let mut next = Instant::now();
                let mut k = 0u64;
                while Instant::now() < end {
                    for s in &mut chunk {
                        let line = format!("{k} {text}\n");
                        if s.write_all(line.as_bytes()).is_ok() {
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                        drain(s, &mut buf);
                    }
                    k += 1;
                    next += gap;
                    while Instant::now() < next {
                        for s in &mut chunk {
                            drain(s, &mut buf);
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    let took = start.elapsed();
    let cpu = cpu.percent();
    std::thread::sleep(Duration::from_millis(500));
    let n = watcher.stop();
    println!(
        "relay: {admitted} of {conns} connections from one host admitted ({refused} refused); \
         {:.0} lines/s of {size} bytes sent for {:.1} s; a member on another host received \
         {:.0} messages/s ({:.0} KB/s); server CPU {cpu:.0} %",
        per_sec(sent.load(Ordering::Relaxed), took),
        took.as_secs_f64(),
        per_sec(n.msgs, took),
        per_sec(n.bytes, took) / 1e3,
    );
    drop(senders);
}

fn lockout(addr: SocketAddr, conns: usize, secs: Duration) {
    let start = Instant::now();
    let mut held = Vec::new();
    let mut refusals = std::collections::BTreeMap::<String, u64>::new();
    let mut i = 0;
    while held.len() < conns && start.elapsed() < secs && i < 1_000_000 {
        match Conn::join(host(1), addr, &format!("h{i}")) {
            Ok(Ok(c)) => held.push(c),
            Ok(Err(l)) => {
                let code = l.split(' ').take(2).collect::<Vec<_>>().join(" ");
                let full = code == "ERR server-full";
                *refusals.entry(code).or_default() += 1;
                if full {
                    break;
                }
            }
            Err(_) => *refusals.entry("error".into()).or_default() += 1,
        }
        i += 1;
    }
    let took = start.elapsed();
    let mut others = std::collections::BTreeMap::<String, u64>::new();
    let mut kept = Vec::new();
    for n in 0..20u8 {
        let outcome = match Conn::join(host(2 + n), addr, &format!("o{n}")) {
            Ok(Ok(c)) => {
                kept.push(c);
                "joined".to_owned()
            }
            Ok(Err(l)) => l.split(' ').take(2).collect::<Vec<_>>().join(" "),
            Err(e) => format!("error {e}"),
        };
        *others.entry(outcome).or_default() += 1;
    }
    println!(
        "lockout: one host tried {i} times in {:.1} s and holds {} connections (refused: \
         {refusals:?}); 20 other hosts: {others:?}",
        took.as_secs_f64(),
        held.len(),
    );
}

fn who(addr: SocketAddr, pid: u32, members: usize, conns: usize, rate: f64, secs: Duration) {
    // The members, drained by one thread so the room's traffic does not pile up in the kernel.
    let stop = Arc::new(AtomicBool::new(false));
    let mut streams = Vec::new();
    for i in 0..members {
        match Conn::join(host(1), addr, &longest_name(i)) {
            Ok(Ok(c)) => {
                c.w.set_nonblocking(true).expect("nonblocking");
                streams.push(c.w);
            }
            other => panic!("member {i} could not join: {:?}", other.map(|r| r.err())),
        }
    }
    let flag = Arc::clone(&stop);
    let drainer = std::thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        while !flag.load(Ordering::Relaxed) {
            for s in &mut streams {
                drain(s, &mut buf);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let cpu = Cpu::start(pid);
    let start = Instant::now();
    let end = start + secs;
    let bytes = Arc::new(AtomicU64::new(0));
    let answers = Arc::new(AtomicU64::new(0));
    // ERR lines: for a /who asked too soon, or (one a second at most) for lines over a budget.
    let errs = Arc::new(AtomicU64::new(0));
    let first_size = Arc::new(AtomicU64::new(0));
    let admitted = Arc::new(AtomicU64::new(0));
    let askers: Vec<_> = (0..conns)
        .map(|i| {
            let (bytes, answers, errs, first_size, admitted) = (
                Arc::clone(&bytes),
                Arc::clone(&answers),
                Arc::clone(&errs),
                Arc::clone(&first_size),
                Arc::clone(&admitted),
            );
            std::thread::spawn(move || {
                let Ok(Ok(mut c)) = Conn::join(host(2), addr, &format!("a{i}")) else {
                    return;
                };
                admitted.fetch_add(1, Ordering::Relaxed);
                // Ask at the rate whatever comes back: a request over a budget may get no
                // answer at all (one ERR a second at most), so none is waited for.
                let _ =
                    c.r.get_ref()
                        .set_read_timeout(Some(Duration::from_millis(5)));
                let gap = Duration::from_secs_f64(1.0 / rate);
                let mut next = Instant::now();
                let mut line = Vec::new();
                let mut size = 0u64;
                while Instant::now() < end {
                    if Instant::now() >= next {
                        if c.send("/who").is_err() {
                            return;
                        }
                        next += gap;
                    }
                    match c.r.read_until(b'\n', &mut line) {
                        Ok(0) => return,
                        Ok(_) if line.ends_with(b"\n") => {
                            size += line.len() as u64;
                            bytes.fetch_add(line.len() as u64, Ordering::Relaxed);
                            if line.starts_with(b"WHOEND ") {
                                answers.fetch_add(1, Ordering::Relaxed);
                                let _ = first_size.compare_exchange(
                                    0,
                                    size,
                                    Ordering::Relaxed,
                                    Ordering::Relaxed,
                                );
                                size = 0;
                            } else if line.starts_with(b"ERR ") {
                                errs.fetch_add(1, Ordering::Relaxed);
                                size = 0;
                            }
                            line.clear();
                        }
                        Ok(_) => {}
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    for a in askers {
        let _ = a.join();
    }
    let took = start.elapsed();
    let cpu = cpu.percent();
    stop.store(true, Ordering::Relaxed);
    let _ = drainer.join();
    println!(
        "who: {members} members with 96-byte names; one answer {} bytes; {} of {conns} \
         connections from one host admitted, each asking {rate}/s for {:.1} s: {:.1} answers/s, \
         {:.1} ERR lines/s, {:.3} MB/s pulled; server CPU {cpu:.0} %",
        first_size.load(Ordering::Relaxed),
        admitted.load(Ordering::Relaxed),
        took.as_secs_f64(),
        per_sec(answers.load(Ordering::Relaxed), took),
        per_sec(errs.load(Ordering::Relaxed), took),
        per_sec(bytes.load(Ordering::Relaxed), took) / 1e6,
    );
}
