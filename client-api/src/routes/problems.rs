//! Problems: create one with its limits and test cases, read it, replace its test cases
//! (which makes a new version; old versions stay for reproducibility and worker caches).

use crate::domain::{MemoryLimit, TestcaseSet, TimeLimit, check_text, json_integer};
use crate::problem_details::{ApiError, ApiJson, ApiPath};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use messaging::Testcase;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProblem {
    pub title: String,
    #[serde(deserialize_with = "json_integer::required")]
    pub time_limit_ms: i64,
    #[serde(deserialize_with = "json_integer::required")]
    pub memory_limit_mb: i64,
    pub testcases: Vec<Testcase>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemCreated {
    pub id: i64,
    pub version: i32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemView {
    pub id: i64,
    pub title: String,
    pub time_limit_ms: i32,
    pub memory_limit_mb: i32,
    /// Current test-case version.
    pub version: i32,
    pub testcase_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceTestcases {
    pub testcases: Vec<Testcase>,
}

pub const MAX_TITLE_CHARS: usize = 200;

#[utoipa::path(post, path = "/api/v1/problems", request_body = CreateProblem, responses(
    (status = 201, body = ProblemCreated),
    (status = 400, body = crate::problem_details::ProblemDetails),
    (status = 422, body = crate::problem_details::ProblemDetails)))]
pub async fn create_problem(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateProblem>,
) -> Result<impl IntoResponse, ApiError> {
    let mut errors = Vec::new();
    if let Err(e) = check_text("title", &body.title, MAX_TITLE_CHARS) {
        errors.push(e);
    }
    let title = body.title.trim().to_string();
    let time = TimeLimit::parse("time_limit_ms", body.time_limit_ms).map_err(|e| errors.push(e));
    let memory =
        MemoryLimit::parse("memory_limit_mb", body.memory_limit_mb).map_err(|e| errors.push(e));
    let testcases = TestcaseSet::parse("testcases", body.testcases).map_err(|e| errors.push(e));
    let (Ok(time), Ok(memory), Ok(testcases), true) = (time, memory, testcases, errors.is_empty())
    else {
        return Err(ApiError::Validation(errors));
    };

    let mut tx = state.pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO problems (title, time_limit_ms, memory_limit_mb, version) \
         VALUES ($1, $2, $3, 1) RETURNING id",
    )
    .bind(&title)
    .bind(time.ms() as i32)
    .bind(memory.mb() as i32)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO problem_testcases (problem_id, version, testcases) VALUES ($1, 1, $2)",
    )
    .bind(id)
    .bind(sqlx::types::Json(testcases.as_slice()))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
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
    type Row = (
        i64,
        String,
        i32,
        i32,
        i32,
        DateTime<Utc>,
        DateTime<Utc>,
        i64,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT p.id, p.title, p.time_limit_ms, p.memory_limit_mb, p.version, p.created_at, \
         p.updated_at, jsonb_array_length(t.testcases)::BIGINT \
         FROM problems p JOIN problem_testcases t ON t.problem_id = p.id AND t.version = p.version \
         WHERE p.id = $1",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await?;
    let (id, title, time_limit_ms, memory_limit_mb, version, created_at, updated_at, count) =
        row.ok_or_else(|| ApiError::NotFound(format!("no problem with id {id}")))?;
    Ok(ApiJson(ProblemView {
        id,
        title,
        time_limit_ms,
        memory_limit_mb,
        version,
        testcase_count: count,
        created_at,
        updated_at,
    }))
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
    let mut tx = state.pool.begin().await?;
    let version: Option<(i32,)> = sqlx::query_as(
        "UPDATE problems SET version = version + 1, updated_at = now() WHERE id = $1 RETURNING version",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let (version,) =
        version.ok_or_else(|| ApiError::NotFound(format!("no problem with id {id}")))?;
    sqlx::query(
        "INSERT INTO problem_testcases (problem_id, version, testcases) VALUES ($1, $2, $3)",
    )
    .bind(id)
    .bind(version)
    .bind(sqlx::types::Json(testcases.as_slice()))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(problem.id = id, version, "test cases replaced");
    Ok(ApiJson(ProblemCreated { id, version }))
}
