//! The revocation endpoint (RFC 7009): a client tells Sesame it no longer needs a token.
//!
//! Revoking a JWT access token puts its `jti` on the deny-list until the token's own `exp`, which
//! userinfo and introspection consult; APIs that validate access tokens offline through the
//! JWKS never see the deny-list. Revoking a refresh token (any of its family, current or
//! rotated away) revokes the whole grant: the family, and every access token issued under it
//! (RFC 7009 §2.1: the server may, and for a family it must, revoke the related tokens).

use crate::clock::UnixTime;
use crate::error::{OAuthError, internal};
use crate::keys::KeyManager;
use crate::model::Client;
use crate::oauth::client_form;
use crate::oauth::grants::refresh_token::revoke_grant;
use crate::oauth::tokens;
use crate::secret::TokenHash;

use crate::state::AppState;
use crate::store::{Store, StoreError};
use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};

/// The parameters of a revocation request (RFC 7009 §2.1, RFC 6749 §2.3.1); each may appear
/// once, anything else is ignored.
const REVOCATION_PARAMETERS: &[&str] = &["token", "token_type_hint", "client_id", "client_secret"];

/// What a revocation request did. The client is told none of it (RFC 7009 §2.2: the
/// response is 200 whatever the token was); it is for logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// An access token of the calling client: its `jti` is now on the deny-list.
    AccessTokenRevoked,
    /// A refresh token of the calling client: its grant is now revoked (the refresh-token
    /// family and every access token of the grant).
    GrantRevoked,
    /// A valid token of another client: left untouched (RFC 7009 §2.1).
    OtherClientsToken,
    /// Not a live token Sesame issued (unknown, malformed, forged, expired): nothing to do.
    NotALiveToken,
}

/// Revokes `token` if it is a live access token, or a refresh token, that `caller` was issued.
/// An access token's signature, `typ`, issuer and expiry are checked
/// ([`tokens::verify_issued_access_token`], for any audience) so that nobody can put made-up `jti`s on the deny-list;
/// the deny-list entry lives until the token's own `exp`. A refresh token is looked up by its
/// hash; revoking it revokes its grant ([`revoke_grant`], with `access_token_ttl` bounding the
/// grant's access tokens). Revoking a revoked token again changes nothing (every write is
/// idempotent), and whether its user is still active does not matter.
///
/// `token_type_hint` is not taken: RFC 7009 §2.1 lets the server ignore it when it can tell
/// the type itself, and Sesame can (a JWT access token verifies; a refresh token is found by
/// its hash), so a wrong or unknown hint changes nothing.
pub async fn revoke(
    keys: &KeyManager,
    store: &dyn Store,
    issuer: &str,
    caller: &Client,
    token: &str,
    now: UnixTime,
    access_token_ttl: i64,
) -> Result<Revocation, StoreError> {
    let Ok(claims) = tokens::verify_issued_access_token(keys, issuer, token, now) else {
        let Some(family) = store.refresh_family_by_token(&TokenHash::of(token)).await? else {
            return Ok(Revocation::NotALiveToken);
        };
        if family.client_id != caller.client_id {
            return Ok(Revocation::OtherClientsToken);
        }
        revoke_grant(store, &family.grant_id, now, access_token_ttl).await?;
        crate::audit::record(
            store,
            now,
            crate::audit::AuditEvent::TokenRevoked {
                client_id: caller.client_id.clone(),
                user_id: Some(family.user_id.clone()),
                what: "refresh_token",
            },
        )
        .await;
        return Ok(Revocation::GrantRevoked);
    };
    if claims.client_id != caller.client_id {
        return Ok(Revocation::OtherClientsToken);
    }
    store
        .revoke_access_token(&claims.jti, claims.exp, None)
        .await?;
    crate::audit::record(
        store,
        now,
        crate::audit::AuditEvent::TokenRevoked {
            client_id: caller.client_id.clone(),
            user_id: (claims.sub != claims.client_id)
                .then(|| crate::model::UserId(claims.sub.clone())),
            what: "access_token",
        },
    )
    .await;
    Ok(Revocation::AccessTokenRevoked)
}

/// `POST /revoke`
pub async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    // RFC 7009 §2.1: the client authenticates as at the token endpoint.
    let (params, client) = client_form(&req, &body, &state).await?;
    if let Some(problem) = params.first_problem(REVOCATION_PARAMETERS) {
        return Err(problem.into());
    }
    let token = params
        .get("token")?
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let outcome = revoke(
        &state.keys,
        state.store.as_ref(),
        &state.config.issuer,
        &client,
        token,
        state.now(),
        state.config.access_token_ttl,
    )
    .await
    .map_err(internal)?;
    tracing::debug!(client_id = %client.client_id, ?outcome, "revocation request");
    // RFC 7009 §2.2: 200 whether or not anything was revoked.
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Kek;
    use crate::oauth::tokens::AccessTokenClaims;
    use crate::store::sqlite::SqliteStore;
    use std::sync::Arc;

    const ISSUER: &str = "https://id.example.com";
    const NOW: UnixTime = 1_700_000_000;

    fn client(client_id: &str) -> Client {
        Client {
            client_id: client_id.into(),
            ..Client::test_public()
        }
    }

    fn claims(client_id: &str, jti: &str) -> AccessTokenClaims {
        AccessTokenClaims {
            iss: ISSUER.into(),
            sub: "user-1".into(),
            aud: ISSUER.into(),
            client_id: client_id.into(),
            scope: "openid".into(),
            iat: NOW,
            exp: NOW + 600,
            jti: jti.into(),
            auth_time: Some(NOW - 10),
            sid: Some("sid-1".into()),
            userinfo_claims: vec![],
            gid: None,
        }
    }

    #[tokio::test]
    async fn only_the_callers_live_tokens_reach_the_deny_list_until_their_exp() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
        let keys = KeyManager::load_or_init(store.clone(), Kek::generate(), NOW)
            .await
            .unwrap();
        let caller = client("client-a");
        let revoke_now = |token: String, now: UnixTime| {
            let (keys, store, caller) = (&keys, store.clone(), caller.clone());
            async move { revoke(keys, store.as_ref(), ISSUER, &caller, &token, now, 600).await }
        };

        let own = tokens::mint_access_token(&keys, &claims("client-a", "jti-own")).unwrap();
        let other = tokens::mint_access_token(&keys, &claims("client-b", "jti-other")).unwrap();
        let (signed, _) = own.rsplit_once('.').unwrap();
        let forged = format!("{signed}.AAAA");

        assert_eq!(
            revoke_now(forged, NOW).await.unwrap(),
            Revocation::NotALiveToken
        );
        assert_eq!(
            revoke_now(other, NOW).await.unwrap(),
            Revocation::OtherClientsToken
        );
        assert!(!store.is_access_token_revoked("jti-other").await.unwrap());
        assert!(!store.is_access_token_revoked("jti-own").await.unwrap());
        assert_eq!(
            revoke_now(own.clone(), NOW + 599).await.unwrap(),
            Revocation::AccessTokenRevoked
        );
        assert!(store.is_access_token_revoked("jti-own").await.unwrap());
        assert_eq!(
            revoke_now(own, NOW + 600).await.unwrap(),
            Revocation::NotALiveToken,
            "an expired token has nothing left to revoke"
        );
    }
}
