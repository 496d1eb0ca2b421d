//! `POST /api/v1/submissions`: validate, store with an outbox row, publish, answer `202`.
//!
//! The answer waits for the broker's confirm when the broker is reachable, so `202` normally
//! means "in the queue". When it is not, the submission is still accepted (it is committed
//! with its outbox row) and the outbox relay publishes it later.

use crate::access::Caller;
use crate::domain::{FieldError, MemoryLimit, SourceCode, TestcaseSet, TimeLimit};
use crate::problem_details::{ApiError, ApiJson};
use crate::state::AppState;
use crate::submission_publisher::{SubmissionPublisher, mark_published, release_claim};
use crate::submission_store::{NewSubmission, store_submission};
use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::Utc;
use messaging::contract::SCHEMA_VERSION;
use messaging::{Limits, SubmissionMessage, Testcase, TestcaseSource, trace_headers};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// A language id from `GET /api/v1/languages`.
    pub language: String,
    pub source: String,
    /// Judge against this problem's current test cases and limits…
    #[serde(default, deserialize_with = "crate::domain::json_integer::optional")]
    pub problem_id: Option<i64>,
    /// …or against these test cases with the limits below.
    pub testcases: Option<Vec<Testcase>>,
    #[serde(default, deserialize_with = "crate::domain::json_integer::optional")]
    pub time_limit_ms: Option<i64>,
    #[serde(default, deserialize_with = "crate::domain::json_integer::optional")]
    pub memory_limit_mb: Option<i64>,
    /// Run every test case even after one fails (default false: the rest are `Skipped`).
    #[serde(default)]
    pub run_all_testcases: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubmitResponse {
    pub id: Uuid,
    pub status: &'static str,
    pub trace_id: String,
    /// False when the caller's `traceparent` asked not to record the trace: `trace_id` is
    /// continued, but no trace will exist (so there is no `trace_url` either).
    pub trace_sampled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_url: Option<String>,
}

/// What the request resolves to before anything is written.
struct Validated {
    language: String,
    source: SourceCode,
    limits: Limits,
    testcases: TestcaseSource,
    problem_version: Option<i32>,
    run_all_testcases: bool,
}

#[utoipa::path(post, path = "/api/v1/submissions", request_body = SubmitRequest, responses(
    (status = 202, description = "Accepted for judging", body = SubmitResponse,
     headers(("Location" = String, description = "The submission's URL"))),
    (status = 400, body = crate::problem_details::ProblemDetails),
    (status = 413, body = crate::problem_details::ProblemDetails),
    (status = 422, body = crate::problem_details::ProblemDetails),
    (status = 503, body = crate::problem_details::ProblemDetails)))]
pub async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<SubmitRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let accepted_at = Utc::now();
    let valid = validate(&state, body).await?;

    let id = Uuid::now_v7();
    let request_context = tracing::Span::current().context();
    let trace_id = telemetry::current_trace_id().unwrap_or_default();
    let trace_sampled = {
        use opentelemetry::trace::TraceContextExt;
        request_context.span().span_context().is_sampled()
    };
    let message = SubmissionMessage {
        schema_version: SCHEMA_VERSION,
        submission_id: id,
        language: valid.language,
        source: valid.source.as_str().to_string(),
        limits: valid.limits,
        testcases: valid.testcases,
        run_all_testcases: valid.run_all_testcases,
    };
    let new = NewSubmission {
        message,
        problem_version: valid.problem_version,
        trace_id: trace_id.clone(),
        trace_sampled,
        trace_context: trace_headers::context_to_map(&request_context),
        owner: caller.owner().to_string(),
        accepted_at,
    };
    store_submission(&state.pool, &new).await?;

    let publisher = SubmissionPublisher {
        broker: &state.broker,
        endpoint: &state.broker_endpoint,
        metrics: &state.metrics,
    };
    match publisher.publish(&new.message, None).await {
        Ok(published_at) => {
            if let Err(e) = mark_published(&state.pool, id, published_at).await {
                // The message is in the queue; the relay may publish it once more after the
                // claim expires, which the pipeline tolerates (finalize is idempotent).
                tracing::warn!(error = %e, "published, but could not settle the outbox row");
            }
        }
        Err(e) => {
            let _ = release_claim(&state.pool, id, Duration::ZERO, &e.to_string()).await;
            state.relay_wake.notify_one();
        }
    }

    let trace_url = trace_sampled.then(|| state.trace_url(&trace_id)).flatten();
    tracing::info!(submission.id = %id, judge.language = %new.message.language, "submission accepted");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/api/v1/submissions/{id}"))],
        ApiJson(SubmitResponse {
            id,
            status: "queued",
            trace_id,
            trace_sampled,
            trace_url,
        }),
    ))
}

async fn validate(state: &AppState, body: SubmitRequest) -> Result<Validated, ApiError> {
    let mut errors: Vec<FieldError> = Vec::new();
    if state.languages.get(&body.language).is_none() {
        let known: Vec<&str> = state.languages.ids().collect();
        errors.push(FieldError::new(
            "language",
            format!(
                "unknown language `{}`; use one of: {}",
                body.language,
                known.join(", ")
            ),
        ));
    }
    let source = SourceCode::parse(body.source).map_err(|e| errors.push(e));

    let resolved = match (body.problem_id, body.testcases) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "testcases",
                "give either problem_id or testcases, not both",
            ));
            None
        }
        (None, None) => {
            errors.push(FieldError::new(
                "problem_id",
                "give either problem_id or inline testcases",
            ));
            None
        }
        (Some(problem_id), None) => {
            for (field, given) in [
                ("time_limit_ms", body.time_limit_ms.is_some()),
                ("memory_limit_mb", body.memory_limit_mb.is_some()),
            ] {
                if given {
                    errors.push(FieldError::new(
                        field,
                        "the problem's own limits apply; give limits only with inline testcases",
                    ));
                }
            }
            let problem: Option<(i32, i32, i32)> = sqlx::query_as(
                "SELECT time_limit_ms, memory_limit_mb, version FROM problems WHERE id = $1",
            )
            .bind(problem_id)
            .fetch_optional(&state.pool)
            .await?;
            match problem {
                Some((time, memory, version)) => Some((
                    Limits {
                        time_limit_ms: time as u32,
                        memory_limit_mb: memory as u32,
                    },
                    TestcaseSource::Problem {
                        problem_id,
                        version,
                    },
                    Some(version),
                )),
                // A well-formed request for a resource that is not there.
                None => {
                    return Err(ApiError::NotFound(format!(
                        "no problem with id {problem_id}"
                    )));
                }
            }
        }
        (None, Some(testcases)) => {
            let time = match body.time_limit_ms {
                Some(ms) => TimeLimit::parse("time_limit_ms", ms).map_err(|e| errors.push(e)),
                None => {
                    errors.push(FieldError::new(
                        "time_limit_ms",
                        "is required with inline testcases",
                    ));
                    Err(())
                }
            };
            let memory = match body.memory_limit_mb {
                Some(mb) => MemoryLimit::parse("memory_limit_mb", mb).map_err(|e| errors.push(e)),
                None => {
                    errors.push(FieldError::new(
                        "memory_limit_mb",
                        "is required with inline testcases",
                    ));
                    Err(())
                }
            };
            let set = TestcaseSet::parse("testcases", testcases).map_err(|e| errors.push(e));
            match (time, memory, set) {
                (Ok(time), Ok(memory), Ok(set)) => Some((
                    Limits {
                        time_limit_ms: time.ms(),
                        memory_limit_mb: memory.mb(),
                    },
                    TestcaseSource::Inline {
                        testcases: set.into_inner(),
                    },
                    None,
                )),
                _ => None,
            }
        }
    };

    match (source, resolved, errors.is_empty()) {
        (Ok(source), Some((limits, testcases, problem_version)), true) => Ok(Validated {
            language: body.language,
            source,
            limits,
            testcases,
            problem_version,
            run_all_testcases: body.run_all_testcases,
        }),
        _ => Err(ApiError::Validation(errors)),
    }
}
