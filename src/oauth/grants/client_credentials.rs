//! The client credentials grant (RFC 6749 §4.4): confidential clients only.

use super::{AccessTokenGrant, TokenResponse, mint_access_token};
use crate::error::{OAuthError, OAuthErrorCode};
use crate::model::{Client, GrantType};
use crate::oauth::params::Params;
use crate::secret::random_id;
use crate::state::AppState;

/// Scopes about a person; meaningless without one.
const IDENTITY_SCOPES: &[&str] = &["openid", "profile", "email"];

/// Issues an access token whose subject is the client itself.
pub fn issue(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    if client.public || !client.allows_grant(GrantType::ClientCredentials) {
        return Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            "this client may not use the client credentials grant",
        ));
    }
    let requested = params.get("scope")?;
    let scope = granted_scope(client, requested)?;
    let now = state.now();
    let expires_at = now + state.config.access_token_ttl;
    let access_token = mint_access_token(
        state,
        AccessTokenGrant {
            sub: &client.client_id,
            client_id: &client.client_id,
            scope: &scope,
            jti: random_id(),
            now,
            expires_at,
            login: None,
        },
    )?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: expires_at - now,
        scope,
        id_token: None,
    })
}

/// Requested scopes must all be allowed and not about a person; none requested means every
/// allowed non-identity scope (RFC 6749 §3.3 default).
fn granted_scope(client: &Client, requested: Option<&str>) -> Result<String, OAuthError> {
    let api_scopes = || {
        client
            .allowed_scopes
            .iter()
            .filter(|s| !IDENTITY_SCOPES.contains(&s.as_str()))
    };
    match requested {
        None => Ok(api_scopes().cloned().collect::<Vec<_>>().join(" ")),
        Some(requested) => {
            let mut granted: Vec<&str> = Vec::new();
            for s in requested.split(' ').filter(|s| !s.is_empty()) {
                if !api_scopes().any(|a| a == s) {
                    return Err(OAuthError::new(
                        OAuthErrorCode::InvalidScope,
                        format!("scope '{s}' is not allowed for this client"),
                    ));
                }
                if !granted.contains(&s) {
                    granted.push(s);
                }
            }
            Ok(granted.join(" "))
        }
    }
}
