//! Configuration: every setting is an environment variable and a command-line flag
//! (`client-api --help` lists them with their defaults).

use clap::Parser;
use messaging::settings::{PipelineArgs, WorkerTokenArgs};
use std::path::PathBuf;
use telemetry::LogArgs;

#[derive(Debug, Clone, Parser)]
#[command(name = "client-api", version, about = "Grading pipeline HTTP API")]
pub struct Config {
    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// PostgreSQL URL; the database is created if it does not exist.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/codedang"
    )]
    pub database_url: String,

    /// Address the HTTP server listens on (port 0 picks a free one; the log says which).
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    pub listen_addr: String,

    /// Grafana base URL; when set, responses carry a `trace_url` into Grafana Explore.
    #[arg(long, env = "GRAFANA_URL")]
    pub grafana_url: Option<String>,

    /// Client tokens (comma-separated): submit and read their own submissions.
    #[arg(long, env = "API_TOKENS", hide_env_values = true)]
    pub api_tokens: Option<String>,

    /// File holding the client tokens (one per line or comma-separated).
    #[arg(long, env = "API_TOKENS_FILE")]
    pub api_tokens_file: Option<PathBuf>,

    /// Admin token: manages problems, reads any submission.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// File holding the admin token.
    #[arg(long, env = "ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,

    #[command(flatten)]
    pub worker_token: WorkerTokenArgs,

    /// Run without tokens: every caller may do everything. Local development only.
    #[arg(long, env = "INSECURE_DEV")]
    pub insecure_dev: bool,

    /// Requests per second each client token may make (sustained); 0 disables the limit.
    #[arg(long, env = "RATE_LIMIT_PER_SECOND", default_value = "20")]
    pub rate_limit_per_second: f64,

    /// Requests a client token may make in a burst.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value = "40")]
    pub rate_limit_burst: f64,

    #[command(flatten)]
    pub logs: LogArgs,
}
