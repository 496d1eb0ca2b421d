//! Every statement on `submissions`: storing one as accepted (with its outbox row, in one
//! transaction), reading it back as the API's view, marking it `judging`, finalizing it, and
//! starting a new judging of it (a rejudge, [`lock_for_rejudge`] and [`requeue`]).
//!
//! Results and started events carry the judging they answer; they change the row only when
//! that is its current `judging`, so a rejudge's predecessor can never overwrite it.
//!
//! Adding a timing means: a field in the message contract (`messaging::WorkerTimings`), a
//! column here (the migration, [`finalize`], [`SubmissionRecord`]) and a field in the view
//! (`api_contract::Timings`, filled in [`SubmissionRecord::into_view`]).

use crate::outbox::{self, Claim};
use api_contract::{JudgingView, SubmissionStatus, SubmissionView, Timings};
use chrono::{DateTime, Utc};
use messaging::semconv::span;
use messaging::{
    Limits, QueueWaitPrecision, ResultMessage, StartedMessage, SubmissionMessage, Testcase,
    TestcaseResult, TestcaseSource,
};
use sqlx::{PgConnection, PgPool};
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
             owner, trace_sampled, judging, run_all_testcases, traceparent, requested_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $11)",
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
        .bind(msg.judging as i32)
        .bind(msg.run_all_testcases)
        .bind(new.trace_context.get("traceparent"))
        .execute(&mut *tx)
        .await?;
        outbox::enqueue(&mut tx, msg, &new.trace_context, Claim::Request).await?;
        tx.commit().await
    }
    .instrument(store_span)
    .await
}

/// The columns of one judging, in `submissions` (the current one) and in
/// `submission_judgings` (earlier ones) alike.
#[derive(sqlx::FromRow)]
pub struct JudgingRecord {
    judging: i32,
    status: String,
    problem_version: Option<i32>,
    verdict: Option<String>,
    compile_output: Option<String>,
    results: Option<sqlx::types::Json<Vec<TestcaseResult>>>,
    error: Option<String>,
    worker_id: Option<String>,
    trace_id: String,
    trace_sampled: bool,
    requested_at: DateTime<Utc>,
    published_at: Option<DateTime<Utc>>,
    consumed_at: Option<DateTime<Utc>>,
    judged_at: Option<DateTime<Utc>>,
    stored_at: Option<DateTime<Utc>>,
    queue_wait_ms: Option<f64>,
    queue_wait_precision: Option<String>,
    testcase_fetch_ms: Option<f64>,
    compile_ms: Option<f64>,
    run_ms: Option<f64>,
    compile_cached: Option<bool>,
}

/// The [`JudgingRecord`] columns, for a `SELECT` from either table (a macro: sqlx takes only
/// literal SQL, which `concat!` keeps).
macro_rules! judging_columns {
    () => {
        "judging, status, problem_version, verdict, compile_output, results, error, worker_id, \
         trace_id, trace_sampled, requested_at, published_at, consumed_at, judged_at, stored_at, \
         queue_wait_ms, queue_wait_precision, testcase_fetch_ms, compile_ms, run_ms, \
         compile_cached"
    };
}
pub(crate) use judging_columns;

impl JudgingRecord {
    pub fn status(&self) -> SubmissionStatus {
        // The columns' CHECK constraints admit only the three names.
        SubmissionStatus::parse(&self.status).unwrap_or(SubmissionStatus::Queued)
    }

    pub fn judging(&self) -> u32 {
        self.judging.max(1) as u32
    }

    /// This judging's timeline; `accepted_at` is the submission's.
    fn timings(&self, accepted_at: DateTime<Utc>) -> Timings {
        let requested = Some(self.requested_at);
        Timings {
            accepted_at,
            requested_at: self.requested_at,
            published_at: self.published_at,
            consumed_at: self.consumed_at,
            judged_at: self.judged_at,
            stored_at: self.stored_at,
            api_ms: millis_between(requested, self.published_at),
            queue_wait_ms: self.queue_wait_ms,
            queue_wait_precision: self
                .queue_wait_precision
                .as_deref()
                .and_then(QueueWaitPrecision::parse),
            testcase_fetch_ms: self.testcase_fetch_ms,
            compile_ms: self.compile_ms,
            compile_cached: self.compile_cached,
            run_ms: self.run_ms,
            result_delivery_ms: millis_between(self.judged_at, self.stored_at),
            end_to_end_ms: millis_between(requested, self.stored_at),
        }
    }
}

/// An earlier judging, as read from `submission_judgings` (`crate::db::judgings`).
#[derive(sqlx::FromRow)]
pub struct PastJudging {
    #[sqlx(flatten)]
    pub judging: JudgingRecord,
    pub superseded_at: DateTime<Utc>,
}

impl PastJudging {
    fn into_view(
        self,
        accepted_at: DateTime<Utc>,
        trace_url: &dyn Fn(&str) -> Option<String>,
    ) -> JudgingView {
        let j = self.judging;
        JudgingView {
            judging: j.judging(),
            status: j.status(),
            timings: j.timings(accepted_at),
            trace_url: trace_url(&j.trace_id).filter(|_| j.trace_sampled),
            verdict: j.verdict,
            problem_version: j.problem_version,
            compile_output: j.compile_output,
            results: j.results.map(|r| r.0).unwrap_or_default(),
            error: j.error,
            worker_id: j.worker_id,
            trace_id: j.trace_id,
            trace_sampled: j.trace_sampled,
            superseded_at: self.superseded_at,
        }
    }
}

/// A stored submission, as read back.
#[derive(sqlx::FromRow)]
pub struct SubmissionRecord {
    id: Uuid,
    owner: String,
    language: String,
    problem_id: Option<i64>,
    accepted_at: DateTime<Utc>,
    #[sqlx(flatten)]
    current: JudgingRecord,
}

pub async fn load(pool: &PgPool, id: Uuid) -> Result<Option<SubmissionRecord>, sqlx::Error> {
    sqlx::query_as::<_, SubmissionRecord>(concat!(
        "SELECT id, owner, language, problem_id, accepted_at, ",
        judging_columns!(),
        " FROM submissions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

impl SubmissionRecord {
    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn status(&self) -> SubmissionStatus {
        self.current.status()
    }

    /// The API's view with its earlier judgings (oldest first); `trace_url` makes a link into
    /// Grafana for a trace id (when there is a trace).
    pub fn into_view(
        self,
        history: Vec<PastJudging>,
        trace_url: &dyn Fn(&str) -> Option<String>,
    ) -> SubmissionView {
        let accepted_at = self.accepted_at;
        let c = self.current;
        SubmissionView {
            id: self.id,
            status: c.status(),
            judging: c.judging(),
            timings: c.timings(accepted_at),
            trace_url: trace_url(&c.trace_id).filter(|_| c.trace_sampled),
            verdict: c.verdict,
            language: self.language,
            problem_id: self.problem_id,
            problem_version: c.problem_version,
            compile_output: c.compile_output,
            results: c.results.map(|r| r.0).unwrap_or_default(),
            error: c.error,
            worker_id: c.worker_id,
            trace_sampled: c.trace_sampled,
            trace_id: c.trace_id,
            history: history
                .into_iter()
                .map(|past| past.into_view(accepted_at, trace_url))
                .collect(),
        }
    }
}

fn millis_between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<f64> {
    let micros = (to? - from?).num_microseconds()?;
    Some(micros as f64 / 1000.0)
}

/// What a started event did.
#[derive(Debug, PartialEq, Eq)]
pub enum Marked {
    Judging,
    /// The submission was not `queued` any more (a verdict came first): nothing changed.
    Unchanged,
    /// The event is for another judging than the current one (a rejudge superseded it).
    Stale {
        current: u32,
    },
    UnknownSubmission,
}

/// `queued` → `judging`, with who took it and when, for the current judging only; nothing
/// else changes, so a started event that arrives after the verdict (they travel on different
/// queues) or for a superseded judging is a no-op.
pub async fn mark_judging(pool: &PgPool, event: &StartedMessage) -> Result<Marked, sqlx::Error> {
    let (current, marked): (Option<i32>, bool) = sqlx::query_as(
        "WITH marked AS ( \
             UPDATE submissions SET status = $4, worker_id = $2, consumed_at = $3 \
             WHERE id = $1 AND status = $5 AND judging = $6 RETURNING 1) \
         SELECT (SELECT judging FROM submissions WHERE id = $1), EXISTS (SELECT 1 FROM marked)",
    )
    .bind(event.submission_id)
    .bind(&event.worker_id)
    .bind(event.consumed_at)
    .bind(SubmissionStatus::Judging.as_str())
    .bind(SubmissionStatus::Queued.as_str())
    .bind(i64::from(event.judging))
    .fetch_one(pool)
    .await?;
    Ok(match current {
        None => Marked::UnknownSubmission,
        Some(_) if marked => Marked::Judging,
        Some(current) if i64::from(current) != i64::from(event.judging) => Marked::Stale {
            current: current.max(1) as u32,
        },
        Some(_) => Marked::Unchanged,
    })
}

/// What finalizing a result did.
pub enum Finalized {
    Stored {
        /// When this judging was requested (end to end counts from here).
        requested_at: DateTime<Utc>,
        stored_at: DateTime<Utc>,
    },
    /// The submission already had its verdict for this judging: nothing changed.
    Duplicate,
    /// The result answers another judging than the current one (a rejudge superseded it):
    /// nothing changed.
    Stale {
        current: u32,
    },
    UnknownSubmission,
}

/// `submission.finalize`: stores the verdict of the current judging once; later results for
/// it change nothing — except that a `ServerError` (the judge could not judge) is replaced
/// when a replayed submission is judged after all. A result for another judging changes
/// nothing either.
pub async fn finalize(pool: &PgPool, message: &ResultMessage) -> Result<Finalized, sqlx::Error> {
    let finalize_span = tracing::info_span!(
        span::SUBMISSION_FINALIZE,
        otel.kind = "internal",
        db.system.name = "postgresql",
        db.operation.name = "UPDATE",
        db.collection.name = "submissions",
        submission.id = %message.submission_id,
        judge.verdict = message.verdict.as_str(),
        // Requested to stored, exact and on one span: `trace:duration` is only known once all
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
             queue_wait_precision = $15, compile_cached = $16 \
             WHERE id = $1 AND judging = $17 AND (status <> $14 OR verdict = 'ServerError') \
             RETURNING requested_at, stored_at",
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
        .bind(t.compile_cached)
        .bind(i64::from(message.judging))
        .fetch_optional(pool)
        .await?;
        if let Some((requested_at, stored_at)) = stored {
            tracing::Span::current().record(
                "submission.end_to_end_ms",
                (stored_at - requested_at).num_milliseconds(),
            );
            return Ok(Finalized::Stored {
                requested_at,
                stored_at,
            });
        }
        let current: Option<(i32,)> =
            sqlx::query_as("SELECT judging FROM submissions WHERE id = $1")
                .bind(message.submission_id)
                .fetch_optional(pool)
                .await?;
        Ok(match current {
            None => Finalized::UnknownSubmission,
            Some((current,)) if i64::from(current) != i64::from(message.judging) => {
                Finalized::Stale {
                    current: current.max(1) as u32,
                }
            }
            Some(_) => Finalized::Duplicate,
        })
    }
    .instrument(finalize_span)
    .await
}

/// What a rejudge needs of a submission it is about to queue again, read with the row
/// locked (`FOR UPDATE`) until the rejudge's transaction ends.
#[derive(sqlx::FromRow)]
pub struct RejudgeCandidate {
    pub id: Uuid,
    judging: i32,
    language: String,
    source: String,
    time_limit_ms: i32,
    memory_limit_mb: i32,
    problem_id: Option<i64>,
    inline_testcases: Option<sqlx::types::Json<Vec<Testcase>>>,
    run_all_testcases: bool,
    /// The problem's current limits and version (problem submissions).
    current_time_limit_ms: Option<i32>,
    current_memory_limit_mb: Option<i32>,
    current_version: Option<i32>,
    /// The traceparent of the submission's first judging, to link the new trace to.
    pub original_traceparent: Option<String>,
    pub original_sampled: bool,
}

/// Which submissions a rejudge takes.
#[derive(Debug, Clone, Copy)]
pub enum RejudgeSelection {
    One(Uuid),
    /// The next `limit` submissions of a problem with an id above `after`, in id order,
    /// accepted until `accepted_until` (not those submitted while the rejudge runs).
    OfProblem {
        problem_id: i64,
        after: Option<Uuid>,
        accepted_until: DateTime<Utc>,
        limit: i64,
    },
}

/// Locks the selected submissions (in id order, so concurrent rejudges cannot deadlock) and
/// reads what queuing them again needs, with their problem's current version and limits.
pub async fn lock_for_rejudge(
    tx: &mut PgConnection,
    selection: RejudgeSelection,
) -> Result<Vec<RejudgeCandidate>, sqlx::Error> {
    // The first judging's traceparent: in the history once the submission was rejudged.
    macro_rules! select {
        () => {
            "SELECT s.id, s.judging, s.language, s.source, s.time_limit_ms, \
         s.memory_limit_mb, s.problem_id, s.inline_testcases, s.run_all_testcases, \
         p.time_limit_ms AS current_time_limit_ms, p.memory_limit_mb AS current_memory_limit_mb, \
         p.version AS current_version, \
         COALESCE(h.traceparent, CASE WHEN s.judging = 1 THEN s.traceparent END) \
             AS original_traceparent, \
         COALESCE(h.trace_sampled, s.trace_sampled) AS original_sampled \
         FROM submissions s \
         LEFT JOIN problems p ON p.id = s.problem_id \
         LEFT JOIN submission_judgings h ON h.submission_id = s.id AND h.judging = 1"
        };
    }
    match selection {
        RejudgeSelection::One(id) => {
            sqlx::query_as(concat!(select!(), " WHERE s.id = $1 FOR UPDATE OF s"))
                .bind(id)
                .fetch_all(tx)
                .await
        }
        RejudgeSelection::OfProblem {
            problem_id,
            after,
            accepted_until,
            limit,
        } => {
            sqlx::query_as(concat!(
                select!(),
                " WHERE s.problem_id = $1 AND ($2::uuid IS NULL OR s.id > $2) \
                 AND s.accepted_at <= $4 ORDER BY s.id LIMIT $3 FOR UPDATE OF s"
            ))
            .bind(problem_id)
            .bind(after)
            .bind(limit)
            .bind(accepted_until)
            .fetch_all(tx)
            .await
        }
    }
}

impl RejudgeCandidate {
    /// The message of the submission's next judging: the same source, against the problem's
    /// current test cases and limits (or the same inline test cases).
    pub fn next_judging(&self) -> SubmissionMessage {
        let testcases = match (self.problem_id, self.current_version) {
            (Some(problem_id), Some(version)) => TestcaseSource::Problem {
                problem_id,
                version,
            },
            _ => TestcaseSource::Inline {
                testcases: self
                    .inline_testcases
                    .as_ref()
                    .map(|t| t.0.clone())
                    .unwrap_or_default(),
            },
        };
        let limit = |current: Option<i32>, stored: i32| current.unwrap_or(stored).max(0) as u32;
        SubmissionMessage {
            schema_version: messaging::contract::SCHEMA_VERSION,
            submission_id: self.id,
            language: self.language.clone(),
            source: self.source.clone(),
            limits: Limits {
                time_limit_ms: limit(self.current_time_limit_ms, self.time_limit_ms),
                memory_limit_mb: limit(self.current_memory_limit_mb, self.memory_limit_mb),
            },
            testcases,
            run_all_testcases: self.run_all_testcases,
            judging: self.judging.max(0) as u32 + 1,
        }
    }
}

/// A new judging of a submission, as [`requeue`] records it.
pub struct NextJudging<'a> {
    pub message: &'a SubmissionMessage,
    pub trace_id: &'a str,
    pub trace_sampled: bool,
    pub traceparent: Option<&'a str>,
    pub requested_at: DateTime<Utc>,
}

/// Makes `next` the submission's current judging: `queued` again with every result column
/// cleared, judged against what the message says. The judging it replaces must have been
/// archived first (`crate::db::judgings::archive`, in the same transaction).
pub async fn requeue(tx: &mut PgConnection, next: &NextJudging<'_>) -> Result<(), sqlx::Error> {
    let msg = next.message;
    let problem_version = match &msg.testcases {
        TestcaseSource::Problem { version, .. } => Some(*version),
        TestcaseSource::Inline { .. } => None,
    };
    sqlx::query(
        "UPDATE submissions SET judging = $2, status = $3, problem_version = $4, \
         time_limit_ms = $5, memory_limit_mb = $6, trace_id = $7, trace_sampled = $8, \
         traceparent = $9, requested_at = $10, verdict = NULL, compile_output = NULL, \
         results = NULL, error = NULL, worker_id = NULL, published_at = NULL, \
         consumed_at = NULL, judged_at = NULL, stored_at = NULL, queue_wait_ms = NULL, \
         queue_wait_precision = NULL, testcase_fetch_ms = NULL, compile_ms = NULL, \
         run_ms = NULL, compile_cached = NULL \
         WHERE id = $1",
    )
    .bind(msg.submission_id)
    .bind(msg.judging as i32)
    .bind(SubmissionStatus::Queued.as_str())
    .bind(problem_version)
    .bind(msg.limits.time_limit_ms as i32)
    .bind(msg.limits.memory_limit_mb as i32)
    .bind(next.trace_id)
    .bind(next.trace_sampled)
    .bind(next.traceparent)
    .bind(next.requested_at)
    .execute(tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate() -> RejudgeCandidate {
        RejudgeCandidate {
            id: Uuid::now_v7(),
            judging: 1,
            language: "c".into(),
            source: "int main(){}".into(),
            time_limit_ms: 1000,
            memory_limit_mb: 64,
            problem_id: Some(7),
            inline_testcases: None,
            run_all_testcases: true,
            current_time_limit_ms: Some(2000),
            current_memory_limit_mb: Some(128),
            current_version: Some(3),
            original_traceparent: None,
            original_sampled: true,
        }
    }

    #[test]
    fn the_next_judging_of_a_problem_submission_takes_the_problems_current_version() {
        let next = candidate().next_judging();
        assert_eq!(next.judging, 2);
        assert_eq!(
            next.testcases,
            TestcaseSource::Problem {
                problem_id: 7,
                version: 3
            }
        );
        assert_eq!(
            next.limits,
            Limits {
                time_limit_ms: 2000,
                memory_limit_mb: 128
            }
        );
        assert!(next.run_all_testcases);
    }

    #[test]
    fn the_next_judging_of_an_inline_submission_keeps_its_test_cases_and_limits() {
        let testcases = vec![Testcase {
            input: "1\n".into(),
            output: "1\n".into(),
        }];
        let inline = RejudgeCandidate {
            judging: 4,
            problem_id: None,
            inline_testcases: Some(sqlx::types::Json(testcases.clone())),
            current_time_limit_ms: None,
            current_memory_limit_mb: None,
            current_version: None,
            ..candidate()
        };
        let next = inline.next_judging();
        assert_eq!(next.judging, 5);
        assert_eq!(next.testcases, TestcaseSource::Inline { testcases });
        assert_eq!(
            next.limits,
            Limits {
                time_limit_ms: 1000,
                memory_limit_mb: 64
            }
        );
    }
}
