//! A TCP relay on loopback that records every byte it carries: what someone on the network
//! path between a client and a server could capture. Tests put it between the two and look
//! for plaintext in what it saw.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Relays the first connection made to [`Recorder::addr`] to the server it was made for,
/// keeping everything it carries, both ways.
pub struct Recorder {
    /// Where clients connect instead of the server.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Recorder {
    /// A relay on `127.0.0.1:<free port>` to `server`, for one connection.
    ///
    /// # Panics
    /// When it cannot bind.
    pub fn to(server: SocketAddr) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&seen);
        let thread = std::thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let Ok(upstream) = TcpStream::connect(server) else {
                return;
            };
            let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
                return;
            };
            let up = pipe(client2, upstream2, Arc::clone(&keep));
            let down = pipe(upstream, client, keep);
            let _ = up.join();
            let _ = down.join();
        });
        Recorder {
            addr,
            seen,
            thread: Some(thread),
        }
    }

    /// Everything carried, once the relayed connection has ended both ways.
    pub fn finish(mut self) -> Vec<u8> {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.seen()
    }

    /// Everything carried so far.
    pub fn seen(&self) -> Vec<u8> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Copy `from` to `to` on a thread, recording into `seen`, until `from` ends; then end `to`'s
/// write side.
fn pipe(mut from: TcpStream, mut to: TcpStream, seen: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(&buf[..n]);
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    })
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
