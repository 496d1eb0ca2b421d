//! The HTTP routes, one module per endpoint group, each group behind the role it needs.

mod get_submission;
mod health;
mod internal_testcases;
mod languages;
mod openapi;
mod problems;
mod rejudge;
mod submit;

use crate::access::{require_admin, require_client, require_worker};
use crate::http_telemetry::trace_http;
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};

/// Largest accepted request body: a 64 KiB source plus up to 16 MiB of inline test cases.
pub const MAX_BODY_BYTES: usize = 17 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let client = Router::new()
        .route("/api/v1/submissions", post(submit::submit))
        .route(
            "/api/v1/submissions/{id}",
            get(get_submission::get_submission),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            require_client,
        ));
    let admin = Router::new()
        .route("/api/v1/problems", post(problems::create_problem))
        .route("/api/v1/problems/{id}", get(problems::get_problem))
        .route(
            "/api/v1/problems/{id}/testcases",
            put(problems::replace_testcases),
        )
        .route(
            "/api/v1/problems/{id}/rejudge",
            post(rejudge::rejudge_problem),
        )
        .route(
            "/api/v1/submissions/{id}/rejudge",
            post(rejudge::rejudge_submission),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            require_admin,
        ));
    let worker = Router::new()
        .route(
            "/internal/v1/problems/{id}/testcases",
            get(internal_testcases::get_testcases),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.access.clone(),
            require_worker,
        ));
    Router::new()
        .merge(client)
        .merge(admin)
        .merge(worker)
        .route("/api/v1/languages", get(languages::list_languages))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/openapi.json", get(openapi::openapi_json))
        .fallback(crate::problem_details::no_such_route)
        .method_not_allowed_fallback(crate::problem_details::method_not_allowed)
        // Outermost, so rejected requests (401, 403, 429) are traced and measured too.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            trace_http,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
