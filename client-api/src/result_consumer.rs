//! `process judge.result`: stores verdicts as the judges report them.
//!
//! Each result is finalized (`submission.finalize`, in `db::submissions`) and acknowledged only after the database
//! committed it, so a crash loses nothing: the broker redelivers. Finalizing is idempotent by
//! submission id: a duplicate or late result for a finished submission changes nothing. An
//! undecodable message is rejected to the dead-letter queue. While the database is down, a
//! result is held (unacknowledged) and retried, instead of burning its delivery attempts.

use crate::db::submissions::{self, Finalized};
use crate::state::AppState;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use messaging::backoff::Backoff;
use messaging::consume::{ConsumerError, keep_consuming};
use messaging::instrumentation::{MessagingMetrics, continue_from_producer};
use messaging::semconv::{self, span};
use messaging::topology::RESULT_ROUTING_KEY;
use messaging::{ResultMessage, trace_headers};
use opentelemetry::KeyValue;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Results processed at once.
const CONCURRENCY: usize = 16;
/// How long a result is held and retried while the database is failing.
const FINALIZE_RETRY_FOR: Duration = Duration::from_secs(300);

pub async fn run_result_consumer(state: AppState, shutdown: CancellationToken) {
    keep_consuming("results", &shutdown, &state.result_consumer_up, || {
        consume(&state, &shutdown)
    })
    .await;
}

async fn consume(state: &AppState, shutdown: &CancellationToken) -> Result<(), ConsumerError> {
    let topology = state.broker.topology().clone();
    let connection = Connection::connect(
        state.broker.url(),
        ConnectionProperties::default().with_connection_name("client-api-results".into()),
    )
    .await?;
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    channel
        .basic_qos(CONCURRENCY as u16, BasicQosOptions::default())
        .await?;
    let tag = format!("client-api-{}", std::process::id());
    let mut deliveries = channel
        .basic_consume(
            topology.result_queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    state.result_consumer_up.store(true, Ordering::Relaxed);
    tracing::info!(queue = %topology.result_queue, "consuming results");

    let slots = Arc::new(Semaphore::new(CONCURRENCY));
    let destination = Arc::new(semconv::process_destination(
        &topology.exchange,
        RESULT_ROUTING_KEY,
        &topology.result_queue,
    ));
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = deliveries.next() => next,
        };
        let delivery = match next {
            Some(Ok(delivery)) => delivery,
            Some(Err(e)) => return Err(e.into()),
            None => return Err(ConsumerError::Cancelled),
        };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let state = state.clone();
        let destination = destination.clone();
        tokio::spawn(async move {
            handle_delivery(&state, delivery, &destination).await;
            drop(permit);
        });
    }
    // Let in-flight results finish, then leave; unacknowledged ones are redelivered.
    let _ = slots.acquire_many(CONCURRENCY as u32).await;
    let _ = connection.close(200, "shutting down".into()).await;
    Ok(())
}

async fn handle_delivery(state: &AppState, delivery: lapin::message::Delivery, destination: &str) {
    let started = Instant::now();
    let base_attributes = MessagingMetrics::delivery_attributes(destination);
    state.metrics.messaging.consumed.add(1, &base_attributes);

    let headers = delivery.properties.headers().as_ref();
    let message = match ResultMessage::decode(&delivery.data) {
        Ok(message) => message,
        Err(e) => {
            tracing::error!(error = %e, delivery_tag = delivery.delivery_tag, "undecodable result message; sending it to the dead-letter queue");
            state.metrics.messaging.rejected.add(1, &base_attributes);
            let _ = delivery
                .acker
                .reject(BasicRejectOptions { requeue: false })
                .await;
            return;
        }
    };
    let parent = trace_headers::extract_context(headers);
    let id = message.submission_id.to_string();
    let consumer = messaging::consumer_span!(
        span::PROCESS_RESULT,
        destination,
        RESULT_ROUTING_KEY,
        delivery,
        id,
        state.broker_endpoint,
        judge.verdict = message.verdict.as_str()
    );
    continue_from_producer(&consumer, parent);

    async {
        let outcome = finalize_with_retry(state, &message).await;
        match outcome {
            Ok(Finalized::Stored { accepted_at, stored_at }) => {
                let _ = delivery.acker.ack(BasicAckOptions::default()).await;
                state.completions.finished(message.submission_id);
                let e2e = (stored_at - accepted_at).num_microseconds().unwrap_or(0) as f64 / 1e6;
                state.metrics.e2e_duration.record(
                    e2e.max(0.0),
                    &[KeyValue::new("judge.verdict", message.verdict.as_str())],
                );
                tracing::info!(submission.id = %message.submission_id, verdict = %message.verdict, end_to_end_ms = e2e * 1000.0, "submission finalized");
            }
            Ok(Finalized::Duplicate) => {
                let _ = delivery.acker.ack(BasicAckOptions::default()).await;
                tracing::info!(submission.id = %message.submission_id, "duplicate result for a finished submission ignored");
            }
            Ok(Finalized::UnknownSubmission) => {
                tracing::error!("result for an unknown submission; sending it to the dead-letter queue");
                let _ = delivery.acker.reject(BasicRejectOptions { requeue: false }).await;
            }
            Err(e) => {
                let span = tracing::Span::current();
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_description", e.to_string());
                tracing::error!(error = %e, "cannot store the result; returning it to the queue");
                let _ = delivery
                    .acker
                    .nack(BasicNackOptions { requeue: true, multiple: false })
                    .await;
            }
        }
    }
    .instrument(consumer)
    .await;
    state
        .metrics
        .messaging
        .process_duration
        .record(started.elapsed().as_secs_f64(), &base_attributes);
}

async fn finalize_with_retry(
    state: &AppState,
    message: &ResultMessage,
) -> Result<Finalized, sqlx::Error> {
    let deadline = Instant::now() + FINALIZE_RETRY_FOR;
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        match submissions::finalize(&state.pool, message).await {
            Err(e) if is_transient(&e) => {
                let pause = backoff.next_delay();
                if Instant::now() + pause >= deadline {
                    return Err(e);
                }
                tracing::warn!(error = %e, "database unavailable while finalizing; retrying");
                tokio::time::sleep(pause).await;
            }
            other => return other,
        }
    }
}

fn is_transient(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Protocol(_)
    )
}
