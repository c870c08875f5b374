//! The store contract suite (`tests/it/contract`) over every backend: one `contract::run_all`
//! call per backend. SQLite is the only backend so far; the MongoDB backend will run the same
//! suite when `SESAME_TEST_MONGODB_URI` is set.

use crate::contract;
use sesame::store::sqlite::SqliteStore;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_passes_contract() {
    let dir = tempfile::TempDir::new().expect("temporary directory");
    let url = format!("sqlite://{}/test.db", dir.path().display());
    let store = SqliteStore::open(&url)
        .await
        .expect("open the SQLite store");
    assert!(
        dir.path().join("test.db").exists(),
        "the database file is created"
    );
    contract::run_all(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_creates_missing_directories_and_reopens() {
    let dir = tempfile::TempDir::new().expect("temporary directory");
    let url = format!("sqlite://{}/nested/deeper/test.db", dir.path().display());
    let first = SqliteStore::open(&url)
        .await
        .expect("open the SQLite store");
    drop(first);
    // Migrations already applied: a second open is a no-op upgrade.
    let again = sesame::store::open(&url)
        .await
        .expect("reopen the SQLite store");
    again.ping().await.expect("ping");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_sqlite_store_passes_contract() {
    let store = SqliteStore::open("sqlite::memory:")
        .await
        .expect("open in-memory store");
    contract::run_all(Arc::new(store)).await;
}
