-- Groundwork for the token lifecycle and the session idle timeout (issue 6). Rows written
-- before this migration stay readable: each new column gets a value for them here.

-- Every code starts a grant: the family its tokens (and, later, its refresh tokens) share, so
-- that a grant can be revoked as a whole. Codes issued before this migration get a fresh one.
ALTER TABLE authorization_codes ADD COLUMN grant_id TEXT NOT NULL DEFAULT '';
UPDATE authorization_codes SET grant_id = lower(hex(randomblob(16))) WHERE grant_id = '';

-- A code's scope is a JSON array like every other list (it was space-separated). Scope tokens
-- (RFC 6749 §3.3) hold no space, '"' or '\', so the old form converts by substitution.
UPDATE authorization_codes
SET scope = CASE WHEN scope = '' THEN '[]' ELSE '["' || replace(scope, ' ', '","') || '"]' END;

-- A deny-list entry may name the grant its token was issued under.
ALTER TABLE revoked_access_tokens ADD COLUMN grant_id TEXT;
CREATE INDEX revoked_access_tokens_grant_id ON revoked_access_tokens (grant_id);

-- When a session was last used, for the idle timeout; an existing session was last seen when
-- it started.
ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_at = created_at;
