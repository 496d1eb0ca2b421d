//! `GET /openapi.json`: the OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Grading pipeline API",
        description = "Submit code, get verdicts and per-stage timings."
    ),
    paths(
        super::problems::create_problem,
        super::problems::get_problem,
        super::problems::replace_testcases,
        super::submit::submit,
        super::get_submission::get_submission,
        super::languages::list_languages,
        super::internal_testcases::get_testcases,
        super::health::healthz,
        super::health::readyz,
    ),
    components(schemas(
        crate::problem_details::ProblemDetails,
        crate::domain::FieldError,
        messaging::Testcase,
        messaging::TestcaseResult,
        messaging::Verdict,
        messaging::contract::TestcaseBundle,
    ))
)]
pub struct ApiDoc;

pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
