//! The judge engine: compile a submission, run it on every test case, compare the output and
//! decide the verdicts.
//!
//! It is synchronous and knows nothing of queues: the worker hands it one submission at a
//! time per slot from a blocking thread and publishes what comes back. Everything untrusted
//! (the compiler included, since it reads the submission) runs through the [`Sandbox`], so
//! swapping the plain runner for the isolated one changes nothing here.
//!
//! - `spec`: what the sandbox runs for the compile step and for a test case — the language
//!   row's argv with `{memory_mb}` filled in, the user's limits scaled by the row — and the
//!   quota of the submission's workspace (where the source is written and the build output
//!   stays; the sandbox owns it and makes it fresh for every submission and test case).
//! - `verdict`: from a sandbox report to a verdict, a compile failure reason, a result.
//! - `compare`: whether the output matches the expected output.
//! - `toolchain`: each compiler's fingerprint, and what is prepared once so compiles start
//!   warm (precompiled headers, a compiler class archive).
//! - `compile_cache`: compile outcomes by language, toolchain, flags and source; a hit puts
//!   the build output into the workspace instead of compiling.
//!
//! Telemetry: a `judge.compile` span for the compile step (`judge.compile.cached` says
//! whether it came from the cache; a hit has no sandbox measurements) and a `judge.run` span
//! per test case that runs, children of whatever span is current (the worker's submission span), with
//! the sandbox's measurements and the verdict as attributes. A sandbox failure marks the span
//! as an error; it is never turned into a verdict about the program.

mod compare;
mod compile_cache;
mod spec;
mod toolchain;
mod verdict;

pub use compare::outputs_match;
pub use compile_cache::CompileCache;
pub use toolchain::{Toolchain, Toolchains};

use std::sync::Arc;
use std::time::{Duration, Instant};

use messaging::contract::{Limits, Testcase, TestcaseResult, Verdict};
use messaging::language::{Language, LanguageTable};
use messaging::semconv::span;
use sandbox::{RunReport, Sandbox, SandboxError, Termination, Workspace};
use tracing::Span;
use tracing::field::display;

use self::compile_cache::{BuildFile, CachedCompile, CompileKey};
use self::verdict::{Compilation, millis};

/// The span of one sandboxed step (`judge.compile`, `judge.run`) with the fields
/// [`record_report`], [`record_sandbox_error`] and the verdict fill in later. A macro because
/// tracing needs the name and every field name at compile time; `$extra` adds the step's own
/// fields.
macro_rules! sandbox_step_span {
    ($name:expr, $sandbox_kind:expr, $job:expr, $language:expr $(, $($extra:tt)*)?) => {
        tracing::info_span!(
            $name,
            judge.language = %$language.id,
            submission.id = %$job.submission_id,
            sandbox.kind = $sandbox_kind,
            sandbox.cpu_time_ms = tracing::field::Empty,
            sandbox.wall_time_ms = tracing::field::Empty,
            sandbox.memory_kb = tracing::field::Empty,
            sandbox.termination = tracing::field::Empty,
            process.exit.code = tracing::field::Empty,
            process.signal = tracing::field::Empty,
            judge.verdict = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_description = tracing::field::Empty,
            $($($extra)*)?
        )
    };
}

/// Compiles and runs submissions through a sandbox. Shared by all slots (`&self`).
pub struct JudgeEngine {
    languages: LanguageTable,
    sandbox: Arc<dyn Sandbox>,
    /// Compile argv and fingerprints; without them each row's argv as written, and no cache.
    toolchains: Toolchains,
    compile_cache: Option<CompileCache>,
}

/// One submission to judge.
#[derive(Debug, Clone)]
pub struct JudgeJob<'a> {
    pub submission_id: uuid::Uuid,
    /// A language id from the table (`c`, `cpp`, `java`, `python3`).
    pub language: &'a str,
    pub source: &'a str,
    /// The user's limits; each language row scales them.
    pub limits: Limits,
    pub testcases: &'a [Testcase],
    /// Run every test case even after one fails; otherwise later ones are `Skipped`.
    pub run_all_testcases: bool,
}

/// What judging a submission produced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JudgeOutcome {
    /// The first test case verdict that is not `Accepted`, `CompileError` if compiling
    /// failed, else `Accepted`.
    pub verdict: Verdict,
    /// Compiler stdout and stderr (lossy UTF-8, at most 64 KiB), with a reason line when the
    /// compiler hit a limit. Empty for languages without a compile step.
    pub compile_output: String,
    /// One per test case, in order; those not run are `Skipped` with zero measurements.
    /// (No test cases at all give `Accepted` with no results: rejecting that is the caller's
    /// business, before anything is compiled.)
    pub results: Vec<TestcaseResult>,
    /// Wall time of the compile step (zero if there is none); for a cache hit, the time to
    /// restore the cached build.
    pub compile_time: Duration,
    /// The compile step's result came from the compile cache.
    #[serde(default)]
    pub compile_cached: bool,
    /// Sum of the wall times of the test cases that ran.
    pub run_time: Duration,
}

/// The judge could not reach a verdict. None of these says anything about the program: the
/// worker reports them as `ServerError` (or retries elsewhere).
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    #[error("unknown language `{0}`")]
    UnknownLanguage(String),
    #[error("sandbox failed: {0}")]
    Sandbox(#[from] SandboxError),
}

/// The compile step's result.
struct Compiled {
    succeeded: bool,
    output: String,
    wall_time: Duration,
    cached: bool,
}

impl JudgeEngine {
    /// An engine that compiles with each row's argv as written, and caches nothing.
    pub fn new(languages: LanguageTable, sandbox: Arc<dyn Sandbox>) -> Self {
        JudgeEngine {
            languages,
            sandbox,
            toolchains: Toolchains::default(),
            compile_cache: None,
        }
    }

    /// Compile with these toolchains (warm flags, read-only binds, fingerprints).
    pub fn with_toolchains(mut self, toolchains: Toolchains) -> Self {
        self.toolchains = toolchains;
        self
    }

    /// Keep compile outcomes in `cache` (used for languages whose toolchain is known).
    pub fn with_compile_cache(mut self, cache: CompileCache) -> Self {
        self.compile_cache = Some(cache);
        self
    }

    pub fn compile_cache(&self) -> Option<&CompileCache> {
        self.compile_cache.as_ref()
    }

    pub fn languages(&self) -> &LanguageTable {
        &self.languages
    }

    /// Judges one submission in a fresh workspace in `slot`. Blocking: call from a blocking
    /// thread. Runs in different slots may overlap; runs in the same slot must not.
    pub fn judge(&self, slot: usize, job: &JudgeJob<'_>) -> Result<JudgeOutcome, JudgeError> {
        let language = self
            .languages
            .get(job.language)
            .ok_or_else(|| JudgeError::UnknownLanguage(job.language.to_owned()))?;
        let workspace = self.sandbox.workspace(slot, spec::build_quota(language))?;
        workspace.write_file(&language.source_file, job.source.as_bytes())?;

        let mut compile_output = String::new();
        let mut compile_time = Duration::ZERO;
        let mut compile_cached = false;
        if !language.compile.is_empty() {
            let compiled = self.compile(job, language, &workspace)?;
            compile_output = compiled.output;
            compile_time = compiled.wall_time;
            compile_cached = compiled.cached;
            if !compiled.succeeded {
                return Ok(JudgeOutcome {
                    verdict: Verdict::CompileError,
                    compile_output,
                    results: (0..job.testcases.len()).map(verdict::skipped).collect(),
                    compile_time,
                    compile_cached,
                    run_time: Duration::ZERO,
                });
            }
        }

        let mut results = Vec::with_capacity(job.testcases.len());
        let mut run_time = Duration::ZERO;
        let mut failed = false;
        for (index, testcase) in job.testcases.iter().enumerate() {
            if failed && !job.run_all_testcases {
                results.push(verdict::skipped(index));
                continue;
            }
            let (result, wall_time) =
                self.run_testcase(job, language, &workspace, index, testcase)?;
            run_time += wall_time;
            failed |= result.verdict != Verdict::Accepted;
            results.push(result);
        }
        let verdict = results
            .iter()
            .map(|r| r.verdict)
            .find(|v| !matches!(v, Verdict::Accepted | Verdict::Skipped))
            .unwrap_or(Verdict::Accepted);
        Ok(JudgeOutcome {
            verdict,
            compile_output,
            results,
            compile_time,
            compile_cached,
            run_time,
        })
    }

    fn compile(
        &self,
        job: &JudgeJob<'_>,
        language: &Language,
        workspace: &Workspace,
    ) -> Result<Compiled, JudgeError> {
        let span = sandbox_step_span!(
            span::JUDGE_COMPILE,
            self.sandbox.kind(),
            job,
            language,
            judge.compile.cached = tracing::field::Empty,
        );
        let _entered = span.enter();
        let toolchain = self.toolchains.get(&language.id);
        let cache = self
            .compile_cache
            .as_ref()
            .zip(toolchain)
            .map(|(cache, toolchain)| {
                (
                    cache,
                    CompileKey::new(language, toolchain, job.source.as_bytes()),
                )
            });
        if let Some((cache, key)) = &cache {
            let started = Instant::now();
            if let Some(hit) = cache.get(key) {
                span.record("judge.compile.cached", true);
                return self.restore(workspace, language, cache, key, hit, started, &span);
            }
        }
        span.record("judge.compile.cached", false);
        let spec = spec::compile_spec(language, toolchain);
        let report = self
            .sandbox
            .run(workspace, &spec)
            .inspect_err(|error| record_sandbox_error(&span, error))?;
        record_report(&span, &report);
        let compiled = match verdict::compilation(&report) {
            Compilation::Succeeded => {
                tracing::info!(
                    sandbox.wall_time_ms = millis(report.wall_time) as i64,
                    "compiled"
                );
                Compiled {
                    succeeded: true,
                    output: verdict::compile_output(&report, None),
                    wall_time: report.wall_time,
                    cached: false,
                }
            }
            Compilation::Failed { reason } => {
                span.record("judge.verdict", Verdict::CompileError.as_str());
                tracing::info!(
                    judge.verdict = Verdict::CompileError.as_str(),
                    reason = reason.as_deref().unwrap_or("compiler reported errors"),
                    "compilation failed"
                );
                Compiled {
                    succeeded: false,
                    output: verdict::compile_output(&report, reason.as_deref()),
                    wall_time: report.wall_time,
                    cached: false,
                }
            }
        };
        // Only what the source decides is kept: the compiler exited (a limit it hit under
        // load may not be hit again).
        if let (Some((cache, key)), Termination::Exited(_)) = (&cache, &report.termination) {
            let files = if compiled.succeeded {
                build_output(workspace, language, cache.entry_limit())
            } else {
                Some(Vec::new())
            };
            if let Some(files) = files {
                cache.put(
                    key,
                    &CachedCompile {
                        succeeded: compiled.succeeded,
                        output: compiled.output.clone(),
                        files,
                    },
                );
            }
        }
        Ok(compiled)
    }

    /// A cache hit: the build output into the (fresh) workspace, as the compile left it.
    #[allow(clippy::too_many_arguments)]
    fn restore(
        &self,
        workspace: &Workspace,
        language: &Language,
        cache: &CompileCache,
        key: &CompileKey,
        hit: CachedCompile,
        started: Instant,
        span: &Span,
    ) -> Result<Compiled, JudgeError> {
        for file in &hit.files {
            if let Err(error) =
                workspace.write_file_with_mode(&file.name, &file.contents, file.mode)
            {
                // The workspace holds part of a build now: give up on this attempt (it is
                // retried) and on the entry (the retry compiles).
                cache.forget(key);
                record_sandbox_error(span, &error);
                return Err(error.into());
            }
        }
        let wall_time = started.elapsed();
        let verdict = if hit.succeeded {
            None
        } else {
            span.record("judge.verdict", Verdict::CompileError.as_str());
            Some(Verdict::CompileError.as_str())
        };
        tracing::info!(
            judge.language = %language.id,
            judge.compile.cached = true,
            judge.verdict = verdict,
            files = hit.files.len() as i64,
            restore_ms = wall_time.as_secs_f64() * 1000.0,
            "compile served from the cache"
        );
        Ok(Compiled {
            succeeded: hit.succeeded,
            output: hit.output,
            wall_time,
            cached: true,
        })
    }

    fn run_testcase(
        &self,
        job: &JudgeJob<'_>,
        language: &Language,
        workspace: &Workspace,
        index: usize,
        testcase: &Testcase,
    ) -> Result<(TestcaseResult, Duration), JudgeError> {
        let span = sandbox_step_span!(
            span::JUDGE_RUN,
            self.sandbox.kind(),
            job,
            language,
            testcase.index = index as i64,
        );
        let _entered = span.enter();
        let spec = spec::run_spec(
            language,
            self.toolchains.get(&language.id),
            job.limits,
            testcase,
        );
        let report = self
            .sandbox
            .run(workspace, &spec)
            .inspect_err(|error| record_sandbox_error(&span, error))?;
        record_report(&span, &report);
        let verdict =
            verdict::run_verdict(&report, spec.limits.cpu_time, testcase.output.as_bytes());
        span.record("judge.verdict", verdict.as_str());
        tracing::info!(
            testcase.index = index as i64,
            judge.verdict = verdict.as_str(),
            sandbox.cpu_time_ms = millis(report.cpu_time) as i64,
            sandbox.memory_kb = (report.peak_memory_bytes / 1024) as i64,
            "test case judged"
        );
        Ok((
            verdict::testcase_result(index, verdict, &report),
            report.wall_time,
        ))
    }
}

/// What a successful compile left besides the source, if all of it is regular files of at
/// most `limit` bytes together (anything else is not cached).
fn build_output(workspace: &Workspace, language: &Language, limit: u64) -> Option<Vec<BuildFile>> {
    let mut files = Vec::new();
    let mut left = limit;
    for name in workspace.file_names().ok()? {
        if name == language.source_file {
            continue;
        }
        let (contents, mode) = workspace.read_file_with_mode(&name, left).ok()?;
        left = left.saturating_sub(contents.len() as u64);
        files.push(BuildFile {
            name,
            mode,
            contents,
        });
    }
    Some(files)
}

/// The sandbox's measurements as span attributes.
fn record_report(span: &Span, report: &RunReport) {
    // i64: unsigned numbers would be exported as strings.
    span.record("sandbox.cpu_time_ms", millis(report.cpu_time) as i64);
    span.record("sandbox.wall_time_ms", millis(report.wall_time) as i64);
    span.record(
        "sandbox.memory_kb",
        (report.peak_memory_bytes / 1024) as i64,
    );
    span.record("sandbox.termination", report.termination.name());
    match report.termination {
        Termination::Exited(code) => {
            span.record("process.exit.code", code);
        }
        Termination::Signaled(signal) => {
            span.record("process.signal", signal);
        }
        _ => {}
    }
}

/// Marks the span failed (exported as the OpenTelemetry span status) and logs why.
fn record_sandbox_error(span: &Span, error: &SandboxError) {
    span.record("otel.status_code", "ERROR");
    span.record("otel.status_description", display(error));
    tracing::error!(error = %error, "sandbox failed");
}
