//! When to try again after the server went away: 1 s, then twice as long each time, to at most
//! 30 s, each wait shortened by a random part of up to a quarter, so that the clients of a
//! restarted server do not all knock at the same moment. Pure: the randomness is passed in,
//! and there is no clock (the caller waits); [`random_unit`] is the randomness the client
//! passes (and `make load`'s `restart` scenario, whose clients come back by the same policy).

use std::time::Duration;

use crate::clock::now_ms;

/// The first wait.
pub const FIRST: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX: Duration = Duration::from_secs(30);
/// At most this share of a wait is taken off it at random.
pub const JITTER: f64 = 0.25;

/// The attempts made so far, since the connection was lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backoff {
    attempt: u32,
}

impl Backoff {
    /// The next attempt: its number (the first is 1) and how long to wait before it. `r` is a
    /// random number in `[0, 1)`: the wait is the full one less `r x` [`JITTER`] of it.
    pub fn next(&mut self, r: f64) -> (u32, Duration) {
        self.attempt = self.attempt.saturating_add(1);
        let full = full_wait(self.attempt);
        let r = if r.is_finite() {
            r.clamp(0.0, 1.0)
        } else {
            0.0
        };
        (self.attempt, full.mul_f64(1.0 - JITTER * r))
    }

    /// Attempts so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// The wait before attempt `n` (from 1) without jitter: [`FIRST`] doubled `n - 1` times, at
/// most [`MAX`].
pub fn full_wait(n: u32) -> Duration {
    let doublings = n.saturating_sub(1).min(16);
    FIRST.saturating_mul(1 << doublings).min(MAX)
}

/// Whole seconds to show for a wait of `left` (rounded up: "next in 4 s" until it is due).
pub fn shown_secs(left: Duration) -> u64 {
    left.as_secs() + u64::from(left.subsec_nanos() > 0)
}

/// A random number in `[0, 1)` for the back-off's jitter (from the standard library's
/// randomly keyed hasher: no more is needed than that clients differ).
pub fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms());
    // The top 53 bits, as a fraction of 2^53.
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_second_then_doubling_to_thirty() {
        let mut b = Backoff::default();
        let waits: Vec<(u32, u64)> = (0..8)
            .map(|_| {
                let (n, w) = b.next(0.0);
                (n, w.as_secs())
            })
            .collect();
        assert_eq!(
            waits,
            [
                (1, 1),
                (2, 2),
                (3, 4),
                (4, 8),
                (5, 16),
                (6, 30),
                (7, 30),
                (8, 30)
            ]
        );
        assert_eq!(b.attempts(), 8);
        assert_eq!(full_wait(u32::MAX), MAX);
    }

    #[test]
    fn jitter_takes_off_at_most_a_quarter() {
        for (n, full) in [(1, 1_000), (3, 4_000), (9, 30_000)] {
            for (r, want) in [(0.0, full), (0.5, full * 7 / 8), (0.999_999, full * 3 / 4)] {
                let mut b = Backoff { attempt: n - 1 };
                let (got_n, wait) = b.next(r);
                assert_eq!(got_n, n);
                let ms = wait.as_millis() as u64;
                assert!(
                    ms.abs_diff(want) <= 1,
                    "attempt {n}, r {r}: {ms} ms, want {want}"
                );
                assert!(wait <= MAX);
            }
        }
        // Nonsense randomness is taken as none.
        assert_eq!(Backoff::default().next(f64::NAN).1, FIRST);
        assert_eq!(Backoff::default().next(7.0).1, FIRST.mul_f64(0.75));
    }

    #[test]
    fn random_units_are_fractions_that_differ() {
        let rs: Vec<f64> = (0..1_000).map(|_| random_unit()).collect();
        assert!(rs.iter().all(|r| (0.0..1.0).contains(r)));
        // Clients that lost the server together must not all wait the same time.
        let mut distinct = rs.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        assert!(distinct.len() > 990, "{} distinct of 1,000", distinct.len());
    }

    #[test]
    fn seconds_shown_round_up() {
        let cases = [(0, 0), (1, 1), (999, 1), (1_000, 1), (1_001, 2), (3_200, 4)];
        for (ms, secs) in cases {
            assert_eq!(shown_secs(Duration::from_millis(ms)), secs, "{ms} ms");
        }
    }
}
