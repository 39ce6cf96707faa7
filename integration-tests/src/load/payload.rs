//! The text a load sender puts in each message: who sent it, its sequence number and when it
//! was sent, in a fixed-width header that a receiver parses without searching, padded to the
//! requested size.
//!
//! ```text
//! s00000a q0000002a t00000bebc200 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
//! ^sender ^sequence ^send time in ns since the run began (all hex)
//! ```

/// Bytes of the header; a payload is at least this long.
pub const HEADER_LEN: usize = 32;

/// Largest sender index the header holds (6 hex digits).
pub const MAX_SENDERS: usize = 1 << 24;

/// Largest sequence number the header holds (8 hex digits).
pub const MAX_SEQ: u64 = u32::MAX as u64;

const SENDER_AT: usize = 1;
const SENDER_DIGITS: usize = 6;
const SEQ_AT: usize = 9;
const SEQ_DIGITS: usize = 8;
const TIME_AT: usize = 19;
const TIME_DIGITS: usize = 12;
const PAD: u8 = b'x';

/// What a payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the sending client among the senders.
    pub sender: usize,
    /// The sender's count of messages sent before this one.
    pub seq: u64,
    /// Nanoseconds since the run began, when the sender wrote it.
    pub sent_ns: u64,
}

/// Append a payload of exactly `size` bytes (`size >= HEADER_LEN`) carrying `stamp`, then `\n`.
pub fn write_line(stamp: Stamp, size: usize, out: &mut Vec<u8>) {
    debug_assert!(size >= HEADER_LEN);
    let mut head = [b' '; HEADER_LEN];
    head[0] = b's';
    hex(
        stamp.sender as u64,
        &mut head[SENDER_AT..SENDER_AT + SENDER_DIGITS],
    );
    head[SEQ_AT - 1] = b'q';
    hex(stamp.seq, &mut head[SEQ_AT..SEQ_AT + SEQ_DIGITS]);
    head[TIME_AT - 1] = b't';
    // Wraps after 2^48 ns (78 hours), far beyond any run's --timeout.
    hex(stamp.sent_ns, &mut head[TIME_AT..TIME_AT + TIME_DIGITS]);
    out.extend_from_slice(&head);
    out.resize(out.len() + (size - HEADER_LEN), PAD);
    out.push(b'\n');
}

/// Read the header of a received payload; `None` if it is not one of ours.
pub fn parse(payload: &[u8]) -> Option<Stamp> {
    if payload.len() < HEADER_LEN
        || payload[0] != b's'
        || payload[SEQ_AT - 1] != b'q'
        || payload[TIME_AT - 1] != b't'
    {
        return None;
    }
    Some(Stamp {
        sender: usize::try_from(unhex(&payload[SENDER_AT..SENDER_AT + SENDER_DIGITS])?).ok()?,
        seq: unhex(&payload[SEQ_AT..SEQ_AT + SEQ_DIGITS])?,
        sent_ns: unhex(&payload[TIME_AT..TIME_AT + TIME_DIGITS])?,
    })
}

/// Write the low `out.len() * 4` bits of `v` as lowercase hex, most significant first.
fn hex(mut v: u64, out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in out.iter_mut().rev() {
        *b = DIGITS[(v & 0xf) as usize];
        v >>= 4;
    }
}

fn unhex(digits: &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for &d in digits {
        let n = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            _ => return None,
        };
        v = (v << 4) | u64::from(n);
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_the_requested_size() {
        for (stamp, size) in [
            (
                Stamp {
                    sender: 0,
                    seq: 0,
                    sent_ns: 0,
                },
                HEADER_LEN,
            ),
            (
                Stamp {
                    sender: 10,
                    seq: 42,
                    sent_ns: 200_000_000,
                },
                64,
            ),
            (
                Stamp {
                    sender: MAX_SENDERS - 1,
                    seq: MAX_SEQ,
                    sent_ns: (1 << 48) - 1,
                },
                100,
            ),
        ] {
            let mut line = Vec::new();
            write_line(stamp, size, &mut line);
            assert_eq!(line.len(), size + 1);
            assert_eq!(line.pop(), Some(b'\n'));
            assert_eq!(parse(&line), Some(stamp));
        }
    }

    #[test]
    fn the_header_reads_as_documented() {
        let mut line = Vec::new();
        write_line(
            Stamp {
                sender: 10,
                seq: 42,
                sent_ns: 200_000_000,
            },
            40,
            &mut line,
        );
        assert_eq!(line, b"s00000a q0000002a t00000bebc200 xxxxxxxx\n");
    }

    #[test]
    fn foreign_text_is_not_a_stamp() {
        for text in [
            &b"hello"[..],
            b"s00000a q0000002a t00000bebc20",
            b"s00000A q0000002a t00000bebc200 ",
            b"x00000a q0000002a t00000bebc200 ",
        ] {
            assert_eq!(parse(text), None, "{:?}", String::from_utf8_lossy(text));
        }
    }
}
