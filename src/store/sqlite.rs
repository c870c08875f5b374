//! The embedded SQLite backend (sqlx): WAL journal, migrations embedded in the binary, one
//! atomic statement for every single-use, counting or merging rule (code redemption, request
//! take, throttles, consent), and one transaction for the one event that writes two tables
//! (disabling a user ends their sessions).
//!
//! Lists (redirect URIs, grant types, scopes, `amr`) are stored as JSON arrays; a pending
//! authorization request and a code's `claims` are JSON documents.

use super::{
    AccessTokenDenyList, AuthorizationRequestStore, ClientStore, CodeStore, Conflict, ConsentStore,
    SessionStore, Store, StoreError, StoreResult, ThrottleStore, UserStore,
};
use crate::clock::UnixTime;
use crate::model::{
    AuthorizationCode, AuthorizationRequest, Client, CodeRedemption, Consent, GrantType,
    IssuedToken, PlannedToken, Scope, Session, Throttle, TokenEndpointAuthMethod, User, UserId,
};
use crate::secret::TokenHash;
use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite};
use std::path::PathBuf;
use std::time::Duration;

mod apis;
mod audit;
mod backchannel;
mod keys;
mod operators;
mod outbox;
mod refresh;
mod reset;
mod throttle_state;

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections in a file-backed pool; WAL lets readers run beside the one writer.
const FILE_POOL_SIZE: u32 = 8;

/// The schema's migrations, embedded in the binary.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// The SQLite store.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// Where a `sqlite:` URL points.
#[derive(Debug, PartialEq, Eq)]
enum Location {
    Memory,
    File(PathBuf),
}

/// Checks a `sqlite:` URL's shape without touching the file system.
pub(crate) fn check_url(url: &str) -> StoreResult<()> {
    parse_url(url).map(|_| ())
}

/// Parses `sqlite::memory:`, `sqlite://relative/path.db`, `sqlite:///abs/path.db` or
/// `sqlite:path.db`.
fn parse_url(url: &str) -> StoreResult<Location> {
    let unsupported = || {
        StoreError::UnsupportedUrl(format!(
            "'{url}' is not sqlite://PATH or sqlite::memory: (no query string)"
        ))
    };
    let rest = url.strip_prefix("sqlite:").ok_or_else(unsupported)?;
    if rest == ":memory:" || rest == "//:memory:" {
        return Ok(Location::Memory);
    }
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() || path.contains('?') || path.contains('#') {
        return Err(unsupported());
    }
    Ok(Location::File(PathBuf::from(path)))
}

impl SqliteStore {
    /// Opens (creating the file and its directory if missing) the database and runs migrations.
    pub async fn open(url: &str) -> StoreResult<SqliteStore> {
        let base = SqliteConnectOptions::new()
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .synchronous(SqliteSynchronous::Normal);
        let pool = match parse_url(url)? {
            // Every in-memory connection is its own database: keep exactly one, forever.
            Location::Memory => SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(base.in_memory(true))
                .await
                .map_err(backend)?,
            Location::File(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(StoreError::unavailable)?;
                }
                create_private(&path).await?;
                let options = base
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal);
                SqlitePoolOptions::new()
                    .max_connections(FILE_POOL_SIZE)
                    // While the database is locked every connection waits out the busy
                    // timeout; a request then waits no longer than that for a connection
                    // either (sqlx's default is 30 s), and fails as unavailable.
                    .acquire_timeout(BUSY_TIMEOUT)
                    .connect_with(options)
                    .await
                    .map_err(backend)?
            }
        };
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        Ok(SqliteStore { pool })
    }
}

/// Creates the database file readable by its owner only (it holds password hashes and the
/// encrypted signing keys), unless it exists. SQLite gives the `-wal` and `-shm` files the
/// database file's permissions.
async fn create_private(path: &std::path::Path) -> StoreResult<()> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    match options.open(path).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::unavailable(e)),
    }
}

/// Maps a driver error: unique violations say which rule, an outage is
/// [`StoreError::Unavailable`] ([`is_outage`]), everything else is a backend failure.
fn backend(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        return StoreError::Conflict(conflict_of(db.message()));
    }
    if is_outage(&error) {
        crate::measure::store_error("unavailable");
        return StoreError::unavailable(error);
    }
    crate::measure::store_error("backend");
    StoreError::Backend(Box::new(error))
}

/// Whether `error` means the database cannot serve right now rather than that a statement is
/// wrong: the pool timed out or closed, an I/O error, or SQLite's BUSY (locked for longer than
/// the busy timeout), LOCKED, IOERR, FULL or CANTOPEN (the primary code is the low byte of
/// the extended code sqlx reports).
fn is_outage(error: &sqlx::Error) -> bool {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .is_some_and(|code| matches!(code & 0xff, BUSY | LOCKED | IOERR | FULL | CANTOPEN)),
        _ => false,
    }
}

/// The rule named by SQLite's "UNIQUE constraint failed: table.column" message (the one place
/// the driver's text is read).
fn conflict_of(message: &str) -> Conflict {
    let columns = message.rsplit(": ").next().unwrap_or(message);
    match columns {
        "users.email" => Conflict::Email,
        "users.id" => Conflict::UserId,
        "clients.client_id" => Conflict::ClientId,
        "signing_keys.generation" => Conflict::Generation,
        "signing_keys.kid" => Conflict::Kid,
        "sessions.id_hash" => Conflict::SessionId,
        "authorization_codes.code_hash" => Conflict::CodeHash,
        "authorization_requests.id" => Conflict::RequestId,
        "apis.identifier" => Conflict::ApiIdentifier,
        _ => Conflict::Other,
    }
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
    crate::measure::store_error("corrupt");
    StoreError::Corrupt(error.to_string())
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(corrupt)
}

fn from_json<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(corrupt)
}

/// Reads one column, reporting a type mismatch as corrupt data.
fn col<'r, T>(row: &'r SqliteRow, name: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(name).map_err(corrupt)
}

fn user_from_row(row: &SqliteRow) -> StoreResult<User> {
    Ok(User {
        id: UserId(col(row, "id")?),
        email: col(row, "email")?,
        name: col(row, "name")?,
        email_verified: col(row, "email_verified")?,
        password_hash: col(row, "password_hash")?,
        password_changed_at: col(row, "password_changed_at")?,
        disabled: col(row, "disabled")?,
        created_at: col(row, "created_at")?,
    })
}

fn client_from_row(row: &SqliteRow) -> StoreResult<Client> {
    let secret_hash: Option<String> = col(row, "secret_hash")?;
    let method: String = col(row, "token_endpoint_auth_method")?;
    Ok(Client {
        client_id: col(row, "client_id")?,
        name: col(row, "name")?,
        secret_hash: secret_hash.map(TokenHash::from_stored),
        redirect_uris: from_json(&col::<String>(row, "redirect_uris")?)?,
        post_logout_redirect_uris: from_json(&col::<String>(row, "post_logout_redirect_uris")?)?,
        grant_types: from_json::<Vec<GrantType>>(&col::<String>(row, "grant_types")?)?,
        allowed_scopes: from_json(&col::<String>(row, "allowed_scopes")?)?,
        token_endpoint_auth_method: method.parse::<TokenEndpointAuthMethod>().map_err(corrupt)?,
        public: col(row, "public")?,
        first_party: col(row, "first_party")?,
        created_at: col(row, "created_at")?,
        refresh_tokens: col::<String>(row, "refresh_tokens")?
            .parse()
            .map_err(corrupt)?,
        allowed_origins: from_json(&col::<String>(row, "allowed_origins")?)?,
        backchannel_logout_uri: col(row, "backchannel_logout_uri")?,
    })
}

/// Every column of `authorization_codes`, in one place for SELECT and RETURNING.
macro_rules! code_columns {
    () => {
        "code_hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, auth_time, \
         sid, amr, grant_id, created_at, expires_at, redeemed_at, issued_jti, issued_expires_at, \
         claims"
    };
}

fn code_from_row(row: &SqliteRow) -> StoreResult<AuthorizationCode> {
    let grant_id: String = col(row, "grant_id")?;
    let issued_jti: Option<String> = col(row, "issued_jti")?;
    let issued_expires_at: Option<i64> = col(row, "issued_expires_at")?;
    let issued = match (issued_jti, issued_expires_at) {
        (Some(jti), Some(expires_at)) => Some(IssuedToken {
            jti,
            expires_at,
            grant_id: grant_id.clone(),
        }),
        _ => None,
    };
    Ok(AuthorizationCode {
        code_hash: TokenHash::from_stored(col::<String>(row, "code_hash")?),
        client_id: col(row, "client_id")?,
        user_id: UserId(col(row, "user_id")?),
        redirect_uri: col(row, "redirect_uri")?,
        scope: from_json(&col::<String>(row, "scope")?)?,
        nonce: col(row, "nonce")?,
        code_challenge: col(row, "code_challenge")?,
        auth_time: col(row, "auth_time")?,
        sid: col(row, "sid")?,
        amr: from_json(&col::<String>(row, "amr")?)?,
        grant_id,
        created_at: col(row, "created_at")?,
        expires_at: col(row, "expires_at")?,
        redeemed_at: col(row, "redeemed_at")?,
        issued,
        claims: col::<Option<String>>(row, "claims")?
            .map(|c| from_json(&c))
            .transpose()?,
    })
}

fn session_from_row(row: &SqliteRow) -> StoreResult<Session> {
    Ok(Session {
        id_hash: TokenHash::from_stored(col::<String>(row, "id_hash")?),
        sid: col(row, "sid")?,
        user_id: UserId(col(row, "user_id")?),
        auth_time: col(row, "auth_time")?,
        amr: from_json(&col::<String>(row, "amr")?)?,
        created_at: col(row, "created_at")?,
        last_seen_at: col(row, "last_seen_at")?,
        expires_at: col(row, "expires_at")?,
    })
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, user: &User) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO users (id, email, name, email_verified, password_hash, \
             password_changed_at, disabled, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(user.id.0.as_str())
        .bind(user.email.as_str())
        .bind(user.name.as_deref())
        .bind(user.email_verified)
        .bind(user.password_hash.as_str())
        .bind(user.password_changed_at)
        .bind(user.disabled)
        .bind(user.created_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn user_by_id(&self, id: &UserId) -> StoreResult<Option<User>> {
        sqlx::query("SELECT * FROM users WHERE id = ?")
            .bind(id.0.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        sqlx::query("SELECT * FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        sqlx::query("SELECT * FROM users ORDER BY created_at, rowid")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn enable_user(&self, id: &UserId) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET disabled = 0 WHERE id = ?")
            .bind(id.0.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn disable_user(&self, id: &UserId) -> StoreResult<Option<u64>> {
        // One transaction. Its first statement writes, so it holds the write lock from there on.
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let found = sqlx::query("UPDATE users SET disabled = 1 WHERE id = ?")
            .bind(id.0.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        if found.rows_affected() == 0 {
            return Ok(None);
        }
        let ended = sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(id.0.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(Some(ended.rows_affected()))
    }

    async fn set_password_hash(
        &self,
        id: &UserId,
        password_hash: &str,
        changed_at: UnixTime,
    ) -> StoreResult<bool> {
        let done =
            sqlx::query("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?")
                .bind(password_hash)
                .bind(changed_at)
                .bind(id.0.as_str())
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn create_client(&self, client: &Client) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO clients (client_id, name, secret_hash, redirect_uris, \
             post_logout_redirect_uris, grant_types, allowed_scopes, token_endpoint_auth_method, \
             public, first_party, created_at, refresh_tokens, allowed_origins, \
             backchannel_logout_uri) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(client.client_id.as_str())
        .bind(client.name.as_str())
        .bind(client.secret_hash.as_ref().map(TokenHash::as_str))
        .bind(to_json(&client.redirect_uris)?)
        .bind(to_json(&client.post_logout_redirect_uris)?)
        .bind(to_json(&client.grant_types)?)
        .bind(to_json(&client.allowed_scopes)?)
        .bind(client.token_endpoint_auth_method.as_str())
        .bind(client.public)
        .bind(client.first_party)
        .bind(client.created_at)
        .bind(client.refresh_tokens.as_str())
        .bind(to_json(&client.allowed_origins)?)
        .bind(client.backchannel_logout_uri.as_deref())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn client(&self, client_id: &str) -> StoreResult<Option<Client>> {
        sqlx::query("SELECT * FROM clients WHERE client_id = ?")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .as_ref()
            .map(client_from_row)
            .transpose()
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        sqlx::query("SELECT * FROM clients ORDER BY created_at, rowid")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(client_from_row)
            .collect()
    }

    async fn delete_client(&self, client_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM clients WHERE client_id = ?")
            .bind(client_id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl AuthorizationRequestStore for SqliteStore {
    async fn put_authorization_request(&self, request: &AuthorizationRequest) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO authorization_requests (id, request, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET request = excluded.request, \
             expires_at = excluded.expires_at",
        )
        .bind(request.id.as_str())
        .bind(to_json(request)?)
        .bind(request.expires_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn authorization_request(
        &self,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<AuthorizationRequest>> {
        let row = sqlx::query(
            "SELECT request FROM authorization_requests WHERE id = ? AND expires_at > ?",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        match row {
            Some(row) => Ok(Some(from_json(&col::<String>(&row, "request")?)?)),
            None => Ok(None),
        }
    }

    async fn take_authorization_request(
        &self,
        id: &str,
        now: UnixTime,
    ) -> StoreResult<Option<AuthorizationRequest>> {
        // One statement: the row goes to exactly one caller.
        let row = sqlx::query(
            "DELETE FROM authorization_requests WHERE id = ? RETURNING request, expires_at",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        match row {
            Some(row) if col::<i64>(&row, "expires_at")? > now => {
                Ok(Some(from_json(&col::<String>(&row, "request")?)?))
            }
            _ => Ok(None),
        }
    }
}

#[async_trait]
impl CodeStore for SqliteStore {
    async fn insert_code(&self, code: &AuthorizationCode) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO authorization_codes (",
            code_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(code.code_hash.as_str())
        .bind(code.client_id.as_str())
        .bind(code.user_id.0.as_str())
        .bind(code.redirect_uri.as_str())
        .bind(to_json(&code.scope)?)
        .bind(code.nonce.as_deref())
        .bind(code.code_challenge.as_deref())
        .bind(code.auth_time)
        .bind(code.sid.as_str())
        .bind(to_json(&code.amr)?)
        .bind(code.grant_id.as_str())
        .bind(code.created_at)
        .bind(code.expires_at)
        .bind(code.redeemed_at)
        .bind(code.issued.as_ref().map(|i| i.jti.as_str()))
        .bind(code.issued.as_ref().map(|i| i.expires_at))
        .bind(code.claims.as_ref().map(to_json).transpose()?)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn redeem_code(
        &self,
        code_hash: &TokenHash,
        now: UnixTime,
        access_token: &PlannedToken,
    ) -> StoreResult<CodeRedemption> {
        // RFC 6749 §4.1.2: single use. One statement, so of concurrent callers exactly one
        // sees the unredeemed row.
        let redeemed = sqlx::query(concat!(
            "UPDATE authorization_codes SET redeemed_at = ?, issued_jti = ?, issued_expires_at = ? \
             WHERE code_hash = ? AND redeemed_at IS NULL AND expires_at > ? RETURNING ",
            code_columns!()
        ))
        .bind(now)
        .bind(access_token.jti.as_str())
        .bind(access_token.expires_at)
        .bind(code_hash.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        if let Some(row) = redeemed {
            return Ok(CodeRedemption::Redeemed(code_from_row(&row)?));
        }
        let existing = sqlx::query(concat!(
            "SELECT ",
            code_columns!(),
            " FROM authorization_codes WHERE code_hash = ?"
        ))
        .bind(code_hash.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        match existing {
            Some(row) => {
                let code = code_from_row(&row)?;
                if code.redeemed_at.is_some() {
                    Ok(CodeRedemption::Replayed(code))
                } else {
                    Ok(CodeRedemption::Invalid)
                }
            }
            None => Ok(CodeRedemption::Invalid),
        }
    }
}

#[async_trait]
impl AccessTokenDenyList for SqliteStore {
    async fn revoke_access_token(
        &self,
        jti: &str,
        expires_at: UnixTime,
        grant_id: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO revoked_access_tokens (jti, expires_at, grant_id) VALUES (?, ?, ?) \
             ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at), \
             grant_id = coalesce(grant_id, excluded.grant_id)",
        )
        .bind(jti)
        .bind(expires_at)
        .bind(grant_id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn is_access_token_revoked(&self, jti: &str) -> StoreResult<bool> {
        let row = sqlx::query("SELECT 1 FROM revoked_access_tokens WHERE jti = ?")
            .bind(jti)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(row.is_some())
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: &Session) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (id_hash, sid, user_id, auth_time, amr, created_at, \
             last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(session.id_hash.as_str())
        .bind(session.sid.as_str())
        .bind(session.user_id.0.as_str())
        .bind(session.auth_time)
        .bind(to_json(&session.amr)?)
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(session.expires_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn session(&self, id_hash: &TokenHash, now: UnixTime) -> StoreResult<Option<Session>> {
        sqlx::query("SELECT * FROM sessions WHERE id_hash = ? AND expires_at > ?")
            .bind(id_hash.as_str())
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    async fn touch_session(&self, id_hash: &TokenHash, now: UnixTime) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET last_seen_at = max(last_seen_at, ?1) \
             WHERE id_hash = ?2 AND expires_at > ?1",
        )
        .bind(now)
        .bind(id_hash.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_session(&self, id_hash: &TokenHash) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_user_sessions(&self, user_id: &UserId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = ?")
            .bind(user_id.0.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl ConsentStore for SqliteStore {
    async fn consent(&self, user_id: &UserId, client_id: &str) -> StoreResult<Option<Consent>> {
        let row = sqlx::query(
            "SELECT scopes, granted_at FROM consents WHERE user_id = ? AND client_id = ?",
        )
        .bind(user_id.0.as_str())
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        match row {
            Some(row) => Ok(Some(Consent {
                user_id: user_id.clone(),
                client_id: client_id.to_string(),
                scopes: from_json(&col::<String>(&row, "scopes")?)?,
                granted_at: col(&row, "granted_at")?,
            })),
            None => Ok(None),
        }
    }

    async fn grant_consent(
        &self,
        user_id: &UserId,
        client_id: &str,
        scopes: &Scope,
        now: UnixTime,
    ) -> StoreResult<Consent> {
        // One upsert: the stored list, then the new scopes it lacks, merged inside the
        // statement, so concurrent grants cannot lose each other's scopes.
        let row = sqlx::query(
            "INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET \
             scopes = (SELECT json_group_array(value ORDER BY part, position) FROM ( \
                 SELECT value, 0 AS part, key AS position FROM json_each(consents.scopes) \
                 UNION ALL \
                 SELECT value, 1, key FROM json_each(excluded.scopes) \
                 WHERE value NOT IN (SELECT value FROM json_each(consents.scopes)))), \
             granted_at = excluded.granted_at \
             RETURNING scopes, granted_at",
        )
        .bind(user_id.0.as_str())
        .bind(client_id)
        .bind(to_json(scopes)?)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(Consent {
            user_id: user_id.clone(),
            client_id: client_id.to_string(),
            scopes: from_json(&col::<String>(&row, "scopes")?)?,
            granted_at: col(&row, "granted_at")?,
        })
    }
}

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn throttle_increment(&self, key: &str, now: UnixTime) -> StoreResult<Throttle> {
        let row = sqlx::query(
            "INSERT INTO throttles (key, failures, locked_until, updated_at) VALUES (?, 1, NULL, ?) \
             ON CONFLICT (key) DO UPDATE SET failures = failures + 1, \
             updated_at = excluded.updated_at RETURNING failures, locked_until",
        )
        .bind(key)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(Throttle {
            failures: col(&row, "failures")?,
            locked_until: col(&row, "locked_until")?,
        })
    }

    async fn throttle_try_lock(
        &self,
        key: &str,
        now: UnixTime,
        until: UnixTime,
    ) -> StoreResult<bool> {
        // One conditional upsert: the counter is created locked, or locked only if it is not.
        let done = sqlx::query(
            "INSERT INTO throttles (key, failures, locked_until, updated_at) VALUES (?, 0, ?, ?) \
             ON CONFLICT (key) DO UPDATE SET locked_until = excluded.locked_until, \
             updated_at = excluded.updated_at \
             WHERE throttles.locked_until IS NULL OR throttles.locked_until <= ?",
        )
        .bind(key)
        .bind(until)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn throttle_clear(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM throttles WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn purge_expired(
        &self,
        now: UnixTime,
        throttle_idle_before: UnixTime,
    ) -> StoreResult<u64> {
        let mut purged = 0;
        // A redeemed code is kept while the token it issued lives, so that a replay can still
        // revoke that token (RFC 6749 §4.1.2).
        for (sql, cutoff) in [
            (
                "DELETE FROM authorization_codes WHERE expires_at <= ?1 \
                 AND (issued_expires_at IS NULL OR issued_expires_at <= ?1)",
                now,
            ),
            (
                "DELETE FROM authorization_requests WHERE expires_at <= ?1",
                now,
            ),
            ("DELETE FROM sessions WHERE expires_at <= ?1", now),
            (
                "DELETE FROM revoked_access_tokens WHERE expires_at <= ?1",
                now,
            ),
        ] {
            let done = sqlx::query(sql)
                .bind(cutoff)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
            purged += done.rows_affected();
        }
        purged += refresh::purge(&self.pool, now).await?;
        let done = sqlx::query(
            "DELETE FROM throttles WHERE updated_at < ? \
             AND (locked_until IS NULL OR locked_until <= ?)",
        )
        .bind(throttle_idle_before)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        purged += outbox::purge(self, now).await? + reset::purge(self, now).await?;
        Ok(purged + done.rows_affected())
    }

    /// Takes the write lock and lets it go: a store whose reads work but whose writes are
    /// locked out (another process holding the lock past the busy timeout) cannot serve.
    async fn ping(&self) -> StoreResult<()> {
        let tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        tx.rollback().await.map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_to_memory_or_file() {
        assert_eq!(parse_url("sqlite::memory:").unwrap(), Location::Memory);
        assert_eq!(
            parse_url("sqlite://data/sesame.db").unwrap(),
            Location::File(PathBuf::from("data/sesame.db"))
        );
        assert_eq!(
            parse_url("sqlite:///tmp/x/test.db").unwrap(),
            Location::File(PathBuf::from("/tmp/x/test.db"))
        );
        assert!(parse_url("sqlite://").is_err());
        assert!(parse_url("postgres://x").is_err());
    }

    #[test]
    fn unique_violations_say_which_rule() {
        for (message, conflict) in [
            ("UNIQUE constraint failed: users.email", Conflict::Email),
            (
                "UNIQUE constraint failed: signing_keys.generation",
                Conflict::Generation,
            ),
            ("UNIQUE constraint failed: signing_keys.kid", Conflict::Kid),
            (
                "UNIQUE constraint failed: clients.client_id",
                Conflict::ClientId,
            ),
            ("UNIQUE constraint failed: something.else", Conflict::Other),
        ] {
            assert_eq!(conflict_of(message), conflict, "{message}");
        }
    }

    /// A fresh in-memory database with the migrations up to `version` applied.
    async fn migrated_to(version: i64) -> SqlitePool {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(SqliteConnectOptions::new().in_memory(true))
            .await
            .unwrap();
        MIGRATOR.run_to(version, &pool).await.unwrap();
        pool
    }

    #[tokio::test]
    async fn rows_written_before_migration_3_read_back() {
        let pool = migrated_to(2).await;
        // A redeemed code with the old space-separated scope, and one with an empty scope.
        for (hash, scope, issued_jti) in [
            ("old-code", "openid email", Some("old-jti")),
            ("empty-code", "", None),
        ] {
            sqlx::query(
                "INSERT INTO authorization_codes (code_hash, client_id, user_id, redirect_uri, \
                 scope, nonce, code_challenge, auth_time, sid, amr, created_at, expires_at, \
                 redeemed_at, issued_jti, issued_expires_at, claims) \
                 VALUES (?, 'client', 'user', 'https://app.example.com/cb', ?, NULL, NULL, 90, \
                 'sid', '[\"pwd\"]', 100, 700, ?, ?, ?, NULL)",
            )
            .bind(hash)
            .bind(scope)
            .bind(issued_jti.map(|_| 150))
            .bind(issued_jti)
            .bind(issued_jti.map(|_| 900))
            .execute(&pool)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO sessions (id_hash, sid, user_id, auth_time, amr, created_at, expires_at) \
             VALUES ('old-session', 'sid', 'user', 90, '[\"pwd\"]', 95, 5000)",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ('denied', 900)")
            .execute(&pool)
            .await
            .unwrap();

        MIGRATOR.run(&pool).await.unwrap();
        let store = SqliteStore { pool };

        let probe = PlannedToken {
            jti: "new-jti".into(),
            expires_at: 1000,
        };
        let CodeRedemption::Replayed(old) = store
            .redeem_code(&TokenHash::from_stored("old-code"), 200, &probe)
            .await
            .unwrap()
        else {
            panic!("the redeemed code reads back as spent");
        };
        assert_eq!(old.scope, Scope::parse("openid email").unwrap());
        assert!(!old.grant_id.is_empty(), "an old code gets a grant id");
        assert_eq!(
            old.issued,
            Some(IssuedToken {
                jti: "old-jti".into(),
                expires_at: 900,
                grant_id: old.grant_id.clone(),
            })
        );
        let CodeRedemption::Redeemed(empty) = store
            .redeem_code(&TokenHash::from_stored("empty-code"), 200, &probe)
            .await
            .unwrap()
        else {
            panic!("the unredeemed code still redeems");
        };
        assert!(empty.scope.is_empty());
        assert_ne!(empty.grant_id, old.grant_id, "each code its own grant");

        let session = store
            .session(&TokenHash::from_stored("old-session"), 200)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(session.last_seen_at, 95, "last seen when it started");
        assert!(store.is_access_token_revoked("denied").await.unwrap());
    }

    #[tokio::test]
    async fn code_scope_is_stored_as_a_json_list() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let code = AuthorizationCode {
            code_hash: TokenHash::from_stored("a-code"),
            client_id: "client".into(),
            user_id: UserId("user".into()),
            redirect_uri: "https://app.example.com/cb".into(),
            scope: Scope::parse("openid email").unwrap(),
            nonce: None,
            code_challenge: None,
            auth_time: 90,
            sid: "sid".into(),
            amr: vec!["pwd".into()],
            grant_id: "grant".into(),
            created_at: 100,
            expires_at: 700,
            redeemed_at: None,
            issued: None,
            claims: None,
        };
        store.insert_code(&code).await.unwrap();
        let row = sqlx::query("SELECT scope FROM authorization_codes WHERE code_hash = 'a-code'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(
            col::<String>(&row, "scope").unwrap(),
            r#"["openid","email"]"#
        );
    }

    #[tokio::test]
    async fn deny_list_entries_keep_the_first_grant_id_and_the_latest_expiry() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        store.revoke_access_token("jti", 100, None).await.unwrap();
        store
            .revoke_access_token("jti", 300, Some("grant-1"))
            .await
            .unwrap();
        store
            .revoke_access_token("jti", 200, Some("grant-2"))
            .await
            .unwrap();
        let row =
            sqlx::query("SELECT grant_id, expires_at FROM revoked_access_tokens WHERE jti = 'jti'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert_eq!(
            col::<Option<String>>(&row, "grant_id").unwrap().as_deref(),
            Some("grant-1")
        );
        assert_eq!(col::<i64>(&row, "expires_at").unwrap(), 300);
    }

    #[tokio::test]
    async fn in_memory_store_keeps_its_data_across_calls() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        store.revoke_access_token("jti-1", 100, None).await.unwrap();
        assert!(store.is_access_token_revoked("jti-1").await.unwrap());
        store.ping().await.unwrap();
    }
}
