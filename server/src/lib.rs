//! `lanchat-server`: the lanchat chat server as a library, so tests can run it in-process.
//!
//! One thread, one `mio` poll loop, every socket on it. The parts, in the order a byte meets
//! them:
//! - [`event_loop`]: the reactor, the only module that speaks mio: accept, read, flush, timers,
//!   signals, discovery.
//! - [`conn`]: one connection's socket and buffers, and the queue/flush rules.
//! - [`room`]: the chat logic, as plain code fed lines and returning frames through an
//!   [`outbox::Outbox`].
//! - [`limits`] and [`config`]: every bound and flag, with its default and reason.
//!
//! The binary (`main.rs`) only parses flags, sets up logging, binds and runs.
//!
//! Beside them, [`persist`] keeps rooms' history and the notes for absent users in the state
//! directory, without the loop ever waiting for the disk (the loop does not call it yet).

pub mod config;
pub mod conn;
pub mod discovery;
pub mod event_loop;
pub mod limits;
pub mod logger;
pub mod memory;
pub mod outbox;
pub mod persist;
pub mod room;
pub mod sockets;
pub mod timers;

pub use config::Config;
pub use event_loop::{Exit, Server, ShutdownHandle};
pub use outbox::{ConnId, Outbox, Recorder};
pub use room::{Admission, Now, Room, RoomConfig};
