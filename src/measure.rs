//! Domain metrics (issue 10): their names, help texts and the one-line helpers the code that
//! sees each event calls. Recorded through the `metrics` facade into the Prometheus recorder of
//! [`crate::monitoring`]; every label takes its value from a small fixed set.
//!
//! This module imports nothing of the crate, so that any layer (the store included) can record.

/// Logins by outcome: `success`, `bad_credentials`, `throttled` (counted by `audit::record`).
pub const LOGINS: &str = "sesame_logins_total";
/// Tokens issued at the token endpoint, by grant type.
pub const TOKENS_ISSUED: &str = "sesame_tokens_issued_total";
/// Refresh-token reuse detected (its grant revoked).
pub const REFRESH_REUSE: &str = "sesame_refresh_token_reuse_total";
/// Tokens revoked at `/revoke`, by kind: `access_token`, `refresh_token`.
pub const REVOCATIONS: &str = "sesame_revocations_total";
/// Audit entries that could not be stored.
pub const AUDIT_FAILURES: &str = "sesame_audit_write_failures_total";
/// Store errors, by kind: `unavailable` (an outage), `backend` (the database failed a
/// statement), `corrupt` (stored data unreadable). Uniqueness conflicts are answers, not errors.
pub const STORE_ERRORS: &str = "sesame_store_errors_total";
/// Seconds since the signing key started signing (set by the key-rotation job).
pub const KEY_AGE: &str = "sesame_signing_key_age_seconds";
/// Seconds until the next key takes over (negative: the rotation is overdue).
pub const KEY_NEXT_ROTATION: &str = "sesame_signing_key_next_rotation_seconds";
/// Password hashes waiting for a hashing slot (`password.max_concurrent_hashes`).
pub const ARGON2_WAITING: &str = "sesame_argon2_waiting";
/// Password hashes running now.
pub const ARGON2_RUNNING: &str = "sesame_argon2_running";

/// Help texts; called once with the recorder's own.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(
        LOGINS,
        "Login attempts by outcome (success, bad_credentials, throttled)"
    );
    describe_counter!(TOKENS_ISSUED, "Token responses issued, by grant type");
    describe_counter!(
        REFRESH_REUSE,
        "Refresh-token reuse detected; the grant was revoked"
    );
    describe_counter!(REVOCATIONS, "Tokens revoked at /revoke, by kind");
    describe_counter!(AUDIT_FAILURES, "Audit entries that could not be stored");
    describe_counter!(
        STORE_ERRORS,
        "Store errors, by kind (unavailable, backend, corrupt)"
    );
    describe_gauge!(
        KEY_AGE,
        metrics::Unit::Seconds,
        "Seconds since the signing key started signing"
    );
    describe_gauge!(
        KEY_NEXT_ROTATION,
        metrics::Unit::Seconds,
        "Seconds until the next signing key takes over (negative when overdue)"
    );
    describe_gauge!(ARGON2_WAITING, "Password hashes waiting for a hashing slot");
    describe_gauge!(ARGON2_RUNNING, "Password hashes running");
}

/// A token response was issued for `grant_type` (any other value counts as `other`).
pub fn token_issued(grant_type: &str) {
    let label = match grant_type {
        "authorization_code" => "authorization_code",
        "refresh_token" => "refresh_token",
        "client_credentials" => "client_credentials",
        _ => "other",
    };
    metrics::counter!(TOKENS_ISSUED, "grant_type" => label).increment(1);
}

/// A store error of `kind` (`unavailable`, `backend`, `corrupt`).
pub fn store_error(kind: &'static str) {
    metrics::counter!(STORE_ERRORS, "kind" => kind).increment(1);
}

/// The signing-key schedule: the signing key's age and the time to the next rotation, seconds
/// (a gauge is left as it was when its value is unknown).
pub fn key_schedule(age: Option<i64>, next_rotation_in: Option<i64>) {
    if let Some(age) = age {
        metrics::gauge!(KEY_AGE).set(age as f64);
    }
    if let Some(next) = next_rotation_in {
        metrics::gauge!(KEY_NEXT_ROTATION).set(next as f64);
    }
}

/// Counts a password hash in a gauge (waiting or running) for as long as it lives.
pub struct InGauge(&'static str);

impl InGauge {
    /// A hash waiting for a slot.
    pub fn waiting() -> InGauge {
        metrics::gauge!(ARGON2_WAITING).increment(1.0);
        InGauge(ARGON2_WAITING)
    }

    /// A hash running.
    pub fn running() -> InGauge {
        metrics::gauge!(ARGON2_RUNNING).increment(1.0);
        InGauge(ARGON2_RUNNING)
    }
}

impl Drop for InGauge {
    fn drop(&mut self) {
        metrics::gauge!(self.0).decrement(1.0);
    }
}
