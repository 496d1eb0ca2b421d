//! The outbox: every submission is stored with a row here in the same transaction, and the row
//! goes only once the broker has confirmed the message. So a submission accepted while the
//! broker is down, or when the API crashes between commit and confirm, is published later by
//! the relay instead of being lost.
//!
//! This module owns every statement on `outbox`. [`publish_pending`] is the one
//! publish-then-settle sequence: the request that accepted a submission calls it first, and
//! the relay ([`relay_once`], driven by [`run_outbox_relay`]) calls it for rows still here.
//! Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several API instances can relay without
//! publishing a row twice at once; a claim expires, so a relay that dies mid-batch strands
//! nothing. A row may still be published twice (confirm received, settle failed); finalizing
//! is idempotent, so that is harmless.
//!
//! A rejudge replaces a submission's row (one row per submission: its latest judging), also
//! while an older judging's row is being published. Settling and releasing therefore name the
//! judging they published, so the older publish never removes the newer row.

use crate::broker::BrokerError;
use crate::state::AppState;
use crate::submission_publisher::SubmissionPublisher;
use chrono::{DateTime, Utc};
use messaging::SubmissionMessage;
use messaging::backoff::Backoff;
use messaging::trace_headers::context_from_map;
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How long the request that stored a submission owns its row before the relay may take it.
pub const REQUEST_CLAIM: Duration = Duration::from_secs(30);
/// How long the relay owns the rows it claimed.
const RELAY_CLAIM: Duration = Duration::from_secs(30);
/// Rows claimed at once.
const BATCH: i64 = 32;
const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Who publishes a row first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The request that wrote it, which owns it for [`REQUEST_CLAIM`].
    Request,
    /// The relay, at once (a rejudge, which may queue thousands of submissions).
    Relay,
}

impl Claim {
    fn seconds(self) -> f64 {
        match self {
            Claim::Request => REQUEST_CLAIM.as_secs_f64(),
            Claim::Relay => 0.0,
        }
    }
}

/// Writes the outbox row of a submission's judging (in the caller's transaction). A row
/// already there (an earlier judging not yet published) is replaced: only the latest judging
/// needs publishing.
pub async fn enqueue(
    tx: &mut PgConnection,
    message: &SubmissionMessage,
    trace_context: &BTreeMap<String, String>,
    claim: Claim,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO outbox (submission_id, payload, trace_context, claimed_until) \
         VALUES ($1, $2, $3, now() + make_interval(secs => $4)) \
         ON CONFLICT (submission_id) DO UPDATE SET payload = EXCLUDED.payload, \
         trace_context = EXCLUDED.trace_context, created_at = now(), \
         claimed_until = EXCLUDED.claimed_until, attempts = 0, last_error = NULL",
    )
    .bind(message.submission_id)
    .bind(sqlx::types::Json(message))
    .bind(sqlx::types::Json(trace_context))
    .bind(claim.seconds())
    .execute(tx)
    .await?;
    Ok(())
}

/// The judging an outbox row publishes (rows written before rejudging existed say none: 1).
macro_rules! row_judging {
    () => {
        "COALESCE((payload->>'judging')::bigint, 1)"
    };
}

/// A submission whose outbox row is still there.
pub struct Pending {
    pub message: SubmissionMessage,
    /// The request's trace context, for a late publish (`None`: the current span's).
    pub parent: Option<opentelemetry::Context>,
}

/// How publishing one pending submission ended.
#[derive(Debug)]
pub enum Delivery {
    /// Confirmed by the broker; the row is gone.
    Published,
    /// Confirmed, but the row could not be removed: it is published again once its claim
    /// expires.
    PublishedUnsettled(sqlx::Error),
    /// The broker did not take it; the row is released for the relay.
    Deferred(BrokerError),
}

/// Publishes `pending` with confirm, then settles its row: removes it on success, releases
/// its claim (counting the attempt and the error) on failure.
pub async fn publish_pending(
    pool: &PgPool,
    publisher: &SubmissionPublisher<'_>,
    pending: Pending,
) -> Delivery {
    let id = pending.message.submission_id;
    let judging = i64::from(pending.message.judging);
    match publisher.publish(&pending.message, pending.parent).await {
        Ok(published_at) => match settle(pool, id, judging, published_at).await {
            Ok(()) => Delivery::Published,
            Err(e) => {
                tracing::warn!(submission.id = %id, error = %e, "published, but could not settle the outbox row");
                Delivery::PublishedUnsettled(e)
            }
        },
        Err(e) => {
            if let Err(db) = release(pool, id, judging, &e.to_string()).await {
                // The claim expires by itself; the relay takes the row then.
                tracing::warn!(submission.id = %id, error = %db, "could not release the outbox row");
            }
            Delivery::Deferred(e)
        }
    }
}

/// The broker confirmed the message of `judging`: its row goes, and the submission records
/// when (unless a rejudge has replaced both meanwhile).
async fn settle(
    pool: &PgPool,
    id: Uuid,
    judging: i64,
    published_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "WITH settled AS (DELETE FROM outbox WHERE submission_id = $1 AND ",
        row_judging!(),
        " = $3) UPDATE submissions SET published_at = COALESCE(published_at, $2) \
         WHERE id = $1 AND judging = $3"
    ))
    .bind(id)
    .bind(published_at)
    .bind(judging)
    .execute(pool)
    .await?;
    Ok(())
}

/// Publishing `judging` failed: the relay may take its row at once.
async fn release(pool: &PgPool, id: Uuid, judging: i64, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "UPDATE outbox SET claimed_until = now(), attempts = attempts + 1, last_error = $2 \
         WHERE submission_id = $1 AND ",
        row_judging!(),
        " = $3"
    ))
    .bind(id)
    .bind(error)
    .bind(judging)
    .execute(pool)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    payload: sqlx::types::Json<SubmissionMessage>,
    trace_context: sqlx::types::Json<BTreeMap<String, String>>,
}

/// Claims up to [`BATCH`] rows whose claim has expired, oldest first.
async fn claim_batch(pool: &PgPool) -> Result<Vec<Pending>, sqlx::Error> {
    let rows = sqlx::query_as::<_, ClaimedRow>(
        "UPDATE outbox SET claimed_until = now() + make_interval(secs => $2) \
         WHERE submission_id IN ( \
             SELECT submission_id FROM outbox WHERE claimed_until <= now() \
             ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
         RETURNING payload, trace_context",
    )
    .bind(BATCH)
    .bind(RELAY_CLAIM.as_secs_f64())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Pending {
            message: row.payload.0,
            parent: Some(context_from_map(&row.trace_context.0)),
        })
        .collect())
}

/// What one relay step did.
#[derive(Debug, PartialEq, Eq)]
pub enum RelayStep {
    /// No row was waiting.
    Idle,
    /// This many rows were claimed and published.
    Published(usize),
}

/// Why a relay step stopped early; its remaining rows wait for their claims to expire or to
/// be released.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
}

/// One step of the relay: claims a batch and publishes it, stopping at the first failure.
pub async fn relay_once(
    pool: &PgPool,
    publisher: &SubmissionPublisher<'_>,
) -> Result<RelayStep, RelayError> {
    let batch = claim_batch(pool).await?;
    if batch.is_empty() {
        return Ok(RelayStep::Idle);
    }
    let mut published = 0;
    let mut batch = batch.into_iter();
    while let Some(pending) = batch.next() {
        let id = pending.message.submission_id;
        let error: RelayError = match publish_pending(pool, publisher, pending).await {
            Delivery::Published => {
                published += 1;
                tracing::info!(submission.id = %id, "outbox relay published a submission");
                continue;
            }
            Delivery::PublishedUnsettled(e) => e.into(),
            Delivery::Deferred(e) => e.into(),
        };
        // Give back the rest of the batch now rather than when its claim expires.
        let rest: Vec<Uuid> = batch.map(|p| p.message.submission_id).collect();
        if let Err(e) = unclaim(pool, &rest).await {
            tracing::warn!(error = %e, rows = rest.len(), "could not release the rest of the relay's batch");
        }
        return Err(error);
    }
    Ok(RelayStep::Published(published))
}

async fn unclaim(pool: &PgPool, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("UPDATE outbox SET claimed_until = now() WHERE submission_id = ANY($1)")
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
}

/// The relay: wakes when a request could not publish (and on a timer, for expired claims),
/// publishes until nothing is left, and backs off while the broker or database fails.
pub async fn run_outbox_relay(state: AppState, shutdown: CancellationToken) {
    let publisher = SubmissionPublisher::of(&state);
    let mut backoff = Backoff::new(MIN_BACKOFF, MAX_BACKOFF);
    let mut pause = MIN_BACKOFF;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = state.relay_wake.notified() => {},
            _ = tokio::time::sleep(pause) => {},
        }
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            match relay_once(&state.pool, &publisher).await {
                Ok(RelayStep::Published(_)) => continue,
                Ok(RelayStep::Idle) => {
                    backoff.reset();
                    pause = MIN_BACKOFF;
                }
                Err(e) => {
                    pause = backoff.next_delay();
                    tracing::warn!(reason = %e, retry_in_ms = pause.as_millis() as u64, "outbox relay paused");
                }
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    //! Against the machine's PostgreSQL and RabbitMQ (127.0.0.1, as every test here), each
    //! with a database and queue prefix of its own.

    use super::*;
    use crate::broker::Broker;
    use crate::db::submissions::{self, AcceptedSubmission};
    use crate::metrics::ApiMetrics;
    use lapin::options::QueueDeclareOptions;
    use lapin::types::FieldTable;
    use messaging::contract::SCHEMA_VERSION;
    use messaging::semconv::BrokerEndpoint;
    use messaging::{Limits, Testcase, TestcaseSource, Topology};
    use sqlx::migrate::MigrateDatabase;

    const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
    /// Nothing listens there: every connect is refused at once.
    const NO_BROKER: &str = "amqp://guest:guest@127.0.0.1:9/%2f";

    fn accepted() -> AcceptedSubmission {
        AcceptedSubmission {
            message: SubmissionMessage {
                schema_version: SCHEMA_VERSION,
                submission_id: Uuid::now_v7(),
                language: "c".into(),
                source: "int main(){}".into(),
                limits: Limits {
                    time_limit_ms: 1000,
                    memory_limit_mb: 64,
                },
                testcases: TestcaseSource::Inline {
                    testcases: vec![Testcase {
                        input: String::new(),
                        output: String::new(),
                    }],
                },
                run_all_testcases: false,
                judging: 1,
            },
            problem_version: None,
            trace_id: String::new(),
            trace_sampled: false,
            trace_context: BTreeMap::new(),
            accepted_at: Utc::now(),
            owner: "test".into(),
        }
    }

    async fn row_state(pool: &PgPool, id: Uuid) -> Option<(i32, bool)> {
        sqlx::query_as(
            "SELECT attempts, claimed_until <= now() FROM outbox WHERE submission_id = $1",
        )
        .bind(id)
        .fetch_optional(pool)
        .await
        .ok()
        .flatten()
    }

    #[tokio::test]
    async fn the_relay_publishes_what_requests_could_not_and_gives_back_what_it_cannot()
    -> anyhow::Result<()> {
        let name = format!("outbox{}", Uuid::new_v4().simple());
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        let pool = crate::db::connect_and_migrate(&url).await?;
        let topology = Topology::new(&format!("{name}."));
        let metrics = ApiMetrics::new();
        let endpoint = BrokerEndpoint::from_url(AMQP);

        // Two requests stored their submissions and could not publish them.
        let (first, second) = (accepted(), accepted());
        for new in [&first, &second] {
            submissions::store(&pool, new).await?;
            release(&pool, new.message.submission_id, 1, "broker down").await?;
        }

        // The broker is still down: the step stops at the first row, counts its attempt,
        // and gives the second back at once instead of holding it for the claim's 30 s.
        let down = Broker::new(NO_BROKER.into(), topology.clone());
        let publisher = SubmissionPublisher {
            broker: &down,
            endpoint: &endpoint,
            metrics: &metrics,
        };
        let outcome = relay_once(&pool, &publisher).await;
        assert!(matches!(outcome, Err(RelayError::Broker(_))), "{outcome:?}");
        assert_eq!(
            row_state(&pool, first.message.submission_id).await,
            Some((2, true))
        );
        assert_eq!(
            row_state(&pool, second.message.submission_id).await,
            Some((1, true))
        );

        // Back up: both go, their rows are settled, and the next step finds nothing.
        let up = Broker::new(AMQP.into(), topology.clone());
        let publisher = SubmissionPublisher {
            broker: &up,
            endpoint: &endpoint,
            metrics: &metrics,
        };
        assert_eq!(
            relay_once(&pool, &publisher).await?,
            RelayStep::Published(2)
        );
        assert_eq!(relay_once(&pool, &publisher).await?, RelayStep::Idle);
        for new in [&first, &second] {
            assert_eq!(row_state(&pool, new.message.submission_id).await, None);
            let record = submissions::load(&pool, new.message.submission_id).await?;
            let view = record.map(|r| r.into_view(Vec::new(), &|_| None));
            assert!(view.is_some_and(|v| v.timings.published_at.is_some()));
        }
        let connection =
            lapin::Connection::connect(AMQP, lapin::ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        let queue = channel
            .queue_declare(
                topology.submission_queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        assert_eq!(queue.message_count(), 2);

        topology.delete(&channel).await?;
        up.close().await;
        pool.close().await;
        sqlx::Postgres::drop_database(&url).await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_rejudge_replaces_an_unpublished_row_and_the_older_publish_cannot_settle_it()
    -> anyhow::Result<()> {
        let name = format!("outboxr{}", Uuid::new_v4().simple());
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        let pool = crate::db::connect_and_migrate(&url).await?;
        let first = accepted();
        let id = first.message.submission_id;
        submissions::store(&pool, &first).await?;

        // Judging 2 while judging 1's row is still there (claimed by its request).
        let mut second = first.message.clone();
        second.judging = 2;
        let mut tx = pool.begin().await?;
        enqueue(&mut tx, &second, &BTreeMap::new(), Claim::Relay).await?;
        tx.commit().await?;
        assert_eq!(row_state(&pool, id).await, Some((0, true)));

        // Judging 1's publish completes late: its settle and release leave judging 2's row.
        settle(&pool, id, 1, Utc::now()).await?;
        release(&pool, id, 1, "late").await?;
        assert_eq!(row_state(&pool, id).await, Some((0, true)));
        let claimed = claim_batch(&pool).await?;
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].message, second);

        settle(&pool, id, 2, Utc::now()).await?;
        assert_eq!(row_state(&pool, id).await, None);
        pool.close().await;
        sqlx::Postgres::drop_database(&url).await?;
        Ok(())
    }
}
