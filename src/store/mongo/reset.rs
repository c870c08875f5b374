//! Password-reset tokens on MongoDB (collection `password_resets`, `_id` = the token's SHA-256
//! hash, a TTL index on `purge_at`). No multi-document transaction: each event is a first write
//! that is safe on its own, then idempotent follow-ups (see [`ResetStore`]).

use super::{MongoStore, backend, outbox, purge_date, write_error};
use crate::clock::UnixTime;
use crate::model::{OutboxItem, ResetToken, UserId};
use crate::secret::TokenHash;
use crate::store::{Conflict, ResetStore, StoreResult};
use async_trait::async_trait;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use std::time::Duration;

const COLLECTION: &str = "password_resets";

#[derive(Debug, Serialize, Deserialize)]
struct ResetDoc {
    #[serde(rename = "_id")]
    token_hash: TokenHash,
    user_id: UserId,
    created_at: i64,
    expires_at: i64,
    purge_at: DateTime,
}

impl From<ResetDoc> for ResetToken {
    fn from(d: ResetDoc) -> Self {
        ResetToken {
            token_hash: d.token_hash,
            user_id: d.user_id,
            created_at: d.created_at,
            expires_at: d.expires_at,
        }
    }
}

fn collection(db: &Database) -> Collection<ResetDoc> {
    db.collection(COLLECTION)
}

/// The per-user index (voiding a user's tokens) and the TTL index that deletes expired tokens.
pub(super) async fn create_indexes(db: &Database) -> StoreResult<()> {
    let coll = db.collection::<Document>(COLLECTION);
    for model in [
        IndexModel::builder()
            .keys(doc! { "user_id": 1 })
            .options(
                IndexOptions::builder()
                    .name("password_resets_user".to_string())
                    .build(),
            )
            .build(),
        IndexModel::builder()
            .keys(doc! { "purge_at": 1 })
            .options(
                IndexOptions::builder()
                    .name("password_resets_ttl".to_string())
                    .expire_after(Duration::ZERO)
                    .build(),
            )
            .build(),
    ] {
        coll.create_index(model).await.map_err(backend)?;
    }
    Ok(())
}

/// Deletes expired tokens (the TTL index does it too, later).
pub(super) async fn purge(store: &MongoStore, now: UnixTime) -> StoreResult<u64> {
    let done = collection(&store.db)
        .delete_many(doc! { "expires_at": { "$lte": now } })
        .await
        .map_err(backend)?;
    Ok(done.deleted_count)
}

impl MongoStore {
    /// Whether `token` was issued no earlier than its user's last password change (any password
    /// change voids older tokens); `false` for a user that no longer exists.
    async fn issued_since_password_change(&self, token: &ResetDoc) -> StoreResult<bool> {
        let user = self
            .users
            .find_one(doc! { "_id": token.user_id.0.as_str() })
            .await
            .map_err(backend)?;
        Ok(user.is_some_and(|u| token.created_at >= u.password_changed_at))
    }
}

#[async_trait]
impl ResetStore for MongoStore {
    async fn request_reset(&self, token: &ResetToken, mail: &OutboxItem) -> StoreResult<()> {
        // 1. The token: safe alone (an unused token that expires).
        collection(&self.db)
            .insert_one(ResetDoc {
                token_hash: token.token_hash.clone(),
                user_id: token.user_id.clone(),
                created_at: token.created_at,
                expires_at: token.expires_at,
                purge_at: purge_date(token.expires_at),
            })
            .await
            .map_err(|e| write_error(e, Conflict::Other, &[]))?;
        // 2. Older tokens of the user go (idempotent).
        collection(&self.db)
            .delete_many(doc! {
                "user_id": token.user_id.0.as_str(),
                "_id": { "$ne": token.token_hash.as_str() },
            })
            .await
            .map_err(backend)?;
        // 3. The mail (idempotent on its id).
        outbox::insert_once(&self.db, mail).await
    }

    async fn reset_token(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
    ) -> StoreResult<Option<ResetToken>> {
        let found = collection(&self.db)
            .find_one(doc! { "_id": token_hash.as_str(), "expires_at": { "$gt": now } })
            .await
            .map_err(backend)?;
        match found {
            Some(token) if self.issued_since_password_change(&token).await? => {
                Ok(Some(token.into()))
            }
            _ => Ok(None),
        }
    }

    async fn complete_reset(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
        password_hash: &str,
        throttle_key: &str,
        notice: &OutboxItem,
    ) -> StoreResult<Option<UserId>> {
        // 1. Single use: one atomic delete; of concurrent callers one gets the token.
        let taken = collection(&self.db)
            .find_one_and_delete(doc! { "_id": token_hash.as_str(), "expires_at": { "$gt": now } })
            .await
            .map_err(backend)?;
        let Some(token) = taken else {
            return Ok(None);
        };
        // A token voided by a password change is spent without effect.
        if !self.issued_since_password_change(&token).await? {
            return Ok(None);
        }
        let id = token.user_id.0.as_str();
        // 2. The password (the reset's effect): from here on only the new one signs in.
        self.users
            .update_one(
                doc! { "_id": id },
                doc! { "$set": {
                    "password_hash": password_hash,
                    "password_changed_at": now,
                    "email_verified": true,
                } },
            )
            .await
            .map_err(backend)?;
        // 3. Idempotent follow-ups: other tokens, sessions, the throttle, the notice.
        collection(&self.db)
            .delete_many(doc! { "user_id": id })
            .await
            .map_err(backend)?;
        self.sessions
            .delete_many(doc! { "user_id": id })
            .await
            .map_err(backend)?;
        self.throttles
            .delete_one(doc! { "_id": throttle_key })
            .await
            .map_err(backend)?;
        outbox::insert_once(&self.db, notice).await?;
        Ok(Some(token.user_id))
    }
}
