//! `GET /internal/v1/problems/{id}/testcases?version=N`: the worker's source of test cases.
//!
//! A given version never changes, so the answer for an explicit version is cacheable for
//! good — privately: test cases are secret (hidden test cases), so no shared cache may keep
//! them; without a version the latest is returned and must not be cached.

use crate::db::problems;
use crate::problem_details::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use messaging::contract::TestcaseBundle;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A test-case version (from 1); without it, the latest.
    #[param(minimum = 1)]
    pub version: Option<i32>,
}

#[utoipa::path(get, path = "/internal/v1/problems/{id}/testcases",
    params(("id" = i64, Path), VersionQuery), responses(
    (status = 200, body = TestcaseBundle),
    (status = 404, body = crate::problem_details::ProblemDetails)))]
pub async fn get_testcases(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<VersionQuery>,
) -> Result<impl IntoResponse, ApiError> {
    if query.version.is_some_and(|v| v < 1) {
        return Err(ApiError::BadRequest(
            "invalid query: version starts at 1".into(),
        ));
    }
    let row = problems::testcases(&state.pool, id, query.version).await?;
    let (version, testcases) = row.ok_or_else(|| match query.version {
        Some(v) => ApiError::NotFound(format!("problem {id} has no test-case version {v}")),
        None => ApiError::NotFound(format!("no problem with id {id}")),
    })?;
    let cache = if query.version.is_some() {
        "private, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    Ok((
        [(header::CACHE_CONTROL, cache)],
        ApiJson(TestcaseBundle {
            problem_id: id,
            version,
            testcases,
        }),
    ))
}
