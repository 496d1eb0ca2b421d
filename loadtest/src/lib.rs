//! Open-loop load generator for the grading pipeline, and the per-component latency report.
//!
//! Submission *i* is due at `t0 + i/rate`; it is sent then in a task of its own and every
//! latency is measured from its due time, so stalls show instead of hiding (coordinated
//! omission). The report has HDR-histogram percentiles of each component from the result
//! `timings`, the achieved rate next to the target, and the slowest submissions' trace ids.
//!
//! - [`runner`]: the run against the API ([`run_load`]), and [`submission`]: one submission's life;
//! - [`workload`]: the built-in problem set and programs, planned by the [`mix`];
//! - [`schedule`]: due times for a rate and a ramp;
//! - [`components`]: the pipeline components and their values in a submission's timings;
//! - [`report`], [`table`], [`histogram`]: the numbers and how they are shown;
//! - [`live`], [`progress`]: counters while running and the progress line;
//! - [`otel`]: the generator's own spans (sent as `traceparent`) and metrics;
//! - [`proc_watch`]: CPU and memory of the service processes;
//! - [`engine`]: the in-process judge-engine baseline ([`run_engine`]);
//! - [`hops`]: the broker and database hops alone, the floor under the pipeline's overhead;
//! - [`api_client`]: the HTTP calls; [`cli`]: the command line.

pub mod api_client;
pub mod cli;
pub mod components;
pub mod engine;
pub mod histogram;
pub mod hops;
pub mod live;
pub mod mix;
pub mod otel;
pub mod proc_watch;
pub mod progress;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod submission;
pub mod table;
pub mod workload;

pub use engine::{EngineConfig, EngineReport, run_engine};
pub use mix::{Kind, Mix};
pub use otel::LoadtestTelemetry;
pub use report::Report;
pub use runner::{LoadConfig, LoadError, run_load};
