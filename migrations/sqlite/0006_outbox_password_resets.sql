-- The durable delivery queue (mail, and later back-channel logout notices) and password-reset
-- tokens (SHA-256 hashes only). Times are Unix seconds.

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY NOT NULL,
    kind            TEXT NOT NULL,
    summary         TEXT NOT NULL,
    -- Erased ('') once the item is sent or failed: it may hold a reset link.
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    claim           TEXT,
    deadline        INTEGER NOT NULL,
    last_error      TEXT,
    finished_at     INTEGER,
    -- Set when the item ends: it is purged after that.
    expires_at      INTEGER
);
CREATE INDEX outbox_due ON outbox (kind, status, next_attempt_at);
CREATE INDEX outbox_listing ON outbox (kind, created_at);
CREATE INDEX outbox_expires_at ON outbox (expires_at);

CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX password_resets_user ON password_resets (user_id);
CREATE INDEX password_resets_expires_at ON password_resets (expires_at);
