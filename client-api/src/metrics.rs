//! The API's metrics: the HTTP server and messaging semantic-convention instruments and the
//! end-to-end duration of a submission. Created once at start-up from the global meter (a
//! no-op meter when no OTLP endpoint is configured).

use messaging::instrumentation::{MessagingMetrics, duration_histogram};
use messaging::semconv::metric;
use opentelemetry::metrics::Histogram;

pub struct ApiMetrics {
    pub http_server_duration: Histogram<f64>,
    pub messaging: MessagingMetrics,
    pub e2e_duration: Histogram<f64>,
}

impl ApiMetrics {
    pub fn new() -> Self {
        let meter = opentelemetry::global::meter("client-api");
        ApiMetrics {
            http_server_duration: duration_histogram(
                &meter,
                metric::HTTP_SERVER_REQUEST_DURATION,
                "Duration of HTTP server requests.",
            ),
            messaging: MessagingMetrics::new(&meter),
            e2e_duration: duration_histogram(
                &meter,
                metric::E2E_DURATION,
                "From accepting a submission to storing its verdict.",
            ),
        }
    }
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}
