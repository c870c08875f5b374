//! [`ThrottleStateStore`] on SQLite: one read of the `throttles` row.

use super::{SqliteStore, backend, col};
use crate::model::Throttle;
use crate::store::{StoreResult, ThrottleStateStore};
use async_trait::async_trait;

#[async_trait]
impl ThrottleStateStore for SqliteStore {
    async fn throttle_state(&self, key: &str) -> StoreResult<Option<Throttle>> {
        let row = sqlx::query("SELECT failures, locked_until FROM throttles WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(|row| {
            Ok(Throttle {
                failures: col(&row, "failures")?,
                locked_until: col(&row, "locked_until")?,
            })
        })
        .transpose()
    }
}
