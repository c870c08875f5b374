//! The IdP session: a 256-bit random cookie value; the server keeps only its SHA-256. It sits
//! beneath `oauth/` (authorize) and `ui/` (login, consent) alike: cookie ↔ store.

use crate::config::Config;
use crate::model::{Session, User};
use crate::secret::{Secret, TokenHash, random_id, random_token};
use crate::state::AppState;
use crate::store::StoreResult;
use actix_web::HttpRequest;
use actix_web::cookie::Cookie;

/// The cookie's name: `__Host-` prefixed when the issuer is https (ASVS 3.3.1).
pub fn cookie_name(config: &Config) -> &'static str {
    if config.secure_cookies {
        "__Host-sesame_session"
    } else {
        "sesame_session"
    }
}

fn presented_hash(req: &HttpRequest, config: &Config) -> Option<TokenHash> {
    req.cookie(cookie_name(config))
        .map(|c| TokenHash::of(c.value()))
}

/// The browser's live session, if its cookie names one that has not expired.
pub async fn current(state: &AppState, req: &HttpRequest) -> StoreResult<Option<Session>> {
    match presented_hash(req, &state.config) {
        Some(hash) => state.store.session(&hash, state.now()).await,
        None => Ok(None),
    }
}

/// Starts a new session for `user` after a successful login. Any session the browser already
/// had is ended, so a cookie planted before login is worthless after it (ASVS 7.2.4).
pub async fn start(
    state: &AppState,
    req: &HttpRequest,
    user: &User,
    amr: Vec<String>,
) -> StoreResult<(Session, Cookie<'static>)> {
    if let Some(old) = presented_hash(req, &state.config) {
        state.store.delete_session(&old).await?;
    }
    let now = state.now();
    let value: Secret = random_token();
    let session = Session {
        id_hash: value.hash(),
        sid: random_id(),
        user_id: user.id.clone(),
        auth_time: now,
        amr,
        created_at: now,
        last_seen_at: now,
        expires_at: now + state.config.session_ttl,
    };
    state.store.create_session(&session).await?;
    let cookie = crate::http::browser_cookie(
        &state.config,
        cookie_name(&state.config),
        value.expose().to_string(),
    );
    Ok((session, cookie))
}
