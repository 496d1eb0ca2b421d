//! What every producer and consumer of this pipeline records, in one place: the messaging
//! semantic-convention metrics, the PRODUCER and CONSUMER span fields, and how a publish or a
//! delivery is accounted for. Numbers go into spans as `i64`: tracing-opentelemetry exports
//! unsigned integers as strings, which TraceQL cannot compare. Span names must be static for
//! `tracing`, so the spans are made
//! by the macros [`producer_span!`](crate::producer_span) and
//! [`consumer_span!`](crate::consumer_span) at the call site, with the name of the box in
//! the span tree.

use crate::publish::{PublishError, Written};
use crate::semconv::{BrokerEndpoint, DURATION_BUCKETS_SECONDS, MESSAGING_SYSTEM, metric};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::TraceContextExt;
use std::time::Instant;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// A histogram in seconds with the pipeline's explicit buckets (0.5 ms to 5 min), so the same
/// metric reads well for a 1 ms broker hop and a minute-long queue wait.
pub fn duration_histogram(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(DURATION_BUCKETS_SECONDS.to_vec())
        .build()
}

/// The messaging semantic-convention metrics, plus the count of rejected messages.
pub struct MessagingMetrics {
    /// `messaging.client.operation.duration`: publish with confirm.
    pub operation_duration: Histogram<f64>,
    /// `messaging.client.sent.messages`: messages the broker confirmed.
    pub sent: Counter<u64>,
    /// `messaging.client.consumed.messages`.
    pub consumed: Counter<u64>,
    /// `messaging.process.duration`: handling one delivery.
    pub process_duration: Histogram<f64>,
    /// `judge.messages.rejected`: undecodable or invalid messages dead-lettered.
    pub rejected: Counter<u64>,
}

impl MessagingMetrics {
    pub fn new(meter: &Meter) -> Self {
        MessagingMetrics {
            operation_duration: duration_histogram(
                meter,
                metric::MESSAGING_CLIENT_OPERATION_DURATION,
                "Duration of publish (with confirm) operations.",
            ),
            sent: meter
                .u64_counter(metric::MESSAGING_CLIENT_SENT_MESSAGES)
                .with_unit("{message}")
                .with_description("Messages the broker confirmed.")
                .build(),
            consumed: meter
                .u64_counter(metric::MESSAGING_CLIENT_CONSUMED_MESSAGES)
                .with_unit("{message}")
                .with_description("Messages delivered to the application.")
                .build(),
            process_duration: duration_histogram(
                meter,
                metric::MESSAGING_PROCESS_DURATION,
                "Duration of processing one delivered message.",
            ),
            rejected: meter
                .u64_counter(metric::MESSAGES_REJECTED)
                .with_unit("{message}")
                .with_description("Undecodable or invalid messages sent to the dead-letter queue.")
                .build(),
        }
    }

    /// Records a finished publish: metrics, and on failure the span's error status.
    pub fn record_publish(
        &self,
        span: &tracing::Span,
        endpoint: &BrokerEndpoint,
        destination: &str,
        started: Instant,
        failure: Option<(&'static str, String)>,
    ) {
        let mut attributes = vec![
            KeyValue::new("messaging.system", MESSAGING_SYSTEM),
            KeyValue::new("messaging.operation.name", "publish"),
            KeyValue::new("messaging.operation.type", "send"),
            KeyValue::new("messaging.destination.name", destination.to_string()),
            KeyValue::new("server.address", endpoint.address.clone()),
            KeyValue::new("server.port", i64::from(endpoint.port)),
        ];
        match failure {
            None => self.sent.add(1, &attributes),
            Some((kind, description)) => {
                span.record("error.type", kind);
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_description", description);
                attributes.push(KeyValue::new("error.type", kind));
            }
        }
        self.operation_duration
            .record(started.elapsed().as_secs_f64(), &attributes);
    }

    /// The attributes of a delivery's metrics.
    pub fn delivery_attributes(destination: &str) -> [KeyValue; 3] {
        [
            KeyValue::new("messaging.system", MESSAGING_SYSTEM),
            KeyValue::new("messaging.operation.name", "process"),
            KeyValue::new("messaging.destination.name", destination.to_string()),
        ]
    }
}

/// An error of a publish, as spans and metrics classify it.
pub trait PublishFailure: std::fmt::Display {
    /// A low-cardinality class for `error.type`.
    fn kind(&self) -> &'static str;
}

impl PublishFailure for PublishError {
    fn kind(&self) -> &'static str {
        PublishError::kind(self)
    }
}

/// One publish as the pipeline traces it: a PRODUCER span (`producer_span!`) that ends when
/// the message is written, then an INTERNAL span (`confirm_span!`) for the wait for the
/// broker's confirm. The producer span ends before a consumer can have started on the
/// message, so Tempo's service graph measures every broker hop from the publish; the
/// `messaging.client.operation.duration` metric still covers publish and confirm, the time
/// the caller waits.
pub struct TracedPublish<'a> {
    pub producer: tracing::Span,
    pub metrics: &'a MessagingMetrics,
    pub endpoint: &'a BrokerEndpoint,
    pub destination: &'a str,
}

impl TracedPublish<'_> {
    /// `write` the message under the producer span, then `confirm` it under the span
    /// `confirm_span` makes (after the write, so that it starts where the producer ends).
    pub async fn run<E, W, S, C, F>(self, write: W, confirm_span: S, confirm: C) -> Result<(), E>
    where
        E: PublishFailure,
        W: std::future::Future<Output = Result<Written, E>>,
        S: FnOnce() -> tracing::Span,
        C: FnOnce(Written) -> F,
        F: std::future::Future<Output = Result<(), E>>,
    {
        use tracing::Instrument;
        let started = Instant::now();
        let written = write.instrument(self.producer.clone()).await;
        let written = match written {
            Ok(w) => w,
            Err(e) => {
                self.metrics.record_publish(
                    &self.producer,
                    self.endpoint,
                    self.destination,
                    started,
                    Some((e.kind(), e.to_string())),
                );
                return Err(e);
            }
        };
        // The message is on its way: the producer span ends here.
        drop(self.producer);
        let span = confirm_span();
        let outcome = confirm(written).instrument(span.clone()).await;
        if let Err(e) = &outcome {
            span.in_scope(|| tracing::warn!(error = %e, "the broker did not confirm the message"));
        }
        self.metrics.record_publish(
            &span,
            self.endpoint,
            self.destination,
            started,
            outcome.as_ref().err().map(|e| (e.kind(), e.to_string())),
        );
        outcome
    }
}

/// Makes a CONSUMER span a child of the producer's context and links it to the producer, as
/// design.md's span tree asks. Call before anything enters or logs in the span.
pub fn continue_from_producer(consumer: &tracing::Span, producer: opentelemetry::Context) {
    let link = producer.span().span_context().clone();
    let _ = consumer.set_parent(producer);
    consumer.add_link(link);
}

#[doc(hidden)]
pub use tracing as __tracing;

/// A PRODUCER span for publishing `$message_id` to `$destination`, with the messaging
/// semantic-convention fields set at creation (samplers see them) and the error fields that
/// [`MessagingMetrics::record_publish`] fills in.
#[macro_export]
macro_rules! producer_span {
    ($name:expr, $destination:expr, $routing_key:expr, $message_id:expr, $body_len:expr, $endpoint:expr $(, $($extra:tt)*)?) => {
        $crate::instrumentation::__tracing::info_span!(
            $name,
            otel.kind = "producer",
            otel.status_code = $crate::instrumentation::__tracing::field::Empty,
            otel.status_description = $crate::instrumentation::__tracing::field::Empty,
            messaging.system = $crate::semconv::MESSAGING_SYSTEM,
            messaging.operation.name = "publish",
            messaging.operation.type = "send",
            messaging.destination.name = %$destination,
            messaging.rabbitmq.destination.routing_key = $routing_key,
            messaging.message.id = %$message_id,
            messaging.message.body.size = $body_len as i64,
            server.address = %$endpoint.address,
            server.port = i64::from($endpoint.port),
            submission.id = %$message_id,
            error.type = $crate::instrumentation::__tracing::field::Empty,
            $($($extra)*)?
        )
    };
}

/// The INTERNAL span of waiting for a publish's confirm ([`TracedPublish`]): a sibling of the
/// PRODUCER span, named `confirm <queue>`.
#[macro_export]
macro_rules! confirm_span {
    ($name:expr, $destination:expr, $message_id:expr) => {
        $crate::instrumentation::__tracing::info_span!(
            $name,
            otel.status_code = $crate::instrumentation::__tracing::field::Empty,
            otel.status_description = $crate::instrumentation::__tracing::field::Empty,
            messaging.system = $crate::semconv::MESSAGING_SYSTEM,
            messaging.destination.name = %$destination,
            messaging.message.id = %$message_id,
            submission.id = %$message_id,
            error.type = $crate::instrumentation::__tracing::field::Empty,
        )
    };
}

/// A CONSUMER span for processing one delivery, with the messaging semantic-convention fields
/// set at creation. Follow it with [`continue_from_producer`].
#[macro_export]
macro_rules! consumer_span {
    ($name:expr, $destination:expr, $routing_key:expr, $delivery:expr, $message_id:expr, $endpoint:expr $(, $($extra:tt)*)?) => {
        $crate::instrumentation::__tracing::info_span!(
            $name,
            otel.kind = "consumer",
            otel.status_code = $crate::instrumentation::__tracing::field::Empty,
            otel.status_description = $crate::instrumentation::__tracing::field::Empty,
            messaging.system = $crate::semconv::MESSAGING_SYSTEM,
            messaging.operation.name = "process",
            messaging.operation.type = "process",
            messaging.destination.name = %$destination,
            messaging.rabbitmq.destination.routing_key = $routing_key,
            messaging.rabbitmq.message.delivery_tag = $delivery.delivery_tag as i64,
            messaging.message.id = %$message_id,
            messaging.message.body.size = $delivery.data.len() as i64,
            server.address = %$endpoint.address,
            server.port = i64::from($endpoint.port),
            submission.id = %$message_id,
            $($($extra)*)?
        )
    };
}
