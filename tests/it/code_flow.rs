//! The happy paths, driven by the `openidconnect` crate as the relying party and a person with a
//! cookie jar (checklist B5, B6, B13, D1, D2, D9, F1, F3, G1).

use crate::harness::{
    ClientSpec, PASSWORD, THIRD_PARTY_NAME, TestServer, assert_consent_form, assert_error_redirect,
    assert_oauth_error, header, hidden_input, jwt_claims, jwt_header, query_map, rp_http,
};
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope,
    TokenResponse,
};
use serde_json::Value;
use sesame::model::TokenEndpointAuthMethod;

/// The relying party as `openidconnect` builds it from discovery.
pub type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Discovers `server` and builds a relying party for `client`.
pub async fn relying_party(server: &TestServer, client: &crate::harness::TestClient) -> Rp {
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(server.issuer.clone()).unwrap(),
        &rp_http(),
    )
    .await
    .expect("discovery");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.client_id.clone()),
        client.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(client.redirect_uri.clone()).unwrap())
}

/// Runs the whole code flow with PKCE through `openidconnect` and checks what it returns.
/// `consent_for` names the client whose consent form the person must be shown, once; `None`
/// means the person must see no consent page at all (a first-party client).
async fn full_code_flow(
    server: &TestServer,
    client: &crate::harness::TestClient,
    consent_for: Option<&str>,
) {
    let user = server.user("ada@example.com").await;
    let rp = relying_party(server, client).await;
    let http = rp_http();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    let person = server.person();
    let journey = person
        .sign_in_seeing(url.as_str(), "ada@example.com", PASSWORD)
        .await;
    let consent_pages = journey.consent_pages();
    match consent_for {
        Some(name) => {
            assert_eq!(consent_pages.len(), 1, "consent asked once");
            assert_consent_form(consent_pages[0], name, &["openid", "email", "profile"]);
        }
        None => assert!(
            consent_pages.is_empty(),
            "a first-party client asks no consent"
        ),
    }
    let callback = journey.callback;
    assert!(callback.starts_with(&client.redirect_uri), "{callback}");
    let q = query_map(&callback);
    assert_eq!(
        q.get("state").map(String::as_str),
        Some(csrf.secret().as_str())
    );
    assert_eq!(
        q.get("iss").map(String::as_str),
        Some(server.issuer.as_str()),
        "RFC 9207 iss"
    );
    let code = q.get("code").expect("code").clone();

    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint known")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("id_token");
    let claims = id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("ID token verifies against JWKS with the nonce");
    assert_eq!(claims.subject().as_str(), user.id.0);
    // OIDC Core §5.4: with an access token issued, scope claims come from UserInfo.
    assert!(claims.auth_time().is_some(), "auth_time");

    let info: CoreUserInfoClaims = rp
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .expect("userinfo endpoint known")
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.email().map(|e| e.as_str()), Some("ada@example.com"));
    assert!(info.name().is_some(), "name for scope profile");
}

#[tokio::test]
async fn confidential_client_completes_code_flow_with_pkce_via_openidconnect() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    full_code_flow(&server, &client, None).await;
}

#[tokio::test]
async fn public_client_completes_code_flow_with_pkce_via_openidconnect() {
    let server = TestServer::start().await;
    let client = server.public_client().await;
    full_code_flow(&server, &client, None).await;
}

#[tokio::test]
async fn non_first_party_client_completes_code_flow_after_consent_via_openidconnect() {
    let server = TestServer::start().await;
    let client = server.third_party_client().await;
    full_code_flow(&server, &client, Some(THIRD_PARTY_NAME)).await;
}

#[tokio::test]
async fn client_credentials_via_openidconnect_issues_an_at_jwt() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let rp = relying_party(&server, &client).await;
    let tokens = rp
        .exchange_client_credentials()
        .expect("token endpoint known")
        .request_async(&rp_http())
        .await
        .expect("client_credentials");
    let at = tokens.access_token().secret();
    let h = jwt_header(at);
    assert_eq!(h["typ"], "at+jwt");
    assert_eq!(h["alg"], "RS256");
    let c = jwt_claims(at);
    assert_eq!(c["iss"], server.issuer.as_str());
    assert_eq!(c["client_id"], client.client_id.as_str());
    assert!(tokens.id_token().is_none(), "no ID token without a user");
}

#[tokio::test]
async fn token_response_and_tokens_carry_every_required_member() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let user = server.user("grace@example.com").await;
    let person = server.person();
    let (code, request) = server.code_for(&person, &client, "grace@example.com").await;
    let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "cache-control").contains("no-store"));
    assert!(header(&resp, "pragma").contains("no-cache"));
    assert!(header(&resp, "content-type").starts_with("application/json"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap_or(0) > 0);
    let scope = body["scope"].as_str().expect("scope");
    for s in ["openid", "email", "profile"] {
        assert!(scope.split(' ').any(|x| x == s), "scope {scope} lacks {s}");
    }

    let at = body["access_token"].as_str().expect("access_token");
    let ah = jwt_header(at);
    assert_eq!(ah["typ"], "at+jwt", "RFC 9068 typ");
    assert_eq!(ah["alg"], "RS256");
    let ac = jwt_claims(at);
    assert_eq!(ac["iss"], server.issuer.as_str());
    assert_eq!(ac["sub"], user.id.0.as_str());
    assert_eq!(ac["aud"], server.issuer.as_str());
    assert_eq!(ac["client_id"], client.client_id.as_str());
    assert!(ac["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(ac["exp"].as_i64().unwrap() > ac["iat"].as_i64().unwrap());

    let id = body["id_token"].as_str().expect("id_token");
    let ih = jwt_header(id);
    assert_eq!(ih["alg"], "RS256");
    let kid = ih["kid"].as_str().expect("kid").to_string();
    let jwks: Value = rp_http()
        .get(server.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid.as_str()),
        "ID token kid is published"
    );
    let ic = jwt_claims(id);
    assert_eq!(ic["iss"], server.issuer.as_str());
    assert_eq!(ic["sub"], user.id.0.as_str());
    assert_eq!(ic["aud"], client.client_id.as_str());
    assert_eq!(ic["azp"], client.client_id.as_str());
    assert_eq!(ic["nonce"], request.nonce.as_str());
    assert!(ic["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(
        ic["amr"]
            .as_array()
            .is_some_and(|a| a.contains(&Value::from("pwd")))
    );
    let iat = ic["iat"].as_i64().unwrap();
    assert!((iat - server.now()).abs() <= 1, "iat from the pinned clock");
    assert!(ic["exp"].as_i64().unwrap() > iat);
    assert!(ic["auth_time"].as_i64().is_some());
    let hash = digest::digest(&digest::SHA256, at.as_bytes());
    let expected = URL_SAFE_NO_PAD.encode(&hash.as_ref()[..16]);
    assert_eq!(
        ic["at_hash"],
        expected.as_str(),
        "OIDC Core §3.1.3.6 at_hash"
    );
}

#[tokio::test]
async fn client_secret_post_client_authenticates_in_the_body_and_only_there() {
    let server = TestServer::start().await;
    let client = server
        .register(ClientSpec {
            auth_method: TokenEndpointAuthMethod::ClientSecretPost,
            ..ClientSpec::confidential()
        })
        .await;
    server.user("post@example.com").await;
    let person = server.person();
    let (code, request) = server.code_for(&person, &client, "post@example.com").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", &client.redirect_uri),
        ("code_verifier", &request.verifier),
    ];
    // The right secret by the method the client did not register: refused, code not spent.
    let resp = rp_http()
        .post(server.url("/token"))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_oauth_error(resp, 401, "invalid_client").await;

    let secret = client.secret.clone().unwrap();
    let mut with_body_credentials = form.to_vec();
    with_body_credentials.push(("client_id", &client.client_id));
    with_body_credentials.push(("client_secret", &secret));
    let resp = rp_http()
        .post(server.url("/token"))
        .form(&with_body_credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "{}",
        resp.text().await.unwrap_or_default()
    );
}

#[tokio::test]
async fn client_secret_basic_client_may_not_send_its_secret_in_the_body() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let resp = rp_http()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client.client_id),
            ("client_secret", client.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(resp, 401, "invalid_client").await;
}

#[tokio::test]
async fn userinfo_answers_get_and_post_with_claims_by_scope() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let user = server.user("scopes@example.com").await;
    let person = server.person();

    // openid only: just `sub`.
    let request = server.auth_request(&client, &[("scope", "openid")]);
    let callback = person
        .sign_in(&request.url, "scopes@example.com", PASSWORD)
        .await;
    let code = query_map(&callback)["code"].clone();
    let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let at = body["access_token"].as_str().unwrap().to_string();
    let resp = rp_http()
        .get(server.url("/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "cache-control").contains("no-store"));
    let info: Value = resp.json().await.unwrap();
    assert_eq!(info["sub"], user.id.0.as_str());
    assert!(
        info.get("email").is_none(),
        "email without scope email: {info}"
    );
    assert!(
        info.get("name").is_none(),
        "name without scope profile: {info}"
    );

    // email + profile, over POST.
    let body = server
        .tokens_for(&person, &client, "scopes@example.com")
        .await;
    let at = body["access_token"].as_str().unwrap();
    let resp = rp_http()
        .post(server.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let info: Value = resp.json().await.unwrap();
    assert_eq!(info["sub"], user.id.0.as_str());
    assert_eq!(info["email"], "scopes@example.com");
    assert!(info["email_verified"].is_boolean());
    assert_eq!(info["name"], "Test Person");
}

#[tokio::test]
async fn existing_session_skips_the_login_form_and_prompt_none_succeeds() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user("sso@example.com").await;
    let person = server.person();
    let (_, _) = server.code_for(&person, &client, "sso@example.com").await;

    let request = server.auth_request(&client, &[]);
    let resp = person.get(&request.url).await;
    let loc = person.location(&resp);
    assert!(
        loc.starts_with(&client.redirect_uri),
        "no login form: {loc}"
    );
    assert!(query_map(&loc).contains_key("code"));

    let request = server.auth_request(&client, &[("prompt", "none")]);
    let resp = person.get(&request.url).await;
    let loc = person.location(&resp);
    let q = query_map(&loc);
    assert!(loc.starts_with(&client.redirect_uri), "{loc}");
    assert!(q.contains_key("code"), "prompt=none with a session: {loc}");
    assert_eq!(q["state"], request.state);
}

#[tokio::test]
async fn consent_is_asked_once_and_remembered_per_scopes() {
    let server = TestServer::start().await;
    let client = server.third_party_client().await;
    server.user("consent@example.com").await;
    let person = server.person();

    let request = server.auth_request(&client, &[("scope", "openid email")]);
    let resp = person.get(&request.url).await;
    let login = person.location(&resp);
    let resp = person
        .submit_login(&login, "consent@example.com", PASSWORD)
        .await;
    let consent = person.location(&resp);
    assert!(
        consent.contains("/consent?request="),
        "consent page first: {consent}"
    );
    let page = person.see(&consent).await;
    assert_consent_form(&page, THIRD_PARTY_NAME, &["openid", "email"]);
    let resp = person.post_consent(&page.html, "allow").await;
    let loc = person.location(&resp);
    assert!(query_map(&loc).contains_key("code"), "{loc}");

    // Same scopes again: no consent page.
    let request = server.auth_request(&client, &[("scope", "openid email")]);
    let loc = person.location(&person.get(&request.url).await);
    assert!(
        loc.starts_with(&client.redirect_uri),
        "consent remembered: {loc}"
    );
    assert!(query_map(&loc).contains_key("code"));

    // Wider scopes: asked again, and the form shows the new scope.
    let request = server.auth_request(&client, &[("scope", "openid email profile")]);
    let journey = person
        .sign_in_seeing(&request.url, "consent@example.com", PASSWORD)
        .await;
    let consent_pages = journey.consent_pages();
    assert_eq!(consent_pages.len(), 1, "new scope needs consent");
    assert_consent_form(consent_pages[0], THIRD_PARTY_NAME, &["profile"]);
    assert!(query_map(&journey.callback).contains_key("code"));
}

#[tokio::test]
async fn consent_denied_redirects_access_denied() {
    let server = TestServer::start().await;
    let client = server.third_party_client().await;
    server.user("deny@example.com").await;
    let person = server.person();
    let request = server.auth_request(&client, &[]);
    let login = person.location(&person.get(&request.url).await);
    let consent = person.location(
        &person
            .submit_login(&login, "deny@example.com", PASSWORD)
            .await,
    );
    let page = person.see(&consent).await;
    assert_consent_form(&page, THIRD_PARTY_NAME, &["openid", "email", "profile"]);
    let resp = person.post_consent(&page.html, "deny").await;
    assert_error_redirect(
        &server,
        &person,
        &resp,
        &client,
        "access_denied",
        Some(&request.state),
    );
}

#[tokio::test]
async fn consent_needs_its_csrf_token_and_answers_its_request_once() {
    let server = TestServer::start().await;
    let client = server.third_party_client().await;
    let user = server.user("consent-csrf@example.com").await;
    let person = server.person();
    let request = server.auth_request(&client, &[]);
    let login = person.location(&person.get(&request.url).await);
    let consent = person.location(
        &person
            .submit_login(&login, "consent-csrf@example.com", PASSWORD)
            .await,
    );
    let html = person.get(&consent).await.text().await.unwrap();
    let pending = hidden_input(&html, "request").unwrap();
    let csrf = hidden_input(&html, "csrf_token").unwrap();

    // A cross-site POST (the session cookie rides along, no token): 403, nothing recorded.
    for token in [None, Some("forged-token-value-that-is-long-enough-xx")] {
        let mut form = vec![("request", pending.as_str()), ("decision", "allow")];
        if let Some(t) = token {
            form.push(("csrf_token", t));
        }
        let resp = person.post_form("/consent", &form).await;
        assert_eq!(resp.status(), 403, "{token:?}");
        assert!(header(&resp, "location").is_empty());
    }
    let stored = server
        .state
        .store
        .consent(&user.id, &client.client_id)
        .await
        .unwrap();
    assert!(stored.is_none(), "no consent without the CSRF token");

    // The real form, twice: one code, then the request is spent.
    let form = [
        ("request", pending.as_str()),
        ("csrf_token", csrf.as_str()),
        ("decision", "allow"),
    ];
    let first = person.post_form("/consent", &form).await;
    assert!(query_map(&person.location(&first)).contains_key("code"));
    let second = person.post_form("/consent", &form).await;
    assert_eq!(second.status(), 400);
    assert!(header(&second, "location").is_empty());
}

#[tokio::test]
async fn form_post_response_mode_posts_code_state_and_iss() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user("formpost@example.com").await;
    let person = server.person();
    let request = server.auth_request(&client, &[("response_mode", "form_post")]);
    let login = person.location(&person.get(&request.url).await);
    let resp = person
        .submit_login(&login, "formpost@example.com", PASSWORD)
        .await;
    // Either the login answers with the auto-posting page, or it redirects back to /authorize
    // (an issuer URL) which then does.
    let resp = if resp.status() == 303 || resp.status() == 302 {
        let next = person.location(&resp);
        assert!(
            next.starts_with(&server.issuer),
            "form_post never puts the code in a URL: {next}"
        );
        person.get(&next).await
    } else {
        resp
    };
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "location").is_empty());
    let html = resp.text().await.unwrap();
    assert!(html.contains("method=\"post\"") || html.contains("method=\"POST\""));
    assert_eq!(
        crate::harness::form_action(&html).as_deref(),
        Some(client.redirect_uri.as_str())
    );
    let code = hidden_input(&html, "code").expect("code input");
    assert_eq!(
        hidden_input(&html, "state").as_deref(),
        Some(request.state.as_str())
    );
    assert_eq!(
        hidden_input(&html, "iss").as_deref(),
        Some(server.issuer.as_str())
    );
    let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn post_authorize_works_like_get_and_unknown_parameters_are_ignored() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user("post-authz@example.com").await;
    let person = server.person();
    let (verifier, challenge) = crate::harness::pkce_pair();
    let resp = person
        .post_form(
            "/authorize",
            &[
                ("scope", "email openid"),
                ("client_id", &client.client_id),
                ("extra", "foobar"),
                ("redirect_uri", &client.redirect_uri),
                // An unknown parameter may even be repeated: it is ignored (RFC 6749 §3.1).
                ("extra", "again"),
                ("response_type", "code"),
                ("state", "a b+c/d=e&f"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("display", "page"),
                ("ui_locales", "en"),
                ("login_hint", "post-authz@example.com"),
            ],
        )
        .await;
    let login = person.location(&resp);
    let resp = person
        .submit_login(&login, "post-authz@example.com", PASSWORD)
        .await;
    let loc = person.location(&resp);
    let q = query_map(&loc);
    assert_eq!(
        q.get("state").map(String::as_str),
        Some("a b+c/d=e&f"),
        "state byte-exact"
    );
    let resp = server.redeem(&client, &q["code"], Some(&verifier)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let ic = jwt_claims(body["id_token"].as_str().unwrap());
    assert!(ic.get("nonce").is_none(), "no nonce sent, none returned");
}
