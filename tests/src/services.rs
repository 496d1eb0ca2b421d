//! `client-api` and `judge-worker` as child processes, configured through their environment
//! exactly as in production, with their JSON console logs captured for the tests to read.

use crate::PATIENCE;
use serde_json::Value;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// Paths of the two service binaries. Only an integration test knows them at compile time
/// (`CARGO_BIN_EXE_*`), so tests pass them in with [`binaries!`](crate::binaries).
#[derive(Debug, Clone, Copy)]
pub struct Binaries {
    pub api: &'static str,
    pub worker: &'static str,
}

/// The [`Binaries`] of this package, for use inside an integration test.
#[macro_export]
macro_rules! binaries {
    () => {
        $crate::services::Binaries {
            api: env!("CARGO_BIN_EXE_e2e-client-api"),
            worker: env!("CARGO_BIN_EXE_e2e-judge-worker"),
        }
    };
}

/// Settings shared by both services of one test.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    pub amqp_url: String,
    pub queue_prefix: String,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, when telemetry is exported.
    pub otlp_endpoint: Option<String>,
    pub tokens: Tokens,
}

/// The secrets of one test's deployment.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// Two clients, to check that one cannot read the other's submissions.
    pub clients: [String; 2],
    pub admin: String,
    pub worker: String,
}

impl Tokens {
    pub fn generate() -> Self {
        let secret = |role: &str| format!("{role}-{}", uuid::Uuid::new_v4().simple());
        Tokens {
            clients: [secret("client-a"), secret("client-b")],
            admin: secret("admin"),
            worker: secret("worker"),
        }
    }
}

pub struct ServiceProcess {
    pub name: &'static str,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    arrived: Arc<Notify>,
}

impl ServiceProcess {
    async fn spawn(
        name: &'static str,
        exe: &str,
        settings: &ServiceSettings,
        env: &[(&str, String)],
        launcher: Option<&crate::compose_privileges::Launcher>,
    ) -> anyhow::Result<Self> {
        let argv = match launcher {
            Some(l) => l.wrap(&[exe]),
            None => vec![exe.to_string()],
        };
        let mut command = Command::new(&argv[0]);
        command.args(&argv[1..]);
        // Nothing from the test runner's environment leaks in (OTEL_*, RUST_LOG, …).
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AMQP_URL", &settings.amqp_url)
            .env("QUEUE_PREFIX", &settings.queue_prefix)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("OTEL_METRIC_EXPORT_INTERVAL", "300")
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("OTEL_BLRP_SCHEDULE_DELAY", "100")
            .env("OTEL_EXPORTER_OTLP_TIMEOUT", "2000");
        if let Some(endpoint) = &settings.otlp_endpoint {
            command.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
        }
        for (k, v) in env {
            command.env(k, v);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(collect(
                BufReader::new(stdout),
                lines.clone(),
                arrived.clone(),
            ));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(collect(
                BufReader::new(stderr),
                lines.clone(),
                arrived.clone(),
            ));
        }
        Ok(ServiceProcess {
            name,
            child,
            lines,
            arrived,
        })
    }

    /// Waits for a JSON log line for which `pick` holds.
    pub async fn wait_for_log(
        &self,
        timeout: Duration,
        pick: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        crate::wait_for_change(&self.arrived, timeout, || {
            self.json_logs().into_iter().find(|v| pick(v))
        })
        .await
    }

    /// Waits until `done` holds for the JSON log lines so far.
    pub async fn wait_until(&self, timeout: Duration, done: impl Fn(&[Value]) -> bool) -> bool {
        crate::wait_for_change(&self.arrived, timeout, || {
            done(&self.json_logs()).then_some(())
        })
        .await
        .is_some()
    }

    /// Every console line parsed as JSON (non-JSON lines, e.g. a panic, are skipped).
    pub fn json_logs(&self) -> Vec<Value> {
        self.lines
            .lock()
            .map(|l| {
                l.iter()
                    .filter_map(|line| serde_json::from_str(line).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The raw console output, for failure messages.
    pub fn output(&self) -> String {
        self.lines.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// SIGTERM, then waits for the exit; returns the exit code.
    pub async fn terminate(&mut self) -> anyhow::Result<Option<i32>> {
        if let Some(pid) = self.child.id() {
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
        let status = tokio::time::timeout(PATIENCE, self.child.wait()).await??;
        Ok(status.code())
    }

    /// SIGKILL: a crash.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}

async fn collect<R: tokio::io::AsyncRead + Unpin>(
    reader: BufReader<R>,
    lines: Arc<Mutex<Vec<String>>>,
    arrived: Arc<Notify>,
) {
    let mut reader = reader.lines();
    while let Ok(Some(line)) = reader.next_line().await {
        if let Ok(mut lines) = lines.lock() {
            lines.push(line);
        }
        arrived.notify_waiters();
    }
}

fn message_is(v: &Value, message: &str) -> bool {
    v.get("message").and_then(Value::as_str) == Some(message)
}

/// A running `client-api`.
pub struct Api {
    pub process: ServiceProcess,
    pub base_url: String,
}

impl Api {
    pub async fn start(
        binaries: Binaries,
        settings: &ServiceSettings,
        database_url: &str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let mut env = vec![
            ("DATABASE_URL", database_url.to_string()),
            ("LISTEN_ADDR", "127.0.0.1:0".to_string()),
            ("API_TOKENS", settings.tokens.clients.join(",")),
            ("ADMIN_TOKEN", settings.tokens.admin.clone()),
            ("WORKER_TOKEN", settings.tokens.worker.clone()),
        ];
        env.extend(extra.iter().cloned());
        let process =
            ServiceProcess::spawn("client-api", binaries.api, settings, &env, None).await?;
        let listening = process
            .wait_for_log(PATIENCE, |v| message_is(v, "listening"))
            .await
            .ok_or_else(|| anyhow::anyhow!("client-api did not start:\n{}", process.output()))?;
        // Ready when its result consumer is attached too (what `/readyz` reports).
        process
            .wait_for_log(PATIENCE, |v| message_is(v, "consuming results"))
            .await
            .ok_or_else(|| {
                anyhow::anyhow!("client-api did not consume results:\n{}", process.output())
            })?;
        let address = listening["fields"]["address"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no address in {listening}"))?
            .to_string();
        Ok(Api {
            process,
            base_url: format!("http://{address}"),
        })
    }
}

/// A running `judge-worker`.
pub struct Worker {
    pub process: ServiceProcess,
}

impl Worker {
    pub async fn start(
        binaries: Binaries,
        settings: &ServiceSettings,
        api_url: &str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        Self::start_with(binaries, settings, api_url, extra, None).await
    }

    /// Starts the worker through `launcher` (the compose privileges), if given.
    pub async fn start_with(
        binaries: Binaries,
        settings: &ServiceSettings,
        api_url: &str,
        extra: &[(&str, String)],
        launcher: Option<&crate::compose_privileges::Launcher>,
    ) -> anyhow::Result<Self> {
        let mut env = vec![
            ("API_URL", api_url.to_string()),
            ("WORKER_CONCURRENCY", "2".to_string()),
            ("WORKER_TOKEN", settings.tokens.worker.clone()),
        ];
        env.extend(extra.iter().cloned());
        let process =
            ServiceProcess::spawn("judge-worker", binaries.worker, settings, &env, launcher)
                .await?;
        process
            .wait_for_log(PATIENCE, |v| message_is(v, "consuming submissions"))
            .await
            .ok_or_else(|| anyhow::anyhow!("judge-worker did not start:\n{}", process.output()))?;
        Ok(Worker { process })
    }
}
