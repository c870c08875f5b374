//! The jobs Sesame runs: the purge of expired rows, the key-ring reload, key rotation and the
//! flush of per-key usage counts.

use super::{Job, TaskError};
use crate::clock::UnixTime;
use crate::keys::KeyManager;
use crate::store::Store;
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::Notify;

/// Deletes expired codes, pending requests, sessions and deny-list entries, and throttle
/// counters idle for a day, every minute of Sesame's clock.
pub struct Purge {
    store: Arc<dyn Store>,
}

impl Purge {
    /// Seconds between purges.
    pub const PERIOD: i64 = 60;
    /// Throttle counters untouched for this long are forgotten.
    pub const THROTTLE_IDLE_SECONDS: i64 = 86_400;

    /// The purge over `store`.
    pub fn new(store: Arc<dyn Store>) -> Purge {
        Purge { store }
    }
}

#[async_trait]
impl Job for Purge {
    fn name(&self) -> &'static str {
        "purge"
    }

    fn period(&self) -> i64 {
        Self::PERIOD
    }

    async fn tick(&self, now: UnixTime) -> Result<(), TaskError> {
        let rows = self
            .store
            .purge_expired(now, now - Self::THROTTLE_IDLE_SECONDS)
            .await?
            + self
                .store
                .purge_audit(now - crate::audit::retention(), now)
                .await?;
        if rows > 0 {
            tracing::debug!(rows, "purged expired rows");
        }
        Ok(())
    }
}

/// Re-reads the key ring from the store every `keys.reload_interval` (a minute by default) of
/// Sesame's clock, so keys another
/// instance wrote (rotation) are published and accepted here too; and at once when a token of
/// our issuer names a kid the ring does not hold, at most once per
/// [`KeyReload::MIN_SECONDS_BETWEEN`] so that garbage tokens cannot hammer the store.
pub struct KeyReload {
    keys: Arc<KeyManager>,
    /// When the last reload started; `i64::MIN` before the first.
    last: AtomicI64,
}

impl KeyReload {
    /// Seconds between scheduled reloads by default (`keys.reload_interval`).
    pub const PERIOD: i64 = 60;
    /// The shortest gap between two reloads that an unknown kid asks for.
    pub const MIN_SECONDS_BETWEEN: i64 = 10;

    /// The reload of `keys`.
    pub fn new(keys: Arc<KeyManager>) -> KeyReload {
        KeyReload {
            keys,
            last: AtomicI64::new(i64::MIN),
        }
    }
}

#[async_trait]
impl Job for KeyReload {
    fn name(&self) -> &'static str {
        "key-reload"
    }

    fn period(&self) -> i64 {
        self.keys.policy().reload_interval
    }

    /// The ring was loaded moments ago, at start-up.
    fn runs_at_start(&self) -> bool {
        false
    }

    fn wanted_early(&self, now: UnixTime) -> bool {
        self.keys.reload_requested()
            && now
                >= self
                    .last
                    .load(Ordering::SeqCst)
                    .saturating_add(Self::MIN_SECONDS_BETWEEN)
    }

    fn wake_signal(&self) -> Option<Arc<Notify>> {
        Some(self.keys.reload_signal())
    }

    async fn tick(&self, now: UnixTime) -> Result<(), TaskError> {
        // A failed reload counts too: the store is not asked again before the gap is over.
        self.last.store(now, Ordering::SeqCst);
        if self.keys.reload().await? {
            tracing::info!(active = ?self.keys.active_kid().ok(), "signing keys reloaded");
        }
        Ok(())
    }
}

/// Applies the rotation policy ([`crate::keys::plan`]) once a minute of Sesame's clock: publishes
/// the next key, activates it when due, retires and removes old keys. Every step is a
/// conditional write, so every instance runs this job and exactly one carries out each step.
pub struct KeyRotation {
    keys: Arc<KeyManager>,
}

impl KeyRotation {
    /// Seconds between two looks at the schedule.
    pub const PERIOD: i64 = 60;

    /// The rotation of `keys`, by its policy.
    pub fn new(keys: Arc<KeyManager>) -> KeyRotation {
        KeyRotation { keys }
    }
}

#[async_trait]
impl Job for KeyRotation {
    fn name(&self) -> &'static str {
        "key-rotation"
    }

    fn period(&self) -> i64 {
        Self::PERIOD
    }

    async fn tick(&self, now: UnixTime) -> Result<(), TaskError> {
        for action in self.keys.rotate_due(now).await? {
            tracing::info!(?action, "key rotation step");
        }
        self.keys.record_schedule(now).await?;
        Ok(())
    }
}

/// Writes the per-key usage counts (tokens presented back at userinfo and introspection) to
/// the store once a minute of Sesame's clock, for `sesame keys list`.
pub struct KeyUsageFlush {
    keys: Arc<KeyManager>,
}

impl KeyUsageFlush {
    /// Seconds between flushes.
    pub const PERIOD: i64 = 60;

    /// The flush of `keys`' counts.
    pub fn new(keys: Arc<KeyManager>) -> KeyUsageFlush {
        KeyUsageFlush { keys }
    }
}

#[async_trait]
impl Job for KeyUsageFlush {
    fn name(&self) -> &'static str {
        "key-usage"
    }

    fn period(&self) -> i64 {
        Self::PERIOD
    }

    /// Nothing has been counted at start.
    fn runs_at_start(&self) -> bool {
        false
    }

    async fn tick(&self, _now: UnixTime) -> Result<(), TaskError> {
        self.keys.flush_usage().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Kek, generate_signing_key};
    use crate::model::KeyState;
    use crate::store::sqlite::SqliteStore;
    use serde_json::{Value, json};

    const NOW: UnixTime = 1_700_000_000;
    const ISSUER: &str = "https://id.example";

    /// A reload job whose ring knows generation 1, and a token signed with generation 2, which
    /// another instance wrote to the same store.
    async fn reload_with_unknown_token() -> (KeyReload, Arc<KeyManager>, String) {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
        let kek = Kek::generate();
        let kek_copy = Kek::from_base64(kek.to_base64().expose()).unwrap();
        let ours = Arc::new(
            KeyManager::load_or_init(store.clone(), kek, NOW)
                .await
                .unwrap()
                .with_issuer(ISSUER),
        );
        let mut newer = generate_signing_key(&kek_copy, 2, NOW).await.unwrap();
        newer.state = KeyState::Next;
        store.insert_signing_key(&newer).await.unwrap();
        newer.state = KeyState::Active;
        let other_store: Arc<dyn Store> =
            Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
        other_store.insert_signing_key(&newer).await.unwrap();
        let theirs = KeyManager::load_or_init(other_store, kek_copy, NOW)
            .await
            .unwrap();
        let token = theirs
            .sign("at+jwt", &json!({"iss": ISSUER, "sub": "u"}))
            .unwrap();
        (KeyReload::new(ours.clone()), ours, token)
    }

    #[tokio::test]
    async fn an_unknown_kid_asks_for_a_reload_at_most_once_per_gap() {
        let (job, keys, token) = reload_with_unknown_token().await;
        assert!(!job.wanted_early(NOW), "nothing asked yet");
        assert!(keys.verify::<Value>(&token, Some("at+jwt")).is_err());
        assert!(
            job.wanted_early(NOW),
            "the first request is answered at once"
        );
        job.tick(NOW).await.unwrap();
        assert!(!job.wanted_early(NOW));
        // The ring now holds the other instance's key (published as next): the token verifies.
        let _: Value = keys.verify(&token, Some("at+jwt")).unwrap();

        // Garbage naming unknown kids again and again: one reload per gap, by the clock.
        let stranger = KeyManager::load_or_init(
            Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap()),
            Kek::generate(),
            NOW,
        )
        .await
        .unwrap();
        let garbage = stranger.sign("at+jwt", &json!({"iss": ISSUER})).unwrap();
        assert!(keys.verify::<Value>(&garbage, None).is_err());
        assert!(keys.reload_requested());
        assert!(!job.wanted_early(NOW + KeyReload::MIN_SECONDS_BETWEEN - 1));
        assert!(job.wanted_early(NOW + KeyReload::MIN_SECONDS_BETWEEN));
    }

    #[tokio::test]
    async fn the_reload_is_not_run_at_start_and_purge_is() {
        let (job, _, _) = reload_with_unknown_token().await;
        assert!(!job.runs_at_start());
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
        let purge = Purge::new(store);
        assert!(purge.runs_at_start());
        purge.tick(NOW).await.unwrap();
    }
}
