//! client-api: the HTTP API of the grading pipeline.
//!
//! Requests come in through [`routes`]. A submission is parsed into a [`domain`] type, stored
//! with its outbox row ([`db::submissions`], [`outbox`]) and sent by [`submission_publisher`]
//! through [`outbox::publish_pending`] — or later by the outbox relay. The
//! [`started_consumer`] marks it `judging` when a worker takes it; its verdict comes back
//! through [`result_consumer`], which wakes waiting requests via [`completions`]. An admin
//! can have submissions judged again ([`rejudge`]); results of a superseded judging are
//! dropped by both consumers. Every SQL
//! statement lives in [`db`] or [`outbox`]; request and response bodies are the
//! `api_contract` crate's. [`startup`] assembles it all from a [`config::Config`].

mod access;
mod broker;
mod completions;
pub mod config;
mod db;
/// Public for the fuzz targets, which check exactly what the handlers check.
pub mod domain;
mod http_telemetry;
/// Public for the stack tests, which read the instruments the API creates.
pub mod metrics;
mod outbox;
mod problem_details;
mod rejudge;
mod result_consumer;
mod routes;
mod started_consumer;
pub mod startup;
mod state;
mod submission_publisher;

use clap::Parser;

/// The `client-api` binary: parse configuration, start telemetry, serve until SIGTERM or
/// Ctrl-C, flush telemetry.
pub fn main_entry() -> anyhow::Result<()> {
    let config = config::Config::parse();
    let telemetry = telemetry::TelemetryConfig {
        service_name: "client-api",
        service_version: env!("CARGO_PKG_VERSION"),
        log_format: config.logs.format(),
        log_filter: config.logs.log_filter.clone(),
        console: telemetry::Console::Stdout,
    };
    telemetry::run_service(telemetry, || async {
        let app = startup::Application::build(&config).await?;
        app.run_until_stopped(telemetry::shutdown_signal()).await
    })?;
    Ok(())
}
