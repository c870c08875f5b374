//! Login throttling that fits real traffic (issue 9, item 5), over HTTP with the clock pinned:
//! the per-IP limit counts failed logins only, so an office behind one address signs in freely
//! while a credential-stuffing run from one address is stopped; the per-account backoff counts
//! wrong passwords only, and attempts at one account are checked one at a time, so concurrent
//! correct logins all pass and parallel guesses get no more than the free attempts.

use crate::harness::{PASSWORD, Person, TestClient, TestServer, header, query_map};
use futures_util::future::join_all;
use sesame::accounts::throttle::LoginThrottle;
use sesame::config::FileConfig;

/// A server with the default login limits (the harness raises the per-IP one for other tests).
async fn server_with_default_login_limits() -> TestServer {
    TestServer::start_with(|file| {
        file.login = FileConfig::default().login;
    })
    .await
}

/// The login page URL of a fresh authorization request by `person`.
async fn login_url(server: &TestServer, client: &TestClient, person: &Person) -> String {
    let request = server.auth_request(client, &[]);
    person.location(&person.get(&request.url).await)
}

/// The status, `Retry-After` and body of a login POST.
async fn outcome(resp: reqwest::Response) -> (u16, String, String) {
    let status = resp.status().as_u16();
    let retry_after = header(&resp, "retry-after");
    (status, retry_after, resp.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_successful_logins_from_one_address_in_one_minute_all_pass() {
    let server = TestServer::start_with(|file| {
        // The defaults of both per-address limits a sign-in meets: the login limit and the
        // pending authorization requests (authorize.pending_per_ip_per_minute).
        file.login = FileConfig::default().login;
        file.authorize = FileConfig::default().authorize;
    })
    .await;
    let client = server.confidential_client().await;
    let emails: Vec<String> = (0..200).map(|i| format!("staff{i}@example.com")).collect();
    join_all(emails.iter().map(|email| server.user(email))).await;
    let started = server.now();
    // All from 127.0.0.1, at one pinned instant: far more than login.per_ip_per_minute (30).
    for email in &emails {
        let person = server.person();
        let login = login_url(&server, &client, &person).await;
        let resp = person.submit_login(&login, email, PASSWORD).await;
        assert_eq!(resp.status(), 303, "{email}: {:?}", resp.text().await);
        let callback = person.location(&resp);
        assert!(query_map(&callback).contains_key("code"), "{callback}");
    }
    assert_eq!(server.now(), started, "all within one pinned minute");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eight_concurrent_correct_logins_to_one_account_all_succeed() {
    let server = server_with_default_login_limits().await;
    let client = server.confidential_client().await;
    server.user("shared@example.com").await;
    let mut people = Vec::new();
    for _ in 0..8 {
        let person = server.person();
        let login = login_url(&server, &client, &person).await;
        people.push((person, login));
    }
    let responses = join_all(
        people
            .iter()
            .map(|(person, login)| person.submit_login(login, "shared@example.com", PASSWORD)),
    )
    .await;
    for resp in responses {
        let (status, _, body) = outcome(resp).await;
        assert_eq!(status, 303, "every correct login passes: {body}");
    }
    let key = LoginThrottle::account_key("shared@example.com");
    assert_eq!(
        server.state.store.throttle_state(&key).await.unwrap(),
        None,
        "no failure was counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_failures_for_different_accounts_from_one_address_in_one_minute_are_throttled() {
    let server = server_with_default_login_limits().await;
    let client = server.confidential_client().await;
    server.user("real@example.com").await;
    let limit = FileConfig::default().login.per_ip_per_minute as usize;
    let (mut refused, mut throttled) = (0, 0);
    for i in 0..50 {
        let person = server.person();
        let login = login_url(&server, &client, &person).await;
        let resp = person
            .submit_login(
                &login,
                &format!("victim{i}@example.com"),
                "Winter2024!Winter",
            )
            .await;
        let (status, retry_after, body) = outcome(resp).await;
        match status {
            401 => refused += 1,
            429 => {
                throttled += 1;
                assert_eq!(retry_after, "1", "the next failure slot frees in 1 s");
                assert!(
                    body.contains("Too many sign-in attempts. Try again in 1 second."),
                    "a grammatical message: {body}"
                );
            }
            other => panic!("attempt {i}: {other}: {body}"),
        }
    }
    assert_eq!(refused, limit, "the first {limit} failures were checked");
    assert_eq!(throttled, 50 - limit, "the rest were refused unchecked");

    // While the address is over its limit even a correct password waits (nothing is hashed
    // for it); once the failures have drained, it passes.
    let person = server.person();
    let login = login_url(&server, &client, &person).await;
    let (status, _, _) = outcome(
        person
            .submit_login(&login, "real@example.com", PASSWORD)
            .await,
    )
    .await;
    assert_eq!(status, 429);
    server.clock.advance(60);
    let person = server.person();
    let login = login_url(&server, &client, &person).await;
    let (status, _, body) = outcome(
        person
            .submit_login(&login, "real@example.com", PASSWORD)
            .await,
    )
    .await;
    assert_eq!(status, 303, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_wrong_guesses_at_one_account_get_no_more_than_the_free_attempts() {
    let server = server_with_default_login_limits().await;
    let client = server.confidential_client().await;
    server.user("target@example.com").await;
    let free = FileConfig::default().login.free_attempts;
    let mut people = Vec::new();
    for _ in 0..20 {
        let person = server.person();
        let login = login_url(&server, &client, &person).await;
        people.push((person, login));
    }
    let guesses: Vec<String> = (0..20)
        .map(|i| format!("guess number {i} of many"))
        .collect();
    let responses =
        join_all(people.iter().zip(&guesses).map(|((person, login), guess)| {
            person.submit_login(login, "target@example.com", guess)
        }))
        .await;
    let (mut checked, mut throttled) = (0, 0);
    for resp in responses {
        let (status, retry_after, body) = outcome(resp).await;
        match status {
            401 => checked += 1,
            429 => {
                throttled += 1;
                assert_eq!(retry_after, "1");
                assert!(body.contains("Try again in 1 second."), "{body}");
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(checked, free, "exactly the free attempts were checked");
    assert_eq!(throttled, 20 - free);
    let key = LoginThrottle::account_key("target@example.com");
    let counter = server
        .state
        .store
        .throttle_state(&key)
        .await
        .unwrap()
        .expect("a counter");
    assert_eq!(
        counter.failures, free,
        "only checked failures were recorded"
    );
    assert_eq!(counter.locked_until, Some(server.now() + 1));
}
