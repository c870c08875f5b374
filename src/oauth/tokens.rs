//! The JWTs Sesame issues, in one place: the claims of every kind of token (built here and
//! nowhere else), signing, and the one validation of a presented bearer access token.
//!
//! Claims building is pure — the issuer, the grant's facts and `now` in, claims out — so each
//! rule is unit-tested without a server. Kinds to come are one more builder each: a refreshed ID
//! token is [`id_token_claims`] with `nonce: None` and the refresh's `now`, the rest repeated from
//! the grant (OIDC Core §12.2); a logout token (OIDC Back-Channel Logout 1.0 §2.4) gets its own
//! claims type and builder beside these.

use crate::accounts::Accounts;
use crate::clock::UnixTime;
use crate::keys::{KeyError, KeyManager};
use crate::model::{Scope, User, UserId, scope_of_claim};
use crate::store::{Store, StoreError};
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// Claims about the user, each present only when asked for and known.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl UserClaims {
    /// `user`'s claims that `scope` (OIDC Core §5.4) or the `claims` parameter (§5.5, by name)
    /// ask for. Names Sesame does not hold are ignored; a claim without a value (no name) is
    /// left out rather than sent empty (§5.3.2).
    pub fn of(user: &User, scope: Option<&Scope>, requested: &[String]) -> UserClaims {
        let asked = |claim: &str| {
            requested.iter().any(|r| r == claim)
                || scope.is_some_and(|s| scope_of_claim(claim).is_some_and(|t| s.contains(t)))
        };
        UserClaims {
            email: asked("email").then(|| user.email.clone()),
            email_verified: asked("email_verified").then_some(user.email_verified),
            name: user.name.clone().filter(|_| asked("name")),
        }
    }
}

/// RFC 9068 access-token claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    pub iss: String,
    /// The user's id, or the client_id for client_credentials (RFC 9068 §2.2).
    pub sub: String,
    /// The resource the token is for: the issuer (its UserInfo), or the identifier of the one
    /// API it was issued for (RFC 8707, RFC 9068 §3).
    pub aud: String,
    pub client_id: String,
    /// Space-separated.
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The user's authentication time; present exactly on tokens issued on a person's behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// A private claim (RFC 7519 §4.3): the user claims the `claims` request parameter asked
    /// for at UserInfo (OIDC Core §5.5), carried here so that userinfo honours them from the
    /// token alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo_claims: Vec<String>,
    /// A private claim: the grant (code and refresh-token family) the token was issued under,
    /// so that revoking the grant denies every access token of it (the deny-list by grant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
}

impl AccessTokenClaims {
    /// Whether the token was issued on a person's behalf (it carries the login's `auth_time`)
    /// rather than to a client for itself (client_credentials, RFC 6749 §4.4).
    pub fn is_for_user(&self) -> bool {
        self.auth_time.is_some()
    }
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
    /// User claims the `claims` request parameter asked for in the ID token (OIDC Core §5.5).
    #[serde(flatten)]
    pub user: UserClaims,
}

/// The UserInfo response (OIDC Core §5.3.2): `sub` and the user claims asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfoClaims {
    pub sub: String,
    #[serde(flatten)]
    pub user: UserClaims,
}

/// The sign-in a person's tokens come from: repeated unchanged in every token of the grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Login<'a> {
    pub auth_time: UnixTime,
    /// The IdP session's public id.
    pub sid: &'a str,
    /// Authentication methods (`amr`).
    pub amr: &'a [String],
}

/// The facts of one access token.
#[derive(Clone, Debug)]
pub struct AccessTokenGrant<'a> {
    /// The user's id, or the client's own id for client_credentials (RFC 9068 §2.2).
    pub sub: &'a str,
    pub client_id: &'a str,
    pub scope: &'a Scope,
    pub jti: String,
    pub now: UnixTime,
    pub expires_at: UnixTime,
    /// The person's sign-in; `None` for a client's own token.
    pub login: Option<Login<'a>>,
    /// The `userinfo` member of the `claims` request parameter (OIDC Core §5.5).
    pub userinfo_claims: &'a [String],
    /// The grant the token is issued under (`gid`); `None` for a client's own token.
    pub grant_id: Option<&'a str>,
}

/// The facts of one ID token.
#[derive(Clone, Debug)]
pub struct IdTokenGrant<'a> {
    pub user: &'a User,
    pub client_id: &'a str,
    pub login: Login<'a>,
    /// The authorization request's nonce; `None` for a refreshed ID token (OIDC Core §12.2).
    pub nonce: Option<&'a str>,
    /// The access token issued beside it, for `at_hash` (OIDC Core §3.1.3.6).
    pub access_token: Option<&'a str>,
    /// The `id_token` member of the `claims` request parameter (OIDC Core §5.5).
    pub requested: &'a [String],
    pub now: UnixTime,
    pub expires_at: UnixTime,
}

/// The claims of an RFC 9068 access token for the default resource (the issuer).
pub fn access_token_claims(issuer: &str, grant: AccessTokenGrant<'_>) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: issuer.to_string(),
        sub: grant.sub.to_string(),
        aud: issuer.to_string(),
        client_id: grant.client_id.to_string(),
        scope: grant.scope.to_string(),
        iat: grant.now,
        exp: grant.expires_at,
        jti: grant.jti,
        auth_time: grant.login.map(|l| l.auth_time),
        sid: grant.login.map(|l| l.sid.to_string()),
        // Only a person has user claims to ask for.
        userinfo_claims: match grant.login {
            // Validated at /authorize: only claims Sesame holds, under the granted scope.
            Some(_) => grant.userinfo_claims.to_vec(),
            None => Vec::new(),
        },
        gid: grant.grant_id.map(str::to_string),
    }
}

/// The claims of an ID token (OIDC Core §2, §3.1.3.6). With an access token issued beside it,
/// scopes bring their claims to UserInfo, not here (§5.4); only claims the `claims` parameter
/// names for the ID token are added (§5.5).
pub fn id_token_claims(issuer: &str, grant: IdTokenGrant<'_>) -> IdTokenClaims {
    IdTokenClaims {
        iss: issuer.to_string(),
        sub: grant.user.id.0.clone(),
        aud: grant.client_id.to_string(),
        azp: grant.client_id.to_string(),
        exp: grant.expires_at,
        iat: grant.now,
        auth_time: grant.login.auth_time,
        nonce: grant.nonce.map(str::to_string),
        at_hash: grant.access_token.map(at_hash),
        sid: grant.login.sid.to_string(),
        amr: grant.login.amr.to_vec(),
        user: UserClaims::of(grant.user, None, grant.requested),
    }
}

/// The UserInfo claims for a validated user token: by its scopes (OIDC Core §5.4) and by the
/// claims it carries from the `claims` parameter (§5.5).
pub fn userinfo_claims(user: &User, token: &AccessTokenClaims, scope: &Scope) -> UserInfoClaims {
    UserInfoClaims {
        sub: user.id.0.clone(),
        user: UserClaims::of(user, Some(scope), &token.userinfo_claims),
    }
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

/// An access token whose signature and claims checked out ([`verify_access_token`]): its
/// claims (it dereferences to them) and the `kid` of the key that signed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAccessToken {
    pub claims: AccessTokenClaims,
    /// The signing key; [`check_live`] refuses it once an operator has revoked it.
    pub kid: String,
}

impl std::ops::Deref for VerifiedAccessToken {
    type Target = AccessTokenClaims;
    fn deref(&self) -> &AccessTokenClaims {
        &self.claims
    }
}

impl PartialEq<AccessTokenClaims> for VerifiedAccessToken {
    fn eq(&self, other: &AccessTokenClaims) -> bool {
        self.claims == *other
    }
}

/// Verifies an access token on its own: signature and `typ: at+jwt` (so ID tokens are
/// refused), `iss` == `issuer`, `aud` == `issuer`, `exp > now`, `iat` not beyond the skew.
/// Revocation (of the token or its key) and the subject need the store: [`check_live`] adds
/// them. A token for an API (its `aud` an API identifier, RFC 8707) is refused: it is not for
/// the issuer's own resources (UserInfo).
pub fn verify_access_token(
    keys: &KeyManager,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<VerifiedAccessToken, KeyError> {
    let verified = verify_issued_access_token(keys, issuer, token, now)?;
    if verified.aud != issuer {
        return Err(KeyError::InvalidToken("wrong aud".to_string()));
    }
    Ok(verified)
}

/// As [`verify_access_token`] but for any audience: an access token this issuer issued, for
/// itself or for an API. For the endpoints that handle a client's tokens whatever they are
/// for (introspection, revocation), never for a resource.
pub fn verify_issued_access_token(
    keys: &KeyManager,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<VerifiedAccessToken, KeyError> {
    // RFC 9068 §4: typ, signature, iss, aud (by the caller), exp.
    // Presented back to us: counts one use of the signing key (`sesame keys list`).
    let (claims, kid): (AccessTokenClaims, String) =
        keys.verify_presented(token, Some(ACCESS_TOKEN_TYP), now)?;
    let invalid = |reason: &str| Err(KeyError::InvalidToken(reason.to_string()));
    if claims.iss != issuer {
        return invalid("wrong iss");
    }
    if claims.exp <= now {
        return invalid("expired");
    }
    if claims.iat > now.saturating_add(MAX_IAT_SKEW) {
        return invalid("issued in the future");
    }
    // A client's own token names the client as its subject (RFC 9068 §2.2).
    if !claims.is_for_user() && claims.sub != claims.client_id {
        return invalid("a client token whose sub is not its client");
    }
    Ok(VerifiedAccessToken { claims, kid })
}

/// Why a presented bearer access token was refused. Every variant but `Store` is RFC 6750
/// §3.1 `invalid_token`.
#[derive(Debug, thiserror::Error)]
pub enum BearerError {
    /// Signature, `typ`, issuer, audience, expiry or `iat` failed.
    #[error("the access token is invalid or expired")]
    Invalid(#[source] KeyError),
    /// The `jti` is on the deny-list.
    #[error("the access token has been revoked")]
    Revoked,
    /// An operator revoked the key that signed it (`sesame keys revoke`).
    #[error("the key that signed the access token has been revoked")]
    RevokedKey,
    /// A person's token whose user is unknown or disabled.
    #[error("the access token's subject is not an active user")]
    InactiveUser,
    /// The token's client is no longer registered (deleted).
    #[error("the access token's client is no longer registered")]
    ClientGone,
    /// The store could not answer.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whose a validated access token is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSubject {
    /// Issued on a person's behalf; the user is active now.
    User(User),
    /// A client's own token (client_credentials): `sub` is its `client_id`.
    Client,
}

/// An access token that passed [`validate_access_token`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedAccessToken {
    pub claims: AccessTokenClaims,
    pub subject: TokenSubject,
}

/// The one validation of a presented access token, for every endpoint that accepts one:
/// [`verify_access_token`] (signature, `typ`, issuer, expiry, `iat` skew), then the deny-list
/// (by `jti` and by grant), that its client is still registered, then — for a person's token —
/// that the user is active ([`Accounts::active_user`]).
pub async fn validate_access_token(
    keys: &KeyManager,
    store: &dyn Store,
    accounts: &Accounts,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<ValidatedAccessToken, BearerError> {
    let claims = verify_access_token(keys, issuer, token, now).map_err(BearerError::Invalid)?;
    check_live(store, accounts, claims).await
}

/// The store half of [`validate_access_token`], for a token [`verify_access_token`] already
/// passed: the deny-list (by `jti`, and by grant for a revoked refresh family), whether its
/// signing key was revoked, a registered client, then — for a person's token — an active user.
/// Split out so that a caller can first decide, without any I/O, whether it may look at the
/// token at all (introspection of another client's token must cost and reveal nothing).
///
/// The key is looked up in the store rather than only in this instance's key ring, so a key
/// revoked by `sesame keys revoke` (another process) stops verifying here at once, not at the
/// next reload of the ring.
pub async fn check_live(
    store: &dyn Store,
    accounts: &Accounts,
    verified: VerifiedAccessToken,
) -> Result<ValidatedAccessToken, BearerError> {
    let VerifiedAccessToken { claims, kid } = verified;
    if store
        .is_access_token_denied(&claims.jti, claims.gid.as_deref())
        .await?
    {
        return Err(BearerError::Revoked);
    }
    if store.is_signing_key_revoked(&kid).await? {
        return Err(BearerError::RevokedKey);
    }
    // A deleted client's tokens die with it (its grants can no longer be refreshed either).
    if store.client(&claims.client_id).await?.is_none() {
        return Err(BearerError::ClientGone);
    }
    let subject = if claims.is_for_user() {
        let user = accounts
            .active_user(&UserId(claims.sub.clone()))
            .await?
            .ok_or(BearerError::InactiveUser)?;
        TokenSubject::User(user)
    } else {
        TokenSubject::Client
    };
    Ok(ValidatedAccessToken { claims, subject })
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
            userinfo_claims: vec![],
            gid: None,
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
            user: UserClaims::default(),
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
    fn user(name: Option<&str>) -> User {
        User {
            id: UserId("user-1".into()),
            email: "ada@example.com".into(),
            name: name.map(str::to_string),
            email_verified: true,
            password_hash: "$argon2id$unused".into(),
            password_changed_at: NOW - 1000,
            disabled: false,
            created_at: NOW - 1000,
        }
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    const AMR: &[String] = &[];

    fn login() -> Login<'static> {
        Login {
            auth_time: NOW - 10,
            sid: "sid-1",
            amr: AMR,
        }
    }

    fn id_grant<'a>(user: &'a User, requested: &'a [String]) -> IdTokenGrant<'a> {
        IdTokenGrant {
            user,
            client_id: "client-1",
            login: login(),
            nonce: Some("n-1"),
            access_token: Some("the.access.token"),
            requested,
            now: NOW,
            expires_at: NOW + 600,
        }
    }

    #[test]
    fn access_token_claims_of_a_persons_grant_carry_the_login_and_requested_userinfo_claims() {
        let scope = Scope::parse("openid email").unwrap();
        // As /authorize validated them: names Sesame holds, each once, under the granted scope.
        let requested = names(&["email", "email_verified"]);
        let claims = access_token_claims(
            ISSUER,
            AccessTokenGrant {
                sub: "user-1",
                client_id: "client-1",
                scope: &scope,
                jti: "jti-1".into(),
                now: NOW,
                expires_at: NOW + 600,
                login: Some(login()),
                userinfo_claims: &requested,
                grant_id: Some("grant-1"),
            },
        );
        assert_eq!(
            claims,
            AccessTokenClaims {
                iss: ISSUER.into(),
                sub: "user-1".into(),
                aud: ISSUER.into(),
                client_id: "client-1".into(),
                scope: "openid email".into(),
                iat: NOW,
                exp: NOW + 600,
                jti: "jti-1".into(),
                auth_time: Some(NOW - 10),
                sid: Some("sid-1".into()),
                userinfo_claims: names(&["email", "email_verified"]),
                gid: Some("grant-1".into()),
            }
        );
        assert!(claims.is_for_user());
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(
            json["userinfo_claims"],
            serde_json::json!(["email", "email_verified"])
        );
    }

    #[test]
    fn a_clients_own_access_token_has_the_client_as_sub_and_no_login() {
        let scope = Scope::parse("orders:read").unwrap();
        let requested = names(&["email"]);
        let claims = access_token_claims(
            ISSUER,
            AccessTokenGrant {
                sub: "client-1",
                client_id: "client-1",
                scope: &scope,
                jti: "jti-2".into(),
                now: NOW,
                expires_at: NOW + 600,
                login: None,
                userinfo_claims: &requested,
                grant_id: None,
            },
        );
        assert_eq!(claims.sub, "client-1");
        assert_eq!((claims.auth_time, claims.sid.as_deref()), (None, None));
        assert!(
            claims.userinfo_claims.is_empty(),
            "no person, no user claims"
        );
        assert!(!claims.is_for_user());
        let json = serde_json::to_value(&claims).unwrap();
        for absent in ["auth_time", "sid", "userinfo_claims"] {
            assert!(json.get(absent).is_none(), "{absent} in {json}");
        }
    }

    #[test]
    fn id_token_claims_repeat_the_login_and_add_only_claims_asked_for_by_name() {
        let ada = user(Some("Ada"));
        let claims = id_token_claims(ISSUER, id_grant(&ada, &[]));
        assert_eq!(
            claims,
            IdTokenClaims {
                iss: ISSUER.into(),
                sub: "user-1".into(),
                aud: "client-1".into(),
                azp: "client-1".into(),
                exp: NOW + 600,
                iat: NOW,
                auth_time: NOW - 10,
                nonce: Some("n-1".into()),
                at_hash: Some(at_hash("the.access.token")),
                sid: "sid-1".into(),
                amr: vec![],
                // An access token is issued beside it: scopes bring claims to UserInfo (§5.4).
                user: UserClaims::default(),
            }
        );

        let requested = names(&["email", "name", "phone_number"]);
        let claims = id_token_claims(ISSUER, id_grant(&ada, &requested));
        assert_eq!(
            claims.user,
            UserClaims {
                email: Some("ada@example.com".into()),
                email_verified: None,
                name: Some("Ada".into()),
            }
        );
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(json["email"], "ada@example.com");
        assert_eq!(json["name"], "Ada");
        assert!(json.get("email_verified").is_none() && json.get("phone_number").is_none());

        // A claim the user has no value for is left out, not sent empty.
        let nameless = user(None);
        let claims = id_token_claims(ISSUER, id_grant(&nameless, &requested));
        assert_eq!(claims.user.name, None);
    }

    #[test]
    fn a_refreshed_id_token_is_the_same_builder_without_nonce_and_with_a_new_iat() {
        let ada = user(None);
        let first = id_token_claims(ISSUER, id_grant(&ada, &[]));
        let refreshed = id_token_claims(
            ISSUER,
            IdTokenGrant {
                nonce: None,
                now: NOW + 3000,
                expires_at: NOW + 3600,
                ..id_grant(&ada, &[])
            },
        );
        assert_eq!(refreshed.nonce, None);
        assert_eq!(refreshed.iat, NOW + 3000);
        assert_eq!(
            (&refreshed.iss, &refreshed.sub, &refreshed.aud),
            (&first.iss, &first.sub, &first.aud)
        );
        assert_eq!(
            (refreshed.auth_time, &refreshed.sid),
            (first.auth_time, &first.sid)
        );
    }

    #[test]
    fn userinfo_claims_follow_scopes_and_the_claims_the_token_carries() {
        let ada = user(Some("Ada"));
        let mut token = access_claims();
        let by_scope = |scope: &str, token: &AccessTokenClaims| {
            userinfo_claims(&ada, token, &Scope::parse(scope).unwrap())
        };
        assert_eq!(
            by_scope("openid", &token),
            UserInfoClaims {
                sub: "user-1".into(),
                user: UserClaims::default()
            }
        );
        assert_eq!(
            by_scope("openid email profile", &token).user,
            UserClaims {
                email: Some("ada@example.com".into()),
                email_verified: Some(true),
                name: Some("Ada".into()),
            }
        );
        // The claims parameter's userinfo member, carried in the token, adds to the scopes.
        token.userinfo_claims = names(&["name"]);
        assert_eq!(
            by_scope("openid", &token).user,
            UserClaims {
                name: Some("Ada".into()),
                ..UserClaims::default()
            }
        );
        token.userinfo_claims = names(&["email_verified"]);
        let json = serde_json::to_value(by_scope("openid profile", &token)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"sub": "user-1", "name": "Ada", "email_verified": true})
        );
    }

    #[test]
    fn id_tokens_without_user_claims_still_parse_as_id_token_claims() {
        // Tokens minted before user claims existed, and id_token_hints, read back unchanged.
        let json = serde_json::to_value(id_claims()).unwrap();
        assert!(json.get("email").is_none());
        let back: IdTokenClaims = serde_json::from_value(json).unwrap();
        assert_eq!(back, id_claims());
    }

    struct Validation {
        keys: KeyManager,
        store: Arc<dyn Store>,
        accounts: Accounts,
    }

    impl Validation {
        async fn new() -> Validation {
            let store: Arc<dyn Store> =
                Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
            let keys = KeyManager::load_or_init(store.clone(), Kek::generate(), NOW)
                .await
                .unwrap();
            let config = crate::config::FileConfig::default().resolve().unwrap();
            let clock = Arc::new(crate::clock::FixedClock::new(NOW));
            let accounts = Accounts::new(store.clone(), &config, clock);
            store.create_user(&user(Some("Ada"))).await.unwrap();
            store
                .create_client(&crate::model::Client {
                    client_id: "client-1".into(),
                    ..crate::model::Client::test_public()
                })
                .await
                .unwrap();
            Validation {
                keys,
                store,
                accounts,
            }
        }

        async fn validate(
            &self,
            claims: &AccessTokenClaims,
            now: UnixTime,
        ) -> Result<ValidatedAccessToken, BearerError> {
            let token = mint_access_token(&self.keys, claims).unwrap();
            validate_access_token(
                &self.keys,
                self.store.as_ref(),
                &self.accounts,
                ISSUER,
                &token,
                now,
            )
            .await
        }
    }

    fn client_claims() -> AccessTokenClaims {
        AccessTokenClaims {
            sub: "client-1".into(),
            scope: "orders:read".into(),
            auth_time: None,
            sid: None,
            ..access_claims()
        }
    }

    #[tokio::test]
    async fn a_persons_valid_token_validates_to_its_active_user() {
        let v = Validation::new().await;
        let validated = v.validate(&access_claims(), NOW).await.unwrap();
        assert_eq!(validated.claims, access_claims());
        assert_eq!(validated.subject, TokenSubject::User(user(Some("Ada"))));
    }

    #[tokio::test]
    async fn a_clients_own_token_validates_to_the_client_without_a_user() {
        let v = Validation::new().await;
        let validated = v.validate(&client_claims(), NOW).await.unwrap();
        assert_eq!(validated.subject, TokenSubject::Client);

        // A client token naming anyone but its client as sub is not one we issue.
        let claims = AccessTokenClaims {
            sub: "user-1".into(),
            ..client_claims()
        };
        let err = v.validate(&claims, NOW).await.unwrap_err();
        assert!(matches!(err, BearerError::Invalid(_)), "{err:?}");
    }

    #[tokio::test]
    async fn revoked_tokens_are_refused_whoever_they_are_for() {
        let v = Validation::new().await;
        for claims in [access_claims(), client_claims()] {
            v.store
                .revoke_access_token(&claims.jti, claims.exp, None)
                .await
                .unwrap();
            let err = v.validate(&claims, NOW).await.unwrap_err();
            assert!(matches!(err, BearerError::Revoked), "{err:?}");
        }
    }

    #[tokio::test]
    async fn every_token_of_a_denied_grant_is_refused_and_other_grants_are_not() {
        let v = Validation::new().await;
        let of_grant = |jti: &str, gid: &str| AccessTokenClaims {
            jti: jti.into(),
            gid: Some(gid.into()),
            ..access_claims()
        };
        v.store.deny_grant("grant-a", NOW + 900).await.unwrap();
        for jti in ["jti-a1", "jti-a2"] {
            let err = v
                .validate(&of_grant(jti, "grant-a"), NOW)
                .await
                .unwrap_err();
            assert!(matches!(err, BearerError::Revoked), "{err:?}");
        }
        assert!(
            v.validate(&of_grant("jti-b1", "grant-b"), NOW)
                .await
                .is_ok()
        );
        assert!(
            v.validate(&access_claims(), NOW).await.is_ok(),
            "no gid, no grant denial"
        );
    }

    #[tokio::test]
    async fn a_token_of_a_deleted_client_is_refused() {
        let v = Validation::new().await;
        assert!(v.validate(&access_claims(), NOW).await.is_ok());
        assert!(v.store.delete_client("client-1").await.unwrap());
        for claims in [access_claims(), client_claims()] {
            let err = v.validate(&claims, NOW).await.unwrap_err();
            assert!(matches!(err, BearerError::ClientGone), "{err:?}");
        }
    }

    #[tokio::test]
    async fn a_token_of_a_disabled_or_unknown_user_is_refused() {
        let v = Validation::new().await;
        let unknown = AccessTokenClaims {
            sub: "nobody".into(),
            ..access_claims()
        };
        let err = v.validate(&unknown, NOW).await.unwrap_err();
        assert!(matches!(err, BearerError::InactiveUser), "{err:?}");

        v.store
            .disable_user(&UserId("user-1".into()))
            .await
            .unwrap();
        let err = v.validate(&access_claims(), NOW).await.unwrap_err();
        assert!(matches!(err, BearerError::InactiveUser), "{err:?}");
    }

    #[tokio::test]
    async fn validation_refuses_what_verification_refuses() {
        let v = Validation::new().await;
        let err = v.validate(&access_claims(), NOW + 600).await.unwrap_err();
        assert!(matches!(err, BearerError::Invalid(_)), "expired: {err:?}");
        let id_token = mint_id_token(&v.keys, &id_claims()).unwrap();
        let err = validate_access_token(
            &v.keys,
            v.store.as_ref(),
            &v.accounts,
            ISSUER,
            &id_token,
            NOW,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, BearerError::Invalid(_)), "ID token: {err:?}");
    }
}
