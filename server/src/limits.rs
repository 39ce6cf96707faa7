//! Every bound the server enforces, in one place, each with its default and the reason for it.
//!
//! The user-facing ones are also flags (see [`crate::config::Config`]); the rest are internal
//! caps that keep one poll round short and fair. `docs/ROBUSTNESS.md` lists them all with what a
//! client sees when it hits one.

use std::time::Duration;

/// `--max-clients`: connected users (named or not). 10,000 is the C10K target of a small
/// machine; it is lowered at start to fit the process's file-descriptor limit.
pub const DEFAULT_MAX_CLIENTS: usize = 10_000;

/// Largest `--max-clients` accepted: far beyond what a small machine's fds allow (the value is
/// fitted to the fd limit at start anyway); a bound so a typo is refused, not believed.
pub const MAX_MAX_CLIENTS: usize = 1_000_000;

/// File descriptors kept back from `--max-clients` for the server's own use: stdio, the epoll
/// fd, the listener, the UDP socket, the signal pipe and waker, and a few connections that are
/// being refused (`ERR server-full`) at any one time (16), and the state directory's files
/// ([`PERSIST_FDS`]).
pub const RESERVED_FDS: usize = 16 + PERSIST_FDS;

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

/// [`DEFAULT_SENDQ`] as `--help` shows it (the flag takes `K`/`M` suffixes).
/// `config.rs::defaults_match_the_flag_defaults` checks the two agree.
pub const DEFAULT_SENDQ_FLAG: &str = "256K";

/// Smallest `--sendq` accepted: below a few KiB ordinary bursts would drop healthy clients.
pub const MIN_SENDQ: usize = 4 * 1024;

/// `--rate`: sustained lines per second per connection. A fast typist manages 2-3; pasting a
/// short block stays within the burst.
pub const DEFAULT_RATE: f64 = lanchat_proto::bucket::DEFAULT_RATE;

/// `--burst`: lines a connection may send at once before `--rate` applies.
pub const DEFAULT_BURST: u32 = lanchat_proto::bucket::DEFAULT_BURST;

/// Largest `--burst` (and `--join-burst`) accepted: a million lines, or connections, at once is
/// no limit at all (`--rate 0` and `--join-rate 0` say that plainly).
pub const MAX_BURST: u32 = 1_000_000;

/// At most one `ERR rate-limited` per this interval per connection, so a flood does not turn
/// into a flood of replies.
pub const RATE_ERR_INTERVAL: Duration = Duration::from_secs(1);

/// A connection still over its rate budget this long after the first dropped line is
/// disconnected (`LEAVE <name> flooding`): it has been told and is not listening.
pub const FLOOD_KICK_AFTER: Duration = Duration::from_secs(30);

/// Dropped lines this far apart belong to separate floods (the sender paused in between).
pub const FLOOD_RUN_GAP: Duration = Duration::from_secs(5);

/// An away message is kept (and shown to others) to its first this many characters: it is
/// stored for as long as its owner stays away and sent to every newcomer in the member list,
/// so it must stay small (IRC servers' AWAYLEN is 200 to 300).
pub const MAX_AWAY_CHARS: usize = 200;

/// `--handshake-timeout`: seconds to send an acceptable name. Long enough for a person to type
/// one; short enough that idle half-open connections (slowloris) do not pile up.
pub const DEFAULT_HANDSHAKE_TIMEOUT_SECS: u64 = 30;

/// `--write-timeout`: seconds a connection's pending output may make no progress before the
/// connection is dropped as dead (`LEAVE <name> timeout`).
pub const DEFAULT_WRITE_TIMEOUT_SECS: u64 = 60;

/// Longest `--handshake-timeout` and `--write-timeout` accepted, in seconds: a day. Longer is
/// no deadline at all for a chat peer.
pub const MAX_TIMEOUT_SECS: u64 = 86_400;

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

/// `--max-rooms`: rooms that may exist at once, `#general` included. A thousand is a room per
/// ten people at 10,000 users, far more than an office uses; each room costs its member list
/// and history, so the bound keeps a script that opens rooms from eating the box.
pub const DEFAULT_MAX_ROOMS: usize = 1_000;

/// Largest `--max-rooms` accepted: a bound so a typo is refused, not believed.
pub const MAX_MAX_ROOMS: usize = 100_000;

/// `--rooms-per-user`: rooms one user may be in at once, `#general` included. Fifty is more
/// than a person follows; each membership costs the server a few dozen bytes
/// (docs/BENCHMARKS.md), and a join of a busy room costs its member list.
pub const DEFAULT_ROOMS_PER_USER: usize = 50;

/// Largest `--rooms-per-user` accepted.
pub const MAX_ROOMS_PER_USER: usize = 10_000;

/// Longest room topic, in bytes (IRC servers' usual `TOPICLEN`). It bounds the answer to
/// `/rooms`, which lists every room's topic: at most `--max-rooms` x ~500 bytes.
pub const MAX_TOPIC_BYTES: usize = 390;

/// Bytes read per `read` call into the loop's one scratch buffer.
pub const READ_CHUNK: usize = 64 * 1024;

/// Bytes read from one connection per poll round before others get their turn; the rest is read
/// in the next round (which then polls without blocking).
pub const READ_BUDGET_PER_ROUND: usize = 256 * 1024;

/// What a key update from a TLS peer is charged against its connection's read budget
/// ([`READ_BUDGET_PER_ROUND`]), on top of its 27 bytes: it costs a derivation of the next
/// secret and a new AEAD key: 2.8 µs of server CPU against 0.8 µs for a record holding a
/// blank line (measured on a test build, docs/ROBUSTNESS.md), so 1 KiB over-counts it a few
/// times. A connection sending nothing but key updates (a blank line after every 31, within
/// the record layer's bound) is read for ~256 of them a round plus what one read holds
/// (~1,200), a few milliseconds, where it was read for ~9,700 (~27 ms). A real peer sends
/// one per 2^24 records.
pub const TLS_KEY_UPDATE_CHARGE: usize = 1024;

/// Plaintext a TLS connection encrypts at a time: four full records (as few as the plaintext
/// allows). The next chunk is taken only once the ciphertext before it is out (a flush goes
/// on chunk by chunk while the socket takes them), so a reader that falls behind holds at most
/// this much of private ciphertext; its backlog stays in the shared frames of its queue.
pub const TLS_WRITE_CHUNK: usize = 64 * 1024;

/// What a TLS connection's expanded AEAD keys (one each way, built when records are sealed or
/// opened) hold, roughly: counted toward the next heap trim, at which connections with nothing
/// to send let them go, so that a connection at rest keeps only its secrets.
pub const TLS_KEYS_BYTES: usize = 1024;

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

/// Connections still giving a name that are read per poll round (the rest first thing next
/// round): each join sends the newcomer a welcome with the member list, so a join storm
/// (thousands naming themselves at once) builds at most this many welcomes at a time, and
/// memory during it stays linear in the clients rather than growing with joiners x members.
/// Named connections are read as usual meanwhile.
pub const HANDSHAKE_READS_PER_ROUND: usize = 256;

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

/// Notes kept for one absent recipient (`/msg` to a name claimed by a key whose owner is not
/// connected); one more gets `ERR mailbox-full`. 100 is a long absence's worth of "call me
/// back", and bounds what one person's return replays.
pub const MAX_NOTES_PER_RECIPIENT: usize = 100;

/// How long a note is kept for its recipient: a week covers a holiday; after that it is stale.
pub const NOTE_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How long the history of a room nobody is in (it emptied, or nobody has joined it since a
/// restart) is kept, in memory and on disk, after its last message: a week covers a holiday,
/// as for notes; whoever joins it meanwhile gets its replay. `--max-rooms` bounds how many are
/// kept.
pub const EMPTY_ROOM_KEEP: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// How often rooms nobody is in are looked at for [`EMPTY_ROOM_KEEP`]: hourly keeps a history
/// at most an hour past its week.
pub const HISTORY_SWEEP_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// A room's history log on disk is compacted (rewritten with its last `--history` entries) once
/// it holds this many times `--history` entries, and at least [`HISTORY_LOG_MIN_SLACK`] more:
/// the file stays a few times what a restart needs, and rewrites stay rare (one per
/// `3 x --history` messages at the defaults).
pub const HISTORY_LOG_FACTOR: usize = 4;
/// See [`HISTORY_LOG_FACTOR`]: a small `--history` does not mean a rewrite every few messages.
pub const HISTORY_LOG_MIN_SLACK: usize = 64;

/// Appended state files are handed to the kernel's write-back (`sync_file_range`, which does
/// not wait for the disk) at most this often, so a power cut loses seconds, not the kernel's
/// default 30 s of dirty pages; more often would be one disk write per message.
pub const PERSIST_KICK_INTERVAL: Duration = Duration::from_secs(1);

/// A round of write-back kicks slower than this means the disk's queue is full (a kick does
/// not wait for the disk, but may wait for room in its queue): the interval between kicks
/// doubles, and halves again after fast ones. 1 ms is hundreds of times a normal kick (1-2 µs).
pub const KICK_SLOW: Duration = Duration::from_millis(1);

/// The longest interval between kicks: the kernel's own write-back (`vm.dirty_expire_centisecs`,
/// 30 s by default) takes over beyond it anyway.
pub const KICK_INTERVAL_MAX: Duration = Duration::from_secs(30);

/// A rewritten state file (compaction, notes cleanup, recovery) is synced and renamed over the
/// old one no sooner than this after it was written and handed to write-back: by then the
/// kernel has written it, so the `fdatasync` costs one cache flush (0.3 ms measured, also on a
/// disk throttled to 20 writes/s) instead of a wait for the disk (200 ms there).
pub const REWRITE_SETTLE: Duration = Duration::from_secs(10);
/// ... and only once the new file has taken no append for this long (its last writes are on
/// disk too) ...
pub const REWRITE_QUIET: Duration = Duration::from_secs(5);
/// ... unless it never goes quiet (a room busy without a pause): then after this long anyway,
/// and that one sync may wait for the last second's writes.
pub const REWRITE_FORCE: Duration = Duration::from_secs(60);

/// A state file rewritten whole (the claims on names, the bans and mutes) is synced and put
/// in place this long after it was written and handed to write-back: a small file is written by
/// then, so the sync the loop waits for does not wait for the data (3.3-6.5 ms measured here,
/// a journal commit, against 2.4-21 ms for write and sync at once; on a slow disk 0.25 ms
/// against 200 ms; docs/BENCHMARKS.md). Changes meanwhile go out in the next version, so this
/// is also the shortest time between two versions.
pub const STATE_SETTLE: Duration = Duration::from_secs(1);

/// A settled rewrite's `fdatasync` or directory sync slower than this (a slow disk kept busy
/// by something else: 200-500 ms measured) makes rewrites skip syncs for [`SYNC_PAUSE`]:
/// 20 ms is ten times a settled sync on a disk the server has to itself (0.03-2.2 ms measured).
pub const SYNC_SLOW: Duration = Duration::from_millis(20);

/// See [`SYNC_SLOW`]: the loop waits for a slow sync at most once per this.
pub const SYNC_PAUSE: Duration = Duration::from_secs(60 * 60);

/// After the state directory fails (disk full, read-only, I/O error), how often the server
/// tries again to bring the files up to date from memory.
pub const PERSIST_RETRY: Duration = Duration::from_secs(5);

/// Rooms' history logs kept open at once (the busiest rooms'); others are opened when written.
pub const MAX_OPEN_LOGS: usize = 16;

/// History rewrites in progress at once: each holds a second file open while it settles.
pub const MAX_REWRITES: usize = 4;

/// Notes files kept open at once: a note is one line now and then, so reopening costs little.
pub const MAX_OPEN_NOTES: usize = 4;

/// Notes rewrites (expiry, recovery) in progress at once.
pub const MAX_NOTE_REWRITES: usize = 2;

/// File descriptors the state directory can use at once: open history logs and their
/// rewrites, open notes files and theirs, and a directory while it is synced (one at a time).
/// Counted in [`RESERVED_FDS`].
pub const PERSIST_FDS: usize =
    MAX_OPEN_LOGS + MAX_REWRITES + MAX_OPEN_NOTES + MAX_NOTE_REWRITES + 1;

/// How often notes past [`NOTE_TTL`] are looked for among users who have not come back (those
/// who do are checked when they return): hourly keeps a note at most an hour past its week.
pub const NOTE_SWEEP_INTERVAL: Duration = Duration::from_secs(60 * 60);

// Per-address limits ([`crate::hosts`]). Every other budget is per connection, so one host
// could open connections until the others were locked out (499 of a 500-client server), churn
// through fresh flood-control buckets (8,147 visits/s, 16,298 JOIN/LEAVE lines/s to every
// member) and pull replies far bigger than its requests on as many connections as it liked.
// No address is exempt unless `--trusted-hosts` names it, loopback included.

/// `--max-per-host`: connections (named or not) one address may hold at once; 0 is no limit.
/// A person runs one client, perhaps a second window or a bot; a shared machine (a terminal
/// server, a lab PC) a handful of people. 16 covers them, and it takes 625 addresses to fill a
/// server of the default 10,000. A NAT or proxy in front of many people needs
/// `--trusted-hosts` or a higher value.
pub const DEFAULT_MAX_PER_HOST: usize = 16;

/// `--join-rate`: new connections per second one address may open after its burst; 0 is off.
/// Nobody reconnects twice a second for long; a churning host then shows every member at most
/// 4 JOIN/LEAVE lines a second. It also bounds how many welcomes (the history and the member
/// list) one host can ask for.
pub const DEFAULT_JOIN_RATE: f64 = 2.0;

/// `--join-burst`: new connections one address may open at once before `--join-rate` applies:
/// a client reconnecting after a network blip, a few people on one machine starting together,
/// a test script opening a handful.
pub const DEFAULT_JOIN_BURST: u32 = 10;

/// The line budget all connections of one address share is this many times one connection's
/// (`--rate` and `--burst`; off with `--rate 0`): 40 lines/s in bursts of 80 at the defaults.
/// Four people on one machine can each use a full budget (more than anyone types), and one
/// pasting a block does not throttle the others; the fifth connection, or the hundredth, buys
/// nothing more. A share of one connection's budget would let one person's paste silence the
/// others on the host; no share at all let 100 connections relay 1,000 lines a second.
pub const HOST_LINE_SHARE: u32 = 4;

/// Bytes of large replies (`/who`) one address may pull per second, after [`HOST_REPLY_BURST`].
/// A reply is sent whenever the address's budget is not in debt and its size is charged after,
/// so it is never cut or refused outright: at 1,500 members with the longest names (146 KB a
/// `/who`) that is one answer per 2.2 s after the burst; for a room of 100 ordinary names
/// (about 1 KB) it is more than the line budget allows anyway. 20 connections asking 10 times
/// a second pulled 29 MB/s before.
pub const HOST_REPLY_RATE: u32 = 64 * 1024;

/// Bytes of large replies one address may pull at once: 3-4 `/who` answers of the biggest
/// 1,500-member room, dozens of a usual one.
pub const HOST_REPLY_BURST: u32 = 512 * 1024;

/// The per-address table forgets idle addresses (nothing open, budgets refilled) once it has
/// doubled since its last sweep, and not before it holds this many.
pub const HOSTS_SWEEP_MIN: usize = 64;
/// Days a claim on a name lasts without use before it lapses (`--claim-days`): long enough for
/// a holiday or a parental leave, short enough that a name left behind comes free within a
/// quarter.
pub const DEFAULT_CLAIM_DAYS: u32 = 90;

/// The most `--claim-days` takes (ten years).
pub const MAX_CLAIM_DAYS: u32 = 3_650;

/// Names claimed on the whole server at most. Past it, names are still used but not claimed
/// (the user is told): a flood of new keys must not grow the claims file without end, nor push
/// out the claims people have (an office of 2,000 people with five names each fits). The file
/// is then 721 KiB, encoded and written in 6-10 ms at most once a second (docs/BENCHMARKS.md).
pub const MAX_CLAIMS: usize = 10_000;

/// Wrong passwords a connection may give before it is closed.
pub const PASSWORD_TRIES: u8 = 3;

/// Each wrong password from an address puts that address's next try this much later, so
/// guessing from one address goes at most one try a second, however many connections it opens.
pub const PASSWORD_RETRY_DELAY: Duration = Duration::from_secs(1);

/// Addresses with a password delay kept before the ones that are over are swept out.
pub const PASSWORD_TRIES_SWEEP: usize = 1_024;
