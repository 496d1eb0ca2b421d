//! judge-worker: takes submissions from RabbitMQ, judges them in the sandbox, publishes the
//! verdicts.
//!
//! [`submission_consumer`] receives deliveries; [`process_submission`] handles each one (queue
//! wait, [`testcase_fetch`], the [`judge`] engine in a [`slots`] slot, [`result_publisher`]);
//! [`startup`] assembles it from a [`config::Config`].

pub mod config;
pub mod judge;
pub mod metrics;
pub mod process_submission;
pub mod result_publisher;
pub mod slots;
pub mod startup;
pub mod submission_consumer;
pub mod testcase_fetch;
pub mod worker;

use clap::Parser;
use std::time::Duration;

/// The `judge-worker` binary: parse configuration, start telemetry, judge until SIGTERM or
/// Ctrl-C, flush telemetry.
pub fn main_entry() -> anyhow::Result<()> {
    let config = config::Config::parse();
    // At least two runtime workers: the OTLP exporter's flush at shutdown needs a free one.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let guard = telemetry::init(telemetry::TelemetryConfig {
            service_name: "judge-worker",
            service_version: env!("CARGO_PKG_VERSION"),
            log_format: telemetry::LogFormat::choose(config.log_format.as_deref()),
            log_filter: config.log_filter.clone(),
        })?;
        let result = startup::Application::build(&config);
        match &result {
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "judge-worker failed to start"),
        }
        if let Ok(app) = result {
            app.run_until_stopped(telemetry::shutdown_signal()).await;
            guard.shutdown(Duration::from_secs(5)).await;
            Ok(())
        } else {
            guard.shutdown(Duration::from_secs(5)).await;
            result.map(|_| ()).map_err(anyhow::Error::from)
        }
    })
}
