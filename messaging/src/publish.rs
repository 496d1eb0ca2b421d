//! Publishing that only reports success once the broker has taken responsibility.
//!
//! The channel must be in confirm mode (`confirm_select`). Messages are persistent and
//! `mandatory`: a message no queue would receive comes back as an error instead of vanishing.

use lapin::Confirmation;
use lapin::options::BasicPublishOptions;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel};
use std::time::Duration;

/// One message to publish.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    pub body: &'a [u8],
    /// AMQP `message_id`: the submission id.
    pub message_id: &'a str,
    /// AMQP `type`: `submission.v1` or `result.v1`.
    pub kind: &'a str,
    /// Trace context and `x-published-at-ns`.
    pub headers: FieldTable,
    /// Written to disk by the broker (submissions, results); advisory events are not.
    pub persistent: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("broker error while publishing: {0}")]
    Broker(#[from] lapin::Error),
    #[error("broker refused the message (nack)")]
    Nacked,
    #[error("no queue is bound for routing key `{0}`; the message was returned")]
    Unroutable(String),
    #[error("no confirm from the broker within {0:?}")]
    Timeout(Duration),
    #[error("cannot encode the message: {0}")]
    Encode(#[from] serde_json::Error),
}

impl PublishError {
    /// A low-cardinality class for the `error.type` attribute.
    pub fn kind(&self) -> &'static str {
        match self {
            PublishError::Broker(_) => "broker_error",
            PublishError::Nacked => "nacked",
            PublishError::Unroutable(_) => "unroutable",
            PublishError::Timeout(_) => "timeout",
            PublishError::Encode(_) => "encode_error",
        }
    }
}

/// A message written to the broker, whose confirm is still to come.
pub struct Written {
    confirm: lapin::PublisherConfirm,
    routing_key: String,
}

/// Writes `msg` to the channel (persistent, `mandatory`, with the contract's properties).
/// The broker has not taken responsibility yet: wait for that with [`Written::confirmed`].
///
/// Split in two so that a PRODUCER span can end when the message is on its way: a consumer
/// often receives it before the confirm comes back, and a producer span that ends after the
/// consumer starts is dropped by Tempo's service graph.
pub async fn write(channel: &Channel, msg: Outgoing<'_>) -> Result<Written, PublishError> {
    let seconds = chrono::Utc::now().timestamp().max(0) as u64;
    let properties = BasicProperties::default()
        .with_delivery_mode(if msg.persistent { 2 } else { 1 })
        .with_content_type("application/json".into())
        .with_message_id(msg.message_id.into())
        .with_type(msg.kind.into())
        .with_timestamp(seconds)
        .with_headers(msg.headers);
    let options = BasicPublishOptions {
        mandatory: true,
        ..Default::default()
    };
    let confirm = channel
        .basic_publish(
            msg.exchange.into(),
            msg.routing_key.into(),
            options,
            msg.body,
            properties,
        )
        .await?;
    Ok(Written {
        confirm,
        routing_key: msg.routing_key.to_string(),
    })
}

impl Written {
    /// Waits (at most `timeout`) until the broker confirms the message.
    pub async fn confirmed(self, timeout: Duration) -> Result<(), PublishError> {
        let confirmation = tokio::time::timeout(timeout, self.confirm)
            .await
            .map_err(|_| PublishError::Timeout(timeout))??;
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_)) => Err(PublishError::Unroutable(self.routing_key)),
            Confirmation::Nack(_) => Err(PublishError::Nacked),
            Confirmation::NotRequested => Ok(()),
        }
    }
}

/// Publishes `msg` and waits (at most `timeout`) until the broker confirms it.
pub async fn publish_with_confirm(
    channel: &Channel,
    msg: Outgoing<'_>,
    timeout: Duration,
) -> Result<(), PublishError> {
    tokio::time::timeout(timeout, write(channel, msg))
        .await
        .map_err(|_| PublishError::Timeout(timeout))??
        .confirmed(timeout)
        .await
}
