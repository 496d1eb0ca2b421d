//! `/healthz` (the process is up) and `/readyz` (it can do its job: database and broker).

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    pub database: String,
    pub broker: String,
    pub result_consumer: String,
}

#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "The process is up")))]
pub async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", responses(
    (status = 200, description = "Database and broker reachable", body = Readiness),
    (status = 503, description = "A dependency is down", body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database =
        match tokio::time::timeout(Duration::from_secs(2), crate::db::ping(&state.pool)).await {
            Ok(Ok(_)) => "ok".to_string(),
            Ok(Err(e)) => format!("down: {e}"),
            Err(_) => "down: no answer within 2s".to_string(),
        };
    let broker = match state.broker.ready().await {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("down: {e}"),
    };
    let result_consumer = if state.result_consumer_up.load(Ordering::Relaxed) {
        "ok".to_string()
    } else {
        "down: not consuming".to_string()
    };
    let ready = database == "ok" && broker == "ok" && result_consumer == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            database,
            broker,
            result_consumer,
        }),
    )
}
