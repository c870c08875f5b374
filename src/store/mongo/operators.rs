//! [`OperatorStore`] on MongoDB: reads by the `user_id` and `client_id` indexes, and a client's
//! families revoked one document at a time, each with one atomic update (as a family's own
//! revocation: the first time is kept, the sealed retry pair goes).

use super::{MongoStore, backend};
use crate::clock::UnixTime;
use crate::model::{Session, UserId};
use crate::store::{OperatorStore, StoreResult};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{Bson, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};
use serde::Deserialize;

/// Refresh-token families (see `refresh.rs`).
const FAMILIES: &str = "refresh_families";
/// Authorization codes (the main backend's collection).
const CODES: &str = "authorization_codes";

/// The indexes the operator reads need; hooked into the backend's own index creation.
pub(super) async fn create_indexes(db: &Database) -> StoreResult<()> {
    let named = |keys: Document, name: &str| {
        IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().name(name.to_string()).build())
            .build()
    };
    let codes = db.collection::<Document>(CODES);
    for model in [
        named(doc! { "user_id": 1 }, "authorization_codes_user"),
        named(doc! { "client_id": 1 }, "authorization_codes_client"),
    ] {
        codes.create_index(model).await.map_err(backend)?;
    }
    db.collection::<Document>(FAMILIES)
        .create_index(named(doc! { "client_id": 1 }, "refresh_families_client"))
        .await
        .map_err(backend)?;
    Ok(())
}

impl MongoStore {
    /// The distinct grant ids of the redeemed codes `filter` picks.
    async fn code_grants(&self, mut filter: Document) -> StoreResult<Vec<String>> {
        #[derive(Deserialize)]
        struct Grant {
            grant_id: String,
        }
        filter.insert("redeemed_at", doc! { "$ne": Bson::Null });
        let grants: Vec<Grant> = self
            .db
            .collection::<Grant>(CODES)
            .find(filter)
            .projection(doc! { "_id": 0, "grant_id": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let mut ids: Vec<String> = Vec::with_capacity(grants.len());
        for grant in grants {
            if !ids.contains(&grant.grant_id) {
                ids.push(grant.grant_id);
            }
        }
        Ok(ids)
    }
}

#[async_trait]
impl OperatorStore for MongoStore {
    async fn sessions_of_user(&self, user_id: &UserId, now: UnixTime) -> StoreResult<Vec<Session>> {
        let mut sessions: Vec<Session> = self
            .sessions
            .find(doc! { "user_id": user_id.0.as_str(), "expires_at": { "$gt": now } })
            .await
            .map_err(backend)?
            .try_collect::<Vec<_>>()
            .await
            .map_err(backend)?
            .into_iter()
            .map(Session::from)
            .collect();
        sessions.sort_by_key(|s| s.created_at);
        Ok(sessions)
    }

    async fn user_code_grants(&self, user_id: &UserId) -> StoreResult<Vec<String>> {
        self.code_grants(doc! { "user_id": user_id.0.as_str() })
            .await
    }

    async fn revoke_client_refresh_families(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<String>> {
        let families = self.db.collection::<Document>(FAMILIES);
        let ids: Vec<String> = families
            .find(doc! { "client_id": client_id, "revoked_at": Bson::Null })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(backend)?
            .try_collect::<Vec<Document>>()
            .await
            .map_err(backend)?
            .into_iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_string))
            .collect();
        let mut revoked = Vec::with_capacity(ids.len());
        for id in ids {
            let done = families
                .update_one(
                    doc! { "_id": id.as_str(), "revoked_at": Bson::Null },
                    doc! { "$set": { "revoked_at": now, "retry": Bson::Null } },
                )
                .await
                .map_err(backend)?;
            // A family revoked meanwhile by someone else is theirs to report.
            if done.matched_count == 1 {
                revoked.push(id);
            }
        }
        Ok(revoked)
    }

    async fn client_code_grants(&self, client_id: &str) -> StoreResult<Vec<String>> {
        self.code_grants(doc! { "client_id": client_id }).await
    }
}
