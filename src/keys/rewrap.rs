//! `sesame keys rewrap`: every private key re-encrypted under a new key-encryption key, in two
//! passes of single-record conditional writes, so that a crash at any point leaves every key
//! readable under one of the two KEKs:
//!
//! 1. **stage**: beside each key's blob (sealed under the old KEK) the same key sealed under the
//!    new KEK is stored; the key is then readable under either;
//! 2. **commit**: each staged blob replaces the old one.
//!
//! Run again after a crash, it finishes the job: keys already under the new KEK are left alone,
//! staged ones are committed. A key written meanwhile under the old KEK (an instance rotating)
//! is caught by a further round.

use super::{Kek, KeyError};
use crate::store::Store;

/// Why a rewrap stopped; every key is still readable under one of the two KEKs.
#[derive(Debug, thiserror::Error)]
pub enum RewrapError {
    #[error("signing key {0} opens under neither the current nor the new key-encryption key")]
    Unreadable(String),
    #[error("the stored keys kept changing; run the rewrap again")]
    Unsettled,
    #[error(transparent)]
    Keys(#[from] KeyError),
}

impl From<crate::store::StoreError> for RewrapError {
    fn from(e: crate::store::StoreError) -> Self {
        RewrapError::Keys(e.into())
    }
}

/// Re-encrypts every stored private key from `old` to `new`. Returns how many keys it moved.
pub async fn rewrap(store: &dyn Store, old: &Kek, new: &Kek) -> Result<usize, RewrapError> {
    let mut moved = 0;
    for _ in 0..5 {
        // Pass 1: stage every key not yet under the new KEK.
        let mut staged = Vec::new();
        for key in store.signing_keys().await? {
            if new.open(&key.kid, &key.private_key_enc).is_ok() {
                continue;
            }
            if let Some(rewrapped) = &key.private_key_enc_rewrapped
                && new.open(&key.kid, rewrapped).is_ok()
            {
                staged.push((key.kid, rewrapped.clone()));
                continue;
            }
            let mut pkcs8 = old
                .open(&key.kid, &key.private_key_enc)
                .map_err(|_| RewrapError::Unreadable(key.kid.clone()))?;
            let sealed = new.seal(&key.kid, &pkcs8);
            pkcs8.fill(0);
            let sealed = sealed?;
            if store
                .stage_rewrapped_key(&key.kid, &key.private_key_enc, &sealed)
                .await?
            {
                staged.push((key.kid, sealed));
            }
        }
        if staged.is_empty() {
            return Ok(moved);
        }
        // Pass 2: every staged blob replaces its old one.
        for (kid, sealed) in staged {
            if store.commit_rewrapped_key(&kid, &sealed).await? {
                moved += 1;
            }
        }
    }
    Err(RewrapError::Unsettled)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{NOW, claims, kek_a, memory_store};
    use super::super::{KeyManager, generate_signing_key};
    use super::*;
    use crate::model::KeyState;
    use serde_json::Value;

    #[tokio::test]
    async fn every_key_moves_to_the_new_kek_and_a_crash_half_way_leaves_each_readable() {
        let store = memory_store().await;
        let old = kek_a();
        let new = Kek::generate();
        let first = KeyManager::load_or_init(store.clone(), kek_a(), NOW)
            .await
            .unwrap();
        let mut second = generate_signing_key(&old, 2, NOW).await.unwrap();
        second.state = KeyState::Next;
        store.insert_signing_key(&second).await.unwrap();
        let token = first.sign("JWT", &claims()).unwrap();

        // A crash after staging one key and before committing it: that key opens under both,
        // the other under the old KEK only, and either KEK loads a whole ring.
        let one = &store.signing_keys().await.unwrap()[0];
        let pkcs8 = old.open(&one.kid, &one.private_key_enc).unwrap();
        let staged = new.seal(&one.kid, &pkcs8).unwrap();
        assert!(
            store
                .stage_rewrapped_key(&one.kid, &one.private_key_enc, &staged)
                .await
                .unwrap()
        );
        KeyManager::load_or_init(store.clone(), kek_a(), NOW)
            .await
            .unwrap();
        assert!(
            matches!(
                KeyManager::load_or_init(
                    store.clone(),
                    Kek::from_base64(new.to_base64().expose()).unwrap(),
                    NOW
                )
                .await,
                Err(KeyError::WrongKek)
            ),
            "the unstaged key is not under the new KEK yet"
        );

        // Run (again): finishes the job.
        assert_eq!(rewrap(store.as_ref(), &old, &new).await.unwrap(), 2);
        for key in store.signing_keys().await.unwrap() {
            assert!(new.open(&key.kid, &key.private_key_enc).is_ok());
            assert!(old.open(&key.kid, &key.private_key_enc).is_err());
            assert!(key.private_key_enc_rewrapped.is_none());
        }
        let reloaded = KeyManager::load_or_init(
            store.clone(),
            Kek::from_base64(new.to_base64().expose()).unwrap(),
            NOW,
        )
        .await
        .unwrap();
        let _: Value = reloaded.verify(&token, Some("JWT")).unwrap();
        assert_eq!(
            rewrap(store.as_ref(), &old, &new).await.unwrap(),
            0,
            "idempotent"
        );
        // A KEK that is neither is refused, naming the key; nothing changes.
        let err = rewrap(store.as_ref(), &Kek::generate(), &Kek::generate())
            .await
            .unwrap_err();
        assert!(matches!(err, RewrapError::Unreadable(_)), "{err:?}");
    }
}
