//! The floor under broadcast latency on this machine: what one loopback TCP `send` of a chat
//! line costs, measured without lanchat.
//!
//! A broadcast to N clients is N sends, so `N x` this figure is the least time the last
//! recipient can wait, whatever the server does. `docs/BENCHMARKS.md` uses it to explain the
//! `room` latency figures.
//!
//! CLIENTS loopback pairs (`TCP_NODELAY` on the sending side, as the server sets it); each
//! round sends one 80-byte line to every pair, as a `room` broadcast does. Two things matter
//! and are both measured:
//! - the first rounds are slower: a new connection's receiver acknowledges its first 16
//!   segments at once (TCP quick-ack), and on loopback the sender's `send` processes that ACK
//!   too. `--warmup` rounds (default 40) are sent and drained first and not counted.
//! - who reads. `--reader same` drains the receivers from this thread after each timed round
//!   (everything stays on one core: the cheapest case). `--reader thread` has a second thread
//!   on the other core wait in `epoll` and read every line as it arrives, as `lanchat-load`
//!   does; `--reader spin` has it poll without sleeping, so no `send` has to wake it.
//!
//! `cargo run --release -p integration-tests --example send_floor -- [--clients 1000]
//! [--rounds 100] [--warmup 40] [--gap-ms 10] [--reader same|thread|spin]`
//! (loopback only; bounded by (warmup + rounds) x clients sends).

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use mio::{Events, Interest, Poll, Token};

const LINE: usize = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Reader {
    Same,
    Thread,
    Spin,
}

#[derive(Debug, Parser)]
#[command(about = "Time loopback TCP sends of one chat line to many receivers")]
struct Args {
    #[arg(long, default_value_t = 1000)]
    clients: usize,
    #[arg(long, default_value_t = 100)]
    rounds: usize,
    #[arg(long, default_value_t = 40)]
    warmup: usize,
    /// Pause between rounds, as `room` has 10 ms between messages.
    #[arg(long, default_value_t = 10)]
    gap_ms: u64,
    #[arg(long, value_enum, default_value_t = Reader::Same)]
    reader: Reader,
}

fn main() -> io::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let mut readers = Vec::with_capacity(args.clients);
    let mut writers = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let reader = TcpStream::connect(addr)?;
        let (writer, _) = listener.accept()?;
        writer.set_nodelay(true)?;
        reader.set_nonblocking(true)?;
        readers.push(reader);
        writers.push(writer);
    }
    let line = [b'x'; LINE];
    let total_rounds = args.warmup + args.rounds;
    let received = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let background = (args.reader != Reader::Same).then(|| {
        let (received, stop) = (Arc::clone(&received), Arc::clone(&stop));
        let spin = args.reader == Reader::Spin;
        let readers = std::mem::take(&mut readers);
        std::thread::spawn(move || read_all(readers, spin, &received, &stop))
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut per_send = Vec::with_capacity(args.rounds);
    for round in 0..total_rounds {
        let start = Instant::now();
        for w in &mut writers {
            w.write_all(&line)?;
        }
        let us = start.elapsed().as_secs_f64() * 1e6 / args.clients as f64;
        if round >= args.warmup {
            per_send.push(us);
        }
        if args.reader == Reader::Same {
            for r in &mut readers {
                drain(r, &mut buf);
            }
        } else {
            // Every line of this round read before the next (bounded: 10 s).
            let want = ((round + 1) * args.clients * LINE) as u64;
            let deadline = Instant::now() + Duration::from_secs(10);
            while received.load(Ordering::Relaxed) < want && Instant::now() < deadline {
                std::thread::yield_now();
            }
        }
        std::thread::sleep(Duration::from_millis(args.gap_ms));
    }
    stop.store(true, Ordering::Relaxed);
    if let Some(handle) = background {
        let _ = handle.join();
    }
    per_send.sort_by(f64::total_cmp);
    let at = |q: f64| per_send[((per_send.len() - 1) as f64 * q) as usize];
    println!(
        "{} clients, reader {:?}, {} rounds after {} warm-up: per send best {:.2} us, median \
         {:.2} us, p90 {:.2} us, p99 {:.2} us; a broadcast to {} takes {:.2} ms (median)",
        args.clients,
        args.reader,
        args.rounds,
        args.warmup,
        at(0.0),
        at(0.5),
        at(0.9),
        at(0.99),
        args.clients,
        at(0.5) * args.clients as f64 / 1000.0
    );
    Ok(())
}

/// Read whatever `r` holds (nonblocking).
fn drain(r: &mut TcpStream, buf: &mut [u8]) -> usize {
    let mut got = 0;
    loop {
        match r.read(buf) {
            Ok(0) | Err(_) => return got,
            Ok(n) => got += n,
        }
    }
}

/// The second thread: one mio poll over every receiver, read on readiness, until told to stop.
fn read_all(readers: Vec<TcpStream>, spin: bool, received: &AtomicU64, stop: &AtomicBool) {
    let Ok(mut poll) = Poll::new() else { return };
    let mut streams: Vec<mio::net::TcpStream> = readers
        .into_iter()
        .map(mio::net::TcpStream::from_std)
        .collect();
    for (i, s) in streams.iter_mut().enumerate() {
        if poll
            .registry()
            .register(s, Token(i), Interest::READABLE)
            .is_err()
        {
            return;
        }
    }
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let timeout = if spin {
        Duration::ZERO
    } else {
        Duration::from_millis(100)
    };
    while !stop.load(Ordering::Relaxed) {
        if poll.poll(&mut events, Some(timeout)).is_err() {
            return;
        }
        for event in events.iter() {
            if let Some(s) = streams.get_mut(event.token().0) {
                let mut got = 0;
                loop {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                }
                received.fetch_add(got as u64, Ordering::Relaxed);
            }
        }
    }
}
