-- Key lifecycle (issue 7): a revoked state needs no schema change (state is TEXT); a rewrap
-- stages the key sealed under the new KEK beside the old blob; per-kid usage counters.
ALTER TABLE signing_keys ADD COLUMN private_key_enc_rewrapped BLOB;

CREATE TABLE key_usage (
    kid          TEXT PRIMARY KEY NOT NULL,
    uses         INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
