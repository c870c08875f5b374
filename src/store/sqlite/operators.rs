//! [`OperatorStore`] on SQLite: reads by the `user_id` and `client_id` indexes (migration
//! 0009), and one `UPDATE … RETURNING` that revokes a client's live refresh families.

use super::{SqliteStore, backend, session_from_row};
use crate::clock::UnixTime;
use crate::model::{Session, UserId};
use crate::store::{OperatorStore, StoreResult};
use async_trait::async_trait;

#[async_trait]
impl OperatorStore for SqliteStore {
    async fn sessions_of_user(&self, user_id: &UserId, now: UnixTime) -> StoreResult<Vec<Session>> {
        sqlx::query(
            "SELECT * FROM sessions WHERE user_id = ? AND expires_at > ? \
             ORDER BY created_at, rowid",
        )
        .bind(user_id.0.as_str())
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?
        .iter()
        .map(session_from_row)
        .collect()
    }

    async fn user_code_grants(&self, user_id: &UserId) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT grant_id FROM authorization_codes \
             WHERE user_id = ? AND redeemed_at IS NOT NULL",
        )
        .bind(user_id.0.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn revoke_client_refresh_families(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<String>> {
        // As a family's own revocation: the first time is kept, the sealed retry pair goes.
        sqlx::query_scalar(
            "UPDATE refresh_families SET revoked_at = coalesce(revoked_at, ?), \
             retry_previous_hash = NULL, retry_request_hash = NULL, retry_until = NULL, \
             retry_sealed = NULL WHERE client_id = ? AND revoked_at IS NULL RETURNING grant_id",
        )
        .bind(now)
        .bind(client_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn client_code_grants(&self, client_id: &str) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT DISTINCT grant_id FROM authorization_codes \
             WHERE client_id = ? AND redeemed_at IS NOT NULL",
        )
        .bind(client_id)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }
}
