//! Spacing out what the client sends, so the server's flood control never drops a line: the
//! protocol's token bucket, kept just inside the server's defaults. A person typing never meets
//! it; piped input and a pasted block of more lines than the server's burst do.
//!
//! Pure: time is passed in, and the caller sleeps for the delay it is given.

use std::time::{Duration, Instant};

use lanchat_proto::bucket::{self, TokenBucket};

/// The client sends at most this many lines per second (piped input, pastes) ...
pub const SEND_RATE: f64 = bucket::DEFAULT_RATE - 1.0;
/// ... after a first burst of this many: just inside the server's default flood control
/// (10/s, bursts of 20, of which the name takes one).
pub const SEND_BURST: u32 = bucket::DEFAULT_BURST - 2;

/// A token bucket that says how long to wait before the next line may go.
#[derive(Debug, Clone)]
pub struct Pacer(TokenBucket);

impl Pacer {
    /// A full bucket at [`SEND_RATE`] after [`SEND_BURST`].
    pub fn new(now: Instant) -> Pacer {
        Pacer(TokenBucket::new(SEND_RATE, SEND_BURST, now))
    }

    /// `None`: a line may go now (its token is taken). `Some(d)`: wait `d`, then ask again.
    pub fn delay(&mut self, now: Instant) -> Option<Duration> {
        if self.0.take(now) {
            None
        } else {
            Some(self.0.wait_time(now))
        }
    }

    /// Sleep until a line may go, and take its token.
    pub fn wait(&mut self) {
        while let Some(d) = self.delay(Instant::now()) {
            std::thread::sleep(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut p = Pacer::new(t0);
        let burst = (0..SEND_BURST + 5)
            .filter(|_| p.delay(t0).is_none())
            .count();
        assert_eq!(burst, SEND_BURST as usize);
        let d = p.delay(t0).expect("bucket empty");
        assert!(
            d > Duration::ZERO && d <= Duration::from_secs_f64(1.0 / SEND_RATE),
            "{d:?}"
        );
        assert_eq!(p.delay(t0 + d + Duration::from_millis(1)), None);
        // One second refills SEND_RATE tokens (rounded down), no more.
        let t1 = t0 + d + Duration::from_millis(1001);
        let n = (0..20).filter(|_| p.delay(t1).is_none()).count();
        assert_eq!(n, SEND_RATE as usize);
    }
}
