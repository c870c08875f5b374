//! What every handler shares.

use crate::accounts::Accounts;
use crate::accounts::reset::PasswordReset;
use crate::authorization::Authorizer;
use crate::authorization::limit::PendingLimit;
use crate::clock::Clock;
use crate::config::Config;
use crate::keys::KeyManager;
use crate::outbox::Deliveries;
use crate::rate_limit::KeyedLimit;
use crate::render::Templates;
use crate::store::Store;
use std::sync::Arc;

/// Shared application state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyManager>,
    pub templates: Arc<Templates>,
    pub accounts: Arc<Accounts>,
    pub clock: Arc<dyn Clock>,
    /// The per-IP limit on new pending authorization requests.
    pub pending_limit: Arc<PendingLimit>,
    /// The per-client limit on introspection requests (by `client_id`).
    pub introspection_limit: Arc<KeyedLimit<String>>,
    /// The discovery document, rendered once.
    pub discovery: actix_web::web::Bytes,
    /// The outbox service (mail delivery); its worker runs among the background jobs.
    pub deliveries: Arc<Deliveries>,
    /// Password reset by email.
    pub password_reset: Arc<PasswordReset>,
    /// The per-email and per-IP limits on reset requests.
    pub reset_limits: Arc<ResetLimits>,
}

/// Limits on password-reset requests (`password_reset.*`), counted in memory per instance.
pub struct ResetLimits {
    /// Per normalised email address: over it, no mail, and the same page as always.
    pub per_email: KeyedLimit<String>,
    /// Per client IP: over it, a 429 page.
    pub per_ip: KeyedLimit<std::net::IpAddr>,
}

impl AppState {
    /// The current time, from the (possibly pinned) clock.
    pub fn now(&self) -> crate::clock::UnixTime {
        self.clock.now()
    }

    /// The authorization core's store-backed steps, at the current time.
    pub fn authorizer(&self) -> Authorizer<'_> {
        Authorizer {
            store: &*self.store,
            accounts: &self.accounts,
            pending_limit: &self.pending_limit,
            code_ttl: self.config.code_ttl,
            now: self.now(),
        }
    }
}
