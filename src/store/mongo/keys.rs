//! Signing keys on MongoDB: each lifecycle step is one conditional single-document write
//! (`insert_one` on the unique generation, `update_one`/`delete_one` filtered on the state or
//! blob the caller saw), and usage counters one `$inc`/`$max` upsert each.

use super::{MongoStore, backend, corrupt, index, upsert_with_retry, write_error};
use crate::clock::UnixTime;
use crate::model::{KeyState, KeyUsage, SigningKey};
use crate::store::{Conflict, KeyStore, StoreResult};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{Binary, Bson, Document, doc};
use serde::{Deserialize, Serialize};

/// The collection of per-kid usage counters: `_id` is the kid.
const KEY_USAGE: &str = "key_usage";

/// `signing_keys`: `_id` is the kid; `generation` is unique.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct KeyDoc {
    #[serde(rename = "_id")]
    kid: String,
    alg: String,
    public_jwk: String,
    /// BSON binary (generic subtype): nonce ‖ ciphertext ‖ tag.
    private_key_enc: Binary,
    /// The same key sealed under a new KEK while a rewrap runs.
    #[serde(default)]
    private_key_enc_rewrapped: Option<Binary>,
    state: KeyState,
    created_at: i64,
    activates_at: i64,
    retires_at: Option<i64>,
    generation: i64,
}

fn binary(bytes: &[u8]) -> Binary {
    Binary {
        subtype: BinarySubtype::Generic,
        bytes: bytes.to_vec(),
    }
}

/// A `key_usage` document.
#[derive(Debug, Deserialize)]
struct UsageDoc {
    #[serde(rename = "_id")]
    kid: String,
    uses: i64,
    last_seen_at: i64,
}

#[async_trait]
impl KeyStore for MongoStore {
    async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        let document = KeyDoc {
            kid: key.kid.clone(),
            alg: key.alg.clone(),
            public_jwk: key.public_jwk.clone(),
            private_key_enc: binary(&key.private_key_enc),
            private_key_enc_rewrapped: key.private_key_enc_rewrapped.as_deref().map(binary),
            state: key.state,
            created_at: key.created_at,
            activates_at: key.activates_at,
            retires_at: key.retires_at,
            generation: key.generation,
        };
        // The unique generation makes this the conditional write instances agree by.
        self.keys.insert_one(document).await.map_err(|e| {
            write_error(
                e,
                Conflict::Kid,
                &[(index::KEYS_GENERATION, Conflict::Generation)],
            )
        })?;
        Ok(())
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        let keys: Vec<KeyDoc> = self
            .keys
            .find(doc! {})
            .sort(doc! { "generation": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        Ok(keys
            .into_iter()
            .map(|k| SigningKey {
                kid: k.kid,
                alg: k.alg,
                public_jwk: k.public_jwk,
                private_key_enc: k.private_key_enc.bytes,
                private_key_enc_rewrapped: k.private_key_enc_rewrapped.map(|b| b.bytes),
                state: k.state,
                created_at: k.created_at,
                activates_at: k.activates_at,
                retires_at: k.retires_at,
                generation: k.generation,
            })
            .collect())
    }

    async fn transition_signing_key(
        &self,
        kid: &str,
        from: &[KeyState],
        to: KeyState,
        activates_at: Option<UnixTime>,
        retires_at: Option<UnixTime>,
    ) -> StoreResult<bool> {
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let mut set = doc! { "state": to.as_str() };
        if let Some(at) = activates_at {
            set.insert("activates_at", at);
        }
        if let Some(at) = retires_at {
            set.insert("retires_at", at);
        }
        let done = self
            .keys
            .update_one(
                doc! { "_id": kid, "state": { "$in": from } },
                doc! { "$set": set },
            )
            .await
            .map_err(backend)?;
        Ok(done.matched_count == 1)
    }

    async fn is_signing_key_revoked(&self, kid: &str) -> StoreResult<bool> {
        let found = self
            .keys
            .count_documents(doc! { "_id": kid, "state": KeyState::Revoked.as_str() })
            .limit(1)
            .await
            .map_err(backend)?;
        Ok(found > 0)
    }

    async fn delete_signing_key(&self, kid: &str, state: KeyState) -> StoreResult<bool> {
        let done = self
            .keys
            .delete_one(doc! { "_id": kid, "state": state.as_str() })
            .await
            .map_err(backend)?;
        Ok(done.deleted_count == 1)
    }

    async fn stage_rewrapped_key(
        &self,
        kid: &str,
        current: &[u8],
        rewrapped: &[u8],
    ) -> StoreResult<bool> {
        let done = self
            .keys
            .update_one(
                doc! { "_id": kid, "private_key_enc": binary(current) },
                doc! { "$set": { "private_key_enc_rewrapped": binary(rewrapped) } },
            )
            .await
            .map_err(backend)?;
        Ok(done.matched_count == 1)
    }

    async fn commit_rewrapped_key(&self, kid: &str, rewrapped: &[u8]) -> StoreResult<bool> {
        let done = self
            .keys
            .update_one(
                doc! { "_id": kid, "private_key_enc_rewrapped": binary(rewrapped) },
                doc! { "$set": {
                    "private_key_enc": binary(rewrapped),
                    "private_key_enc_rewrapped": Bson::Null,
                } },
            )
            .await
            .map_err(backend)?;
        Ok(done.matched_count == 1)
    }

    async fn record_key_usage(&self, kid: &str, uses: i64, seen_at: UnixTime) -> StoreResult<()> {
        let usage = self.db.collection::<Document>(KEY_USAGE);
        upsert_with_retry(|| {
            usage
                .update_one(
                    doc! { "_id": kid },
                    doc! {
                        "$inc": { "uses": uses },
                        "$max": { "last_seen_at": seen_at },
                    },
                )
                .upsert(true)
                .into_future()
        })
        .await?;
        Ok(())
    }

    async fn key_usage(&self) -> StoreResult<Vec<KeyUsage>> {
        let found: Vec<UsageDoc> = self
            .db
            .collection::<UsageDoc>(KEY_USAGE)
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(corrupt)?;
        Ok(found
            .into_iter()
            .map(|u| KeyUsage {
                kid: u.kid,
                uses: u.uses,
                last_seen_at: u.last_seen_at,
            })
            .collect())
    }
}
