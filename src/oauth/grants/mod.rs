//! Token-endpoint grants, one file per grant type.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use crate::error::{OAuthError, OAuthErrorCode, internal};
use crate::model::{Client, GrantType};
use crate::oauth::tokens;
pub use crate::oauth::tokens::AccessTokenGrant;
use crate::state::AppState;
use serde::Serialize;

/// `unauthorized_client` (RFC 6749 §5.2) unless `client` is registered for `grant`, named
/// `what` in the message.
fn require_grant(client: &Client, grant: GrantType, what: &str) -> Result<(), OAuthError> {
    if client.allows_grant(grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            format!("this client may not use the {what} grant"),
        ))
    }
}

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
    /// RFC 6749 §5.1; only where a refresh token is issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Builds ([`tokens::access_token_claims`]) and signs an access token for the default
/// resource (the issuer); a signing failure is the server's.
pub fn issue_access_token(
    state: &AppState,
    grant: AccessTokenGrant<'_>,
) -> Result<String, OAuthError> {
    let claims = tokens::access_token_claims(&state.config.issuer, grant);
    tokens::mint_access_token(&state.keys, &claims).map_err(internal)
}

/// As [`issue_access_token`], for the API `audience` (RFC 8707 §2, RFC 9068 §3): the token's
/// `aud` is the API's identifier and only that, so no other API (nor the issuer's UserInfo)
/// accepts it.
pub fn issue_access_token_for(
    state: &AppState,
    grant: AccessTokenGrant<'_>,
    audience: &str,
) -> Result<String, OAuthError> {
    let mut claims = tokens::access_token_claims(&state.config.issuer, grant);
    claims.aud = audience.to_string();
    tokens::mint_access_token(&state.keys, &claims).map_err(internal)
}
