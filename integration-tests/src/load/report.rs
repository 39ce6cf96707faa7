//! What a load run found, and its three forms: a readable block of text, one JSON line, and a
//! summary table over several runs' JSON lines (what `make load` prints at the end).
//!
//! The JSON is flat (one object of strings, numbers, booleans and nulls) and written by hand;
//! [`parse_json_line`] reads back exactly that shape, so the summary needs no JSON library.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::scenario::Scenario;

/// Latency from a sender writing a message to a receiver having it (see the fields of
/// [`Report`] for which moment counts as having it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latency {
    /// Median, in milliseconds.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest seen.
    pub max_ms: f64,
}

/// The server's costs, read from `/proc/<pid>` (only with `--server-pid`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ServerFigures {
    /// The server's process id.
    pub pid: u32,
    /// CPU seconds while the clients connected and settled.
    pub cpu_settle_s: f64,
    /// CPU seconds during the traffic phase.
    pub cpu_traffic_s: f64,
    /// `cpu_traffic_s` per million deliveries (when there was traffic).
    pub cpu_per_m: Option<f64>,
    /// CPU use at rest (the second half of the quiet hold at the end), in percent of one core.
    pub idle_cpu_pct: Option<f64>,
    /// Resident memory before any client connected, in bytes.
    pub rss_idle: u64,
    /// Resident memory once every client had settled.
    pub rss_settled: u64,
    /// Peak resident memory of the process's life (`VmHWM`).
    pub rss_peak: u64,
    /// Resident memory at the end of the quiet hold (after any burst).
    pub rss_after: u64,
    /// Growth per connection at rest: `(rss_after - rss_idle) / connected`, in bytes. Taken
    /// after the hold rather than at the instant of settling, so that it is the cost of a
    /// connection that sits there, with whatever a burst left behind included.
    pub rss_per_conn: f64,
    /// With rooms: resident memory at rest once everyone was in `#general`, before anyone
    /// joined a room.
    pub rss_before_rooms: Option<u64>,
    /// With rooms: resident memory at rest once everyone had joined its rooms (before any
    /// traffic).
    pub rss_after_rooms: Option<u64>,
    /// With rooms: `(rss_before_rooms - idle) / clients`: a connection at rest in `#general`.
    pub rss_per_conn_before_rooms: Option<f64>,
    /// With rooms: `(rss_after_rooms - idle) / clients`: a connection at rest in its rooms.
    pub rss_per_conn_after_rooms: Option<f64>,
    /// With rooms: `(rss_after_rooms - rss_before_rooms) / memberships`, in bytes: what one
    /// membership of a room costs at rest.
    pub rss_per_membership: Option<f64>,
}

/// What a server restart under the clients took (the `restart` scenario): seconds from the
/// SIGTERM, attempts, and the new process's cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestartFigures {
    /// Clients told `BYE server shutting down` by the stopping server.
    pub told_bye: usize,
    /// Clients back: named again on the new server.
    pub back: usize,
    /// Clients back and settled: knowing every member again.
    pub settled: usize,
    /// Until the stopping server had exited.
    pub old_exit_s: Option<f64>,
    /// Until the new one printed `listening on`.
    pub listening_s: Option<f64>,
    /// Until the first client was back.
    pub first_back_s: Option<f64>,
    /// Until half of them were.
    pub median_back_s: Option<f64>,
    /// Until every client was back (none when some were not).
    pub back_s: Option<f64>,
    /// From the start of a client's last attempt until it was back (connect, handshake,
    /// admission: the back-off's wait left out): the median.
    pub dial_to_back_median_s: Option<f64>,
    /// The same: the longest.
    pub dial_to_back_max_s: Option<f64>,
    /// Until every client was back and knew every member again.
    pub settled_s: Option<f64>,
    /// Connection attempts, every client's since it lost the server (refused ones included).
    pub attempts: u64,
    /// The most attempts one client made.
    pub max_attempts: u32,
    /// Attempts refused (nobody listening yet).
    pub refused: u64,
    /// Attempts that failed otherwise (reset, EOF, handshake).
    pub failed: u64,
    /// Why the first of those failed.
    pub first_failure: Option<String>,
    /// The new server's process id.
    pub server_pid: Option<u32>,
    /// The new server's CPU seconds from its start until every client was settled again.
    pub server_cpu_s: Option<f64>,
    /// The new server's resident memory then, in bytes.
    pub server_rss: Option<u64>,
}

impl RestartFigures {
    /// Seconds from the new server's `listening on` until every client was settled again.
    pub fn settled_after_listening_s(&self) -> Option<f64> {
        Some(self.settled_s? - self.listening_s?)
    }
}

/// What the clients spoke.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Wire {
    /// TLS, as real clients do.
    #[default]
    Tls,
    /// The line protocol in the clear (a `--plaintext` server).
    Plain,
}

impl Wire {
    /// Its name in the JSON line and the tables.
    pub fn name(self) -> &'static str {
        match self {
            Wire::Tls => "tls",
            Wire::Plain => "plain",
        }
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// TLS or plaintext.
    pub wire: Wire,
    /// True when run with the scenario's standard shape (its targets then apply).
    pub standard: bool,
    /// `ok`, or what stopped the run early.
    pub outcome: String,
    /// Clients asked for.
    pub clients: usize,
    /// Senders among them.
    pub senders: usize,
    /// Messages per sender.
    pub messages: u64,
    /// Payload bytes per message.
    pub size: usize,
    /// Messages per second per sender (0 = unpaced).
    pub rate: f64,
    /// In-flight window per unpaced sender, in messages.
    pub window: usize,
    /// Clients that got their name accepted.
    pub connected: usize,
    /// Seconds from the first connect until every client was named.
    pub connect_s: Option<f64>,
    /// Seconds from the first connect until every client had seen every other join.
    pub settle_s: Option<f64>,
    /// Rooms besides `#general`.
    pub rooms: usize,
    /// Rooms each client joined.
    pub rooms_each: usize,
    /// Seconds from the first `/join` until every client knew every member of its rooms.
    pub rooms_settle_s: Option<f64>,
    /// Messages sent.
    pub sent: u64,
    /// Deliveries expected: sent x (clients - 1).
    pub expected: u64,
    /// Our messages received, duplicates included.
    pub delivered: u64,
    /// Expected deliveries that never came.
    pub lost: u64,
    /// Deliveries of a message the receiver already had.
    pub duplicated: u64,
    /// Deliveries out of per-sender order.
    pub reordered: u64,
    /// Message lines that were not ours for that receiver.
    pub unexpected: u64,
    /// Clients dropped or refused, and `ERR`/`LEAVE`/`BYE` lines (none in a good run).
    pub problems: u64,
    /// The first problem seen, for the reader.
    pub first_problem: Option<String>,
    /// Seconds from the first message sent until the last delivery.
    pub traffic_s: Option<f64>,
    /// Different messages delivered per second of `traffic_s`.
    pub deliveries_per_s: Option<f64>,
    /// Delivery latency (when anything was delivered).
    pub latency: Option<Latency>,
    /// Sent until in the receiving client's socket (the kernel's receive stamp): the sender's
    /// write, the server's round and its flush to the readers before this one, loopback.
    pub in_socket: Option<Latency>,
    /// Sent until the generator's one thread had read it (what `latency` was before it was
    /// taken per client): adds the time spent on the clients read before it.
    pub by_generator: Option<Latency>,
    /// Deliveries read with no kernel receive stamp: their latency is the generator's read
    /// (`by_generator`'s), not the per-client figure. Zero where the kernel stamps every read.
    pub unstamped: u64,
    /// Paced runs: the furthest a send fell behind its schedule, in ms.
    pub send_lag_max_ms: Option<f64>,
    /// Lines the generator read.
    pub lines_read: u64,
    /// Bytes the generator read.
    pub bytes_read: u64,
    /// The generator's own CPU seconds.
    pub gen_cpu_s: f64,
    /// The generator's CPU seconds during the traffic phase (near `traffic_s` means the
    /// generator, not the server, may have been the limit).
    pub gen_cpu_traffic_s: Option<f64>,
    /// Wall-clock seconds of the whole run.
    pub wall_s: f64,
    /// Whether duplicates and late messages were told apart exactly.
    pub exact: bool,
    /// The server's costs, with `--server-pid`.
    pub server: Option<ServerFigures>,
    /// The `restart` scenario: the server restarted under the clients.
    pub restart: Option<RestartFigures>,
}

impl Report {
    /// Lost + duplicated + reordered + unexpected + problems: must be 0 for a pass.
    pub fn failures(&self) -> u64 {
        self.lost + self.duplicated + self.reordered + self.unexpected + self.problems
    }

    /// The run completed and every delivery was exact.
    pub fn passed(&self) -> bool {
        self.outcome == "ok" && self.failures() == 0
    }

    /// The report as a list of `(key, value)`, the JSON line's fields in order.
    pub fn fields(&self) -> Vec<(&'static str, Value)> {
        use Value::{Bool, Null, Num, Str};
        let opt = |v: Option<f64>| v.map_or(Null, Num);
        let n = |v: u64| Num(v as f64);
        let lat = self.latency;
        let srv = self.server;
        let re = self.restart.as_ref();
        let re_n = |f: fn(&RestartFigures) -> u64| re.map_or(Null, |r| n(f(r)));
        let re_s = |f: fn(&RestartFigures) -> Option<f64>| opt(re.and_then(f));
        vec![
            ("scenario", Str(self.scenario.clone())),
            ("wire", Str(self.wire.name().into())),
            ("standard", Bool(self.standard)),
            ("pass", Bool(self.passed())),
            ("outcome", Str(self.outcome.clone())),
            ("clients", n(self.clients as u64)),
            ("senders", n(self.senders as u64)),
            ("messages", n(self.messages)),
            ("size", n(self.size as u64)),
            ("rate", Num(self.rate)),
            ("window", n(self.window as u64)),
            ("connected", n(self.connected as u64)),
            ("connect_s", opt(self.connect_s)),
            ("settle_s", opt(self.settle_s)),
            ("rooms", n(self.rooms as u64)),
            ("rooms_each", n(self.rooms_each as u64)),
            ("rooms_settle_s", opt(self.rooms_settle_s)),
            ("sent", n(self.sent)),
            ("expected", n(self.expected)),
            ("delivered", n(self.delivered)),
            ("lost", n(self.lost)),
            ("duplicated", n(self.duplicated)),
            ("reordered", n(self.reordered)),
            ("unexpected", n(self.unexpected)),
            ("problems", n(self.problems)),
            ("failures", n(self.failures())),
            (
                "first_problem",
                self.first_problem.clone().map_or(Null, Str),
            ),
            ("traffic_s", opt(self.traffic_s)),
            ("deliveries_per_s", opt(self.deliveries_per_s)),
            ("p50_ms", opt(lat.map(|l| l.p50_ms))),
            ("p99_ms", opt(lat.map(|l| l.p99_ms))),
            ("p999_ms", opt(lat.map(|l| l.p999_ms))),
            ("max_ms", opt(lat.map(|l| l.max_ms))),
            ("in_socket_p50_ms", opt(self.in_socket.map(|l| l.p50_ms))),
            ("in_socket_p99_ms", opt(self.in_socket.map(|l| l.p99_ms))),
            (
                "by_generator_p50_ms",
                opt(self.by_generator.map(|l| l.p50_ms)),
            ),
            (
                "by_generator_p99_ms",
                opt(self.by_generator.map(|l| l.p99_ms)),
            ),
            ("unstamped", n(self.unstamped)),
            ("send_lag_max_ms", opt(self.send_lag_max_ms)),
            ("lines_read", n(self.lines_read)),
            ("bytes_read", n(self.bytes_read)),
            ("gen_cpu_s", Num(self.gen_cpu_s)),
            ("gen_cpu_traffic_s", opt(self.gen_cpu_traffic_s)),
            ("wall_s", Num(self.wall_s)),
            ("exact", Bool(self.exact)),
            ("server_pid", srv.map_or(Null, |s| n(u64::from(s.pid)))),
            ("server_cpu_settle_s", opt(srv.map(|s| s.cpu_settle_s))),
            ("server_cpu_traffic_s", opt(srv.map(|s| s.cpu_traffic_s))),
            ("server_cpu_per_m", opt(srv.and_then(|s| s.cpu_per_m))),
            ("server_idle_cpu_pct", opt(srv.and_then(|s| s.idle_cpu_pct))),
            ("server_rss_idle", opt(srv.map(|s| s.rss_idle as f64))),
            ("server_rss_settled", opt(srv.map(|s| s.rss_settled as f64))),
            ("server_rss_peak", opt(srv.map(|s| s.rss_peak as f64))),
            ("server_rss_after", opt(srv.map(|s| s.rss_after as f64))),
            ("server_rss_per_conn", opt(srv.map(|s| s.rss_per_conn))),
            (
                "server_rss_before_rooms",
                opt(srv.and_then(|s| s.rss_before_rooms).map(|b| b as f64)),
            ),
            (
                "server_rss_after_rooms",
                opt(srv.and_then(|s| s.rss_after_rooms).map(|b| b as f64)),
            ),
            (
                "server_rss_per_conn_before_rooms",
                opt(srv.and_then(|s| s.rss_per_conn_before_rooms)),
            ),
            (
                "server_rss_per_conn_after_rooms",
                opt(srv.and_then(|s| s.rss_per_conn_after_rooms)),
            ),
            (
                "server_rss_per_membership",
                opt(srv.and_then(|s| s.rss_per_membership)),
            ),
            ("restart_told_bye", re_n(|r| r.told_bye as u64)),
            ("restart_back", re_n(|r| r.back as u64)),
            ("restart_settled", re_n(|r| r.settled as u64)),
            ("restart_old_exit_s", re_s(|r| r.old_exit_s)),
            ("restart_listening_s", re_s(|r| r.listening_s)),
            ("restart_first_back_s", re_s(|r| r.first_back_s)),
            ("restart_median_back_s", re_s(|r| r.median_back_s)),
            ("restart_back_s", re_s(|r| r.back_s)),
            (
                "restart_dial_to_back_median_s",
                re_s(|r| r.dial_to_back_median_s),
            ),
            ("restart_dial_to_back_max_s", re_s(|r| r.dial_to_back_max_s)),
            ("restart_settled_s", re_s(|r| r.settled_s)),
            (
                "restart_settled_after_listening_s",
                re_s(RestartFigures::settled_after_listening_s),
            ),
            ("restart_attempts", re_n(|r| r.attempts)),
            ("restart_max_attempts", re_n(|r| u64::from(r.max_attempts))),
            ("restart_refused", re_n(|r| r.refused)),
            ("restart_failed", re_n(|r| r.failed)),
            (
                "restart_first_failure",
                re.and_then(|r| r.first_failure.clone()).map_or(Null, Str),
            ),
            (
                "restart_server_pid",
                re.and_then(|r| r.server_pid)
                    .map_or(Null, |p| n(u64::from(p))),
            ),
            ("restart_server_cpu_s", re_s(|r| r.server_cpu_s)),
            (
                "restart_server_rss",
                re_s(|r| r.server_rss.map(|b| b as f64)),
            ),
        ]
    }

    /// One line of JSON (no newline).
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (key, value)) in self.fields().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json_str(key, &mut out);
            out.push(':');
            value.write_json(&mut out);
        }
        out.push('}');
        out
    }

    /// The readable block printed after a run.
    pub fn to_table(&self) -> String {
        let mut t = String::new();
        let traffic = if self.senders == 0 {
            "no traffic".to_string()
        } else if self.rate > 0.0 {
            format!(
                "{} senders x {} msgs of {} B, {} msg/s each",
                self.senders, self.messages, self.size, self.rate
            )
        } else {
            format!(
                "{} senders x {} msgs of {} B, unpaced, window {}",
                self.senders, self.messages, self.size, self.window
            )
        };
        let _ = writeln!(
            t,
            "lanchat-load {} over {}: {} clients, {traffic}",
            self.scenario,
            self.wire.name(),
            self.clients,
        );
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        let outcome = if self.outcome == "ok" {
            String::new()
        } else {
            format!(" ({})", self.outcome)
        };
        let _ = writeln!(t, "  result          {verdict}{outcome}");
        let _ = writeln!(
            t,
            "  connected       {}/{}, all named in {}, settled in {}",
            self.connected,
            self.clients,
            secs(self.connect_s),
            secs(self.settle_s)
        );
        if self.rooms > 0 {
            let _ = writeln!(
                t,
                "  rooms           {} rooms, {} each: every member known in {}",
                self.rooms,
                self.rooms_each,
                secs(self.rooms_settle_s)
            );
        }
        if self.senders > 0 {
            let _ = writeln!(
                t,
                "  deliveries      {} of {} expected ({} sent) in {} = {}/s",
                self.delivered,
                self.expected,
                self.sent,
                secs(self.traffic_s),
                si(self.deliveries_per_s)
            );
        }
        let _ = writeln!(
            t,
            "  lost/dup/reord  {} / {} / {}   unexpected {}, problems {}{}",
            self.lost,
            self.duplicated,
            self.reordered,
            self.unexpected,
            self.problems,
            self.first_problem
                .as_deref()
                .map(|p| format!(" (first: {p})"))
                .unwrap_or_default()
        );
        if let Some(l) = self.latency {
            let _ = writeln!(
                t,
                "  latency         p50 {} ms  p99 {} ms  p99.9 {} ms  max {} ms{}",
                ms(l.p50_ms),
                ms(l.p99_ms),
                ms(l.p999_ms),
                ms(l.max_ms),
                self.send_lag_max_ms
                    .map(|lag| format!("  (sends late by <= {} ms)", ms(lag)))
                    .unwrap_or_default()
            );
        }
        if self.unstamped > 0 {
            let _ = writeln!(
                t,
                "  {} deliveries without a kernel receive stamp: latency as the generator read them",
                self.unstamped
            );
        }
        for (what, l) in [
            ("in its socket", self.in_socket),
            ("generator read", self.by_generator),
        ] {
            if let Some(l) = l {
                let _ = writeln!(
                    t,
                    "  {what:<16} p50 {} ms  p99 {} ms  p99.9 {} ms  max {} ms",
                    ms(l.p50_ms),
                    ms(l.p99_ms),
                    ms(l.p999_ms),
                    ms(l.max_ms),
                );
            }
        }
        let during = match (self.gen_cpu_traffic_s, self.traffic_s) {
            (Some(cpu), Some(wall)) => format!(
                "; {cpu:.2} s in the traffic ({:.0} % of a core)",
                100.0 * cpu / wall.max(1e-9)
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            t,
            "  generator       {:.2} s CPU in {:.2} s{during}; read {} lines, {}",
            self.gen_cpu_s,
            self.wall_s,
            si(Some(self.lines_read as f64)),
            bytes(self.bytes_read as f64)
        );
        match self.server {
            Some(s) => {
                let per_m = s
                    .cpu_per_m
                    .map(|c| format!(" = {c:.3} s per million deliveries"))
                    .unwrap_or_default();
                let _ = writeln!(
                    t,
                    "  server CPU      settle {:.2} s, traffic {:.2} s{per_m}, idle {}",
                    s.cpu_settle_s,
                    s.cpu_traffic_s,
                    s.idle_cpu_pct
                        .map(|p| format!("{p:.1} %"))
                        .unwrap_or_else(|| "-".into())
                );
                let _ = writeln!(
                    t,
                    "  server RSS      idle {}, settled {}, peak {}, after the hold {} ({:+.0} B/conn)",
                    bytes(s.rss_idle as f64),
                    bytes(s.rss_settled as f64),
                    bytes(s.rss_peak as f64),
                    bytes(s.rss_after as f64),
                    s.rss_per_conn
                );
                if let (Some(before), Some(after), Some(per)) =
                    (s.rss_before_rooms, s.rss_after_rooms, s.rss_per_membership)
                {
                    let _ = writeln!(
                        t,
                        "  server rooms    RSS at rest before joining {}, after {} ({per:+.0} B \
                         per membership; per connection {:.0} B before, {:.0} B after)",
                        bytes(before as f64),
                        bytes(after as f64),
                        s.rss_per_conn_before_rooms.unwrap_or(f64::NAN),
                        s.rss_per_conn_after_rooms.unwrap_or(f64::NAN),
                    );
                }
            }
            None => {
                let _ = writeln!(
                    t,
                    "  server          (give --server-pid for CPU and memory)"
                );
            }
        }
        if let Some(r) = &self.restart {
            restart_table(r, self.clients, &mut t);
        }
        t
    }
}

/// The restart's lines of [`Report::to_table`].
fn restart_table(r: &RestartFigures, clients: usize, t: &mut String) {
    let _ = writeln!(
        t,
        "  restart         from the SIGTERM: old server gone {}, new one listening {}",
        secs(r.old_exit_s),
        secs(r.listening_s)
    );
    let _ = writeln!(
        t,
        "  back            {}/{clients} told BYE; {} back: first {}, median {}, last {}",
        r.told_bye,
        r.back,
        secs(r.first_back_s),
        secs(r.median_back_s),
        secs(r.back_s)
    );
    let _ = writeln!(
        t,
        "  last attempt    to back: median {}, longest {} (connect, handshake, admission)",
        secs(r.dial_to_back_median_s),
        secs(r.dial_to_back_max_s)
    );
    let _ = writeln!(
        t,
        "  settled         {}/{clients} in {} ({} after listening)",
        r.settled,
        secs(r.settled_s),
        secs(r.settled_after_listening_s())
    );
    let _ = writeln!(
        t,
        "  attempts        {} (at most {} by one client; {} refused, {} failed otherwise{})",
        r.attempts,
        r.max_attempts,
        r.refused,
        r.failed,
        r.first_failure
            .as_deref()
            .map(|f| format!(", first: {f}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        t,
        "  new server      {} CPU from its start until everyone was settled, RSS {}",
        r.server_cpu_s.map_or("-".into(), |c| format!("{c:.2} s")),
        r.server_rss.map_or("-".into(), |b| bytes(b as f64))
    );
}

/// A JSON value of the flat report.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(String),
    /// A number (integers are exact up to 2^53).
    Num(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`: not measured.
    Null,
}

impl Value {
    /// The number, if it is one.
    pub fn num(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n),
            _ => None,
        }
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Value::Str(s) => write_json_str(s, out),
            Value::Num(n) if n.is_finite() => {
                let _ = write!(out, "{n}");
            }
            Value::Num(_) | Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        }
    }
}

fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Read back one line written by [`Report::to_json`]: a flat object.
///
/// # Errors
/// A description of where the line stops being a flat JSON object.
pub fn parse_json_line(line: &str) -> Result<BTreeMap<String, Value>, String> {
    let mut p = Parser {
        s: line.trim().as_bytes(),
        i: 0,
    };
    let mut map = BTreeMap::new();
    p.expect(b'{')?;
    if p.eat(b'}') {
        return p.end(map);
    }
    loop {
        let key = p.string()?;
        p.expect(b':')?;
        let value = p.value()?;
        map.insert(key, value);
        if p.eat(b'}') {
            return p.end(map);
        }
        p.expect(b',')?;
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("expected {:?} at byte {}", b as char, self.i))
        }
    }

    fn end<T>(&mut self, v: T) -> Result<T, String> {
        self.skip_ws();
        if self.i == self.s.len() {
            Ok(v)
        } else {
            Err(format!("trailing text at byte {}", self.i))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return Err("unterminated string".into());
            };
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let esc = self.s.get(self.i).copied();
                    self.i += 1;
                    match esc {
                        Some(b'n') => out.push(b'\n'),
                        Some(b't') => out.push(b'\t'),
                        Some(b'u') => {
                            let hex = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
                            self.i += 4;
                            let code = std::str::from_utf8(hex)
                                .ok()
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .and_then(char::from_u32)
                                .ok_or("bad \\u escape")?;
                            let mut buf = [0; 4];
                            out.extend_from_slice(code.encode_utf8(&mut buf).as_bytes());
                        }
                        Some(c @ (b'"' | b'\\' | b'/')) => out.push(c),
                        _ => return Err(format!("bad escape at byte {}", self.i)),
                    }
                }
                b => out.push(b),
            }
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_ws();
        let rest = &self.s[self.i..];
        for (word, value) in [
            (&b"true"[..], Value::Bool(true)),
            (b"false", Value::Bool(false)),
            (b"null", Value::Null),
        ] {
            if rest.starts_with(word) {
                self.i += word.len();
                return Ok(value);
            }
        }
        if rest.first() == Some(&b'"') {
            return self.string().map(Value::Str);
        }
        let len = rest
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(rest.len());
        let num = std::str::from_utf8(&rest[..len])
            .ok()
            .and_then(|t| t.parse::<f64>().ok())
            .ok_or_else(|| format!("bad value at byte {}", self.i))?;
        self.i += len;
        Ok(Value::Num(num))
    }
}

/// The table `make load` prints at the end: one row per run (JSON lines as written by
/// [`Report::to_json`]), then every target of the standard scenarios, met or missed.
///
/// # Errors
/// A line that is not a report.
pub fn summary(lines: &[String]) -> Result<Summary, String> {
    let runs = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_json_line(l))
        .collect::<Result<Vec<_>, _>>()?;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{:<11} {:<5} {:<4} {:>7} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10} {:>9} {:>9} {:>8}",
        "scenario",
        "wire",
        "",
        "clients",
        "settle s",
        "deliv/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "srv s/M",
        "RSS B/conn",
        "B/member",
        "RSS peak",
        "failures"
    );
    for run in &runs {
        let num = |k: &str| run.get(k).and_then(Value::num);
        let text = |k: &str| match run.get(k) {
            Some(Value::Str(s)) => s.clone(),
            _ => "?".into(),
        };
        let pass = matches!(run.get("pass"), Some(Value::Bool(true)));
        let _ = writeln!(
            t,
            "{:<11} {:<5} {:<4} {:>7} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>10} {:>9} {:>9} {:>8}",
            text("scenario"),
            wire_of(run).name(),
            if pass { "PASS" } else { "FAIL" },
            num("clients").map_or("-".into(), |n| format!("{n:.0}")),
            num("settle_s").map_or("-".into(), |s| format!("{s:.2}")),
            si(num("deliveries_per_s")),
            num("p50_ms").map_or("-".into(), ms),
            num("p99_ms").map_or("-".into(), ms),
            num("p999_ms").map_or("-".into(), ms),
            num("max_ms").map_or("-".into(), ms),
            num("server_cpu_per_m").map_or("-".into(), |c| format!("{c:.3}")),
            num("server_rss_per_conn").map_or("-".into(), |b| format!("{b:.0}")),
            num("server_rss_per_membership").map_or("-".into(), |b| format!("{b:.0}")),
            num("server_rss_peak").map_or("-".into(), bytes),
            num("failures").map_or("-".into(), |n| format!("{n:.0}")),
        );
    }
    let restarts = restart_rows(&runs);
    if !restarts.is_empty() {
        let _ = write!(
            t,
            "\nrestart (seconds from the SIGTERM until: the new server listening, clients back \
             first / median / last, all settled; connection attempts; from a client's last \
             attempt until back, median / longest; the new server's CPU):\n{restarts}"
        );
    }
    let mut targets = String::new();
    for run in &runs {
        let Some(Value::Str(name)) = run.get("scenario") else {
            continue;
        };
        let Some(scenario) = Scenario::from_name(name) else {
            continue;
        };
        let standard = matches!(run.get("standard"), Some(Value::Bool(true)));
        for target in scenario.targets() {
            let figure = run.get(target.key).and_then(Value::num);
            let verdict = match (figure, standard) {
                (_, false) => "n/a (not the standard shape)".to_string(),
                (None, true) => "not measured".to_string(),
                (Some(f), true) if target.met(f) => format!("met     ({})", plain(f)),
                (Some(f), true) => format!("MISSED  ({})", plain(f)),
            };
            let wire = wire_of(run).name();
            let _ = writeln!(
                targets,
                "  {:<11} {wire:<5} {:<44} {verdict}",
                name, target.what
            );
        }
    }
    if !targets.is_empty() {
        let _ = writeln!(t, "\ntargets:\n{targets}");
    }
    let compared = tls_against_plaintext(&runs);
    if !compared.is_empty() {
        let _ = write!(
            t,
            "\nTLS against plaintext (the last run of each in this file):\n{compared}"
        );
    }
    let all_passed = runs
        .iter()
        .all(|run| matches!(run.get("pass"), Some(Value::Bool(true))));
    Ok(Summary {
        table: t,
        all_passed,
    })
}

/// One line per run that restarted the server.
fn restart_rows(runs: &[BTreeMap<String, Value>]) -> String {
    let mut out = String::new();
    for run in runs {
        let num = |k: &str| run.get(k).and_then(Value::num);
        let Some(back) = num("restart_back") else {
            continue;
        };
        let s = |k: &str| num(k).map_or("-".into(), |v| format!("{v:.2}"));
        let name = match run.get("scenario") {
            Some(Value::Str(name)) => name.as_str(),
            _ => "?",
        };
        let _ = writeln!(
            out,
            "  {name:<11} {:<5} {back:.0}/{} back  listening {}  back {} / {} / {}  settled {} \
             ({} after listening)  attempts {} (max {}, refused {})  last attempt to back {} / \
             {}  CPU {} s",
            wire_of(run).name(),
            num("clients").map_or("?".into(), |c| format!("{c:.0}")),
            s("restart_listening_s"),
            s("restart_first_back_s"),
            s("restart_median_back_s"),
            s("restart_back_s"),
            s("restart_settled_s"),
            s("restart_settled_after_listening_s"),
            num("restart_attempts").map_or("-".into(), |a| format!("{a:.0}")),
            num("restart_max_attempts").map_or("-".into(), |a| format!("{a:.0}")),
            num("restart_refused").map_or("-".into(), |a| format!("{a:.0}")),
            s("restart_dial_to_back_median_s"),
            s("restart_dial_to_back_max_s"),
            s("restart_server_cpu_s"),
        );
    }
    out
}

/// What [`summary`] makes of saved report lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// One row per run, then the targets.
    pub table: String,
    /// Every run passed (nothing lost, duplicated, reordered, no problem).
    pub all_passed: bool,
}

/// A saved run's wire; lines from before TLS say none, and were plaintext.
fn wire_of(run: &BTreeMap<String, Value>) -> Wire {
    match run.get("wire") {
        Some(Value::Str(w)) if w == Wire::Tls.name() => Wire::Tls,
        _ => Wire::Plain,
    }
}

/// For each scenario run both ways: the figures side by side, and the targets TLS has against
/// plaintext (fanout's throughput and CPU, room's p99, idle's settle time, memory and CPU per
/// handshake), for standard shapes.
fn tls_against_plaintext(runs: &[BTreeMap<String, Value>]) -> String {
    let mut out = String::new();
    let mut names: Vec<String> = Vec::new();
    for run in runs {
        if let Some(Value::Str(name)) = run.get("scenario") {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    for name in names {
        let last = |wire: Wire| {
            runs.iter().rev().find(|r| {
                matches!(r.get("scenario"), Some(Value::Str(n)) if *n == name) && wire_of(r) == wire
            })
        };
        let (Some(p), Some(t)) = (last(Wire::Plain), last(Wire::Tls)) else {
            continue;
        };
        let num = |r: &BTreeMap<String, Value>, k: &str| r.get(k).and_then(Value::num);
        let pair = |k: &str, show: fn(f64) -> String| {
            let side = |r| num(r, k).map_or("-".into(), show);
            format!("{} -> {}", side(p), side(t))
        };
        let ratio = |k: &str| match (num(p, k), num(t, k)) {
            (Some(a), Some(b)) if a > 0.0 => Some(b / a),
            _ => None,
        };
        let pct = |r: Option<f64>| r.map_or("-".into(), |r| format!("{:.0} %", 100.0 * r));
        let _ = writeln!(out, "  {name}");
        let _ = writeln!(
            out,
            "    settle s       {}",
            pair("settle_s", |v| format!("{v:.2}"))
        );
        if num(p, "deliveries_per_s").is_some() {
            let _ = writeln!(
                out,
                "    deliveries/s   {} ({} of plaintext's)",
                pair("deliveries_per_s", |v| si(Some(v))),
                pct(ratio("deliveries_per_s"))
            );
            let _ = writeln!(
                out,
                "    p50 / p99 ms   {} / {} (p99 {} of plaintext's)",
                pair("p50_ms", ms),
                pair("p99_ms", ms),
                pct(ratio("p99_ms"))
            );
            let _ = writeln!(
                out,
                "    server s/M     {}",
                pair("server_cpu_per_m", |v| format!("{v:.3}"))
            );
        }
        let _ = writeln!(
            out,
            "    RSS B/conn     {}",
            pair("server_rss_per_conn", |v| format!("{v:.0}"))
        );
        let handshake_us = match (num(p, "server_cpu_settle_s"), num(t, "server_cpu_settle_s")) {
            (Some(a), Some(b)) => num(t, "connected")
                .filter(|&n| n > 0.0)
                .map(|n| (b - a) / n * 1e6),
            _ => None,
        };
        let _ = writeln!(
            out,
            "    server CPU to settle {} s: {} us more per TLS client (its handshake)",
            pair("server_cpu_settle_s", |v| format!("{v:.2}")),
            handshake_us.map_or("-".into(), |u| format!("{u:.0}"))
        );
        if num(p, "restart_settled_s").is_some() {
            let _ = writeln!(
                out,
                "    restart s      {} (all back and settled after the SIGTERM); new server CPU \
                 {} s",
                pair("restart_settled_s", |v| format!("{v:.2}")),
                pair("restart_server_cpu_s", |v| format!("{v:.2}"))
            );
        }
        let standard = [p, t]
            .iter()
            .all(|r| matches!(r.get("standard"), Some(Value::Bool(true))));
        let verdict = |ok: Option<bool>, figure: String| match (standard, ok) {
            (false, _) => "n/a (not the standard shape)".to_string(),
            (true, None) => "not measured".to_string(),
            (true, Some(true)) => format!("met     ({figure})"),
            (true, Some(false)) => format!("MISSED  ({figure})"),
        };
        let mut target = |what: &str, ok: Option<bool>, figure: String| {
            let _ = writeln!(out, "    target: {what:<52} {}", verdict(ok, figure));
        };
        match name.as_str() {
            "fanout" => {
                let r = ratio("deliveries_per_s");
                target(
                    "deliveries/s over TLS >= 70 % of plaintext's",
                    r.map(|r| r >= 0.70),
                    pct(r),
                );
                let cpu = num(t, "server_cpu_per_m");
                target(
                    "server CPU over TLS <= 0.1 s per million deliveries",
                    cpu.map(|c| c <= 0.1),
                    cpu.map_or("-".into(), |c| format!("{c:.3} s")),
                );
            }
            "room" => {
                let r = ratio("p99_ms");
                target(
                    "p99 over TLS within 15 % of plaintext's",
                    r.map(|r| r <= 1.15),
                    pct(r),
                );
            }
            "idle" => {
                let settle = num(t, "settle_s");
                target(
                    "10,000 TLS clients settled in < 10 s",
                    settle.map(|s| s < 10.0),
                    settle.map_or("-".into(), |s| format!("{s:.2} s")),
                );
                let rss = num(t, "server_rss_per_conn");
                target(
                    "RSS per TLS connection at rest <= 3 KiB",
                    rss.map(|b| b <= 3072.0),
                    rss.map_or("-".into(), |b| format!("{b:.0} B")),
                );
            }
            _ => {}
        }
    }
    out
}

fn plain(f: f64) -> String {
    if f.abs() >= 1e5 {
        si(Some(f))
    } else if f.fract() == 0.0 {
        format!("{f:.0}")
    } else {
        format!("{f:.3}")
    }
}

fn secs(s: Option<f64>) -> String {
    s.map_or("-".into(), |s| format!("{s:.3} s"))
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

fn si(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v >= 1e9 => format!("{:.2}G", v / 1e9),
        Some(v) if v >= 1e6 => format!("{:.2}M", v / 1e6),
        Some(v) if v >= 1e3 => format!("{:.1}k", v / 1e3),
        Some(v) => format!("{v:.0}"),
    }
}

fn bytes(v: f64) -> String {
    if v >= (1 << 30) as f64 {
        format!("{:.2} GiB", v / (1u64 << 30) as f64)
    } else if v >= (1 << 20) as f64 {
        format!("{:.1} MiB", v / (1u64 << 20) as f64)
    } else if v >= 1024.0 {
        format!("{:.1} KiB", v / 1024.0)
    } else {
        format!("{v:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            scenario: "fanout".into(),
            standard: true,
            outcome: "ok".into(),
            clients: 100,
            senders: 10,
            messages: 10_000,
            size: 64,
            connected: 100,
            sent: 100_000,
            expected: 9_900_000,
            delivered: 9_900_000,
            first_problem: Some("l3: \"ERR\" \\ odd\n".into()),
            deliveries_per_s: Some(3.5e6),
            latency: Some(Latency {
                p50_ms: 1.5,
                p99_ms: 60.0,
                p999_ms: 70.0,
                max_ms: 80.0,
            }),
            in_socket: None,
            by_generator: None,
            server: Some(ServerFigures {
                cpu_per_m: Some(0.2),
                ..ServerFigures::default()
            }),
            ..Report::default()
        }
    }

    #[test]
    fn json_round_trips_through_the_flat_parser() {
        let r = sample();
        let map = parse_json_line(&r.to_json()).expect("parses");
        for (key, value) in r.fields() {
            assert_eq!(map.get(key), Some(&value), "{key}");
        }
        assert_eq!(map.len(), r.fields().len());
    }

    #[test]
    fn not_json_is_an_error() {
        for line in ["", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\":1} x", "[1]"] {
            assert!(parse_json_line(line).is_err(), "{line:?}");
        }
    }

    #[test]
    fn summary_marks_targets_met_and_missed() {
        let t = summary(&[sample().to_json()]).expect("summary").table;
        assert!(t.contains(">= 3,000,000 deliveries/s"), "{t}");
        assert!(t.contains("met     (3.50M)"), "{t}");
        assert!(t.contains("MISSED  (60)"), "p99 of 60 ms misses 50 ms: {t}");
        let mut odd = sample();
        odd.standard = false;
        assert!(summary(&[odd.to_json()])
            .expect("summary")
            .table
            .contains("n/a"));
    }

    #[test]
    fn tls_is_set_beside_plaintext_with_its_targets() {
        let mut plain = sample();
        plain.wire = Wire::Plain;
        plain.deliveries_per_s = Some(10e6);
        let mut tls = sample();
        tls.deliveries_per_s = Some(6.5e6);
        tls.server = Some(ServerFigures {
            cpu_per_m: Some(0.08),
            ..ServerFigures::default()
        });
        let lines = [plain.to_json(), tls.to_json()];
        let t = summary(&lines).expect("summary").table;
        assert!(
            t.contains("deliveries/s   10.00M -> 6.50M (65 % of plaintext's)"),
            "{t}"
        );
        assert!(t.contains("MISSED  (65 %)"), "70 % is the bound: {t}");
        assert!(t.contains("met     (0.080 s)"), "{t}");
        assert!(
            !summary(&[tls.to_json()])
                .expect("summary")
                .table
                .contains("against"),
            "nothing to compare with one way only"
        );
        // Lines from before TLS say no wire: they were plaintext.
        let old = plain.to_json().replace("\"wire\":\"plain\",", "");
        let t = summary(&[old, tls.to_json()]).expect("summary").table;
        assert!(t.contains("(65 % of plaintext's)"), "{t}");
    }

    #[test]
    fn a_restart_is_shown_in_its_own_rows_and_held_to_its_target() {
        let mut r = sample();
        r.scenario = "restart".into();
        (r.clients, r.connected) = (1000, 1000);
        r.restart = Some(RestartFigures {
            told_bye: 1000,
            back: 1000,
            settled: 1000,
            listening_s: Some(0.05),
            back_s: Some(1.06),
            settled_s: Some(1.25),
            attempts: 1200,
            max_attempts: 2,
            refused: 200,
            ..RestartFigures::default()
        });
        let map = parse_json_line(&r.to_json()).expect("parses");
        assert_eq!(map.get("restart_refused"), Some(&Value::Num(200.0)));
        assert_eq!(
            map.get("restart_settled_after_listening_s"),
            Some(&Value::Num(1.2))
        );
        let t = summary(&[r.to_json()]).expect("summary").table;
        assert!(t.contains("1000/1000 back  listening 0.05"), "{t}");
        assert!(t.contains("settled 1.25 (1.20 after listening)"), "{t}");
        assert!(t.contains("attempts 1200 (max 2, refused 200)"), "{t}");
        assert!(
            t.contains("1,000 back and settled < 10 s after SIGTERM  met     (1.250)"),
            "{t}"
        );
        assert!(r
            .to_table()
            .contains("1000 back: first -, median -, last 1.060 s"));
        // Not restarted: no restart rows.
        assert!(!summary(&[sample().to_json()])
            .expect("summary")
            .table
            .contains("from the SIGTERM"));
    }

    #[test]
    fn a_failure_fails_the_run() {
        let mut r = sample();
        assert!(r.passed());
        r.reordered = 1;
        assert!(!r.passed());
        assert!(r.to_table().contains("FAIL"));
    }

    #[test]
    fn summary_passes_only_when_every_run_passed() {
        let good = sample();
        let mut bad = sample();
        bad.lost = 3;
        let lines = |rs: &[&Report]| rs.iter().map(|r| r.to_json()).collect::<Vec<_>>();
        assert!(summary(&lines(&[&good, &good])).expect("parses").all_passed);
        let mixed = summary(&lines(&[&good, &bad])).expect("parses");
        assert!(!mixed.all_passed);
        assert!(mixed.table.contains("FAIL"), "{}", mixed.table);
        // A scenario named to look like a pass does not pass a failed run.
        bad.scenario = "\"pass\":true".into();
        assert!(!summary(&lines(&[&bad])).expect("parses").all_passed);
    }
}
