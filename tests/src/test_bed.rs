//! The usual set-up of an end-to-end test: an isolated environment, an OTLP receiver, the API
//! and a worker, and an HTTP client for the API.

use crate::api_client::ApiClient;
use crate::compose_privileges::Launcher;
use crate::environment::TestEnvironment;
use crate::otlp_receiver::OtlpReceiver;
use crate::services::{Api, Binaries, ServiceSettings, Tokens, Worker};

#[derive(Debug, Clone, Default)]
pub struct TestBedOptions {
    /// Export telemetry to the in-process receiver (default: yes).
    pub no_telemetry: bool,
    /// Point both services at this OTLP endpoint instead of the receiver.
    pub otlp_endpoint: Option<String>,
    /// Point the API at this AMQP URL (e.g. through a proxy) instead of the broker.
    pub api_amqp_url: Option<String>,
    /// Point the worker at this AMQP URL instead of the broker.
    pub worker_amqp_url: Option<String>,
    /// Point the API at this database server (`postgres://…:port`, without the database
    /// name) instead of the machine's.
    pub api_postgres_url: Option<String>,
    /// Start no worker.
    pub no_worker: bool,
    /// Extra environment for the API.
    pub api_env: Vec<(&'static str, String)>,
    /// Extra environment for the worker.
    pub worker_env: Vec<(&'static str, String)>,
    /// Run the worker with exactly docker-compose.yml's privileges (root only).
    pub compose_privileges: bool,
}

pub struct TestBed {
    // Field order is drop order: processes die before the environment is removed.
    pub worker: Option<Worker>,
    /// The compose privileges the workers run with (and the cgroup they run in).
    pub launcher: Option<Launcher>,
    pub api: Api,
    /// The first client's API client.
    pub client: ApiClient,
    /// The admin's API client (problem management).
    pub admin: ApiClient,
    pub receiver: OtlpReceiver,
    pub settings: ServiceSettings,
    pub binaries: Binaries,
    pub env: TestEnvironment,
}

impl TestBed {
    pub async fn start(
        binaries: Binaries,
        name: &str,
        options: TestBedOptions,
    ) -> anyhow::Result<Self> {
        let env = TestEnvironment::new(name);
        let receiver = OtlpReceiver::start().await?;
        let otlp_endpoint = if options.no_telemetry {
            None
        } else {
            Some(
                options
                    .otlp_endpoint
                    .clone()
                    .unwrap_or_else(|| receiver.endpoint()),
            )
        };
        let settings = ServiceSettings {
            amqp_url: crate::AMQP_URL.to_string(),
            queue_prefix: env.prefix().to_string(),
            otlp_endpoint,
            tokens: Tokens::generate(),
        };
        let mut api_settings = settings.clone();
        if let Some(url) = &options.api_amqp_url {
            api_settings.amqp_url = url.clone();
        }
        let database_url = match &options.api_postgres_url {
            Some(server) => format!("{server}/{}", env.names.database),
            None => env.database_url(),
        };
        let api = Api::start(binaries, &api_settings, &database_url, &options.api_env).await?;
        let mut settings = settings;
        if let Some(url) = &options.worker_amqp_url {
            settings.amqp_url = url.clone();
        }
        let launcher = if options.compose_privileges {
            Some(Launcher::compose()?)
        } else {
            None
        };
        let worker = if options.no_worker {
            None
        } else {
            Some(
                Worker::start_with(
                    binaries,
                    &settings,
                    &api.base_url,
                    &options.worker_env,
                    launcher.as_ref(),
                )
                .await?,
            )
        };
        let client = ApiClient::new(&api.base_url, Some(&settings.tokens.clients[0]));
        let admin = ApiClient::new(&api.base_url, Some(&settings.tokens.admin));
        Ok(TestBed {
            worker,
            launcher,
            api,
            client,
            admin,
            receiver,
            settings,
            binaries,
            env,
        })
    }

    /// An API client with another token (or none).
    pub fn client_with(&self, token: Option<&str>) -> ApiClient {
        ApiClient::new(&self.api.base_url, token)
    }

    /// Starts (another) worker with the test's settings.
    pub async fn start_worker(&self) -> anyhow::Result<Worker> {
        Worker::start_with(
            self.binaries,
            &self.settings,
            &self.api.base_url,
            &[],
            self.launcher.as_ref(),
        )
        .await
    }
}
