//! One traced consumer for every queue of the pipeline: staying attached (reconnecting with
//! backoff after the broker goes away), the delivery envelope (decode or reject, the
//! producer's trace context, the delivery count, the CONSUMER span, the messaging metrics) and
//! settling each delivery by the [`Outcome`] its handler returns. A handler is one async
//! function from a decoded message to an outcome, so a test can drive it without a broker loop.
//!
//! On shutdown the consumer stops taking deliveries and lets in-flight handlers finish (up to
//! [`ConsumerSpec::drain`]); what is still unacknowledged then goes back to the queue.

use crate::backoff::Backoff;
use crate::contract::{DecodeError, ResultMessage, StartedMessage, SubmissionMessage};
use crate::instrumentation::{MessagingMetrics, continue_from_producer};
use crate::semconv;
use crate::topology::{Topology, open_channel};
use crate::trace_headers;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    BasicRejectOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A connection that stayed up this long counts as healthy: the next failure starts the
/// backoff from the beginning.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// Why a consumer stopped consuming.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Broker(#[from] lapin::Error),
    #[error("the broker ended the consumer")]
    Cancelled,
}

/// A message type a queue carries.
pub trait Decode: Sized {
    /// How log lines name it (`undecodable submission message`).
    const KIND: &'static str;
    fn decode(body: &[u8]) -> Result<Self, DecodeError>;
}

impl Decode for SubmissionMessage {
    const KIND: &'static str = "submission";
    fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        SubmissionMessage::decode(body)
    }
}

impl Decode for ResultMessage {
    const KIND: &'static str = "result";
    fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        ResultMessage::decode(body)
    }
}

impl Decode for StartedMessage {
    const KIND: &'static str = "started";
    fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        StartedMessage::decode(body)
    }
}

/// How a delivery is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done with it.
    Ack,
    /// Give it back for another attempt (here or on another consumer).
    Requeue,
    /// Reject it without requeue: to the dead-letter queue, where the queue has one.
    DeadLetter,
}

/// A decoded delivery and what the broker said about it.
pub struct Envelope<M> {
    pub message: M,
    /// The producer's trace context (empty when the message carried none).
    pub parent: opentelemetry::Context,
    /// Deliveries of this message before this one (quorum queues count them).
    pub delivery_count: i64,
    pub redelivered: bool,
    pub delivery_tag: u64,
    pub body_len: usize,
    pub properties: BasicProperties,
    /// When this consumer received it.
    pub consumed_at: DateTime<Utc>,
}

/// What a queue's consumer does with each message.
pub trait Handler: Send + Sync + 'static {
    type Message: Decode + Send + Sync + 'static;

    /// The metrics every delivery is counted in; `None` for advisory events nobody graphs.
    fn metrics(&self) -> Option<&MessagingMetrics>;

    /// The CONSUMER span of one delivery, made with [`consumer_span!`](crate::consumer_span)
    /// (whose name must be static, hence here, per handler); `Span::none()` for messages
    /// outside any trace. The consumer makes it a child of the producer, with a link.
    fn span(&self, envelope: &Envelope<Self::Message>, destination: &str) -> tracing::Span;

    /// Handles one delivery, inside its span. `replies` is a confirm-mode channel on the same
    /// connection, for what the handler publishes in answer.
    fn handle(
        &self,
        envelope: Envelope<Self::Message>,
        replies: &Channel,
    ) -> impl Future<Output = Outcome> + Send;
}

/// Which queue, and how.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// For log lines: `consuming {what}`.
    pub what: &'static str,
    /// The connection's name in the broker's management UI.
    pub connection_name: String,
    pub consumer_tag: String,
    pub queue: String,
    /// The routing key its messages are published with (for `messaging.destination.name`).
    pub routing_key: &'static str,
    /// Deliveries handled at once (the channel's prefetch).
    pub concurrency: u16,
    /// How long in-flight handlers may take to finish after a shutdown request.
    pub drain: Duration,
}

/// Consumes `spec.queue` with `handler` until `shutdown` is cancelled, reconnecting after each
/// failure. `attached` is true while it is attached to the queue (for readiness checks).
pub async fn run_consumer<H: Handler>(
    url: &str,
    topology: &Topology,
    spec: &ConsumerSpec,
    handler: Arc<H>,
    attached: &AtomicBool,
    shutdown: &CancellationToken,
) {
    let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
    while !shutdown.is_cancelled() {
        let started = Instant::now();
        let Err(e) = consume(url, topology, spec, &handler, attached, shutdown).await else {
            return;
        };
        attached.store(false, Ordering::Relaxed);
        if started.elapsed() > HEALTHY_AFTER {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        tracing::warn!(
            consumer = spec.what,
            error = %e,
            retry_in_ms = delay.as_millis() as u64,
            "consumer disconnected; reconnecting"
        );
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {},
        }
    }
}

async fn consume<H: Handler>(
    url: &str,
    topology: &Topology,
    spec: &ConsumerSpec,
    handler: &Arc<H>,
    attached: &AtomicBool,
    shutdown: &CancellationToken,
) -> Result<(), ConsumerError> {
    let (connection, channel) = open_channel(url, &spec.connection_name, topology).await?;
    channel
        .basic_qos(spec.concurrency, BasicQosOptions::default())
        .await?;
    let replies = connection.create_channel().await?;
    replies
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let mut deliveries = channel
        .basic_consume(
            spec.queue.as_str().into(),
            spec.consumer_tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    attached.store(true, Ordering::Relaxed);
    tracing::info!(queue = %spec.queue, concurrency = spec.concurrency, "consuming {}", spec.what);
    let destination: Arc<str> =
        semconv::process_destination(&topology.exchange, spec.routing_key, &spec.queue).into();

    let mut in_flight = JoinSet::new();
    let ended = loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => continue,
            next = deliveries.next() => next,
        };
        match next {
            Some(Ok(delivery)) => {
                let handler = handler.clone();
                let replies = replies.clone();
                let destination = destination.clone();
                in_flight.spawn(async move {
                    process(&*handler, delivery, &replies, &destination).await;
                });
            }
            Some(Err(e)) => break Err(ConsumerError::from(e)),
            None => break Err(ConsumerError::Cancelled),
        }
    };
    attached.store(false, Ordering::Relaxed);
    if ended.is_ok() {
        // Graceful stop: take no more deliveries, let the running handlers finish.
        let _ = channel
            .basic_cancel(
                spec.consumer_tag.as_str().into(),
                BasicCancelOptions::default(),
            )
            .await;
        if !in_flight.is_empty() {
            tracing::info!(
                consumer = spec.what,
                in_flight = in_flight.len(),
                "draining in-flight deliveries"
            );
        }
        let drained = tokio::time::timeout(spec.drain, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                consumer = spec.what,
                unfinished = in_flight.len(),
                "drain deadline passed; unfinished deliveries go back to the queue"
            );
            in_flight.abort_all();
        }
        let _ = connection.close(200, "shutting down".into()).await;
    } else {
        // The connection is gone: their acks cannot be sent; the broker redelivers them.
        in_flight.abort_all();
    }
    ended
}

/// One delivery: count it, decode it (or reject it), run the handler in its span, settle it.
async fn process<H: Handler>(
    handler: &H,
    delivery: Delivery,
    replies: &Channel,
    destination: &str,
) {
    let consumed_at = Utc::now();
    let started = Instant::now();
    let attributes = MessagingMetrics::delivery_attributes(destination);
    let metrics = handler.metrics();
    if let Some(metrics) = metrics {
        metrics.consumed.add(1, &attributes);
    }
    let message = match H::Message::decode(&delivery.data) {
        Ok(message) => message,
        Err(e) => {
            tracing::error!(
                error = %e,
                delivery_tag = delivery.delivery_tag,
                message_id = delivery.properties.message_id().as_ref().map(|s| s.as_str()),
                body_bytes = delivery.data.len(),
                "undecodable {} message; rejecting it (to the dead-letter queue, where its queue has one)",
                H::Message::KIND
            );
            if let Some(metrics) = metrics {
                metrics.rejected.add(1, &attributes);
            }
            let _ = delivery
                .acker
                .reject(BasicRejectOptions { requeue: false })
                .await;
            return;
        }
    };
    let headers = delivery.properties.headers().as_ref();
    let envelope = Envelope {
        message,
        parent: trace_headers::extract_context(headers),
        delivery_count: trace_headers::delivery_count(headers),
        redelivered: delivery.redelivered,
        delivery_tag: delivery.delivery_tag,
        body_len: delivery.data.len(),
        properties: delivery.properties.clone(),
        consumed_at,
    };
    let span = handler.span(&envelope, destination);
    continue_from_producer(&span, envelope.parent.clone());
    let outcome = handler.handle(envelope, replies).instrument(span).await;
    let settled = match outcome {
        Outcome::Ack => delivery.acker.ack(BasicAckOptions::default()).await,
        Outcome::Requeue => {
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    multiple: false,
                })
                .await
        }
        Outcome::DeadLetter => {
            delivery
                .acker
                .reject(BasicRejectOptions { requeue: false })
                .await
        }
    };
    if let Err(e) = settled {
        // The channel is gone; the broker redelivers the message.
        tracing::warn!(error = %e, ?outcome, "could not settle a delivery");
    }
    if let Some(metrics) = metrics {
        metrics
            .process_duration
            .record(started.elapsed().as_secs_f64(), &attributes);
    }
}
