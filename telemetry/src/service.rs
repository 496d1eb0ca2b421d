//! Running a service binary: a multi-threaded Tokio runtime, telemetry around the service's
//! future, and the telemetry flush after it ends, whatever way it ends.

use crate::{TelemetryConfig, TelemetryError, init};
use std::future::Future;
use std::time::Duration;

/// How long the final flush of each signal may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ServiceError<E> {
    #[error("cannot start the Tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    #[error(transparent)]
    Service(E),
}

/// Runs `service` with telemetry installed, then flushes and shuts telemetry down.
pub fn run_service<F, Fut, E>(config: TelemetryConfig, service: F) -> Result<(), ServiceError<E>>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    // At least two workers: the OTLP exporter's flush at shutdown needs a free one, and with
    // a single worker it deadlocks (opentelemetry-rust #3356).
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(ServiceError::Runtime)?;
    let name = config.service_name;
    runtime.block_on(async move {
        let guard = init(config)?;
        let result = service().await;
        if let Err(e) = &result {
            tracing::error!(error = %e, "{name} failed");
        }
        guard.shutdown(FLUSH_TIMEOUT).await;
        result.map_err(ServiceError::Service)
    })
}
