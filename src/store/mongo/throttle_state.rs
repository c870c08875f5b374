//! [`ThrottleStateStore`] on MongoDB: one `find_one` on the counter's `_id` (a read from the
//! primary with read concern `majority`, like every read here).

use super::{MongoStore, backend};
use crate::model::Throttle;
use crate::store::{StoreResult, ThrottleStateStore};
use async_trait::async_trait;
use mongodb::bson::doc;

#[async_trait]
impl ThrottleStateStore for MongoStore {
    async fn throttle_state(&self, key: &str) -> StoreResult<Option<Throttle>> {
        let found = self
            .throttles
            .find_one(doc! { "_id": key })
            .await
            .map_err(backend)?;
        Ok(found.map(|doc| Throttle {
            failures: doc.failures,
            locked_until: doc.locked_until,
        }))
    }
}
