//! The consumer of `judge.submission`: the queue's [`ConsumerSpec`] (prefetch = concurrency, a
//! 30 s drain on shutdown) run by `messaging::consumer` with the
//! [`JudgeSubmission`](crate::process_submission::JudgeSubmission) handler.

use crate::process_submission::JudgeSubmission;
use crate::worker::Worker;
use messaging::consumer::{ConsumerSpec, run_consumer};
use messaging::topology::SUBMISSION_ROUTING_KEY;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long in-flight judges may take to finish after a shutdown request (Kubernetes'
/// `terminationGracePeriodSeconds` in deploy/k8s allows for it).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Consumes until `shutdown` is cancelled.
pub async fn run_submission_consumer(worker: Arc<Worker>, shutdown: CancellationToken) {
    let spec = ConsumerSpec {
        what: "submissions",
        connection_name: worker.worker_id.clone(),
        consumer_tag: format!("judge-worker-{}", worker.worker_id),
        queue: worker.topology.submission_queue.clone(),
        routing_key: SUBMISSION_ROUTING_KEY,
        concurrency: u16::try_from(worker.concurrency).unwrap_or(u16::MAX),
        drain: DRAIN_TIMEOUT,
    };
    // The worker has no readiness check, so nothing reads whether it is attached.
    let attached = AtomicBool::new(false);
    let topology = worker.topology.clone();
    let url = worker.amqp_url.clone();
    run_consumer(
        &url,
        &topology,
        &spec,
        Arc::new(JudgeSubmission { worker }),
        &attached,
        &shutdown,
    )
    .await;
}
