//! The audit trail (issue 10): security events go to the store ([`crate::store::AuditStore`],
//! read back with `sesame audit`) and to the log, and move the domain metrics that count them.
//!
//! Recording never fails the request that caused the event: a store error is logged (and
//! counted) and the request goes on. Events carry ids and outcomes only, never a secret.
//!
//! Anyone with a store and a time records with one call: `audit::record(store, now, event)`.

use crate::clock::UnixTime;
use crate::model::{AuditRecord, UserId};
use crate::store::AuditStore;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};

/// The default retention: 90 days (`audit.retention`).
pub const DEFAULT_RETENTION: i64 = 90 * 86_400;

/// The retention new entries get; set once at start-up from `audit.retention`.
static RETENTION: AtomicI64 = AtomicI64::new(DEFAULT_RETENTION);

/// Sets how long new entries are kept (start-up, from `audit.retention`).
pub fn set_retention(seconds: i64) {
    RETENTION.store(seconds, Ordering::Relaxed);
}

/// How long new entries are kept, seconds.
pub fn retention() -> i64 {
    RETENTION.load(Ordering::Relaxed)
}

use crate::measure::{AUDIT_FAILURES, LOGINS, REFRESH_REUSE, REVOCATIONS};

/// A security event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditEvent {
    /// A correct password for an active account.
    LoginSucceeded { user_id: UserId, ip: Option<IpAddr> },
    /// A wrong password, or an unknown or disabled account (`user_id` when the email names one).
    LoginFailed {
        user_id: Option<UserId>,
        ip: Option<IpAddr>,
    },
    /// An attempt refused by login throttling before any password check.
    LoginThrottled {
        user_id: Option<UserId>,
        ip: Option<IpAddr>,
    },
    /// The person approved scopes for a client.
    ConsentGranted {
        user_id: UserId,
        client_id: String,
        scope: String,
    },
    /// A client revoked one of its tokens at `/revoke` (`what`: `access_token` or
    /// `refresh_token`).
    TokenRevoked {
        client_id: String,
        user_id: Option<UserId>,
        what: &'static str,
    },
    /// A rotated-away refresh token was presented again; its grant was revoked.
    RefreshReuse { client_id: String, user_id: UserId },
    /// A new signing key started signing (or was published to do so).
    KeyRotated { kid: String },
    /// A signing key was revoked.
    KeyRevoked { kid: String },
    /// A client was registered.
    ClientCreated { client_id: String },
    /// A client was deleted.
    ClientDeleted { client_id: String },
    /// A user was disabled; their sessions ended.
    UserDisabled {
        user_id: UserId,
        sessions_ended: u64,
    },
    /// A password reset was asked for.
    PasswordResetRequested {
        user_id: Option<UserId>,
        ip: Option<IpAddr>,
    },
    /// A password was reset with a valid reset link.
    PasswordResetCompleted { user_id: UserId },
}

impl AuditEvent {
    /// What happened: the entry's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            AuditEvent::LoginSucceeded { .. }
            | AuditEvent::LoginFailed { .. }
            | AuditEvent::LoginThrottled { .. } => "login",
            AuditEvent::ConsentGranted { .. } => "consent_granted",
            AuditEvent::TokenRevoked { .. } => "token_revoked",
            AuditEvent::RefreshReuse { .. } => "refresh_reuse",
            AuditEvent::KeyRotated { .. } => "key_rotated",
            AuditEvent::KeyRevoked { .. } => "key_revoked",
            AuditEvent::ClientCreated { .. } => "client_created",
            AuditEvent::ClientDeleted { .. } => "client_deleted",
            AuditEvent::UserDisabled { .. } => "user_disabled",
            AuditEvent::PasswordResetRequested { .. } => "password_reset_requested",
            AuditEvent::PasswordResetCompleted { .. } => "password_reset_completed",
        }
    }

    /// How it ended: the entry's `outcome`.
    pub fn outcome(&self) -> &'static str {
        match self {
            AuditEvent::LoginFailed { .. } => "bad_credentials",
            AuditEvent::LoginThrottled { .. } => "throttled",
            AuditEvent::RefreshReuse { .. } => "grant_revoked",
            _ => "success",
        }
    }

    /// The entry this event makes at `at`, kept for `retention` seconds.
    pub fn entry(&self, at: UnixTime, retention: i64) -> AuditRecord {
        let mut r = AuditRecord {
            at,
            kind: self.kind().to_owned(),
            outcome: self.outcome().to_owned(),
            user_id: None,
            client_id: None,
            ip: None,
            detail: None,
            expires_at: at.saturating_add(retention),
        };
        match self {
            AuditEvent::LoginSucceeded { user_id, ip } => {
                r.user_id = Some(user_id.clone());
                r.ip = ip.map(|i| i.to_string());
            }
            AuditEvent::LoginFailed { user_id, ip }
            | AuditEvent::LoginThrottled { user_id, ip }
            | AuditEvent::PasswordResetRequested { user_id, ip } => {
                r.user_id = user_id.clone();
                r.ip = ip.map(|i| i.to_string());
            }
            AuditEvent::ConsentGranted {
                user_id,
                client_id,
                scope,
            } => {
                r.user_id = Some(user_id.clone());
                r.client_id = Some(client_id.clone());
                r.detail = Some(format!("scope: {scope}"));
            }
            AuditEvent::TokenRevoked {
                client_id,
                user_id,
                what,
            } => {
                r.user_id = user_id.clone();
                r.client_id = Some(client_id.clone());
                r.detail = Some((*what).to_owned());
            }
            AuditEvent::RefreshReuse { client_id, user_id } => {
                r.user_id = Some(user_id.clone());
                r.client_id = Some(client_id.clone());
            }
            AuditEvent::KeyRotated { kid } | AuditEvent::KeyRevoked { kid } => {
                r.detail = Some(format!("kid: {kid}"));
            }
            AuditEvent::ClientCreated { client_id } | AuditEvent::ClientDeleted { client_id } => {
                r.client_id = Some(client_id.clone());
            }
            AuditEvent::UserDisabled {
                user_id,
                sessions_ended,
            } => {
                r.user_id = Some(user_id.clone());
                r.detail = Some(format!("sessions ended: {sessions_ended}"));
            }
            AuditEvent::PasswordResetCompleted { user_id } => {
                r.user_id = Some(user_id.clone());
            }
        }
        r
    }

    /// Moves the domain metric this event counts, if any.
    fn count(&self) {
        match self {
            AuditEvent::LoginSucceeded { .. }
            | AuditEvent::LoginFailed { .. }
            | AuditEvent::LoginThrottled { .. } => {
                metrics::counter!(LOGINS, "outcome" => self.outcome()).increment(1);
            }
            AuditEvent::RefreshReuse { .. } => metrics::counter!(REFRESH_REUSE).increment(1),
            AuditEvent::TokenRevoked { what, .. } => {
                metrics::counter!(REVOCATIONS, "kind" => *what).increment(1);
            }
            _ => {}
        }
    }
}

/// Records `event` at `now`: counts it, logs it (target `sesame::audit`) and appends it to the
/// audit trail. A store failure is logged and counted, never returned: the event's request
/// goes on.
pub async fn record(store: &(impl AuditStore + ?Sized), now: UnixTime, event: AuditEvent) {
    event.count();
    let entry = event.entry(now, retention());
    tracing::info!(
        target: "sesame::audit",
        kind = %entry.kind,
        outcome = %entry.outcome,
        user_id = entry.user_id.as_ref().map(|u| u.0.as_str()),
        client_id = entry.client_id.as_deref(),
        ip = entry.ip.as_deref(),
        detail = entry.detail.as_deref(),
        "audit"
    );
    if let Err(error) = store.append_audit(&entry).await {
        metrics::counter!(AUDIT_FAILURES).increment(1);
        tracing::error!(target: "sesame::audit", %error, kind = %entry.kind, "audit entry not stored");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_carry_ids_and_outcomes_and_expire_after_the_retention() {
        let e = AuditEvent::LoginFailed {
            user_id: Some(UserId("u1".into())),
            ip: Some("192.0.2.7".parse().unwrap()),
        }
        .entry(1000, 50);
        assert_eq!(e.kind, "login");
        assert_eq!(e.outcome, "bad_credentials");
        assert_eq!(e.user_id, Some(UserId("u1".into())));
        assert_eq!(e.ip.as_deref(), Some("192.0.2.7"));
        assert_eq!(e.expires_at, 1050);
        let k = AuditEvent::KeyRevoked { kid: "k9".into() }.entry(5, 1);
        assert_eq!(
            (k.kind.as_str(), k.detail.as_deref()),
            ("key_revoked", Some("kid: k9"))
        );
    }
}
