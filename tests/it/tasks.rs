//! The background jobs in the test server, on the pinned clock: the purge of expired rows and
//! the key-ring reload (on schedule, and at once for an unknown kid of our own issuer).

use crate::harness::{TestServer, query_map, rp_http};
use serde_json::{Value, json};
use sesame::keys::{Kek, KeyManager, generate_signing_key};
use sesame::model::{KeyState, SigningKey};
use sesame::tasks::{KeyReload, Purge};
use std::time::Duration;

/// The kids /jwks publishes, in order.
async fn published_kids(server: &TestServer) -> Vec<String> {
    let jwks: Value = rp_http()
        .get(server.url("/jwks"))
        .send()
        .await
        .expect("GET /jwks")
        .json()
        .await
        .expect("JWKS JSON");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The test server's key-encryption key, as another instance sharing its store would have it.
fn shared_kek(server: &TestServer) -> Kek {
    let kek = server.state.config.kek.as_ref().expect("test KEK");
    Kek::from_base64(kek.expose()).expect("KEK")
}

/// A key that "another instance" generates and writes straight into the shared store.
async fn key_written_elsewhere(server: &TestServer, state: KeyState) -> SigningKey {
    let mut key = generate_signing_key(&shared_kek(server), 2, server.now())
        .await
        .expect("generate");
    key.state = state;
    // A next key signs only when due: a rotation period from now, as the policy would plan it.
    if state == KeyState::Next {
        key.activates_at = server.now() + server.state.config.key_policy.rotation_period;
    }
    server
        .state
        .store
        .insert_signing_key(&key)
        .await
        .expect("insert signing key");
    key
}

#[tokio::test]
async fn expired_pending_requests_are_purged_once_the_clock_passes_the_purge_time() {
    let server = TestServer::start_with(|c| c.tokens.authorization_request_ttl = 120).await;
    let started = server.now();
    // Whatever ran at start has run.
    server.tasks.run_due_now().await;
    let client = server.confidential_client().await;
    let person = server.person();
    let pending = |url: String| query_map(&url).get("request").cloned().expect("request id");
    let old = pending(person.location(&person.get(&server.auth_request(&client, &[]).url).await));
    let store = server.state.store.clone();
    let exists = |id: String| {
        let store = store.clone();
        // Looked up as of the start, so an expired but unpurged row still shows.
        async move {
            store
                .authorization_request(&id, started)
                .await
                .expect("lookup")
                .is_some()
        }
    };
    assert!(exists(old.clone()).await);

    server.clock.advance(Purge::PERIOD - 1);
    assert!(
        !server.tasks.run_due_now().await.contains(&"purge"),
        "the purge is not due before its period on the clock"
    );

    server.clock.set(started + 121);
    let fresh = pending(person.location(&person.get(&server.auth_request(&client, &[]).url).await));
    server.tasks.run_due_now().await;
    assert!(
        !exists(old).await,
        "the request that expired at +120 is purged at +121"
    );
    assert!(exists(fresh).await, "a live request stays");
}

#[tokio::test]
async fn a_key_written_by_another_instance_is_published_after_the_reload_period() {
    let server = TestServer::start().await;
    server.tasks.run_due_now().await;
    let before = published_kids(&server).await;
    assert_eq!(before.len(), 1);
    let next = key_written_elsewhere(&server, KeyState::Next).await;

    server.clock.advance(KeyReload::PERIOD - 1);
    server.tasks.run_due_now().await;
    assert_eq!(
        published_kids(&server).await,
        before,
        "not before the reload is due"
    );

    server.clock.advance(1);
    server.tasks.run_due_now().await;
    assert_eq!(
        published_kids(&server).await,
        [before[0].clone(), next.kid],
        "the active key first, then the next one"
    );
}

#[tokio::test]
async fn a_token_with_an_unknown_kid_of_our_issuer_triggers_an_immediate_reload() {
    let server = TestServer::start().await;
    server.tasks.run_due_now().await;
    let user = server.user("reload@example.com").await;
    let client = server.confidential_client().await;
    // Another instance has rotated: it signs with generation 2, which this one never loaded.
    let newer = key_written_elsewhere(&server, KeyState::Active).await;
    let other = KeyManager::load_or_init(
        server.state.store.clone(),
        shared_kek(&server),
        server.now(),
    )
    .await
    .expect("the other instance's key ring");
    assert_eq!(other.active_kid().expect("active"), newer.kid);
    let now = server.now();
    let token = other
        .sign(
            "at+jwt",
            &json!({
                "iss": server.issuer, "sub": user.id.0, "aud": server.issuer,
                "client_id": client.client_id, "scope": "openid email",
                "iat": now, "exp": now + 300, "jti": "from-the-other-instance",
                "auth_time": now, "sid": "session-elsewhere",
            }),
        )
        .expect("sign");
    assert!(!published_kids(&server).await.contains(&newer.kid));

    let mut passes = server.tasks.passes();
    let (status, _, _) = server.userinfo(&token).await;
    assert_eq!(status, 401, "not yet: the kid is unknown here");
    // The clock stands still, so only the unknown kid can have made the reload due.
    tokio::time::timeout(Duration::from_secs(30), async {
        while !published_kids(&server).await.contains(&newer.kid) {
            passes.changed().await.expect("the runner is alive");
        }
    })
    .await
    .expect("the unknown kid woke the reload");

    let (status, _, body) = server.userinfo(&token).await;
    assert_eq!(
        status, 200,
        "the other instance's token is accepted now: {body}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON")["email"],
        "reload@example.com"
    );
}
