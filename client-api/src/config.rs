//! Configuration: every setting is an environment variable and a command-line flag
//! (`client-api --help` lists them with their defaults).

use clap::Parser;
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(name = "client-api", version, about = "Grading pipeline HTTP API")]
pub struct Config {
    /// RabbitMQ URL.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,

    /// Prefix of every exchange and queue name (tests set a unique one).
    #[arg(long, env = "QUEUE_PREFIX", default_value = "")]
    pub queue_prefix: String,

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

    /// Language table to use instead of the built-in one.
    #[arg(long, env = "LANGUAGES_FILE")]
    pub languages_file: Option<PathBuf>,

    /// Console log format: `pretty` or `json` (default: pretty on a terminal, else json).
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<String>,

    /// Log filter, in `RUST_LOG` syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,
}
