//! The IdP session: a 256-bit random cookie value; the server keeps only its SHA-256. It sits
//! beneath `oauth/` (authorize) and `ui/` (login, consent) alike: cookie ↔ store.
//!
//! A session has two lifetimes: an absolute one (`session.ttl`, its `expires_at`, which the
//! store enforces) and an idle one (`session.idle_ttl`, counted from `last_seen_at`, which
//! [`current`] enforces and slides forward on each use, so an abandoned browser does not stay
//! signed in until the absolute end).

use crate::clock::UnixTime;
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

/// The least time between two writes of `last_seen_at` for one session, seconds: each use
/// extends the session, but a busy session costs the store one write a minute, not one per
/// request. The idle timeout is therefore honoured to within this much.
pub const TOUCH_INTERVAL: i64 = 60;

/// What one use of a live session at `now` means for its idle lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleCheck {
    /// Unused for longer than `idle_ttl`: the session is over.
    Expired,
    /// In use; `last_seen_at` is recent enough to leave as it is.
    Fresh,
    /// In use; record `now` as `last_seen_at` (at most once per [`TOUCH_INTERVAL`]).
    Touch,
}

/// The idle rule for a use of `session` at `now`: over when `now - last_seen_at > idle_ttl`.
pub fn idle_check(session: &Session, now: UnixTime, idle_ttl: i64) -> IdleCheck {
    let idle = now - session.last_seen_at;
    if idle > idle_ttl {
        IdleCheck::Expired
    } else if idle >= TOUCH_INTERVAL {
        IdleCheck::Touch
    } else {
        IdleCheck::Fresh
    }
}

/// The browser's live session, if its cookie names one that has passed neither its absolute
/// end nor its idle timeout. The use counts: it extends the idle timeout (see
/// [`TOUCH_INTERVAL`]). A session found idle too long is deleted.
pub async fn current(state: &AppState, req: &HttpRequest) -> StoreResult<Option<Session>> {
    let Some(hash) = presented_hash(req, &state.config) else {
        return Ok(None);
    };
    let now = state.now();
    let Some(mut session) = state.store.session(&hash, now).await? else {
        return Ok(None);
    };
    match idle_check(&session, now, state.config.session_idle_ttl) {
        IdleCheck::Expired => {
            state.store.delete_session(&hash).await?;
            Ok(None)
        }
        IdleCheck::Touch => {
            // `false`: ended (logout, disable) between the read and this write.
            if !state.store.touch_session(&hash, now).await? {
                return Ok(None);
            }
            session.last_seen_at = now;
            Ok(Some(session))
        }
        IdleCheck::Fresh => Ok(Some(session)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::UserId;

    const NOW: UnixTime = 1_700_000_000;

    fn seen_at(last_seen_at: UnixTime) -> Session {
        Session {
            id_hash: TokenHash::of("cookie"),
            sid: "sid".into(),
            user_id: UserId("ada".into()),
            auth_time: NOW - 5000,
            amr: vec!["pwd".into()],
            created_at: NOW - 5000,
            last_seen_at,
            expires_at: NOW + 3600,
        }
    }

    #[test]
    fn a_session_unused_longer_than_idle_ttl_is_over() {
        assert_eq!(
            idle_check(&seen_at(NOW - 1801), NOW, 1800),
            IdleCheck::Expired
        );
        assert_eq!(
            idle_check(&seen_at(NOW - 1800), NOW, 1800),
            IdleCheck::Touch,
            "exactly idle_ttl is still alive"
        );
    }

    #[test]
    fn a_used_session_is_written_at_most_once_a_minute() {
        assert_eq!(idle_check(&seen_at(NOW), NOW, 1800), IdleCheck::Fresh);
        assert_eq!(idle_check(&seen_at(NOW - 59), NOW, 1800), IdleCheck::Fresh);
        assert_eq!(idle_check(&seen_at(NOW - 60), NOW, 1800), IdleCheck::Touch);
        // A short idle timeout still wins over the write interval.
        assert_eq!(idle_check(&seen_at(NOW - 31), NOW, 30), IdleCheck::Expired);
    }
}
