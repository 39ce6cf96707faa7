//! Splitting what one read returned into lines, fast: `memchr` over the whole read buffer, each
//! complete line lent out as a slice of it, and only a line cut off at the end of the read
//! copied (into the client's `partial`, whose memory is reused).

use memchr::{memchr, memchr_iter};

/// A line grew past the limit without a `\n`; the connection is not speaking the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overlong {
    /// The limit that was passed, in bytes.
    pub limit: usize,
}

impl std::fmt::Display for Overlong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a server line longer than {} bytes", self.limit)
    }
}

impl std::error::Error for Overlong {}

/// Call `on_line` for every complete line (without its `\n`) in `partial` followed by `data`.
/// What is left after the last `\n` is kept in `partial` for the next call.
///
/// # Errors
/// The unfinished line would exceed `limit` bytes.
pub fn split(
    partial: &mut Vec<u8>,
    data: &[u8],
    limit: usize,
    mut on_line: impl FnMut(&[u8]),
) -> Result<(), Overlong> {
    let mut rest = data;
    if !partial.is_empty() {
        let Some(end) = memchr(b'\n', rest) else {
            if partial.len() + rest.len() > limit {
                return Err(Overlong { limit });
            }
            partial.extend_from_slice(rest);
            return Ok(());
        };
        partial.extend_from_slice(&rest[..end]);
        on_line(partial);
        partial.clear();
        rest = &rest[end + 1..];
    }
    let mut start = 0;
    for end in memchr_iter(b'\n', rest) {
        on_line(&rest[start..end]);
        start = end + 1;
    }
    let tail = &rest[start..];
    if tail.len() > limit {
        return Err(Overlong { limit });
    }
    partial.extend_from_slice(tail);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(chunks: &[&[u8]]) -> (Vec<String>, Vec<u8>) {
        let mut partial = Vec::new();
        let mut got = Vec::new();
        for chunk in chunks {
            split(&mut partial, chunk, 16, |l| {
                got.push(String::from_utf8_lossy(l).into_owned());
            })
            .expect("within the limit");
        }
        (got, partial)
    }

    /// Reads, the lines they give, what is left over.
    type Case = (
        &'static [&'static [u8]],
        &'static [&'static str],
        &'static [u8],
    );

    #[test]
    fn lines_across_reads() {
        let cases: &[Case] = &[
            (&[b"a\nb\n"], &["a", "b"], b""),
            (&[b"a\nb", b"c\n"], &["a", "bc"], b""),
            (&[b"ab", b"c", b"d\ne"], &["abcd"], b"e"),
            (&[b"\n\n"], &["", ""], b""),
            (&[b"x", b"\n"], &["x"], b""),
            (&[b""], &[], b""),
        ];
        for (chunks, want, left) in cases {
            let (got, partial) = lines_of(chunks);
            assert_eq!(got, *want, "{chunks:?}");
            assert_eq!(partial, *left, "{chunks:?}");
        }
    }

    #[test]
    fn an_endless_line_is_an_error() {
        let mut partial = Vec::new();
        assert_eq!(
            split(&mut partial, &[b'x'; 17], 16, |_| {}),
            Err(Overlong { limit: 16 })
        );
        let mut partial = b"0123456789".to_vec();
        assert_eq!(
            split(&mut partial, b"0123456", 16, |_| {}),
            Err(Overlong { limit: 16 })
        );
    }
}
