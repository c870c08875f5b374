//! UserInfo refusals (checklist G2, G3).

use crate::harness::{TestServer, assert_bearer_error, header, rp_http};
use serde_json::Value;

async fn tokens(server: &TestServer, email: &str) -> Value {
    let client = server.confidential_client().await;
    server.user(email).await;
    let person = server.person();
    server.tokens_for(&person, &client, email).await
}

#[tokio::test]
async fn missing_token_is_401_with_a_bearer_challenge() {
    let server = TestServer::start().await;
    let resp = rp_http().get(server.url("/userinfo")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert!(header(&resp, "www-authenticate").starts_with("Bearer"));
}

#[tokio::test]
async fn garbage_and_tampered_tokens_are_invalid_token() {
    let server = TestServer::start().await;
    let body = tokens(&server, "tamper@example.com").await;
    let (s, w, _) = server.userinfo("not-a-jwt").await;
    assert_bearer_error(s, &w, "invalid_token", "garbage");

    let at = body["access_token"].as_str().unwrap();
    let mut parts: Vec<String> = at.split('.').map(str::to_string).collect();
    // Flip one signature character.
    let sig = parts[2].clone();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    parts[2] = format!("{flipped}{}", &sig[1..]);
    let (s, w, _) = server.userinfo(&parts.join(".")).await;
    assert_bearer_error(s, &w, "invalid_token", "tampered signature");

    // alg none with the same claims.
    let none_header = base64_url(br#"{"alg":"none","typ":"at+jwt"}"#);
    let unsigned = format!("{none_header}.{}.", at.split('.').nth(1).unwrap());
    let (s, w, _) = server.userinfo(&unsigned).await;
    assert_bearer_error(s, &w, "invalid_token", "alg none");
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn id_token_used_as_bearer_is_invalid_token() {
    let server = TestServer::start().await;
    let body = tokens(&server, "idtoken@example.com").await;
    let (s, w, _) = server.userinfo(body["id_token"].as_str().unwrap()).await;
    assert_bearer_error(s, &w, "invalid_token", "ID token as bearer");
}

#[tokio::test]
async fn expired_access_token_is_invalid_token() {
    let server = TestServer::start().await;
    let body = tokens(&server, "expiredat@example.com").await;
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(server.userinfo(at).await.0, 200);
    server
        .clock
        .advance(server.state.config.access_token_ttl + 120);
    let (s, w, _) = server.userinfo(at).await;
    assert_bearer_error(s, &w, "invalid_token", "expired");
}

#[tokio::test]
async fn access_token_in_the_query_is_rejected() {
    let server = TestServer::start().await;
    let body = tokens(&server, "query@example.com").await;
    let at = body["access_token"].as_str().unwrap();
    let resp = rp_http()
        .get(server.url("/userinfo"))
        .query(&[("access_token", at)])
        .send()
        .await
        .unwrap();
    // RFC 6750 §2.3 allows the query; Sesame refuses it (tokens in URLs leak into logs).
    let status = resp.status().as_u16();
    let www = header(&resp, "www-authenticate");
    assert_bearer_error(status, &www, "invalid_token", "token in the query");
    let text = resp.text().await.unwrap_or_default();
    assert!(
        !text.contains("query@example.com"),
        "no claims for a query token"
    );
}

#[tokio::test]
async fn bearer_scheme_is_case_insensitive_but_other_schemes_are_refused() {
    let server = TestServer::start().await;
    let body = tokens(&server, "scheme@example.com").await;
    let at = body["access_token"].as_str().unwrap();
    let resp = rp_http()
        .get(server.url("/userinfo"))
        .header("Authorization", format!("bearer {at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "RFC 9110 §11.1: auth scheme is case-insensitive"
    );
    let resp = rp_http()
        .get(server.url("/userinfo"))
        .header("Authorization", format!("Basic {at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn a_disabled_users_token_is_invalid_token() {
    let server = TestServer::start().await;
    let body = tokens(&server, "disabled@example.com").await;
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(server.userinfo(at).await.0, 200);
    let user = server
        .state
        .store
        .user_by_email("disabled@example.com")
        .await
        .unwrap()
        .unwrap();
    server.state.store.disable_user(&user.id).await.unwrap();
    let (s, w, body) = server.userinfo(at).await;
    assert_bearer_error(s, &w, "invalid_token", "disabled user");
    assert!(!body.contains("disabled@example.com"), "{body}");
}

#[tokio::test]
async fn a_clients_own_token_gets_no_userinfo() {
    // A client_credentials token names the client as sub and never carries openid: it is a
    // valid token, but not one for UserInfo (OIDC Core §5.3: openid scope required).
    let server = TestServer::start().await;
    let client = server
        .register(crate::harness::ClientSpec {
            allowed_scopes: sesame::model::Scope::parse("openid orders:read").unwrap(),
            ..crate::harness::ClientSpec::confidential()
        })
        .await;
    let resp = server
        .token_request(&client, vec![("grant_type", "client_credentials".into())])
        .await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let (status, www, _) = server
        .userinfo(body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 403, "RFC 6750 §3.1 insufficient_scope");
    assert!(www.contains("error=\"insufficient_scope\""), "{www}");
}

#[tokio::test]
async fn userinfo_returns_claims_the_token_carries_from_the_claims_parameter() {
    // OIDC Core §5.5: a claim requested for UserInfo is returned even without its scope. The
    // token is minted as the token endpoint would for such a request.
    let server = TestServer::start().await;
    let user = server.user("asked@example.com").await;
    let now = server.now();
    let claims = sesame::oauth::tokens::AccessTokenClaims {
        iss: server.issuer.clone(),
        sub: user.id.0.clone(),
        aud: server.issuer.clone(),
        client_id: server.confidential_client().await.client_id,
        scope: "openid".into(),
        iat: now,
        exp: now + 300,
        jti: sesame::secret::random_id(),
        auth_time: Some(now),
        sid: Some("sid-x".into()),
        userinfo_claims: vec!["name".into()],
        gid: None,
    };
    let at = sesame::oauth::tokens::mint_access_token(&server.state.keys, &claims).unwrap();
    let (status, _, body) = server.userinfo(&at).await;
    assert_eq!(status, 200, "{body}");
    let info: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        info,
        serde_json::json!({"sub": user.id.0, "name": "Test Person"}),
        "name by request, email not (neither scope nor request)"
    );
}
