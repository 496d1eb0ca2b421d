//! `GET /api/v1/languages`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
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
