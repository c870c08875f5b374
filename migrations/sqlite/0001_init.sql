-- Sesame's embedded schema. Times are Unix seconds; lists are JSON arrays of strings.
-- Uniqueness rules mirror the store interface: each maps to StoreError::Conflict(field).

CREATE TABLE users (
    id                  TEXT PRIMARY KEY NOT NULL,
    email               TEXT NOT NULL UNIQUE,
    name                TEXT,
    email_verified      INTEGER NOT NULL,
    password_hash       TEXT NOT NULL,
    password_changed_at INTEGER NOT NULL,
    disabled            INTEGER NOT NULL,
    created_at          INTEGER NOT NULL
);

CREATE TABLE clients (
    client_id                  TEXT PRIMARY KEY NOT NULL,
    name                       TEXT NOT NULL,
    secret_hash                TEXT,
    redirect_uris              TEXT NOT NULL,
    post_logout_redirect_uris  TEXT NOT NULL,
    grant_types                TEXT NOT NULL,
    allowed_scopes             TEXT NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    public                     INTEGER NOT NULL,
    first_party                INTEGER NOT NULL,
    created_at                 INTEGER NOT NULL
);

-- The validated /authorize parameters, as one JSON document.
CREATE TABLE authorization_requests (
    id         TEXT PRIMARY KEY NOT NULL,
    request    TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX authorization_requests_expires_at ON authorization_requests (expires_at);

CREATE TABLE authorization_codes (
    code_hash         TEXT PRIMARY KEY NOT NULL,
    client_id         TEXT NOT NULL,
    user_id           TEXT NOT NULL,
    redirect_uri      TEXT NOT NULL,
    scope             TEXT NOT NULL,
    nonce             TEXT,
    code_challenge    TEXT,
    auth_time         INTEGER NOT NULL,
    sid               TEXT NOT NULL,
    amr               TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    redeemed_at       INTEGER,
    issued_jti        TEXT,
    issued_expires_at INTEGER
);
CREATE INDEX authorization_codes_expires_at ON authorization_codes (expires_at);

-- The deny-list of revoked access tokens.
CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY NOT NULL,
    sid        TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    amr        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE consents (
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY NOT NULL,
    alg             TEXT NOT NULL,
    public_jwk      TEXT NOT NULL,
    private_key_enc BLOB NOT NULL,
    state           TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    activates_at    INTEGER NOT NULL,
    retires_at      INTEGER,
    generation      INTEGER NOT NULL UNIQUE
);

CREATE TABLE throttles (
    key          TEXT PRIMARY KEY NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until INTEGER,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX throttles_updated_at ON throttles (updated_at);
