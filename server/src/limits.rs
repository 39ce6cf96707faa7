//! Every bound the server enforces, in one place, each with its default and the reason for it.
//!
//! The user-facing ones are also flags (see [`crate::config::Config`]); the rest are internal
//! caps that keep one poll round short and fair. `docs/ROBUSTNESS.md` lists them all with what a
//! client sees when it hits one.

use std::time::Duration;

/// `--max-clients`: connected users (named or not). 10,000 is the C10K target of a small
/// machine; it is lowered at start to fit the process's file-descriptor limit.
pub const DEFAULT_MAX_CLIENTS: usize = 10_000;

/// File descriptors kept back from `--max-clients` for the server's own use: stdio, the epoll
/// fd, the listener, the UDP socket, the signal pipe and waker, and a few connections that are
/// being refused (`ERR server-full`) at any one time.
pub const RESERVED_FDS: usize = 16;

/// `--max-line`: longest client line in bytes. 2048 is ample for chat (IRC allows 512) and
/// bounds each connection's read buffer.
pub const DEFAULT_MAX_LINE: usize = lanchat_proto::DEFAULT_MAX_LINE;

/// Smallest `--max-line` accepted: a `WHO` line must hold at least one full name (96 bytes).
pub const MIN_MAX_LINE: usize = 128;

/// Largest `--max-line` accepted (1 MiB): beyond that a line is not chat.
pub const MAX_MAX_LINE: usize = lanchat_proto::MAX_MAX_LINE;

/// `--sendq`: unsent output a connection may hold before it is dropped as too slow. 256 KiB is
/// thousands of chat lines (Redis' pubsub soft limit is 8 MiB over 60 s; IRC servers use
/// 100-500 KiB sendqs); a reader that falls that far behind is not coming back.
pub const DEFAULT_SENDQ: usize = 256 * 1024;

/// Smallest `--sendq` accepted: below a few KiB ordinary bursts would drop healthy clients.
pub const MIN_SENDQ: usize = 4 * 1024;

/// `--rate`: sustained lines per second per connection. A fast typist manages 2-3; pasting a
/// short block stays within the burst.
pub const DEFAULT_RATE: f64 = lanchat_proto::bucket::DEFAULT_RATE;

/// `--burst`: lines a connection may send at once before `--rate` applies.
pub const DEFAULT_BURST: u32 = lanchat_proto::bucket::DEFAULT_BURST;

/// At most one `ERR rate-limited` per this interval per connection, so a flood does not turn
/// into a flood of replies.
pub const RATE_ERR_INTERVAL: Duration = Duration::from_secs(1);

/// A connection still over its rate budget this long after the first dropped line is
/// disconnected (`LEAVE <name> flooding`): it has been told and is not listening.
pub const FLOOD_KICK_AFTER: Duration = Duration::from_secs(30);

/// Dropped lines this far apart belong to separate floods (the sender paused in between).
pub const FLOOD_RUN_GAP: Duration = Duration::from_secs(5);

/// `--handshake-timeout`: seconds to send an acceptable name. Long enough for a person to type
/// one; short enough that idle half-open connections (slowloris) do not pile up.
pub const DEFAULT_HANDSHAKE_TIMEOUT_SECS: u64 = 30;

/// `--write-timeout`: seconds a connection's pending output may make no progress before the
/// connection is dropped as dead (`LEAVE <name> timeout`).
pub const DEFAULT_WRITE_TIMEOUT_SECS: u64 = 60;

/// TCP keepalive on every accepted socket: first probe after this much idle time ...
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(60);
/// ... then one probe per interval ...
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// ... and the peer is declared dead after this many unanswered probes (about 2 minutes in all).
pub const KEEPALIVE_PROBES: u32 = 6;

/// `--history`: public messages kept for late joiners. 50 lines is a screenful of context.
pub const DEFAULT_HISTORY: usize = 50;

/// Largest `--history` accepted; memory is `history x max_line` at worst.
pub const MAX_HISTORY: usize = 10_000;

/// Above this worst case for the history ring (`--history` x the longest frame) the server
/// warns at start: it is allowed, but on a small machine it may not be what was meant.
pub const HISTORY_WARN_BYTES: usize = 256 << 20;

/// Bytes read per `read` call into the loop's one scratch buffer.
pub const READ_CHUNK: usize = 64 * 1024;

/// Bytes read from one connection per poll round before others get their turn; the rest is read
/// in the next round (which then polls without blocking).
pub const READ_BUDGET_PER_ROUND: usize = 256 * 1024;

/// Plaintext a TLS connection encrypts per write: four full records (as few as the plaintext
/// allows). It is taken only once the ciphertext before it is out, so a reader that falls
/// behind holds at most this much of private ciphertext; its backlog stays in the shared
/// frames of its queue.
pub const TLS_WRITE_CHUNK: usize = 64 * 1024;

/// After rustls refused a peer's input, at most this many queued messages (handshake messages,
/// then the alert that says why) are sent before the close: a bound on a loop, not a budget
/// anyone should meet (a failed handshake has two or three).
pub const TLS_MESSAGES_AFTER_FAILURE: usize = 8;

/// `ClientHello`s answered per poll round (the rest first thing next round). Each answer costs a
/// key exchange and a signature, ~0.1-0.15 ms of CPU (docs/BENCHMARKS.md), so a flood of
/// handshakes adds at most ~15-20 ms to a round and the chat of those in the room goes on. Not
/// fewer: every round in which people join flushes their `JOIN`s to everyone, so a join storm
/// taken in smaller slices costs more rounds of flushing everyone (4,000 joins over TLS with 32
/// per round cost 2.2x the server CPU of 128, and 64 1.5x; 256 saved nothing more).
pub const TLS_HANDSHAKES_PER_ROUND: usize = 128;

/// Buffer memory freed since the last trim that makes the loop schedule one ([`crate::memory`]):
/// 1 MiB is noise for RSS, and below it trimming is not worth its page faults.
pub const TRIM_AFTER_FREED: usize = 1 << 20;

/// How long after such a burst the trim runs: traffic that goes on reuses the memory meanwhile,
/// and a trim at most once a second costs nothing measurable (docs/BENCHMARKS.md).
pub const TRIM_DELAY: Duration = Duration::from_secs(1);

/// Poll events handled per `poll` call.
pub const EVENTS_CAPACITY: usize = 1024;

/// Writes in a flush between two looks (a `poll` without waiting) for input that arrived
/// meanwhile. One loopback write costs 4-7 µs on the machine of docs/BENCHMARKS.md, so a chat
/// line waits ~0.3 ms of writes for the next look, not the whole flush (5-6 ms for 1,000
/// connections); reading it adds its own cost, bounded by the per-round read budget.
pub const FLUSH_SLICE: usize = 64;

/// Listen backlog requested (the kernel caps it at `net.core.somaxconn`): room for a burst of
/// connects, as when a whole office starts at once or a load test opens 10,000 clients.
pub const LISTEN_BACKLOG: i32 = 4096;

/// After `accept` fails with EMFILE/ENFILE the listener rests this long, doubling per failure ...
pub const ACCEPT_BACKOFF_START: Duration = Duration::from_millis(100);
/// ... up to this.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// On SIGINT/SIGTERM, how long pending output (the `BYE` lines) may take to flush before the
/// server exits anyway; slow clients are not waited for.
pub const SHUTDOWN_FLUSH: Duration = Duration::from_secs(2);

/// Connections accepted per poll round before the loop serves the others (the rest next round):
/// a connect flood, e.g. at a full server, cannot hold the loop.
pub const ACCEPTS_PER_ROUND: usize = 256;

/// Discovery datagrams read per poll round (the rest next round): a datagram flood cannot hold
/// the loop. The reply caps themselves live with the protocol they limit, in `discovery.rs`.
pub const DATAGRAMS_PER_ROUND: usize = 256;

/// Failed accepts (ECONNABORTED and the like) per round before the listener rests as if out of
/// fds, rather than spinning on an error that keeps coming.
pub const ACCEPT_ERRORS_PER_ROUND: usize = 64;

/// After the last byte (a `BYE`) is sent and the write side shut down, how long to wait for the
/// peer's EOF before closing anyway. Closing while the peer still sends turns into an RST,
/// which can destroy the `BYE` before the peer reads it.
pub const LINGER: Duration = Duration::from_secs(2);

/// The timer heap is rebuilt without stale entries once it holds more than
/// `TIMERS_SLACK_FACTOR x connections + TIMERS_SLACK` timers.
pub const TIMERS_SLACK_FACTOR: usize = 4;
/// See [`TIMERS_SLACK_FACTOR`].
pub const TIMERS_SLACK: usize = 64;
