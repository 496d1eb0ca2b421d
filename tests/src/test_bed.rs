//! The usual set-up of an end-to-end test: an isolated environment, an OTLP receiver, the API
//! and a worker, and an HTTP client for the API.

use crate::api_client::ApiClient;
use crate::environment::TestEnvironment;
use crate::otlp_receiver::OtlpReceiver;
use crate::services::{Api, Binaries, ServiceSettings, Worker};

#[derive(Debug, Clone, Default)]
pub struct TestBedOptions {
    /// Export telemetry to the in-process receiver (default: yes).
    pub no_telemetry: bool,
    /// Point both services at this OTLP endpoint instead of the receiver.
    pub otlp_endpoint: Option<String>,
    /// Point the API at this AMQP URL (e.g. through a proxy) instead of the broker.
    pub api_amqp_url: Option<String>,
    /// Start no worker.
    pub no_worker: bool,
    /// Extra environment for the API.
    pub api_env: Vec<(&'static str, String)>,
}

pub struct TestBed {
    // Field order is drop order: processes die before the environment is removed.
    pub worker: Option<Worker>,
    pub api: Api,
    pub client: ApiClient,
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
        };
        let mut api_settings = settings.clone();
        if let Some(url) = &options.api_amqp_url {
            api_settings.amqp_url = url.clone();
        }
        let api = Api::start(
            binaries,
            &api_settings,
            &env.database_url(),
            &options.api_env,
        )
        .await?;
        let worker = if options.no_worker {
            None
        } else {
            Some(Worker::start(binaries, &settings, &api.base_url, &[]).await?)
        };
        let client = ApiClient::new(&api.base_url);
        Ok(TestBed {
            worker,
            api,
            client,
            receiver,
            settings,
            binaries,
            env,
        })
    }

    /// Starts (another) worker with the test's settings.
    pub async fn start_worker(&self) -> anyhow::Result<Worker> {
        Worker::start(self.binaries, &self.settings, &self.api.base_url, &[]).await
    }
}
