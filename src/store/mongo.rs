//! The MongoDB backend (the official `mongodb` driver on tokio, rustls over aws-lc-rs).
//!
//! Written for every real deployment: a standalone `mongod`, a replica set, or a sharded
//! cluster behind `mongos`, with SCRAM credentials and `authSource` taken from the URL. It
//! relies only on what all of those have: single-document atomic operations
//! (`find_one_and_update`, `find_one_and_delete`, `$inc`, `$max`, `$addToSet`, upserts),
//! unique and TTL indexes. No change streams, no server-side JavaScript, no multi-document
//! transactions.
//!
//! Rules the code below keeps (DESIGN.md §3):
//! - **Natural keys are unique**: a record's natural key is its `_id` (user id, client id,
//!   code/session hash, `jti`, `kid`, throttle key), plus unique indexes on `users.email`,
//!   `signing_keys.generation` and `consents.(user_id, client_id)`. A duplicate-key error
//!   becomes [`StoreError::Conflict`] naming the field.
//! - **TTL**: every expiring record also carries `purge_at`, a BSON date (TTL indexes only act
//!   on dates) [`TTL_GRACE`] after the expiry, with a TTL index of `expireAfterSeconds: 0`, so
//!   MongoDB deletes it itself, and a database clock running ahead cannot delete it early. The
//!   TTL monitor runs about once a minute, so every read and every consuming operation still
//!   checks the integer `expires_at > now` itself. A redeemed code's `purge_at` is raised to the
//!   expiry of the token it issued, so a replay can still revoke that token (RFC 6749 §4.1.2).
//!   Throttles have no TTL index: how long an idle counter is kept is policy, passed to
//!   [`Store::purge_expired`], which this backend implements too.
//! - **Single use** is one atomic document operation, so of concurrent callers exactly one wins,
//!   on a replica set and through `mongos` alike.
//! - **No operator injection**: every query is written here with fixed field names and
//!   operators; input only ever appears as a BSON *value* (a string stays a string, so
//!   `{"$ne": ""}` typed into a form matches nothing). Nothing is deserialised from user input
//!   into a filter.

use super::{
    AccessTokenDenyList, AuthorizationRequestStore, ClientStore, CodeStore, Conflict, ConsentStore,
    SessionStore, Store, StoreError, StoreResult, ThrottleStore, UserStore,
};
use crate::clock::UnixTime;
use crate::model::{
    AuthorizationCode, AuthorizationRequest, Client, CodeRedemption, Consent, GrantType,
    IssuedToken, PlannedToken, RefreshTokenPolicy, RequestedClaims, Scope, Session, Throttle,
    TokenEndpointAuthMethod, User, UserId,
};
use crate::secret::TokenHash;
use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{self, Bson, DateTime, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{
    Acknowledgment, ClientOptions, ConnectionString, DatabaseOptions, IndexOptions, ReadConcern,
    ReadPreference, ReturnDocument, SelectionCriteria, WriteConcern,
};
use mongodb::{Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use std::time::Duration;

mod apis;
mod audit;
mod keys;
use keys::KeyDoc;
mod backchannel;
mod operators;
mod outbox;
mod refresh;
mod reset;
mod throttle_state;

/// The database used when the URL names none.
pub const DEFAULT_DATABASE: &str = "sesame";

/// Reported to the server in the handshake (visible in `currentOp` and server logs), unless the
/// URL sets `appName`.
const APP_NAME: &str = "sesame";
/// How long to wait for a TCP + TLS connection to one server (URL: `connectTimeoutMS`). The
/// driver's default is 10 s; a healthy database answers in milliseconds.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an operation waits for a usable server (a primary) before failing (URL:
/// `serverSelectionTimeoutMS`). The driver's default of 30 s would hold every request that long
/// during an outage; with 5 s a typical replica-set election is ridden out, and a longer outage
/// fails requests fast instead of queueing them.
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections per server in this instance's pool (URL: `maxPoolSize`). Requests make one to
/// three short store calls each and argon2 bounds login throughput, so 32 covers bursts, while
/// many instances × 32 stays far below a server's connection limit.
const MAX_POOL_SIZE: u32 = 32;
/// How often an insert race is retried (two callers creating the same new key at once: the
/// loser's retry then finds and updates the winner's document).
const UPSERT_ATTEMPTS: usize = 3;

/// MongoDB's duplicate-key error code.
const DUPLICATE_KEY: i32 = 11000;

/// Collection names.
mod collection {
    pub const USERS: &str = "users";
    pub const CLIENTS: &str = "clients";
    pub const REQUESTS: &str = "authorization_requests";
    pub const CODES: &str = "authorization_codes";
    pub const REVOKED: &str = "revoked_access_tokens";
    pub const SESSIONS: &str = "sessions";
    pub const CONSENTS: &str = "consents";
    pub const KEYS: &str = "signing_keys";
    pub const THROTTLES: &str = "throttles";
}

/// The MongoDB store: one client (with its connection pool) and a handle per collection.
#[derive(Clone, Debug)]
pub struct MongoStore {
    db: Database,
    users: Collection<UserDoc>,
    clients: Collection<ClientDoc>,
    requests: Collection<RequestDoc>,
    codes: Collection<CodeDoc>,
    revoked: Collection<Document>,
    sessions: Collection<SessionDoc>,
    consents: Collection<ConsentDoc>,
    keys: Collection<KeyDoc>,
    throttles: Collection<ThrottleDoc>,
}

/// Checks a `mongodb://` or `mongodb+srv://` URL's shape and database name without any I/O
/// (no DNS lookup for SRV, no connection).
pub(crate) fn check_url(url: &str) -> StoreResult<()> {
    let parsed = ConnectionString::parse(url).map_err(|e| unsupported(url, e))?;
    let name = parsed
        .default_database
        .as_deref()
        .unwrap_or(DEFAULT_DATABASE);
    check_database_name(name).map_err(|why| unsupported(url, why))
}

/// MongoDB's rules for database names (the portable subset, valid on every platform).
fn check_database_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 63 {
        return Err(format!("database name '{name}' must be 1 to 63 bytes"));
    }
    if let Some(bad) = name.chars().find(|c| {
        matches!(
            c,
            '/' | '\\' | '.' | ' ' | '"' | '$' | '*' | '<' | '>' | ':' | '|' | '?' | '\0'
        )
    }) {
        return Err(format!(
            "database name '{name}' must not contain {:?}",
            bad.to_string()
        ));
    }
    Ok(())
}

/// How long a write waits for a majority of the replica set to acknowledge it before failing,
/// so a set that has lost its majority fails requests instead of hanging them.
const MAJORITY_TIMEOUT: Duration = Duration::from_secs(5);

/// Write concern `majority` with [`MAJORITY_TIMEOUT`].
fn majority() -> WriteConcern {
    WriteConcern::builder()
        .w(Acknowledgment::Majority)
        .w_timeout(MAJORITY_TIMEOUT)
        .build()
}

/// An unusable URL, named with its password redacted.
fn unsupported(url: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::UnsupportedUrl(format!("{}: {why}", redact(url)))
}

/// The URL with the password of its user info replaced. Everything up to the LAST `@` of the
/// URL is taken as user info, so a password holding an unencoded `/`, `?` or `@` (which the
/// driver refuses, with this URL in the message) is still hidden; an `@` later in the URL only
/// makes it hide more than it must.
pub(super) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:REDACTED{}", &rest[at..])
        }
        None => url.to_string(),
    }
}

impl MongoStore {
    /// Connects (lazily: the driver connects in the background and the first operation waits
    /// up to the server-selection timeout), then creates the indexes, which needs the server.
    ///
    /// Driver options, each chosen for every deployment shape:
    /// - timeouts and pool size: the constants above, unless the URL sets them;
    /// - `retryWrites` and `retryReads` on: a single-document write interrupted by a failover is
    ///   retried once, exactly-once on the server (on a standalone, where retryable writes do
    ///   not exist, the driver does not retry);
    /// - write concern `majority` on every write, whatever the URL says: every write here is
    ///   security-relevant (a spent code, a revoked token, a lockout, a disabled user must not
    ///   be rolled back by a failover);
    /// - read preference `primary`, whatever the URL says: single-use and revocation checks
    ///   must read the latest write, never a lagging secondary;
    /// - read concern `majority`: a read never sees a write that a failover could roll back
    ///   (a consent, a key or a user that would then vanish).
    pub async fn open(url: &str) -> StoreResult<MongoStore> {
        let parsed = ConnectionString::parse(url).map_err(|e| unsupported(url, e))?;
        let name = parsed
            .default_database
            .clone()
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
        check_database_name(&name).map_err(|why| unsupported(url, why))?;
        let mut options = ClientOptions::parse(parsed).await.map_err(|e| {
            if matches!(*e.kind, ErrorKind::InvalidArgument { .. }) {
                unsupported(url, e)
            } else {
                backend(e)
            }
        })?;
        options.app_name.get_or_insert_with(|| APP_NAME.to_string());
        options.connect_timeout.get_or_insert(CONNECT_TIMEOUT);
        options
            .server_selection_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        options.max_pool_size.get_or_insert(MAX_POOL_SIZE);
        options.retry_writes = Some(true);
        options.retry_reads = Some(true);
        options.write_concern = Some(majority());
        options.read_concern = Some(ReadConcern::majority());
        options.selection_criteria =
            Some(SelectionCriteria::ReadPreference(ReadPreference::Primary));
        let client = mongodb::Client::with_options(options).map_err(backend)?;
        let db = client.database_with_options(
            &name,
            DatabaseOptions::builder()
                .write_concern(majority())
                .read_concern(ReadConcern::majority())
                .selection_criteria(SelectionCriteria::ReadPreference(ReadPreference::Primary))
                .build(),
        );
        let store = MongoStore {
            users: db.collection(collection::USERS),
            clients: db.collection(collection::CLIENTS),
            requests: db.collection(collection::REQUESTS),
            codes: db.collection(collection::CODES),
            revoked: db.collection(collection::REVOKED),
            sessions: db.collection(collection::SESSIONS),
            consents: db.collection(collection::CONSENTS),
            keys: db.collection(collection::KEYS),
            throttles: db.collection(collection::THROTTLES),
            db,
        };
        store.create_indexes().await?;
        Ok(store)
    }

    /// Creates every index; creating an index that exists with the same keys and options is a
    /// no-op, so this runs at every start, from any number of instances at once.
    async fn create_indexes(&self) -> StoreResult<()> {
        let unique = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(
                    IndexOptions::builder()
                        .unique(true)
                        .name(name.to_string())
                        .build(),
                )
                .build()
        };
        let plain = |keys: Document, name: &str| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().name(name.to_string()).build())
                .build()
        };
        // Deleted by MongoDB once `purge_at` has passed.
        let ttl = |name: &str| {
            IndexModel::builder()
                .keys(doc! { "purge_at": 1 })
                .options(
                    IndexOptions::builder()
                        .name(name.to_string())
                        .expire_after(Duration::ZERO)
                        .build(),
                )
                .build()
        };
        let db = &self.db;
        let indexes: [(&str, IndexModel); 9] = [
            (
                collection::USERS,
                unique(doc! { "email": 1 }, index::USERS_EMAIL),
            ),
            (
                collection::USERS,
                plain(doc! { "created_at": 1, "_id": 1 }, "users_created"),
            ),
            (collection::REQUESTS, ttl("authorization_requests_ttl")),
            (collection::CODES, ttl("authorization_codes_ttl")),
            (collection::REVOKED, ttl("revoked_access_tokens_ttl")),
            (collection::SESSIONS, ttl("sessions_ttl")),
            (
                collection::SESSIONS,
                plain(doc! { "user_id": 1 }, "sessions_user"),
            ),
            (
                collection::CONSENTS,
                unique(
                    doc! { "user_id": 1, "client_id": 1 },
                    index::CONSENTS_USER_CLIENT,
                ),
            ),
            (
                collection::KEYS,
                unique(doc! { "generation": 1 }, index::KEYS_GENERATION),
            ),
        ];
        for (name, model) in indexes {
            db.collection::<Document>(name)
                .create_index(model)
                .await
                .map_err(backend)?;
        }
        refresh::create_indexes(db).await?;
        outbox::create_indexes(db).await?;
        reset::create_indexes(db).await?;
        apis::create_indexes(db).await?;
        operators::create_indexes(db).await?;
        audit::create_indexes(db).await?;
        Ok(())
    }
}

/// Index names that a duplicate-key message is matched against.
mod index {
    pub const USERS_EMAIL: &str = "users_email_unique";
    pub const CONSENTS_USER_CLIENT: &str = "consents_user_client_unique";
    pub const KEYS_GENERATION: &str = "signing_keys_generation_unique";
}

// ---- errors -------------------------------------------------------------------------------

/// Maps a driver error: an outage ([`is_outage`]) is [`StoreError::Unavailable`], everything
/// else a backend failure.
fn backend(error: mongodb::error::Error) -> StoreError {
    if is_outage(&error) {
        crate::measure::store_error("unavailable");
        return StoreError::unavailable(error);
    }
    crate::measure::store_error("backend");
    StoreError::Backend(Box::new(error))
}

/// Whether `error` means no server can serve right now: no server selectable within the
/// timeout, a network error or a cleared pool, the driver shutting down, an error the driver
/// labels retryable, a server stepping down or shutting down (a failover), or a majority
/// write concern that timed out (the replica set lost its majority).
fn is_outage(error: &mongodb::error::Error) -> bool {
    /// Server codes of a server that cannot serve now (MongoDB's error_codes.yml).
    const UNAVAILABLE_CODES: &[i32] = &[
        6,     // HostUnreachable
        7,     // HostNotFound
        64,    // WriteConcernFailed (wtimeout)
        89,    // NetworkTimeout
        91,    // ShutdownInProgress
        189,   // PrimarySteppedDown
        9001,  // SocketException
        10107, // NotWritablePrimary
        11600, // InterruptedAtShutdown
        11602, // InterruptedDueToReplStateChange
        13435, // NotPrimaryNoSecondaryOk
        13436, // NotPrimaryOrSecondary
    ];
    if error.contains_label(mongodb::error::RETRYABLE_WRITE_ERROR) {
        return true;
    }
    match &*error.kind {
        ErrorKind::ServerSelection { .. }
        | ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::Shutdown => true,
        ErrorKind::Command(e) => UNAVAILABLE_CODES.contains(&e.code),
        ErrorKind::Write(WriteFailure::WriteConcernError(e)) => UNAVAILABLE_CODES.contains(&e.code),
        _ => false,
    }
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    crate::measure::store_error("corrupt");
    StoreError::Corrupt(error.to_string())
}

/// The server's message if `error` is a duplicate-key error (from an insert, an update or a
/// findAndModify).
fn duplicate_key_message(error: &mongodb::error::Error) -> Option<&str> {
    match &*error.kind {
        ErrorKind::Write(WriteFailure::WriteError(e)) if e.code == DUPLICATE_KEY => {
            Some(&e.message)
        }
        ErrorKind::Command(e) if e.code == DUPLICATE_KEY => Some(&e.message),
        _ => None,
    }
}

/// Maps a write error: a duplicate key names the field, by the index the server names
/// ("… index: users_email_unique dup key …"); `id_field` is what a duplicate `_id` means in
/// this collection.
fn write_error(
    error: mongodb::error::Error,
    id_field: Conflict,
    unique: &[(&str, Conflict)],
) -> StoreError {
    match duplicate_key_message(&error) {
        Some(message) => StoreError::Conflict(conflict_field(message, id_field, unique)),
        None => backend(error),
    }
}

/// The field a duplicate-key message is about: the one whose unique index it names, the `_id`
/// when it names `_id_`, else [`Conflict::Other`] (a server wording we do not know is not
/// guessed to be the `_id`).
fn conflict_field(message: &str, id_field: Conflict, unique: &[(&str, Conflict)]) -> Conflict {
    if message.contains("index: _id_ ") {
        return id_field;
    }
    unique
        .iter()
        .find(|(name, _)| message.contains(&format!("index: {name} ")))
        .map_or(Conflict::Other, |(_, field)| *field)
}

/// Runs an upsert, retrying when a concurrent upsert of the same new key won the insert (the
/// retry then matches and updates that document).
async fn upsert_with_retry<T, F, Fut>(mut attempt: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = mongodb::error::Result<T>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Err(e) if duplicate_key_message(&e).is_some() && tries < UPSERT_ATTEMPTS => continue,
            other => return other.map_err(backend),
        }
    }
}

/// A Unix time as the BSON date a TTL index acts on.
/// How long after its expiry MongoDB's TTL monitor may delete a record. The rules read the
/// integer `expires_at` against Sesame's clock; this margin keeps a database clock running ahead
/// from deleting a deny-list entry or a redeemed code (whose replay must still be seen) early.
const TTL_GRACE: i64 = 600;

/// The `purge_at` date of a record that expires at `at`: its TTL index deletes it after that,
/// [`TTL_GRACE`] later than the expiry.
fn purge_date(at: UnixTime) -> DateTime {
    DateTime::from_millis(at.saturating_add(TTL_GRACE).saturating_mul(1000))
}

fn to_bson<T: Serialize + ?Sized>(value: &T) -> StoreResult<Bson> {
    bson::serialize_to_bson(value).map_err(corrupt)
}

// ---- documents ----------------------------------------------------------------------------

/// `users`: `_id` is the user id (`sub`).
#[derive(Debug, Serialize, Deserialize)]
struct UserDoc {
    #[serde(rename = "_id")]
    id: UserId,
    email: String,
    name: Option<String>,
    email_verified: bool,
    password_hash: String,
    password_changed_at: i64,
    disabled: bool,
    created_at: i64,
}

impl From<&User> for UserDoc {
    fn from(u: &User) -> Self {
        UserDoc {
            id: u.id.clone(),
            email: u.email.clone(),
            name: u.name.clone(),
            email_verified: u.email_verified,
            password_hash: u.password_hash.clone(),
            password_changed_at: u.password_changed_at,
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

impl From<UserDoc> for User {
    fn from(u: UserDoc) -> Self {
        User {
            id: u.id,
            email: u.email,
            name: u.name,
            email_verified: u.email_verified,
            password_hash: u.password_hash,
            password_changed_at: u.password_changed_at,
            disabled: u.disabled,
            created_at: u.created_at,
        }
    }
}

/// `clients`: `_id` is the client id.
#[derive(Debug, Serialize, Deserialize)]
struct ClientDoc {
    #[serde(rename = "_id")]
    client_id: String,
    name: String,
    secret_hash: Option<TokenHash>,
    redirect_uris: Vec<String>,
    post_logout_redirect_uris: Vec<String>,
    grant_types: Vec<GrantType>,
    allowed_scopes: Scope,
    token_endpoint_auth_method: TokenEndpointAuthMethod,
    public: bool,
    first_party: bool,
    created_at: i64,
    /// Absent in clients written before refresh tokens: the default policy.
    #[serde(default)]
    refresh_tokens: RefreshTokenPolicy,
    /// Absent in clients written before CORS: none beyond the redirect URIs' origins.
    #[serde(default)]
    allowed_origins: Vec<String>,
    /// Absent in clients written before back-channel logout, and when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    backchannel_logout_uri: Option<String>,
}

impl From<&Client> for ClientDoc {
    fn from(c: &Client) -> Self {
        ClientDoc {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            secret_hash: c.secret_hash.clone(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grant_types: c.grant_types.clone(),
            allowed_scopes: c.allowed_scopes.clone(),
            token_endpoint_auth_method: c.token_endpoint_auth_method,
            public: c.public,
            first_party: c.first_party,
            created_at: c.created_at,
            refresh_tokens: c.refresh_tokens,
            allowed_origins: c.allowed_origins.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
        }
    }
}

impl From<ClientDoc> for Client {
    fn from(c: ClientDoc) -> Self {
        Client {
            client_id: c.client_id,
            name: c.name,
            secret_hash: c.secret_hash,
            redirect_uris: c.redirect_uris,
            post_logout_redirect_uris: c.post_logout_redirect_uris,
            grant_types: c.grant_types,
            allowed_scopes: c.allowed_scopes,
            token_endpoint_auth_method: c.token_endpoint_auth_method,
            public: c.public,
            first_party: c.first_party,
            created_at: c.created_at,
            refresh_tokens: c.refresh_tokens,
            allowed_origins: c.allowed_origins,
            backchannel_logout_uri: c.backchannel_logout_uri,
        }
    }
}

/// `authorization_requests`: `_id` is the request handle; the validated request is embedded.
#[derive(Debug, Serialize, Deserialize)]
struct RequestDoc {
    #[serde(rename = "_id")]
    id: String,
    request: AuthorizationRequest,
    expires_at: i64,
    purge_at: DateTime,
}

/// The access token recorded against a redeemed code.
#[derive(Debug, Serialize, Deserialize)]
struct IssuedDoc {
    jti: String,
    expires_at: i64,
}

/// `authorization_codes`: `_id` is the code's SHA-256. `purge_at` is the later of the code's
/// expiry and, once redeemed, the issued token's.
#[derive(Debug, Serialize, Deserialize)]
struct CodeDoc {
    #[serde(rename = "_id")]
    code_hash: TokenHash,
    client_id: String,
    user_id: UserId,
    redirect_uri: String,
    scope: Scope,
    nonce: Option<String>,
    code_challenge: Option<String>,
    auth_time: i64,
    sid: String,
    amr: Vec<String>,
    /// The grant the code starts; the token its redemption issues belongs to it too.
    grant_id: String,
    created_at: i64,
    expires_at: i64,
    redeemed_at: Option<i64>,
    issued: Option<IssuedDoc>,
    claims: Option<RequestedClaims>,
    purge_at: DateTime,
}

impl From<&AuthorizationCode> for CodeDoc {
    fn from(c: &AuthorizationCode) -> Self {
        let kept_until = c
            .issued
            .as_ref()
            .map_or(c.expires_at, |i| i.expires_at.max(c.expires_at));
        CodeDoc {
            code_hash: c.code_hash.clone(),
            client_id: c.client_id.clone(),
            user_id: c.user_id.clone(),
            redirect_uri: c.redirect_uri.clone(),
            scope: c.scope.clone(),
            nonce: c.nonce.clone(),
            code_challenge: c.code_challenge.clone(),
            auth_time: c.auth_time,
            sid: c.sid.clone(),
            amr: c.amr.clone(),
            grant_id: c.grant_id.clone(),
            created_at: c.created_at,
            expires_at: c.expires_at,
            redeemed_at: c.redeemed_at,
            issued: c.issued.as_ref().map(|i| IssuedDoc {
                jti: i.jti.clone(),
                expires_at: i.expires_at,
            }),
            claims: c.claims.clone(),
            purge_at: purge_date(kept_until),
        }
    }
}

impl From<CodeDoc> for AuthorizationCode {
    fn from(c: CodeDoc) -> Self {
        AuthorizationCode {
            code_hash: c.code_hash,
            client_id: c.client_id,
            user_id: c.user_id,
            redirect_uri: c.redirect_uri,
            scope: c.scope,
            nonce: c.nonce,
            code_challenge: c.code_challenge,
            auth_time: c.auth_time,
            sid: c.sid,
            amr: c.amr,
            issued: c.issued.map(|i| IssuedToken {
                jti: i.jti,
                expires_at: i.expires_at,
                grant_id: c.grant_id.clone(),
            }),
            grant_id: c.grant_id,
            created_at: c.created_at,
            expires_at: c.expires_at,
            redeemed_at: c.redeemed_at,
            claims: c.claims,
        }
    }
}

/// `sessions`: `_id` is the SHA-256 of the cookie value.
#[derive(Debug, Serialize, Deserialize)]
struct SessionDoc {
    #[serde(rename = "_id")]
    id_hash: TokenHash,
    sid: String,
    user_id: UserId,
    auth_time: i64,
    amr: Vec<String>,
    created_at: i64,
    /// Raised (never lowered) by `touch_session`.
    last_seen_at: i64,
    expires_at: i64,
    purge_at: DateTime,
}

impl From<&Session> for SessionDoc {
    fn from(s: &Session) -> Self {
        SessionDoc {
            id_hash: s.id_hash.clone(),
            sid: s.sid.clone(),
            user_id: s.user_id.clone(),
            auth_time: s.auth_time,
            amr: s.amr.clone(),
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
            purge_at: purge_date(s.expires_at),
        }
    }
}

impl From<SessionDoc> for Session {
    fn from(s: SessionDoc) -> Self {
        Session {
            id_hash: s.id_hash,
            sid: s.sid,
            user_id: s.user_id,
            auth_time: s.auth_time,
            amr: s.amr,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.expires_at,
        }
    }
}

/// `consents`: one per (user, client), unique.
#[derive(Debug, Serialize, Deserialize)]
struct ConsentDoc {
    user_id: UserId,
    client_id: String,
    scopes: Scope,
    granted_at: i64,
}

/// `throttles`: `_id` is the opaque throttle key.
#[derive(Debug, Serialize, Deserialize)]
struct ThrottleDoc {
    #[serde(rename = "_id")]
    key: String,
    failures: i64,
    locked_until: Option<i64>,
    updated_at: i64,
}

// ---- operations ---------------------------------------------------------------------------

#[async_trait]
impl UserStore for MongoStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        self.users
            .insert_one(UserDoc::from(user))
            .await
            .map_err(|e| {
                write_error(
                    e,
                    Conflict::UserId,
                    &[(index::USERS_EMAIL, Conflict::Email)],
                )
            })?;
        Ok(())
    }

    async fn user_by_id(&self, id: &UserId) -> StoreResult<Option<User>> {
        let found = self
            .users
            .find_one(doc! { "_id": id.0.as_str() })
            .await
            .map_err(backend)?;
        Ok(found.map(User::from))
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let found = self
            .users
            .find_one(doc! { "email": email })
            .await
            .map_err(backend)?;
        Ok(found.map(User::from))
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        let users: Vec<UserDoc> = self
            .users
            .find(doc! {})
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        Ok(users.into_iter().map(User::from).collect())
    }

    async fn enable_user(&self, id: &UserId) -> StoreResult<bool> {
        let done = self
            .users
            .update_one(
                doc! { "_id": id.0.as_str() },
                doc! { "$set": { "disabled": false } },
            )
            .await
            .map_err(backend)?;
        Ok(done.matched_count == 1)
    }

    async fn disable_user(&self, id: &UserId) -> StoreResult<Option<u64>> {
        // Two single-document-safe steps, no transaction (see the trait): the user write alone
        // already locks the user out, since every use of a session re-checks that its user is
        // active; the session delete is idempotent clean-up that a retry completes.
        let found = self
            .users
            .update_one(
                doc! { "_id": id.0.as_str() },
                doc! { "$set": { "disabled": true } },
            )
            .await
            .map_err(backend)?;
        if found.matched_count == 0 {
            return Ok(None);
        }
        let ended = self
            .sessions
            .delete_many(doc! { "user_id": id.0.as_str() })
            .await
            .map_err(backend)?;
        Ok(Some(ended.deleted_count))
    }

    async fn set_password_hash(
        &self,
        id: &UserId,
        password_hash: &str,
        changed_at: UnixTime,
    ) -> StoreResult<bool> {
        let done = self
            .users
            .update_one(
                doc! { "_id": id.0.as_str() },
                doc! { "$set": {
                    "password_hash": password_hash,
                    "password_changed_at": changed_at,
                } },
            )
            .await
            .map_err(backend)?;
        Ok(done.matched_count == 1)
    }
}

#[async_trait]
impl ClientStore for MongoStore {
    async fn create_client(&self, client: &Client) -> StoreResult<()> {
        self.clients
            .insert_one(ClientDoc::from(client))
            .await
            .map_err(|e| write_error(e, Conflict::ClientId, &[]))?;
        Ok(())
    }

    async fn client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        let found = self
            .clients
            .find_one(doc! { "_id": client_id })
            .await
            .map_err(backend)?;
        Ok(found.map(Client::from))
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        let clients: Vec<ClientDoc> = self
            .clients
            .find(doc! {})
            .sort(doc! { "created_at": 1, "_id": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        Ok(clients.into_iter().map(Client::from).collect())
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let done = self
            .clients
            .delete_one(doc! { "_id": client_id })
            .await
            .map_err(backend)?;
        Ok(done.deleted_count == 1)
    }
}

#[async_trait]
impl AuthorizationRequestStore for MongoStore {
    async fn put_authorization_request(&self, request: &AuthorizationRequest) -> StoreResult<()> {
        let document = RequestDoc {
            id: request.id.clone(),
            request: request.clone(),
            expires_at: request.expires_at,
            purge_at: purge_date(request.expires_at),
        };
        upsert_with_retry(|| {
            self.requests
                .replace_one(doc! { "_id": request.id.as_str() }, &document)
                .upsert(true)
                .into_future()
        })
        .await?;
        Ok(())
    }

    async fn authorization_request(
        &self,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<AuthorizationRequest>> {
        let found = self
            .requests
            .find_one(doc! { "_id": id, "expires_at": { "$gt": now } })
            .await
            .map_err(backend)?;
        Ok(found.map(|d| d.request))
    }

    async fn take_authorization_request(
        &self,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<AuthorizationRequest>> {
        // One atomic findAndModify: the document goes to exactly one caller.
        let taken = self
            .requests
            .find_one_and_delete(doc! { "_id": id, "expires_at": { "$gt": now } })
            .await
            .map_err(backend)?;
        Ok(taken.map(|d| d.request))
    }
}

#[async_trait]
impl CodeStore for MongoStore {
    async fn insert_code(&self, code: &AuthorizationCode) -> StoreResult<()> {
        self.codes
            .insert_one(CodeDoc::from(code))
            .await
            .map_err(|e| write_error(e, Conflict::CodeHash, &[]))?;
        Ok(())
    }

    async fn redeem_code(
        &self,
        code_hash: &TokenHash,
        now: UnixTime,
        access_token: &PlannedToken,
    ) -> StoreResult<CodeRedemption> {
        let issued = access_token;
        // RFC 6749 §4.1.2: single use. One atomic findAndModify, so of concurrent callers
        // exactly one matches the unredeemed document. The code is then kept until the token
        // it issued expires, so that a replay can revoke it.
        let redeemed = self
            .codes
            .find_one_and_update(
                doc! {
                    "_id": code_hash.as_str(),
                    "redeemed_at": Bson::Null,
                    "expires_at": { "$gt": now },
                },
                doc! {
                    "$set": {
                        "redeemed_at": now,
                        "issued": { "jti": issued.jti.as_str(), "expires_at": issued.expires_at },
                    },
                    "$max": { "purge_at": purge_date(issued.expires_at) },
                },
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(backend)?;
        if let Some(code) = redeemed {
            return Ok(CodeRedemption::Redeemed(code.into()));
        }
        let existing = self
            .codes
            .find_one(doc! { "_id": code_hash.as_str() })
            .await
            .map_err(backend)?;
        Ok(match existing {
            Some(code) if code.redeemed_at.is_some() => CodeRedemption::Replayed(code.into()),
            _ => CodeRedemption::Invalid,
        })
    }
}

#[async_trait]
impl AccessTokenDenyList for MongoStore {
    async fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: UnixTime,
        grant_id: Option<&str>,
    ) -> StoreResult<()> {
        // One upsert on the jti; `$max`: revoking again never shortens the entry. The entry
        // (what denies the token) is complete after this write.
        upsert_with_retry(|| {
            self.revoked
                .update_one(
                    doc! { "_id": jti },
                    doc! {
                        "$max": { "expires_at": expires_at, "purge_at": purge_date(expires_at) },
                        "$setOnInsert": { "grant_id": grant_id },
                    },
                )
                .upsert(true)
                .into_future()
        })
        .await?;
        // The first grant id recorded is kept: set it only where none is. Idempotent, so a
        // retry after a failure between the two writes completes it.
        if let Some(grant_id) = grant_id {
            self.revoked
                .update_one(
                    doc! { "_id": jti, "grant_id": Bson::Null },
                    doc! { "$set": { "grant_id": grant_id } },
                )
                .await
                .map_err(backend)?;
        }
        Ok(())
    }

    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        // Kept until the token's own `exp`, after which the token fails verification anyway.
        let found = self
            .revoked
            .find_one(doc! { "_id": jti })
            .projection(doc! { "_id": 1 })
            .await
            .map_err(backend)?;
        Ok(found.is_some())
    }
}

#[async_trait]
impl SessionStore for MongoStore {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        self.sessions
            .insert_one(SessionDoc::from(session))
            .await
            .map_err(|e| write_error(e, Conflict::SessionId, &[]))?;
        Ok(())
    }

    async fn session(&self, id_hash: &TokenHash, now: UnixTime) -> StoreResult<Option<Session>> {
        let found = self
            .sessions
            .find_one(doc! { "_id": id_hash.as_str(), "expires_at": { "$gt": now } })
            .await
            .map_err(backend)?;
        Ok(found.map(Session::from))
    }

    async fn touch_session(&self, id_hash: &TokenHash, now: UnixTime) -> StoreResult<bool> {
        // One conditional update; `$max` never moves the last use back.
        let done = self
            .sessions
            .update_one(
                doc! { "_id": id_hash.as_str(), "expires_at": { "$gt": now } },
                doc! { "$max": { "last_seen_at": now } },
            )
            .await
            .map_err(backend)?;
        Ok(done.matched_count == 1)
    }

    async fn delete_session(&self, id_hash: &TokenHash) -> StoreResult<()> {
        self.sessions
            .delete_one(doc! { "_id": id_hash.as_str() })
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: &UserId) -> StoreResult<u64> {
        let done = self
            .sessions
            .delete_many(doc! { "user_id": user_id.0.as_str() })
            .await
            .map_err(backend)?;
        Ok(done.deleted_count)
    }
}

#[async_trait]
impl ConsentStore for MongoStore {
    async fn consent(&self, user_id: &UserId, client_id: &str) -> StoreResult<Option<Consent>> {
        let found = self
            .consents
            .find_one(doc! { "user_id": user_id.0.as_str(), "client_id": client_id })
            .await
            .map_err(backend)?;
        Ok(found.map(|c| Consent {
            user_id: c.user_id,
            client_id: c.client_id,
            scopes: c.scopes,
            granted_at: c.granted_at,
        }))
    }

    async fn grant_consent(
        &self,
        user_id: &UserId,
        client_id: &str,
        scopes: &Scope,
        now: UnixTime,
    ) -> StoreResult<Consent> {
        // `$addToSet` with `$each` keeps the stored scopes in their order and appends the new
        // ones it lacks, atomically on the one document, so concurrent grants all count. A
        // missing consent is inserted; a caller that loses that insert race goes back to the
        // update. (Not one upsert: SecantusDB, the test server, can apply a racing upsert yet
        // return no document.)
        let new_scopes = to_bson(scopes)?;
        for _ in 0..UPSERT_ATTEMPTS {
            let merged = self
                .consents
                .find_one_and_update(
                    doc! { "user_id": user_id.0.as_str(), "client_id": client_id },
                    doc! {
                        "$addToSet": { "scopes": { "$each": new_scopes.clone() } },
                        "$set": { "granted_at": now },
                    },
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(backend)?;
            if let Some(consent) = merged {
                return Ok(Consent {
                    user_id: consent.user_id,
                    client_id: consent.client_id,
                    scopes: consent.scopes,
                    granted_at: consent.granted_at,
                });
            }
            let first = ConsentDoc {
                user_id: user_id.clone(),
                client_id: client_id.to_string(),
                scopes: scopes.clone(),
                granted_at: now,
            };
            match self.consents.insert_one(&first).await {
                Ok(_) => {
                    return Ok(Consent {
                        user_id: first.user_id,
                        client_id: first.client_id,
                        scopes: first.scopes,
                        granted_at: first.granted_at,
                    });
                }
                Err(e) if duplicate_key_message(&e).is_some() => continue,
                Err(e) => return Err(backend(e)),
            }
        }
        Err(StoreError::Backend(
            "the consent kept vanishing between update and insert".into(),
        ))
    }
}

#[async_trait]
impl ThrottleStore for MongoStore {
    async fn throttle_increment(&self, key: &str, now: UnixTime) -> StoreResult<Throttle> {
        // Each step is one atomic single-document operation, and each caller sees its own
        // count: `$inc` on the existing counter, else insert it at 1; a caller that loses the
        // insert race goes back to `$inc`. (Not one `$inc` upsert: SecantusDB, the test
        // server, can apply a racing upsert yet return no document.)
        for _ in 0..UPSERT_ATTEMPTS {
            let counted = self
                .throttles
                .find_one_and_update(
                    doc! { "_id": key },
                    doc! { "$inc": { "failures": 1_i64 }, "$set": { "updated_at": now } },
                )
                .return_document(ReturnDocument::After)
                .await
                .map_err(backend)?;
            if let Some(counted) = counted {
                return Ok(Throttle {
                    failures: counted.failures,
                    locked_until: counted.locked_until,
                });
            }
            let first = ThrottleDoc {
                key: key.to_string(),
                failures: 1,
                locked_until: None,
                updated_at: now,
            };
            match self.throttles.insert_one(&first).await {
                Ok(_) => {
                    return Ok(Throttle {
                        failures: 1,
                        locked_until: None,
                    });
                }
                Err(e) if duplicate_key_message(&e).is_some() => continue,
                Err(e) => return Err(backend(e)),
            }
        }
        Err(StoreError::Backend(
            "the throttle counter kept vanishing between update and insert".into(),
        ))
    }

    async fn throttle_try_lock(
        &self,
        key: &str,
        now: UnixTime,
        until: UnixTime,
    ) -> StoreResult<bool> {
        // One conditional upsert: an unlocked counter is locked, a missing one is created
        // locked; a locked one does not match, so the upsert tries to insert its `_id` again
        // and the duplicate key says "someone else holds the lock".
        let done = self
            .throttles
            .update_one(
                doc! {
                    "_id": key,
                    "$or": [
                        { "locked_until": Bson::Null },
                        { "locked_until": { "$lte": now } },
                    ],
                },
                doc! {
                    "$set": { "locked_until": until, "updated_at": now },
                    "$setOnInsert": { "failures": 0_i64 },
                },
            )
            .upsert(true)
            .await;
        match done {
            Ok(done) => Ok(done.modified_count == 1 || done.upserted_id.is_some()),
            Err(e) if duplicate_key_message(&e).is_some() => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    async fn throttle_clear(&self, key: &str) -> StoreResult<()> {
        self.throttles
            .delete_one(doc! { "_id": key })
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl Store for MongoStore {
    async fn purge_expired(
        &self,
        now: UnixTime,
        throttle_idle_before: UnixTime,
    ) -> StoreResult<u64> {
        // TTL indexes do this within a minute or so; this makes purging exact and also covers
        // throttles, whose idle window is policy.
        let expired = doc! { "expires_at": { "$lte": now } };
        let mut purged = 0;
        purged += self
            .codes
            .delete_many(doc! {
                "expires_at": { "$lte": now },
                "$or": [
                    { "issued": Bson::Null },
                    { "issued.expires_at": { "$lte": now } },
                ],
            })
            .await
            .map_err(backend)?
            .deleted_count;
        purged += self
            .requests
            .delete_many(expired.clone())
            .await
            .map_err(backend)?
            .deleted_count;
        purged += self
            .sessions
            .delete_many(expired.clone())
            .await
            .map_err(backend)?
            .deleted_count;
        purged += self
            .revoked
            .delete_many(expired)
            .await
            .map_err(backend)?
            .deleted_count;
        purged += self
            .throttles
            .delete_many(doc! {
                "updated_at": { "$lt": throttle_idle_before },
                "$or": [
                    { "locked_until": Bson::Null },
                    { "locked_until": { "$lte": now } },
                ],
            })
            .await
            .map_err(backend)?
            .deleted_count;
        purged += refresh::purge(&self.db, now).await?;
        purged += outbox::purge(self, now).await? + reset::purge(self, now).await?;
        Ok(purged)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_database_or_default_to_sesame() {
        assert!(check_url("mongodb://localhost/").is_ok());
        assert!(
            check_url("mongodb://u:p@h1:27017,h2:27018/idp?replicaSet=rs0&authSource=admin")
                .is_ok()
        );
        assert!(check_url("mongodb+srv://u:p@cluster0.example.net/idp?retryWrites=true").is_ok());
        let err = check_url("mongodb://user:hunter2@db/no.dots").unwrap_err();
        assert!(err.to_string().contains("must not contain"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert!(check_url("mongodb://").is_err());
    }

    #[test]
    fn redaction_hides_the_password_only() {
        assert_eq!(
            redact("mongodb://admin:hunter2@db.example.com:27017/sesame?authSource=admin"),
            "mongodb://admin:REDACTED@db.example.com:27017/sesame?authSource=admin"
        );
        assert_eq!(redact("mongodb://db/sesame"), "mongodb://db/sesame");
        // Unencoded `/`, `?` and `@` in a password: the driver refuses the URL, and the message
        // that names it must still hide the password.
        for password in ["ab/cd", "a?b", "p@ss", "x/y@z"] {
            let shown = redact(&format!("mongodb://admin:{password}@db:27017/sesame?w=1"));
            assert_eq!(
                shown, "mongodb://admin:REDACTED@db:27017/sesame?w=1",
                "{password}"
            );
        }
    }

    #[test]
    fn duplicate_keys_name_the_field_by_index() {
        let unique = [(index::USERS_EMAIL, Conflict::Email)];
        let field = |message: &str| conflict_field(message, Conflict::UserId, &unique);
        assert_eq!(
            field(
                "E11000 duplicate key error collection: s.users index: users_email_unique dup key: { email: \"x\" }"
            ),
            Conflict::Email
        );
        assert_eq!(
            field(
                "E11000 duplicate key error collection: s.users index: _id_ dup key: { _id: \"a\" }"
            ),
            Conflict::UserId
        );
        assert_eq!(
            field("E11000 duplicate key error, in words this code has never seen"),
            Conflict::Other
        );
    }
}
