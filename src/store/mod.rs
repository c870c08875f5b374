//! The storage interface. Narrow traits, bundled by [`Store`]; "not found" is `Ok(None)`.
//! Backends make no policy decisions: lifetimes and limits arrive as arguments.

use crate::clock::UnixTime;
use crate::model::{
    AuthorizationCode, AuthorizationRequest, Client, CodeRedemption, Consent, IssuedToken, Session,
    SigningKey, Throttle, User, UserId,
};
use crate::secret::TokenHash;
use async_trait::async_trait;
use std::sync::Arc;

pub mod mongo;
pub mod sqlite;

#[doc(hidden)]
pub mod contract;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; names the field (e.g. `email`, `generation`).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The URL names no backend we have, or is malformed.
    #[error("unsupported database URL: {0}")]
    UnsupportedUrl(String),
    /// Stored data could not be read back (corrupt or from a newer version).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// The database itself failed.
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Users (people who log in).
#[async_trait]
pub trait UserStore {
    /// Inserts a user; `Conflict("email")` if the email is taken.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    async fn user_by_id(&self, id: &UserId) -> StoreResult<Option<User>>;
    /// Looks up by normalised email.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// All users, oldest first.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Sets the disabled flag; `false` if no such user.
    async fn set_user_disabled(&self, id: &UserId, disabled: bool) -> StoreResult<bool>;
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
    /// Inserts a client; `Conflict("client_id")` if taken.
    async fn create_client(&self, client: &Client) -> StoreResult<()>;
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

/// Authorization codes, consumed atomically.
#[async_trait]
pub trait CodeStore {
    async fn insert_code(&self, code: &AuthorizationCode) -> StoreResult<()>;
    /// Atomically marks the code redeemed at `now` and records `issued` against it, if it exists,
    /// is unredeemed and `expires_at > now` → `Redeemed`. An already redeemed code → `Replayed`
    /// (with what the first redemption issued). Otherwise `Invalid`. Of any number of concurrent
    /// calls for one code, exactly one gets `Redeemed`.
    async fn consume_code(
        &self,
        code_hash: &TokenHash,
        now: UnixTime,
        issued: &IssuedToken,
    ) -> StoreResult<CodeRedemption>;
}

/// The deny-list of revoked access tokens, by `jti`.
#[async_trait]
pub trait TokenStore {
    /// Revokes until `expires_at` (the token's own `exp`); idempotent.
    async fn revoke_access_token(&self, jti: &str, expires_at: UnixTime) -> StoreResult<()>;
    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool>;
}

/// IdP browser sessions.
#[async_trait]
pub trait SessionStore {
    async fn create_session(&self, session: &Session) -> StoreResult<()>;
    /// The session if it exists and `expires_at > now`.
    async fn session(&self, id_hash: &TokenHash, now: UnixTime) -> StoreResult<Option<Session>>;
    async fn delete_session(&self, id_hash: &TokenHash) -> StoreResult<()>;
    /// Ends every session of a user; returns how many.
    async fn delete_user_sessions(&self, user_id: &UserId) -> StoreResult<u64>;
}

/// Remembered consent.
#[async_trait]
pub trait ConsentStore {
    async fn consent(&self, user_id: &UserId, client_id: &str) -> StoreResult<Option<Consent>>;
    /// Inserts or replaces the consent for (user, client).
    async fn put_consent(&self, consent: &Consent) -> StoreResult<()>;
}

/// Signing keys.
#[async_trait]
pub trait KeyStore {
    /// Inserts a key; `Conflict("generation")` if another instance already wrote this
    /// generation, `Conflict("kid")` for a duplicate kid.
    async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()>;
    /// All keys, by generation.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>>;
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

/// Everything Sesame stores.
#[async_trait]
pub trait Store:
    UserStore
    + ClientStore
    + AuthorizationRequestStore
    + CodeStore
    + TokenStore
    + SessionStore
    + ConsentStore
    + KeyStore
    + ThrottleStore
    + Send
    + Sync
{
    /// Deletes expired codes, requests, sessions, deny-list entries and throttles idle since
    /// `throttle_idle_before`; returns how many rows went.
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
