//! Token-endpoint grants, one file per grant type.

pub mod authorization_code;
pub mod client_credentials;

use crate::clock::UnixTime;
use crate::error::{OAuthError, internal};
use crate::model::Scope;
use crate::oauth::tokens::{self, AccessTokenClaims};
use crate::state::AppState;
use serde::Serialize;

/// RFC 6749 §5.1 / OIDC Core §3.1.3.3 successful token response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    /// Space-separated; left out when nothing was granted.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// Who an access token is for and in what login context.
pub struct AccessTokenGrant<'a> {
    pub sub: &'a str,
    pub client_id: &'a str,
    pub scope: &'a Scope,
    pub jti: String,
    pub now: UnixTime,
    pub expires_at: UnixTime,
    /// `(auth_time, sid)` for tokens issued from a user's login.
    pub login: Option<(UnixTime, &'a str)>,
}

/// Signs an RFC 9068 access token for the default resource (the issuer).
pub fn mint_access_token(
    state: &AppState,
    grant: AccessTokenGrant<'_>,
) -> Result<String, OAuthError> {
    let claims = AccessTokenClaims {
        iss: state.config.issuer.clone(),
        sub: grant.sub.to_string(),
        aud: state.config.issuer.clone(),
        client_id: grant.client_id.to_string(),
        scope: grant.scope.to_string(),
        iat: grant.now,
        exp: grant.expires_at,
        jti: grant.jti,
        auth_time: grant.login.map(|(t, _)| t),
        sid: grant.login.map(|(_, sid)| sid.to_string()),
    };
    tokens::mint_access_token(&state.keys, &claims).map_err(internal)
}
