//! Refresh tokens (issue 8 item 1; checklist E1–E6), driven as a relying party would: the
//! `openidconnect` crate for the happy path, the token endpoint by hand for the edges, and the
//! pinned clock for everything that depends on time.

use crate::code_flow::relying_party;
use crate::harness::{
    ClientSpec, PASSWORD, TestClient, TestServer, assert_bearer_error, assert_oauth_error, header,
    jwt_claims, query_map, rp_http,
};
use crate::revocation::post_as;
use openidconnect::core::CoreIdTokenClaims;
use openidconnect::{
    AuthorizationCode, Nonce, OAuth2TokenResponse, PkceCodeChallenge, Scope, TokenResponse,
};
use serde_json::Value;
use sesame::model::{Client, GrantType, RefreshTokenPolicy, Scope as Scopes};
use sesame::secret::{Secret, random_token};

/// What an offline client asks for.
const OFFLINE_SCOPE: &str = "openid email offline_access";

/// A first-party client allowed the refresh grant and `offline_access`, with `policy`.
async fn refresh_client(
    server: &TestServer,
    public: bool,
    policy: RefreshTokenPolicy,
) -> TestClient {
    let spec = if public {
        ClientSpec::public()
    } else {
        ClientSpec::confidential()
    };
    let client_id = format!("client-{}", sesame::secret::random_id());
    let secret = (!public).then(random_token);
    let client = Client {
        client_id: client_id.clone(),
        name: "Offline RP".into(),
        secret_hash: secret.as_ref().map(Secret::hash),
        redirect_uris: spec.redirect_uris.clone(),
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        allowed_scopes: Scopes::parse("openid email profile offline_access").unwrap(),
        token_endpoint_auth_method: spec.auth_method,
        public,
        first_party: true,
        created_at: server.now(),
        refresh_tokens: policy,
        allowed_origins: vec![],
        backchannel_logout_uri: None,
    };
    server.state.store.create_client(&client).await.unwrap();
    TestClient {
        client_id,
        secret: secret.map(|s| s.expose().to_string()),
        redirect_uri: spec.redirect_uris[0].clone(),
        auth_method: spec.auth_method,
    }
}

/// Signs `email` in (a fresh user) for `client` with `scope` and redeems the code.
async fn tokens_with_scope(
    server: &TestServer,
    client: &TestClient,
    email: &str,
    scope: &str,
) -> Value {
    server.user(email).await;
    let person = server.person();
    let request = server.auth_request(client, &[("scope", scope)]);
    let callback = person.sign_in(&request.url, email, PASSWORD).await;
    let code = query_map(&callback)
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {callback}"));
    let resp = server.redeem(client, &code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200, "code redemption");
    resp.json().await.unwrap()
}

/// Tokens for `offline_access`; returns the response with its refresh token checked present.
async fn offline_tokens(server: &TestServer, client: &TestClient, email: &str) -> Value {
    let body = tokens_with_scope(server, client, email, OFFLINE_SCOPE).await;
    assert!(body["refresh_token"].is_string(), "a refresh token: {body}");
    body
}

fn rt(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_string()
}

fn at(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// `grant_type=refresh_token` as `client`, with an optional `scope`.
async fn refresh(
    server: &TestServer,
    client: &TestClient,
    token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token".to_string()),
        ("refresh_token", token.to_string()),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope.to_string()));
    }
    server.token_request(client, form).await
}

/// A refresh that must succeed; returns its JSON.
async fn refreshed(server: &TestServer, client: &TestClient, token: &str) -> Value {
    let resp = refresh(server, client, token, None).await;
    assert_eq!(resp.status(), 200, "refresh");
    resp.json().await.unwrap()
}

async fn refused(server: &TestServer, client: &TestClient, token: &str, what: &str) {
    let resp = refresh(server, client, token, None).await;
    let body = assert_oauth_error(resp, 400, "invalid_grant").await;
    assert!(body["error_description"].is_string(), "{what}: {body}");
}

async fn userinfo_refuses(server: &TestServer, token: &str, what: &str) {
    let (status, www, _) = server.userinfo(token).await;
    assert_bearer_error(status, &www, "invalid_token", what);
}

#[tokio::test]
async fn offline_access_via_openidconnect_rotates_and_the_refreshed_id_token_keeps_the_login() {
    let server = TestServer::start().await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let user = server.user("offline@example.com").await;
    let rp = relying_party(&server, &client).await;
    let http = rp_http();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _csrf, nonce) = rp
        .authorize_url(
            openidconnect::core::CoreAuthenticationFlow::AuthorizationCode,
            openidconnect::CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let callback = server
        .person()
        .sign_in(url.as_str(), "offline@example.com", PASSWORD)
        .await;
    let code = query_map(&callback).get("code").expect("code").clone();
    let first = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let first_claims: CoreIdTokenClaims = first
        .id_token()
        .expect("id_token")
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("ID token verifies")
        .clone();
    let first_rt = first.refresh_token().expect("refresh token").clone();

    server.clock.advance(120);
    let second = rp
        .exchange_refresh_token(&first_rt)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh via openidconnect");
    let second_rt = second.refresh_token().expect("a rotated refresh token");
    assert_ne!(second_rt.secret(), first_rt.secret(), "every use rotates");
    assert_ne!(
        second.access_token().secret(),
        first.access_token().secret()
    );
    // OIDC Core §12.2: same iss sub aud auth_time (and sid), a new iat, no nonce.
    let refreshed: CoreIdTokenClaims = second
        .id_token()
        .expect("a refreshed ID token")
        .claims(&rp.id_token_verifier(), |nonce: Option<&Nonce>| {
            nonce.map_or(Ok(()), |_| Err("a refreshed ID token has no nonce".into()))
        })
        .expect("the refreshed ID token verifies")
        .clone();
    assert_eq!(refreshed.issuer(), first_claims.issuer());
    assert_eq!(refreshed.subject().as_str(), user.id.0);
    assert_eq!(refreshed.audiences(), first_claims.audiences());
    assert_eq!(refreshed.auth_time(), first_claims.auth_time());
    assert_eq!(
        refreshed.issue_time().timestamp(),
        first_claims.issue_time().timestamp() + 120
    );
    let raw_jwt = |token: &openidconnect::core::CoreIdToken| {
        let value = serde_json::to_value(token).unwrap();
        jwt_claims(value.as_str().expect("an ID token serialises as its JWT"))
    };
    let raw_first = raw_jwt(first.id_token().unwrap());
    let raw = raw_jwt(second.id_token().unwrap());
    assert_eq!(raw["sid"], raw_first["sid"]);
    assert!(raw.get("nonce").is_none(), "{raw}");
    // The new access token works; the rotated-away refresh token's pair is the newest.
    let (status, _, _) = server.userinfo(second.access_token().secret()).await;
    assert_eq!(status, 200);
    // The response is not cached (checklist E6).
    let resp = refresh(&server, &client, second_rt.secret(), None).await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "cache-control").contains("no-store"));
    assert!(header(&resp, "pragma").contains("no-cache"));
}

#[tokio::test]
async fn refresh_tokens_follow_offline_access_and_the_clients_policy() {
    let server = TestServer::start().await;
    let offline = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let always = refresh_client(&server, false, RefreshTokenPolicy::Always).await;
    let never = refresh_client(&server, false, RefreshTokenPolicy::Never).await;
    let online_scope = "openid email";

    let body = tokens_with_scope(&server, &offline, "a@example.com", online_scope).await;
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access: {body}"
    );
    let body = tokens_with_scope(&server, &offline, "b@example.com", OFFLINE_SCOPE).await;
    assert!(body["refresh_token"].is_string());
    let body = tokens_with_scope(&server, &always, "c@example.com", online_scope).await;
    assert!(body["refresh_token"].is_string(), "always: {body}");
    let body = tokens_with_scope(&server, &never, "d@example.com", OFFLINE_SCOPE).await;
    assert!(body.get("refresh_token").is_none(), "never: {body}");
    // A client without the refresh grant gets none either (the test default).
    let plain = server.confidential_client().await;
    let body = tokens_with_scope(&server, &plain, "e@example.com", online_scope).await;
    assert!(body.get("refresh_token").is_none(), "no grant: {body}");
    let resp = refresh(&server, &plain, "anything", None).await;
    assert_oauth_error(resp, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_family() {
    let server = TestServer::start().await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let first = offline_tokens(&server, &client, "reuse@example.com").await;
    let second = refreshed(&server, &client, &rt(&first)).await;
    server.clock.advance(30);
    let third = refreshed(&server, &client, &rt(&second)).await;
    for body in [&first, &second, &third] {
        let (status, _, _) = server.userinfo(&at(body)).await;
        assert_eq!(status, 200, "every access token works before the reuse");
    }

    // The first token again: someone kept a copy.
    refused(&server, &client, &rt(&first), "a reused token").await;
    // The whole family is revoked: the newest refresh token too, and every access token.
    refused(
        &server,
        &client,
        &rt(&third),
        "the newest token after reuse",
    )
    .await;
    for (i, body) in [&first, &second, &third].into_iter().enumerate() {
        userinfo_refuses(
            &server,
            &at(body),
            &format!("access token {i} of the family"),
        )
        .await;
    }
    // Another grant of the same user and client is untouched.
    let other = offline_tokens(&server, &client, "reuse2@example.com").await;
    refreshed(&server, &client, &rt(&other)).await;
}

#[tokio::test]
async fn a_retry_within_the_window_gets_the_identical_pair_and_after_it_is_reuse() {
    let server = TestServer::start().await;
    let client = refresh_client(&server, true, RefreshTokenPolicy::OfflineAccess).await;
    let first = offline_tokens(&server, &client, "retry@example.com").await;
    let pair = refreshed(&server, &client, &rt(&first)).await;

    // The response was lost; the app retries the very same request.
    server.clock.advance(9);
    let again = refreshed(&server, &client, &rt(&first)).await;
    for member in [
        "access_token",
        "refresh_token",
        "id_token",
        "scope",
        "token_type",
    ] {
        assert_eq!(again[member], pair[member], "{member} is the same");
    }
    assert_eq!(
        again["expires_in"].as_i64().unwrap(),
        pair["expires_in"].as_i64().unwrap() - 9,
        "the same access token, 9 s older"
    );
    // The retried pair is the family's newest: it works.
    let (status, _, _) = server.userinfo(&at(&pair)).await;
    assert_eq!(status, 200);

    // The window (10 s) is over: the old token is now reuse, and the family dies.
    server.clock.advance(1);
    refused(&server, &client, &rt(&first), "after the window").await;
    refused(&server, &client, &rt(&pair), "the pair the retry got").await;
    userinfo_refuses(&server, &at(&pair), "the family's access token").await;
}

#[tokio::test]
async fn a_different_request_within_the_window_is_reuse() {
    let server = TestServer::start().await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let first = offline_tokens(&server, &client, "differ@example.com").await;
    let pair = refreshed(&server, &client, &rt(&first)).await;
    let resp = refresh(&server, &client, &rt(&first), Some("openid")).await;
    assert_oauth_error(resp, 400, "invalid_grant").await;
    refused(&server, &client, &rt(&pair), "the family after reuse").await;
}

#[tokio::test]
async fn with_the_retry_window_off_a_repeat_is_reuse() {
    let server = TestServer::start_with(|c| c.tokens.refresh_retry_window = 0).await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let first = offline_tokens(&server, &client, "nowindow@example.com").await;
    let pair = refreshed(&server, &client, &rt(&first)).await;
    refused(&server, &client, &rt(&first), "an immediate repeat").await;
    refused(&server, &client, &rt(&pair), "the family after reuse").await;
}

#[tokio::test]
async fn two_concurrent_refreshes_yield_one_pair() {
    let server = TestServer::start().await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let first = offline_tokens(&server, &client, "race@example.com").await;
    let token = rt(&first);
    let (a, b) = tokio::join!(
        refresh(&server, &client, &token, None),
        refresh(&server, &client, &token, None)
    );
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["refresh_token"], b["refresh_token"], "one new pair");
    assert_eq!(a["access_token"], b["access_token"], "one new pair");
    // That pair is the family's current one.
    refreshed(&server, &client, &rt(&a)).await;
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let server = TestServer::start().await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let first = offline_tokens(&server, &client, "narrow@example.com").await;

    let resp = refresh(&server, &client, &rt(&first), Some("openid profile")).await;
    let body = assert_oauth_error(resp, 400, "invalid_scope").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("profile"),
        "{body}"
    );
    // A refused widening spends nothing: the token is still the current one.
    let resp = refresh(&server, &client, &rt(&first), Some("email")).await;
    assert_eq!(resp.status(), 200);
    let narrow: Value = resp.json().await.unwrap();
    assert_eq!(narrow["scope"], "email");
    assert_eq!(jwt_claims(&at(&narrow))["scope"], "email");
    assert!(narrow.get("id_token").is_none(), "no openid, no ID token");

    // The refresh token keeps the grant's scope (RFC 6749 §6).
    server.clock.advance(30);
    let full = refreshed(&server, &client, &rt(&narrow)).await;
    assert_eq!(full["scope"], OFFLINE_SCOPE);
    assert!(full["id_token"].is_string());
}

#[tokio::test]
async fn an_unused_refresh_token_expires_after_the_idle_lifetime() {
    let server = TestServer::start_with(|c| {
        c.tokens.refresh_token_ttl = 10_000;
        c.tokens.refresh_token_idle_ttl = 1_000;
    })
    .await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let first = offline_tokens(&server, &client, "idle@example.com").await;
    // Used within the idle lifetime, each time: the family lives on.
    server.clock.advance(999);
    let second = refreshed(&server, &client, &rt(&first)).await;
    server.clock.advance(999);
    let third = refreshed(&server, &client, &rt(&second)).await;
    // Unused for the idle lifetime: expired.
    server.clock.advance(1_000);
    refused(&server, &client, &rt(&third), "idle too long").await;
}

#[tokio::test]
async fn the_absolute_lifetime_ends_the_family_however_often_it_is_used() {
    let server = TestServer::start_with(|c| {
        c.tokens.refresh_token_ttl = 3_000;
        c.tokens.refresh_token_idle_ttl = 2_000;
    })
    .await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let mut body = offline_tokens(&server, &client, "absolute@example.com").await;
    for _ in 0..2 {
        server.clock.advance(1_400);
        body = refreshed(&server, &client, &rt(&body)).await;
    }
    // 2 800 s in, used 200 s ago: the idle lifetime would allow more, the absolute one not.
    server.clock.advance(200);
    refused(&server, &client, &rt(&body), "past the absolute lifetime").await;
}

#[tokio::test]
async fn a_disabled_user_cannot_refresh() {
    let server = TestServer::start().await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let body = offline_tokens(&server, &client, "disabled@example.com").await;
    let user = server
        .state
        .store
        .user_by_email("disabled@example.com")
        .await
        .unwrap()
        .unwrap();
    server.state.store.disable_user(&user.id).await.unwrap();
    refused(&server, &client, &rt(&body), "a disabled user").await;
}

#[tokio::test]
async fn a_password_change_ends_every_earlier_grant() {
    let server = TestServer::start().await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let body = offline_tokens(&server, &client, "changed@example.com").await;
    let user = server
        .state
        .store
        .user_by_email("changed@example.com")
        .await
        .unwrap()
        .unwrap();
    let refreshed_once = refreshed(&server, &client, &rt(&body)).await;
    server.clock.advance(60);
    // The password changes (a change or a reset writes the new hash and the time).
    server
        .state
        .store
        .set_password_hash(&user.id, &user.password_hash, server.now())
        .await
        .unwrap();
    refused(
        &server,
        &client,
        &rt(&refreshed_once),
        "after a password change",
    )
    .await;
    userinfo_refuses(&server, &at(&refreshed_once), "the grant's access token").await;
}

#[tokio::test]
async fn another_clients_refresh_token_is_refused_and_left_alone() {
    let server = TestServer::start().await;
    let owner = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let thief = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let body = offline_tokens(&server, &owner, "owner@example.com").await;
    refused(
        &server,
        &thief,
        &rt(&body),
        "client B's token used by client A",
    )
    .await;
    refreshed(&server, &owner, &rt(&body)).await;
}

#[tokio::test]
async fn a_deleted_client_can_neither_refresh_nor_use_its_access_tokens() {
    let server = TestServer::start().await;
    let client = refresh_client(&server, true, RefreshTokenPolicy::OfflineAccess).await;
    let body = offline_tokens(&server, &client, "gone@example.com").await;
    server
        .state
        .store
        .delete_client(&client.client_id)
        .await
        .unwrap();
    let resp = refresh(&server, &client, &rt(&body), None).await;
    assert_oauth_error(resp, 401, "invalid_client").await;
    userinfo_refuses(&server, &at(&body), "a deleted client's access token").await;
}

#[tokio::test]
async fn a_replayed_code_revokes_the_refresh_tokens_it_issued() {
    let server = TestServer::start().await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    server.user("replay@example.com").await;
    let request = server.auth_request(&client, &[("scope", OFFLINE_SCOPE)]);
    let callback = server
        .person()
        .sign_in(&request.url, "replay@example.com", PASSWORD)
        .await;
    let code = query_map(&callback).get("code").cloned().unwrap();
    let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
    assert_oauth_error(resp, 400, "invalid_grant").await;
    refused(
        &server,
        &client,
        &rt(&body),
        "the replayed code's refresh token",
    )
    .await;
}

#[tokio::test]
async fn garbage_and_missing_refresh_tokens_are_refused() {
    let server = TestServer::start().await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    refused(&server, &client, "not-a-token", "garbage").await;
    let resp = server
        .token_request(&client, vec![("grant_type", "refresh_token".into())])
        .await;
    assert_oauth_error(resp, 400, "invalid_request").await;
}

async fn introspection(server: &TestServer, caller: &TestClient, token: &str) -> Value {
    let resp = post_as(server, caller, "/introspect", vec![("token", token.into())]).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn revoke(server: &TestServer, caller: &TestClient, token: &str, hint: &str) {
    let resp = post_as(
        server,
        caller,
        "/revoke",
        vec![("token", token.into()), ("token_type_hint", hint.into())],
    )
    .await;
    assert_eq!(resp.status(), 200, "RFC 7009 §2.2: 200 whatever the token");
}

#[tokio::test]
async fn revoking_any_refresh_token_of_a_family_revokes_the_grant() {
    let server = TestServer::start().await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let first = offline_tokens(&server, &client, "revoke@example.com").await;
    let second = refreshed(&server, &client, &rt(&first)).await;
    // A rotated-away token, with a wrong hint (a hint only): the grant goes.
    revoke(&server, &client, &rt(&first), "access_token").await;
    refused(
        &server,
        &client,
        &rt(&second),
        "the newest token of a revoked family",
    )
    .await;
    for body in [&first, &second] {
        userinfo_refuses(&server, &at(body), "an access token of the revoked grant").await;
        assert_eq!(
            introspection(&server, &client, &at(body)).await,
            serde_json::json!({"active": false})
        );
    }
    // Again: still 200, nothing changes.
    revoke(&server, &client, &rt(&second), "refresh_token").await;
}

#[tokio::test]
async fn another_clients_refresh_token_is_not_revoked() {
    let server = TestServer::start().await;
    let owner = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let other = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let body = offline_tokens(&server, &owner, "kept@example.com").await;
    revoke(&server, &other, &rt(&body), "refresh_token").await;
    refreshed(&server, &owner, &rt(&body)).await;
}

#[tokio::test]
async fn introspection_shows_only_the_current_refresh_token_of_a_live_family() {
    let server = TestServer::start().await;
    let client = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let other = refresh_client(&server, false, RefreshTokenPolicy::OfflineAccess).await;
    let first = offline_tokens(&server, &client, "intro@example.com").await;
    let user = server
        .state
        .store
        .user_by_email("intro@example.com")
        .await
        .unwrap()
        .unwrap();
    let now = server.now();
    let active = introspection(&server, &client, &rt(&first)).await;
    assert_eq!(
        active,
        serde_json::json!({
            "active": true,
            "token_type": "refresh_token",
            "scope": OFFLINE_SCOPE,
            "client_id": client.client_id,
            "username": "intro@example.com",
            "sub": user.id.0,
            "iss": server.issuer,
            "aud": server.issuer,
            "iat": now,
            "exp": now + 14 * 86_400,
        })
    );
    let inactive = serde_json::json!({"active": false});
    assert_eq!(
        introspection(&server, &other, &rt(&first)).await,
        inactive,
        "not the caller's"
    );

    let second = refreshed(&server, &client, &rt(&first)).await;
    assert_eq!(
        introspection(&server, &client, &rt(&first)).await,
        inactive,
        "rotated away"
    );
    assert_eq!(
        introspection(&server, &client, &rt(&second)).await["active"],
        true
    );
    revoke(&server, &client, &rt(&second), "refresh_token").await;
    assert_eq!(
        introspection(&server, &client, &rt(&second)).await,
        inactive,
        "revoked"
    );
}
