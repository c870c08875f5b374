-- The audit trail (issue 10): security events, read by user, client and time, purged after
-- their retention.
CREATE TABLE audit_events (
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL,
    user_id TEXT,
    client_id TEXT,
    ip TEXT,
    detail TEXT,
    expires_at INTEGER NOT NULL
);
CREATE INDEX audit_events_at ON audit_events (at);
CREATE INDEX audit_events_user ON audit_events (user_id, at);
CREATE INDEX audit_events_client ON audit_events (client_id, at);
CREATE INDEX audit_events_expires ON audit_events (expires_at);
