//! Refresh-token families and the deny-list by grant, on MongoDB: a family is one document of
//! `refresh_families` (`_id` the grant id) holding every hash the family ever had in
//! `token_hashes` (a unique multikey index finds a family by any of its tokens). A rotation is
//! one `find_one_and_update` filtered on the current hash, so of concurrent rotations exactly
//! one matches; a revocation is one update of the same document. No write spans documents.

use super::{Conflict, MongoStore, backend, corrupt, purge_date, upsert_with_retry, write_error};
use crate::clock::UnixTime;
use crate::model::{RefreshFamily, RefreshRotation, RequestedClaims, RetryPair, Scope, UserId};
use crate::secret::TokenHash;
use crate::store::{GrantDenyList, RefreshTokenStore, StoreResult};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, DateTime, Document, doc};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The collection of families.
const FAMILIES: &str = "refresh_families";
/// The access-token deny-list (the main backend's collection).
const REVOKED: &str = "revoked_access_tokens";
/// Authorization codes (the main backend's collection), read for a session's grants.
const CODES: &str = "authorization_codes";

/// `refresh_families`: `_id` is the grant id.
#[derive(Debug, Serialize, Deserialize)]
struct FamilyDoc {
    #[serde(rename = "_id")]
    grant_id: String,
    client_id: String,
    user_id: UserId,
    scope: Scope,
    sid: String,
    auth_time: i64,
    amr: Vec<String>,
    claims: Option<RequestedClaims>,
    offline: bool,
    created_at: i64,
    expires_at: i64,
    current_hash: TokenHash,
    current_issued_at: i64,
    current_expires_at: i64,
    token_hashes: Vec<TokenHash>,
    retry: Option<RetryDoc>,
    revoked_at: Option<i64>,
    /// When the TTL index deletes the family: after the earlier of its two expiries.
    purge_at: DateTime,
}

/// The sealed response of the last rotation.
#[derive(Debug, Serialize, Deserialize)]
struct RetryDoc {
    previous_hash: TokenHash,
    request_hash: TokenHash,
    until: i64,
    /// BSON binary (generic subtype): nonce ‖ ciphertext ‖ tag.
    sealed: Binary,
}

impl From<&RetryPair> for RetryDoc {
    fn from(r: &RetryPair) -> Self {
        RetryDoc {
            previous_hash: r.previous_hash.clone(),
            request_hash: r.request_hash.clone(),
            until: r.until,
            sealed: Binary {
                subtype: BinarySubtype::Generic,
                bytes: r.sealed.clone(),
            },
        }
    }
}

impl From<FamilyDoc> for RefreshFamily {
    fn from(d: FamilyDoc) -> Self {
        RefreshFamily {
            grant_id: d.grant_id,
            client_id: d.client_id,
            user_id: d.user_id,
            scope: d.scope,
            sid: d.sid,
            auth_time: d.auth_time,
            amr: d.amr,
            claims: d.claims,
            offline: d.offline,
            created_at: d.created_at,
            expires_at: d.expires_at,
            current_hash: d.current_hash,
            current_issued_at: d.current_issued_at,
            current_expires_at: d.current_expires_at,
            token_hashes: d.token_hashes,
            retry: d.retry.map(|r| RetryPair {
                previous_hash: r.previous_hash,
                request_hash: r.request_hash,
                until: r.until,
                sealed: r.sealed.bytes,
            }),
            revoked_at: d.revoked_at,
        }
    }
}

/// The `jti` under which a grant's denial is kept in the deny-list. Real `jti`s are hex, so this
/// prefix cannot collide with one.
fn grant_entry(grant_id: &str) -> String {
    format!("grant/{grant_id}")
}

impl MongoStore {
    fn families(&self) -> Collection<FamilyDoc> {
        self.db.collection(FAMILIES)
    }

    fn deny_list(&self) -> Collection<Document> {
        self.db.collection(REVOKED)
    }

    /// Revokes the families `filter` picks, one document at a time (each an atomic update);
    /// returns their grant ids.
    async fn revoke_families(&self, filter: Document, now: UnixTime) -> StoreResult<Vec<String>> {
        let ids: Vec<String> = self
            .db
            .collection::<Document>(FAMILIES)
            .find(filter)
            .projection(doc! { "_id": 1 })
            .await
            .map_err(backend)?
            .try_collect::<Vec<Document>>()
            .await
            .map_err(backend)?
            .into_iter()
            .filter_map(|d| d.get_str("_id").ok().map(str::to_string))
            .collect();
        for id in &ids {
            revoke_one(&self.families(), id, now).await?;
        }
        Ok(ids)
    }
}

/// Revokes one family: `revoked_at` keeps the first time, the sealed retry pair goes.
async fn revoke_one(
    families: &Collection<FamilyDoc>,
    grant_id: &str,
    now: UnixTime,
) -> StoreResult<bool> {
    let first = families
        .update_one(
            doc! { "_id": grant_id, "revoked_at": Bson::Null },
            doc! { "$set": { "revoked_at": now, "retry": Bson::Null } },
        )
        .await
        .map_err(backend)?;
    if first.matched_count == 1 {
        return Ok(true);
    }
    // Already revoked (or absent): only make sure no sealed pair is left.
    let again = families
        .update_one(
            doc! { "_id": grant_id },
            doc! { "$set": { "retry": Bson::Null } },
        )
        .await
        .map_err(backend)?;
    Ok(again.matched_count == 1)
}

/// The indexes of the families and of the deny-list by grant; hooked into the backend's own
/// index creation.
pub(super) async fn create_indexes(db: &Database) -> StoreResult<()> {
    let named = |keys: Document, name: &str, unique: bool| {
        let options = if unique {
            IndexOptions::builder()
                .name(name.to_string())
                .unique(true)
                .build()
        } else {
            IndexOptions::builder().name(name.to_string()).build()
        };
        IndexModel::builder().keys(keys).options(options).build()
    };
    let ttl = IndexModel::builder()
        .keys(doc! { "purge_at": 1 })
        .options(
            IndexOptions::builder()
                .name("refresh_families_ttl".to_string())
                .expire_after(Duration::ZERO)
                .build(),
        )
        .build();
    let families = db.collection::<Document>(FAMILIES);
    for model in [
        named(
            doc! { "token_hashes": 1 },
            "refresh_families_token_hashes_unique",
            true,
        ),
        named(doc! { "user_id": 1 }, "refresh_families_user", false),
        named(doc! { "sid": 1 }, "refresh_families_sid", false),
        ttl,
    ] {
        families.create_index(model).await.map_err(backend)?;
    }
    db.collection::<Document>(REVOKED)
        .create_index(named(
            doc! { "grant_id": 1 },
            "revoked_access_tokens_grant",
            false,
        ))
        .await
        .map_err(backend)?;
    db.collection::<Document>(CODES)
        .create_index(named(doc! { "sid": 1 }, "authorization_codes_sid", false))
        .await
        .map_err(backend)?;
    Ok(())
}

/// Deletes families past either lifetime and forgets sealed retry pairs whose window has
/// passed (the TTL index deletes families too, within a minute or so).
pub(super) async fn purge(db: &Database, now: UnixTime) -> StoreResult<u64> {
    let families = db.collection::<Document>(FAMILIES);
    let deleted = families
        .delete_many(doc! { "$or": [
            { "expires_at": { "$lte": now } },
            { "current_expires_at": { "$lte": now } },
        ] })
        .await
        .map_err(backend)?
        .deleted_count;
    let cleared = families
        .update_many(
            doc! { "retry.until": { "$lte": now } },
            doc! { "$set": { "retry": Bson::Null } },
        )
        .await
        .map_err(backend)?
        .modified_count;
    Ok(deleted + cleared)
}

#[async_trait]
impl RefreshTokenStore for MongoStore {
    async fn insert_refresh_family(&self, f: &RefreshFamily) -> StoreResult<()> {
        let mut token_hashes = f.token_hashes.clone();
        if !token_hashes.contains(&f.current_hash) {
            token_hashes.push(f.current_hash.clone());
        }
        let doc = FamilyDoc {
            grant_id: f.grant_id.clone(),
            client_id: f.client_id.clone(),
            user_id: f.user_id.clone(),
            scope: f.scope.clone(),
            sid: f.sid.clone(),
            auth_time: f.auth_time,
            amr: f.amr.clone(),
            claims: f.claims.clone(),
            offline: f.offline,
            created_at: f.created_at,
            expires_at: f.expires_at,
            current_hash: f.current_hash.clone(),
            current_issued_at: f.current_issued_at,
            current_expires_at: f.current_expires_at,
            token_hashes,
            retry: f.retry.as_ref().map(RetryDoc::from),
            revoked_at: f.revoked_at,
            purge_at: purge_date(f.expires_at.min(f.current_expires_at)),
        };
        self.families()
            .insert_one(doc)
            .await
            .map_err(|e| write_error(e, Conflict::Other, &[]))?;
        Ok(())
    }

    async fn refresh_family_by_token(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<RefreshFamily>> {
        let found = self
            .families()
            .find_one(doc! { "token_hashes": token_hash.as_str() })
            .await
            .map_err(backend)?;
        Ok(found.map(RefreshFamily::from))
    }

    async fn rotate_refresh_token(
        &self,
        grant_id: &str,
        presented: &TokenHash,
        rotation: &RefreshRotation,
        now: UnixTime,
    ) -> StoreResult<Option<RefreshFamily>> {
        let retry = match rotation.retry.as_ref() {
            Some(r) => mongodb::bson::serialize_to_bson(&RetryDoc::from(r)).map_err(corrupt)?,
            None => Bson::Null,
        };
        // The family's absolute expiry bounds `rotation.expires_at`, so the TTL date follows the
        // new token's idle expiry.
        let rotated = self
            .families()
            .find_one_and_update(
                doc! {
                    "_id": grant_id,
                    "current_hash": presented.as_str(),
                    "revoked_at": Bson::Null,
                    "expires_at": { "$gt": now },
                    "current_expires_at": { "$gt": now },
                },
                doc! {
                    "$set": {
                        "current_hash": rotation.new_hash.as_str(),
                        "current_issued_at": rotation.issued_at,
                        "current_expires_at": rotation.expires_at,
                        "retry": retry,
                        "purge_at": purge_date(rotation.expires_at),
                    },
                    "$push": { "token_hashes": rotation.new_hash.as_str() },
                },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(|e| write_error(e, Conflict::Other, &[]))?;
        Ok(rotated.map(RefreshFamily::from))
    }

    async fn revoke_refresh_family(&self, grant_id: &str, now: UnixTime) -> StoreResult<bool> {
        revoke_one(&self.families(), grant_id, now).await
    }

    async fn revoke_user_refresh_families(
        &self,
        user_id: &UserId,
        now: UnixTime,
    ) -> StoreResult<Vec<String>> {
        self.revoke_families(
            doc! { "user_id": user_id.0.as_str(), "revoked_at": Bson::Null },
            now,
        )
        .await
    }

    async fn revoke_session_refresh_families(
        &self,
        sid: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<String>> {
        self.revoke_families(
            doc! { "sid": sid, "offline": false, "revoked_at": Bson::Null },
            now,
        )
        .await
    }

    async fn session_code_grants(&self, sid: &str) -> StoreResult<Vec<(String, Scope)>> {
        #[derive(Deserialize)]
        struct Grant {
            grant_id: String,
            scope: Scope,
        }
        let grants: Vec<Grant> = self
            .db
            .collection::<Grant>(CODES)
            .find(doc! { "sid": sid, "redeemed_at": { "$ne": Bson::Null } })
            .projection(doc! { "_id": 0, "grant_id": 1, "scope": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        Ok(grants.into_iter().map(|g| (g.grant_id, g.scope)).collect())
    }
}

#[async_trait]
impl GrantDenyList for MongoStore {
    async fn deny_grant(&self, grant_id: &str, until: UnixTime) -> StoreResult<()> {
        let entry = grant_entry(grant_id);
        let deny_list = self.deny_list();
        upsert_with_retry(|| {
            deny_list
                .update_one(
                    doc! { "_id": entry.as_str() },
                    doc! {
                        "$max": { "expires_at": until, "purge_at": purge_date(until) },
                        "$set": { "grant_id": grant_id },
                    },
                )
                .upsert(true)
                .into_future()
        })
        .await?;
        Ok(())
    }

    async fn is_access_token_denied(&self, jti: &str, grant_id: Option<&str>) -> StoreResult<bool> {
        let filter = match grant_id {
            Some(grant_id) => doc! { "$or": [ { "_id": jti }, { "grant_id": grant_id } ] },
            None => doc! { "_id": jti },
        };
        let found = self
            .deny_list()
            .find_one(filter)
            .projection(doc! { "_id": 1 })
            .await
            .map_err(backend)?;
        Ok(found.is_some())
    }
}
