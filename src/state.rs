//! What every handler shares.

use crate::accounts::Accounts;
use crate::authorization::Authorizer;
use crate::authorization::limit::PendingLimit;
use crate::clock::Clock;
use crate::config::Config;
use crate::keys::KeyManager;
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
