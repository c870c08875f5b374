//! The revocation endpoint, RFC 7009, for access tokens (checklist H1, H3–H5), driven as a
//! relying party would: its own credentials, a form body, 200 whatever the token was.

use crate::harness::{
    ClientSpec, TestClient, TestServer, assert_bearer_error, assert_oauth_error, header, rp_http,
};
use sesame::model::TokenEndpointAuthMethod;

/// POSTs `form` to `path` authenticating as `client` by its registered method (Basic,
/// `client_secret_post`, or `client_id` alone for a public client), as `/token` is called.
pub async fn post_as(
    server: &TestServer,
    client: &TestClient,
    path: &str,
    mut form: Vec<(&str, String)>,
) -> reqwest::Response {
    let mut req = rp_http().post(server.url(path));
    let secret = client.secret.clone().unwrap_or_default();
    match client.auth_method {
        TokenEndpointAuthMethod::ClientSecretBasic => {
            req = req.basic_auth(&client.client_id, Some(secret))
        }
        TokenEndpointAuthMethod::ClientSecretPost => {
            form.push(("client_id", client.client_id.clone()));
            form.push(("client_secret", secret));
        }
        TokenEndpointAuthMethod::None => form.push(("client_id", client.client_id.clone())),
    }
    req.form(&form).send().await.expect("POST")
}

/// A person's access token for `client`, after signing in as a fresh user `email`.
pub async fn access_token(server: &TestServer, client: &TestClient, email: &str) -> String {
    server.user(email).await;
    let body = server.tokens_for(&server.person(), client, email).await;
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

async fn revoke(
    server: &TestServer,
    client: &TestClient,
    token: &str,
    hint: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("token", token.to_string())];
    if let Some(hint) = hint {
        form.push(("token_type_hint", hint.to_string()));
    }
    post_as(server, client, "/revoke", form).await
}

/// RFC 7009 §2.2: 200, no body, and never cached.
async fn assert_revocation_ok(resp: reqwest::Response, what: &str) {
    assert_eq!(resp.status(), 200, "{what}");
    assert!(
        header(&resp, "cache-control").contains("no-store"),
        "{what}"
    );
    assert_eq!(resp.text().await.unwrap(), "", "{what}: empty body");
}

async fn userinfo_status(server: &TestServer, token: &str) -> u16 {
    server.userinfo(token).await.0
}

#[tokio::test]
async fn revoked_access_token_is_refused_by_userinfo() {
    // H3
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let at = access_token(&server, &client, "revoke-at@example.com").await;
    assert_eq!(userinfo_status(&server, &at).await, 200);

    assert_revocation_ok(
        revoke(&server, &client, &at, Some("access_token")).await,
        "revoke",
    )
    .await;
    let (status, www, _) = server.userinfo(&at).await;
    assert_bearer_error(status, &www, "invalid_token", "after revocation");

    // Revoking it again is 200 and changes nothing (H4: already revoked).
    assert_revocation_ok(revoke(&server, &client, &at, None).await, "again").await;
    assert_eq!(userinfo_status(&server, &at).await, 401);
}

#[tokio::test]
async fn wrong_or_unknown_token_type_hint_still_revokes() {
    // H5, second half: the hint is only a hint (RFC 7009 §2.1).
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    for (n, hint) in ["refresh_token", "id_token", "no_such_type"]
        .into_iter()
        .enumerate()
    {
        let at = access_token(&server, &client, &format!("hint{n}@example.com")).await;
        assert_revocation_ok(revoke(&server, &client, &at, Some(hint)).await, hint).await;
        assert_eq!(userinfo_status(&server, &at).await, 401, "hint {hint}");
    }
}

#[tokio::test]
async fn another_clients_token_is_left_alone_with_200() {
    // H5: B's token sent by A.
    let server = TestServer::start().await;
    let a = server.confidential_client().await;
    let b = server.confidential_client().await;
    let b_token = access_token(&server, &b, "other-client@example.com").await;
    assert_revocation_ok(revoke(&server, &a, &b_token, None).await, "A revokes B's").await;
    assert_eq!(
        userinfo_status(&server, &b_token).await,
        200,
        "B's token still works"
    );
}

#[tokio::test]
async fn unknown_garbage_and_expired_tokens_get_200() {
    // H4
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let at = access_token(&server, &client, "garbage@example.com").await;
    let mut tampered: Vec<String> = at.split('.').map(str::to_string).collect();
    tampered[2] = format!(
        "{}{}",
        if tampered[2].starts_with('A') {
            "B"
        } else {
            "A"
        },
        &tampered[2][1..]
    );
    for token in [
        "not-a-token".to_string(),
        "a.b.c".to_string(),
        "x".repeat(2000),
        tampered.join("."),
    ] {
        assert_revocation_ok(revoke(&server, &client, &token, None).await, &token).await;
    }
    assert_eq!(
        userinfo_status(&server, &at).await,
        200,
        "a forged copy revoked nothing"
    );

    server
        .clock
        .advance(server.state.config.access_token_ttl + 1);
    assert_revocation_ok(revoke(&server, &client, &at, None).await, "expired").await;
}

#[tokio::test]
async fn public_client_revokes_its_own_token_with_its_client_id() {
    let server = TestServer::start().await;
    let client = server.public_client().await;
    let at = access_token(&server, &client, "public-revoke@example.com").await;
    assert_revocation_ok(revoke(&server, &client, &at, None).await, "public").await;
    assert_eq!(userinfo_status(&server, &at).await, 401);
}

#[tokio::test]
async fn client_secret_post_client_revokes_with_its_method() {
    let server = TestServer::start().await;
    let client = server
        .register(ClientSpec {
            auth_method: TokenEndpointAuthMethod::ClientSecretPost,
            ..ClientSpec::confidential()
        })
        .await;
    let at = access_token(&server, &client, "post-revoke@example.com").await;
    assert_revocation_ok(revoke(&server, &client, &at, None).await, "post").await;
    assert_eq!(userinfo_status(&server, &at).await, 401);
}

#[tokio::test]
async fn confidential_client_without_valid_authentication_is_invalid_client() {
    // H1
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let at = access_token(&server, &client, "noauth@example.com").await;

    // No credentials at all.
    let resp = rp_http()
        .post(server.url("/revoke"))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_oauth_error(resp, 401, "invalid_client").await;

    // client_id alone, as a public client would: the client is confidential.
    let resp = rp_http()
        .post(server.url("/revoke"))
        .form(&[("token", at.as_str()), ("client_id", &client.client_id)])
        .send()
        .await
        .unwrap();
    assert_oauth_error(resp, 401, "invalid_client").await;

    // A wrong secret over Basic gets the Basic challenge.
    let resp = rp_http()
        .post(server.url("/revoke"))
        .basic_auth(&client.client_id, Some("wrong"))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert!(header(&resp, "www-authenticate").starts_with("Basic"));
    assert_oauth_error(resp, 401, "invalid_client").await;

    assert_eq!(
        userinfo_status(&server, &at).await,
        200,
        "nothing was revoked"
    );
}

#[tokio::test]
async fn missing_or_repeated_token_is_invalid_request() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let resp = post_as(&server, &client, "/revoke", vec![]).await;
    assert_oauth_error(resp, 400, "invalid_request").await;
    // RFC 6749 §3.1: a parameter without a value is as if omitted.
    let resp = post_as(&server, &client, "/revoke", vec![("token", "".into())]).await;
    assert_oauth_error(resp, 400, "invalid_request").await;

    let resp = post_as(
        &server,
        &client,
        "/revoke",
        vec![("token", "a".into()), ("token", "b".into())],
    )
    .await;
    assert_oauth_error(resp, 400, "invalid_request").await;

    let resp = post_as(
        &server,
        &client,
        "/revoke",
        vec![
            ("token", "a".into()),
            ("token_type_hint", "access_token".into()),
            ("token_type_hint", "refresh_token".into()),
        ],
    )
    .await;
    assert_oauth_error(resp, 400, "invalid_request").await;
}

#[tokio::test]
async fn body_that_is_not_a_form_is_invalid_request() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let resp = rp_http()
        .post(server.url("/revoke"))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .json(&serde_json::json!({ "token": "x" }))
        .send()
        .await
        .unwrap();
    assert_oauth_error(resp, 400, "invalid_request").await;
}

#[tokio::test]
async fn get_revoke_is_405_allowing_post() {
    let server = TestServer::start().await;
    let resp = rp_http().get(server.url("/revoke")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(header(&resp, "allow"), "POST");
    assert!(
        header(&resp, "content-type").starts_with("application/json"),
        "JSON, like every answer of the endpoint"
    );
}
