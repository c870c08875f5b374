//! Prometheus metrics: a scripted flow moves the counters it should, under route patterns (never
//! raw paths), on the separate metrics listener only. The exposition format is parsed, not
//! grepped. The registry is global to the test process, so other tests' requests may add to the
//! same series concurrently: assertions are about this test's increments (at least), and about
//! values that only this test produces.

use crate::harness::{TestServer, rp_http};
use std::collections::HashMap;

/// One sample of the text exposition format: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// Parses `name{a="x",b="y"} value` lines; comment lines are returned apart.
fn parse(text: &str) -> (Vec<Sample>, Vec<String>) {
    let mut samples = Vec::new();
    let mut comments = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if line.starts_with('#') {
            comments.push(line.to_string());
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("a sample line has a value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), HashMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                (name.to_string(), parse_labels(body))
            }
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    (samples, comments)
}

/// `a="x",b="y\"z"` → {a: x, b: y"z}.
fn parse_labels(body: &str) -> HashMap<String, String> {
    let mut labels = HashMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label value is quoted in {body}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => panic!("dangling escape in {body}"),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

/// The value of the sample named `name` whose labels include all of `want` (0 if none).
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

async fn scrape(url: &str) -> String {
    let resp = reqwest::get(url).await.expect("scrape /metrics");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    resp.text().await.unwrap()
}

#[tokio::test]
async fn requests_are_counted_by_route_pattern_on_the_metrics_listener_only() {
    let server = TestServer::start().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics_url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let metrics = sesame::monitoring::server(listener).unwrap();
    let metrics_handle = metrics.handle();
    tokio::spawn(metrics);

    let (before, _) = parse(&scrape(&metrics_url).await);
    let http = rp_http();
    for _ in 0..3 {
        let resp = http
            .get(server.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    // A path no route serves, carrying a value that must never become a label.
    let resp = http
        .get(server.url("/no-such-page/marker-5f1e?code=marker-5f1e"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // The public listener does not serve metrics.
    let resp = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 404);

    let text = scrape(&metrics_url).await;
    let (after, comments) = parse(&text);
    let discovery = [
        ("route", "/.well-known/openid-configuration"),
        ("method", "GET"),
        ("status", "200"),
    ];
    let delta =
        |name: &str, want: &[(&str, &str)]| value(&after, name, want) - value(&before, name, want);
    assert!(
        delta("sesame_http_requests_total", &discovery) >= 3.0,
        "three discovery requests counted"
    );
    assert!(
        delta(
            "sesame_http_request_duration_seconds_count",
            &[
                ("route", "/.well-known/openid-configuration"),
                ("method", "GET")
            ]
        ) >= 3.0,
        "three latencies recorded"
    );
    assert!(
        delta(
            "sesame_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ) >= 2.0,
        "the unknown path and /metrics on the public listener count as unmatched"
    );
    assert!(
        after
            .iter()
            .any(|s| s.name == "sesame_http_request_duration_seconds_bucket"
                && s.labels.get("le").map(String::as_str) == Some("0.2")),
        "the 200 ms bucket exists"
    );
    assert!(
        comments
            .iter()
            .any(|c| c == "# TYPE sesame_http_requests_total counter"),
        "{comments:?}"
    );
    assert!(
        !text.contains("marker-5f1e"),
        "a raw path or query value became a label:\n{text}"
    );
    metrics_handle.stop(false).await;
}

/// A client allowed the code, refresh and client-credentials grants, and `offline_access`.
async fn all_grants_client(server: &TestServer) -> crate::harness::TestClient {
    server
        .register(crate::harness::ClientSpec {
            grant_types: vec![
                sesame::model::GrantType::AuthorizationCode,
                sesame::model::GrantType::RefreshToken,
                sesame::model::GrantType::ClientCredentials,
            ],
            allowed_scopes: sesame::model::Scope::parse("openid email profile offline_access")
                .unwrap(),
            ..crate::harness::ClientSpec::confidential()
        })
        .await
}

#[tokio::test]
async fn domain_metrics_count_logins_tokens_reuse_revocations_and_publish_key_and_hash_gauges() {
    use sesame::tasks::Job;
    // No retry window: a second use of a rotated refresh token is reuse at once.
    let server = TestServer::start_with(|f| f.tokens.refresh_retry_window = 0).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let metrics_url = format!("http://{}/metrics", listener.local_addr().unwrap());
    let metrics = sesame::monitoring::server(listener).unwrap();
    let metrics_handle = metrics.handle();
    tokio::spawn(metrics);
    let client = all_grants_client(&server).await;
    server.user("counted@example.com").await;
    server.user("locked@example.com").await;

    let (before, _) = parse(&scrape(&metrics_url).await);

    // Logins: wrong passwords at one account until it is throttled; one success elsewhere.
    let person = server.person();
    let request = server.auth_request(&client, &[]);
    let login = person.location(&person.get(&request.url).await);
    let (mut wrong, mut throttled) = (0.0, 0.0);
    for i in 0..12 {
        match person
            .submit_login(
                &login,
                "locked@example.com",
                &format!("wrong guess {i} here"),
            )
            .await
            .status()
            .as_u16()
        {
            401 => wrong += 1.0,
            429 => {
                throttled += 1.0;
                break;
            }
            other => panic!("{other}"),
        }
    }
    assert_eq!(throttled, 1.0);
    let request = server.auth_request(&client, &[("scope", "openid offline_access")]);
    let callback = person
        .sign_in(
            &request.url,
            "counted@example.com",
            crate::harness::PASSWORD,
        )
        .await;
    let code = crate::harness::query_map(&callback)["code"].clone();
    let tokens: serde_json::Value = server
        .redeem(&client, &code, Some(&request.verifier))
        .await
        .json()
        .await
        .unwrap();
    let refresh_token = tokens["refresh_token"].as_str().expect("a refresh token");
    let refresh = || {
        server.token_request(
            &client,
            vec![
                ("grant_type", "refresh_token".to_string()),
                ("refresh_token", refresh_token.to_string()),
            ],
        )
    };
    assert_eq!(refresh().await.status(), 200);
    assert_eq!(refresh().await.status(), 400, "reuse");
    for _ in 0..2 {
        let resp = server
            .token_request(
                &client,
                vec![("grant_type", "client_credentials".to_string())],
            )
            .await;
        assert_eq!(resp.status(), 200);
    }
    let resp = rp_http()
        .post(server.url("/revoke"))
        .basic_auth(&client.client_id, client.secret.as_deref())
        .form(&[("token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The key-rotation job publishes the schedule.
    sesame::tasks::KeyRotation::new(server.state.keys.clone())
        .tick(server.now())
        .await
        .unwrap();

    let (after, comments) = parse(&scrape(&metrics_url).await);
    let delta =
        |name: &str, want: &[(&str, &str)]| value(&after, name, want) - value(&before, name, want);
    let logins = "sesame_logins_total";
    assert!(delta(logins, &[("outcome", "bad_credentials")]) >= wrong);
    assert!(delta(logins, &[("outcome", "throttled")]) >= 1.0);
    assert!(delta(logins, &[("outcome", "success")]) >= 1.0);
    let issued = "sesame_tokens_issued_total";
    assert!(delta(issued, &[("grant_type", "authorization_code")]) >= 1.0);
    assert!(delta(issued, &[("grant_type", "refresh_token")]) >= 1.0);
    assert!(delta(issued, &[("grant_type", "client_credentials")]) >= 2.0);
    assert!(delta("sesame_refresh_token_reuse_total", &[]) >= 1.0);
    assert!(delta("sesame_revocations_total", &[("kind", "access_token")]) >= 1.0);
    // Gauges are process-wide (other tests' servers set them too): every server's key is
    // fresh, so the signing key is younger than a rotation period and the next is not overdue.
    let period = 30.0 * 86_400.0;
    let age = value(&after, "sesame_signing_key_age_seconds", &[]);
    let next = value(&after, "sesame_signing_key_next_rotation_seconds", &[]);
    assert!((0.0..period).contains(&age), "key age {age}");
    assert!(next > 0.0 && next <= period, "next rotation in {next}");
    for gauge in ["sesame_argon2_waiting", "sesame_argon2_running"] {
        assert!(
            after.iter().any(|s| s.name == gauge && s.value >= 0.0),
            "{gauge} is published and never negative"
        );
    }
    for family in [
        "# TYPE sesame_logins_total counter",
        "# TYPE sesame_tokens_issued_total counter",
        "# TYPE sesame_signing_key_age_seconds gauge",
        "# TYPE sesame_argon2_waiting gauge",
    ] {
        assert!(
            comments.iter().any(|c| c == family),
            "{family}: {comments:?}"
        );
    }
    // Labels stay within their fixed sets.
    for sample in after.iter().filter(|s| s.name == issued) {
        let grant = sample.labels["grant_type"].as_str();
        assert!(
            [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "other"
            ]
            .contains(&grant),
            "{grant}"
        );
    }
    metrics_handle.stop(false).await;
}
