//! Back-channel logout on MongoDB: the clients that took part in a session, from the codes
//! redeemed in it and the refresh families started in it (two `distinct` reads by `sid`).

use super::{MongoStore, backend};
use crate::store::{SessionClientsStore, StoreResult};
use async_trait::async_trait;
use mongodb::bson::{Bson, Document, doc};

/// Authorization codes (the main backend's collection).
const CODES: &str = "authorization_codes";
/// Refresh-token families (the refresh store's collection).
const FAMILIES: &str = "refresh_families";

#[async_trait]
impl SessionClientsStore for MongoStore {
    async fn session_clients(&self, sid: &str) -> StoreResult<Vec<String>> {
        let mut clients = Vec::new();
        let reads = [
            (
                CODES,
                doc! { "sid": sid, "redeemed_at": { "$ne": Bson::Null } },
            ),
            (FAMILIES, doc! { "sid": sid }),
        ];
        for (collection, filter) in reads {
            let values = self
                .db
                .collection::<Document>(collection)
                .distinct("client_id", filter)
                .await
                .map_err(backend)?;
            clients.extend(values.into_iter().filter_map(|v| match v {
                Bson::String(id) => Some(id),
                _ => None,
            }));
        }
        clients.sort();
        clients.dedup();
        Ok(clients)
    }
}
