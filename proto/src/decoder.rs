//! Framing: turning a stream of bytes into lines, with a hard bound on what is buffered.
//!
//! A line ends at `\n`; one `\r` right before the `\n` is dropped. A line longer than the limit
//! is reported once as [`LineTooLong`] and then skipped as it streams in: the decoder never
//! holds more than `max_line + 1` bytes of an incomplete line (the `+ 1` is a possible `\r`
//! whose `\n` has not arrived yet). Complete lines that sit wholly inside one input chunk are
//! handed out as slices of that chunk, without a copy.

use memchr::memchr;

/// A line went over the limit; it has been (or is being) discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong {
    /// The limit that was exceeded, in bytes.
    pub limit: usize,
}

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line longer than {} bytes", self.limit)
    }
}

impl std::error::Error for LineTooLong {}

/// Incremental line decoder for one connection.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    /// Start of a line whose `\n` has not arrived yet. Invariant: `partial.len() <= max_line + 1`.
    /// Emptied (and its memory released) once the line completes, so an idle connection holds none.
    partial: Vec<u8>,
    max_line: usize,
    /// True while the rest of an overlong line is being dropped.
    skipping: bool,
    /// `partial` was handed out as a line and must be cleared before the next read.
    consumed: bool,
}

impl Default for LineDecoder {
    fn default() -> Self {
        Self::new(crate::DEFAULT_MAX_LINE)
    }
}

impl LineDecoder {
    /// A decoder that accepts lines of up to `max_line` bytes (terminator excluded).
    pub fn new(max_line: usize) -> Self {
        LineDecoder {
            partial: Vec::new(),
            max_line,
            skipping: false,
            consumed: false,
        }
    }

    /// The line limit in bytes.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Bytes of an incomplete line currently held (never more than `max_line + 1`).
    pub fn buffered(&self) -> usize {
        if self.consumed {
            0
        } else {
            self.partial.len()
        }
    }

    /// Heap bytes held by the decoder (for memory accounting).
    pub fn capacity(&self) -> usize {
        self.partial.capacity()
    }

    /// Forget any incomplete line (the peer went away mid-line; it must never be relayed).
    pub fn reset(&mut self) {
        self.partial = Vec::new();
        self.skipping = false;
        self.consumed = false;
    }

    /// Decode the lines in `input`, continuing whatever line earlier input left unfinished.
    ///
    /// Call [`Lines::next_line`] until it returns `None`; bytes of a trailing incomplete line are
    /// then kept for the next call. Dropping the iterator early discards the rest of `input`.
    pub fn lines<'d, 'i>(&'d mut self, input: &'i [u8]) -> Lines<'d, 'i> {
        Lines { dec: self, input }
    }

    /// Convenience for tests and simple callers: every line in `input`, owned.
    pub fn decode_all(&mut self, input: &[u8]) -> Vec<Result<Vec<u8>, LineTooLong>> {
        let mut out = Vec::new();
        let mut lines = self.lines(input);
        while let Some(item) = lines.next_line() {
            out.push(item.map(<[u8]>::to_vec));
        }
        out
    }
}

/// The lines of one input chunk; a lending iterator over [`LineDecoder::lines`].
#[derive(Debug)]
pub struct Lines<'d, 'i> {
    dec: &'d mut LineDecoder,
    input: &'i [u8],
}

impl Lines<'_, '_> {
    /// The next complete line (without its terminator), a [`LineTooLong`], or `None` when the
    /// input is used up.
    pub fn next_line(&mut self) -> Option<Result<&[u8], LineTooLong>> {
        let dec = &mut *self.dec;
        if dec.consumed {
            // The previous line was lent out of `partial`; give its memory back now.
            dec.partial = Vec::new();
            dec.consumed = false;
        }
        let limit = dec.max_line;
        loop {
            if self.input.is_empty() {
                return None;
            }
            let newline = memchr(b'\n', self.input);
            if dec.skipping {
                match newline {
                    Some(i) => {
                        self.input = &self.input[i + 1..];
                        dec.skipping = false;
                        continue;
                    }
                    None => {
                        self.input = &[];
                        return None;
                    }
                }
            }
            let Some(i) = newline else {
                // No terminator in this chunk: keep it, unless that would exceed the bound.
                // `limit + 1` bytes are only a line in the making if the last is a `\r`.
                let total = dec.partial.len() + self.input.len();
                let ends_cr = self.input.last() == Some(&b'\r');
                if total > limit + 1 || (total == limit + 1 && !ends_cr) {
                    dec.partial = Vec::new();
                    dec.skipping = true;
                    self.input = &[];
                    return Some(Err(LineTooLong { limit }));
                }
                dec.partial.extend_from_slice(self.input);
                self.input = &[];
                return None;
            };
            let head = &self.input[..i];
            self.input = &self.input[i + 1..];
            let line: &[u8] = if dec.partial.is_empty() {
                head
            } else {
                if dec.partial.len() + head.len() > limit + 1 {
                    dec.partial = Vec::new();
                    return Some(Err(LineTooLong { limit }));
                }
                dec.partial.extend_from_slice(head);
                dec.consumed = true;
                &dec.partial
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > limit {
                return Some(Err(LineTooLong { limit }));
            }
            return Some(Ok(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(s: &str) -> Result<Vec<u8>, LineTooLong> {
        Ok(s.as_bytes().to_vec())
    }

    #[test]
    fn splits_lines_and_strips_cr() {
        let mut d = LineDecoder::new(16);
        assert_eq!(
            d.decode_all(b"a\nbc\r\n\nd\r\r\n"),
            vec![ok("a"), ok("bc"), ok(""), ok("d\r")]
        );
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn keeps_partial_line_across_chunks() {
        let mut d = LineDecoder::new(16);
        assert!(d.decode_all(b"hel").is_empty());
        assert_eq!(d.buffered(), 3);
        assert_eq!(d.decode_all(b"lo\r"), vec![]);
        assert_eq!(d.decode_all(b"\nx"), vec![ok("hello")]);
        assert_eq!(d.buffered(), 1);
    }

    #[test]
    fn exact_limit_is_accepted_with_crlf_split() {
        let mut d = LineDecoder::new(4);
        assert!(d.decode_all(b"abcd\r").is_empty());
        assert_eq!(d.decode_all(b"\n"), vec![ok("abcd")]);
        assert_eq!(d.decode_all(b"abcd\r\n"), vec![ok("abcd")]);
    }

    #[test]
    fn overlong_line_in_one_chunk_is_reported_and_skipped() {
        let mut d = LineDecoder::new(4);
        assert_eq!(
            d.decode_all(b"abcde\nok\n"),
            vec![Err(LineTooLong { limit: 4 }), ok("ok")]
        );
    }

    #[test]
    fn unterminated_overlong_line_is_reported_once_and_never_buffered() {
        let mut d = LineDecoder::new(4);
        assert_eq!(d.decode_all(b"abc"), vec![]);
        assert_eq!(d.decode_all(b"def"), vec![Err(LineTooLong { limit: 4 })]);
        for _ in 0..1000 {
            assert_eq!(d.decode_all(b"xxxxxxxxxx"), vec![]);
            assert_eq!(d.buffered(), 0);
            assert_eq!(d.capacity(), 0);
        }
        assert_eq!(d.decode_all(b"tail\nnext\n"), vec![ok("next")]);
    }

    #[test]
    fn one_byte_over_is_reported_before_the_newline() {
        let mut d = LineDecoder::new(4);
        assert_eq!(d.decode_all(b"abcde"), vec![Err(LineTooLong { limit: 4 })]);
        assert_eq!(d.decode_all(b"\nok\n"), vec![ok("ok")]);
        // ... but a trailing `\r` may still be the start of the terminator.
        assert_eq!(d.decode_all(b"abcd\r"), vec![]);
    }

    #[test]
    fn overlong_across_chunks_ending_in_newline() {
        let mut d = LineDecoder::new(4);
        assert_eq!(d.decode_all(b"ab"), vec![]);
        assert_eq!(
            d.decode_all(b"cde\nz\n"),
            vec![Err(LineTooLong { limit: 4 }), ok("z")]
        );
    }

    #[test]
    fn memory_is_released_after_a_partial_line_completes() {
        let mut d = LineDecoder::new(64);
        d.decode_all(b"partial");
        assert!(d.capacity() > 0);
        assert_eq!(d.decode_all(b" line\n"), vec![ok("partial line")]);
        d.decode_all(b"");
        let mut lines = d.lines(b"");
        assert!(lines.next_line().is_none());
        assert_eq!(d.capacity(), 0);
    }

    #[test]
    fn reset_drops_partial_line() {
        let mut d = LineDecoder::new(64);
        d.decode_all(b"half a li");
        d.reset();
        assert_eq!(d.decode_all(b"ne\n"), vec![ok("ne")]);
    }

    /// Reference framing: split on '\n', strip one '\r', mark lines over the limit.
    fn reference(input: &[u8], limit: usize) -> Vec<Result<Vec<u8>, LineTooLong>> {
        let mut out = Vec::new();
        let mut parts: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
        // The unterminated tail is not a line, but once it is provably too long it is reported.
        if let Some(tail) = parts.pop() {
            if tail.len() > limit + 1 || (tail.len() == limit + 1 && !tail.ends_with(b"\r")) {
                parts.push(tail);
            }
        }
        for p in parts {
            let p = p.strip_suffix(b"\r").unwrap_or(p);
            if p.len() > limit {
                out.push(Err(LineTooLong { limit }));
            } else {
                out.push(Ok(p.to_vec()));
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// However the bytes are cut into reads, the decoder yields the same lines.
        #[test]
        fn any_split_gives_the_same_lines(
            input in proptest::collection::vec(
                prop_oneof![4 => any::<u8>(), 2 => Just(b'\n'), 1 => Just(b'\r')], 0..400),
            cuts in proptest::collection::vec(0usize..400, 0..20),
            limit in 1usize..40,
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (input.len() + 1)).collect();
            cuts.sort_unstable();
            let mut d = LineDecoder::new(limit);
            let mut got = Vec::new();
            let mut start = 0;
            for c in cuts.into_iter().chain([input.len()]) {
                got.extend(d.decode_all(&input[start..c]));
                prop_assert!(d.buffered() <= limit + 1);
                start = c;
            }
            prop_assert_eq!(got, reference(&input, limit));
        }
    }
}
