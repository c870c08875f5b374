//! Refresh-token families and the deny-list by grant, on SQLite: a family is one row of
//! `refresh_families`, every token it ever had one row of `refresh_tokens`. A rotation is one
//! conditional `UPDATE … RETURNING` on the family row (so of concurrent rotations exactly one
//! matches) and the insert of the new token's hash, in one transaction.

use super::{SqliteStore, backend, col, from_json, to_json};
use crate::clock::UnixTime;
use crate::model::{RefreshFamily, RefreshRotation, RetryPair, Scope, UserId};
use crate::secret::TokenHash;
use crate::store::{GrantDenyList, RefreshTokenStore, StoreResult};
use async_trait::async_trait;
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Sqlite, Transaction};

/// The `jti` under which a grant's denial is kept in `revoked_access_tokens`. Real `jti`s are
/// hex, so this prefix cannot collide with one.
fn grant_entry(grant_id: &str) -> String {
    format!("grant/{grant_id}")
}

fn family_from_row(row: &SqliteRow, token_hashes: Vec<TokenHash>) -> StoreResult<RefreshFamily> {
    let retry = match (
        col::<Option<String>>(row, "retry_previous_hash")?,
        col::<Option<String>>(row, "retry_request_hash")?,
        col::<Option<i64>>(row, "retry_until")?,
        col::<Option<Vec<u8>>>(row, "retry_sealed")?,
    ) {
        (Some(previous), Some(request), Some(until), Some(sealed)) => Some(RetryPair {
            previous_hash: TokenHash::from_stored(previous),
            request_hash: TokenHash::from_stored(request),
            until,
            sealed,
        }),
        _ => None,
    };
    Ok(RefreshFamily {
        grant_id: col(row, "grant_id")?,
        client_id: col(row, "client_id")?,
        user_id: UserId(col(row, "user_id")?),
        scope: from_json(&col::<String>(row, "scope")?)?,
        sid: col(row, "sid")?,
        auth_time: col(row, "auth_time")?,
        amr: from_json(&col::<String>(row, "amr")?)?,
        claims: col::<Option<String>>(row, "claims")?
            .map(|c| from_json(&c))
            .transpose()?,
        offline: col(row, "offline")?,
        created_at: col(row, "created_at")?,
        expires_at: col(row, "expires_at")?,
        current_hash: TokenHash::from_stored(col::<String>(row, "current_hash")?),
        current_issued_at: col(row, "current_issued_at")?,
        current_expires_at: col(row, "current_expires_at")?,
        token_hashes,
        retry,
        revoked_at: col(row, "revoked_at")?,
    })
}

/// The hashes of every token of `grant_id`, oldest first.
async fn token_hashes<'e, E>(executor: E, grant_id: &str) -> StoreResult<Vec<TokenHash>>
where
    E: sqlx::Executor<'e, Database = Sqlite>,
{
    let rows = sqlx::query_scalar::<_, String>(
        "SELECT token_hash FROM refresh_tokens WHERE grant_id = ? ORDER BY rowid",
    )
    .bind(grant_id)
    .fetch_all(executor)
    .await
    .map_err(backend)?;
    Ok(rows.into_iter().map(TokenHash::from_stored).collect())
}

async fn family(pool: &SqlitePool, grant_id: &str) -> StoreResult<Option<RefreshFamily>> {
    let Some(row) = sqlx::query("SELECT * FROM refresh_families WHERE grant_id = ?")
        .bind(grant_id)
        .fetch_optional(pool)
        .await
        .map_err(backend)?
    else {
        return Ok(None);
    };
    let hashes = token_hashes(pool, grant_id).await?;
    family_from_row(&row, hashes).map(Some)
}

/// Which families a revocation picks.
enum Which<'a> {
    Grant(&'a str),
    User(&'a str),
    Session(&'a str),
}

/// Revokes the families `which` picks (`revoked_at` keeps the first time, the sealed retry pair
/// goes); returns their grant ids.
async fn revoke_where(
    pool: &SqlitePool,
    which: Which<'_>,
    now: UnixTime,
) -> StoreResult<Vec<String>> {
    macro_rules! revoke {
        ($selector:literal) => {
            concat!(
                "UPDATE refresh_families SET revoked_at = coalesce(revoked_at, ?), \
                 retry_previous_hash = NULL, retry_request_hash = NULL, retry_until = NULL, \
                 retry_sealed = NULL WHERE ",
                $selector,
                " RETURNING grant_id"
            )
        };
    }
    let (sql, value) = match which {
        Which::Grant(id) => (revoke!("grant_id = ?"), id),
        Which::User(id) => (revoke!("user_id = ? AND revoked_at IS NULL"), id),
        Which::Session(sid) => (
            revoke!("sid = ? AND offline = 0 AND revoked_at IS NULL"),
            sid,
        ),
    };
    sqlx::query_scalar::<_, String>(sql)
        .bind(now)
        .bind(value)
        .fetch_all(pool)
        .await
        .map_err(backend)
}

/// Deletes families past either lifetime (their tokens go with them) and forgets sealed retry
/// pairs whose window has passed; returns how many rows went or changed.
pub(super) async fn purge(pool: &SqlitePool, now: UnixTime) -> StoreResult<u64> {
    let deleted = sqlx::query(
        "DELETE FROM refresh_families WHERE expires_at <= ?1 OR current_expires_at <= ?1",
    )
    .bind(now)
    .execute(pool)
    .await
    .map_err(backend)?;
    let cleared = sqlx::query(
        "UPDATE refresh_families SET retry_previous_hash = NULL, retry_request_hash = NULL, \
         retry_until = NULL, retry_sealed = NULL WHERE retry_until <= ?",
    )
    .bind(now)
    .execute(pool)
    .await
    .map_err(backend)?;
    Ok(deleted.rows_affected() + cleared.rows_affected())
}

async fn insert_hash(
    tx: &mut Transaction<'_, Sqlite>,
    hash: &TokenHash,
    grant_id: &str,
) -> StoreResult<()> {
    sqlx::query("INSERT INTO refresh_tokens (token_hash, grant_id) VALUES (?, ?)")
        .bind(hash.as_str())
        .bind(grant_id)
        .execute(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl RefreshTokenStore for SqliteStore {
    async fn insert_refresh_family(&self, f: &RefreshFamily) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let retry = f.retry.as_ref();
        sqlx::query(
            "INSERT INTO refresh_families (grant_id, client_id, user_id, scope, sid, auth_time, \
             amr, claims, offline, created_at, expires_at, current_hash, current_issued_at, \
             current_expires_at, retry_previous_hash, retry_request_hash, retry_until, \
             retry_sealed, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, \
             ?, ?, ?)",
        )
        .bind(f.grant_id.as_str())
        .bind(f.client_id.as_str())
        .bind(f.user_id.0.as_str())
        .bind(to_json(&f.scope)?)
        .bind(f.sid.as_str())
        .bind(f.auth_time)
        .bind(to_json(&f.amr)?)
        .bind(f.claims.as_ref().map(to_json).transpose()?)
        .bind(f.offline)
        .bind(f.created_at)
        .bind(f.expires_at)
        .bind(f.current_hash.as_str())
        .bind(f.current_issued_at)
        .bind(f.current_expires_at)
        .bind(retry.map(|r| r.previous_hash.as_str()))
        .bind(retry.map(|r| r.request_hash.as_str()))
        .bind(retry.map(|r| r.until))
        .bind(retry.map(|r| r.sealed.as_slice()))
        .bind(f.revoked_at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        // Every hash of the record, the current one included.
        let mut hashes: Vec<&TokenHash> = f.token_hashes.iter().collect();
        if !hashes.contains(&&f.current_hash) {
            hashes.push(&f.current_hash);
        }
        for hash in hashes {
            insert_hash(&mut tx, hash, &f.grant_id).await?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn refresh_family_by_token(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<RefreshFamily>> {
        let grant_id: Option<String> =
            sqlx::query_scalar("SELECT grant_id FROM refresh_tokens WHERE token_hash = ?")
                .bind(token_hash.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        match grant_id {
            Some(grant_id) => family(&self.pool, &grant_id).await,
            None => Ok(None),
        }
    }

    async fn rotate_refresh_token(
        &self,
        grant_id: &str,
        presented: &TokenHash,
        rotation: &RefreshRotation,
        now: UnixTime,
    ) -> StoreResult<Option<RefreshFamily>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let retry = rotation.retry.as_ref();
        // One statement: of concurrent rotations of one token, one sees it current.
        let rotated = sqlx::query(
            "UPDATE refresh_families SET current_hash = ?, current_issued_at = ?, \
             current_expires_at = ?, retry_previous_hash = ?, retry_request_hash = ?, \
             retry_until = ?, retry_sealed = ? WHERE grant_id = ? AND current_hash = ? \
             AND revoked_at IS NULL AND expires_at > ? AND current_expires_at > ? RETURNING *",
        )
        .bind(rotation.new_hash.as_str())
        .bind(rotation.issued_at)
        .bind(rotation.expires_at)
        .bind(retry.map(|r| r.previous_hash.as_str()))
        .bind(retry.map(|r| r.request_hash.as_str()))
        .bind(retry.map(|r| r.until))
        .bind(retry.map(|r| r.sealed.as_slice()))
        .bind(grant_id)
        .bind(presented.as_str())
        .bind(now)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let Some(row) = rotated else {
            return Ok(None);
        };
        insert_hash(&mut tx, &rotation.new_hash, grant_id).await?;
        let hashes = token_hashes(&mut *tx, grant_id).await?;
        let family = family_from_row(&row, hashes)?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(family))
    }

    async fn revoke_refresh_family(&self, grant_id: &str, now: UnixTime) -> StoreResult<bool> {
        Ok(!revoke_where(&self.pool, Which::Grant(grant_id), now)
            .await?
            .is_empty())
    }

    async fn revoke_user_refresh_families(
        &self,
        user_id: &UserId,
        now: UnixTime,
    ) -> StoreResult<Vec<String>> {
        revoke_where(&self.pool, Which::User(&user_id.0), now).await
    }

    async fn revoke_session_refresh_families(
        &self,
        sid: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<String>> {
        revoke_where(&self.pool, Which::Session(sid), now).await
    }

    async fn session_code_grants(&self, sid: &str) -> StoreResult<Vec<(String, Scope)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT grant_id, scope FROM authorization_codes \
             WHERE sid = ? AND redeemed_at IS NOT NULL ORDER BY rowid",
        )
        .bind(sid)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|(grant_id, scope)| Ok((grant_id, from_json(&scope)?)))
            .collect()
    }
}

#[async_trait]
impl GrantDenyList for SqliteStore {
    async fn deny_grant(&self, grant_id: &str, until: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO revoked_access_tokens (jti, expires_at, grant_id) VALUES (?, ?, ?) \
             ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
        )
        .bind(grant_entry(grant_id))
        .bind(until)
        .bind(grant_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn is_access_token_denied(&self, jti: &str, grant_id: Option<&str>) -> StoreResult<bool> {
        // Two index lookups (by the primary key, by the grant_id index).
        let denied: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM revoked_access_tokens WHERE jti = ?1) \
             OR EXISTS (SELECT 1 FROM revoked_access_tokens WHERE grant_id = ?2)",
        )
        .bind(jti)
        .bind(grant_id)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(denied)
    }
}
