//! Reading the observability stack's configuration (docker-compose.yml, .env, the Dockerfile
//! and collector-config/) for the `stack_*` tests, which check that the files agree with each
//! other and with what the services emit. Nothing here starts a container: those tests run in
//! CI, where there is no Docker.
//!
//! - [`files`]: paths, reading YAML and JSON as `serde_json::Value`s, walking the trees;
//! - [`compose`]: docker-compose.yml interpolated with .env, and the addresses in strings;
//! - [`series`]: the Prometheus series the stack produces, from OTLP names by Prometheus'
//!   translation, and Tempo's and RabbitMQ's own;
//! - [`query_text`]: metric names and `label op "value"` matchers read out of PromQL, LogQL
//!   and TraceQL;
//! - [`grafana`]: the queries of the dashboard, of the datasources' links and of the alert
//!   rules;
//! - [`grammar`]: those queries parsed by the grammars Grafana's editors use, after Grafana's
//!   variable substitution;
//! - [`deploy`]: the Collector components and `${env:...}` references of deploy/'s configs.

pub mod compose;
pub mod deploy;
pub mod files;
pub mod grafana;
pub mod grammar;
pub mod query_text;
pub mod series;
