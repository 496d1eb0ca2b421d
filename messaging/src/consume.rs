//! Staying attached to a queue: a consumer that loses its connection reconnects with
//! exponential backoff and jitter, redeclares the topology (the consume function does that on
//! every attempt) and resumes, until shutdown.

use crate::backoff::Backoff;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A connection that stayed up this long counts as healthy: the next failure starts the
/// backoff from the beginning.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// Why a consumer stopped consuming.
#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Broker(#[from] lapin::Error),
    #[error("the broker ended the consumer")]
    Cancelled,
}

/// Runs `consume` until it returns `Ok` (a clean stop) or `shutdown` is cancelled, starting it
/// again after each failure. `attached` is cleared on failure (`consume` sets it once it is
/// attached to its queue), so readiness checks can report it.
pub async fn keep_consuming<F, Fut>(
    what: &'static str,
    shutdown: &CancellationToken,
    attached: &AtomicBool,
    mut consume: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), ConsumerError>>,
{
    let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
    while !shutdown.is_cancelled() {
        let started = Instant::now();
        let Err(e) = consume().await else {
            return;
        };
        attached.store(false, Ordering::Relaxed);
        if started.elapsed() > HEALTHY_AFTER {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        tracing::warn!(
            consumer = what,
            error = %e,
            retry_in_ms = delay.as_millis() as u64,
            "consumer disconnected; reconnecting"
        );
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {},
        }
    }
}
