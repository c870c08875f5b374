//! The storage interface. Narrow traits, bundled by [`Store`]; "not found" is `Ok(None)`.
//! Backends make no policy decisions: lifetimes and limits arrive as arguments.
//!
//! One event, one store operation: where an event changes more than one thing (a code redeemed
//! and the token it yields recorded; a user disabled and their sessions ended), the trait has
//! one method for it, and its doc says how a backend keeps it atomic. Every such operation is
//! designed to need no multi-document transaction on MongoDB: each is one single-document
//! atomic write, or a first write that is safe on its own followed by idempotent clean-up.

use crate::clock::UnixTime;
use crate::model::{
    Api, AuditQuery, AuditRecord, AuthorizationCode, AuthorizationRequest, Client, ClientApi,
    CodeRedemption, Consent, KeyState, KeyUsage, OutboxCounts, OutboxItem, OutboxStatus,
    PlannedToken, RefreshFamily, RefreshRotation, ResetToken, Scope, Session, SigningKey, Throttle,
    User, UserId,
};
use crate::secret::TokenHash;
use async_trait::async_trait;
use std::sync::Arc;

mod connect;
pub mod mongo;
pub mod sqlite;

pub use connect::{open_patiently, redacted_url};

/// Which uniqueness rule a write broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conflict {
    /// A user with this email exists.
    Email,
    /// A user with this id exists.
    UserId,
    /// A client with this `client_id` exists.
    ClientId,
    /// A signing key with this `kid` exists.
    Kid,
    /// A signing key of this generation exists: another instance wrote it first.
    Generation,
    /// A session with this id hash exists.
    SessionId,
    /// A code with this hash exists.
    CodeHash,
    /// A pending authorization request with this id exists.
    RequestId,
    /// An API with this identifier exists.
    ApiIdentifier,
    /// Another uniqueness rule (a backend's own).
    Other,
}

impl Conflict {
    /// The field's name, for messages.
    pub fn field(self) -> &'static str {
        match self {
            Conflict::Email => "email",
            Conflict::UserId => "user id",
            Conflict::ClientId => "client_id",
            Conflict::Kid => "kid",
            Conflict::Generation => "key generation",
            Conflict::SessionId => "session id",
            Conflict::CodeHash => "code",
            Conflict::RequestId => "authorization request id",
            Conflict::ApiIdentifier => "API identifier",
            Conflict::Other => "record",
        }
    }
}

impl std::fmt::Display for Conflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.field())
    }
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken.
    #[error("{0} already exists")]
    Conflict(Conflict),
    /// The URL names no backend we have, or is malformed.
    #[error("unsupported database URL: {0}")]
    UnsupportedUrl(String),
    /// Stored data could not be read back (corrupt or from a newer version).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The database itself failed.
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database cannot be reached or cannot serve right now (connection refused, no
    /// server selectable, pool timed out, file unopenable, I/O error, locked too long): an
    /// outage that may end by itself, answered with 503, never with a 500.
    #[error("{0}")]
    Unavailable(#[from] Unavailable),
}

/// The cause of [`StoreError::Unavailable`], kept as its own type so that the HTTP layer can
/// find it in any error's `source()` chain, however many layers wrap it.
#[derive(Debug, thiserror::Error)]
#[error("the database is unavailable: {0}")]
pub struct Unavailable(#[source] pub Box<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// A [`StoreError::Unavailable`] caused by `error`.
    pub fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Unavailable(Unavailable(Box::new(error)))
    }
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Users (people who log in).
#[async_trait]
pub trait UserStore {
    /// Inserts a user; [`Conflict::Email`] if the email is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// Looks up by id.
    async fn user_by_id(&self, id: &UserId) -> StoreResult<Option<User>>;
    /// Looks up by normalised email.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// All users, oldest first.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Clears the disabled flag; `false` if no such user. Disabling is
    /// [`UserStore::disable_user`], which also ends the user's sessions: there is no second way.
    async fn enable_user(&self, id: &UserId) -> StoreResult<bool>;
    /// Disables the user and ends every session of theirs, as one operation. Returns how many
    /// sessions ended, or `None` if there is no such user. Idempotent: disabling a disabled
    /// user ends any session left and reports it.
    ///
    /// Atomicity: SQLite does both writes in one transaction. MongoDB writes the user first,
    /// then deletes the sessions: the user write alone is already safe, because every use of
    /// a session re-checks that its user is active ([`User::is_active`]), so the session
    /// delete is idempotent clean-up that a retry (or the sessions' own expiry) completes.
    async fn disable_user(&self, id: &UserId) -> StoreResult<Option<u64>>;
    /// Replaces the password hash (rehash on login, change, reset); `false` if no such user.
    async fn set_password_hash(
        &self,
        id: &UserId,
        password_hash: &str,
        changed_at: UnixTime,
    ) -> StoreResult<bool>;
}

/// Registered clients.
#[async_trait]
pub trait ClientStore {
    /// Inserts a client; [`Conflict::ClientId`] if taken.
    async fn create_client(&self, client: &Client) -> StoreResult<()>;
    /// Looks up by `client_id`.
    async fn client(&self, client_id: &str) -> StoreResult<Option<Client>>;
    /// All clients, oldest first.
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// `false` if no such client.
    async fn delete_client(&self, client_id: &str) -> StoreResult<bool>;
}

/// Pending `/authorize` requests.
#[async_trait]
pub trait AuthorizationRequestStore {
    /// Inserts or replaces the request with this id.
    async fn put_authorization_request(&self, request: &AuthorizationRequest) -> StoreResult<()>;
    /// The request if it exists and `expires_at > now`.
    async fn authorization_request(
        &self,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<AuthorizationRequest>>;
    /// Atomically removes the request and returns it if it existed and `expires_at > now`: of
    /// any number of concurrent callers, at most one gets it (one request, one code).
    async fn take_authorization_request(
        &self,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<AuthorizationRequest>>;
}

/// Authorization codes, redeemed atomically.
#[async_trait]
pub trait CodeStore {
    /// Inserts a freshly issued code (unredeemed, nothing issued yet).
    async fn insert_code(&self, code: &AuthorizationCode) -> StoreResult<()>;
    /// Redeems a code (RFC 6749 §4.1.2: single use), recording what the redemption issues.
    ///
    /// If the code exists, is unredeemed and `expires_at > now`, it is marked redeemed at `now`
    /// and `access_token` is recorded against it under the code's `grant_id`, in one write →
    /// `Redeemed` (the code as now stored). An already redeemed code → `Replayed` (with what
    /// the first redemption issued, so the caller can revoke it). Otherwise `Invalid`. Of any
    /// number of concurrent calls for one code, exactly one gets `Redeemed`.
    ///
    /// Atomicity: SQLite does it in one `UPDATE … RETURNING`; MongoDB in one
    /// `find_one_and_update` filtered on the hash, `redeemed_at: null` and `expires_at > now`.
    /// Only when that matches nothing, a plain read of the code tells `Replayed` from
    /// `Invalid` (a redeemed code never changes again, so that read cannot race).
    async fn redeem_code(
        &self,
        code_hash: &TokenHash,
        now: UnixTime,
        access_token: &PlannedToken,
    ) -> StoreResult<CodeRedemption>;
}

/// The access-token deny-list: access tokens are self-contained JWTs, so revoking one means
/// remembering its `jti` until the token would have expired anyway.
#[async_trait]
pub trait AccessTokenDenyList {
    /// Denies the token `jti` until `expires_at` (the token's own `exp`), noting the grant it
    /// was issued under, if any; idempotent (a repeat keeps the later expiry, and the grant id
    /// once one is recorded). One upsert on the `jti`.
    async fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: UnixTime,
        grant_id: Option<&str>,
    ) -> StoreResult<()>;
    /// Whether `jti` is on the deny-list.
    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool>;
}

/// Refresh-token families (RFC 9700 §4.14.2), one record per grant. Implemented in
/// `sqlite/refresh.rs` and `mongo/refresh.rs`.
#[async_trait]
pub trait RefreshTokenStore {
    /// Inserts a new family (at a code redemption); [`Conflict::Other`] if the grant has one.
    async fn insert_refresh_family(&self, family: &RefreshFamily) -> StoreResult<()>;
    /// The family that ever held the token with this hash (current or rotated away), whatever
    /// its state: the caller tells redemption, retry and reuse apart.
    async fn refresh_family_by_token(
        &self,
        token_hash: &TokenHash,
    ) -> StoreResult<Option<RefreshFamily>>;
    /// Rotates the family's current token: if `presented` is still its current token, the
    /// family is not revoked and neither lifetime has passed at `now`, the rotation's token
    /// becomes current (and is added to the family's tokens) and its retry pair replaces the
    /// last → the family as now stored. Otherwise nothing changes → `None`. Of any number of
    /// concurrent rotations of one token, exactly one succeeds.
    ///
    /// Atomicity: SQLite does it in one conditional `UPDATE … RETURNING` (plus the insert of
    /// the new token's hash, in the same transaction); MongoDB in one `find_one_and_update`
    /// filtered on the current hash, `revoked_at: null` and both expiries.
    async fn rotate_refresh_token(
        &self,
        grant_id: &str,
        presented: &TokenHash,
        rotation: &RefreshRotation,
        now: UnixTime,
    ) -> StoreResult<Option<RefreshFamily>>;
    /// Revokes the family of `grant_id` at `now` (the first revocation time is kept) and drops
    /// its sealed retry pair; `false` if there is no such family. Idempotent; one write.
    async fn revoke_refresh_family(&self, grant_id: &str, now: UnixTime) -> StoreResult<bool>;
    /// Revokes (as [`RefreshTokenStore::revoke_refresh_family`]) every live family of
    /// `user_id`; returns their grant ids, so the caller can deny their access tokens.
    async fn revoke_user_refresh_families(
        &self,
        user_id: &UserId,
        now: UnixTime,
    ) -> StoreResult<Vec<String>>;
    /// Revokes every family bound to the session `sid` that was not issued for
    /// `offline_access` (logout ends them); returns their grant ids.
    async fn revoke_session_refresh_families(
        &self,
        sid: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<String>>;
    /// The grants the codes redeemed in session `sid` started (still stored: a redeemed code is
    /// kept while the access token it issued lives), each with its granted scope, so that
    /// logout can deny the session's access tokens.
    async fn session_code_grants(&self, sid: &str) -> StoreResult<Vec<(String, Scope)>>;
}

/// The deny-list by grant: every access token carrying a grant id (its `gid` claim) is denied
/// once its grant is. Entries live in the access-token deny-list, so purging and backends stay
/// one mechanism. Implemented beside the refresh-token store.
#[async_trait]
pub trait GrantDenyList {
    /// Denies every access token of `grant_id` until `until` (later than any of them can
    /// expire); idempotent, a repeat keeps the later time.
    async fn deny_grant(&self, grant_id: &str, until: UnixTime) -> StoreResult<()>;
    /// Whether the token `jti` is denied, by its own entry or, given its grant, by any entry
    /// naming that grant (a grant denial, or a token revoked together with its grant).
    async fn is_access_token_denied(&self, jti: &str, grant_id: Option<&str>) -> StoreResult<bool>;
}

/// IdP browser sessions.
#[async_trait]
pub trait SessionStore {
    /// Inserts a new session.
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// The session if it exists and `expires_at > now`.
    async fn session(&self, id_hash: &TokenHash, now: UnixTime) -> StoreResult<Option<Session>>;
    /// Records that the session was used at `now` (for the idle timeout): `last_seen_at`
    /// becomes `now`, never earlier than it was. `false` if there is no such session with
    /// `expires_at > now`. One conditional update of the session.
    async fn touch_session(&self, id_hash: &TokenHash, now: UnixTime) -> StoreResult<bool>;
    /// Ends one session; idempotent.
    async fn delete_session(&self, id_hash: &TokenHash) -> StoreResult<()>;
    /// Ends every session of a user; returns how many.
    async fn delete_user_sessions(&self, user_id: &UserId) -> StoreResult<u64>;
}

/// Remembered consent.
#[async_trait]
pub trait ConsentStore {
    /// What `user_id` has approved for `client_id`, if anything.
    async fn consent(&self, user_id: &UserId, client_id: &str) -> StoreResult<Option<Consent>>;
    /// Adds `scopes` to what `user_id` has approved for `client_id` (creating the consent if
    /// there is none), sets `granted_at = now`, and returns the consent as stored: the scopes
    /// approved before, in their order, then the new ones. Concurrent grants all count.
    ///
    /// Atomicity: SQLite does it in one upsert statement that merges the lists; MongoDB with one
    /// `find_one_and_update` (`$addToSet: {scopes: {$each: …}}`) on the existing document, or
    /// an insert when there is none, whose loser in an insert race goes back to the update:
    /// every step is one atomic document operation.
    async fn grant_consent(
        &self,
        user_id: &UserId,
        client_id: &str,
        scopes: &Scope,
        now: UnixTime,
    ) -> StoreResult<Consent>;
}

/// Signing keys, their lifecycle and their usage counters.
///
/// Every change is one conditional single-record write, so any number of instances (and the
/// operator's CLI) may race on it without a leader: a key is created by an insert on its unique
/// generation (of racing creators, one wins, the others get [`Conflict::Generation`]), and a
/// state moves only from the state its caller saw.
#[async_trait]
pub trait KeyStore {
    /// Inserts a key; [`Conflict::Generation`] if another instance already wrote this
    /// generation, [`Conflict::Kid`] for a duplicate kid.
    async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()>;
    /// All keys, by generation.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>>;
    /// Moves the key `kid` to `to` if its state is one of `from`, setting `activates_at` and
    /// `retires_at` where given; `true` if this call moved it. Of racing callers, one wins.
    async fn transition_signing_key(
        &self,
        kid: &str,
        from: &[KeyState],
        to: KeyState,
        activates_at: Option<UnixTime>,
        retires_at: Option<UnixTime>,
    ) -> StoreResult<bool>;
    /// Whether the key `kid` is stored as revoked (one lookup by kid; the bearer check asks it
    /// so that a revocation takes effect at once on every instance).
    async fn is_signing_key_revoked(&self, kid: &str) -> StoreResult<bool>;
    /// Deletes the key `kid` if its state is `state`; `true` if this call deleted it.
    async fn delete_signing_key(&self, kid: &str, state: KeyState) -> StoreResult<bool>;
    /// First step of a rewrap: stores `rewrapped` (the private key sealed under the new KEK)
    /// beside the key's blob, if that blob is still `current`; `true` if stored. The key stays
    /// readable under the old KEK (its blob) and the new one (the staged blob).
    async fn stage_rewrapped_key(
        &self,
        kid: &str,
        current: &[u8],
        rewrapped: &[u8],
    ) -> StoreResult<bool>;
    /// Second step: the staged blob replaces the key's blob and the staging is cleared, in one
    /// write, if the staged blob is still `rewrapped`; `true` if this call did it.
    async fn commit_rewrapped_key(&self, kid: &str, rewrapped: &[u8]) -> StoreResult<bool>;
    /// Adds `uses` to the usage counter of `kid` (creating it) and moves its `last_seen_at`
    /// forward to `seen_at` (never back): one atomic upsert, so concurrent flushes all count.
    async fn record_key_usage(&self, kid: &str, uses: i64, seen_at: UnixTime) -> StoreResult<()>;
    /// Every usage counter.
    async fn key_usage(&self) -> StoreResult<Vec<KeyUsage>>;
}

/// Login throttling counters, keyed by an opaque string (e.g. a hashed email).
#[async_trait]
pub trait ThrottleStore {
    /// Atomically adds one failure (creating the counter) and returns the new state.
    async fn throttle_increment(&self, key: &str, now: UnixTime) -> StoreResult<Throttle>;
    /// Atomically sets `locked_until = until` if the counter is not locked at `now`; `true` if
    /// this call set it. Of concurrent callers, one wins.
    async fn throttle_try_lock(
        &self,
        key: &str,
        now: UnixTime,
        until: UnixTime,
    ) -> StoreResult<bool>;
    /// Forgets the counter (after a successful login).
    async fn throttle_clear(&self, key: &str) -> StoreResult<()>;
}

/// Reading a login-throttling counter without counting anything: whether an account is locked
/// is decided before its password is checked, and only a wrong password counts.
#[async_trait]
pub trait ThrottleStateStore {
    /// The counter under `key` as stored, or `None` if there is none (never failed, or cleared).
    async fn throttle_state(&self, key: &str) -> StoreResult<Option<Throttle>>;
}

/// The durable delivery queue (DESIGN.md §2 `outbox/`), generic over what it delivers: the
/// store keeps items and their leases; when to retry and when to give up is the caller's
/// policy, passed in as times.
#[async_trait]
pub trait Outbox {
    /// Inserts a queued item.
    async fn enqueue(&self, item: &OutboxItem) -> StoreResult<()>;
    /// Claims the queued item of `kind` that is due first (`next_attempt_at <= now`, no lease
    /// or an expired one): leases it to `claim` until `lease_until`, counts one attempt, and
    /// returns it as stored now. Of any number of concurrent claimers, exactly one gets an
    /// item; a lease that has run out lets another claim it.
    ///
    /// Atomicity: SQLite does it in one `UPDATE … RETURNING`; MongoDB in one
    /// `find_one_and_update` filtered on the same conditions.
    async fn claim_due(
        &self,
        kind: &str,
        now: UnixTime,
        lease_until: UnixTime,
        claim: &str,
    ) -> StoreResult<Option<OutboxItem>>;
    /// Ends the item held by `claim` as `Sent` or `Failed` at `now` (with `error` for a
    /// failure), erases its payload and keeps it until `keep_until`. `false` if `claim` no
    /// longer holds it (its lease ran out and another worker claimed it).
    async fn finish(
        &self,
        id: &str,
        claim: &str,
        status: OutboxStatus,
        error: Option<&str>,
        now: UnixTime,
        keep_until: UnixTime,
    ) -> StoreResult<bool>;
    /// Puts the item held by `claim` back in the queue, due at `next_attempt_at`, noting the
    /// error and releasing the lease. `false` if `claim` no longer holds it.
    async fn reschedule(
        &self,
        id: &str,
        claim: &str,
        next_attempt_at: UnixTime,
        error: &str,
    ) -> StoreResult<bool>;
    /// One item by id.
    async fn outbox_item(&self, id: &str) -> StoreResult<Option<OutboxItem>>;
    /// How many items of `kind` are queued, sent and failed.
    async fn outbox_counts(&self, kind: &str) -> StoreResult<OutboxCounts>;
    /// The newest `limit` items of `kind`, newest first.
    async fn list_outbox(&self, kind: &str, limit: u32) -> StoreResult<Vec<OutboxItem>>;
}

/// Password-reset tokens (stored as SHA-256 hashes), and the two events of a reset.
#[async_trait]
pub trait ResetStore {
    /// Records a new reset request as one operation: every older token of the user is voided,
    /// `token` is stored, and `mail` (the message carrying the link) is enqueued.
    ///
    /// Atomicity: SQLite does the three writes in one transaction. MongoDB inserts the token
    /// first (safe alone: an unused token that expires), then deletes the user's other tokens
    /// and enqueues the mail, each an idempotent follow-up (an insert of the same item again is
    /// not an error). If it fails between steps, the caller (the outbox worker handling the
    /// request) retries with a new token, whose step 2 deletes the orphan.
    async fn request_reset(&self, token: &ResetToken, mail: &OutboxItem) -> StoreResult<()>;
    /// The token if it exists, `expires_at > now`, and the user's password has not changed
    /// since it was issued (any password change voids older tokens).
    async fn reset_token(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
    ) -> StoreResult<Option<ResetToken>>;
    /// Completes a reset as one operation, if the token is still valid ([`ResetStore::reset_token`]):
    /// takes the token (single use: of concurrent callers one wins), sets the user's password
    /// hash with `password_changed_at = now` and `email_verified`, voids the user's other
    /// tokens, forgets the login throttle `throttle_key`, ends every session of the user, and
    /// enqueues `notice` (the "your password was changed" mail). Returns the user's id, or
    /// `None` if the token was not valid (nothing changed).
    ///
    /// Atomicity: SQLite does it in one transaction. MongoDB takes the token with one
    /// `find_one_and_delete` (the single-use step), then writes the user, then ends the
    /// sessions, clears the throttle and enqueues the notice, each an idempotent follow-up.
    async fn complete_reset(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
        password_hash: &str,
        throttle_key: &str,
        notice: &OutboxItem,
    ) -> StoreResult<Option<UserId>>;
}

/// Registered APIs (resource servers) and which of their scopes each client may ask for.
/// Implemented in `sqlite/apis.rs` and `mongo/apis.rs`.
#[async_trait]
pub trait ApiStore {
    /// Inserts an API; [`Conflict::ApiIdentifier`] if one with its identifier exists.
    async fn create_api(&self, api: &Api) -> StoreResult<()>;
    /// Looks up by identifier (exact match).
    async fn api(&self, identifier: &str) -> StoreResult<Option<Api>>;
    /// All APIs, oldest first.
    async fn list_apis(&self) -> StoreResult<Vec<Api>>;
    /// Deletes the API and every client's permission for it; `false` if no such API.
    ///
    /// Atomicity: SQLite does both in one transaction. MongoDB deletes the API first, then the
    /// permissions: a permission naming a deleted API grants nothing (the API is looked up on
    /// every use), so the second delete is idempotent clean-up.
    async fn delete_api(&self, identifier: &str) -> StoreResult<bool>;
    /// Sets which scopes of `allowed.api` the client `allowed.client_id` may ask for,
    /// replacing what was set before for that pair (one upsert).
    async fn allow_client_api(&self, allowed: &ClientApi) -> StoreResult<()>;
    /// Every API permission of `client_id`, by API identifier.
    async fn client_apis(&self, client_id: &str) -> StoreResult<Vec<ClientApi>>;
}

/// What operators do to a person's or a client's sessions and grants (`sesame user sessions`,
/// `sesame user logout`, `sesame client revoke-tokens`). Implemented in `sqlite/operators.rs`
/// and `mongo/operators.rs`.
#[async_trait]
pub trait OperatorStore {
    /// The sessions of `user_id` with `expires_at > now`, oldest first.
    async fn sessions_of_user(&self, user_id: &UserId, now: UnixTime) -> StoreResult<Vec<Session>>;
    /// The grants the redeemed codes of `user_id` started (a redeemed code is kept while the
    /// access token it issued lives), so that every access token of theirs can be denied.
    async fn user_code_grants(&self, user_id: &UserId) -> StoreResult<Vec<String>>;
    /// Revokes (as [`RefreshTokenStore::revoke_refresh_family`]) every live family of
    /// `client_id`; returns their grant ids, so the caller can deny their access tokens.
    async fn revoke_client_refresh_families(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> StoreResult<Vec<String>>;
    /// The grants the redeemed codes of `client_id` started.
    async fn client_code_grants(&self, client_id: &str) -> StoreResult<Vec<String>>;
}

/// Back-channel logout (issue 8): which clients took part in a session, so that ending it can
/// notify each one that registered a `backchannel_logout_uri`.
#[async_trait]
pub trait SessionClientsStore {
    /// The distinct client ids that redeemed a code issued in session `sid`, or hold a refresh
    /// family started in it; sorted. Read from the codes and families as stored (a redeemed
    /// code is kept while the access token it issued lives; a family while it lives).
    async fn session_clients(&self, sid: &str) -> StoreResult<Vec<String>>;
}

/// The audit trail (issue 10): security events, appended and never changed, read by user,
/// client and time, deleted after their retention. Implemented in `sqlite/audit.rs` and
/// `mongo/audit.rs` (where a TTL index on the entry's expiry also deletes it).
#[async_trait]
pub trait AuditStore {
    /// Appends one entry; one insert.
    async fn append_audit(&self, record: &AuditRecord) -> StoreResult<()>;
    /// The entries matching `query`, oldest first (the newest `query.limit` of them when a
    /// limit is given); entries recorded at the same second keep their order of appending.
    async fn audit_entries(&self, query: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// Deletes the entries recorded before `before` (now minus the retention) or whose own
    /// expiry has passed at `now`; returns how many went.
    async fn purge_audit(&self, before: UnixTime, now: UnixTime) -> StoreResult<u64>;
}

/// Everything Sesame stores.
#[async_trait]
pub trait Store:
    UserStore
    + ClientStore
    + AuthorizationRequestStore
    + CodeStore
    + AccessTokenDenyList
    + SessionStore
    + ConsentStore
    + KeyStore
    + ThrottleStore
    + ThrottleStateStore
    + RefreshTokenStore
    + GrantDenyList
    + Outbox
    + ResetStore
    + ApiStore
    + OperatorStore
    + SessionClientsStore
    + AuditStore
    + Send
    + Sync
{
    /// Deletes expired codes, requests, sessions, deny-list entries, reset tokens, finished
    /// outbox items past their retention, and throttles idle since `throttle_idle_before`;
    /// returns how many rows went.
    async fn purge_expired(
        &self,
        now: UnixTime,
        throttle_idle_before: UnixTime,
    ) -> StoreResult<u64>;
    /// A cheap round trip, for readiness.
    async fn ping(&self) -> StoreResult<()>;
}

/// The backends this build has.
enum Backend {
    Sqlite,
    Mongo,
}

/// Which backend `url` names, checked without opening anything.
fn backend_of(url: &str) -> StoreResult<Backend> {
    if url.starts_with("sqlite:") {
        sqlite::check_url(url)?;
        Ok(Backend::Sqlite)
    } else if url.starts_with("mongodb://") || url.starts_with("mongodb+srv://") {
        mongo::check_url(url)?;
        Ok(Backend::Mongo)
    } else {
        Err(StoreError::UnsupportedUrl(format!(
            "'{url}' names no store; use sqlite://PATH or mongodb://HOST/DATABASE"
        )))
    }
}

/// Checks that `url` names a store this build can open (for configuration checks).
pub fn check_url(url: &str) -> StoreResult<()> {
    backend_of(url).map(|_| ())
}

/// Opens the backend the URL names: `sqlite://path` (created if missing), `sqlite::memory:`,
/// or `mongodb://…` / `mongodb+srv://…` (database from the URL path, default `sesame`).
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    match backend_of(url)? {
        Backend::Sqlite => Ok(Arc::new(sqlite::SqliteStore::open(url).await?)),
        Backend::Mongo => Ok(Arc::new(mongo::MongoStore::open(url).await?)),
    }
}
