//! The key manager: the key-encryption key, signing keys encrypted at rest, RS256 signing with
//! the active key, verification, and the pre-rendered JWKS.
//!
//! The key ring ([`ring`]: load, decrypt, active/next/retired, reload, JWKS) is parsed once
//! (every `RsaKeyPair` and public key ready to use) and held behind an `RwLock<Arc<Ring>>`: the
//! hot path takes the read lock only long enough to clone the `Arc`, and
//! [`KeyManager::reload`] swaps in a new ring when the stored keys change. Signing and
//! verification of compact JWS ([`jws`]) use whatever ring is current.

mod header;
mod jwk;
mod jws;
mod kek;
mod rewrap;
mod ring;
mod rotation;
mod usage;

pub use jwk::{RS256, public_jwk_thumbprint};
pub use kek::Kek;
pub use rewrap::{RewrapError, rewrap};
pub use ring::generate_signing_key;
pub use rotation::{Action, JWKS_MAX_AGE, RSA_BITS, RevokeError, Rotated, RotationPolicy, plan};

use crate::store::{Store, StoreError};
use aws_lc_rs::rand::SystemRandom;
use ring::{ReloadRequest, Ring};
use std::sync::{Arc, RwLock};
use usage::UsageTally;

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

/// Loads, holds and uses the signing keys.
pub struct KeyManager {
    ring: RwLock<Arc<Ring>>,
    store: Arc<dyn Store>,
    kek: Kek,
    rng: SystemRandom,
    /// Our own issuer: a token claiming it under an unknown kid asks for a reload.
    issuer: Option<String>,
    /// Raised by [`KeyManager::verify`] on an unknown kid from our issuer.
    reload_request: ReloadRequest,
    /// The rotation schedule.
    policy: RotationPolicy,
    /// Uses of each kid by presented tokens, not yet written to the store.
    usage: UsageTally,
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
    /// Encrypts a short-lived secret for storage under the key-encryption key (AES-256-GCM, as
    /// private keys are), bound to `context`, which must contain a `:` so that it can never be
    /// a `kid` (an RFC 7638 thumbprint has none): a sealed private key and any other sealed
    /// value cannot be swapped. Used for the response a refresh retry may get back.
    pub fn seal_at_rest(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, KeyError> {
        check_context(context)?;
        self.kek.seal(context, plaintext)
    }

    /// Decrypts what [`KeyManager::seal_at_rest`] sealed with the same `context`.
    pub fn open_at_rest(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, KeyError> {
        check_context(context)?;
        self.kek.open(context, sealed)
    }
}

fn check_context(context: &str) -> Result<(), KeyError> {
    if context.contains(':') {
        Ok(())
    } else {
        Err(KeyError::Crypto(
            "a sealing context must contain ':' (it must never be a kid)".into(),
        ))
    }
}

/// What the tests of the ring and of JWS share.
#[cfg(test)]
mod test_support {
    use super::{Kek, KeyManager};
    use crate::clock::UnixTime;
    use crate::store::Store;
    use crate::store::sqlite::SqliteStore;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::{Value, json};
    use std::sync::Arc;

    pub const NOW: UnixTime = 1_700_000_000;

    pub async fn memory_store() -> Arc<dyn Store> {
        Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap())
    }

    pub fn kek_a() -> Kek {
        Kek::from_base64(&URL_SAFE_NO_PAD.encode([0xa5u8; 32])).unwrap()
    }

    pub async fn manager() -> KeyManager {
        KeyManager::load_or_init(memory_store().await, kek_a(), NOW)
            .await
            .unwrap()
    }

    pub fn claims() -> Value {
        json!({"iss": "https://id.example", "sub": "user-1", "exp": NOW + 300})
    }
}
