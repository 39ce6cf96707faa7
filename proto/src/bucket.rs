//! Flood control as the protocol defines it: a token bucket, driven by time passed in (this
//! crate reads no clock). The server keeps one per connection and drops lines it has no token
//! for; a client that sends unattended (piped input, a paste) keeps one just inside the
//! server's defaults ([`DEFAULT_RATE`], [`DEFAULT_BURST`]) and waits for its tokens instead.

use std::time::{Duration, Instant};

/// A server's default sustained rate, lines per second per connection (`--rate`).
pub const DEFAULT_RATE: f64 = 10.0;

/// A server's default burst: lines a connection may send at once before the rate applies
/// (`--burst`).
pub const DEFAULT_BURST: u32 = 20;

/// A token bucket: holds up to `burst` tokens, refills at `rate` tokens per second; each line
/// takes one. A cost known only after the fact (the size of a reply) can be
/// [`charged`](TokenBucket::charge) whatever the level: the bucket then owes it, and nothing
/// more is taken until refilling has paid the debt.
///
/// It is a [`Shape`] and a [`Level`]; one who keeps many buckets of the same shape (a server,
/// one per connection) can keep the shape once and only the levels.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    shape: Shape,
    level: Level,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate: f64, burst: u32, now: Instant) -> Self {
        let shape = Shape::new(rate, burst);
        TokenBucket {
            shape,
            level: Level::full(shape, now),
        }
    }

    /// How long from `now` until a token is there (zero if one is). Needs a rate above zero.
    pub fn wait_time(&mut self, now: Instant) -> Duration {
        self.level.wait_time(self.shape, now)
    }

    /// Take a token if there is one.
    pub fn take(&mut self, now: Instant) -> bool {
        self.level.take(self.shape, now)
    }

    /// True when a token is there, without taking it.
    pub fn ready(&mut self, now: Instant) -> bool {
        self.level.ready(self.shape, now)
    }

    /// Take `cost` tokens whatever is there, going into debt if need be.
    pub fn charge(&mut self, cost: f64, now: Instant) {
        self.level.charge(self.shape, cost, now);
    }

    /// True when the bucket is full: it then behaves exactly like a new one.
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.level.is_full(self.shape, now)
    }
}

/// What buckets of one kind share: how fast they refill and how much they hold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    rate: f64,
    burst: f64,
}

impl Shape {
    /// Refills at `rate` tokens per second, holds up to `burst` (at least one).
    pub fn new(rate: f64, burst: u32) -> Self {
        Shape {
            rate,
            burst: f64::from(burst.max(1)),
        }
    }
}

/// What one bucket has: its tokens, as of a time. Each use takes the bucket's [`Shape`].
#[derive(Debug, Clone)]
pub struct Level {
    /// Invariant: `tokens <= burst`; below zero only after [`Level::charge`].
    tokens: f64,
    last: Instant,
}

impl Level {
    /// A full bucket of `shape`.
    pub fn full(shape: Shape, now: Instant) -> Self {
        Level {
            tokens: shape.burst,
            last: now,
        }
    }

    fn refill(&mut self, shape: Shape, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * shape.rate).min(shape.burst);
        self.last = now;
    }

    /// As [`TokenBucket::wait_time`].
    pub fn wait_time(&mut self, shape: Shape, now: Instant) -> Duration {
        self.refill(shape, now);
        let missing = (1.0 - self.tokens).max(0.0);
        Duration::try_from_secs_f64(missing / shape.rate).unwrap_or(Duration::MAX)
    }

    /// As [`TokenBucket::take`].
    pub fn take(&mut self, shape: Shape, now: Instant) -> bool {
        self.refill(shape, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// As [`TokenBucket::ready`].
    pub fn ready(&mut self, shape: Shape, now: Instant) -> bool {
        self.refill(shape, now);
        self.tokens >= 1.0
    }

    /// As [`TokenBucket::charge`].
    pub fn charge(&mut self, shape: Shape, cost: f64, now: Instant) {
        self.refill(shape, now);
        self.tokens -= cost.max(0.0);
    }

    /// As [`TokenBucket::is_full`].
    pub fn is_full(&mut self, shape: Shape, now: Instant) -> bool {
        self.refill(shape, now);
        self.tokens >= shape.burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10.0, 20, t0);
        assert_eq!((0..25).filter(|_| b.take(t0)).count(), 20);
        assert!(!b.take(t0 + Duration::from_millis(50)));
        assert!(b.take(t0 + Duration::from_millis(100)));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!((0..25).filter(|_| b.take(t1)).count(), 9);
        assert_eq!(b.wait_time(t1), Duration::from_millis(100));
        assert_eq!(b.wait_time(t1 + Duration::from_millis(100)), Duration::ZERO);
    }

    #[test]
    fn a_charge_is_a_debt_paid_back_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100.0, 50, t0);
        assert!(b.ready(t0) && b.is_full(t0));
        b.charge(250.0, t0);
        assert!(!b.ready(t0) && !b.take(t0));
        // 200 owed, and one token needed on top of that: 2.01 s at 100 a second.
        assert_eq!(b.wait_time(t0), Duration::from_millis(2010));
        assert!(!b.ready(t0 + Duration::from_millis(2000)));
        assert!(b.ready(t0 + Duration::from_millis(2010)));
        assert!(!b.is_full(t0 + Duration::from_millis(2400)));
        assert!(b.is_full(t0 + Duration::from_millis(2500)));
    }

    #[test]
    fn a_level_kept_apart_from_its_shape_is_the_same_bucket() {
        let t0 = Instant::now();
        let shape = Shape::new(10.0, 20);
        let mut level = Level::full(shape, t0);
        let mut b = TokenBucket::new(10.0, 20, t0);
        for ms in [0, 0, 10, 10, 10, 50, 120, 121, 400, 401, 2000] {
            let t = t0 + Duration::from_millis(ms);
            for _ in 0..7 {
                assert_eq!(level.take(shape, t), b.take(t), "at {ms} ms");
            }
            assert_eq!(level.wait_time(shape, t), b.wait_time(t));
        }
    }

    #[test]
    fn clock_going_backwards_is_harmless() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut b = TokenBucket::new(1.0, 1, t0);
        assert!(b.take(t0));
        assert!(!b.take(t0 - Duration::from_secs(5)));
    }
}
