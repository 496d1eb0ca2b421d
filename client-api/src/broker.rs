//! The API's connection to RabbitMQ for publishing submissions.
//!
//! Connects lazily and reconnects on the next publish after a failure, so a broker outage
//! never blocks start-up or a request for long: a publish that cannot reach the broker fails
//! within [`CONNECT_TIMEOUT`] + [`CONFIRM_TIMEOUT`], the submission stays in the outbox, and
//! the relay publishes it later.

use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection};
use messaging::Topology;
use messaging::instrumentation::{PublishFailure, PublishTarget};
use messaging::publish::{self, Outgoing, PublishError, Written};
use messaging::topology::open_channel;
use std::time::Duration;
use tokio::sync::Mutex;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("cannot connect to RabbitMQ: {0}")]
    Connect(String),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl PublishFailure for BrokerError {
    /// A low-cardinality class for `error.type`.
    fn kind(&self) -> &'static str {
        match self {
            BrokerError::Connect(_) => "connect_error",
            BrokerError::Publish(e) => e.kind(),
        }
    }
}

struct Link {
    connection: Connection,
    channel: Channel,
}

pub struct Broker {
    url: String,
    topology: Topology,
    link: Mutex<Option<Link>>,
}

impl Broker {
    pub fn new(url: String, topology: Topology) -> Self {
        Broker {
            url,
            topology,
            link: Mutex::new(None),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// A confirm-mode channel on a live connection, connecting (and declaring the topology) if
    /// there is none.
    async fn channel(&self) -> Result<Channel, BrokerError> {
        let mut link = self.link.lock().await;
        if let Some(existing) = link.as_ref() {
            if existing.connection.status().connected() && existing.channel.status().connected() {
                return Ok(existing.channel.clone());
            }
            let stale = link.take();
            if let Some(stale) = stale {
                // Best effort: the connection is already broken or about to be dropped.
                let _ = tokio::time::timeout(
                    Duration::from_millis(200),
                    stale.connection.close(0, "reconnecting".into()),
                )
                .await;
            }
        }
        let connect = async {
            let (connection, channel) =
                open_channel(&self.url, "client-api-publisher", &self.topology).await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            Ok::<_, lapin::Error>(Link {
                connection,
                channel,
            })
        };
        let fresh = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| BrokerError::Connect(format!("no answer within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| BrokerError::Connect(e.to_string()))?;
        tracing::info!(url = %redact(&self.url), "connected to RabbitMQ for publishing");
        let channel = fresh.channel.clone();
        *link = Some(fresh);
        Ok(channel)
    }

    /// True when a publishing connection is up (for `/readyz`); tries to connect if not.
    pub async fn ready(&self) -> Result<(), BrokerError> {
        self.channel().await.map(|_| ())
    }

    pub async fn close(&self) {
        if let Some(link) = self.link.lock().await.take() {
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                link.connection.close(200, "shutting down".into()),
            )
            .await;
        }
    }
}

/// The traced publish writes through the broker link, so a failed write or confirm drops the
/// link and the next publish reconnects.
impl PublishTarget for Broker {
    type Error = BrokerError;

    /// Writes the message (see [`messaging::publish::write`]); on failure the link is
    /// dropped so the next call reconnects.
    async fn write(&self, msg: Outgoing<'_>) -> Result<Written, BrokerError> {
        let channel = self.channel().await?;
        match tokio::time::timeout(CONFIRM_TIMEOUT, publish::write(&channel, msg)).await {
            Ok(Ok(written)) => Ok(written),
            Ok(Err(e)) => {
                self.link.lock().await.take();
                Err(e.into())
            }
            Err(_) => {
                self.link.lock().await.take();
                Err(PublishError::Timeout(CONFIRM_TIMEOUT).into())
            }
        }
    }

    /// Waits for the broker's confirm of a written message; on failure (but for a message
    /// no queue takes, which says nothing about the link) the link is dropped.
    async fn confirmed(&self, written: Written) -> Result<(), BrokerError> {
        match written.confirmed(CONFIRM_TIMEOUT).await {
            Ok(()) => Ok(()),
            Err(e) => {
                if !matches!(e, PublishError::Unroutable(_)) {
                    self.link.lock().await.take();
                }
                Err(e.into())
            }
        }
    }
}

/// The URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(super::redact("amqp://host/"), "amqp://host/");
    }
}
