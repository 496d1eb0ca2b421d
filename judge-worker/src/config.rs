//! Configuration: every setting is an environment variable and a command-line flag
//! (`judge-worker --help` lists them with their defaults).

use clap::{Parser, ValueEnum};
use messaging::settings::{PipelineArgs, WorkerTokenArgs};
use std::path::PathBuf;
use telemetry::LogArgs;

/// Which [`sandbox::Sandbox`] runs compilers and programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SandboxKind {
    /// Namespaces, a fresh read-only root, per-slot cgroups and uids, seccomp, rlimits. Needs
    /// root (or the container privileges listed in docker-compose.yml).
    Namespaces,
    /// Child processes with rlimits and a wall-clock killer; no isolation. For development on
    /// machines where the worker cannot be root.
    Plain,
}

/// One-shot operator commands (without one, the worker judges).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Move messages from the dead-letter queue back to the queue they came from, then exit.
    ReplayDeadLetters {
        /// At most this many messages.
        #[arg(long, default_value = "1000")]
        limit: u64,
    },
    /// Judge the submissions on stdin (one JSON object per line) in one sandbox slot and print
    /// each outcome as a JSON line. The worker judges redelivered submissions this way, in a
    /// process of their own (see `judge_process.rs`); needs no broker, API or token.
    JudgeBatch,
    /// Make the language table's precompiled headers and compiler class archives in
    /// TOOLCHAIN_DIR, then exit (the container image does this at build time, so workers
    /// start warm). Fails if one cannot be made.
    PrepareToolchains,
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "judge-worker",
    version,
    about = "Grading pipeline judge worker"
)]
pub struct Config {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub pipeline: PipelineArgs,

    /// Base URL of client-api, for test cases.
    #[arg(long, env = "API_URL", default_value = "http://127.0.0.1:8080")]
    pub api_url: String,

    /// Submissions judged in parallel (and the consumer prefetch). Default: number of CPUs.
    #[arg(long, env = "WORKER_CONCURRENCY")]
    pub concurrency: Option<usize>,

    /// Directory for the plain runner's workspaces (default: a fresh one under the system
    /// temp dir, removed at exit). The namespace sandbox keeps workspaces in tmpfs of its own.
    #[arg(long, env = "WORK_DIR")]
    pub work_dir: Option<PathBuf>,

    /// Sandbox implementation.
    #[arg(long, env = "SANDBOX", value_enum, default_value = "namespaces")]
    pub sandbox: SandboxKind,

    /// First uid of the sandbox slots (slot n runs as uid and gid base + n). Workers sharing a
    /// host (or a uid space) need disjoint ranges. Default: 60000 + 64 × a number derived
    /// from the host name and pid.
    #[arg(long, env = "SANDBOX_BASE_UID")]
    pub sandbox_base_uid: Option<u32>,

    /// Name of the cgroup the sandbox creates under the worker's own (default:
    /// `judge-sandbox-<pid>`, so workers sharing a host never share slots).
    #[arg(long, env = "SANDBOX_CGROUP")]
    pub sandbox_cgroup: Option<String>,

    /// Where precompiled headers and compiler class archives are made and kept, read-only to
    /// compiles; workers of one host may share it. Not under /tmp (every run gets a /tmp of
    /// its own, which would hide it).
    #[arg(
        long,
        env = "TOOLCHAIN_DIR",
        default_value = "/var/cache/judge-worker/toolchains"
    )]
    pub toolchain_dir: PathBuf,

    /// Prepare warm compiles at start (the language table's precompiled headers and compiler
    /// class archives; the first start of a toolchain takes a few seconds).
    #[arg(long, env = "WARM_TOOLCHAINS", default_value_t = true, action = clap::ArgAction::Set)]
    pub warm_toolchains: bool,

    /// Size of the compile cache in MiB, on disk in the work root (0: no cache).
    #[arg(long, env = "COMPILE_CACHE_MB", default_value = "256")]
    pub compile_cache_mb: u64,

    /// Test-case sets kept in memory (by problem id and version).
    #[arg(long, env = "TESTCASE_CACHE_ENTRIES", default_value = "128")]
    pub testcase_cache_entries: usize,

    #[command(flatten)]
    pub worker_token: WorkerTokenArgs,

    /// Run without a worker token (the API must run with --insecure-dev too). Local
    /// development only.
    #[arg(long, env = "INSECURE_DEV")]
    pub insecure_dev: bool,

    #[command(flatten)]
    pub logs: LogArgs,
}

impl Config {
    /// Uid range start for the sandbox slots.
    pub fn sandbox_base_uid(&self, worker_id: &str) -> u32 {
        self.sandbox_base_uid.unwrap_or_else(|| {
            // FNV-1a of `hostname@pid`: stable for this process, spread across 1000 ranges.
            let hash = worker_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
            60_000 + 64 * (hash % 1000) as u32
        })
    }

    /// Cgroup name for the sandbox slots.
    pub fn sandbox_cgroup(&self) -> String {
        self.sandbox_cgroup
            .clone()
            .unwrap_or_else(|| format!("judge-sandbox-{}", std::process::id()))
    }

    /// The toolchain directory, when warm compiles are on.
    pub fn warm_dir(&self) -> Option<&std::path::Path> {
        self.warm_toolchains.then_some(self.toolchain_dir.as_path())
    }

    pub fn concurrency(&self) -> usize {
        self.concurrency
            .filter(|&n| n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}
