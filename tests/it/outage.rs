//! Database outages (issue 7, item 4): the database going away under a running Sesame — on
//! MongoDB by stopping and restarting a SecantusDB server, on SQLite by another connection
//! holding the write lock past the busy timeout — answers 503 (`temporarily_unavailable` JSON
//! at the endpoints relying parties call, a friendly page on hosted pages), `/readyz` says not
//! ready, nothing is half-written (a code whose redemption failed redeems afterwards), and
//! service resumes by itself. And start-up against an unreachable database gives up after
//! `store.connect_timeout` with the URL's password redacted.

use crate::harness::{
    AuthRequest, PASSWORD, Person, TestClient, TestServer, assert_oauth_error, header,
    hidden_input, new_kek, rp_http,
};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a code flow left behind before the outage: a code not yet redeemed, an access token,
/// and a person looking at a login form.
struct Before {
    client: TestClient,
    code: String,
    request: AuthRequest,
    access_token: String,
    person: Person,
    login_form: String,
}

/// Submits the login form `html` (shown earlier) with the test user's right password.
async fn submit_shown_login_form(person: &Person, html: &str) -> reqwest::Response {
    let request = hidden_input(html, "request").expect("hidden input `request`");
    let csrf = hidden_input(html, "csrf_token").expect("hidden input `csrf_token`");
    person
        .post_form(
            "/login",
            &[
                ("request", request.as_str()),
                ("csrf_token", csrf.as_str()),
                ("email", "outage@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await
}

/// Registers a client and a user, mints one access token and leaves one code unredeemed.
async fn before_the_outage(server: &TestServer) -> Before {
    let client = server.confidential_client().await;
    server.user("outage@example.com").await;
    let tokens = server
        .tokens_for(&server.person(), &client, "outage@example.com")
        .await;
    let access_token = tokens["access_token"]
        .as_str()
        .expect("access_token")
        .to_string();
    let (code, request) = server
        .code_for(&server.person(), &client, "outage@example.com")
        .await;
    let person = server.person();
    let login = person.location(&person.get(&server.auth_request(&client, &[]).url).await);
    let login_form = person.page(&login, "login").await;
    Before {
        client,
        code,
        request,
        access_token,
        person,
        login_form,
    }
}

/// Asserts the friendly 503 page: HTML, no redirect, `Retry-After`, no incident id.
async fn assert_unavailable_page(resp: reqwest::Response, what: &str) {
    let status = resp.status().as_u16();
    let content_type = header(&resp, "content-type");
    let location = header(&resp, "location");
    let retry_after = header(&resp, "retry-after");
    let html = resp.text().await.unwrap_or_default();
    assert_eq!(status, 503, "{what} during the outage: {html}");
    assert!(
        content_type.starts_with("text/html"),
        "{what}: {content_type}"
    );
    assert!(
        location.is_empty(),
        "{what}: no redirect during an outage: {location}"
    );
    assert!(!retry_after.is_empty(), "{what}: Retry-After on the page");
    assert!(
        html.contains("Temporarily unavailable") && html.contains("try again"),
        "{what}: a friendly page: {html}"
    );
    assert!(
        !html.contains("ncident"),
        "{what}: an outage is not an incident: {html}"
    );
}

/// During the outage: 503 everywhere it matters, in the right shape, with `Retry-After`.
async fn assert_unavailable(server: &TestServer, before: &Before) {
    let resp = server
        .redeem(&before.client, &before.code, Some(&before.request.verifier))
        .await;
    assert!(
        !header(&resp, "retry-after").is_empty(),
        "Retry-After on 503"
    );
    assert_oauth_error(resp, 503, "temporarily_unavailable").await;

    // A hosted page: a fresh sign-in must write its pending request, and cannot.
    let request = server.auth_request(&before.client, &[]);
    assert_unavailable_page(server.person().get(&request.url).await, "/authorize").await;
    // The login form shown before the outage, submitted with the right password: finishing
    // the sign-in must take the pending request, and cannot.
    let resp = submit_shown_login_form(&before.person, &before.login_form).await;
    assert_unavailable_page(resp, "POST /login").await;

    let resp = rp_http().get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 503, "/readyz is not ready");
    assert_eq!(
        resp.text().await.unwrap(),
        "not ready: database unavailable"
    );
    let resp = rp_http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200, "the process itself is alive");
}

/// Waits (bounded) until `/readyz` answers 200 again.
async fn wait_until_ready(server: &TestServer) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let resp = rp_http().get(server.url("/readyz")).send().await.unwrap();
        if resp.status() == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz did not become ready again after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// After the outage: everything works again, and the code whose redemption failed during the
/// outage was not spent by it.
async fn assert_resumed(server: &TestServer, before: &Before) {
    wait_until_ready(server).await;
    let resp = server
        .redeem(&before.client, &before.code, Some(&before.request.verifier))
        .await;
    assert_eq!(
        resp.status(),
        200,
        "the code survived the failed attempt: {}",
        resp.text().await.unwrap_or_default()
    );
    let (status, _, body) = server.userinfo(&before.access_token).await;
    assert_eq!(status, 200, "userinfo after the outage: {body}");
    // The sign-in that failed during the outage left its request pending: it finishes now.
    let resp = submit_shown_login_form(&before.person, &before.login_form).await;
    let callback = before.person.location(&resp);
    assert!(callback.contains("code="), "{callback}");
    let callback = server
        .person()
        .sign_in(
            &server.auth_request(&before.client, &[]).url,
            "outage@example.com",
            PASSWORD,
        )
        .await;
    assert!(
        callback.contains("code="),
        "a full sign-in works again: {callback}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_by_another_process_answers_503_and_resumes_when_released() {
    use sqlx::Connection;
    let server = TestServer::start().await;
    let before = before_the_outage(&server).await;
    let url = &server.state.config.database_url;
    let path = url.strip_prefix("sqlite://").expect("a sqlite:// URL");

    // What a backup tool or an operator's open `sqlite3` session does: hold the write lock.
    // Sesame's writes wait out the busy timeout and fail with SQLITE_BUSY.
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path);
    let mut holder = sqlx::sqlite::SqliteConnection::connect_with(&options)
        .await
        .expect("a second connection to the database");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .expect("take the write lock");

    assert_unavailable(&server, &before).await;

    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("release the write lock");
    holder.close().await.expect("close");
    assert_resumed(&server, &before).await;
}

/// How to get SecantusDB for these tests (the same as `scripts/test` does).
const SECANTUS_HOWTO: &str = "run `scripts/test`, or install SecantusDB by hand: \
`python3 -m venv target/secantus-venv && target/secantus-venv/bin/pip install --pre \
'secantusdb>=0.7.0b3,<0.8'`";

/// The SecantusDB venv's Python, in the target directory this test binary was built into.
/// `None` when it is missing and no MongoDB run was asked for; when one was
/// (`SESAME_TEST_REQUIRE_MONGODB=1` or `SESAME_TEST_MONGODB_URI` set), a missing venv fails.
fn secantus_python() -> Option<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            // target/debug/deps/it-… → target
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        })
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let python = target.join("secantus-venv/bin/python");
    if python.exists() {
        return Some(python);
    }
    let asked = std::env::var("SESAME_TEST_REQUIRE_MONGODB").is_ok_and(|v| v == "1")
        || std::env::var("SESAME_TEST_MONGODB_URI").is_ok_and(|v| !v.trim().is_empty());
    assert!(
        !asked,
        "a MongoDB run was asked for but {} is missing: {SECANTUS_HOWTO}",
        python.display()
    );
    eprintln!(
        "no SecantusDB venv and no MongoDB run asked for: the MongoDB outage test is not run"
    );
    None
}

/// A free loopback port (bound, then released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A SecantusDB server process of this test's own; stopped on drop.
struct Secantus {
    child: Option<Child>,
    python: PathBuf,
    port: u16,
    storage: PathBuf,
}

impl Secantus {
    fn start(python: &Path, port: u16, storage: &Path) -> Secantus {
        let mut server = Secantus {
            child: None,
            python: python.to_path_buf(),
            port,
            storage: storage.to_path_buf(),
        };
        server.restart();
        server
    }

    /// Starts the server process (on the same port and data as before).
    fn restart(&mut self) {
        let child = Command::new(&self.python)
            .args(["-m", "secantus", "--host", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .arg("--storage-path")
            .arg(&self.storage)
            .args(["--log-level", "WARNING", "--sync-on-commit"])
            .current_dir(self.storage.parent().expect("a parent directory"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start SecantusDB");
        self.child = Some(child);
    }

    /// Stops the server with SIGTERM (as an orchestrator would) and waits for it to exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits (bounded) until the server answers a ping.
    async fn wait_ready(&self, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let answered = async {
                let options = mongodb::options::ClientOptions::parse(url).await?;
                let mut options = options;
                options.server_selection_timeout = Some(Duration::from_millis(500));
                let client = mongodb::Client::with_options(options)?;
                client
                    .database("admin")
                    .run_command(mongodb::bson::doc! { "ping": 1 })
                    .await
            }
            .await;
            if answered.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "SecantusDB did not answer on port {}: {answered:?}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Secantus {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongodb_stopped_and_restarted_under_a_running_server_answers_503_then_resumes() {
    let Some(python) = secantus_python() else {
        return;
    };
    let data = tempfile::tempdir().expect("a data directory");
    let port = free_port();
    let mut db = Secantus::start(&python, port, &data.path().join("db"));
    let url = format!("mongodb://127.0.0.1:{port}/sesame_outage?directConnection=true");
    db.wait_ready(&url).await;

    let dir = tempfile::tempdir().expect("a directory");
    let server = TestServer::start_on(dir, url.clone(), new_kek(), |_| {}).await;
    let before = before_the_outage(&server).await;

    db.stop();
    assert_unavailable(&server, &before).await;
    let (status, _, body) = server.userinfo(&before.access_token).await;
    assert_eq!(status, 503, "userinfo cannot check revocation: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["error"], "temporarily_unavailable");
    for endpoint in ["/introspect", "/revoke"] {
        let resp = rp_http()
            .post(server.url(endpoint))
            .basic_auth(&before.client.client_id, before.client.secret.as_deref())
            .form(&[("token", before.access_token.as_str())])
            .send()
            .await
            .unwrap();
        assert_oauth_error(resp, 503, "temporarily_unavailable").await;
    }

    db.restart();
    db.wait_ready(&url).await;
    assert_resumed(&server, &before).await;
}

#[tokio::test]
async fn startup_against_an_unreachable_database_exits_in_bounded_time_with_the_password_redacted()
{
    let dir = tempfile::tempdir().expect("a directory");
    // Nothing listens on a port just released.
    let port = free_port();
    let password = "Unguessable-Pa55word";
    let url = format!(
        "mongodb://sesame:{password}@127.0.0.1:{port}/sesame?directConnection=true&serverSelectionTimeoutMS=300"
    );
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sesame"))
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("SESAME_CONFIG")
        .env("SESAME_DATABASE_URL", &url)
        .env("SESAME_KEK", new_kek())
        .env("SESAME_LISTEN", "127.0.0.1:0")
        .env("SESAME_STORE__CONNECT_TIMEOUT", "2")
        .env("SESAME_LOG__LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sesame serve");
    // Bounded: a server that never gives up would hang the suite; it is killed after 60 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sesame serve did not give up on an unreachable database within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "exit code; stderr: {stderr}");
    assert!(
        elapsed >= Duration::from_secs(2),
        "it kept trying for store.connect_timeout, not less: {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(30),
        "it gave up soon after store.connect_timeout: {elapsed:?}"
    );
    let redacted = format!("mongodb://sesame:REDACTED@127.0.0.1:{port}/sesame");
    assert!(
        stderr.contains(&format!(
            "sesame: database: the database is unavailable: cannot reach {redacted}"
        )),
        "the error names the redacted URL: {stderr}"
    );
    assert!(
        stderr.contains("retrying"),
        "it retried before giving up: {stderr}"
    );
    assert!(
        !stderr.contains(password) && !stdout.contains(password),
        "the password never appears: {stderr}"
    );
}
