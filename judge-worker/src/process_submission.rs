//! `process judge.submission`: one delivery, from the queue to an acknowledged result. The
//! [`Handler`] of the submission queue; `messaging::consumer` runs it and settles the delivery
//! by the [`Outcome`] it returns.
//!
//! Spans: `queue.wait` (from the publish time to delivery, when the message carries one) and
//! the CONSUMER span, both children of the producer's context, the CONSUMER span also linked to
//! it; under it the test-case fetch (cache miss only), `judge.compile`, `judge.run` per test
//! case and `publish judge.result` / `confirm judge.result`.
//!
//! Acknowledgement rules:
//! - undecodable or schema-invalid message → rejected to the dead-letter queue (never
//!   requeued), by the consumer runner;
//! - verdict reached, or a failure retrying cannot fix (unknown problem version, unknown
//!   language) → result published with confirm, then ack;
//! - infrastructure failure (API down, sandbox failure) → requeued, until the last attempt the
//!   queue's delivery limit allows; then a `ServerError` result is published and the message is
//!   dead-lettered for an operator to inspect;
//! - result publish failed → requeued (the result is judged and published again).
//!
//! A delivery the broker has made before is judged in a process of its own
//! (`judge_process.rs`): if judging it crashes that process, the submission gets
//! `ServerError` at once, so a submission that kills a worker never kills the next one.

use crate::judge::{JudgeError, JudgeJob, JudgeOutcome};
use crate::judge_process::{BatchJob, JudgeProcessError};
use crate::started_publisher::announce_started;
use crate::testcase_fetch::FetchError;
use crate::worker::Worker;
use chrono::{DateTime, Utc};
use lapin::Channel;
use messaging::consumer::{Envelope, Handler, Outcome};
use messaging::contract::SCHEMA_VERSION;
use messaging::instrumentation::{ConfirmChannel, MessagingMetrics, TracedPublisher};
use messaging::semconv::{MESSAGING_SYSTEM, span};
use messaging::topology::SUBMISSION_ROUTING_KEY;
use messaging::{
    QueueWaitPrecision, ResultMessage, SubmissionMessage, Testcase, TestcaseSource, Verdict,
    WorkerTimings, trace_headers,
};
use opentelemetry::KeyValue;
use opentelemetry::trace::{SpanKind, Tracer};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How long the broker may take to take a result (write, then confirm).
const RESULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// Why no verdict was reached.
enum Failure {
    /// Retrying cannot help: report `ServerError` now.
    Permanent(String),
    /// Another attempt (here or on another worker) may succeed.
    Transient(String),
}

struct Judged {
    outcome: JudgeOutcome,
    testcase_fetch: Duration,
}

/// The handler of `judge.submission`.
pub struct JudgeSubmission {
    pub worker: Arc<Worker>,
}

impl Handler for JudgeSubmission {
    type Message = SubmissionMessage;

    fn metrics(&self) -> Option<&MessagingMetrics> {
        Some(&self.worker.metrics.messaging)
    }

    fn span(&self, envelope: &Envelope<SubmissionMessage>, destination: &str) -> tracing::Span {
        let worker = &self.worker;
        let message = &envelope.message;
        messaging::consumer_span!(
            span::PROCESS_SUBMISSION,
            destination,
            SUBMISSION_ROUTING_KEY,
            envelope,
            message.submission_id,
            worker.endpoint,
            messaging.client.id = %worker.worker_id,
            judge.language = %message.language,
            judge.verdict = tracing::field::Empty,
            judge.delivery_count = envelope.delivery_count,
            // Recorded by `handle`, which reads the publish time once.
            judge.queue_wait_ms = tracing::field::Empty
        )
    }

    async fn handle(&self, envelope: Envelope<SubmissionMessage>, replies: &Channel) -> Outcome {
        let worker = &self.worker;
        let message = &envelope.message;
        let consumed_at = envelope.consumed_at;
        let queue_wait = QueueWait::of(&envelope);
        match &queue_wait {
            Some(wait) => {
                tracing::Span::current().record("judge.queue_wait_ms", ms(wait.wait));
                record_queue_wait(worker, &envelope.parent, message, consumed_at, wait)
            }
            None => tracing::warn!(
                submission.id = %message.submission_id,
                "the message carries no publish time (no x-published-at-ns header, no AMQP timestamp); its queue wait is unknown"
            ),
        }
        announce_started(
            worker,
            replies,
            message.submission_id,
            message.judging,
            consumed_at,
        );

        let delivery_count = envelope.delivery_count;
        let final_attempt = delivery_count >= worker.topology.delivery_limit;
        let timings = |judged_at: DateTime<Utc>,
                       fetch: Duration,
                       outcome: Option<&JudgeOutcome>| WorkerTimings {
            published_at: queue_wait.as_ref().map(|w| w.published_at),
            consumed_at,
            judged_at,
            queue_wait_ms: queue_wait.as_ref().map(|w| ms(w.wait)),
            queue_wait_precision: queue_wait.as_ref().map(|w| w.precision),
            testcase_fetch_ms: ms(fetch),
            compile_ms: outcome.map_or(0.0, |o| ms(o.compile_time)),
            compile_cached: outcome.is_some_and(|o| o.compile_cached),
            run_ms: outcome.map_or(0.0, |o| ms(o.run_time)),
        };
        // Delivered before: the previous holder may have died judging it.
        let isolated = envelope.redelivered || delivery_count >= 1;
        let (result, dead_letter) = match judge_submission(
            worker,
            message,
            isolated,
            &envelope.parent,
        )
        .await
        {
            Ok(judged) => {
                record_judge_metrics(worker, &message.language, &judged.outcome);
                let outcome = judged.outcome;
                let result = ResultMessage {
                    schema_version: SCHEMA_VERSION,
                    submission_id: message.submission_id,
                    verdict: outcome.verdict,
                    compile_output: outcome.compile_output.clone(),
                    results: outcome.results.clone(),
                    timings: timings(Utc::now(), judged.testcase_fetch, Some(&outcome)),
                    error: None,
                    worker_id: worker.worker_id.clone(),
                    judging: message.judging,
                };
                (result, false)
            }
            Err(Failure::Transient(reason)) if !final_attempt => {
                let span = tracing::Span::current();
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_description", reason.as_str());
                tracing::warn!(%reason, delivery_count, "judging failed; returning the submission to the queue for another attempt");
                // A short pause, so a failing dependency is not hammered by instant retries.
                tokio::time::sleep(Duration::from_millis(
                    250 * (delivery_count.max(0) as u64 + 1),
                ))
                .await;
                return Outcome::Requeue;
            }
            Err(failure) => {
                let (reason, dead_letter) = match failure {
                    Failure::Permanent(reason) => (reason, false),
                    Failure::Transient(reason) => (reason, true),
                };
                let span = tracing::Span::current();
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_description", reason.as_str());
                tracing::error!(%reason, delivery_count, "judging failed; reporting ServerError");
                worker.metrics.submissions.add(
                    1,
                    &[
                        KeyValue::new("judge.language", message.language.clone()),
                        KeyValue::new("judge.verdict", Verdict::ServerError.as_str()),
                    ],
                );
                let result = ResultMessage {
                    schema_version: SCHEMA_VERSION,
                    submission_id: message.submission_id,
                    verdict: Verdict::ServerError,
                    compile_output: String::new(),
                    results: Vec::new(),
                    timings: timings(Utc::now(), Duration::ZERO, None),
                    error: Some(reason),
                    worker_id: worker.worker_id.clone(),
                    judging: message.judging,
                };
                (result, dead_letter)
            }
        };
        tracing::Span::current().record("judge.verdict", result.verdict.as_str());
        let publisher = TracedPublisher {
            topology: &worker.topology,
            endpoint: &worker.endpoint,
            metrics: &worker.metrics.messaging,
        };
        let target = ConfirmChannel {
            channel: replies,
            timeout: RESULT_CONFIRM_TIMEOUT,
        };
        match publisher.publish(&target, &result, None).await {
            Ok(_) if dead_letter => {
                tracing::warn!("submission dead-lettered after its last attempt");
                Outcome::DeadLetter
            }
            Ok(_) => {
                tracing::info!(verdict = %result.verdict, "submission judged");
                Outcome::Ack
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot publish the result; returning the submission to the queue");
                Outcome::Requeue
            }
        }
    }
}

/// The current span's context (the consumer span), for a child process to continue; the
/// producer's when there is no telemetry layer.
fn current_context(fallback: &opentelemetry::Context) -> opentelemetry::Context {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = tracing::Span::current().context();
    if cx.span().span_context().is_valid() {
        cx
    } else {
        fallback.clone()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// How long a message sat in the broker, and how finely that is known.
struct QueueWait {
    published_at: DateTime<Utc>,
    precision: QueueWaitPrecision,
    wait: Duration,
}

impl QueueWait {
    /// From the publish time the producer wrote (`x-published-at-ns`, else the AMQP
    /// `timestamp` in whole seconds) to the delivery; `None` when the message carries neither.
    fn of(envelope: &Envelope<SubmissionMessage>) -> Option<QueueWait> {
        let headers = envelope.properties.headers().as_ref();
        let (published_at, precision) =
            trace_headers::publish_time(headers, *envelope.properties.timestamp())?;
        Some(QueueWait {
            published_at,
            precision,
            wait: (envelope.consumed_at - published_at)
                .to_std()
                .unwrap_or(Duration::ZERO),
        })
    }
}

/// `queue.wait`: a span covering the time the message sat in the broker, from the publish
/// time the producer wrote (`x-published-at-ns`, or the AMQP `timestamp` in whole seconds) to
/// the delivery. Made with the OTel API because its start lies in the past. The
/// `judge.queue.wait` histogram takes only exact waits: a whole-second start would put the
/// wait up to a second too high.
fn record_queue_wait(
    worker: &Worker,
    parent: &opentelemetry::Context,
    message: &SubmissionMessage,
    consumed_at: DateTime<Utc>,
    queue_wait: &QueueWait,
) {
    let tracer = opentelemetry::global::tracer("judge-worker");
    let start = SystemTime::from(consumed_at.min(queue_wait.published_at));
    let end = SystemTime::from(consumed_at);
    let mut wait_span = tracer
        .span_builder(span::QUEUE_WAIT)
        .with_kind(SpanKind::Internal)
        .with_start_time(start)
        .with_attributes([
            KeyValue::new("messaging.system", MESSAGING_SYSTEM),
            KeyValue::new(
                "messaging.destination.name",
                worker.topology.submission_queue.clone(),
            ),
            KeyValue::new("submission.id", message.submission_id.to_string()),
            KeyValue::new("judge.language", message.language.clone()),
            KeyValue::new("judge.queue_wait_ms", ms(queue_wait.wait)),
            KeyValue::new("judge.queue_wait_precision", queue_wait.precision.as_str()),
        ])
        .start_with_context(&tracer, parent);
    opentelemetry::trace::Span::end_with_timestamp(&mut wait_span, end);
    if queue_wait.precision == QueueWaitPrecision::Nanoseconds {
        worker.metrics.queue_wait.record(
            queue_wait.wait.as_secs_f64(),
            &[KeyValue::new("judge.language", message.language.clone())],
        );
    }
}

fn record_judge_metrics(worker: &Worker, language: &str, outcome: &JudgeOutcome) {
    let lang = KeyValue::new("judge.language", language.to_string());
    let compiled = worker
        .engine
        .languages()
        .get(language)
        .is_some_and(|l| !l.compile.is_empty());
    if compiled {
        worker.metrics.compile_cache_lookups.add(
            1,
            &[
                lang.clone(),
                KeyValue::new("judge.compile.cached", outcome.compile_cached),
            ],
        );
    }
    // A cache hit compiled nothing: it is not a compile duration.
    if !outcome.compile_time.is_zero() && !outcome.compile_cached {
        worker.metrics.compile_duration.record(
            outcome.compile_time.as_secs_f64(),
            std::slice::from_ref(&lang),
        );
    }
    for result in outcome
        .results
        .iter()
        .filter(|r| r.verdict != Verdict::Skipped)
    {
        worker.metrics.run_duration.record(
            result.wall_time_ms as f64 / 1000.0,
            &[
                lang.clone(),
                KeyValue::new("judge.verdict", result.verdict.as_str()),
            ],
        );
    }
    worker.metrics.submissions.add(
        1,
        &[
            lang,
            KeyValue::new("judge.verdict", outcome.verdict.as_str()),
        ],
    );
}

async fn judge_submission(
    worker: &Worker,
    message: &SubmissionMessage,
    isolated: bool,
    parent: &opentelemetry::Context,
) -> Result<Judged, Failure> {
    let fetch_started = Instant::now();
    let (testcases, testcase_fetch): (Arc<Vec<Testcase>>, Duration) = match &message.testcases {
        TestcaseSource::Inline { testcases } => (Arc::new(testcases.clone()), Duration::ZERO),
        TestcaseSource::Problem {
            problem_id,
            version,
        } => {
            let (testcases, fetched) =
                worker
                    .fetcher
                    .get(*problem_id, *version)
                    .await
                    .map_err(|e| match e {
                        FetchError::NotFound { .. } => Failure::Permanent(e.to_string()),
                        FetchError::Unavailable(_) => Failure::Transient(e.to_string()),
                    })?;
            let took = if fetched {
                fetch_started.elapsed()
            } else {
                Duration::ZERO
            };
            (testcases, took)
        }
    };

    let slot = worker
        .slots
        .acquire()
        .await
        .ok_or_else(|| Failure::Transient("judging slots are shut down".into()))?;
    let slot_index = slot.index();
    if isolated {
        let job = BatchJob {
            submission_id: message.submission_id,
            language: message.language.clone(),
            source: message.source.clone(),
            limits: message.limits,
            testcases: testcases.as_ref().clone(),
            run_all_testcases: message.run_all_testcases,
            trace_context: trace_headers::context_to_map(&current_context(parent)),
        };
        tracing::info!("judging a redelivered submission in a process of its own");
        let judged = worker.judge_process.judge(slot_index, &job).await;
        drop(slot);
        return match judged {
            Ok(outcome) => Ok(Judged {
                outcome,
                testcase_fetch,
            }),
            Err(JudgeProcessError::Failed { error, retry: true }) => Err(Failure::Transient(error)),
            Err(JudgeProcessError::Failed {
                error,
                retry: false,
            }) => Err(Failure::Permanent(error)),
            Err(e @ JudgeProcessError::Crashed(_)) => Err(Failure::Permanent(e.to_string())),
            Err(e @ JudgeProcessError::Io(_)) => Err(Failure::Transient(e.to_string())),
        };
    }
    let engine = worker.engine.clone();
    let message = message.clone();
    let span = tracing::Span::current();
    let judged = tokio::task::spawn_blocking(move || {
        span.in_scope(|| {
            engine.judge(
                slot_index,
                &JudgeJob {
                    submission_id: message.submission_id,
                    language: &message.language,
                    source: &message.source,
                    limits: message.limits,
                    testcases: &testcases,
                    run_all_testcases: message.run_all_testcases,
                },
            )
        })
    })
    .await;
    drop(slot);
    match judged {
        Ok(Ok(outcome)) => Ok(Judged {
            outcome,
            testcase_fetch,
        }),
        Ok(Err(JudgeError::UnknownLanguage(lang))) => Err(Failure::Permanent(format!(
            "this worker has no language `{lang}`"
        ))),
        Ok(Err(e)) => Err(Failure::Transient(e.to_string())),
        Err(join) => Err(Failure::Transient(format!("judging task failed: {join}"))),
    }
}
