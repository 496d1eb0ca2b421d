//! The command line: `loadtest [run] …` against the API (the default), `loadtest engine …`
//! for the in-process judge-engine baseline and `loadtest hops` for the broker and database
//! alone; exit codes; writing the JSON report.

use crate::api_client::Tokens;
use crate::engine::{EngineConfig, SandboxChoice, run_engine};
use crate::hops::{HopsConfig, run_hops};
use crate::mix::Mix;
use crate::otel::LoadtestTelemetry;
use crate::proc_watch::WatchTarget;
use crate::report::{RecordLine, Report};
use crate::runner::{LoadConfig, run_load};
use crate::table;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Exit code when every submission got its expected verdict.
pub const EXIT_OK: u8 = 0;
/// Exit code when a verdict differed, a submission never finished or a submit failed.
pub const EXIT_FAILED_SUBMISSIONS: u8 = 1;
/// Exit code when the run could not start (bad arguments, API unreachable, …).
pub const EXIT_SETUP: u8 = 2;

/// Open-loop load generator for the grading pipeline.
///
/// Sends submission i at t0 + i/rate (open loop: a slow answer never delays the next send)
/// and measures every latency from that due time. Reports per-component percentiles from the
/// result timings, the achieved rate next to the target, and the slowest submissions' traces.
/// Exits 1 when a verdict differs from the expected one or a submission does not finish.
#[derive(Debug, Parser)]
#[command(name = "loadtest", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load the API at a constant arrival rate (the default command).
    Run(RunArgs),
    /// Judge the same submissions with the judge engine alone, in process, as fast as it
    /// goes: the throughput baseline for the pipeline.
    Engine(EngineArgs),
    /// Replay the durable hops of a submission's critical path (PostgreSQL statements and
    /// commit, a queue each way) with no pipeline code: the floor under `pipeline_overhead`.
    Hops(HopsArgs),
}

#[derive(Debug, Clone, Args)]
struct HopsArgs {
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// Chains per second (the pipeline run's arrival rate).
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// How many chains.
    #[arg(long, default_value_t = 120)]
    chains: u64,
    /// Queue type: `quorum` (the pipeline's) or `classic` (for comparison).
    #[arg(long, default_value = "quorum", value_parser = ["quorum", "classic"])]
    queue_type: String,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 1500)]
    body_bytes: usize,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
struct RunArgs {
    /// Base URL of client-api.
    #[arg(long, env = "API_URL", default_value = "http://127.0.0.1:8080")]
    api: String,
    /// Admin token, to create the problem set (not needed against `--insecure-dev`).
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Client tokens (comma-separated), used in turn, one per submission; without them
    /// submissions go with the admin token. Each token has its own rate limit on the API.
    #[arg(
        long,
        env = "API_TOKENS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    tokens: Vec<String>,
    /// Submissions per second (steady state).
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// How long to send, ramp included (`90`, `90s`, `1500ms`, `2m`).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// Grow the rate linearly from 0 over this long first.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    ramp: Duration,
    /// Weights of the kinds of submission: accepted, wrong, tle, mle, re, ce.
    #[arg(long, default_value = Mix::DEFAULT)]
    mix: Mix,
    /// Only submit programs in these languages (comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    languages: Vec<String>,
    /// After sending, wait at most this long for the submissions still in flight.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    drain_timeout: Duration,
    /// List this many of the slowest submissions with their trace ids.
    #[arg(long, default_value_t = 10)]
    slowest: usize,
    /// Only POST submissions, do not wait for verdicts (measures the API alone).
    #[arg(long)]
    submit_only: bool,
    /// Give every submission a source of its own (a trailing comment), so no compile is a
    /// compile-cache hit; by default the mix's sources repeat, as a load test's do.
    #[arg(long)]
    unique_sources: bool,
    /// Report CPU and memory of a service process: `name=pid` (repeatable).
    #[arg(long = "watch", value_name = "NAME=PID")]
    watch: Vec<WatchTarget>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write every submission (timings, verdict, trace id) as JSON lines to this file.
    #[arg(long)]
    records: Option<PathBuf>,
    /// No live progress line.
    #[arg(long)]
    quiet: bool,
    /// Export the load generator's spans and metrics over OTLP/gRPC to this endpoint.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
}

#[derive(Debug, Clone, Args)]
struct EngineArgs {
    /// How many submissions to judge.
    #[arg(long, default_value_t = 200)]
    submissions: u64,
    /// Parallel judging slots (default: number of CPUs, like the worker).
    #[arg(long, env = "WORKER_CONCURRENCY")]
    concurrency: Option<usize>,
    /// The sandbox to judge in (the worker's `SANDBOX`).
    #[arg(long, env = "SANDBOX", value_enum, default_value = "namespaces")]
    sandbox: SandboxChoice,
    /// Weights of the kinds of submission, as for `run` (same sequence of submissions).
    #[arg(long, default_value = Mix::DEFAULT)]
    mix: Mix,
    /// Only judge programs in these languages (comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    languages: Vec<String>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Warm compiles from this directory, as the worker's TOOLCHAIN_DIR.
    #[arg(
        long,
        env = "TOOLCHAIN_DIR",
        default_value = "/var/cache/judge-worker/toolchains"
    )]
    toolchain_dir: PathBuf,
    /// Compile cold, as before warm toolchains: no precompiled headers, no class archives.
    #[arg(long)]
    cold_toolchains: bool,
    /// Compile cache size in MiB, as the worker's COMPILE_CACHE_MB (0: no cache).
    #[arg(long, env = "COMPILE_CACHE_MB", default_value_t = 256)]
    compile_cache_mb: u64,
    /// Give every submission a source of its own (a trailing comment), so no compile is a
    /// cache hit.
    #[arg(long)]
    unique_sources: bool,
}

/// `90`, `90s`, `1500ms`, `2m`, `1.5s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 90s, 1500ms or 2m"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown unit `{other}`; use ms, s, m or h")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is out of range"))
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn write_records(path: &Path, report: &Report) -> Result<(), String> {
    let mut text = String::new();
    for record in &report.records {
        let line = serde_json::to_string(&RecordLine::new(record)).map_err(|e| e.to_string())?;
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The binary's whole life.
pub async fn main_entry() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Engine(args)) => engine(args).await,
        Some(Command::Hops(args)) => hops(args).await,
        Some(Command::Run(args)) => run(args).await,
        None => run(cli.run).await,
    }
}

async fn run(args: RunArgs) -> ExitCode {
    let telemetry = match LoadtestTelemetry::init(args.otlp_endpoint.as_deref()) {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("loadtest: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let config = LoadConfig {
        api: args.api,
        tokens: Tokens {
            admin: args.admin_token.filter(|t| !t.trim().is_empty()),
            clients: args
                .tokens
                .into_iter()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
        },
        rate: args.rate,
        duration: args.duration,
        ramp: args.ramp,
        mix: args.mix,
        languages: args.languages,
        drain_timeout: args.drain_timeout,
        slowest: args.slowest,
        submit_only: args.submit_only,
        unique_sources: args.unique_sources,
        progress: !args.quiet,
        watch: args.watch,
    };
    let result = run_load(&config).await;
    for failure in telemetry.shutdown(Duration::from_secs(5)).await {
        eprintln!("loadtest: telemetry shutdown: {failure}");
    }
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            eprintln!("loadtest: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    print!("{}", table::render(&report));
    let written = args
        .json
        .as_deref()
        .map_or(Ok(()), |path| write_json(path, &report))
        .and_then(|()| {
            args.records
                .as_deref()
                .map_or(Ok(()), |path| write_records(path, &report))
        });
    if let Err(e) = written {
        eprintln!("loadtest: {e}");
        return ExitCode::from(EXIT_SETUP);
    }
    if report.passed() {
        ExitCode::from(EXIT_OK)
    } else {
        ExitCode::from(EXIT_FAILED_SUBMISSIONS)
    }
}

async fn engine(args: EngineArgs) -> ExitCode {
    let concurrency = args.concurrency.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let config = EngineConfig {
        sandbox: args.sandbox,
        submissions: args.submissions,
        concurrency,
        mix: args.mix,
        languages: args.languages,
        work_root: None,
        toolchain_dir: (!args.cold_toolchains).then_some(args.toolchain_dir),
        compile_cache_mb: args.compile_cache_mb,
        unique_sources: args.unique_sources,
    };
    let result = tokio::task::spawn_blocking(move || run_engine(&config)).await;
    let report = match result {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => {
            eprintln!("loadtest: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
        Err(e) => {
            eprintln!("loadtest: the engine run died: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    print!("{}", table::render_engine(&report));
    if let Some(path) = &args.json
        && let Err(e) = write_json(path, &report)
    {
        eprintln!("loadtest: {e}");
        return ExitCode::from(EXIT_SETUP);
    }
    if report.passed() {
        ExitCode::from(EXIT_OK)
    } else {
        ExitCode::from(EXIT_FAILED_SUBMISSIONS)
    }
}

async fn hops(args: HopsArgs) -> ExitCode {
    if !(args.rate.is_finite() && args.rate > 0.0) {
        eprintln!("loadtest: --rate must be a positive number");
        return ExitCode::from(EXIT_SETUP);
    }
    let config = HopsConfig {
        amqp_url: args.amqp_url,
        database_url: args.database_url,
        rate: args.rate,
        chains: args.chains.max(1),
        queue_type: args.queue_type,
        body_bytes: args.body_bytes,
    };
    let report = match run_hops(&config).await {
        Ok(report) => report,
        Err(e) => {
            eprintln!("loadtest: {e}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    print!("{}", table::render_hops(&report));
    if let Some(path) = &args.json
        && let Err(e) = write_json(path, &report)
    {
        eprintln!("loadtest: {e}");
        return ExitCode::from(EXIT_SETUP);
    }
    ExitCode::from(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 weeks").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from(["loadtest", "--rate", "5", "--mix", "accepted=1"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.run.rate, 5.0);
        let cli = Cli::try_parse_from(["loadtest", "engine", "--submissions", "3"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Engine(EngineArgs { submissions: 3, .. }))
        ));
        assert!(Cli::try_parse_from(["loadtest", "--mix", "ok=1"]).is_err());
        let cli = Cli::try_parse_from(["loadtest", "hops", "--queue-type", "classic"]).unwrap();
        assert!(matches!(
            cli.command,
            Some(Command::Hops(HopsArgs { rate: 2.0, .. }))
        ));
        assert!(Cli::try_parse_from(["loadtest", "hops", "--queue-type", "stream"]).is_err());
    }
}
