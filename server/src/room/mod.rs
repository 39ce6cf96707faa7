//! The chat: who is here, which rooms there are, what each line does, and who gets which
//! frame.
//!
//! This is the whole of the chat logic, as plain code: the event loop feeds it events
//! (`connect`, `line`, `disconnect`, ...) with a connection id and the time, and it answers by
//! writing frames into an [`Outbox`]. It owns no socket and reads no clock, so unit tests and
//! the fuzzer drive it directly. [`Room`] is the whole chat (the name predates rooms); the
//! rooms in it (`#general`, `#dev`, ...) are [`channel::Channel`]s, and what the room commands
//! do is in `rooms.rs`.
//!
//! Rooms' history is the [`Store`]'s: the room appends each public frame to the store (which
//! writes it to that room's log in the state directory, when there is one) and replays a
//! newcomer's history from the store's ring, so a room's history is held in memory once.
//! [`Room::new`] keeps it in memory only; the server hands in the store it opened
//! ([`Room::with_store`], [`Room::set_store`]).

mod access;
pub mod away;
pub mod channel;
pub mod history;
pub mod leave;
mod logged;
pub mod members;
mod operators;
pub mod oracle;
mod per_host;
mod rooms;
pub mod text;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lanchat_proto::client::{is_blank, is_quit};
use lanchat_proto::{
    name_key, validate_name, ClientMsg, CommandError, ErrCode, HeldName, NameIndex, ServerMsg,
};

pub use crate::clock::Now;
use crate::hosts::{HostKey, HostLimits, Hosts};
use crate::identity::Access;
use crate::limits;
use crate::outbox::{Block, BlockKey, ConnId, Outbox, Serial};
use crate::persist::Store;
use crate::stats::{Audience, Gauges, Refusal, Report, Stats};
use access::{Gate, Who};
use away::AwayLines;
use channel::{ChannelId, Channels, Membership, GENERAL};
use history::History;
use lanchat_proto::bucket::{Level, Shape};
pub use leave::LeaveReason;
use logged::{Budget, NameRefused};
pub use per_host::Peer;
use smallvec::SmallVec;

/// A session's rooms besides `#general`: the first [`INLINE_ROOMS`] in the session itself, so
/// that joining a room or two allocates nothing per connection. (A small heap block per
/// connection, made in the middle of a join storm, pins the storm's freed pages: 400-900 B of
/// resident memory per membership were measured before, docs/BENCHMARKS.md.) No bigger than
/// the `Vec` it replaces.
type RoomList = SmallVec<[Membership; INLINE_ROOMS]>;

/// Rooms besides `#general` a session holds without a heap block of its own.
const INLINE_ROOMS: usize = 2;

/// The history of a room that has had no public message yet.
static NO_HISTORY: History = History::new(0);

/// What the room needs to know of the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct RoomConfig {
    /// Connections (named or not) admitted at once.
    pub max_clients: usize,
    /// Client line limit in bytes; `WHO` lines are packed to fit it.
    pub max_line: usize,
    /// Lines per second per connection; `0` turns flood control off.
    pub rate: f64,
    /// Lines a connection may send at once.
    pub burst: u32,
    /// Public messages kept for newcomers, per room.
    pub history: usize,
    /// Seconds a new connection has to give a name ([`Room::poll_timeout`]).
    pub handshake_timeout_secs: u64,
    /// Rooms that may exist at once, `#general` included.
    pub max_rooms: usize,
    /// Rooms one user may be in at once, `#general` included.
    pub rooms_per_user: usize,
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig {
            max_clients: limits::DEFAULT_MAX_CLIENTS,
            max_line: limits::DEFAULT_MAX_LINE,
            rate: limits::DEFAULT_RATE,
            burst: limits::DEFAULT_BURST,
            history: limits::DEFAULT_HISTORY,
            handshake_timeout_secs: limits::DEFAULT_HANDSHAKE_TIMEOUT_SECS,
            max_rooms: limits::DEFAULT_MAX_ROOMS,
            rooms_per_user: limits::DEFAULT_ROOMS_PER_USER,
        }
    }
}

/// What [`Room::connect`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Admission {
    /// Greeted with `HELLO`; waiting for a name.
    Admitted,
    /// Sent `ERR server-full` and closed.
    Refused,
}

/// The kinds of line that carry a user's text to others.
#[derive(Debug, Clone, Copy)]
enum Relayed {
    Msg,
    Action,
    Priv,
}

/// One connection as the room sees it.
#[derive(Debug)]
struct Session {
    /// `None` until a name is accepted. Shared with the name index when the name is spelled
    /// as its case-fold key ([`NameIndex::insert_name`]): most names are then held once, and
    /// move with the index's keys into one block at rest ([`Room::rest`]).
    name: Option<HeldName>,
    /// Tells this session from earlier ones under the same id (for its handshake deadline),
    /// and names it in the log.
    serial: Serial,
    /// Its slot in `#general`'s member list, while named (everyone named is in `#general`: kept
    /// here, not in `rooms`, so a connection that uses no room allocates nothing for rooms).
    general_slot: u32,
    /// The other rooms it is in, each with its slot there.
    rooms: RoomList,
    /// Its flood-control bucket's level (the shape, `--rate` and `--burst`, is the room's);
    /// `None` when flood control is off.
    bucket: Option<Level>,
    /// Set once a line of its was over a budget (few sessions ever are): apart, so a session
    /// at rest does not carry three times that are `None`.
    flood: Option<Box<Flood>>,
    /// Its key, address, password state, mute (`access.rs`).
    who: Who,
    /// `Some` while away, with the message (empty when none was given).
    away: Option<Box<str>>,
    /// Whether it counts against its address's limits (its key there is its address's,
    /// [`Session::host`], not kept twice).
    counted: Counted,
}

/// Whether a session counts against the per-address limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    /// Trusted, or connected without an address.
    No,
    /// Under its address's key.
    ByAddress,
}

/// A session's lines over a budget: when it was last told so, and its run of drops.
#[derive(Debug, Default)]
struct Flood {
    last_rate_err: Option<Instant>,
    /// When the current run of over-budget lines began ...
    flooding_since: Option<Instant>,
    /// ... and when its latest line was dropped.
    last_drop: Option<Instant>,
}

impl Session {
    /// The address it is counted under (`None`: trusted, or connected without an address).
    fn host(&self) -> Option<HostKey> {
        match self.counted {
            Counted::ByAddress => self.who.ip().map(HostKey::of),
            Counted::No => None,
        }
    }

    /// True when this session may be told `ERR rate-limited` again (at most once per
    /// [`limits::RATE_ERR_INTERVAL`], so a flood does not become a flood of replies); noted.
    fn rate_err_due(&mut self, now: Instant) -> bool {
        let flood = self.flood.get_or_insert_default();
        let due = flood
            .last_rate_err
            .is_none_or(|t| now.saturating_duration_since(t) >= limits::RATE_ERR_INTERVAL);
        if due {
            flood.last_rate_err = Some(now);
        }
        due
    }

    /// Every room it is in with its slot there, `#general` first (none before a name).
    fn memberships(&self) -> impl Iterator<Item = Membership> + '_ {
        let general = self.name.is_some().then_some(Membership {
            channel: GENERAL,
            slot: self.general_slot,
        });
        general.into_iter().chain(self.rooms.iter().copied())
    }

    /// How many rooms it is in, `#general` included.
    fn room_count(&self) -> usize {
        usize::from(self.name.is_some()) + self.rooms.len()
    }

    /// Whether it is in room `ch`.
    fn is_in(&self, ch: ChannelId) -> bool {
        self.memberships().any(|m| m.channel == ch)
    }

    /// It is now in `ch`'s member list at `slot` (entered, or moved there by a leave).
    fn set_slot(&mut self, ch: ChannelId, slot: u32) {
        if ch == GENERAL {
            self.general_slot = slot;
        } else if let Some(m) = self.rooms.iter_mut().find(|m| m.channel == ch) {
            m.slot = slot;
        } else {
            self.rooms.push(Membership { channel: ch, slot });
        }
    }

    /// It leaves room `ch` (not `#general`): its membership, if it was in it.
    fn part(&mut self, ch: ChannelId) -> Option<Membership> {
        let at = self.rooms.iter().position(|m| m.channel == ch)?;
        Some(self.rooms.swap_remove(at))
    }
}

/// The chat: every connection, every room.
#[derive(Debug)]
pub struct Room {
    cfg: RoomConfig,
    /// Indexed by `ConnId`; `None` for ids that are not connected.
    sessions: Vec<Option<Session>>,
    /// Number of `Some` entries in `sessions`.
    count: usize,
    /// Name to its owner, found by any case or look-alike spelling. Invariant: exactly the
    /// named sessions, each once.
    by_name: NameIndex<ConnId>,
    /// The rooms. `#general`'s members are exactly the named connections: the broadcast list
    /// of everything that is about every room a user is in (`NICK`, `LEAVE`, `AWAY`, `BACK`).
    channels: Channels,
    /// Who of `#general` is away, as `WHOAWAY` lines. Invariant: exactly the named sessions
    /// whose `away` is `Some`.
    away: AwayLines,
    /// Handshake deadlines in connect order (so in deadline order): `(deadline, id, serial)`.
    /// Entries of sessions that got a name or left stay until they reach the front.
    deadlines: VecDeque<(Instant, ConnId, Serial)>,
    /// The last serial [`Room::connect`] handed out (the server numbers its connections
    /// itself, [`Room::connect_from`]).
    serial: u64,
    /// Scratch for the frame being built: a broadcast is encoded here once.
    frame: Vec<u8>,
    /// Every room's history (the only copy in memory) and what of it is on disk.
    store: Store,
    /// `ERR server-full <text>`, fixed by `max_clients`.
    full_frame: Vec<u8>,
    /// `BYE <too slow text>`.
    too_slow_frame: Vec<u8>,
    /// Claims, bans, the allowlist, operators, the password (`access.rs`, `operators.rs`).
    access: Access,
    /// Per-address limits ([`Room::connect_from`], `per_host.rs`).
    hosts: Hosts,
    /// What `/stats` and SIGUSR1 report.
    stats: Stats,
}

impl Room {
    /// An empty chat, keeping its history in memory only.
    pub fn new(cfg: RoomConfig) -> Self {
        let store = Store::in_memory(cfg.history);
        Room::with_store(cfg, store)
    }

    /// Keep history in `store` from now on (the server opens it before anyone connects; the
    /// in-memory one it replaces is dropped with what it held). Everything else about the room
    /// (its per-address limits included) stays as it was.
    pub fn set_store(&mut self, store: Store) {
        self.store = store;
        self.open_histories();
    }

    /// Open every room's history in the store (the rooms there are: `#general` when the store
    /// comes) and bound the store to `--max-rooms` rooms' histories.
    fn open_histories(&mut self) {
        let ids: Vec<ChannelId> = self.channels.iter().map(|(id, _)| id).collect();
        for ch in ids {
            let Some(c) = self.channels.get_mut(ch) else {
                continue;
            };
            let history = self.store.open_room(c.name());
            c.set_history(history);
        }
        self.store.limit_rooms(self.cfg.max_rooms);
    }

    /// An empty chat whose history is `store`'s: what it holds for a room is replayed to
    /// whoever joins it, and every public message is appended to it. `store` keeps as many
    /// entries per room as it was opened with (the server opens it with `cfg.history`).
    pub fn with_store(cfg: RoomConfig, store: Store) -> Self {
        let mut full_frame = Vec::new();
        ServerMsg::Err {
            code: ErrCode::ServerFull,
            text: &text::server_full(cfg.max_clients),
        }
        .encode(&mut full_frame);
        let mut too_slow_frame = Vec::new();
        ServerMsg::Bye {
            text: text::BYE_TOO_SLOW,
        }
        .encode(&mut too_slow_frame);
        let channels = Channels::new(cfg.max_line);
        let mut room = Room {
            cfg,
            sessions: Vec::new(),
            count: 0,
            by_name: NameIndex::new(),
            channels,
            away: AwayLines::default(),
            deadlines: VecDeque::new(),
            serial: 0,
            frame: Vec::new(),
            store,
            full_frame,
            too_slow_frame,
            access: Access::default(),
            hosts: Hosts::new(HostLimits::off()),
            stats: Stats::default(),
        };
        room.open_histories();
        room
    }

    /// The configuration in force.
    pub fn config(&self) -> &RoomConfig {
        &self.cfg
    }

    /// Connections the room knows (named or still giving a name).
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when nobody is connected.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Named members (all of them are in `#general`).
    pub fn members(&self) -> usize {
        self.channels.general().len()
    }

    /// True when no further connection may be admitted.
    pub fn is_full(&self) -> bool {
        self.count >= self.cfg.max_clients
    }

    /// The `ERR server-full` line sent to a connection refused for lack of room (encoded once:
    /// refusals come in floods, at a full server).
    pub fn full_frame(&self) -> &[u8] {
        &self.full_frame
    }

    /// The `BYE` said (best effort) to a connection dropped for not reading.
    pub fn too_slow_frame(&self) -> &[u8] {
        &self.too_slow_frame
    }

    /// The name of `id`, once accepted.
    pub fn name_of(&self, id: ConnId) -> Option<&str> {
        name_in(&self.sessions, id)
    }

    /// True when `id` is connected and named.
    pub fn is_named(&self, id: ConnId) -> bool {
        self.name_of(id).is_some()
    }

    /// True when `id` is connected (named or not).
    pub fn contains(&self, id: ConnId) -> bool {
        self.session(id).is_some()
    }

    /// The rooms.
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// The room `room` (with its `#`, any spelling) names, if it exists.
    pub fn channel(&self, room: &str) -> Option<&channel::Channel> {
        self.channels.get(self.channels.find(room)?)
    }

    /// The rooms `id` is in (`#general` among them once it has a name), as lines spell them.
    pub fn rooms_of(&self, id: ConnId) -> impl Iterator<Item = &str> {
        self.session(id)
            .into_iter()
            .flat_map(Session::memberships)
            .filter_map(|m| Some(self.channels.get(m.channel)?.name()))
    }

    /// `#general`'s kept frames.
    pub fn history(&self) -> &History {
        self.history_of(GENERAL)
    }

    /// Room `ch`'s kept frames (none for a room that has had no public message).
    pub fn history_of(&self, ch: ChannelId) -> &History {
        self.channels
            .get(ch)
            .and_then(|c| self.store.ring_of(c.history()?))
            .unwrap_or(&NO_HISTORY)
    }

    /// The history and notes, and their files.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, for the event loop to drive its disk work ([`Store::tick`]).
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    /// The counters, for the loop to add what it sees (bytes, send queues) and to start.
    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    /// Every figure `/stats` gives, at `now` (SIGUSR1 logs it).
    pub fn stats_report(&mut self, now: Instant) -> Report {
        let gauges = Gauges {
            connections: self.count,
            users: self.members(),
            rooms: self.channels.len(),
        };
        self.stats.report(now, gauges)
    }

    fn session(&self, id: ConnId) -> Option<&Session> {
        self.sessions.get(id.0)?.as_ref()
    }

    fn session_mut(&mut self, id: ConnId) -> Option<&mut Session> {
        self.sessions.get_mut(id.0)?.as_mut()
    }

    /// A new connection: it is greeted with `HELLO` and has `--handshake-timeout` to give a
    /// name; or, when the room is full, it is sent `ERR server-full` and closed. Full counts
    /// the room's connections and those the outbox still holds ([`Outbox::held`]): this is the
    /// server's one refusal.
    ///
    /// The room numbers connections admitted this way itself; the server's come through
    /// [`Room::connect_from`], with their address and the server's number.
    pub fn connect(&mut self, id: ConnId, now: Now, out: &mut impl Outbox) -> Admission {
        self.serial += 1;
        self.admit(id, Serial(self.serial), None, now, out)
    }

    /// [`Room::connect`] of a connection numbered `serial`, from `peer` when known.
    fn admit(
        &mut self,
        id: ConnId,
        serial: Serial,
        peer: Option<SocketAddr>,
        now: Now,
        out: &mut impl Outbox,
    ) -> Admission {
        if self.contains(id) {
            // The loop never reuses a live id; if it did, the old session is gone (and must
            // be forgotten before a refusal below closes the id).
            self.disconnect(id, LeaveReason::Disconnected, out);
        }
        if self.count.max(out.held()) >= self.cfg.max_clients {
            self.log_server_full(serial, peer, self.count.max(out.held()));
            self.stats.refused(Refusal::ServerFull);
            out.send(id, &self.full_frame);
            out.close(id);
            return Admission::Refused;
        }
        if self.sessions.len() <= id.0 {
            self.sessions.resize_with(id.0 + 1, || None);
        }
        let bucket = self.line_budget().map(|shape| Level::full(shape, now.mono));
        let mut who = Who::new(now);
        who.peer = peer;
        self.sessions[id.0] = Some(Session {
            name: None,
            serial,
            general_slot: 0,
            rooms: RoomList::new(),
            bucket,
            flood: None,
            who,
            away: None,
            counted: Counted::No,
        });
        self.count += 1;
        self.stats.connected(self.count);
        self.deadlines
            .push_back((now.mono + self.handshake_timeout(), id, serial));
        if self.deadlines.len() > limits::TIMERS_SLACK_FACTOR * self.count + limits::TIMERS_SLACK {
            // Connection churn left mostly deadlines of sessions long named or gone.
            let sessions = &self.sessions;
            self.deadlines
                .retain(|&(_, id, serial)| is_handshaking(sessions, id, serial));
        }
        self.frame.clear();
        ServerMsg::Hello { text: text::HELLO }.encode(&mut self.frame);
        out.send(id, &self.frame);
        Admission::Admitted
    }

    /// One line (without its terminator) from connection `id`.
    pub fn line(&mut self, id: ConnId, raw: &[u8], now: Now, out: &mut impl Outbox) {
        if !self.contains(id) {
            return;
        }
        self.stats.lines_in += 1;
        let utf8 = std::str::from_utf8(raw);
        // Blank in the Unicode sense too (U+3000, vertical tab, ...): ignored, so it must not
        // spend rate budget either.
        if utf8.is_ok_and(is_blank) {
            return;
        }
        // Leaving is never refused: a quit does not spend (or need) rate budget.
        let quitting = utf8.is_ok_and(is_quit);
        if !quitting && !self.admit_line(id, now, out) {
            return;
        }
        if let Some(s) = self.session_mut(id) {
            s.who.last_line = now;
        }
        let Ok(line) = utf8 else {
            self.send_err(id, ErrCode::BadUtf8, text::BAD_UTF8, out);
            return;
        };
        if self.is_named(id) {
            self.command(id, line, now, out);
        } else {
            self.handshake(id, line, now, out);
        }
    }

    /// Connection `id` sent a line longer than the limit; it was discarded.
    pub fn line_too_long(&mut self, id: ConnId, now: Now, out: &mut impl Outbox) {
        if !self.contains(id) {
            return;
        }
        self.stats.lines_in += 1;
        // Each dropped line is counted once, under the reason its sender is told.
        if self.admit_line(id, now, out) {
            self.stats.lines_too_long += 1;
            self.log_line_too_long(id);
            let msg = text::line_too_long(self.cfg.max_line);
            self.send_err(id, ErrCode::LineTooLong, &msg, out);
        }
    }

    /// Connection `id` ended without quitting (the loop closes it); a named user's leaving is
    /// announced with `reason`.
    pub fn disconnect(&mut self, id: ConnId, reason: LeaveReason, out: &mut impl Outbox) {
        self.leave(id, reason, out);
    }

    /// At rest after a burst (the loop calls it before its heap trim): give back what the
    /// burst grew and nothing holds now, so that the trim can return it to the OS: the
    /// handshake deadlines of sessions named since, the member lists' slack and their
    /// encoding (`WHO` lines: every name once more), the frame scratch. The next burst grows
    /// them again. And the names made since the last rest (or let go of) move into one block
    /// with the others ([`NameIndex::repack`]): each was made amid a join's short-lived
    /// frames, and one name on a page keeps the whole page resident after they are freed.
    pub fn rest(&mut self) {
        self.rest_while_sending();
        let sessions = &mut self.sessions;
        self.by_name.repack(|&id, key| {
            let session = sessions.get_mut(id.0).and_then(Option::as_mut);
            if let Some(name) = session.and_then(|s| s.name.as_mut()) {
                // Only a name that is its key shares it; others are strings of their own.
                if **name == **key {
                    *name = key.clone();
                }
            }
        });
    }

    /// [`Room::rest`] while connections still have output pending: all of it but the names'
    /// repacking, which waits for the quiet (the frames the names were made among are not
    /// all freed yet, and the copy is work a busy loop need not do every trim).
    pub fn rest_while_sending(&mut self) {
        let sessions = &self.sessions;
        self.deadlines
            .retain(|&(_, id, serial)| is_handshaking(sessions, id, serial));
        self.deadlines.shrink_to_fit();
        self.frame = Vec::new();
        self.channels.shrink();
    }

    /// How long a connection has to give a name.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.cfg.handshake_timeout_secs)
    }

    /// When the room next needs [`Room::handle_timeout`]: the earliest handshake deadline of a
    /// connection that has no name yet (as quinn-proto's `poll_timeout`; the loop sleeps no
    /// longer than this).
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let tries = self.access.tries.next_due();
        while let Some(&(at, id, serial)) = self.deadlines.front() {
            if is_handshaking(&self.sessions, id, serial) {
                return Some(tries.map_or(at, |t| t.min(at)));
            }
            self.deadlines.pop_front();
        }
        tries
    }

    /// Time has come to `now`: every connection whose handshake deadline has passed without a
    /// name gets `ERR handshake-timeout` and is closed.
    pub fn handle_timeout(&mut self, now: Now, out: &mut impl Outbox) {
        self.password_turns(now, out);
        while let Some(&(at, id, serial)) = self.deadlines.front() {
            if at > now.mono {
                return;
            }
            self.deadlines.pop_front();
            if is_handshaking(&self.sessions, id, serial) {
                self.expire_handshake(id, out);
            }
        }
    }

    /// The handshake deadline of `id` passed: if it still has no name it gets
    /// `ERR handshake-timeout` and is closed. Returns whether that happened.
    pub fn expire_handshake(&mut self, id: ConnId, out: &mut impl Outbox) -> bool {
        if !self.contains(id) || self.is_named(id) {
            return false;
        }
        self.log_handshake_timeout(id);
        self.stats.refused(Refusal::Handshake);
        let msg = text::handshake_timeout(self.cfg.handshake_timeout_secs);
        self.send_err(id, ErrCode::HandshakeTimeout, &msg, out);
        self.remove(id);
        out.close(id);
        true
    }

    /// The server is stopping: everyone gets `BYE server shutting down` and is closed.
    pub fn shutdown(&mut self, out: &mut impl Outbox) {
        self.frame.clear();
        ServerMsg::Bye {
            text: text::BYE_SHUTDOWN,
        }
        .encode(&mut self.frame);
        for (i, s) in self.sessions.iter_mut().enumerate() {
            if let Some(s) = s.take() {
                if let (Some(name), Some(fp)) = (&s.name, s.who.key()) {
                    let last = s.who.last_line.unix_ms;
                    self.access.claims.let_go(name, fp, last);
                }
                out.send(ConnId(i), &self.frame);
                out.close(ConnId(i));
            }
        }
        self.count = 0;
        self.by_name.clear();
        for (_, c) in self.channels.iter() {
            if let Some(history) = c.history().filter(|_| c.kind() == channel::Kind::Room) {
                self.store.close_room(history);
            }
        }
        self.channels.clear();
        self.away = AwayLines::default();
        self.deadlines.clear();
        self.hosts.forget_connections();
    }

    /// The shape of every connection's flood-control bucket (`--rate`, `--burst`), kept here
    /// once rather than in each; `None` when flood control is off.
    fn line_budget(&self) -> Option<Shape> {
        (self.cfg.rate > 0.0).then(|| Shape::new(self.cfg.rate, self.cfg.burst))
    }

    /// Flood control: true if the line may be handled.
    fn admit_line(&mut self, id: ConnId, now: Now, out: &mut impl Outbox) -> bool {
        let shape = self.line_budget();
        let Some(s) = self.session_mut(id) else {
            return false;
        };
        let (Some(bucket), Some(shape)) = (s.bucket.as_mut(), shape) else {
            return true;
        };
        if bucket.take(shape, now.mono) {
            return self.admit_host_line(id, now, out);
        }
        let flood = s.flood.get_or_insert_default();
        // A run of drops ends once the sender has been quiet (no drops) for a while.
        let quiet = flood
            .last_drop
            .is_some_and(|t| now.mono.saturating_duration_since(t) >= limits::FLOOD_RUN_GAP);
        if quiet {
            flood.flooding_since = None;
        }
        flood.last_drop = Some(now.mono);
        let since = *flood.flooding_since.get_or_insert(now.mono);
        let kick = now.mono.saturating_duration_since(since) >= limits::FLOOD_KICK_AFTER;
        let err_due = !kick && s.rate_err_due(now.mono);
        self.stats.lines_rate_limited += 1;
        if kick {
            self.kick(id, LeaveReason::Flooding, text::BYE_FLOODING, out);
            return false;
        }
        if err_due {
            self.log_rate_limited(id, Budget::Own);
            let msg = text::rate_limited(self.cfg.rate, self.cfg.burst);
            self.send_err(id, ErrCode::RateLimited, &msg, out);
        }
        false
    }

    /// A line from a connection that has no name yet: it is the name (or a quit), unless it
    /// is the password's business ([`Room::gate`]).
    fn handshake(&mut self, id: ConnId, line: &str, now: Now, out: &mut impl Outbox) {
        if is_quit(line) {
            self.quit(id, None, out);
            return;
        }
        if self.gate(id, line, now, out) == Gate::Handled {
            return;
        }
        let name = line.trim();
        let key = match name_key(name) {
            Ok(key) => key,
            Err(e) => {
                self.refuse_name(id, name, NameRefused::Invalid(&e));
                self.send_err(id, ErrCode::NameInvalid, &e.to_string(), out);
                return;
            }
        };
        if !self.may_take(id, name, &key, now, out) {
            return;
        }
        let Some(held) = self.by_name.insert_name(name, key.clone(), id) else {
            self.refuse_name(id, name, NameRefused::Taken);
            self.send_err(id, ErrCode::NameTaken, &text::name_taken(name), out);
            return;
        };
        if let Some(s) = self.session_mut(id) {
            s.name = Some(held);
        }
        self.enter(id, GENERAL);
        self.stats.named(self.members());
        self.log_join(id);

        self.frame.clear();
        ServerMsg::Welcome {
            name,
            text: &text::welcome(name),
        }
        .encode(&mut self.frame);
        // So that a client cuts long lines to what this server takes. Only when it is not the
        // default: a version-1 client that reads the welcome strictly never sees it unless
        // its long lines would have been refused anyway.
        if self.cfg.max_line != lanchat_proto::DEFAULT_MAX_LINE {
            ServerMsg::Limit {
                name: lanchat_proto::LIMIT_MAX_LINE,
                value: self.cfg.max_line as u64,
            }
            .encode(&mut self.frame);
        }
        out.send(id, &self.frame);
        // Its claim (and a mute on it) right after the welcome, so the client shows the news
        // with it.
        self.took_name(id, None, name, key, now, out);
        self.welcome_to(id, GENERAL, now, out);
    }

    /// What a newcomer to room `ch` gets after its first line (`WELCOME`, `ROOM`): the history
    /// (and in `#general`, the notes kept for it) and the member list, whose full lines are the
    /// same for everyone who joins now and go as shared blocks; and what the others there get:
    /// `JOIN`.
    fn welcome_to(&mut self, id: ConnId, ch: ChannelId, now: Now, out: &mut impl Outbox) {
        let Some(c) = self.channels.get(ch) else {
            return;
        };
        let history = self.history_of(ch);
        let key = BlockKey {
            block: Block::History,
            owner: c.serial(),
            version: history.version(),
        };
        out.send_block(id, key, &mut |buf| history.encode(buf));
        // Notes kept for the owner of the name while they were away, right after the history.
        if ch == GENERAL {
            if let Some(name) = name_in(&self.sessions, id).map(str::to_owned) {
                self.deliver_notes(id, &name, now, out);
            }
        }
        self.send_members(id, ch, out);

        let (Some(c), Some(name)) = (self.channels.get(ch), name_in(&self.sessions, id)) else {
            return;
        };
        self.frame.clear();
        ServerMsg::Join {
            room: c.field(),
            name,
        }
        .encode(&mut self.frame);
        out.broadcast(c.members(), Some(id), &self.frame);
    }

    /// `line` parsed, or `None` when it is no command (`id` has been told why).
    fn parse<'l>(
        &mut self,
        id: ConnId,
        line: &'l str,
        out: &mut impl Outbox,
    ) -> Option<ClientMsg<'l>> {
        match ClientMsg::parse(line) {
            Ok(msg) => Some(msg),
            Err(CommandError::Unknown(word)) => {
                let msg = text::unknown_command(word);
                self.send_err(id, ErrCode::UnknownCommand, &msg, out);
                None
            }
            Err(e @ CommandError::Usage(_)) => {
                self.send_err(id, ErrCode::BadUsage, &e.to_string(), out);
                None
            }
        }
    }

    /// A line from a named connection.
    fn command(&mut self, id: ConnId, line: &str, now: Now, out: &mut impl Outbox) {
        let Some(msg) = self.parse(id, line, out) else {
            return;
        };
        match msg {
            // What a muted member says goes to nobody (operators excepted, below).
            ClientMsg::Me(_)
            | ClientMsg::Say(_)
            | ClientMsg::Nick(_)
            | ClientMsg::Away(Some(_))
                if self.refuse_muted(id, now, out) => {}
            // A muted member leaves without a word to the others.
            ClientMsg::Quit(message) if self.is_muted(id, now) && message.is_some() => {
                self.quit(id, None, out);
            }
            ClientMsg::Quit(message) => self.quit(id, message, out),
            ClientMsg::Away(message) => self.go_away(id, message, out),
            ClientMsg::Back => self.come_back(id, out),
            // A line without a room is about #general.
            ClientMsg::Who | ClientMsg::Me(_) | ClientMsg::Say(_) | ClientMsg::Topic(_) => {
                self.in_channel(id, GENERAL, msg, now, out);
            }
            ClientMsg::Join(room) => self.join(id, room, now, out),
            ClientMsg::Part(room) => self.part(id, room, out),
            ClientMsg::In { room, line } => self.in_room(id, room, line, now, out),
            ClientMsg::Rooms => self.list_rooms(id, out),
            ClientMsg::Help => {
                self.frame.clear();
                for text in text::HELP {
                    ServerMsg::Info { text }.encode(&mut self.frame);
                }
                ServerMsg::Info {
                    text: text::HELP_WHOIS,
                }
                .encode(&mut self.frame);
                if self.is_operator(id) {
                    for text in text::help_operators() {
                        ServerMsg::Info { text: &text }.encode(&mut self.frame);
                    }
                }
                out.send(id, &self.frame);
            }
            ClientMsg::Stats => self.send_stats(id, now, out),
            ClientMsg::Msg { to, text } => {
                let Some(&target) = self.by_name.get(to) else {
                    // A claimed name's owner is away: the message waits for them.
                    if !self.keep_note(id, to, text, now, out) {
                        self.send_err(id, ErrCode::NoSuchUser, &text::no_such_user(to), out);
                    }
                    return;
                };
                // A muted member may still write to the operators (to ask why).
                if !self.is_operator(target) && self.refuse_muted(id, now, out) {
                    return;
                }
                self.encode_from(id, None, Relayed::Priv, text);
                self.stats.messages_in += 1;
                self.stats.messages_out += 1;
                out.send(target, &self.frame);
                self.tell_away(id, target, out);
            }
            ClientMsg::Nick(new) => self.rename(id, new, now, out),
            ClientMsg::Whois(name) => self.whois(id, name, now, out),
            ClientMsg::Op(cmd) => self.operator(id, cmd, now, out),
        }
    }

    /// Send `id` the member list of room `ch` (`WHO` lines within the line limit, then
    /// `WHOEND`): the full lines as a shared block, the rest as its own frame. `#general`'s
    /// starts with its `WHOAWAY` lines: away is about a user, not a room, and everyone is in
    /// `#general`, so a room's list does not repeat them. Returns the bytes sent.
    fn send_members(&mut self, id: ConnId, ch: ChannelId, out: &mut impl Outbox) -> usize {
        let mut away_bytes = 0;
        if ch == GENERAL && !self.away.is_empty() {
            // Who is away comes first: a member list is its WHOAWAY lines, its WHO lines and
            // WHOEND, and the full WHO lines go as a block shared by many newcomers.
            let sessions = &self.sessions;
            let frame = self.away.frame(|m| {
                let s = sessions.get(m.0)?.as_ref()?;
                Some((s.name.as_deref()?, s.away.as_deref()?))
            });
            away_bytes = frame.len();
            out.send(id, frame);
        }
        let sessions = &self.sessions;
        let Some(c) = self.channels.get_mut(ch) else {
            return away_bytes;
        };
        c.refresh_lines(|m| name_in(sessions, m));
        let (full, version) = c.lines().full();
        if !full.is_empty() {
            let key = BlockKey {
                block: Block::Members,
                owner: c.serial(),
                version,
            };
            out.send_block(id, key, &mut |buf| buf.extend_from_slice(full));
        }
        self.frame.clear();
        c.lines().encode_tail(&mut self.frame);
        out.send(id, &self.frame);
        away_bytes + full.len() + self.frame.len()
    }

    /// `/stats`: every figure as a `STATS <key> <value>` line, then `STATSEND`, to anyone on a
    /// server without operators, and to operators only on one with them.
    fn send_stats(&mut self, id: ConnId, now: Now, out: &mut impl Outbox) {
        let has_operators = self
            .access()
            .ops
            .as_ref()
            .is_some_and(|ops| !ops.is_empty());
        match Audience::of(has_operators) {
            Audience::Everyone => {}
            Audience::Operators if self.is_operator(id) => {}
            Audience::Operators => {
                let msg = text::STATS_FOR_OPERATORS;
                self.send_err(id, ErrCode::NotOperator, msg, out);
                return;
            }
        }
        let report = self.stats_report(now.mono);
        self.frame.clear();
        for (key, value) in report.figures() {
            let value = value.to_string();
            ServerMsg::Stats {
                key: key.as_str(),
                value: &value,
            }
            .encode(&mut self.frame);
        }
        ServerMsg::StatsEnd.encode(&mut self.frame);
        out.send(id, &self.frame);
    }

    /// Encode into `self.frame` a line of `text` relayed from `id` (named by its name) in room
    /// `ch` (`None`: a private message, about no room).
    fn encode_from(&mut self, id: ConnId, ch: Option<ChannelId>, kind: Relayed, text: &str) {
        self.frame.clear();
        let from = name_in(&self.sessions, id).unwrap_or_default();
        let room = ch.and_then(|ch| self.channels.get(ch)?.field());
        let msg = match kind {
            Relayed::Msg => ServerMsg::Msg { room, from, text },
            Relayed::Action => ServerMsg::Action { room, from, text },
            Relayed::Priv => ServerMsg::Priv { from, text },
        };
        msg.encode(&mut self.frame);
    }

    fn rename(&mut self, id: ConnId, new: &str, now: Now, out: &mut impl Outbox) {
        let Some(old) = self.name_of(id).map(str::to_owned) else {
            return;
        };
        let key = match name_key(new) {
            Ok(key) => key,
            Err(e) => {
                self.refuse_name(id, new, NameRefused::Invalid(&e));
                self.send_err(id, ErrCode::NameInvalid, &e.to_string(), out);
                return;
            }
        };
        if new == old {
            self.frame.clear();
            ServerMsg::Info {
                text: &text::already_named(&old),
            }
            .encode(&mut self.frame);
            out.send(id, &self.frame);
            return;
        }
        if self.by_name.holders(&key).any(|&owner| owner != id) {
            self.refuse_name(id, new, NameRefused::Taken);
            self.send_err(id, ErrCode::NameTaken, &text::name_taken(new), out);
            return;
        }
        if !self.may_take(id, new, &key, now, out) {
            return;
        }
        self.by_name.remove(&old);
        let held = self.by_name.insert_name(new, key.clone(), id);
        let mut rooms = Vec::new();
        if let Some(s) = self.session_mut(id) {
            s.name = Some(held.unwrap_or_else(|| new.into()));
            rooms.extend(s.memberships().map(|m| m.channel));
        }
        for ch in rooms {
            if let Some(c) = self.channels.get_mut(ch) {
                c.renamed();
            }
        }
        self.away.touch(id);
        self.log_rename(id, &old, new);
        self.frame.clear();
        ServerMsg::Nick { old: &old, new }.encode(&mut self.frame);
        self.broadcast_everyone(None, out);
        self.took_name(id, Some(&old), new, key, now, out);
    }

    /// `<quit>` or `/quit <message>`: `BYE`, then `LEAVE <name> quit [<message>]` to the
    /// others, then close.
    fn quit(&mut self, id: ConnId, message: Option<&str>, out: &mut impl Outbox) {
        let message = message.unwrap_or_default();
        self.kick_saying(id, LeaveReason::Quit, text::BYE_QUIT, message, out);
    }

    /// `/away [<message>]`: `AWAY <name> [<message>]` to everyone who shares a room with `id`
    /// (everyone: all are in `#general`), `id` included (so its client knows it took); `/away`
    /// alone from someone away is `/back`.
    fn go_away(&mut self, id: ConnId, message: Option<&str>, out: &mut impl Outbox) {
        let message = away::cut(message.unwrap_or_default(), limits::MAX_AWAY_CHARS);
        let Some(s) = self.session_mut(id) else {
            return;
        };
        if s.away.is_some() && message.is_empty() {
            self.come_back(id, out);
            return;
        }
        s.away = Some(message.into());
        self.away.set(id);
        let Some(name) = name_in(&self.sessions, id) else {
            return;
        };
        self.frame.clear();
        ServerMsg::Away {
            name,
            text: message,
        }
        .encode(&mut self.frame);
        self.broadcast_everyone(None, out);
    }

    /// `/back`: `BACK <name>` to everyone, `id` included; `INFO` if it was not away.
    fn come_back(&mut self, id: ConnId, out: &mut impl Outbox) {
        let Some(s) = self.session_mut(id) else {
            return;
        };
        if s.away.take().is_none() {
            self.frame.clear();
            ServerMsg::Info {
                text: text::NOT_AWAY,
            }
            .encode(&mut self.frame);
            out.send(id, &self.frame);
            return;
        }
        self.away.clear(id);
        let Some(name) = name_in(&self.sessions, id) else {
            return;
        };
        self.frame.clear();
        ServerMsg::Back { name }.encode(&mut self.frame);
        self.broadcast_everyone(None, out);
    }

    /// After a private message from `from` to `to`: if `to` is away, `from` is told so, with
    /// the away message, as `INFO`.
    fn tell_away(&mut self, from: ConnId, to: ConnId, out: &mut impl Outbox) {
        let Some(s) = self.session(to) else {
            return;
        };
        let (Some(name), Some(message)) = (s.name.as_deref(), s.away.as_deref()) else {
            return;
        };
        let reply = text::away_reply(name, message);
        self.frame.clear();
        ServerMsg::Info { text: &reply }.encode(&mut self.frame);
        out.send(from, &self.frame);
    }

    /// `BYE <why>`, `LEAVE <name> <reason>` to the others, close: for dropping `id` for
    /// misbehaving.
    fn kick(&mut self, id: ConnId, reason: LeaveReason, why: &str, out: &mut impl Outbox) {
        self.kick_saying(id, reason, why, "", out);
    }

    /// [`Room::kick`], the others told the words `id` left with (may be empty).
    fn kick_saying(
        &mut self,
        id: ConnId,
        reason: LeaveReason,
        why: &str,
        message: &str,
        out: &mut impl Outbox,
    ) {
        self.frame.clear();
        ServerMsg::Bye { text: why }.encode(&mut self.frame);
        out.send(id, &self.frame);
        self.leave_saying(id, reason, message, out);
        out.close(id);
    }

    /// Forget `id`; if it had a name, tell the others it left and why.
    fn leave(&mut self, id: ConnId, reason: LeaveReason, out: &mut impl Outbox) {
        self.leave_saying(id, reason, "", out);
    }

    /// [`Room::leave`], with the words the user left with (`/quit <message>`; may be empty).
    /// The `LEAVE` is the version 1 one, about no room: everyone who shared any room with `id`
    /// gets it once.
    fn leave_saying(
        &mut self,
        id: ConnId,
        reason: LeaveReason,
        message: &str,
        out: &mut impl Outbox,
    ) {
        let Some(session) = self.remove(id) else {
            return;
        };
        self.stats.left(reason);
        self.log_leave(&session, reason);
        let Some(name) = session.name else {
            return;
        };
        self.frame.clear();
        ServerMsg::Leave {
            room: None,
            name: &name,
            reason: reason.word(),
            text: message,
        }
        .encode(&mut self.frame);
        self.broadcast_everyone(None, out);
    }

    /// Forget `id`: its name, and its place in every room it was in.
    fn remove(&mut self, id: ConnId) -> Option<Session> {
        let session = self.sessions.get_mut(id.0)?.take()?;
        self.count -= 1;
        self.let_go(&session);
        if session.away.is_some() {
            self.away.clear(id);
        }
        if let Some(host) = session.host() {
            self.hosts.closed(host);
        }
        if let Some(name) = &session.name {
            self.by_name.remove(name);
        }
        for m in session.memberships() {
            self.drop_membership(m);
        }
        Some(session)
    }

    /// Send the frame in `self.frame` to every named connection but `except`: everyone who
    /// shares a room with anyone, since everyone is in `#general`. So a `NICK` or `LEAVE`,
    /// which is about every room its user is in, reaches each of them once.
    fn broadcast_everyone(&self, except: Option<ConnId>, out: &mut impl Outbox) {
        out.broadcast(self.channels.general().members(), except, &self.frame);
    }

    fn send_err(&mut self, id: ConnId, code: ErrCode<'_>, text: &str, out: &mut impl Outbox) {
        self.frame.clear();
        ServerMsg::Err { code, text }.encode(&mut self.frame);
        out.send(id, &self.frame);
    }

    /// Check the room's invariants (for tests and the fuzzer).
    ///
    /// # Errors
    /// A description of the first invariant found broken.
    pub fn check_invariants(&self) -> Result<(), String> {
        let live = self.sessions.iter().filter(|s| s.is_some()).count();
        if live != self.count {
            return Err(format!("count {} but {live} sessions", self.count));
        }
        if self.count > self.cfg.max_clients {
            return Err(format!(
                "{} sessions over max {}",
                self.count, self.cfg.max_clients
            ));
        }
        let named: Vec<_> = self
            .sessions
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.as_ref()?)))
            .filter(|(_, s)| s.name.is_some())
            .collect();
        if named.len() != self.members() || named.len() != self.by_name.len() {
            return Err(format!(
                "{} named sessions, {} in #general, {} in name index",
                named.len(),
                self.members(),
                self.by_name.len()
            ));
        }
        for &(i, s) in &named {
            let name = s.name.as_deref().unwrap_or_default();
            if validate_name(name).is_err() {
                return Err(format!("invalid name {name:?} accepted"));
            }
            if self.by_name.get(name) != Some(&ConnId(i)) {
                return Err(format!("name {name:?} not indexed to #{i}"));
            }
            if s.rooms.iter().any(|m| m.channel == GENERAL) {
                return Err(format!("{name} has #general among its other rooms"));
            }
            if s.room_count() > self.cfg.rooms_per_user {
                return Err(format!("{name} is in {} rooms", s.room_count()));
            }
            for (k, m) in s.memberships().enumerate() {
                if s.memberships().take(k).any(|o| o.channel == m.channel) {
                    return Err(format!("{name} is in a room twice"));
                }
                let holds = self
                    .channels
                    .get(m.channel)
                    .and_then(|c| c.members().get(m.slot as usize));
                if holds != Some(&ConnId(i)) {
                    return Err(format!("{name}'s membership {m:?} points elsewhere"));
                }
            }
        }
        if self
            .sessions
            .iter()
            .flatten()
            .any(|s| s.name.is_none() && !s.rooms.is_empty())
        {
            return Err("a session without a name is in a room".into());
        }
        let (kept, unused) = self.store.history_counts();
        if kept - unused != self.channels.len() {
            return Err(format!(
                "{} rooms but {} histories in use",
                self.channels.len(),
                kept - unused
            ));
        }
        if kept > self.cfg.max_rooms {
            return Err(format!(
                "{kept} histories kept, over {}",
                self.cfg.max_rooms
            ));
        }
        for (_, c) in self.channels.iter() {
            if c.history().and_then(|h| self.store.ring_of(h)).is_none() {
                return Err(format!("{} has no history in the store", c.name()));
            }
        }
        if self.channels.len() > self.cfg.max_rooms {
            return Err(format!(
                "{} rooms over max {}",
                self.channels.len(),
                self.cfg.max_rooms
            ));
        }
        self.channels.check(
            |id| self.name_of(id),
            |id, m| {
                self.session(id)
                    .is_some_and(|s| s.memberships().any(|o| o == m))
            },
        )?;
        let mut away: Vec<ConnId> = named
            .iter()
            .filter(|(_, s)| s.away.is_some())
            .map(|&(i, _)| ConnId(i))
            .collect();
        away.sort();
        let mut listed = self.away.ids().to_vec();
        listed.sort();
        if listed != away {
            return Err(format!("away list {listed:?}, away members {away:?}"));
        }
        self.check_hosts()?;
        let waiting = self.sessions.iter().flatten().filter(|s| s.name.is_none());
        for s in waiting {
            if !self
                .deadlines
                .iter()
                .any(|&(_, _, serial)| serial == s.serial)
            {
                return Err(format!("session {} has no handshake deadline", s.serial));
            }
        }
        Ok(())
    }
}

/// The name of `id`, once accepted (a function of the sessions alone, so the other fields of
/// the room can be borrowed beside it).
fn name_in(sessions: &[Option<Session>], id: ConnId) -> Option<&str> {
    sessions.get(id.0)?.as_ref()?.name.as_deref()
}

/// `id` is still the session `serial` and has no name yet.
fn is_handshaking(sessions: &[Option<Session>], id: ConnId, serial: Serial) -> bool {
    sessions
        .get(id.0)
        .and_then(Option::as_ref)
        .is_some_and(|s| s.serial == serial && s.name.is_none())
}

#[cfg(test)]
mod identity_tests;
#[cfg(test)]
mod tests;
