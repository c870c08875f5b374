//! [`AuditStore`] on MongoDB: the `audit_events` collection, one document per entry with a
//! driver-generated `ObjectId` (which keeps entries of the same second in their order of
//! appending), indexes for reading by user, client and time, and a TTL index on `purge_at`
//! (the entry's expiry) so MongoDB deletes old entries by itself; the purge job deletes the same
//! ones and any older than a shortened retention.

use super::{MongoStore, backend, purge_date};
use crate::clock::UnixTime;
use crate::model::{AuditQuery, AuditRecord, UserId};
use crate::store::{AuditStore, StoreResult};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{DateTime, Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The collection of entries.
const EVENTS: &str = "audit_events";

/// One entry.
#[derive(Debug, Serialize, Deserialize)]
struct AuditDoc {
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    id: Option<ObjectId>,
    at: i64,
    kind: String,
    outcome: String,
    user_id: Option<String>,
    client_id: Option<String>,
    ip: Option<String>,
    detail: Option<String>,
    expires_at: i64,
    /// When the TTL index deletes the entry.
    purge_at: DateTime,
}

impl From<AuditDoc> for AuditRecord {
    fn from(d: AuditDoc) -> Self {
        AuditRecord {
            at: d.at,
            kind: d.kind,
            outcome: d.outcome,
            user_id: d.user_id.map(UserId),
            client_id: d.client_id,
            ip: d.ip,
            detail: d.detail,
            expires_at: d.expires_at,
        }
    }
}

fn events(db: &Database) -> Collection<AuditDoc> {
    db.collection(EVENTS)
}

/// The indexes of `audit_events`: by user and time, by client and time, by time, and the TTL.
pub(super) async fn create_indexes(db: &Database) -> StoreResult<()> {
    let named = |keys: Document, name: &str, ttl: bool| {
        let mut options = IndexOptions::builder().name(name.to_string()).build();
        if ttl {
            options.expire_after = Some(Duration::ZERO);
        }
        IndexModel::builder().keys(keys).options(options).build()
    };
    let collection = db.collection::<Document>(EVENTS);
    for model in [
        named(doc! { "user_id": 1, "at": 1 }, "audit_events_user", false),
        named(
            doc! { "client_id": 1, "at": 1 },
            "audit_events_client",
            false,
        ),
        named(doc! { "at": 1 }, "audit_events_at", false),
        named(doc! { "purge_at": 1 }, "audit_events_ttl", true),
    ] {
        collection.create_index(model).await.map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl AuditStore for MongoStore {
    async fn append_audit(&self, r: &AuditRecord) -> StoreResult<()> {
        let document = AuditDoc {
            id: None,
            at: r.at,
            kind: r.kind.clone(),
            outcome: r.outcome.clone(),
            user_id: r.user_id.as_ref().map(|u| u.0.clone()),
            client_id: r.client_id.clone(),
            ip: r.ip.clone(),
            detail: r.detail.clone(),
            expires_at: r.expires_at,
            purge_at: purge_date(r.expires_at),
        };
        events(&self.db)
            .insert_one(document)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn audit_entries(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
        // Every condition is an equality or range on a plain string or integer value, never a
        // document taken from the caller (no operator injection).
        let mut filter = Document::new();
        if let Some(user) = &query.user_id {
            filter.insert("user_id", user.0.as_str());
        }
        if let Some(client) = &query.client_id {
            filter.insert("client_id", client.as_str());
        }
        if let Some(since) = query.since {
            filter.insert("at", doc! { "$gte": since });
        }
        let collection = events(&self.db);
        let mut find = collection.find(filter).sort(doc! { "at": -1, "_id": -1 });
        if query.limit > 0 {
            find = find.limit(i64::from(query.limit));
        }
        let mut records: Vec<AuditRecord> = find
            .await
            .map_err(backend)?
            .try_collect::<Vec<AuditDoc>>()
            .await
            .map_err(backend)?
            .into_iter()
            .map(AuditRecord::from)
            .collect();
        records.reverse();
        Ok(records)
    }

    async fn purge_audit(&self, before: UnixTime, now: UnixTime) -> StoreResult<u64> {
        let deleted = events(&self.db)
            .delete_many(doc! { "$or": [
                { "at": { "$lt": before } },
                { "expires_at": { "$lte": now } },
            ] })
            .await
            .map_err(backend)?
            .deleted_count;
        Ok(deleted)
    }
}
