//! The test harness: the real server on an ephemeral port with a fresh SQLite file and a pinned
//! clock, helpers to register clients and users, and a "person" — an HTTP client with a cookie
//! jar that follows redirects by hand and fills the hosted forms.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::cookie::Jar;
use serde_json::Value;
use sesame::clock::FixedClock;
use sesame::config::FileConfig;
use sesame::model::{Client, GrantType, Scope, TokenEndpointAuthMethod, User};
use sesame::secret::{Secret, random_token};
use sesame::state::AppState;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use url::Url;

/// A password that satisfies the policy (≥ 15 characters, not common).
pub const PASSWORD: &str = "correct horse battery staple 42";

/// The display name of [`TestServer::third_party_client`], as its consent page must show it.
pub const THIRD_PARTY_NAME: &str = "Lamplighter Notes";

/// The wall clock now, in seconds.
pub fn wall_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A running Sesame on `127.0.0.1:<ephemeral>`.
pub struct TestServer {
    pub state: AppState,
    /// `http://127.0.0.1:<port>`, no trailing slash.
    pub issuer: String,
    /// Pinned at the wall clock when the server started; tests advance it.
    pub clock: Arc<FixedClock>,
    /// The background jobs (purge, key reload) on the pinned clock; stopped on drop.
    pub tasks: sesame::tasks::TaskRunner,
    handle: actix_web::dev::ServerHandle,
    _dir: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // `stop` sends the command at once; the returned future only waits for completion.
        drop(self.handle.stop(false));
    }
}

/// A fresh base64 key-encryption key.
pub fn new_kek() -> String {
    sesame::keys::Kek::generate()
        .to_base64()
        .expose()
        .to_string()
}

impl TestServer {
    /// A server with test defaults (generous per-IP login limit, one worker).
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// A server whose configuration `customize` may adjust after the test defaults are set.
    pub async fn start_with(customize: impl FnOnce(&mut FileConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = format!("sqlite://{}/sesame.db", dir.path().display());
        Self::start_on(dir, database_url, new_kek(), customize).await
    }

    /// A server on an existing database (e.g. one the CLI wrote) with the given KEK.
    pub async fn start_on(
        dir: tempfile::TempDir,
        database_url: String,
        kek: String,
        customize: impl FnOnce(&mut FileConfig),
    ) -> TestServer {
        // Any HTTP client a test builds (reqwest's TLS included) needs the rustls provider.
        install_tls_provider();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let issuer = format!("http://127.0.0.1:{port}");
        let mut file = FileConfig {
            issuer: issuer.clone(),
            listen: format!("127.0.0.1:{port}"),
            database_url,
            kek: Some(Secret::new(kek)),
            kek_file: dir.path().join("kek").display().to_string(),
            ..FileConfig::default()
        };
        file.login.per_ip_per_minute = 10_000;
        // Without SMTP, mail goes to files: under the test's directory, not the repository's.
        file.mail.file_dir = dir.path().join("mail").display().to_string();
        file.http.workers = 1;
        customize(&mut file);
        let config = file.resolve().expect("test configuration resolves");
        let clock = Arc::new(FixedClock::new(wall_now()));
        let state = sesame::bootstrap(config, clock.clone())
            .await
            .expect("bootstrap");
        let server = sesame::server(state.clone(), listener).expect("server");
        let handle = server.handle();
        tokio::spawn(server);
        let tasks = sesame::start_tasks(&state);
        TestServer {
            state,
            issuer,
            clock,
            tasks,
            handle,
            _dir: dir,
        }
    }

    /// A server speaking only HTTPS with `tls` (its certificate must be valid for
    /// `localhost`), at the issuer `https://localhost:<ephemeral>`, with the test defaults.
    pub async fn start_https(tls: rustls::ServerConfig) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let issuer = format!("https://localhost:{port}");
        let mut file = FileConfig {
            issuer: issuer.clone(),
            listen: format!("127.0.0.1:{port}"),
            database_url: format!("sqlite://{}/sesame.db", dir.path().display()),
            kek: Some(Secret::new(new_kek())),
            kek_file: dir.path().join("kek").display().to_string(),
            ..FileConfig::default()
        };
        file.login.per_ip_per_minute = 10_000;
        file.http.workers = 1;
        let config = file.resolve().expect("test configuration resolves");
        let clock = Arc::new(FixedClock::new(wall_now()));
        let state = sesame::bootstrap(config, clock.clone())
            .await
            .expect("bootstrap");
        let listening = sesame::Listening {
            tls: Some(tls),
            stop: None,
        };
        let server = sesame::server_with(state.clone(), listener, listening).expect("server");
        let handle = server.handle();
        tokio::spawn(server);
        let tasks = sesame::start_tasks(&state);
        TestServer {
            state,
            issuer,
            clock,
            tasks,
            handle,
            _dir: dir,
        }
    }

    /// An absolute URL for an issuer-relative path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// The pinned clock's current reading.
    pub fn now(&self) -> i64 {
        use sesame::clock::Clock;
        self.clock.now()
    }

    /// Registers a client directly in the store.
    pub async fn register(&self, spec: ClientSpec) -> TestClient {
        let client_id = format!("client-{}", sesame::secret::random_id());
        let secret = (!spec.public).then(random_token);
        let client = Client {
            client_id: client_id.clone(),
            name: spec.name.clone(),
            secret_hash: secret.as_ref().map(Secret::hash),
            redirect_uris: spec.redirect_uris.clone(),
            post_logout_redirect_uris: vec![],
            grant_types: spec.grant_types.clone(),
            allowed_scopes: spec.allowed_scopes.clone(),
            token_endpoint_auth_method: spec.auth_method,
            public: spec.public,
            first_party: spec.first_party,
            created_at: self.now(),
            refresh_tokens: sesame::model::RefreshTokenPolicy::default(),
            allowed_origins: spec.allowed_origins.clone(),
            backchannel_logout_uri: spec.backchannel_logout_uri.clone(),
        };
        self.state
            .store
            .create_client(&client)
            .await
            .expect("create client");
        TestClient {
            client_id,
            secret: secret.map(|s| s.expose().to_string()),
            redirect_uri: spec.redirect_uris[0].clone(),
            auth_method: spec.auth_method,
        }
    }

    /// A first-party confidential client allowed `authorization_code` and `client_credentials`.
    pub async fn confidential_client(&self) -> TestClient {
        self.register(ClientSpec::confidential()).await
    }

    /// A confidential client that is not first-party, named [`THIRD_PARTY_NAME`]: its users are
    /// asked for consent.
    pub async fn third_party_client(&self) -> TestClient {
        self.register(ClientSpec {
            name: THIRD_PARTY_NAME.into(),
            first_party: false,
            ..ClientSpec::confidential()
        })
        .await
    }

    /// A first-party public client (PKCE required).
    pub async fn public_client(&self) -> TestClient {
        self.register(ClientSpec::public()).await
    }

    /// Creates a user with [`PASSWORD`].
    pub async fn user(&self, email: &str) -> User {
        self.state
            .accounts
            .create_user(
                email,
                Some("Test Person"),
                &Secret::new(PASSWORD),
                self.now(),
            )
            .await
            .expect("create user")
    }

    /// A person with an empty cookie jar.
    pub fn person(&self) -> Person {
        Person::new(&self.issuer)
    }

    /// An authorization request for `client` with PKCE S256, state and nonce, plus `extra`
    /// parameters (which may override the defaults; a name mapped to "" is dropped).
    pub fn auth_request(&self, client: &TestClient, extra: &[(&str, &str)]) -> AuthRequest {
        let (verifier, challenge) = pkce_pair();
        let state = sesame::secret::random_id();
        let nonce = sesame::secret::random_id();
        let mut params: Vec<(String, String)> = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), client.client_id.clone()),
            ("redirect_uri".into(), client.redirect_uri.clone()),
            ("scope".into(), "openid email profile".into()),
            ("state".into(), state.clone()),
            ("nonce".into(), nonce.clone()),
            ("code_challenge".into(), challenge),
            ("code_challenge_method".into(), "S256".into()),
        ];
        for (k, v) in extra {
            params.retain(|(name, _)| name != k);
            if !v.is_empty() {
                params.push((k.to_string(), v.to_string()));
            }
        }
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        AuthRequest {
            url: format!("{}/authorize?{query}", self.issuer),
            state,
            nonce,
            verifier,
        }
    }

    /// Logs `email` in through the hosted pages for a fresh request and returns the code.
    pub async fn code_for(
        &self,
        person: &Person,
        client: &TestClient,
        email: &str,
    ) -> (String, AuthRequest) {
        let request = self.auth_request(client, &[]);
        let callback = person.sign_in(&request.url, email, PASSWORD).await;
        let q = query_map(&callback);
        assert_eq!(q.get("state"), Some(&request.state), "state echoed");
        let code = q.get("code").cloned().unwrap_or_else(|| {
            panic!("no code in the callback {callback}");
        });
        (code, request)
    }

    /// Redeems `code` at the token endpoint with `client`'s credentials (Basic for
    /// confidential clients, `client_id` in the body for public ones).
    pub async fn redeem(
        &self,
        client: &TestClient,
        code: &str,
        verifier: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", client.redirect_uri.clone()),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v.to_string()));
        }
        self.token_request(client, form).await
    }

    /// POSTs `form` to `/token`, authenticating as `client` by its registered method.
    pub async fn token_request(
        &self,
        client: &TestClient,
        mut form: Vec<(&str, String)>,
    ) -> reqwest::Response {
        let http = rp_http();
        let mut req = http.post(self.url("/token"));
        let secret = client.secret.clone().unwrap_or_default();
        match client.auth_method {
            TokenEndpointAuthMethod::ClientSecretBasic => {
                req = req.basic_auth(&client.client_id, Some(secret))
            }
            TokenEndpointAuthMethod::ClientSecretPost => {
                form.push(("client_id", client.client_id.clone()));
                form.push(("client_secret", secret));
            }
            TokenEndpointAuthMethod::None => form.push(("client_id", client.client_id.clone())),
        }
        req.form(&form).send().await.expect("POST /token")
    }

    /// Full login and redemption; returns the token response JSON.
    pub async fn tokens_for(
        &self,
        person: &Person,
        client: &TestClient,
        email: &str,
    ) -> serde_json::Value {
        let (code, request) = self.code_for(person, client, email).await;
        let resp = self.redeem(client, &code, Some(&request.verifier)).await;
        assert_eq!(resp.status(), 200, "token response");
        resp.json().await.expect("token JSON")
    }

    /// GET /userinfo with a bearer token; returns (status, WWW-Authenticate, body).
    pub async fn userinfo(&self, token: &str) -> (u16, String, String) {
        let resp = rp_http()
            .get(self.url("/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET /userinfo");
        let status = resp.status().as_u16();
        let www = header(&resp, "www-authenticate");
        (status, www, resp.text().await.unwrap_or_default())
    }
}

/// How to register a test client.
#[derive(Clone, Debug)]
pub struct ClientSpec {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub public: bool,
    pub first_party: bool,
    pub grant_types: Vec<GrantType>,
    pub allowed_scopes: Scope,
    pub auth_method: TokenEndpointAuthMethod,
    /// Origins registered for browser calls (CORS) beyond the redirect URIs' own.
    pub allowed_origins: Vec<String>,
    /// Where back-channel logout notices go, if anywhere.
    pub backchannel_logout_uri: Option<String>,
}

/// The scopes test clients may request unless a test says otherwise.
fn identity_scopes() -> Scope {
    Scope::parse("openid email profile").expect("valid scope")
}

impl ClientSpec {
    /// Confidential, first-party, `authorization_code` + `client_credentials`.
    pub fn confidential() -> ClientSpec {
        ClientSpec {
            name: "Confidential RP".into(),
            redirect_uris: vec!["http://127.0.0.1:9/callback".into()],
            public: false,
            first_party: true,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::ClientCredentials],
            allowed_scopes: identity_scopes(),
            auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            allowed_origins: vec![],
            backchannel_logout_uri: None,
        }
    }

    /// Public, first-party, `authorization_code` only.
    pub fn public() -> ClientSpec {
        ClientSpec {
            name: "Public RP".into(),
            redirect_uris: vec!["http://127.0.0.1:9/public-callback".into()],
            public: true,
            first_party: true,
            grant_types: vec![GrantType::AuthorizationCode],
            allowed_scopes: identity_scopes(),
            auth_method: TokenEndpointAuthMethod::None,
            allowed_origins: vec![],
            backchannel_logout_uri: None,
        }
    }
}

/// A registered client as the relying party knows it.
#[derive(Clone, Debug)]
pub struct TestClient {
    pub client_id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
    pub auth_method: TokenEndpointAuthMethod,
}

/// One `/authorize` URL and the values the relying party keeps for it.
#[derive(Clone, Debug)]
pub struct AuthRequest {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

/// A fresh PKCE verifier and its S256 challenge (RFC 7636 §4.2).
pub fn pkce_pair() -> (String, String) {
    let verifier = random_token().expose().to_string();
    (verifier.clone(), s256(&verifier))
}

/// `BASE64URL(SHA256(verifier))`.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref())
}

/// Installs aws-lc-rs as the process's rustls provider: reqwest's TLS (used by the HTTPS tests)
/// has no provider of its own (ring is kept out), and building any client needs one.
pub fn install_tls_provider() {
    sesame::http::tls::install_provider();
}

/// The relying party's HTTP client: no redirects, no cookies.
pub fn rp_http() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// A header's value as a string ("" when absent).
pub fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Every `Set-Cookie` header of a response.
pub fn set_cookies(resp: &reqwest::Response) -> Vec<String> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect()
}

/// The query parameters of an absolute URL (last value wins).
pub fn query_map(url: &str) -> HashMap<String, String> {
    Url::parse(url)
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// The decoded JSON payload of a JWT (no verification).
pub fn jwt_claims(token: &str) -> serde_json::Value {
    jwt_part(token, 1)
}

/// The decoded JSON header of a JWT (no verification).
pub fn jwt_header(token: &str) -> serde_json::Value {
    jwt_part(token, 0)
}

fn jwt_part(token: &str, index: usize) -> serde_json::Value {
    let part = token.split('.').nth(index).expect("JWT part");
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url JWT part");
    serde_json::from_slice(&bytes).expect("JSON JWT part")
}

/// Reads `value` of the `<input>` whose `name` is `name` (attribute order does not matter).
pub fn hidden_input(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let at = html.find(&needle)?;
    let start = html[..at].rfind('<')?;
    let end = at + html[at..].find('>')?;
    let tag = &html[start..end];
    let v = tag.find("value=\"")? + "value=\"".len();
    let len = tag[v..].find('"')?;
    Some(html_unescape(&tag[v..v + len]))
}

/// Undoes the escaping handlebars applies to attribute values.
pub fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x60;", "`")
        .replace("&#x3D;", "=")
        .replace("&#61;", "=")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `action` of the first `<form>` in a page, if any.
pub fn form_action(html: &str) -> Option<String> {
    let at = html.find("<form")?;
    let end = at + html[at..].find('>')?;
    let tag = &html[at..end];
    let v = tag.find("action=\"")? + "action=\"".len();
    let len = tag[v..].find('"')?;
    Some(html_unescape(&tag[v..v + len]))
}

/// A person at a browser: a cookie jar, redirects followed by hand.
pub struct Person {
    pub http: reqwest::Client,
    pub jar: Arc<Jar>,
    issuer: Url,
}

impl Person {
    /// A person with an empty jar.
    pub fn new(issuer: &str) -> Person {
        install_tls_provider();
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone())
            .build()
            .expect("reqwest client");
        Person {
            http,
            jar,
            issuer: Url::parse(issuer).expect("issuer URL"),
        }
    }

    /// A person with an empty jar whose client `build` finishes (e.g. trusting a test
    /// certificate); redirects are not followed.
    pub fn with_client(
        issuer: &str,
        build: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> Person {
        install_tls_provider();
        let jar = Arc::new(Jar::default());
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_provider(jar.clone());
        Person {
            http: build(builder).build().expect("reqwest client"),
            jar,
            issuer: Url::parse(issuer).expect("issuer URL"),
        }
    }

    /// Resolves a possibly relative URL against the issuer.
    pub fn absolute(&self, url: &str) -> String {
        self.issuer
            .join(url)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| url.to_string())
    }

    /// GET `url` (relative to the issuer if not absolute).
    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(self.absolute(url)).send().await.expect("GET")
    }

    /// POST a urlencoded form.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.absolute(url))
            .form(form)
            .send()
            .await
            .expect("POST")
    }

    /// Plants a cookie for the issuer.
    pub fn plant_cookie(&self, cookie: &str) {
        self.jar.add_cookie_str(cookie, &self.issuer);
    }

    /// The `Location` of a redirect, absolute; panics unless the status is 302 or 303.
    pub fn location(&self, resp: &reqwest::Response) -> String {
        let status = resp.status().as_u16();
        assert!(
            status == 302 || status == 303,
            "expected a 302/303 redirect, got {status}"
        );
        self.absolute(&header(resp, "location"))
    }

    /// Submits the login form at `login_url`; returns the POST's response.
    pub async fn submit_login(
        &self,
        login_url: &str,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        self.submit_login_with(login_url, email, password, &[])
            .await
    }

    /// As [`Person::submit_login`], with extra request headers on the POST.
    pub async fn submit_login_with(
        &self,
        login_url: &str,
        email: &str,
        password: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let html = self.page(login_url, "login").await;
        self.post_login(&html, email, password, headers).await
    }

    /// GETs a hosted page that must answer 200; returns its HTML.
    pub async fn page(&self, url: &str, what: &str) -> String {
        let page = self.get(url).await;
        assert_eq!(page.status(), 200, "{what} page at {url}");
        page.text().await.expect("page body")
    }

    /// GETs the hosted page at `url` (it must answer 200) and keeps it as shown.
    pub async fn see(&self, url: &str) -> ShownPage {
        let url = self.absolute(url);
        let path = Url::parse(&url)
            .map(|u| u.path().to_string())
            .unwrap_or_default();
        ShownPage {
            html: self.page(&url, &path).await,
            url,
            path,
        }
    }

    /// Fills and POSTs the login form of a login page's `html`.
    async fn post_login(
        &self,
        html: &str,
        email: &str,
        password: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let request = hidden_input(html, "request").expect("hidden input `request`");
        let csrf = hidden_input(html, "csrf_token").expect("hidden input `csrf_token`");
        let mut post = self.http.post(self.absolute("/login")).form(&[
            ("request", request.as_str()),
            ("csrf_token", &csrf),
            ("email", email),
            ("password", password),
        ]);
        for (name, value) in headers {
            post = post.header(*name, *value);
        }
        post.send().await.expect("POST /login")
    }

    /// Answers the consent page at `consent_url` with `decision` (`allow` or `deny`).
    pub async fn submit_consent(&self, consent_url: &str, decision: &str) -> reqwest::Response {
        let html = self.page(consent_url, "consent").await;
        self.post_consent(&html, decision).await
    }

    /// POSTs the consent form of a consent page's `html` with `decision`.
    pub async fn post_consent(&self, html: &str, decision: &str) -> reqwest::Response {
        let request = hidden_input(html, "request").expect("hidden input `request`");
        let csrf = hidden_input(html, "csrf_token").expect("hidden input `csrf_token`");
        self.post_form(
            "/consent",
            &[
                ("request", &request),
                ("csrf_token", &csrf),
                ("decision", decision),
            ],
        )
        .await
    }

    /// Follows an authorization from `authorize_url` to the client's redirect: logs in if
    /// asked, allows consent if asked. Returns the final redirect to the client.
    pub async fn sign_in(&self, authorize_url: &str, email: &str, password: &str) -> String {
        self.sign_in_seeing(authorize_url, email, password)
            .await
            .callback
    }

    /// As [`Person::sign_in`], keeping every hosted page the person was shown on the way.
    pub async fn sign_in_seeing(
        &self,
        authorize_url: &str,
        email: &str,
        password: &str,
    ) -> Journey {
        let resp = self.get(authorize_url).await;
        let mut next = self.location(&resp);
        let mut pages = Vec::new();
        for _ in 0..4 {
            let path = Url::parse(&next)
                .map(|u| u.path().to_string())
                .unwrap_or_default();
            if !next.starts_with(self.issuer.as_str()) {
                return Journey {
                    callback: next,
                    pages,
                };
            }
            let html = match path.as_str() {
                "/login" | "/consent" => self.page(&next, &path).await,
                other => panic!("unexpected stop at {other} ({next})"),
            };
            let resp = if path == "/login" {
                self.post_login(&html, email, password, &[]).await
            } else {
                self.post_consent(&html, "allow").await
            };
            pages.push(ShownPage {
                url: next.clone(),
                path,
                html,
            });
            next = self.location(&resp);
        }
        panic!("too many hops; last {next}")
    }
}

/// A hosted page a person was shown.
#[derive(Clone, Debug)]
pub struct ShownPage {
    /// Its absolute URL.
    pub url: String,
    /// Its path, e.g. `/consent`.
    pub path: String,
    pub html: String,
}

/// A person's way through the hosted pages to the client.
#[derive(Clone, Debug)]
pub struct Journey {
    /// The final redirect to the client.
    pub callback: String,
    /// The hosted pages shown, in order.
    pub pages: Vec<ShownPage>,
}

impl Journey {
    /// The consent pages among the pages shown.
    pub fn consent_pages(&self) -> Vec<&ShownPage> {
        self.pages.iter().filter(|p| p.path == "/consent").collect()
    }
}

/// Asserts that `page` is the consent form for the client named `client_name`: the name, every
/// scope in `scopes`, a form posting to `/consent` for the pending request in the page's URL,
/// and both answers.
pub fn assert_consent_form(page: &ShownPage, client_name: &str, scopes: &[&str]) {
    let html = &page.html;
    assert_eq!(page.path, "/consent", "not a consent page: {}", page.url);
    assert!(
        html.contains(client_name),
        "consent names {client_name}: {html}"
    );
    for scope in scopes {
        assert!(html.contains(scope), "consent lists scope {scope}: {html}");
    }
    assert_eq!(form_action(html).as_deref(), Some("/consent"), "{html}");
    let pending = query_map(&page.url).get("request").cloned();
    assert!(
        pending.is_some(),
        "consent URL names its request: {}",
        page.url
    );
    assert_eq!(
        hidden_input(html, "request"),
        pending,
        "the form answers this request"
    );
    assert!(hidden_input(html, "csrf_token").is_some(), "CSRF token");
    for decision in ["allow", "deny"] {
        assert!(
            html.contains(&format!("name=\"decision\" value=\"{decision}\"")),
            "a {decision} button: {html}"
        );
    }
}

/// Asserts an RFC 6749 §5.2 JSON error: the one expected status, `error`, and
/// `Cache-Control: no-store`; returns the body.
pub async fn assert_oauth_error(resp: reqwest::Response, status: u16, error: &str) -> Value {
    let got = resp.status().as_u16();
    let cache = header(&resp, "cache-control");
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(got, status, "status for {error}: body {body}");
    let json: Value =
        serde_json::from_str(&body).unwrap_or_else(|_| panic!("JSON error body: {body}"));
    assert_eq!(json["error"], error, "{body}");
    assert!(
        cache.contains("no-store"),
        "no-store on errors too: {cache}"
    );
    assert!(json.get("access_token").is_none(), "no token with an error");
    json
}

/// Asserts an RFC 6750 §3 refusal of a bearer token: 401 and a `Bearer` challenge naming
/// `error` (e.g. `invalid_token`).
pub fn assert_bearer_error(status: u16, www: &str, error: &str, what: &str) {
    assert_eq!(status, 401, "{what}");
    assert!(www.starts_with("Bearer"), "{what}: WWW-Authenticate {www}");
    assert!(
        www.contains(&format!("error=\"{error}\"")),
        "{what}: WWW-Authenticate {www}"
    );
}

/// Asserts a 400 HTML error page at the OP: never a redirect (RFC 6749 §4.1.2.1).
pub async fn assert_error_page(resp: reqwest::Response, what: &str) {
    let status = resp.status().as_u16();
    let location = header(&resp, "location");
    let content_type = header(&resp, "content-type");
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(
        status, 400,
        "{what}: expected a 400 error page, body {body}"
    );
    assert!(
        location.is_empty(),
        "{what}: must not redirect, Location {location}"
    );
    assert!(
        content_type.starts_with("text/html"),
        "{what}: {content_type}"
    );
}

/// Asserts a 302/303 to the client's redirect URI carrying `error`, `state` and `iss`
/// (RFC 6749 §4.1.2.1, RFC 9207), and no code.
pub fn assert_error_redirect(
    server: &TestServer,
    person: &Person,
    resp: &reqwest::Response,
    client: &TestClient,
    error: &str,
    state: Option<&str>,
) {
    let loc = person.location(resp);
    assert!(
        loc.starts_with(&format!("{}?", client.redirect_uri)),
        "redirect to the registered URI: {loc}"
    );
    let q = query_map(&loc);
    assert_eq!(q.get("error").map(String::as_str), Some(error), "{loc}");
    assert_eq!(
        q.get("state").map(String::as_str),
        state,
        "state echoed: {loc}"
    );
    assert_eq!(
        q.get("iss").map(String::as_str),
        Some(server.issuer.as_str()),
        "RFC 9207: {loc}"
    );
    assert!(!q.contains_key("code"), "no code with an error: {loc}");
    if let Some(d) = q.get("error_description") {
        assert!(
            !d.contains(['\r', '\n', '\t']),
            "no CR/LF/TAB in error_description"
        );
    }
}

#[test]
fn hidden_input_reads_values_in_any_attribute_order() {
    let html = r#"<form action="/login" method="post">
        <input type="hidden" name="request" value="abc-_1">
        <input value="t&#x3D;k&amp;n" name="csrf_token" type="hidden"/>
        <input name="email" type="email"></form>"#;
    assert_eq!(hidden_input(html, "request").as_deref(), Some("abc-_1"));
    assert_eq!(hidden_input(html, "csrf_token").as_deref(), Some("t=k&n"));
    assert_eq!(hidden_input(html, "email"), None);
    assert_eq!(hidden_input(html, "missing"), None);
    assert_eq!(form_action(html).as_deref(), Some("/login"));
}
