//! The room's side of the per-address limits ([`crate::hosts`]): admitting a connection by its
//! address (`ERR too-many-connections`), the address's share of the line budget, and `/who`
//! charged to the address by the size of the answer.
//!
//! A connection admitted with [`Room::connect`] (no address: unit tests, the fuzzer) or from a
//! trusted address has no host, and none of this applies to it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use lanchat_proto::ErrCode;

use super::channel::ChannelId;
use super::logged::Budget;
use super::{Admission, Counted, LeaveReason, Now, Room, Session};
use crate::hosts::{HostKey, HostLimits, Hosts};
use crate::limits;
use crate::outbox::{ConnId, Outbox, Serial};
use crate::stats::Refusal;

/// A connection as the server accepted it: where from, and its number in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The address and port it connected from.
    pub addr: SocketAddr,
    /// The server's number for it (never reused).
    pub serial: Serial,
}

impl Room {
    /// This room, enforcing `limits` on connections admitted with [`Room::connect_from`].
    #[must_use]
    pub fn with_host_limits(mut self, limits: HostLimits) -> Self {
        self.hosts = Hosts::new(limits);
        self
    }

    /// The per-address table.
    pub fn hosts(&self) -> &Hosts {
        &self.hosts
    }

    /// A new connection from `peer`. Unless the address is trusted, it is refused with
    /// `ERR too-many-connections` and closed when the address already holds `--max-per-host`
    /// connections or has opened its `--join-burst` and is over `--join-rate`; otherwise it
    /// goes on as in [`Room::connect`] (which may still refuse it as `server-full`). A refused
    /// attempt uses none of the address's budget.
    pub fn connect_from(
        &mut self,
        id: ConnId,
        peer: Peer,
        now: Now,
        out: &mut impl Outbox,
    ) -> Admission {
        let host = self.hosts.key(peer.addr.ip());
        if let Some(h) = host {
            if let Err(refusal) = self.hosts.check_connect(h, now.mono) {
                if self.contains(id) {
                    // As in `connect`: a live id's old session is gone.
                    self.disconnect(id, LeaveReason::Disconnected, out);
                }
                self.log_per_host(peer.serial, peer.addr, h, refusal);
                self.stats.refused(Refusal::PerHost);
                self.send_err(id, ErrCode::TooManyConnections, &refusal.to_string(), out);
                out.close(id);
                return Admission::Refused;
            }
        }
        let admission = self.admit(id, peer.serial, Some(peer.addr), now, out);
        if let (Admission::Admitted, Some(h)) = (admission, host) {
            self.hosts.opened(h, now.mono);
            if let Some(s) = self.session_mut(id) {
                s.counted = Counted::ByAddress;
            }
        }
        admission
    }

    /// After the connection's own budget: the share all connections of its address have
    /// together. True if the line may be handled; else it is dropped with (at most once a
    /// second) `ERR rate-limited`. Dropping here is not the connection's own flooding, so it
    /// never leads to a kick: another person on the same machine may be the one sending.
    pub(super) fn admit_host_line(&mut self, id: ConnId, now: Now, out: &mut impl Outbox) -> bool {
        let Some(host) = self.session(id).and_then(Session::host) else {
            return true;
        };
        if self.hosts.take_line(host, now.mono) {
            return true;
        }
        self.stats.lines_rate_limited += 1;
        if self
            .session_mut(id)
            .is_some_and(|s| s.rate_err_due(now.mono))
        {
            self.log_rate_limited(id, Budget::Address);
            let msg = host_rate_limited(self.cfg.rate, self.cfg.burst);
            self.send_err(id, ErrCode::RateLimited, &msg, out);
        }
        false
    }

    /// `/who` (in room `ch`): its member list, charged to the asker's address by its size. It
    /// is answered whenever the address's reply budget is not in debt, so a person always gets
    /// it and a host asking over and over gets it once every few seconds; meanwhile
    /// `ERR rate-limited` says when to ask again.
    pub(super) fn who(&mut self, id: ConnId, ch: ChannelId, now: Now, out: &mut impl Outbox) {
        let host = self.session(id).and_then(Session::host);
        if let Some(h) = host {
            if let Some(wait) = self.hosts.reply_wait(h, now.mono) {
                self.log_who_too_soon(id, whole_secs(wait));
                self.send_err(id, ErrCode::RateLimited, &who_wait(wait), out);
                return;
            }
        }
        let bytes = self.send_members(id, ch, out);
        if let Some(h) = host {
            self.hosts.charge_reply(h, bytes, now.mono);
        }
    }

    /// Each address's count of open connections is the number of sessions from it.
    pub(super) fn check_hosts(&self) -> Result<(), String> {
        let mut counted: HashMap<HostKey, usize> = HashMap::new();
        for host in self.sessions.iter().flatten().filter_map(Session::host) {
            *counted.entry(host).or_default() += 1;
        }
        for (host, open) in self.hosts.open_counts() {
            let sessions = counted.remove(&host).unwrap_or(0);
            if sessions != open {
                return Err(format!(
                    "{host} holds {sessions} sessions but counts {open}"
                ));
            }
        }
        match counted.into_iter().next() {
            Some((host, n)) => Err(format!("{host} holds {n} sessions but has no entry")),
            None => Ok(()),
        }
    }
}

/// `ERR rate-limited` for a line over the address's shared budget.
fn host_rate_limited(rate: f64, burst: u32) -> String {
    let share = limits::HOST_LINE_SHARE;
    format!(
        "slow down: your address may send at most {} lines per second (bursts of {}) over all \
         its connections; lines are being dropped",
        rate * f64::from(share),
        burst.saturating_mul(share)
    )
}

/// `wait` in whole seconds, rounded up (a wait of 0.2 s is "1 s", never "0 s").
fn whole_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// `ERR rate-limited` for a `/who` asked again too soon.
fn who_wait(wait: Duration) -> String {
    let secs = whole_secs(wait);
    format!("the member list is big and your address asked for it a lot; ask again in {secs} s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts::Rate;
    use crate::outbox::Recorder;
    use crate::room::tests::{later, t0};
    use crate::room::RoomConfig;

    fn ip(s: &str) -> std::net::IpAddr {
        s.parse().unwrap()
    }

    /// A connection from `from`, numbered as the server would: never twice the same.
    fn peer(from: &str) -> Peer {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Peer {
            addr: SocketAddr::new(ip(from), 40_000),
            serial: Serial(NEXT.fetch_add(1, Ordering::Relaxed)),
        }
    }

    fn room(limits: HostLimits) -> Room {
        Room::new(RoomConfig::default()).with_host_limits(limits)
    }

    /// Connect `id` from `from` and give it `name`; true if it got in and was named.
    fn join(
        room: &mut Room,
        out: &mut Recorder,
        id: usize,
        from: &str,
        name: &str,
        now: Now,
    ) -> bool {
        let id = ConnId(id);
        if room.connect_from(id, peer(from), now, out) != Admission::Admitted {
            return false;
        }
        room.line(id, name.as_bytes(), now, out);
        room.check_invariants().unwrap();
        room.is_named(id)
    }

    #[test]
    fn an_address_holding_its_limit_is_refused_and_closed_others_are_not() {
        let mut room = room(HostLimits {
            max_open: Some(2),
            joins: None,
            ..HostLimits::off()
        });
        let mut out = Recorder::default();
        let now = t0();
        assert!(join(&mut room, &mut out, 1, "192.0.2.1", "ann", now));
        assert!(join(&mut room, &mut out, 2, "192.0.2.1", "bob", now));
        out.clear();
        let third = room.connect_from(ConnId(3), peer("::ffff:192.0.2.1"), now, &mut out);
        assert_eq!(third, Admission::Refused);
        assert_eq!(
            out.to(ConnId(3)),
            [
                "ERR too-many-connections your address already has 2 connections open here, the \
              most one may have; close one and try again"
            ]
        );
        assert_eq!(out.closed, vec![ConnId(3)]);
        assert!(
            out.to(ConnId(1)).is_empty(),
            "the members heard nothing of it"
        );
        assert!(join(&mut room, &mut out, 4, "192.0.2.2", "cat", now));
        // A quit frees the place.
        room.line(ConnId(1), b"/quit", now, &mut out);
        assert!(join(&mut room, &mut out, 3, "192.0.2.1", "dan", now));
        room.check_invariants().unwrap();
        assert_eq!(room.hosts().open(HostKey::of(ip("192.0.2.1"))), 2);
    }

    #[test]
    fn a_churning_address_gets_its_join_burst_then_its_rate() {
        let mut room = room(HostLimits {
            joins: Rate::new(2.0, 10),
            ..HostLimits::off()
        });
        let mut out = Recorder::default();
        let now = t0();
        assert!(join(&mut room, &mut out, 1, "192.0.2.9", "pat", now));
        out.clear();
        let churn = |room: &mut Room, out: &mut Recorder, now: Now, from: usize| {
            (from..from + 100)
                .filter(|&i| {
                    let ok = join(room, out, 2, "192.0.2.1", &format!("c{i}"), now);
                    if ok {
                        room.line(ConnId(2), b"/quit", now, out);
                    }
                    ok
                })
                .count()
        };
        assert_eq!(churn(&mut room, &mut out, now, 0), 10);
        let seen = |out: &mut Recorder| {
            out.take()
                .sent
                .into_iter()
                .filter(|(to, l)| {
                    *to == ConnId(1) && (l.starts_with("JOIN ") || l.starts_with("LEAVE "))
                })
                .count()
        };
        assert_eq!(seen(&mut out), 20, "10 visits: 10 JOIN and 10 LEAVE");
        assert_eq!(churn(&mut room, &mut out, later(now, 1.0), 100), 2);
        assert_eq!(seen(&mut out), 4, "2 visits a second");
        assert!(join(
            &mut room,
            &mut out,
            3,
            "192.0.2.2",
            "sam",
            later(now, 1.0)
        ));
    }

    #[test]
    fn connections_of_one_address_share_a_line_budget_without_being_kicked() {
        let mut room = Room::new(RoomConfig {
            rate: 10.0,
            burst: 20,
            ..RoomConfig::default()
        })
        .with_host_limits(HostLimits {
            lines: Rate::new(40.0, 80),
            ..HostLimits::off()
        });
        let mut out = Recorder::default();
        let now = t0();
        assert!(join(&mut room, &mut out, 1, "192.0.2.9", "pat", now));
        for i in 2..10 {
            assert!(join(
                &mut room,
                &mut out,
                i,
                "192.0.2.1",
                &format!("c{i}"),
                now
            ));
        }
        out.clear();
        // 8 connections, 19 lines each: within each one's own budget (the name took one).
        for round in 0..19 {
            for i in 2..10 {
                room.line(ConnId(i), format!("m{round}").as_bytes(), now, &mut out);
            }
        }
        let sent = out.take().sent;
        let relayed = sent
            .iter()
            .filter(|(to, l)| *to == ConnId(1) && l.starts_with("MSG "))
            .count();
        assert_eq!(relayed, 80 - 8, "the shared burst, less the 8 names");
        let errs: Vec<_> = sent.iter().filter(|(_, l)| l.starts_with("ERR ")).collect();
        assert_eq!(errs.len(), 8, "one ERR per connection: {errs:?}");
        assert!(errs[0].1.starts_with("ERR rate-limited slow down: your address may send at most 40 lines per second (bursts of 80)"), "{errs:?}");
        // Still over the shared budget 60 s on: nobody is kicked for it.
        let much_later = later(now, 60.0);
        for round in 0..200 {
            for i in 2..10 {
                room.line(
                    ConnId(i),
                    format!("n{round}").as_bytes(),
                    much_later,
                    &mut out,
                );
            }
        }
        assert_eq!(room.members(), 9);
        // Another address has its own.
        assert!(join(
            &mut room,
            &mut out,
            10,
            "192.0.2.2",
            "sam",
            much_later
        ));
        out.clear();
        room.line(ConnId(10), b"hi", much_later, &mut out);
        assert_eq!(out.to(ConnId(1)), ["MSG sam hi"]);
    }

    #[test]
    fn who_is_charged_by_size_answered_at_once_then_every_few_seconds() {
        let mut room = room(HostLimits {
            replies: Rate::new(10_000.0, 30_000),
            ..HostLimits::off()
        });
        let mut out = Recorder::default();
        let now = t0();
        // 200 members from a trusted-looking room (no address), names of 24 four-byte letters.
        for i in 0..200 {
            let id = ConnId(100 + i);
            assert_eq!(room.connect(id, now, &mut out), Admission::Admitted);
            let name: String = format!("{i:03}")
                .chars()
                .map(|d| char::from_u32(0x20000 + d.to_digit(10).unwrap()).unwrap())
                .chain(std::iter::repeat_n('\u{20010}', 21))
                .collect();
            room.line(id, name.as_bytes(), now, &mut out);
            assert!(room.is_named(id), "{name}");
        }
        assert!(join(&mut room, &mut out, 1, "192.0.2.1", "ann", now));
        out.clear();
        let ask = |room: &mut Room, out: &mut Recorder, now: Now| -> (usize, Vec<String>) {
            room.line(ConnId(1), b"/who", now, out);
            let lines = out.take().sent;
            let bytes = lines.iter().map(|(_, l)| l.len() + 1).sum();
            (bytes, lines.into_iter().map(|(_, l)| l).collect())
        };
        let (size, first) = ask(&mut room, &mut out, now);
        assert!(
            first.last().is_some_and(|l| l == "WHOEND 201"),
            "{:?}",
            first.last()
        );
        assert!(size > 19_000, "{size}");
        let (_, second) = ask(&mut room, &mut out, now);
        assert_eq!(
            second.last().map(String::as_str),
            Some("WHOEND 201"),
            "30,000 bytes of credit: two answers"
        );
        let (_, third) = ask(&mut room, &mut out, now);
        let wait = (2 * size - 30_000) as f64 / 10_000.0;
        assert_eq!(third.len(), 1, "{third:?}");
        let secs = wait.ceil();
        assert_eq!(
            third[0],
            format!("ERR rate-limited the member list is big and your address asked for it a lot; ask again in {secs} s")
        );
        let (_, early) = ask(&mut room, &mut out, later(now, wait - 0.01));
        assert!(early[0].starts_with("ERR rate-limited"), "{early:?}");
        let (_, fourth) = ask(&mut room, &mut out, later(now, wait + 0.01));
        assert_eq!(fourth.last().map(String::as_str), Some("WHOEND 201"));
    }

    #[test]
    fn trusted_addresses_and_address_less_connections_are_not_counted() {
        let mut room = room(HostLimits {
            max_open: Some(1),
            trusted: vec!["127.0.0.0/8".parse().unwrap()],
            ..HostLimits::off()
        });
        let mut out = Recorder::default();
        let now = t0();
        for i in 1..20 {
            assert!(join(
                &mut room,
                &mut out,
                i,
                "127.0.0.1",
                &format!("t{i}"),
                now
            ));
        }
        assert!(join(&mut room, &mut out, 20, "192.0.2.1", "ann", now));
        assert!(!join(&mut room, &mut out, 21, "192.0.2.1", "bob", now));
        assert!(room.hosts().len() == 1);
    }
}
