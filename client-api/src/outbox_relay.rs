//! The outbox relay: publishes submissions that were accepted but not confirmed by the broker
//! (the broker was down, or the API crashed between commit and confirm).
//!
//! Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several API instances can run relays
//! without publishing a row twice at the same time; a claim expires, so a relay that dies
//! mid-batch does not strand its rows. The relay wakes when a request fails to publish, and
//! also on a timer for rows whose claim expired.

use crate::state::AppState;
use crate::submission_publisher::{SubmissionPublisher, mark_published, release_claim};
use messaging::SubmissionMessage;
use messaging::trace_headers::context_from_map;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const BATCH: i64 = 32;
/// How long the relay owns the rows it claimed.
const RELAY_CLAIM: Duration = Duration::from_secs(30);
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(sqlx::FromRow)]
struct PendingRow {
    submission_id: Uuid,
    payload: sqlx::types::Json<SubmissionMessage>,
    trace_context: sqlx::types::Json<BTreeMap<String, String>>,
}

pub async fn run_outbox_relay(state: AppState, shutdown: CancellationToken) {
    let mut backoff = MIN_BACKOFF;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = state.relay_wake.notified() => {},
            _ = tokio::time::sleep(backoff) => {},
        }
        match drain(&state, &shutdown).await {
            Ok(()) => backoff = MIN_BACKOFF,
            Err(reason) => {
                backoff = (backoff * 2).min(MAX_BACKOFF);
                tracing::warn!(%reason, retry_in_ms = backoff.as_millis() as u64, "outbox relay paused");
            }
        }
    }
}

/// Publishes claimable rows until none is left; stops at the first failure.
async fn drain(state: &AppState, shutdown: &CancellationToken) -> Result<(), String> {
    while !shutdown.is_cancelled() {
        let rows = claim_batch(state)
            .await
            .map_err(|e| format!("database: {e}"))?;
        if rows.is_empty() {
            return Ok(());
        }
        let publisher = SubmissionPublisher {
            broker: &state.broker,
            endpoint: &state.broker_endpoint,
            metrics: &state.metrics,
        };
        for row in rows {
            let parent = context_from_map(&row.trace_context.0);
            match publisher.publish(&row.payload.0, Some(parent)).await {
                Ok(published_at) => {
                    mark_published(&state.pool, row.submission_id, published_at)
                        .await
                        .map_err(|e| format!("database: {e}"))?;
                    tracing::info!(submission.id = %row.submission_id, "outbox relay published a submission");
                }
                Err(e) => {
                    let _ =
                        release_claim(&state.pool, row.submission_id, MIN_BACKOFF, &e.to_string())
                            .await;
                    return Err(format!("broker: {e}"));
                }
            }
        }
    }
    Ok(())
}

async fn claim_batch(state: &AppState) -> Result<Vec<PendingRow>, sqlx::Error> {
    sqlx::query_as::<_, PendingRow>(
        "UPDATE outbox SET claimed_until = now() + make_interval(secs => $2) \
         WHERE submission_id IN ( \
             SELECT submission_id FROM outbox WHERE claimed_until <= now() \
             ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING submission_id, payload, trace_context",
    )
    .bind(BATCH)
    .bind(RELAY_CLAIM.as_secs_f64())
    .fetch_all(&state.pool)
    .await
}
