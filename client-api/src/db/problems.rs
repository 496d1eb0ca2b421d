//! Every statement on `problems` and `problem_testcases`.
//!
//! A problem's test cases are versioned: replacing them inserts a new version and bumps
//! `problems.version`, and old versions stay, so a worker's cache keyed by version is never
//! stale and a submission can always be judged against the version it was accepted with.

use crate::domain::{NewProblem, TestcaseSet};
use api_contract::ProblemView;
use chrono::{DateTime, Utc};
use messaging::{Limits, Testcase};
use sqlx::PgPool;

/// Creates the problem with version 1 of its test cases; returns its id.
pub async fn create(pool: &PgPool, problem: &NewProblem) -> Result<i64, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO problems (title, time_limit_ms, memory_limit_mb, version) \
         VALUES ($1, $2, $3, 1) RETURNING id",
    )
    .bind(&problem.title)
    .bind(problem.time.ms() as i32)
    .bind(problem.memory.mb() as i32)
    .fetch_one(&mut *tx)
    .await?;
    insert_testcases(&mut tx, id, 1, &problem.testcases).await?;
    tx.commit().await?;
    Ok(id)
}

/// Makes `testcases` the problem's next version; `None` when there is no such problem.
pub async fn replace_testcases(
    pool: &PgPool,
    id: i64,
    testcases: &TestcaseSet,
) -> Result<Option<i32>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let version: Option<(i32,)> = sqlx::query_as(
        "UPDATE problems SET version = version + 1, updated_at = now() WHERE id = $1 \
         RETURNING version",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((version,)) = version else {
        return Ok(None);
    };
    insert_testcases(&mut tx, id, version, testcases).await?;
    tx.commit().await?;
    Ok(Some(version))
}

async fn insert_testcases(
    tx: &mut sqlx::PgConnection,
    id: i64,
    version: i32,
    testcases: &TestcaseSet,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO problem_testcases (problem_id, version, testcases) VALUES ($1, $2, $3)",
    )
    .bind(id)
    .bind(version)
    .bind(sqlx::types::Json(testcases.as_slice()))
    .execute(tx)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ProblemRow {
    id: i64,
    title: String,
    time_limit_ms: i32,
    memory_limit_mb: i32,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    testcase_count: i64,
}

/// The problem with its current version's test-case count.
pub async fn view(pool: &PgPool, id: i64) -> Result<Option<ProblemView>, sqlx::Error> {
    let row: Option<ProblemRow> = sqlx::query_as(
        "SELECT p.id, p.title, p.time_limit_ms, p.memory_limit_mb, p.version, p.created_at, \
         p.updated_at, jsonb_array_length(t.testcases)::BIGINT AS testcase_count \
         FROM problems p JOIN problem_testcases t ON t.problem_id = p.id AND t.version = p.version \
         WHERE p.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| ProblemView {
        id: r.id,
        title: r.title,
        time_limit_ms: r.time_limit_ms,
        memory_limit_mb: r.memory_limit_mb,
        version: r.version,
        testcase_count: r.testcase_count,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }))
}

/// What a submission to this problem is judged with now: its limits and test-case version.
pub async fn current_judging(pool: &PgPool, id: i64) -> Result<Option<(Limits, i32)>, sqlx::Error> {
    let row: Option<(i32, i32, i32)> = sqlx::query_as(
        "SELECT time_limit_ms, memory_limit_mb, version FROM problems WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(time, memory, version)| {
        (
            Limits {
                time_limit_ms: time as u32,
                memory_limit_mb: memory as u32,
            },
            version,
        )
    }))
}

/// The test cases of `version`, or of the current version when `None`.
pub async fn testcases(
    pool: &PgPool,
    id: i64,
    version: Option<i32>,
) -> Result<Option<(i32, Vec<Testcase>)>, sqlx::Error> {
    let row: Option<(i32, sqlx::types::Json<Vec<Testcase>>)> = match version {
        Some(version) => {
            sqlx::query_as(
                "SELECT version, testcases FROM problem_testcases \
                 WHERE problem_id = $1 AND version = $2",
            )
            .bind(id)
            .bind(version)
            .fetch_optional(pool)
            .await?
        }
        None => {
            sqlx::query_as(
                "SELECT t.version, t.testcases FROM problems p JOIN problem_testcases t \
                 ON t.problem_id = p.id AND t.version = p.version WHERE p.id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        }
    };
    Ok(row.map(|(version, testcases)| (version, testcases.0)))
}
