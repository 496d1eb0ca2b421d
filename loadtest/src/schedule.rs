//! When each submission is due: an open-loop constant arrival rate, optionally ramped up.
//!
//! Submission *i* is due at the time the cumulative arrival count reaches *i*. With a ramp of
//! length R the rate grows linearly from 0 to λ, so N(t) = λt²/2R for t < R and
//! N(t) = λR/2 + λ(t − R) after; without a ramp this is simply t = i/λ. Latencies are measured
//! from these due times, never from when a request happened to go out, so a stall in the
//! system (or in the generator) shows up in the numbers instead of hiding (coordinated
//! omission).

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Steady arrival rate λ in submissions per second (> 0).
    rate: f64,
    /// Time over which the rate grows from 0 to λ (counted inside `duration`).
    ramp: Duration,
    /// Nothing is due at or after this offset.
    duration: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("the rate must be a positive number of submissions per second")]
    Rate,
    #[error("the duration must be positive")]
    Duration,
    #[error("the ramp must be shorter than the duration")]
    Ramp,
}

impl Schedule {
    pub fn new(rate: f64, duration: Duration, ramp: Duration) -> Result<Schedule, ScheduleError> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(ScheduleError::Rate);
        }
        if duration.is_zero() {
            return Err(ScheduleError::Duration);
        }
        if ramp >= duration {
            return Err(ScheduleError::Ramp);
        }
        Ok(Schedule {
            rate,
            ramp,
            duration,
        })
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn ramp(&self) -> Duration {
        self.ramp
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// When submission `index` is due, measured from the start; `None` once past the end.
    pub fn due(&self, index: u64) -> Option<Duration> {
        let i = index as f64;
        let ramp = self.ramp.as_secs_f64();
        let ramp_count = self.rate * ramp / 2.0;
        let seconds = if i < ramp_count {
            (2.0 * i * ramp / self.rate).sqrt()
        } else {
            ramp + (i - ramp_count) / self.rate
        };
        let due = Duration::from_secs_f64(seconds);
        (due < self.duration).then_some(due)
    }

    /// How many submissions the whole schedule holds.
    pub fn total(&self) -> u64 {
        let ramp = self.ramp.as_secs_f64();
        let full = self.rate * ramp / 2.0 + self.rate * (self.duration.as_secs_f64() - ramp);
        // Count exactly with `due`, which is the source of truth (rounding at the edges).
        let mut count = full.floor().max(0.0) as u64;
        while count > 0 && self.due(count - 1).is_none() {
            count -= 1;
        }
        while self.due(count).is_some() {
            count += 1;
        }
        count
    }

    /// The average rate the schedule offers over its whole duration (λ without a ramp).
    pub fn offered_rate(&self) -> f64 {
        self.total() as f64 / self.duration.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let s = Schedule::new(4.0, Duration::from_secs(3), Duration::ZERO).unwrap();
        assert_eq!(s.due(0), Some(Duration::ZERO));
        assert_eq!(s.due(1), Some(Duration::from_millis(250)));
        assert_eq!(s.due(11), Some(Duration::from_millis(2750)));
        assert_eq!(s.due(12), None);
        assert_eq!(s.total(), 12);
        assert!((s.offered_rate() - 4.0).abs() < 1e-9);
    }

    #[test]
    fn a_ramp_starts_slow_and_reaches_the_rate() {
        let s = Schedule::new(10.0, Duration::from_secs(10), Duration::from_secs(4)).unwrap();
        // 20 arrivals during the 4 s ramp, then 10/s for 6 s.
        assert_eq!(s.total(), 80);
        let gap = |i: u64| (s.due(i + 1).unwrap() - s.due(i).unwrap()).as_secs_f64();
        assert!(gap(1) > gap(15));
        assert!((gap(30) - 0.1).abs() < 1e-9);
        assert!((s.due(20).unwrap().as_secs_f64() - 4.0).abs() < 1e-9);
    }

    #[test]
    fn rejects_nonsense() {
        let d = Duration::from_secs(1);
        assert_eq!(
            Schedule::new(0.0, d, Duration::ZERO),
            Err(ScheduleError::Rate)
        );
        assert_eq!(
            Schedule::new(f64::NAN, d, Duration::ZERO),
            Err(ScheduleError::Rate)
        );
        assert_eq!(
            Schedule::new(1.0, Duration::ZERO, Duration::ZERO),
            Err(ScheduleError::Duration)
        );
        assert_eq!(Schedule::new(1.0, d, d), Err(ScheduleError::Ramp));
    }
}
