//! RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0): `GET|POST /logout`, the
//! `end_session_endpoint`.
//!
//! A relying party sends the person here with `id_token_hint` (an ID token Sesame issued to it:
//! signature checked against Sesame's own keys, RS256 only, expired ones accepted),
//! `post_logout_redirect_uri` (an exact match of one the client registered, else no redirect at
//! all), `state`, `client_id`, `logout_hint` and `ui_locales` (both taken and not used). A
//! valid hint naming the signed-in user ends the session at once; anything less asks the
//! person to confirm, in a form whose token is bound to the session (so a third-party page
//! cannot sign people out). Ending the session deletes it, clears the cookie, and revokes the
//! tokens bound to it: every grant made in it that was not for `offline_access` (its refresh
//! tokens and access tokens), after queuing a back-channel logout notice for each client of the
//! session that registered a `backchannel_logout_uri`. Then the person goes back to the client
//! with `state`, or sees the signed-out page.

use crate::clock::UnixTime;
use crate::error::{PageError, page};
use crate::http::headers;
use crate::model::{Client, Session};
use crate::oauth::grants::refresh_token::{OFFLINE_ACCESS, revoke_grant};
use crate::oauth::tokens::{ID_TOKEN_TYP, IdTokenClaims};
use crate::params::Params;
use crate::secret::constant_time_eq;
use crate::session;
use crate::state::AppState;
use crate::store::{Store, StoreError};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

/// The parameters of a logout request (RP-Initiated Logout 1.0 §2) and of its confirmation
/// form; each may appear once, anything else is ignored.
const LOGOUT_PARAMETERS: &[&str] = &[
    "id_token_hint",
    "post_logout_redirect_uri",
    "state",
    "client_id",
    "logout_hint",
    "ui_locales",
    "confirm",
];

/// A logout request, validated.
#[derive(Debug)]
struct LogoutRequest {
    /// The verified `id_token_hint`'s claims.
    hint: Option<IdTokenClaims>,
    /// The client named by `client_id` or by the hint's `aud`, if it exists.
    client: Option<Client>,
    /// A registered `post_logout_redirect_uri`, exactly as registered.
    redirect: Option<String>,
    state: Option<String>,
}

fn refused(message: impl Into<String>) -> PageError {
    PageError::refused(StatusCode::BAD_REQUEST, "Invalid sign-out request", message)
}

/// A parameter's value; an empty one (an empty hidden field) counts as absent.
fn param<'a>(params: &'a Params, name: &str) -> Result<Option<&'a str>, PageError> {
    params
        .get(name)
        .map(|v| v.filter(|v| !v.is_empty()))
        .map_err(|e| refused(e.to_string()))
}

/// The claims of an ID token Sesame issued, whatever its age (RP-Initiated Logout §2: an
/// expired hint is still a hint): RS256 under one of Sesame's keys, `typ: JWT`, our issuer.
pub fn verify_hint(state: &AppState, hint: &str) -> Option<IdTokenClaims> {
    // A hint is a token presented back to Sesame: it counts as a use of its key.
    let (claims, _kid): (IdTokenClaims, String) = state
        .keys
        .verify_presented(hint, Some(ID_TOKEN_TYP), state.clock.now())
        .ok()?;
    (claims.iss == state.config.issuer).then_some(claims)
}

async fn validate(state: &AppState, params: &Params) -> Result<LogoutRequest, PageError> {
    let hint = match param(params, "id_token_hint")? {
        None => None,
        Some(raw) => Some(verify_hint(state, raw).ok_or_else(|| {
            refused("The id_token_hint is not an ID token issued by this server.")
        })?),
    };
    let client_id = param(params, "client_id")?;
    if let (Some(hint), Some(client_id)) = (&hint, client_id)
        && hint.aud != client_id
    {
        return Err(refused(
            "client_id does not name the client the id_token_hint was issued to.",
        ));
    }
    let client_id = client_id.or(hint.as_ref().map(|h| h.aud.as_str()));
    let client = match client_id {
        Some(id) => state.store.client(id).await?,
        None => None,
    };
    let redirect = match param(params, "post_logout_redirect_uri")? {
        None => None,
        Some(uri) => {
            let client = client.as_ref().ok_or_else(|| {
                refused("post_logout_redirect_uri needs client_id or id_token_hint of a registered client.")
            })?;
            // Exact string match: never a query-extended or unregistered URI.
            if !client.post_logout_redirect_uris.iter().any(|u| u == uri) {
                return Err(refused(
                    "The post_logout_redirect_uri is not registered for this client.",
                ));
            }
            Some(uri.to_string())
        }
    };
    Ok(LogoutRequest {
        hint,
        client,
        redirect,
        state: param(params, "state")?.map(str::to_string),
    })
}

/// The confirmation form's token: SHA-256 of the session cookie's secret value, domain
/// separated. Only the signed-in browser's own page can know it (a cross-site page can neither
/// read the cookie nor the page), and it changes with every session.
fn confirmation_token(session_cookie: &str) -> String {
    let digest = digest::digest(
        &digest::SHA256,
        format!("sesame-logout-confirmation\n{session_cookie}").as_bytes(),
    );
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Ends `session`: deletes it, and revokes every grant made in it that was not for
/// `offline_access` — their refresh-token families and their access tokens.
pub async fn end_session(
    store: &dyn Store,
    session: &Session,
    now: UnixTime,
    access_token_ttl: i64,
) -> Result<(), StoreError> {
    store.delete_session(&session.id_hash).await?;
    let mut grants = store
        .revoke_session_refresh_families(&session.sid, now)
        .await?;
    for (grant_id, scope) in store.session_code_grants(&session.sid).await? {
        if !scope.contains(OFFLINE_ACCESS) && !grants.contains(&grant_id) {
            grants.push(grant_id);
        }
    }
    for grant_id in grants {
        revoke_grant(store, &grant_id, now, access_token_ttl).await?;
    }
    Ok(())
}

/// Queues a back-channel logout notice for each client of `session` that registered a
/// `backchannel_logout_uri` (Back-Channel Logout 1.0), before the session ends (see
/// [`crate::backchannel::enqueue_session_logout`] for why first), and rings the outbox. A
/// failure is logged and never stops the person's logout.
async fn notify_relying_parties(state: &AppState, session: &Session) {
    let deliveries = &state.deliveries;
    match crate::backchannel::enqueue_session_logout(
        state.store.as_ref(),
        deliveries.seal(),
        session,
        state.now(),
        deliveries.policy().deadline,
    )
    .await
    {
        Ok(0) => {}
        Ok(queued) => {
            tracing::info!(sid = %session.sid, queued, "back-channel logout notices queued");
            deliveries.kick();
        }
        Err(e) => {
            tracing::error!(sid = %session.sid, error = %e, "could not queue back-channel logout notices")
        }
    }
}

#[derive(Serialize)]
struct ConfirmPage<'a> {
    confirm: String,
    client_name: &'a str,
    client_id: &'a str,
    post_logout_redirect_uri: &'a str,
    state: &'a str,
}

/// `GET|POST /logout`
pub async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let params = if req.method() == Method::POST {
        if !crate::http::is_form(&req) {
            return Err(PageError::unsupported_form());
        }
        Params::parse(&body)
    } else {
        Params::parse(req.query_string().as_bytes())
    };
    if let Some(problem) = params.first_problem(LOGOUT_PARAMETERS) {
        return Err(refused(problem.to_string()));
    }
    let request = validate(&state, &params).await?;
    let Some(session) = session::current(&state, &req).await? else {
        // Nobody is signed in here: nothing to end, nothing to confirm. Back to the client
        // only on a valid hint (without one, a redirect is never made unasked).
        return Ok(finish(&state, &request, request.hint.is_some(), None));
    };
    let cookie = req
        .cookie(session::cookie_name(&state.config))
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    let expected = confirmation_token(&cookie);
    let hinted = request
        .hint
        .as_ref()
        .is_some_and(|h| h.sub == session.user_id.0);
    let confirmed = req.method() == Method::POST
        && param(&params, "confirm")?
            .is_some_and(|c| constant_time_eq(c.as_bytes(), expected.as_bytes()));
    if !hinted && !confirmed {
        let client_id = request.client.as_ref().map_or("", |c| c.client_id.as_str());
        let data = ConfirmPage {
            confirm: expected,
            client_name: request.client.as_ref().map_or("", |c| c.name.as_str()),
            client_id,
            post_logout_redirect_uri: request.redirect.as_deref().unwrap_or(""),
            state: request.state.as_deref().unwrap_or(""),
        };
        let mut response = page(&state.templates, StatusCode::OK, "logout", &data);
        if let Some(uri) = &request.redirect {
            headers::allow_form_redirect(&mut response, uri);
        }
        return Ok(response);
    }
    notify_relying_parties(&state, &session).await;
    end_session(
        state.store.as_ref(),
        &session,
        state.now(),
        state.config.access_token_ttl,
    )
    .await?;
    tracing::info!(sid = %session.sid, "signed out (RP-initiated logout)");
    let mut removal = crate::http::browser_cookie(
        &state.config,
        session::cookie_name(&state.config),
        String::new(),
    );
    removal.make_removal();
    Ok(finish(&state, &request, true, Some(removal)))
}

/// Back to the client's registered URI with `state` when `may_redirect`, else the signed-out
/// page; with the cookie removal when a session ended.
fn finish(
    state: &AppState,
    request: &LogoutRequest,
    may_redirect: bool,
    removal: Option<actix_web::cookie::Cookie<'static>>,
) -> HttpResponse {
    let mut response = match (&request.redirect, may_redirect) {
        (Some(uri), true) => crate::http::see_other(&with_state(uri, request.state.as_deref())),
        _ => page(
            &state.templates,
            StatusCode::OK,
            "logged_out",
            &serde_json::json!({}),
        ),
    };
    if let Some(removal) = removal
        && let Err(e) = response.add_cookie(&removal)
    {
        tracing::warn!(error = %e, "could not clear the session cookie");
    }
    response
}

/// `uri` with `state` added to its query (RP-Initiated Logout §3), if there is one.
fn with_state(uri: &str, state: Option<&str>) -> String {
    let Some(state) = state else {
        return uri.to_string();
    };
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut().append_pair("state", state);
            url.to_string()
        }
        Err(_) => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_appended_to_the_registered_uri() {
        assert_eq!(
            with_state("https://rp.example/bye", Some("a b&c")),
            "https://rp.example/bye?state=a+b%26c"
        );
        assert_eq!(
            with_state("https://rp.example/bye?x=1", Some("s")),
            "https://rp.example/bye?x=1&state=s"
        );
        assert_eq!(
            with_state("https://rp.example/bye", None),
            "https://rp.example/bye"
        );
    }

    #[test]
    fn the_confirmation_token_is_bound_to_the_session() {
        let a = confirmation_token("cookie-a");
        assert_eq!(a, confirmation_token("cookie-a"));
        assert_ne!(a, confirmation_token("cookie-b"));
        assert_eq!(a.len(), 43);
    }
}
