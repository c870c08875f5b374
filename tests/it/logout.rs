//! RP-Initiated Logout 1.0 (issue 8 item 4; checklist J1–J5, E5), driven as a relying party and
//! a person with a cookie jar would: the hint, the registered post-logout URI, the confirmation
//! form, and what logout does to the session and its tokens.

use crate::harness::{
    ClientSpec, PASSWORD, Person, TestClient, TestServer, assert_error_redirect, header,
    hidden_input, jwt_header, query_map, rp_http,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use sesame::model::{Client, GrantType, RefreshTokenPolicy, Scope};
use sesame::secret::{Secret, random_token};

const BYE: &str = "https://rp.example/bye";

/// A first-party confidential client with `BYE` registered as its post-logout URI, the refresh
/// grant, and refresh tokens with every code (so its online grants have families too).
async fn logout_client(server: &TestServer) -> TestClient {
    let spec = ClientSpec::confidential();
    let client_id = format!("client-{}", sesame::secret::random_id());
    let secret = random_token();
    let client = Client {
        client_id: client_id.clone(),
        name: "Logout RP".into(),
        secret_hash: Some(secret.hash()),
        redirect_uris: spec.redirect_uris.clone(),
        post_logout_redirect_uris: vec![BYE.into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        allowed_scopes: Scope::parse("openid email profile offline_access").unwrap(),
        token_endpoint_auth_method: spec.auth_method,
        public: false,
        first_party: true,
        created_at: server.now(),
        refresh_tokens: RefreshTokenPolicy::Always,
        allowed_origins: vec![],
        backchannel_logout_uri: None,
    };
    server.state.store.create_client(&client).await.unwrap();
    TestClient {
        client_id,
        secret: Some(Secret::expose(&secret).to_string()),
        redirect_uri: spec.redirect_uris[0].clone(),
        auth_method: spec.auth_method,
    }
}

/// A signed-in person and the token response of their grant with `scope`.
async fn signed_in(
    server: &TestServer,
    person: &Person,
    client: &TestClient,
    email: &str,
    scope: &str,
) -> Value {
    let request = server.auth_request(client, &[("scope", scope)]);
    let callback = person.sign_in(&request.url, email, PASSWORD).await;
    let code = query_map(&callback).get("code").cloned().expect("code");
    let resp = server.redeem(client, &code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn id_token(body: &Value) -> String {
    body["id_token"].as_str().expect("id_token").to_string()
}

fn logout_url(params: &[(&str, &str)]) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    format!("/logout?{query}")
}

/// Whether the person still has a session: `prompt=none` answers a code, or `login_required`.
async fn still_signed_in(server: &TestServer, person: &Person, client: &TestClient) -> bool {
    let request = server.auth_request(client, &[("prompt", "none")]);
    let resp = person.get(&request.url).await;
    let location = person.location(&resp);
    let q = query_map(&location);
    if q.contains_key("code") {
        return true;
    }
    assert_error_redirect(
        server,
        person,
        &resp,
        client,
        "login_required",
        Some(&request.state),
    );
    false
}

/// Asserts a refusal page: 400, no redirect.
async fn assert_refused_without_redirect(resp: reqwest::Response, what: &str) {
    assert_eq!(resp.status(), 400, "{what}");
    assert!(header(&resp, "location").is_empty(), "{what}: no redirect");
}

#[tokio::test]
async fn discovery_advertises_the_end_session_endpoint() {
    let server = TestServer::start().await;
    let doc: Value = rp_http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["end_session_endpoint"], server.url("/logout"));
}

#[tokio::test]
async fn a_valid_hint_and_a_registered_uri_end_the_session_and_return_with_state() {
    let server = TestServer::start().await;
    let client = logout_client(&server).await;
    server.user("bye@example.com").await;
    for method in ["GET", "POST"] {
        let person = server.person();
        let body = signed_in(&server, &person, &client, "bye@example.com", "openid").await;
        assert!(still_signed_in(&server, &person, &client).await);
        let params = [
            ("id_token_hint", id_token(&body)),
            ("post_logout_redirect_uri", BYE.to_string()),
            ("state", "st ate".to_string()),
        ];
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = match method {
            "GET" => person.get(&logout_url(&params)).await,
            _ => person.post_form("/logout", &params).await,
        };
        assert_eq!(resp.status(), 303, "{method}");
        assert_eq!(
            header(&resp, "location"),
            format!("{BYE}?state=st+ate"),
            "{method}"
        );
        assert!(
            header(&resp, "set-cookie").contains("Max-Age=0"),
            "{method}: the session cookie is cleared"
        );
        // prompt=none after logout: login_required.
        assert!(
            !still_signed_in(&server, &person, &client).await,
            "{method}"
        );
    }
    // Each hint was a token presented back: it counts as a use of the signing key
    // (`sesame keys list`), once the tally is flushed.
    server.clock.advance(60);
    server.tasks.run_due_now().await;
    let kid = server.state.keys.active_kid().expect("active key");
    let uses: u64 = server
        .state
        .store
        .key_usage()
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.kid == kid)
        .map(|u| u.uses as u64)
        .sum();
    assert!(uses >= 2, "two hints counted for {kid}: {uses}");
}

#[tokio::test]
async fn an_expired_hint_is_still_a_hint() {
    let server = TestServer::start().await;
    let client = logout_client(&server).await;
    server.user("late@example.com").await;
    let person = server.person();
    let body = signed_in(&server, &person, &client, "late@example.com", "openid").await;
    server.clock.advance(3_600);
    let resp = person
        .get(&logout_url(&[
            ("id_token_hint", &id_token(&body)),
            ("post_logout_redirect_uri", BYE),
        ]))
        .await;
    assert_eq!(resp.status(), 303);
    assert_eq!(header(&resp, "location"), BYE);
}

#[tokio::test]
async fn unregistered_or_query_extended_uris_are_never_redirected_to() {
    let server = TestServer::start().await;
    let client = logout_client(&server).await;
    server.user("stay@example.com").await;
    let person = server.person();
    let body = signed_in(&server, &person, &client, "stay@example.com", "openid").await;
    let hint = id_token(&body);
    for uri in [
        "https://evil.example/bye",
        "https://rp.example/bye?foo=bar",
        "https://rp.example/bye/",
    ] {
        let resp = person
            .get(&logout_url(&[
                ("id_token_hint", &hint),
                ("post_logout_redirect_uri", uri),
            ]))
            .await;
        assert_refused_without_redirect(resp, uri).await;
    }
    assert!(
        still_signed_in(&server, &person, &client).await,
        "a refused request ends nothing"
    );
}

#[tokio::test]
async fn a_tampered_unsigned_or_foreign_hint_is_refused() {
    let server = TestServer::start().await;
    let other = TestServer::start().await;
    let client = logout_client(&server).await;
    let foreign_client = logout_client(&other).await;
    server.user("hint@example.com").await;
    other.user("hint@example.com").await;
    let person = server.person();
    let body = signed_in(&server, &person, &client, "hint@example.com", "openid").await;
    let hint = id_token(&body);
    let foreign = id_token(
        &signed_in(
            &other,
            &other.person(),
            &foreign_client,
            "hint@example.com",
            "openid",
        )
        .await,
    );
    let parts: Vec<&str> = hint.split('.').collect();
    // The claims changed under the original signature.
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["sub"] = "someone-else".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    // alg none, no signature.
    let mut header_json = jwt_header(&hint);
    header_json["alg"] = "none".into();
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header_json.to_string()),
        parts[1]
    );
    for (what, bad) in [
        ("tampered", tampered),
        ("alg none", unsigned),
        ("another server's", foreign),
    ] {
        let resp = person
            .get(&logout_url(&[
                ("id_token_hint", &bad),
                ("post_logout_redirect_uri", BYE),
                ("state", "s"),
            ]))
            .await;
        assert_refused_without_redirect(resp, what).await;
    }
    assert!(still_signed_in(&server, &person, &client).await);
}

#[tokio::test]
async fn without_a_hint_the_person_must_confirm_and_only_then_returns() {
    let server = TestServer::start().await;
    let client = logout_client(&server).await;
    server.user("confirm@example.com").await;
    let person = server.person();
    signed_in(&server, &person, &client, "confirm@example.com", "openid").await;
    let url = logout_url(&[
        ("client_id", &client.client_id),
        ("post_logout_redirect_uri", BYE),
        ("state", "xyz"),
    ]);
    let page = person.get(&url).await;
    assert_eq!(page.status(), 200, "a confirmation page, no redirect");
    let html = page.text().await.unwrap();
    assert!(html.contains("Logout RP"), "names the client");
    assert!(
        still_signed_in(&server, &person, &client).await,
        "asking ends nothing"
    );

    // A cross-site form cannot know the confirmation token.
    for forged in ["", "forged-token"] {
        let resp = person
            .post_form(
                "/logout",
                &[
                    ("confirm", forged),
                    ("client_id", &client.client_id),
                    ("post_logout_redirect_uri", BYE),
                    ("state", "xyz"),
                ],
            )
            .await;
        assert_eq!(resp.status(), 200, "asked again");
        assert!(still_signed_in(&server, &person, &client).await);
    }
    // Another browser's token is no good either.
    let stranger = server.person();
    let confirm = hidden_input(&html, "confirm").expect("confirm field");
    let resp = stranger
        .post_form("/logout", &[("confirm", &confirm)])
        .await;
    assert_eq!(resp.status(), 200, "no session there: the signed-out page");

    // The person confirms: signed out, back to the client with state.
    let fields: Vec<(String, String)> =
        ["confirm", "client_id", "post_logout_redirect_uri", "state"]
            .iter()
            .map(|name| {
                (
                    name.to_string(),
                    hidden_input(&html, name).unwrap_or_default(),
                )
            })
            .collect();
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let resp = person.post_form("/logout", &form).await;
    assert_eq!(resp.status(), 303);
    assert_eq!(header(&resp, "location"), format!("{BYE}?state=xyz"));
    assert!(!still_signed_in(&server, &person, &client).await);
}

#[tokio::test]
async fn a_bare_logout_asks_and_then_shows_the_signed_out_page() {
    let server = TestServer::start().await;
    let client = logout_client(&server).await;
    server.user("bare@example.com").await;
    let person = server.person();
    signed_in(&server, &person, &client, "bare@example.com", "openid").await;
    let html = person.page("/logout", "confirmation").await;
    let confirm = hidden_input(&html, "confirm").expect("confirm field");
    let resp = person
        .post_form("/logout", &[("confirm", &confirm), ("state", "")])
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("signed out"));
    assert!(!still_signed_in(&server, &person, &client).await);
    // Without a session there is nothing to confirm.
    let again = person.page("/logout?state=only", "signed out").await;
    assert!(again.contains("signed out"));
}

#[tokio::test]
async fn logout_revokes_the_sessions_tokens_but_not_offline_ones() {
    let server = TestServer::start().await;
    let client = logout_client(&server).await;
    server.user("tokens@example.com").await;
    let person = server.person();
    let online = signed_in(
        &server,
        &person,
        &client,
        "tokens@example.com",
        "openid email",
    )
    .await;
    let offline = signed_in(
        &server,
        &person,
        &client,
        "tokens@example.com",
        "openid email offline_access",
    )
    .await;
    let resp = person
        .get(&logout_url(&[("id_token_hint", &id_token(&online))]))
        .await;
    assert_eq!(resp.status(), 200, "no URI: the signed-out page");

    let at = |body: &Value| body["access_token"].as_str().unwrap().to_string();
    let rt = |body: &Value| body["refresh_token"].as_str().unwrap().to_string();
    let (status, _, _) = server.userinfo(&at(&online)).await;
    assert_eq!(status, 401, "the session's access token is revoked");
    let refresh = |token: String| {
        server.token_request(
            &client,
            vec![
                ("grant_type", "refresh_token".into()),
                ("refresh_token", token),
            ],
        )
    };
    assert_eq!(
        refresh(rt(&online)).await.status(),
        400,
        "its refresh token too"
    );
    // offline_access outlives the session.
    let (status, _, _) = server.userinfo(&at(&offline)).await;
    assert_eq!(status, 200);
    assert_eq!(refresh(rt(&offline)).await.status(), 200);
}

#[tokio::test]
async fn a_hint_for_someone_else_or_another_client_does_not_sign_the_person_out() {
    let server = TestServer::start().await;
    let client = logout_client(&server).await;
    let other_client = logout_client(&server).await;
    server.user("me@example.com").await;
    server.user("them@example.com").await;
    let person = server.person();
    signed_in(&server, &person, &client, "me@example.com", "openid").await;
    let theirs = signed_in(
        &server,
        &server.person(),
        &client,
        "them@example.com",
        "openid",
    )
    .await;
    // Another user's hint: the person is asked, not signed out.
    let resp = person
        .get(&logout_url(&[
            ("id_token_hint", &id_token(&theirs)),
            ("post_logout_redirect_uri", BYE),
        ]))
        .await;
    assert_eq!(resp.status(), 200, "a confirmation page");
    assert!(hidden_input(&resp.text().await.unwrap(), "confirm").is_some());
    assert!(still_signed_in(&server, &person, &client).await);
    // A client_id that is not the hint's audience: refused.
    let resp = person
        .get(&logout_url(&[
            ("id_token_hint", &id_token(&theirs)),
            ("client_id", &other_client.client_id),
        ]))
        .await;
    assert_refused_without_redirect(resp, "client_id and hint disagree").await;
    // A URI without any client to check it against: refused.
    let resp = person
        .get(&logout_url(&[("post_logout_redirect_uri", BYE)]))
        .await;
    assert_refused_without_redirect(resp, "no client").await;
    assert!(still_signed_in(&server, &person, &client).await);
}
