//! `loadtest hops`: the durable hops on a submission's critical path, with none of the
//! pipeline's code in between: the floor under `pipeline_overhead` on this machine.
//!
//! Between `requested_at` and `stored_at` a submission crosses, in series, two PostgreSQL
//! round trips and a commit in the API, a quorum queue to the worker, a quorum queue back and
//! one more statement in the result consumer. This replays exactly that chain with the same
//! client libraries (sqlx, lapin) and the same durability (committed transactions; persistent,
//! mandatory, confirmed messages on durable quorum queues; ack after handling), at the
//! pipeline's arrival rate, so a goal for the pipeline's overhead can be set against what the
//! broker and the database alone take here. Its own queues, deleted at the end, and its own
//! rows in a scratch table `loadtest_hops` (made if missing), deleted at the end.

use crate::histogram::{LatencyHistogram, Summary};
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde::Serialize;
use sqlx::PgPool;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use uuid::Uuid;

/// The steps of the chain, in the order a submission meets them.
pub const STEPS: [&str; 5] = [
    "problem_read",
    "store_commit",
    "submission_queue",
    "result_queue",
    "finalize_update",
];

/// What to replay, and where.
#[derive(Debug, Clone)]
pub struct HopsConfig {
    pub amqp_url: String,
    pub database_url: String,
    /// Chains per second (the pipeline's arrival rate).
    pub rate: f64,
    pub chains: u64,
    /// `quorum` (the pipeline's) or `classic`, for comparison.
    pub queue_type: String,
    /// Body size of each message (a submission message with its source is ~1–2 KiB).
    pub body_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum HopsError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("broker: {0}")]
    Broker(#[from] lapin::Error),
    #[error("the broker did not take a message: {0}")]
    Unconfirmed(String),
    #[error("a consumer stopped before the message came back")]
    ConsumerGone,
}

/// Percentiles of each step and of the whole chain, in milliseconds.
#[derive(Debug, Serialize)]
pub struct HopsReport {
    pub queue_type: String,
    pub rate: f64,
    pub chains: u64,
    pub steps: Vec<(String, Summary)>,
    /// Each chain's steps added up: what `pipeline_overhead` cannot go below.
    pub chain: Summary,
}

struct Broker {
    /// Publishes submissions and consumes results (the API's side).
    api: Channel,
    /// Consumes submissions and publishes results (the worker's side).
    worker: Channel,
    submissions: String,
    results: String,
    _connections: [Connection; 2],
}

/// Replays `config.chains` chains at `config.rate` and reports each step.
pub async fn run_hops(config: &HopsConfig) -> Result<HopsReport, HopsError> {
    let pool = PgPool::connect(&config.database_url).await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS loadtest_hops (id uuid PRIMARY KEY, run uuid NOT NULL, \
         kind text NOT NULL, body text NOT NULL, verdict text, stored_at timestamptz)",
    )
    .execute(&pool)
    .await?;
    let run = Uuid::now_v7();
    let result = replay(config, &pool, run).await;
    // Clean up whatever happened.
    let _ = sqlx::query("DELETE FROM loadtest_hops WHERE run = $1")
        .bind(run)
        .execute(&pool)
        .await;
    pool.close().await;
    result
}

async fn replay(config: &HopsConfig, pool: &PgPool, run: Uuid) -> Result<HopsReport, HopsError> {
    let broker = Broker::open(config).await?;
    let (to_worker, mut at_worker) = mpsc::unbounded_channel::<Instant>();
    let (to_api, mut at_api) = mpsc::unbounded_channel::<Instant>();
    let consumers = [
        spawn_consumer(&broker.worker, &broker.submissions, to_worker).await?,
        spawn_consumer(&broker.api, &broker.results, to_api).await?,
    ];
    let problem = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO loadtest_hops (id, run, kind, body) VALUES ($1, $2, 'problem', 'limits')",
    )
    .bind(problem)
    .bind(run)
    .execute(pool)
    .await?;

    let body = vec![b'x'; config.body_bytes];
    let source = "x".repeat(config.body_bytes);
    let mut steps: Vec<LatencyHistogram> = STEPS.iter().map(|_| LatencyHistogram::new()).collect();
    let mut chain = LatencyHistogram::new();
    let interval = Duration::from_secs_f64(1.0 / config.rate.max(0.001));
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let outcome = async {
        for _ in 0..config.chains {
            ticks.tick().await;
            let id = Uuid::now_v7();
            let mut took = [Duration::ZERO; 5];

            let start = Instant::now();
            sqlx::query("SELECT body FROM loadtest_hops WHERE id = $1")
                .bind(problem)
                .fetch_one(pool)
                .await?;
            took[0] = start.elapsed();

            let start = Instant::now();
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO loadtest_hops (id, run, kind, body) VALUES ($1, $2, 'submission', $3)",
            )
            .bind(id)
            .bind(run)
            .bind(&source)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO loadtest_hops (id, run, kind, body) VALUES ($1, $2, 'outbox', $3)",
            )
            .bind(Uuid::now_v7())
            .bind(run)
            .bind(&source)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            took[1] = start.elapsed();

            took[2] = hop(&broker.api, &broker.submissions, &body, &mut at_worker).await?;
            took[3] = hop(&broker.worker, &broker.results, &body, &mut at_api).await?;

            let start = Instant::now();
            sqlx::query(
                "UPDATE loadtest_hops SET verdict = 'Accepted', stored_at = clock_timestamp() \
                 WHERE id = $1",
            )
            .bind(id)
            .execute(pool)
            .await?;
            took[4] = start.elapsed();

            for (histogram, step) in steps.iter_mut().zip(took) {
                histogram.record(step);
            }
            chain.record(took.iter().sum());
        }
        Ok::<(), HopsError>(())
    }
    .await;
    for consumer in consumers {
        consumer.abort();
    }
    broker.delete_queues().await;
    outcome?;
    Ok(HopsReport {
        queue_type: config.queue_type.clone(),
        rate: config.rate,
        chains: config.chains,
        steps: STEPS
            .iter()
            .zip(&steps)
            .map(|(name, h)| (name.to_string(), h.summary()))
            .collect(),
        chain: chain.summary(),
    })
}

/// One message through `queue`: published persistent and mandatory, then from the publish to
/// its delivery on the other connection. The confirm is awaited too (both services wait for
/// it), but it overlaps the delivery, as in the pipeline.
async fn hop(
    publisher: &Channel,
    queue: &str,
    body: &[u8],
    delivered: &mut mpsc::UnboundedReceiver<Instant>,
) -> Result<Duration, HopsError> {
    let start = Instant::now();
    let confirm = publisher
        .basic_publish(
            "".into(),
            queue.into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into()),
        )
        .await?;
    let arrived = delivered.recv().await.ok_or(HopsError::ConsumerGone)?;
    let confirmation = confirm.await?;
    if !confirmation.is_ack() {
        return Err(HopsError::Unconfirmed(format!("{confirmation:?}")));
    }
    Ok(arrived.saturating_duration_since(start))
}

/// A consumer on `queue` that acknowledges each delivery, then reports when it arrived.
async fn spawn_consumer(
    channel: &Channel,
    queue: &str,
    arrivals: mpsc::UnboundedSender<Instant>,
) -> Result<tokio::task::JoinHandle<()>, HopsError> {
    let mut deliveries = channel
        .basic_consume(
            queue.into(),
            format!("loadtest-hops-{queue}").as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(delivery)) = deliveries.next().await {
            let arrived = Instant::now();
            if delivery
                .acker
                .ack(BasicAckOptions::default())
                .await
                .is_err()
                || arrivals.send(arrived).is_err()
            {
                break;
            }
        }
    }))
}

impl Broker {
    async fn open(config: &HopsConfig) -> Result<Broker, HopsError> {
        let api = Connection::connect(&config.amqp_url, ConnectionProperties::default()).await?;
        let worker = Connection::connect(&config.amqp_url, ConnectionProperties::default()).await?;
        let api_channel = api.create_channel().await?;
        let worker_channel = worker.create_channel().await?;
        let prefix = format!("loadtest-hops-{}", Uuid::now_v7().simple());
        let broker = Broker {
            submissions: format!("{prefix}.submission"),
            results: format!("{prefix}.result"),
            api: api_channel,
            worker: worker_channel,
            _connections: [api, worker],
        };
        for channel in [&broker.api, &broker.worker] {
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            // The services' prefetch: one delivery per slot.
            channel.basic_qos(2, BasicQosOptions::default()).await?;
        }
        for queue in [&broker.submissions, &broker.results] {
            let mut args = FieldTable::default();
            args.insert(
                "x-queue-type".into(),
                AMQPValue::LongString(config.queue_type.as_str().into()),
            );
            broker
                .api
                .queue_declare(
                    queue.as_str().into(),
                    QueueDeclareOptions {
                        durable: true,
                        ..QueueDeclareOptions::default()
                    },
                    args,
                )
                .await?;
        }
        Ok(broker)
    }

    async fn delete_queues(&self) {
        for queue in [&self.submissions, &self.results] {
            let _ = self
                .api
                .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
                .await;
        }
    }
}
