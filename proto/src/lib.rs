//! `lanchat-proto`: the lanchat wire protocol, version 1, and nothing else.
//!
//! This crate is the single definition of what travels between a lanchat client and server:
//! how bytes become lines ([`decoder`]), what a client may say ([`client`]), what the server
//! answers ([`server`]), which names are allowed ([`name`]), which error codes exist
//! ([`ErrCode`]), what the LAN discovery datagrams say ([`discovery`]), how a server key's
//! fingerprint is written ([`fingerprint`]) and how flood control counts ([`bucket`]). It does
//! no IO and reads no clock, so both the single-threaded server and the terminal client use
//! it, and tests can feed it byte literals.
//!
//! The normative description is `docs/PROTOCOL.md`; this crate implements it.

pub mod bucket;
pub mod client;
pub mod code;
pub mod decoder;
pub mod discovery;
pub mod fingerprint;
pub mod name;
pub mod server;

pub use client::{ClientMsg, CommandError};
pub use code::ErrCode;
pub use decoder::{LineDecoder, LineTooLong, Lines};
pub use fingerprint::{Fingerprint, FingerprintError};
pub use name::{fold_name, name_key, validate_name, NameError};
pub use server::{ParseError, ServerMsg};

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
