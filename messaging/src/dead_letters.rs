//! Replaying the dead-letter queue: after an operator fixed what made messages fail (an API
//! that was down, a broken toolchain), the messages in `judge.dead` go back to the queue they
//! came from. Each message is republished with confirm before it is removed from `judge.dead`,
//! so a replay interrupted at any point loses nothing.

use crate::publish::{Outgoing, PublishError, publish_with_confirm};
use crate::topology::{RESULT_ROUTING_KEY, SUBMISSION_ROUTING_KEY, Topology};
use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicGetOptions, BasicNackOptions};
use lapin::types::{AMQPValue, FieldTable};
use std::collections::BTreeMap;
use std::time::Duration;

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Messages republished, by routing key.
    pub replayed: BTreeMap<String, u64>,
    /// Messages left in the dead-letter queue because their origin is unknown.
    pub kept: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("broker error: {0}")]
    Broker(#[from] lapin::Error),
    #[error(transparent)]
    Publish(#[from] PublishError),
}

/// The routing key a dead-lettered message was first published with: from the broker's
/// `x-death` header, else from its AMQP `type`.
pub fn original_routing_key(headers: Option<&FieldTable>, kind: Option<&str>) -> Option<String> {
    let from_death = headers
        .and_then(|h| h.inner().get("x-death"))
        .and_then(|v| match v {
            AMQPValue::FieldArray(deaths) => deaths.as_slice().first().cloned(),
            _ => None,
        })
        .and_then(|death| match death {
            AMQPValue::FieldTable(t) => t.inner().get("routing-keys").cloned(),
            _ => None,
        })
        .and_then(|keys| match keys {
            AMQPValue::FieldArray(keys) => keys.as_slice().first().cloned(),
            _ => None,
        })
        .and_then(|key| match key {
            AMQPValue::LongString(s) => String::from_utf8(s.as_bytes().to_vec()).ok(),
            _ => None,
        });
    from_death.or_else(|| match kind? {
        crate::contract::SUBMISSION_TYPE => Some(SUBMISSION_ROUTING_KEY.to_string()),
        crate::contract::RESULT_TYPE => Some(RESULT_ROUTING_KEY.to_string()),
        _ => None,
    })
}

/// Moves up to `limit` messages from the dead-letter queue back to their queues.
pub async fn replay(
    channel: &Channel,
    topology: &Topology,
    limit: u64,
) -> Result<ReplayReport, ReplayError> {
    let mut report = ReplayReport::default();
    let mut seen = 0;
    while seen < limit {
        let Some(message) = channel
            .basic_get(
                topology.dead_letter_queue.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await?
        else {
            break;
        };
        seen += 1;
        let delivery = message.delivery;
        let props = &delivery.properties;
        let key = original_routing_key(
            props.headers().as_ref(),
            props.kind().as_ref().map(|k| k.as_str()),
        )
        .filter(|k| k == SUBMISSION_ROUTING_KEY || k == RESULT_ROUTING_KEY);
        let Some(key) = key else {
            // Unknown origin: put it back and leave it for a person.
            report.kept += 1;
            delivery
                .acker
                .nack(BasicNackOptions {
                    requeue: true,
                    multiple: false,
                })
                .await?;
            continue;
        };
        // Keep the trace context and publish time; drop the broker's death records.
        let mut headers = FieldTable::default();
        if let Some(old) = props.headers() {
            for (k, v) in old.inner() {
                let name = k.as_str();
                if !(name.starts_with("x-death")
                    || name.starts_with("x-first-death")
                    || name.starts_with("x-last-death")
                    || name == "x-delivery-count")
                {
                    headers.insert(k.clone(), v.clone());
                }
            }
        }
        let message_id = props
            .message_id()
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default();
        let kind = props
            .kind()
            .as_ref()
            .map(|k| k.to_string())
            .unwrap_or_default();
        publish_with_confirm(
            channel,
            Outgoing {
                exchange: &topology.exchange,
                routing_key: &key,
                body: &delivery.data,
                message_id: &message_id,
                kind: &kind,
                headers,
            },
            Duration::from_secs(10),
        )
        .await?;
        delivery.acker.ack(BasicAckOptions::default()).await?;
        *report.replayed.entry(key).or_default() += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{FieldArray, LongString};

    #[test]
    fn origin_from_x_death_or_type() {
        let mut death = FieldTable::default();
        death.insert(
            "routing-keys".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::LongString(
                LongString::from("judge.result"),
            )])),
        );
        let mut headers = FieldTable::default();
        headers.insert(
            "x-death".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::FieldTable(death)])),
        );
        assert_eq!(
            original_routing_key(Some(&headers), Some("submission.v1")).as_deref(),
            Some("judge.result")
        );
        assert_eq!(
            original_routing_key(None, Some("submission.v1")).as_deref(),
            Some("judge.submission")
        );
        assert_eq!(original_routing_key(None, None), None);
    }
}
