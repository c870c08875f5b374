//! The outbox on MongoDB (collection `outbox`, `_id` = item id): a claim is one
//! `find_one_and_update` on the due conditions, so of any number of instances exactly one gets
//! an item; outcomes are recorded only while the caller's claim still holds it. A finished
//! item carries `purge_at`, and the TTL index deletes it when its retention has passed.

use super::{MongoStore, backend, corrupt, purge_date};
use crate::clock::UnixTime;
use crate::model::{OutboxCounts, OutboxItem, OutboxStatus};
use crate::store::{Outbox, StoreResult};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::{IndexOptions, ReturnDocument};
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The collection's name.
pub(super) const COLLECTION: &str = "outbox";

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct OutboxDoc {
    #[serde(rename = "_id")]
    id: String,
    kind: String,
    summary: String,
    payload: String,
    status: String,
    attempts: i64,
    created_at: i64,
    next_attempt_at: i64,
    lease_until: Option<i64>,
    claim: Option<String>,
    deadline: i64,
    last_error: Option<String>,
    finished_at: Option<i64>,
    expires_at: Option<i64>,
    /// Set when the item ends; the TTL index deletes the document after it.
    purge_at: Option<DateTime>,
}

impl From<&OutboxItem> for OutboxDoc {
    fn from(i: &OutboxItem) -> Self {
        OutboxDoc {
            id: i.id.clone(),
            kind: i.kind.clone(),
            summary: i.summary.clone(),
            payload: i.payload.clone(),
            status: i.status.as_str().to_string(),
            attempts: i.attempts,
            created_at: i.created_at,
            next_attempt_at: i.next_attempt_at,
            lease_until: i.lease_until,
            claim: i.claim.clone(),
            deadline: i.deadline,
            last_error: i.last_error.clone(),
            finished_at: i.finished_at,
            expires_at: i.expires_at,
            purge_at: i.expires_at.map(purge_date),
        }
    }
}

impl TryFrom<OutboxDoc> for OutboxItem {
    type Error = crate::store::StoreError;

    fn try_from(d: OutboxDoc) -> StoreResult<Self> {
        Ok(OutboxItem {
            status: d.status.parse::<OutboxStatus>().map_err(corrupt)?,
            id: d.id,
            kind: d.kind,
            summary: d.summary,
            payload: d.payload,
            attempts: d.attempts,
            created_at: d.created_at,
            next_attempt_at: d.next_attempt_at,
            lease_until: d.lease_until,
            claim: d.claim,
            deadline: d.deadline,
            last_error: d.last_error,
            finished_at: d.finished_at,
            expires_at: d.expires_at,
        })
    }
}

/// The `outbox` collection of `db`.
pub(super) fn collection(db: &Database) -> Collection<OutboxDoc> {
    db.collection(COLLECTION)
}

/// The due-item index, the listing index and the TTL index on `purge_at`.
pub(super) async fn create_indexes(db: &Database) -> StoreResult<()> {
    let named = |keys: Document, name: &str| {
        IndexModel::builder()
            .keys(keys)
            .options(IndexOptions::builder().name(name.to_string()).build())
            .build()
    };
    let models = [
        named(
            doc! { "kind": 1, "status": 1, "next_attempt_at": 1 },
            "outbox_due",
        ),
        named(doc! { "kind": 1, "created_at": -1 }, "outbox_listing"),
        IndexModel::builder()
            .keys(doc! { "purge_at": 1 })
            .options(
                IndexOptions::builder()
                    .name("outbox_ttl".to_string())
                    .expire_after(Duration::ZERO)
                    .build(),
            )
            .build(),
    ];
    let coll = db.collection::<Document>(COLLECTION);
    for model in models {
        coll.create_index(model).await.map_err(backend)?;
    }
    Ok(())
}

/// Deletes finished items whose retention has passed (the TTL index does it too, later).
pub(super) async fn purge(store: &MongoStore, now: UnixTime) -> StoreResult<u64> {
    let done = collection(&store.db)
        .delete_many(doc! { "status": { "$ne": "queued" }, "expires_at": { "$lte": now } })
        .await
        .map_err(backend)?;
    Ok(done.deleted_count)
}

/// Inserts `item`; an item with this id already queued is the same enqueue retried, not an
/// error (follow-up steps that enqueue are idempotent).
pub(super) async fn insert_once(db: &Database, item: &OutboxItem) -> StoreResult<()> {
    match collection(db).insert_one(OutboxDoc::from(item)).await {
        Ok(_) => Ok(()),
        Err(e) if super::duplicate_key_message(&e).is_some() => Ok(()),
        Err(e) => Err(backend(e)),
    }
}

#[async_trait]
impl Outbox for MongoStore {
    async fn enqueue(&self, item: &OutboxItem) -> StoreResult<()> {
        collection(&self.db)
            .insert_one(OutboxDoc::from(item))
            .await
            .map_err(|e| super::write_error(e, crate::store::Conflict::Other, &[]))?;
        Ok(())
    }

    async fn claim_due(
        &self,
        kind: &str,
        now: UnixTime,
        lease_until: UnixTime,
        claim: &str,
    ) -> StoreResult<Option<OutboxItem>> {
        let found = collection(&self.db)
            .find_one_and_update(
                doc! {
                    "kind": kind,
                    "status": "queued",
                    "next_attempt_at": { "$lte": now },
                    "$or": [
                        { "lease_until": null },
                        { "lease_until": { "$lte": now } },
                    ],
                },
                doc! {
                    "$set": { "lease_until": lease_until, "claim": claim },
                    "$inc": { "attempts": 1_i64 },
                },
            )
            .sort(doc! { "next_attempt_at": 1, "created_at": 1 })
            .return_document(ReturnDocument::After)
            .await
            .map_err(backend)?;
        found.map(OutboxItem::try_from).transpose()
    }

    async fn finish(
        &self,
        id: &str,
        claim: &str,
        status: OutboxStatus,
        error: Option<&str>,
        now: UnixTime,
        keep_until: UnixTime,
    ) -> StoreResult<bool> {
        let mut set = doc! {
            "status": status.as_str(),
            "finished_at": now,
            "expires_at": keep_until,
            "purge_at": purge_date(keep_until),
            "payload": "",
            "lease_until": null,
        };
        if let Some(error) = error {
            set.insert("last_error", error);
        }
        let done = collection(&self.db)
            .update_one(
                doc! { "_id": id, "claim": claim, "status": "queued" },
                doc! { "$set": set },
            )
            .await
            .map_err(backend)?;
        Ok(done.modified_count == 1)
    }

    async fn reschedule(
        &self,
        id: &str,
        claim: &str,
        next_attempt_at: UnixTime,
        error: &str,
    ) -> StoreResult<bool> {
        let done = collection(&self.db)
            .update_one(
                doc! { "_id": id, "claim": claim, "status": "queued" },
                doc! { "$set": {
                    "next_attempt_at": next_attempt_at,
                    "last_error": error,
                    "lease_until": null,
                    "claim": null,
                } },
            )
            .await
            .map_err(backend)?;
        Ok(done.modified_count == 1)
    }

    async fn outbox_item(&self, id: &str) -> StoreResult<Option<OutboxItem>> {
        let found = collection(&self.db)
            .find_one(doc! { "_id": id })
            .await
            .map_err(backend)?;
        found.map(OutboxItem::try_from).transpose()
    }

    async fn outbox_counts(&self, kind: &str) -> StoreResult<OutboxCounts> {
        let coll = collection(&self.db);
        let mut counts = OutboxCounts::default();
        for (status, slot) in [
            ("queued", &mut counts.queued),
            ("sent", &mut counts.sent),
            ("failed", &mut counts.failed),
        ] {
            *slot = coll
                .count_documents(doc! { "kind": kind, "status": status })
                .await
                .map_err(backend)?;
        }
        counts.oldest_queued_at = coll
            .find_one(doc! { "kind": kind, "status": "queued" })
            .sort(doc! { "created_at": 1 })
            .await
            .map_err(backend)?
            .map(|d| d.created_at);
        Ok(counts)
    }

    async fn list_outbox(&self, kind: &str, limit: u32) -> StoreResult<Vec<OutboxItem>> {
        let docs: Vec<OutboxDoc> = collection(&self.db)
            .find(doc! { "kind": kind })
            .sort(doc! { "created_at": -1, "_id": -1 })
            .limit(i64::from(limit))
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        docs.into_iter().map(OutboxItem::try_from).collect()
    }
}
