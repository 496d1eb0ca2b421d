//! The RabbitMQ contract between `client-api` and `judge-worker`, and the one way each of them
//! publishes and consumes.
//!
//! - [`contract`]: the JSON bodies and their schema version;
//! - [`language`]: the language table both services read;
//! - [`topology`]: exchanges and queues, with a per-deployment prefix;
//! - [`publish`]: persistent, mandatory publishing that waits for the broker's confirm;
//! - [`instrumentation`]: the messaging metrics, the span macros and the traced publish;
//! - [`consumer`]: the traced consumer runner every queue's handler runs under;
//! - [`trace_headers`]: W3C trace context and the publish timestamp in AMQP headers;
//! - [`dead_letters`]: what `judge-worker replay-dead-letters` moves back, and what it keeps;
//! - [`backoff`]: exponential backoff with jitter for every reconnect and retry loop;
//! - [`semconv`]: span names, metric names and the messaging attribute values;
//! - [`settings`]: the command-line settings and secrets both services read the same way.

pub mod backoff;
pub mod consumer;
pub mod contract;
pub mod dead_letters;
pub mod instrumentation;
pub mod language;
pub mod publish;
pub mod semconv;
pub mod settings;
pub mod topology;
pub mod trace_headers;

pub use contract::{
    Limits, QueueWaitPrecision, ResultMessage, StartedMessage, SubmissionMessage, Testcase,
    TestcaseResult, TestcaseSource, Verdict, WorkerTimings,
};
pub use publish::{PublishError, publish_with_confirm};
pub use topology::Topology;
