//! What writing the claims file costs the loop, on this machine's disk: encoding the claims,
//! step 1 of a write (the whole file to `claims.new`, handed to write-back), and step 2 (sync,
//! rename, directory sync) both at once (what a plain "temporary file, fsync, rename" would
//! make the loop wait) and after [`lanchat_server::limits::STATE_SETTLE`] (what it waits).
//! The figures are in docs/BENCHMARKS.md.
//!
//! `cargo run --release -p lanchat-server --example claims_write -- [DIR]` (DIR: where to
//! write, default a temporary directory under /tmp; give one on the disk the state directory
//! is on).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lanchat_proto::{name_key, Fingerprint};
use lanchat_server::identity::Claims;
use lanchat_server::limits::STATE_SETTLE;
use lanchat_server::persist::snapshot::Snapshot;

/// Writes timed per size.
const ROUNDS: u32 = 5;

fn claims(n: usize) -> Claims {
    let mut c = Claims::new(90);
    for i in 0..n {
        let name = format!("user{i}");
        let mut digest = [0u8; 32];
        digest[..8].copy_from_slice(&((i / 5) as u64).to_le_bytes());
        let key = name_key(&name).expect("a valid name");
        c.take(
            &name,
            key,
            Fingerprint::from_digest(digest),
            1_700_000_000_000,
        );
    }
    c
}

fn main() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = std::env::args_os()
        .nth(1)
        .map_or_else(|| tmp.path().to_path_buf(), PathBuf::from);
    println!(
        "claims file in {} ({ROUNDS} writes each, medians):",
        dir.display()
    );
    for n in [50, 1_000, 10_000] {
        let c = claims(n);
        let mut render = |buf: &mut Vec<u8>| c.encode(buf);
        let (mut encode, mut step1, mut at_once, mut settled) = (vec![], vec![], vec![], vec![]);
        let mut bytes = 0;
        for _ in 0..ROUNDS {
            let mut buf = Vec::new();
            let t = Instant::now();
            c.encode(&mut buf);
            encode.push(t.elapsed());
            bytes = buf.len();

            // A write put in place at once: what the loop would wait for without the settle.
            let (mut s, _) = Snapshot::open(dir.join("claims"), Instant::now());
            s.changed(Instant::now());
            let t = Instant::now();
            s.write_now(&mut render).expect("written");
            at_once.push(t.elapsed());

            // The two steps, the second after the settle.
            s.changed(Instant::now());
            let now = Instant::now();
            let t = Instant::now();
            s.tick(now, &mut render);
            step1.push(t.elapsed());
            std::thread::sleep(STATE_SETTLE);
            let t = Instant::now();
            s.tick(now + STATE_SETTLE, &mut render);
            settled.push(t.elapsed());
            assert!(s.is_clean());
        }
        let med = |v: &mut Vec<Duration>| {
            v.sort();
            v[v.len() / 2].as_secs_f64() * 1e3
        };
        println!(
            "  {n:>6} claims ({:>4} KiB): encode {:>6.3} ms, step 1 {:>6.3} ms, \
             step 2 after the settle {:>6.3} ms; write+sync+rename at once {:>6.3} ms",
            bytes / 1024,
            med(&mut encode),
            med(&mut step1),
            med(&mut settled),
            med(&mut at_once)
        );
    }
}
