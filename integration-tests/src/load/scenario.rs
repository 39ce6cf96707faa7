//! The named load scenarios of `make load`, their shapes and the targets the server must meet
//! in each.

use std::time::Duration;

/// A named load shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// 10,000 connected clients, no traffic: connection cost, the JOIN storm, idle memory.
    Idle,
    /// 100 clients, 10 senders x 10,000 messages of 64 B, unpaced: raw delivery throughput.
    Fanout,
    /// 1,000 clients, 1 sender at 100 msg/s for 10 s: latency of one busy room.
    Room,
    /// 1,000 clients, each sending 1 msg/s for 10 s: many senders at once.
    Chatter,
    /// 2,000 clients connected first, then all giving 24-letter names of 4-byte letters at
    /// once, with a full history: the join storm's memory.
    Storm,
    /// 10,000 clients in `#general`, each also in one of 100 rooms of 100; one sender per room
    /// at 10 msg/s for 10 s: rooms' delivery, latency and cost beside `room` and `fanout`.
    Rooms,
    /// 1,000 clients, each joining 100 of 1,000 rooms (rooms of 100; the server needs
    /// `--max-rooms 1001 --rooms-per-user 101`), no traffic: what a membership costs at rest.
    Memberships,
    /// 1,000 clients settled, then the server restarted (SIGTERM, started again on the same
    /// port and state directory): how long until every client is back and settled, coming
    /// back by the interactive client's back-off.
    Restart,
    /// 50 clients, 10 senders x 100 messages: the one `make test` runs.
    Small,
}

/// How many clients do what.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    /// Clients connected and named.
    pub clients: usize,
    /// Clients (the first ones) that send.
    pub senders: usize,
    /// Messages each sender sends.
    pub messages: u64,
    /// Payload bytes per message.
    pub size: usize,
    /// Messages per second per sender; 0 = as fast as the in-flight window allows.
    pub rate: f64,
    /// Quiet time after the traffic, to catch late duplicates and measure the server at rest
    /// (CPU over its second half, memory at its end).
    pub hold: Duration,
    /// When clients give their names.
    pub joining: Joining,
    /// What the names look like.
    pub names: Names,
    /// Lines of `size` bytes a first client sends before the others connect, to fill the
    /// server's history (its `--history` keeps the last ones): every welcome then carries it.
    pub history: usize,
    /// Rooms besides `#general` (`#r0`, `#r1`, ...); 0: everyone only in `#general`.
    pub rooms: usize,
    /// Rooms each client joins, once everyone has settled in `#general` ([`RoomPlan`]).
    pub rooms_each: usize,
}

/// Who is in which room, when a shape has rooms: client `i` joins rooms `(i + k x stride) mod
/// rooms` for `k < each`, `stride = rooms / each`, so the rooms fill evenly. A sender sends in
/// its first room (`i mod rooms`): the first `rooms` clients are one sender per room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomPlan {
    /// Clients.
    pub clients: usize,
    /// Rooms besides `#general`.
    pub rooms: usize,
    /// Rooms each client joins.
    pub each: usize,
}

impl RoomPlan {
    /// The plan of `shape`, if it has rooms.
    pub fn of(shape: &Shape) -> Option<RoomPlan> {
        (shape.rooms > 0 && shape.rooms_each > 0).then_some(RoomPlan {
            clients: shape.clients,
            rooms: shape.rooms,
            each: shape.rooms_each.min(shape.rooms),
        })
    }

    fn stride(&self) -> usize {
        (self.rooms / self.each).max(1)
    }

    /// The rooms client `i` joins, the one it sends in first.
    pub fn rooms_of(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        (0..self.each).map(move |k| (i + k * self.stride()) % self.rooms)
    }

    /// Which of client `i`'s rooms (`0..each`) room `room` is, if it is one of them.
    pub fn index_in(&self, i: usize, room: usize) -> Option<usize> {
        let ahead = (room + self.rooms - i % self.rooms) % self.rooms;
        let k = ahead / self.stride();
        (ahead.is_multiple_of(self.stride()) && k < self.each).then_some(k)
    }

    /// The room sender `s` sends in.
    pub fn room_of_sender(&self, s: usize) -> usize {
        s % self.rooms
    }

    /// Whether `receiver` gets what `sender` sends.
    pub fn shares(&self, receiver: usize, sender: usize) -> bool {
        self.index_in(receiver, self.room_of_sender(sender))
            .is_some()
    }

    /// How many clients are in each room.
    pub fn sizes(&self) -> Vec<u32> {
        let mut sizes = vec![0u32; self.rooms];
        for i in 0..self.clients {
            for room in self.rooms_of(i) {
                sizes[room] += 1;
            }
        }
        sizes
    }

    /// Memberships besides `#general`.
    pub fn memberships(&self) -> u64 {
        self.clients as u64 * self.each as u64
    }
}

/// The name of room `room`: `#r<room>`.
pub fn room_name(room: usize) -> String {
    format!("#r{room}")
}

/// When clients give their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joining {
    /// Each as soon as its connect completes.
    AsConnected,
    /// All at once, after every client is connected and greeted.
    AllAtOnce,
}

/// What the clients' names look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// `l<index>`: short ASCII.
    Short,
    /// 24 letters of 4 bytes each (CJK Extension B): the longest names there are, in bytes.
    Wide,
}

/// The first of the 4-byte letters [`client_name`] uses (CJK Unified Ideographs Extension B,
/// all of category Lo, none with a compatibility decomposition).
const WIDE_BASE: u32 = 0x20000;

/// The 4-byte letters wide names are spelled with: Extension B ideographs from [`WIDE_BASE`] on,
/// skipping the few that UTS #39 counts as look-alikes of another character (the server would
/// take two names differing only in those for one). 4,096 serve as digits, 24 more as the
/// letters that differ by position.
fn wide_letters() -> &'static [char] {
    static LETTERS: std::sync::OnceLock<Vec<char>> = std::sync::OnceLock::new();
    LETTERS.get_or_init(|| {
        (WIDE_BASE..)
            .filter_map(char::from_u32)
            .filter(|&c| {
                let s = c.to_string();
                lanchat_proto::NameKey::of(&s)
                    .keys()
                    .iter()
                    .all(|k| *k == s)
            })
            .take(0x1000 + lanchat_proto::name::MAX_NAME_CHARS)
            .collect()
    })
}

/// The name client `index` gives.
pub fn client_name(index: usize, names: Names) -> String {
    match names {
        Names::Short => format!("l{index}"),
        Names::Wide => {
            let letters = wide_letters();
            let max = lanchat_proto::name::MAX_NAME_CHARS;
            (0..max)
                .map(|pos| {
                    // The last three letters count in base 4096; the rest differ by position.
                    let digit = match max - 1 - pos {
                        d @ 0..=2 => (index >> (12 * d)) & 0xfff,
                        _ => 0x1000 + pos,
                    };
                    letters.get(digit).copied().unwrap_or('x')
                })
                .collect()
        }
    }
}

/// How a figure is compared with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// The figure must be below the target.
    Below,
    /// The figure must be at most the target.
    AtMost,
    /// The figure must be at least the target.
    AtLeast,
}

/// One target: a figure of the report (by its JSON key) against a bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// What is promised, for people.
    pub what: &'static str,
    /// The report's JSON key holding the figure.
    pub key: &'static str,
    /// How the figure is compared.
    pub cmp: Cmp,
    /// The bound.
    pub bound: f64,
}

impl Target {
    /// Whether `figure` meets the target.
    pub fn met(&self, figure: f64) -> bool {
        match self.cmp {
            Cmp::Below => figure < self.bound,
            Cmp::AtMost => figure <= self.bound,
            Cmp::AtLeast => figure >= self.bound,
        }
    }
}

const fn target(what: &'static str, key: &'static str, cmp: Cmp, bound: f64) -> Target {
    Target {
        what,
        key,
        cmp,
        bound,
    }
}

const MIB: f64 = 1024.0 * 1024.0;

const ZERO_LOSS: Target = target(
    "zero lost, duplicated, reordered",
    "failures",
    Cmp::AtMost,
    0.0,
);

impl Scenario {
    /// Every scenario, in the order `make load` runs them (`small` is for `make test`).
    pub const ALL: [Scenario; 9] = [
        Scenario::Idle,
        Scenario::Fanout,
        Scenario::Room,
        Scenario::Chatter,
        Scenario::Storm,
        Scenario::Rooms,
        Scenario::Memberships,
        Scenario::Restart,
        Scenario::Small,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Idle => "idle",
            Scenario::Fanout => "fanout",
            Scenario::Room => "room",
            Scenario::Chatter => "chatter",
            Scenario::Storm => "storm",
            Scenario::Rooms => "rooms",
            Scenario::Memberships => "memberships",
            Scenario::Restart => "restart",
            Scenario::Small => "small",
        }
    }

    /// The scenario called `name`.
    pub fn from_name(name: &str) -> Option<Scenario> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Its standard shape.
    pub fn shape(self) -> Shape {
        let base = Shape {
            clients: 0,
            senders: 0,
            messages: 0,
            size: 64,
            rate: 0.0,
            // Past the server's heap trim, 1 s after a burst (lanchat_server::limits::TRIM_DELAY).
            hold: Duration::from_secs(3),
            joining: Joining::AsConnected,
            names: Names::Short,
            history: 0,
            rooms: 0,
            rooms_each: 0,
        };
        match self {
            Scenario::Idle => Shape {
                clients: 10_000,
                ..base
            },
            Scenario::Fanout => Shape {
                clients: 100,
                senders: 10,
                messages: 10_000,
                ..base
            },
            Scenario::Room => Shape {
                clients: 1_000,
                senders: 1,
                messages: 1_000,
                rate: 100.0,
                ..base
            },
            Scenario::Chatter => Shape {
                clients: 1_000,
                senders: 1_000,
                messages: 10,
                rate: 1.0,
                ..base
            },
            Scenario::Storm => Shape {
                clients: 2_000,
                // The history lines: long ones, so every welcome carries ~100 KB of it.
                size: 2_000,
                joining: Joining::AllAtOnce,
                names: Names::Wide,
                // Fills the server's default history.
                history: lanchat_server::limits::DEFAULT_HISTORY,
                ..base
            },
            Scenario::Rooms => Shape {
                clients: 10_000,
                senders: 100,
                messages: 100,
                rate: 10.0,
                rooms: 100,
                rooms_each: 1,
                ..base
            },
            Scenario::Memberships => Shape {
                clients: 1_000,
                rooms: 1_000,
                rooms_each: 100,
                ..base
            },
            Scenario::Restart => Shape {
                clients: 1_000,
                // Only a pause between settling and the SIGTERM: the server at rest is what
                // idle measures.
                hold: Duration::from_secs(1),
                ..base
            },
            Scenario::Small => Shape {
                clients: 50,
                senders: 10,
                messages: 100,
                hold: Duration::from_millis(100),
                ..base
            },
        }
    }

    /// The server flags the scenario needs beyond `make load`'s own (rooms enough for its
    /// shape).
    pub fn server_args(self) -> &'static [&'static str] {
        match self {
            Scenario::Memberships => &["--max-rooms", "1001", "--rooms-per-user", "101"],
            _ => &[],
        }
    }

    /// The targets for this scenario (run with its standard shape on 2 cores).
    pub fn targets(self) -> &'static [Target] {
        const IDLE: &[Target] = &[
            target(
                "10,000 clients settled in < 15 s",
                "settle_s",
                Cmp::Below,
                15.0,
            ),
            target(
                "RSS growth <= 1 KiB per connection",
                "server_rss_per_conn",
                Cmp::AtMost,
                1024.0,
            ),
            target(
                "server CPU near zero while idle (<= 1 %)",
                "server_idle_cpu_pct",
                Cmp::AtMost,
                1.0,
            ),
            target(
                "peak RSS <= 32 MiB (the JOIN storm)",
                "server_rss_peak",
                Cmp::AtMost,
                32.0 * MIB,
            ),
            target("no client dropped", "failures", Cmp::AtMost, 0.0),
        ];
        const STORM: &[Target] = &[
            target(
                "peak RSS <= 64 MiB (2,000 wide names at once)",
                "server_rss_peak",
                Cmp::AtMost,
                64.0 * MIB,
            ),
            target(
                "RSS growth <= 1 KiB per connection",
                "server_rss_per_conn",
                Cmp::AtMost,
                1024.0,
            ),
            target("no client dropped", "failures", Cmp::AtMost, 0.0),
        ];
        const FANOUT: &[Target] = &[
            target(
                ">= 3,000,000 deliveries/s",
                "deliveries_per_s",
                Cmp::AtLeast,
                3e6,
            ),
            target("p99 latency < 50 ms", "p99_ms", Cmp::Below, 50.0),
            target(
                "server CPU <= 0.3 s per million deliveries",
                "server_cpu_per_m",
                Cmp::AtMost,
                0.3,
            ),
            ZERO_LOSS,
        ];
        const ROOM: &[Target] = &[
            target("p99 latency < 5 ms", "p99_ms", Cmp::Below, 5.0),
            ZERO_LOSS,
        ];
        const CHATTER: &[Target] = &[
            target("p99 latency < 10 ms", "p99_ms", Cmp::Below, 10.0),
            ZERO_LOSS,
        ];
        const ROOMS: &[Target] = &[
            target(
                "RSS growth <= 200 B per room membership",
                "server_rss_per_membership",
                Cmp::AtMost,
                200.0,
            ),
            ZERO_LOSS,
        ];
        const MEMBERSHIPS: &[Target] = &[
            target(
                "RSS growth <= 200 B per room membership",
                "server_rss_per_membership",
                Cmp::AtMost,
                200.0,
            ),
            target("no client dropped", "failures", Cmp::AtMost, 0.0),
        ];
        const RESTART: &[Target] = &[
            target(
                "1,000 back and settled < 10 s after SIGTERM",
                "restart_settled_s",
                Cmp::Below,
                10.0,
            ),
            target("no client dropped", "failures", Cmp::AtMost, 0.0),
        ];
        const SMALL: &[Target] = &[ZERO_LOSS];
        match self {
            Scenario::Idle => IDLE,
            Scenario::Fanout => FANOUT,
            Scenario::Room => ROOM,
            Scenario::Chatter => CHATTER,
            Scenario::Storm => STORM,
            Scenario::Rooms => ROOMS,
            Scenario::Memberships => MEMBERSHIPS,
            Scenario::Restart => RESTART,
            Scenario::Small => SMALL,
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::from_name(s.name()), Some(s));
        }
        assert_eq!(Scenario::from_name("huge"), None);
    }

    #[test]
    fn the_standard_shapes() {
        let room = Scenario::Room.shape();
        assert_eq!(room.messages as f64 / room.rate, 10.0, "10 s of traffic");
        let chatter = Scenario::Chatter.shape();
        assert_eq!((chatter.senders, chatter.clients), (1_000, 1_000));
        let small = Scenario::Small.shape();
        assert_eq!(small.senders as u64 * small.messages, 1_000);
    }

    #[test]
    fn wide_names_are_valid_distinct_and_96_bytes() {
        // Distinct as the server compares names (look-alikes included), for a storm's worth.
        let mut index = lanchat_proto::NameIndex::new();
        for i in (0..2_500).chain([4095, 4096, 9999, 123_456]) {
            let name = client_name(i, Names::Wide);
            assert_eq!(name.chars().count(), 24);
            assert_eq!(name.len(), 96);
            let key = lanchat_proto::name_key(&name).expect("a valid name");
            assert!(index.insert(key, i), "{i} clashes with an earlier name");
        }
        assert_eq!(client_name(7, Names::Short), "l7");
    }

    #[test]
    fn room_plans_fill_rooms_evenly_and_know_who_shares_them() {
        let rooms = RoomPlan::of(&Scenario::Rooms.shape()).expect("rooms");
        assert_eq!(rooms.sizes(), vec![100; 100]);
        assert_eq!(rooms.rooms_of(250).collect::<Vec<_>>(), [50]);
        assert!(rooms.shares(250, 50) && !rooms.shares(250, 51));
        let many = RoomPlan::of(&Scenario::Memberships.shape()).expect("rooms");
        assert_eq!(many.sizes(), vec![100; 1000]);
        assert_eq!(many.memberships(), 100_000);
        for i in [0, 7, 999] {
            let mine: Vec<usize> = many.rooms_of(i).collect();
            assert_eq!(mine.len(), 100);
            for (k, &room) in mine.iter().enumerate() {
                assert_eq!(many.index_in(i, room), Some(k));
            }
            assert_eq!(many.index_in(i, (i + 1) % 1000), None);
        }
        assert!(RoomPlan::of(&Scenario::Room.shape()).is_none());
    }

    #[test]
    fn targets_compare() {
        let t = target("x", "k", Cmp::Below, 5.0);
        assert!(t.met(4.9) && !t.met(5.0));
        assert!(target("x", "k", Cmp::AtLeast, 3.0).met(3.0));
        assert!(!target("x", "k", Cmp::AtMost, 0.0).met(1.0));
    }
}
