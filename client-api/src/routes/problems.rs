//! Problems: create one with its limits and test cases, read it, replace its test cases
//! (which makes a new version; old versions stay for reproducibility and worker caches).

use crate::db::problems;
use crate::domain::{NewProblem, TestcaseSet};
use crate::problem_details::{ApiError, ApiJson, ApiPath};
use crate::state::AppState;
use api_contract::{CreateProblem, ProblemCreated, ProblemView, ReplaceTestcases};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

#[utoipa::path(post, path = "/api/v1/problems", request_body = CreateProblem, responses(
    (status = 201, body = ProblemCreated),
    (status = 400, body = crate::problem_details::ProblemDetails),
    (status = 422, body = crate::problem_details::ProblemDetails)))]
pub async fn create_problem(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateProblem>,
) -> Result<impl IntoResponse, ApiError> {
    let problem = NewProblem::parse(body).map_err(ApiError::Validation)?;
    let id = problems::create(&state.pool, &problem).await?;
    tracing::info!(problem.id = id, "problem created");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/problems/{id}"))],
        ApiJson(ProblemCreated { id, version: 1 }),
    ))
}

#[utoipa::path(get, path = "/api/v1/problems/{id}", params(("id" = i64, Path)), responses(
    (status = 200, body = ProblemView),
    (status = 404, body = crate::problem_details::ProblemDetails)))]
pub async fn get_problem(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<ProblemView>, ApiError> {
    problems::view(&state.pool, id)
        .await?
        .map(ApiJson)
        .ok_or_else(|| ApiError::NotFound(format!("no problem with id {id}")))
}

#[utoipa::path(put, path = "/api/v1/problems/{id}/testcases", params(("id" = i64, Path)),
    request_body = ReplaceTestcases, responses(
    (status = 200, body = ProblemCreated),
    (status = 404, body = crate::problem_details::ProblemDetails),
    (status = 422, body = crate::problem_details::ProblemDetails)))]
pub async fn replace_testcases(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReplaceTestcases>,
) -> Result<ApiJson<ProblemCreated>, ApiError> {
    let testcases = TestcaseSet::parse("testcases", body.testcases)?;
    let version = problems::replace_testcases(&state.pool, id, &testcases)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no problem with id {id}")))?;
    tracing::info!(problem.id = id, version, "test cases replaced");
    Ok(ApiJson(ProblemCreated { id, version }))
}
