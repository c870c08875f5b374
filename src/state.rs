//! What every handler shares.

use crate::accounts::Accounts;
use crate::clock::Clock;
use crate::config::Config;
use crate::keys::KeyManager;
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
    /// The discovery document, rendered once.
    pub discovery: actix_web::web::Bytes,
}

impl AppState {
    /// The current time, from the (possibly pinned) clock.
    pub fn now(&self) -> crate::clock::UnixTime {
        self.clock.now()
    }
}
