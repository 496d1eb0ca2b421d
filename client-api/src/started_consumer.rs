//! `judge.started`: marks a submission `judging` when a worker reports it has taken it.
//!
//! Advisory: an event is acknowledged whatever happens to it (database down; an undecodable
//! one is rejected, and the queue has no dead-letter queue), because the verdict does not
//! depend on it and holding it would only delay newer ones. The update only moves `queued` to
//! `judging`, so a started event that arrives after the verdict (the two travel on different
//! queues) changes nothing, and only for the submission's current judging: an event of a
//! judging a rejudge superseded is dropped with a log line. No span and no metrics: it is not
//! a stage of the submission's timeline.

use crate::db::submissions::{self, Marked};
use crate::state::AppState;
use lapin::Channel;
use messaging::StartedMessage;
use messaging::consumer::{ConsumerSpec, Envelope, Handler, Outcome, run_consumer};
use messaging::instrumentation::MessagingMetrics;
use messaging::topology::STARTED_ROUTING_KEY;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Events updated at once: enough for thousands a second, few enough to leave the database
/// pool to the requests.
const CONCURRENCY: u16 = 4;

pub async fn run_started_consumer(state: AppState, shutdown: CancellationToken) {
    let topology = state.broker.topology().clone();
    let spec = ConsumerSpec {
        what: "started events",
        connection_name: "client-api-started".into(),
        consumer_tag: format!("client-api-started-{}", std::process::id()),
        queue: topology.started_queue.clone(),
        routing_key: STARTED_ROUTING_KEY,
        concurrency: CONCURRENCY,
        drain: Duration::from_secs(1),
    };
    // Not part of readiness: the API serves correctly without it.
    let attached = AtomicBool::new(false);
    let url = state.broker.url().to_string();
    let handler = Arc::new(MarkJudging { state });
    run_consumer(&url, &topology, &spec, handler, &attached, &shutdown).await;
}

/// The handler of `judge.started`.
struct MarkJudging {
    state: AppState,
}

impl Handler for MarkJudging {
    type Message = StartedMessage;

    fn metrics(&self) -> Option<&MessagingMetrics> {
        None
    }

    fn span(&self, _envelope: &Envelope<StartedMessage>, _destination: &str) -> tracing::Span {
        tracing::Span::none()
    }

    async fn handle(&self, envelope: Envelope<StartedMessage>, _replies: &Channel) -> Outcome {
        let event = &envelope.message;
        match submissions::mark_judging(&self.state.pool, event).await {
            Ok(Marked::Judging | Marked::Unchanged | Marked::UnknownSubmission) => {}
            Ok(Marked::Stale { current }) => {
                tracing::info!(
                    submission.id = %event.submission_id,
                    judging = event.judging,
                    current_judging = current,
                    "stale started event of a superseded judging ignored"
                );
            }
            Err(e) => {
                tracing::warn!(submission.id = %event.submission_id, error = %e, "cannot mark the submission judging; it shows `queued` until its verdict");
            }
        }
        Outcome::Ack
    }
}
