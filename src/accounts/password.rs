//! argon2id password hashing (RFC 9106; OWASP Password Storage Cheat Sheet), run on tokio's
//! blocking pool behind a semaphore so a flood of logins cannot stall the async executor.

use argon2::{
    ARGON2ID_IDENT, Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _,
    PasswordVerifier as _, Version,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Semaphore;
use unicode_normalization::UnicodeNormalization;

/// The cost every new hash gets: `argon2` 0.6's defaults, the OWASP minimum
/// (m = 19456 KiB, t = 2, p = 1, 32-byte output).
pub const PARAMS: Params = Params::DEFAULT;

/// A hashing failure (never a wrong password: that is `Verification::matches == false`).
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// argon2 refused the input or the stored PHC string is malformed.
    #[error("argon2: {0}")]
    Argon2(String),
    /// The blocking pool or the semaphore is gone (only during shutdown).
    #[error("the hashing pool is unavailable")]
    Unavailable,
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// The password is right.
    pub matches: bool,
    /// The stored hash is weaker than [`PARAMS`] (or not argon2id) and should be replaced.
    pub needs_rehash: bool,
}

/// NFKC-normalises a password (NIST SP 800-63B-4 §3.1.1.2; ASVS 6.2.9) and refuses one longer
/// than `max_length` code points, before or after normalisation. Never truncates.
pub fn normalize(raw: &str, max_length: usize) -> Option<String> {
    if raw.chars().count() > max_length {
        return None;
    }
    let normalized: String = raw.nfkc().collect();
    (normalized.chars().count() <= max_length).then_some(normalized)
}

/// The argon2id hasher with bounded concurrency.
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password under `params`; unknown users are verified against it so
    /// that they cost the same time as known ones (ASVS 6.3.8).
    dummy: String,
    /// argon2 verifications run so far: the seam that proves equal work (one per login,
    /// whatever the outcome) without timing anything.
    verifications: Arc<AtomicU64>,
}

impl Hasher {
    /// A hasher allowing `max_concurrent` hashes at once (at least one). Computes the dummy
    /// hash, so this costs one argon2 run.
    pub fn new(params: Params, max_concurrent: usize) -> Result<Hasher, HashError> {
        let dummy_password = crate::secret::random_id();
        let dummy = hash_now(&params, dummy_password.as_bytes())?;
        Ok(Hasher {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent.max(1))),
            dummy,
            verifications: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Runs `work` on the blocking pool once a permit is free. The permit travels with the
    /// work, so a cancelled caller cannot free it before the hash is done.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let waiting = crate::measure::InGauge::waiting();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Unavailable)?;
        drop(waiting);
        let running = crate::measure::InGauge::running();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let _running = running;
            work()
        })
        .await
        .map_err(|_| HashError::Unavailable)
    }

    /// Hashes an already normalised password with a fresh 16-byte salt; returns the PHC string.
    pub async fn hash(&self, normalized: String) -> Result<String, HashError> {
        let params = self.params.clone();
        self.run(move || hash_now(&params, normalized.as_bytes()))
            .await?
    }

    /// Checks an already normalised password against a stored PHC string.
    pub async fn verify(&self, normalized: String, phc: String) -> Result<Verification, HashError> {
        let params = self.params.clone();
        let verifications = self.verifications.clone();
        self.run(move || verify_now(&params, normalized.as_bytes(), &phc, &verifications))
            .await?
    }

    /// How many argon2 verifications this hasher has run (real and dummy alike).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Spends the same work as [`Hasher::verify`] against the dummy hash; the answer is
    /// irrelevant.
    pub async fn verify_dummy(&self, normalized: String) -> Result<(), HashError> {
        self.verify(normalized, self.dummy.clone())
            .await
            .map(|_| ())
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_now(params: &Params, password: &[u8]) -> Result<String, HashError> {
    let salt = crate::secret::random_bytes::<16>();
    argon2(params)
        .hash_password_with_salt(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Argon2(e.to_string()))
}

fn verify_now(
    params: &Params,
    password: &[u8],
    phc: &str,
    verifications: &AtomicU64,
) -> Result<Verification, HashError> {
    let parsed = PasswordHash::new(phc).map_err(|e| HashError::Argon2(e.to_string()))?;
    verifications.fetch_add(1, Ordering::Relaxed);
    // The stored hash's own algorithm, version and cost are used to verify it.
    let matches = match argon2(params).verify_password(password, &parsed) {
        Ok(()) => true,
        Err(argon2::password_hash::Error::PasswordInvalid) => false,
        Err(e) => return Err(HashError::Argon2(e.to_string())),
    };
    Ok(Verification {
        matches,
        needs_rehash: weaker_than(&parsed, params),
    })
}

/// Whether a stored hash is weaker than `current` (another algorithm, or less memory, time or
/// output), so that a successful login should replace it.
fn weaker_than(hash: &PasswordHash, current: &Params) -> bool {
    if hash.algorithm != ARGON2ID_IDENT || hash.version != Some(Version::V0x13.into()) {
        return true;
    }
    match Params::try_from(hash) {
        Ok(stored) => {
            stored.m_cost() < current.m_cost()
                || stored.t_cost() < current.t_cost()
                || stored.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)
                    < current.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(64, 1, 1, None).unwrap()
    }

    #[tokio::test]
    async fn hash_is_argon2id_phc_with_default_cost_and_verifies() {
        let hasher = Hasher::new(PARAMS, 2).unwrap();
        let phc = hasher.hash("a fine long passphrase".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        let ok = hasher
            .verify("a fine long passphrase".into(), phc.clone())
            .await
            .unwrap();
        assert_eq!(
            ok,
            Verification {
                matches: true,
                needs_rehash: false
            }
        );
        let wrong = hasher
            .verify("a fine long passphrasE".into(), phc)
            .await
            .unwrap();
        assert!(!wrong.matches);
    }

    #[tokio::test]
    async fn verifications_are_counted_and_hashes_are_not() {
        let hasher = Hasher::new(cheap(), 1).unwrap();
        assert_eq!(
            hasher.verifications(),
            0,
            "the dummy hash is no verification"
        );
        let phc = hasher.hash("pw".into()).await.unwrap();
        assert_eq!(hasher.verifications(), 0);
        hasher.verify("pw".into(), phc.clone()).await.unwrap();
        hasher.verify("wrong".into(), phc).await.unwrap();
        hasher.verify_dummy("pw".into()).await.unwrap();
        assert_eq!(hasher.verifications(), 3);
    }

    #[tokio::test]
    async fn salts_are_random() {
        let hasher = Hasher::new(cheap(), 1).unwrap();
        let a = hasher.hash("same".into()).await.unwrap();
        let b = hasher.hash("same".into()).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn weaker_stored_hashes_ask_for_a_rehash() {
        let weak = Hasher::new(cheap(), 1).unwrap();
        let phc = weak.hash("pw".into()).await.unwrap();
        let strong = Hasher::new(PARAMS, 1).unwrap();
        let v = strong.verify("pw".into(), phc).await.unwrap();
        assert!(v.matches && v.needs_rehash);
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_an_error_not_a_match() {
        let hasher = Hasher::new(cheap(), 1).unwrap();
        assert!(
            hasher
                .verify("pw".into(), "not a phc".into())
                .await
                .is_err()
        );
    }

    #[test]
    fn normalize_applies_nfkc_and_refuses_overlong_input() {
        assert_eq!(normalize("\u{FB01}ne", 10).as_deref(), Some("fine"));
        assert_eq!(normalize("e\u{301}", 10).as_deref(), Some("\u{e9}"));
        assert!(normalize(&"x".repeat(11), 10).is_none());
        // U+FDFA expands to 18 code points under NFKC.
        assert!(normalize("\u{FDFA}", 10).is_none());
        assert_eq!(normalize(&"é".repeat(10), 10).unwrap().chars().count(), 10);
    }
}
