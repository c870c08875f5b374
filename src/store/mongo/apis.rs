//! [`ApiStore`] on MongoDB: `apis` (`_id` the identifier, so it is unique) and `client_apis`
//! (one document per client and API, `_id` the pair, an index on `client_id`). Every write is
//! one single-document operation; deleting an API then deletes its permissions as clean-up.

use super::{Conflict, MongoStore, backend, upsert_with_retry, write_error};
use crate::model::{AccessTokenFormat, Api, ApiScope, ClientApi, Scope};
use crate::store::{ApiStore, StoreResult};
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{Document, doc};
use mongodb::options::IndexOptions;
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use std::future::IntoFuture;

/// The collection of APIs.
const APIS: &str = "apis";
/// The collection of client permissions.
const CLIENT_APIS: &str = "client_apis";

/// `apis`: `_id` is the identifier.
#[derive(Debug, Serialize, Deserialize)]
struct ApiDoc {
    #[serde(rename = "_id")]
    identifier: String,
    name: String,
    scopes: Vec<ApiScope>,
    access_token_ttl: Option<i64>,
    token_format: AccessTokenFormat,
    created_at: i64,
}

/// `client_apis`: `_id` is `client_id` and the API identifier joined by a space (neither can
/// contain one).
#[derive(Debug, Serialize, Deserialize)]
struct ClientApiDoc {
    #[serde(rename = "_id")]
    id: String,
    client_id: String,
    api: String,
    scopes: Scope,
}

impl From<&Api> for ApiDoc {
    fn from(a: &Api) -> Self {
        ApiDoc {
            identifier: a.identifier.clone(),
            name: a.name.clone(),
            scopes: a.scopes.clone(),
            access_token_ttl: a.access_token_ttl,
            token_format: a.token_format,
            created_at: a.created_at,
        }
    }
}

impl From<ApiDoc> for Api {
    fn from(d: ApiDoc) -> Self {
        Api {
            identifier: d.identifier,
            name: d.name,
            scopes: d.scopes,
            access_token_ttl: d.access_token_ttl,
            token_format: d.token_format,
            created_at: d.created_at,
        }
    }
}

/// Creates the index that finds a client's permissions (idempotent; at every start).
pub(super) async fn create_indexes(db: &Database) -> StoreResult<()> {
    let by_client = IndexModel::builder()
        .keys(doc! { "client_id": 1, "api": 1 })
        .options(
            IndexOptions::builder()
                .name("client_apis_client".to_string())
                .build(),
        )
        .build();
    db.collection::<Document>(CLIENT_APIS)
        .create_index(by_client)
        .await
        .map_err(backend)?;
    Ok(())
}

impl MongoStore {
    fn apis(&self) -> Collection<ApiDoc> {
        self.db.collection(APIS)
    }

    fn client_apis_collection(&self) -> Collection<ClientApiDoc> {
        self.db.collection(CLIENT_APIS)
    }
}

#[async_trait]
impl ApiStore for MongoStore {
    async fn create_api(&self, api: &Api) -> StoreResult<()> {
        self.apis()
            .insert_one(ApiDoc::from(api))
            .await
            .map_err(|e| write_error(e, Conflict::ApiIdentifier, &[]))?;
        Ok(())
    }

    async fn api(&self, identifier: &str) -> StoreResult<Option<Api>> {
        let found = self
            .apis()
            .find_one(doc! { "_id": identifier })
            .await
            .map_err(backend)?;
        Ok(found.map(Api::from))
    }

    async fn list_apis(&self) -> StoreResult<Vec<Api>> {
        let docs: Vec<ApiDoc> = self
            .apis()
            .find(doc! {})
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        Ok(docs.into_iter().map(Api::from).collect())
    }

    async fn delete_api(&self, identifier: &str) -> StoreResult<bool> {
        let done = self
            .apis()
            .delete_one(doc! { "_id": identifier })
            .await
            .map_err(backend)?;
        self.client_apis_collection()
            .delete_many(doc! { "api": identifier })
            .await
            .map_err(backend)?;
        Ok(done.deleted_count == 1)
    }

    async fn allow_client_api(&self, allowed: &ClientApi) -> StoreResult<()> {
        let document = ClientApiDoc {
            id: format!("{} {}", allowed.client_id, allowed.api),
            client_id: allowed.client_id.clone(),
            api: allowed.api.clone(),
            scopes: allowed.scopes.clone(),
        };
        let collection = self.client_apis_collection();
        upsert_with_retry(|| {
            collection
                .replace_one(doc! { "_id": &document.id }, &document)
                .upsert(true)
                .into_future()
        })
        .await?;
        Ok(())
    }

    async fn client_apis(&self, client_id: &str) -> StoreResult<Vec<ClientApi>> {
        let docs: Vec<ClientApiDoc> = self
            .client_apis_collection()
            .find(doc! { "client_id": client_id })
            .sort(doc! { "api": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        Ok(docs
            .into_iter()
            .map(|d| ClientApi {
                client_id: d.client_id,
                api: d.api,
                scopes: d.scopes,
            })
            .collect())
    }
}
