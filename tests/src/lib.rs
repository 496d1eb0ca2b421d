//! Harness for the end-to-end tests: both services run as real processes against the
//! machine's RabbitMQ and PostgreSQL, and their telemetry is received over real OTLP.
//!
//! - [`environment`]: a unique queue prefix and database per test, removed when the test ends
//!   (also when it fails);
//! - [`services`]: starting `client-api` and `judge-worker` and reading their logs;
//! - [`otlp_receiver`]: an in-process OTLP/gRPC receiver for traces, logs and metrics;
//! - [`tcp_proxy`]: a TCP proxy that can cut and restore a service's connection;
//! - [`api_client`]: the HTTP calls the tests make;
//! - [`stack`]: reading the compose stack's configuration for the `stack_*` tests;
//! - [`compose_privileges`]: running the worker with exactly docker-compose.yml's privileges.

pub mod api_client;
pub mod compose_privileges;
pub mod environment;
pub mod otlp_receiver;
pub mod services;
pub mod stack;
pub mod tcp_proxy;

use std::time::Duration;

/// Upper bound for anything a test waits for; generous, because judging Java on two busy
/// cores is slow. Never a pause: every wait ends as soon as its condition holds.
pub const PATIENCE: Duration = Duration::from_secs(120);

pub const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432";

pub use test_bed::{TestBed, TestBedOptions};

mod test_bed;

/// Evaluates `check` now and again each time `changed` is notified, until it yields a value or
/// `timeout` passes. The notification is armed before each check, so a change between the
/// check and the wait is not missed.
pub(crate) async fn wait_for_change<T>(
    changed: &tokio::sync::Notify,
    timeout: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(found) = check() {
            return Some(found);
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return None;
        }
    }
}
