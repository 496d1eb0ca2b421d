//! The API's metrics: HTTP and messaging semantic-convention instruments and the end-to-end
//! duration of a submission. Created once at start-up from the global meter (a no-op meter
//! when no OTLP endpoint is configured).

use messaging::semconv::metric;
use opentelemetry::metrics::{Counter, Histogram};
use telemetry::duration_histogram;

pub struct ApiMetrics {
    pub http_server_duration: Histogram<f64>,
    pub publish_duration: Histogram<f64>,
    pub sent_messages: Counter<u64>,
    pub consumed_messages: Counter<u64>,
    pub process_duration: Histogram<f64>,
    pub e2e_duration: Histogram<f64>,
    pub rejected_messages: Counter<u64>,
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
            publish_duration: duration_histogram(
                &meter,
                metric::MESSAGING_CLIENT_OPERATION_DURATION,
                "Duration of publish (with confirm) and settle operations.",
            ),
            sent_messages: meter
                .u64_counter(metric::MESSAGING_CLIENT_SENT_MESSAGES)
                .with_unit("{message}")
                .with_description("Messages the broker confirmed.")
                .build(),
            consumed_messages: meter
                .u64_counter(metric::MESSAGING_CLIENT_CONSUMED_MESSAGES)
                .with_unit("{message}")
                .with_description("Messages delivered to the application.")
                .build(),
            process_duration: duration_histogram(
                &meter,
                metric::MESSAGING_PROCESS_DURATION,
                "Duration of processing one delivered message.",
            ),
            e2e_duration: duration_histogram(
                &meter,
                metric::E2E_DURATION,
                "From accepting a submission to storing its verdict.",
            ),
            rejected_messages: meter
                .u64_counter(metric::MESSAGES_REJECTED)
                .with_unit("{message}")
                .with_description("Undecodable messages sent to the dead-letter queue.")
                .build(),
        }
    }
}

impl Default for ApiMetrics {
    fn default() -> Self {
        Self::new()
    }
}
