//! Submissions: `POST /api/v1/submissions` and `GET /api/v1/submissions/{id}` (with the
//! history of earlier judgings).

use crate::json_integer;
use chrono::{DateTime, Utc};
use messaging::{QueueWaitPrecision, Testcase, TestcaseResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// A language id from `GET /api/v1/languages`.
    pub language: String,
    pub source: String,
    /// Judge against this problem's current test cases and limits…
    #[serde(
        default,
        deserialize_with = "json_integer::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub problem_id: Option<i64>,
    /// …or against these test cases with the limits below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub testcases: Option<Vec<Testcase>>,
    #[serde(
        default,
        deserialize_with = "json_integer::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub time_limit_ms: Option<i64>,
    #[serde(
        default,
        deserialize_with = "json_integer::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory_limit_mb: Option<i64>,
    /// Run every test case even after one fails (default false: the rest are `Skipped`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub run_all_testcases: bool,
}

impl SubmitRequest {
    /// A submission judged against a problem's test cases.
    pub fn for_problem(problem_id: i64, language: &str, source: &str) -> Self {
        SubmitRequest {
            language: language.to_string(),
            source: source.to_string(),
            problem_id: Some(problem_id),
            testcases: None,
            time_limit_ms: None,
            memory_limit_mb: None,
            run_all_testcases: false,
        }
    }
}

/// The `202` answer to a submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubmitResponse {
    pub id: Uuid,
    pub status: SubmissionStatus,
    pub trace_id: String,
    /// False when the caller's `traceparent` asked not to record the trace: `trace_id` is
    /// continued, but no trace will exist (so there is no `trace_url` either).
    pub trace_sampled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_url: Option<String>,
}

/// Where a submission is: `queued` (accepted, waiting for a judge), `judging` (a worker has
/// taken it; advisory, a fast verdict may skip it), `done` (the verdict is stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubmissionStatus {
    Queued,
    Judging,
    Done,
}

impl SubmissionStatus {
    /// The name in JSON and in the `submissions.status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            SubmissionStatus::Queued => "queued",
            SubmissionStatus::Judging => "judging",
            SubmissionStatus::Done => "done",
        }
    }

    /// The inverse of [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Judging, Self::Done]
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubmissionView {
    pub id: Uuid,
    pub status: SubmissionStatus,
    pub verdict: Option<String>,
    pub language: String,
    pub problem_id: Option<i64>,
    pub problem_version: Option<i32>,
    pub compile_output: Option<String>,
    pub results: Vec<TestcaseResult>,
    /// Why the verdict is ServerError, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub worker_id: Option<String>,
    pub trace_id: String,
    /// False when the caller's `traceparent` asked not to record the trace: `trace_id` is
    /// continued for correlation, but no trace exists to look at (and there is no `trace_url`).
    pub trace_sampled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_url: Option<String>,
    pub timings: Timings,
    /// Which judging this is: 1 for the first, one more per rejudge.
    pub judging: u32,
    /// The earlier judgings, oldest first (empty until the submission is rejudged).
    #[serde(default)]
    pub history: Vec<JudgingView>,
}

/// An earlier judging of a submission, superseded by a rejudge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JudgingView {
    pub judging: u32,
    /// Where this judging was when it was superseded: `done` with its verdict, or `queued` /
    /// `judging` when the rejudge came first (its verdict, if one arrives, is not stored).
    pub status: SubmissionStatus,
    pub verdict: Option<String>,
    /// The test-case version it was judged against (problem submissions).
    pub problem_version: Option<i32>,
    pub compile_output: Option<String>,
    pub results: Vec<TestcaseResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub worker_id: Option<String>,
    pub trace_id: String,
    pub trace_sampled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_url: Option<String>,
    pub timings: Timings,
    /// When the rejudge that replaced it was requested.
    pub superseded_at: DateTime<Utc>,
}

impl SubmissionView {
    pub fn is_done(&self) -> bool {
        self.status == SubmissionStatus::Done
    }
}

/// When each stage happened, and how long each took in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Timings {
    /// When the submission was accepted (its first judging's request).
    pub accepted_at: DateTime<Utc>,
    /// When this judging was requested: `accepted_at` for the first judging, the rejudge
    /// request after that. `api_ms` and `end_to_end_ms` count from here.
    pub requested_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
    pub consumed_at: Option<DateTime<Utc>>,
    pub judged_at: Option<DateTime<Utc>>,
    pub stored_at: Option<DateTime<Utc>>,
    /// Requesting this judging until the broker confirmed the message.
    pub api_ms: Option<f64>,
    /// Published until a worker received it; null when the message carried no publish time.
    pub queue_wait_ms: Option<f64>,
    /// How finely `queue_wait_ms` is known: `ns` (the `x-published-at-ns` header) or `s` (only
    /// the AMQP `timestamp`, whole seconds).
    pub queue_wait_precision: Option<QueueWaitPrecision>,
    pub testcase_fetch_ms: Option<f64>,
    pub compile_ms: Option<f64>,
    /// The worker served the compile step from its compile cache (null: not known yet, or a
    /// worker that does not say).
    pub compile_cached: Option<bool>,
    pub run_ms: Option<f64>,
    /// Judged until the verdict was committed by the API.
    pub result_delivery_ms: Option<f64>,
    /// `requested_at` until the verdict was stored.
    pub end_to_end_ms: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for status in [
            SubmissionStatus::Queued,
            SubmissionStatus::Judging,
            SubmissionStatus::Done,
        ] {
            assert_eq!(SubmissionStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(serde_json::Value::String(status.as_str().into()))
            );
        }
        assert_eq!(SubmissionStatus::parse("lost"), None);
    }

    #[test]
    fn integer_fields_take_whole_floats_only() {
        let ok: Result<CreateProblemProbe, _> = serde_json::from_str(r#"{"n": 185.0}"#);
        assert_eq!(ok.ok().map(|p| p.n), Some(185));
        assert!(serde_json::from_str::<CreateProblemProbe>(r#"{"n": 185.5}"#).is_err());
    }

    #[derive(Deserialize)]
    struct CreateProblemProbe {
        #[serde(deserialize_with = "json_integer::required")]
        n: i64,
    }
}
