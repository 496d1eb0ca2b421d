//! Counters shared by the submission tasks while a run is going, read by the progress line
//! and by the exported rate gauges.

use crate::histogram::LatencyHistogram;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct LiveStats {
    started: Instant,
    target_rate: f64,
    scheduled: u64,
    /// Requests sent (`POST` started).
    pub sent: AtomicU64,
    /// Answered `202`.
    pub accepted: AtomicU64,
    /// Verdict seen (whatever it was).
    pub finished: AtomicU64,
    /// Verdict seen and different from the expected one.
    pub mismatched: AtomicU64,
    /// The `POST` failed.
    pub failed: AtomicU64,
    /// Given up at the drain deadline.
    pub unfinished: AtomicU64,
    sending_done: AtomicBool,
    sending_micros: AtomicU64,
    /// Due time to verdict, for the progress line.
    latency: Mutex<LatencyHistogram>,
}

impl LiveStats {
    pub fn new(target_rate: f64, scheduled: u64) -> Self {
        LiveStats {
            started: Instant::now(),
            target_rate,
            scheduled,
            sent: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            mismatched: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            unfinished: AtomicU64::new(0),
            sending_done: AtomicBool::new(false),
            sending_micros: AtomicU64::new(0),
            latency: Mutex::new(LatencyHistogram::new()),
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn target_rate(&self) -> f64 {
        self.target_rate
    }

    pub fn scheduled(&self) -> u64 {
        self.scheduled
    }

    pub fn mark_sending_done(&self) {
        let micros = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.sending_micros.store(micros, Ordering::Relaxed);
        self.sending_done.store(true, Ordering::Release);
    }

    pub fn sending_done(&self) -> bool {
        self.sending_done.load(Ordering::Acquire)
    }

    /// Requests sent per second so far (over the sending window once it is over).
    pub fn achieved_rate(&self) -> f64 {
        let window = if self.sending_done() {
            Duration::from_micros(self.sending_micros.load(Ordering::Relaxed))
        } else {
            self.started.elapsed()
        };
        let seconds = window.as_secs_f64();
        if seconds <= 0.0 {
            return 0.0;
        }
        self.sent.load(Ordering::Relaxed) as f64 / seconds
    }

    /// Submissions sent and not yet finished, failed or given up.
    pub fn in_flight(&self) -> u64 {
        let sent = self.sent.load(Ordering::Relaxed);
        let over = self.finished.load(Ordering::Relaxed)
            + self.failed.load(Ordering::Relaxed)
            + self.unfinished.load(Ordering::Relaxed);
        sent.saturating_sub(over)
    }

    pub fn record_latency(&self, latency: Duration) {
        if let Ok(mut histogram) = self.latency.lock() {
            histogram.record(latency);
        }
    }

    /// (p50, p99) of due time to verdict so far, in ms.
    pub fn latency_percentiles(&self) -> Option<(f64, f64)> {
        let histogram = self.latency.lock().ok()?;
        (!histogram.is_empty()).then(|| (histogram.quantile_ms(0.5), histogram.quantile_ms(0.99)))
    }
}
