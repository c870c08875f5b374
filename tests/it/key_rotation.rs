//! Signing-key rotation as relying parties and operators see it (issue 7): a relying party
//! that fetched the JWKS once, after the next key was published, validates tokens signed after
//! the rotation; two `sesame serve` processes on one database agree on every key; `sesame keys
//! list|rotate|revoke` end to end through the binary; a revoked key's tokens are refused; the
//! usage counts; no private key material readable in the database.

use crate::code_flow::relying_party;
use crate::harness::{
    PASSWORD, TestClient, TestServer, jwt_header, new_kek, query_map, rp_http, wall_now,
};
use crate::store_contract::{DropDatabase, mongodb_uri, with_database};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge, TokenResponse,
};
use serde_json::Value;
use sesame::keys::{Kek, generate_signing_key};
use sesame::model::{Client, GrantType, KeyState, Scope, SigningKey, TokenEndpointAuthMethod};
use sesame::secret::{Secret, random_token};
use sesame::store::Store;
use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// The kids a JWKS document at `url` publishes.
async fn jwks_kids(url: &str) -> Vec<String> {
    let jwks: Value = rp_http()
        .get(url)
        .send()
        .await
        .expect("GET /jwks")
        .json()
        .await
        .expect("JWKS JSON");
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The stored keys of `state`, by generation.
async fn keys_in(store: &dyn Store, state: KeyState) -> Vec<SigningKey> {
    store
        .signing_keys()
        .await
        .expect("signing keys")
        .into_iter()
        .filter(|k| k.state == state)
        .collect()
}

/// Runs the `sesame` binary on a database and KEK, in `dir`.
struct SesameBinary {
    database_url: String,
    kek: String,
    dir: std::path::PathBuf,
}

impl SesameBinary {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sesame"));
        command
            .args(args)
            .current_dir(&self.dir)
            .env_remove("SESAME_CONFIG")
            .env("SESAME_DATABASE_URL", &self.database_url)
            .env("SESAME_KEK", &self.kek)
            // Each `serve` its own free metrics port: several run at once.
            .env("SESAME_METRICS__LISTEN", "127.0.0.1:0")
            .env("SESAME_LOG__LEVEL", "warn");
        command
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the sesame binary");
        {
            let mut input = child.stdin.take().expect("stdin");
            if let Some(text) = stdin {
                input.write_all(text.as_bytes()).expect("write stdin");
            }
        }
        child.wait_with_output().expect("sesame output")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(
            out.status.success(),
            "sesame {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn list(&self) -> Vec<Value> {
        let listed: Value =
            serde_json::from_str(self.ok(&["keys", "list", "--json"]).trim()).expect("JSON list");
        listed.as_array().expect("an array").clone()
    }
}

/// A confidential client allowed `client_credentials`, written straight into `store`.
async fn client_credentials_client(store: &dyn Store) -> TestClient {
    let client_id = format!("client-{}", sesame::secret::random_id());
    let secret = random_token();
    store
        .create_client(&Client {
            client_id: client_id.clone(),
            name: "Rotation RP".into(),
            secret_hash: Some(Secret::hash(&secret)),
            redirect_uris: vec!["http://127.0.0.1:9/callback".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::ClientCredentials],
            allowed_scopes: Scope::parse("openid").expect("scope"),
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            public: false,
            first_party: true,
            refresh_tokens: sesame::model::RefreshTokenPolicy::default(),
            allowed_origins: vec![],
            created_at: wall_now(),
            backchannel_logout_uri: None,
        })
        .await
        .expect("create client");
    TestClient {
        client_id,
        secret: Some(secret.expose().to_string()),
        redirect_uri: "http://127.0.0.1:9/callback".into(),
        auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
    }
}

/// A client_credentials access token from the server at `base`.
async fn client_token(base: &str, client: &TestClient) -> String {
    let resp = rp_http()
        .post(format!("{base}/token"))
        .basic_auth(&client.client_id, client.secret.clone())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("POST /token");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("token JSON");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// What the server at `base` says about `token` when `client` introspects it.
async fn introspect(base: &str, client: &TestClient, token: &str) -> Value {
    rp_http()
        .post(format!("{base}/introspect"))
        .basic_auth(&client.client_id, client.secret.clone())
        .form(&[("token", token)])
        .send()
        .await
        .expect("POST /introspect")
        .json()
        .await
        .expect("introspection JSON")
}

/// Verifies an RS256 JWT against a JWKS document (an independent verifier: jsonwebtoken).
async fn verifies_against(jwks_url: &str, token: &str) -> bool {
    let jwks: Value = rp_http()
        .get(jwks_url)
        .send()
        .await
        .expect("GET /jwks")
        .json()
        .await
        .expect("JWKS");
    let kid = jwt_header(token)["kid"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let Some(jwk) = jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["kid"] == kid.as_str())
    else {
        return false;
    };
    let key = jsonwebtoken::DecodingKey::from_rsa_components(
        jwk["n"].as_str().expect("n"),
        jwk["e"].as_str().expect("e"),
    )
    .expect("RSA key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(token, &key, &validation).is_ok()
}

/// A `sesame serve` process; killed when dropped.
struct ServeProcess {
    child: Child,
    base: String,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits (bounded) until `check` holds; panics with `what` if it never does.
async fn eventually<F, Fut>(what: &str, mut check: F)
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

/// Starts `sesame serve` on `listen_port` with `issuer`, reloading keys every second.
async fn serve(binary: &SesameBinary, issuer: &str, listen_port: u16) -> ServeProcess {
    let child = binary
        .command(&["serve"])
        .env("SESAME_ISSUER", issuer)
        .env("SESAME_LISTEN", format!("127.0.0.1:{listen_port}"))
        .env("SESAME_KEYS__RELOAD_INTERVAL", "1")
        .env("SESAME_HTTP__WORKERS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start sesame serve");
    let process = ServeProcess {
        child,
        base: format!("http://127.0.0.1:{listen_port}"),
    };
    let health = format!("{}/healthz", process.base);
    eventually("sesame serve answers", || {
        let health = health.clone();
        async move {
            rp_http()
                .get(&health)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        }
    })
    .await;
    process
}

/// Two `sesame serve` processes on the database at `database_url` (already opened as `store`,
/// holding one active key well into its period): both race to publish the next key and exactly
/// one does; after `sesame keys rotate`, tokens minted by either verify against the JWKS the
/// other serves, and each accepts the other's tokens at introspection.
async fn two_instances_agree_on_every_key(
    store: Arc<dyn Store>,
    database_url: String,
    dir: &std::path::Path,
) {
    let kek = new_kek();
    // One active key, 29 days into its 30-day period: the next key is due (48 h before the end).
    let mut first = generate_signing_key(
        &Kek::from_base64(&kek).expect("KEK"),
        1,
        wall_now() - 29 * 86_400,
    )
    .await
    .expect("generate");
    first.state = KeyState::Active;
    store.insert_signing_key(&first).await.expect("seed key");
    let client = client_credentials_client(store.as_ref()).await;
    let binary = SesameBinary {
        database_url,
        kek,
        dir: dir.to_path_buf(),
    };
    // One issuer for both, as behind a load balancer.
    let (port_a, port_b) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{port_a}");
    let (a, b) = tokio::join!(
        serve(&binary, &issuer, port_a),
        serve(&binary, &issuer, port_b)
    );
    for server in [&a, &b] {
        let url = format!("{}/jwks", server.base);
        eventually("both publish the active and the next key", || {
            let url = url.clone();
            async move { jwks_kids(&url).await.len() == 2 }
        })
        .await;
    }
    let all = store.signing_keys().await.expect("keys");
    assert_eq!(all.len(), 2, "exactly one next key was created: {all:?}");
    let next = keys_in(store.as_ref(), KeyState::Next).await;
    assert_eq!((next.len(), next[0].generation), (1, 2));

    let rotated = binary.ok(&["keys", "rotate"]);
    assert!(rotated.contains(&next[0].kid), "{rotated}");
    for server in [&a, &b] {
        let url = format!("{}/jwks", server.base);
        eventually("both reload the rotated ring", || {
            let url = url.clone();
            async move { jwks_kids(&url).await.len() == 3 }
        })
        .await;
    }
    let active = keys_in(store.as_ref(), KeyState::Active).await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].kid, next[0].kid, "the published next key signs");
    let generations: Vec<i64> = store
        .signing_keys()
        .await
        .expect("keys")
        .iter()
        .map(|k| k.generation)
        .collect();
    assert_eq!(generations, [1, 2, 3], "one key per generation");

    for (minter, other) in [(&a, &b), (&b, &a)] {
        let token = client_token(&minter.base, &client).await;
        assert_eq!(jwt_header(&token)["kid"], active[0].kid.as_str());
        assert!(
            verifies_against(&format!("{}/jwks", other.base), &token).await,
            "a token of {} verifies against the JWKS of {}",
            minter.base,
            other.base
        );
        assert_eq!(
            introspect(&other.base, &client, &token).await["active"],
            true
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_on_one_sqlite_file_create_one_key_and_accept_each_others_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let database_url = format!("sqlite://{}/sesame.db", dir.path().display());
    let store = sesame::store::open(&database_url)
        .await
        .expect("open store");
    two_instances_agree_on_every_key(store, database_url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_processes_on_one_mongodb_create_one_key_and_accept_each_others_tokens() {
    let Some(base) = mongodb_uri() else { return };
    let database = format!("sesame_test_{}", sesame::secret::random_id().to_lowercase());
    let url = with_database(&base, &database);
    let _cleanup = DropDatabase(url.clone(), database);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sesame::store::open(&url).await.expect("open MongoDB store");
    two_instances_agree_on_every_key(store, url, dir.path()).await;
}

#[tokio::test]
async fn a_relying_party_that_fetched_the_jwks_once_after_prepublication_accepts_the_new_key() {
    let server = TestServer::start().await;
    server.tasks.run_due_now().await;
    let policy = server.state.config.key_policy;
    let old = server.state.keys.active_kid().expect("active");
    server.user("rotation@example.com").await;
    let client = server.confidential_client().await;

    // The next key is published prepublish before the period ends...
    server
        .clock
        .advance(policy.rotation_period - policy.prepublish);
    server.tasks.run_due_now().await;
    let published = keys_in(server.state.store.as_ref(), KeyState::Next).await;
    assert_eq!(published.len(), 1, "the next key is published");
    let new = published[0].kid.clone();
    assert_eq!(server.state.keys.active_kid().expect("active"), old);
    // ...the relying party discovers the provider (and fetches the JWKS) once, now...
    let rp = relying_party(&server, &client).await;

    // ...and the next key signs once the period is over.
    server.clock.advance(policy.prepublish);
    server.tasks.run_due_now().await;
    assert_eq!(server.state.keys.active_kid().expect("active"), new);
    assert!(
        jwks_kids(&server.url("/jwks")).await.contains(&old),
        "retired, still published"
    );

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _csrf, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    let person = server.person();
    let callback = person
        .sign_in(url.as_str(), "rotation@example.com", PASSWORD)
        .await;
    let code = query_map(&callback).get("code").expect("code").clone();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&rp_http())
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("id_token");
    let compact = serde_json::to_value(id_token).expect("compact ID token");
    assert_eq!(
        jwt_header(compact.as_str().expect("a string"))["kid"],
        new.as_str()
    );
    id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("the ID token signed by the new key verifies with the JWKS fetched before");
    assert_eq!(
        jwt_header(tokens.access_token().secret())["kid"],
        new.as_str()
    );

    // The retired key goes once every token it signed has expired, plus the margin.
    server.clock.advance(policy.retention - 1);
    server.tasks.run_due_now().await;
    assert!(jwks_kids(&server.url("/jwks")).await.contains(&old));
    // The rotation job looks once a minute (the exact boundary is the policy's unit test).
    server.clock.advance(sesame::tasks::KeyRotation::PERIOD);
    server.tasks.run_due_now().await;
    assert!(!jwks_kids(&server.url("/jwks")).await.contains(&old));
    assert!(
        keys_in(server.state.store.as_ref(), KeyState::Retired)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn keys_cli_lists_rotates_and_revokes_and_a_revoked_keys_tokens_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let database_url = format!("sqlite://{}/sesame.db", path.display());
    let kek = new_kek();
    let binary = SesameBinary {
        database_url: database_url.clone(),
        kek: kek.clone(),
        dir: path,
    };
    let server = TestServer::start_on(dir, database_url, kek, |_| {}).await;
    server.tasks.run_due_now().await;
    server.user("keys@example.com").await;
    let client = server.confidential_client().await;
    let person = server.person();
    let tokens = server
        .tokens_for(&person, &client, "keys@example.com")
        .await;
    let old_token = tokens["access_token"]
        .as_str()
        .expect("access token")
        .to_string();
    let first = server.state.keys.active_kid().expect("active");

    // Presented back at userinfo: counted for the key, flushed, listed.
    let (status, _, _) = server.userinfo(&old_token).await;
    assert_eq!(status, 200);
    server.clock.advance(60);
    server.tasks.run_due_now().await;
    let listed = binary.list();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["kid"], first.as_str());
    assert_eq!(listed[0]["state"], "active");
    assert_eq!(listed[0]["uses"], 1);
    assert!(listed[0]["last_seen_at"].as_i64().is_some());
    let table = binary.ok(&["keys", "list"]);
    assert!(table.starts_with("KID"), "{table}");
    assert!(
        table.contains(&first) && table.contains("active"),
        "{table}"
    );

    // Rotate: a new key signs (on this server within its reload interval), the old one is
    // retired but published, a new next key is published.
    let out = binary.ok(&["keys", "rotate"]);
    assert!(out.contains("signing with"), "{out}");
    let listed = binary.list();
    let states: Vec<(&str, i64)> = listed
        .iter()
        .map(|k| {
            (
                k["state"].as_str().unwrap_or(""),
                k["generation"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(states, [("retired", 1), ("active", 2), ("next", 3)]);
    let second = listed[1]["kid"].as_str().expect("kid").to_string();
    server
        .clock
        .advance(server.state.config.key_policy.reload_interval);
    server.tasks.run_due_now().await;
    assert_eq!(server.state.keys.active_kid().expect("active"), second);
    let published = jwks_kids(&server.url("/jwks")).await;
    assert_eq!(published.len(), 3, "next, active and retired are published");
    let (status, _, _) = server.userinfo(&old_token).await;
    assert_eq!(status, 200, "a token of the retired key still verifies");

    // The signing key cannot be revoked; the retired one can.
    let refused = binary.run(&["keys", "revoke", &second], None);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("keys rotate"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let out = binary.ok(&["keys", "revoke", &first]);
    assert!(out.contains("revoked"), "{out}");
    // At once, before this server has reloaded its ring: its tokens are refused.
    let (status, www, _) = server.userinfo(&old_token).await;
    assert_eq!(status, 401, "userinfo refuses the revoked key's token");
    assert!(www.contains("invalid_token"), "{www}");
    let answer = introspect(&server.issuer, &client, &old_token).await;
    assert_eq!(answer, serde_json::json!({ "active": false }));
    // And it leaves the JWKS at the reload.
    server
        .clock
        .advance(server.state.config.key_policy.reload_interval);
    server.tasks.run_due_now().await;
    let published = jwks_kids(&server.url("/jwks")).await;
    assert!(!published.contains(&first), "a revoked key leaves the JWKS");
    let (status, _, _) = server.userinfo(&old_token).await;
    assert_eq!(status, 401);
    assert_eq!(binary.list()[0]["state"], "revoked");
    let again = binary.run(&["keys", "revoke", &first], None);
    assert_eq!(again.status.code(), Some(2), "already revoked");
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The private key material of every signing key, as what to search for: the PKCS#8 DER, the
/// private exponent `d` (raw, base64, base64url), and the PEM / PKCS#8 markers.
fn secrets_to_search_for(kek: &Kek, keys: &[SigningKey]) -> Vec<Vec<u8>> {
    let mut needles: Vec<Vec<u8>> = vec![
        b"-----BEGIN".to_vec(),
        b"PRIVATE KEY".to_vec(),
        // The PKCS#8 rsaEncryption AlgorithmIdentifier's OID, DER-encoded.
        vec![
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
        ],
    ];
    for key in keys {
        let pkcs8 = kek_open(kek, key);
        // `d` is the 4th INTEGER of the RSAPrivateKey inside the PKCS#8: take a 64-byte slice
        // of its middle, which no public value contains.
        let d = private_exponent(&pkcs8);
        let slice = &d[d.len() / 2 - 32..d.len() / 2 + 32];
        needles.push(slice.to_vec());
        needles.push(pkcs8[pkcs8.len() / 2..pkcs8.len() / 2 + 64].to_vec());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&d);
        needles.push(b64.as_bytes()[8..72].to_vec());
        let b64url = URL_SAFE_NO_PAD.encode(&d);
        needles.push(b64url.as_bytes()[8..72].to_vec());
    }
    needles
}

/// Decrypts a stored key as the server does (via a fresh key manager would hide the bytes):
/// the blob is nonce ‖ AES-256-GCM(PKCS#8) with the kid as AAD.
fn kek_open(kek: &Kek, key: &SigningKey) -> Vec<u8> {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let raw = base64::engine::general_purpose::STANDARD
        .decode(kek.to_base64().expose())
        .expect("KEK bytes");
    let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &raw).expect("AES key"));
    let (nonce, sealed) = key.private_key_enc.split_at(12);
    let mut in_out = sealed.to_vec();
    aead.open_in_place(
        Nonce::try_assume_unique_for_key(nonce).expect("nonce"),
        Aad::from(key.kid.as_bytes()),
        &mut in_out,
    )
    .expect("the KEK opens the stored key")
    .to_vec()
}

/// The private exponent of a PKCS#8 RSA key (a minimal DER walk).
fn private_exponent(pkcs8: &[u8]) -> Vec<u8> {
    /// Reads one DER TLV at `at`: (tag, content start, content end).
    fn tlv(der: &[u8], at: usize) -> (u8, usize, usize) {
        let tag = der[at];
        let first = der[at + 1] as usize;
        let (len, start) = if first < 0x80 {
            (first, at + 2)
        } else {
            let n = first & 0x7f;
            let len = der[at + 2..at + 2 + n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | *b as usize);
            (len, at + 2 + n)
        };
        (tag, start, start + len)
    }
    // PrivateKeyInfo ::= SEQUENCE { version, algorithm, privateKey OCTET STRING }
    let (_, info, _) = tlv(pkcs8, 0);
    let (_, _, after_version) = tlv(pkcs8, info);
    let (_, _, after_algorithm) = tlv(pkcs8, after_version);
    let (tag, octets, _) = tlv(pkcs8, after_algorithm);
    assert_eq!(tag, 0x04, "privateKey OCTET STRING");
    // RSAPrivateKey ::= SEQUENCE { version, n, e, d, … }
    let (_, rsa, _) = tlv(pkcs8, octets);
    let mut at = rsa;
    for _ in 0..3 {
        at = tlv(pkcs8, at).2;
    }
    let (tag, start, end) = tlv(pkcs8, at);
    assert_eq!(tag, 0x02, "d is an INTEGER");
    pkcs8[start..end].to_vec()
}

#[tokio::test]
async fn no_private_key_material_is_readable_in_the_sqlite_file_or_its_wal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let database_url = format!("sqlite://{}/sesame.db", path.display());
    let kek_text = new_kek();
    let server = TestServer::start_on(dir, database_url, kek_text.clone(), |_| {}).await;
    // A second key, so there is more than the first one to find.
    server
        .state
        .keys
        .rotate_now(server.now())
        .await
        .expect("rotate");
    let kek = Kek::from_base64(&kek_text).expect("KEK");
    let keys = server.state.store.signing_keys().await.expect("keys");
    assert_eq!(keys.len(), 3);
    let needles = secrets_to_search_for(&kek, &keys);
    let mut found_kids = 0;
    for name in ["sesame.db", "sesame.db-wal"] {
        let Ok(bytes) = std::fs::read(path.join(name)) else {
            continue;
        };
        for needle in &needles {
            assert!(
                !contains(&bytes, needle),
                "{name} holds private key material"
            );
        }
        found_kids += keys
            .iter()
            .filter(|k| contains(&bytes, k.kid.as_bytes()))
            .count();
    }
    // The search sees the stored rows: their kids (public) are there in the clear.
    assert!(found_kids >= keys.len(), "the key rows were searched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_private_key_material_is_readable_in_the_mongodb_documents() {
    use mongodb::bson::{Document, doc};
    let Some(base) = mongodb_uri() else { return };
    let database = format!("sesame_test_{}", sesame::secret::random_id().to_lowercase());
    let url = with_database(&base, &database);
    let _cleanup = DropDatabase(url.clone(), database.clone());
    let dir = tempfile::tempdir().expect("tempdir");
    let kek_text = new_kek();
    let server = TestServer::start_on(dir, url.clone(), kek_text.clone(), |_| {}).await;
    server
        .state
        .keys
        .rotate_now(server.now())
        .await
        .expect("rotate");
    let kek = Kek::from_base64(&kek_text).expect("KEK");
    let keys = server.state.store.signing_keys().await.expect("keys");
    let needles = secrets_to_search_for(&kek, &keys);
    let client = mongodb::Client::with_uri_str(&url).await.expect("driver");
    let db = client.database(&database);
    let mut documents = 0;
    for collection in db.list_collection_names().await.expect("collections") {
        let mut cursor = db
            .collection::<Document>(&collection)
            .find(doc! {})
            .await
            .expect("find");
        while cursor.advance().await.expect("cursor") {
            let document: Document = cursor.deserialize_current().expect("document");
            let bytes = mongodb::bson::serialize_to_vec(&document).expect("BSON bytes");
            documents += 1;
            for needle in &needles {
                assert!(
                    !contains(&bytes, needle),
                    "a document of {collection} holds private key material"
                );
            }
        }
    }
    assert!(documents >= 3, "the key documents were searched");
}

#[tokio::test]
async fn keys_rewrap_moves_every_key_to_the_kek_read_from_stdin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_path_buf();
    let database_url = format!("sqlite://{}/sesame.db", path.display());
    let old_kek = new_kek();
    let binary = SesameBinary {
        database_url: database_url.clone(),
        kek: old_kek.clone(),
        dir: path.clone(),
    };
    // Two keys under the old KEK.
    binary.ok(&["keys", "rotate"]);
    assert_eq!(binary.list().len(), 3);
    let new = new_kek();
    let refused = binary.run(&["keys", "rewrap", "--kek-stdin"], Some("not a key"));
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a malformed KEK is a usage error"
    );
    let out = binary.run(
        &["keys", "rewrap", "--kek-stdin"],
        Some(&format!("{new}\n")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("rewrapped 3"));

    let store = sesame::store::open(&database_url).await.expect("store");
    let new_kek = Kek::from_base64(&new).expect("KEK");
    let old = Kek::from_base64(&old_kek).expect("KEK");
    for key in store.signing_keys().await.expect("keys") {
        assert!(key.private_key_enc_rewrapped.is_none());
        kek_open(&new_kek, &key);
        let opened_by_old = std::panic::catch_unwind(|| kek_open(&old, &key));
        assert!(opened_by_old.is_err(), "the old KEK opens nothing any more");
    }
    // A server with the new KEK starts on the rewrapped keys; `keys` commands with the old
    // one are refused.
    let server = TestServer::start_on(dir, database_url, new, |_| {}).await;
    assert!(server.state.keys.active_kid().is_ok());
    let stale = binary.run(&["keys", "rotate"], None);
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&stale.stderr).contains("SESAME_KEK"),
        "{}",
        String::from_utf8_lossy(&stale.stderr)
    );
}
