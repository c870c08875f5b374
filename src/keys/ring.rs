//! The key ring: every stored signing key decrypted and parsed once, the active one marked,
//! next and retired ones published, the JWKS rendered from them; loaded at start and reloaded
//! when the stored keys change.

use super::header::PrerenderedHeaders;
use super::jwk::{JwkSet, PublicJwk, RS256};
use super::rotation::RotationPolicy;
use super::usage::UsageTally;
use super::{Kek, KeyError, KeyManager};
use crate::clock::UnixTime;
use crate::model::{KeyState, SigningKey};
use crate::store::{Conflict, Store, StoreError};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    KeyPair as _, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaKeyPair, RsaPublicKeyComponents,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::Notify;

/// One usable signing key: parsed once, kept for the life of the ring.
pub(super) struct RingKey {
    pub(super) kid: String,
    pub(super) state: KeyState,
    pub(super) generation: i64,
    pub(super) signer: RsaKeyPair,
    pub(super) verifier: ParsedPublicKey,
    pub(super) jwk: PublicJwk,
    /// base64url JOSE headers for the common `typ`s, rendered once.
    pub(super) headers: PrerenderedHeaders,
}

/// Every published key, the signing one marked, and the JWKS rendered from them.
pub(super) struct Ring {
    pub(super) keys: Vec<RingKey>,
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
        // A revoked key is neither published nor trusted; it is not even decrypted.
        for record in stored.iter().filter(|k| k.state != KeyState::Revoked) {
            if record.alg != RS256 {
                return Err(KeyError::Crypto(format!(
                    "signing key {} has unsupported alg {}",
                    record.kid, record.alg
                )));
            }
            // Mid-rewrap a key is sealed under both KEKs: whichever ours opens will do.
            let mut pkcs8 = match kek.open(&record.kid, &record.private_key_enc) {
                Ok(pkcs8) => pkcs8,
                Err(KeyError::WrongKek) => match &record.private_key_enc_rewrapped {
                    Some(rewrapped) => kek.open(&record.kid, rewrapped)?,
                    None => return Err(KeyError::WrongKek),
                },
                Err(e) => return Err(e),
            };
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
            keys.push(RingKey {
                kid: record.kid.clone(),
                state: record.state,
                generation: record.generation,
                signer,
                verifier,
                jwk,
                headers: PrerenderedHeaders::new(&record.kid)?,
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

    /// The key that signs now.
    pub(super) fn active(&self) -> Result<&RingKey, KeyError> {
        self.active
            .and_then(|i| self.keys.get(i))
            .ok_or(KeyError::NoActiveKey)
    }

    /// The published key named `kid`, if any.
    pub(super) fn by_kid(&self, kid: &str) -> Option<&RingKey> {
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

/// Generates an RSA-2048 key and returns its record (state active, activating at `now`),
/// encrypted under `kek`; the caller sets the state and stores it.
pub async fn generate_signing_key(
    kek: &Kek,
    generation: i64,
    now: UnixTime,
) -> Result<SigningKey, KeyError> {
    generate_key(kek, 2048, generation, now).await
}

/// As [`generate_signing_key`], with a modulus of `bits` (2048, 3072 or 4096).
pub(super) async fn generate_key(
    kek: &Kek,
    bits: u32,
    generation: i64,
    now: UnixTime,
) -> Result<SigningKey, KeyError> {
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        other => {
            return Err(KeyError::Crypto(format!(
                "RSA keys are 2048, 3072 or 4096 bits, not {other}"
            )));
        }
    };
    // Key generation takes tens of milliseconds of CPU (seconds for 4096 bits): keep it off
    // the async executor.
    let (jwk, mut pkcs8) = tokio::task::spawn_blocking(move || {
        let pair = RsaKeyPair::generate(size)
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
        private_key_enc_rewrapped: None,
        state: KeyState::Active,
        created_at: now,
        activates_at: now,
        retires_at: None,
        generation,
    })
}

/// A request that the ring be re-read from the store, raised when a token of our own issuer
/// names a kid the ring does not hold (another instance may have written that key).
#[derive(Debug, Default)]
pub(super) struct ReloadRequest {
    pending: AtomicBool,
    signal: Arc<Notify>,
}

impl ReloadRequest {
    /// Marks a reload as wanted and wakes whoever listens.
    pub(super) fn raise(&self) {
        self.pending.store(true, Ordering::SeqCst);
        self.signal.notify_one();
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
        Self::load_or_init_with(store, kek, now, RotationPolicy::default()).await
    }

    /// As [`KeyManager::load_or_init`], following `policy` (the first key's size, and later
    /// rotation).
    pub async fn load_or_init_with(
        store: Arc<dyn Store>,
        kek: Kek,
        now: UnixTime,
        policy: RotationPolicy,
    ) -> Result<KeyManager, KeyError> {
        let mut stored = store.signing_keys().await?;
        if stored.is_empty() {
            let first = generate_key(&kek, policy.rsa_bits, 1, now).await?;
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
            issuer: None,
            reload_request: ReloadRequest::default(),
            policy,
            usage: UsageTally::default(),
        })
    }

    /// Names our own issuer. A token that claims it but carries a kid the ring does not hold
    /// then requests a reload (see [`KeyManager::reload_requested`]); without an issuer, no
    /// token does.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> KeyManager {
        self.issuer = Some(issuer.into());
        self
    }

    /// Re-reads the stored keys and swaps in a new ring if they changed (another instance
    /// rotated). Returns whether anything changed. On error the current ring stays.
    pub async fn reload(&self) -> Result<bool, KeyError> {
        // Whatever asked for a reload is answered by this one; a request raised while it runs
        // stays pending.
        self.reload_request.pending.store(false, Ordering::SeqCst);
        let stored = self.store.signing_keys().await?;
        if self.current().fingerprint == fingerprint(&stored) {
            return Ok(false);
        }
        let ring = Ring::build(&self.kek, &stored)?;
        ring.active()?;
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(ring);
        Ok(true)
    }

    /// Whether a token of our issuer has named an unknown kid since the last reload.
    pub fn reload_requested(&self) -> bool {
        self.reload_request.pending.load(Ordering::SeqCst)
    }

    /// Notified whenever a reload is requested (one stored permit if nobody waits), so a
    /// background job can wake at once.
    pub fn reload_signal(&self) -> Arc<Notify> {
        self.reload_request.signal.clone()
    }

    /// The current ring.
    pub(super) fn current(&self) -> Arc<Ring> {
        self.ring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The kid of the key [`KeyManager::sign`] uses now.
    pub fn active_kid(&self) -> Result<String, KeyError> {
        Ok(self.current().active()?.kid.clone())
    }

    /// The JWKS document (public members only), pre-rendered.
    pub fn jwks(&self) -> Arc<[u8]> {
        self.current().jwks.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::public_jwk_thumbprint;
    use super::super::test_support::{NOW, claims, kek_a, manager, memory_store};
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::Value;

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
