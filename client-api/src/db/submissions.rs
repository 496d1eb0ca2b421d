//! Every statement on `submissions`: storing one as accepted (with its outbox row, in one
//! transaction), reading it back as the API's view, marking it `judging`, finalizing it.
//!
//! Adding a timing means: a field in the message contract (`messaging::WorkerTimings`), a
//! column here (the migration, [`finalize`], [`SubmissionRecord`]) and a field in the view
//! (`api_contract::Timings`, filled in [`SubmissionRecord::into_view`]).

use crate::outbox;
use api_contract::{SubmissionStatus, SubmissionView, Timings};
use chrono::{DateTime, Utc};
use messaging::semconv::span;
use messaging::{
    QueueWaitPrecision, ResultMessage, StartedMessage, SubmissionMessage, TestcaseResult,
    TestcaseSource,
};
use sqlx::PgPool;
use std::collections::BTreeMap;
use tracing::Instrument;
use uuid::Uuid;

/// A submission the API has accepted, ready to be stored.
pub struct AcceptedSubmission {
    pub message: SubmissionMessage,
    pub problem_version: Option<i32>,
    pub trace_id: String,
    /// Whether the trace is recorded (an incoming `traceparent` may say it is not).
    pub trace_sampled: bool,
    /// W3C headers of the request's span, for a late publish to continue the trace.
    pub trace_context: BTreeMap<String, String>,
    pub accepted_at: DateTime<Utc>,
    /// Who submitted (an opaque client id).
    pub owner: String,
}

/// `submission.store`: the submission and its outbox row, in one transaction. Once this
/// commits the submission cannot be lost: the request or the outbox relay publishes it.
pub async fn store(pool: &PgPool, new: &AcceptedSubmission) -> Result<(), sqlx::Error> {
    let msg = &new.message;
    let store_span = tracing::info_span!(
        span::SUBMISSION_STORE,
        otel.kind = "internal",
        db.system.name = "postgresql",
        db.operation.name = "INSERT",
        db.collection.name = "submissions",
        submission.id = %msg.submission_id,
        judge.language = %msg.language,
    );
    async {
        let (problem_id, inline) = match &msg.testcases {
            TestcaseSource::Problem { problem_id, .. } => (Some(*problem_id), None),
            TestcaseSource::Inline { testcases } => (None, Some(sqlx::types::Json(testcases))),
        };
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO submissions (id, problem_id, problem_version, language, source, \
             time_limit_ms, memory_limit_mb, inline_testcases, status, trace_id, accepted_at, \
             owner, trace_sampled) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(msg.submission_id)
        .bind(problem_id)
        .bind(new.problem_version)
        .bind(&msg.language)
        .bind(&msg.source)
        .bind(msg.limits.time_limit_ms as i32)
        .bind(msg.limits.memory_limit_mb as i32)
        .bind(inline)
        .bind(SubmissionStatus::Queued.as_str())
        .bind(&new.trace_id)
        .bind(new.accepted_at)
        .bind(&new.owner)
        .bind(new.trace_sampled)
        .execute(&mut *tx)
        .await?;
        outbox::enqueue(&mut tx, msg, &new.trace_context).await?;
        tx.commit().await
    }
    .instrument(store_span)
    .await
}

/// A stored submission, as read back.
#[derive(sqlx::FromRow)]
pub struct SubmissionRecord {
    id: Uuid,
    owner: String,
    status: String,
    verdict: Option<String>,
    language: String,
    problem_id: Option<i64>,
    problem_version: Option<i32>,
    compile_output: Option<String>,
    results: Option<sqlx::types::Json<Vec<TestcaseResult>>>,
    error: Option<String>,
    worker_id: Option<String>,
    trace_id: String,
    trace_sampled: bool,
    accepted_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
    consumed_at: Option<DateTime<Utc>>,
    judged_at: Option<DateTime<Utc>>,
    stored_at: Option<DateTime<Utc>>,
    queue_wait_ms: Option<f64>,
    queue_wait_precision: Option<String>,
    testcase_fetch_ms: Option<f64>,
    compile_ms: Option<f64>,
    run_ms: Option<f64>,
}

pub async fn load(pool: &PgPool, id: Uuid) -> Result<Option<SubmissionRecord>, sqlx::Error> {
    sqlx::query_as::<_, SubmissionRecord>(
        "SELECT id, owner, status, verdict, language, problem_id, problem_version, \
         compile_output, results, error, worker_id, trace_id, trace_sampled, accepted_at, \
         published_at, consumed_at, judged_at, stored_at, queue_wait_ms, queue_wait_precision, \
         testcase_fetch_ms, compile_ms, run_ms \
         FROM submissions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

impl SubmissionRecord {
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn status(&self) -> SubmissionStatus {
        // The column's CHECK constraint admits only the three names.
        SubmissionStatus::parse(&self.status).unwrap_or(SubmissionStatus::Queued)
    }

    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// The API's view, with `trace_url` (a link into Grafana, when there is a trace).
    pub fn into_view(self, trace_url: Option<String>) -> SubmissionView {
        let accepted = Some(self.accepted_at);
        let timings = Timings {
            accepted_at: self.accepted_at,
            published_at: self.published_at,
            consumed_at: self.consumed_at,
            judged_at: self.judged_at,
            stored_at: self.stored_at,
            api_ms: millis_between(accepted, self.published_at),
            queue_wait_ms: self.queue_wait_ms,
            queue_wait_precision: self
                .queue_wait_precision
                .as_deref()
                .and_then(QueueWaitPrecision::parse),
            testcase_fetch_ms: self.testcase_fetch_ms,
            compile_ms: self.compile_ms,
            run_ms: self.run_ms,
            result_delivery_ms: millis_between(self.judged_at, self.stored_at),
            end_to_end_ms: millis_between(accepted, self.stored_at),
        };
        SubmissionView {
            id: self.id,
            status: self.status(),
            verdict: self.verdict,
            language: self.language,
            problem_id: self.problem_id,
            problem_version: self.problem_version,
            compile_output: self.compile_output,
            results: self.results.map(|r| r.0).unwrap_or_default(),
            error: self.error,
            worker_id: self.worker_id,
            trace_url: trace_url.filter(|_| self.trace_sampled),
            trace_sampled: self.trace_sampled,
            trace_id: self.trace_id,
            timings,
        }
    }
}

fn millis_between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<f64> {
    let micros = (to? - from?).num_microseconds()?;
    Some(micros as f64 / 1000.0)
}

/// `queued` → `judging`, with who took it and when; nothing else changes, so a started event
/// that arrives after the verdict (they travel on different queues) is a no-op.
pub async fn mark_judging(pool: &PgPool, event: &StartedMessage) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE submissions SET status = $4, worker_id = $2, consumed_at = $3 \
         WHERE id = $1 AND status = $5",
    )
    .bind(event.submission_id)
    .bind(&event.worker_id)
    .bind(event.consumed_at)
    .bind(SubmissionStatus::Judging.as_str())
    .bind(SubmissionStatus::Queued.as_str())
    .execute(pool)
    .await?;
    Ok(())
}

/// What finalizing a result did.
pub enum Finalized {
    Stored {
        accepted_at: DateTime<Utc>,
        stored_at: DateTime<Utc>,
    },
    /// The submission already had its verdict: nothing changed.
    Duplicate,
    UnknownSubmission,
}

/// `submission.finalize`: stores the verdict once; later results for the same submission
/// change nothing — except that a `ServerError` (the judge could not judge) is replaced when
/// a replayed submission is judged after all.
pub async fn finalize(pool: &PgPool, message: &ResultMessage) -> Result<Finalized, sqlx::Error> {
    let finalize_span = tracing::info_span!(
        span::SUBMISSION_FINALIZE,
        otel.kind = "internal",
        db.system.name = "postgresql",
        db.operation.name = "UPDATE",
        db.collection.name = "submissions",
        submission.id = %message.submission_id,
        judge.verdict = message.verdict.as_str(),
        // Accepted to stored, exact and on one span: `trace:duration` is only known once all
        // of a trace's pieces are in one block (Tempo cuts a trace idle for 5 s, e.g. while it
        // waits in the queue), so a slow-submission query reads this instead.
        submission.end_to_end_ms = tracing::field::Empty,
    );
    async {
        let t = &message.timings;
        let done = SubmissionStatus::Done.as_str();
        let stored: Option<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "UPDATE submissions SET status = $14, verdict = $2, compile_output = $3, \
             results = $4, error = $5, worker_id = $6, consumed_at = $7, judged_at = $8, \
             stored_at = clock_timestamp(), queue_wait_ms = $9, testcase_fetch_ms = $10, \
             compile_ms = $11, run_ms = $12, published_at = COALESCE(published_at, $13), \
             queue_wait_precision = $15 \
             WHERE id = $1 AND (status <> $14 OR verdict = 'ServerError') \
             RETURNING accepted_at, stored_at",
        )
        .bind(message.submission_id)
        .bind(message.verdict.as_str())
        .bind(&message.compile_output)
        .bind(sqlx::types::Json(&message.results))
        .bind(message.error.as_deref())
        .bind(&message.worker_id)
        .bind(t.consumed_at)
        .bind(t.judged_at)
        .bind(t.queue_wait_ms)
        .bind(t.testcase_fetch_ms)
        .bind(t.compile_ms)
        .bind(t.run_ms)
        .bind(t.published_at)
        .bind(done)
        .bind(t.queue_wait_precision.map(QueueWaitPrecision::as_str))
        .fetch_optional(pool)
        .await?;
        if let Some((accepted_at, stored_at)) = stored {
            tracing::Span::current().record(
                "submission.end_to_end_ms",
                (stored_at - accepted_at).num_milliseconds(),
            );
            return Ok(Finalized::Stored {
                accepted_at,
                stored_at,
            });
        }
        let exists: Option<(String,)> =
            sqlx::query_as("SELECT status FROM submissions WHERE id = $1")
                .bind(message.submission_id)
                .fetch_optional(pool)
                .await?;
        Ok(match exists {
            Some(_) => Finalized::Duplicate,
            None => Finalized::UnknownSubmission,
        })
    }
    .instrument(finalize_span)
    .await
}
