//! Rejudging: `POST /api/v1/submissions/{id}/rejudge` and
//! `POST /api/v1/problems/{id}/rejudge`. Both answer `202`: the submissions are queued again,
//! each as a new judging with a trace of its own.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One submission queued again: the `202` answer of a submission's rejudge, and an entry of a
/// problem's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RejudgedSubmission {
    pub id: Uuid,
    /// The new judging's number.
    pub judging: u32,
    /// The new judging's trace (its root links to the submission's first trace).
    pub trace_id: String,
    pub trace_sampled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_url: Option<String>,
}

/// The `202` answer of a problem's rejudge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProblemRejudged {
    pub problem_id: i64,
    /// The test-case version the submissions are judged against now.
    pub version: i32,
    /// How many submissions were queued again.
    pub count: u64,
    /// The first of them (at most 100), in id order; `truncated` says whether there are more.
    pub submissions: Vec<RejudgedSubmission>,
    pub truncated: bool,
}
