//! `GET /api/v1/languages`: what can be submitted.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct LanguageView {
    /// The id to put in a submission's `language`.
    pub id: String,
    pub name: String,
    pub source_file: String,
    /// Time limit = user limit × factor + extra (ms), per test case.
    pub time_factor: f64,
    pub time_extra_ms: u64,
    pub memory_extra_mb: u64,
}

#[utoipa::path(get, path = "/api/v1/languages", responses((status = 200, body = [LanguageView])))]
pub async fn list_languages(State(state): State<AppState>) -> Json<Vec<LanguageView>> {
    Json(
        state
            .languages
            .languages
            .iter()
            .map(|l| LanguageView {
                id: l.id.clone(),
                name: l.name.clone(),
                source_file: l.source_file.clone(),
                time_factor: l.time_factor,
                time_extra_ms: l.time_extra_ms,
                memory_extra_mb: l.memory_extra_mb,
            })
            .collect(),
    )
}
