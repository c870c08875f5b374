//! The introspection endpoint, RFC 7662, for access tokens (checklist I1–I3, H3), driven as an
//! API registered as a confidential client would.

use crate::harness::{
    ClientSpec, TestClient, TestServer, assert_oauth_error, header, jwt_claims, rp_http,
};
use crate::revocation::{access_token, post_as};
use serde_json::{Value, json};
use sesame::model::{Scope, TokenEndpointAuthMethod};

async fn introspect(server: &TestServer, caller: &TestClient, token: &str) -> reqwest::Response {
    post_as(server, caller, "/introspect", vec![("token", token.into())]).await
}

/// 200, `no-store`, and the JSON body.
async fn introspection(server: &TestServer, caller: &TestClient, token: &str) -> Value {
    let resp = introspect(server, caller, token).await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "cache-control").contains("no-store"));
    assert!(header(&resp, "content-type").starts_with("application/json"));
    resp.json().await.expect("JSON")
}

/// RFC 7662 §2.2: an inactive token is exactly `{"active":false}`, nothing more.
async fn assert_inactive(server: &TestServer, caller: &TestClient, token: &str, what: &str) {
    assert_eq!(
        introspection(server, caller, token).await,
        json!({ "active": false }),
        "{what}"
    );
}

#[tokio::test]
async fn active_access_token_is_described_to_its_client() {
    // I2
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let at = access_token(&server, &client, "active@example.com").await;
    let claims = jwt_claims(&at);
    let body = introspection(&server, &client, &at).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "Bearer");
    for member in [
        "scope",
        "client_id",
        "sub",
        "exp",
        "iat",
        "iss",
        "aud",
        "jti",
    ] {
        assert_eq!(body[member], claims[member], "{member}");
    }
    assert_eq!(body["client_id"], client.client_id.as_str());
    assert_eq!(body["iss"], server.issuer.as_str());
    assert_eq!(body["scope"], "openid email profile");
    assert_eq!(
        body["username"], "active@example.com",
        "the email scope lets the caller see the email"
    );
}

#[tokio::test]
async fn username_is_left_out_without_the_email_scope() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user("noemail@example.com").await;
    let person = server.person();
    let request = server.auth_request(&client, &[("scope", "openid profile")]);
    let callback = person
        .sign_in(
            &request.url,
            "noemail@example.com",
            crate::harness::PASSWORD,
        )
        .await;
    let code = crate::harness::query_map(&callback)["code"].clone();
    let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
    let body: Value = resp.json().await.unwrap();
    let at = body["access_token"].as_str().unwrap();
    let body = introspection(&server, &client, at).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "openid profile");
    assert!(body.get("username").is_none(), "{body}");
}

#[tokio::test]
async fn client_credentials_token_is_active_with_the_client_as_subject() {
    let server = TestServer::start().await;
    let client = server
        .register(ClientSpec {
            allowed_scopes: Scope::parse("orders:read").unwrap(),
            ..ClientSpec::confidential()
        })
        .await;
    let resp = server
        .token_request(&client, vec![("grant_type", "client_credentials".into())])
        .await;
    let body: Value = resp.json().await.unwrap();
    let at = body["access_token"].as_str().unwrap();
    let body = introspection(&server, &client, at).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], client.client_id.as_str());
    assert_eq!(body["scope"], "orders:read");
    assert!(body.get("username").is_none());
}

#[tokio::test]
async fn expired_revoked_unknown_and_garbage_tokens_are_exactly_inactive() {
    // I3, H3
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    for token in ["not-a-token", "a.b.c"] {
        assert_inactive(&server, &client, token, token).await;
    }
    // An ID token is not an access token.
    server.user("idt@example.com").await;
    let body = server
        .tokens_for(&server.person(), &client, "idt@example.com")
        .await;
    assert_inactive(
        &server,
        &client,
        body["id_token"].as_str().unwrap(),
        "ID token",
    )
    .await;

    let revoked = access_token(&server, &client, "revoked@example.com").await;
    assert_eq!(
        introspection(&server, &client, &revoked).await["active"],
        true
    );
    let resp = post_as(
        &server,
        &client,
        "/revoke",
        vec![("token", revoked.clone())],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_inactive(&server, &client, &revoked, "revoked").await;

    let expiring = access_token(&server, &client, "expired@example.com").await;
    // Signed by no key of ours: the same claims under a changed signature.
    let (signed, signature) = expiring.rsplit_once('.').unwrap();
    let other = if signature.starts_with('A') { "B" } else { "A" };
    let forged = format!("{signed}.{other}{}", &signature[1..]);
    assert_inactive(&server, &client, &forged, "bad signature").await;
    server
        .clock
        .advance(server.state.config.access_token_ttl + 1);
    assert_inactive(&server, &client, &expiring, "expired").await;
}

#[tokio::test]
async fn token_of_a_disabled_user_is_inactive() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let at = access_token(&server, &client, "disabled-at@example.com").await;
    assert_eq!(introspection(&server, &client, &at).await["active"], true);
    let user = server
        .state
        .store
        .user_by_email("disabled-at@example.com")
        .await
        .unwrap()
        .unwrap();
    server.state.store.disable_user(&user.id).await.unwrap();
    assert_inactive(&server, &client, &at, "disabled user").await;
}

#[tokio::test]
async fn another_clients_token_is_inactive_to_the_caller() {
    // I3: not for the caller.
    let server = TestServer::start().await;
    let a = server.confidential_client().await;
    let b = server.confidential_client().await;
    let b_token = access_token(&server, &b, "not-yours@example.com").await;
    assert_inactive(&server, &a, &b_token, "B's token asked by A").await;
    assert_eq!(introspection(&server, &b, &b_token).await["active"], true);
}

#[tokio::test]
async fn unauthenticated_or_public_callers_are_invalid_client() {
    // I1
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let at = access_token(&server, &client, "unauth@example.com").await;

    let resp = rp_http()
        .post(server.url("/introspect"))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_oauth_error(resp, 401, "invalid_client").await;

    let resp = rp_http()
        .post(server.url("/introspect"))
        .basic_auth(&client.client_id, Some("wrong"))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert!(header(&resp, "www-authenticate").starts_with("Basic"));
    assert_oauth_error(resp, 401, "invalid_client").await;

    // A public client authenticates nothing: it may not introspect, not even its own token.
    let public = server.public_client().await;
    let public_token = access_token(&server, &public, "public-at@example.com").await;
    let resp = introspect(&server, &public, &public_token).await;
    assert_oauth_error(resp, 401, "invalid_client").await;
}

#[tokio::test]
async fn client_secret_post_caller_may_introspect() {
    let server = TestServer::start().await;
    let client = server
        .register(ClientSpec {
            auth_method: TokenEndpointAuthMethod::ClientSecretPost,
            ..ClientSpec::confidential()
        })
        .await;
    let at = access_token(&server, &client, "post-intro@example.com").await;
    assert_eq!(introspection(&server, &client, &at).await["active"], true);
}

#[tokio::test]
async fn introspection_is_rate_limited_per_client() {
    // I1: rate-limited (RFC 7662 §4).
    let server = TestServer::start_with(|c| c.introspection.per_client_per_minute = 2).await;
    let a = server.confidential_client().await;
    let b = server.confidential_client().await;
    for _ in 0..2 {
        assert_inactive(&server, &a, "x", "within the limit").await;
    }
    let resp = introspect(&server, &a, "x").await;
    assert_eq!(header(&resp, "retry-after"), "30", "one request per 30 s");
    assert_oauth_error(resp, 429, "temporarily_unavailable").await;

    assert_inactive(&server, &b, "x", "another client has its own quota").await;

    server.clock.advance(30);
    assert_inactive(&server, &a, "x", "the quota refills with time").await;
}

#[tokio::test]
async fn missing_or_repeated_token_is_invalid_request() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let resp = post_as(&server, &client, "/introspect", vec![]).await;
    assert_oauth_error(resp, 400, "invalid_request").await;
    // RFC 6749 §3.1: a parameter without a value is as if omitted.
    let resp = post_as(&server, &client, "/introspect", vec![("token", "".into())]).await;
    assert_oauth_error(resp, 400, "invalid_request").await;
    let resp = post_as(
        &server,
        &client,
        "/introspect",
        vec![("token", "a".into()), ("token", "b".into())],
    )
    .await;
    assert_oauth_error(resp, 400, "invalid_request").await;
}

#[tokio::test]
async fn body_that_is_not_a_form_is_invalid_request() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let resp = rp_http()
        .post(server.url("/introspect"))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .json(&json!({ "token": "x" }))
        .send()
        .await
        .unwrap();
    assert_oauth_error(resp, 400, "invalid_request").await;
}

#[tokio::test]
async fn get_introspect_is_405_allowing_post() {
    let server = TestServer::start().await;
    let resp = rp_http()
        .get(server.url("/introspect"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(header(&resp, "allow"), "POST");
    assert!(header(&resp, "content-type").starts_with("application/json"));
}

#[tokio::test]
async fn discovery_names_only_the_auth_methods_that_work_at_each_endpoint() {
    let server = TestServer::start().await;
    let doc: Value = rp_http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["revocation_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(
        doc["introspection_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
}
