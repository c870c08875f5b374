//! Back-channel logout (issue 8 item 5; OpenID Connect Back-Channel Logout 1.0): a person signs
//! in to a client that registered a `backchannel_logout_uri` and signs out at the
//! end_session_endpoint; a real HTTP receiver on loopback gets the logout token through the
//! durable outbox — retried after a 5xx (also across a Sesame restart), delivered once,
//! verified against Sesame's JWKS — and a 4xx fails the notice without a retry.

use crate::harness::{
    ClientSpec, PASSWORD, Person, TestClient, TestServer, jwt_claims, jwt_header, new_kek,
    query_map, rp_http,
};
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::Value;
use sesame::backchannel::{KIND, LOGOUT_EVENT, LOGOUT_TOKEN_TYP};
use sesame::model::{Client, GrantType, OutboxItem, OutboxStatus, RefreshTokenPolicy, Scope};
use sesame::secret::{Secret, random_token};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// What the receiver saw and will answer.
#[derive(Default)]
struct Received {
    /// Statuses to answer, in order; 200 once they run out.
    answers: VecDeque<u16>,
    /// Each request's `logout_token` (or the whole body if it had none), with the answer.
    requests: Vec<(String, u16)>,
}

/// A relying party's back-channel logout endpoint on `127.0.0.1:<ephemeral>/backchannel`.
struct Receiver {
    uri: String,
    seen: Arc<Mutex<Received>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

async fn receive(body: web::Bytes, seen: web::Data<Mutex<Received>>) -> HttpResponse {
    let token = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    let mut seen = seen.lock().unwrap();
    let status = seen.answers.pop_front().unwrap_or(200);
    seen.requests.push((token, status));
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
}

impl Receiver {
    /// Starts the receiver, answering `answers` in order and then 200.
    fn start(answers: &[u16]) -> Receiver {
        let seen = Arc::new(Mutex::new(Received {
            answers: answers.iter().copied().collect(),
            requests: Vec::new(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let data = web::Data::from(seen.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/backchannel", web::post().to(receive))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            uri: format!("http://127.0.0.1:{port}/backchannel"),
            seen,
            handle,
        }
    }

    fn requests(&self) -> Vec<(String, u16)> {
        self.seen.lock().unwrap().requests.clone()
    }
}

/// A first-party confidential client whose back-channel logout URI is `uri`.
async fn client_notified_at(server: &TestServer, uri: &str) -> TestClient {
    let spec = ClientSpec::confidential();
    let client_id = format!("client-{}", sesame::secret::random_id());
    let secret = random_token();
    let client = Client {
        client_id: client_id.clone(),
        name: "Back-channel RP".into(),
        secret_hash: Some(secret.hash()),
        redirect_uris: spec.redirect_uris.clone(),
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        allowed_scopes: Scope::parse("openid email profile").unwrap(),
        token_endpoint_auth_method: spec.auth_method,
        public: false,
        first_party: true,
        created_at: server.now(),
        refresh_tokens: RefreshTokenPolicy::default(),
        allowed_origins: vec![],
        backchannel_logout_uri: Some(uri.to_string()),
    };
    server.state.store.create_client(&client).await.unwrap();
    TestClient {
        client_id,
        secret: Some(Secret::expose(&secret).to_string()),
        redirect_uri: spec.redirect_uris[0].clone(),
        auth_method: spec.auth_method,
    }
}

/// Signs `email` in to `client` and returns the ID token's claims and the raw ID token.
async fn signed_in(
    server: &TestServer,
    person: &Person,
    client: &TestClient,
    email: &str,
) -> (Value, String) {
    let request = server.auth_request(client, &[("scope", "openid email")]);
    let callback = person.sign_in(&request.url, email, PASSWORD).await;
    let code = query_map(&callback).get("code").cloned().expect("code");
    let resp = server.redeem(client, &code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let id_token = body["id_token"].as_str().expect("id_token").to_string();
    (jwt_claims(&id_token), id_token)
}

/// Signs the person out at the end_session_endpoint with the ID token as hint.
async fn sign_out(person: &Person, id_token: &str) {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", id_token)
        .finish();
    let resp = person.get(&format!("/logout?{query}")).await;
    assert_eq!(resp.status(), 200, "the signed-out page, without waiting");
}

/// The one back-channel notice in `server`'s outbox.
async fn the_notice(server: &TestServer) -> OutboxItem {
    let items = server.state.store.list_outbox(KIND, 10).await.unwrap();
    assert_eq!(items.len(), 1, "one notice: {items:?}");
    items.into_iter().next().unwrap()
}

/// Verifies a logout token as a relying party would (Back-Channel Logout 1.0 §2.6) against
/// Sesame's published JWKS with an independent verifier, and returns its claims.
async fn verified_logout_token(server: &TestServer, token: &str, client_id: &str) -> Value {
    let header = jwt_header(token);
    assert_eq!(header["typ"], LOGOUT_TOKEN_TYP);
    assert_eq!(header["alg"], "RS256");
    let jwks: Value = rp_http()
        .get(server.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the token's kid is published");
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().unwrap(),
        jwk["e"].as_str().unwrap(),
    )
    .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[server.issuer.as_str()]);
    // The pinned clock may run ahead of the wall by the backoff; exp is checked below.
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["iss", "aud", "exp"]);
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("signature, iss and aud verify")
        .claims;
    assert_eq!(claims["events"], serde_json::json!({ LOGOUT_EVENT: {} }));
    assert!(claims.get("nonce").is_none(), "a logout token has no nonce");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(iat <= server.now() && exp > server.now(), "{iat} {exp}");
    claims
}

#[tokio::test]
async fn discovery_advertises_back_channel_logout_with_sessions() {
    let server = TestServer::start().await;
    let doc: Value = rp_http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["backchannel_logout_supported"], true);
    assert_eq!(doc["backchannel_logout_session_supported"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_token_is_retried_after_a_5xx_and_delivered_once_verifiable_against_jwks() {
    let receiver = Receiver::start(&[503]);
    let server = TestServer::start().await;
    let client = client_notified_at(&server, &receiver.uri).await;
    server.user("bcl@example.com").await;
    let person = server.person();
    let (id_claims, id_token) = signed_in(&server, &person, &client, "bcl@example.com").await;

    sign_out(&person, &id_token).await;
    server.tasks.run_due_now().await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1, "one attempt, answered 503");
    assert_eq!(requests[0].1, 503);
    let notice = the_notice(&server).await;
    assert_eq!((notice.status, notice.attempts), (OutboxStatus::Queued, 1));
    assert!(notice.last_error.as_deref().unwrap_or("").contains("503"));
    assert!(notice.payload.starts_with("sealed-v1:"), "sealed at rest");

    // Nothing before the backoff has passed.
    server.tasks.run_due_now().await;
    assert_eq!(receiver.requests().len(), 1, "not before the backoff");
    server.clock.set(notice.next_attempt_at);
    server.tasks.run_due_now().await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "retried once");
    assert_eq!(requests[1].1, 200);
    let claims = verified_logout_token(&server, &requests[1].0, &client.client_id).await;
    assert_eq!(claims["sid"], id_claims["sid"], "the session that ended");
    assert_eq!(claims["sub"], id_claims["sub"]);
    assert_eq!(claims["aud"], client.client_id.as_str());

    let notice = the_notice(&server).await;
    assert_eq!((notice.status, notice.attempts), (OutboxStatus::Sent, 2));
    server.clock.advance(86_400);
    server.tasks.run_due_now().await;
    assert_eq!(receiver.requests().len(), 2, "delivered exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_logout_token_is_retried_by_a_restarted_server() {
    let receiver = Receiver::start(&[503]);
    let data = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}/sesame.db", data.path().display());
    let kek = new_kek();

    let first = TestServer::start_on(
        tempfile::tempdir().unwrap(),
        database_url.clone(),
        kek.clone(),
        |_| {},
    )
    .await;
    let client = client_notified_at(&first, &receiver.uri).await;
    first.user("restart@example.com").await;
    let person = first.person();
    let (id_claims, id_token) = signed_in(&first, &person, &client, "restart@example.com").await;
    sign_out(&person, &id_token).await;
    first.tasks.run_due_now().await;
    assert_eq!(receiver.requests().len(), 1);
    let retry_at = the_notice(&first).await.next_attempt_at;
    drop(person);
    drop(first);

    // Sesame restarts on the same database and key-encryption key; the retry comes due.
    let second =
        TestServer::start_on(tempfile::tempdir().unwrap(), database_url, kek, |_| {}).await;
    second.clock.set(retry_at.max(crate::harness::wall_now()));
    second.tasks.run_due_now().await;
    let requests = receiver.requests();
    assert_eq!(requests.len(), 2, "retried after the restart");
    assert_eq!(requests[1].1, 200);
    let claims = verified_logout_token(&second, &requests[1].0, &client.client_id).await;
    assert_eq!(claims["sid"], id_claims["sid"]);
    assert_eq!(claims["iss"], second.issuer.as_str());
    let notice = the_notice(&second).await;
    assert_eq!((notice.status, notice.attempts), (OutboxStatus::Sent, 2));
    second.clock.advance(86_400);
    second.tasks.run_due_now().await;
    assert_eq!(receiver.requests().len(), 2, "exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_answer_fails_the_logout_token_without_retry() {
    let receiver = Receiver::start(&[400]);
    let server = TestServer::start().await;
    let client = client_notified_at(&server, &receiver.uri).await;
    server.user("refused@example.com").await;
    let person = server.person();
    let (_, id_token) = signed_in(&server, &person, &client, "refused@example.com").await;
    sign_out(&person, &id_token).await;
    server.tasks.run_due_now().await;
    let notice = the_notice(&server).await;
    assert_eq!((notice.status, notice.attempts), (OutboxStatus::Failed, 1));
    assert!(notice.last_error.as_deref().unwrap_or("").contains("400"));
    assert!(notice.payload.is_empty(), "nothing kept after it ended");
    server.clock.advance(86_400);
    server.tasks.run_due_now().await;
    assert_eq!(receiver.requests().len(), 1, "no retry after a 4xx");
}

#[tokio::test]
async fn a_logout_notifies_no_client_without_a_backchannel_logout_uri() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user("quiet@example.com").await;
    let person = server.person();
    let (_, id_token) = signed_in(&server, &person, &client, "quiet@example.com").await;
    sign_out(&person, &id_token).await;
    let counts = server.state.store.outbox_counts(KIND).await.unwrap();
    assert_eq!((counts.queued, counts.sent, counts.failed), (0, 0, 0));
}
