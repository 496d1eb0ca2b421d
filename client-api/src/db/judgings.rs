//! Every statement on `submission_judgings`, the history of a submission's judgings: a rejudge
//! archives the judging it supersedes ([`archive`]) before `submissions::requeue` clears it,
//! and the API reads the history back ([`history`]). Rows never change once written.

use super::submissions::{PastJudging, judging_columns};
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

/// Copies the current judging of each of `ids` into the history, as it stands (finished, or
/// still queued or judging when the rejudge supersedes it).
pub async fn archive(
    tx: &mut PgConnection,
    ids: &[Uuid],
    superseded_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "INSERT INTO submission_judgings (submission_id, traceparent, superseded_at, ",
        judging_columns!(),
        ") SELECT id, traceparent, $2, ",
        judging_columns!(),
        " FROM submissions WHERE id = ANY($1)"
    ))
    .bind(ids)
    .bind(superseded_at)
    .execute(tx)
    .await?;
    Ok(())
}

/// The earlier judgings of a submission, oldest first.
pub async fn history(pool: &PgPool, id: Uuid) -> Result<Vec<PastJudging>, sqlx::Error> {
    sqlx::query_as::<_, PastJudging>(concat!(
        "SELECT ",
        judging_columns!(),
        ", superseded_at FROM submission_judgings WHERE submission_id = $1 ORDER BY judging"
    ))
    .bind(id)
    .fetch_all(pool)
    .await
}
