//! The key manager: the key-encryption key, signing keys encrypted at rest, RS256 signing with
//! the active key, verification, and the pre-rendered JWKS.
//!
//! The key ring is parsed once (every `RsaKeyPair` and public key ready to use) and held behind
//! an `RwLock<Arc<Ring>>`: the hot path takes the read lock only long enough to clone the `Arc`,
//! and [`KeyManager::reload`] swaps in a new ring when the stored keys change.

mod jwk;
mod kek;

pub use jwk::{RS256, public_jwk_thumbprint};
pub use kek::Kek;

use crate::clock::UnixTime;
use crate::model::{KeyState, SigningKey};
use crate::store::{Conflict, Store, StoreError};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwk::{JwkSet, PublicJwk};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::{Arc, PoisonError, RwLock};

/// A key-management failure.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key-encryption key must be base64 of exactly 32 bytes")]
    MalformedKek,
    #[error("the key-encryption key does not decrypt the stored signing keys (wrong SESAME_KEK?)")]
    WrongKek,
    #[error("no active signing key")]
    NoActiveKey,
    #[error("invalid token: {0}")]
    InvalidToken(String),
    #[error("cryptography failed: {0}")]
    Crypto(String),
    #[error("key file {path}: {source}")]
    KekFile {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tokens longer than this are refused before any decoding (ours are well under 2 KiB).
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The `typ` values whose headers are rendered once per key: access and ID tokens.
const PRERENDERED_TYPS: [&str; 2] = ["at+jwt", "JWT"];

/// One usable signing key: parsed once, kept for the life of the ring.
struct RingKey {
    kid: String,
    state: KeyState,
    generation: i64,
    signer: RsaKeyPair,
    verifier: ParsedPublicKey,
    jwk: PublicJwk,
    /// base64url JOSE headers for [`PRERENDERED_TYPS`], in that order.
    headers: [String; 2],
}

impl RingKey {
    /// The base64url header `{"alg":"RS256","typ":typ,"kid":kid}`.
    fn header(&self, typ: &str) -> Result<Cow<'_, str>, KeyError> {
        match PRERENDERED_TYPS.iter().position(|t| *t == typ) {
            Some(i) => Ok(Cow::Borrowed(&self.headers[i])),
            None => render_header(typ, &self.kid).map(Cow::Owned),
        }
    }
}

/// The JOSE header Sesame writes (RFC 7515 §4.1); members in this order.
#[derive(Serialize)]
struct OutgoingHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

fn render_header(typ: &str, kid: &str) -> Result<String, KeyError> {
    let json = serde_json::to_vec(&OutgoingHeader {
        alg: RS256,
        typ,
        kid,
    })
    .map_err(|e| KeyError::Crypto(format!("JOSE header: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// The JOSE header as received. Unknown members are ignored, except `crit`.
#[derive(Deserialize)]
struct IncomingHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Every published key, the signing one marked, and the JWKS rendered from them.
struct Ring {
    keys: Vec<RingKey>,
    /// Index of the active key with the highest generation.
    active: Option<usize>,
    jwks: Arc<[u8]>,
    /// (kid, state, generation) per stored key, to tell whether a reload changed anything.
    fingerprint: Vec<(String, KeyState, i64)>,
}

impl Ring {
    /// Decrypts and parses every stored key. Any key the KEK cannot open is
    /// [`KeyError::WrongKek`]: refusing to start beats serving with half a ring.
    fn build(kek: &Kek, stored: &[SigningKey]) -> Result<Ring, KeyError> {
        let mut keys = Vec::with_capacity(stored.len());
        for record in stored {
            if record.alg != RS256 {
                return Err(KeyError::Crypto(format!(
                    "signing key {} has unsupported alg {}",
                    record.kid, record.alg
                )));
            }
            let mut pkcs8 = kek.open(&record.kid, &record.private_key_enc)?;
            let parsed = RsaKeyPair::from_pkcs8(&pkcs8);
            pkcs8.fill(0);
            let signer = parsed.map_err(|e| {
                KeyError::Crypto(format!("signing key {} does not parse: {e}", record.kid))
            })?;
            let jwk = public_jwk(&signer);
            // The kid is the thumbprint of the key it names (RFC 7638); anything else is a
            // corrupt or tampered record.
            if jwk.kid != record.kid {
                return Err(KeyError::Crypto(format!(
                    "signing key {} does not match its thumbprint",
                    record.kid
                )));
            }
            let public = signer.public_key();
            let verifier = RsaPublicKeyComponents {
                n: public.modulus().big_endian_without_leading_zero(),
                e: public.exponent().big_endian_without_leading_zero(),
            }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .map_err(|e| KeyError::Crypto(format!("signing key {}: {e}", record.kid)))?;
            let headers = [
                render_header(PRERENDERED_TYPS[0], &record.kid)?,
                render_header(PRERENDERED_TYPS[1], &record.kid)?,
            ];
            keys.push(RingKey {
                kid: record.kid.clone(),
                state: record.state,
                generation: record.generation,
                signer,
                verifier,
                jwk,
                headers,
            });
        }
        let active = keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.state == KeyState::Active)
            .max_by_key(|(_, k)| k.generation)
            .map(|(i, _)| i);

        // The signing key first, then the others newest first.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by_key(|&i| (Some(i) != active, std::cmp::Reverse(keys[i].generation)));
        let set = JwkSet {
            keys: order.iter().map(|&i| &keys[i].jwk).collect(),
        };
        let jwks: Arc<[u8]> = serde_json::to_vec(&set)
            .map_err(|e| KeyError::Crypto(format!("JWKS: {e}")))?
            .into();

        Ok(Ring {
            fingerprint: fingerprint(stored),
            keys,
            active,
            jwks,
        })
    }

    fn active(&self) -> Result<&RingKey, KeyError> {
        self.active
            .and_then(|i| self.keys.get(i))
            .ok_or(KeyError::NoActiveKey)
    }

    fn by_kid(&self, kid: &str) -> Option<&RingKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

fn fingerprint(stored: &[SigningKey]) -> Vec<(String, KeyState, i64)> {
    stored
        .iter()
        .map(|k| (k.kid.clone(), k.state, k.generation))
        .collect()
}

/// The public JWK (with its thumbprint kid) of a key pair.
fn public_jwk(pair: &RsaKeyPair) -> PublicJwk {
    let public = pair.public_key();
    PublicJwk::rsa_signing(
        public.modulus().big_endian_without_leading_zero(),
        public.exponent().big_endian_without_leading_zero(),
    )
}

/// Generates an RSA-2048 key and returns its record, encrypted under `kek`.
async fn generate_signing_key(
    kek: &Kek,
    generation: i64,
    now: UnixTime,
) -> Result<SigningKey, KeyError> {
    // Key generation takes tens of milliseconds of CPU: keep it off the async executor.
    let (jwk, mut pkcs8) = tokio::task::spawn_blocking(|| {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| KeyError::Crypto("RSA key generation failed".into()))?;
        let der = pair
            .as_der()
            .map_err(|_| KeyError::Crypto("PKCS#8 export failed".into()))?;
        Ok::<_, KeyError>((public_jwk(&pair), der.as_ref().to_vec()))
    })
    .await
    .map_err(|e| KeyError::Crypto(format!("key generation task: {e}")))??;
    let sealed = kek.seal(&jwk.kid, &pkcs8);
    pkcs8.fill(0);
    let public_jwk =
        serde_json::to_string(&jwk).map_err(|e| KeyError::Crypto(format!("JWK: {e}")))?;
    Ok(SigningKey {
        kid: jwk.kid,
        alg: RS256.into(),
        public_jwk,
        private_key_enc: sealed?,
        state: KeyState::Active,
        created_at: now,
        activates_at: now,
        retires_at: None,
        generation,
    })
}

/// Loads, holds and uses the signing keys.
pub struct KeyManager {
    ring: RwLock<Arc<Ring>>,
    store: Arc<dyn Store>,
    kek: Kek,
    rng: SystemRandom,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ring = self.current();
        f.debug_struct("KeyManager")
            .field(
                "keys",
                &ring
                    .keys
                    .iter()
                    .map(|k| (k.kid.as_str(), k.state, k.generation))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl KeyManager {
    /// Loads and decrypts every stored key; generates and stores the first RSA-2048 key if there
    /// is none. A KEK that does not decrypt the stored keys is [`KeyError::WrongKek`].
    pub async fn load_or_init(
        store: Arc<dyn Store>,
        kek: Kek,
        now: UnixTime,
    ) -> Result<KeyManager, KeyError> {
        let mut stored = store.signing_keys().await?;
        if stored.is_empty() {
            let first = generate_signing_key(&kek, 1, now).await?;
            match store.insert_signing_key(&first).await {
                Ok(()) => stored = vec![first],
                // Another instance stored generation 1 first: theirs is the key.
                Err(StoreError::Conflict(Conflict::Generation)) => {
                    stored = store.signing_keys().await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let ring = Ring::build(&kek, &stored)?;
        ring.active()?;
        Ok(KeyManager {
            ring: RwLock::new(Arc::new(ring)),
            store,
            kek,
            rng: SystemRandom::new(),
        })
    }

    /// Re-reads the stored keys and swaps in a new ring if they changed (another instance
    /// rotated). Returns whether anything changed. On error the current ring stays.
    pub async fn reload(&self) -> Result<bool, KeyError> {
        let stored = self.store.signing_keys().await?;
        if self.current().fingerprint == fingerprint(&stored) {
            return Ok(false);
        }
        let ring = Ring::build(&self.kek, &stored)?;
        ring.active()?;
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
        Ok(true)
    }

    fn current(&self) -> Arc<Ring> {
        self.ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The kid of the key [`KeyManager::sign`] uses now.
    pub fn active_kid(&self) -> Result<String, KeyError> {
        Ok(self.current().active()?.kid.clone())
    }

    /// Signs `claims` as a compact JWS with the active key: header `{alg: RS256, typ, kid}`.
    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> Result<String, KeyError> {
        let ring = self.current();
        let key = ring.active()?;
        let header = key.header(typ)?;
        let payload = serde_json::to_vec(claims)
            .map_err(|e| KeyError::Crypto(format!("claims do not serialize: {e}")))?;
        let signature_len = key.signer.public_modulus_len();
        let b64_len = |n: usize| n.div_ceil(3) * 4;
        let mut jws = String::with_capacity(
            header.len() + b64_len(payload.len()) + b64_len(signature_len) + 2,
        );
        jws.push_str(&header);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut jws);
        // RFC 7515 §5.1: the signature covers ASCII(header '.' payload).
        let mut signature = vec![0u8; signature_len];
        key.signer
            .sign(&RSA_PKCS1_SHA256, &self.rng, jws.as_bytes(), &mut signature)
            .map_err(|_| KeyError::Crypto("RS256 signing failed".into()))?;
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut jws);
        Ok(jws)
    }

    /// Verifies an RS256 JWS against the published keys (by `kid`) and returns its claims.
    /// Rejects `alg` other than RS256 (including `none` and HS*), unknown kids, and a `typ`
    /// other than `expected_typ` when one is given. Claims (exp, iss, aud) are the caller's.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        expected_typ: Option<&str>,
    ) -> Result<T, KeyError> {
        let invalid = |reason: &str| KeyError::InvalidToken(reason.to_string());
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid("token too long"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("not a compact JWS"));
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| invalid("header is not base64url"))?;
        let header: IncomingHeader = serde_json::from_slice(&header_json)
            .map_err(|_| invalid("header is not a JOSE header"))?;
        // Only RS256: never `none`, never HS* keyed with our public key (RFC 8725 §3.1).
        if header.alg != RS256 {
            return Err(invalid("alg is not RS256"));
        }
        // RFC 7515 §4.1.11: we understand no extensions, so any `crit` is refused.
        if header.crit.is_some() {
            return Err(invalid("crit header not understood"));
        }
        if let Some(expected) = expected_typ {
            match header.typ.as_deref() {
                Some(typ) if typ_matches(typ, expected) => {}
                _ => return Err(invalid("wrong typ")),
            }
        }
        let kid = header.kid.as_deref().ok_or_else(|| invalid("no kid"))?;
        let ring = self.current();
        let key = ring.by_kid(kid).ok_or_else(|| invalid("unknown kid"))?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| invalid("signature is not base64url"))?;
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        key.verifier
            .verify_sig(signing_input.as_bytes(), &signature)
            .map_err(|_| invalid("bad signature"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| invalid("payload is not base64url"))?;
        serde_json::from_slice(&payload).map_err(|e| KeyError::InvalidToken(format!("claims: {e}")))
    }

    /// The JWKS document (public members only), pre-rendered.
    pub fn jwks(&self) -> Arc<[u8]> {
        self.current().jwks.clone()
    }
}

/// RFC 7515 §4.1.9: `typ` compares case-insensitively, and `application/` may be omitted
/// (so `application/at+jwt` is `at+jwt`, RFC 9068 §2.1).
fn typ_matches(actual: &str, expected: &str) -> bool {
    fn media_subtype(typ: &str) -> &str {
        match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
            _ => typ,
        }
    }
    media_subtype(actual).eq_ignore_ascii_case(media_subtype(expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use aws_lc_rs::hmac;
    use serde_json::{Value, json};

    const NOW: UnixTime = 1_700_000_000;

    async fn memory_store() -> Arc<dyn Store> {
        Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap())
    }

    fn kek_a() -> Kek {
        Kek::from_base64(&URL_SAFE_NO_PAD.encode([0xa5u8; 32])).unwrap()
    }

    async fn manager() -> KeyManager {
        KeyManager::load_or_init(memory_store().await, kek_a(), NOW)
            .await
            .unwrap()
    }

    fn b64json(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    fn parts(token: &str) -> Vec<String> {
        token.split('.').map(str::to_string).collect()
    }

    fn decode_json(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    fn claims() -> Value {
        json!({"iss": "https://id.example", "sub": "user-1", "exp": NOW + 300})
    }

    #[tokio::test]
    async fn load_or_init_generates_one_key_then_reuses_it() {
        let store = memory_store().await;
        let first = KeyManager::load_or_init(store.clone(), kek_a(), NOW)
            .await
            .unwrap();
        let stored = store.signing_keys().await.unwrap();
        assert_eq!(stored.len(), 1);
        let key = &stored[0];
        assert_eq!(key.kid, first.active_kid().unwrap());
        assert_eq!(key.alg, "RS256");
        assert_eq!(key.state, KeyState::Active);
        assert_eq!(key.generation, 1);
        assert_eq!(key.activates_at, NOW);
        assert_eq!(key.created_at, NOW);

        let second = KeyManager::load_or_init(store.clone(), kek_a(), NOW + 60)
            .await
            .unwrap();
        assert_eq!(second.active_kid().unwrap(), first.active_kid().unwrap());
        assert_eq!(store.signing_keys().await.unwrap().len(), 1);
        // A token from one instance verifies on the other.
        let token = first.sign("JWT", &claims()).unwrap();
        let back: Value = second.verify(&token, Some("JWT")).unwrap();
        assert_eq!(back, claims());
    }

    #[tokio::test]
    async fn instances_starting_together_agree_on_one_key() {
        let store = memory_store().await;
        let (a, b) = tokio::join!(
            KeyManager::load_or_init(store.clone(), kek_a(), NOW),
            KeyManager::load_or_init(store.clone(), kek_a(), NOW),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.active_kid().unwrap(), b.active_kid().unwrap());
        assert_eq!(store.signing_keys().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn wrong_kek_is_refused_at_start_up() {
        let store = memory_store().await;
        KeyManager::load_or_init(store.clone(), kek_a(), NOW)
            .await
            .unwrap();
        let err = KeyManager::load_or_init(store, Kek::generate(), NOW)
            .await
            .unwrap_err();
        assert!(matches!(err, KeyError::WrongKek), "{err:?}");
    }

    #[tokio::test]
    async fn stored_private_key_is_encrypted() {
        let store = memory_store().await;
        KeyManager::load_or_init(store.clone(), kek_a(), NOW)
            .await
            .unwrap();
        let stored = store.signing_keys().await.unwrap();
        let key = &stored[0];
        let pkcs8 = kek_a().open(&key.kid, &key.private_key_enc).unwrap();
        assert!(RsaKeyPair::from_pkcs8(&pkcs8).is_ok());
        // No 16-byte window of the plaintext appears in the stored blob.
        let blob = &key.private_key_enc;
        assert!(
            pkcs8.windows(16).all(|w| !blob.windows(16).any(|b| b == w)),
            "plaintext leaked into the stored blob"
        );
        // The public JWK stored beside it has no private members.
        let jwk: Value = serde_json::from_str(&key.public_jwk).unwrap();
        assert_eq!(jwk["kid"], key.kid.as_str());
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(jwk.get(private).is_none());
        }
    }

    #[tokio::test]
    async fn key_blob_swapped_between_records_is_refused() {
        let source = memory_store().await;
        KeyManager::load_or_init(source.clone(), kek_a(), NOW)
            .await
            .unwrap();
        let mut record = source.signing_keys().await.unwrap().remove(0);
        record.kid = "someone-elses-kid".into();
        let target = memory_store().await;
        target.insert_signing_key(&record).await.unwrap();
        let err = KeyManager::load_or_init(target, kek_a(), NOW)
            .await
            .unwrap_err();
        assert!(matches!(err, KeyError::WrongKek), "{err:?}");
    }

    #[tokio::test]
    async fn sign_then_verify_round_trips_with_exact_header() {
        let keys = manager().await;
        let token = keys.sign("at+jwt", &claims()).unwrap();
        let p = parts(&token);
        assert_eq!(p.len(), 3);
        let header = String::from_utf8(URL_SAFE_NO_PAD.decode(&p[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            format!(
                r#"{{"alg":"RS256","typ":"at+jwt","kid":"{}"}}"#,
                keys.active_kid().unwrap()
            )
        );
        assert!(!token.contains('='), "base64url without padding");
        let back: Value = keys.verify(&token, Some("at+jwt")).unwrap();
        assert_eq!(back, claims());
        let untyped: Value = keys.verify(&token, None).unwrap();
        assert_eq!(untyped, claims());
        // A typ that is not pre-rendered gets the same header shape.
        let other = keys.sign("logout+jwt", &claims()).unwrap();
        assert_eq!(decode_json(&parts(&other)[0])["typ"], "logout+jwt");
        let _: Value = keys.verify(&other, Some("logout+jwt")).unwrap();
    }

    /// An independent verifier (jsonwebtoken) accepts our tokens against the published JWK.
    #[tokio::test]
    async fn tokens_verify_with_an_independent_library_and_the_jwks() {
        let keys = manager().await;
        let token = keys.sign("JWT", &claims()).unwrap();
        let jwks: Value = serde_json::from_slice(&keys.jwks()).unwrap();
        let jwk = &jwks["keys"][0];
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        // Its exp check uses the system clock; time is not what this test pins.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
        assert_eq!(data.claims, claims());
        assert_eq!(data.header.kid.as_deref(), jwk["kid"].as_str());
    }

    #[tokio::test]
    async fn verify_rejects_forged_and_mismatched_tokens() {
        let keys = manager().await;
        let kid = keys.active_kid().unwrap();
        let good = keys.sign("at+jwt", &claims()).unwrap();
        let p = parts(&good);
        let reject = |token: &str, typ: Option<&str>, why: &str| {
            let err = keys.verify::<Value>(token, typ).unwrap_err();
            assert!(matches!(err, KeyError::InvalidToken(_)), "{why}: {err:?}");
        };

        // alg none, with and without a signature.
        let none_header = b64json(&json!({"alg": "none", "typ": "at+jwt", "kid": kid}));
        reject(
            &format!("{none_header}.{}.", p[1]),
            Some("at+jwt"),
            "alg none",
        );
        reject(
            &format!("{none_header}.{}.{}", p[1], p[2]),
            None,
            "alg none signed",
        );

        // HS256 keyed with the public key (the classic algorithm-confusion attack).
        let hs_header = b64json(&json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}));
        let signing_input = format!("{hs_header}.{}", p[1]);
        for secret in [
            keys.jwks().to_vec(),
            URL_SAFE_NO_PAD
                .decode(
                    serde_json::from_slice::<Value>(&keys.jwks()).unwrap()["keys"][0]["n"]
                        .as_str()
                        .unwrap(),
                )
                .unwrap(),
        ] {
            let mac = hmac::sign(
                &hmac::Key::new(hmac::HMAC_SHA256, &secret),
                signing_input.as_bytes(),
            );
            let forged = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
            reject(&forged, Some("at+jwt"), "HS256 with public key");
        }

        // Tampered payload under the original signature.
        let mut altered = claims();
        altered["sub"] = json!("admin");
        reject(
            &format!("{}.{}.{}", p[0], b64json(&altered), p[2]),
            None,
            "tampered",
        );

        // Unknown and missing kid.
        let unknown = b64json(&json!({"alg": "RS256", "typ": "at+jwt", "kid": "nope"}));
        reject(&format!("{unknown}.{}.{}", p[1], p[2]), None, "unknown kid");
        let no_kid = b64json(&json!({"alg": "RS256", "typ": "at+jwt"}));
        reject(&format!("{no_kid}.{}.{}", p[1], p[2]), None, "no kid");

        // Critical extensions we do not understand.
        let crit = b64json(&json!({"alg": "RS256", "typ": "at+jwt", "kid": kid, "crit": ["exp"]}));
        reject(&format!("{crit}.{}.{}", p[1], p[2]), None, "crit");

        // Wrong or missing typ when one is expected.
        let id_token = keys.sign("JWT", &claims()).unwrap();
        reject(&id_token, Some("at+jwt"), "ID token as access token");
        reject(&good, Some("JWT"), "access token as ID token");

        // Garbage shapes.
        for garbage in ["", "a.b", "a.b.c.d", "...", &format!("{good}.")] {
            reject(garbage, None, "garbage");
        }

        // A key from another deployment is unknown here even with the same kid claimed.
        let stranger = manager().await;
        let foreign = stranger.sign("at+jwt", &claims()).unwrap();
        reject(&foreign, Some("at+jwt"), "foreign key");
    }

    #[test]
    fn typ_comparison_follows_rfc7515() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("AT+JWT", "at+jwt"));
        assert!(typ_matches("application/at+jwt", "at+jwt"));
        assert!(typ_matches("Application/AT+JWT", "at+jwt"));
        assert!(typ_matches("jwt", "JWT"));
        assert!(!typ_matches("JWT", "at+jwt"));
        assert!(!typ_matches("application/jwt", "at+jwt"));
        assert!(!typ_matches("", "at+jwt"));
    }

    #[tokio::test]
    async fn jwks_publishes_public_members_only() {
        let keys = manager().await;
        let jwks: Value = serde_json::from_slice(&keys.jwks()).unwrap();
        let list = jwks["keys"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        let jwk = list[0].as_object().unwrap();
        let mut members: Vec<&str> = jwk.keys().map(String::as_str).collect();
        members.sort_unstable();
        assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "RS256");
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert!(n.len() * 8 >= 2048 && n[0] != 0, "n is {} bytes", n.len());
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(
            jwk["kid"].as_str().unwrap(),
            public_jwk_thumbprint(jwk["n"].as_str().unwrap(), "AQAB")
        );
        // Served from memory: the same bytes each time.
        assert!(Arc::ptr_eq(&keys.jwks(), &keys.jwks()));
    }

    #[tokio::test]
    async fn ring_holds_next_active_and_retired_keys() {
        let store = memory_store().await;
        let kek = kek_a();
        for (generation, state) in [
            (1, KeyState::Retired),
            (2, KeyState::Active),
            (3, KeyState::Next),
        ] {
            let mut key = generate_signing_key(&kek, generation, NOW).await.unwrap();
            key.state = state;
            store.insert_signing_key(&key).await.unwrap();
        }
        let stored = store.signing_keys().await.unwrap();
        let keys = KeyManager::load_or_init(store.clone(), kek_a(), NOW)
            .await
            .unwrap();
        assert_eq!(keys.active_kid().unwrap(), stored[1].kid);
        let jwks: Value = serde_json::from_slice(&keys.jwks()).unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, [&stored[1].kid, &stored[2].kid, &stored[0].kid]);
        // Nothing changed, so a reload keeps the ring.
        assert!(!keys.reload().await.unwrap());
        let jwks_before = keys.jwks();
        let mut fourth = generate_signing_key(&kek, 4, NOW).await.unwrap();
        fourth.state = KeyState::Next;
        store.insert_signing_key(&fourth).await.unwrap();
        assert!(keys.reload().await.unwrap());
        assert!(!Arc::ptr_eq(&jwks_before, &keys.jwks()));
        let jwks: Value = serde_json::from_slice(&keys.jwks()).unwrap();
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 4);
    }

    #[tokio::test]
    async fn debug_shows_kids_not_key_material() {
        let keys = manager().await;
        let shown = format!("{keys:?}");
        assert!(shown.contains(&keys.active_kid().unwrap()), "{shown}");
        assert!(shown.len() < 200, "{shown}");
        assert!(!shown.to_lowercase().contains("private"), "{shown}");
    }
}
