//! Assembling the application: database, broker, background tasks and the HTTP server.
//!
//! [`Application::build`] binds the listener (port 0 picks a free one; [`Application::port`]
//! says which), so tests and the binary start the same thing.

use crate::access::{AccessConfigError, AccessPolicy, RateLimit};
use crate::broker::Broker;
use crate::completions::Completions;
use crate::config::Config;
use crate::db::{DatabaseError, connect_and_migrate};
use crate::metrics::ApiMetrics;
use crate::outbox::run_outbox_relay;
use crate::result_consumer::run_result_consumer;
use crate::routes::router;
use crate::started_consumer::run_started_consumer;
use crate::state::AppState;
use messaging::Topology;
use messaging::language::{LanguageTable, LanguageTableError};
use messaging::semconv::BrokerEndpoint;
use messaging::settings::read_secret;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long background tasks get to finish after the server stopped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DatabaseError),
    #[error(transparent)]
    Languages(#[from] LanguageTableError),
    #[error(transparent)]
    Access(#[from] AccessConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

fn access_policy(config: &Config) -> Result<AccessPolicy, AccessConfigError> {
    let clients = read_secret(
        "API_TOKENS",
        config.api_tokens.as_deref(),
        config.api_tokens_file.as_deref(),
    )?;
    let admin = read_secret(
        "ADMIN_TOKEN",
        config.admin_token.as_deref(),
        config.admin_token_file.as_deref(),
    )?;
    let worker = config.worker_token.read()?;
    let policy = AccessPolicy::new(
        clients,
        admin,
        worker,
        config.insecure_dev,
        RateLimit {
            per_second: config.rate_limit_per_second,
            burst: config.rate_limit_burst.max(1.0),
        },
    )?;
    if policy.insecure() {
        tracing::warn!(
            "INSECURE DEVELOPMENT MODE: no tokens are checked; anyone who can reach this port can \
             submit code, manage problems and read every submission. Never run this way in production."
        );
    }
    Ok(policy)
}

pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    state: AppState,
}

impl Application {
    pub async fn build(config: &Config) -> Result<Self, StartupError> {
        let languages = LanguageTable::load(config.pipeline.languages_file.as_deref())?;
        let access = access_policy(config)?;
        let pool = connect_and_migrate(&config.database_url).await?;
        let topology = Topology::new(&config.pipeline.queue_prefix);
        let state = AppState {
            pool,
            broker: Arc::new(Broker::new(config.pipeline.amqp_url.clone(), topology)),
            broker_endpoint: Arc::new(BrokerEndpoint::from_url(&config.pipeline.amqp_url)),
            languages: Arc::new(languages),
            metrics: Arc::new(ApiMetrics::new()),
            completions: Completions::new(),
            relay_wake: Arc::new(Notify::new()),
            result_consumer_up: Arc::new(AtomicBool::new(false)),
            grafana_url: config.grafana_url.as_deref().map(Arc::from),
            access: Arc::new(access),
        };
        let listener = TcpListener::bind(&config.listen_addr)
            .await
            .map_err(|source| StartupError::Listen {
                addr: config.listen_addr.clone(),
                source,
            })?;
        let address = listener
            .local_addr()
            .map_err(|source| StartupError::Listen {
                addr: config.listen_addr.clone(),
                source,
            })?;
        Ok(Application {
            listener,
            address,
            state,
        })
    }

    /// Serves until `shutdown` resolves, then stops accepting requests, lets in-flight ones
    /// and the background tasks finish, and closes the broker and database connections.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let stop = CancellationToken::new();
        let relay = tokio::spawn(run_outbox_relay(self.state.clone(), stop.clone()));
        let consumer = tokio::spawn(run_result_consumer(self.state.clone(), stop.clone()));
        let started = tokio::spawn(run_started_consumer(self.state.clone(), stop.clone()));
        // Wake the relay once at start-up: rows left by a previous crash are published now.
        self.state.relay_wake.notify_one();

        tracing::info!(address = %self.address, "listening");
        let app = router(self.state.clone());
        let server_stop = stop.clone();
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = shutdown => {},
                    _ = server_stop.cancelled() => {},
                }
            })
            .await;
        tracing::info!("HTTP server stopped; draining background tasks");
        stop.cancel();
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
            let _ = relay.await;
            let _ = consumer.await;
            let _ = started.await;
        })
        .await;
        self.state.broker.close().await;
        self.state.pool.close().await;
        served.map_err(StartupError::Serve)
    }
}
