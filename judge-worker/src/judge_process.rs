//! Judging in a disposable child process (`judge-worker judge-batch`), so that a submission
//! which crashes the judge crashes only that process.
//!
//! The sandbox contains what a program does; it cannot contain a bug of the worker's own that
//! a submission happens to trigger (a stack overflow, an abort, the OOM killer choosing the
//! worker). Such a submission would take down every worker that receives it, one redelivery
//! after another, and never get a verdict. So a delivery the broker has made before
//! (`redelivered`, or `x-delivery-count` ≥ 1: the previous holder vanished, or asked for a
//! retry) is judged by a child process in the same slot: if the child dies, the worker
//! reports `ServerError` with the reason and does not try again. A first delivery is judged
//! in the worker's own process, which costs no process start.
//!
//! The child is the worker's own binary with the worker's settings, one sandbox slot whose
//! uid is the parent's slot uid (the parent holds that slot meanwhile) and a cgroup of its
//! own, removed by the parent if the child cannot. It reads jobs as JSON lines on stdin and
//! answers each with a JSON line on stdout (its logs go to stderr); `tests/compose_privileges.rs`
//! drives the same command with many jobs in a row.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use messaging::contract::{Limits, Testcase};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::{Config, SandboxKind};
use crate::judge::{JudgeEngine, JudgeError, JudgeJob, JudgeOutcome};

/// The most a child may answer for one job (the compile output is capped at 64 KiB; the rest
/// is one small record per test case).
const ANSWER_LIMIT: u64 = 64 << 20;
/// A child that has not answered within this is killed (every run in it is bounded, so this
/// only catches a judge that hangs).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// One submission for a judge process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchJob {
    pub submission_id: uuid::Uuid,
    pub language: String,
    pub source: String,
    pub limits: Limits,
    pub testcases: Vec<Testcase>,
    pub run_all_testcases: bool,
    /// W3C trace context (`traceparent`, ...) the child's spans continue.
    #[serde(default)]
    pub trace_context: BTreeMap<String, String>,
}

/// A judge process's answer to one job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum BatchAnswer {
    Judged(JudgeOutcome),
    /// No verdict; `retry` says whether another attempt could reach one.
    Failed {
        error: String,
        retry: bool,
    },
}

/// Why a judge process gave no verdict.
#[derive(Debug, thiserror::Error)]
pub enum JudgeProcessError {
    /// The process died or answered nonsense while judging: do not try again.
    #[error("{0}")]
    Crashed(String),
    /// The judge failed as it would have in the worker itself.
    #[error("{error}")]
    Failed { error: String, retry: bool },
    /// The process could not be started or talked to.
    #[error("judge process: {0}")]
    Io(#[from] std::io::Error),
}

/// How to start judge processes like this worker.
#[derive(Debug, Clone)]
pub struct JudgeProcess {
    exe: PathBuf,
    sandbox: SandboxKind,
    /// uid of slot 0 of the parent's sandbox; the child for slot `n` runs as `base_uid + n`.
    base_uid: u32,
    cgroup_name: String,
    languages_file: Option<PathBuf>,
    work_root: PathBuf,
    log_filter: String,
    toolchain_dir: PathBuf,
    warm_toolchains: bool,
}

impl JudgeProcess {
    pub fn new(config: &Config, base_uid: u32, work_root: PathBuf) -> std::io::Result<Self> {
        Ok(JudgeProcess {
            exe: std::env::current_exe()?,
            sandbox: config.sandbox,
            base_uid,
            cgroup_name: config.sandbox_cgroup(),
            languages_file: config.pipeline.languages_file.clone(),
            work_root,
            log_filter: config.logs.log_filter.clone(),
            toolchain_dir: config.toolchain_dir.clone(),
            warm_toolchains: config.warm_toolchains,
        })
    }

    fn child_cgroup(&self, slot: usize) -> String {
        format!("{}-child-{slot}", self.cgroup_name)
    }

    /// Judge `job` in a new process in `slot` (which the caller holds).
    pub async fn judge(
        &self,
        slot: usize,
        job: &BatchJob,
    ) -> Result<JudgeOutcome, JudgeProcessError> {
        let uid = self.base_uid + slot as u32;
        let mut command = tokio::process::Command::new(&self.exe);
        // The worker's own flags, then the subcommand (clap wants them in that order).
        command
            .arg("--sandbox")
            .arg(match self.sandbox {
                SandboxKind::Namespaces => "namespaces",
                SandboxKind::Plain => "plain",
            })
            .arg("--sandbox-base-uid")
            .arg(uid.to_string())
            .arg("--sandbox-cgroup")
            .arg(self.child_cgroup(slot))
            .arg("--work-dir")
            .arg(self.work_root.join(format!("child-{slot}")))
            .arg("--log-format")
            .arg("json")
            .arg("--log-filter")
            .arg(&self.log_filter)
            .arg("--toolchain-dir")
            .arg(&self.toolchain_dir)
            .arg("--warm-toolchains")
            .arg(self.warm_toolchains.to_string());
        if let Some(file) = &self.languages_file {
            command.arg("--languages-file").arg(file);
        }
        command
            .arg("judge-batch")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal,
        // so a child never outlives the worker that waits for it.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        let mut line = serde_json::to_vec(job).map_err(|e| JudgeProcessError::Failed {
            error: format!("cannot encode the job: {e}"),
            retry: false,
        })?;
        line.push(b'\n');
        let answer = async {
            let mut stdin = child
                .stdin
                .take()
                .ok_or_else(|| std::io::Error::other("no stdin"))?;
            stdin.write_all(&line).await?;
            drop(stdin);
            let stdout = child
                .stdout
                .take()
                .ok_or_else(|| std::io::Error::other("no stdout"))?;
            let mut answer = Vec::new();
            stdout.take(ANSWER_LIMIT).read_to_end(&mut answer).await?;
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((answer, status))
        };
        let (answer, status) = match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
            Ok(result) => result?,
            Err(_) => {
                let _ = child.kill().await;
                self.remove_child_cgroup(slot);
                return Err(JudgeProcessError::Crashed(format!(
                    "the judge process did not answer within {} s",
                    ANSWER_TIMEOUT.as_secs()
                )));
            }
        };
        let parsed = std::str::from_utf8(&answer)
            .ok()
            .and_then(|text| text.lines().next())
            .and_then(|first| serde_json::from_str::<BatchAnswer>(first).ok());
        match parsed {
            Some(BatchAnswer::Judged(outcome)) if status.success() => Ok(outcome),
            Some(BatchAnswer::Failed { error, retry }) if status.success() => {
                Err(JudgeProcessError::Failed { error, retry })
            }
            _ => {
                self.remove_child_cgroup(slot);
                Err(JudgeProcessError::Crashed(format!(
                    "judging this submission crashed the judge process ({}); it was judged in \
                     a process of its own because an earlier delivery of it did not finish, \
                     and is not retried",
                    describe(status)
                )))
            }
        }
    }

    /// A child that died cannot remove its slot cgroup; the parent does.
    fn remove_child_cgroup(&self, slot: usize) {
        if self.sandbox == SandboxKind::Namespaces
            && let Err(e) = sandbox::namespaces::remove_cgroup(&self.child_cgroup(slot))
        {
            tracing::warn!(error = %e, "could not remove the judge process's cgroup");
        }
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (_, Some(signal)) => format!("killed by signal {signal}"),
        (Some(code), _) => format!("exit code {code}"),
        _ => status.to_string(),
    }
}

/// `judge-worker judge-batch`: judge the jobs on stdin, one JSON line each, in slot 0 of a
/// sandbox of one slot; answer each with one JSON line on stdout.
pub async fn run_judge_batch(config: &Config) -> anyhow::Result<()> {
    let languages =
        messaging::language::LanguageTable::load(config.pipeline.languages_file.as_deref())?;
    let work_root = config.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("judge-batch-{}", std::process::id()))
    });
    let sandbox =
        crate::startup::build_sandbox(config, 1, config.sandbox_base_uid(""), &work_root)?;
    // The parent's prepared toolchains (found made, under the same fingerprints); no compile
    // cache: a process of its own judges what may have crashed a worker, cold and alone.
    let toolchains = crate::judge::Toolchains::prepare(&languages, config.warm_dir());
    let engine = Arc::new(JudgeEngine::new(languages, sandbox).with_toolchains(toolchains));
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<BatchJob>(&line) {
            Ok(job) => judge_one(&engine, job).await,
            Err(e) => BatchAnswer::Failed {
                error: format!("undecodable job: {e}"),
                retry: false,
            },
        };
        let mut out = serde_json::to_vec(&answer)?;
        out.push(b'\n');
        stdout.write_all(&out).await?;
        stdout.flush().await?;
    }
    drop(engine);
    if config.work_dir.is_none() {
        let _ = std::fs::remove_dir_all(&work_root);
    }
    Ok(())
}

async fn judge_one(engine: &Arc<JudgeEngine>, job: BatchJob) -> BatchAnswer {
    let span = tracing::info_span!(
        "judge.process",
        submission.id = %job.submission_id,
        judge.language = %job.language,
    );
    // Without a telemetry layer there is nothing to attach to; the judging is the same.
    let _ = span.set_parent(messaging::trace_headers::context_from_map(
        &job.trace_context,
    ));
    let engine = Arc::clone(engine);
    let judged = tokio::task::spawn_blocking(move || {
        span.in_scope(|| {
            engine.judge(
                0,
                &JudgeJob {
                    submission_id: job.submission_id,
                    language: &job.language,
                    source: &job.source,
                    limits: job.limits,
                    testcases: &job.testcases,
                    run_all_testcases: job.run_all_testcases,
                },
            )
        })
    })
    .await;
    match judged {
        Ok(Ok(outcome)) => BatchAnswer::Judged(outcome),
        Ok(Err(e @ JudgeError::UnknownLanguage(_))) => BatchAnswer::Failed {
            error: e.to_string(),
            retry: false,
        },
        Ok(Err(e)) => BatchAnswer::Failed {
            error: e.to_string(),
            retry: true,
        },
        // A panic is a bug of the judge that this submission triggers: it would again.
        Err(join) => BatchAnswer::Failed {
            error: format!("the judge failed on this submission: {join}"),
            retry: false,
        },
    }
}
