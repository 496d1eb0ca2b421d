//! Exchanges and queues, declared identically by both services.
//!
//! `judge` (direct) routes `judge.submission` and `judge.result` to quorum queues of the same
//! names, and `judge.started` (advisory: a worker took a submission) to a classic queue whose
//! messages expire, since a stale "judging" is worth nothing and must not pile up while the
//! API is down. A message rejected without requeue, or redelivered more than `delivery_limit` times,
//! goes through `judge.dlx` to `judge.dead`, where an operator can read and replay it. Every
//! name carries the deployment's prefix so that tests can share one broker.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};

/// Routing key (and unprefixed queue name) of submissions.
pub const SUBMISSION_ROUTING_KEY: &str = "judge.submission";
/// Routing key (and unprefixed queue name) of results.
pub const RESULT_ROUTING_KEY: &str = "judge.result";
/// Routing key (and unprefixed queue name) of started events.
pub const STARTED_ROUTING_KEY: &str = "judge.started";
/// How long a started event waits for the API before it is dropped.
const STARTED_TTL_MS: i64 = 300_000;
/// At most this many started events wait; the oldest go first.
const STARTED_MAX_LENGTH: i64 = 100_000;
/// How often a message may be delivered before the broker dead-letters it.
pub const DEFAULT_DELIVERY_LIMIT: i64 = 3;

/// The names of one deployment's exchanges and queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub prefix: String,
    pub exchange: String,
    pub dead_letter_exchange: String,
    pub submission_queue: String,
    pub result_queue: String,
    pub started_queue: String,
    pub dead_letter_queue: String,
    pub delivery_limit: i64,
}

impl Topology {
    pub fn new(prefix: &str) -> Self {
        Topology {
            prefix: prefix.to_string(),
            exchange: format!("{prefix}judge"),
            dead_letter_exchange: format!("{prefix}judge.dlx"),
            submission_queue: format!("{prefix}{SUBMISSION_ROUTING_KEY}"),
            result_queue: format!("{prefix}{RESULT_ROUTING_KEY}"),
            started_queue: format!("{prefix}{STARTED_ROUTING_KEY}"),
            dead_letter_queue: format!("{prefix}judge.dead"),
            delivery_limit: DEFAULT_DELIVERY_LIMIT,
        }
    }

    /// Declares everything; idempotent, so both services call it on every (re)connect.
    pub async fn declare(&self, channel: &Channel) -> Result<(), lapin::Error> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .exchange_declare(
                self.exchange.as_str().into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await?;
        channel
            .exchange_declare(
                self.dead_letter_exchange.as_str().into(),
                ExchangeKind::Fanout,
                durable,
                FieldTable::default(),
            )
            .await?;

        let queue = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        let mut dead_args = FieldTable::default();
        dead_args.insert("x-queue-type".into(), long_string("quorum"));
        channel
            .queue_declare(self.dead_letter_queue.as_str().into(), queue, dead_args)
            .await?;
        channel
            .queue_bind(
                self.dead_letter_queue.as_str().into(),
                self.dead_letter_exchange.as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;

        for (name, key) in [
            (&self.submission_queue, SUBMISSION_ROUTING_KEY),
            (&self.result_queue, RESULT_ROUTING_KEY),
        ] {
            let mut args = FieldTable::default();
            args.insert("x-queue-type".into(), long_string("quorum"));
            args.insert(
                "x-dead-letter-exchange".into(),
                long_string(&self.dead_letter_exchange),
            );
            args.insert(
                "x-delivery-limit".into(),
                AMQPValue::LongLongInt(self.delivery_limit),
            );
            channel
                .queue_declare(name.as_str().into(), queue, args)
                .await?;
            channel
                .queue_bind(
                    name.as_str().into(),
                    self.exchange.as_str().into(),
                    key.into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
        }

        let mut started_args = FieldTable::default();
        started_args.insert("x-queue-type".into(), long_string("classic"));
        started_args.insert(
            "x-message-ttl".into(),
            AMQPValue::LongLongInt(STARTED_TTL_MS),
        );
        started_args.insert(
            "x-max-length".into(),
            AMQPValue::LongLongInt(STARTED_MAX_LENGTH),
        );
        started_args.insert("x-overflow".into(), long_string("drop-head"));
        channel
            .queue_declare(self.started_queue.as_str().into(), queue, started_args)
            .await?;
        channel
            .queue_bind(
                self.started_queue.as_str().into(),
                self.exchange.as_str().into(),
                STARTED_ROUTING_KEY.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(())
    }

    /// Deletes everything [`declare`](Self::declare) made (tests clean up with it).
    pub async fn delete(&self, channel: &Channel) -> Result<(), lapin::Error> {
        for queue in [
            &self.submission_queue,
            &self.result_queue,
            &self.started_queue,
            &self.dead_letter_queue,
        ] {
            channel
                .queue_delete(queue.as_str().into(), Default::default())
                .await?;
        }
        for exchange in [&self.exchange, &self.dead_letter_exchange] {
            channel
                .exchange_delete(exchange.as_str().into(), Default::default())
                .await?;
        }
        Ok(())
    }
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

/// Opens a connection named `name` and a channel on it, and declares the topology (every
/// service declares it on every connect, so the first one up creates it).
pub async fn open_channel(
    url: &str,
    name: &str,
    topology: &Topology,
) -> Result<(Connection, Channel), lapin::Error> {
    let connection = Connection::connect(
        url,
        ConnectionProperties::default().with_connection_name(name.into()),
    )
    .await?;
    let channel = connection.create_channel().await?;
    topology.declare(&channel).await?;
    Ok((connection, channel))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_prefix() {
        let t = Topology::new("t1.");
        assert_eq!(t.exchange, "t1.judge");
        assert_eq!(t.submission_queue, "t1.judge.submission");
        assert_eq!(t.result_queue, "t1.judge.result");
        assert_eq!(t.started_queue, "t1.judge.started");
        assert_eq!(t.dead_letter_queue, "t1.judge.dead");
        let bare = Topology::new("");
        assert_eq!(bare.submission_queue, "judge.submission");
    }
}
