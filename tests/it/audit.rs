//! The audit trail (issue 10): every security event the server and the CLI hook leaves an
//! entry in the store, which `sesame audit` reads back by user and by client.

use crate::harness::{PASSWORD, TestServer, new_kek, query_map, rp_http};
use serde_json::Value;
use sesame::model::{AuditQuery, Client, GrantType, RefreshTokenPolicy, Scope};
use sesame::secret::{Secret, random_id, random_token};
use std::process::{Command, Output, Stdio};

/// Runs `sesame ARGS` on the server's database.
fn sesame(database_url: &str, dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(args)
        .current_dir(dir)
        .env_remove("SESAME_CONFIG")
        .env("SESAME_DATABASE_URL", database_url)
        .env("SESAME_KEK", new_kek())
        .env("SESAME_LOG__LEVEL", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run the sesame binary")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sesame audit --json ARGS` → (kind, outcome) of each entry, oldest first, and the entries.
fn audit_cli(database_url: &str, dir: &std::path::Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "--json"];
    all.extend_from_slice(args);
    ok(sesame(database_url, dir, &all), "sesame audit")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn kinds(entries: &[Value]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or_default().to_string(),
                e["outcome"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn pair(kind: &str, outcome: &str) -> (String, String) {
    (kind.to_string(), outcome.to_string())
}

/// A third-party client (so consent is asked) allowed refresh tokens.
async fn offline_client(server: &TestServer) -> (String, String, String) {
    let client_id = format!("client-{}", random_id());
    let secret = random_token();
    let redirect_uri = "http://127.0.0.1:9/callback".to_string();
    let client = Client {
        client_id: client_id.clone(),
        name: "Audited RP".into(),
        secret_hash: Some(Secret::hash(&secret)),
        redirect_uris: vec![redirect_uri.clone()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        allowed_scopes: Scope::parse("openid email offline_access").unwrap(),
        token_endpoint_auth_method: sesame::model::TokenEndpointAuthMethod::ClientSecretBasic,
        public: false,
        first_party: false,
        created_at: server.now(),
        refresh_tokens: RefreshTokenPolicy::default(),
        allowed_origins: vec![],
        backchannel_logout_uri: None,
    };
    server.state.store.create_client(&client).await.unwrap();
    (client_id, secret.expose().to_string(), redirect_uri)
}

#[tokio::test]
async fn every_hooked_security_event_leaves_an_audit_entry_that_sesame_audit_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let database_url = format!("sqlite://{}/sesame.db", path.display());
    // No retry window: presenting a rotated-away refresh token again is reuse at once.
    let server = TestServer::start_on(dir, database_url.clone(), new_kek(), |f| {
        f.tokens.refresh_retry_window = 0;
    })
    .await;
    let email = "audited@example.com";
    let user = server.user(email).await;
    let (client_id, secret, redirect_uri) = offline_client(&server).await;
    let client = crate::harness::TestClient {
        client_id: client_id.clone(),
        secret: Some(secret.clone()),
        redirect_uri,
        auth_method: sesame::model::TokenEndpointAuthMethod::ClientSecretBasic,
    };

    // Wrong passwords until throttled.
    let person = server.person();
    let request = server.auth_request(&client, &[("scope", "openid email offline_access")]);
    let resp = person.get(&request.url).await;
    let login = person.location(&resp);
    let mut statuses = Vec::new();
    for i in 0..12 {
        let status = person
            .submit_login(&login, email, &format!("wrong guess number {i}"))
            .await
            .status()
            .as_u16();
        statuses.push(status);
        if status == 429 {
            break;
        }
    }
    assert_eq!(statuses.first(), Some(&401), "{statuses:?}");
    assert_eq!(
        statuses.last(),
        Some(&429),
        "throttled in the end: {statuses:?}"
    );
    server.clock.advance(86_400);

    // A login with consent, a rotation, then reuse of the rotated-away token.
    let callback = person.sign_in(&request.url, email, PASSWORD).await;
    let code = query_map(&callback).get("code").cloned().expect("a code");
    let tokens: Value = server
        .redeem(&client, &code, Some(&request.verifier))
        .await
        .json()
        .await
        .unwrap();
    let first_rt = tokens["refresh_token"].as_str().expect("a refresh token");
    let refresh = |token: String| {
        server.token_request(
            &client,
            vec![
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", token),
            ],
        )
    };
    assert_eq!(refresh(first_rt.to_string()).await.status(), 200);
    assert_eq!(refresh(first_rt.to_string()).await.status(), 400, "reuse");

    // Revocation of an access token and of a refresh token.
    let again = server.auth_request(&client, &[("scope", "openid email offline_access")]);
    let callback = person.sign_in(&again.url, email, PASSWORD).await;
    let code = query_map(&callback).get("code").cloned().expect("a code");
    let tokens: Value = server
        .redeem(&client, &code, Some(&again.verifier))
        .await
        .json()
        .await
        .unwrap();
    for kind in ["access_token", "refresh_token"] {
        let resp = rp_http()
            .post(server.url("/revoke"))
            .basic_auth(&client_id, Some(&secret))
            .form(&[("token", tokens[kind].as_str().unwrap())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }

    // Key rotation and revocation.
    let rotated = server.state.keys.rotate_now(server.now()).await.unwrap();
    let retired = rotated.retired.first().expect("a retired key").clone();
    server
        .state
        .keys
        .revoke(&retired, server.now())
        .await
        .unwrap();

    // Operator commands: a client created and deleted, the user disabled.
    let created: Value = serde_json::from_str(&ok(
        sesame(
            &database_url,
            &path,
            &[
                "client",
                "create",
                "--name",
                "short-lived",
                "--redirect-uri",
                "http://127.0.0.1:9/cb",
                "--json",
            ],
        ),
        "client create",
    ))
    .unwrap();
    let short_lived = created["client_id"]
        .as_str()
        .expect("client_id")
        .to_string();
    ok(
        // `--`: a generated id may begin with `-`.
        sesame(
            &database_url,
            &path,
            &["client", "delete", "--", &short_lived],
        ),
        "client delete",
    );
    ok(
        sesame(&database_url, &path, &["user", "disable", email]),
        "user disable",
    );

    // By user: the logins, the consent, the reuse, the revocations, the disabling.
    let by_user = kinds(&audit_cli(&database_url, &path, &["--user", email]));
    for expected in [
        pair("login", "bad_credentials"),
        pair("login", "throttled"),
        pair("login", "success"),
        pair("consent_granted", "success"),
        pair("refresh_reuse", "grant_revoked"),
        pair("token_revoked", "success"),
        pair("user_disabled", "success"),
    ] {
        assert!(by_user.contains(&expected), "{expected:?} in {by_user:?}");
    }
    let revoked: Vec<Value> = audit_cli(&database_url, &path, &["--client", &client_id])
        .into_iter()
        .filter(|e| e["kind"] == "token_revoked")
        .collect();
    let details: Vec<&str> = revoked
        .iter()
        .filter_map(|e| e["detail"].as_str())
        .collect();
    assert_eq!(details, ["access_token", "refresh_token"], "{revoked:?}");
    assert!(
        revoked.iter().all(|e| e["user_id"] == user.id.0.as_str()),
        "{revoked:?}"
    );
    let short = kinds(&audit_cli(
        &database_url,
        &path,
        &[&format!("--client={short_lived}")],
    ));
    assert_eq!(
        short,
        [
            pair("client_created", "success"),
            pair("client_deleted", "success")
        ]
    );

    // Keys concern no user or client; the store is read directly, and `--since` is honoured.
    let all = server
        .state
        .store
        .audit_entries(&AuditQuery::default())
        .await
        .unwrap();
    let about_keys: Vec<(&str, Option<&str>)> = all
        .iter()
        .filter(|e| e.kind.starts_with("key_"))
        .map(|e| (e.kind.as_str(), e.detail.as_deref()))
        .collect();
    assert!(
        about_keys.contains(&("key_rotated", Some(&format!("kid: {}", rotated.active)))),
        "{about_keys:?}"
    );
    assert!(
        about_keys.contains(&("key_revoked", Some(&format!("kid: {retired}")))),
        "{about_keys:?}"
    );
    assert!(
        all.iter()
            .filter(|e| e.kind == "login")
            .all(|e| e.ip.as_deref() == Some("127.0.0.1")),
        "logins carry the address"
    );
    // `--since` takes a duration (the time filter itself is pinned by the store contract).
    let recent = kinds(&audit_cli(
        &database_url,
        &path,
        &["--since", "1h", "--user", email],
    ));
    assert!(
        recent.contains(&pair("user_disabled", "success")),
        "{recent:?}"
    );
    let bad = sesame(&database_url, &path, &["audit", "--since", "7w"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "a duration without a known unit is a usage error"
    );
}
