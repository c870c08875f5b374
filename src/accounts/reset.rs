//! Password reset by email (OWASP Forgot Password cheat sheet; ASVS 6.3.7, 6.5.2).
//!
//! A request answers the same, in the same time, whether or not the account exists: the page
//! only enqueues the request in the outbox (one insert, whatever the address), and the outbox
//! worker handles it through this service's [`Deliverer`]: for a known, active account one
//! store operation voids the user's older links, stores the new token's SHA-256 hash (256
//! random bits, bound to the user, 30 minutes by default) and enqueues the mail; for any other
//! address nothing happens. Nothing is sent inline, so the page never waits on SMTP either. The link is built from the configured
//! issuer, never from the request. Completing a reset is one store operation too: the token
//! is taken (single use), the argon2id hash of the new password set, `email_verified` set, the
//! login throttle cleared, every session ended, and the "your password was changed" mail
//! enqueued. The person then signs in; they are not signed in automatically.

use super::throttle::LoginThrottle;
use super::{AccountError, Accounts};
use crate::clock::UnixTime;
use crate::config::Config;
use crate::mail::{KIND as MAIL, MailError, Mailer};
use crate::model::{OutboxItem, ResetToken, User, UserId};
use crate::outbox::{Deliverer, DeliveryError, Doorbell, PayloadSeal};
use crate::secret::{Secret, TokenHash, random_token};
use crate::store::{Store, StoreError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The outbox kind of a reset request, handled by [`PasswordReset`] itself.
pub const REQUEST_KIND: &str = "password_reset_request";

/// A reset request as queued: the address as typed, and the authorization request to return to.
/// Erased from the outbox once handled, like every payload.
#[derive(Serialize, Deserialize)]
struct QueuedRequest {
    email: String,
    continue_request: Option<String>,
}

/// Subjects of the two mails.
const RESET_SUBJECT: &str = "Reset your password";
const CHANGED_SUBJECT: &str = "Your password was changed";

/// Why a reset step did not go through.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// The link is unknown, expired, used, or voided by a newer one or a password change.
    #[error("this reset link has expired or was already used")]
    InvalidLink,
    /// The two passwords differ.
    #[error("the two passwords do not match")]
    Mismatch,
    /// The policy refused the new password; the message says why.
    #[error("{0}")]
    WeakPassword(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error(transparent)]
    Mail(#[from] MailError),
}

impl From<AccountError> for ResetError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::WeakPassword(why) => ResetError::WeakPassword(why),
            AccountError::Store(e) => ResetError::Store(e),
            other => ResetError::Hashing(other.to_string()),
        }
    }
}

#[derive(Serialize)]
struct ResetMail<'a> {
    issuer: &'a str,
    email: &'a str,
    link: &'a str,
    minutes: i64,
}

#[derive(Serialize)]
struct ChangedMail<'a> {
    issuer: &'a str,
    email: &'a str,
}

/// The password-reset service.
pub struct PasswordReset {
    store: Arc<dyn Store>,
    accounts: Arc<Accounts>,
    mailer: Arc<Mailer>,
    doorbell: Arc<Doorbell>,
    seal: Arc<PayloadSeal>,
    issuer: String,
    token_ttl: i64,
    mail_deadline: i64,
}

/// Whether `id` looks like a pending authorization request id (base64url, short), so that only
/// such a value is carried into the link.
fn is_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl PasswordReset {
    /// The service, from `password_reset.*` configuration.
    pub fn new(
        store: Arc<dyn Store>,
        accounts: Arc<Accounts>,
        mailer: Arc<Mailer>,
        doorbell: Arc<Doorbell>,
        seal: Arc<PayloadSeal>,
        config: &Config,
    ) -> PasswordReset {
        PasswordReset {
            store,
            accounts,
            mailer,
            doorbell,
            seal,
            issuer: config.issuer.clone(),
            token_ttl: config.password_reset_ttl,
            mail_deadline: config.mail_delivery_deadline,
        }
    }

    /// Handles "send me a reset link" for `email` as typed: enqueues the request, the same
    /// one insert whether or not an account has this address, so neither the answer nor its
    /// time reveals anything. `continue_request` is a pending authorization request the link
    /// should lead back to. Rate limits are the caller's (the page limits per email and per IP).
    pub async fn request(
        &self,
        email: &str,
        continue_request: Option<&str>,
        now: UnixTime,
    ) -> Result<(), ResetError> {
        let payload = serde_json::to_string(&QueuedRequest {
            email: email.to_string(),
            continue_request: continue_request.map(str::to_string),
        })
        .map_err(|e| ResetError::Mail(MailError::Template(e.to_string())))?;
        // A request not handled within a link's lifetime is stale.
        let item = self.sealed(
            OutboxItem::new(
                REQUEST_KIND,
                "password reset request",
                "",
                now,
                now.saturating_add(self.token_ttl),
            ),
            &payload,
        )?;
        self.store.enqueue(&item).await?;
        self.doorbell.ring();
        Ok(())
    }

    /// Issues a link for `email` (as typed) if it is an active account's: the token and its
    /// mail in one store operation.
    async fn issue(
        &self,
        email: &str,
        continue_request: Option<&str>,
        now: UnixTime,
    ) -> Result<(), ResetError> {
        let Ok(email) = super::normalize_email(email) else {
            return Ok(());
        };
        let email = email.as_str();
        // The token and the mail are made whether or not the account exists, so both paths
        // do the same work up to the store write.
        let token = random_token();
        let mut link = format!("{}/password/reset?token={}", self.issuer, token.expose());
        if let Some(id) = continue_request.filter(|id| is_request_id(id)) {
            link.push_str("&request=");
            link.push_str(id);
        }
        let mail = match self.mailer.compose(
            "password_reset",
            RESET_SUBJECT,
            email,
            &ResetMail {
                issuer: &self.issuer,
                email,
                link: &link,
                minutes: self.token_ttl / 60,
            },
        ) {
            Ok(mail) => mail,
            // No account can have an address mail cannot reach: the same answer as unknown.
            Err(MailError::Recipient(_)) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        let Some(user) = self
            .store
            .user_by_email(email)
            .await?
            .filter(User::is_active)
        else {
            return Ok(());
        };
        let record = ResetToken {
            token_hash: token.hash(),
            user_id: user.id.clone(),
            created_at: now,
            expires_at: now.saturating_add(self.token_ttl),
        };
        let item = self.outbox_item(&mail, "password reset", &user.id, now)?;
        self.store.request_reset(&record, &item).await?;
        self.doorbell.ring();
        // The worker issues the link, so the requester's address is not known here.
        crate::audit::record(
            &*self.store,
            now,
            crate::audit::AuditEvent::PasswordResetRequested {
                user_id: Some(user.id.clone()),
                ip: None,
            },
        )
        .await;
        Ok(())
    }

    /// The email of the account whose reset the link's token is for, if the token is still
    /// valid (unknown, expired, used and voided tokens are not), so the form can name it.
    pub async fn check_link(
        &self,
        token: &str,
        now: UnixTime,
    ) -> Result<Option<String>, ResetError> {
        let Some(stored) = self.store.reset_token(&TokenHash::of(token), now).await? else {
            return Ok(None);
        };
        Ok(self
            .store
            .user_by_id(&stored.user_id)
            .await?
            .map(|user| user.email))
    }

    /// Sets a new password with the link's token: `password` and `confirmation` must match and
    /// pass the policy. Returns the user whose password changed.
    pub async fn complete(
        &self,
        token: &str,
        password: &Secret,
        confirmation: &Secret,
        now: UnixTime,
    ) -> Result<UserId, ResetError> {
        let hash = TokenHash::of(token);
        let stored = self
            .store
            .reset_token(&hash, now)
            .await?
            .ok_or(ResetError::InvalidLink)?;
        let user = self
            .store
            .user_by_id(&stored.user_id)
            .await?
            .ok_or(ResetError::InvalidLink)?;
        if password.expose() != confirmation.expose() {
            return Err(ResetError::Mismatch);
        }
        let normalized = self.accounts.check_password(&user.email, password)?;
        let phc = self
            .accounts
            .hasher
            .hash(normalized)
            .await
            .map_err(|e| ResetError::Hashing(e.to_string()))?;
        let mail = self.mailer.compose(
            "password_changed",
            CHANGED_SUBJECT,
            &user.email,
            &ChangedMail {
                issuer: &self.issuer,
                email: &user.email,
            },
        )?;
        let notice = self.outbox_item(&mail, "password changed", &user.id, now)?;
        let throttle_key = LoginThrottle::account_key(&user.email);
        let changed = self
            .store
            .complete_reset(&hash, now, &phc, &throttle_key, &notice)
            .await?
            .ok_or(ResetError::InvalidLink)?;
        self.doorbell.ring();
        tracing::info!(user_id = %changed, "password reset completed; sessions ended");
        crate::audit::record(
            &*self.store,
            now,
            crate::audit::AuditEvent::PasswordResetCompleted {
                user_id: changed.clone(),
            },
        )
        .await;
        Ok(changed)
    }

    /// The outbox item carrying `mail`; its summary names the user, never the address or link.
    fn outbox_item(
        &self,
        mail: &crate::mail::MailMessage,
        what: &str,
        user: &UserId,
        now: UnixTime,
    ) -> Result<OutboxItem, ResetError> {
        let payload = serde_json::to_string(mail)
            .map_err(|e| ResetError::Mail(MailError::Template(e.to_string())))?;
        self.sealed(
            OutboxItem::new(
                MAIL,
                format!("{what} mail for user {user}"),
                "",
                now,
                now.saturating_add(self.mail_deadline),
            ),
            &payload,
        )
    }

    /// `item` with `payload` sealed as its payload.
    fn sealed(&self, mut item: OutboxItem, payload: &str) -> Result<OutboxItem, ResetError> {
        item.payload = self
            .seal
            .seal(&item.id, payload)
            .map_err(|e| ResetError::Mail(MailError::Template(e.to_string())))?;
        Ok(item)
    }
}

/// The outbox worker hands queued reset requests here.
#[async_trait]
impl Deliverer for PasswordReset {
    fn kind(&self) -> &str {
        REQUEST_KIND
    }

    async fn deliver(&self, item: &OutboxItem, now: UnixTime) -> Result<(), DeliveryError> {
        let queued: QueuedRequest = serde_json::from_str(&item.payload)
            .map_err(|e| DeliveryError::Permanent(format!("unreadable reset request: {e}")))?;
        match self
            .issue(&queued.email, queued.continue_request.as_deref(), now)
            .await
        {
            Ok(()) => Ok(()),
            Err(ResetError::Store(e)) => Err(DeliveryError::Transient(e.to_string())),
            Err(e) => Err(DeliveryError::Permanent(e.to_string())),
        }
    }
}
