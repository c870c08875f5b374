//! The IdP session's two lifetimes under the pinned clock: the idle timeout
//! (`session.idle_ttl`), which each use slides forward with at most one store write a minute,
//! and the absolute one (`session.ttl`), which ends even a session in constant use.

use crate::harness::{Person, TestClient, TestServer, query_map};
use reqwest::cookie::CookieStore;
use sesame::model::Session;
use sesame::secret::TokenHash;
use std::collections::HashMap;

const TTL: i64 = 3600;
const IDLE_TTL: i64 = 600;

/// A server whose sessions last [`TTL`] and idle out after [`IDLE_TTL`], a first-party client,
/// and a person signed in to it.
async fn signed_in() -> (TestServer, TestClient, Person) {
    let server = TestServer::start_with(|c| {
        c.session.ttl = TTL;
        c.session.idle_ttl = IDLE_TTL;
    })
    .await;
    let client = server.confidential_client().await;
    server.user("idle@example.com").await;
    let person = server.person();
    server.code_for(&person, &client, "idle@example.com").await;
    (server, client, person)
}

/// The query of where `/authorize` (with `extra` parameters) sends the person.
async fn authorize(
    server: &TestServer,
    client: &TestClient,
    person: &Person,
    extra: &[(&str, &str)],
) -> (String, HashMap<String, String>) {
    let request = server.auth_request(client, extra);
    let loc = person.location(&person.get(&request.url).await);
    let query = query_map(&loc);
    (loc, query)
}

/// Whether a silent (`prompt=none`) request gets a code; panics on anything but a code or
/// `login_required`.
async fn silently_signed_in(server: &TestServer, client: &TestClient, person: &Person) -> bool {
    let (loc, q) = authorize(server, client, person, &[("prompt", "none")]).await;
    match (q.get("code"), q.get("error").map(String::as_str)) {
        (Some(_), None) => true,
        (None, Some("login_required")) => false,
        _ => panic!("neither a code nor login_required: {loc}"),
    }
}

/// The person's session as stored, found by the hash of their cookie.
async fn stored_session(server: &TestServer, person: &Person) -> Option<Session> {
    let url = url::Url::parse(&server.issuer).unwrap();
    let cookies = person.jar.cookies(&url)?;
    let value = cookies
        .to_str()
        .ok()?
        .split("; ")
        .find_map(|c| c.strip_prefix("sesame_session="))?
        .to_string();
    server
        .state
        .store
        .session(&TokenHash::of(&value), server.now())
        .await
        .expect("store")
}

#[tokio::test]
async fn a_session_in_use_outlives_its_idle_ttl() {
    let (server, client, person) = signed_in().await;
    let signed_in_at = server.now();
    // Five uses, each well inside the idle timeout of the one before: 1500 s in all.
    for _ in 0..5 {
        server.clock.advance(IDLE_TTL / 2);
        assert!(
            silently_signed_in(&server, &client, &person).await,
            "still signed in {} s after login",
            server.now() - signed_in_at
        );
    }
    assert!(server.now() - signed_in_at > 2 * IDLE_TTL);
}

#[tokio::test]
async fn a_use_is_written_to_the_store_at_most_once_a_minute() {
    let (server, client, person) = signed_in().await;
    let start = stored_session(&server, &person)
        .await
        .expect("a stored session");
    server.clock.advance(59);
    assert!(silently_signed_in(&server, &client, &person).await);
    let seen = stored_session(&server, &person).await.unwrap();
    assert_eq!(
        seen.last_seen_at, start.last_seen_at,
        "no write within a minute"
    );
    server.clock.advance(1);
    assert!(silently_signed_in(&server, &client, &person).await);
    let seen = stored_session(&server, &person).await.unwrap();
    assert_eq!(seen.last_seen_at, server.now(), "written after a minute");
}

#[tokio::test]
async fn a_session_left_idle_past_idle_ttl_sends_authorize_to_the_login_page() {
    let (server, client, person) = signed_in().await;
    server.clock.advance(IDLE_TTL + 1);
    let (loc, _) = authorize(&server, &client, &person, &[]).await;
    assert!(
        loc.starts_with(&server.url("/login?request=")),
        "to the login page: {loc}"
    );
    assert!(
        stored_session(&server, &person).await.is_none(),
        "the idle session is deleted"
    );
    assert!(
        !silently_signed_in(&server, &client, &person).await,
        "prompt=none gets login_required"
    );
}

#[tokio::test]
async fn prompt_none_after_the_idle_timeout_is_login_required() {
    let (server, client, person) = signed_in().await;
    server.clock.advance(IDLE_TTL);
    assert!(
        silently_signed_in(&server, &client, &person).await,
        "exactly idle_ttl unused is still signed in"
    );
    server.clock.advance(IDLE_TTL + 1);
    assert!(!silently_signed_in(&server, &client, &person).await);
}

#[tokio::test]
async fn the_absolute_ttl_ends_even_a_session_in_use() {
    let (server, client, person) = signed_in().await;
    let signed_in_at = server.now();
    while server.now() + IDLE_TTL / 2 < signed_in_at + TTL {
        server.clock.advance(IDLE_TTL / 2);
        assert!(
            silently_signed_in(&server, &client, &person).await,
            "in use {} s after login",
            server.now() - signed_in_at
        );
    }
    server.clock.set(signed_in_at + TTL);
    assert!(
        !silently_signed_in(&server, &client, &person).await,
        "over at session.ttl however much it was used"
    );
    let (loc, _) = authorize(&server, &client, &person, &[]).await;
    assert!(loc.starts_with(&server.url("/login?request=")), "{loc}");
}
