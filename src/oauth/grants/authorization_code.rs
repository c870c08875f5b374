//! The authorization code grant (RFC 6749 §4.1.3, OIDC Core §3.1.3, RFC 7636 §4.6).

use super::refresh_token::{revoke_grant, start_family};
use super::{AccessTokenGrant, TokenResponse, issue_access_token};
use crate::authorization::pkce;
use crate::error::{OAuthError, internal};
use crate::model::{
    AuthorizationCode, Client, CodeRedemption, GrantType, IssuedToken, PlannedToken, User,
};
use crate::oauth::tokens::{self, IdTokenGrant, Login};
use crate::params::Params;
use crate::secret::{TokenHash, random_id};
use crate::state::AppState;

/// Redeems a code for an access token and, for `openid`, an ID token.
pub async fn redeem(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    super::require_grant(client, GrantType::AuthorizationCode, "authorization code")?;
    let code = params
        .get("code")?
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let redirect_uri = params
        .get("redirect_uri")?
        .ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
    let verifier = params.get("code_verifier")?;
    if verifier.is_some_and(|v| !pkce::is_valid_verifier(v)) {
        return Err(OAuthError::invalid_request(
            "code_verifier must be 43-128 unreserved characters",
        ));
    }

    let now = state.now();
    let planned = PlannedToken {
        jti: random_id(),
        expires_at: now + state.config.access_token_ttl,
    };
    // The code is spent atomically, together with the id of the access token it will yield, so
    // that a replay racing this request can still revoke that token.
    let redemption = state
        .store
        .redeem_code(&TokenHash::of(code), now, &planned)
        .await
        .map_err(internal)?;
    let record = match redemption {
        CodeRedemption::Redeemed(record) => record,
        CodeRedemption::Replayed(record) => {
            // RFC 6749 §4.1.2, RFC 9700 §4.2.4: revoke what the first redemption issued: its
            // access token, and the grant's refresh-token family with every token it issued.
            if let Some(first) = &record.issued {
                state
                    .store
                    .revoke_access_token(&first.jti, first.expires_at, Some(&first.grant_id))
                    .await
                    .map_err(internal)?;
            }
            revoke_grant(
                state.store.as_ref(),
                &record.grant_id,
                now,
                state.config.access_token_ttl,
            )
            .await
            .map_err(internal)?;
            tracing::warn!(client_id = %record.client_id, "authorization code replayed; its tokens are revoked");
            return Err(OAuthError::invalid_grant(
                "the authorization code has already been used",
            ));
        }
        CodeRedemption::Invalid => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid or expired",
            ));
        }
    };
    // A code that fails its binding stays spent. The token recorded against it was never
    // minted, so there is nothing to revoke now (a later replay revokes it all the same).
    check_binding(&record, client, redirect_uri, verifier)?;
    let issued = planned.issued_under(&record.grant_id);
    let user = state
        .accounts
        .active_user(&record.user_id)
        .await
        .map_err(internal)?
        .ok_or_else(|| OAuthError::invalid_grant("the user is no longer active"))?;
    let mut response = tokens_for(state, client, &record, &user, issued, now)?;
    response.refresh_token = start_family(state, client, &record, now).await?;
    // A replay racing this redemption may have revoked the grant before its family existed.
    // The replay's first write denies the grant's tokens, so either it is seen here or the
    // replay's family revocation, which comes after it, finds the family.
    if response.refresh_token.is_some()
        && state
            .store
            .is_access_token_denied("", Some(&record.grant_id))
            .await
            .map_err(internal)?
    {
        revoke_grant(
            state.store.as_ref(),
            &record.grant_id,
            now,
            state.config.access_token_ttl,
        )
        .await
        .map_err(internal)?;
        return Err(OAuthError::invalid_grant(
            "the authorization code has already been used",
        ));
    }
    Ok(response)
}

/// The code must have been issued to this client, for this redirect URI (RFC 6749 §4.1.3), and
/// the PKCE verifier must answer its challenge (RFC 7636 §4.6). A verifier sent for a code
/// issued without a challenge is a downgrade attempt (RFC 9700 §4.8.2).
fn check_binding(
    record: &AuthorizationCode,
    client: &Client,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> Result<(), OAuthError> {
    if record.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if record.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&record.code_challenge, verifier) {
        (Some(challenge), Some(v)) if pkce::verify_s256(v, challenge) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant("code_verifier does not match")),
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required")),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent for a code issued without code_challenge",
        )),
        (None, None) => Ok(()),
    }
}

/// The access token and, for `openid`, the ID token of a redeemed code; claims built in
/// [`tokens`], with the `claims` request parameter the code carries (OIDC Core §5.5).
fn tokens_for(
    state: &AppState,
    client: &Client,
    record: &AuthorizationCode,
    user: &User,
    issued: IssuedToken,
    now: i64,
) -> Result<TokenResponse, OAuthError> {
    let (id_token_claims, userinfo_claims) = match &record.claims {
        Some(c) => (c.id_token.as_slice(), c.userinfo.as_slice()),
        None => (&[][..], &[][..]),
    };
    let login = Login {
        auth_time: record.auth_time,
        sid: &record.sid,
        amr: &record.amr,
    };
    let access_token = issue_access_token(
        state,
        AccessTokenGrant {
            sub: &user.id.0,
            client_id: &client.client_id,
            scope: &record.scope,
            jti: issued.jti,
            now,
            expires_at: issued.expires_at,
            login: Some(login),
            userinfo_claims,
            grant_id: Some(&record.grant_id),
        },
    )?;
    let id_token = if record.scope.contains("openid") {
        let claims = tokens::id_token_claims(
            &state.config.issuer,
            IdTokenGrant {
                user,
                client_id: &client.client_id,
                login,
                nonce: record.nonce.as_deref(),
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
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: issued.expires_at - now,
        scope: record.scope.to_string(),
        id_token,
        refresh_token: None,
    })
}
