//! [`AuditStore`] on SQLite: the `audit_events` table (migration 0010); entries recorded in the
//! same second keep their order by `rowid`.

use super::{SqliteStore, backend, col};
use crate::clock::UnixTime;
use crate::model::{AuditQuery, AuditRecord, UserId};
use crate::store::{AuditStore, StoreResult};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;

fn record_from_row(row: &SqliteRow) -> StoreResult<AuditRecord> {
    let user_id: Option<String> = col(row, "user_id")?;
    Ok(AuditRecord {
        at: col(row, "at")?,
        kind: col(row, "kind")?,
        outcome: col(row, "outcome")?,
        user_id: user_id.map(UserId),
        client_id: col(row, "client_id")?,
        ip: col(row, "ip")?,
        detail: col(row, "detail")?,
        expires_at: col(row, "expires_at")?,
    })
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (at, kind, outcome, user_id, client_id, ip, detail, \
             expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(record.at)
        .bind(record.kind.as_str())
        .bind(record.outcome.as_str())
        .bind(record.user_id.as_ref().map(|u| u.0.as_str()))
        .bind(record.client_id.as_deref())
        .bind(record.ip.as_deref())
        .bind(record.detail.as_deref())
        .bind(record.expires_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn audit_entries(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        // One fixed statement: an absent condition is a NULL parameter that matches everything.
        let limit = if query.limit == 0 {
            -1
        } else {
            i64::from(query.limit)
        };
        let mut records = sqlx::query(
            "SELECT * FROM audit_events WHERE (?1 IS NULL OR user_id = ?1) \
             AND (?2 IS NULL OR client_id = ?2) AND (?3 IS NULL OR at >= ?3) \
             ORDER BY at DESC, rowid DESC LIMIT ?4",
        )
        .bind(query.user_id.as_ref().map(|u| u.0.as_str()))
        .bind(query.client_id.as_deref())
        .bind(query.since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(record_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
        records.reverse();
        Ok(records)
    }

    async fn purge_audit(&self, before: UnixTime, now: UnixTime) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM audit_events WHERE at < ? OR expires_at <= ?")
            .bind(before)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::StoreError;

    /// Store errors are counted by kind as the driver's errors are mapped; a uniqueness
    /// conflict is an answer, not an error, and is not counted.
    #[test]
    fn store_errors_are_counted_by_kind() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            assert!(matches!(
                super::backend(sqlx::Error::PoolTimedOut),
                StoreError::Unavailable(_)
            ));
            assert!(matches!(
                super::backend(sqlx::Error::RowNotFound),
                StoreError::Backend(_)
            ));
            assert!(matches!(
                super::super::corrupt("bad row"),
                StoreError::Corrupt(_)
            ));
        });
        let text = handle.render();
        for kind in ["unavailable", "backend", "corrupt"] {
            assert!(
                text.lines()
                    .any(|l| l == format!("sesame_store_errors_total{{kind=\"{kind}\"}} 1")),
                "{kind} counted once:\n{text}"
            );
        }
    }
}
