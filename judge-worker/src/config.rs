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

    /// Console log format: `pretty` or `json` (default: pretty on a terminal, else json).
    #[arg(long, env = "LOG_FORMAT")]
    pub log_format: Option<String>,

    /// Log filter, in `RUST_LOG` syntax.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,
}

impl Config {
    pub fn concurrency(&self) -> usize {
        self.concurrency
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}
