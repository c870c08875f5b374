//! The store contract: one suite that every backend must pass, written only against the
//! public [`Store`] interface so a new backend runs it unchanged: one more call of
//! `contract::run_all(Arc::new(MyStore::open(…)))` in `store_contract.rs`.
//!
//! It panics on failure. Every test makes its own ids, so tests may share one store, run in any
//! order, and rerun against a store that still holds the rows of an earlier run. Time is always
//! passed explicitly, around the fixed instant [`NOW`].

use futures_util::future::BoxFuture;
use sesame::clock::UnixTime;
use sesame::model::{
    AuthorizationCode, AuthorizationRequest, Client, CodeRedemption, Consent, GrantType, KeyState,
    PlannedToken, RequestedClaims, ResponseMode, Scope, Session, SigningKey,
    TokenEndpointAuthMethod, User, UserId,
};
use sesame::secret::{TokenHash, random_bytes, random_id, random_token};
use sesame::store::{Conflict, Store, StoreError, StoreResult};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

// Signing-key lifecycle and usage (issue 7).
mod keys;
mod throttle_state;
// The audit trail (issue 10).
mod audit;

/// The instant every test treats as "now".
pub const NOW: UnixTime = 1_700_000_000;

/// How many callers race in the concurrency tests.
const RACERS: usize = 16;

/// One contract test.
pub type ContractTest = fn(Arc<dyn Store>) -> BoxFuture<'static, ()>;

macro_rules! contract_tests {
    ($($name:ident),* $(,)?) => {
        /// Every contract test, by name.
        pub const TESTS: &[(&str, ContractTest)] = &[
            $((stringify!($name), |store| Box::pin($name(store)))),*
        ];
    };
}

contract_tests![
    user_is_found_by_id_and_email,
    duplicate_email_conflicts,
    users_are_listed_oldest_first,
    user_can_be_disabled_and_enabled,
    disabling_a_user_ends_their_sessions_only,
    disabling_a_user_is_idempotent,
    disabling_an_unknown_user_changes_nothing,
    password_hash_is_replaced,
    client_round_trips,
    duplicate_client_id_conflicts,
    clients_are_listed_oldest_first,
    client_delete_reports_whether_it_existed,
    authorization_request_round_trips_and_replaces,
    expired_authorization_request_is_gone,
    authorization_request_is_taken_once,
    expired_authorization_request_cannot_be_taken,
    concurrent_takes_of_a_request_have_one_winner,
    code_redeems_once_and_records_issued_token_under_its_grant,
    code_redeemed_twice_is_replayed_with_first_issued_token,
    redeemed_code_replayed_after_expiry_is_still_replayed,
    expired_code_is_invalid,
    unknown_code_is_invalid,
    concurrent_code_redemptions_redeem_exactly_once,
    duplicate_code_hash_conflicts,
    token_revocation_is_idempotent,
    token_revoked_with_its_grant_is_denied,
    session_round_trips,
    expired_session_is_gone,
    session_can_be_deleted,
    user_sessions_are_deleted_together,
    session_touch_records_the_last_use,
    touching_a_missing_or_expired_session_reports_false,
    duplicate_session_id_conflicts,
    consent_grant_creates_then_merges,
    consent_is_per_user_and_client,
    concurrent_consent_grants_keep_every_scope,
    signing_keys_are_listed_by_generation,
    duplicate_key_generation_or_kid_conflicts,
    throttle_increment_counts_failures,
    concurrent_throttle_increments_all_count,
    throttle_lock_has_exactly_one_winner,
    throttle_is_not_lockable_while_locked,
    throttle_lock_creates_a_missing_counter,
    throttle_clear_forgets_the_counter,
    purge_removes_expired_rows_only,
    operator_shaped_input_matches_nothing,
    ping_answers,
];

// Refresh-token families and the deny-list by grant (issue 8): their own list of tests.
mod refresh;
// The outbox and password reset (issue 9).
mod outbox;
mod reset;
// APIs (resource servers) and clients' permissions for them (issue 12).
mod apis;
// Operator commands and CORS origins (issue 8 items 6 and 8).
mod operators;
// Back-channel logout (issue 8).
mod backchannel;

/// Runs every contract test against `store`, then panics listing the ones that failed.
pub async fn run_all(store: Arc<dyn Store>) {
    let mut failed = Vec::new();
    let all = TESTS
        .iter()
        .chain(keys::TESTS)
        .chain(throttle_state::TESTS)
        .chain(audit::TESTS)
        .chain(refresh::TESTS)
        .chain(outbox::TESTS)
        .chain(reset::TESTS)
        .chain(apis::TESTS)
        .chain(operators::TESTS)
        .chain(backchannel::TESTS);
    let count = all.clone().count();
    for (name, test) in all {
        // Each test runs as its own task so one failure does not hide the others.
        if let Err(error) = tokio::spawn(test(store.clone())).await {
            let reason = match error.try_into_panic() {
                Ok(payload) => payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panicked".into()),
                Err(error) => error.to_string(),
            };
            failed.push(format!("{name}: {reason}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} store contract tests failed:\n  {}",
        failed.len(),
        count,
        failed.join("\n  ")
    );
}

// ---- fixtures -------------------------------------------------------------------------------

/// Runs `call` from RACERS tasks at once against `store`; returns every outcome.
async fn race<T, F, Fut>(store: &Arc<dyn Store>, call: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<dyn Store>) -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>> + Send + 'static,
{
    let racers: Vec<_> = (0..RACERS)
        .map(|_| tokio::spawn(call(store.clone())))
        .collect();
    let mut outcomes = Vec::with_capacity(RACERS);
    for racer in racers {
        outcomes.push(racer.await.expect("racer task").expect("store call"));
    }
    outcomes
}

fn scope(tokens: &str) -> Scope {
    Scope::parse(tokens).expect("a valid scope")
}

fn new_user(created_at: UnixTime) -> User {
    User {
        id: UserId(random_id()),
        email: format!("{}@example.com", random_id().to_lowercase()),
        name: Some("Ada Lovelace".into()),
        email_verified: false,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        password_changed_at: created_at,
        disabled: false,
        created_at,
    }
}

fn new_client(public: bool, created_at: UnixTime) -> Client {
    Client {
        client_id: random_id(),
        name: "Example app".into(),
        secret_hash: (!public).then(|| random_token().hash()),
        redirect_uris: vec![
            "https://app.example.com/cb".into(),
            "http://127.0.0.1:8765/callback?x=1".into(),
        ],
        post_logout_redirect_uris: vec!["https://app.example.com/bye".into()],
        grant_types: if public {
            vec![GrantType::AuthorizationCode]
        } else {
            vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::ClientCredentials,
            ]
        },
        allowed_scopes: scope("openid profile email"),
        token_endpoint_auth_method: if public {
            TokenEndpointAuthMethod::None
        } else {
            TokenEndpointAuthMethod::ClientSecretBasic
        },
        public,
        first_party: !public,
        created_at,
        refresh_tokens: sesame::model::RefreshTokenPolicy::Always,
        allowed_origins: vec![],
        backchannel_logout_uri: None,
    }
}

fn new_request(expires_at: UnixTime) -> AuthorizationRequest {
    AuthorizationRequest {
        id: random_token().expose().to_string(),
        client_id: random_id(),
        redirect_uri: "https://app.example.com/cb".into(),
        scope: scope("openid email"),
        state: Some("st ate&=".into()),
        nonce: Some(random_id()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        response_mode: ResponseMode::FormPost,
        prompt: vec!["login".into(), "consent".into()],
        max_age: Some(300),
        login_hint: Some("ada@example.com".into()),
        id_token_hint_sub: None,
        authenticated_session: Some(random_id()),
        claims: Some(RequestedClaims::default()),
        created_at: NOW - 10,
        expires_at,
    }
}

/// A fresh unredeemed code and its hash.
fn new_code(expires_at: UnixTime) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: random_token().hash(),
        client_id: random_id(),
        user_id: UserId(random_id()),
        redirect_uri: "https://app.example.com/cb".into(),
        scope: scope("openid profile"),
        nonce: Some(random_id()),
        code_challenge: None,
        auth_time: NOW - 30,
        sid: random_id(),
        amr: vec!["pwd".into()],
        grant_id: random_id(),
        created_at: NOW - 5,
        expires_at,
        redeemed_at: None,
        issued: None,
        claims: Some(RequestedClaims {
            id_token: vec!["email".into()],
            userinfo: vec!["name".into()],
        }),
    }
}

/// The access token a redemption plans to mint.
fn planned(expires_at: UnixTime) -> PlannedToken {
    PlannedToken {
        jti: random_id(),
        expires_at,
    }
}

fn new_session(user_id: &UserId, expires_at: UnixTime) -> Session {
    Session {
        id_hash: random_token().hash(),
        sid: random_id(),
        user_id: user_id.clone(),
        auth_time: NOW - 100,
        amr: vec!["pwd".into()],
        created_at: NOW - 100,
        last_seen_at: NOW - 100,
        expires_at,
    }
}

/// A generation number no other test (or earlier run) is likely to hold.
fn fresh_generation() -> i64 {
    (u64::from_le_bytes(random_bytes::<8>()) >> 2) as i64
}

fn new_key(generation: i64) -> SigningKey {
    SigningKey {
        kid: random_id(),
        alg: "RS256".into(),
        public_jwk: format!(r#"{{"kty":"RSA","n":"{}","e":"AQAB"}}"#, random_id()),
        private_key_enc: random_bytes::<48>().to_vec(),
        private_key_enc_rewrapped: None,
        state: KeyState::Active,
        created_at: NOW,
        activates_at: NOW,
        retires_at: Some(NOW + 86_400),
        generation,
    }
}

fn position<T>(items: &[T], wanted: impl Fn(&T) -> bool) -> usize {
    items
        .iter()
        .position(wanted)
        .expect("a row just written is listed")
}

// ---- users ----------------------------------------------------------------------------------

async fn user_is_found_by_id_and_email(store: Arc<dyn Store>) {
    let user = new_user(NOW);
    store.create_user(&user).await.unwrap();
    assert_eq!(
        store.user_by_id(&user.id).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(
        store.user_by_email(&user.email).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.user_by_id(&UserId(random_id())).await.unwrap(), None);
    assert_eq!(
        store
            .user_by_email("nobody-here@example.com")
            .await
            .unwrap(),
        None
    );

    let nameless = User {
        name: None,
        email_verified: true,
        ..new_user(NOW)
    };
    store.create_user(&nameless).await.unwrap();
    assert_eq!(
        store.user_by_id(&nameless.id).await.unwrap(),
        Some(nameless)
    );
}

async fn duplicate_email_conflicts(store: Arc<dyn Store>) {
    let user = new_user(NOW);
    store.create_user(&user).await.unwrap();
    let twin = User {
        id: UserId(random_id()),
        ..user.clone()
    };
    let err = store.create_user(&twin).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::Email)),
        "{err:?}"
    );
    assert_eq!(store.user_by_id(&twin.id).await.unwrap(), None);
}

async fn users_are_listed_oldest_first(store: Arc<dyn Store>) {
    let newer = new_user(NOW + 20);
    let older = new_user(NOW + 10);
    store.create_user(&newer).await.unwrap();
    store.create_user(&older).await.unwrap();
    let users = store.list_users().await.unwrap();
    let older_at = position(&users, |u| u.id == older.id);
    let newer_at = position(&users, |u| u.id == newer.id);
    assert!(older_at < newer_at, "users must be listed oldest first");
    assert_eq!(users[newer_at], newer);
}

async fn user_can_be_disabled_and_enabled(store: Arc<dyn Store>) {
    let user = new_user(NOW);
    store.create_user(&user).await.unwrap();
    assert_eq!(store.disable_user(&user.id).await.unwrap(), Some(0));
    assert!(store.user_by_id(&user.id).await.unwrap().unwrap().disabled);
    assert!(store.enable_user(&user.id).await.unwrap());
    assert!(!store.user_by_id(&user.id).await.unwrap().unwrap().disabled);
    assert!(!store.enable_user(&UserId(random_id())).await.unwrap());
}

async fn disabling_a_user_ends_their_sessions_only(store: Arc<dyn Store>) {
    let user = new_user(NOW);
    let other = new_user(NOW);
    store.create_user(&user).await.unwrap();
    store.create_user(&other).await.unwrap();
    let mine = [
        new_session(&user.id, NOW + 3600),
        new_session(&user.id, NOW + 7200),
    ];
    let theirs = new_session(&other.id, NOW + 3600);
    for session in mine.iter().chain([&theirs]) {
        store.create_session(session).await.unwrap();
    }
    assert_eq!(store.disable_user(&user.id).await.unwrap(), Some(2));
    let read = store.user_by_id(&user.id).await.unwrap().unwrap();
    assert!(read.disabled && !read.is_active());
    assert_eq!(
        read,
        User {
            disabled: true,
            ..user.clone()
        },
        "only the flag changes"
    );
    for session in &mine {
        assert_eq!(store.session(&session.id_hash, NOW).await.unwrap(), None);
    }
    assert_eq!(
        store.session(&theirs.id_hash, NOW).await.unwrap(),
        Some(theirs)
    );
    assert!(
        !store.user_by_id(&other.id).await.unwrap().unwrap().disabled,
        "other users stay active"
    );
}

async fn disabling_a_user_is_idempotent(store: Arc<dyn Store>) {
    let user = new_user(NOW);
    store.create_user(&user).await.unwrap();
    assert_eq!(store.disable_user(&user.id).await.unwrap(), Some(0));
    assert_eq!(store.disable_user(&user.id).await.unwrap(), Some(0));
    assert!(store.user_by_id(&user.id).await.unwrap().unwrap().disabled);
    // A session left behind (e.g. a retry after a partial clean-up) is ended by a repeat.
    let straggler = new_session(&user.id, NOW + 3600);
    store.create_session(&straggler).await.unwrap();
    assert_eq!(store.disable_user(&user.id).await.unwrap(), Some(1));
    assert_eq!(store.session(&straggler.id_hash, NOW).await.unwrap(), None);
    // And the user can be enabled again.
    assert!(store.enable_user(&user.id).await.unwrap());
    assert!(
        store
            .user_by_id(&user.id)
            .await
            .unwrap()
            .unwrap()
            .is_active()
    );
}

async fn disabling_an_unknown_user_changes_nothing(store: Arc<dyn Store>) {
    let nobody = UserId(random_id());
    let orphan = new_session(&nobody, NOW + 3600);
    store.create_session(&orphan).await.unwrap();
    assert_eq!(store.disable_user(&nobody).await.unwrap(), None);
    assert_eq!(store.user_by_id(&nobody).await.unwrap(), None);
    assert!(store.session(&orphan.id_hash, NOW).await.unwrap().is_some());
}

async fn password_hash_is_replaced(store: Arc<dyn Store>) {
    let user = new_user(NOW);
    store.create_user(&user).await.unwrap();
    let new_hash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3aGFzaA";
    assert!(
        store
            .set_password_hash(&user.id, new_hash, NOW + 60)
            .await
            .unwrap()
    );
    let read = store.user_by_id(&user.id).await.unwrap().unwrap();
    assert_eq!(read.password_hash, new_hash);
    assert_eq!(read.password_changed_at, NOW + 60);
    assert_eq!(read.email, user.email);
    assert!(
        !store
            .set_password_hash(&UserId(random_id()), new_hash, NOW)
            .await
            .unwrap()
    );
}

// ---- clients --------------------------------------------------------------------------------

async fn client_round_trips(store: Arc<dyn Store>) {
    for public in [false, true] {
        let client = new_client(public, NOW);
        store.create_client(&client).await.unwrap();
        assert_eq!(store.client(&client.client_id).await.unwrap(), Some(client));
    }
    assert_eq!(store.client(&random_id()).await.unwrap(), None);
}

async fn duplicate_client_id_conflicts(store: Arc<dyn Store>) {
    let client = new_client(false, NOW);
    store.create_client(&client).await.unwrap();
    let twin = Client {
        name: "Impostor".into(),
        ..client.clone()
    };
    let err = store.create_client(&twin).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::ClientId)),
        "{err:?}"
    );
    assert_eq!(store.client(&client.client_id).await.unwrap(), Some(client));
}

async fn clients_are_listed_oldest_first(store: Arc<dyn Store>) {
    let newer = new_client(true, NOW + 20);
    let older = new_client(false, NOW + 10);
    store.create_client(&newer).await.unwrap();
    store.create_client(&older).await.unwrap();
    let clients = store.list_clients().await.unwrap();
    let older_at = position(&clients, |c| c.client_id == older.client_id);
    let newer_at = position(&clients, |c| c.client_id == newer.client_id);
    assert!(older_at < newer_at, "clients must be listed oldest first");
    assert_eq!(clients[older_at], older);
}

async fn client_delete_reports_whether_it_existed(store: Arc<dyn Store>) {
    let client = new_client(false, NOW);
    store.create_client(&client).await.unwrap();
    assert!(store.delete_client(&client.client_id).await.unwrap());
    assert_eq!(store.client(&client.client_id).await.unwrap(), None);
    assert!(!store.delete_client(&client.client_id).await.unwrap());
    assert!(!store.delete_client(&random_id()).await.unwrap());
}

// ---- authorization requests -----------------------------------------------------------------

async fn authorization_request_round_trips_and_replaces(store: Arc<dyn Store>) {
    let request = new_request(NOW + 600);
    store.put_authorization_request(&request).await.unwrap();
    assert_eq!(
        store.authorization_request(&request.id, NOW).await.unwrap(),
        Some(request.clone())
    );
    let logged_in = AuthorizationRequest {
        authenticated_session: Some(random_id()),
        id_token_hint_sub: Some(random_id()),
        state: None,
        nonce: None,
        code_challenge: None,
        response_mode: ResponseMode::Query,
        prompt: vec![],
        max_age: None,
        login_hint: None,
        ..request.clone()
    };
    store.put_authorization_request(&logged_in).await.unwrap();
    assert_eq!(
        store.authorization_request(&request.id, NOW).await.unwrap(),
        Some(logged_in)
    );
    assert_eq!(
        store
            .authorization_request(&random_id(), NOW)
            .await
            .unwrap(),
        None
    );
}

async fn expired_authorization_request_is_gone(store: Arc<dyn Store>) {
    let request = new_request(NOW);
    store.put_authorization_request(&request).await.unwrap();
    assert_eq!(
        store
            .authorization_request(&request.id, NOW - 1)
            .await
            .unwrap(),
        Some(request.clone())
    );
    // `expires_at <= now` is expired.
    assert_eq!(
        store.authorization_request(&request.id, NOW).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .authorization_request(&request.id, NOW + 1)
            .await
            .unwrap(),
        None
    );
}

async fn authorization_request_is_taken_once(store: Arc<dyn Store>) {
    let request = new_request(NOW + 600);
    store.put_authorization_request(&request).await.unwrap();
    assert_eq!(
        store
            .take_authorization_request(&request.id, NOW)
            .await
            .unwrap(),
        Some(request.clone())
    );
    assert_eq!(
        store.authorization_request(&request.id, NOW).await.unwrap(),
        None,
        "taken means gone"
    );
    assert_eq!(
        store
            .take_authorization_request(&request.id, NOW)
            .await
            .unwrap(),
        None,
        "a second take gets nothing"
    );
    assert_eq!(
        store
            .take_authorization_request(&random_id(), NOW)
            .await
            .unwrap(),
        None
    );
}

async fn expired_authorization_request_cannot_be_taken(store: Arc<dyn Store>) {
    let request = new_request(NOW);
    store.put_authorization_request(&request).await.unwrap();
    assert_eq!(
        store
            .take_authorization_request(&request.id, NOW)
            .await
            .unwrap(),
        None,
        "expires_at is not after now"
    );
}

async fn concurrent_takes_of_a_request_have_one_winner(store: Arc<dyn Store>) {
    let request = new_request(NOW + 600);
    store.put_authorization_request(&request).await.unwrap();
    let id = request.id.clone();
    let outcomes = race(&store, |store| {
        let id = id.clone();
        async move { store.take_authorization_request(&id, NOW).await }
    })
    .await;
    let winners = outcomes.iter().filter(|taken| taken.is_some()).count();
    assert_eq!(winners, 1, "exactly one of {RACERS} concurrent takes wins");
}

// ---- authorization codes --------------------------------------------------------------------

async fn code_redeems_once_and_records_issued_token_under_its_grant(store: Arc<dyn Store>) {
    let code = new_code(NOW + 60);
    store.insert_code(&code).await.unwrap();
    let token = planned(NOW + 600);
    let outcome = store
        .redeem_code(&code.code_hash, NOW, &token)
        .await
        .unwrap();
    let expected = AuthorizationCode {
        redeemed_at: Some(NOW),
        issued: Some(token.issued_under(&code.grant_id)),
        ..code.clone()
    };
    assert_eq!(outcome, CodeRedemption::Redeemed(expected));
    let CodeRedemption::Redeemed(redeemed) = outcome else {
        unreachable!()
    };
    assert_eq!(redeemed.grant_id, code.grant_id, "the grant id is kept");
    assert_eq!(
        redeemed.issued.map(|t| t.grant_id),
        Some(code.grant_id),
        "the issued token is recorded under the code's grant"
    );
}

async fn code_redeemed_twice_is_replayed_with_first_issued_token(store: Arc<dyn Store>) {
    let code = new_code(NOW + 60);
    store.insert_code(&code).await.unwrap();
    let first = planned(NOW + 600);
    let outcome = store
        .redeem_code(&code.code_hash, NOW, &first)
        .await
        .unwrap();
    assert!(
        matches!(outcome, CodeRedemption::Redeemed(_)),
        "{outcome:?}"
    );

    let second = planned(NOW + 630);
    let outcome = store
        .redeem_code(&code.code_hash, NOW + 30, &second)
        .await
        .unwrap();
    let CodeRedemption::Replayed(replayed) = outcome else {
        panic!("a second redemption must be Replayed, got {outcome:?}");
    };
    assert_eq!(
        replayed.issued,
        Some(first.issued_under(&code.grant_id)),
        "the first redemption's token, to revoke"
    );
    assert_eq!(replayed.redeemed_at, Some(NOW));
    assert_eq!(replayed.client_id, code.client_id);
}

async fn redeemed_code_replayed_after_expiry_is_still_replayed(store: Arc<dyn Store>) {
    let code = new_code(NOW + 60);
    store.insert_code(&code).await.unwrap();
    let first = planned(NOW + 600);
    store
        .redeem_code(&code.code_hash, NOW, &first)
        .await
        .unwrap();
    let outcome = store
        .redeem_code(&code.code_hash, NOW + 120, &planned(NOW + 720))
        .await
        .unwrap();
    let CodeRedemption::Replayed(replayed) = outcome else {
        panic!("a spent code stays Replayed after its expiry, got {outcome:?}");
    };
    assert_eq!(replayed.issued, Some(first.issued_under(&code.grant_id)));
}

async fn expired_code_is_invalid(store: Arc<dyn Store>) {
    let code = new_code(NOW);
    store.insert_code(&code).await.unwrap();
    // `expires_at <= now` is expired.
    let outcome = store
        .redeem_code(&code.code_hash, NOW, &planned(NOW + 600))
        .await
        .unwrap();
    assert_eq!(outcome, CodeRedemption::Invalid);
    let outcome = store
        .redeem_code(&code.code_hash, NOW + 1, &planned(NOW + 600))
        .await
        .unwrap();
    assert_eq!(outcome, CodeRedemption::Invalid);
}

async fn unknown_code_is_invalid(store: Arc<dyn Store>) {
    let unknown = TokenHash::of(random_token().expose());
    let outcome = store
        .redeem_code(&unknown, NOW, &planned(NOW + 600))
        .await
        .unwrap();
    assert_eq!(outcome, CodeRedemption::Invalid);
}

async fn concurrent_code_redemptions_redeem_exactly_once(store: Arc<dyn Store>) {
    let code = new_code(NOW + 60);
    store.insert_code(&code).await.unwrap();
    let hash = code.code_hash.clone();
    let outcomes = race(&store, |store| {
        let hash = hash.clone();
        async move { store.redeem_code(&hash, NOW, &planned(NOW + 600)).await }
    })
    .await;
    let mut winners = Vec::new();
    let mut replays = 0;
    for outcome in outcomes {
        match outcome {
            CodeRedemption::Redeemed(code) => winners.push(code),
            CodeRedemption::Replayed(_) => replays += 1,
            CodeRedemption::Invalid => panic!("a live code raced to Invalid"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of {RACERS} concurrent redemptions wins"
    );
    assert_eq!(replays, RACERS - 1);
    let outcome = store
        .redeem_code(&code.code_hash, NOW, &planned(NOW + 600))
        .await
        .unwrap();
    let CodeRedemption::Replayed(replayed) = outcome else {
        panic!("expected Replayed, got {outcome:?}");
    };
    assert_eq!(
        replayed.issued, winners[0].issued,
        "the winner's token is the one recorded"
    );
    assert_eq!(
        winners[0].issued.as_ref().map(|t| t.grant_id.as_str()),
        Some(code.grant_id.as_str()),
        "under the code's grant"
    );
}

async fn duplicate_code_hash_conflicts(store: Arc<dyn Store>) {
    let code = new_code(NOW + 60);
    store.insert_code(&code).await.unwrap();
    let twin = AuthorizationCode {
        client_id: random_id(),
        grant_id: random_id(),
        ..code.clone()
    };
    let err = store.insert_code(&twin).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::CodeHash)),
        "{err:?}"
    );
    let CodeRedemption::Redeemed(redeemed) = store
        .redeem_code(&code.code_hash, NOW, &planned(NOW + 600))
        .await
        .unwrap()
    else {
        panic!("the first code is still there, unredeemed");
    };
    assert_eq!(redeemed.client_id, code.client_id, "the first code is kept");
}

// ---- revoked access tokens ------------------------------------------------------------------

async fn token_revocation_is_idempotent(store: Arc<dyn Store>) {
    let jti = random_id();
    assert!(!store.is_access_token_revoked(&jti).await.unwrap());
    store
        .revoke_access_token(&jti, NOW + 600, None)
        .await
        .unwrap();
    assert!(store.is_access_token_revoked(&jti).await.unwrap());
    store
        .revoke_access_token(&jti, NOW + 600, None)
        .await
        .unwrap();
    store
        .revoke_access_token(&jti, NOW + 300, Some(&random_id()))
        .await
        .unwrap();
    assert!(store.is_access_token_revoked(&jti).await.unwrap());
    assert!(!store.is_access_token_revoked(&random_id()).await.unwrap());
}

async fn token_revoked_with_its_grant_is_denied(store: Arc<dyn Store>) {
    let grant_id = random_id();
    let jti = random_id();
    store
        .revoke_access_token(&jti, NOW + 10, Some(&grant_id))
        .await
        .unwrap();
    store
        .revoke_access_token(&jti, NOW + 600, Some(&random_id()))
        .await
        .unwrap();
    assert!(store.is_access_token_revoked(&jti).await.unwrap());
    let other = random_id();
    store
        .revoke_access_token(&other, NOW + 10, Some(&grant_id))
        .await
        .unwrap();
    assert!(
        store.is_access_token_revoked(&other).await.unwrap(),
        "entries are by jti: many may share a grant"
    );
}

// ---- sessions -------------------------------------------------------------------------------

async fn session_round_trips(store: Arc<dyn Store>) {
    let session = new_session(&UserId(random_id()), NOW + 3600);
    store.create_session(&session).await.unwrap();
    assert_eq!(
        store.session(&session.id_hash, NOW).await.unwrap(),
        Some(session)
    );
    assert_eq!(
        store.session(&random_token().hash(), NOW).await.unwrap(),
        None
    );
}

async fn expired_session_is_gone(store: Arc<dyn Store>) {
    let session = new_session(&UserId(random_id()), NOW);
    store.create_session(&session).await.unwrap();
    assert!(
        store
            .session(&session.id_hash, NOW - 1)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.session(&session.id_hash, NOW).await.unwrap(), None);
}

async fn session_can_be_deleted(store: Arc<dyn Store>) {
    let session = new_session(&UserId(random_id()), NOW + 3600);
    store.create_session(&session).await.unwrap();
    store.delete_session(&session.id_hash).await.unwrap();
    assert_eq!(store.session(&session.id_hash, NOW).await.unwrap(), None);
    store.delete_session(&session.id_hash).await.unwrap();
}

async fn user_sessions_are_deleted_together(store: Arc<dyn Store>) {
    let user = UserId(random_id());
    let other = UserId(random_id());
    let mine = [
        new_session(&user, NOW + 3600),
        new_session(&user, NOW + 7200),
    ];
    let theirs = new_session(&other, NOW + 3600);
    for session in mine.iter().chain([&theirs]) {
        store.create_session(session).await.unwrap();
    }
    assert_eq!(store.delete_user_sessions(&user).await.unwrap(), 2);
    for session in &mine {
        assert_eq!(store.session(&session.id_hash, NOW).await.unwrap(), None);
    }
    assert_eq!(
        store.session(&theirs.id_hash, NOW).await.unwrap(),
        Some(theirs)
    );
    assert_eq!(store.delete_user_sessions(&user).await.unwrap(), 0);
}

async fn session_touch_records_the_last_use(store: Arc<dyn Store>) {
    let session = new_session(&UserId(random_id()), NOW + 3600);
    store.create_session(&session).await.unwrap();
    assert_eq!(
        store
            .session(&session.id_hash, NOW)
            .await
            .unwrap()
            .map(|s| s.last_seen_at),
        Some(session.created_at),
        "a new session was last seen when it started"
    );
    assert!(store.touch_session(&session.id_hash, NOW).await.unwrap());
    let read = store.session(&session.id_hash, NOW).await.unwrap().unwrap();
    assert_eq!(
        read,
        Session {
            last_seen_at: NOW,
            ..session.clone()
        },
        "only last_seen_at changes"
    );
    // A late, out-of-order touch never moves the last use back.
    assert!(
        store
            .touch_session(&session.id_hash, NOW - 50)
            .await
            .unwrap()
    );
    let read = store.session(&session.id_hash, NOW).await.unwrap().unwrap();
    assert_eq!(read.last_seen_at, NOW);
}

async fn touching_a_missing_or_expired_session_reports_false(store: Arc<dyn Store>) {
    assert!(
        !store
            .touch_session(&random_token().hash(), NOW)
            .await
            .unwrap()
    );
    let session = new_session(&UserId(random_id()), NOW);
    store.create_session(&session).await.unwrap();
    // `expires_at <= now` is expired.
    assert!(!store.touch_session(&session.id_hash, NOW).await.unwrap());
    let read = store
        .session(&session.id_hash, NOW - 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.last_seen_at, session.last_seen_at, "unchanged");
    store.delete_session(&session.id_hash).await.unwrap();
    assert!(
        !store
            .touch_session(&session.id_hash, NOW - 1)
            .await
            .unwrap()
    );
}

async fn duplicate_session_id_conflicts(store: Arc<dyn Store>) {
    let session = new_session(&UserId(random_id()), NOW + 3600);
    store.create_session(&session).await.unwrap();
    let twin = Session {
        user_id: UserId(random_id()),
        ..session.clone()
    };
    let err = store.create_session(&twin).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::SessionId)),
        "{err:?}"
    );
    assert_eq!(
        store.session(&session.id_hash, NOW).await.unwrap(),
        Some(session)
    );
}

// ---- consent --------------------------------------------------------------------------------

async fn consent_grant_creates_then_merges(store: Arc<dyn Store>) {
    let user = UserId(random_id());
    let client_id = random_id();
    assert_eq!(store.consent(&user, &client_id).await.unwrap(), None);
    let first = store
        .grant_consent(&user, &client_id, &scope("openid email"), NOW)
        .await
        .unwrap();
    let expected = Consent {
        user_id: user.clone(),
        client_id: client_id.clone(),
        scopes: scope("openid email"),
        granted_at: NOW,
    };
    assert_eq!(first, expected);
    assert_eq!(
        store.consent(&user, &client_id).await.unwrap(),
        Some(expected)
    );

    // What was approved before stays, in its order; the new scopes follow.
    let merged = store
        .grant_consent(
            &user,
            &client_id,
            &scope("profile openid address"),
            NOW + 60,
        )
        .await
        .unwrap();
    let expected = Consent {
        user_id: user.clone(),
        client_id: client_id.clone(),
        scopes: scope("openid email profile address"),
        granted_at: NOW + 60,
    };
    assert_eq!(merged, expected);
    assert_eq!(
        store.consent(&user, &client_id).await.unwrap(),
        Some(expected.clone())
    );

    // Granting less narrows nothing.
    let again = store
        .grant_consent(&user, &client_id, &scope("email"), NOW + 120)
        .await
        .unwrap();
    assert_eq!(again.scopes, expected.scopes);
    assert_eq!(again.granted_at, NOW + 120);

    assert_eq!(store.consent(&user, &random_id()).await.unwrap(), None);
    assert_eq!(
        store
            .consent(&UserId(random_id()), &client_id)
            .await
            .unwrap(),
        None
    );
}

async fn consent_is_per_user_and_client(store: Arc<dyn Store>) {
    let user = UserId(random_id());
    let other_user = UserId(random_id());
    let client_id = random_id();
    let other_client = random_id();
    store
        .grant_consent(&user, &client_id, &scope("openid"), NOW)
        .await
        .unwrap();
    store
        .grant_consent(&other_user, &client_id, &scope("email"), NOW)
        .await
        .unwrap();
    store
        .grant_consent(&user, &other_client, &scope("profile"), NOW)
        .await
        .unwrap();
    let mine = store.consent(&user, &client_id).await.unwrap().unwrap();
    assert_eq!(mine.scopes, scope("openid"));
}

async fn concurrent_consent_grants_keep_every_scope(store: Arc<dyn Store>) {
    let user = UserId(random_id());
    let client_id = random_id();
    // Each racer approves `openid` and a scope of its own, as two tabs would.
    let next = Arc::new(AtomicUsize::new(0));
    let outcomes = race(&store, |store| {
        let (user, client_id) = (user.clone(), client_id.clone());
        let own = format!("scope{}", next.fetch_add(1, Ordering::SeqCst));
        async move {
            store
                .grant_consent(&user, &client_id, &scope(&format!("openid {own}")), NOW)
                .await
        }
    })
    .await;
    assert_eq!(outcomes.len(), RACERS);
    let stored = store.consent(&user, &client_id).await.unwrap().unwrap();
    let mut tokens: Vec<&str> = stored.scopes.iter().collect();
    tokens.sort_unstable();
    let mut expected: Vec<String> = (0..RACERS).map(|i| format!("scope{i}")).collect();
    expected.push("openid".into());
    expected.sort_unstable();
    assert_eq!(
        tokens, expected,
        "no concurrent grant loses another's scopes"
    );
}

// ---- signing keys ---------------------------------------------------------------------------

async fn signing_keys_are_listed_by_generation(store: Arc<dyn Store>) {
    let generation = fresh_generation();
    let later = SigningKey {
        state: KeyState::Next,
        retires_at: None,
        activates_at: NOW + 3600,
        ..new_key(generation + 1)
    };
    let earlier = SigningKey {
        state: KeyState::Retired,
        ..new_key(generation)
    };
    store.insert_signing_key(&later).await.unwrap();
    store.insert_signing_key(&earlier).await.unwrap();
    let keys = store.signing_keys().await.unwrap();
    assert!(
        keys.windows(2).all(|w| w[0].generation < w[1].generation),
        "keys are listed by increasing generation"
    );
    let earlier_at = position(&keys, |k| k.kid == earlier.kid);
    let later_at = position(&keys, |k| k.kid == later.kid);
    assert!(earlier_at < later_at);
    assert!(
        keys[earlier_at] == earlier,
        "key round trip: {:?}",
        keys[earlier_at]
    );
    assert!(
        keys[later_at] == later,
        "key round trip: {:?}",
        keys[later_at]
    );
}

async fn duplicate_key_generation_or_kid_conflicts(store: Arc<dyn Store>) {
    let key = new_key(fresh_generation());
    store.insert_signing_key(&key).await.unwrap();

    let same_generation = new_key(key.generation);
    let err = store
        .insert_signing_key(&same_generation)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::Generation)),
        "{err:?}"
    );

    let same_kid = SigningKey {
        generation: fresh_generation(),
        ..key.clone()
    };
    let err = store.insert_signing_key(&same_kid).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict(Conflict::Kid)),
        "{err:?}"
    );

    let keys = store.signing_keys().await.unwrap();
    assert_eq!(
        keys.iter()
            .filter(|k| k.generation == key.generation)
            .count(),
        1
    );
}

// ---- login throttling -----------------------------------------------------------------------

async fn throttle_increment_counts_failures(store: Arc<dyn Store>) {
    let key = random_id();
    for expected in 1..=3 {
        let throttle = store.throttle_increment(&key, NOW).await.unwrap();
        assert_eq!(throttle.failures, expected);
        assert_eq!(throttle.locked_until, None);
    }
    let other = store.throttle_increment(&random_id(), NOW).await.unwrap();
    assert_eq!(other.failures, 1, "counters are per key");
}

async fn concurrent_throttle_increments_all_count(store: Arc<dyn Store>) {
    let key = random_id();
    let mut seen: Vec<i64> = race(&store, |store| {
        let key = key.clone();
        async move { store.throttle_increment(&key, NOW).await }
    })
    .await
    .iter()
    .map(|throttle| throttle.failures)
    .collect();
    seen.sort_unstable();
    let expected: Vec<i64> = (1..=RACERS as i64).collect();
    assert_eq!(
        seen, expected,
        "every concurrent failure counts, each sees its own count"
    );
    let after = store.throttle_increment(&key, NOW).await.unwrap();
    assert_eq!(after.failures, RACERS as i64 + 1);
}

async fn throttle_lock_has_exactly_one_winner(store: Arc<dyn Store>) {
    let key = random_id();
    store.throttle_increment(&key, NOW).await.unwrap();
    let outcomes = race(&store, |store| {
        let key = key.clone();
        async move { store.throttle_try_lock(&key, NOW, NOW + 60).await }
    })
    .await;
    let winners = outcomes.iter().filter(|won| **won).count();
    assert_eq!(
        winners, 1,
        "exactly one of {RACERS} concurrent lockers wins"
    );
    let throttle = store.throttle_increment(&key, NOW).await.unwrap();
    assert_eq!(throttle.locked_until, Some(NOW + 60));
    assert_eq!(throttle.failures, 2);
}

async fn throttle_is_not_lockable_while_locked(store: Arc<dyn Store>) {
    let key = random_id();
    store.throttle_increment(&key, NOW).await.unwrap();
    assert!(store.throttle_try_lock(&key, NOW, NOW + 60).await.unwrap());
    assert!(
        !store
            .throttle_try_lock(&key, NOW + 59, NOW + 200)
            .await
            .unwrap()
    );
    let throttle = store.throttle_increment(&key, NOW + 59).await.unwrap();
    assert_eq!(
        throttle.locked_until,
        Some(NOW + 60),
        "a refused lock changes nothing"
    );
    // `locked_until <= now` is unlocked.
    assert!(
        store
            .throttle_try_lock(&key, NOW + 60, NOW + 180)
            .await
            .unwrap()
    );
    let throttle = store.throttle_increment(&key, NOW + 61).await.unwrap();
    assert_eq!(throttle.locked_until, Some(NOW + 180));
    assert_eq!(throttle.failures, 3, "locking does not reset the count");
}

async fn throttle_lock_creates_a_missing_counter(store: Arc<dyn Store>) {
    let key = random_id();
    assert!(store.throttle_try_lock(&key, NOW, NOW + 30).await.unwrap());
    assert!(
        !store.throttle_try_lock(&key, NOW, NOW + 90).await.unwrap(),
        "the created counter is locked"
    );
    let throttle = store.throttle_increment(&key, NOW).await.unwrap();
    assert_eq!(throttle.locked_until, Some(NOW + 30));
    assert_eq!(throttle.failures, 1, "created with no failures counted");
}

async fn throttle_clear_forgets_the_counter(store: Arc<dyn Store>) {
    let key = random_id();
    store.throttle_increment(&key, NOW).await.unwrap();
    store.throttle_increment(&key, NOW).await.unwrap();
    assert!(store.throttle_try_lock(&key, NOW, NOW + 60).await.unwrap());
    store.throttle_clear(&key).await.unwrap();
    let throttle = store.throttle_increment(&key, NOW).await.unwrap();
    assert_eq!(throttle.failures, 1);
    assert_eq!(throttle.locked_until, None);
    store.throttle_clear(&random_id()).await.unwrap();
}

// ---- expiry ---------------------------------------------------------------------------------

async fn purge_removes_expired_rows_only(store: Arc<dyn Store>) {
    let before = NOW - 1000;
    let idle_before = NOW - 3600;

    // Codes: a spent code stays while the token it issued lives, so a replay can revoke it.
    let spent_and_done = new_code(NOW - 10);
    let spent_token_live = new_code(NOW - 10);
    let live_code = new_code(NOW + 60);
    let expired_code = new_code(NOW);
    for code in [
        &spent_and_done,
        &spent_token_live,
        &live_code,
        &expired_code,
    ] {
        store.insert_code(code).await.unwrap();
    }
    let done_token = planned(NOW);
    let live_token = planned(NOW + 600);
    store
        .redeem_code(&spent_and_done.code_hash, before, &done_token)
        .await
        .unwrap();
    store
        .redeem_code(&spent_token_live.code_hash, before, &live_token)
        .await
        .unwrap();

    let expired_request = new_request(NOW);
    let live_request = new_request(NOW + 1);
    store
        .put_authorization_request(&expired_request)
        .await
        .unwrap();
    store
        .put_authorization_request(&live_request)
        .await
        .unwrap();

    let user = UserId(random_id());
    let expired_session = new_session(&user, NOW);
    let live_session = new_session(&user, NOW + 1);
    store.create_session(&expired_session).await.unwrap();
    store.create_session(&live_session).await.unwrap();

    let expired_jti = random_id();
    let live_jti = random_id();
    store
        .revoke_access_token(&expired_jti, NOW, None)
        .await
        .unwrap();
    store
        .revoke_access_token(&live_jti, NOW + 1, Some(&random_id()))
        .await
        .unwrap();

    let idle_throttle = random_id();
    let idle_but_locked = random_id();
    let busy_throttle = random_id();
    store
        .throttle_increment(&idle_throttle, idle_before - 1)
        .await
        .unwrap();
    store
        .throttle_increment(&idle_but_locked, idle_before - 1)
        .await
        .unwrap();
    assert!(
        store
            .throttle_try_lock(&idle_but_locked, idle_before - 1, NOW + 60)
            .await
            .unwrap()
    );
    store
        .throttle_increment(&busy_throttle, idle_before)
        .await
        .unwrap();

    let purged = store.purge_expired(NOW, idle_before).await.unwrap();
    // Other tests' expired rows may go too; ours are at least these six.
    assert!(purged >= 6, "purged {purged} rows, expected at least 6");

    let probe = planned(NOW + 600);
    let outcome = store
        .redeem_code(&spent_and_done.code_hash, NOW, &probe)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        CodeRedemption::Invalid,
        "a spent code whose token expired is purged"
    );
    let outcome = store
        .redeem_code(&spent_token_live.code_hash, NOW, &probe)
        .await
        .unwrap();
    assert!(
        matches!(outcome, CodeRedemption::Replayed(_)),
        "{outcome:?}"
    );
    let outcome = store
        .redeem_code(&live_code.code_hash, NOW, &probe)
        .await
        .unwrap();
    assert!(
        matches!(outcome, CodeRedemption::Redeemed(_)),
        "{outcome:?}"
    );

    assert_eq!(
        store
            .authorization_request(&expired_request.id, before)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .authorization_request(&live_request.id, NOW)
            .await
            .unwrap()
            .is_some()
    );

    assert_eq!(
        store
            .session(&expired_session.id_hash, before)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .session(&live_session.id_hash, NOW)
            .await
            .unwrap()
            .is_some()
    );

    assert!(!store.is_access_token_revoked(&expired_jti).await.unwrap());
    assert!(store.is_access_token_revoked(&live_jti).await.unwrap());

    let t = store.throttle_increment(&idle_throttle, NOW).await.unwrap();
    assert_eq!(t.failures, 1, "an idle throttle is purged");
    let t = store
        .throttle_increment(&idle_but_locked, NOW)
        .await
        .unwrap();
    assert_eq!(t.failures, 2, "a throttle still locked is kept");
    let t = store.throttle_increment(&busy_throttle, NOW).await.unwrap();
    assert_eq!(t.failures, 2, "a throttle updated at the cut-off is kept");
}

// ---- injection ------------------------------------------------------------------------------

/// Strings shaped like MongoDB query operators, as an attacker would type them into a form or a
/// token request. A store must treat each as the literal string it is.
const OPERATOR_SHAPED: &[&str] = &[
    r#"{"$ne": ""}"#,
    r#"{"$ne": null}"#,
    r#"{"$gt": ""}"#,
    r#"{"$regex": ".*"}"#,
    r#"{"$where": "return true"}"#,
    "$where",
    "$ne",
    "this.email != ''",
    "'; return true; var x='",
    ".*",
];

async fn operator_shaped_input_matches_nothing(store: Arc<dyn Store>) {
    // Something real to match, were a string ever read as an operator.
    let user = new_user(NOW);
    store.create_user(&user).await.unwrap();
    let client = new_client(false, NOW);
    store.create_client(&client).await.unwrap();
    let code = new_code(NOW + 600);
    store.insert_code(&code).await.unwrap();
    let session = new_session(&user.id, NOW + 3600);
    store.create_session(&session).await.unwrap();
    let request = new_request(NOW + 600);
    store.put_authorization_request(&request).await.unwrap();
    let jti = random_id();
    store
        .revoke_access_token(&jti, NOW + 600, None)
        .await
        .unwrap();
    store
        .grant_consent(&user.id, &client.client_id, &scope("openid"), NOW)
        .await
        .unwrap();

    for &input in OPERATOR_SHAPED {
        let what = format!("operator-shaped input {input:?}");
        let id = UserId(input.into());
        assert_eq!(store.user_by_email(input).await.unwrap(), None, "{what}");
        assert_eq!(store.user_by_id(&id).await.unwrap(), None, "{what}");
        assert_eq!(store.client(input).await.unwrap(), None, "{what}");
        assert!(!store.delete_client(input).await.unwrap(), "{what}");
        assert!(!store.enable_user(&id).await.unwrap(), "{what}");
        assert_eq!(store.disable_user(&id).await.unwrap(), None, "{what}");
        let hash = TokenHash::from_stored(input);
        let outcome = store
            .redeem_code(&hash, NOW, &planned(NOW + 600))
            .await
            .unwrap();
        assert_eq!(outcome, CodeRedemption::Invalid, "{what}");
        assert_eq!(store.session(&hash, NOW).await.unwrap(), None, "{what}");
        assert!(!store.touch_session(&hash, NOW).await.unwrap(), "{what}");
        assert_eq!(
            store.authorization_request(input, NOW).await.unwrap(),
            None,
            "{what}"
        );
        assert_eq!(
            store.take_authorization_request(input, NOW).await.unwrap(),
            None,
            "{what}"
        );
        assert!(
            !store.is_access_token_revoked(input).await.unwrap(),
            "{what}"
        );
        assert_eq!(store.consent(&id, input).await.unwrap(), None, "{what}");
        assert_eq!(
            store.consent(&user.id, input).await.unwrap(),
            None,
            "{what}"
        );
        assert_eq!(store.delete_user_sessions(&id).await.unwrap(), 0, "{what}");
    }

    // Nothing real was touched.
    assert_eq!(
        store.user_by_id(&user.id).await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.client(&client.client_id).await.unwrap(), Some(client));
    assert_eq!(
        store.session(&session.id_hash, NOW).await.unwrap(),
        Some(session)
    );
    assert_eq!(
        store.authorization_request(&request.id, NOW).await.unwrap(),
        Some(request)
    );
    assert!(store.is_access_token_revoked(&jti).await.unwrap());
    let outcome = store
        .redeem_code(&code.code_hash, NOW, &planned(NOW + 600))
        .await
        .unwrap();
    assert!(
        matches!(outcome, CodeRedemption::Redeemed(_)),
        "{outcome:?}"
    );

    // As values of their own, operator-shaped strings are ordinary, separate keys.
    let first = store
        .throttle_increment(OPERATOR_SHAPED[0], NOW)
        .await
        .unwrap();
    let second = store
        .throttle_increment(OPERATOR_SHAPED[1], NOW)
        .await
        .unwrap();
    assert!(first.failures >= 1 && second.failures >= 1);
    store.throttle_clear(OPERATOR_SHAPED[0]).await.unwrap();
    store.throttle_clear(OPERATOR_SHAPED[1]).await.unwrap();
    let odd = User {
        id: UserId(format!(r#"{{"$ne": ""}}{}"#, random_id())),
        email: format!(r#"{{"$ne": ""}}{}@example.com"#, random_id()),
        ..new_user(NOW)
    };
    store.create_user(&odd).await.unwrap();
    assert_eq!(
        store.user_by_email(&odd.email).await.unwrap(),
        Some(odd.clone())
    );
    assert_eq!(store.user_by_id(&odd.id).await.unwrap(), Some(odd));
}

async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
}
