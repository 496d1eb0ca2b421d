//! `GET /api/v1/languages`: what can be submitted.

use crate::state::AppState;
use api_contract::LanguageView;
use axum::Json;
use axum::extract::State;

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
