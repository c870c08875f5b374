//! The password-reset store contract: a request stores the token and enqueues its mail
//! together and voids older tokens; a completed reset takes the token once and applies every
//! effect of a reset; expiry and password changes void tokens.

use super::{ContractTest, NOW, new_session, new_user, race};
use futures_util::future::BoxFuture;
use sesame::model::{OutboxItem, OutboxStatus, ResetToken, User};
use sesame::secret::{TokenHash, random_id, random_token};
use sesame::store::Store;
use std::sync::Arc;

macro_rules! reset_tests {
    ($($name:ident),* $(,)?) => {
        /// Every password-reset contract test, by name.
        pub const TESTS: &[(&str, ContractTest)] = &[
            $((stringify!($name), |store| -> BoxFuture<'static, ()> { Box::pin($name(store)) })),*
        ];
    };
}

reset_tests![
    a_reset_request_stores_the_token_and_enqueues_its_mail,
    a_new_request_voids_older_tokens_of_the_user_only,
    an_expired_token_is_invalid_and_cannot_complete,
    a_password_change_voids_older_tokens,
    completing_a_reset_applies_every_effect_once,
    concurrent_completions_have_one_winner,
    expired_tokens_are_purged,
];

fn mail(summary: &str) -> OutboxItem {
    OutboxItem::new(
        &format!("test-mail-{}", random_id()),
        summary,
        "{\"link\":\"secret\"}",
        NOW,
        NOW + 86_400,
    )
}

async fn user(store: &Arc<dyn Store>) -> User {
    let user = new_user(NOW - 1000);
    store.create_user(&user).await.unwrap();
    user
}

fn token_for(user: &User, expires_at: i64) -> (TokenHash, ResetToken) {
    let hash = random_token().hash();
    (
        hash.clone(),
        ResetToken {
            token_hash: hash,
            user_id: user.id.clone(),
            created_at: NOW,
            expires_at,
        },
    )
}

async fn a_reset_request_stores_the_token_and_enqueues_its_mail(store: Arc<dyn Store>) {
    let user = user(&store).await;
    let (hash, token) = token_for(&user, NOW + 1800);
    let m = mail("reset");
    store.request_reset(&token, &m).await.unwrap();
    assert_eq!(store.reset_token(&hash, NOW).await.unwrap(), Some(token));
    let queued = store
        .outbox_item(&m.id)
        .await
        .unwrap()
        .expect("mail enqueued");
    assert_eq!(queued.status, OutboxStatus::Queued);
    assert_eq!(queued.payload, m.payload);
    assert!(
        store
            .reset_token(&random_token().hash(), NOW)
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_new_request_voids_older_tokens_of_the_user_only(store: Arc<dyn Store>) {
    let user = user(&store).await;
    let other = self::user(&store).await;
    let (old, old_token) = token_for(&user, NOW + 1800);
    let (theirs, their_token) = token_for(&other, NOW + 1800);
    store.request_reset(&old_token, &mail("1")).await.unwrap();
    store.request_reset(&their_token, &mail("2")).await.unwrap();
    let (new, new_token) = token_for(&user, NOW + 1800);
    store.request_reset(&new_token, &mail("3")).await.unwrap();
    assert!(
        store.reset_token(&old, NOW).await.unwrap().is_none(),
        "older token voided"
    );
    assert!(store.reset_token(&new, NOW).await.unwrap().is_some());
    assert!(
        store.reset_token(&theirs, NOW).await.unwrap().is_some(),
        "another user's token stays"
    );
    let notice = mail("changed");
    assert!(
        store
            .complete_reset(&old, NOW, "$argon2id$new", "login:x", &notice)
            .await
            .unwrap()
            .is_none(),
        "a voided token completes nothing"
    );
    assert!(
        store.outbox_item(&notice.id).await.unwrap().is_none(),
        "and enqueues nothing"
    );
}

async fn an_expired_token_is_invalid_and_cannot_complete(store: Arc<dyn Store>) {
    let user = user(&store).await;
    let (hash, token) = token_for(&user, NOW + 1800);
    store.request_reset(&token, &mail("r")).await.unwrap();
    assert!(
        store
            .reset_token(&hash, NOW + 1799)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .reset_token(&hash, NOW + 1800)
            .await
            .unwrap()
            .is_none(),
        "expired at expires_at"
    );
    assert!(
        store
            .complete_reset(&hash, NOW + 1800, "$argon2id$new", "login:x", &mail("c"))
            .await
            .unwrap()
            .is_none()
    );
    let stored = store.user_by_id(&user.id).await.unwrap().expect("user");
    assert_eq!(
        stored.password_hash, user.password_hash,
        "password unchanged"
    );
}

async fn a_password_change_voids_older_tokens(store: Arc<dyn Store>) {
    let user = user(&store).await;
    let (hash, token) = token_for(&user, NOW + 1800);
    store.request_reset(&token, &mail("r")).await.unwrap();
    assert!(
        store
            .set_password_hash(&user.id, "$argon2id$changed", NOW + 5)
            .await
            .unwrap()
    );
    assert!(store.reset_token(&hash, NOW + 5).await.unwrap().is_none());
    assert!(
        store
            .complete_reset(&hash, NOW + 5, "$argon2id$new", "login:x", &mail("c"))
            .await
            .unwrap()
            .is_none()
    );
    let stored = store.user_by_id(&user.id).await.unwrap().expect("user");
    assert_eq!(stored.password_hash, "$argon2id$changed");
}

async fn completing_a_reset_applies_every_effect_once(store: Arc<dyn Store>) {
    let user = user(&store).await;
    let bystander = self::user(&store).await;
    let sessions = [
        new_session(&user.id, NOW + 3600),
        new_session(&user.id, NOW + 3600),
    ];
    for s in &sessions {
        store.create_session(s).await.unwrap();
    }
    let theirs = new_session(&bystander.id, NOW + 3600);
    store.create_session(&theirs).await.unwrap();
    let throttle_key = format!("login:{}", random_id());
    for _ in 0..3 {
        store
            .throttle_increment(&throttle_key, NOW - 10)
            .await
            .unwrap();
    }
    let (hash, token) = token_for(&user, NOW + 1800);
    store.request_reset(&token, &mail("r")).await.unwrap();

    let notice = mail("changed");
    let done = store
        .complete_reset(
            &hash,
            NOW + 60,
            "$argon2id$v=19$new",
            &throttle_key,
            &notice,
        )
        .await
        .unwrap();
    assert_eq!(done, Some(user.id.clone()));
    let stored = store.user_by_id(&user.id).await.unwrap().expect("user");
    assert_eq!(stored.password_hash, "$argon2id$v=19$new");
    assert_eq!(stored.password_changed_at, NOW + 60);
    assert!(
        stored.email_verified,
        "completing a reset proves the mailbox"
    );
    for s in &sessions {
        assert!(
            store.session(&s.id_hash, NOW + 60).await.unwrap().is_none(),
            "session ended"
        );
    }
    assert!(
        store
            .session(&theirs.id_hash, NOW + 60)
            .await
            .unwrap()
            .is_some(),
        "others' sessions stay"
    );
    assert_eq!(
        store
            .throttle_increment(&throttle_key, NOW + 61)
            .await
            .unwrap()
            .failures,
        1,
        "failed-login counter cleared"
    );
    let queued = store
        .outbox_item(&notice.id)
        .await
        .unwrap()
        .expect("notice enqueued");
    assert_eq!(queued.status, OutboxStatus::Queued);
    assert!(
        store.reset_token(&hash, NOW + 60).await.unwrap().is_none(),
        "token spent"
    );
    let again = mail("again");
    assert!(
        store
            .complete_reset(&hash, NOW + 61, "$argon2id$other", &throttle_key, &again)
            .await
            .unwrap()
            .is_none(),
        "single use"
    );
    assert!(store.outbox_item(&again.id).await.unwrap().is_none());
    let stored = store.user_by_id(&user.id).await.unwrap().expect("user");
    assert_eq!(stored.password_hash, "$argon2id$v=19$new");
}

async fn concurrent_completions_have_one_winner(store: Arc<dyn Store>) {
    let user = user(&store).await;
    let (hash, token) = token_for(&user, NOW + 1800);
    store.request_reset(&token, &mail("r")).await.unwrap();
    let outcomes = race(&store, move |store| {
        let hash = hash.clone();
        async move {
            let notice = mail("changed");
            let won = store
                .complete_reset(
                    &hash,
                    NOW + 1,
                    &format!("$argon2id${}", notice.id),
                    "login:race",
                    &notice,
                )
                .await?;
            Ok((won, notice.id))
        }
    })
    .await;
    let winners: Vec<_> = outcomes.iter().filter(|(won, _)| won.is_some()).collect();
    assert_eq!(winners.len(), 1, "exactly one completion wins");
    let stored = store.user_by_id(&user.id).await.unwrap().expect("user");
    assert_eq!(
        stored.password_hash,
        format!("$argon2id${}", winners[0].1),
        "the winner's password"
    );
    for (won, id) in &outcomes {
        assert_eq!(
            store.outbox_item(id).await.unwrap().is_some(),
            won.is_some(),
            "only the winner's notice is enqueued"
        );
    }
}

async fn expired_tokens_are_purged(store: Arc<dyn Store>) {
    let user = user(&store).await;
    let other = self::user(&store).await;
    let (expired, expired_token) = token_for(&user, NOW + 10);
    let (live, live_token) = token_for(&other, NOW + 1800);
    store
        .request_reset(&expired_token, &mail("1"))
        .await
        .unwrap();
    store.request_reset(&live_token, &mail("2")).await.unwrap();
    store.purge_expired(NOW + 10, NOW - 86_400).await.unwrap();
    // Purged, not just filtered: even a read at an earlier time finds nothing.
    assert!(store.reset_token(&expired, NOW).await.unwrap().is_none());
    assert!(store.reset_token(&live, NOW).await.unwrap().is_some());
}
