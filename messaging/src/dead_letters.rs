//! Replaying the dead-letter queue: after an operator fixed what made messages fail (an API
//! that was down, a broken toolchain), the messages in `judge.dead` go back to the queue they
//! came from. Each message is republished with confirm before it is removed from `judge.dead`,
//! so a replay interrupted at any point loses nothing.
//!
//! A message that failed for a reason no fix outside it can change — a body that is not a
//! valid message, a result the API refused because its submission does not exist — would only
//! come straight back: it is kept (republished into `judge.dead` with the reason in
//! `x-judge-kept-reason`) and the report says why. One pass sees each message at most once.

use crate::contract::{ResultMessage, SubmissionMessage};
use crate::publish::{Outgoing, PublishError, publish_with_confirm};
use crate::topology::{RESULT_ROUTING_KEY, SUBMISSION_ROUTING_KEY, Topology};
use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use std::collections::BTreeMap;
use std::time::Duration;

/// Header a kept message carries: why replay left it.
pub const KEPT_REASON_HEADER: &str = "x-judge-kept-reason";
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// What a replay did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    /// Messages republished, by routing key.
    pub replayed: BTreeMap<String, u64>,
    /// Messages left in the dead-letter queue, each with the reason.
    pub kept: Vec<KeptLetter>,
}

/// A dead letter replay left where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptLetter {
    pub message_id: String,
    pub reason: KeepReason,
}

/// Why replaying a message cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeepReason {
    #[error("its origin is unknown (no x-death routing key, no known AMQP type)")]
    UnknownOrigin,
    #[error("its body is not a valid {kind} message: {error}")]
    Undecodable { kind: &'static str, error: String },
    #[error("the API refused this result: its submission does not exist")]
    ResultForUnknownSubmission,
    /// Kept by an earlier replay, for the reason given then.
    #[error("{0}")]
    KeptBefore(String),
}

/// What replay does with one dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Back to the queue it came from, under this routing key.
    Replay(String),
    Keep(KeepReason),
}

/// Decides a dead letter's fate from its headers, AMQP `type` and body.
pub fn disposition(headers: Option<&FieldTable>, kind: Option<&str>, body: &[u8]) -> Disposition {
    if let Some(reason) = headers.and_then(|h| header_string(h, KEPT_REASON_HEADER)) {
        return Disposition::Keep(KeepReason::KeptBefore(reason));
    }
    let key = original_routing_key(headers, kind);
    match key.as_deref() {
        Some(SUBMISSION_ROUTING_KEY) => match SubmissionMessage::decode(body) {
            // Dead-lettered after its last attempt failed for an infrastructure reason.
            Ok(_) => Disposition::Replay(SUBMISSION_ROUTING_KEY.to_string()),
            Err(e) => Disposition::Keep(KeepReason::Undecodable {
                kind: SUBMISSION_ROUTING_KEY,
                error: e.to_string(),
            }),
        },
        Some(RESULT_ROUTING_KEY) => match ResultMessage::decode(body) {
            Err(e) => Disposition::Keep(KeepReason::Undecodable {
                kind: RESULT_ROUTING_KEY,
                error: e.to_string(),
            }),
            // The API rejects a valid result only when its submission does not exist; one
            // that ran out of attempts (the database was down) is worth replaying.
            Ok(_) if death_reason(headers).as_deref() == Some("rejected") => {
                Disposition::Keep(KeepReason::ResultForUnknownSubmission)
            }
            Ok(_) => Disposition::Replay(RESULT_ROUTING_KEY.to_string()),
        },
        _ => Disposition::Keep(KeepReason::UnknownOrigin),
    }
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

/// Why the broker dead-lettered the message the first time (`rejected`, `delivery_limit`,
/// `expired`, …), from `x-death`.
fn death_reason(headers: Option<&FieldTable>) -> Option<String> {
    let death = match headers?.inner().get("x-death")? {
        AMQPValue::FieldArray(deaths) => deaths.as_slice().first().cloned()?,
        _ => return None,
    };
    match death {
        AMQPValue::FieldTable(t) => header_string(&t, "reason"),
        _ => None,
    }
}

fn header_string(table: &FieldTable, key: &str) -> Option<String> {
    match table.inner().get(key)? {
        AMQPValue::LongString(s) => String::from_utf8(s.as_bytes().to_vec()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// Moves up to `limit` messages from the dead-letter queue back to their queues, keeping those
/// replay cannot fix. Only the messages there when it starts are looked at.
pub async fn replay(
    channel: &Channel,
    topology: &Topology,
    limit: u64,
) -> Result<ReplayReport, ReplayError> {
    let waiting = channel
        .queue_declare(
            topology.dead_letter_queue.as_str().into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?
        .message_count();
    let mut report = ReplayReport::default();
    for _ in 0..limit.min(u64::from(waiting)) {
        let Some(message) = channel
            .basic_get(
                topology.dead_letter_queue.as_str().into(),
                BasicGetOptions { no_ack: false },
            )
            .await?
        else {
            break;
        };
        let delivery = message.delivery;
        let props = &delivery.properties;
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
        let old_headers = props.headers().clone().unwrap_or_default();
        match disposition(Some(&old_headers), Some(&kind), &delivery.data) {
            Disposition::Replay(key) => {
                // Keep the trace context and publish time; drop the broker's death records.
                let mut headers = FieldTable::default();
                for (k, v) in old_headers.inner() {
                    let name = k.as_str();
                    if !(name.starts_with("x-death")
                        || name.starts_with("x-first-death")
                        || name.starts_with("x-last-death")
                        || name == "x-delivery-count")
                    {
                        headers.insert(k.clone(), v.clone());
                    }
                }
                publish_with_confirm(
                    channel,
                    Outgoing {
                        exchange: &topology.exchange,
                        routing_key: &key,
                        body: &delivery.data,
                        message_id: &message_id,
                        kind: &kind,
                        headers,
                        persistent: true,
                    },
                    CONFIRM_TIMEOUT,
                )
                .await?;
                *report.replayed.entry(key).or_default() += 1;
            }
            Disposition::Keep(reason) => {
                // Back to the end of the dead-letter queue as it was, plus the reason (a
                // requeue would count as a delivery, and quorum queues drop a message
                // delivered too often).
                let mut headers = old_headers;
                headers.insert(
                    KEPT_REASON_HEADER.into(),
                    AMQPValue::LongString(LongString::from(reason.to_string().into_bytes())),
                );
                publish_with_confirm(
                    channel,
                    Outgoing {
                        exchange: "",
                        routing_key: &topology.dead_letter_queue,
                        body: &delivery.data,
                        message_id: &message_id,
                        kind: &kind,
                        headers,
                        persistent: true,
                    },
                    CONFIRM_TIMEOUT,
                )
                .await?;
                report.kept.push(KeptLetter { message_id, reason });
            }
        }
        delivery.acker.ack(BasicAckOptions::default()).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::FieldArray;

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

    fn dead(reason: &str, key: &str) -> FieldTable {
        let mut death = FieldTable::default();
        death.insert(
            "reason".into(),
            AMQPValue::LongString(LongString::from(reason)),
        );
        death.insert(
            "routing-keys".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::LongString(
                LongString::from(key),
            )])),
        );
        let mut headers = FieldTable::default();
        headers.insert(
            "x-death".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![AMQPValue::FieldTable(death)])),
        );
        headers
    }

    #[test]
    fn only_what_replay_can_fix_is_replayed() {
        let submission = br#"{"schema_version":1,"submission_id":"01a217a0-61d6-709e-9ad7-b0acb38305b1","language":"c","source":"int main(){}","limits":{"time_limit_ms":1000,"memory_limit_mb":64},"testcases":{"kind":"inline","testcases":[{"input":"","output":""}]}}"#;
        let result = br#"{"schema_version":1,"submission_id":"01a217a0-61d6-709e-9ad7-b0acb38305b1","verdict":"Accepted","compile_output":"","results":[],"timings":{"consumed_at":"2026-11-26T11:31:56Z","judged_at":"2026-11-26T11:31:56Z","testcase_fetch_ms":0,"compile_ms":0,"run_ms":0},"worker_id":"w"}"#;
        let sub = dead("rejected", "judge.submission");
        assert!(SubmissionMessage::decode(submission).is_ok());
        assert_eq!(
            disposition(Some(&sub), None, submission),
            Disposition::Replay("judge.submission".into())
        );
        assert!(matches!(
            disposition(Some(&sub), None, b"not json"),
            Disposition::Keep(KeepReason::Undecodable { .. })
        ));
        assert!(ResultMessage::decode(result).is_ok());
        assert_eq!(
            disposition(Some(&dead("delivery_limit", "judge.result")), None, result),
            Disposition::Replay("judge.result".into())
        );
        assert_eq!(
            disposition(Some(&dead("rejected", "judge.result")), None, result),
            Disposition::Keep(KeepReason::ResultForUnknownSubmission)
        );
        assert_eq!(
            disposition(None, Some("mystery.v1"), result),
            Disposition::Keep(KeepReason::UnknownOrigin)
        );
        let mut kept = dead("delivery_limit", "judge.result");
        kept.insert(
            KEPT_REASON_HEADER.into(),
            AMQPValue::LongString(LongString::from("because")),
        );
        assert_eq!(
            disposition(Some(&kept), None, result),
            Disposition::Keep(KeepReason::KeptBefore("because".into()))
        );
    }
}
