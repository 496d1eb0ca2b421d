//! `GET /api/v1/submissions/{id}[?wait_ms=N]`: status, verdict, per-test results and the
//! timeline of every stage, of the current judging and of each earlier one.
//!
//! With `wait_ms`, the request is held until the submission is done or the time is up. It is
//! woken by the result consumer as soon as the verdict is committed; it never polls the
//! database in a loop.

use crate::access::Caller;
use crate::db::judgings;
use crate::db::submissions::{self, SubmissionRecord};
use crate::problem_details::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use api_contract::{SubmissionStatus, SubmissionView};
use axum::Extension;
use axum::extract::State;
use serde::Deserialize;
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
    if !caller.may_read(row.owner()) {
        return Err(ApiError::NotFound(format!("no submission with id `{id}`")));
    }
    if row.status() != SubmissionStatus::Done && !wait.is_zero() {
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
                    if row.status() == SubmissionStatus::Done {
                        break;
                    }
                }
                Ok(Err(RecvError::Closed)) | Err(_) => break,
            }
        }
    }
    let history = judgings::history(&state.pool, id).await?;
    Ok(ApiJson(
        row.into_view(history, &|trace_id| state.trace_url(trace_id)),
    ))
}

async fn load(state: &AppState, id: Uuid) -> Result<SubmissionRecord, ApiError> {
    submissions::load(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no submission with id `{id}`")))
}
