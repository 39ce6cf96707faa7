//! The on-disk line format of every state file, as bytes in and out (no IO).
//!
//! ```text
//! lanchat-history 1 #general
//! 1700000000000 MSG bob hi there
//! 1700000004211 ACTION ann waves
//! ```
//!
//! A header line (what the file holds, the format version, whose file it is), then one entry per
//! line: the time in Unix milliseconds, one space, and the frame exactly as it went out on the
//! wire, without its `\n`. Plain text so an administrator can `grep` and `tail` it.
//!
//! Reading is forgiving, because files meet power cuts: a last line without its `\n` is a write
//! the crash tore and is ignored; a line in the middle that is not an entry (a disk error, a
//! hand edit) is skipped and counted, never fatal.

use std::io::{self, BufRead};

use lanchat_proto::ServerMsg;

/// Format version written in every header; a file with another version is left alone.
pub const VERSION: u32 = 1;

/// Longest line read back (1 MiB of text, the server's framing, a timestamp): anything longer
/// is not an entry this server wrote, and reading it must not take unbounded memory.
pub const MAX_LINE_ON_DISK: usize =
    lanchat_proto::MAX_MAX_LINE + lanchat_proto::SERVER_LINE_OVERHEAD + 32;

/// What a state file holds; the header's first word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A room's public history: `MSG` and `ACTION` frames.
    History,
    /// Notes kept for one absent user: `PRIV` frames.
    Notes,
}

impl FileKind {
    fn magic(self) -> &'static str {
        match self {
            FileKind::History => "lanchat-history",
            FileKind::Notes => "lanchat-notes",
        }
    }

    /// What the file is called in messages.
    pub fn noun(self) -> &'static str {
        match self {
            FileKind::History => "history",
            FileKind::Notes => "notes",
        }
    }

    /// Whether `frame` (one wire line without `\n`) is an entry this kind of file holds.
    pub fn holds(self, frame: &str) -> bool {
        matches!(
            (self, ServerMsg::parse(frame)),
            (
                FileKind::History,
                Ok(ServerMsg::Msg { .. } | ServerMsg::Action { .. })
            ) | (FileKind::Notes, Ok(ServerMsg::Priv { .. }))
        )
    }
}

/// Append the header line for a file of `kind` belonging to `owner` (a room or user name; it
/// holds no `\n`, see [`fits_a_line`]).
pub fn encode_header(kind: FileKind, owner: &str, out: &mut Vec<u8>) {
    use std::io::Write as _;
    // Writing into a Vec cannot fail.
    let _ = writeln!(out, "{} {VERSION} {owner}", kind.magic());
}

/// Append one entry line: `<at_ms> <frame>\n`. `frame` is a wire line with or without its
/// `\n`, and holds no other `\n` (see [`fits_a_line`]).
pub fn encode_entry(at_ms: u64, frame: &[u8], out: &mut Vec<u8>) {
    use std::io::Write as _;
    let _ = write!(out, "{at_ms} ");
    out.extend_from_slice(frame.strip_suffix(b"\n").unwrap_or(frame));
    out.push(b'\n');
}

/// Whether `s` (a name, or a frame without its final `\n`) can be written as part of one line.
pub fn fits_a_line(s: &[u8]) -> bool {
    !s.contains(&b'\n')
}

/// The header of a file, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Header {
    /// A file of the expected kind and version, belonging to this name.
    Ok(String),
    /// No complete first line: an empty file, or one whose creation a crash cut short.
    Missing,
    /// A first line that is not this kind's header: not a file of ours, left alone.
    Foreign,
    /// Our kind, another version (a newer server wrote it): left alone.
    Version(String),
}

/// Where the last line of `bytes` (which end in `\n`) starts: the offsets a crash can tear.
#[cfg(test)]
pub fn last_line_start(bytes: &[u8]) -> usize {
    bytes[..bytes.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1)
}

/// What reading one file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The header.
    pub header: Header,
    /// Entries read (each was handed to the caller).
    pub entries: usize,
    /// Lines after the header that were not entries, skipped.
    pub corrupt: usize,
    /// Bytes after the last `\n`: a line a crash tore, ignored (0 when the file ends cleanly).
    pub torn: u64,
    /// Length of the file up to and including its last `\n`: where the next append must go.
    pub good_len: u64,
}

/// Read a file of `kind` from `r`, handing each entry (time, frame without `\n`) to `each`,
/// oldest first. Reads stop at the header unless it is [`Header::Ok`].
///
/// # Errors
/// Only the reader's own errors; bad content is counted in the [`Scan`], not an error.
pub fn scan(
    mut r: impl BufRead,
    kind: FileKind,
    mut each: impl FnMut(u64, &[u8]),
) -> io::Result<Scan> {
    let mut scan = Scan {
        header: Header::Missing,
        entries: 0,
        corrupt: 0,
        torn: 0,
        good_len: 0,
    };
    let mut line = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        let (n, complete) = read_line(&mut r, &mut line)?;
        if n == 0 {
            return Ok(scan);
        }
        if !complete {
            scan.torn = n as u64;
            return Ok(scan);
        }
        scan.good_len += n as u64;
        if first {
            first = false;
            scan.header = parse_header(kind, &line);
            if !matches!(scan.header, Header::Ok(_)) {
                return Ok(scan);
            }
            continue;
        }
        match parse_entry(kind, &line) {
            Some((at_ms, frame)) => {
                scan.entries += 1;
                each(at_ms, frame);
            }
            None => scan.corrupt += 1,
        }
    }
}

/// Read one line into `line` (without its `\n`, and nothing of a line longer than
/// [`MAX_LINE_ON_DISK`], which is consumed and left empty so it fails to parse). Returns the
/// bytes consumed and whether the line ended in `\n`.
fn read_line(r: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<(usize, bool)> {
    let mut consumed = 0;
    let mut too_long = false;
    loop {
        let buf = match r.fill_buf() {
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok((consumed, false));
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !too_long && line.len() + chunk.len() <= MAX_LINE_ON_DISK {
            line.extend_from_slice(chunk);
        } else {
            too_long = true;
            line.clear();
        }
        let used = done.unwrap_or(chunk.len());
        r.consume(used);
        consumed += used;
        if done.is_some() {
            return Ok((consumed, true));
        }
    }
}

fn parse_header(kind: FileKind, line: &[u8]) -> Header {
    let Ok(line) = std::str::from_utf8(line) else {
        return Header::Foreign;
    };
    let mut words = line.splitn(3, ' ');
    if words.next() != Some(kind.magic()) {
        return Header::Foreign;
    }
    let version = words.next().unwrap_or_default();
    if version != VERSION.to_string() {
        return Header::Version(version.to_owned());
    }
    match words.next() {
        Some(owner) if !owner.is_empty() => Header::Ok(owner.to_owned()),
        _ => Header::Foreign,
    }
}

/// One entry line (without `\n`): `<digits> <frame>` where the frame is UTF-8 and of a kind
/// the file holds.
fn parse_entry(kind: FileKind, line: &[u8]) -> Option<(u64, &[u8])> {
    let space = line.iter().position(|&b| b == b' ')?;
    let (digits, frame) = (&line[..space], &line[space + 1..]);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let at_ms = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let text = std::str::from_utf8(frame).ok()?;
    kind.holds(text).then_some((at_ms, frame))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(entries: &[(u64, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_header(FileKind::History, "#general", &mut out);
        for (at, frame) in entries {
            encode_entry(*at, frame.as_bytes(), &mut out);
        }
        out
    }

    fn read(bytes: &[u8]) -> (Scan, Vec<(u64, String)>) {
        let mut got = Vec::new();
        let scan = scan(bytes, FileKind::History, |at, f| {
            got.push((at, String::from_utf8(f.to_vec()).unwrap()));
        })
        .unwrap();
        (scan, got)
    }

    #[test]
    fn entries_round_trip() {
        let bytes = file(&[
            (1, "MSG bob hi\n"),
            (2, "ACTION ann waves"),
            (3, "MSG bob a\rb"),
        ]);
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "lanchat-history 1 #general\n1 MSG bob hi\n2 ACTION ann waves\n3 MSG bob a\rb\n"
        );
        let (scan, got) = read(&bytes);
        assert_eq!(scan.header, Header::Ok("#general".into()));
        assert_eq!((scan.entries, scan.corrupt, scan.torn), (3, 0, 0));
        assert_eq!(scan.good_len, bytes.len() as u64);
        assert_eq!(
            got,
            vec![
                (1, "MSG bob hi".into()),
                (2, "ACTION ann waves".into()),
                (3, "MSG bob a\rb".into())
            ]
        );
    }

    /// A crash can cut the last line anywhere: at every byte of it, the entries before it load
    /// and the fragment is reported as torn, and `good_len` is where it starts.
    #[test]
    fn a_torn_last_line_is_ignored_at_every_offset() {
        let whole = file(&[
            (1, "MSG bob one"),
            (2, "MSG ann two"),
            (3, "ACTION bob three"),
        ]);
        let last_start = last_line_start(&whole);
        for cut in last_start..whole.len() {
            let (scan, got) = read(&whole[..cut]);
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(got[1], (2, "MSG ann two".into()));
            assert_eq!(scan.corrupt, 0, "cut at {cut}");
            assert_eq!(scan.torn, (cut - last_start) as u64, "cut at {cut}");
            assert_eq!(scan.good_len, last_start as u64, "cut at {cut}");
        }
        let (scan, got) = read(&whole);
        assert_eq!((got.len(), scan.torn), (3, 0));
    }

    #[test]
    fn corrupt_lines_in_the_middle_are_skipped_and_counted() {
        let mut bytes = file(&[(1, "MSG bob one")]);
        for bad in [
            &b"garbage\n"[..],
            b"\0\0\0\0\0\0\n", // a power cut can leave zeros where data was due
            b"12 JOIN bob\n",  // not a history frame
            b"12 HIST 3 MSG a b\n",
            b"x1 MSG a b\n",
            b" MSG a b\n",
            b"99999999999999999999999 MSG a b\n", // over u64
            b"5 MSG bob \xff\xfe\n",              // not UTF-8
            b"\n",
        ] {
            bytes.extend_from_slice(bad);
        }
        bytes.extend_from_slice(b"2 ACTION ann two\n");
        let (scan, got) = read(&bytes);
        assert_eq!(scan.corrupt, 9);
        assert_eq!(
            got,
            vec![(1, "MSG bob one".into()), (2, "ACTION ann two".into())]
        );
    }

    #[test]
    fn an_overlong_line_is_skipped_without_keeping_it() {
        let mut bytes = file(&[(1, "MSG bob one")]);
        bytes.extend_from_slice(b"2 MSG bob ");
        bytes.resize(bytes.len() + MAX_LINE_ON_DISK, b'x');
        bytes.extend_from_slice(b"\n3 MSG bob three\n");
        let reader = io::BufReader::with_capacity(4096, &bytes[..]);
        let mut got = Vec::new();
        let scan = scan(reader, FileKind::History, |at, _| got.push(at)).unwrap();
        assert_eq!((scan.corrupt, got), (1, vec![1, 3]));
    }

    #[test]
    fn headers() {
        let cases: &[(&[u8], Header)] = &[
            (b"", Header::Missing),
            (b"lanchat-hist", Header::Missing),
            (
                b"lanchat-history 1 #general\n",
                Header::Ok("#general".into()),
            ),
            (b"lanchat-history 1 #a b\n", Header::Ok("#a b".into())),
            (b"lanchat-history 2 #general\n", Header::Version("2".into())),
            (b"lanchat-history 1\n", Header::Foreign),
            (b"lanchat-notes 1 bob\n", Header::Foreign),
            (b"1 MSG bob hi\n", Header::Foreign),
            (b"\xff\n", Header::Foreign),
        ];
        for (bytes, want) in cases {
            assert_eq!(&read(bytes).0.header, want, "{bytes:?}");
        }
        let (scan, got) = read(b"lanchat-history 2 #general\n1 MSG a b\n");
        assert_eq!(
            (scan.entries, got.len()),
            (0, 0),
            "a newer file is not read"
        );
    }

    #[test]
    fn kinds_hold_their_frames_only() {
        assert!(FileKind::History.holds("MSG bob hi"));
        assert!(FileKind::History.holds("ACTION bob waves"));
        assert!(!FileKind::History.holds("PRIV bob hi"));
        assert!(FileKind::Notes.holds("PRIV bob hi"));
        assert!(!FileKind::Notes.holds("MSG bob hi"));
        assert!(!FileKind::History.holds("MSG"));
    }
}
