//! The outbox on SQLite: a claim is one `UPDATE … RETURNING` (SQLite runs it under the write
//! lock, so of concurrent claimers exactly one gets an item); outcomes are recorded only while
//! the caller's claim still holds the item.

use super::{SqliteStore, backend, col, corrupt};
use crate::clock::UnixTime;
use crate::model::{OutboxCounts, OutboxItem, OutboxStatus};
use crate::store::{Outbox, StoreResult};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, SqliteConnection};

/// Every column of `outbox`, in [`item_from_row`]'s terms (a macro, so that statements stay
/// `&'static str`).
macro_rules! columns {
    () => {
        "id, kind, summary, payload, status, attempts, created_at, next_attempt_at, \
         lease_until, claim, deadline, last_error, finished_at, expires_at"
    };
}

pub(super) fn item_from_row(row: &SqliteRow) -> StoreResult<OutboxItem> {
    let status: String = col(row, "status")?;
    Ok(OutboxItem {
        id: col(row, "id")?,
        kind: col(row, "kind")?,
        summary: col(row, "summary")?,
        payload: col(row, "payload")?,
        status: status.parse().map_err(corrupt)?,
        attempts: col(row, "attempts")?,
        created_at: col(row, "created_at")?,
        next_attempt_at: col(row, "next_attempt_at")?,
        lease_until: col(row, "lease_until")?,
        claim: col(row, "claim")?,
        deadline: col(row, "deadline")?,
        last_error: col(row, "last_error")?,
        finished_at: col(row, "finished_at")?,
        expires_at: col(row, "expires_at")?,
    })
}

/// Inserts `item` on `conn` (a pool connection or a transaction, so that an event's own write
/// can enqueue in the same transaction).
pub(super) async fn insert(conn: &mut SqliteConnection, item: &OutboxItem) -> StoreResult<()> {
    sqlx::query::<Sqlite>(
        "INSERT INTO outbox (id, kind, summary, payload, status, attempts, created_at, \
         next_attempt_at, lease_until, claim, deadline, last_error, finished_at, expires_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(item.id.as_str())
    .bind(item.kind.as_str())
    .bind(item.summary.as_str())
    .bind(item.payload.as_str())
    .bind(item.status.as_str())
    .bind(item.attempts)
    .bind(item.created_at)
    .bind(item.next_attempt_at)
    .bind(item.lease_until)
    .bind(item.claim.as_deref())
    .bind(item.deadline)
    .bind(item.last_error.as_deref())
    .bind(item.finished_at)
    .bind(item.expires_at)
    .execute(conn)
    .await
    .map_err(backend)?;
    Ok(())
}

/// Deletes finished items whose retention has passed.
pub(super) async fn purge(store: &SqliteStore, now: UnixTime) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM outbox WHERE status != 'queued' AND expires_at <= ?")
        .bind(now)
        .execute(&store.pool)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected())
}

#[async_trait]
impl Outbox for SqliteStore {
    async fn enqueue(&self, item: &OutboxItem) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(backend)?;
        insert(&mut conn, item).await
    }

    async fn claim_due(
        &self,
        kind: &str,
        now: UnixTime,
        lease_until: UnixTime,
        claim: &str,
    ) -> StoreResult<Option<OutboxItem>> {
        // The due conditions stand in the outer WHERE too: the statement is atomic, and they
        // say what the update may touch whatever the subquery picked.
        let sql = concat!(
            "UPDATE outbox SET lease_until = ?1, claim = ?2, attempts = attempts + 1 \
             WHERE id = (SELECT id FROM outbox WHERE kind = ?3 AND status = 'queued' \
                 AND next_attempt_at <= ?4 AND (lease_until IS NULL OR lease_until <= ?4) \
                 ORDER BY next_attempt_at, created_at LIMIT 1) \
             AND status = 'queued' AND next_attempt_at <= ?4 \
             AND (lease_until IS NULL OR lease_until <= ?4) \
             RETURNING ",
            columns!()
        );
        let row = sqlx::query(sql)
            .bind(lease_until)
            .bind(claim)
            .bind(kind)
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(item_from_row).transpose()
    }

    async fn finish(
        &self,
        id: &str,
        claim: &str,
        status: OutboxStatus,
        error: Option<&str>,
        now: UnixTime,
        keep_until: UnixTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET status = ?, last_error = coalesce(?, last_error), \
             finished_at = ?, expires_at = ?, payload = '', lease_until = NULL \
             WHERE id = ? AND claim = ? AND status = 'queued'",
        )
        .bind(status.as_str())
        .bind(error)
        .bind(now)
        .bind(keep_until)
        .bind(id)
        .bind(claim)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn reschedule(
        &self,
        id: &str,
        claim: &str,
        next_attempt_at: UnixTime,
        error: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE outbox SET next_attempt_at = ?, last_error = ?, lease_until = NULL, \
             claim = NULL WHERE id = ? AND claim = ? AND status = 'queued'",
        )
        .bind(next_attempt_at)
        .bind(error)
        .bind(id)
        .bind(claim)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn outbox_item(&self, id: &str) -> StoreResult<Option<OutboxItem>> {
        let row = sqlx::query(concat!("SELECT ", columns!(), " FROM outbox WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(item_from_row).transpose()
    }

    async fn outbox_counts(&self, kind: &str) -> StoreResult<OutboxCounts> {
        let rows =
            sqlx::query("SELECT status, count(*) AS n FROM outbox WHERE kind = ? GROUP BY status")
                .bind(kind)
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        let mut counts = OutboxCounts::default();
        for row in &rows {
            let status: String = col(row, "status")?;
            let n: i64 = col(row, "n")?;
            let n = u64::try_from(n).map_err(corrupt)?;
            match status.parse().map_err(corrupt)? {
                OutboxStatus::Queued => counts.queued = n,
                OutboxStatus::Sent => counts.sent = n,
                OutboxStatus::Failed => counts.failed = n,
            }
        }
        counts.oldest_queued_at = sqlx::query_scalar(
            "SELECT min(created_at) FROM outbox WHERE kind = ? AND status = 'queued'",
        )
        .bind(kind)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(counts)
    }

    async fn list_outbox(&self, kind: &str, limit: u32) -> StoreResult<Vec<OutboxItem>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM outbox WHERE kind = ? ORDER BY created_at DESC, id DESC LIMIT ?"
        ))
        .bind(kind)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(item_from_row).collect()
    }
}
