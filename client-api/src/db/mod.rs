//! The database: created if missing, migrated at start-up, reached through a bounded pool.
//! Each table's statements live in one module: [`submissions`], [`judgings`] (the history of
//! rejudged submissions), [`problems`], and the outbox's in `crate::outbox`.

pub mod judgings;
pub mod problems;
pub mod submissions;

use sqlx::Postgres;
use sqlx::migrate::MigrateDatabase;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// Migrations compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("cannot create database: {0}")]
    Create(#[source] sqlx::Error),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub async fn connect_and_migrate(url: &str) -> Result<PgPool, DatabaseError> {
    let exists = Postgres::database_exists(url)
        .await
        .map_err(DatabaseError::Connect)?;
    if !exists {
        // Another instance may be creating it at the same time; only fail if it is still
        // missing afterwards.
        if let Err(e) = Postgres::create_database(url).await {
            let now_exists = Postgres::database_exists(url).await.unwrap_or(false);
            if !now_exists {
                return Err(DatabaseError::Create(e));
            }
        } else {
            tracing::info!("created the database");
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(16)
        // A request waits at most this long for a connection, then gets a 503.
        .acquire_timeout(Duration::from_secs(3))
        .connect(url)
        .await
        .map_err(DatabaseError::Connect)?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Whether the database answers (for `/readyz`).
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
}
