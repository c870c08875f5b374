//! The UserInfo endpoint (OIDC Core §5.3), bearer tokens in the header only (RFC 6750 §2.1):
//! parse the header, validate the token ([`tokens::validate_access_token`]), build the claims
//! by scope and `claims` parameter ([`tokens::userinfo_claims`]), answer.

use crate::error::{OAuthError, OAuthErrorCode, internal};
use crate::model::Scope;
use crate::oauth::tokens::{self, BearerError, TokenSubject, UserInfoClaims, ValidatedAccessToken};
use crate::state::AppState;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};

fn invalid_token(description: &str) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidToken, description)
}

/// `GET|POST /userinfo`
pub async fn handle(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    // RFC 6750 §2.3: tokens in URLs leak into logs and history; we refuse them.
    if crate::params::Params::parse(req.query_string().as_bytes()).contains("access_token") {
        return Err(invalid_token(
            "send the access token in the Authorization header",
        ));
    }
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token = bearer_token(authorization)
        .ok_or_else(|| invalid_token("a bearer access token is required"))?;
    let validated = tokens::validate_access_token(
        &state.keys,
        state.store.as_ref(),
        &state.accounts,
        &state.config.issuer,
        token,
        state.now(),
    )
    .await
    .map_err(refusal)?;
    crate::http::cors::allow_client_id(&req, &validated.claims.client_id);
    let claims = userinfo(&validated)?;
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(claims))
}

/// The token of an `Authorization: Bearer` header (RFC 6750 §2.1; the scheme is
/// case-insensitive, RFC 9110 §11.1).
fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    authorization
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// RFC 6750 §3.1: every refusal is `invalid_token`, except a store failure.
fn refusal(e: BearerError) -> OAuthError {
    match e {
        BearerError::Store(e) => internal(e),
        other => invalid_token(&other.to_string()),
    }
}

/// What a validated token may see: it must carry `openid` (OIDC Core §5.3) and be a person's.
fn userinfo(validated: &ValidatedAccessToken) -> Result<UserInfoClaims, OAuthError> {
    let scopes = Scope::parse(&validated.claims.scope)
        .map_err(|_| invalid_token("the access token's scope is malformed"))?;
    if !scopes.contains("openid") {
        return Err(OAuthError::new(
            OAuthErrorCode::InsufficientScope,
            "the access token lacks the openid scope",
        ));
    }
    match &validated.subject {
        TokenSubject::User(user) => Ok(tokens::userinfo_claims(user, &validated.claims, &scopes)),
        TokenSubject::Client => Err(invalid_token("the access token is not a user's")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_reads_the_bearer_scheme_in_any_case_only() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bEaReR  abc ")), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        assert_eq!(bearer_token(Some("Bearer")), None);
        assert_eq!(bearer_token(None), None);
    }
}
