//! Fuzz target: `lanchat_proto::LineDecoder` fed arbitrary bytes in arbitrary chunks.
//!
//! Never panics; never holds more than `max_line + 1` bytes of an incomplete line; and however
//! the bytes are cut into reads, yields exactly the lines of a plain reference framing.

#![no_main]

use lanchat_proto::{LineDecoder, LineTooLong};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// The line limit, 1 to 4096.
    limit: u16,
    /// The reads, as the socket might cut them.
    chunks: Vec<Vec<u8>>,
}

/// Split on `\n`, drop one `\r` before it, mark lines over the limit; an unterminated tail is
/// reported only once it is provably too long: over `limit + 1` bytes, or exactly that many
/// without a `\r` at the end (which could still be the start of `\r\n`). The same reference
/// as the proptest in `proto/src/decoder.rs`.
fn reference(input: &[u8], limit: usize) -> Vec<Result<Vec<u8>, LineTooLong>> {
    let mut parts: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
    if let Some(tail) = parts.pop() {
        if tail.len() > limit + 1 || (tail.len() == limit + 1 && !tail.ends_with(b"\r")) {
            parts.push(tail);
        }
    }
    parts
        .into_iter()
        .map(|p| {
            let p = p.strip_suffix(b"\r").unwrap_or(p);
            if p.len() > limit {
                Err(LineTooLong { limit })
            } else {
                Ok(p.to_vec())
            }
        })
        .collect()
}

fuzz_target!(|input: Input| {
    let limit = 1 + usize::from(input.limit) % 4096;
    let mut decoder = LineDecoder::new(limit);
    let mut got = Vec::new();
    for chunk in &input.chunks {
        got.extend(decoder.decode_all(chunk));
        assert!(
            decoder.buffered() <= limit + 1,
            "buffered {} > {}",
            decoder.buffered(),
            limit + 1
        );
    }
    let whole: Vec<u8> = input.chunks.concat();
    assert_eq!(got, reference(&whole, limit));
});
