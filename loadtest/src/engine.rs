//! The baseline: the same planned submissions judged by the judge engine alone, in process
//! (no HTTP, RabbitMQ or PostgreSQL), with as many parallel slots as the worker has, as fast
//! as it can. Its throughput is what the pipeline's sustained rate is compared against.
//! It uses the same sandbox the worker uses (`namespaces` by default, or `plain`), built the
//! way the worker builds it.

use crate::histogram::{LatencyHistogram, Summary};
use crate::mix::Mix;
use crate::proc_watch;
use crate::workload::{Plan, PlanError, PlannedSubmission, ProblemKey};
use judge_worker::judge::{CompileCache, JudgeEngine, JudgeJob, Toolchains};
use messaging::contract::Testcase;
use messaging::language::{LanguageTable, LanguageTableError};
use sandbox::namespaces::{NamespaceConfig, NamespaceSandbox};
use sandbox::plain::PlainProcess;
use sandbox::{Sandbox, SandboxError};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Which sandbox the engine judges in (the worker's `SANDBOX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SandboxChoice {
    /// Namespaces, cgroups and seccomp: what the worker uses by default.
    #[default]
    Namespaces,
    /// Unisolated child processes (development).
    Plain,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub sandbox: SandboxChoice,
    /// How many submissions of the plan to judge.
    pub submissions: u64,
    /// Parallel judging slots (the worker's `WORKER_CONCURRENCY`).
    pub concurrency: usize,
    pub mix: Mix,
    pub languages: Vec<String>,
    /// Where the slots' work dirs go (default: a fresh directory under the temp dir,
    /// removed at the end).
    pub work_root: Option<PathBuf>,
    /// Warm compiles from this toolchain directory, as the worker's `TOOLCHAIN_DIR` (none:
    /// every compile cold).
    pub toolchain_dir: Option<PathBuf>,
    /// Compile cache size in MiB, as the worker's `COMPILE_CACHE_MB` (0: none).
    pub compile_cache_mb: u64,
    /// Make every source unique (see [`PlannedSubmission::source`]).
    pub unique_sources: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("the built-in language table: {0}")]
    Languages(#[from] LanguageTableError),
    #[error("cannot create the work root {path}: {source}")]
    WorkRoot {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("concurrency must be at least 1")]
    Concurrency,
    #[error("cannot set up the sandbox: {0}")]
    Sandbox(#[from] SandboxError),
}

#[derive(Debug, Clone, Serialize)]
pub struct EngineReport {
    pub sandbox: &'static str,
    pub mix: String,
    pub concurrency: usize,
    pub submissions: u64,
    pub elapsed_s: f64,
    /// Submissions judged per second.
    pub throughput: f64,
    pub mismatched: u64,
    pub mismatches: Vec<String>,
    /// Judge failures (not verdicts): sandbox or I/O errors.
    pub errors: Vec<String>,
    /// `compile`, `run`, `judge` (the whole submission) and `judge_overhead` (judge minus
    /// compile and run: work dir, sandbox set-up and tear-down), in ms.
    pub components: BTreeMap<&'static str, Summary>,
    pub by_kind: BTreeMap<String, u64>,
    pub by_verdict: BTreeMap<String, u64>,
    /// CPU of this process during the run (its own threads).
    pub cpu_s: f64,
    /// CPU of the compilers and judged programs.
    pub children_cpu_s: f64,
    /// All CPU per submission, in ms.
    pub cpu_ms_per_submission: f64,
    /// Whether compiles were warm (precompiled headers, class archives) and cached.
    pub warm_toolchains: bool,
    pub compile_cache_mb: u64,
    pub unique_sources: bool,
    /// Compile steps the compile cache served, and all compile steps.
    pub compile_cache_hits: u64,
    pub compiles: u64,
}

impl EngineReport {
    pub fn passed(&self) -> bool {
        self.mismatched == 0 && self.errors.is_empty()
    }
}

/// One judged submission.
struct Judged {
    planned: PlannedSubmission,
    verdict: Result<String, String>,
    compile: Duration,
    /// A compile step ran (or was served from the cache: `cached`).
    compiled: bool,
    cached: bool,
    run: Duration,
    total: Duration,
}

/// Judges the plan's first `submissions` submissions with `concurrency` threads. Blocking.
pub fn run_engine(config: &EngineConfig) -> Result<EngineReport, EngineError> {
    if config.concurrency == 0 {
        return Err(EngineError::Concurrency);
    }
    let plan: Vec<PlannedSubmission> = Plan::new(&config.mix, &config.languages)?
        .take(usize::try_from(config.submissions).unwrap_or(usize::MAX))
        .collect();
    let testcases: HashMap<ProblemKey, Vec<Testcase>> = ProblemKey::ALL
        .iter()
        .map(|key| (*key, key.spec().testcases()))
        .collect();
    let (work_root, remove_after) = match &config.work_root {
        Some(root) => (root.clone(), false),
        None => (
            std::env::temp_dir().join(format!("loadtest-engine-{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&work_root).map_err(|source| EngineError::WorkRoot {
        path: work_root.clone(),
        source,
    })?;
    let sandbox = build_sandbox(config.sandbox, config.concurrency, &work_root)?;
    let sandbox_kind = sandbox.kind();
    let languages = LanguageTable::builtin()?;
    let toolchains = Toolchains::prepare(&languages, config.toolchain_dir.as_deref());
    let mut engine = JudgeEngine::new(languages, sandbox).with_toolchains(toolchains);
    if config.compile_cache_mb > 0 {
        let dir = work_root.join("compile-cache");
        let cache = CompileCache::open(&dir, config.compile_cache_mb.saturating_mul(1 << 20))
            .map_err(|source| EngineError::WorkRoot { path: dir, source })?;
        engine = engine.with_compile_cache(cache);
    }

    let before = proc_watch::sample(std::process::id()).ok();
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    let judged: Vec<Judged> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..config.concurrency)
            .map(|slot| {
                let (engine, next, plan, testcases) = (&engine, &next, &plan, &testcases);
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        let Some(planned) = plan.get(j) else {
                            break;
                        };
                        mine.push(judge_one(
                            engine,
                            slot,
                            planned,
                            testcases,
                            config.unique_sources,
                        ));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let elapsed = start.elapsed();
    let after = proc_watch::sample(std::process::id()).ok();
    let report = summarise(config, sandbox_kind, judged, elapsed, before.zip(after));
    // The sandbox (and its cgroups) go before the work root.
    drop(engine);
    if remove_after {
        let _ = std::fs::remove_dir_all(&work_root);
    }
    Ok(report)
}

/// The sandbox as the worker builds it: slot uids in a range of their own (60000 + 64·k, k
/// from the pid, as the worker derives it from `hostname@pid`) and a cgroup named like the
/// worker's, so a worker's stale-cgroup sweep also removes one left by a killed run.
fn build_sandbox(
    choice: SandboxChoice,
    slots: usize,
    work_root: &std::path::Path,
) -> Result<Arc<dyn Sandbox>, SandboxError> {
    Ok(match choice {
        SandboxChoice::Plain => Arc::new(PlainProcess::new(work_root)),
        SandboxChoice::Namespaces => {
            let pid = std::process::id();
            Arc::new(NamespaceSandbox::new(NamespaceConfig {
                slots,
                base_uid: 60_000 + 64 * (pid % 1000),
                cgroup_name: format!("judge-sandbox-{pid}"),
                ..NamespaceConfig::default()
            })?)
        }
    })
}

fn judge_one(
    engine: &JudgeEngine,
    slot: usize,
    planned: &PlannedSubmission,
    testcases: &HashMap<ProblemKey, Vec<Testcase>>,
    unique_source: bool,
) -> Judged {
    let program = &planned.program;
    let spec = program.problem.spec();
    let source = planned.source(unique_source);
    let job = JudgeJob {
        submission_id: uuid::Uuid::now_v7(),
        language: program.language,
        source: &source,
        limits: spec.limits,
        testcases: testcases
            .get(&program.problem)
            .map(Vec::as_slice)
            .unwrap_or_default(),
        run_all_testcases: false,
    };
    let started = Instant::now();
    let outcome = engine.judge(slot, &job);
    let total = started.elapsed();
    match outcome {
        Ok(outcome) => Judged {
            planned: planned.clone(),
            verdict: Ok(format!("{:?}", outcome.verdict)),
            compile: outcome.compile_time,
            compiled: !outcome.compile_time.is_zero() || outcome.compile_cached,
            cached: outcome.compile_cached,
            run: outcome.run_time,
            total,
        },
        Err(error) => Judged {
            planned: planned.clone(),
            verdict: Err(error.to_string()),
            compile: Duration::ZERO,
            compiled: false,
            cached: false,
            run: Duration::ZERO,
            total,
        },
    }
}

fn summarise(
    config: &EngineConfig,
    sandbox: &'static str,
    judged: Vec<Judged>,
    elapsed: Duration,
    cpu: Option<(proc_watch::Sample, proc_watch::Sample)>,
) -> EngineReport {
    let mut compile = LatencyHistogram::new();
    let mut run = LatencyHistogram::new();
    let mut total = LatencyHistogram::new();
    let mut overhead = LatencyHistogram::new();
    let mut by_kind = BTreeMap::new();
    let mut by_verdict = BTreeMap::new();
    let mut mismatches = Vec::new();
    let mut errors = Vec::new();
    for j in &judged {
        let program = &j.planned.program;
        *by_kind.entry(program.kind.to_string()).or_insert(0) += 1;
        match &j.verdict {
            Ok(verdict) => {
                *by_verdict.entry(verdict.clone()).or_insert(0) += 1;
                compile.record(j.compile);
                run.record(j.run);
                total.record(j.total);
                overhead.record(j.total.saturating_sub(j.compile + j.run));
                if verdict != program.kind.expected_verdict() {
                    mismatches.push(format!(
                        "#{} {} ({}): expected {}, got {verdict}",
                        j.planned.index,
                        program.language,
                        program.kind,
                        program.kind.expected_verdict()
                    ));
                }
            }
            Err(error) => errors.push(format!(
                "#{} {} ({}): {error}",
                j.planned.index, program.language, program.kind
            )),
        }
    }
    let submissions = judged.len() as u64;
    let compiles = judged.iter().filter(|j| j.compiled).count() as u64;
    let compile_cache_hits = judged.iter().filter(|j| j.cached).count() as u64;
    let seconds = elapsed.as_secs_f64();
    let (cpu_s, children_cpu_s) = cpu.map_or((0.0, 0.0), |(before, after)| {
        (
            after.cpu_s - before.cpu_s,
            after.children_cpu_s - before.children_cpu_s,
        )
    });
    EngineReport {
        sandbox,
        mix: config.mix.to_string(),
        concurrency: config.concurrency,
        submissions,
        elapsed_s: seconds,
        throughput: if seconds > 0.0 {
            submissions as f64 / seconds
        } else {
            0.0
        },
        mismatched: mismatches.len() as u64,
        mismatches,
        errors,
        components: [
            ("compile", compile.summary()),
            ("run", run.summary()),
            ("judge", total.summary()),
            ("judge_overhead", overhead.summary()),
        ]
        .into_iter()
        .collect(),
        by_kind,
        by_verdict,
        cpu_s,
        children_cpu_s,
        cpu_ms_per_submission: if submissions > 0 {
            (cpu_s + children_cpu_s) * 1000.0 / submissions as f64
        } else {
            0.0
        },
        warm_toolchains: config.toolchain_dir.is_some(),
        compile_cache_mb: config.compile_cache_mb,
        unique_sources: config.unique_sources,
        compile_cache_hits,
        compiles,
    }
}
