//! `submission.store`: the submission and its outbox row, written in one transaction.
//!
//! Once this commits, the submission cannot be lost: either the request publishes it and
//! deletes the outbox row, or the outbox relay does it later (after a broker outage or a
//! crash). The row keeps the request's trace context, so a late publish continues the trace.

use chrono::{DateTime, Utc};
use messaging::SubmissionMessage;
use messaging::semconv::span;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::Instrument;

/// How long the request that stored a submission owns its outbox row before the relay may
/// publish it.
pub const REQUEST_CLAIM: Duration = Duration::from_secs(30);

/// A submission ready to be stored.
pub struct NewSubmission {
    pub message: SubmissionMessage,
    pub problem_version: Option<i32>,
    pub trace_id: String,
    /// Whether the trace is recorded (an incoming `traceparent` may say it is not).
    pub trace_sampled: bool,
    /// W3C headers of the request's span.
    pub trace_context: BTreeMap<String, String>,
    pub accepted_at: DateTime<Utc>,
    /// Who submitted (an opaque client id).
    pub owner: String,
}

pub async fn store_submission(pool: &PgPool, new: &NewSubmission) -> Result<(), sqlx::Error> {
    let msg = &new.message;
    let store = span_store(msg);
    async {
        let (problem_id, inline) = match &msg.testcases {
            messaging::TestcaseSource::Problem { problem_id, .. } => (Some(*problem_id), None),
            messaging::TestcaseSource::Inline { testcases } => {
                (None, Some(sqlx::types::Json(testcases)))
            }
        };
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO submissions (id, problem_id, problem_version, language, source, \
             time_limit_ms, memory_limit_mb, inline_testcases, status, trace_id, accepted_at, owner, \
             trace_sampled) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $10, $11, $12)",
        )
        .bind(msg.submission_id)
        .bind(problem_id)
        .bind(new.problem_version)
        .bind(&msg.language)
        .bind(&msg.source)
        .bind(msg.limits.time_limit_ms as i32)
        .bind(msg.limits.memory_limit_mb as i32)
        .bind(inline)
        .bind(&new.trace_id)
        .bind(new.accepted_at)
        .bind(&new.owner)
        .bind(new.trace_sampled)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO outbox (submission_id, payload, trace_context, claimed_until) \
             VALUES ($1, $2, $3, now() + make_interval(secs => $4))",
        )
        .bind(msg.submission_id)
        .bind(sqlx::types::Json(msg))
        .bind(sqlx::types::Json(&new.trace_context))
        .bind(REQUEST_CLAIM.as_secs_f64())
        .execute(&mut *tx)
        .await?;
        tx.commit().await
    }
    .instrument(store)
    .await
}

fn span_store(msg: &SubmissionMessage) -> tracing::Span {
    tracing::info_span!(
        span::SUBMISSION_STORE,
        otel.kind = "internal",
        db.system.name = "postgresql",
        db.operation.name = "INSERT",
        db.collection.name = "submissions",
        submission.id = %msg.submission_id,
        judge.language = %msg.language,
    )
}
