//! Password-reset tokens on SQLite: a request and a completed reset are each one transaction,
//! which also enqueues the mail the event causes.

use super::{SqliteStore, backend, col, outbox};
use crate::clock::UnixTime;
use crate::model::{OutboxItem, ResetToken, UserId};
use crate::secret::TokenHash;
use crate::store::{ResetStore, StoreResult};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;

fn token_from_row(row: &SqliteRow) -> StoreResult<ResetToken> {
    Ok(ResetToken {
        token_hash: TokenHash::from_stored(col::<String>(row, "token_hash")?),
        user_id: UserId(col(row, "user_id")?),
        created_at: col(row, "created_at")?,
        expires_at: col(row, "expires_at")?,
    })
}

/// A token is valid while unexpired and issued no earlier than its user's last password change
/// (a macro, so that statements stay `&'static str`).
macro_rules! valid {
    () => {
        "r.token_hash = ?1 AND r.expires_at > ?2 AND r.created_at >= \
         (SELECT u.password_changed_at FROM users u WHERE u.id = r.user_id)"
    };
}

/// Deletes expired tokens.
pub(super) async fn purge(store: &SqliteStore, now: UnixTime) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM password_resets WHERE expires_at <= ?")
        .bind(now)
        .execute(&store.pool)
        .await
        .map_err(backend)?;
    Ok(done.rows_affected())
}

#[async_trait]
impl ResetStore for SqliteStore {
    async fn request_reset(&self, token: &ResetToken, mail: &OutboxItem) -> StoreResult<()> {
        // One transaction; its first statement writes, so it holds the write lock from there on.
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM password_resets WHERE user_id = ?")
            .bind(token.user_id.0.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(
            "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) \
             VALUES (?, ?, ?, ?)",
        )
        .bind(token.token_hash.as_str())
        .bind(token.user_id.0.as_str())
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        outbox::insert(&mut tx, mail).await?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn reset_token(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
    ) -> StoreResult<Option<ResetToken>> {
        let row = sqlx::query(concat!(
            "SELECT r.token_hash, r.user_id, r.created_at, r.expires_at \
             FROM password_resets r WHERE ",
            valid!()
        ))
        .bind(token_hash.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn complete_reset(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
        password_hash: &str,
        throttle_key: &str,
        notice: &OutboxItem,
    ) -> StoreResult<Option<UserId>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        // The single-use step first: the token leaves the table, or nothing happens.
        let taken = sqlx::query(concat!(
            "DELETE FROM password_resets AS r WHERE ",
            valid!(),
            " RETURNING user_id"
        ))
        .bind(token_hash.as_str())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = taken else {
            return Ok(None);
        };
        let user_id = UserId(col(&row, "user_id")?);
        let id = user_id.0.as_str();
        sqlx::query(
            "UPDATE users SET password_hash = ?, password_changed_at = ?, email_verified = 1 \
             WHERE id = ?",
        )
        .bind(password_hash)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        for sql in [
            "DELETE FROM password_resets WHERE user_id = ?",
            "DELETE FROM sessions WHERE user_id = ?",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        sqlx::query("DELETE FROM throttles WHERE key = ?")
            .bind(throttle_key)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        outbox::insert(&mut tx, notice).await?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(user_id))
    }
}
