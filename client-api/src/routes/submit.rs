//! `POST /api/v1/submissions`: validate, store with an outbox row, publish, answer `202`.
//!
//! The answer waits for the broker's confirm when the broker is reachable, so `202` normally
//! means "in the queue". When it is not, the submission is still accepted (it is committed
//! with its outbox row) and the outbox relay publishes it later.

use crate::access::Caller;
use crate::db::{problems, submissions};
use crate::domain::{JudgedAgainst, NewSubmission};
use crate::outbox::{self, Delivery, Pending};
use crate::problem_details::{ApiError, ApiJson};
use crate::state::AppState;
use crate::submission_publisher::SubmissionPublisher;
use api_contract::{SubmissionStatus, SubmitRequest, SubmitResponse};
use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::Utc;
use messaging::contract::SCHEMA_VERSION;
use messaging::{SubmissionMessage, TestcaseSource, trace_headers};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

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
    let submission = NewSubmission::parse(body, &state.languages).map_err(ApiError::Validation)?;
    let (limits, testcases, problem_version) = match submission.against {
        JudgedAgainst::Problem(problem_id) => {
            // A well-formed request for a resource that is not there.
            let (limits, version) = problems::current_judging(&state.pool, problem_id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no problem with id {problem_id}")))?;
            let source = TestcaseSource::Problem {
                problem_id,
                version,
            };
            (limits, source, Some(version))
        }
        JudgedAgainst::Inline { limits, testcases } => (
            limits,
            TestcaseSource::Inline {
                testcases: testcases.into_inner(),
            },
            None,
        ),
    };

    let id = Uuid::now_v7();
    let request_context = tracing::Span::current().context();
    let trace_id = telemetry::current_trace_id().unwrap_or_default();
    let trace_sampled = {
        use opentelemetry::trace::TraceContextExt;
        request_context.span().span_context().is_sampled()
    };
    let accepted = submissions::AcceptedSubmission {
        message: SubmissionMessage {
            schema_version: SCHEMA_VERSION,
            submission_id: id,
            language: submission.language,
            source: submission.source.as_str().to_string(),
            limits,
            testcases,
            run_all_testcases: submission.run_all_testcases,
            judging: messaging::contract::first_judging(),
        },
        problem_version,
        trace_id: trace_id.clone(),
        trace_sampled,
        trace_context: trace_headers::context_to_map(&request_context),
        owner: caller.owner().to_string(),
        accepted_at,
    };
    submissions::store(&state.pool, &accepted).await?;
    let language = accepted.message.language.clone();
    let pending = Pending {
        message: accepted.message,
        parent: None,
    };
    if let Delivery::Deferred(_) =
        outbox::publish_pending(&state.pool, &SubmissionPublisher::of(&state), pending).await
    {
        state.relay_wake.notify_one();
    }

    let trace_url = trace_sampled.then(|| state.trace_url(&trace_id)).flatten();
    tracing::info!(submission.id = %id, judge.language = %language, "submission accepted");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/api/v1/submissions/{id}"))],
        ApiJson(SubmitResponse {
            id,
            status: SubmissionStatus::Queued,
            trace_id,
            trace_sampled,
            trace_url,
        }),
    ))
}
