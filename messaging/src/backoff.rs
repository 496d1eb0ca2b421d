//! Exponential backoff with jitter, for reconnecting to the broker and the database.
//!
//! Jitter keeps a fleet of workers that lost the broker together from reconnecting in
//! lockstep: each delay is drawn uniformly from [delay/2, delay].

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    current: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            current: min,
        }
    }

    /// The next delay to wait (jittered), doubling the base up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.current;
        self.current = (self.current * 2).min(self.max);
        let fraction = (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
        base.mul_f64(0.5 + fraction / 2.0)
    }

    /// Back to the shortest delay, after a success.
    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        let bases = [100, 200, 400, 800, 1000, 1000];
        for (d, base) in delays.iter().zip(bases) {
            let base = Duration::from_millis(base);
            assert!(
                *d >= base / 2 && *d <= base,
                "{d:?} not in [{:?}, {base:?}]",
                base / 2
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
