//! `lanchat-server`: the lanchat chat server as a library, so tests can run it in-process.
//!
//! One thread, one `mio` poll loop, every socket on it. The parts, in the order a byte meets
//! them:
//! - [`event_loop`]: the reactor, in rooms of its own: accept, read, flush, timers, shutdown and
//!   signals, discovery.
//! - [`transport`]: the seam between a socket and plaintext: plain TCP, or TLS 1.3 over rustls.
//! - [`conn`]: one connection's buffers and the queue/flush rules, and the connection table.
//! - [`room`]: the chat logic, as plain code fed lines and time and returning frames through an
//!   [`outbox::Outbox`].
//! - [`clock`]: the time the loop is given (and tests control).
//! - [`limits`] and [`config`]: every bound and flag, with its default and reason.
//! - [`hosts`]: the per-address limits the room consults (connections, joins, a shared line
//!   budget, large replies).
//! - [`stats`]: what the server counts about itself, for `/stats` and SIGUSR1.
//! - [`tls`]: the server's key, certificate and fingerprint, and the rustls configuration.
//!
//! The binary (`main.rs`) only parses flags, sets up logging, binds and runs.
//!
//! Beside them, [`persist`] keeps rooms' history (the only copy in memory, which the room
//! replays from) and the notes for absent users in the state directory, without the loop ever
//! waiting for the disk.

pub mod clock;
pub mod config;
pub mod conn;
pub mod discovery;
pub mod event_loop;
pub mod hosts;
pub mod limits;
pub mod logger;
pub mod memory;
pub mod outbox;
pub mod persist;
pub mod room;
pub mod sockets;
pub mod stats;
pub mod timers;
pub mod tls;
pub mod transport;

pub use clock::{Clock, ManualClock, Now, SystemClock};
pub use config::Config;
pub use event_loop::{Exit, Server, ServerHandle, Signals};
pub use outbox::{ConnId, Outbox, Recorder, Serial};
pub use room::{Admission, LeaveReason, Peer, Room, RoomConfig};
