//! Everything identity the room consults, in one value: whether names can be claimed, the
//! claims, the bans and mutes, the allowlist, the operators, the password, and the
//! per-address pacing of password tries.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::time::Instant;

use lanchat_proto::Fingerprint;

use super::{Bans, Claims, KeyList, Password};
use crate::limits;
use crate::outbox::ConnId;

/// Whether names can belong to keys on this server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Names {
    /// TLS: clients can prove a key, and the first key under a name owns it.
    Claimed,
    /// Plaintext: nobody can prove anything; first come, first served.
    #[default]
    FirstCome,
}

/// Who may come in, who runs the place, and what is remembered about names and troublemakers.
#[derive(Debug, Default)]
pub struct Access {
    /// Whether names are claimed.
    pub names: Names,
    /// The claims on names (used only when [`Names::Claimed`]).
    pub claims: Claims,
    /// Bans and mutes.
    pub bans: Bans,
    /// `--allow`: only these keys come in (`None`: anyone).
    pub allow: Option<KeyList>,
    /// `--ops`: the operators' keys (`None`: nobody is one).
    pub ops: Option<KeyList>,
    /// `--password-file`: asked for before a name (`None`: none).
    pub password: Option<Password>,
    /// Password tries, paced per address.
    pub tries: Tries,
}

impl Access {
    /// Whether `key` belongs to an operator.
    pub fn is_operator(&self, key: Option<&Fingerprint>) -> bool {
        match (key, &self.ops) {
            (Some(k), Some(ops)) => ops.contains(k),
            _ => false,
        }
    }

    /// Whether a connection with `key` may come in, as far as the allowlist goes.
    pub fn allows(&self, key: Option<&Fingerprint>) -> bool {
        match (&self.allow, key) {
            (None, _) => true,
            (Some(list), Some(k)) => list.contains(k),
            (Some(_), None) => false,
        }
    }
}

/// What [`Tries::begin`] says about a password try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Check it now.
    Now,
    /// Check it at this time (the address failed less than a second ago, or has tries queued).
    At(Instant),
}

/// Password tries, paced per address: each failure from an address puts that address's next
/// try [`limits::PASSWORD_RETRY_DELAY`] later, so guessing from one address goes at most one
/// try a second however many connections it opens. A try that comes early waits (its answer
/// comes when its turn does), it is not refused.
#[derive(Debug, Default)]
pub struct Tries {
    /// Per address: no try checked before this.
    next: HashMap<IpAddr, Instant>,
    /// Tries waiting for their turn: `(when, connection, its session serial)`.
    waiting: BinaryHeap<Reverse<(Instant, ConnId, u64)>>,
}

impl Tries {
    /// A try from `ip` at `now`: its turn.
    pub fn begin(&mut self, ip: Option<IpAddr>, now: Instant) -> Turn {
        let Some(ip) = ip else {
            return Turn::Now;
        };
        match self.next.get(&ip) {
            Some(&at) if at > now => {
                // Queued: the next one waits a turn more, whatever this one's answer.
                self.next.insert(ip, at + limits::PASSWORD_RETRY_DELAY);
                Turn::At(at)
            }
            _ => Turn::Now,
        }
    }

    /// Wait for `at`, for connection `id` (session `serial`).
    pub fn wait(&mut self, at: Instant, id: ConnId, serial: u64) {
        self.waiting.push(Reverse((at, id, serial)));
    }

    /// A try from `ip` failed at `now`.
    pub fn failed(&mut self, ip: Option<IpAddr>, now: Instant) {
        let Some(ip) = ip else {
            return;
        };
        let next = now + limits::PASSWORD_RETRY_DELAY;
        let slot = self.next.entry(ip).or_insert(next);
        *slot = (*slot).max(next);
        if self.next.len() > limits::PASSWORD_TRIES_SWEEP {
            self.next.retain(|_, at| *at > now);
        }
    }

    /// The earliest waiting try's time.
    pub fn next_due(&self) -> Option<Instant> {
        self.waiting.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The next waiting try due at `now`, if any: `(connection, serial)`.
    pub fn pop_due(&mut self, now: Instant) -> Option<(ConnId, u64)> {
        match self.waiting.peek() {
            Some(Reverse((at, _, _))) if *at <= now => self
                .waiting
                .pop()
                .map(|Reverse((_, id, serial))| (id, serial)),
            _ => None,
        }
    }

    /// Addresses with a pending delay (for tests).
    pub fn delayed(&self) -> usize {
        self.next.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_delays_that_addresss_next_try_by_a_second_and_no_other() {
        let mut t = Tries::default();
        let t0 = Instant::now();
        let a: Option<IpAddr> = Some("10.0.0.1".parse().expect("ip"));
        let b: Option<IpAddr> = Some("10.0.0.2".parse().expect("ip"));
        assert_eq!(t.begin(a, t0), Turn::Now);
        t.failed(a, t0);
        let second = limits::PASSWORD_RETRY_DELAY;
        assert_eq!(t.begin(a, t0), Turn::At(t0 + second));
        assert_eq!(
            t.begin(a, t0),
            Turn::At(t0 + 2 * second),
            "queued one more turn"
        );
        assert_eq!(t.begin(b, t0), Turn::Now, "another address is not slowed");
        assert_eq!(t.begin(None, t0), Turn::Now);
        t.wait(t0 + second, ConnId(1), 7);
        t.wait(t0 + 2 * second, ConnId(2), 8);
        assert_eq!(t.next_due(), Some(t0 + second));
        assert_eq!(t.pop_due(t0), None);
        assert_eq!(t.pop_due(t0 + second), Some((ConnId(1), 7)));
        assert_eq!(t.pop_due(t0 + second), None);
        assert_eq!(t.begin(a, t0 + 3 * second), Turn::Now, "turns passed");
    }
}
