//! The consumer of `judge.submission`: one connection with a consuming channel (prefetch =
//! concurrency) and a confirm-mode channel for results; reconnects with backoff after the
//! broker goes away. On shutdown it stops taking deliveries and lets in-flight judges finish
//! (up to a deadline); anything unacknowledged goes back to the queue.

use crate::process_submission::process_delivery;
use crate::worker::Worker;
use futures::StreamExt;
use lapin::options::{
    BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use messaging::consume::{ConsumerError, keep_consuming};
use messaging::semconv;
use messaging::topology::SUBMISSION_ROUTING_KEY;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long in-flight judges may take to finish after a shutdown request.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Consumes until `shutdown` is cancelled.
pub async fn run_submission_consumer(worker: Arc<Worker>, shutdown: CancellationToken) {
    // The worker has no readiness check, so nothing reads whether it is attached; the flag
    // is only what `keep_consuming` asks for.
    let attached = AtomicBool::new(false);
    keep_consuming("submissions", &shutdown, &attached, || {
        consume(&worker, &shutdown)
    })
    .await;
}

async fn consume(worker: &Arc<Worker>, shutdown: &CancellationToken) -> Result<(), ConsumerError> {
    let connection = Connection::connect(
        &worker.amqp_url,
        ConnectionProperties::default().with_connection_name(worker.worker_id.clone().into()),
    )
    .await?;
    let channel = connection.create_channel().await?;
    worker.topology.declare(&channel).await?;
    let prefetch = u16::try_from(worker.concurrency).unwrap_or(u16::MAX);
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let publish_channel = connection.create_channel().await?;
    publish_channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let tag = format!("judge-worker-{}", worker.worker_id);
    let mut deliveries = channel
        .basic_consume(
            worker.topology.submission_queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(
        queue = %worker.topology.submission_queue,
        concurrency = worker.concurrency,
        "consuming submissions"
    );
    let destination: Arc<str> = semconv::process_destination(
        &worker.topology.exchange,
        SUBMISSION_ROUTING_KEY,
        &worker.topology.submission_queue,
    )
    .into();

    let mut in_flight = JoinSet::new();
    let ended = loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => break Ok(()),
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => continue,
            next = deliveries.next() => next,
        };
        match next {
            Some(Ok(delivery)) => {
                in_flight.spawn(process_delivery(
                    worker.clone(),
                    publish_channel.clone(),
                    delivery,
                    destination.clone(),
                ));
            }
            Some(Err(e)) => break Err(ConsumerError::from(e)),
            None => break Err(ConsumerError::Cancelled),
        }
    };
    if ended.is_ok() {
        // Graceful stop: take no more deliveries, let the running judges finish.
        let _ = channel
            .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
            .await;
        tracing::info!(
            in_flight = in_flight.len(),
            "draining in-flight submissions"
        );
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while in_flight.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                unfinished = in_flight.len(),
                "drain deadline passed; unfinished submissions go back to the queue"
            );
            in_flight.abort_all();
        }
        let _ = connection.close(200, "shutting down".into()).await;
    } else {
        // The connection is gone: their acks cannot be sent; the broker redelivers them.
        in_flight.abort_all();
    }
    ended
}
