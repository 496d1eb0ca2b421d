//! What every producer and consumer of this pipeline records, in one place: the messaging
//! semantic-convention metrics, the PRODUCER and CONSUMER span fields, and the one traced
//! publish ([`TracedPublisher`]). Numbers go into spans as `i64`: tracing-opentelemetry
//! exports unsigned integers as strings, which TraceQL cannot compare. Span names must be
//! static for `tracing`, so each span name has one call site: the publish spans in the
//! [`TracedMessage`] impls here, the consumer spans in each queue's
//! [`Handler`](crate::consumer::Handler), through the macros below.

use crate::contract::{RESULT_TYPE, ResultMessage, SUBMISSION_TYPE, SubmissionMessage};
use crate::publish::{self, Outgoing, PublishError, Written};
use crate::semconv::{
    self, BrokerEndpoint, DURATION_BUCKETS_SECONDS, MESSAGING_SYSTEM, metric, span,
};
use crate::topology::{RESULT_ROUTING_KEY, SUBMISSION_ROUTING_KEY, Topology};
use crate::trace_headers;
use chrono::{DateTime, Utc};
use lapin::Channel;
use lapin::types::FieldTable;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::trace::TraceContextExt;
use std::future::Future;
use std::time::{Duration, Instant};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

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

/// Where a traced publish writes: a [`ConfirmChannel`], or a service's own reconnecting link
/// (client-api's `Broker`).
pub trait PublishTarget: Sync {
    type Error: PublishFailure + From<PublishError> + Send;
    /// Writes the message (see [`publish::write`]).
    fn write(&self, msg: Outgoing<'_>)
    -> impl Future<Output = Result<Written, Self::Error>> + Send;
    /// Waits for the broker's confirm of a written message.
    fn confirmed(&self, written: Written) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// A confirm-mode channel, with one timeout for the write and one for the confirm.
pub struct ConfirmChannel<'a> {
    pub channel: &'a Channel,
    pub timeout: Duration,
}

impl PublishTarget for ConfirmChannel<'_> {
    type Error = PublishError;

    async fn write(&self, msg: Outgoing<'_>) -> Result<Written, PublishError> {
        tokio::time::timeout(self.timeout, publish::write(self.channel, msg))
            .await
            .map_err(|_| PublishError::Timeout(self.timeout))?
    }

    async fn confirmed(&self, written: Written) -> Result<(), PublishError> {
        written.confirmed(self.timeout).await
    }
}

/// A message the pipeline publishes with a trace: its routing, and its two spans (made here
/// because `tracing` span names must be static: one call site per span name).
pub trait TracedMessage: serde::Serialize + Sync {
    const ROUTING_KEY: &'static str;
    /// AMQP `type`.
    const TYPE: &'static str;
    fn submission_id(&self) -> Uuid;
    /// The PRODUCER span ([`producer_span!`](crate::producer_span)).
    fn producer_span(
        &self,
        destination: &str,
        body_len: usize,
        endpoint: &BrokerEndpoint,
    ) -> tracing::Span;
    /// The INTERNAL span of the confirm wait ([`confirm_span!`](crate::confirm_span)).
    fn confirm_span(&self, destination: &str) -> tracing::Span;
}

/// `publish judge.submission` and `confirm judge.submission`.
impl TracedMessage for SubmissionMessage {
    const ROUTING_KEY: &'static str = SUBMISSION_ROUTING_KEY;
    const TYPE: &'static str = SUBMISSION_TYPE;
    fn submission_id(&self) -> Uuid {
        self.submission_id
    }
    fn producer_span(
        &self,
        destination: &str,
        body_len: usize,
        endpoint: &BrokerEndpoint,
    ) -> tracing::Span {
        crate::producer_span!(
            span::PUBLISH_SUBMISSION,
            destination,
            SUBMISSION_ROUTING_KEY,
            self.submission_id,
            body_len,
            endpoint
        )
    }
    fn confirm_span(&self, destination: &str) -> tracing::Span {
        crate::confirm_span!(span::CONFIRM_SUBMISSION, destination, self.submission_id)
    }
}

/// `publish judge.result` and `confirm judge.result`.
impl TracedMessage for ResultMessage {
    const ROUTING_KEY: &'static str = RESULT_ROUTING_KEY;
    const TYPE: &'static str = RESULT_TYPE;
    fn submission_id(&self) -> Uuid {
        self.submission_id
    }
    fn producer_span(
        &self,
        destination: &str,
        body_len: usize,
        endpoint: &BrokerEndpoint,
    ) -> tracing::Span {
        crate::producer_span!(
            span::PUBLISH_RESULT,
            destination,
            RESULT_ROUTING_KEY,
            self.submission_id,
            body_len,
            endpoint,
            judge.verdict = self.verdict.as_str()
        )
    }
    fn confirm_span(&self, destination: &str) -> tracing::Span {
        crate::confirm_span!(span::CONFIRM_RESULT, destination, self.submission_id)
    }
}

/// The one traced publish of the pipeline: a PRODUCER span that ends when the message is
/// written, then an INTERNAL span for the wait for the broker's confirm. The producer span
/// ends before a consumer can have started on the message, so Tempo's service graph measures
/// every broker hop from the publish; the `messaging.client.operation.duration` metric still
/// covers publish and confirm, the time the caller waits.
pub struct TracedPublisher<'a> {
    pub topology: &'a Topology,
    pub endpoint: &'a BrokerEndpoint,
    pub metrics: &'a MessagingMetrics,
}

impl TracedPublisher<'_> {
    /// Publishes `message` (persistent, with trace context and `x-published-at-ns`) to
    /// `target` and waits for the confirm. Its spans are children of `parent`, or of the
    /// current span. Returns the publish time written into the headers. A message that cannot
    /// be encoded is an error ([`PublishError::Encode`]), never an empty body.
    pub async fn publish<M: TracedMessage, T: PublishTarget>(
        &self,
        target: &T,
        message: &M,
        parent: Option<&opentelemetry::Context>,
    ) -> Result<DateTime<Utc>, T::Error> {
        let destination = semconv::publish_destination(&self.topology.exchange, M::ROUTING_KEY);
        let body = serde_json::to_vec(message).map_err(PublishError::Encode)?;
        let id = message.submission_id().to_string();
        let producer = message.producer_span(&destination, body.len(), self.endpoint);
        if let Some(parent) = parent {
            let _ = producer.set_parent(parent.clone());
        }
        let mut headers = FieldTable::default();
        trace_headers::inject_context(&producer.context(), &mut headers);
        let published_at = Utc::now();
        trace_headers::set_published_at(&mut headers, published_at);

        let started = Instant::now();
        let written = target
            .write(Outgoing {
                exchange: &self.topology.exchange,
                routing_key: M::ROUTING_KEY,
                body: &body,
                message_id: &id,
                kind: M::TYPE,
                headers,
                persistent: true,
            })
            .instrument(producer.clone())
            .await;
        let written = match written {
            Ok(w) => w,
            Err(e) => {
                self.metrics.record_publish(
                    &producer,
                    self.endpoint,
                    &destination,
                    started,
                    Some((e.kind(), e.to_string())),
                );
                return Err(e);
            }
        };
        // The message is on its way: the producer span ends here, the confirm span starts.
        drop(producer);
        let confirm = message.confirm_span(&destination);
        if let Some(parent) = parent {
            let _ = confirm.set_parent(parent.clone());
        }
        let outcome = target.confirmed(written).instrument(confirm.clone()).await;
        if let Err(e) = &outcome {
            confirm
                .in_scope(|| tracing::warn!(error = %e, "the broker did not confirm the message"));
        }
        self.metrics.record_publish(
            &confirm,
            self.endpoint,
            &destination,
            started,
            outcome.as_ref().err().map(|e| (e.kind(), e.to_string())),
        );
        outcome.map(|()| published_at)
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

/// The INTERNAL span of waiting for a publish's confirm ([`TracedPublisher`]): a sibling of the
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

/// A CONSUMER span for processing one delivery (a [`consumer::Envelope`](crate::consumer::Envelope)),
/// with the messaging semantic-convention fields set at creation. The consumer runner makes it
/// a child of the producer ([`continue_from_producer`]).
#[macro_export]
macro_rules! consumer_span {
    ($name:expr, $destination:expr, $routing_key:expr, $envelope:expr, $message_id:expr, $endpoint:expr $(, $($extra:tt)*)?) => {
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
            messaging.rabbitmq.message.delivery_tag = $envelope.delivery_tag as i64,
            messaging.message.id = %$message_id,
            messaging.message.body.size = $envelope.body_len as i64,
            server.address = %$endpoint.address,
            server.port = i64::from($endpoint.port),
            submission.id = %$message_id,
            $($($extra)*)?
        )
    };
}
