//! client-api: the HTTP API of the grading pipeline.
//!
//! Requests come in through [`routes`]; a submission is written by [`submission_store`] with
//! an outbox row and sent by [`submission_publisher`] (or later by [`outbox_relay`]); the
//! [`started_consumer`] marks it `judging` when a worker takes it, and its verdict comes back
//! through [`result_consumer`], which wakes waiting requests via [`completions`].
//! [`startup`] assembles it all from a [`config::Config`].

pub mod access;
pub mod broker;
pub mod completions;
pub mod config;
pub mod db;
pub mod domain;
pub mod http_telemetry;
pub mod metrics;
pub mod outbox_relay;
pub mod problem_details;
pub mod result_consumer;
pub mod routes;
pub mod started_consumer;
pub mod startup;
pub mod state;
pub mod submission_publisher;
pub mod submission_store;

use clap::Parser;

/// The `client-api` binary: parse configuration, start telemetry, serve until SIGTERM or
/// Ctrl-C, flush telemetry.
pub fn main_entry() -> anyhow::Result<()> {
    let config = config::Config::parse();
    let telemetry = telemetry::TelemetryConfig {
        service_name: "client-api",
        service_version: env!("CARGO_PKG_VERSION"),
        log_format: telemetry::LogFormat::choose(config.log_format.as_deref()),
        log_filter: config.log_filter.clone(),
        console: telemetry::Console::Stdout,
    };
    telemetry::run_service(telemetry, || async {
        let app = startup::Application::build(&config).await?;
        app.run_until_stopped(telemetry::shutdown_signal()).await
    })?;
    Ok(())
}
