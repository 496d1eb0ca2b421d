//! Assembling the worker: language table, sandbox, judge engine, test-case fetcher, slots and
//! the consumer.

use crate::config::{Config, SandboxKind};
use crate::judge::{CompileCache, JudgeEngine, Toolchains};
use crate::judge_process::JudgeProcess;
use crate::metrics::WorkerMetrics;
use crate::slots::SlotPool;
use crate::submission_consumer::run_submission_consumer;
use crate::testcase_fetch::TestcaseFetcher;
use crate::worker::{Worker, worker_id};
use messaging::Topology;
use messaging::language::{LanguageTable, LanguageTableError};
use messaging::semconv::BrokerEndpoint;
use sandbox::Sandbox;
use sandbox::namespaces::{NamespaceConfig, NamespaceSandbox, remove_stale_cgroups};

/// Default sandbox cgroups are named `judge-sandbox-<pid>`.
const STALE_CGROUP_PREFIX: &str = "judge-sandbox-";

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Languages(#[from] LanguageTableError),
    #[error("cannot prepare the work dir {path}: {source}")]
    WorkDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the sandbox: {0}")]
    Sandbox(#[from] sandbox::SandboxError),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error(transparent)]
    TokenFile(#[from] messaging::settings::SecretFileError),
    #[error(
        "no WORKER_TOKEN configured: set it (or WORKER_TOKEN_FILE), or start with --insecure-dev for local development"
    )]
    MissingToken,
}

/// The sandbox the configuration asks for, with `slots` slots whose uids start at `base_uid`.
pub fn build_sandbox(
    config: &Config,
    slots: usize,
    base_uid: u32,
    work_root: &std::path::Path,
) -> Result<Arc<dyn Sandbox>, sandbox::SandboxError> {
    let sandbox: Arc<dyn Sandbox> = match config.sandbox {
        SandboxKind::Namespaces => Arc::new(NamespaceSandbox::new(NamespaceConfig {
            slots,
            base_uid,
            cgroup_name: config.sandbox_cgroup(),
            ..NamespaceConfig::default()
        })?),
        SandboxKind::Plain => {
            tracing::warn!(
                "SANDBOX=plain: submissions run as unisolated child processes; development only"
            );
            Arc::new(sandbox::plain::PlainProcess::new(work_root))
        }
    };
    tracing::info!(sandbox = sandbox.kind(), work_root = %work_root.display(), "sandbox ready");
    Ok(sandbox)
}

pub struct Application {
    worker: Arc<Worker>,
    work_root: PathBuf,
    remove_work_root: bool,
}

impl Application {
    pub fn build(config: &Config) -> Result<Self, StartupError> {
        let languages = LanguageTable::load(config.pipeline.languages_file.as_deref())?;
        let token = config.worker_token.read()?;
        if token.is_none() {
            if !config.insecure_dev {
                return Err(StartupError::MissingToken);
            }
            tracing::warn!(
                "INSECURE DEVELOPMENT MODE: no worker token; the API must also run with --insecure-dev"
            );
        }
        let (work_root, remove_work_root) = match &config.work_dir {
            Some(dir) => (dir.clone(), false),
            None => (
                std::env::temp_dir().join(format!("judge-worker-{}", std::process::id())),
                true,
            ),
        };
        std::fs::create_dir_all(&work_root).map_err(|source| StartupError::WorkDir {
            path: work_root.clone(),
            source,
        })?;
        let concurrency = config.concurrency();
        let worker_id = worker_id();
        if config.sandbox == SandboxKind::Namespaces {
            // Cgroups left by workers that were killed (SIGKILL skips all cleanup).
            match remove_stale_cgroups(STALE_CGROUP_PREFIX) {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "removed cgroups of dead workers"),
                Err(e) => tracing::warn!(error = %e, "could not remove stale sandbox cgroups"),
            }
        }
        let base_uid = config.sandbox_base_uid(&worker_id);
        let sandbox = build_sandbox(config, concurrency, base_uid, &work_root)?;
        let judge_process =
            JudgeProcess::new(config, base_uid, work_root.clone()).map_err(|source| {
                StartupError::WorkDir {
                    path: work_root.clone(),
                    source,
                }
            })?;
        let toolchains = Toolchains::prepare(&languages, config.warm_dir());
        let mut engine = JudgeEngine::new(languages, sandbox).with_toolchains(toolchains);
        if config.compile_cache_mb > 0 {
            let dir = work_root.join("compile-cache");
            match CompileCache::open(&dir, config.compile_cache_mb.saturating_mul(1 << 20)) {
                Ok(cache) => engine = engine.with_compile_cache(cache),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot open the compile cache; compiling every submission")
                }
            }
        }
        let metrics = Arc::new(WorkerMetrics::new());
        let worker = Worker {
            engine: Arc::new(engine),
            fetcher: TestcaseFetcher::new(
                &config.api_url,
                token,
                config.testcase_cache_entries,
                metrics.clone(),
            )?,
            slots: SlotPool::new(concurrency, metrics.clone()),
            metrics,
            topology: Topology::new(&config.pipeline.queue_prefix),
            endpoint: BrokerEndpoint::from_url(&config.pipeline.amqp_url),
            amqp_url: config.pipeline.amqp_url.clone(),
            concurrency,
            worker_id,
            judge_process,
        };
        Ok(Application {
            worker: Arc::new(worker),
            work_root,
            remove_work_root,
        })
    }

    /// Judges until `shutdown` resolves, then drains in-flight submissions.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let stop = CancellationToken::new();
        let consumer = tokio::spawn(run_submission_consumer(self.worker.clone(), stop.clone()));
        shutdown.await;
        tracing::info!("shutdown requested");
        stop.cancel();
        let _ = consumer.await;
        if self.remove_work_root {
            let _ = std::fs::remove_dir_all(&self.work_root);
        }
    }
}
