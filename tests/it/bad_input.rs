//! Hostile and broken input: a clear 4xx, never a panic or a 500 (issue 2, "Bad input").

use crate::harness::{PASSWORD, TestServer, header, hidden_input, query_map, rp_http};
use serde_json::Value;

fn assert_4xx(status: u16, what: &str) {
    assert!(
        (400..500).contains(&status),
        "{what}: expected 4xx, got {status}"
    );
}

#[tokio::test]
async fn oversized_bodies_get_413_with_an_oauth_error_or_a_friendly_page() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    // Over the 16 KiB cap, small enough that the whole request is sent before the answer.
    let oversized = format!(
        "grant_type=client_credentials&pad={}",
        "a".repeat(40 * 1024)
    );
    for path in ["/token", "/login", "/consent", "/authorize"] {
        let mut req = rp_http()
            .post(server.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(oversized.clone());
        if path == "/token" {
            req = req.basic_auth(&client.client_id, client.secret.as_deref());
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(resp.status(), 413, "{path}");
        let content_type = header(&resp, "content-type");
        let body = resp.text().await.unwrap();
        if path == "/token" {
            assert!(
                content_type.starts_with("application/json"),
                "{content_type}"
            );
            let json: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(json["error"], "invalid_request", "{body}");
        } else {
            assert!(
                content_type.starts_with("text/html"),
                "{path}: {content_type}"
            );
            assert!(body.contains("Request too large"), "{path}: {body}");
        }
    }
    // The server is still healthy.
    let resp = rp_http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn token_endpoint_refuses_wrong_content_type_with_invalid_request() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let resp = rp_http()
        .post(server.url("/token"))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .header("Content-Type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(header(&resp, "cache-control").contains("no-store"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let resp = rp_http()
        .post(server.url("/token"))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400, "no content type");
}

#[tokio::test]
async fn token_endpoint_answers_malformed_encodings_with_an_oauth_error() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    for body in [
        "grant_type=%ZZ",
        "grant_type=authorization_code&code=%FF%FE%&redirect_uri=%",
        "grant_type=authorization_code&code=%00%0d%0a&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback",
        "%%%%&&&===",
        "grant_type=client_credentials&scope=%C3%28",
    ] {
        let resp = rp_http()
            .post(server.url("/token"))
            .basic_auth(&client.client_id, client.secret.as_deref())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        assert_4xx(status, body);
        let json: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{body}: {text}"));
        assert!(json["error"].is_string(), "{body}: {text}");
    }
}

#[tokio::test]
async fn absurdly_long_parameters_get_an_oauth_error_not_a_login() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let person = server.person();
    // An overlong state (client and redirect URI are fine): invalid_request at the client, the
    // state not echoed, no login page, no pending request written.
    for len in [8 * 1024, 60 * 1024] {
        let long = "s".repeat(len);
        let request = server.auth_request(&client, &[("state", &long)]);
        let resp = person
            .http
            .get(&request.url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("a {len}-byte state is answered, not dropped: {e}"));
        let loc = person.location(&resp);
        assert!(loc.starts_with(&client.redirect_uri), "{len}: {loc}");
        let q = query_map(&loc);
        assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
        assert!(!q.contains_key("state") && !q.contains_key("code"), "{len}");
    }
    // An overlong client_id cannot be trusted: an error page.
    let long_id = "c".repeat(8 * 1024);
    let resp = person
        .get(&format!(
            "/authorize?response_type=code&client_id={long_id}"
        ))
        .await;
    assert_eq!(resp.status(), 400);
    assert!(header(&resp, "content-type").starts_with("text/html"));

    // A long code at the token endpoint.
    let resp = server
        .token_request(
            &client,
            vec![
                ("grant_type", "authorization_code".into()),
                ("code", "c".repeat(10_000)),
                ("redirect_uri", client.redirect_uri.clone()),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn broken_queries_at_authorize_never_5xx() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let person = server.person();
    let id = form_urlencoded::byte_serialize(client.client_id.as_bytes()).collect::<String>();
    let uri = form_urlencoded::byte_serialize(client.redirect_uri.as_bytes()).collect::<String>();
    for query in [
        "%".to_string(),
        "client_id=%ZZ".to_string(),
        format!("client_id={id}&redirect_uri={uri}&response_type=code&scope=%FF%FE"),
        format!("client_id={id}&redirect_uri={uri}&response_type=code&state=%00%0d%0a"),
        format!("client_id={id}&redirect_uri={uri}&response_type=code&max_age=-1"),
        format!(
            "client_id={id}&redirect_uri={uri}&response_type=code&max_age=99999999999999999999"
        ),
        format!("client_id={id}&redirect_uri={uri}&response_type=code&prompt=none%20login"),
        format!("client_id={id}&redirect_uri={uri}&response_type=code&response_mode=fragment"),
        format!(
            "client_id={id}&redirect_uri={uri}&response_type=code&code_challenge=short&code_challenge_method=S256"
        ),
        format!("client_id={id}&redirect_uri={uri}&response_type=code&request=eyJ"),
        format!("client_id={id}&redirect_uri={uri}&response_type=code&scope=openid%20nonsense"),
        "client_id[]=x&redirect_uri[$ne]=1".to_string(),
    ] {
        let resp = person.get(&format!("/authorize?{query}")).await;
        let status = resp.status().as_u16();
        assert!(status < 500, "/authorize?{query}: {status}");
        if status == 303 || status == 302 {
            let loc = header(&resp, "location");
            assert!(!loc.contains('\n') && !loc.contains('\r'), "{loc}");
            if loc.starts_with(&client.redirect_uri) {
                assert!(
                    loc.contains("error="),
                    "bad input never yields a code: {loc}"
                );
            }
        }
    }
}

#[tokio::test]
async fn hosted_forms_with_junk_never_5xx() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user("junk@example.com").await;
    let person = server.person();
    let request = server.auth_request(&client, &[]);
    let login = person.location(&person.get(&request.url).await);
    let html = person.get(&login).await.text().await.unwrap();
    let req_id = hidden_input(&html, "request").unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap();
    let long_password = "p".repeat(5000);
    // Each junk login form and the status it gets: no CSRF-valid form is ever a 5xx.
    for (form, expected, what) in [
        (
            vec![("request", req_id.as_str()), ("csrf_token", csrf.as_str())],
            401,
            "no credentials: the generic login error",
        ),
        (
            vec![
                ("request", "nope"),
                ("csrf_token", csrf.as_str()),
                ("email", "junk@example.com"),
                ("password", PASSWORD),
            ],
            400,
            "unknown request: the expired page",
        ),
        (
            vec![
                ("request", req_id.as_str()),
                ("csrf_token", csrf.as_str()),
                ("email", "\u{0}"),
                ("password", "\u{202e}"),
            ],
            401,
            "control characters: the generic login error",
        ),
        (
            vec![
                ("request", req_id.as_str()),
                ("csrf_token", csrf.as_str()),
                ("email", "junk@example.com"),
                ("password", long_password.as_str()),
            ],
            401,
            "a password longer than the policy's: the generic login error",
        ),
        (
            vec![
                ("request", req_id.as_str()),
                ("csrf_token", "wrong"),
                ("email", "junk@example.com"),
                ("password", PASSWORD),
            ],
            403,
            "a wrong CSRF token",
        ),
    ] {
        let resp = person.post_form("/login", &form).await;
        assert_eq!(resp.status().as_u16(), expected, "{what}: {form:?}");
        assert!(header(&resp, "location").is_empty(), "{what}");
    }
    // A repeated password: read as absent, so the generic login error.
    let resp = person
        .post_form(
            "/login",
            &[
                ("request", req_id.as_str()),
                ("csrf_token", csrf.as_str()),
                ("email", "junk@example.com"),
                ("password", PASSWORD),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(resp.status(), 401, "a repeated password");
    // Without a session the consent form sends the person to log in; never a code.
    for (form, expected, what) in [
        (
            vec![
                ("request", "nope"),
                ("csrf_token", csrf.as_str()),
                ("decision", "allow"),
            ],
            400,
            "unknown request: the expired page",
        ),
        (
            vec![
                ("request", req_id.as_str()),
                ("csrf_token", csrf.as_str()),
                ("decision", "maybe"),
            ],
            303,
            "no session for the request: to the login page",
        ),
        (vec![], 403, "an empty form has no CSRF token"),
    ] {
        let resp = person.post_form("/consent", &form).await;
        assert_eq!(resp.status().as_u16(), expected, "consent, {what}");
        let loc = header(&resp, "location");
        assert!(!loc.contains("code="), "consent {form:?}: {loc}");
        if expected == 303 {
            assert!(loc.starts_with("/login?request="), "{what}: {loc}");
        }
    }
    let resp = person.post_form("/login", &[("request", "%ZZ")]).await;
    assert_eq!(resp.status(), 403, "no CSRF token");
    let resp = person.get("/consent?request=does-not-exist").await;
    assert_eq!(resp.status(), 400, "consent for an unknown request");
}

#[tokio::test]
async fn odd_methods_and_paths_never_5xx() {
    let server = TestServer::start().await;
    let http = rp_http();
    for (method, path) in [
        ("PUT", "/token"),
        ("DELETE", "/authorize"),
        ("PATCH", "/userinfo"),
        ("POST", "/jwks"),
        ("POST", "/.well-known/openid-configuration"),
        ("GET", "/.well-known/../token"),
        ("GET", "/%00"),
        ("GET", "/login"),
        ("GET", "/consent"),
    ] {
        let resp = http
            .request(method.parse().unwrap(), server.url(path))
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().as_u16() < 500,
            "{method} {path}: {}",
            resp.status()
        );
    }
    // A method a known endpoint does not take: 405 naming what it does take, with a JSON
    // error for relying parties and the friendly page for people.
    for (method, path, allow, json) in [
        ("PUT", "/token", "POST", true),
        ("GET", "/token", "POST", true),
        ("DELETE", "/authorize", "GET, POST", false),
        ("PATCH", "/userinfo", "GET, POST", true),
        ("POST", "/jwks", "GET", true),
        ("PUT", "/login", "GET, POST", false),
    ] {
        let resp = http
            .request(method.parse().unwrap(), server.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method} {path}");
        assert_eq!(header(&resp, "allow"), allow, "{method} {path}");
        let content_type = header(&resp, "content-type");
        if json {
            assert!(
                content_type.starts_with("application/json"),
                "{method} {path}"
            );
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request");
        } else {
            assert!(content_type.starts_with("text/html"), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn consent_with_an_unknown_decision_is_400() {
    let server = TestServer::start().await;
    let client = server.third_party_client().await;
    server.user("maybe@example.com").await;
    let person = server.person();
    let request = server.auth_request(&client, &[]);
    let login = person.location(&person.get(&request.url).await);
    let consent = person.location(
        &person
            .submit_login(&login, "maybe@example.com", PASSWORD)
            .await,
    );
    assert!(consent.contains("/consent?request="), "{consent}");
    let resp = person.submit_consent(&consent, "maybe").await;
    assert_eq!(resp.status(), 400);
    assert!(header(&resp, "location").is_empty());
}
