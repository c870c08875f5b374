//! The refresh-token store contract (`RefreshTokenStore`, `GrantDenyList`): families found by
//! any of their tokens, rotation as one atomic conditional write (a race of many rotations of
//! one token has exactly one winner), revocation by grant, user and session, the deny-list by
//! grant, and purging.

use super::{ContractTest, NOW, RACERS, new_code, planned, race, scope};
use sesame::model::AuthorizationCode;
use sesame::model::{RefreshFamily, RefreshRotation, RequestedClaims, RetryPair, UserId};
use sesame::secret::{TokenHash, random_bytes, random_id, random_token};
use sesame::store::{Store, StoreError};
use std::sync::Arc;

contract_tests![
    refresh_family_round_trips_and_is_found_by_its_token,
    duplicate_refresh_family_conflicts,
    rotation_replaces_the_current_token_once,
    concurrent_rotations_of_one_token_have_one_winner,
    rotation_refuses_revoked_and_expired_families,
    revocation_keeps_the_first_time_and_drops_the_retry_pair,
    user_and_session_revocations_pick_their_families,
    a_denied_grant_denies_every_access_token_of_it,
    purge_removes_expired_families_and_stale_retry_pairs,
    a_sessions_redeemed_codes_name_their_grants,
];

fn new_family(offline: bool) -> RefreshFamily {
    let hash = random_token().hash();
    RefreshFamily {
        grant_id: random_id(),
        client_id: random_id(),
        user_id: UserId(random_id()),
        scope: scope("openid email offline_access"),
        sid: random_id(),
        auth_time: NOW - 100,
        amr: vec!["pwd".into()],
        claims: Some(RequestedClaims {
            id_token: vec!["email".into()],
            userinfo: vec![],
        }),
        offline,
        created_at: NOW - 50,
        expires_at: NOW + 30 * 86_400,
        current_hash: hash.clone(),
        current_issued_at: NOW - 50,
        current_expires_at: NOW + 14 * 86_400,
        token_hashes: vec![hash],
        retry: None,
        revoked_at: None,
    }
}

fn retry_for(previous: &TokenHash, until: i64) -> RetryPair {
    RetryPair {
        previous_hash: previous.clone(),
        request_hash: random_token().hash(),
        until,
        // Arbitrary bytes, every value 0–255 among them: the store keeps them exactly.
        sealed: (0..=255u8).chain(random_bytes::<16>()).collect(),
    }
}

fn rotation(retry_of: Option<&TokenHash>) -> RefreshRotation {
    RefreshRotation {
        new_hash: random_token().hash(),
        issued_at: NOW,
        expires_at: NOW + 14 * 86_400,
        retry: retry_of.map(|previous| retry_for(previous, NOW + 10)),
    }
}

async fn refresh_family_round_trips_and_is_found_by_its_token(store: Arc<dyn Store>) {
    let family = new_family(true);
    store.insert_refresh_family(&family).await.unwrap();
    assert_eq!(
        store
            .refresh_family_by_token(&family.current_hash)
            .await
            .unwrap(),
        Some(family.clone())
    );
    assert_eq!(
        store
            .refresh_family_by_token(&random_token().hash())
            .await
            .unwrap(),
        None
    );
    // Operator-shaped input is a value like any other.
    assert_eq!(
        store
            .refresh_family_by_token(&TokenHash::from_stored("{\"$ne\": \"\"}"))
            .await
            .unwrap(),
        None
    );
}

async fn duplicate_refresh_family_conflicts(store: Arc<dyn Store>) {
    let family = new_family(false);
    store.insert_refresh_family(&family).await.unwrap();
    let again = RefreshFamily {
        current_hash: random_token().hash(),
        token_hashes: vec![],
        ..family
    };
    assert!(matches!(
        store.insert_refresh_family(&again).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn rotation_replaces_the_current_token_once(store: Arc<dyn Store>) {
    let family = new_family(true);
    store.insert_refresh_family(&family).await.unwrap();
    let first = family.current_hash.clone();
    let step = rotation(Some(&first));
    let rotated = store
        .rotate_refresh_token(&family.grant_id, &first, &step, NOW)
        .await
        .unwrap()
        .expect("the current token rotates");
    assert_eq!(rotated.current_hash, step.new_hash);
    assert_eq!(rotated.current_issued_at, NOW);
    assert_eq!(rotated.current_expires_at, step.expires_at);
    assert_eq!(rotated.retry, step.retry);
    assert_eq!(
        rotated.token_hashes,
        vec![first.clone(), step.new_hash.clone()]
    );
    // Both tokens lead to the family as now stored.
    for hash in [&first, &step.new_hash] {
        assert_eq!(
            store.refresh_family_by_token(hash).await.unwrap().as_ref(),
            Some(&rotated)
        );
    }
    // The old token is no longer current: it cannot rotate again.
    assert_eq!(
        store
            .rotate_refresh_token(&family.grant_id, &first, &rotation(None), NOW)
            .await
            .unwrap(),
        None
    );
    // A rotation without a retry pair clears the last one.
    let next = rotation(None);
    let rotated = store
        .rotate_refresh_token(&family.grant_id, &step.new_hash, &next, NOW + 1)
        .await
        .unwrap()
        .expect("the new token rotates");
    assert_eq!(rotated.retry, None);
    assert_eq!(rotated.token_hashes.len(), 3);
}

async fn concurrent_rotations_of_one_token_have_one_winner(store: Arc<dyn Store>) {
    let family = new_family(false);
    store.insert_refresh_family(&family).await.unwrap();
    let grant_id = family.grant_id.clone();
    let presented = family.current_hash.clone();
    let outcomes = race(&store, move |store| {
        let (grant_id, presented) = (grant_id.clone(), presented.clone());
        async move {
            let step = rotation(Some(&presented));
            let won = store
                .rotate_refresh_token(&grant_id, &presented, &step, NOW)
                .await?;
            Ok(won.map(|f| (f, step.new_hash)))
        }
    })
    .await;
    let winners: Vec<_> = outcomes.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "of {RACERS} rotations exactly one wins");
    let (stored, new_hash) = &winners[0];
    assert_eq!(&stored.current_hash, new_hash);
    let now = store
        .refresh_family_by_token(&family.current_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&now.current_hash, new_hash, "the winner's token is current");
    assert_eq!(now.token_hashes.len(), 2, "one new token, no more");
}

async fn rotation_refuses_revoked_and_expired_families(store: Arc<dyn Store>) {
    // Absolute lifetime over, idle lifetime over, revoked: nothing rotates.
    let absolute = RefreshFamily {
        expires_at: NOW,
        ..new_family(true)
    };
    let idle = RefreshFamily {
        current_expires_at: NOW,
        ..new_family(true)
    };
    let revoked = new_family(true);
    for family in [&absolute, &idle, &revoked] {
        store.insert_refresh_family(family).await.unwrap();
    }
    assert!(
        store
            .revoke_refresh_family(&revoked.grant_id, NOW - 1)
            .await
            .unwrap()
    );
    for family in [&absolute, &idle, &revoked] {
        assert_eq!(
            store
                .rotate_refresh_token(&family.grant_id, &family.current_hash, &rotation(None), NOW)
                .await
                .unwrap(),
            None
        );
    }
    // One second earlier both lifetimes still held.
    assert!(
        store
            .rotate_refresh_token(&idle.grant_id, &idle.current_hash, &rotation(None), NOW - 1)
            .await
            .unwrap()
            .is_some()
    );
    // A token of another family is not this family's current one.
    let other = new_family(true);
    store.insert_refresh_family(&other).await.unwrap();
    assert_eq!(
        store
            .rotate_refresh_token(
                &other.grant_id,
                &absolute.current_hash,
                &rotation(None),
                NOW - 1
            )
            .await
            .unwrap(),
        None
    );
}

async fn revocation_keeps_the_first_time_and_drops_the_retry_pair(store: Arc<dyn Store>) {
    let family = new_family(true);
    store.insert_refresh_family(&family).await.unwrap();
    let step = rotation(Some(&family.current_hash));
    store
        .rotate_refresh_token(&family.grant_id, &family.current_hash, &step, NOW)
        .await
        .unwrap()
        .expect("rotates");
    assert!(
        store
            .revoke_refresh_family(&family.grant_id, NOW + 5)
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_refresh_family(&family.grant_id, NOW + 9)
            .await
            .unwrap(),
        "revoking again is no error"
    );
    let stored = store
        .refresh_family_by_token(&step.new_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.revoked_at, Some(NOW + 5));
    assert_eq!(stored.retry, None, "a revoked family keeps no sealed pair");
    assert!(!stored.is_live(NOW + 6));
    assert!(
        !store
            .revoke_refresh_family(&random_id(), NOW)
            .await
            .unwrap(),
        "no such family"
    );
}

async fn user_and_session_revocations_pick_their_families(store: Arc<dyn Store>) {
    let user = UserId(random_id());
    let sid = random_id();
    let online = RefreshFamily {
        user_id: user.clone(),
        sid: sid.clone(),
        ..new_family(false)
    };
    let offline = RefreshFamily {
        user_id: user.clone(),
        sid: sid.clone(),
        ..new_family(true)
    };
    let other_session = RefreshFamily {
        user_id: user.clone(),
        ..new_family(false)
    };
    let other_user = RefreshFamily {
        sid: sid.clone(),
        ..new_family(true)
    };
    for family in [&online, &offline, &other_session, &other_user] {
        store.insert_refresh_family(family).await.unwrap();
    }
    let revoked_at = |family: &RefreshFamily| {
        let store = store.clone();
        let hash = family.current_hash.clone();
        async move {
            store
                .refresh_family_by_token(&hash)
                .await
                .unwrap()
                .unwrap()
                .revoked_at
        }
    };

    // Logout: the session's families, except those issued for offline_access.
    let ended = store
        .revoke_session_refresh_families(&sid, NOW)
        .await
        .unwrap();
    assert_eq!(ended, vec![online.grant_id.clone()]);
    assert_eq!(revoked_at(&online).await, Some(NOW));
    assert_eq!(revoked_at(&offline).await, None);
    assert_eq!(revoked_at(&other_user).await, None);

    // Every live family of the user.
    let mut ended = store
        .revoke_user_refresh_families(&user, NOW + 1)
        .await
        .unwrap();
    ended.sort();
    let mut expected = vec![offline.grant_id.clone(), other_session.grant_id.clone()];
    expected.sort();
    assert_eq!(ended, expected, "families already revoked are not counted");
    assert_eq!(revoked_at(&online).await, Some(NOW), "first time kept");
    assert_eq!(revoked_at(&offline).await, Some(NOW + 1));
    assert_eq!(revoked_at(&other_session).await, Some(NOW + 1));
    assert_eq!(revoked_at(&other_user).await, None);
}

async fn a_denied_grant_denies_every_access_token_of_it(store: Arc<dyn Store>) {
    let grant = random_id();
    let (a, b) = (random_id(), random_id());
    assert!(
        !store
            .is_access_token_denied(&a, Some(&grant))
            .await
            .unwrap()
    );
    store.deny_grant(&grant, NOW + 900).await.unwrap();
    store.deny_grant(&grant, NOW + 300).await.unwrap();
    for jti in [&a, &b] {
        assert!(
            store
                .is_access_token_denied(jti, Some(&grant))
                .await
                .unwrap()
        );
        assert!(
            !store.is_access_token_denied(jti, None).await.unwrap(),
            "without its grant a token is judged by its own jti"
        );
        assert!(
            !store
                .is_access_token_denied(jti, Some(&random_id()))
                .await
                .unwrap()
        );
    }
    // A token revoked by its jti is denied whatever its grant.
    let own = random_id();
    store
        .revoke_access_token(&own, NOW + 60, None)
        .await
        .unwrap();
    assert!(store.is_access_token_denied(&own, None).await.unwrap());
    assert!(
        store
            .is_access_token_denied(&own, Some(&random_id()))
            .await
            .unwrap()
    );
    // A token revoked together with its grant (a replayed code) denies the grant's others.
    let replayed_grant = random_id();
    store
        .revoke_access_token(&random_id(), NOW + 60, Some(&replayed_grant))
        .await
        .unwrap();
    assert!(
        store
            .is_access_token_denied(&random_id(), Some(&replayed_grant))
            .await
            .unwrap()
    );
    // The grant denial keeps its later end: purged only after it.
    store.purge_expired(NOW + 899, NOW - 3600).await.unwrap();
    assert!(
        store
            .is_access_token_denied(&a, Some(&grant))
            .await
            .unwrap()
    );
    store.purge_expired(NOW + 900, NOW - 3600).await.unwrap();
    assert!(
        !store
            .is_access_token_denied(&a, Some(&grant))
            .await
            .unwrap()
    );
}

async fn purge_removes_expired_families_and_stale_retry_pairs(store: Arc<dyn Store>) {
    // Everything here is relative to `later`, long after every other test's rows expire
    // (contract tests run one at a time, so purging them too disturbs none).
    let later = NOW + 400 * 86_400;
    let absolute_over = RefreshFamily {
        created_at: later - 100,
        expires_at: later,
        current_issued_at: later - 100,
        current_expires_at: later + 1000,
        ..new_family(true)
    };
    let idle_over = RefreshFamily {
        created_at: later - 100,
        expires_at: later + 1000,
        current_issued_at: later - 100,
        current_expires_at: later,
        ..new_family(true)
    };
    let live = RefreshFamily {
        created_at: later - 100,
        expires_at: later + 1000,
        current_issued_at: later - 100,
        current_expires_at: later + 500,
        ..new_family(false)
    };
    for family in [&absolute_over, &idle_over, &live] {
        store.insert_refresh_family(family).await.unwrap();
    }
    let step = RefreshRotation {
        new_hash: random_token().hash(),
        issued_at: later - 20,
        expires_at: later + 500,
        retry: Some(retry_for(&live.current_hash, later - 10)),
    };
    store
        .rotate_refresh_token(&live.grant_id, &live.current_hash, &step, later - 20)
        .await
        .unwrap()
        .expect("rotates");

    let purged = store.purge_expired(later, later - 3600).await.unwrap();
    assert!(purged >= 3, "purged {purged}, expected at least 3");
    for family in [&absolute_over, &idle_over] {
        assert_eq!(
            store
                .refresh_family_by_token(&family.current_hash)
                .await
                .unwrap(),
            None
        );
    }
    let kept = store
        .refresh_family_by_token(&live.current_hash)
        .await
        .unwrap()
        .expect("a live family stays");
    assert_eq!(kept.current_hash, step.new_hash);
    assert_eq!(
        kept.retry, None,
        "a sealed pair past its window is forgotten"
    );
    assert_eq!(kept.token_hashes.len(), 2, "its tokens stay known");
}

async fn a_sessions_redeemed_codes_name_their_grants(store: Arc<dyn Store>) {
    let sid = random_id();
    let of_session = |scope_tokens: &str| AuthorizationCode {
        sid: sid.clone(),
        scope: scope(scope_tokens),
        grant_id: random_id(),
        ..new_code(NOW + 60)
    };
    let online = of_session("openid");
    let offline = of_session("openid offline_access");
    let unredeemed = of_session("openid");
    let elsewhere = new_code(NOW + 60);
    for code in [&online, &offline, &unredeemed, &elsewhere] {
        store.insert_code(code).await.unwrap();
    }
    for code in [&online, &offline, &elsewhere] {
        store
            .redeem_code(&code.code_hash, NOW, &planned(NOW + 600))
            .await
            .unwrap();
    }
    let mut grants = store.session_code_grants(&sid).await.unwrap();
    grants.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![
        (online.grant_id.clone(), online.scope.clone()),
        (offline.grant_id.clone(), offline.scope.clone()),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(grants, expected, "redeemed codes of this session only");
    assert!(
        store
            .session_code_grants(&random_id())
            .await
            .unwrap()
            .is_empty()
    );
}
