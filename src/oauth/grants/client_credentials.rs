//! The client credentials grant (RFC 6749 §4.4): confidential clients only.

use super::{AccessTokenGrant, TokenResponse, issue_access_token, issue_access_token_for};
use crate::apis::resolve_target;
use crate::error::{OAuthError, OAuthErrorCode};
use crate::model::{Client, GrantType, Scope};
use crate::oauth::client_auth;
use crate::params::Params;
use crate::secret::random_id;
use crate::state::AppState;

/// Scopes about a person; meaningless without one.
const IDENTITY_SCOPES: &[&str] = &["openid", "profile", "email"];

/// Issues an access token whose subject is the client itself: for the API the `resource`
/// parameter names (RFC 8707 §2), or with no API target, for the issuer as before.
pub async fn issue(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    // RFC 6749 §4.4.2: this grant requires client authentication, and a public client has no
    // credentials to authenticate with — it only identified itself. That is §5.2's
    // `invalid_client` ("no client authentication included"), not `unauthorized_client`,
    // which is for an *authenticated* client refused this grant type.
    if client.public {
        return Err(client_auth::refused_because(
            "the client credentials grant requires client authentication; a public client has none",
        ));
    }
    super::require_grant(client, GrantType::ClientCredentials, "client credentials")?;
    let requested = params.get("scope")?;
    let resources = params.all("resource")?;
    let parsed = requested
        .map(Scope::parse)
        .transpose()
        .map_err(|e| OAuthError::new(OAuthErrorCode::InvalidScope, e.to_string()))?;
    let target = resolve_target(state.store.as_ref(), client, resources, parsed.as_ref()).await?;
    let scope = match &target {
        Some(target) => target.scope.clone(),
        None => granted_scope(client, requested)?,
    };
    let now = state.now();
    let ttl = match &target {
        Some(target) => target.access_token_ttl(state.config.access_token_ttl),
        None => state.config.access_token_ttl,
    };
    let expires_at = now + ttl;
    let grant = AccessTokenGrant {
        sub: &client.client_id,
        client_id: &client.client_id,
        scope: &scope,
        jti: random_id(),
        now,
        expires_at,
        login: None,
        userinfo_claims: &[],
        grant_id: None,
    };
    let access_token = match &target {
        Some(target) => issue_access_token_for(state, grant, &target.api.identifier)?,
        None => issue_access_token(state, grant)?,
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: expires_at - now,
        scope: scope.to_string(),
        id_token: None,
        refresh_token: None,
    })
}

/// Requested scopes must all be allowed and not about a person; none requested means every
/// allowed non-identity scope (RFC 6749 §3.3 default).
fn granted_scope(client: &Client, requested: Option<&str>) -> Result<Scope, OAuthError> {
    let invalid = |why: String| OAuthError::new(OAuthErrorCode::InvalidScope, why);
    let api_scopes = client
        .allowed_scopes
        .filter(|s| !IDENTITY_SCOPES.contains(&s));
    let Some(requested) = requested else {
        return Ok(api_scopes);
    };
    let requested = Scope::parse(requested).map_err(|e| invalid(e.to_string()))?;
    if let Some(refused) = requested.iter().find(|s| !api_scopes.contains(s)) {
        return Err(invalid(format!(
            "scope '{refused}' is not allowed for this client"
        )));
    }
    Ok(requested)
}
