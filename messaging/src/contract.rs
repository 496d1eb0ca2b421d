//! The message contract: what `judge.submission`, `judge.started` and `judge.result` carry.
//!
//! Both services compile against these types, so a change here is a change of the wire format.
//! `schema_version` lets a consumer reject a message from a newer producer with a clear error
//! instead of misreading it; AMQP `type` carries the same information (`submission.v1`, `result.v1`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Version of the JSON bodies below. Bump on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;
/// AMQP `type` property of a submission message.
pub const SUBMISSION_TYPE: &str = "submission.v1";
/// AMQP `type` property of a result message.
pub const RESULT_TYPE: &str = "result.v1";
/// AMQP `type` of a `judge.started` message.
pub const STARTED_TYPE: &str = "started.v1";

/// One test case: the input fed on stdin and the output expected on stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Testcase {
    pub input: String,
    pub output: String,
}

/// The answer of the API's internal test-case endpoint
/// (`GET /internal/v1/problems/{id}/testcases?version=N`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TestcaseBundle {
    pub problem_id: i64,
    pub version: i32,
    pub testcases: Vec<Testcase>,
}

/// Limits as the user asked for them; the judge scales them per language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub time_limit_ms: u32,
    pub memory_limit_mb: u32,
}

/// Where the worker gets the test cases from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TestcaseSource {
    /// Fetched from the API's internal endpoint (and cached) by problem id and version.
    Problem { problem_id: i64, version: i32 },
    /// Carried in the message itself.
    Inline { testcases: Vec<Testcase> },
}

/// Body of a `judge.submission` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionMessage {
    pub schema_version: u32,
    pub submission_id: Uuid,
    pub language: String,
    pub source: String,
    pub limits: Limits,
    pub testcases: TestcaseSource,
    /// Judge every test case even after one fails (default: later ones are `Skipped`).
    #[serde(default)]
    pub run_all_testcases: bool,
    /// Which judging of the submission this is: 1 for the first, one more per rejudge. The
    /// worker echoes it in `judge.started` and `judge.result`, so the API stores a result only
    /// for the judging it is waiting for.
    #[serde(default = "first_judging")]
    pub judging: u32,
}

/// The judging number of a message that carries none (a producer from before rejudging).
pub const fn first_judging() -> u32 {
    1
}

/// The outcome of a submission or of one test case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Verdict {
    Accepted,
    WrongAnswer,
    CompileError,
    TimeLimitExceeded,
    MemoryLimitExceeded,
    RuntimeError,
    OutputLimitExceeded,
    ServerError,
    /// Only for test cases: not run because an earlier one failed.
    Skipped,
}

impl Verdict {
    pub const ALL: [Verdict; 9] = [
        Verdict::Accepted,
        Verdict::WrongAnswer,
        Verdict::CompileError,
        Verdict::TimeLimitExceeded,
        Verdict::MemoryLimitExceeded,
        Verdict::RuntimeError,
        Verdict::OutputLimitExceeded,
        Verdict::ServerError,
        Verdict::Skipped,
    ];

    /// The name used on the wire, in the database and as a metric attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "Accepted",
            Verdict::WrongAnswer => "WrongAnswer",
            Verdict::CompileError => "CompileError",
            Verdict::TimeLimitExceeded => "TimeLimitExceeded",
            Verdict::MemoryLimitExceeded => "MemoryLimitExceeded",
            Verdict::RuntimeError => "RuntimeError",
            Verdict::OutputLimitExceeded => "OutputLimitExceeded",
            Verdict::ServerError => "ServerError",
            Verdict::Skipped => "Skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one test case run produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TestcaseResult {
    pub index: u32,
    pub verdict: Verdict,
    pub cpu_time_ms: u64,
    pub wall_time_ms: u64,
    pub memory_kb: u64,
    /// Exit code, when the program exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Signal number, when the program was killed by one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
}

/// The worker's side of a submission's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerTimings {
    /// When the producer published the message, if the delivery said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<DateTime<Utc>>,
    /// When the worker received the delivery.
    pub consumed_at: DateTime<Utc>,
    /// When judging finished, just before the result was published.
    pub judged_at: DateTime<Utc>,
    /// Publish to delivery; absent when the message carried no publish time (never a fake 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait_ms: Option<f64>,
    /// How finely `queue_wait_ms` is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait_precision: Option<QueueWaitPrecision>,
    pub testcase_fetch_ms: f64,
    /// The compile step's time; with `compile_cached`, the time to restore the cached build.
    pub compile_ms: f64,
    /// The build (or the compile error) came from the worker's compile cache: nothing was
    /// compiled.
    #[serde(default)]
    pub compile_cached: bool,
    pub run_ms: f64,
}

/// Where a queue wait's start came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum QueueWaitPrecision {
    /// The `x-published-at-ns` header: nanoseconds.
    #[serde(rename = "ns")]
    Nanoseconds,
    /// Only the AMQP `timestamp` property: whole seconds, so the wait is overstated by up to 1 s.
    #[serde(rename = "s")]
    Seconds,
}

impl QueueWaitPrecision {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueWaitPrecision::Nanoseconds => "ns",
            QueueWaitPrecision::Seconds => "s",
        }
    }

    /// The inverse of [`as_str`](Self::as_str).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ns" => Some(QueueWaitPrecision::Nanoseconds),
            "s" => Some(QueueWaitPrecision::Seconds),
            _ => None,
        }
    }
}

/// Body of a `judge.result` message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultMessage {
    pub schema_version: u32,
    pub submission_id: Uuid,
    pub verdict: Verdict,
    pub compile_output: String,
    pub results: Vec<TestcaseResult>,
    pub timings: WorkerTimings,
    /// Why the verdict is `ServerError`, for operators (never shown as judge output).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Which worker judged it (`hostname@pid`).
    pub worker_id: String,
    /// The `judging` of the submission message this answers.
    #[serde(default = "first_judging")]
    pub judging: u32,
}

/// Body of a `judge.started` message: a worker has taken a submission. Advisory (the API
/// shows `judging`); losing one changes nothing but the status a client sees meanwhile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartedMessage {
    pub schema_version: u32,
    pub submission_id: Uuid,
    /// When the worker received the delivery.
    pub consumed_at: DateTime<Utc>,
    /// Which worker took it (`hostname@pid`).
    pub worker_id: String,
    /// The `judging` of the submission message it took.
    #[serde(default = "first_judging")]
    pub judging: u32,
}

impl StartedMessage {
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let msg: StartedMessage = serde_json::from_slice(body)?;
        if msg.schema_version != SCHEMA_VERSION {
            return Err(DecodeError::SchemaVersion {
                found: msg.schema_version,
            });
        }
        Ok(msg)
    }
}

/// A message body that could not be turned into a contract type.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not valid JSON for this message type: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported schema_version {found} (this build reads {SCHEMA_VERSION})")]
    SchemaVersion { found: u32 },
    #[error("invalid message: {0}")]
    Invalid(String),
}

impl SubmissionMessage {
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let msg: SubmissionMessage = serde_json::from_slice(body)?;
        if msg.schema_version != SCHEMA_VERSION {
            return Err(DecodeError::SchemaVersion {
                found: msg.schema_version,
            });
        }
        if msg.language.is_empty() {
            return Err(DecodeError::Invalid("empty language".into()));
        }
        if let TestcaseSource::Inline { testcases } = &msg.testcases
            && testcases.is_empty()
        {
            return Err(DecodeError::Invalid("no test cases".into()));
        }
        Ok(msg)
    }
}

impl ResultMessage {
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let msg: ResultMessage = serde_json::from_slice(body)?;
        if msg.schema_version != SCHEMA_VERSION {
            return Err(DecodeError::SchemaVersion {
                found: msg.schema_version,
            });
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SubmissionMessage {
        SubmissionMessage {
            schema_version: SCHEMA_VERSION,
            submission_id: Uuid::now_v7(),
            language: "c".into(),
            source: "int main(){}".into(),
            limits: Limits {
                time_limit_ms: 1000,
                memory_limit_mb: 256,
            },
            testcases: TestcaseSource::Inline {
                testcases: vec![Testcase {
                    input: "1 2\n".into(),
                    output: "3\n".into(),
                }],
            },
            run_all_testcases: false,
            judging: 1,
        }
    }

    #[test]
    fn submission_round_trips() {
        let msg = sample();
        let body = serde_json::to_vec(&msg).unwrap();
        assert_eq!(SubmissionMessage::decode(&body).unwrap(), msg);
    }

    #[test]
    fn rejects_garbage_future_versions_and_unknown_fields() {
        assert!(matches!(
            SubmissionMessage::decode(b"\xff\x00not json"),
            Err(DecodeError::Json(_))
        ));
        let mut msg = sample();
        msg.schema_version = 2;
        let body = serde_json::to_vec(&msg).unwrap();
        assert!(matches!(
            SubmissionMessage::decode(&body),
            Err(DecodeError::SchemaVersion { found: 2 })
        ));
        let mut value = serde_json::to_value(sample()).unwrap();
        value["surprise"] = serde_json::json!(1);
        let body = serde_json::to_vec(&value).unwrap();
        assert!(SubmissionMessage::decode(&body).is_err());
    }

    #[test]
    fn verdict_names_round_trip() {
        for v in Verdict::ALL {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{v}\""));
        }
    }
}
