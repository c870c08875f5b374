//! HTTPS (issue 10, item 1): Sesame terminating TLS itself. A relying party that trusts a
//! certificate made here completes a login over https (HTTP/2 by ALPN, HSTS, `__Host-` Secure
//! cookies); `sesame serve` reloads its certificate on SIGHUP while a keep-alive connection
//! stays open; `--dev-tls` makes and reuses a localhost certificate; an http issuer that is not
//! loopback is refused unless `--insecure-dev` is given.

use crate::code_flow::Rp;
use crate::harness::{PASSWORD, Person, TestServer, header, new_kek, query_map};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    RedirectUrl, TokenResponse,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A self-signed certificate for `localhost` and 127.0.0.1: (certificate PEM, key PEM, DER).
fn certificate() -> (String, String, CertificateDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("rcgen");
    (
        made.cert.pem(),
        made.signing_key.serialize_pem(),
        made.cert.der().clone(),
    )
}

/// The server side of `cert_pem`/`key_pem`, as `serve` builds it.
fn server_tls(dir: &Path, cert_pem: &str, key_pem: &str) -> rustls::ServerConfig {
    sesame::http::tls::install_provider();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    sesame::http::tls::ReloadingCertificate::load(&cert, &key)
        .expect("certificate loads")
        .server_config()
        .expect("server config")
}

/// A rustls client configuration trusting only `trusted`, offering h2 and http/1.1.
fn client_tls(trusted: &CertificateDer<'static>) -> rustls::ClientConfig {
    sesame::http::tls::install_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.clone()).expect("root");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// An HTTP client (no redirects) trusting only `trusted`.
fn https_client(trusted: &CertificateDer<'static>) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .use_preconfigured_tls(client_tls(trusted))
        .build()
        .expect("https client")
}

#[tokio::test]
async fn a_relying_party_trusting_the_certificate_signs_in_over_https_with_http2() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_pem, key_pem, der) = certificate();
    let server = TestServer::start_https(server_tls(dir.path(), &cert_pem, &key_pem)).await;
    assert!(server.issuer.starts_with("https://localhost:"));
    let client = server.confidential_client().await;
    server.user("ada@example.com").await;
    let http = https_client(&der);

    // Discovery over HTTP/2 (ALPN), with HSTS for the https issuer.
    let discovery = http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery over https");
    assert_eq!(discovery.status(), 200);
    assert_eq!(discovery.version(), reqwest::Version::HTTP_2, "ALPN h2");
    assert_eq!(
        header(&discovery, "strict-transport-security"),
        "max-age=31536000; includeSubDomains"
    );
    // HTTP/1.1 still works for clients that do not offer h2.
    let mut h1_only = client_tls(&der);
    h1_only.alpn_protocols = vec![b"http/1.1".to_vec()];
    let h1 = reqwest::Client::builder()
        .use_preconfigured_tls(h1_only)
        .build()
        .unwrap()
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("healthz over http/1.1");
    assert_eq!(
        (h1.status().as_u16(), h1.version()),
        (200, reqwest::Version::HTTP_11)
    );
    // A client that does not trust the certificate gets no connection at all.
    assert!(
        reqwest::Client::builder()
            .use_preconfigured_tls(client_tls(&certificate().2))
            .build()
            .unwrap()
            .get(server.url("/healthz"))
            .send()
            .await
            .is_err(),
        "an untrusted certificate is refused by the client"
    );

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &http)
            .await
            .expect("openidconnect discovery over https");
    let rp: Rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.client_id.clone()),
        client.secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(client.redirect_uri.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    assert!(url.as_str().starts_with("https://localhost:"), "{url}");

    let trusted = der.clone();
    let person = Person::with_client(&server.issuer, move |builder| {
        builder.use_preconfigured_tls(client_tls(&trusted))
    });
    // The session cookie is `__Host-` and Secure, and a browser sends it back over https.
    let first = person.get(url.as_str()).await;
    let login = person.location(&first);
    let page = person.get(&login).await;
    let cookies = crate::harness::set_cookies(&page);
    assert!(
        !cookies.is_empty()
            && cookies
                .iter()
                .all(|c| c.starts_with("__Host-") && c.contains("Secure")),
        "{cookies:?}"
    );
    let callback = person
        .sign_in(url.as_str(), "ada@example.com", PASSWORD)
        .await;
    let q = query_map(&callback);
    assert_eq!(q.get("state"), Some(csrf.secret()));
    assert_eq!(q.get("iss"), Some(&server.issuer));
    let tokens = rp
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange over https");
    let claims = tokens
        .id_token()
        .expect("id_token")
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("the ID token verifies against the JWKS fetched over https");
    assert_eq!(claims.issuer().as_str(), server.issuer);
}

/// A `sesame serve` process in its own directory; killed when dropped.
pub struct ServeProcess {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `sesame ARGS` in `dir` on a fresh SQLite file, with `env` on top of the test settings.
pub fn sesame_command(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sesame"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("SESAME_CONFIG")
        .env(
            "SESAME_DATABASE_URL",
            format!("sqlite://{}/sesame.db", dir.display()),
        )
        .env("SESAME_KEK", new_kek())
        .env("SESAME_METRICS__LISTEN", "127.0.0.1:0")
        .env("SESAME_HTTP__WORKERS", "1")
        .env("SESAME_LOG__LEVEL", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

/// Starts `sesame serve ARGS` on a free port in a fresh directory, with the variables `env`
/// returns for that directory and port.
pub fn spawn_serve(
    args: &[&str],
    env: impl FnOnce(&Path, u16) -> Vec<(&'static str, String)>,
) -> ServeProcess {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut vars = vec![("SESAME_LISTEN", format!("127.0.0.1:{port}"))];
    vars.extend(env(dir.path(), port));
    let child = sesame_command(dir.path(), args, &vars)
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sesame serve");
    ServeProcess { child, port, dir }
}

/// Waits (bounded: 30 s) until `check` holds; panics with `what` if it never does.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting until {what}");
}

/// A TLS connection to `127.0.0.1:port` for `localhost`, trusting only `trusted`.
async fn tls_connect(
    port: u16,
    trusted: &CertificateDer<'static>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let mut config = client_tls(trusted);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
}

/// Sends `GET /healthz` on a kept-alive HTTP/1.1 connection and returns the status code.
async fn healthz_on(stream: &mut TlsStream<TcpStream>) -> u16 {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write request");
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    // Read the head, then exactly Content-Length bytes of body, leaving the connection open.
    loop {
        let n = stream.read(&mut buf).await.expect("read response");
        assert!(n > 0, "the connection was closed");
        response.extend_from_slice(&buf[..n]);
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&response[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().expect("length"))
                .unwrap_or(0);
            while response.len() < end + 4 + length {
                let n = stream.read(&mut buf).await.expect("read body");
                assert!(n > 0, "closed mid-body");
                response.extend_from_slice(&buf[..n]);
            }
            let status = head
                .split(' ')
                .nth(1)
                .expect("status")
                .parse()
                .expect("code");
            return status;
        }
    }
}

/// The leaf certificate the server presented on `stream`.
fn presented(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("a certificate")[0]
        .clone()
}

fn write_pair(dir: &Path, cert_pem: &str, key_pem: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("tls-cert.pem"), dir.join("tls-key.pem"));
    std::fs::write(&cert, cert_pem).unwrap();
    std::fs::write(&key, key_pem).unwrap();
    (cert, key)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -{name}");
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_reloads_the_certificate_while_a_kept_alive_connection_keeps_working() {
    let (old_pem, old_key, old_der) = certificate();
    let (new_pem, new_key, new_der) = certificate();
    let mut serve = spawn_serve(&["serve"], |dir, port| {
        let (cert, key) = write_pair(dir, &old_pem, &old_key);
        vec![
            ("SESAME_ISSUER", format!("https://localhost:{port}")),
            ("SESAME_TLS__CERT", cert.display().to_string()),
            ("SESAME_TLS__KEY", key.display().to_string()),
        ]
    });
    let port = serve.port;
    eventually("sesame serve answers over https", || async {
        match tls_connect(port, &old_der).await {
            Ok(mut stream) => healthz_on(&mut stream).await == 200,
            Err(_) => false,
        }
    })
    .await;

    let mut kept = tls_connect(port, &old_der).await.expect("connect");
    assert_eq!(healthz_on(&mut kept).await, 200);
    assert_eq!(presented(&kept), old_der);

    // A broken pair first: refused, the old certificate stays in service.
    std::fs::write(serve.dir.path().join("tls-cert.pem"), "garbage").unwrap();
    signal(&serve.child, "HUP");
    let after_bad = tls_connect(port, &old_der)
        .await
        .expect("old cert still served");
    assert_eq!(presented(&after_bad), old_der);

    write_pair(serve.dir.path(), &new_pem, &new_key);
    signal(&serve.child, "HUP");
    eventually("a new connection sees the new certificate", || async {
        tls_connect(port, &new_der)
            .await
            .is_ok_and(|s| presented(&s) == new_der)
    })
    .await;
    // The connection opened before the reload is still open and still served.
    assert_eq!(healthz_on(&mut kept).await, 200);
    assert_eq!(presented(&kept), old_der);
    assert!(
        tls_connect(port, &old_der).await.is_err(),
        "new connections no longer get the old certificate"
    );
    assert!(serve.child.try_wait().unwrap().is_none(), "still running");
}

#[tokio::test]
async fn dev_tls_makes_a_localhost_certificate_under_keys_and_reuses_it() {
    let serve = spawn_serve(&["serve", "--dev-tls"], |_, port| {
        vec![("SESAME_ISSUER", format!("https://localhost:{port}"))]
    });
    let cert = serve.dir.path().join("keys/dev-tls-cert.pem");
    let key = serve.dir.path().join("keys/dev-tls-key.pem");
    eventually("the development certificate is written", || async {
        cert.exists() && key.exists()
    })
    .await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "key mode {mode:o}");
    }
    let der = CertificateDer::from_pem_file(&cert).expect("PEM certificate");
    let port = serve.port;
    eventually("serve --dev-tls answers over https", || async {
        https_client(&der)
            .get(format!("https://localhost:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    drop(serve);
}

#[test]
fn an_http_issuer_that_is_not_loopback_is_refused_without_insecure_dev() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = [("SESAME_ISSUER", "http://id.example.com".to_string())];
    let out = sesame_command(dir.path(), &["serve"], &issuer)
        .output()
        .expect("run serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("http://id.example.com is not https") && stderr.contains("--insecure-dev"),
        "{stderr}"
    );

    // TLS under an http issuer would emit wrong URLs: refused too.
    let out = sesame_command(dir.path(), &["serve", "--dev-tls"], &[])
        .output()
        .expect("run serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("set an https issuer"), "{stderr}");
}

#[tokio::test]
async fn insecure_dev_allows_a_non_loopback_http_issuer() {
    let serve = spawn_serve(&["serve", "--insecure-dev"], |_, _| {
        vec![("SESAME_ISSUER", "http://id.example.com".to_string())]
    });
    let port = serve.port;
    eventually("serve --insecure-dev answers", || async {
        crate::harness::rp_http()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
}
