//! Minting and verifying the JWTs Sesame issues. OWNER: keys helper.

use crate::clock::UnixTime;
use crate::keys::{KeyError, KeyManager};
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// RFC 9068 access-token claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The user's id, or the client_id for client_credentials.
    pub sub: String,
    /// The default resource: the issuer.
    pub aud: String,
    pub client_id: String,
    /// Space-separated.
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// OIDC Core §2 ID-token claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub azp: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    pub sid: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

/// The JOSE `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The JOSE `typ` of ID tokens (RFC 7519 §5.1; OIDC Core sets none, `JWT` is the convention).
pub const ID_TOKEN_TYP: &str = "JWT";

/// How far in the future an `iat` may be before the token is refused (clock skew between
/// instances).
pub const MAX_IAT_SKEW: i64 = 300;

/// Signs an access token (`typ: at+jwt`).
pub fn mint_access_token(
    keys: &KeyManager,
    claims: &AccessTokenClaims,
) -> Result<String, KeyError> {
    keys.sign(ACCESS_TOKEN_TYP, claims)
}

/// Signs an ID token (`typ: JWT`).
pub fn mint_id_token(keys: &KeyManager, claims: &IdTokenClaims) -> Result<String, KeyError> {
    keys.sign(ID_TOKEN_TYP, claims)
}

/// OIDC Core §3.1.3.6: base64url of the left half of SHA-256 of the access token's ASCII.
pub fn at_hash(access_token: &str) -> String {
    let digest = digest::digest(&digest::SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
}

/// Verifies an access token: signature and `typ: at+jwt` (so ID tokens are refused), `iss` ==
/// `issuer`, `aud` == `issuer`, `exp > now`. Revocation is the caller's (it needs the store).
pub fn verify_access_token(
    keys: &KeyManager,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<AccessTokenClaims, KeyError> {
    // RFC 9068 §4: typ, signature, iss, aud, exp.
    let claims: AccessTokenClaims = keys.verify(token, Some(ACCESS_TOKEN_TYP))?;
    let invalid = |reason: &str| Err(KeyError::InvalidToken(reason.to_string()));
    if claims.iss != issuer {
        return invalid("wrong iss");
    }
    if claims.aud != issuer {
        return invalid("wrong aud");
    }
    if claims.exp <= now {
        return invalid("expired");
    }
    if claims.iat > now.saturating_add(MAX_IAT_SKEW) {
        return invalid("issued in the future");
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Kek;
    use crate::store::Store;
    use crate::store::sqlite::SqliteStore;
    use std::sync::Arc;

    const ISSUER: &str = "https://id.example.com";
    const NOW: UnixTime = 1_700_000_000;

    async fn keys() -> KeyManager {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
        KeyManager::load_or_init(store, Kek::generate(), NOW)
            .await
            .unwrap()
    }

    fn access_claims() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: ISSUER.into(),
            sub: "user-1".into(),
            aud: ISSUER.into(),
            client_id: "client-1".into(),
            scope: "openid profile".into(),
            iat: NOW,
            exp: NOW + 600,
            jti: "jti-1".into(),
            auth_time: Some(NOW - 10),
            sid: Some("sid-1".into()),
        }
    }

    fn id_claims() -> IdTokenClaims {
        IdTokenClaims {
            iss: ISSUER.into(),
            sub: "user-1".into(),
            aud: "client-1".into(),
            azp: "client-1".into(),
            exp: NOW + 600,
            iat: NOW,
            auth_time: NOW - 10,
            nonce: Some("n-0S6_WzA2Mj".into()),
            at_hash: None,
            sid: "sid-1".into(),
            amr: vec!["pwd".into()],
        }
    }

    /// Vectors computed independently with Python's hashlib; the first is OIDC Core's own
    /// example (Appendix A.3/A.4).
    #[test]
    fn at_hash_matches_known_answers() {
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(
            at_hash("eyJhbGciOiJSUzI1NiJ9.sesame-access-token-test-vector"),
            "nhdrXy_XE-iU7m5DYHibXA"
        );
    }

    #[tokio::test]
    async fn access_token_round_trips() {
        let keys = keys().await;
        let token = mint_access_token(&keys, &access_claims()).unwrap();
        assert_eq!(
            verify_access_token(&keys, ISSUER, &token, NOW).unwrap(),
            access_claims()
        );
        // Valid up to the last second before exp.
        assert!(verify_access_token(&keys, ISSUER, &token, NOW + 599).is_ok());
    }

    #[tokio::test]
    async fn id_token_carries_typ_jwt_and_its_claims() {
        let keys = keys().await;
        let token = mint_id_token(&keys, &id_claims()).unwrap();
        let back: IdTokenClaims = keys.verify(&token, Some(ID_TOKEN_TYP)).unwrap();
        assert_eq!(back, id_claims());
    }

    #[tokio::test]
    async fn verify_access_token_rejects_bad_tokens() {
        let keys = keys().await;
        let reject = |token: &str, now: UnixTime, why: &str| {
            let err = verify_access_token(&keys, ISSUER, token, now).unwrap_err();
            assert!(matches!(err, KeyError::InvalidToken(_)), "{why}: {err:?}");
        };
        let token = mint_access_token(&keys, &access_claims()).unwrap();
        reject(&token, NOW + 600, "expired at exp");
        reject(&token, NOW + 10_000, "long expired");

        let mut claims = access_claims();
        claims.iss = "https://evil.example.com".into();
        reject(
            &mint_access_token(&keys, &claims).unwrap(),
            NOW,
            "wrong iss",
        );

        let mut claims = access_claims();
        claims.aud = "https://api.other.example".into();
        reject(
            &mint_access_token(&keys, &claims).unwrap(),
            NOW,
            "wrong aud",
        );

        let mut claims = access_claims();
        claims.iat = NOW + MAX_IAT_SKEW + 1;
        claims.exp = NOW + 3600;
        reject(
            &mint_access_token(&keys, &claims).unwrap(),
            NOW,
            "iat in the future",
        );

        // An ID token is not an access token, even one whose claims would fit.
        reject(
            &mint_id_token(&keys, &id_claims()).unwrap(),
            NOW,
            "ID token",
        );
        reject(
            &keys.sign(ID_TOKEN_TYP, &access_claims()).unwrap(),
            NOW,
            "typ JWT",
        );

        reject("not.a.token", NOW, "garbage");
    }
}
