//! Sending what the user typed: the one place that decides what a typed line is (nothing, the
//! quit, or a line for the server) and sends it paced ([`Pacer`]) on any writer.

use std::io::{self, Write};
use std::time::Instant;

use lanchat_proto::client::is_quit;

use crate::conn::encode_line;
use crate::pacer::Pacer;

/// What one typed line came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Blank: nothing was sent.
    Skipped,
    /// Sent to the server.
    Sent,
    /// The quit: nothing was sent; the caller ends the session.
    Quit,
}

/// The writing half of a connection, paced.
#[derive(Debug)]
pub struct Outbox<W: Write> {
    writer: W,
    pacer: Pacer,
}

impl<W: Write> Outbox<W> {
    /// Send on `writer`, with a full token bucket as of `now`.
    pub fn new(writer: W, now: Instant) -> Outbox<W> {
        Outbox {
            writer,
            pacer: Pacer::new(now),
        }
    }

    /// One typed line: skipped if blank, the quit is left to the caller, anything else goes
    /// to the server once the pacer allows (so a paste or a script past the server's burst
    /// loses nothing to its flood control).
    ///
    /// # Errors
    /// The writer's error: the server is gone.
    pub fn send_typed(&mut self, line: &str) -> io::Result<Sent> {
        if line.trim().is_empty() {
            return Ok(Sent::Skipped);
        }
        if is_quit(line) {
            return Ok(Sent::Quit);
        }
        self.pacer.wait();
        self.writer.write_all(&encode_line(line))?;
        Ok(Sent::Sent)
    }

    /// Bytes that must go now, unpaced (the quit: the server never rate-limits it).
    ///
    /// # Errors
    /// The writer's error.
    pub fn send_now(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_lines_table() {
        let mut out = Outbox::new(Vec::new(), Instant::now());
        let cases: &[(&str, Sent)] = &[
            ("", Sent::Skipped),
            ("  \t", Sent::Skipped),
            ("hi", Sent::Sent),
            ("/msg bob  x", Sent::Sent),
            ("<quit>", Sent::Quit),
            ("/QUIT", Sent::Quit),
        ];
        for (typed, want) in cases {
            assert_eq!(out.send_typed(typed).unwrap(), *want, "{typed:?}");
        }
        out.send_now(b"/quit\n").unwrap();
        assert_eq!(out.writer, b"hi\n/msg bob x\n/quit\n");
    }
}
