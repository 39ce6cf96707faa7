//! What the disk costs the server's one thread: the figures behind the durability policy of
//! `lanchat_server::persist` (docs/ROBUSTNESS.md, docs/BENCHMARKS.md).
//!
//! In a directory of the file system to measure (`--dir`, default a fresh one under the
//! system's temp dir, deleted at the end), for chat-sized entries (`--size` bytes of text):
//! - `store.append`: the module's whole append (keep the frame in memory, one `write(2)`);
//! - `write(2)`, `sync_file_range` and `fdatasync` after each append, one by one;
//! - the steps of a settled rewrite, each timed: `fdatasync` of a file the kernel has already
//!   written (handed to write-back `--settle` seconds earlier), its rename over the old file,
//!   and the directory sync `--settle` seconds later;
//! - the store's compaction as the loop sees it: the tick that writes the new file, and the
//!   tick after `--settle` s that syncs and renames it, against the same done at once (write,
//!   `fdatasync`, rename, directory sync).
//!
//! `--busy` keeps the disk busy meanwhile (another thread syncing a file of its own), as other
//! programs on the same box would. A slow disk can be had with a loop device and the block-I/O cgroup (as root); see
//! docs/BENCHMARKS.md. Bounded: `--entries` appends, `--syncs` syncs, `--rounds` settled
//! rounds of `--settle` s each.
//!
//! `cargo run --release -p integration-tests --example disk_cost -- [--dir DIR] [--entries 5000]
//! [--syncs 200] [--rounds 3] [--settle 11] [--size 64] [--busy]`

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use lanchat_server::persist::Store;

#[derive(Debug, Parser)]
#[command(about = "Time appends, write-back and syncs of chat history entries")]
struct Args {
    /// Directory to measure in (a fresh subdirectory is made and deleted).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Appends timed one by one.
    #[arg(long, default_value_t = 5000)]
    entries: usize,
    /// `fdatasync` calls timed (each after one append).
    #[arg(long, default_value_t = 200)]
    syncs: usize,
    /// Rounds of the settled measurements.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds to let the kernel write before a settled sync (the store waits 10).
    #[arg(long, default_value_t = 11)]
    settle: u64,
    /// Bytes of message text per entry.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Keep the disk busy while the rewrites are timed: another thread appends and
    /// `fdatasync`s a file of its own without pause (as another program on the box would).
    #[arg(long)]
    busy: bool,
    /// Instead of measuring: append `--rate` entries a second for this many seconds to a store
    /// in `--dir` (kept), ticking it as the loop would, and print `<index> <unix-ms>` after each
    /// (for the power-cut check in docs/BENCHMARKS.md).
    #[arg(long, value_name = "SECS")]
    write_for: Option<u64>,
    /// With `--write-for`: entries a second.
    #[arg(long, default_value_t = 10)]
    rate: u32,
    /// With `--write-for`: plain `write(2)` appends, no store (no write-back kicks).
    #[arg(long)]
    raw: bool,
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    if let Some(secs) = args.write_for {
        let dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
        return write_for(&args, &dir, Duration::from_secs(secs));
    }
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("lanchat-disk-cost-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let result = run(&args, &dir);
    let _ = fs::remove_dir_all(&dir);
    result
}

fn run(args: &Args, dir: &Path) -> io::Result<()> {
    println!(
        "in {} ({} bytes of text per entry)",
        dir.display(),
        args.size
    );
    let text = "x".repeat(args.size);
    let frame = format!("MSG someone {text}\n");
    let line = format!("1700000000000 MSG someone {text}\n");

    let (mut store, _) = Store::open(&dir.join("store"), 50, 0);
    let mut t = Vec::with_capacity(args.entries);
    for i in 0..args.entries {
        let start = Instant::now();
        store.append("#general", i as u64, frame.as_bytes());
        t.push(start.elapsed());
    }
    report("store.append, the first (creates the file)", vec![t[0]]);
    report("store.append, the others", t.split_off(1));
    drop(store);

    let path = dir.join("raw.log");
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let mut t = Vec::with_capacity(args.entries);
    for _ in 0..args.entries {
        let start = Instant::now();
        file.write_all(line.as_bytes())?;
        t.push(start.elapsed());
    }
    report("write(2)", t);

    let mut t = Vec::with_capacity(args.entries);
    for _ in 0..args.entries {
        file.write_all(line.as_bytes())?;
        let start = Instant::now();
        start_writeback(&file)?;
        t.push(start.elapsed());
    }
    report("sync_file_range(WRITE)", t);

    let mut t = Vec::with_capacity(args.syncs);
    for _ in 0..args.syncs {
        file.write_all(line.as_bytes())?;
        let start = Instant::now();
        file.sync_data()?;
        t.push(start.elapsed());
    }
    report("fdatasync after an append", t);

    drop(file);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = args.busy.then(|| {
        let (stop, path, line) = (stop.clone(), dir.join("busy.log"), line.clone());
        println!("(another thread appends and fdatasyncs without pause from here on)");
        std::thread::spawn(move || -> io::Result<()> {
            let mut file = OpenOptions::new().create(true).append(true).open(path)?;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                file.write_all(line.as_bytes())?;
                file.sync_data()?;
            }
            Ok(())
        })
    });
    let result = settled(args, dir, &line).and_then(|()| compaction(args, dir, &frame, &line));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(thread) = busy {
        let _ = thread.join();
    }
    result
}

/// The steps of a settled rewrite on plain files, each timed: a new file written and handed to
/// write-back, `fdatasync`ed `--settle` s later, renamed over the old one, and the directory
/// synced `--settle` s after that.
fn settled(args: &Args, dir: &Path, line: &str) -> io::Result<()> {
    let settle = Duration::from_secs(args.settle);
    let live = dir.join("settled.log");
    let tmp = dir.join("settled.log.tmp");
    fs::write(&live, line)?;
    let (mut sync, mut rename, mut dir_sync) = (vec![], vec![], vec![]);
    for _ in 0..args.rounds {
        let mut file = File::create(&tmp)?;
        file.write_all(line.repeat(50).as_bytes())?;
        start_writeback(&file)?;
        std::thread::sleep(settle);
        let start = Instant::now();
        file.sync_data()?;
        sync.push(start.elapsed());
        let start = Instant::now();
        fs::rename(&tmp, &live)?;
        rename.push(start.elapsed());
        std::thread::sleep(settle);
        let start = Instant::now();
        File::open(dir)?.sync_all()?;
        dir_sync.push(start.elapsed());
    }
    report(
        &format!("settled: fdatasync {} s after write-back", args.settle),
        sync,
    );
    report("settled: rename over the old file", rename);
    report(
        &format!("settled: directory sync {} s later", args.settle),
        dir_sync,
    );
    Ok(())
}

/// The store's compaction as the loop sees it, tick by tick, and the same done at once.
fn compaction(args: &Args, dir: &Path, frame: &str, line: &str) -> io::Result<()> {
    let settle = Duration::from_secs(args.settle);
    let (mut begin, mut finish, mut dir_sync, mut naive) = (vec![], vec![], vec![], vec![]);
    // One store for every round, as in the server: a slow sync pauses syncs for the next ones.
    let state = dir.join("compact");
    let (mut store, _) = Store::open(&state, 50, 0);
    let mut now = Instant::now();
    for round in 0..args.rounds {
        let room = format!("#r{round}");
        for i in 0..201 {
            store.append(&room, i, frame.as_bytes()); // past 4 x 50 lines
        }
        // The loop's clock is pretend time here; the kernel's is real (slept below).
        let mut timed_tick = |store: &mut Store, pretend: Duration| {
            now += pretend;
            let start = Instant::now();
            let _ = store.tick(now, 0);
            start.elapsed()
        };
        begin.push(timed_tick(&mut store, Duration::ZERO));
        std::thread::sleep(settle);
        finish.push(timed_tick(&mut store, settle));
        std::thread::sleep(settle);
        dir_sync.push(timed_tick(&mut store, settle));

        let tmp = state.join("naive.tmp");
        let start = Instant::now();
        let mut file = File::create(&tmp)?;
        file.write_all(line.repeat(50).as_bytes())?;
        file.sync_data()?;
        fs::rename(&tmp, state.join("naive.log"))?;
        File::open(&state)?.sync_all()?;
        naive.push(start.elapsed());
    }
    report("compaction tick: write the new file", begin.clone());
    report("compaction tick: sync + rename it", finish.clone());
    report("compaction tick: sync the directory", dir_sync.clone());
    let ms = |t: &[Duration]| {
        t.iter()
            .map(|d| format!("{:.2}", d.as_secs_f64() * 1e3))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "  (ms, round by round: {} / {} / {})",
        ms(&begin),
        ms(&finish),
        ms(&dir_sync)
    );
    report(
        "compaction at once (write+fdatasync+rename+dir sync)",
        naive,
    );
    Ok(())
}

/// Append at `--rate` for `secs`, as the server would (the store ticked every 10 ms), printing
/// each entry's index and time once it is appended.
fn write_for(args: &Args, dir: &Path, secs: Duration) -> io::Result<()> {
    let text = "x".repeat(args.size);
    let mut store = (!args.raw).then(|| Store::open(dir, 50, 0).0);
    let mut raw = match args.raw {
        true => Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("raw.log"))?,
        ),
        false => None,
    };
    let start = Instant::now();
    let gap = Duration::from_secs(1) / args.rate.max(1);
    let mut next = start;
    let mut i = 0u64;
    let mut out = io::stdout().lock();
    while start.elapsed() < secs {
        let now = Instant::now();
        if now >= next {
            let ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let frame = format!("MSG someone {i} {text}\n");
            if let Some(store) = &mut store {
                store.append("#general", ms, frame.as_bytes());
            }
            if let Some(file) = &mut raw {
                file.write_all(format!("{ms} {frame}").as_bytes())?;
            }
            writeln!(out, "{i} {ms}")?;
            out.flush()?;
            i += 1;
            next += gap;
        }
        if let Some(store) = &mut store {
            let _ = store.tick(now, 0);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn start_writeback(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    // SAFETY: the descriptor is open while `file` is borrowed.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn report(what: &str, mut t: Vec<Duration>) {
    t.sort();
    let at = |q: f64| t[((t.len() - 1) as f64 * q) as usize];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{what:<54} n={:<5} p50 {:>9.1} us  p99 {:>9.1} us  max {:>9.1} us",
        t.len(),
        us(at(0.5)),
        us(at(0.99)),
        us(t[t.len() - 1])
    );
}
