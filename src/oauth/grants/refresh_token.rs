//! The refresh token grant (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2),
//! and the issuing of a grant's first refresh token at code redemption.
//!
//! Every refresh token belongs to a family, one per grant ([`RefreshFamily`]); only its newest
//! token can be redeemed, and redeeming it replaces it (one conditional write, so concurrent
//! redemptions of one token yield one new pair). Presenting an older token again revokes the
//! whole family and denies the grant's access tokens — except a retry of the very request that
//! rotated it, within `tokens.refresh_retry_window` seconds: that gets back the same pair, kept
//! for the window sealed under the key-encryption key. The retry creates no new credential, so
//! theft is still caught: whoever uses the shared pair second is a reuse.

use super::{AccessTokenGrant, TokenResponse, issue_access_token};
use crate::clock::UnixTime;
use crate::error::{OAuthError, OAuthErrorCode, internal};
use crate::model::{
    AuthorizationCode, Client, GrantType, RefreshFamily, RefreshRotation, RefreshTokenPolicy,
    RetryPair, Scope, User,
};
use crate::oauth::tokens::{self, IdTokenGrant, Login, MAX_IAT_SKEW};
use crate::params::Params;
use crate::secret::{TokenHash, random_id, random_token};
use crate::state::AppState;
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};

/// The scope that asks for a refresh token (OIDC Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Whether a code redemption for `client` with the granted `scope` also issues a refresh token:
/// the client must be allowed the grant, and its policy must say so.
pub fn issues_refresh_token(client: &Client, scope: &Scope) -> bool {
    client.allows_grant(GrantType::RefreshToken)
        && match client.refresh_tokens {
            RefreshTokenPolicy::Always => true,
            RefreshTokenPolicy::OfflineAccess => scope.contains(OFFLINE_ACCESS),
            RefreshTokenPolicy::Never => false,
        }
}

/// Starts the refresh-token family of a redeemed code, if [`issues_refresh_token`] says so;
/// returns the first refresh token. The family takes the code's grant id, login, scope and
/// `claims`, and lives `tokens.refresh_token_ttl` from `now` at most.
pub async fn start_family(
    state: &AppState,
    client: &Client,
    code: &AuthorizationCode,
    now: UnixTime,
) -> Result<Option<String>, OAuthError> {
    if !issues_refresh_token(client, &code.scope) {
        return Ok(None);
    }
    let token = random_token();
    let hash = token.hash();
    let expires_at = now + state.config.refresh_token_ttl;
    let family = RefreshFamily {
        grant_id: code.grant_id.clone(),
        client_id: client.client_id.clone(),
        user_id: code.user_id.clone(),
        scope: code.scope.clone(),
        sid: code.sid.clone(),
        auth_time: code.auth_time,
        amr: code.amr.clone(),
        claims: code.claims.clone(),
        offline: code.scope.contains(OFFLINE_ACCESS),
        created_at: now,
        expires_at,
        current_hash: hash.clone(),
        current_issued_at: now,
        current_expires_at: (now + state.config.refresh_token_idle_ttl).min(expires_at),
        token_hashes: vec![hash],
        retry: None,
        revoked_at: None,
    };
    state
        .store
        .insert_refresh_family(&family)
        .await
        .map_err(internal)?;
    Ok(Some(token.expose().to_string()))
}

/// Revokes a grant as a whole: its refresh-token family, and every access token issued under
/// it (denied by grant until later than any of them can expire: `now` plus the access-token
/// lifetime, plus the `iat` skew an instance may have). Idempotent.
pub async fn revoke_grant(
    store: &dyn Store,
    grant_id: &str,
    now: UnixTime,
    access_token_ttl: i64,
) -> Result<(), StoreError> {
    store.revoke_refresh_family(grant_id, now).await?;
    store
        .deny_grant(grant_id, now + access_token_ttl + MAX_IAT_SKEW)
        .await
}

/// What a rotation answered, as sealed for a retry.
#[derive(Serialize, Deserialize)]
struct SealedPair {
    access_token: String,
    /// The access token's `exp`: a retry's `expires_in` counts down to it.
    access_token_expires_at: UnixTime,
    refresh_token: String,
    id_token: Option<String>,
    scope: String,
}

impl SealedPair {
    fn into_response(self, now: UnixTime) -> TokenResponse {
        TokenResponse {
            access_token: self.access_token,
            token_type: "Bearer",
            expires_in: (self.access_token_expires_at - now).max(0),
            scope: self.scope,
            id_token: self.id_token,
            refresh_token: Some(self.refresh_token),
        }
    }
}

/// What binds the sealed pair to its family and to the token it replaced.
fn sealing_context(grant_id: &str, previous: &TokenHash) -> String {
    format!("refresh-retry:{grant_id}:{}", previous.as_str())
}

/// What identifies a refresh request besides its token: the client and the `scope` parameter
/// as sent. Only an identical request is a retry.
fn request_hash(client: &Client, scope: Option<&str>) -> TokenHash {
    TokenHash::of(&format!(
        "{}\n{}",
        client.client_id,
        scope.map_or_else(|| "-".to_string(), |s| format!("+{s}"))
    ))
}

/// The scope of a refreshed access token: the family's, or the narrower one asked for
/// (RFC 6749 §6: never wider → `invalid_scope`).
fn narrowed_scope(granted: &Scope, requested: Option<&str>) -> Result<Scope, OAuthError> {
    let invalid = |why: String| OAuthError::new(OAuthErrorCode::InvalidScope, why);
    let Some(requested) = requested else {
        return Ok(granted.clone());
    };
    let requested = Scope::parse(requested).map_err(|e| invalid(e.to_string()))?;
    if requested.is_empty() {
        return Err(invalid("scope must name at least one granted scope".into()));
    }
    if let Some(wider) = requested.iter().find(|s| !granted.contains(s)) {
        return Err(invalid(format!(
            "scope '{wider}' was not granted; a refresh may narrow the scope, never widen it"
        )));
    }
    Ok(requested)
}

/// Redeems a refresh token: rotation, retry or reuse, as the module describes.
pub async fn refresh(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    super::require_grant(client, GrantType::RefreshToken, "refresh token")?;
    let token = params
        .get("refresh_token")?
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let requested_scope = params.get("scope")?;
    let now = state.now();
    let presented = TokenHash::of(token);
    let request = request_hash(client, requested_scope);
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let family = state
        .store
        .refresh_family_by_token(&presented)
        .await
        .map_err(internal)?
        .ok_or_else(invalid)?;
    // RFC 6749 §6: the token must have been issued to the authenticated client.
    if family.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if family.current_hash != presented {
        return retry_or_reuse(state, &family, &presented, &request, now).await;
    }
    if !family.is_live(now) {
        return Err(invalid());
    }
    let scope = narrowed_scope(&family.scope, requested_scope)?;
    let user = signed_in_user(state, &family, now).await?;

    let new_token = random_token();
    let new_hash = new_token.hash();
    let pair = mint_pair(
        state,
        client,
        &family,
        &user,
        &scope,
        new_token.expose(),
        now,
    )?;
    let window = state.config.refresh_retry_window;
    let retry = if window > 0 {
        let plaintext = serde_json::to_vec(&pair).map_err(internal)?;
        let sealed = state
            .keys
            .seal_at_rest(&sealing_context(&family.grant_id, &presented), &plaintext)
            .map_err(internal)?;
        Some(RetryPair {
            previous_hash: presented.clone(),
            request_hash: request.clone(),
            until: now + window,
            sealed,
        })
    } else {
        None
    };
    let rotation = RefreshRotation {
        new_hash,
        issued_at: now,
        expires_at: (now + state.config.refresh_token_idle_ttl).min(family.expires_at),
        retry,
    };
    let rotated = state
        .store
        .rotate_refresh_token(&family.grant_id, &presented, &rotation, now)
        .await
        .map_err(internal)?;
    if rotated.is_some() {
        return Ok(pair.into_response(now));
    }
    // Another request rotated (or revoked) the family first: what it did decides.
    let family = state
        .store
        .refresh_family_by_token(&presented)
        .await
        .map_err(internal)?
        .ok_or_else(invalid)?;
    if family.current_hash == presented {
        // Still current, so the family was revoked or expired meanwhile.
        return Err(invalid());
    }
    retry_or_reuse(state, &family, &presented, &request, now).await
}

/// A token that is no longer its family's current one: the same pair again for a retry of the
/// rotating request within the window; otherwise reuse, which revokes the grant.
async fn retry_or_reuse(
    state: &AppState,
    family: &RefreshFamily,
    presented: &TokenHash,
    request: &TokenHash,
    now: UnixTime,
) -> Result<TokenResponse, OAuthError> {
    if family.revoked_at.is_some() {
        return Err(OAuthError::invalid_grant(
            "the refresh token is invalid, expired or revoked",
        ));
    }
    if let Some(retry) = &family.retry
        && retry.previous_hash == *presented
        && now < retry.until
    {
        if retry.request_hash == *request {
            signed_in_user(state, family, now).await?;
            let plaintext = state
                .keys
                .open_at_rest(&sealing_context(&family.grant_id, presented), &retry.sealed)
                .map_err(internal)?;
            let pair: SealedPair = serde_json::from_slice(&plaintext).map_err(internal)?;
            tracing::debug!(grant_id = %family.grant_id, "refresh retried within the window; same pair");
            return Ok(pair.into_response(now));
        }
        tracing::warn!(grant_id = %family.grant_id, "a refresh token was replayed with a different request within the retry window");
    }
    revoke_grant(
        state.store.as_ref(),
        &family.grant_id,
        now,
        state.config.access_token_ttl,
    )
    .await
    .map_err(internal)?;
    tracing::warn!(grant_id = %family.grant_id, client_id = %family.client_id, "refresh token reused; its grant is revoked");
    crate::audit::record(
        state.store.as_ref(),
        now,
        crate::audit::AuditEvent::RefreshReuse {
            client_id: family.client_id.clone(),
            user_id: family.user_id.clone(),
        },
    )
    .await;
    Err(OAuthError::invalid_grant(
        "the refresh token was already used; every token of its grant is now revoked",
    ))
}

/// The family's user, if they may still use it: active, and no password change since the
/// sign-in the grant comes from (a change or reset ends every grant made before it).
async fn signed_in_user(
    state: &AppState,
    family: &RefreshFamily,
    now: UnixTime,
) -> Result<User, OAuthError> {
    let user = state
        .accounts
        .active_user(&family.user_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| OAuthError::invalid_grant("the user is no longer active"))?;
    if family.predates_password_change(&user) {
        revoke_grant(
            state.store.as_ref(),
            &family.grant_id,
            now,
            state.config.access_token_ttl,
        )
        .await
        .map_err(internal)?;
        return Err(OAuthError::invalid_grant(
            "the password has changed since this grant was made; sign in again",
        ));
    }
    Ok(user)
}

/// Mints the access token, the ID token (for `openid`: OIDC Core §12.2, the grant's `iss sub
/// aud auth_time sid`, a new `iat`, no `nonce`) and carries the new refresh token.
fn mint_pair(
    state: &AppState,
    client: &Client,
    family: &RefreshFamily,
    user: &User,
    scope: &Scope,
    refresh_token: &str,
    now: UnixTime,
) -> Result<SealedPair, OAuthError> {
    let (id_token_claims, userinfo_claims) = match &family.claims {
        Some(c) => (c.id_token.as_slice(), c.userinfo.as_slice()),
        None => (&[][..], &[][..]),
    };
    let login = Login {
        auth_time: family.auth_time,
        sid: &family.sid,
        amr: &family.amr,
    };
    let expires_at = now + state.config.access_token_ttl;
    let access_token = issue_access_token(
        state,
        AccessTokenGrant {
            sub: &user.id.0,
            client_id: &client.client_id,
            scope,
            jti: random_id(),
            now,
            expires_at,
            login: Some(login),
            userinfo_claims,
            grant_id: Some(&family.grant_id),
        },
    )?;
    let id_token = if scope.contains("openid") {
        let claims = tokens::id_token_claims(
            &state.config.issuer,
            IdTokenGrant {
                user,
                client_id: &client.client_id,
                login,
                nonce: None,
                access_token: Some(&access_token),
                requested: id_token_claims,
                now,
                expires_at: now + state.config.id_token_ttl,
            },
        );
        Some(tokens::mint_id_token(&state.keys, &claims).map_err(internal)?)
    } else {
        None
    };
    Ok(SealedPair {
        access_token,
        access_token_expires_at: expires_at,
        refresh_token: refresh_token.to_string(),
        id_token,
        scope: scope.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_and_the_grant_decide_who_gets_a_refresh_token() {
        let offline = Scope::parse("openid offline_access").unwrap();
        let online = Scope::parse("openid").unwrap();
        let with = |policy| Client {
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            refresh_tokens: policy,
            ..Client::test_public()
        };
        assert!(issues_refresh_token(
            &with(RefreshTokenPolicy::OfflineAccess),
            &offline
        ));
        assert!(!issues_refresh_token(
            &with(RefreshTokenPolicy::OfflineAccess),
            &online
        ));
        assert!(issues_refresh_token(
            &with(RefreshTokenPolicy::Always),
            &online
        ));
        assert!(!issues_refresh_token(
            &with(RefreshTokenPolicy::Never),
            &offline
        ));
        let without_grant = Client {
            refresh_tokens: RefreshTokenPolicy::Always,
            ..Client::test_public()
        };
        assert!(!issues_refresh_token(&without_grant, &offline));
    }

    #[test]
    fn a_refresh_may_narrow_the_scope_never_widen_it() {
        let granted = Scope::parse("openid email offline_access").unwrap();
        assert_eq!(narrowed_scope(&granted, None).unwrap(), granted);
        assert_eq!(
            narrowed_scope(&granted, Some("openid")).unwrap(),
            Scope::parse("openid").unwrap()
        );
        for wider in ["openid profile", "", "bad\"scope"] {
            assert_eq!(
                narrowed_scope(&granted, Some(wider)).unwrap_err().code,
                OAuthErrorCode::InvalidScope,
                "{wider}"
            );
        }
    }

    #[test]
    fn only_an_identical_request_is_a_retry() {
        let client = Client::test_public();
        let other = Client {
            client_id: "d".into(),
            ..Client::test_public()
        };
        let base = request_hash(&client, None);
        assert_eq!(base, request_hash(&client, None));
        assert_ne!(base, request_hash(&client, Some("")));
        assert_ne!(base, request_hash(&client, Some("openid")));
        assert_ne!(base, request_hash(&other, None));
    }
}
