//! What the server counts about itself, for `/stats` (to a client, as `STATS` lines) and
//! SIGUSR1 (to the log): how long it has been up, connections and users now and at their peak,
//! traffic since start, why connections were dropped or refused, the send-queue high-water
//! mark, and resident memory.
//!
//! Counting is a plain add to a field of [`Stats`] where the event happens (the room counts
//! what it decides, the loop the bytes it reads and writes), with no clock read, no lock and no
//! allocation: on the hot path that is one add per line, per relayed message, per read and per
//! write, which `make load` cannot tell from nothing (docs/BENCHMARKS.md, "What counting
//! costs"). What is true *now* (connections, users, rooms) is not kept here but asked of the
//! room when a report is made ([`Gauges`]); memory is read from the OS then, and kept for
//! [`MEMORY_FRESH`] so that many `/stats` cannot make the server read `/proc` in a loop.

use std::fmt;
use std::time::{Duration, Instant};

use lanchat_proto::{StatKey, StatValue};

use crate::memory::Resident;
use crate::room::LeaveReason;

/// How long one reading of the server's memory answers every `/stats`.
pub const MEMORY_FRESH: Duration = Duration::from_secs(1);

/// Who may ask for `/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Anyone with a name: a server without operators (every server, so far).
    Everyone,
    /// Operators only, once a server has them; others get an `ERR`. Not used yet: the place
    /// where identity's operators plug in ([`crate::Room`]'s `/stats` asks [`AUDIENCE`]).
    Operators,
}

/// Who may ask for `/stats` on this server.
pub const AUDIENCE: Audience = Audience::Everyone;

/// Why a connection (or a name) was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `ERR server-full`.
    ServerFull,
    /// `ERR too-many-connections`: the per-address limits.
    PerHost,
    /// `ERR name-taken` or `ERR name-invalid`, for a first name or a rename.
    Name,
    /// `ERR handshake-timeout`: no name in time.
    Handshake,
}

impl Refusal {
    const COUNT: usize = 4;
}

/// What only the room knows at the moment a report is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gauges {
    /// Connections, named or still giving a name.
    pub connections: usize,
    /// Named users.
    pub users: usize,
    /// Rooms.
    pub rooms: usize,
}

/// The counters.
#[derive(Debug)]
pub struct Stats {
    /// When the server started; `None` until the loop says (uptime 0).
    started: Option<Instant>,
    connections_peak: usize,
    users_peak: usize,
    /// Lines received from clients.
    pub lines_in: u64,
    /// Messages received (public, `/me`, private).
    pub messages_in: u64,
    /// Messages delivered, one per recipient.
    pub messages_out: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Connections that ended, by [`LeaveReason`] (its discriminant).
    left: [u64; LeaveReason::ALL.len()],
    /// Refusals by [`Refusal`] (its discriminant).
    refused: [u64; Refusal::COUNT],
    /// Lines dropped by flood control.
    pub lines_rate_limited: u64,
    /// Lines dropped for being too long.
    pub lines_too_long: u64,
    sendq_peak: usize,
    /// Reads the server's memory: [`crate::memory::resident`] in the server, nothing (unknown)
    /// by default, so a room in a unit test reads no file.
    probe: fn() -> Resident,
    /// The last reading and when it was made.
    memory: Option<(Instant, Resident)>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: None,
            connections_peak: 0,
            users_peak: 0,
            lines_in: 0,
            messages_in: 0,
            messages_out: 0,
            bytes_in: 0,
            bytes_out: 0,
            left: [0; LeaveReason::ALL.len()],
            refused: [0; Refusal::COUNT],
            lines_rate_limited: 0,
            lines_too_long: 0,
            sendq_peak: 0,
            probe: Resident::default,
            memory: None,
        }
    }
}

impl Stats {
    /// The server starts at `now`, reading its memory with `probe`.
    pub fn start(&mut self, now: Instant, probe: fn() -> Resident) {
        self.started = Some(now);
        self.probe = probe;
    }

    /// There are `connections` now (one was just admitted).
    pub fn connected(&mut self, connections: usize) {
        self.connections_peak = self.connections_peak.max(connections);
    }

    /// There are `users` named users now (one just got a name).
    pub fn named(&mut self, users: usize) {
        self.users_peak = self.users_peak.max(users);
    }

    /// A connection the room knew ended, for `why`.
    pub fn left(&mut self, why: LeaveReason) {
        self.left[why as usize] += 1;
    }

    /// Something was refused.
    pub fn refused(&mut self, why: Refusal) {
        self.refused[why as usize] += 1;
    }

    /// A connection holds `bytes` of unsent output (the loop says so before each write).
    #[inline]
    pub fn queued(&mut self, bytes: usize) {
        self.sendq_peak = self.sendq_peak.max(bytes);
    }

    /// Every figure at `now`, in the order [`StatKey::ALL`] has them.
    pub fn report(&mut self, now: Instant, gauges: Gauges) -> Report {
        let memory = self.memory(now);
        let uptime = self
            .started
            .map_or(0, |t| now.saturating_duration_since(t).as_secs());
        let n = |x: usize| StatValue::Number(x as u64);
        let figures = StatKey::ALL.map(|key| {
            let value = match key {
                StatKey::Uptime => StatValue::Number(uptime),
                StatKey::Connections => n(gauges.connections),
                StatKey::ConnectionsPeak => n(self.connections_peak.max(gauges.connections)),
                StatKey::Users => n(gauges.users),
                StatKey::UsersPeak => n(self.users_peak.max(gauges.users)),
                StatKey::Rooms => n(gauges.rooms),
                StatKey::LinesIn => self.lines_in.into(),
                StatKey::MessagesIn => self.messages_in.into(),
                StatKey::MessagesOut => self.messages_out.into(),
                StatKey::BytesIn => self.bytes_in.into(),
                StatKey::BytesOut => self.bytes_out.into(),
                StatKey::DroppedTooSlow => self.left[LeaveReason::TooSlow as usize].into(),
                StatKey::DroppedFlooding => self.left[LeaveReason::Flooding as usize].into(),
                StatKey::DroppedTimeout => self.left[LeaveReason::Timeout as usize].into(),
                StatKey::LeftQuit => self.left[LeaveReason::Quit as usize].into(),
                StatKey::LeftDisconnected => self.left[LeaveReason::Disconnected as usize].into(),
                StatKey::RefusedServerFull => self.refused[Refusal::ServerFull as usize].into(),
                StatKey::RefusedPerHost => self.refused[Refusal::PerHost as usize].into(),
                StatKey::RefusedName => self.refused[Refusal::Name as usize].into(),
                StatKey::RefusedHandshake => self.refused[Refusal::Handshake as usize].into(),
                StatKey::LinesRateLimited => self.lines_rate_limited.into(),
                StatKey::LinesTooLong => self.lines_too_long.into(),
                StatKey::SendqPeak => n(self.sendq_peak),
                StatKey::Rss => memory.now.into(),
                // The kernel's high-water mark lags its current figure a little: the peak is
                // never below what is resident now.
                StatKey::RssPeak => memory.peak.max(memory.now).into(),
            };
            (key, value)
        });
        Report(figures)
    }

    /// The server's memory, read at most once per [`MEMORY_FRESH`].
    fn memory(&mut self, now: Instant) -> Resident {
        match self.memory {
            Some((at, r)) if now.saturating_duration_since(at) < MEMORY_FRESH => r,
            _ => {
                let r = (self.probe)();
                self.memory = Some((now, r));
                r
            }
        }
    }
}

/// Every figure, in order: sent as `STATS` lines, or logged as one line of `key=value` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report([(StatKey, StatValue); StatKey::ALL.len()]);

impl Report {
    /// The figures, in [`StatKey::ALL`]'s order.
    pub fn figures(&self) -> &[(StatKey, StatValue)] {
        &self.0
    }

    /// The value of `key`.
    pub fn get(&self, key: StatKey) -> StatValue {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(StatValue::Unknown, |(_, v)| *v)
    }
}

/// `uptime=3723 connections=12 ...`: the log's form, with the wire's keys and values.
impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{key}={value}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_memory() -> Resident {
        Resident {
            now: Some(5 << 20),
            peak: Some(4 << 20),
        }
    }

    #[test]
    fn counts_peaks_and_reasons_land_under_their_keys() {
        let t0 = Instant::now();
        let mut s = Stats::default();
        s.start(t0, fake_memory);
        s.connected(3);
        s.connected(7);
        s.connected(2);
        s.named(4);
        s.left(LeaveReason::TooSlow);
        s.left(LeaveReason::TooSlow);
        s.left(LeaveReason::Flooding);
        s.left(LeaveReason::Quit);
        s.refused(Refusal::PerHost);
        s.refused(Refusal::Name);
        s.refused(Refusal::Name);
        s.queued(100);
        s.queued(4096);
        s.queued(10);
        s.bytes_in = 11;
        s.messages_out = 30;
        let gauges = Gauges {
            connections: 2,
            users: 5,
            rooms: 1,
        };
        let r = s.report(t0 + Duration::from_millis(3_999), gauges);
        let want = [
            (StatKey::Uptime, 3),
            (StatKey::Connections, 2),
            (StatKey::ConnectionsPeak, 7),
            (StatKey::Users, 5),
            (StatKey::UsersPeak, 5),
            (StatKey::Rooms, 1),
            (StatKey::BytesIn, 11),
            (StatKey::MessagesOut, 30),
            (StatKey::DroppedTooSlow, 2),
            (StatKey::DroppedFlooding, 1),
            (StatKey::DroppedTimeout, 0),
            (StatKey::LeftQuit, 1),
            (StatKey::RefusedPerHost, 1),
            (StatKey::RefusedName, 2),
            (StatKey::RefusedServerFull, 0),
            (StatKey::SendqPeak, 4096),
            (StatKey::Rss, 5 << 20),
            (StatKey::RssPeak, 5 << 20),
        ];
        for (key, value) in want {
            assert_eq!(r.get(key), StatValue::Number(value), "{key}");
        }
        let keys: Vec<StatKey> = r.figures().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, StatKey::ALL);
    }

    #[test]
    fn memory_is_unknown_without_a_probe_and_logged_as_pairs() {
        let mut s = Stats::default();
        let r = s.report(Instant::now(), Gauges::default());
        assert_eq!(r.get(StatKey::Rss), StatValue::Unknown);
        let line = r.to_string();
        assert!(
            line.starts_with("uptime=0 connections=0 connections-peak=0 "),
            "{line}"
        );
        assert!(line.ends_with(" rss=unknown rss-peak=unknown"), "{line}");
    }

    #[test]
    fn memory_is_read_at_most_once_a_second() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static READS: AtomicU64 = AtomicU64::new(0);
        fn counting() -> Resident {
            let n = READS.fetch_add(1, Ordering::SeqCst) + 1;
            Resident {
                now: Some(n),
                peak: Some(n),
            }
        }
        let t0 = Instant::now();
        let mut s = Stats::default();
        s.start(t0, counting);
        let rss = |s: &mut Stats, at| s.report(at, Gauges::default()).get(StatKey::Rss);
        assert_eq!(rss(&mut s, t0), StatValue::Number(1));
        assert_eq!(
            rss(&mut s, t0 + Duration::from_millis(999)),
            StatValue::Number(1)
        );
        assert_eq!(rss(&mut s, t0 + MEMORY_FRESH), StatValue::Number(2));
    }
}
