-- Refresh tokens (issue 8): one family per grant, and when a client gets one.

-- When a code redemption also issues a refresh token: always, offline_access (only when the
-- granted scope has it) or never. Existing clients get the default.
ALTER TABLE clients ADD COLUMN refresh_tokens TEXT NOT NULL DEFAULT 'offline_access';

-- One row per grant: the one token that may be redeemed now, the grant's login and scope, the
-- sealed response of the last rotation for a retry of it, and whether the family is revoked.
CREATE TABLE refresh_families (
    grant_id            TEXT PRIMARY KEY NOT NULL,
    client_id           TEXT NOT NULL,
    user_id             TEXT NOT NULL,
    scope               TEXT NOT NULL,
    sid                 TEXT NOT NULL,
    auth_time           INTEGER NOT NULL,
    amr                 TEXT NOT NULL,
    claims              TEXT,
    offline             INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    expires_at          INTEGER NOT NULL,
    current_hash        TEXT NOT NULL,
    current_issued_at   INTEGER NOT NULL,
    current_expires_at  INTEGER NOT NULL,
    retry_previous_hash TEXT,
    retry_request_hash  TEXT,
    retry_until         INTEGER,
    retry_sealed        BLOB,
    revoked_at          INTEGER
);
CREATE INDEX refresh_families_user ON refresh_families (user_id);
CREATE INDEX refresh_families_sid ON refresh_families (sid);

-- Every refresh token a family ever had (SHA-256), so that a rotated-away one presented again
-- is recognised as reuse. Gone with its family.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    grant_id   TEXT NOT NULL REFERENCES refresh_families (grant_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
