//! `process judge.result`: stores verdicts as the judges report them.
//!
//! Each result is finalized (`submission.finalize`, in `db::submissions`) and acknowledged only
//! after the database committed it, so a crash loses nothing: the broker redelivers. Finalizing
//! is idempotent by submission id: a duplicate or late result for a finished submission changes
//! nothing. A result for a judging a rejudge has superseded is stale: acknowledged and dropped
//! (logged, and marked on the span with `judge.result.stale`), never stored. An undecodable message is rejected to the dead-letter queue (by the consumer
//! runner). While the database is down, a result is held (unacknowledged) and retried, instead
//! of burning its delivery attempts.

use crate::db::submissions::{self, Finalized};
use crate::state::AppState;
use lapin::Channel;
use messaging::ResultMessage;
use messaging::backoff::Backoff;
use messaging::consumer::{ConsumerSpec, Envelope, Handler, Outcome, run_consumer};
use messaging::instrumentation::MessagingMetrics;
use messaging::semconv::span;
use messaging::topology::RESULT_ROUTING_KEY;
use opentelemetry::KeyValue;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Results processed at once.
const CONCURRENCY: u16 = 16;
/// How long a result is held and retried while the database is failing.
const FINALIZE_RETRY_FOR: Duration = Duration::from_secs(300);
/// How long in-flight results may take to finish after a shutdown request (within the API's
/// own drain); unfinished ones are redelivered.
const DRAIN: Duration = Duration::from_secs(8);

pub async fn run_result_consumer(state: AppState, shutdown: CancellationToken) {
    let topology = state.broker.topology().clone();
    let spec = ConsumerSpec {
        what: "results",
        connection_name: "client-api-results".into(),
        consumer_tag: format!("client-api-{}", std::process::id()),
        queue: topology.result_queue.clone(),
        routing_key: RESULT_ROUTING_KEY,
        concurrency: CONCURRENCY,
        drain: DRAIN,
    };
    let attached = state.result_consumer_up.clone();
    let url = state.broker.url().to_string();
    let handler = Arc::new(StoreResult { state });
    run_consumer(&url, &topology, &spec, handler, &attached, &shutdown).await;
}

/// The handler of `judge.result`.
struct StoreResult {
    state: AppState,
}

impl Handler for StoreResult {
    type Message = ResultMessage;

    fn metrics(&self) -> Option<&MessagingMetrics> {
        Some(&self.state.metrics.messaging)
    }

    fn span(&self, envelope: &Envelope<ResultMessage>, destination: &str) -> tracing::Span {
        messaging::consumer_span!(
            span::PROCESS_RESULT,
            destination,
            RESULT_ROUTING_KEY,
            envelope,
            envelope.message.submission_id,
            self.state.broker_endpoint,
            judge.verdict = envelope.message.verdict.as_str(),
            // Set for rejudged judgings only (absent: the first), and on stale results.
            submission.judging = tracing::field::Empty,
            submission.current_judging = tracing::field::Empty,
            judge.result.stale = tracing::field::Empty,
        )
    }

    async fn handle(&self, envelope: Envelope<ResultMessage>, _replies: &Channel) -> Outcome {
        let state = &self.state;
        let message = &envelope.message;
        let span = tracing::Span::current();
        let rejudged = message.judging > messaging::contract::first_judging();
        if rejudged {
            span.record("submission.judging", i64::from(message.judging));
        }
        match finalize_with_retry(state, message).await {
            Ok(Finalized::Stored {
                requested_at,
                stored_at,
            }) => {
                state.completions.finished(message.submission_id);
                let e2e = (stored_at - requested_at).num_microseconds().unwrap_or(0) as f64 / 1e6;
                state.metrics.e2e_duration.record(
                    e2e.max(0.0),
                    &[
                        KeyValue::new("judge.verdict", message.verdict.as_str()),
                        KeyValue::new("judge.rejudge", rejudged),
                    ],
                );
                tracing::info!(submission.id = %message.submission_id, verdict = %message.verdict, end_to_end_ms = e2e * 1000.0, "submission finalized");
                Outcome::Ack
            }
            Ok(Finalized::Duplicate) => {
                tracing::info!(submission.id = %message.submission_id, "duplicate result for a finished submission ignored");
                Outcome::Ack
            }
            Ok(Finalized::Stale { current }) => {
                span.record("submission.judging", i64::from(message.judging));
                span.record("submission.current_judging", i64::from(current));
                span.record("judge.result.stale", true);
                tracing::info!(
                    submission.id = %message.submission_id,
                    judging = message.judging,
                    current_judging = current,
                    "stale result of a superseded judging ignored"
                );
                Outcome::Ack
            }
            Ok(Finalized::UnknownSubmission) => {
                tracing::error!(
                    "result for an unknown submission; sending it to the dead-letter queue"
                );
                Outcome::DeadLetter
            }
            Err(e) => {
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_description", e.to_string());
                tracing::error!(error = %e, "cannot store the result; returning it to the queue");
                Outcome::Requeue
            }
        }
    }
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
