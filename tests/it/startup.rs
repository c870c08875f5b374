//! First start and restarts: the database, the key-encryption key and the signing key.

use crate::harness::{TestServer, new_kek, rp_http, wall_now};
use sesame::clock::FixedClock;
use sesame::config::FileConfig;
use std::sync::Arc;

fn config(dir: &std::path::Path, kek: Option<String>) -> sesame::config::Config {
    FileConfig {
        database_url: format!("sqlite://{}/data/sesame.db", dir.display()),
        kek: kek.map(sesame::secret::Secret::new),
        kek_file: dir.join("keys/kek").display().to_string(),
        ..FileConfig::default()
    }
    .resolve()
    .expect("config")
}

fn kids(state: &sesame::state::AppState) -> Vec<String> {
    let jwks: serde_json::Value = serde_json::from_slice(&state.keys.jwks()).expect("JWKS JSON");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn boot(
    config: sesame::config::Config,
) -> Result<sesame::state::AppState, sesame::StartupError> {
    sesame::bootstrap(config, Arc::new(FixedClock::new(wall_now()))).await
}

#[tokio::test]
async fn first_start_creates_the_database_kek_file_and_a_signing_key_then_reuses_them() {
    let dir = tempfile::tempdir().unwrap();
    let state = boot(config(dir.path(), None)).await.expect("first start");
    let first = kids(&state);
    assert_eq!(first.len(), 1, "one signing key on first start");
    assert!(
        dir.path().join("data/sesame.db").exists(),
        "database created"
    );
    let kek_file = dir.path().join("keys/kek");
    assert!(kek_file.exists(), "KEK generated");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&kek_file), 0o600, "KEK file mode");
        for file in ["sesame.db", "sesame.db-wal", "sesame.db-shm"] {
            let path = dir.path().join("data").join(file);
            assert_eq!(mode(&path), 0o600, "{file} is readable by its owner only");
        }
    }
    drop(state);
    let again = boot(config(dir.path(), None)).await.expect("restart");
    assert_eq!(kids(&again), first, "the same key after a restart");
}

#[tokio::test]
async fn a_wrong_kek_is_a_clear_startup_error() {
    let dir = tempfile::tempdir().unwrap();
    boot(config(dir.path(), Some(new_kek())))
        .await
        .expect("first start");
    let err = match boot(config(dir.path(), Some(new_kek()))).await {
        Ok(_) => panic!("a different KEK must not start"),
        Err(e) => e,
    };
    assert!(matches!(err, sesame::StartupError::Keys(_)), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("wrong SESAME_KEK?"), "{message}");
}

#[tokio::test]
async fn host_header_never_decides_absolute_urls() {
    let server = TestServer::start().await;
    let resp = rp_http()
        .get(server.url("/.well-known/openid-configuration"))
        .header("Host", "evil.example")
        .header("X-Forwarded-Host", "evil.example")
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(!text.contains("evil.example"), "{text}");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["issuer"], server.issuer.as_str());

    let client = server.confidential_client().await;
    let request = server.auth_request(&client, &[]);
    let resp = rp_http()
        .get(&request.url)
        .header("Host", "evil.example")
        .header("X-Forwarded-Host", "evil.example")
        .send()
        .await
        .unwrap();
    let location = crate::harness::header(&resp, "location");
    assert!(!location.contains("evil.example"), "{location}");

    // The absolute URLs after login: the redirect to the client carries the configured iss,
    // and a form_post page posts to the registered URI.
    server.user("host@example.com").await;
    let person = server.person();
    for mode in ["query", "form_post"] {
        let request = server.auth_request(&client, &[("response_mode", mode), ("prompt", "login")]);
        let login = person.location(&person.get(&request.url).await);
        let resp = person
            .submit_login_with(
                &login,
                "host@example.com",
                crate::harness::PASSWORD,
                &[
                    ("Host", "evil.example"),
                    ("X-Forwarded-Host", "evil.example"),
                ],
            )
            .await;
        let location = crate::harness::header(&resp, "location");
        let body = resp.text().await.unwrap();
        assert!(
            !location.contains("evil") && !body.contains("evil"),
            "{mode}: {location} {body}"
        );
        if mode == "query" {
            let q = crate::harness::query_map(&location);
            assert_eq!(
                q.get("iss").map(String::as_str),
                Some(server.issuer.as_str())
            );
        } else {
            assert!(
                body.contains(&server.issuer),
                "form_post carries iss: {body}"
            );
        }
    }
}
