//! Problems: `POST /api/v1/problems`, `GET /api/v1/problems/{id}`,
//! `PUT /api/v1/problems/{id}/testcases`.

use crate::json_integer;
use chrono::{DateTime, Utc};
use messaging::Testcase;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProblem {
    pub title: String,
    #[serde(deserialize_with = "json_integer::required")]
    pub time_limit_ms: i64,
    #[serde(deserialize_with = "json_integer::required")]
    pub memory_limit_mb: i64,
    pub testcases: Vec<Testcase>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProblemCreated {
    pub id: i64,
    pub version: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceTestcases {
    pub testcases: Vec<Testcase>,
}
