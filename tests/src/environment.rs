//! Per-test isolation on the shared broker and database server: a unique queue prefix and
//! database, deleted by a drop guard so repeated CI runs leave nothing behind.

use lapin::options::BasicPublishOptions;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use messaging::Topology;
use sqlx::Connection as _;

/// The names a test owns.
#[derive(Debug, Clone)]
pub struct Names {
    pub prefix: String,
    pub database: String,
}

impl Names {
    async fn remove(&self) -> anyhow::Result<()> {
        let connection =
            Connection::connect(crate::AMQP_URL, ConnectionProperties::default()).await?;
        let channel = connection.create_channel().await?;
        let deleted = Topology::new(&self.prefix).delete(&channel).await;
        let _ = connection.close(200, "test done".into()).await;
        let mut pg =
            sqlx::PgConnection::connect(&format!("{}/postgres", crate::POSTGRES_URL)).await?;
        let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.database);
        sqlx::query(sqlx::AssertSqlSafe(drop))
            .execute(&mut pg)
            .await?;
        deleted?;
        Ok(())
    }
}

/// Owns a test's names; removes the queues and the database when dropped.
pub struct TestEnvironment {
    pub names: Names,
}

impl TestEnvironment {
    pub fn new(name: &str) -> Self {
        let unique = uuid::Uuid::now_v7().simple().to_string();
        let short = &unique[unique.len() - 12..];
        TestEnvironment {
            names: Names {
                prefix: format!("e2e-{name}-{short}."),
                database: format!("e2e_{}_{short}", name.replace('-', "_")),
            },
        }
    }

    pub fn prefix(&self) -> &str {
        &self.names.prefix
    }

    pub fn database_url(&self) -> String {
        format!("{}/{}", crate::POSTGRES_URL, self.names.database)
    }

    pub fn topology(&self) -> Topology {
        Topology::new(&self.names.prefix)
    }
}

impl Drop for TestEnvironment {
    fn drop(&mut self) {
        // Drop cannot await: run the removal on a runtime of its own, on its own thread (the
        // test's runtime may be the one dropping us).
        let names = self.names.clone();
        let removed = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(names.remove())
        })
        .join();
        match removed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("cleanup of {} failed: {e:#}", self.names.prefix),
            Err(_) => eprintln!("cleanup of {} panicked", self.names.prefix),
        }
    }
}

/// Publishes `body` as is (persistent, confirmed) on the test broker, the way a foreign or
/// broken producer would: no headers, no trace context.
pub async fn publish_raw(exchange: &str, routing_key: &str, body: &[u8]) -> anyhow::Result<()> {
    publish_with(
        exchange,
        routing_key,
        body,
        BasicProperties::default().with_delivery_mode(2),
    )
    .await
}

/// Publishes `body` with exactly `properties` (confirmed) on the test broker.
pub async fn publish_with(
    exchange: &str,
    routing_key: &str,
    body: &[u8],
    properties: BasicProperties,
) -> anyhow::Result<()> {
    let connection = Connection::connect(crate::AMQP_URL, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            BasicPublishOptions::default(),
            body,
            properties,
        )
        .await?
        .await?;
    let _ = connection.close(200, "done".into()).await;
    Ok(())
}
