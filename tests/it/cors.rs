//! Browser-based clients (issue 8 item 8): the token, userinfo and revocation endpoints answer
//! CORS preflights and allow exactly the origins the request's client registered (its redirect
//! URIs' origins and its `allowed_origins`), never `*`; discovery and JWKS are public.

use crate::harness::{ClientSpec, TestClient, TestServer, header, rp_http};
use reqwest::Method;

const SPA_ORIGIN: &str = "https://spa.example.com";
/// The origin of the SPA client's redirect URI `http://127.0.0.1:9/spa-callback`.
const SPA_REDIRECT_ORIGIN: &str = "http://127.0.0.1:9";
const OTHER_CLIENT_ORIGIN: &str = "https://other.example.com";
const STRANGER_ORIGIN: &str = "https://evil.example.net";

/// A public single-page app registered with an explicit origin, and another client with an
/// origin of its own.
async fn spa_and_other(server: &TestServer) -> (TestClient, TestClient) {
    let spa = server
        .register(ClientSpec {
            name: "SPA".into(),
            redirect_uris: vec![format!("{SPA_REDIRECT_ORIGIN}/spa-callback")],
            allowed_origins: vec![SPA_ORIGIN.into()],
            ..ClientSpec::public()
        })
        .await;
    let other = server
        .register(ClientSpec {
            redirect_uris: vec!["https://other.example.com/cb".into()],
            allowed_origins: vec![OTHER_CLIENT_ORIGIN.into()],
            ..ClientSpec::confidential()
        })
        .await;
    (spa, other)
}

async fn preflight(
    server: &TestServer,
    path: &str,
    origin: &str,
    method: &str,
) -> reqwest::Response {
    rp_http()
        .request(Method::OPTIONS, server.url(path))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header(
            "Access-Control-Request-Headers",
            "content-type, authorization",
        )
        .send()
        .await
        .expect("OPTIONS")
}

/// `POST /token` from a browser at `origin`, as a public client (no credentials but its id).
async fn browser_token_request(
    server: &TestServer,
    origin: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    rp_http()
        .post(server.url("/token"))
        .header("Origin", origin)
        .form(form)
        .send()
        .await
        .expect("POST /token")
}

#[tokio::test]
async fn preflights_from_a_registered_origin_are_allowed_at_token_userinfo_and_revoke() {
    let server = TestServer::start().await;
    spa_and_other(&server).await;
    for (path, method) in [
        ("/token", "POST"),
        ("/revoke", "POST"),
        ("/userinfo", "GET"),
    ] {
        for origin in [SPA_ORIGIN, SPA_REDIRECT_ORIGIN, OTHER_CLIENT_ORIGIN] {
            let resp = preflight(&server, path, origin, method).await;
            assert_eq!(resp.status(), 204, "{path} from {origin}");
            assert_eq!(
                header(&resp, "access-control-allow-origin"),
                origin,
                "{path}"
            );
            assert!(
                header(&resp, "access-control-allow-methods").contains(method),
                "{path}"
            );
            let allowed_headers = header(&resp, "access-control-allow-headers").to_lowercase();
            assert!(
                allowed_headers.contains("content-type")
                    && allowed_headers.contains("authorization"),
                "{path}: {allowed_headers}"
            );
            assert!(header(&resp, "vary").contains("Origin"), "{path}");
            assert_eq!(
                header(&resp, "access-control-allow-credentials"),
                "",
                "{path}"
            );
        }
    }
}

#[tokio::test]
async fn preflights_from_an_unregistered_origin_get_no_cors_headers() {
    let server = TestServer::start().await;
    spa_and_other(&server).await;
    for path in ["/token", "/revoke", "/userinfo"] {
        let resp = preflight(&server, path, STRANGER_ORIGIN, "POST").await;
        assert_eq!(resp.status(), 204, "{path}: OPTIONS is answered, not 405");
        assert_eq!(header(&resp, "access-control-allow-origin"), "", "{path}");
        assert_eq!(header(&resp, "access-control-allow-methods"), "", "{path}");
    }
    // A registered origin asking for a method the endpoint does not take is not allowed.
    let resp = preflight(&server, "/token", SPA_ORIGIN, "DELETE").await;
    assert_eq!(header(&resp, "access-control-allow-origin"), "");
}

#[tokio::test]
async fn the_token_endpoint_allows_only_the_requesting_clients_own_origins() {
    let server = TestServer::start().await;
    let (spa, _other) = spa_and_other(&server).await;
    server.user("spa@example.com").await;
    let person = server.person();
    let (code, request) = server.code_for(&person, &spa, "spa@example.com").await;
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", spa.redirect_uri.as_str()),
        ("code_verifier", request.verifier.as_str()),
        ("client_id", spa.client_id.as_str()),
    ];
    let resp = browser_token_request(&server, SPA_ORIGIN, &redeem).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), SPA_ORIGIN);
    assert!(header(&resp, "vary").contains("Origin"));
    assert_eq!(header(&resp, "access-control-allow-credentials"), "");
    assert_eq!(
        header(&resp, "access-control-expose-headers"),
        "WWW-Authenticate"
    );
    let tokens: serde_json::Value = resp.json().await.unwrap();
    assert!(tokens["access_token"].is_string());

    // The same client's error answers are readable by its page too (a replayed code).
    let resp = browser_token_request(&server, SPA_ORIGIN, &redeem).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(header(&resp, "access-control-allow-origin"), SPA_ORIGIN);

    // Another client's origin, or a stranger's, gets nothing for this client's request.
    for origin in [OTHER_CLIENT_ORIGIN, STRANGER_ORIGIN] {
        let resp = browser_token_request(&server, origin, &redeem).await;
        assert_eq!(header(&resp, "access-control-allow-origin"), "", "{origin}");
        assert!(header(&resp, "vary").contains("Origin"));
    }
    // A request whose client is unknown gets no CORS headers either.
    let resp = browser_token_request(
        &server,
        SPA_ORIGIN,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "nobody"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 401);
    assert_eq!(header(&resp, "access-control-allow-origin"), "");
}

#[tokio::test]
async fn userinfo_and_revocation_allow_the_tokens_client_origin_only() {
    let server = TestServer::start().await;
    let (spa, _other) = spa_and_other(&server).await;
    server.user("spa2@example.com").await;
    let person = server.person();
    let (code, request) = server.code_for(&person, &spa, "spa2@example.com").await;
    let resp = browser_token_request(
        &server,
        SPA_REDIRECT_ORIGIN,
        &[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", spa.redirect_uri.as_str()),
            ("code_verifier", request.verifier.as_str()),
            ("client_id", spa.client_id.as_str()),
        ],
    )
    .await;
    assert_eq!(
        header(&resp, "access-control-allow-origin"),
        SPA_REDIRECT_ORIGIN
    );
    let tokens: serde_json::Value = resp.json().await.unwrap();
    let access_token = tokens["access_token"].as_str().unwrap().to_string();

    let userinfo = |origin: &'static str| {
        let server = &server;
        let access_token = access_token.clone();
        async move {
            rp_http()
                .get(server.url("/userinfo"))
                .header("Origin", origin)
                .bearer_auth(access_token)
                .send()
                .await
                .expect("GET /userinfo")
        }
    };
    let resp = userinfo(SPA_ORIGIN).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), SPA_ORIGIN);
    assert!(header(&resp, "vary").contains("Origin"));
    let resp = userinfo(OTHER_CLIENT_ORIGIN).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), "");

    let revoke = |origin: &'static str| {
        let server = &server;
        let form = [
            ("token", access_token.clone()),
            ("client_id", spa.client_id.clone()),
        ];
        async move {
            rp_http()
                .post(server.url("/revoke"))
                .header("Origin", origin)
                .form(&form)
                .send()
                .await
                .expect("POST /revoke")
        }
    };
    let resp = revoke(STRANGER_ORIGIN).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), "");
    let resp = revoke(SPA_ORIGIN).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "access-control-allow-origin"), SPA_ORIGIN);
    // Revoked: userinfo refuses it, and without a known client its refusal allows no origin.
    let resp = userinfo(SPA_ORIGIN).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(header(&resp, "access-control-allow-origin"), "");
}

#[tokio::test]
async fn discovery_and_jwks_are_readable_from_any_origin() {
    let server = TestServer::start().await;
    for path in ["/.well-known/openid-configuration", "/jwks"] {
        let resp = rp_http()
            .get(server.url(path))
            .header("Origin", STRANGER_ORIGIN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(header(&resp, "access-control-allow-origin"), "*", "{path}");
        assert_eq!(
            header(&resp, "access-control-allow-credentials"),
            "",
            "{path}"
        );
        let resp = preflight(&server, path, STRANGER_ORIGIN, "GET").await;
        assert_eq!(resp.status(), 204, "{path}");
        assert_eq!(header(&resp, "access-control-allow-origin"), "*", "{path}");
        assert!(header(&resp, "access-control-allow-methods").contains("GET"));
    }
}

#[tokio::test]
async fn authorize_sends_no_cors_headers_even_to_a_registered_origin() {
    // SECURITY-CHECKLIST B16: the front channel is navigated to, never fetched.
    let server = TestServer::start().await;
    let (spa, _) = spa_and_other(&server).await;
    let request = server.auth_request(&spa, &[]);
    let resp = rp_http()
        .get(&request.url)
        .header("Origin", SPA_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&resp, "access-control-allow-origin"), "");
    let resp = preflight(&server, "/authorize", SPA_ORIGIN, "GET").await;
    assert_eq!(header(&resp, "access-control-allow-origin"), "");
}
