//! `judge.started`: tells the API a worker has taken a submission, so a client polling it sees
//! `judging` instead of `queued`.
//!
//! Advisory and off the critical path: the event is written and confirmed in a task of its
//! own while judging goes on, is not persistent, and a failure is only logged (the verdict
//! does not depend on it). No span: it is not a stage of the submission's timeline.

use crate::worker::Worker;
use chrono::{DateTime, Utc};
use lapin::Channel;
use lapin::types::FieldTable;
use messaging::StartedMessage;
use messaging::contract::{SCHEMA_VERSION, STARTED_TYPE};
use messaging::publish::{self, Outgoing};
use messaging::topology::STARTED_ROUTING_KEY;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

/// Publishes the started event for `submission_id` in the background.
pub fn announce_started(
    worker: &Arc<Worker>,
    channel: &Channel,
    submission_id: Uuid,
    judging: u32,
    consumed_at: DateTime<Utc>,
) {
    let event = StartedMessage {
        schema_version: SCHEMA_VERSION,
        submission_id,
        consumed_at,
        worker_id: worker.worker_id.clone(),
        judging,
    };
    let Ok(body) = serde_json::to_vec(&event) else {
        return;
    };
    let worker = worker.clone();
    let channel = channel.clone();
    tokio::spawn(async move {
        let id = submission_id.to_string();
        let outcome = async {
            publish::write(
                &channel,
                Outgoing {
                    exchange: &worker.topology.exchange,
                    routing_key: STARTED_ROUTING_KEY,
                    body: &body,
                    message_id: &id,
                    kind: STARTED_TYPE,
                    headers: FieldTable::default(),
                    persistent: false,
                },
            )
            .await?
            .confirmed(CONFIRM_TIMEOUT)
            .await
        }
        .await;
        if let Err(e) = outcome {
            tracing::warn!(submission.id = %id, error = %e, "cannot announce that judging started; the submission shows `queued` until its verdict");
        }
    });
}
