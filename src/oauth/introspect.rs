//! The introspection endpoint (RFC 7662): an authenticated confidential client asks whether a
//! token is active and what it stands for.
//!
//! Until registered APIs exist, a caller may see only the tokens it was issued itself; every
//! other token is, to that caller, inactive. Access tokens (`token_type` `Bearer`) and refresh
//! tokens (`token_type` `refresh_token`: only the current token of a live family is active)
//! are both answered. Every inactive answer is the same
//! `{"active":false}`, so a caller learns nothing about why (RFC 7662 §2.2, §4).

use crate::accounts::Accounts;
use crate::clock::UnixTime;
use crate::error::{OAuthError, internal};
use crate::keys::KeyManager;
use crate::model::{Client, Scope};
use crate::oauth::tokens::{self, BearerError, TokenSubject};
use crate::oauth::{client_auth, client_form};
use crate::secret::TokenHash;

use crate::state::AppState;
use crate::store::{Store, StoreError};
use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, PRAGMA, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use serde_json::json;

/// The parameters of an introspection request (RFC 7662 §2.1, RFC 6749 §2.3.1); each may
/// appear once, anything else is ignored.
const INTROSPECTION_PARAMETERS: &[&str] =
    &["token", "token_type_hint", "client_id", "client_secret"];

/// The members of an active token's introspection response (RFC 7662 §2.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActiveToken {
    /// Always `true`.
    pub active: bool,
    pub scope: String,
    pub client_id: String,
    /// The user's email, when the token's scope includes `email` (the caller could read it
    /// from userinfo with the same token anyway).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `Bearer` (RFC 6750) for an access token, `refresh_token` for a refresh token.
    pub token_type: &'static str,
    pub exp: i64,
    pub iat: i64,
    pub sub: String,
    /// An access token's `aud`; for a refresh token, the issuer (it is for no one else).
    pub aud: String,
    pub iss: String,
    /// An access token's `jti`; an opaque refresh token has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// What introspection found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Introspection {
    /// A live access token the caller may see.
    Active(Box<ActiveToken>),
    /// Anything else: expired, revoked, unknown, malformed, signed by a key Sesame does not
    /// hold, its user disabled or gone, or issued to another client.
    Inactive,
}

/// Introspects `token` for `caller`: the one bearer validation, in its two halves
/// ([`tokens::verify_issued_access_token`]: signature, `typ`, issuer, expiry, any audience; then
/// [`tokens::check_live`]: deny-list, active user), with between them whether `caller` may see
/// the token (today: it was issued to `caller`).
/// `token_type_hint` is not taken: Sesame tells the type itself (RFC 7662 §2.1 lets it).
pub async fn introspect(
    keys: &KeyManager,
    store: &dyn Store,
    accounts: &Accounts,
    issuer: &str,
    caller: &Client,
    token: &str,
    now: UnixTime,
) -> Result<Introspection, StoreError> {
    // Signature, typ, issuer and expiry first, then whether the caller may see the token, both
    // without I/O: another client's token costs no store read and so reveals nothing, not even
    // by timing or by a store failure (RFC 7662 §4).
    let Ok(claims) = tokens::verify_issued_access_token(keys, issuer, token, now) else {
        return introspect_refresh_token(store, accounts, issuer, caller, token, now).await;
    };
    if claims.client_id != caller.client_id {
        return Ok(Introspection::Inactive);
    }
    let validated = match tokens::check_live(store, accounts, claims).await {
        Ok(validated) => validated,
        Err(BearerError::Store(e)) => return Err(e),
        Err(_) => return Ok(Introspection::Inactive),
    };
    let claims = validated.claims;
    let username = match &validated.subject {
        TokenSubject::User(user)
            if Scope::parse(&claims.scope).is_ok_and(|s| s.contains("email")) =>
        {
            Some(user.email.clone())
        }
        _ => None,
    };
    Ok(Introspection::Active(Box::new(ActiveToken {
        active: true,
        scope: claims.scope,
        client_id: claims.client_id,
        username,
        token_type: "Bearer",
        exp: claims.exp,
        iat: claims.iat,
        sub: claims.sub,
        aud: claims.aud,
        iss: claims.iss,
        jti: Some(claims.jti),
    })))
}

/// A refresh token is active while it is the current token of a live family of `caller`, whose
/// user is active and has not changed their password since the grant's sign-in (the rules a
/// refresh with it would meet).
async fn introspect_refresh_token(
    store: &dyn Store,
    accounts: &Accounts,
    issuer: &str,
    caller: &Client,
    token: &str,
    now: UnixTime,
) -> Result<Introspection, StoreError> {
    let hash = TokenHash::of(token);
    let Some(family) = store.refresh_family_by_token(&hash).await? else {
        return Ok(Introspection::Inactive);
    };
    if family.client_id != caller.client_id || family.current_hash != hash || !family.is_live(now) {
        return Ok(Introspection::Inactive);
    }
    let Some(user) = accounts.active_user(&family.user_id).await? else {
        return Ok(Introspection::Inactive);
    };
    if family.predates_password_change(&user) {
        return Ok(Introspection::Inactive);
    }
    Ok(Introspection::Active(Box::new(ActiveToken {
        active: true,
        username: family.scope.contains("email").then(|| user.email.clone()),
        scope: family.scope.to_string(),
        client_id: family.client_id,
        token_type: "refresh_token",
        exp: family.current_expires_at,
        iat: family.current_issued_at,
        sub: user.id.0,
        aud: issuer.to_string(),
        iss: issuer.to_string(),
        jti: None,
    })))
}

/// `POST /introspect`
pub async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    // RFC 7662 §2.1, §4: the caller must be authorized; only confidential clients are.
    let (params, client) = client_form(&req, &body, &state).await?;
    if client.public {
        return Err(client_auth::refused_because(
            "introspection requires a confidential client",
        ));
    }
    // RFC 7662 §4: a caller must not be able to probe for tokens at will.
    if let Err(retry_after) = state.introspection_limit.check(&client.client_id) {
        return Ok(too_many_requests(retry_after));
    }
    if let Some(problem) = params.first_problem(INTROSPECTION_PARAMETERS) {
        return Err(problem.into());
    }
    let token = params
        .get("token")?
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let outcome = introspect(
        &state.keys,
        state.store.as_ref(),
        &state.accounts,
        &state.config.issuer,
        &client,
        token,
        state.now(),
    )
    .await
    .map_err(internal)?;
    let mut response = HttpResponse::Ok();
    response
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"));
    Ok(match outcome {
        Introspection::Active(active) => response.json(active),
        Introspection::Inactive => response.json(json!({ "active": false })),
    })
}

/// 429 (RFC 6585 §4) with `Retry-After` and an RFC 6749 §5.2-style body. The code is
/// `temporarily_unavailable` (RFC 6749 §4.1.2.1, registered in §11.4): OAuth defines none for
/// a rate limit, and this one tells a client to come back later.
fn too_many_requests(retry_after: i64) -> HttpResponse {
    HttpResponse::build(StatusCode::TOO_MANY_REQUESTS)
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .insert_header((RETRY_AFTER, retry_after.max(1).to_string()))
        .json(json!({
            "error": "temporarily_unavailable",
            "error_description": format!(
                "too many introspection requests from this client; retry after {} s",
                retry_after.max(1)
            ),
        }))
}
