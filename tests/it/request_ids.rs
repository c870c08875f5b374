//! Request ids (issue 10): a sane incoming `X-Request-Id` is kept, anything else replaced by a
//! fresh id, and the id is echoed on every response, errors included.

use crate::harness::{TestServer, header, rp_http};

async fn id_for(server: &TestServer, path: &str, incoming: Option<&str>) -> (u16, String) {
    let mut request = rp_http().get(server.url(path));
    if let Some(id) = incoming {
        request = request.header("X-Request-Id", id);
    }
    let resp = request.send().await.expect("GET");
    (resp.status().as_u16(), header(&resp, "x-request-id"))
}

#[tokio::test]
async fn a_sane_incoming_request_id_is_echoed() {
    let server = TestServer::start().await;
    for path in [
        "/.well-known/openid-configuration",
        "/no-such-page",
        "/healthz",
    ] {
        let (_, id) = id_for(&server, path, Some("lb-7f3a.42_x")).await;
        assert_eq!(id, "lb-7f3a.42_x", "{path}");
    }
}

#[tokio::test]
async fn an_unusable_request_id_is_replaced_by_a_fresh_one() {
    let server = TestServer::start().await;
    let long = "a".repeat(129);
    let mut seen = Vec::new();
    for incoming in [
        None,
        Some("two words"),
        Some(long.as_str()),
        Some("quote\"d"),
    ] {
        let (status, id) = id_for(&server, "/.well-known/openid-configuration", incoming).await;
        assert_eq!(status, 200);
        assert!(
            !id.is_empty() && id.len() <= 128 && Some(id.as_str()) != incoming,
            "{incoming:?} → {id:?}"
        );
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
        seen.push(id);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "each request gets its own id");
}

#[tokio::test]
async fn an_error_response_carries_the_request_id_too() {
    let server = TestServer::start().await;
    let resp = rp_http()
        .post(server.url("/token"))
        .header("X-Request-Id", "err-1")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=nonsense")
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_client_error());
    assert_eq!(header(&resp, "x-request-id"), "err-1");
}
