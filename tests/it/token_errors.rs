//! The token endpoint's refusals (checklist D1–D8, G2 for replayed codes).

use crate::harness::{
    ClientSpec, PASSWORD, TestClient, TestServer, assert_bearer_error, assert_oauth_error, header,
    jwt_claims, pkce_pair, query_map, rp_http, s256,
};
use serde_json::Value;
use sesame::model::Scope;

async fn setup(email: &str) -> (TestServer, TestClient) {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user(email).await;
    (server, client)
}

#[tokio::test]
async fn wrong_or_missing_code_verifier_is_invalid_grant() {
    let (server, client) = setup("pkce@example.com").await;
    let person = server.person();
    let (code, _) = server.code_for(&person, &client, "pkce@example.com").await;
    let (other_verifier, _) = pkce_pair();
    let resp = server.redeem(&client, &code, Some(&other_verifier)).await;
    assert_oauth_error(resp, 400, "invalid_grant").await;

    let (code, _) = server.code_for(&person, &client, "pkce@example.com").await;
    let resp = server.redeem(&client, &code, None).await;
    assert_oauth_error(resp, 400, "invalid_grant").await;
}

#[tokio::test]
async fn verifier_without_a_challenge_is_invalid_grant() {
    // RFC 9700 §4.8.2: a PKCE downgrade.
    let (server, client) = setup("downgrade@example.com").await;
    let person = server.person();
    let request = server.auth_request(
        &client,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    );
    let callback = person
        .sign_in(&request.url, "downgrade@example.com", PASSWORD)
        .await;
    let code = query_map(&callback)["code"].clone();
    let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
    assert_oauth_error(resp, 400, "invalid_grant").await;
}

#[tokio::test]
async fn confidential_client_may_omit_pkce() {
    let (server, client) = setup("nopkce@example.com").await;
    let person = server.person();
    let request = server.auth_request(
        &client,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    );
    let callback = person
        .sign_in(&request.url, "nopkce@example.com", PASSWORD)
        .await;
    let code = query_map(&callback)["code"].clone();
    let resp = server.redeem(&client, &code, None).await;
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
}

#[tokio::test]
async fn malformed_code_verifier_is_rejected() {
    // RFC 7636 §4.1: 43–128 unreserved characters.
    let (server, client) = setup("shortpkce@example.com").await;
    let person = server.person();
    let short = "abc";
    let request = server.auth_request(&client, &[("code_challenge", &s256(short))]);
    let callback = person
        .sign_in(&request.url, "shortpkce@example.com", PASSWORD)
        .await;
    let code = query_map(&callback)["code"].clone();
    let resp = server.redeem(&client, &code, Some(short)).await;
    // A parameter of the wrong form is a malformed request (RFC 6749 §5.2).
    assert_oauth_error(resp, 400, "invalid_request").await;
}

#[tokio::test]
async fn code_redeemed_twice_is_invalid_grant_and_revokes_the_first_access_token() {
    let (server, client) = setup("replay@example.com").await;
    let person = server.person();
    let (code, request) = server
        .code_for(&person, &client, "replay@example.com")
        .await;
    let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let at = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(server.userinfo(&at).await.0, 200, "first token works");

    server.clock.advance(30);
    let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
    assert_oauth_error(resp, 400, "invalid_grant").await;
    let (status, www, _) = server.userinfo(&at).await;
    assert_bearer_error(
        status,
        &www,
        "invalid_token",
        "the first redemption's token is revoked",
    );
}

#[tokio::test]
async fn concurrent_redemptions_yield_one_token_at_most() {
    let (server, client) = setup("race@example.com").await;
    let person = server.person();
    let (code, request) = server.code_for(&person, &client, "race@example.com").await;
    let attempts = (0..8).map(|_| server.redeem(&client, &code, Some(&request.verifier)));
    let results = futures_util::future::join_all(attempts).await;
    let ok = results.iter().filter(|r| r.status() == 200).count();
    assert_eq!(ok, 1, "exactly one of 8 concurrent redemptions succeeds");
    let mut winner = None;
    for r in results {
        match r.status().as_u16() {
            200 => winner = Some(r.json::<Value>().await.unwrap()),
            400 => assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant"),
            other => panic!("redemption answered {other}"),
        }
    }
    // The losers were replays: the winner's access token is revoked.
    let at = winner.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(server.userinfo(&at).await.0, 401);
}

#[tokio::test]
async fn code_of_client_a_presented_by_client_b_is_invalid_grant() {
    let (server, client_a) = setup("ab@example.com").await;
    let client_b = server
        .register(ClientSpec {
            redirect_uris: vec![client_a.redirect_uri.clone()],
            ..ClientSpec::confidential()
        })
        .await;
    let person = server.person();
    let (code, request) = server.code_for(&person, &client_a, "ab@example.com").await;
    let resp = server
        .redeem(&client_b, &code, Some(&request.verifier))
        .await;
    assert_oauth_error(resp, 400, "invalid_grant").await;
}

#[tokio::test]
async fn redirect_uri_differing_from_or_missing_versus_the_request_is_invalid_grant() {
    let (server, client) = setup("redir@example.com").await;
    let second = "http://127.0.0.1:9/second".to_string();
    // One client with two URIs: authorize with the first, redeem with the second.
    let client = server
        .register(ClientSpec {
            redirect_uris: vec![client.redirect_uri.clone(), second.clone()],
            ..ClientSpec::confidential()
        })
        .await;
    let person = server.person();
    let (code, request) = server.code_for(&person, &client, "redir@example.com").await;
    let resp = server
        .token_request(
            &client,
            vec![
                ("grant_type", "authorization_code".into()),
                ("code", code),
                ("redirect_uri", second),
                ("code_verifier", request.verifier.clone()),
            ],
        )
        .await;
    assert_oauth_error(resp, 400, "invalid_grant").await;

    let (code, request) = server.code_for(&person, &client, "redir@example.com").await;
    let resp = server
        .token_request(
            &client,
            vec![
                ("grant_type", "authorization_code".into()),
                ("code", code),
                ("code_verifier", request.verifier.clone()),
            ],
        )
        .await;
    // RFC 6749 §4.1.3: redirect_uri is required when the authorization request carried one;
    // leaving it out is a missing parameter (§5.2 invalid_request).
    assert_oauth_error(resp, 400, "invalid_request").await;
}

#[tokio::test]
async fn expired_code_is_invalid_grant() {
    let (server, client) = setup("expired@example.com").await;
    let person = server.person();
    let (code, request) = server
        .code_for(&person, &client, "expired@example.com")
        .await;
    server.clock.advance(61);
    let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
    assert_oauth_error(resp, 400, "invalid_grant").await;
}

#[tokio::test]
async fn code_within_its_life_redeems() {
    let (server, client) = setup("fresh@example.com").await;
    let person = server.person();
    let (code, request) = server.code_for(&person, &client, "fresh@example.com").await;
    server.clock.advance(59);
    let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn wrong_client_secret_is_401_invalid_client_with_basic_challenge() {
    let (server, client) = setup("secret@example.com").await;
    let person = server.person();
    let (code, request) = server
        .code_for(&person, &client, "secret@example.com")
        .await;
    let wrong = TestClient {
        secret: Some("not-the-secret".into()),
        ..client.clone()
    };
    let resp = server.redeem(&wrong, &code, Some(&request.verifier)).await;
    let www = header(&resp, "www-authenticate");
    assert_oauth_error(resp, 401, "invalid_client").await;
    assert!(www.starts_with("Basic"), "WWW-Authenticate: {www}");

    // client_secret_post with a wrong secret.
    let resp = rp_http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", &request.verifier),
            ("client_id", &client.client_id),
            ("client_secret", "not-the-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(resp, 401, "invalid_client").await;

    // No authentication at all for a confidential client.
    let resp = rp_http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", &request.verifier),
            ("client_id", &client.client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(resp, 401, "invalid_client").await;

    // Unknown client, by Basic: the challenge is sent too.
    let resp = rp_http()
        .post(server.url("/token"))
        .basic_auth("no-such-client", Some("whatever"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert!(header(&resp, "www-authenticate").starts_with("Basic"));
    assert_oauth_error(resp, 401, "invalid_client").await;

    // A scheme other than Basic in the Authorization header: 401 with the Basic challenge
    // (RFC 6749 §5.2).
    let resp = rp_http()
        .post(server.url("/token"))
        .bearer_auth("not-a-client-credential")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert!(header(&resp, "www-authenticate").starts_with("Basic"));
    assert_oauth_error(resp, 401, "invalid_client").await;

    // The failed attempts did not burn the code.
    let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn password_and_unknown_grant_types_are_unsupported() {
    let (server, client) = setup("grants@example.com").await;
    for grant in ["password", "urn:example:nope", "implicit"] {
        let resp = server
            .token_request(
                &client,
                vec![
                    ("grant_type", grant.into()),
                    ("username", "grants@example.com".into()),
                    ("password", PASSWORD.into()),
                ],
            )
            .await;
        assert_oauth_error(resp, 400, "unsupported_grant_type").await;
    }
    let resp = server
        .token_request(&client, vec![("scope", "openid".into())])
        .await;
    assert_oauth_error(resp, 400, "invalid_request").await;
}

#[tokio::test]
async fn client_credentials_for_a_client_not_allowed_it_is_unauthorized_client() {
    let server = TestServer::start().await;
    let client = server
        .register(ClientSpec {
            grant_types: vec![sesame::model::GrantType::AuthorizationCode],
            ..ClientSpec::confidential()
        })
        .await;
    let resp = server
        .token_request(&client, vec![("grant_type", "client_credentials".into())])
        .await;
    assert_oauth_error(resp, 400, "unauthorized_client").await;
}

/// RFC 6749 §4.4.2: the client credentials grant requires client authentication. A public
/// client has no credentials; it can only identify itself, and that is "no client
/// authentication included" — §5.2 `invalid_client`, 401 — not `unauthorized_client`, which is
/// for an authenticated client refused a grant type. Like every 401 it carries a
/// `WWW-Authenticate` challenge (RFC 9110 §15.5.2), though it did not try the header.
#[tokio::test]
async fn public_client_cannot_use_client_credentials() {
    let server = TestServer::start().await;
    let client = server
        .register(ClientSpec {
            grant_types: vec![
                sesame::model::GrantType::AuthorizationCode,
                sesame::model::GrantType::ClientCredentials,
            ],
            ..ClientSpec::public()
        })
        .await;
    let resp = server
        .token_request(&client, vec![("grant_type", "client_credentials".into())])
        .await;
    assert!(header(&resp, "www-authenticate").starts_with("Basic"));
    assert_oauth_error(resp, 401, "invalid_client").await;
}

#[tokio::test]
async fn client_credentials_honours_requested_scope_and_sets_no_store() {
    let server = TestServer::start().await;
    let client = server
        .register(ClientSpec {
            allowed_scopes: Scope::parse("openid orders:read orders:write").unwrap(),
            ..ClientSpec::confidential()
        })
        .await;
    let cc = |scope: Option<&str>| {
        let mut form = vec![("grant_type", "client_credentials".to_string())];
        if let Some(scope) = scope {
            form.push(("scope", scope.to_string()));
        }
        server.token_request(&client, form)
    };

    let resp = cc(Some("orders:read")).await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "cache-control").contains("no-store"));
    assert!(header(&resp, "pragma").contains("no-cache"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap_or(0) > 0);
    assert!(body.get("refresh_token").is_none());
    assert!(body.get("id_token").is_none());
    assert_eq!(body["scope"], "orders:read");
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(claims["sub"], client.client_id.as_str());

    // No scope: every API scope the client may have, never the identity ones.
    let body: Value = cc(None).await.json().await.unwrap();
    assert_eq!(body["scope"], "orders:read orders:write");

    // A scope about a person, or one the client may not have, is invalid_scope.
    for scope in ["openid", "orders:delete", "orders:read admin"] {
        assert_oauth_error(cc(Some(scope)).await, 400, "invalid_scope").await;
    }
}

#[tokio::test]
async fn get_token_is_405() {
    let server = TestServer::start().await;
    let resp = rp_http().get(server.url("/token")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
}

#[tokio::test]
async fn repeated_token_parameter_is_invalid_request() {
    let (server, client) = setup("tokrep@example.com").await;
    let person = server.person();
    let (code, request) = server
        .code_for(&person, &client, "tokrep@example.com")
        .await;
    let resp = server
        .token_request(
            &client,
            vec![
                ("grant_type", "authorization_code".into()),
                ("code", code.clone()),
                ("code", code),
                ("redirect_uri", client.redirect_uri.clone()),
                ("code_verifier", request.verifier.clone()),
            ],
        )
        .await;
    assert_oauth_error(resp, 400, "invalid_request").await;
}
