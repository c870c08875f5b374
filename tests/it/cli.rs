//! The admin CLI against a temporary SQLite file, then a login through the server with what it
//! created.

use crate::harness::{PASSWORD, TestClient, TestServer, new_kek, query_map};
use sesame::model::TokenEndpointAuthMethod;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// The `sesame` binary with the test database and KEK in its environment.
struct Cli {
    database_url: String,
    kek: String,
    dir: std::path::PathBuf,
}

impl Cli {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sesame"))
            .args(args)
            .current_dir(&self.dir)
            .env_remove("SESAME_CONFIG")
            .env("SESAME_DATABASE_URL", &self.database_url)
            .env("SESAME_KEK", &self.kek)
            .env("SESAME_LOG__LEVEL", "debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the sesame binary");
        {
            let mut input = child.stdin.take().expect("stdin");
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).expect("write stdin");
            }
        }
        child.wait_with_output().expect("sesame output")
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "sesame {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

#[tokio::test]
async fn cli_created_client_and_user_complete_a_login_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/sesame.db", dir.path().display());
    let cli = Cli {
        database_url: database_url.clone(),
        kek: new_kek(),
        dir: dir.path().to_path_buf(),
    };

    let out = cli.run(
        &[
            "client",
            "create",
            "--name",
            "demo",
            "--redirect-uri",
            "http://127.0.0.1:9/callback",
            "--first-party",
            "--json",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let created: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("--json prints one JSON object ({e}): {stdout}"));
    let client_id = created["client_id"]
        .as_str()
        .expect("client_id")
        .to_string();
    let secret = created["client_secret"]
        .as_str()
        .expect("client_secret")
        .to_string();
    assert!(secret.len() >= 43, "256-bit secret");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains(&secret),
        "the secret never reaches the logs"
    );

    let out = cli.run(
        &[
            "user",
            "create",
            "--email",
            "cli@example.com",
            "--name",
            "Cli Person",
            "--password-stdin",
        ],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(PASSWORD), "the password is never printed");

    let listed = cli.ok(&["client", "list"], None);
    assert!(listed.contains(&client_id), "client list: {listed}");
    assert!(
        !listed.contains(&secret),
        "client list never shows the secret"
    );
    let shown = cli.ok(&["client", "show", &client_id], None);
    assert!(
        shown.contains("http://127.0.0.1:9/callback"),
        "client show: {shown}"
    );
    assert!(!shown.contains(&secret));
    let users = cli.ok(&["user", "list"], None);
    assert!(users.contains("cli@example.com"), "user list: {users}");

    // A weak password is refused with a reason and a failing exit code.
    let out = cli.run(
        &[
            "user",
            "create",
            "--email",
            "weak@example.com",
            "--password-stdin",
        ],
        Some("password\n"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a weak password is refused: {stderr}"
    );
    assert!(
        stderr.contains("must be at least 15 characters"),
        "{stderr}"
    );

    // The server on the same database and KEK.
    let server = TestServer::start_on(dir, database_url, cli.kek.clone(), |_| {}).await;
    let client = TestClient {
        client_id: client_id.clone(),
        secret: Some(secret),
        redirect_uri: "http://127.0.0.1:9/callback".into(),
        auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
    };
    let person = server.person();
    let body = server.tokens_for(&person, &client, "cli@example.com").await;
    let (status, _, info) = server
        .userinfo(body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    assert!(info.contains("cli@example.com"), "{info}");
}

#[tokio::test]
async fn cli_disables_and_enables_users_and_deletes_clients() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/sesame.db", dir.path().display());
    let cli = Cli {
        database_url: database_url.clone(),
        kek: new_kek(),
        dir: dir.path().to_path_buf(),
    };
    let out = cli.ok(
        &[
            "client",
            "create",
            "--name",
            "svc",
            "--redirect-uri",
            "http://127.0.0.1:9/callback",
            "--grant-types",
            "authorization_code,client_credentials",
            "--json",
        ],
        None,
    );
    let created: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let client = TestClient {
        client_id: created["client_id"].as_str().unwrap().into(),
        secret: created["client_secret"].as_str().map(str::to_string),
        redirect_uri: "http://127.0.0.1:9/callback".into(),
        auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
    };
    let out = cli.ok(
        &[
            "client",
            "create",
            "--name",
            "spa",
            "--redirect-uri",
            "http://127.0.0.1:9/spa",
            "--public",
            "--json",
        ],
        None,
    );
    let public: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        public.get("client_secret").is_none_or(|s| s.is_null()),
        "public clients get no secret: {public}"
    );
    cli.ok(
        &[
            "user",
            "create",
            "--email",
            "toggle@example.com",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    cli.ok(&["user", "disable", "toggle@example.com"], None);

    let server = TestServer::start_on(dir, database_url, cli.kek.clone(), |_| {}).await;
    let resp = server
        .token_request(&client, vec![("grant_type", "client_credentials".into())])
        .await;
    assert_eq!(resp.status(), 200, "--grant-types honoured");

    let person = server.person();
    let request = server.auth_request(&client, &[]);
    let login = person.location(&person.get(&request.url).await);
    let resp = person
        .submit_login(&login, "toggle@example.com", PASSWORD)
        .await;
    assert_eq!(resp.status(), 401, "disabled user cannot log in");

    cli.ok(&["user", "enable", "toggle@example.com"], None);
    let callback = person
        .sign_in(&request.url, "toggle@example.com", PASSWORD)
        .await;
    assert!(
        query_map(&callback).contains_key("code"),
        "enabled again: {callback}"
    );

    cli.ok(&["client", "delete", &client.client_id], None);
    let request = server.auth_request(&client, &[]);
    let resp = person.get(&request.url).await;
    assert_eq!(resp.status(), 400, "deleted client gets the error page");
}

#[test]
fn cli_invalid_configuration_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["client", "list"])
        .current_dir(dir.path())
        .env_remove("SESAME_CONFIG")
        .env("SESAME_DATABASE_URL", "sqlite::memory:")
        .env("SESAME_ISSUER", "ftp://nope")
        .output()
        .expect("run sesame");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("issuer"), "names the key: {stderr}");
}

/// Runs `sesame healthcheck` with `SESAME_LISTEN` set to `listen`.
fn healthcheck(listen: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sesame"))
        .arg("healthcheck")
        .env_remove("SESAME_CONFIG")
        .env("SESAME_LISTEN", listen)
        .stdin(Stdio::null())
        .output()
        .expect("run sesame healthcheck")
}

#[tokio::test]
async fn healthcheck_succeeds_against_a_ready_server_and_fails_without_one() {
    let server = TestServer::start().await;
    let listen = server.issuer.trim_start_matches("http://").to_string();
    let out = tokio::task::spawn_blocking(move || healthcheck(&listen))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "healthcheck against a ready server failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A port nobody listens on: bound, then closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = closed.local_addr().unwrap().to_string();
    drop(closed);
    let out = tokio::task::spawn_blocking(move || healthcheck(&listen))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/readyz"),
        "the failure names what was asked: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
