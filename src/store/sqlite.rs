//! The embedded SQLite backend (sqlx): WAL journal, migrations embedded in the binary, one
//! atomic statement for every single-use or counting rule.
//!
//! Lists (redirect URIs, grant types, scopes, `amr`) are stored as JSON arrays; a pending
//! authorization request is one JSON document beside its id and expiry.

use super::{
    AuthorizationRequestStore, ClientStore, CodeStore, ConsentStore, KeyStore, SessionStore, Store,
    StoreError, StoreResult, ThrottleStore, TokenStore, UserStore,
};
use crate::clock::UnixTime;
use crate::model::{
    AuthorizationCode, AuthorizationRequest, Client, CodeRedemption, Consent, GrantType,
    IssuedToken, KeyState, Scope, Session, SigningKey, Throttle, TokenEndpointAuthMethod, User,
    UserId,
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

/// How long a statement waits for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections in a file-backed pool; WAL lets readers run beside the one writer.
const FILE_POOL_SIZE: u32 = 8;

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
                        .map_err(|e| StoreError::Backend(Box::new(e)))?;
                }
                create_private(&path).await?;
                let options = base
                    .filename(&path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal);
                SqlitePoolOptions::new()
                    .max_connections(FILE_POOL_SIZE)
                    .connect_with(options)
                    .await
                    .map_err(backend)?
            }
        };
        sqlx::migrate!("migrations/sqlite")
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
        Err(e) => Err(StoreError::Backend(Box::new(e))),
    }
}

/// Maps a driver error: unique violations name the field, everything else is a backend failure.
fn backend(error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.is_unique_violation()
    {
        return StoreError::Conflict(conflict_field(db.message()));
    }
    StoreError::Backend(Box::new(error))
}

/// The field named by SQLite's "UNIQUE constraint failed: table.column" message.
fn conflict_field(message: &str) -> &'static str {
    let columns = message.rsplit(": ").next().unwrap_or(message);
    match columns {
        "users.email" => "email",
        "users.id" => "id",
        "clients.client_id" => "client_id",
        "signing_keys.generation" => "generation",
        "signing_keys.kid" => "kid",
        "sessions.id_hash" => "id_hash",
        "authorization_codes.code_hash" => "code_hash",
        "authorization_requests.id" => "id",
        _ => "record",
    }
}

fn corrupt(error: impl std::fmt::Display) -> StoreError {
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
    })
}

/// Every column of `authorization_codes`, in one place for SELECT and RETURNING.
macro_rules! code_columns {
    () => {
        "code_hash, client_id, user_id, redirect_uri, scope, nonce, code_challenge, auth_time, \
         sid, amr, created_at, expires_at, redeemed_at, issued_jti, issued_expires_at, claims"
    };
}

fn code_from_row(row: &SqliteRow) -> StoreResult<AuthorizationCode> {
    let issued_jti: Option<String> = col(row, "issued_jti")?;
    let issued_expires_at: Option<i64> = col(row, "issued_expires_at")?;
    let issued = match (issued_jti, issued_expires_at) {
        (Some(jti), Some(expires_at)) => Some(IssuedToken { jti, expires_at }),
        _ => None,
    };
    Ok(AuthorizationCode {
        code_hash: TokenHash::from_stored(col::<String>(row, "code_hash")?),
        client_id: col(row, "client_id")?,
        user_id: UserId(col(row, "user_id")?),
        redirect_uri: col(row, "redirect_uri")?,
        scope: Scope::parse(&col::<String>(row, "scope")?).map_err(corrupt)?,
        nonce: col(row, "nonce")?,
        code_challenge: col(row, "code_challenge")?,
        auth_time: col(row, "auth_time")?,
        sid: col(row, "sid")?,
        amr: from_json(&col::<String>(row, "amr")?)?,
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
        expires_at: col(row, "expires_at")?,
    })
}

fn key_from_row(row: &SqliteRow) -> StoreResult<SigningKey> {
    let state: String = col(row, "state")?;
    Ok(SigningKey {
        kid: col(row, "kid")?,
        alg: col(row, "alg")?,
        public_jwk: col(row, "public_jwk")?,
        private_key_enc: col(row, "private_key_enc")?,
        state: state.parse::<KeyState>().map_err(corrupt)?,
        created_at: col(row, "created_at")?,
        activates_at: col(row, "activates_at")?,
        retires_at: col(row, "retires_at")?,
        generation: col(row, "generation")?,
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

    async fn set_user_disabled(&self, id: &UserId, disabled: bool) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE users SET disabled = ? WHERE id = ?")
            .bind(disabled)
            .bind(id.0.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
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
             public, first_party, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(code.code_hash.as_str())
        .bind(code.client_id.as_str())
        .bind(code.user_id.0.as_str())
        .bind(code.redirect_uri.as_str())
        .bind(code.scope.to_string())
        .bind(code.nonce.as_deref())
        .bind(code.code_challenge.as_deref())
        .bind(code.auth_time)
        .bind(code.sid.as_str())
        .bind(to_json(&code.amr)?)
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

    async fn consume_code(
        &self,
        code_hash: &TokenHash,
        now: UnixTime,
        issued: &IssuedToken,
    ) -> StoreResult<CodeRedemption> {
        // RFC 6749 §4.1.2: single use. One statement, so of concurrent callers exactly one
        // sees the unredeemed row.
        let redeemed = sqlx::query(concat!(
            "UPDATE authorization_codes SET redeemed_at = ?, issued_jti = ?, issued_expires_at = ? \
             WHERE code_hash = ? AND redeemed_at IS NULL AND expires_at > ? RETURNING ",
            code_columns!()
        ))
        .bind(now)
        .bind(issued.jti.as_str())
        .bind(issued.expires_at)
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
impl TokenStore for SqliteStore {
    async fn revoke_access_token(&self, jti: &str, expires_at: UnixTime) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES (?, ?) \
             ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
        )
        .bind(jti)
        .bind(expires_at)
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
            "INSERT INTO sessions (id_hash, sid, user_id, auth_time, amr, created_at, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(session.id_hash.as_str())
        .bind(session.sid.as_str())
        .bind(session.user_id.0.as_str())
        .bind(session.auth_time)
        .bind(to_json(&session.amr)?)
        .bind(session.created_at)
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

    async fn put_consent(&self, consent: &Consent) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, \
             granted_at = excluded.granted_at",
        )
        .bind(consent.user_id.0.as_str())
        .bind(consent.client_id.as_str())
        .bind(to_json(&consent.scopes)?)
        .bind(consent.granted_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_signing_key(&self, key: &SigningKey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, public_jwk, private_key_enc, state, created_at, \
             activates_at, retires_at, generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(key.kid.as_str())
        .bind(key.alg.as_str())
        .bind(key.public_jwk.as_str())
        .bind(key.private_key_enc.as_slice())
        .bind(key.state.as_str())
        .bind(key.created_at)
        .bind(key.activates_at)
        .bind(key.retires_at)
        .bind(key.generation)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>> {
        sqlx::query("SELECT * FROM signing_keys ORDER BY generation")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?
            .iter()
            .map(key_from_row)
            .collect()
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
        let done = sqlx::query(
            "DELETE FROM throttles WHERE updated_at < ? \
             AND (locked_until IS NULL OR locked_until <= ?)",
        )
        .bind(throttle_idle_before)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(purged + done.rows_affected())
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
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
    fn unique_violations_name_the_field() {
        assert_eq!(
            conflict_field("UNIQUE constraint failed: users.email"),
            "email"
        );
        assert_eq!(
            conflict_field("UNIQUE constraint failed: signing_keys.generation"),
            "generation"
        );
        assert_eq!(
            conflict_field("UNIQUE constraint failed: signing_keys.kid"),
            "kid"
        );
    }

    #[tokio::test]
    async fn in_memory_store_keeps_its_data_across_calls() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        store.revoke_access_token("jti-1", 100).await.unwrap();
        assert!(store.is_access_token_revoked("jti-1").await.unwrap());
        store.ping().await.unwrap();
    }
}
