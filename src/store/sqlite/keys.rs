//! Signing keys on SQLite: each lifecycle step is one conditional statement on one row.

use super::{SqliteStore, backend, col, corrupt};
use crate::clock::UnixTime;
use crate::model::{KeyState, KeyUsage, SigningKey};
use crate::store::{KeyStore, StoreResult};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;

fn key_from_row(row: &SqliteRow) -> StoreResult<SigningKey> {
    let state: String = col(row, "state")?;
    Ok(SigningKey {
        kid: col(row, "kid")?,
        alg: col(row, "alg")?,
        public_jwk: col(row, "public_jwk")?,
        private_key_enc: col(row, "private_key_enc")?,
        private_key_enc_rewrapped: col(row, "private_key_enc_rewrapped")?,
        state: state.parse::<KeyState>().map_err(corrupt)?,
        created_at: col(row, "created_at")?,
        activates_at: col(row, "activates_at")?,
        retires_at: col(row, "retires_at")?,
        generation: col(row, "generation")?,
    })
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, public_jwk, private_key_enc, \
             private_key_enc_rewrapped, state, created_at, activates_at, retires_at, generation) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(key.kid.as_str())
        .bind(key.alg.as_str())
        .bind(key.public_jwk.as_str())
        .bind(key.private_key_enc.as_slice())
        .bind(key.private_key_enc_rewrapped.as_deref())
        .bind(key.state.as_str())
        .bind(key.created_at)
        .bind(key.activates_at)
        .bind(key.retires_at)
        .bind(key.generation)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        sqlx::query("SELECT * FROM signing_keys ORDER BY generation")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(key_from_row)
            .collect()
    }

    async fn transition_signing_key(
        &self,
        kid: &str,
        from: &[KeyState],
        to: KeyState,
        activates_at: Option<UnixTime>,
        retires_at: Option<UnixTime>,
    ) -> StoreResult<bool> {
        // One fixed statement: the states allowed, padded to four (there are four states) by
        // repeating the first.
        let Some(first) = from.first() else {
            return Ok(false);
        };
        let mut query = sqlx::query(
            "UPDATE signing_keys SET state = ?, activates_at = COALESCE(?, activates_at), \
             retires_at = COALESCE(?, retires_at) WHERE kid = ? AND state IN (?, ?, ?, ?)",
        )
        .bind(to.as_str())
        .bind(activates_at)
        .bind(retires_at)
        .bind(kid);
        for i in 0..4 {
            query = query.bind(from.get(i).unwrap_or(first).as_str());
        }
        let done = query.execute(&self.pool).await.map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn is_signing_key_revoked(&self, kid: &str) -> StoreResult<bool> {
        let found = sqlx::query("SELECT 1 FROM signing_keys WHERE kid = ? AND state = ?")
            .bind(kid)
            .bind(KeyState::Revoked.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(found.is_some())
    }

    async fn delete_signing_key(&self, kid: &str, state: KeyState) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM signing_keys WHERE kid = ? AND state = ?")
            .bind(kid)
            .bind(state.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn stage_rewrapped_key(
        &self,
        kid: &str,
        current: &[u8],
        rewrapped: &[u8],
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE signing_keys SET private_key_enc_rewrapped = ? \
             WHERE kid = ? AND private_key_enc = ?",
        )
        .bind(rewrapped)
        .bind(kid)
        .bind(current)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn commit_rewrapped_key(&self, kid: &str, rewrapped: &[u8]) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE signing_keys SET private_key_enc = private_key_enc_rewrapped, \
             private_key_enc_rewrapped = NULL WHERE kid = ? AND private_key_enc_rewrapped = ?",
        )
        .bind(kid)
        .bind(rewrapped)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_key_usage(&self, kid: &str, uses: i64, seen_at: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO key_usage (kid, uses, last_seen_at) VALUES (?, ?, ?) \
             ON CONFLICT (kid) DO UPDATE SET uses = uses + excluded.uses, \
             last_seen_at = MAX(last_seen_at, excluded.last_seen_at)",
        )
        .bind(kid)
        .bind(uses)
        .bind(seen_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn key_usage(&self) -> StoreResult<Vec<KeyUsage>> {
        sqlx::query("SELECT kid, uses, last_seen_at FROM key_usage ORDER BY kid")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(|row| {
                Ok(KeyUsage {
                    kid: col(row, "kid")?,
                    uses: col(row, "uses")?,
                    last_seen_at: col(row, "last_seen_at")?,
                })
            })
            .collect()
    }
}
