//! The UserInfo endpoint (OIDC Core §5.3), bearer tokens in the header only (RFC 6750 §2.1).

use crate::error::{OAuthError, OAuthErrorCode, internal};
use crate::model::{Scope, UserId};
use crate::oauth::tokens;
use crate::state::AppState;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value};

fn invalid_token(description: &str) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidToken, description)
}

/// `GET|POST /userinfo`
pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    // RFC 6750 §2.3: tokens in URLs leak into logs and history; we refuse them.
    if crate::oauth::params::Params::parse(req.query_string().as_bytes()).contains("access_token") {
        return Err(invalid_token(
            "send the access token in the Authorization header",
        ));
    }
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| invalid_token("a bearer access token is required"))?;
    let now = state.now();
    let claims = tokens::verify_access_token(&state.keys, &state.config.issuer, token, now)
        .map_err(|_| invalid_token("the access token is invalid or expired"))?;
    if state
        .store
        .is_access_token_revoked(&claims.jti)
        .await
        .map_err(internal)?
    {
        return Err(invalid_token("the access token has been revoked"));
    }
    let scopes = Scope::parse(&claims.scope)
        .map_err(|_| invalid_token("the access token's scope is malformed"))?;
    if !scopes.contains("openid") {
        return Err(OAuthError::new(
            OAuthErrorCode::InsufficientScope,
            "the access token lacks the openid scope",
        ));
    }
    let user = state
        .store
        .user_by_id(&UserId(claims.sub.clone()))
        .await
        .map_err(internal)?
        .filter(|u| !u.disabled)
        .ok_or_else(|| invalid_token("the access token's subject is not an active user"))?;
    // OIDC Core §5.4: claims by scope.
    let mut body = Map::new();
    body.insert("sub".into(), Value::String(user.id.0.clone()));
    if scopes.contains("email") {
        body.insert("email".into(), Value::String(user.email.clone()));
        body.insert("email_verified".into(), Value::Bool(user.email_verified));
    }
    if scopes.contains("profile")
        && let Some(name) = &user.name
    {
        body.insert("name".into(), Value::String(name.clone()));
    }
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(Value::Object(body)))
}
