//! Back-channel logout on SQLite: the clients that took part in a session, from the codes
//! redeemed in it and the refresh families started in it (both indexed by `sid`).

use super::{SqliteStore, backend};
use crate::store::{SessionClientsStore, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl SessionClientsStore for SqliteStore {
    async fn session_clients(&self, sid: &str) -> StoreResult<Vec<String>> {
        // UNION (not UNION ALL) de-duplicates.
        sqlx::query_scalar(
            "SELECT client_id FROM authorization_codes WHERE sid = ? AND redeemed_at IS NOT NULL \
             UNION SELECT client_id FROM refresh_families WHERE sid = ? \
             ORDER BY client_id",
        )
        .bind(sid)
        .bind(sid)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }
}
