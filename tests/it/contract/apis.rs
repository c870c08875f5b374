//! Contract tests for [`sesame::store::ApiStore`]: APIs are unique by identifier, listed oldest
//! first, and deleting one takes every client's permission for it along.

use super::{ContractTest, NOW};
use futures_util::future::BoxFuture;
use sesame::model::{AccessTokenFormat, Api, ApiScope, ClientApi, Scope};
use sesame::secret::random_id;
use sesame::store::{Conflict, Store, StoreError};
use std::sync::Arc;

/// This area's contract tests, by name (run by [`super::run_all`] after the core list).
pub const TESTS: &[(&str, ContractTest)] = &[
    ("api_round_trips", |s| boxed(api_round_trips(s))),
    ("duplicate_api_identifier_conflicts", |s| {
        boxed(duplicate_api_identifier_conflicts(s))
    }),
    ("apis_are_listed_oldest_first", |s| {
        boxed(apis_are_listed_oldest_first(s))
    }),
    ("client_api_permission_is_replaced_per_api", |s| {
        boxed(client_api_permission_is_replaced_per_api(s))
    }),
    ("deleting_an_api_removes_its_permissions_only", |s| {
        boxed(deleting_an_api_removes_its_permissions_only(s))
    }),
];

fn boxed(future: impl std::future::Future<Output = ()> + Send + 'static) -> BoxFuture<'static, ()> {
    Box::pin(future)
}

fn api(created_at: i64) -> Api {
    Api {
        identifier: format!("https://api.example.com/{}", random_id()),
        name: "Orders".into(),
        scopes: vec![
            ApiScope {
                name: "orders:read".into(),
                description: "Read your orders".into(),
            },
            ApiScope {
                name: "orders:write".into(),
                description: "Place orders, ünïcode too".into(),
            },
        ],
        access_token_ttl: Some(300),
        token_format: AccessTokenFormat::Jwt,
        created_at,
    }
}

fn allowed(client_id: &str, api: &str, scopes: &str) -> ClientApi {
    ClientApi {
        client_id: client_id.into(),
        api: api.into(),
        scopes: Scope::parse(scopes).unwrap(),
    }
}

async fn api_round_trips(store: Arc<dyn Store>) {
    let orders = api(NOW);
    store.create_api(&orders).await.unwrap();
    assert_eq!(
        store.api(&orders.identifier).await.unwrap(),
        Some(orders.clone())
    );
    let default_ttl = Api {
        access_token_ttl: None,
        ..api(NOW)
    };
    store.create_api(&default_ttl).await.unwrap();
    assert_eq!(
        store.api(&default_ttl.identifier).await.unwrap(),
        Some(default_ttl)
    );
    assert_eq!(
        store.api("https://api.example.com/none").await.unwrap(),
        None
    );
    // Lookup is exact: no prefix or case folding.
    let upper = orders.identifier.to_uppercase();
    assert_eq!(store.api(&upper).await.unwrap(), None);
    assert_eq!(store.api("{\"$ne\": \"\"}").await.unwrap(), None);
}

async fn duplicate_api_identifier_conflicts(store: Arc<dyn Store>) {
    let first = api(NOW);
    store.create_api(&first).await.unwrap();
    let again = Api {
        name: "Other".into(),
        ..first.clone()
    };
    assert!(matches!(
        store.create_api(&again).await,
        Err(StoreError::Conflict(Conflict::ApiIdentifier))
    ));
    assert_eq!(store.api(&first.identifier).await.unwrap(), Some(first));
}

async fn apis_are_listed_oldest_first(store: Arc<dyn Store>) {
    // Far in the future, so that rows of other tests sort before them.
    let later = api(NOW + 2_000_000_000);
    let earlier = api(NOW + 1_000_000_000);
    store.create_api(&later).await.unwrap();
    store.create_api(&earlier).await.unwrap();
    let listed: Vec<String> = store
        .list_apis()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.identifier)
        .filter(|id| *id == later.identifier || *id == earlier.identifier)
        .collect();
    assert_eq!(listed, [earlier.identifier, later.identifier]);
}

async fn client_api_permission_is_replaced_per_api(store: Arc<dyn Store>) {
    let client_id = random_id();
    let (orders, billing) = (api(NOW), api(NOW));
    store.create_api(&orders).await.unwrap();
    store.create_api(&billing).await.unwrap();
    assert_eq!(store.client_apis(&client_id).await.unwrap(), []);
    store
        .allow_client_api(&allowed(&client_id, &orders.identifier, "orders:read"))
        .await
        .unwrap();
    store
        .allow_client_api(&allowed(&client_id, &billing.identifier, "orders:write"))
        .await
        .unwrap();
    // A second allow for the same API replaces its scopes.
    let replaced = allowed(&client_id, &orders.identifier, "orders:read orders:write");
    store.allow_client_api(&replaced).await.unwrap();
    let mut expected = vec![
        replaced,
        allowed(&client_id, &billing.identifier, "orders:write"),
    ];
    expected.sort_by(|a, b| a.api.cmp(&b.api));
    assert_eq!(store.client_apis(&client_id).await.unwrap(), expected);
    assert_eq!(store.client_apis(&random_id()).await.unwrap(), []);
}

async fn deleting_an_api_removes_its_permissions_only(store: Arc<dyn Store>) {
    let client_id = random_id();
    let (gone, kept) = (api(NOW), api(NOW));
    store.create_api(&gone).await.unwrap();
    store.create_api(&kept).await.unwrap();
    store
        .allow_client_api(&allowed(&client_id, &gone.identifier, "orders:read"))
        .await
        .unwrap();
    store
        .allow_client_api(&allowed(&client_id, &kept.identifier, "orders:read"))
        .await
        .unwrap();
    assert!(store.delete_api(&gone.identifier).await.unwrap());
    assert!(
        !store.delete_api(&gone.identifier).await.unwrap(),
        "already gone"
    );
    assert_eq!(store.api(&gone.identifier).await.unwrap(), None);
    assert_eq!(
        store.client_apis(&client_id).await.unwrap(),
        [allowed(&client_id, &kept.identifier, "orders:read")]
    );
    assert_eq!(store.api(&kept.identifier).await.unwrap(), Some(kept));
}
