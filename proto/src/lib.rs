//! `lanchat-proto`: the lanchat wire protocol, version 1, and nothing else.
//!
//! This crate is the single definition of what travels between a lanchat client and server:
//! how bytes become lines ([`decoder`]), what a client may say ([`client`]), what the server
//! answers ([`server`]), which names are allowed and when two are the same ([`name`],
//! [`name_index`], [`held_name`]), what a room may be called ([`room`]), which error codes exist
//! ([`ErrCode`]), what the LAN discovery datagrams say ([`discovery`]), how a server key's
//! fingerprint is written ([`fingerprint`]), what `/stats` reports ([`stats`]), how flood
//! control counts ([`bucket`]), and what identity adds: the password line and the operators'
//! commands ([`ops`]). It does no IO and reads no clock, so both the single-threaded server and
//! the terminal client use it, and tests can feed it byte literals.
//!
//! The normative description is `docs/PROTOCOL.md`; this crate implements it.

#![forbid(unsafe_code)]

pub mod bucket;
pub mod client;
pub mod code;
pub mod decoder;
pub mod discovery;
pub mod fingerprint;
pub mod held_name;
pub mod name;
pub mod name_index;
pub mod ops;
pub mod room;
pub mod server;
pub mod stats;

pub use client::{ClientMsg, CommandError};
pub use code::ErrCode;
pub use decoder::{LineDecoder, LineTooLong, Lines};
pub use fingerprint::{Fingerprint, FingerprintError};
pub use held_name::HeldName;
pub use name::{fold_name, name_key, validate_name, NameError, NameKey};
pub use name_index::NameIndex;
pub use ops::OpCommand;
pub use room::{room_key, RoomNameError, GENERAL};
pub use server::{ParseError, ServerMsg, LIMIT_MAX_LINE};
pub use stats::{StatKey, StatValue};

/// The TCP (and discovery UDP) port a server listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7070;

/// Longest client line the server accepts, in bytes, not counting the `\n` (or `\r\n`).
pub const DEFAULT_MAX_LINE: usize = 2048;

/// Largest line limit a server may be configured with (1 MiB): beyond that a line is not chat.
/// A client that must read any server sizes its decoder as this plus
/// [`SERVER_LINE_OVERHEAD`] or more.
pub const MAX_MAX_LINE: usize = 1 << 20;

/// How much longer than the client line limit a server line may be: a relayed line gains a
/// kind word and a name (`MSG <name> `), and history adds `HIST <millis> ` in front of that.
/// Clients size their decoder as `max_line + SERVER_LINE_OVERHEAD` or more.
pub const SERVER_LINE_OVERHEAD: usize = 160;

/// The version-1 probe a client broadcasts over UDP to find servers on the LAN
/// ([`discovery::PROBE`]).
pub const DISCOVERY_PROBE: &str = discovery::PROBE;

/// The ALPN protocol name of the line protocol inside TLS: a TLS server offers it, a client
/// asks for it (a client that asks for none is served too).
pub const ALPN: &str = "lanchat/1";

/// The text of the `BYE` every client gets when the server stops (SIGINT, SIGTERM): the one
/// `BYE` after which a client may come back on its own, since the server is going, not
/// sending it away.
pub const BYE_SHUTDOWN: &str = "server shutting down";

/// The line a client sends to leave (as is `/quit`).
pub const QUIT_LINE: &str = "<quit>";

/// True for a character a terminal acts on instead of showing, which a client MUST neutralise
/// before printing anything received (docs/PROTOCOL.md): C0 and C1 controls and DEL (escape
/// sequences, bells, carriage returns), the bidi embeddings, overrides, isolates and marks
/// (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F, U+061C: they reorder or hide text), and the
/// Unicode line and paragraph separators (U+2028, U+2029), which some terminals break lines on.
/// Tab is a control too; callers that keep it say so.
pub fn is_terminal_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// True for a character Unicode marks `Default_Ignorable_Code_Point`: one that shows as nothing
/// unless a font or a terminal decides otherwise. Zero-width space, word joiner, byte-order mark,
/// soft hyphen, ZWJ/ZWNJ, variation selectors, tag characters, the Hangul fillers, U+180E,
/// U+206A..U+206F and the bidi controls are among them. A line of only these and white space
/// is blank (`client::is_blank`), and no name may hold one.
pub fn is_default_ignorable(c: char) -> bool {
    // unicode-security keeps its Default_Ignorable_Code_Point table private, but UTS #39's
    // skeleton drops exactly those characters (and maps every other one to something): a
    // character whose skeleton is empty is default-ignorable.
    if c.is_ascii() {
        return false; // the common case, without the table lookups
    }
    let mut buf = [0; 4];
    let shows = unicode_security::skeleton(c.encode_utf8(&mut buf))
        .next()
        .is_some();
    !shows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_ignorables_are_the_invisible_ones() {
        for c in [
            '\u{200b}',
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{ad}',
            '\u{180e}',
            '\u{206a}',
            '\u{206f}',
            '\u{fe0f}',
            '\u{e0041}',
            '\u{e007f}',
            '\u{3164}',
            '\u{ffa0}',
            '\u{115f}',
            '\u{1160}',
            '\u{202e}',
            '\u{2066}',
        ] {
            assert!(is_default_ignorable(c), "U+{:04X}", u32::from(c));
        }
        for c in [
            'a', ' ', '_', '0', 'ə', '東', '\u{640}', '\u{fff9}', '\u{301}', '\u{2800}',
        ] {
            assert!(!is_default_ignorable(c), "U+{:04X}", u32::from(c));
        }
    }

    /// Unicode 16 lists 4,174 default-ignorable code points; the skeleton must drop exactly
    /// those, or the test above proves less than it says.
    #[test]
    fn the_skeleton_drops_exactly_the_default_ignorables() {
        use unicode_security::general_security_profile::IdentifierType;
        use unicode_security::GeneralSecurityProfile;
        let all: Vec<char> = (0..=0x10ffff_u32).filter_map(char::from_u32).collect();
        let ignorable = all.iter().filter(|&&c| is_default_ignorable(c)).count();
        assert_eq!(ignorable, 4174);
        for &c in &all {
            if c.identifier_type() == Some(IdentifierType::Default_Ignorable) {
                assert!(is_default_ignorable(c), "U+{:04X}", u32::from(c));
            }
        }
    }
}
