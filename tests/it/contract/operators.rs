//! The operator store contract (`OperatorStore`): a user's live sessions, the grants of a
//! user's or a client's redeemed codes, and revoking a client's refresh families; plus the
//! client's CORS origins round-tripping (issue 8 items 6 and 8).

use super::{ContractTest, NOW, new_client, new_code, new_session, planned, scope};
use sesame::model::{AuthorizationCode, Client, RefreshFamily, UserId};
use sesame::secret::{random_id, random_token};
use sesame::store::Store;
use std::sync::Arc;

contract_tests![
    a_users_live_sessions_are_listed_oldest_first,
    a_users_and_a_clients_redeemed_codes_name_their_grants,
    revoking_a_clients_families_picks_its_live_ones_only,
    a_clients_allowed_origins_round_trip,
];

fn family_of(client_id: &str, user_id: &UserId) -> RefreshFamily {
    let hash = random_token().hash();
    RefreshFamily {
        grant_id: random_id(),
        client_id: client_id.to_string(),
        user_id: user_id.clone(),
        scope: scope("openid offline_access"),
        sid: random_id(),
        auth_time: NOW - 100,
        amr: vec!["pwd".into()],
        claims: None,
        offline: true,
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

async fn a_users_live_sessions_are_listed_oldest_first(store: Arc<dyn Store>) {
    let user = UserId(random_id());
    let newer = sesame::model::Session {
        created_at: NOW - 10,
        last_seen_at: NOW - 5,
        ..new_session(&user, NOW + 3600)
    };
    let older = sesame::model::Session {
        created_at: NOW - 500,
        last_seen_at: NOW - 400,
        ..new_session(&user, NOW + 60)
    };
    let expired = new_session(&user, NOW);
    let someone_elses = new_session(&UserId(random_id()), NOW + 3600);
    for session in [&newer, &older, &expired, &someone_elses] {
        store.create_session(session).await.unwrap();
    }
    let listed = store.sessions_of_user(&user, NOW).await.unwrap();
    assert_eq!(listed, vec![older.clone(), newer.clone()]);
    assert_eq!(
        store.sessions_of_user(&user, NOW + 60).await.unwrap(),
        vec![newer],
        "a session is listed only while it lives"
    );
    assert!(
        store
            .sessions_of_user(&UserId(random_id()), NOW)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_users_and_a_clients_redeemed_codes_name_their_grants(store: Arc<dyn Store>) {
    let user = UserId(random_id());
    let client_id = random_id();
    let code = |user_id: &UserId, client_id: &str| AuthorizationCode {
        user_id: user_id.clone(),
        client_id: client_id.to_string(),
        grant_id: random_id(),
        ..new_code(NOW + 60)
    };
    let mine_here = code(&user, &client_id);
    let mine_elsewhere = code(&user, &random_id());
    let others_here = code(&UserId(random_id()), &client_id);
    let mine_unredeemed = code(&user, &client_id);
    for c in [&mine_here, &mine_elsewhere, &others_here, &mine_unredeemed] {
        store.insert_code(c).await.unwrap();
    }
    for c in [&mine_here, &mine_elsewhere, &others_here] {
        store
            .redeem_code(&c.code_hash, NOW, &planned(NOW + 600))
            .await
            .unwrap();
    }
    let mut of_user = store.user_code_grants(&user).await.unwrap();
    of_user.sort();
    let mut expected = vec![mine_here.grant_id.clone(), mine_elsewhere.grant_id.clone()];
    expected.sort();
    assert_eq!(of_user, expected, "the user's redeemed codes only");
    let mut of_client = store.client_code_grants(&client_id).await.unwrap();
    of_client.sort();
    let mut expected = vec![mine_here.grant_id.clone(), others_here.grant_id.clone()];
    expected.sort();
    assert_eq!(of_client, expected, "the client's redeemed codes only");
    assert!(
        store
            .user_code_grants(&UserId(random_id()))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .client_code_grants(&random_id())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn revoking_a_clients_families_picks_its_live_ones_only(store: Arc<dyn Store>) {
    let client_id = random_id();
    let first = family_of(&client_id, &UserId(random_id()));
    let second = family_of(&client_id, &UserId(random_id()));
    let already = family_of(&client_id, &UserId(random_id()));
    let other = family_of(&random_id(), &first.user_id);
    for family in [&first, &second, &already, &other] {
        store.insert_refresh_family(family).await.unwrap();
    }
    assert!(
        store
            .revoke_refresh_family(&already.grant_id, NOW - 10)
            .await
            .unwrap()
    );
    let mut revoked = store
        .revoke_client_refresh_families(&client_id, NOW)
        .await
        .unwrap();
    revoked.sort();
    let mut expected = vec![first.grant_id.clone(), second.grant_id.clone()];
    expected.sort();
    assert_eq!(revoked, expected, "the client's live families");
    let stored = |f: &RefreshFamily| {
        let store = store.clone();
        let hash = f.current_hash.clone();
        async move {
            store
                .refresh_family_by_token(&hash)
                .await
                .unwrap()
                .expect("family kept")
        }
    };
    assert_eq!(stored(&first).await.revoked_at, Some(NOW));
    assert_eq!(stored(&second).await.revoked_at, Some(NOW));
    assert_eq!(
        stored(&already).await.revoked_at,
        Some(NOW - 10),
        "the first revocation time is kept"
    );
    assert_eq!(
        stored(&other).await.revoked_at,
        None,
        "another client's family"
    );
    assert!(
        store
            .revoke_client_refresh_families(&client_id, NOW + 1)
            .await
            .unwrap()
            .is_empty(),
        "nothing live is left"
    );
}

async fn a_clients_allowed_origins_round_trip(store: Arc<dyn Store>) {
    let client = Client {
        allowed_origins: vec![
            "https://spa.example.com".into(),
            "http://localhost:3000".into(),
        ],
        ..new_client(true, NOW)
    };
    store.create_client(&client).await.unwrap();
    let stored = store.client(&client.client_id).await.unwrap().unwrap();
    assert_eq!(stored.allowed_origins, client.allowed_origins);
    assert_eq!(stored, client);
}
