//! Password reset by email (checklist K1–K7), against a real SMTP server on loopback: Debian's
//! `python3-aiosmtpd` (installed by `scripts/test`) receives the mail, and each message is
//! read back decoded. The person follows the link, sets a new password and signs in through
//! the full code flow with the `openidconnect` crate as the relying party.

use crate::code_flow::relying_party;
use crate::harness::{
    PASSWORD, Person, TestServer, header, hidden_input, new_kek, query_map, rp_http,
};
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{AuthorizationCode, CsrfToken, Nonce, PkceCodeChallenge, TokenResponse};
use serde_json::Value;
use sesame::model::OutboxStatus;
use sesame::secret::Secret;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub(crate) const NEW_PASSWORD: &str = "lantern orbit velvet crayon 1987";
const PYTHON: &str = "/usr/bin/python3";
const INSTALL: &str = "apt-get install -y python3-aiosmtpd";

/// The SMTP server: accepts (or, in `reject` mode, refuses with 550) every message, and
/// writes each one it accepts as decoded JSON, and a line per DATA it saw, into its directory.
const SMTP_SERVER: &str = r#"
import email, email.policy, json, os, sys, time
from aiosmtpd.controller import Controller
port, outdir, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class Handler:
    async def handle_DATA(self, server, session, envelope):
        with open(os.path.join(outdir, 'attempts.log'), 'a') as log:
            log.write('data\n')
        if mode == 'reject':
            return '550 5.1.1 mailbox unavailable'
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        mail = {'from': str(msg['From']), 'to': str(msg['To']), 'subject': str(msg['Subject']),
                'rcpt': envelope.rcpt_tos,
                'text': msg.get_body(('plain',)).get_content(),
                'html': msg.get_body(('html',)).get_content()}
        path = os.path.join(outdir, '%d.json' % time.time_ns())
        with open(path + '.tmp', 'w') as f:
            json.dump(mail, f)
        os.rename(path + '.tmp', path)
        return '250 OK'
controller = Controller(Handler(), hostname='127.0.0.1', port=port)
controller.start()
print('ready', flush=True)
sys.stdin.read()
controller.stop()
"#;

/// A free loopback port (bound, then released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// A running aiosmtpd; killed on drop.
pub(crate) struct Smtp {
    child: Child,
    dir: tempfile::TempDir,
}

impl Smtp {
    pub(crate) fn start(port: u16, mode: &str) -> Smtp {
        let available = Command::new(PYTHON)
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            available,
            "the mail tests need Debian's python3-aiosmtpd for {PYTHON}: run `{INSTALL}` \
             (scripts/test installs it)"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(PYTHON)
            .args(["-c", SMTP_SERVER, &port.to_string()])
            .arg(dir.path())
            .arg(mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the SMTP server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("SMTP server output");
        assert_eq!(line.trim(), "ready", "the SMTP server started");
        Smtp { child, dir }
    }

    /// Every accepted message, oldest first.
    pub(crate) fn mails(&self) -> Vec<Value> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("mail dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| {
                serde_json::from_str(&std::fs::read_to_string(p).expect("mail")).expect("JSON")
            })
            .collect()
    }

    /// How many messages were offered (accepted or refused).
    fn attempts(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("attempts.log"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Sesame whose mail goes to the SMTP server on `port` (plain SMTP is allowed to loopback).
async fn server_mailing_to(port: u16) -> TestServer {
    TestServer::start_with(|c| c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}"))))
        .await
}

/// Runs the background jobs that are due (the outbox worker runs at once after an enqueue).
async fn deliver(server: &TestServer) {
    server.tasks.run_due_now().await;
}

/// Asks for a reset link for `email` on the forgot page; returns the response to the POST.
async fn ask_for_link(person: &Person, email: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let html = person.page("/password/forgot", "forgot password").await;
    let csrf = hidden_input(&html, "csrf_token").expect("csrf_token");
    let mut post = person
        .http
        .post(person.absolute("/password/forgot"))
        .form(&[("csrf_token", csrf.as_str()), ("email", email)]);
    for (name, value) in extra {
        post = post.header(*name, *value);
    }
    post.send().await.expect("POST /password/forgot")
}

/// The reset link in a mail's text body.
pub(crate) fn link_in(mail: &Value) -> String {
    let text = mail["text"].as_str().expect("text body");
    text.split_whitespace()
        .find(|w| w.contains("/password/reset?token="))
        .unwrap_or_else(|| panic!("no reset link in {text}"))
        .to_string()
}

/// Follows `link` like a browser: the token moves into a cookie and the form is shown at a URL
/// without it. Returns the form page's response.
async fn open_link(person: &Person, link: &str) -> reqwest::Response {
    let resp = person.get(link).await;
    assert_eq!(resp.status(), 303, "the link redirects");
    assert_eq!(header(&resp, "referrer-policy"), "no-referrer");
    let next = person.location(&resp);
    assert!(!next.contains("token"), "the token leaves the URL: {next}");
    person.get(&next).await
}

/// Sets `password` (twice) on the open reset form `html`.
async fn set_password(
    person: &Person,
    html: &str,
    password: &str,
    confirm: &str,
) -> reqwest::Response {
    let csrf = hidden_input(html, "csrf_token").expect("csrf_token");
    let mut form = vec![
        ("csrf_token", csrf),
        ("password", password.to_string()),
        ("password_confirm", confirm.to_string()),
    ];
    if let Some(request) = hidden_input(html, "request") {
        form.push(("request", request));
    }
    person
        .http
        .post(person.absolute("/password/reset"))
        .form(&form)
        .send()
        .await
        .expect("POST /password/reset")
}

/// Requests a link for `email` and returns it, read from the mail.
async fn reset_link(server: &TestServer, smtp: &Smtp, email: &str) -> String {
    // Mail already queued (e.g. a "password changed" notice) goes out first.
    deliver(server).await;
    let before = smtp.mails().len();
    let resp = ask_for_link(&server.person(), email, &[]).await;
    assert_eq!(resp.status(), 200);
    deliver(server).await;
    let mails = smtp.mails();
    assert_eq!(mails.len(), before + 1, "one mail");
    link_in(&mails[before])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_by_mail_then_sign_in_through_the_code_flow() {
    let port = free_port();
    let smtp = Smtp::start(port, "accept");
    let server = server_mailing_to(port).await;
    let user = server.user("ada@example.com").await;
    let client = server.confidential_client().await;
    let rp = relying_party(&server, &client).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf_state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();

    // The person starts signing in, and forgets the password.
    let person = server.person();
    let login_url = person.location(&person.get(url.as_str()).await);
    let login = person.page(&login_url, "login").await;
    let request = query_map(&login_url)["request"].clone();
    let forgot_href = format!("/password/forgot?request={request}");
    assert!(
        login.contains(&forgot_href),
        "a Forgot password? link keeps the request"
    );
    let forgot = person.page(&forgot_href, "forgot password").await;
    assert!(forgot.contains(r#"autocomplete="username""#));
    let csrf = hidden_input(&forgot, "csrf_token").expect("csrf_token");
    let sent = person
        .post_form(
            "/password/forgot",
            &[
                ("csrf_token", &csrf),
                ("request", &request),
                ("email", "Ada@Example.com"),
            ],
        )
        .await;
    assert_eq!(sent.status(), 200);
    assert_eq!(header(&sent, "cache-control"), "no-store");
    assert!(sent.text().await.unwrap().contains("If an account exists"));

    // The mail: from the configured sender, to the account, the link on the issuer.
    deliver(&server).await;
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "one mail");
    assert_eq!(mails[0]["rcpt"], serde_json::json!(["ada@example.com"]));
    assert_eq!(mails[0]["subject"], "Reset your password");
    let link = link_in(&mails[0]);
    assert!(
        link.starts_with(&format!("{}/password/reset?token=", server.issuer)),
        "{link}"
    );
    assert!(
        mails[0]["html"]
            .as_str()
            .unwrap()
            .contains("/password/reset?token&#x3D;")
    );
    let token = query_map(&link)["token"].clone();
    assert_eq!(token.len(), 43, "256 random bits, base64url");

    // The link: the form, with the token nowhere on the page.
    let form = open_link(&person, &link).await;
    assert_eq!(form.status(), 200);
    assert_eq!(header(&form, "referrer-policy"), "no-referrer");
    assert_eq!(header(&form, "cache-control"), "no-store");
    let html = form.text().await.unwrap();
    assert!(!html.contains(&token), "the token is not on the page");
    assert!(html.contains(r#"autocomplete="new-password""#));
    assert!(
        html.contains("ada@example.com"),
        "the form names the account"
    );

    // Mismatched and weak passwords are refused with a reason, the link still works.
    let mismatch = set_password(&person, &html, NEW_PASSWORD, "something else entirely 42").await;
    assert_eq!(mismatch.status(), 400);
    assert!(mismatch.text().await.unwrap().contains("do not match"));
    let weak = set_password(&person, &html, "short", "short").await;
    assert_eq!(weak.status(), 400);
    assert!(
        weak.text()
            .await
            .unwrap()
            .contains("Choose another password")
    );

    // The new password is set; the person is offered to sign in and continue, not signed in.
    let done = set_password(&person, &html, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(done.status(), 200);
    assert!(
        crate::harness::set_cookies(&done)
            .iter()
            .all(|c| !c.starts_with("sesame_session")),
        "not signed in automatically"
    );
    let done = done.text().await.unwrap();
    let continue_url = format!("/login?request={request}");
    assert!(
        crate::harness::html_unescape(&done).contains(&continue_url),
        "{done}"
    );

    // The "password changed" mail: no password, no reset link.
    deliver(&server).await;
    let mails = smtp.mails();
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1]["subject"], "Your password was changed");
    let notice = format!("{}{}", mails[1]["text"], mails[1]["html"]);
    assert!(!notice.contains("/password/reset"), "{notice}");
    assert!(!notice.contains(NEW_PASSWORD));
    let stored = server
        .state
        .store
        .user_by_id(&user.id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.email_verified, "the reset proved the mailbox");
    // Both events are in the audit trail, about this user.
    let audited: Vec<String> = server
        .state
        .store
        .audit_entries(&sesame::model::AuditQuery {
            user_id: Some(user.id.clone()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    for kind in ["password_reset_requested", "password_reset_completed"] {
        assert!(audited.iter().any(|k| k == kind), "{kind} in {audited:?}");
    }

    // The old password fails; the new one signs in and the flow continues to the client.
    let login = person.page(&continue_url, "login").await;
    assert!(login.contains(&request));
    let old = person
        .submit_login(&continue_url, "ada@example.com", PASSWORD)
        .await;
    assert_eq!(old.status(), 401, "the old password fails");
    let resp = person
        .submit_login(&continue_url, "ada@example.com", NEW_PASSWORD)
        .await;
    let callback = person.location(&resp);
    assert!(callback.starts_with(&client.redirect_uri), "{callback}");
    let q = query_map(&callback);
    assert_eq!(q.get("state"), Some(csrf_state.secret()));
    let tokens = rp
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&rp_http())
        .await
        .expect("code exchange");
    let claims = tokens
        .id_token()
        .expect("id_token")
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("the ID token verifies");
    assert_eq!(claims.subject().as_str(), user.id.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_works_once_and_not_after_it_expires() {
    let port = free_port();
    let smtp = Smtp::start(port, "accept");
    let server = server_mailing_to(port).await;
    server.user("grace@example.com").await;

    let link = reset_link(&server, &smtp, "grace@example.com").await;
    let person = server.person();
    let html = open_link(&person, &link).await.text().await.unwrap();
    assert_eq!(
        set_password(&person, &html, NEW_PASSWORD, NEW_PASSWORD)
            .await
            .status(),
        200
    );
    let again = server.person();
    let second = open_link(&again, &link).await;
    assert_eq!(second.status(), 410, "used once");
    let page = second.text().await.unwrap();
    assert!(page.contains("expired or was already used"));
    assert!(
        page.contains(r#"href="/password/forgot""#),
        "a way to ask for a new one"
    );
    // Posting with the used token (a form kept open) changes nothing.
    let replay = set_password(
        &person,
        &html,
        "another long passphrase 2024!",
        "another long passphrase 2024!",
    )
    .await;
    assert_eq!(replay.status(), 410);

    // A newer link voids the older one; a link past its 30 minutes fails.
    let older = reset_link(&server, &smtp, "grace@example.com").await;
    let newer = reset_link(&server, &smtp, "grace@example.com").await;
    assert_eq!(
        open_link(&server.person(), &older).await.status(),
        410,
        "voided by the newer"
    );
    server.clock.advance(1799);
    assert_eq!(
        open_link(&server.person(), &newer).await.status(),
        200,
        "valid for 30 minutes"
    );
    server.clock.advance(1);
    assert_eq!(
        open_link(&server.person(), &newer).await.status(),
        410,
        "expired"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_and_unknown_emails_get_byte_identical_answers() {
    let port = free_port();
    let smtp = Smtp::start(port, "accept");
    let server = server_mailing_to(port).await;
    server.user("known@example.com").await;
    let person = server.person();
    let mut answers = Vec::new();
    for email in ["known@example.com", "unknown@example.com", "not an address"] {
        let resp = ask_for_link(&person, email, &[]).await;
        let status = resp.status().as_u16();
        let mut headers: Vec<String> = resp
            .headers()
            .iter()
            // The date and the per-request id differ between any two answers.
            .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
            .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap_or("?")))
            .collect();
        headers.sort();
        answers.push((status, headers, resp.bytes().await.unwrap()));
    }
    assert_eq!(
        answers[0], answers[1],
        "known and unknown emails look the same"
    );
    assert_eq!(answers[0], answers[2]);
    deliver(&server).await;
    let requests = server
        .state
        .store
        .outbox_counts(sesame::accounts::reset::REQUEST_KIND)
        .await
        .unwrap();
    assert_eq!(
        (requests.queued, requests.sent),
        (0, 3),
        "every address cost the same one queued request"
    );
    assert_eq!(smtp.mails().len(), 1, "only the account gets mail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_names_the_issuer_whatever_host_the_request_names() {
    let port = free_port();
    let smtp = Smtp::start(port, "accept");
    let server = server_mailing_to(port).await;
    server.user("host@example.com").await;
    let resp = ask_for_link(
        &server.person(),
        "host@example.com",
        &[
            ("host", "evil.example"),
            ("x-forwarded-host", "evil.example"),
        ],
    )
    .await;
    assert_eq!(resp.status(), 200);
    deliver(&server).await;
    let link = link_in(&smtp.mails()[0]);
    assert!(
        link.starts_with(&format!("{}/password/reset?token=", server.issuer)),
        "{link}"
    );
    assert!(!format!("{}", smtp.mails()[0]).contains("evil.example"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_from_before_the_reset_are_gone() {
    let port = free_port();
    let smtp = Smtp::start(port, "accept");
    let server = server_mailing_to(port).await;
    server.user("lin@example.com").await;
    let client = server.confidential_client().await;
    let signed_in = server.person();
    server
        .code_for(&signed_in, &client, "lin@example.com")
        .await;
    let silent = signed_in.get(&server.auth_request(&client, &[]).url).await;
    assert!(
        signed_in
            .location(&silent)
            .starts_with(&client.redirect_uri),
        "the session works"
    );

    let link = reset_link(&server, &smtp, "lin@example.com").await;
    let other = server.person();
    let html = open_link(&other, &link).await.text().await.unwrap();
    assert_eq!(
        set_password(&other, &html, NEW_PASSWORD, NEW_PASSWORD)
            .await
            .status(),
        200
    );

    let after = signed_in.get(&server.auth_request(&client, &[]).url).await;
    let next = signed_in.location(&after);
    assert!(
        next.starts_with(&server.url("/login?")),
        "signed out: {next}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_queued_while_smtp_is_down_arrives_once_after_a_restart() {
    let data = tempfile::tempdir().expect("tempdir");
    let database_url = format!("sqlite://{}/sesame.db", data.path().display());
    let kek = new_kek();
    let port = free_port();
    let configure = |c: &mut sesame::config::FileConfig| {
        c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
    };

    // SMTP is down when the reset is requested: the page answers as always, the mail waits.
    let first = TestServer::start_on(
        tempfile::tempdir().unwrap(),
        database_url.clone(),
        kek.clone(),
        configure,
    )
    .await;
    first.user("kai@example.com").await;
    assert_eq!(
        ask_for_link(&first.person(), "kai@example.com", &[])
            .await
            .status(),
        200
    );
    deliver(&first).await;
    let store = first.state.store.clone();
    let counts = store.outbox_counts(sesame::mail::KIND).await.unwrap();
    assert_eq!((counts.queued, counts.sent), (1, 0), "queued for a retry");
    let item = store
        .list_outbox(sesame::mail::KIND, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(item.attempts, 1);
    assert!(item.last_error.is_some(), "the failure is recorded");
    assert!(
        item.payload.starts_with("sealed-v1:") && !item.payload.contains("password/reset"),
        "the queued mail's link is sealed at rest"
    );
    let retry_at = item.next_attempt_at;
    drop(store);
    drop(first);

    // SMTP comes back, Sesame restarts on the same database; the retry comes due.
    let smtp = Smtp::start(port, "accept");
    let second =
        TestServer::start_on(tempfile::tempdir().unwrap(), database_url, kek, configure).await;
    second.clock.set(retry_at.max(crate::harness::wall_now()));
    deliver(&second).await;
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1, "delivered after the restart");
    assert_eq!(mails[0]["subject"], "Reset your password");
    second.clock.advance(86_400);
    deliver(&second).await;
    assert_eq!(smtp.mails().len(), 1, "exactly once");
    assert_eq!(smtp.attempts(), 1);
    let item = second
        .state
        .store
        .outbox_item(&item.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((item.status, item.attempts), (OutboxStatus::Sent, 2));
    assert!(
        item.payload.is_empty(),
        "the link is not kept after delivery"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_rejection_fails_the_mail_without_retries() {
    let port = free_port();
    let smtp = Smtp::start(port, "reject");
    let server = server_mailing_to(port).await;
    server.user("rejected@example.com").await;
    assert_eq!(
        ask_for_link(&server.person(), "rejected@example.com", &[])
            .await
            .status(),
        200
    );
    deliver(&server).await;
    for _ in 0..3 {
        server.clock.advance(3600);
        deliver(&server).await;
    }
    assert_eq!(smtp.attempts(), 1, "one attempt, no retry storm");
    let store = &server.state.store;
    let counts = store.outbox_counts(sesame::mail::KIND).await.unwrap();
    assert_eq!((counts.queued, counts.sent, counts.failed), (0, 0, 1));
    let item = store
        .list_outbox(sesame::mail::KIND, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(item.status, OutboxStatus::Failed);
    assert!(
        item.last_error
            .as_deref()
            .is_some_and(|e| e.contains("550")),
        "{item:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_limited_per_email_silently_and_per_ip_openly() {
    let port = free_port();
    let smtp = Smtp::start(port, "accept");
    let server = TestServer::start_with(|c| {
        c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}")));
        c.password_reset.per_email_per_hour = 2;
        c.password_reset.per_ip_per_hour = 4;
    })
    .await;
    server.user("busy@example.com").await;
    let person = server.person();
    let mut bodies = Vec::new();
    for _ in 0..4 {
        let resp = ask_for_link(&person, "busy@example.com", &[]).await;
        assert_eq!(resp.status(), 200, "the same page over the per-email limit");
        bodies.push(resp.bytes().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    deliver(&server).await;
    assert_eq!(smtp.mails().len(), 2, "no mail past the per-email limit");
    let over = ask_for_link(&person, "someone@example.com", &[]).await;
    assert_eq!(over.status(), 429, "the per-IP limit answers openly");
    assert!(!header(&over, "retry-after").is_empty());
}

/// The README walk-through's snippet: the link in the newest `.eml` under `data/mail`.
const WALK_THROUGH_LINK: &str = r#"
import email, email.policy, glob, os
path = max(glob.glob("data/mail/*.eml"), key=os.path.getmtime)
msg = email.message_from_bytes(open(path, "rb").read(), policy=email.policy.default)
print(next(w for w in msg.get_body(("plain",)).get_content().split() if "/password/reset?token=" in w))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_each_mail_is_an_eml_file_whose_link_works() {
    let data = tempfile::tempdir().expect("tempdir");
    let mail_dir = data.path().join("data/mail");
    let server = TestServer::start_with(|c| {
        c.smtp_url = None;
        c.mail.file_dir = mail_dir.display().to_string();
    })
    .await;
    server.user("files@example.com").await;
    assert_eq!(
        ask_for_link(&server.person(), "files@example.com", &[])
            .await
            .status(),
        200
    );
    deliver(&server).await;
    let out = Command::new(PYTHON)
        .args(["-c", WALK_THROUGH_LINK])
        .current_dir(data.path())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        link.starts_with(&format!("{}/password/reset?token=", server.issuer)),
        "{link}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&mail_dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the mail directory is private");
    }
    let person = server.person();
    let html = open_link(&person, &link).await.text().await.unwrap();
    assert_eq!(
        set_password(&person, &html, NEW_PASSWORD, NEW_PASSWORD)
            .await
            .status(),
        200
    );
    deliver(&server).await;
    let files = std::fs::read_dir(&mail_dir).unwrap().count();
    assert_eq!(files, 2, "the reset mail and the password-changed notice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_status_lists_the_outbox_without_addresses_or_links() {
    let data = tempfile::tempdir().expect("tempdir");
    let database_url = format!("sqlite://{}/sesame.db", data.path().display());
    let kek = new_kek();
    let port = free_port();
    let smtp = Smtp::start(port, "reject");
    let server = TestServer::start_on(
        tempfile::tempdir().unwrap(),
        database_url.clone(),
        kek.clone(),
        |c| c.smtp_url = Some(Secret::new(format!("smtp://127.0.0.1:{port}"))),
    )
    .await;
    server.user("status@example.com").await;
    ask_for_link(&server.person(), "status@example.com", &[]).await;
    deliver(&server).await;
    assert_eq!(smtp.attempts(), 1);
    let out = Command::new(env!("CARGO_BIN_EXE_sesame"))
        .args(["mail", "status"])
        .current_dir(data.path())
        .env_remove("SESAME_CONFIG")
        .env("SESAME_DATABASE_URL", &database_url)
        .env("SESAME_KEK", &kek)
        .output()
        .expect("run sesame mail status");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("queued: 0  sent: 0  failed: 1\n"),
        "{stdout}"
    );
    assert!(stdout.contains("password reset mail for user"), "{stdout}");
    assert!(stdout.contains("550"), "the SMTP answer is shown: {stdout}");
    assert!(!stdout.contains("status@example.com"), "{stdout}");
    assert!(!stdout.contains("token"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_queued_while_smtp_is_down_arrives_once_when_it_comes_back() {
    let port = free_port();
    let server = server_mailing_to(port).await;
    server.user("later@example.com").await;
    assert_eq!(
        ask_for_link(&server.person(), "later@example.com", &[])
            .await
            .status(),
        200,
        "the page does not depend on SMTP"
    );
    deliver(&server).await;
    let item = server
        .state
        .store
        .list_outbox(sesame::mail::KIND, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!((item.status, item.attempts), (OutboxStatus::Queued, 1));
    let smtp = Smtp::start(port, "accept");
    server.clock.set(item.next_attempt_at - 1);
    deliver(&server).await;
    assert!(smtp.mails().is_empty(), "not before the backoff");
    // Due now; the worker picks it up at its next beat.
    server
        .clock
        .set(item.next_attempt_at + sesame::tasks::Delivery::PERIOD);
    deliver(&server).await;
    assert_eq!(smtp.mails().len(), 1, "delivered once SMTP is back");
    server.clock.advance(86_400);
    deliver(&server).await;
    assert_eq!(smtp.mails().len(), 1, "exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_reset_links_is_rate_limited_per_ip() {
    let server = TestServer::start_with(|c| c.password_reset.per_ip_per_hour = 3).await;
    let person = server.person();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let guess = sesame::secret::random_token();
        let link = server.url(&format!("/password/reset?token={}", guess.expose()));
        statuses.push(open_link(&person, &link).await.status().as_u16());
    }
    assert_eq!(
        statuses,
        [410, 410, 410, 429],
        "wrong links count against the per-IP limit"
    );
}
