//! The floor under broadcast latency on this machine: what one loopback TCP `send` of a chat
//! line costs, with nothing else running (no poll loop, no reader waiting).
//!
//! A broadcast to N clients is N sends, so `N x` this figure is the least time the last
//! recipient can wait, whatever the server does. `docs/BENCHMARKS.md` uses it to explain the
//! `room` and `chatter` latency figures.
//!
//! `cargo run --release -p integration-tests --example send_floor [CLIENTS] [ROUNDS]`
//! (defaults 1000 and 5; loopback only; bounded by CLIENTS x ROUNDS sends).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut readers = Vec::with_capacity(clients);
    let mut writers = Vec::with_capacity(clients);
    for _ in 0..clients {
        let reader = TcpStream::connect(addr)?;
        let (writer, _) = listener.accept()?;
        writer.set_nodelay(true)?;
        reader.set_nonblocking(true)?;
        readers.push(reader);
        writers.push(writer);
    }
    let line = [b'x'; 80];
    let mut buf = [0u8; 4096];
    let mut best = f64::MAX;
    for round in 0..rounds {
        let start = Instant::now();
        for w in &mut writers {
            w.write_all(&line)?;
        }
        let per_send = start.elapsed().as_secs_f64() * 1e6 / clients as f64;
        best = best.min(per_send);
        for r in &mut readers {
            let _ = r.read(&mut buf);
        }
        println!("round {round}: {clients} sends of 80 B, {per_send:.2} us each");
    }
    println!(
        "best: {best:.2} us per send; a broadcast to {clients} takes at least {:.2} ms",
        best * clients as f64 / 1000.0
    );
    Ok(())
}
