//! One login through the real hosted pages in headless Chromium (Debian's `chromium` and
//! `chromium-driver`), driven over WebDriver with fantoccini.

use crate::harness::{ClientSpec, PASSWORD, TestServer, query_map};
use fantoccini::{ClientBuilder, Locator};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const MISSING: &str = "browser tests need Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver";

/// One browser at a time: three Chromiums at once on a 2-core machine make each one slow.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A chromedriver child process, killed on drop.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Chromedriver {
    async fn start() -> Chromedriver {
        assert!(
            Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
            "{MISSING}"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut command = Command::new(CHROMEDRIVER);
        command.arg(format!("--port={port}"));
        // Debugging aid: SESAME_TEST_CHROMEDRIVER_LOG=/tmp/chromedriver.log keeps a verbose log.
        if let Ok(path) = std::env::var("SESAME_TEST_CHROMEDRIVER_LOG") {
            command.arg("--verbose").arg(format!("--log-path={path}"));
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{MISSING} ({e})"));
        let driver = Chromedriver { child, port };
        // Readiness, not timing: poll until chromedriver accepts connections (≤ 20 s).
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start on port {port}");
    }
}

/// A one-route HTTP server standing in for the relying party's callback; sends each request
/// target (path and query) it receives down a channel.
fn callback_server() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind callback");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut line = String::new();
            if BufReader::new(&stream).read_line(&mut line).is_err() {
                continue;
            }
            let target = line.split(' ').nth(1).unwrap_or_default().to_string();
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nsigned in",
            );
            if target.starts_with("/callback") && tx.send(target).is_err() {
                break;
            }
        }
    });
    (format!("http://127.0.0.1:{port}/callback"), rx)
}

/// A fresh Chromium profile and a WebDriver session on it.
async fn session(driver: &Chromedriver) -> (tempfile::TempDir, fantoccini::Client) {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }),
    );
    let browser = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .unwrap_or_else(|e| panic!("WebDriver session ({e}); {MISSING}"));
    (profile, browser)
}

#[tokio::test]
async fn chromium_and_chromedriver_are_usable() {
    let _turn = ONE_BROWSER.lock().await;
    let driver = Chromedriver::start().await;
    let (redirect_uri, callbacks) = callback_server();
    let (_profile, browser) = session(&driver).await;
    let visited = browser.goto(&format!("{redirect_uri}?probe=1")).await;
    let _ = browser.close().await;
    visited.expect("chromium loads a local page");
    let target =
        tokio::task::spawn_blocking(move || callbacks.recv_timeout(Duration::from_secs(30)))
            .await
            .expect("join")
            .expect("the local page was requested");
    assert_eq!(target, "/callback?probe=1");
}

#[tokio::test]
async fn headless_chromium_logs_in_and_consents_through_the_hosted_pages() {
    browser_login(false).await;
}

#[tokio::test]
async fn headless_chromium_logs_in_for_a_first_party_client() {
    browser_login(true).await;
}

/// Logs in through the hosted pages in Chromium (and allows consent unless `first_party`), then
/// redeems the code the callback received.
async fn browser_login(first_party: bool) {
    let _turn = ONE_BROWSER.lock().await;
    let driver = Chromedriver::start().await;
    let server = TestServer::start().await;
    let (redirect_uri, callbacks) = callback_server();
    let client = server
        .register(ClientSpec {
            redirect_uris: vec![redirect_uri.clone()],
            first_party,
            ..ClientSpec::confidential()
        })
        .await;
    server.user("browser@example.com").await;
    let request = server.auth_request(&client, &[]);

    let (_profile, browser) = session(&driver).await;

    // No assertion inside: whatever happens, the browser is closed below before anything fails.
    let mut pages = Vec::new();
    let outcome = async {
        browser.goto(&request.url).await?;
        let email = browser
            .wait()
            .for_element(Locator::Css("input[name=email]"))
            .await?;
        pages.push(browser.current_url().await?.path().to_string());
        email.send_keys("browser@example.com").await?;
        browser
            .find(Locator::Css("input[name=password]"))
            .await?
            .send_keys(PASSWORD)
            .await?;
        browser
            .find(Locator::Css(
                "form button[type=submit], form input[type=submit]",
            ))
            .await?
            .click()
            .await?;
        if !first_party {
            let allow = browser
                .wait()
                .for_element(Locator::Css(
                    "button[name=decision][value=allow], input[name=decision][value=allow]",
                ))
                .await?;
            pages.push(browser.current_url().await?.path().to_string());
            allow.click().await?;
        }
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let received =
        tokio::task::spawn_blocking(move || callbacks.recv_timeout(Duration::from_secs(20)))
            .await
            .expect("join");
    let url = browser
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_default();
    let source = browser.source().await.unwrap_or_default();
    let _ = browser.close().await;
    outcome.unwrap_or_else(|e| panic!("browser flow failed: {e}\nat {url}\npage:\n{source}"));
    let expected: &[&str] = if first_party {
        &["/login"]
    } else {
        &["/login", "/consent"]
    };
    assert_eq!(pages, expected, "the hosted pages the browser went through");
    let target = received.unwrap_or_else(|_| {
        panic!("the callback never received the browser; it stopped at {url}\npage:\n{source}")
    });
    let q = query_map(&format!("http://127.0.0.1{target}"));
    assert_eq!(q.get("state"), Some(&request.state));
    assert_eq!(
        q.get("iss").map(String::as_str),
        Some(server.issuer.as_str())
    );
    let code = q.get("code").expect("code at the callback");
    let resp = server.redeem(&client, code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200, "the browser's code redeems");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body["id_token"].is_string());
}

/// Forgot password → mail → reset → sign in, in Chromium: the link on the login page, the
/// forgot form, the mail read from a real SMTP server on loopback, the reset form (entered
/// twice), the page that offers to continue, and the login with the new password, which ends
/// at the relying party's callback with a code that redeems.
#[tokio::test]
async fn headless_chromium_resets_a_forgotten_password_and_signs_in() {
    use crate::password_reset::{NEW_PASSWORD, Smtp, free_port, link_in};
    let _turn = ONE_BROWSER.lock().await;
    let driver = Chromedriver::start().await;
    let smtp_port = free_port();
    let smtp = Smtp::start(smtp_port, "accept");
    let server = TestServer::start_with(|c| {
        c.smtp_url = Some(sesame::secret::Secret::new(format!(
            "smtp://127.0.0.1:{smtp_port}"
        )));
    })
    .await;
    let (redirect_uri, callbacks) = callback_server();
    let client = server
        .register(ClientSpec {
            redirect_uris: vec![redirect_uri.clone()],
            ..ClientSpec::confidential()
        })
        .await;
    server.user("forgetful@example.com").await;
    let request = server.auth_request(&client, &[]);

    let (_profile, browser) = session(&driver).await;
    let mut pages = Vec::new();
    let mut link = None;
    let mut reset_url = String::new();
    // No assertion inside: whatever happens, the browser is closed below before anything fails.
    let outcome = async {
        browser.goto(&request.url).await?;
        browser
            .wait()
            .for_element(Locator::Css("input[name=email]"))
            .await?;
        pages.push(browser.current_url().await?.path().to_string());
        browser
            .find(Locator::LinkText("Forgot password?"))
            .await?
            .click()
            .await?;
        let email = browser
            .wait()
            .for_element(Locator::Css(
                "form[action='/password/forgot'] input[name=email]",
            ))
            .await?;
        pages.push(browser.current_url().await?.path().to_string());
        email.send_keys("forgetful@example.com").await?;
        browser
            .find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::XPath("//h1[contains(., 'Check your email')]"))
            .await?;
        server.tasks.run_due_now().await;
        let Some(mail) = smtp.mails().into_iter().next() else {
            return Ok(());
        };
        let reset = link_in(&mail);
        link = Some(reset.clone());
        browser.goto(&reset).await?;
        let password = browser
            .wait()
            .for_element(Locator::Css("input[name=password]"))
            .await?;
        let shown = browser.current_url().await?;
        reset_url = shown.to_string();
        pages.push(shown.path().to_string());
        password.send_keys(NEW_PASSWORD).await?;
        browser
            .find(Locator::Css("input[name=password_confirm]"))
            .await?
            .send_keys(NEW_PASSWORD)
            .await?;
        browser
            .find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::LinkText("Sign in and continue"))
            .await?
            .click()
            .await?;
        let email = browser
            .wait()
            .for_element(Locator::Css("form[action='/login'] input[name=email]"))
            .await?;
        pages.push(browser.current_url().await?.path().to_string());
        email.send_keys("forgetful@example.com").await?;
        browser
            .find(Locator::Css("input[name=password]"))
            .await?
            .send_keys(NEW_PASSWORD)
            .await?;
        browser
            .find(Locator::Css("form button[type=submit]"))
            .await?
            .click()
            .await?;
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let received =
        tokio::task::spawn_blocking(move || callbacks.recv_timeout(Duration::from_secs(20)))
            .await
            .expect("join");
    let url = browser
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_default();
    let source = browser.source().await.unwrap_or_default();
    let _ = browser.close().await;
    outcome.unwrap_or_else(|e| panic!("browser flow failed: {e}\nat {url}\npage:\n{source}"));
    assert!(link.is_some(), "the reset mail arrived");
    assert_eq!(
        pages,
        ["/login", "/password/forgot", "/password/reset", "/login"],
        "the pages the browser went through"
    );
    assert!(
        !reset_url.contains("token"),
        "the reset form's URL carries no token: {reset_url}"
    );
    let target = received.unwrap_or_else(|_| {
        panic!("the callback never received the browser; it stopped at {url}\npage:\n{source}")
    });
    let q = query_map(&format!("http://127.0.0.1{target}"));
    assert_eq!(q.get("state"), Some(&request.state));
    let code = q.get("code").expect("code at the callback");
    let resp = server.redeem(&client, code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200, "the browser's code redeems");
}
