//! The deploy pipeline's smoke test (`scripts/smoke-test`) run against a real server: it must
//! pass on a working IdP and fail, saying why, when the token endpoint refuses the client.

use crate::harness::TestServer;
use std::process::{Command, Output};

/// Runs `scripts/smoke-test ISSUER` with the smoke client's credentials.
async fn smoke_test(issuer: &str, client_id: &str, secret: &str) -> Output {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/smoke-test");
    let mut command = Command::new("bash");
    command
        .arg(script)
        .arg(issuer)
        .env("SMOKE_CLIENT_ID", client_id)
        .env("SMOKE_CLIENT_SECRET", secret);
    tokio::task::spawn_blocking(move || command.output().expect("run scripts/smoke-test"))
        .await
        .expect("smoke test thread")
}

#[tokio::test]
async fn smoke_test_passes_against_a_working_server() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let secret = client.secret.clone().expect("confidential");
    let out = smoke_test(&server.issuer, &client.client_id, &secret).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "smoke test failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in ["ok: discovery", "ok: jwks", "ok: client_credentials token"] {
        assert!(stdout.contains(step), "missing {step:?} in {stdout}");
    }
}

#[tokio::test]
async fn smoke_test_fails_when_the_token_endpoint_refuses_the_client() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let out = smoke_test(&server.issuer, &client.client_id, "not-the-secret").await;
    assert!(
        !out.status.success(),
        "a refused client passed the smoke test"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("answered 401") && stderr.contains("invalid_client"),
        "the failure says why: {stderr}"
    );
}

#[tokio::test]
async fn smoke_test_fails_when_the_issuer_does_not_match() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let secret = client.secret.clone().expect("confidential");
    // The same server, reached under another name than its configured issuer.
    let other = server.issuer.replace("127.0.0.1", "localhost");
    let out = smoke_test(&other, &client.client_id, &secret).await;
    assert!(!out.status.success(), "a mismatched issuer passed");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("discovery names issuer"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
