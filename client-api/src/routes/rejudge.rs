//! `POST /api/v1/submissions/{id}/rejudge` and `POST /api/v1/problems/{id}/rejudge` (admin):
//! queue a submission, or every submission of a problem, for a new judging against the
//! problem's current test cases. `202` lists what was queued; the verdicts arrive like any
//! other, and each submission keeps its earlier judgings in its `history`.

use crate::db::problems;
use crate::problem_details::{ApiError, ApiJson, ApiPath};
use crate::rejudge::{self, Requeued};
use crate::state::AppState;
use api_contract::{ProblemRejudged, RejudgedSubmission};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::Utc;
use uuid::Uuid;

#[utoipa::path(post, path = "/api/v1/submissions/{id}/rejudge", params(("id" = Uuid, Path)),
    responses(
    (status = 202, description = "Queued for a new judging", body = RejudgedSubmission,
     headers(("Location" = String, description = "The submission's URL"))),
    (status = 404, body = crate::problem_details::ProblemDetails),
    (status = 503, body = crate::problem_details::ProblemDetails)))]
pub async fn rejudge_submission(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let requested_at = Utc::now();
    let not_found = || ApiError::NotFound(format!("no submission with id `{id}`"));
    let submission_id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let requeued = rejudge::rejudge_submission(&state, submission_id, requested_at)
        .await?
        .ok_or_else(not_found)?;
    tracing::info!(submission.id = %submission_id, judging = requeued.judging, "submission queued for rejudging");
    Ok((
        StatusCode::ACCEPTED,
        [(
            header::LOCATION,
            format!("/api/v1/submissions/{submission_id}"),
        )],
        ApiJson(view(&state, requeued)),
    ))
}

#[utoipa::path(post, path = "/api/v1/problems/{id}/rejudge", params(("id" = i64, Path)),
    responses(
    (status = 202, description = "Every submission of the problem queued for a new judging",
     body = ProblemRejudged),
    (status = 404, body = crate::problem_details::ProblemDetails),
    (status = 503, body = crate::problem_details::ProblemDetails)))]
pub async fn rejudge_problem(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let requested_at = Utc::now();
    let (_, version) = problems::current_judging(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no problem with id {id}")))?;
    let requeued = rejudge::rejudge_problem(&state, id, requested_at).await?;
    tracing::info!(
        problem.id = id,
        version,
        count = requeued.count,
        "problem queued for rejudging"
    );
    let truncated = requeued.count > requeued.listed.len() as u64;
    let body = ApiJson(ProblemRejudged {
        problem_id: id,
        version,
        count: requeued.count,
        submissions: requeued
            .listed
            .into_iter()
            .map(|r| view(&state, r))
            .collect(),
        truncated,
    });
    Ok((StatusCode::ACCEPTED, body))
}

fn view(state: &AppState, requeued: Requeued) -> RejudgedSubmission {
    let trace_url = requeued
        .trace_sampled
        .then(|| state.trace_url(&requeued.trace_id))
        .flatten();
    RejudgedSubmission {
        id: requeued.id,
        judging: requeued.judging,
        trace_id: requeued.trace_id,
        trace_sampled: requeued.trace_sampled,
        trace_url,
    }
}
