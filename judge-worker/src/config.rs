//! Configuration: every setting is an environment variable and a command-line flag
//! (`judge-worker --help` lists them with their defaults).

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

/// Which [`sandbox::Sandbox`] runs compilers and programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxKind {
    /// Child processes with rlimits and a wall-clock killer; no isolation (development only).
    Plain,
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "judge-worker",
    version,
    about = "Grading pipeline judge worker"
)]
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

    /// Base URL of client-api, for test cases.
    #[arg(long, env = "API_URL", default_value = "http://127.0.0.1:8080")]
    pub api_url: String,

    /// Submissions judged in parallel (and the consumer prefetch). Default: number of CPUs.
    #[arg(long, env = "WORKER_CONCURRENCY")]
    pub concurrency: Option<usize>,

    /// Directory for the judging slots' work dirs (default: a fresh one under the system
    /// temp dir, removed at exit).
    #[arg(long, env = "WORK_DIR")]
    pub work_dir: Option<PathBuf>,

    /// Language table to use instead of the built-in one.
    #[arg(long, env = "LANGUAGES_FILE")]
    pub languages_file: Option<PathBuf>,

    /// Sandbox implementation.
    #[arg(long, env = "SANDBOX", value_enum, default_value = "plain")]
    pub sandbox: SandboxKind,

    /// Test-case sets kept in memory (by problem id and version).
    #[arg(long, env = "TESTCASE_CACHE_ENTRIES", default_value = "128")]
    pub testcase_cache_entries: usize,

    /// Token for the API's internal test-case endpoint.
    #[arg(long, env = "WORKER_TOKEN", hide_env_values = true)]
    pub worker_token: Option<String>,

    /// File holding the worker token (for container secrets).
    #[arg(long, env = "WORKER_TOKEN_FILE")]
    pub worker_token_file: Option<PathBuf>,

    /// Run without a worker token (the API must run with --insecure-dev too). Local
    /// development only.
    #[arg(long, env = "INSECURE_DEV")]
    pub insecure_dev: bool,

    /// Console log format: `pretty` or `json` (default: pretty on a terminal, else json).
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<String>,

    /// Log filter, in `RUST_LOG` syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,
}

impl Config {
    /// The worker token from `WORKER_TOKEN_FILE` or `WORKER_TOKEN` (trimmed).
    pub fn token(&self) -> std::io::Result<Option<String>> {
        let raw = match &self.worker_token_file {
            Some(path) => Some(std::fs::read_to_string(path)?),
            None => self.worker_token.clone(),
        };
        Ok(raw.map(|t| t.trim().to_string()).filter(|t| !t.is_empty()))
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}
