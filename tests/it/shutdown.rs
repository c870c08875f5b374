//! Lifecycle (issue 10, item 4): on SIGTERM or SIGINT `sesame serve` stops accepting, lets the
//! request in flight finish, lets the background job under way finish, and exits 0; `HEAD` is
//! answered wherever `GET` is.

use crate::harness::{TestServer, header, rp_http, wall_now};
use crate::tls::{eventually, spawn_serve};
use sesame::clock::FixedClock;
use sesame::tasks::{Job, TaskError, Tasks};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Reads from `stream` until `done` holds for what was read, or the peer closes.
async fn read_until(stream: &mut TcpStream, done: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&got) {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("an answer within 30 s")
            .expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// Sends `signal` to `sesame serve` with a request in flight (its head read and answered
/// `100 Continue`, its body not yet sent), waits until the listener refuses new connections,
/// then sends the body: the request is answered in full and the process exits 0.
async fn a_request_in_flight_completes_and_the_process_exits_0(signal: &str) {
    let mut serve = spawn_serve(&["serve"], |_, port| {
        vec![
            ("SESAME_ISSUER", format!("http://127.0.0.1:{port}")),
            ("SESAME_HTTP__SHUTDOWN_GRACE", "30".to_string()),
        ]
    });
    let port = serve.port;
    eventually("sesame serve answers", || async {
        rp_http()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;

    let body = "grant_type=client_credentials&client_id=nobody&client_secret=wrong";
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let head = format!(
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Expect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("send head");
    // The server has read the head and waits for the body: the request is in flight.
    let interim = read_until(&mut stream, |got| got.windows(4).any(|w| w == b"\r\n\r\n")).await;
    assert!(
        String::from_utf8_lossy(&interim).starts_with("HTTP/1.1 100 Continue"),
        "{}",
        String::from_utf8_lossy(&interim)
    );

    let status = Command::new("kill")
        .args([&format!("-{signal}"), &serve.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    eventually("the listener refuses new connections", || async {
        TcpStream::connect(("127.0.0.1", port)).await.is_err()
    })
    .await;
    assert!(
        serve.child.try_wait().expect("try_wait").is_none(),
        "still running while a request is in flight"
    );

    stream.write_all(body.as_bytes()).await.expect("send body");
    let response = read_until(&mut stream, |_| false).await;
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 401"),
        "the request in flight got its whole answer: {response}"
    );
    assert!(response.contains("invalid_client"), "{response}");

    let mut exit = None;
    eventually("the process exits", || {
        exit = serve.child.try_wait().expect("try_wait");
        let done = exit.is_some();
        async move { done }
    })
    .await;
    assert_eq!(exit.and_then(|s| s.code()), Some(0), "exit status {exit:?}");
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_finishes_the_request_in_flight_and_exits_0() {
    a_request_in_flight_completes_and_the_process_exits_0("TERM").await;
}

#[cfg(unix)]
#[tokio::test]
async fn sigint_finishes_the_request_in_flight_and_exits_0() {
    a_request_in_flight_completes_and_the_process_exits_0("INT").await;
}

/// `HEAD` gets the status and headers `GET` gets, and no body.
async fn head_mirrors_get(server: &TestServer, path: &str) -> u16 {
    let http = rp_http();
    let get = http.get(server.url(path)).send().await.expect("GET");
    let head = http.head(server.url(path)).send().await.expect("HEAD");
    assert_eq!(head.status(), get.status(), "{path}");
    for name in ["content-type", "cache-control", "content-security-policy"] {
        assert_eq!(header(&head, name), header(&get, name), "{path}: {name}");
    }
    if let Some(length) = get.content_length().filter(|_| get.status() == 200) {
        assert_eq!(
            header(&head, "content-length"),
            length.to_string(),
            "{path}: HEAD announces the GET's length"
        );
    }
    let status = head.status().as_u16();
    assert!(
        head.bytes().await.expect("HEAD body").is_empty(),
        "{path}: no body"
    );
    status
}

#[tokio::test]
async fn head_is_answered_wherever_get_is() {
    let server = TestServer::start().await;
    for path in [
        "/.well-known/openid-configuration",
        "/jwks",
        "/healthz",
        "/readyz",
    ] {
        assert_eq!(head_mirrors_get(&server, path).await, 200, "{path}");
    }
    // /authorize: a valid request is sent on to the login page either way.
    let client = server.confidential_client().await;
    let request = server.auth_request(&client, &[]);
    let head = rp_http().head(&request.url).send().await.expect("HEAD");
    assert!(
        head.status().is_redirection(),
        "HEAD /authorize: {}",
        head.status()
    );
    assert!(header(&head, "location").contains("/login"), "{head:?}");
    // …and an invalid one gets the same error page status as GET.
    let bad = server.url("/authorize?client_id=nobody");
    let (get, head) = (
        rp_http().get(&bad).send().await.expect("GET"),
        rp_http().head(&bad).send().await.expect("HEAD"),
    );
    assert_eq!(head.status(), get.status());
    // Where GET is not allowed, neither is HEAD.
    let token = rp_http()
        .head(server.url("/token"))
        .send()
        .await
        .expect("HEAD");
    let token_get = rp_http()
        .get(server.url("/token"))
        .send()
        .await
        .expect("GET");
    assert_eq!(token.status(), token_get.status());
    assert_ne!(token.status().as_u16(), 200);
}

/// A job that stops in the middle of its tick until released, and records that it finished.
struct HeldJob {
    started: Arc<Notify>,
    release: Arc<Notify>,
    finished: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Job for HeldJob {
    fn name(&self) -> &'static str {
        "held"
    }
    fn period(&self) -> i64 {
        60
    }
    async fn tick(&self, _now: i64) -> Result<(), TaskError> {
        self.started.notify_one();
        self.release.notified().await;
        self.finished.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test]
async fn stopping_the_background_jobs_lets_the_job_under_way_finish() {
    let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let finished = Arc::new(AtomicUsize::new(0));
    let clock = Arc::new(FixedClock::new(wall_now()));
    let runner = Tasks::new()
        .with(HeldJob {
            started: started.clone(),
            release: release.clone(),
            finished: finished.clone(),
        })
        .start(clock.clone());
    started.notified().await;
    // `serve` stops the runner once the server has stopped; the tick is mid-run.
    let stopping = tokio::spawn(runner.stop());
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!stopping.is_finished(), "stop waits for the tick under way");
    release.notify_one();
    stopping.await.expect("stop");
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "the tick ran to its end"
    );
    clock.advance(3600);
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "and no pass starts after"
    );
}
