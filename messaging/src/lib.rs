//! The RabbitMQ contract between `client-api` and `judge-worker`.
//!
//! - [`contract`]: the JSON bodies and their schema version;
//! - [`language`]: the language table both services read;
//! - [`topology`]: exchanges and queues, with a per-deployment prefix;
//! - [`publish`]: persistent, mandatory publishing that waits for the broker's confirm;
//! - [`trace_headers`]: W3C trace context and the publish timestamp in AMQP headers;
//! - [`semconv`]: the OpenTelemetry messaging attribute names used on spans and metrics.

pub mod backoff;
pub mod consume;
pub mod contract;
pub mod dead_letters;
pub mod instrumentation;

pub mod language;
pub mod publish;
pub mod semconv;
pub mod topology;
pub mod trace_headers;

pub use contract::{
    Limits, QueueWaitPrecision, ResultMessage, StartedMessage, SubmissionMessage, Testcase,
    TestcaseResult, TestcaseSource, Verdict, WorkerTimings,
};
pub use publish::{PublishError, publish_with_confirm};
pub use topology::Topology;
