//! The hosted login page and the IdP session (checklist B14, B15, C1–C5, C7).

use crate::harness::{
    PASSWORD, Person, TestClient, TestServer, header, hidden_input, query_map, rp_http, set_cookies,
};
use sesame::secret::Secret;

/// The value of cookie `name` in a list of `Set-Cookie` headers.
fn cookie_value(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies.iter().find_map(|c| {
        let first = c.split(';').next()?.trim();
        let (n, v) = first.split_once('=')?;
        (n == name).then(|| v.to_string())
    })
}

/// The `Set-Cookie` header for cookie `name`.
fn cookie_header<'a>(set_cookies: &'a [String], name: &str) -> Option<&'a String> {
    set_cookies
        .iter()
        .find(|c| c.split('=').next().map(str::trim) == Some(name))
}

/// Opens a login page for `client` and returns its URL and HTML.
async fn login_page(server: &TestServer, client: &TestClient, person: &Person) -> (String, String) {
    let request = server.auth_request(client, &[]);
    let resp = person.get(&request.url).await;
    let login = person.location(&resp);
    assert!(login.contains("/login?request="), "{login}");
    let page = person.get(&login).await;
    assert_eq!(page.status(), 200);
    (login, page.text().await.unwrap())
}

/// Asserts the page security headers (checklist B15).
pub fn assert_page_headers(resp: &reqwest::Response, what: &str) {
    let csp = header(resp, "content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: CSP {csp}");
    assert!(csp.contains("default-src"), "{what}: CSP {csp}");
    assert!(!csp.contains("unsafe-eval"), "{what}: CSP {csp}");
    assert_eq!(header(resp, "x-frame-options"), "DENY", "{what}");
    assert_eq!(header(resp, "referrer-policy"), "no-referrer", "{what}");
    assert!(header(resp, "cache-control").contains("no-store"), "{what}");
    assert_eq!(header(resp, "x-content-type-options"), "nosniff", "{what}");
}

#[tokio::test]
async fn login_page_is_a_hardened_form() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let person = server.person();
    let request = server.auth_request(&client, &[]);
    let login = person.location(&person.get(&request.url).await);
    let page = person.get(&login).await;
    assert_eq!(page.status(), 200);
    assert_page_headers(&page, "login page");
    let html = page.text().await.unwrap();
    assert!(hidden_input(&html, "request").is_some());
    let csrf = hidden_input(&html, "csrf_token").expect("csrf_token");
    assert!(csrf.len() >= 22, "CSRF token has ≥128 bits");
    assert!(html.contains("name=\"email\""));
    assert!(
        html.contains("type=\"password\""),
        "password input is type=password"
    );
    assert!(html.contains("name=\"password\""));
    assert!(!html.contains("onpaste"), "paste is allowed");
    for third_party in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(
            !html.contains(third_party),
            "no third-party resources ({third_party})"
        );
    }
}

#[tokio::test]
async fn error_and_not_found_pages_send_the_security_headers() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let person = server.person();
    let request = server.auth_request(&client, &[("redirect_uri", "http://evil.example/")]);
    let resp = person.get(&request.url).await;
    assert_eq!(resp.status(), 400);
    assert_page_headers(&resp, "authorize error page");
    let resp = person.get("/no/such/page").await;
    assert_eq!(resp.status(), 404);
    assert_page_headers(&resp, "404 page");
    let resp = person.get("/login?request=does-not-exist").await;
    assert!(
        resp.status().is_client_error(),
        "unknown request id: {}",
        resp.status()
    );
    assert_page_headers(&resp, "expired request page");
}

#[tokio::test]
async fn successful_login_answers_303_with_a_hardened_session_cookie() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user("cookie@example.com").await;
    let person = server.person();
    let (login, _) = login_page(&server, &client, &person).await;
    let resp = person
        .submit_login(&login, "cookie@example.com", PASSWORD)
        .await;
    assert_eq!(resp.status(), 303, "RFC 9700 §4.12: 303, never 307");
    let cookies = set_cookies(&resp);
    let session = cookie_header(&cookies, "sesame_session").expect("session cookie set");
    let lower = session.to_ascii_lowercase();
    assert!(lower.contains("httponly"), "{session}");
    assert!(lower.contains("samesite=lax"), "{session}");
    assert!(lower.contains("path=/"), "{session}");
    assert!(!lower.contains("domain="), "{session}");
    assert!(
        !lower.contains("secure"),
        "http issuer: no Secure ({session})"
    );
    let value = cookie_value(&cookies, "sesame_session").unwrap();
    assert!(value.len() >= 43, "256-bit session id");
    let loc = person.location(&resp);
    assert!(loc.starts_with(&client.redirect_uri));
    assert!(query_map(&loc).contains_key("code"));
}

/// A browser without a jar: cookies carried by hand, so `Secure` cookies travel over the
/// plain-http test listener.
struct ManualBrowser {
    http: reqwest::Client,
    cookies: std::collections::BTreeMap<String, String>,
}

impl ManualBrowser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn absorb(&mut self, resp: &reqwest::Response) -> Vec<String> {
        let set = set_cookies(resp);
        for c in &set {
            if let Some((n, v)) = c.split(';').next().and_then(|p| p.split_once('=')) {
                self.cookies.insert(n.trim().to_string(), v.to_string());
            }
        }
        set
    }

    async fn get(&mut self, url: &str) -> reqwest::Response {
        let resp = self
            .http
            .get(url)
            .header("Cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.absorb(&resp);
        resp
    }
}

#[tokio::test]
async fn https_issuer_names_the_session_cookie_host_prefixed_and_secure() {
    let server = TestServer::start_with(|c| {
        c.issuer = c.issuer.replace("http://", "https://");
    })
    .await;
    let client = server.confidential_client().await;
    server.user("https@example.com").await;
    let mut browser = ManualBrowser {
        http: rp_http(),
        cookies: Default::default(),
    };
    let request = server.auth_request(&client, &[]);
    let resp = browser.get(&request.url).await;
    let location = header(&resp, "location");
    assert!(
        location.starts_with("https://") || location.starts_with('/'),
        "absolute URLs come from the issuer: {location}"
    );
    let path = location.trim_start_matches(&server.issuer.replace("http://", "https://"));
    let page = browser.get(&server.url(path)).await;
    assert_eq!(page.status(), 200);
    for c in set_cookies(&page) {
        let lower = c.to_ascii_lowercase();
        assert!(
            lower.contains("secure"),
            "https issuer: every cookie Secure ({c})"
        );
    }
    let html = page.text().await.unwrap();
    let form = [
        ("request", hidden_input(&html, "request").unwrap()),
        ("csrf_token", hidden_input(&html, "csrf_token").unwrap()),
        ("email", "https@example.com".to_string()),
        ("password", PASSWORD.to_string()),
    ];
    let resp = browser
        .http
        .post(server.url("/login"))
        .header("Cookie", browser.cookie_header())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let cookies = set_cookies(&resp);
    let session = cookie_header(&cookies, "__Host-sesame_session")
        .unwrap_or_else(|| panic!("__Host-sesame_session set: {cookies:?}"));
    let lower = session.to_ascii_lowercase();
    assert!(
        lower.contains("secure") && lower.contains("httponly"),
        "{session}"
    );
    assert!(
        lower.contains("path=/") && !lower.contains("domain="),
        "{session}"
    );
    assert!(lower.contains("samesite=lax"), "{session}");
    assert!(cookie_header(&cookies, "sesame_session").is_none());
    assert!(
        header(&resp, "strict-transport-security").contains("max-age="),
        "HSTS on https"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_response() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user("known@example.com").await;
    let person = server.person();
    let (login, html) = login_page(&server, &client, &person).await;
    let request = hidden_input(&html, "request").unwrap();

    let mut seen = Vec::new();
    for email in ["known@example.com", "unknown@example.com"] {
        let html = person.get(&login).await.text().await.unwrap();
        let csrf = hidden_input(&html, "csrf_token").unwrap();
        let resp = person
            .post_form(
                "/login",
                &[
                    ("request", &request),
                    ("csrf_token", &csrf),
                    ("email", email),
                    ("password", "definitely not the password"),
                ],
            )
            .await;
        let status = resp.status().as_u16();
        let cookies: Vec<String> = set_cookies(&resp)
            .iter()
            .filter_map(|c| c.split('=').next().map(str::to_string))
            .collect();
        let body = resp.text().await.unwrap();
        let body_csrf = hidden_input(&body, "csrf_token").unwrap_or_default();
        let body = body.replace(&body_csrf, "").replace(email, "EMAIL");
        assert!(body.contains("Invalid email or password."), "{body}");
        seen.push((status, cookies, body));
    }
    assert_eq!(seen[0].0, 401);
    assert_eq!(seen[0], seen[1], "same status, cookies and body");
}

#[tokio::test]
async fn missing_or_wrong_csrf_token_is_403_and_starts_no_session() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user("csrf@example.com").await;
    let person = server.person();
    let (_, html) = login_page(&server, &client, &person).await;
    let request = hidden_input(&html, "request").unwrap();
    let attacker = server.person();
    let (_, attacker_html) = login_page(&server, &client, &attacker).await;
    let attacker_csrf = hidden_input(&attacker_html, "csrf_token").unwrap();

    for csrf in [
        None,
        Some("forged-token-value-that-is-long-enough-xx"),
        Some(attacker_csrf.as_str()),
    ] {
        let mut form = vec![
            ("request", request.as_str()),
            ("email", "csrf@example.com"),
            ("password", PASSWORD),
        ];
        if let Some(token) = csrf {
            form.push(("csrf_token", token));
        }
        let resp = person.post_form("/login", &form).await;
        assert_eq!(resp.status(), 403, "csrf {csrf:?}");
        let cookies = set_cookies(&resp);
        assert!(
            cookie_value(&cookies, "sesame_session").is_none(),
            "no session without a valid CSRF token: {cookies:?}"
        );
    }
    // And no session was started behind the scenes.
    let request = server.auth_request(&client, &[("prompt", "none")]);
    let loc = person.location(&person.get(&request.url).await);
    assert_eq!(
        query_map(&loc).get("error").map(String::as_str),
        Some("login_required")
    );
}

#[tokio::test]
async fn login_issues_a_new_session_id_and_the_old_cookie_is_dead() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user("fixation@example.com").await;
    let person = server.person();

    // A value planted before login is not adopted.
    person.plant_cookie("sesame_session=planted-by-an-attacker; Path=/");
    let (login, _) = login_page(&server, &client, &person).await;
    let resp = person
        .submit_login(&login, "fixation@example.com", PASSWORD)
        .await;
    let first = cookie_value(&set_cookies(&resp), "sesame_session").expect("session cookie");
    assert_ne!(first, "planted-by-an-attacker");
    let attacker = server.person();
    attacker.plant_cookie("sesame_session=planted-by-an-attacker; Path=/");
    let request = server.auth_request(&client, &[("prompt", "none")]);
    let loc = attacker.location(&attacker.get(&request.url).await);
    assert_eq!(
        query_map(&loc).get("error").map(String::as_str),
        Some("login_required")
    );

    // Logging in again replaces the session; the previous cookie stops working.
    let request = server.auth_request(&client, &[("prompt", "login")]);
    let login = person.location(&person.get(&request.url).await);
    let resp = person
        .submit_login(&login, "fixation@example.com", PASSWORD)
        .await;
    let second = cookie_value(&set_cookies(&resp), "sesame_session").expect("new session cookie");
    assert_ne!(first, second);
    let old = server.person();
    old.plant_cookie(&format!("sesame_session={first}; Path=/"));
    let request = server.auth_request(&client, &[("prompt", "none")]);
    let loc = old.location(&old.get(&request.url).await);
    assert_eq!(
        query_map(&loc).get("error").map(String::as_str),
        Some("login_required"),
        "the pre-login cookie is dead: {loc}"
    );
    let current = server.person();
    current.plant_cookie(&format!("sesame_session={second}; Path=/"));
    let loc = current.location(&current.get(&request.url).await);
    assert!(
        query_map(&loc).contains_key("code"),
        "the new cookie works: {loc}"
    );
}

#[tokio::test]
async fn long_passwords_are_accepted_and_never_truncated() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    // 128 letters without a pattern (the alphabet repeated is refused as a sequence).
    let long: String = (0..128u32)
        .scan(7u32, |x, _| {
            *x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            Some(char::from(b'a' + ((*x >> 16) % 26) as u8))
        })
        .collect();
    server
        .state
        .accounts
        .create_user(
            "long@example.com",
            None,
            &Secret::new(long.clone()),
            server.now(),
        )
        .await
        .expect("a 128-character password is accepted");
    let mut differs_at_100 = long.clone().into_bytes();
    differs_at_100[100] = b'Z';
    let differs_at_100 = String::from_utf8(differs_at_100).unwrap();
    for (password, ok) in [
        (differs_at_100.as_str(), false),
        (&long[..127], false),
        (&long.to_uppercase()[..], false),
        (long.as_str(), true),
    ] {
        let person = server.person();
        let (login, _) = login_page(&server, &client, &person).await;
        let resp = person
            .submit_login(&login, "long@example.com", password)
            .await;
        assert_eq!(
            resp.status().as_u16(),
            if ok { 303 } else { 401 },
            "{}",
            &password[95..]
        );
    }
}

#[tokio::test]
async fn email_is_matched_case_insensitively() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user("MiXeD@Example.com").await;
    let person = server.person();
    let (login, _) = login_page(&server, &client, &person).await;
    let resp = person
        .submit_login(&login, "  mixed@EXAMPLE.com ", PASSWORD)
        .await;
    assert_eq!(resp.status(), 303);
}

#[tokio::test]
async fn failures_on_one_account_are_throttled_and_unknown_emails_throttle_alike() {
    let server = TestServer::start_with(|c| c.login.free_attempts = 3).await;
    let client = server.confidential_client().await;
    server.user("victim@example.com").await;

    let mut sequences = Vec::new();
    for email in ["victim@example.com", "nobody@example.com"] {
        let person = server.person();
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let (login, _) = login_page(&server, &client, &person).await;
            let resp = person
                .submit_login(&login, email, "wrong password, wrong password")
                .await;
            statuses.push(resp.status().as_u16());
        }
        assert!(
            statuses.contains(&429),
            "{email}: throttled within 6 failures: {statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 401 || *s == 429),
            "{statuses:?}"
        );
        sequences.push(statuses);
    }
    assert_eq!(
        sequences[0], sequences[1],
        "known and unknown emails throttle identically"
    );

    // Locked: even the right password waits.
    let person = server.person();
    let (login, _) = login_page(&server, &client, &person).await;
    let resp = person
        .submit_login(&login, "victim@example.com", PASSWORD)
        .await;
    assert_eq!(
        resp.status(),
        429,
        "a lock cannot be bypassed with the right password"
    );

    // No permanent lockout.
    server
        .clock
        .advance(server.state.config.login_max_lock_seconds + 1);
    let (login, _) = login_page(&server, &client, &person).await;
    let resp = person
        .submit_login(&login, "victim@example.com", PASSWORD)
        .await;
    assert_eq!(resp.status(), 303, "the lock ends");
}

#[tokio::test]
async fn parallel_failures_do_not_slip_past_the_throttle() {
    let server = TestServer::start_with(|c| c.login.free_attempts = 3).await;
    let client = server.confidential_client().await;
    server.user("parallel@example.com").await;
    let mut forms = Vec::new();
    for _ in 0..12 {
        let person = server.person();
        let (login, _) = login_page(&server, &client, &person).await;
        let html = person.get(&login).await.text().await.unwrap();
        let request = hidden_input(&html, "request").unwrap();
        let csrf = hidden_input(&html, "csrf_token").unwrap();
        forms.push((person, request, csrf));
    }
    let attempts = forms.iter().map(|(person, request, csrf)| async move {
        person
            .post_form(
                "/login",
                &[
                    ("request", request.as_str()),
                    ("csrf_token", csrf.as_str()),
                    ("email", "parallel@example.com"),
                    ("password", "wrong password, wrong password"),
                ],
            )
            .await
    });
    let results = futures_util::future::join_all(attempts).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "every attempt is checked or throttled: {statuses:?}"
    );
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(
        checked, 3,
        "exactly free_attempts (3) of 12 parallel failures are checked: {statuses:?}"
    );
}

#[tokio::test]
async fn per_ip_limit_answers_429() {
    let server = TestServer::start_with(|c| c.login.per_ip_per_minute = 3).await;
    let client = server.confidential_client().await;
    let person = server.person();
    let mut statuses = Vec::new();
    for i in 0..6 {
        let (login, _) = login_page(&server, &client, &person).await;
        let email = format!("spray{i}@example.com");
        let resp = person
            .submit_login(&login, &email, "wrong password, wrong password")
            .await;
        statuses.push(resp.status().as_u16());
    }
    assert!(statuses[..3].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    // The limit runs on the pinned clock: a minute later the budget is back.
    server.clock.advance(60);
    let (login, _) = login_page(&server, &client, &person).await;
    let resp = person
        .submit_login(
            &login,
            "spray9@example.com",
            "wrong password, wrong password",
        )
        .await;
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_per_ip_limit_counts_forwarded_clients() {
    let server = TestServer::start_with(|c| {
        c.login.per_ip_per_minute = 2;
        c.http.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let client = server.confidential_client().await;
    let person = server.person();
    let attempt = |forwarded_for: &'static str| {
        let (server, client, person) = (&server, &client, &person);
        async move {
            let (login, _) = login_page(server, client, person).await;
            // What a client sent, then what the proxy appended.
            let chain = format!("6.6.6.6, {forwarded_for}");
            person
                .submit_login_with(
                    &login,
                    "nobody@example.com",
                    "wrong password, wrong password",
                    &[("X-Forwarded-For", &chain)],
                )
                .await
                .status()
                .as_u16()
        }
    };
    let a: Vec<u16> = vec![
        attempt("203.0.113.1").await,
        attempt("203.0.113.1").await,
        attempt("203.0.113.1").await,
    ];
    assert_eq!(a, [401, 401, 429], "one client's budget");
    assert_eq!(
        attempt("203.0.113.2").await,
        401,
        "another client's own budget"
    );
}

#[tokio::test]
async fn disabled_user_cannot_log_in_and_gets_the_generic_error() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let user = server.user("disabled@example.com").await;
    server.state.store.disable_user(&user.id).await.unwrap();
    let person = server.person();
    let (login, _) = login_page(&server, &client, &person).await;
    let resp = person
        .submit_login(&login, "disabled@example.com", PASSWORD)
        .await;
    assert_eq!(resp.status(), 401);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("Invalid email or password.")
    );
}

#[tokio::test]
async fn login_form_with_wrong_content_type_is_a_friendly_4xx() {
    let server = TestServer::start().await;
    let resp = rp_http()
        .post(server.url("/login"))
        .header("Content-Type", "application/json")
        .body(r#"{"email":"a@example.com","password":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert!(header(&resp, "content-type").starts_with("text/html"));
    assert!(set_cookies(&resp).is_empty(), "no session");
}

#[tokio::test]
async fn a_login_form_sent_twice_answers_its_request_once() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user("twice@example.com").await;
    let person = server.person();
    let (_, html) = login_page(&server, &client, &person).await;
    let form = [
        ("request", hidden_input(&html, "request").unwrap()),
        ("csrf_token", hidden_input(&html, "csrf_token").unwrap()),
        ("email", "twice@example.com".to_string()),
        ("password", PASSWORD.to_string()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let first = person.post_form("/login", &form).await;
    let loc = person.location(&first);
    assert!(query_map(&loc).contains_key("code"), "{loc}");
    // The double click: the same request is already answered.
    let second = person.post_form("/login", &form).await;
    assert_eq!(second.status(), 400);
    assert!(header(&second, "location").is_empty());
    assert!(second.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn signing_in_as_someone_other_than_the_id_token_hint_is_login_required() {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    server.user("hinted@example.com").await;
    server.user("intruder@example.com").await;
    let person = server.person();
    let hint = server
        .tokens_for(&person, &client, "hinted@example.com")
        .await["id_token"]
        .as_str()
        .unwrap()
        .to_string();
    // The client asks for a fresh login of the hinted user; someone else signs in.
    let request = server.auth_request(&client, &[("id_token_hint", &hint), ("prompt", "login")]);
    let login = person.location(&person.get(&request.url).await);
    let resp = person
        .submit_login(&login, "intruder@example.com", PASSWORD)
        .await;
    assert!(
        set_cookies(&resp)
            .iter()
            .all(|c| !c.starts_with("sesame_session="))
    );
    let loc = person.location(&resp);
    assert!(loc.starts_with(&client.redirect_uri), "{loc}");
    let q = query_map(&loc);
    assert_eq!(q.get("error").map(String::as_str), Some("login_required"));
    assert!(!q.contains_key("code"));
    // The hinted user's session is untouched: a silent request still signs them in.
    let request = server.auth_request(&client, &[("prompt", "none")]);
    let loc = person.location(&person.get(&request.url).await);
    let code = query_map(&loc).get("code").cloned().expect("silent login");
    let body: serde_json::Value = server
        .redeem(&client, &code, Some(&request.verifier))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        crate::harness::jwt_claims(body["id_token"].as_str().unwrap())["sub"],
        crate::harness::jwt_claims(&hint)["sub"]
    );
}

#[tokio::test]
async fn login_for_a_client_deleted_meanwhile_keeps_the_existing_session() {
    let server = TestServer::start().await;
    let staying = server.confidential_client().await;
    let leaving = server.confidential_client().await;
    server.user("keep@example.com").await;
    let person = server.person();
    server.code_for(&person, &staying, "keep@example.com").await;
    // prompt=login shows the form although a session exists.
    let request = server.auth_request(&leaving, &[("prompt", "login")]);
    let login = person.location(&person.get(&request.url).await);
    let html = person.get(&login).await.text().await.unwrap();
    assert!(
        server
            .state
            .store
            .delete_client(&leaving.client_id)
            .await
            .unwrap()
    );
    let resp = person
        .post_form(
            "/login",
            &[
                ("request", &hidden_input(&html, "request").unwrap()),
                ("csrf_token", &hidden_input(&html, "csrf_token").unwrap()),
                ("email", "keep@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert!(set_cookies(&resp).is_empty(), "no new session cookie");
    // The session from before still answers silently.
    let request = server.auth_request(&staying, &[("prompt", "none")]);
    let loc = person.location(&person.get(&request.url).await);
    assert!(query_map(&loc).contains_key("code"), "{loc}");
}

#[tokio::test]
async fn an_expired_session_no_longer_signs_in_silently() {
    let server = TestServer::start_with(|c| {
        c.session.ttl = 600;
        c.session.idle_ttl = 600;
    })
    .await;
    let client = server.confidential_client().await;
    server.user("expiry@example.com").await;
    let person = server.person();
    server
        .code_for(&person, &client, "expiry@example.com")
        .await;
    server.clock.advance(599);
    let request = server.auth_request(&client, &[("prompt", "none")]);
    let loc = person.location(&person.get(&request.url).await);
    assert!(
        query_map(&loc).contains_key("code"),
        "within its life: {loc}"
    );
    server.clock.advance(1);
    let request = server.auth_request(&client, &[("prompt", "none")]);
    let loc = person.location(&person.get(&request.url).await);
    assert_eq!(
        query_map(&loc).get("error").map(String::as_str),
        Some("login_required"),
        "{loc}"
    );
}

/// Asserts the one answer for a pending request whose client was deleted: 400, the friendly
/// "no longer registered" page, no redirect, no session.
async fn assert_client_gone(resp: reqwest::Response, what: &str) {
    assert_eq!(resp.status(), 400, "{what}");
    assert!(header(&resp, "location").is_empty(), "{what}");
    assert!(
        set_cookies(&resp)
            .iter()
            .all(|c| !c.starts_with("sesame_session=")),
        "{what}: no session"
    );
    let html = resp.text().await.unwrap();
    assert!(html.contains("no longer registered"), "{what}: {html}");
}

#[tokio::test]
async fn a_deleted_client_gets_one_answer_on_every_hosted_page_and_its_request_is_discarded() {
    let server = TestServer::start().await;
    server.user("gone@example.com").await;
    let person = server.person();
    // Login, shown and submitted.
    for submit in [false, true] {
        let client = server.confidential_client().await;
        let (login, html) = login_page(&server, &client, &person).await;
        let request = hidden_input(&html, "request").unwrap();
        let csrf = hidden_input(&html, "csrf_token").unwrap();
        server
            .state
            .store
            .delete_client(&client.client_id)
            .await
            .unwrap();
        let what = if submit { "login POST" } else { "login GET" };
        let resp = if submit {
            person
                .post_form(
                    "/login",
                    &[
                        ("request", &request),
                        ("csrf_token", &csrf),
                        ("email", "gone@example.com"),
                        ("password", PASSWORD),
                    ],
                )
                .await
        } else {
            person.get(&login).await
        };
        assert_client_gone(resp, what).await;
        let again = person.get(&login).await;
        assert_eq!(again.status(), 400, "{what}: discarded");
        assert!(again.text().await.unwrap().contains("expired"), "{what}");
    }
    // Consent, shown and submitted (the person signed in for the request first).
    for submit in [false, true] {
        let person = server.person();
        let client = server.third_party_client().await;
        let (login, _) = login_page(&server, &client, &person).await;
        let consent = person.location(
            &person
                .submit_login(&login, "gone@example.com", PASSWORD)
                .await,
        );
        assert!(consent.contains("/consent?request="), "{consent}");
        let html = person.get(&consent).await.text().await.unwrap();
        let request = hidden_input(&html, "request").unwrap();
        let csrf = hidden_input(&html, "csrf_token").unwrap();
        server
            .state
            .store
            .delete_client(&client.client_id)
            .await
            .unwrap();
        let what = if submit {
            "consent POST"
        } else {
            "consent GET"
        };
        let resp = if submit {
            person
                .post_form(
                    "/consent",
                    &[
                        ("request", &request),
                        ("csrf_token", &csrf),
                        ("decision", "allow"),
                    ],
                )
                .await
        } else {
            person.get(&consent).await
        };
        assert_client_gone(resp, what).await;
        let again = person.get(&consent).await;
        assert_eq!(again.status(), 400, "{what}: discarded");
        assert!(again.text().await.unwrap().contains("expired"), "{what}");
    }
}
