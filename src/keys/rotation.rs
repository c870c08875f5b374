//! Automatic signing-key rotation: a pure policy `(keys, now, policy) → actions` ([`plan`]),
//! and the key manager's steps that apply it to the store, one conditional write each.
//!
//! A key lives *next → active → retired → removed* (or is *revoked* by an operator):
//!
//! - a **next** key is created [`RotationPolicy::prepublish`] before the active key's period
//!   ends, and is published in the JWKS from then on, so relying parties that honour the JWKS
//!   cache headers hold it before the first token it signs;
//! - it becomes **active** (signs) at its `activates_at`; the key it replaces becomes
//!   **retired**: still published, so every token it signed keeps verifying;
//! - a retired key is **removed** [`RotationPolicy::retention`] after it stopped signing: the
//!   longest lifetime of any token it signed plus a margin (at least the JWKS cache lifetime).
//!
//! Instances agree without a leader: a key is created by an insert on its unique generation
//! (of racing instances exactly one succeeds) and every state change is conditional on the
//! state the caller read, so a step lost to another instance is simply a no-op.

use super::{KeyError, KeyManager};
use crate::clock::UnixTime;
use crate::model::{KeyState, SigningKey};
use crate::store::{Conflict, StoreError};

/// How long JWKS responses may be cached (`Cache-Control: max-age`), seconds. A next key is
/// published for longer than this before it signs (see [`RotationPolicy::prepublish`]).
pub const JWKS_MAX_AGE: i64 = 300;

/// The RSA modulus sizes Sesame generates (RFC 7518 §3.3 asks for at least 2048).
pub const RSA_BITS: [u32; 3] = [2048, 3072, 4096];

/// The rotation schedule, in seconds; built from the `keys.*` configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a key signs before the next one takes over.
    pub rotation_period: i64,
    /// How long a next key is published before it signs; longer than the JWKS `max-age` plus
    /// the reload interval, so every cache has seen it.
    pub prepublish: i64,
    /// How long a retired (or revoked) key is kept after it stopped signing: the longest
    /// lifetime of any token it signed plus a margin.
    pub retention: i64,
    /// Modulus size of new keys.
    pub rsa_bits: u32,
    /// How often every instance re-reads the key ring.
    pub reload_interval: i64,
}

impl Default for RotationPolicy {
    /// The configuration defaults: 30 days, 48 hours, 10-minute tokens plus an hour, 2048
    /// bits, a minute.
    fn default() -> Self {
        RotationPolicy {
            rotation_period: 30 * 86_400,
            prepublish: 48 * 3_600,
            retention: 600 + 3_600,
            rsa_bits: 2048,
            reload_interval: 60,
        }
    }
}

/// One step of the rotation policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Create (and publish) the next key, to sign from `activates_at`.
    CreateNext {
        generation: i64,
        activates_at: UnixTime,
    },
    /// The next key `kid` starts signing.
    Activate { kid: String },
    /// The active key `kid` stops signing (a newer key signs); it stays published.
    Retire { kid: String },
    /// The retired or revoked key `kid` leaves the store: every token it signed has expired.
    Remove { kid: String, state: KeyState },
}

/// What the policy asks for at `now`, in the order to apply it (a new signing key is active
/// before the old one retires, so there is never a moment without one).
pub fn plan(keys: &[SigningKey], now: UnixTime, policy: &RotationPolicy) -> Vec<Action> {
    let mut actions = Vec::new();
    let newest_active = keys
        .iter()
        .filter(|k| k.state == KeyState::Active)
        .max_by_key(|k| k.generation);
    let next = keys
        .iter()
        .filter(|k| k.state == KeyState::Next)
        .min_by_key(|k| k.generation);
    let newest_generation = keys.iter().map(|k| k.generation).max().unwrap_or(0);

    // Which key signs after this step.
    let signer = match (newest_active, next) {
        // Nothing signs: the next key takes over at once rather than no key at all.
        (None, Some(next)) => {
            actions.push(Action::Activate {
                kid: next.kid.clone(),
            });
            Some(next.generation)
        }
        (Some(_), Some(next)) if now >= next.activates_at => {
            actions.push(Action::Activate {
                kid: next.kid.clone(),
            });
            Some(next.generation)
        }
        (Some(active), None) => {
            let period_ends = active.activates_at.saturating_add(policy.rotation_period);
            if now >= period_ends.saturating_sub(policy.prepublish) {
                actions.push(Action::CreateNext {
                    generation: newest_generation + 1,
                    // Published for the whole of `prepublish` even when created late.
                    activates_at: period_ends.max(now.saturating_add(policy.prepublish)),
                });
            }
            Some(active.generation)
        }
        (Some(active), Some(_)) => Some(active.generation),
        // Every key is retired or revoked: a new one is published, and signs when due.
        (None, None) => {
            actions.push(Action::CreateNext {
                generation: newest_generation + 1,
                activates_at: now,
            });
            None
        }
    };
    for key in keys {
        if key.state == KeyState::Active && Some(key.generation) != signer {
            actions.push(Action::Retire {
                kid: key.kid.clone(),
            });
        }
    }
    for key in keys {
        if matches!(key.state, KeyState::Retired | KeyState::Revoked)
            && key
                .retires_at
                .is_some_and(|at| now >= at.saturating_add(policy.retention))
        {
            actions.push(Action::Remove {
                kid: key.kid.clone(),
                state: key.state,
            });
        }
    }
    actions
}

/// What a manual rotation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotated {
    /// The key that signs now.
    pub active: String,
    /// The key published to sign next.
    pub next: String,
    /// The keys that stopped signing.
    pub retired: Vec<String>,
    /// Whether the new signing key had been published for at least `prepublish` (false when
    /// there was no next key and one was made to sign at once).
    pub was_prepublished: bool,
}

/// Why a revocation was refused.
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("no signing key has kid {0}")]
    UnknownKid(String),
    #[error("{0} is the signing key: run `sesame keys rotate` first, then revoke it")]
    SigningKey(String),
    #[error("{0} is already revoked")]
    AlreadyRevoked(String),
    #[error(transparent)]
    Keys(#[from] KeyError),
}

impl KeyManager {
    /// The rotation schedule this manager follows.
    pub fn policy(&self) -> &RotationPolicy {
        &self.policy
    }

    /// Applies the rotation policy at `now`: plans, applies each step as a conditional write,
    /// and plans again until nothing is due (a created key may be due at once). Reloads the
    /// ring if anything changed. Returns the steps this instance carried out (a step another
    /// instance won is not among them).
    pub async fn rotate_due(&self, now: UnixTime) -> Result<Vec<Action>, KeyError> {
        let mut done = Vec::new();
        // Each round either changes the store or finds it changed; a few rounds settle it.
        for _ in 0..4 {
            let stored = self.store.signing_keys().await?;
            let actions = plan(&stored, now, &self.policy);
            if actions.is_empty() {
                break;
            }
            for action in actions {
                if self.apply(&action, now).await? {
                    if let Action::Activate { kid } = &action {
                        crate::audit::record(
                            &*self.store,
                            now,
                            crate::audit::AuditEvent::KeyRotated { kid: kid.clone() },
                        )
                        .await;
                    }
                    done.push(action);
                }
            }
        }
        self.reload().await?;
        Ok(done)
    }

    /// Carries out one step; `false` if another instance already had.
    async fn apply(&self, action: &Action, now: UnixTime) -> Result<bool, KeyError> {
        let store = &self.store;
        Ok(match action {
            Action::CreateNext {
                generation,
                activates_at,
            } => self
                .create_next(*generation, *activates_at, now)
                .await?
                .is_some(),
            Action::Activate { kid } => {
                store
                    .transition_signing_key(
                        kid,
                        &[KeyState::Next],
                        KeyState::Active,
                        Some(now),
                        None,
                    )
                    .await?
            }
            Action::Retire { kid } => {
                store
                    .transition_signing_key(
                        kid,
                        &[KeyState::Active],
                        KeyState::Retired,
                        None,
                        Some(now),
                    )
                    .await?
            }
            Action::Remove { kid, state } => store.delete_signing_key(kid, *state).await?,
        })
    }

    /// Generates and inserts a next key of `generation`; `None` if another instance stored
    /// that generation first.
    async fn create_next(
        &self,
        generation: i64,
        activates_at: UnixTime,
        now: UnixTime,
    ) -> Result<Option<String>, KeyError> {
        let mut key =
            super::ring::generate_key(&self.kek, self.policy.rsa_bits, generation, now).await?;
        key.state = KeyState::Next;
        key.activates_at = activates_at;
        match self.store.insert_signing_key(&key).await {
            Ok(()) => {
                tracing::info!(kid = %key.kid, generation, activates_at, "published the next signing key");
                Ok(Some(key.kid))
            }
            Err(StoreError::Conflict(Conflict::Generation)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets the signing-key gauges from the stored keys: the age of the key that signs, and
    /// the time until the next takes over (the published next key's start, else the end of
    /// the signing key's rotation period).
    pub async fn record_schedule(&self, now: UnixTime) -> Result<(), KeyError> {
        let stored = self.store.signing_keys().await?;
        let active = stored
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .max_by_key(|k| k.generation);
        let next = stored
            .iter()
            .filter(|k| k.state == KeyState::Next)
            .min_by_key(|k| k.generation);
        let takes_over = next
            .map(|n| n.activates_at)
            .or_else(|| active.map(|a| a.activates_at.saturating_add(self.policy.rotation_period)));
        crate::measure::key_schedule(
            active.map(|a| now.saturating_sub(a.activates_at)),
            takes_over.map(|t| t.saturating_sub(now)),
        );
        Ok(())
    }

    /// `sesame keys rotate`: the next key signs from `now` (one is created first if none is
    /// published), every other active key retires, and a new next key is published for one
    /// rotation period. Instances pick the change up within their reload interval.
    pub async fn rotate_now(&self, now: UnixTime) -> Result<Rotated, KeyError> {
        let mut stored = self.store.signing_keys().await?;
        let (promoted, was_prepublished) = loop {
            let next = stored
                .iter()
                .filter(|k| k.state == KeyState::Next)
                .min_by_key(|k| k.generation);
            if let Some(next) = next {
                let published_long_enough =
                    now >= next.created_at.saturating_add(self.policy.prepublish);
                break (next.kid.clone(), published_long_enough);
            }
            let generation = stored.iter().map(|k| k.generation).max().unwrap_or(0) + 1;
            if let Some(kid) = self.create_next(generation, now, now).await? {
                break (kid, false);
            }
            stored = self.store.signing_keys().await?;
        };
        self.store
            .transition_signing_key(
                &promoted,
                &[KeyState::Next],
                KeyState::Active,
                Some(now),
                None,
            )
            .await?;
        crate::audit::record(
            &*self.store,
            now,
            crate::audit::AuditEvent::KeyRotated {
                kid: promoted.clone(),
            },
        )
        .await;
        let mut retired = Vec::new();
        for key in self.store.signing_keys().await? {
            if key.state == KeyState::Active
                && key.kid != promoted
                && self
                    .store
                    .transition_signing_key(
                        &key.kid,
                        &[KeyState::Active],
                        KeyState::Retired,
                        None,
                        Some(now),
                    )
                    .await?
            {
                retired.push(key.kid);
            }
        }
        let next = loop {
            let stored = self.store.signing_keys().await?;
            let generation = stored.iter().map(|k| k.generation).max().unwrap_or(0) + 1;
            let activates_at = now.saturating_add(self.policy.rotation_period);
            if let Some(kid) = self.create_next(generation, activates_at, now).await? {
                break kid;
            }
        };
        self.reload().await?;
        Ok(Rotated {
            active: promoted,
            next,
            retired,
            was_prepublished,
        })
    }

    /// `sesame keys revoke KID`: the bearer check refuses the key's tokens at once (it asks
    /// the store), and the key leaves the JWKS and the ring of each instance at its next
    /// reload. The signing key cannot be revoked (rotate first), so there is always one.
    pub async fn revoke(&self, kid: &str, now: UnixTime) -> Result<(), RevokeError> {
        let stored = self.store.signing_keys().await.map_err(KeyError::from)?;
        let key = stored
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| RevokeError::UnknownKid(kid.to_string()))?;
        let signing = stored
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .max_by_key(|k| k.generation);
        if signing.is_some_and(|s| s.kid == kid) {
            return Err(RevokeError::SigningKey(kid.to_string()));
        }
        if key.state == KeyState::Revoked {
            return Err(RevokeError::AlreadyRevoked(kid.to_string()));
        }
        let revoked = self
            .store
            .transition_signing_key(
                kid,
                &[KeyState::Next, KeyState::Active, KeyState::Retired],
                KeyState::Revoked,
                None,
                Some(now),
            )
            .await
            .map_err(KeyError::from)?;
        if !revoked {
            return Err(RevokeError::AlreadyRevoked(kid.to_string()));
        }
        tracing::warn!(kid, "signing key revoked");
        crate::audit::record(
            &*self.store,
            now,
            crate::audit::AuditEvent::KeyRevoked {
                kid: kid.to_owned(),
            },
        )
        .await;
        self.reload().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixTime = 1_700_000_000;
    const DAY: i64 = 86_400;

    fn policy() -> RotationPolicy {
        RotationPolicy::default()
    }

    fn key(kid: &str, generation: i64, state: KeyState, activates_at: UnixTime) -> SigningKey {
        SigningKey {
            kid: kid.into(),
            alg: "RS256".into(),
            public_jwk: "{}".into(),
            private_key_enc: vec![],
            private_key_enc_rewrapped: None,
            state,
            created_at: activates_at,
            activates_at,
            retires_at: None,
            generation,
        }
    }

    fn retired(kid: &str, generation: i64, state: KeyState, at: UnixTime) -> SigningKey {
        SigningKey {
            retires_at: Some(at),
            ..key(kid, generation, state, at - 30 * DAY)
        }
    }

    #[test]
    fn a_fresh_active_key_needs_nothing_until_prepublish_before_its_period_ends() {
        let p = policy();
        let keys = [key("a", 1, KeyState::Active, T0)];
        let due = T0 + p.rotation_period - p.prepublish;
        assert!(plan(&keys, T0, &p).is_empty());
        assert!(plan(&keys, due - 1, &p).is_empty(), "one second early");
        assert_eq!(
            plan(&keys, due, &p),
            [Action::CreateNext {
                generation: 2,
                activates_at: T0 + p.rotation_period
            }],
            "exactly at the boundary: published for the whole prepublish window"
        );
    }

    #[test]
    fn a_next_key_created_late_is_still_published_for_all_of_prepublish() {
        let p = policy();
        let keys = [key("a", 1, KeyState::Active, T0)];
        let late = T0 + p.rotation_period + 5 * DAY;
        assert_eq!(
            plan(&keys, late, &p),
            [Action::CreateNext {
                generation: 2,
                activates_at: late + p.prepublish
            }]
        );
    }

    #[test]
    fn the_next_key_signs_at_its_activation_and_the_old_one_retires() {
        let p = policy();
        let at = T0 + p.rotation_period;
        let keys = [
            key("a", 1, KeyState::Active, T0),
            key("b", 2, KeyState::Next, at),
        ];
        assert!(plan(&keys, at - 1, &p).is_empty(), "one second early");
        assert_eq!(
            plan(&keys, at, &p),
            [
                Action::Activate { kid: "b".into() },
                Action::Retire { kid: "a".into() }
            ]
        );
    }

    #[test]
    fn a_retired_key_is_removed_once_every_token_it_signed_has_expired() {
        let p = policy();
        let stopped = T0 + 3 * DAY;
        let keys = [
            retired("a", 1, KeyState::Retired, stopped),
            key("b", 2, KeyState::Active, stopped),
        ];
        assert!(plan(&keys, stopped + p.retention - 1, &p).is_empty());
        assert_eq!(
            plan(&keys, stopped + p.retention, &p),
            [Action::Remove {
                kid: "a".into(),
                state: KeyState::Retired
            }]
        );
    }

    #[test]
    fn a_revoked_key_is_never_a_signer_and_is_removed_after_retention() {
        let p = policy();
        let keys = [
            retired("a", 1, KeyState::Revoked, T0),
            key("b", 2, KeyState::Active, T0),
        ];
        assert!(plan(&keys, T0 + 1, &p).is_empty());
        assert_eq!(
            plan(&keys, T0 + p.retention, &p),
            [Action::Remove {
                kid: "a".into(),
                state: KeyState::Revoked
            }]
        );
    }

    #[test]
    fn with_no_active_key_the_next_one_signs_at_once() {
        let p = policy();
        let keys = [
            retired("a", 1, KeyState::Revoked, T0),
            key("b", 2, KeyState::Next, T0 + 10 * DAY),
        ];
        assert_eq!(plan(&keys, T0, &p), [Action::Activate { kid: "b".into() }]);
    }

    #[test]
    fn with_every_key_retired_or_revoked_a_new_one_is_made() {
        let p = policy();
        let keys = [retired("a", 7, KeyState::Revoked, T0)];
        assert_eq!(
            plan(&keys, T0 + 1, &p),
            [Action::CreateNext {
                generation: 8,
                activates_at: T0 + 1
            }]
        );
    }

    #[test]
    fn two_active_keys_leave_only_the_newest_signing() {
        // What a crash between activation and retirement leaves behind.
        let p = policy();
        let keys = [
            key("a", 1, KeyState::Active, T0),
            key("b", 2, KeyState::Active, T0 + DAY),
        ];
        assert_eq!(
            plan(&keys, T0 + DAY, &p),
            [Action::Retire { kid: "a".into() }]
        );
    }

    #[test]
    fn new_generations_follow_the_highest_of_any_state() {
        let p = policy();
        let keys = [
            retired("old", 9, KeyState::Revoked, T0),
            key("a", 4, KeyState::Active, T0),
        ];
        let due = T0 + p.rotation_period - p.prepublish;
        assert!(matches!(
            plan(&keys, due, &p)[0],
            Action::CreateNext { generation: 10, .. }
        ));
    }

    /// Two key managers (two instances) on one store, the first key 29 days old.
    async fn two_instances() -> (KeyManager, KeyManager) {
        use super::super::test_support::{kek_a, memory_store};
        let store = memory_store().await;
        let start = T0 - 29 * DAY;
        let a = KeyManager::load_or_init(store.clone(), kek_a(), start)
            .await
            .unwrap();
        let b = KeyManager::load_or_init(store, kek_a(), start)
            .await
            .unwrap();
        (a, b)
    }

    #[tokio::test]
    async fn racing_instances_create_exactly_one_next_key_and_both_publish_it() {
        let (a, b) = two_instances().await;
        let (done_a, done_b) = tokio::join!(a.rotate_due(T0), b.rotate_due(T0));
        let created = [done_a.unwrap(), done_b.unwrap()]
            .iter()
            .flatten()
            .filter(|action| matches!(action, Action::CreateNext { .. }))
            .count();
        assert_eq!(created, 1, "exactly one instance created the next key");
        let stored = a.store.signing_keys().await.unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[1].state, KeyState::Next);
        for keys in [&a, &b] {
            let jwks: serde_json::Value = serde_json::from_slice(&keys.jwks()).unwrap();
            assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
            assert_eq!(
                keys.active_kid().unwrap(),
                stored[0].kid,
                "the old key still signs"
            );
        }
        // Nothing more is due until the next key's activation.
        assert!(a.rotate_due(T0 + DAY).await.unwrap().is_empty());
        let activation = stored[1].activates_at;
        let done = b.rotate_due(activation).await.unwrap();
        assert_eq!(
            done,
            [
                Action::Activate {
                    kid: stored[1].kid.clone()
                },
                Action::Retire {
                    kid: stored[0].kid.clone()
                }
            ]
        );
        assert_eq!(b.active_kid().unwrap(), stored[1].kid);
        a.reload().await.unwrap();
        assert_eq!(a.active_kid().unwrap(), stored[1].kid);
    }

    #[tokio::test]
    async fn rotate_now_promotes_the_published_next_key_and_publishes_another() {
        let (a, _) = two_instances().await;
        // No next key yet: one is made and signs at once, flagged as not prepublished.
        let first = a.rotate_now(T0).await.unwrap();
        assert!(!first.was_prepublished);
        assert_eq!(a.active_kid().unwrap(), first.active);
        // Now a next key has been published for a whole period: a clean promotion.
        let later = T0 + a.policy().prepublish;
        let second = a.rotate_now(later).await.unwrap();
        assert_eq!(second.active, first.next);
        assert!(second.was_prepublished);
        assert_eq!(second.retired, std::slice::from_ref(&first.active));
        let states: Vec<(i64, KeyState)> = a
            .store
            .signing_keys()
            .await
            .unwrap()
            .iter()
            .map(|k| (k.generation, k.state))
            .collect();
        assert_eq!(
            states,
            [
                (1, KeyState::Retired),
                (2, KeyState::Retired),
                (3, KeyState::Active),
                (4, KeyState::Next)
            ]
        );
    }

    #[tokio::test]
    async fn revoke_refuses_the_signing_key_unknown_kids_and_repeats() {
        let (a, _) = two_instances().await;
        let rotated = a.rotate_now(T0).await.unwrap();
        assert!(matches!(
            a.revoke(&rotated.active, T0).await,
            Err(RevokeError::SigningKey(_))
        ));
        assert!(matches!(
            a.revoke("nope", T0).await,
            Err(RevokeError::UnknownKid(_))
        ));
        let old = &rotated.retired[0];
        a.revoke(old, T0).await.unwrap();
        assert!(matches!(
            a.revoke(old, T0).await,
            Err(RevokeError::AlreadyRevoked(_))
        ));
        let jwks = String::from_utf8(a.jwks().to_vec()).unwrap();
        assert!(!jwks.contains(old.as_str()), "revoked: not published");
        // The next key can be revoked too; a new one is then published when due.
        a.revoke(&rotated.next, T0).await.unwrap();
        let done = a.rotate_due(T0 + a.policy().rotation_period).await.unwrap();
        assert!(matches!(done[0], Action::CreateNext { .. }), "{done:?}");
    }

    #[test]
    fn a_published_next_key_is_not_duplicated() {
        let p = policy();
        let keys = [
            key("a", 1, KeyState::Active, T0),
            key("b", 2, KeyState::Next, T0 + p.rotation_period),
        ];
        assert!(plan(&keys, T0 + p.rotation_period - 1, &p).is_empty());
    }
}
