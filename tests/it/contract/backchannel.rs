//! The back-channel logout store contract (`SessionClientsStore`): the clients that took part
//! in a session, and a client's `backchannel_logout_uri` round-tripping.

use super::{ContractTest, NOW, new_client, new_code, planned, scope};
use sesame::model::{AuthorizationCode, Client, RefreshFamily, UserId};
use sesame::secret::{random_id, random_token};
use sesame::store::Store;
use std::sync::Arc;

contract_tests![
    a_sessions_clients_are_those_that_redeemed_a_code_or_hold_a_family_in_it,
    a_backchannel_logout_uri_round_trips,
];

fn family_of(client_id: &str, sid: &str) -> RefreshFamily {
    let hash = random_token().hash();
    RefreshFamily {
        grant_id: random_id(),
        client_id: client_id.to_string(),
        user_id: UserId(random_id()),
        scope: scope("openid offline_access"),
        sid: sid.to_string(),
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

async fn a_sessions_clients_are_those_that_redeemed_a_code_or_hold_a_family_in_it(
    store: Arc<dyn Store>,
) {
    let sid = random_id();
    let (a, b, c, unredeemed) = (random_id(), random_id(), random_id(), random_id());
    let code = |client_id: &str| AuthorizationCode {
        sid: sid.clone(),
        client_id: client_id.to_string(),
        ..new_code(NOW + 60)
    };
    let redeemed = [code(&a), code(&a), code(&b)];
    let waiting = code(&unredeemed);
    let elsewhere = new_code(NOW + 60);
    for code in redeemed.iter().chain([&waiting, &elsewhere]) {
        store.insert_code(code).await.unwrap();
    }
    for code in redeemed.iter().chain([&elsewhere]) {
        store
            .redeem_code(&code.code_hash, NOW, &planned(NOW + 600))
            .await
            .unwrap();
    }
    store
        .insert_refresh_family(&family_of(&c, &sid))
        .await
        .unwrap();
    store
        .insert_refresh_family(&family_of(&b, &sid))
        .await
        .unwrap();
    store
        .insert_refresh_family(&family_of(&random_id(), &random_id()))
        .await
        .unwrap();
    let mut expected = vec![a, b, c];
    expected.sort();
    assert_eq!(
        store.session_clients(&sid).await.unwrap(),
        expected,
        "each client once, of this session only, not for an unredeemed code"
    );
    assert!(
        store
            .session_clients(&random_id())
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_backchannel_logout_uri_round_trips(store: Arc<dyn Store>) {
    let with = Client {
        backchannel_logout_uri: Some("https://rp.example/backchannel".into()),
        ..new_client(false, NOW)
    };
    let without = new_client(false, NOW);
    store.create_client(&with).await.unwrap();
    store.create_client(&without).await.unwrap();
    assert_eq!(
        store.client(&with.client_id).await.unwrap(),
        Some(with.clone())
    );
    assert_eq!(
        store
            .client(&without.client_id)
            .await
            .unwrap()
            .and_then(|c| c.backchannel_logout_uri),
        None
    );
}
