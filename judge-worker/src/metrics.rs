//! The worker's metrics: queue wait, compile and run durations, verdicts, busy slots, and the
//! messaging and HTTP-client semantic-convention instruments.

use messaging::instrumentation::{MessagingMetrics, duration_histogram};
use messaging::semconv::metric;
use opentelemetry::metrics::{Counter, Histogram, UpDownCounter};

pub struct WorkerMetrics {
    pub queue_wait: Histogram<f64>,
    pub compile_duration: Histogram<f64>,
    pub compile_cache_lookups: Counter<u64>,
    pub run_duration: Histogram<f64>,
    pub submissions: Counter<u64>,
    pub slots_busy: UpDownCounter<i64>,
    pub messaging: MessagingMetrics,
    pub http_client_duration: Histogram<f64>,
}

impl WorkerMetrics {
    pub fn new() -> Self {
        let meter = opentelemetry::global::meter("judge-worker");
        WorkerMetrics {
            queue_wait: duration_histogram(
                &meter,
                metric::QUEUE_WAIT,
                "Time a submission waited in the queue, from publish to delivery.",
            ),
            compile_duration: duration_histogram(
                &meter,
                metric::COMPILE_DURATION,
                "Wall time of the compile step.",
            ),
            compile_cache_lookups: meter
                .u64_counter(metric::COMPILE_CACHE_LOOKUPS)
                .with_unit("{compile}")
                .with_description(
                    "Compile steps, by language and whether the compile cache served them.",
                )
                .build(),
            run_duration: duration_histogram(
                &meter,
                metric::RUN_DURATION,
                "Wall time of one test-case run.",
            ),
            submissions: meter
                .u64_counter(metric::SUBMISSIONS)
                .with_unit("{submission}")
                .with_description("Submissions judged, by language and verdict.")
                .build(),
            slots_busy: meter
                .i64_up_down_counter(metric::SLOTS_BUSY)
                .with_unit("{slot}")
                .with_description("Judging slots in use.")
                .build(),
            messaging: MessagingMetrics::new(&meter),
            http_client_duration: duration_histogram(
                &meter,
                metric::HTTP_CLIENT_REQUEST_DURATION,
                "Duration of HTTP client requests (test-case fetches).",
            ),
        }
    }
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        Self::new()
    }
}
