//! The authorization endpoint's refusals (checklist B1–B5, B7, B8, B10, B16, B17).

use crate::harness::{
    ClientSpec, PASSWORD, Person, TestClient, TestServer, assert_error_page, assert_error_redirect,
    header, jwt_claims, query_map,
};

async fn setup() -> (TestServer, TestClient, Person) {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let person = server.person();
    (server, client, person)
}

#[tokio::test]
async fn redirect_uri_not_byte_identical_to_a_registered_one_gets_an_error_page() {
    let (server, client, person) = setup().await;
    for bad in [
        "http://127.0.0.1:9/other",
        "http://127.0.0.1:9/callback/evil",
        "http://127.0.0.1:9/callbackx",
        "http://127.0.0.1:9/callback/",
        "http://127.0.0.1:9/callback?x=1",
        "http://127.0.0.1:9/callback#frag",
        "http://127.0.0.1:9/Callback",
        "HTTP://127.0.0.1:9/callback",
        "http://127.0.0.1:10/callback",
        "https://127.0.0.1:9/callback",
        "http://localhost:9/callback",
        "http://user@127.0.0.1:9/callback",
        "http://127.0.0.1:9/%63allback",
        "http://127.0.0.1:9/callback/../callback",
        "http://evil.example/callback",
    ] {
        let request = server.auth_request(&client, &[("redirect_uri", bad)]);
        assert_error_page(person.get(&request.url).await, bad).await;
    }
}

#[tokio::test]
async fn unknown_or_missing_client_gets_an_error_page() {
    let (server, client, person) = setup().await;
    let request = server.auth_request(&client, &[("client_id", "no-such-client")]);
    assert_error_page(person.get(&request.url).await, "unknown client").await;
    let request = server.auth_request(&client, &[("client_id", "")]);
    assert_error_page(person.get(&request.url).await, "no client_id").await;
}

#[tokio::test]
async fn missing_redirect_uri_gets_an_error_page() {
    let (server, client, person) = setup().await;
    let request = server.auth_request(&client, &[("redirect_uri", "")]);
    assert_error_page(person.get(&request.url).await, "no redirect_uri").await;
}

#[tokio::test]
async fn another_clients_redirect_uri_gets_an_error_page() {
    let (server, client, person) = setup().await;
    let other = server
        .register(ClientSpec {
            redirect_uris: vec!["http://127.0.0.1:9/other-client".into()],
            ..ClientSpec::confidential()
        })
        .await;
    let request = server.auth_request(&client, &[("redirect_uri", &other.redirect_uri)]);
    assert_error_page(person.get(&request.url).await, "other client's URI").await;
}

#[tokio::test]
async fn implicit_and_hybrid_response_types_are_unsupported() {
    let (server, client, person) = setup().await;
    for rt in [
        "token",
        "id_token token",
        "id_token",
        "code id_token",
        "none",
    ] {
        let request = server.auth_request(&client, &[("response_type", rt)]);
        let resp = person.get(&request.url).await;
        assert_error_redirect(
            &server,
            &person,
            &resp,
            &client,
            "unsupported_response_type",
            Some(&request.state),
        );
    }
}

#[tokio::test]
async fn missing_response_type_is_refused() {
    let (server, client, person) = setup().await;
    let request = server.auth_request(&client, &[("response_type", "")]);
    let resp = person.get(&request.url).await;
    if resp.status() == 400 {
        assert_error_page(resp, "no response_type").await;
    } else {
        let q = query_map(&person.location(&resp));
        let error = q.get("error").cloned().unwrap_or_default();
        assert!(
            error == "invalid_request" || error == "unsupported_response_type",
            "{error}"
        );
        assert_eq!(q.get("state"), Some(&request.state));
        assert!(!q.contains_key("code"));
    }
}

#[tokio::test]
async fn plain_pkce_is_refused() {
    let (server, client, person) = setup().await;
    let request = server.auth_request(
        &client,
        &[
            (
                "code_challenge",
                "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq",
            ),
            ("code_challenge_method", "plain"),
        ],
    );
    let resp = person.get(&request.url).await;
    assert_error_redirect(
        &server,
        &person,
        &resp,
        &client,
        "invalid_request",
        Some(&request.state),
    );
}

#[tokio::test]
async fn code_challenge_without_method_means_plain_and_is_refused() {
    // RFC 7636 §4.3: an absent method defaults to `plain`.
    let (server, client, person) = setup().await;
    let request = server.auth_request(&client, &[("code_challenge_method", "")]);
    let resp = person.get(&request.url).await;
    assert_error_redirect(
        &server,
        &person,
        &resp,
        &client,
        "invalid_request",
        Some(&request.state),
    );
}

#[tokio::test]
async fn public_client_without_code_challenge_is_refused() {
    let server = TestServer::start().await;
    let client = server.public_client().await;
    let person = server.person();
    let request = server.auth_request(
        &client,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    );
    let resp = person.get(&request.url).await;
    assert_error_redirect(
        &server,
        &person,
        &resp,
        &client,
        "invalid_request",
        Some(&request.state),
    );
}

#[tokio::test]
async fn prompt_none_without_a_session_redirects_login_required() {
    let (server, client, person) = setup().await;
    let request = server.auth_request(&client, &[("prompt", "none")]);
    let resp = person.get(&request.url).await;
    assert_error_redirect(
        &server,
        &person,
        &resp,
        &client,
        "login_required",
        Some(&request.state),
    );
}

#[tokio::test]
async fn repeated_parameter_is_invalid_request() {
    let (server, client, person) = setup().await;
    // Client and redirect URI valid and unique: the error goes back to the client.
    for repeated in [
        "state",
        "scope",
        "nonce",
        "response_type",
        "code_challenge",
        "prompt",
    ] {
        let request = server.auth_request(&client, &[]);
        let url = format!("{}&{repeated}=again", request.url);
        let resp = person.get(&url).await;
        let loc = person.location(&resp);
        let q = query_map(&loc);
        assert_eq!(
            q.get("error").map(String::as_str),
            Some("invalid_request"),
            "{repeated} twice: {loc}"
        );
        assert!(!q.contains_key("code"));
    }
    // Client or redirect URI repeated: they cannot be trusted, so an error page.
    for repeated in ["client_id", "redirect_uri"] {
        let request = server.auth_request(&client, &[]);
        let value = if repeated == "client_id" {
            client.client_id.clone()
        } else {
            client.redirect_uri.clone()
        };
        let url = format!(
            "{}&{repeated}={}",
            request.url,
            form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
        );
        assert_error_page(person.get(&url).await, repeated).await;
    }
}

#[tokio::test]
async fn error_redirect_without_state_carries_no_state() {
    let (server, client, person) = setup().await;
    let request = server.auth_request(&client, &[("state", ""), ("response_type", "token")]);
    let resp = person.get(&request.url).await;
    assert_error_redirect(
        &server,
        &person,
        &resp,
        &client,
        "unsupported_response_type",
        None,
    );
}

/// Logs in once and returns the ID token's `auth_time`.
async fn login_auth_time(
    server: &TestServer,
    client: &TestClient,
    person: &Person,
    email: &str,
) -> i64 {
    let body = server.tokens_for(person, client, email).await;
    jwt_claims(body["id_token"].as_str().expect("id_token"))["auth_time"]
        .as_i64()
        .expect("auth_time")
}

#[tokio::test]
async fn prompt_login_forces_the_form_and_a_later_auth_time() {
    let (server, client, person) = setup().await;
    server.user("again@example.com").await;
    let first = login_auth_time(&server, &client, &person, "again@example.com").await;
    server.clock.advance(5);
    let request = server.auth_request(&client, &[("prompt", "login")]);
    let loc = person.location(&person.get(&request.url).await);
    assert!(
        loc.contains("/login?request="),
        "prompt=login shows the form: {loc}"
    );
    let resp = person
        .submit_login(&loc, "again@example.com", PASSWORD)
        .await;
    let q = query_map(&person.location(&resp));
    let resp = server
        .redeem(&client, &q["code"], Some(&request.verifier))
        .await;
    let body: serde_json::Value = resp.json().await.unwrap();
    let second = jwt_claims(body["id_token"].as_str().unwrap())["auth_time"]
        .as_i64()
        .unwrap();
    assert_eq!(second, first + 5, "auth_time of the new login");
}

#[tokio::test]
async fn max_age_passed_forces_the_form_and_auth_time_is_returned() {
    let (server, client, person) = setup().await;
    server.user("maxage@example.com").await;
    let first = login_auth_time(&server, &client, &person, "maxage@example.com").await;

    // Within max_age: silent, same auth_time.
    server.clock.advance(30);
    let request = server.auth_request(&client, &[("max_age", "10000")]);
    let loc = person.location(&person.get(&request.url).await);
    assert!(
        loc.starts_with(&client.redirect_uri),
        "max_age=10000: no re-login ({loc})"
    );
    let resp = server
        .redeem(&client, &query_map(&loc)["code"], Some(&request.verifier))
        .await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        jwt_claims(body["id_token"].as_str().unwrap())["auth_time"].as_i64(),
        Some(first),
        "max_age ⇒ auth_time present and unchanged"
    );

    // Past max_age: the form again, then the new auth_time.
    server.clock.advance(31);
    let request = server.auth_request(&client, &[("max_age", "60")]);
    let loc = person.location(&person.get(&request.url).await);
    assert!(
        loc.contains("/login?request="),
        "max_age passed shows the form: {loc}"
    );
    let resp = person
        .submit_login(&loc, "maxage@example.com", PASSWORD)
        .await;
    let q = query_map(&person.location(&resp));
    let resp = server
        .redeem(&client, &q["code"], Some(&request.verifier))
        .await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        jwt_claims(body["id_token"].as_str().unwrap())["auth_time"].as_i64(),
        Some(first + 61)
    );
}

#[tokio::test]
async fn prompt_none_with_max_age_passed_is_login_required() {
    let (server, client, person) = setup().await;
    server.user("none-maxage@example.com").await;
    login_auth_time(&server, &client, &person, "none-maxage@example.com").await;
    server.clock.advance(120);
    let request = server.auth_request(&client, &[("prompt", "none"), ("max_age", "60")]);
    let resp = person.get(&request.url).await;
    assert_error_redirect(
        &server,
        &person,
        &resp,
        &client,
        "login_required",
        Some(&request.state),
    );
}

#[tokio::test]
async fn max_age_zero_forces_the_form_even_in_the_same_second() {
    let (server, client, person) = setup().await;
    server.user("maxage0@example.com").await;
    login_auth_time(&server, &client, &person, "maxage0@example.com").await;
    // OIDC Core §3.1.2.1: max_age=0 is prompt=login, whatever the clock says.
    let request = server.auth_request(&client, &[("max_age", "0")]);
    let loc = person.location(&person.get(&request.url).await);
    assert!(loc.contains("/login?request="), "max_age=0: {loc}");
    // After the fresh login the request completes instead of looping.
    let resp = person
        .submit_login(&loc, "maxage0@example.com", PASSWORD)
        .await;
    let loc = person.location(&resp);
    assert!(loc.starts_with(&client.redirect_uri), "{loc}");
    assert!(query_map(&loc).contains_key("code"));
}

/// The ID token of a completed login of `email` at `client`.
async fn id_token_of(
    server: &TestServer,
    client: &TestClient,
    person: &Person,
    email: &str,
) -> String {
    let body = server.tokens_for(person, client, email).await;
    body["id_token"].as_str().expect("id_token").to_string()
}

#[tokio::test]
async fn id_token_hint_allows_silent_login_only_for_its_own_user() {
    let (server, client, person) = setup().await;
    server.user("hint-a@example.com").await;
    server.user("hint-b@example.com").await;
    let hint_a = id_token_of(&server, &client, &person, "hint-a@example.com").await;
    let hint_b = id_token_of(&server, &client, &server.person(), "hint-b@example.com").await;

    // The session's own user: silent success with the same sub (checklist B9).
    let request = server.auth_request(&client, &[("prompt", "none"), ("id_token_hint", &hint_a)]);
    let loc = person.location(&person.get(&request.url).await);
    let q = query_map(&loc);
    let resp = server
        .redeem(&client, &q["code"], Some(&request.verifier))
        .await;
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        jwt_claims(body["id_token"].as_str().unwrap())["sub"],
        jwt_claims(&hint_a)["sub"]
    );

    // Another user's hint never yields tokens for the session's user.
    let request = server.auth_request(&client, &[("prompt", "none"), ("id_token_hint", &hint_b)]);
    let resp = person.get(&request.url).await;
    assert_error_redirect(
        &server,
        &person,
        &resp,
        &client,
        "login_required",
        Some(&request.state),
    );
    // Without prompt=none the person is asked to log in (as the hinted user).
    let request = server.auth_request(&client, &[("id_token_hint", &hint_b)]);
    let loc = person.location(&person.get(&request.url).await);
    assert!(loc.contains("/login?request="), "{loc}");
}

#[tokio::test]
async fn id_token_hint_from_another_client_or_forged_is_invalid_request() {
    let (server, client, person) = setup().await;
    let other = server.confidential_client().await;
    server.user("hint-c@example.com").await;
    let for_other = id_token_of(&server, &other, &person, "hint-c@example.com").await;
    // An ID token for this very client in every claim, but typed as an access token.
    let own = id_token_of(&server, &client, &person, "hint-c@example.com").await;
    let access_token = server.state.keys.sign("at+jwt", &jwt_claims(&own)).unwrap();
    // alg none over the real claims.
    let claims_part = for_other.split('.').nth(1).unwrap();
    let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{claims_part}.");
    for (what, hint) in [
        ("an ID token issued to another client", for_other.as_str()),
        ("a token typed at+jwt", access_token.as_str()),
        ("alg none", unsigned.as_str()),
        ("garbage", "not-a-jwt"),
    ] {
        let request = server.auth_request(&client, &[("prompt", "none"), ("id_token_hint", hint)]);
        let resp = person.get(&request.url).await;
        let loc = person.location(&resp);
        assert_eq!(
            query_map(&loc).get("error").map(String::as_str),
            Some("invalid_request"),
            "{what}: {loc}"
        );
        assert!(!query_map(&loc).contains_key("code"), "{what}");
    }
}

#[tokio::test]
async fn prompt_none_when_consent_is_needed_is_consent_required() {
    let server = TestServer::start().await;
    let client = server.third_party_client().await;
    let first_party = server.confidential_client().await;
    server.user("silent-consent@example.com").await;
    let person = server.person();
    // A session exists (through a first-party client), but this client was never approved.
    server
        .code_for(&person, &first_party, "silent-consent@example.com")
        .await;
    let request = server.auth_request(&client, &[("prompt", "none")]);
    let resp = person.get(&request.url).await;
    assert_error_redirect(
        &server,
        &person,
        &resp,
        &client,
        "consent_required",
        Some(&request.state),
    );
}

#[tokio::test]
async fn request_objects_are_refused_as_unsupported() {
    // Discovery says request_parameter_supported and request_uri_parameter_supported are false
    // (OIDC Core §6.1, checklist B12).
    let (server, client, person) = setup().await;
    for (param, value, error) in [
        (
            "request",
            "eyJhbGciOiJub25lIn0.e30.",
            "request_not_supported",
        ),
        (
            "request_uri",
            "https://rp.example/request.jwt",
            "request_uri_not_supported",
        ),
    ] {
        let request = server.auth_request(&client, &[(param, value)]);
        let resp = person.get(&request.url).await;
        assert_error_redirect(
            &server,
            &person,
            &resp,
            &client,
            error,
            Some(&request.state),
        );
    }
}

#[tokio::test]
async fn optional_display_and_locale_parameters_are_accepted() {
    // OIDC Core §3.1.2.1 / §15.1: understood or not, they are no error (checklist B11).
    let (server, client, person) = setup().await;
    server.user("locales@example.com").await;
    let request = server.auth_request(
        &client,
        &[
            ("display", "popup"),
            ("ui_locales", "fr-CA fr en"),
            ("claims_locales", "de"),
            ("acr_values", "urn:mace:incommon:iap:silver"),
            ("login_hint", "locales@example.com"),
        ],
    );
    let callback = person
        .sign_in(&request.url, "locales@example.com", PASSWORD)
        .await;
    let q = query_map(&callback);
    assert!(q.contains_key("code"), "{callback}");
    assert_eq!(q.get("state"), Some(&request.state));
}

#[tokio::test]
async fn scope_without_openid_gets_no_id_token() {
    let (server, client, person) = setup().await;
    server.user("oauth-only@example.com").await;
    let request = server.auth_request(&client, &[("scope", "email"), ("nonce", "")]);
    let callback = person
        .sign_in(&request.url, "oauth-only@example.com", PASSWORD)
        .await;
    let q = query_map(&callback);
    let code = q
        .get("code")
        .unwrap_or_else(|| panic!("plain OAuth request: {callback}"));
    let resp = server.redeem(&client, code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body.get("id_token").is_none(),
        "no openid, no ID token: {body}"
    );
}

#[tokio::test]
async fn authorize_sends_no_cors_headers() {
    let (server, client, person) = setup().await;
    let request = server.auth_request(&client, &[]);
    let resp = person
        .http
        .get(&request.url)
        .header("Origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(header(&resp, "access-control-allow-origin").is_empty());
    assert!(resp.status().as_u16() < 500);
}

#[tokio::test]
async fn a_request_without_scope_is_invalid_scope() {
    // RFC 6749 §3.3: Sesame has no default scope, so a request without one fails as
    // invalid_scope, at the client.
    let (server, client, person) = setup().await;
    let request = server.auth_request(&client, &[("scope", "")]);
    let resp = person.get(&request.url).await;
    assert_error_redirect(
        &server,
        &person,
        &resp,
        &client,
        "invalid_scope",
        Some(&request.state),
    );
}

/// A public native client registered with a loopback redirect URI without a port.
async fn native_client(server: &TestServer, redirect_uri: &str) -> TestClient {
    server
        .register(ClientSpec {
            redirect_uris: vec![redirect_uri.into()],
            ..ClientSpec::public()
        })
        .await
}

#[tokio::test]
async fn public_loopback_redirect_uri_matches_any_port_and_binds_the_code_to_it() {
    // RFC 8252 §7.3, RFC 9700 §2.1: the app listens on an ephemeral port.
    let server = TestServer::start().await;
    server.user("native@example.com").await;
    for registered in ["http://127.0.0.1/cb", "http://[::1]/cb"] {
        let client = native_client(&server, registered).await;
        let sent = registered.replace("/cb", ":51004/cb");
        let person = server.person();
        let request = server.auth_request(&client, &[("redirect_uri", &sent)]);
        let callback = person
            .sign_in(&request.url, "native@example.com", PASSWORD)
            .await;
        assert!(callback.starts_with(&format!("{sent}?")), "{callback}");
        let code = query_map(&callback)["code"].clone();
        // The code is bound to the URI actually sent: the registered one does not redeem it.
        let wrong = server
            .token_request(
                &client,
                vec![
                    ("grant_type", "authorization_code".into()),
                    ("code", code.clone()),
                    ("redirect_uri", registered.to_string()),
                    ("code_verifier", request.verifier.clone()),
                ],
            )
            .await;
        assert_eq!(wrong.status(), 400, "{registered}");
        let request = server.auth_request(&client, &[("redirect_uri", &sent)]);
        let callback = person
            .sign_in(&request.url, "native@example.com", PASSWORD)
            .await;
        let code = query_map(&callback)["code"].clone();
        let right = server
            .token_request(
                &client,
                vec![
                    ("grant_type", "authorization_code".into()),
                    ("code", code),
                    ("redirect_uri", sent.clone()),
                    ("code_verifier", request.verifier.clone()),
                ],
            )
            .await;
        assert_eq!(right.status(), 200, "{sent}");
    }
}

#[tokio::test]
async fn loopback_port_freedom_is_only_for_public_clients_and_ip_literals() {
    let server = TestServer::start().await;
    let person = server.person();
    let native = native_client(&server, "http://127.0.0.1/cb").await;
    for bad in [
        "http://127.0.0.1:51004/other",
        "http://127.0.0.1:51004/cb?x=1",
        "https://127.0.0.1:51004/cb",
        "http://[::1]:51004/cb",
    ] {
        let request = server.auth_request(&native, &[("redirect_uri", bad)]);
        assert_error_page(person.get(&request.url).await, bad).await;
    }
    // RFC 8252 §8.3: `localhost` is a name, not a loopback address; it matches exactly.
    let named = native_client(&server, "http://localhost:9/cb").await;
    let request = server.auth_request(&named, &[("redirect_uri", "http://localhost:51004/cb")]);
    assert_error_page(person.get(&request.url).await, "localhost").await;
    // A confidential client's loopback URI matches exactly too.
    let confidential = server
        .register(ClientSpec {
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            ..ClientSpec::confidential()
        })
        .await;
    let request = server.auth_request(
        &confidential,
        &[("redirect_uri", "http://127.0.0.1:51004/cb")],
    );
    assert_error_page(person.get(&request.url).await, "confidential").await;
}

#[tokio::test]
async fn an_authorization_request_over_the_size_cap_is_refused() {
    let server = TestServer::start_with(|c| c.authorize.max_request_bytes = 4096).await;
    let client = server.confidential_client().await;
    let person = server.person();
    // Three parameters of 1.5 KB each: none too long alone, too much together.
    let part = "x".repeat(1500);
    let request = server.auth_request(
        &client,
        &[("nonce", &part), ("login_hint", &part), ("ignored", &part)],
    );
    let resp = person.get(&request.url).await;
    let loc = person.location(&resp);
    let q = query_map(&loc);
    assert!(loc.starts_with(&client.redirect_uri), "{loc}");
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
    assert!(
        q["error_description"].contains("larger than 4096 bytes"),
        "{loc}"
    );
    assert!(!q.contains_key("code"));
    // Before client and redirect URI are known good: the error page.
    let request = server.auth_request(
        &client,
        &[
            ("client_id", "unknown"),
            ("nonce", &part),
            ("ignored", &part),
            ("x", &part),
        ],
    );
    assert_error_page(person.get(&request.url).await, "unknown client, oversized").await;
}

/// Bytes on disk of the test server's SQLite database, its WAL included.
fn database_bytes(server: &TestServer) -> u64 {
    let path = server
        .state
        .config
        .database_url
        .trim_start_matches("sqlite://")
        .to_string();
    [path.clone(), format!("{path}-wal")]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::test]
async fn anonymous_authorize_floods_do_not_fill_the_store() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let person = server.person();
    let before = database_bytes(&server);
    // 200 anonymous requests with 4 KB state and nonce: each over the 8 KiB cap.
    let big = "s".repeat(4096);
    for _ in 0..200 {
        let request = server.auth_request(&client, &[("state", &big), ("nonce", &big)]);
        let resp = person.get(&request.url).await;
        let q = query_map(&person.location(&resp));
        assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
    }
    let grown = database_bytes(&server).saturating_sub(before);
    assert!(grown < 100_000, "the database grew by {grown} bytes");
}

#[tokio::test]
async fn pending_requests_per_ip_are_limited_and_nothing_is_written_over_the_limit() {
    let server = TestServer::start_with(|c| c.authorize.pending_per_ip_per_minute = 5).await;
    let client = server.confidential_client().await;
    let person = server.person();
    let state = "s".repeat(3000);
    for i in 0..5 {
        let request = server.auth_request(&client, &[("state", &state)]);
        let loc = person.location(&person.get(&request.url).await);
        assert!(loc.contains("/login?request="), "request {i}: {loc}");
    }
    let before = database_bytes(&server);
    for _ in 0..20 {
        let request = server.auth_request(&client, &[("state", &state)]);
        let resp = person.get(&request.url).await;
        assert_eq!(resp.status(), 429);
        let retry_after: i64 = header(&resp, "retry-after").parse().expect("Retry-After");
        assert!(retry_after >= 1);
        assert!(header(&resp, "content-type").starts_with("text/html"));
        assert!(header(&resp, "location").is_empty());
    }
    assert!(
        database_bytes(&server).saturating_sub(before) < 20 * 3000,
        "nothing written over the limit"
    );
    // Requests that write nothing are not limited: errors still go back to the client.
    let request = server.auth_request(&client, &[("response_type", "token")]);
    let q = query_map(&person.location(&person.get(&request.url).await));
    assert_eq!(
        q.get("error").map(String::as_str),
        Some("unsupported_response_type")
    );
    // The quota refills with time (12 s per request at 5 a minute).
    server.clock.advance(12);
    let request = server.auth_request(&client, &[]);
    let loc = person.location(&person.get(&request.url).await);
    assert!(loc.contains("/login?request="), "{loc}");
}

#[tokio::test]
async fn claims_parameter_is_kept_for_the_claims_sesame_has() {
    let (server, client, person) = setup().await;
    let claims = r#"{"id_token":{"email":{"essential":true},"acr":null},"userinfo":{"name":null,"picture":null}}"#;
    let request = server.auth_request(&client, &[("claims", claims)]);
    let loc = person.location(&person.get(&request.url).await);
    assert!(loc.contains("/login?request="), "{loc}");
    let id = query_map(&loc)["request"].clone();
    let pending = server
        .state
        .store
        .authorization_request(&id, server.now())
        .await
        .unwrap()
        .expect("pending request");
    let kept = pending.claims.expect("claims kept");
    assert_eq!(kept.id_token, ["email"]);
    assert_eq!(kept.userinfo, ["name"]);
}

#[tokio::test]
async fn malformed_claims_parameter_is_invalid_request() {
    let (server, client, person) = setup().await;
    for (claims, says) in [
        ("{not json", "not valid JSON"),
        ("[\"email\"]", "must be a JSON object"),
        (
            r#"{"userinfo":["email"]}"#,
            "claims.userinfo must be a JSON object",
        ),
        (r#"{"id_token":{"email":true}}"#, "claims.id_token.email"),
    ] {
        let request = server.auth_request(&client, &[("claims", claims)]);
        let resp = person.get(&request.url).await;
        assert_error_redirect(
            &server,
            &person,
            &resp,
            &client,
            "invalid_request",
            Some(&request.state),
        );
        let q = query_map(&person.location(&resp));
        assert!(q["error_description"].contains(says), "{claims}: {q:?}");
    }
}
