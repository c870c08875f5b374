//! APIs as resource servers (issue 12): registered APIs, `resource` (RFC 8707) at the token
//! endpoint, audience-restricted RFC 9068 access tokens, checked the way an API team would,
//! offline against the JWKS.

use crate::harness::{
    ClientSpec, TestClient, TestServer, assert_bearer_error, assert_oauth_error, header,
    jwt_claims, new_kek, rp_http,
};
use crate::revocation::post_as;
use serde_json::Value;
use sesame::model::{
    AccessTokenFormat, Api, ApiScope, ClientApi, GrantType, Scope, TokenEndpointAuthMethod,
};
use std::process::{Command, Output, Stdio};

const ORDERS: &str = "https://api.example.com/orders";
const BILLING: &str = "https://api.example.com/billing";

// The validator and middleware an API team would start from (README, "APIs").
#[allow(dead_code)]
#[path = "../../examples/protect_api.rs"]
mod protect_api;

/// The example's validator for one API, returning the token's full claims when it accepts it
/// (so the tests can look at every claim).
struct ApiValidator(protect_api::Validator);

impl ApiValidator {
    async fn new(server: &TestServer, audience: &str) -> ApiValidator {
        ApiValidator(
            protect_api::Validator::discover(&server.issuer, audience)
                .await
                .expect("discovery"),
        )
    }

    async fn validate(&self, token: &str) -> Result<Value, String> {
        self.0.validate(token).await.map_err(|e| e.to_string())?;
        Ok(jwt_claims(token))
    }
}

fn api(identifier: &str, ttl: Option<i64>) -> Api {
    let scope = |name: &str, description: &str| ApiScope {
        name: name.into(),
        description: description.into(),
    };
    Api {
        identifier: identifier.into(),
        name: "Orders".into(),
        scopes: vec![
            scope("orders:read", "Read your orders"),
            scope("orders:write", "Place orders"),
            scope("orders:admin", "Manage every order"),
        ],
        access_token_ttl: ttl,
        token_format: AccessTokenFormat::Jwt,
        created_at: 0,
    }
}

/// A server with the Orders API (tokens live 300 s) and the Billing API (server default).
async fn server_with_apis() -> TestServer {
    let server = TestServer::start().await;
    for registered in [api(ORDERS, Some(300)), api(BILLING, None)] {
        server.state.store.create_api(&registered).await.unwrap();
    }
    server
}

/// A confidential machine client allowed `scopes` at each of `apis`.
async fn machine_client(server: &TestServer, apis: &[(&str, &str)]) -> TestClient {
    let client = server
        .register(ClientSpec {
            grant_types: vec![GrantType::ClientCredentials],
            allowed_scopes: Scope::parse("reports").unwrap(),
            ..ClientSpec::confidential()
        })
        .await;
    for (identifier, scopes) in apis {
        server
            .state
            .store
            .allow_client_api(&ClientApi {
                client_id: client.client_id.clone(),
                api: identifier.to_string(),
                scopes: Scope::parse(scopes).unwrap(),
            })
            .await
            .unwrap();
    }
    client
}

async fn client_credentials(
    server: &TestServer,
    client: &TestClient,
    extra: &[(&'static str, &str)],
) -> reqwest::Response {
    let mut form = vec![("grant_type", "client_credentials".to_string())];
    form.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    server.token_request(client, form).await
}

async fn token_json(resp: reqwest::Response) -> Value {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("token JSON")
}

#[tokio::test]
async fn client_credentials_with_resource_gets_a_token_only_that_api_accepts() {
    let server = server_with_apis().await;
    let client = machine_client(
        &server,
        &[
            (ORDERS, "orders:read orders:write"),
            (BILLING, "orders:read"),
        ],
    )
    .await;
    let body =
        token_json(client_credentials(&server, &client, &[("resource", ORDERS)]).await).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 300, "the API's own lifetime");
    assert_eq!(
        body["scope"], "orders:read orders:write",
        "every scope allowed there"
    );
    let token = body["access_token"].as_str().unwrap();

    let orders = ApiValidator::new(&server, ORDERS).await;
    let claims = orders
        .validate(token)
        .await
        .expect("the Orders API accepts it");
    assert_eq!(
        claims["aud"], ORDERS,
        "aud is the API's identifier and only that"
    );
    assert_eq!(claims["iss"], server.issuer.as_str());
    assert_eq!(claims["sub"], client.client_id.as_str());
    assert_eq!(claims["client_id"], client.client_id.as_str());
    assert_eq!(claims["scope"], "orders:read orders:write");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        300
    );
    assert_eq!(claims["iat"].as_i64().unwrap(), server.now());

    // Replayed at another API, or where the issuer itself is the audience, it is refused.
    let billing = ApiValidator::new(&server, BILLING).await;
    let refused = billing
        .validate(token)
        .await
        .expect_err("Billing refuses an Orders token");
    assert!(refused.contains("Audience"), "{refused}");
    assert!(
        ApiValidator::new(&server, &server.issuer)
            .await
            .validate(token)
            .await
            .is_err()
    );

    // A narrower request gets what it asked for, still for Orders only.
    let narrow = token_json(
        client_credentials(
            &server,
            &client,
            &[("resource", ORDERS), ("scope", "orders:read")],
        )
        .await,
    )
    .await;
    assert_eq!(narrow["scope"], "orders:read");
    let claims = orders
        .validate(narrow["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims["scope"], "orders:read");

    // Billing, with the server's default lifetime; the same resource twice is one target.
    let body = token_json(
        client_credentials(
            &server,
            &client,
            &[("resource", BILLING), ("resource", BILLING)],
        )
        .await,
    )
    .await;
    assert_eq!(
        body["expires_in"], server.state.config.access_token_ttl,
        "no API lifetime: the server default"
    );
    let claims = billing
        .validate(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims["aud"], BILLING);
    assert_eq!(claims["scope"], "orders:read");
}

#[tokio::test]
async fn unknown_unpermitted_or_malformed_resources_are_invalid_target() {
    let server = server_with_apis().await;
    let client = machine_client(&server, &[(ORDERS, "orders:read")]).await;
    for (resource, what) in [
        ("https://api.example.com/unknown", "not a registered API"),
        (BILLING, "registered, but not allowed for this client"),
        ("orders", "not an absolute URI"),
        (
            "https://api.example.com/orders#x",
            "a fragment (RFC 8707 §2)",
        ),
    ] {
        let resp = client_credentials(&server, &client, &[("resource", resource)]).await;
        let body = assert_oauth_error(resp, 400, "invalid_target").await;
        assert!(body["error_description"].is_string(), "{what}: {body}");
    }
    // One token has one audience: two different APIs in one request are refused.
    let resp = client_credentials(
        &server,
        &client,
        &[("resource", ORDERS), ("resource", BILLING)],
    )
    .await;
    assert_oauth_error(resp, 400, "invalid_target").await;
    // A scope the client may not have at that API is invalid_scope, not a narrower token.
    for scope in ["orders:admin", "orders:read reports", "openid"] {
        let resp =
            client_credentials(&server, &client, &[("resource", ORDERS), ("scope", scope)]).await;
        assert_oauth_error(resp, 400, "invalid_scope").await;
    }
}

#[tokio::test]
async fn tokens_without_resource_keep_their_shape_and_get_no_api_scopes() {
    let server = server_with_apis().await;
    let client = machine_client(
        &server,
        &[(ORDERS, "orders:read"), (BILLING, "orders:read")],
    )
    .await;
    let body = token_json(client_credentials(&server, &client, &[]).await).await;
    assert_eq!(
        body["scope"], "reports",
        "the client's own scopes, as before"
    );
    assert_eq!(body["expires_in"], server.state.config.access_token_ttl);
    let claims = ApiValidator::new(&server, &server.issuer)
        .await
        .validate(body["access_token"].as_str().unwrap())
        .await
        .expect("aud is the issuer, as before");
    assert_eq!(claims["scope"], "reports");
    // With two APIs allowed, an API scope without a resource names no target.
    let resp = client_credentials(&server, &client, &[("scope", "orders:read")]).await;
    assert_oauth_error(resp, 400, "invalid_scope").await;
}

#[tokio::test]
async fn a_client_with_one_api_targets_it_by_asking_for_its_scopes() {
    let server = server_with_apis().await;
    let client = machine_client(&server, &[(ORDERS, "orders:read orders:write")]).await;
    let body =
        token_json(client_credentials(&server, &client, &[("scope", "orders:write")]).await).await;
    assert_eq!(body["scope"], "orders:write");
    assert_eq!(body["expires_in"], 300);
    let claims = ApiValidator::new(&server, ORDERS)
        .await
        .validate(body["access_token"].as_str().unwrap())
        .await
        .expect("for the client's single default API");
    assert_eq!(claims["aud"], ORDERS);
    // Asking for none of its scopes keeps today's token.
    let body =
        token_json(client_credentials(&server, &client, &[("scope", "reports")]).await).await;
    let claims = ApiValidator::new(&server, &server.issuer)
        .await
        .validate(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims["scope"], "reports");
}

#[tokio::test]
async fn an_api_token_is_refused_at_userinfo() {
    let server = server_with_apis().await;
    let client = machine_client(&server, &[(ORDERS, "orders:read")]).await;
    let body =
        token_json(client_credentials(&server, &client, &[("resource", ORDERS)]).await).await;
    let (status, www, _) = server
        .userinfo(body["access_token"].as_str().unwrap())
        .await;
    assert_bearer_error(
        status,
        &www,
        "invalid_token",
        "an API-only token at userinfo",
    );
}

/// The `sesame` binary against `database_url`.
fn sesame(database_url: &str, kek: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(args)
        .env_remove("SESAME_CONFIG")
        .env("SESAME_DATABASE_URL", database_url)
        .env("SESAME_KEK", kek)
        .stdin(Stdio::null())
        .output()
        .expect("run the sesame binary")
}

fn ok(database_url: &str, kek: &str, args: &[&str]) -> String {
    let out = sesame(database_url, kek, args);
    assert!(
        out.status.success(),
        "sesame {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn the_cli_registers_an_api_and_a_client_that_gets_tokens_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sesame.db", dir.path().display());
    let kek = new_kek();
    let created = ok(
        &url,
        &kek,
        &[
            "api",
            "create",
            "--identifier",
            ORDERS,
            "--name",
            "Orders",
            "--scope",
            "orders:read=Read your orders",
            "--scope",
            "orders:write=Place orders",
            "--access-token-ttl",
            "120",
            "--json",
        ],
    );
    let created: Value = serde_json::from_str(created.trim()).expect("--json prints JSON");
    assert_eq!(created["identifier"], ORDERS);
    assert_eq!(created["scopes"][0]["description"], "Read your orders");
    assert_eq!(created["access_token_ttl"], 120);

    // The identifier is unique; bad input is a usage error that says why.
    let again = sesame(
        &url,
        &kek,
        &["api", "create", "--identifier", ORDERS, "--name", "X"],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad = sesame(
        &url,
        &kek,
        &["api", "create", "--identifier", "orders", "--name", "X"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("absolute URI"));

    let listed = ok(&url, &kek, &["api", "list"]);
    assert!(
        listed.contains(ORDERS) && listed.contains("orders:write"),
        "{listed}"
    );
    let shown = ok(&url, &kek, &["api", "show", ORDERS]);
    assert!(shown.contains("Place orders"), "{shown}");

    let client: Value = serde_json::from_str(
        ok(
            &url,
            &kek,
            &[
                "client",
                "create",
                "--name",
                "worker",
                "--grant-types",
                "client_credentials",
                "--scope",
                "reports",
                "--json",
            ],
        )
        .trim(),
    )
    .unwrap();
    let client_id = client["client_id"].as_str().unwrap().to_string();
    let unknown_scope = sesame(
        &url,
        &kek,
        &[
            "client",
            "allow-api",
            &client_id,
            "--api",
            ORDERS,
            "--scopes",
            "orders:admin",
        ],
    );
    assert_eq!(unknown_scope.status.code(), Some(2));
    ok(
        &url,
        &kek,
        &[
            "client",
            "allow-api",
            &client_id,
            "--api",
            ORDERS,
            "--scopes",
            "orders:read",
        ],
    );
    let shown = ok(&url, &kek, &["client", "show", &client_id]);
    assert!(shown.contains(&format!("{ORDERS} orders:read")), "{shown}");
    let shown: Value =
        serde_json::from_str(&ok(&url, &kek, &["client", "show", &client_id, "--json"])).unwrap();
    assert_eq!(shown["apis"][0]["api"], ORDERS);
    assert_eq!(
        shown["apis"][0]["scopes"],
        serde_json::json!(["orders:read"])
    );

    let server = TestServer::start_on(dir, url.clone(), kek.clone(), |_| {}).await;
    let client = TestClient {
        client_id: client_id.clone(),
        secret: client["client_secret"].as_str().map(str::to_string),
        redirect_uri: String::new(),
        auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
    };
    let body =
        token_json(client_credentials(&server, &client, &[("resource", ORDERS)]).await).await;
    assert_eq!(body["expires_in"], 120);
    let claims = ApiValidator::new(&server, ORDERS)
        .await
        .validate(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(claims["scope"], "orders:read");

    // Deleting the API takes the client's permission along: the resource is then unknown.
    assert!(ok(&url, &kek, &["api", "delete", ORDERS]).contains("deleted"));
    let resp = client_credentials(&server, &client, &[("resource", ORDERS)]).await;
    assert_oauth_error(resp, 400, "invalid_target").await;
    let shown = ok(&url, &kek, &["client", "show", &client_id]);
    assert!(!shown.contains(ORDERS), "{shown}");
}

#[tokio::test]
async fn an_api_token_is_introspected_with_its_audience_and_can_be_revoked() {
    let server = server_with_apis().await;
    let client = machine_client(&server, &[(ORDERS, "orders:read")]).await;
    let body =
        token_json(client_credentials(&server, &client, &[("resource", ORDERS)]).await).await;
    let token = body["access_token"].as_str().unwrap().to_string();
    let introspect = |token: String| {
        let (server, client) = (&server, &client);
        async move {
            let resp = post_as(server, client, "/introspect", vec![("token", token)]).await;
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };
    let described = introspect(token.clone()).await;
    assert_eq!(described["active"], true, "{described}");
    assert_eq!(described["aud"], ORDERS, "RFC 7662 §2.2 aud");
    assert_eq!(described["scope"], "orders:read");
    assert_eq!(described["client_id"], client.client_id.as_str());

    let resp = post_as(&server, &client, "/revoke", vec![("token", token.clone())]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        introspect(token).await,
        serde_json::json!({ "active": false })
    );
}

#[tokio::test]
async fn the_example_api_lets_through_only_tokens_for_it_with_the_scope_it_needs() {
    let server = server_with_apis().await;
    let client = machine_client(
        &server,
        &[
            (ORDERS, "orders:read orders:write"),
            (BILLING, "orders:read"),
        ],
    )
    .await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let api_url = format!("http://{}/orders", listener.local_addr().unwrap());
    let validator = protect_api::Validator::discover(&server.issuer, ORDERS)
        .await
        .unwrap();
    let api = protect_api::server(validator, listener).unwrap();
    let handle = api.handle();
    tokio::spawn(api);

    let token_for = |extra: Vec<(&'static str, &'static str)>| {
        let (server, client) = (&server, &client);
        async move {
            let body = token_json(client_credentials(server, client, &extra).await).await;
            body["access_token"].as_str().unwrap().to_string()
        }
    };
    let call = |token: Option<String>| {
        let url = api_url.clone();
        async move {
            let mut req = rp_http().get(url);
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), header(&resp, "www-authenticate"))
        }
    };

    let good = token_for(vec![("resource", ORDERS)]).await;
    assert_eq!(call(Some(good)).await.0, 200);
    assert_eq!(call(None).await, (401, "Bearer".to_string()));
    let for_billing = token_for(vec![("resource", BILLING)]).await;
    let (status, www) = call(Some(for_billing)).await;
    assert_bearer_error(status, &www, "invalid_token", "a Billing token at Orders");
    let for_issuer = token_for(vec![]).await;
    assert_eq!(
        call(Some(for_issuer)).await.0,
        401,
        "a token for the issuer"
    );
    let write_only = token_for(vec![("resource", ORDERS), ("scope", "orders:write")]).await;
    let (status, www) = call(Some(write_only)).await;
    assert_eq!(status, 403);
    assert!(www.contains("insufficient_scope"), "{www}");
    drop(handle.stop(false));
}

#[tokio::test]
async fn resource_with_a_grant_that_does_not_support_it_yet_is_refused() {
    let server = server_with_apis().await;
    let client = server.confidential_client().await;
    for grant_type in ["authorization_code", "refresh_token"] {
        let resp = server
            .token_request(
                &client,
                vec![
                    ("grant_type", grant_type.into()),
                    ("code", "whatever".into()),
                    ("refresh_token", "whatever".into()),
                    ("resource", ORDERS.into()),
                ],
            )
            .await;
        assert_oauth_error(resp, 400, "invalid_target").await;
    }
}
