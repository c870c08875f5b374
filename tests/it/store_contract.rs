//! The store contract suite (`tests/it/contract`) over every backend, one `contract::run_all`
//! call per backend: SQLite always, MongoDB whenever `SESAME_TEST_MONGODB_URI` is set
//! (`scripts/test` sets it, with a SecantusDB server it starts), each MongoDB run in a fresh
//! database dropped at the end.

use crate::contract;
use sesame::store::mongo::MongoStore;
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

/// How to get a MongoDB-compatible server for these tests, for the failure messages.
const MONGODB_HOWTO: &str = "run `scripts/test` (it installs SecantusDB into target/secantus-venv, \
starts it with a user and --auth, and sets SESAME_TEST_MONGODB_URI), or by hand: \
`python3 -m venv target/secantus-venv && target/secantus-venv/bin/pip install --pre secantusdb && \
target/secantus-venv/bin/python -m secantus --host 127.0.0.1 --port 27017 --storage-path target/secantus-data`, \
then `SESAME_TEST_MONGODB_URI='mongodb://127.0.0.1:27017/?directConnection=true' cargo test` \
(any MongoDB 7+ replica set, mongos or Atlas URL works too; give authSource=admin with credentials)";

/// The MongoDB URL to test against. `None` only when no MongoDB run was asked for (plain
/// `cargo test` on a machine without one); when `SESAME_TEST_REQUIRE_MONGODB=1` (set by
/// `scripts/test`) a missing URL fails the test instead of passing it trivially.
pub(crate) fn mongodb_uri() -> Option<String> {
    match std::env::var("SESAME_TEST_MONGODB_URI") {
        Ok(uri) if !uri.trim().is_empty() => Some(uri),
        _ => {
            let required = std::env::var("SESAME_TEST_REQUIRE_MONGODB").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "SESAME_TEST_REQUIRE_MONGODB=1 but SESAME_TEST_MONGODB_URI is not set: {MONGODB_HOWTO}"
            );
            eprintln!(
                "SESAME_TEST_MONGODB_URI is not set: the MongoDB contract run is not asked for"
            );
            None
        }
    }
}

/// `uri` with its path (the database) replaced by `database`; hosts, credentials and options
/// are kept.
pub(crate) fn with_database(uri: &str, database: &str) -> String {
    let (scheme, rest) = uri.split_once("://").expect("a mongodb:// URL");
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let hosts = before_query
        .split_once('/')
        .map_or(before_query, |(h, _)| h);
    match query {
        Some(query) => format!("{scheme}://{hosts}/{database}?{query}"),
        None => format!("{scheme}://{hosts}/{database}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_store_passes_contract() {
    use mongodb::bson::{Document, doc};

    let Some(base) = mongodb_uri() else { return };
    let database = format!("sesame_test_{}", sesame::secret::random_id().to_lowercase());
    let url = with_database(&base, &database);
    let _cleanup = DropDatabase(url.clone(), database.clone());
    let first = match MongoStore::open(&url).await {
        Ok(store) => store,
        Err(e) => panic!(
            "cannot open the MongoDB store at SESAME_TEST_MONGODB_URI ({e}): {MONGODB_HOWTO}"
        ),
    };
    drop(first);
    // Opening again (a restart, or a second instance) recreates the same indexes: a no-op.
    let store = Arc::new(
        MongoStore::open(&url)
            .await
            .expect("a second open of the same database"),
    );
    assert!(
        sesame::store::open(&url).await.is_ok(),
        "store::open selects the MongoDB backend for mongodb:// URLs"
    );

    // The same database through the driver, to inspect the indexes.
    let client = mongodb::Client::with_uri_str(&url)
        .await
        .expect("a driver client");
    let db = client.database(&database);
    let index_keys = |collection: &'static str| {
        let db = db.clone();
        async move {
            let mut cursor = db
                .collection::<Document>(collection)
                .list_indexes()
                .await
                .expect("list indexes");
            let mut found = Vec::new();
            while cursor.advance().await.expect("index cursor") {
                found.push(cursor.deserialize_current().expect("an index"));
            }
            found
        }
    };
    let users = index_keys("users").await;
    assert!(
        users.iter().any(|i| i.keys == doc! { "email": 1 }
            && i.options.as_ref().and_then(|o| o.unique) == Some(true)),
        "users.email is unique: {users:?}"
    );
    let keys = index_keys("signing_keys").await;
    assert!(
        keys.iter().any(|i| i.keys == doc! { "generation": 1 }
            && i.options.as_ref().and_then(|o| o.unique) == Some(true)),
        "signing_keys.generation is unique: {keys:?}"
    );
    // The contract's clock is pinned in 2023, so MongoDB's TTL monitor (wall clock) would
    // delete its fixtures mid-run: check the TTL indexes exist, then drop them for this run.
    for collection in [
        "authorization_requests",
        "authorization_codes",
        "revoked_access_tokens",
        "sessions",
    ] {
        let indexes = index_keys(collection).await;
        let ttl = indexes
            .iter()
            .find(|i| {
                i.keys == doc! { "purge_at": 1 }
                    && i.options.as_ref().and_then(|o| o.expire_after)
                        == Some(std::time::Duration::ZERO)
            })
            .unwrap_or_else(|| panic!("{collection} has a TTL index on purge_at: {indexes:?}"));
        let name = ttl
            .options
            .as_ref()
            .and_then(|o| o.name.clone())
            .expect("a named index");
        db.collection::<Document>(collection)
            .drop_index(name)
            .await
            .expect("drop the TTL index for the pinned-clock run");
    }

    contract::run_all(store).await;
}

/// Drops a test database (URL, name) when dropped, also when the test panics.
pub(crate) struct DropDatabase(pub(crate) String, pub(crate) String);

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (url, database) = (self.0.clone(), self.1.clone());
        // Drop runs on the test's runtime: use a runtime and a client of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let client = mongodb::Client::with_uri_str(&url).await?;
                client.database(&database).drop().await
            })
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_runs_the_code_flow_on_mongodb() {
    use crate::harness::{TestServer, assert_oauth_error, new_kek};

    let Some(base) = mongodb_uri() else { return };
    let database = format!("sesame_test_{}", sesame::secret::random_id().to_lowercase());
    let url = with_database(&base, &database);
    let _cleanup = DropDatabase(url.clone(), database);

    let dir = tempfile::TempDir::new().expect("temporary directory");
    let server = TestServer::start_on(dir, url, new_kek(), |_| {}).await;
    let user = server.user("ada@example.com").await;
    for client in [
        server.confidential_client().await,
        server.public_client().await,
        server.third_party_client().await,
    ] {
        let person = server.person();
        let (code, request) = server.code_for(&person, &client, "ada@example.com").await;
        let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
        assert_eq!(resp.status(), 200, "token response on MongoDB");
        let tokens: serde_json::Value = resp.json().await.expect("token JSON");
        let access = tokens["access_token"].as_str().expect("access_token");
        let (status, _, body) = server.userinfo(access).await;
        assert_eq!(status, 200, "userinfo on MongoDB: {body}");
        assert!(body.contains(&user.id.0), "userinfo names the user: {body}");

        // The code is single use, and its replay revokes the token it issued (RFC 6749 §4.1.2).
        let replay = server.redeem(&client, &code, Some(&request.verifier)).await;
        assert_oauth_error(replay, 400, "invalid_grant").await;
        let (status, _, _) = server.userinfo(access).await;
        assert_eq!(status, 401, "the replayed code's token is revoked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_treat_operator_shaped_strings_as_plain_strings_on_mongodb() {
    use crate::harness::{
        PASSWORD, TestServer, assert_error_page, assert_oauth_error, new_kek, rp_http,
    };

    let Some(base) = mongodb_uri() else { return };
    let database = format!("sesame_test_{}", sesame::secret::random_id().to_lowercase());
    let url = with_database(&base, &database);
    let _cleanup = DropDatabase(url.clone(), database);
    let dir = tempfile::TempDir::new().expect("temporary directory");
    let server = TestServer::start_on(dir, url, new_kek(), |_| {}).await;
    server.user("ada@example.com").await;
    let confidential = server.confidential_client().await;
    let public = server.public_client().await;
    // Live rows an operator would match, were a string ever read as one.
    let tokens = server
        .tokens_for(&server.person(), &confidential, "ada@example.com")
        .await;
    let access = tokens["access_token"].as_str().expect("access_token");
    let (pending_code, pending_request) = server
        .code_for(&server.person(), &public, "ada@example.com")
        .await;

    for input in [
        r#"{"$ne": ""}"#,
        r#"{"$gt": ""}"#,
        r#"{"$where": "return true"}"#,
        "$where",
    ] {
        let what = format!("operator-shaped {input:?}");
        // /token: as the code, and as the client_id.
        let resp = server.redeem(&confidential, input, None).await;
        assert_oauth_error(resp, 400, "invalid_grant").await;
        let resp = rp_http()
            .post(server.url("/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", pending_code.as_str()),
                ("client_id", input),
                ("redirect_uri", public.redirect_uri.as_str()),
            ])
            .send()
            .await
            .expect("POST /token");
        assert_oauth_error(resp, 401, "invalid_client").await;
        // /authorize: as the client_id (an unknown client gets an error page, no redirect).
        let person = server.person();
        let request = server.auth_request(&public, &[("client_id", input)]);
        assert_error_page(person.get(&request.url).await, &what).await;
        // /login: as the email, with the real password.
        let request = server.auth_request(&public, &[]);
        let login = person.location(&person.get(&request.url).await);
        let resp = person.submit_login(&login, input, PASSWORD).await;
        assert!(
            resp.status().is_client_error(),
            "{what} as an email signs nobody in: {}",
            resp.status()
        );
        // /userinfo: as the bearer token.
        let (status, _, _) = server.userinfo(input).await;
        assert!(
            status == 400 || status == 401,
            "{what} as a bearer token: {status}"
        );
    }

    // The real rows are untouched: the pending code still redeems, the token still works.
    let (status, _, body) = server.userinfo(access).await;
    assert_eq!(status, 200, "{body}");
    let resp = server
        .redeem(&public, &pending_code, Some(&pending_request.verifier))
        .await;
    assert_eq!(
        resp.status(),
        200,
        "the pending code was not spent by any of it"
    );
}

#[test]
fn test_database_replaces_only_the_url_path() {
    assert_eq!(
        with_database("mongodb://u:p@127.0.0.1:27017/?authSource=admin", "t1"),
        "mongodb://u:p@127.0.0.1:27017/t1?authSource=admin"
    );
    assert_eq!(
        with_database("mongodb://h1,h2:27018/old", "t2"),
        "mongodb://h1,h2:27018/t2"
    );
    assert_eq!(
        with_database("mongodb+srv://c.example.net", "t3"),
        "mongodb+srv://c.example.net/t3"
    );
}
