//! Latency histograms: HDR histograms in microseconds (1 µs to 1 h, 3 significant digits) and
//! the percentile summary the report prints and writes as JSON, in milliseconds.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::time::Duration;

const LOWEST_MICROS: u64 = 1;
const HIGHEST_MICROS: u64 = 3_600_000_000;
const SIGNIFICANT_DIGITS: u8 = 3;

/// A latency histogram. Values beyond an hour are clamped to an hour.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    histogram: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram::new()
    }
}

impl LatencyHistogram {
    pub fn new() -> Self {
        // Constant bounds, valid for hdrhistogram: no input reaches this.
        let histogram =
            Histogram::new_with_bounds(LOWEST_MICROS, HIGHEST_MICROS, SIGNIFICANT_DIGITS)
                .expect("constant histogram bounds are valid");
        LatencyHistogram { histogram }
    }

    pub fn record(&mut self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.histogram.saturating_record(micros.max(LOWEST_MICROS));
    }

    /// Records a value in milliseconds (as the API's `timings` give them); negative values
    /// (clock steps between hosts) count as zero.
    pub fn record_millis(&mut self, millis: f64) {
        let seconds = (millis / 1000.0).max(0.0);
        self.record(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
    }

    pub fn len(&self) -> u64 {
        self.histogram.len()
    }

    pub fn is_empty(&self) -> bool {
        self.histogram.is_empty()
    }

    /// The value at `quantile` (0..=1), in milliseconds.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        micros_to_ms(self.histogram.value_at_quantile(quantile))
    }

    pub fn summary(&self) -> Summary {
        if self.histogram.is_empty() {
            return Summary::default();
        }
        Summary {
            count: self.histogram.len(),
            min: micros_to_ms(self.histogram.min()),
            mean: self.histogram.mean() / 1000.0,
            p50: self.quantile_ms(0.50),
            p90: self.quantile_ms(0.90),
            p99: self.quantile_ms(0.99),
            p99_9: self.quantile_ms(0.999),
            max: micros_to_ms(self.histogram.max()),
        }
    }
}

fn micros_to_ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// Percentiles of one histogram, in milliseconds; all zero when nothing was recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Summary {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p99_9: f64,
    pub max: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_in_milliseconds() {
        let mut h = LatencyHistogram::new();
        for ms in 1..=1000 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50 - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99 - 990.0).abs() < 1.0, "{s:?}");
        assert!((s.max - 1000.0).abs() < 1.0, "{s:?}");
        assert!((s.min - 1.0).abs() < 0.01, "{s:?}");
    }

    #[test]
    fn millis_from_timings_and_odd_values() {
        let mut h = LatencyHistogram::new();
        h.record_millis(1.5);
        h.record_millis(-3.0);
        h.record_millis(f64::INFINITY);
        h.record(Duration::from_secs(7200));
        let s = h.summary();
        assert_eq!(s.count, 4);
        assert!((s.max - 3_600_000.0).abs() / 3_600_000.0 < 0.001, "{s:?}");
        assert_eq!(LatencyHistogram::new().summary(), Summary::default());
    }
}
