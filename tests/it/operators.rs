//! Operator commands (issue 8 item 6), run through the `sesame` binary against the running
//! server's database: `user sessions`, `user logout`, `client revoke-tokens`.

use crate::harness::{ClientSpec, PASSWORD, Person, TestClient, TestServer, jwt_claims, query_map};
use sesame::model::{GrantType, Scope};
use std::process::{Command, Output, Stdio};

/// Runs `sesame ARGS` on `server`'s database.
fn sesame(server: &TestServer, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(args)
        .env_remove("SESAME_CONFIG")
        .env("SESAME_DATABASE_URL", &server.state.config.database_url)
        // The server's KEK: `user logout` seals back-channel notices with it.
        .env(
            "SESAME_KEK",
            server.state.config.kek.as_ref().expect("test KEK").expose(),
        )
        .env("SESAME_LOG__LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run the sesame binary")
}

/// Runs `sesame ARGS`, which must succeed; its stdout.
fn sesame_ok(server: &TestServer, args: &[&str]) -> String {
    let out = sesame(server, args);
    assert!(
        out.status.success(),
        "sesame {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A first-party confidential client that gets refresh tokens for `offline_access`.
async fn offline_client(server: &TestServer) -> TestClient {
    server
        .register(ClientSpec {
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            allowed_scopes: Scope::parse("openid email profile offline_access").unwrap(),
            backchannel_logout_uri: Some("http://127.0.0.1:9/backchannel".into()),
            ..ClientSpec::confidential()
        })
        .await
}

/// Signs `email` in (or reuses the person's session) and redeems the code: the token JSON.
async fn tokens(
    server: &TestServer,
    person: &Person,
    client: &TestClient,
    email: &str,
) -> serde_json::Value {
    let request = server.auth_request(client, &[("scope", "openid email offline_access")]);
    let callback = person.sign_in(&request.url, email, PASSWORD).await;
    let code = query_map(&callback)
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {callback}"));
    let resp = server.redeem(client, &code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200);
    let tokens: serde_json::Value = resp.json().await.unwrap();
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    tokens
}

/// Refreshes with `tokens`' refresh token: (status, body).
async fn refresh(
    server: &TestServer,
    client: &TestClient,
    tokens: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let resp = server
        .token_request(
            client,
            vec![
                ("grant_type", "refresh_token".into()),
                (
                    "refresh_token",
                    tokens["refresh_token"].as_str().unwrap().into(),
                ),
            ],
        )
        .await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

/// Whether `person` still has a session: `prompt=none` answers a code, not `login_required`.
async fn signed_in(server: &TestServer, person: &Person, client: &TestClient) -> bool {
    let request = server.auth_request(client, &[("prompt", "none")]);
    let resp = person.get(&request.url).await;
    let q = query_map(&person.location(&resp));
    if q.contains_key("code") {
        return true;
    }
    assert_eq!(
        q.get("error").map(String::as_str),
        Some("login_required"),
        "{q:?}"
    );
    false
}

#[tokio::test]
async fn user_logout_ends_every_session_and_revokes_every_token_of_the_user_only() {
    let server = TestServer::start().await;
    let client = offline_client(&server).await;
    server.user("leaving@example.com").await;
    server.user("staying@example.com").await;
    // Two browsers for the leaving user, one for the staying one.
    let laptop = server.person();
    let phone = server.person();
    let other = server.person();
    let from_laptop = tokens(&server, &laptop, &client, "leaving@example.com").await;
    let from_phone = tokens(&server, &phone, &client, "leaving@example.com").await;
    let others = tokens(&server, &other, &client, "staying@example.com").await;
    // A rotated family: the newest refresh token is the one that must die.
    let (status, rotated) = refresh(&server, &client, &from_phone).await;
    assert_eq!(status, 200);

    let listed = sesame_ok(
        &server,
        &["user", "sessions", "leaving@example.com", "--json"],
    );
    let sessions: serde_json::Value = serde_json::from_str(listed.trim()).unwrap();
    let sessions = sessions.as_array().expect("a JSON array");
    assert_eq!(sessions.len(), 2, "{listed}");
    let sids: Vec<&str> = sessions
        .iter()
        .map(|s| s["sid"].as_str().unwrap())
        .collect();
    let laptop_sid = jwt_claims(from_laptop["id_token"].as_str().unwrap())["sid"].clone();
    assert!(sids.contains(&laptop_sid.as_str().unwrap()), "{listed}");
    for session in sessions {
        for field in ["created_at", "auth_time", "last_seen_at", "expires_at"] {
            assert!(session[field].is_i64(), "{field} in {session}");
        }
    }
    let table = sesame_ok(&server, &["user", "sessions", "leaving@example.com"]);
    assert!(table.contains(laptop_sid.as_str().unwrap()), "{table}");
    assert!(table.contains("LAST SEEN"), "{table}");

    let out = sesame_ok(&server, &["user", "logout", "leaving@example.com"]);
    assert!(out.contains("ended 2 session(s)"), "{out}");
    // One back-channel logout notice per ended session, queued for the server to deliver.
    assert!(
        out.contains("queued 2 back-channel logout notice(s)"),
        "{out}"
    );
    let queued = server
        .state
        .store
        .list_outbox(sesame::backchannel::KIND, 10)
        .await
        .unwrap();
    assert_eq!(
        queued
            .iter()
            .filter(|item| item.summary.contains(&client.client_id))
            .count(),
        2,
        "{queued:?}"
    );

    // Every refresh token of the user fails, the rotated family's newest one too.
    for tokens in [&from_laptop, &rotated] {
        let (status, body) = refresh(&server, &client, tokens).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant");
    }
    // Every access token of the user is refused, the one from the rotation too.
    for tokens in [&from_laptop, &from_phone, &rotated] {
        let (status, _, _) = server
            .userinfo(tokens["access_token"].as_str().unwrap())
            .await;
        assert_eq!(status, 401);
    }
    // Both browsers are signed out.
    assert!(!signed_in(&server, &laptop, &client).await);
    assert!(!signed_in(&server, &phone, &client).await);
    let listed = sesame_ok(
        &server,
        &["user", "sessions", "leaving@example.com", "--json"],
    );
    assert_eq!(listed.trim(), "[]");

    // Another user keeps everything.
    let (status, _, _) = server
        .userinfo(others["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    assert!(signed_in(&server, &other, &client).await);
    let (status, _) = refresh(&server, &client, &others).await;
    assert_eq!(status, 200);
    // The account itself stays usable: signing in again works.
    let again = tokens(&server, &laptop, &client, "leaving@example.com").await;
    let (status, _, _) = server
        .userinfo(again["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn client_revoke_tokens_revokes_that_clients_tokens_only() {
    let server = TestServer::start().await;
    let revoked_client = offline_client(&server).await;
    let kept_client = offline_client(&server).await;
    server.user("both@example.com").await;
    let person = server.person();
    let of_revoked = tokens(&server, &person, &revoked_client, "both@example.com").await;
    let of_kept = tokens(&server, &person, &kept_client, "both@example.com").await;

    let out = sesame_ok(
        &server,
        &["client", "revoke-tokens", &revoked_client.client_id],
    );
    assert!(out.contains("revoked 1 grant(s)"), "{out}");

    let (status, body) = refresh(&server, &revoked_client, &of_revoked).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    let (status, _, _) = server
        .userinfo(of_revoked["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 401);

    let (status, _, _) = server
        .userinfo(of_kept["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    let (status, _) = refresh(&server, &kept_client, &of_kept).await;
    assert_eq!(status, 200);
    // The person's session is not the client's to end.
    assert!(signed_in(&server, &person, &kept_client).await);
}

#[tokio::test]
async fn operator_commands_name_an_unknown_user_or_client_and_their_help_says_what_they_do() {
    let server = TestServer::start().await;
    for args in [
        &["user", "sessions", "nobody@example.com"][..],
        &["user", "logout", "nobody@example.com"][..],
        &["client", "revoke-tokens", "no-such-client"][..],
    ] {
        let out = sesame(&server, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no "), "{args:?}: {stderr}");
    }
    let help = sesame_ok(&server, &["user", "logout", "--help"]);
    assert!(help.contains("back-channel"), "{help}");
    let help = sesame_ok(&server, &["client", "revoke-tokens", "--help"]);
    assert!(help.contains("client_credentials"), "{help}");
}
