//! What a delivery costs the server in its own code, without the kernel: the `fanout` shape
//! (100 members of `#general`, 10 of them sending) run through the real room, connection table
//! and queues over transports that take every byte and do nothing with it, a round at a time
//! as the loop runs it (lines relayed, the staged history written, one write per connection,
//! the round ended). With `--dir DIR` the room's history goes to a log in `DIR`, as with a
//! state directory, so its writes are counted in (they are system calls); `--write-each`
//! writes it after every message instead of once a round, as the server did before. The
//! figures are in docs/BENCHMARKS.md.
//!
//! `cargo run --release -p lanchat-server --example fanout_cost -- [--dir DIR [--write-each]] [--rounds N]`

use std::io::{self, IoSlice};
use std::path::PathBuf;
use std::time::Instant;

use lanchat_server::conn::ConnTable;
use lanchat_server::persist::Store;
use lanchat_server::transport::{Closed, Input, Transport};
use lanchat_server::{Clock, ConnId, Room, RoomConfig, SystemClock};

/// Members of the room.
const CLIENTS: usize = 100;
/// Members sending.
const SENDERS: usize = 10;
/// Lines each sender's read brings in a round (the generator's window keeps ~10 a sender in
/// flight at the figures `make load` measured).
const LINES_PER_READ: usize = 10;

/// Takes every byte at once.
#[derive(Debug, Default)]
struct Void;

impl Transport for Void {
    fn read(&mut self, _: &mut [u8]) -> io::Result<Input> {
        Ok(Input::Drained)
    }

    fn write(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        Ok(bufs.iter().map(|b| b.len()).sum())
    }

    fn close_write(&mut self) -> io::Result<Closed> {
        Ok(Closed::Done)
    }

    fn reset_on_close(&mut self) {}
}

fn main() {
    let mut dir = None;
    let mut rounds = 2_000;
    let mut each = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = args.next().map(PathBuf::from),
            "--rounds" => rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
            "--write-each" => each = true,
            _ => rounds = 0,
        }
        if rounds == 0 || (arg == "--dir" && dir.is_none()) {
            eprintln!("usage: fanout_cost [--dir DIR [--write-each]] [--rounds N]");
            std::process::exit(2);
        }
    }
    let cfg = RoomConfig {
        rate: 0.0,
        max_clients: CLIENTS * 2,
        ..RoomConfig::default()
    };
    let history = cfg.history;
    let clock = SystemClock;
    let now = clock.now();
    let mut room = Room::new(cfg);
    if let Some(dir) = &dir {
        room.set_store(Store::open(dir, history, now.unix_ms).0);
    }
    let mut table: ConnTable<Void> = ConnTable::new();
    if let Some(ahead) = room.store().write_ahead() {
        table.set_write_ahead(Box::new(ahead));
    }
    let sendq = lanchat_server::limits::DEFAULT_SENDQ;
    let ids: Vec<ConnId> = (0..CLIENTS)
        .map(|i| {
            let (id, _) = table.insert(Void, 2048, now.mono);
            let mut out = table.delivery(sendq, now);
            let _ = room.connect(id, now, &mut out);
            room.line(id, format!("u{i}").as_bytes(), now, &mut out);
            id
        })
        .collect();
    flush(&mut table, &mut room, now);

    let payload = "x".repeat(30);
    let started = Instant::now();
    let cpu_started = thread_cpu();
    let mut sent = 0u64;
    for round in 0..rounds {
        let now = clock.now();
        let mut out = table.delivery(sendq, now);
        for (s, &id) in ids.iter().take(SENDERS).enumerate() {
            for k in 0..LINES_PER_READ {
                let line = format!("s{s} q{round:08} {k} {payload}");
                room.line(id, line.as_bytes(), now, &mut out);
                if each {
                    room.store_mut().write_staged();
                }
                sent += 1;
            }
        }
        flush(&mut table, &mut room, now);
    }
    let cpu = thread_cpu() - cpu_started;
    let took = started.elapsed();
    let deliveries = sent * (CLIENTS as u64 - 1);
    println!(
        "{rounds} rounds, {sent} messages, {deliveries} deliveries in {:.3} s ({:.3} s of CPU): \
         {:.1} ns of CPU per delivery, {:.4} s per million (history {})",
        took.as_secs_f64(),
        cpu,
        cpu * 1e9 / deliveries as f64,
        cpu * 1e6 / deliveries as f64,
        match (&dir, each) {
            (Some(d), false) => format!("in {}, written once a round", d.display()),
            (Some(d), true) => format!("in {}, written after every message", d.display()),
            (None, _) => "in memory".to_owned(),
        }
    );
}

/// This thread's CPU time in seconds (user and system: the history's writes are system calls).
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// The end of a round as the loop does it: the staged history, one write per connection, the
/// disk work due.
fn flush(table: &mut ConnTable<Void>, room: &mut Room, now: lanchat_server::Now) {
    room.store_mut().write_staged();
    let list = table.take_flush_list();
    for &id in &list {
        if let Some((conn, arena)) = table.conn_and_arena(id) {
            if conn.take_flush_mark() {
                let _ = conn.flush(now.mono, arena);
            }
        }
    }
    table.recycle_flush_list(list);
    table.end_round();
    room.store_mut().tick(now.mono, now.unix_ms);
}
