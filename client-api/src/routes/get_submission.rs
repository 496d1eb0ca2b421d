//! `GET /api/v1/submissions/{id}[?wait_ms=N]`: status, verdict, per-test results and the
//! timeline of every stage.
//!
//! With `wait_ms`, the request is held until the submission is done or the time is up. It is
//! woken by the result consumer as soon as the verdict is committed; it never polls the
//! database in a loop.

use crate::access::Caller;
use crate::problem_details::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Extension;
use axum::extract::State;
use chrono::{DateTime, Utc};
use messaging::{QueueWaitPrecision, TestcaseResult};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

/// The longest a request may wait for a verdict.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Hold the request up to this many ms (at most 60000) until the submission is done.
    #[param(minimum = 0, maximum = 60000)]
    pub wait_ms: Option<u64>,
}

/// Where a submission is: `queued` (accepted, waiting for a judge), `judging` (a worker has
/// taken it; advisory, a fast verdict may skip it), `done` (the verdict is stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionStatus {
    Queued,
    Judging,
    Done,
}

impl SubmissionStatus {
    fn from_column(s: &str) -> Self {
        match s {
            "done" => SubmissionStatus::Done,
            "judging" => SubmissionStatus::Judging,
            _ => SubmissionStatus::Queued,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubmissionView {
    pub id: Uuid,
    pub status: SubmissionStatus,
    pub verdict: Option<String>,
    pub language: String,
    pub problem_id: Option<i64>,
    pub problem_version: Option<i32>,
    pub compile_output: Option<String>,
    pub results: Vec<TestcaseResult>,
    /// Why the verdict is ServerError, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub worker_id: Option<String>,
    pub trace_id: String,
    /// False when the caller's `traceparent` asked not to record the trace: `trace_id` is
    /// continued for correlation, but no trace exists to look at (and there is no `trace_url`).
    pub trace_sampled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_url: Option<String>,
    pub timings: Timings,
}

/// When each stage happened, and how long each took in milliseconds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Timings {
    pub accepted_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub consumed_at: Option<DateTime<Utc>>,
    pub judged_at: Option<DateTime<Utc>>,
    pub stored_at: Option<DateTime<Utc>>,
    /// Accepting the request until the broker confirmed the message.
    pub api_ms: Option<f64>,
    /// Published until a worker received it; null when the message carried no publish time.
    pub queue_wait_ms: Option<f64>,
    /// How finely `queue_wait_ms` is known: `ns` (the `x-published-at-ns` header) or `s` (only
    /// the AMQP `timestamp`, whole seconds).
    pub queue_wait_precision: Option<QueueWaitPrecision>,
    pub testcase_fetch_ms: Option<f64>,
    pub compile_ms: Option<f64>,
    pub run_ms: Option<f64>,
    /// Judged until the verdict was committed by the API.
    pub result_delivery_ms: Option<f64>,
    pub end_to_end_ms: Option<f64>,
}

#[derive(sqlx::FromRow)]
struct SubmissionRow {
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

#[utoipa::path(get, path = "/api/v1/submissions/{id}", params(("id" = Uuid, Path), WaitQuery),
    responses(
    (status = 200, body = SubmissionView),
    (status = 400, body = crate::problem_details::ProblemDetails),
    (status = 404, body = crate::problem_details::ProblemDetails)))]
pub async fn get_submission(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<WaitQuery>,
) -> Result<ApiJson<SubmissionView>, ApiError> {
    if query
        .wait_ms
        .is_some_and(|ms| ms > MAX_WAIT.as_millis() as u64)
    {
        return Err(ApiError::BadRequest(format!(
            "invalid query: wait_ms is at most {}",
            MAX_WAIT.as_millis()
        )));
    }
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::NotFound(format!("no submission with id `{id}`")))?;
    let wait = Duration::from_millis(query.wait_ms.unwrap_or(0)).min(MAX_WAIT);
    // Subscribe before reading, so a verdict stored in between still wakes us.
    let mut finished = state.completions.subscribe();
    let mut row = load(&state, id).await?;
    // Someone else's submission looks exactly like a missing one.
    if !caller.may_read(&row.owner) {
        return Err(ApiError::NotFound(format!("no submission with id `{id}`")));
    }
    if row.status != "done" && !wait.is_zero() {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, finished.recv()).await {
                Ok(Ok(done)) if done == id => {
                    row = load(&state, id).await?;
                    break;
                }
                Ok(Ok(_)) => continue,
                Ok(Err(RecvError::Lagged(_))) => {
                    row = load(&state, id).await?;
                    if row.status == "done" {
                        break;
                    }
                }
                Ok(Err(RecvError::Closed)) | Err(_) => break,
            }
        }
    }
    Ok(ApiJson(view(&state, row)))
}

async fn load(state: &AppState, id: Uuid) -> Result<SubmissionRow, ApiError> {
    sqlx::query_as::<_, SubmissionRow>(
        "SELECT id, owner, status, verdict, language, problem_id, problem_version, compile_output, \
         results, error, worker_id, trace_id, trace_sampled, accepted_at, published_at, consumed_at, judged_at, \
         stored_at, queue_wait_ms, queue_wait_precision, testcase_fetch_ms, compile_ms, run_ms \
         FROM submissions WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no submission with id `{id}`")))
}

fn millis_between(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Option<f64> {
    let micros = (to? - from?).num_microseconds()?;
    Some(micros as f64 / 1000.0)
}

fn view(state: &AppState, row: SubmissionRow) -> SubmissionView {
    let accepted = Some(row.accepted_at);
    let timings = Timings {
        accepted_at: row.accepted_at,
        published_at: row.published_at,
        consumed_at: row.consumed_at,
        judged_at: row.judged_at,
        stored_at: row.stored_at,
        api_ms: millis_between(accepted, row.published_at),
        queue_wait_ms: row.queue_wait_ms,
        queue_wait_precision: row
            .queue_wait_precision
            .as_deref()
            .and_then(QueueWaitPrecision::parse),
        testcase_fetch_ms: row.testcase_fetch_ms,
        compile_ms: row.compile_ms,
        run_ms: row.run_ms,
        result_delivery_ms: millis_between(row.judged_at, row.stored_at),
        end_to_end_ms: millis_between(accepted, row.stored_at),
    };
    SubmissionView {
        id: row.id,
        status: SubmissionStatus::from_column(&row.status),
        verdict: row.verdict,
        language: row.language,
        problem_id: row.problem_id,
        problem_version: row.problem_version,
        compile_output: row.compile_output,
        results: row.results.map(|r| r.0).unwrap_or_default(),
        error: row.error,
        worker_id: row.worker_id,
        trace_url: row
            .trace_sampled
            .then(|| state.trace_url(&row.trace_id))
            .flatten(),
        trace_sampled: row.trace_sampled,
        trace_id: row.trace_id,
        timings,
    }
}
