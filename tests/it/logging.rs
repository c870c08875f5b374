//! Secrets never reach a log line (issue 10): the real `sesame serve` binary runs with logging
//! at `trace` (JSON), a relying party and a person go through a whole flow — a wrong password
//! and a right one, the code, the token endpoint, a refresh, userinfo, introspection and
//! revocation — and everything the process logged is then scanned for every secret used.
//! The same log shows the request id on the lines of its request.

use crate::harness::{PASSWORD, Person, hidden_input, pkce_pair, query_map, rp_http};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::cookie::CookieStore;
use serde_json::Value;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `sesame serve` process; killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn sesame(dir: &std::path::Path, database_url: &str, kek: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sesame"));
    command
        .current_dir(dir)
        .env_remove("SESAME_CONFIG")
        .env_remove("RUST_LOG")
        .env("SESAME_DATABASE_URL", database_url)
        .env("SESAME_KEK", kek)
        .env("SESAME_METRICS__LISTEN", "127.0.0.1:0");
    command
}

/// Runs an admin command, feeding `stdin`; returns stdout.
fn admin(command: &mut Command, stdin: &str) -> String {
    let mut child = command
        .env("SESAME_LOG__LEVEL", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sesame");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// POSTs `form` to `path` with HTTP Basic `authorization`, and a request id.
async fn post(
    base: &str,
    path: &str,
    authorization: &str,
    form: &[(&str, &str)],
    request_id: &str,
) -> Value {
    let resp = rp_http()
        .post(format!("{base}{path}"))
        .header("Authorization", authorization)
        .header("X-Request-Id", request_id)
        .form(form)
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 200, "{path}");
    let text = resp.text().await.unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_flow_logged_at_trace_leaks_no_secret_and_tags_lines_with_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/sesame.db", dir.path().display());
    let kek = crate::harness::new_kek();
    let created: Value = serde_json::from_str(&admin(
        sesame(dir.path(), &database_url, &kek).args([
            "client",
            "create",
            "--name",
            "Logged RP",
            "--redirect-uri",
            "http://127.0.0.1:9/callback",
            "--first-party",
            "--refresh-tokens",
            "always",
            "--json",
        ]),
        "",
    ))
    .expect("client JSON");
    let client_id = created["client_id"]
        .as_str()
        .expect("client_id")
        .to_string();
    let client_secret = created["client_secret"]
        .as_str()
        .expect("client_secret")
        .to_string();
    let email = "logged@example.com";
    admin(
        sesame(dir.path(), &database_url, &kek).args([
            "user",
            "create",
            "--email",
            email,
            "--password-stdin",
        ]),
        &format!("{PASSWORD}\n"),
    );

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let _serve = Serve(
        sesame(dir.path(), &database_url, &kek)
            .arg("serve")
            .env("SESAME_ISSUER", &base)
            .env("SESAME_LISTEN", format!("127.0.0.1:{port}"))
            .env("SESAME_HTTP__WORKERS", "1")
            .env("SESAME_LOG__LEVEL", "trace")
            .env("SESAME_LOG__FORMAT", "json")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start sesame serve"),
    );
    let mut up = false;
    for _ in 0..300 {
        if rp_http()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "sesame serve answers");

    // The person: a wrong password, then the right one; the code comes back.
    let person = Person::new(&base);
    let (verifier, challenge) = pkce_pair();
    let authorize = format!(
        "{base}/authorize?response_type=code&client_id={client_id}&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&scope=openid%20email&state=st4te&nonce=n0nce&code_challenge={challenge}&code_challenge_method=S256"
    );
    let resp = person.get(&authorize).await;
    let login_url = person.location(&resp);
    let wrong = "Not-The-Password-9931";
    let html = person.page(&login_url, "login").await;
    let csrf = hidden_input(&html, "csrf_token").expect("csrf_token");
    let request = hidden_input(&html, "request").expect("request");
    let resp = person
        .post_form(
            "/login",
            &[
                ("request", &request),
                ("csrf_token", &csrf),
                ("email", email),
                ("password", wrong),
            ],
        )
        .await;
    assert_eq!(resp.status(), 401, "a wrong password");
    let html = person.page(&login_url, "login").await;
    let csrf_2 = hidden_input(&html, "csrf_token").expect("csrf_token");
    let request = hidden_input(&html, "request").expect("request");
    let resp = person
        .post_form(
            "/login",
            &[
                ("request", &request),
                ("csrf_token", &csrf_2),
                ("email", email),
                ("password", PASSWORD),
            ],
        )
        .await;
    let callback = person.location(&resp);
    let code = query_map(&callback)
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("a code in {callback}"));
    let cookies = person
        .jar
        .cookies(&base.parse().unwrap())
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let cookie_values: Vec<String> = cookies
        .split("; ")
        .filter_map(|c| c.split_once('=').map(|(_, v)| v.to_string()))
        .filter(|v| v.len() >= 16)
        .collect();
    assert!(!cookie_values.is_empty(), "a session cookie: {cookies}");

    // The relying party: code → tokens → refresh → userinfo → introspect → revoke.
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{client_id}:{client_secret}"))
    );
    let tokens = post(
        &base,
        "/token",
        &basic,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/callback"),
            ("code_verifier", &verifier),
        ],
        "scan-token-1",
    )
    .await;
    let field = |v: &Value, name: &str| {
        v[name]
            .as_str()
            .unwrap_or_else(|| panic!("{name} in {v}"))
            .to_string()
    };
    let (access, refresh, id_token) = (
        field(&tokens, "access_token"),
        field(&tokens, "refresh_token"),
        field(&tokens, "id_token"),
    );
    let refreshed = post(
        &base,
        "/token",
        &basic,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
        "scan-refresh-1",
    )
    .await;
    let (access_2, refresh_2, id_token_2) = (
        field(&refreshed, "access_token"),
        field(&refreshed, "refresh_token"),
        field(&refreshed, "id_token"),
    );
    let bearer = format!("Bearer {access_2}");
    let resp = rp_http()
        .get(format!("{base}/userinfo"))
        .header("Authorization", &bearer)
        .header("X-Request-Id", "scan-userinfo-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "userinfo");
    let introspected = post(
        &base,
        "/introspect",
        &basic,
        &[("token", &access_2)],
        "scan-introspect-1",
    )
    .await;
    assert_eq!(introspected["active"], true);
    post(
        &base,
        "/revoke",
        &basic,
        &[("token", &refresh_2)],
        "scan-revoke-1",
    )
    .await;
    // A bearer token on a query string and a garbage one in a header are not logged either.
    let _ = rp_http()
        .get(format!("{base}/userinfo?access_token={access}"))
        .send()
        .await;

    // Let the access-log lines of the last requests reach the file, then read it all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logged = std::fs::read_to_string(&log_path).expect("the log");
    assert!(
        logged.lines().count() > 20 && logged.contains("TRACE"),
        "trace logging is on: {} lines",
        logged.lines().count()
    );
    let mut secrets = vec![
        ("password", PASSWORD.to_string()),
        ("wrong password", wrong.to_string()),
        ("code", code.clone()),
        ("PKCE verifier", verifier.clone()),
        ("access token", access.clone()),
        ("refresh token", refresh.clone()),
        ("ID token", id_token.clone()),
        ("refreshed access token", access_2.clone()),
        ("refreshed refresh token", refresh_2.clone()),
        ("refreshed ID token", id_token_2.clone()),
        ("client secret", client_secret.clone()),
        ("Authorization header", basic.clone()),
        (
            "Authorization credentials",
            basic["Basic ".len()..].to_string(),
        ),
        ("bearer header", bearer.clone()),
        ("CSRF token", csrf.clone()),
        ("second CSRF token", csrf_2.clone()),
    ];
    for value in &cookie_values {
        secrets.push(("cookie", value.clone()));
    }
    // A JWT's signature alone is the secret part; its payload may well be logged as claims.
    for (what, token) in [("ID token", &id_token), ("access token", &access)] {
        if let Some((_, signature)) = token.rsplit_once('.') {
            secrets.push((what, signature.to_string()));
        }
    }
    let leaks: Vec<String> = secrets
        .iter()
        .filter(|(_, secret)| logged.contains(secret.as_str()))
        .map(|(what, _)| what.to_string())
        .collect();
    assert!(leaks.is_empty(), "logged: {leaks:?}");
    // The scan reads what matters: the flow's non-secret identifiers are there.
    assert!(
        logged.contains(&client_id) && logged.contains("scan-revoke-1"),
        "the flow was logged"
    );

    // Every line logged inside the userinfo request names its id; the access log does too.
    let tagged: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains("scan-userinfo-1"))
        .collect();
    assert!(
        tagged.len() >= 2,
        "the request's span and its access-log line carry the id: {tagged:?}"
    );
    for line in logged
        .lines()
        .filter(|l| l.contains("\"name\":\"request\""))
    {
        let json: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        assert!(
            json["span"]["request_id"].is_string()
                || json["spans"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|s| s["request_id"].is_string())),
            "a line inside a request names its id: {line}"
        );
    }
}
