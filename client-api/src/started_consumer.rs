//! `judge.started`: marks a submission `judging` when a worker reports it has taken it.
//!
//! Advisory: an event is acknowledged whatever happens to it (undecodable, database down),
//! because the verdict does not depend on it and holding it would only delay newer ones. The
//! update only moves `queued` to `judging`, so a started event that arrives after the verdict
//! (the two travel on different queues) changes nothing.

use crate::db::submissions;
use crate::state::AppState;
use futures::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use messaging::StartedMessage;
use messaging::consume::{ConsumerError, keep_consuming};
use std::sync::atomic::AtomicBool;
use tokio_util::sync::CancellationToken;

/// Started events the broker may send ahead of their acknowledgements.
const PREFETCH: u16 = 256;

pub async fn run_started_consumer(state: AppState, shutdown: CancellationToken) {
    // Not part of readiness: the API serves correctly without it.
    let attached = AtomicBool::new(false);
    keep_consuming("started events", &shutdown, &attached, || {
        consume(&state, &shutdown)
    })
    .await;
}

async fn consume(state: &AppState, shutdown: &CancellationToken) -> Result<(), ConsumerError> {
    let topology = state.broker.topology().clone();
    let connection = Connection::connect(
        state.broker.url(),
        ConnectionProperties::default().with_connection_name("client-api-started".into()),
    )
    .await?;
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    channel
        .basic_qos(PREFETCH, BasicQosOptions::default())
        .await?;
    let tag = format!("client-api-started-{}", std::process::id());
    let mut deliveries = channel
        .basic_consume(
            topology.started_queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(queue = %topology.started_queue, "consuming started events");
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = deliveries.next() => next,
        };
        let delivery = match next {
            Some(Ok(delivery)) => delivery,
            Some(Err(e)) => return Err(e.into()),
            None => return Err(ConsumerError::Cancelled),
        };
        match StartedMessage::decode(&delivery.data) {
            Ok(event) => {
                if let Err(e) = submissions::mark_judging(&state.pool, &event).await {
                    tracing::warn!(submission.id = %event.submission_id, error = %e, "cannot mark the submission judging; it shows `queued` until its verdict");
                }
            }
            Err(e) => tracing::warn!(error = %e, "undecodable started event dropped"),
        }
        let _ = delivery.acker.ack(BasicAckOptions::default()).await;
    }
    let _ = connection.close(200, "shutting down".into()).await;
    Ok(())
}
