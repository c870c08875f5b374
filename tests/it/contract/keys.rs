//! The key-lifecycle part of the store contract: conditional state moves, exactly one creator
//! per generation, the two rewrap steps, and per-kid usage counters.

use super::{ContractTest, NOW, RACERS, fresh_generation, new_key, race};
use sesame::model::KeyState;
use sesame::secret::random_bytes;
use sesame::store::{Conflict, Store, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

macro_rules! key_contract_tests {
    ($($name:ident),* $(,)?) => {
        /// Every key-lifecycle contract test, by name.
        pub const TESTS: &[(&str, ContractTest)] = &[
            $((stringify!($name), |store| Box::pin($name(store)))),*
        ];
    };
}

key_contract_tests![
    racing_creators_of_one_generation_make_exactly_one_key,
    a_state_moves_only_from_the_state_its_caller_saw,
    racing_activations_have_one_winner,
    a_key_is_deleted_only_in_the_state_named,
    rewrap_stages_beside_the_old_blob_then_commits_conditionally,
    usage_counts_add_up_under_concurrency_and_last_seen_only_moves_forward,
];

async fn stored(store: &Arc<dyn Store>, kid: &str) -> Option<sesame::model::SigningKey> {
    store
        .signing_keys()
        .await
        .expect("signing keys")
        .into_iter()
        .find(|k| k.kid == kid)
}

async fn racing_creators_of_one_generation_make_exactly_one_key(store: Arc<dyn Store>) {
    let generation = fresh_generation();
    let created = race(&store, move |store| async move {
        let mut key = new_key(generation);
        key.state = KeyState::Next;
        match store.insert_signing_key(&key).await {
            Ok(()) => Ok(Some(key.kid)),
            Err(StoreError::Conflict(Conflict::Generation)) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .await;
    let winners: Vec<String> = created.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "exactly one of {RACERS} creators wins");
    let keys: Vec<_> = store
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.generation == generation)
        .collect();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid, winners[0]);
}

async fn a_state_moves_only_from_the_state_its_caller_saw(store: Arc<dyn Store>) {
    let mut key = new_key(fresh_generation());
    key.state = KeyState::Next;
    key.activates_at = NOW + 100;
    key.retires_at = None;
    store.insert_signing_key(&key).await.unwrap();
    // Not active: retiring it changes nothing.
    assert!(
        !store
            .transition_signing_key(
                &key.kid,
                &[KeyState::Active],
                KeyState::Retired,
                None,
                Some(NOW)
            )
            .await
            .unwrap()
    );
    assert_eq!(
        stored(&store, &key.kid).await.unwrap().state,
        KeyState::Next
    );
    assert!(
        store
            .transition_signing_key(
                &key.kid,
                &[KeyState::Next],
                KeyState::Active,
                Some(NOW + 50),
                None
            )
            .await
            .unwrap()
    );
    let active = stored(&store, &key.kid).await.unwrap();
    assert_eq!(
        (active.state, active.activates_at, active.retires_at),
        (KeyState::Active, NOW + 50, None)
    );
    assert!(
        store
            .transition_signing_key(
                &key.kid,
                &[KeyState::Active],
                KeyState::Retired,
                None,
                Some(NOW + 60)
            )
            .await
            .unwrap()
    );
    let retired = stored(&store, &key.kid).await.unwrap();
    assert_eq!(
        (retired.state, retired.activates_at, retired.retires_at),
        (KeyState::Retired, NOW + 50, Some(NOW + 60)),
        "a time not given stays as it was"
    );
    assert!(!store.is_signing_key_revoked(&key.kid).await.unwrap());
    // Revocation from any live state; the unknown kid and the empty list move nothing.
    assert!(
        store
            .transition_signing_key(
                &key.kid,
                &[KeyState::Next, KeyState::Active, KeyState::Retired],
                KeyState::Revoked,
                None,
                Some(NOW + 70)
            )
            .await
            .unwrap()
    );
    let revoked = stored(&store, &key.kid).await.unwrap();
    assert_eq!(
        (revoked.state, revoked.retires_at),
        (KeyState::Revoked, Some(NOW + 70))
    );
    assert!(store.is_signing_key_revoked(&key.kid).await.unwrap());
    assert!(!store.is_signing_key_revoked("no-such-kid").await.unwrap());
    assert!(
        !store
            .transition_signing_key(
                "no-such-kid",
                &[KeyState::Next],
                KeyState::Active,
                None,
                None
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .transition_signing_key(&key.kid, &[], KeyState::Active, None, None)
            .await
            .unwrap()
    );
}

async fn racing_activations_have_one_winner(store: Arc<dyn Store>) {
    let mut key = new_key(fresh_generation());
    key.state = KeyState::Next;
    store.insert_signing_key(&key).await.unwrap();
    let kid = key.kid.clone();
    let outcomes = race(&store, move |store| {
        let kid = kid.clone();
        async move {
            store
                .transition_signing_key(&kid, &[KeyState::Next], KeyState::Active, Some(NOW), None)
                .await
        }
    })
    .await;
    assert_eq!(outcomes.iter().filter(|won| **won).count(), 1);
}

async fn a_key_is_deleted_only_in_the_state_named(store: Arc<dyn Store>) {
    let mut key = new_key(fresh_generation());
    key.state = KeyState::Retired;
    store.insert_signing_key(&key).await.unwrap();
    assert!(
        !store
            .delete_signing_key(&key.kid, KeyState::Active)
            .await
            .unwrap()
    );
    assert!(stored(&store, &key.kid).await.is_some());
    assert!(
        store
            .delete_signing_key(&key.kid, KeyState::Retired)
            .await
            .unwrap()
    );
    assert!(stored(&store, &key.kid).await.is_none());
    assert!(
        !store
            .delete_signing_key(&key.kid, KeyState::Retired)
            .await
            .unwrap(),
        "a second delete finds nothing"
    );
}

async fn rewrap_stages_beside_the_old_blob_then_commits_conditionally(store: Arc<dyn Store>) {
    let key = new_key(fresh_generation());
    store.insert_signing_key(&key).await.unwrap();
    let rewrapped = random_bytes::<48>().to_vec();
    // Staging against a blob that is no longer the stored one does nothing.
    assert!(
        !store
            .stage_rewrapped_key(&key.kid, &random_bytes::<48>(), &rewrapped)
            .await
            .unwrap()
    );
    assert!(
        store
            .stage_rewrapped_key(&key.kid, &key.private_key_enc, &rewrapped)
            .await
            .unwrap()
    );
    let staged = stored(&store, &key.kid).await.unwrap();
    assert_eq!(
        staged.private_key_enc, key.private_key_enc,
        "the old blob stays"
    );
    assert_eq!(
        staged.private_key_enc_rewrapped.as_deref(),
        Some(&rewrapped[..])
    );
    // Committing anything but the staged blob does nothing.
    assert!(
        !store
            .commit_rewrapped_key(&key.kid, &random_bytes::<48>())
            .await
            .unwrap()
    );
    assert!(
        store
            .commit_rewrapped_key(&key.kid, &rewrapped)
            .await
            .unwrap()
    );
    let committed = stored(&store, &key.kid).await.unwrap();
    assert_eq!(committed.private_key_enc, rewrapped);
    assert_eq!(committed.private_key_enc_rewrapped, None);
    assert!(
        !store
            .commit_rewrapped_key(&key.kid, &rewrapped)
            .await
            .unwrap(),
        "committed once"
    );
}

async fn usage_counts_add_up_under_concurrency_and_last_seen_only_moves_forward(
    store: Arc<dyn Store>,
) {
    let kid = sesame::secret::random_id();
    let offset = Arc::new(AtomicI64::new(0));
    let k = kid.clone();
    race(&store, move |store| {
        let kid = k.clone();
        let seen = NOW + offset.fetch_add(1, Ordering::SeqCst);
        async move { store.record_key_usage(&kid, 2, seen).await }
    })
    .await;
    store.record_key_usage(&kid, 1, NOW - 1000).await.unwrap();
    let usage = store.key_usage().await.unwrap();
    let ours = usage
        .iter()
        .find(|u| u.kid == kid)
        .expect("counter created");
    assert_eq!(ours.uses, 2 * RACERS as i64 + 1);
    assert_eq!(ours.last_seen_at, NOW + RACERS as i64 - 1);
}
