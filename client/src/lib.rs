//! `lanchat-client`: the terminal client's logic, testable without a terminal.
//!
//! The `lanchat` binary (`main.rs` and `app/`) is thin glue: flags, the line editor, the
//! socket threads. Everything it decides is here:
//!
//! - [`session`]: one joined session as a state machine: server lines in, lines to show and
//!   how the run ends (quit answered: 0; server gone: 3) out. No IO, no clock.
//! - [`cli`]: the flags and `--help` (also the source of the man page and completions).
//! - [`addr`]: what a typed server address means (`host`, `ip:port`, `[v6]:port`, ...).
//! - [`conn`]: connecting with a timeout, reading server lines with a deadline, the handshake;
//!   over any [`conn::Transport`]: a [`stream::Stream`], plain TCP or TLS.
//! - [`connect`]: joining as the flags say: TLS and trust on first use (or an office CA), or
//!   plaintext; then the greeting; then [`join`]'s steps, driven for both front ends.
//! - [`join`]: the name and password steps as a state machine: which name to offer, a refusal,
//!   the password, a connection lost before the welcome (at a terminal or in a script).
//! - [`reader`]: the reader thread: the connection into the session, the session's actions out.
//! - [`reconnect`]: coming back after the server went away, as the reader thread does it;
//!   [`backoff`]: when to try; [`seen`]: which replayed history was shown already.
//! - [`outbox`]: what a typed line is, and sending it paced; [`pacer`]: the pacing.
//! - [`signals`]: SIGINT plumbing on signal-hook's safe calls.
//! - [`render`]: a server line as a person sees it (`[12:01] <bob> hi`), colours, mentions;
//!   [`stats`]: the answer to `/stats` as a block of figures in their units.
//! - [`sanitize`]: nothing received can drive the terminal (escape sequences, bidi controls).
//! - [`members`]: who is here, kept current from the server's lines; tab completion.
//! - [`rooms`]: the rooms this client is in, the current one (where typed lines go), unread
//!   counts for the prompt.
//! - [`editor`]: rustyline callbacks (completion, Ctrl-C, the keys that switch rooms).
//! - [`redraw`]: drawing the prompt again under a half-typed line when it changes.
//! - [`discovery`]: finding servers on the LAN by UDP broadcast (`--discover`).
//! - [`tls`]: the TLS configuration, the verifier that pins a server's key (or checks it
//!   against an office CA), and telling a plaintext server apart.
//! - [`waits`]: the fixed waits (quit, discovery, the word before the name), which tests
//!   shorten.
//! - [`atomic`]: files written whole or not at all (known_servers, the key).
//! - [`identity`]: the user's own key (made on first use), presented as a TLS client
//!   certificate; servers know the user by its fingerprint.
//! - [`password`]: the password a server may ask for, from `--password-file`.
//! - [`known_servers`]: the servers this user trusts, and trust on first use: go on, ask, or
//!   refuse, with the words for each.
//! - [`clock`]: time for timestamps.
//!
//! The client defines no wire format of its own: it speaks lanchat protocol v1 through
//! `lanchat-proto`.

pub mod addr;
pub mod atomic;
pub mod backoff;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod conn;
pub mod connect;
pub mod discovery;
pub mod editor;
pub mod identity;
pub mod join;
pub mod known_servers;
pub mod members;
pub mod outbox;
pub mod pacer;
pub mod password;
pub mod reader;
pub mod reconnect;
pub mod redraw;
pub mod render;
pub mod rooms;
pub mod sanitize;
pub mod screen;
pub mod seen;
pub mod session;
pub mod signals;
pub mod stats;
pub mod stream;
pub mod tls;
pub mod waits;
