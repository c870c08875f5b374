//! The `claims` request parameter (OIDC Core §5.5): which claims the client wants in the ID
//! token and at userinfo. It chooses only where a claim goes: a claim is released only under the
//! scope that carries it, because that scope is what the person consented to ([`within_scope`]).

use crate::model::{RequestedClaims, Scope, USER_CLAIMS, scope_of_claim};
use serde_json::Value;

/// Why a `claims` parameter was refused (it becomes `invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    #[error("the claims parameter is not valid JSON")]
    NotJson,
    #[error("the claims parameter must be a JSON object")]
    NotAnObject,
    #[error("claims.{0} must be a JSON object")]
    MemberNotAnObject(&'static str),
    #[error("claims.{0}.{1} must be null or a JSON object")]
    RequestNotAnObject(&'static str, String),
}

/// Parses a `claims` parameter: a JSON object whose `id_token` and `userinfo` members (both
/// optional; others are ignored) map claim names to `null` or an object such as
/// `{"essential": true}`. Only the claims Sesame holds ([`USER_CLAIMS`]) are kept; any other
/// name is ignored, as OIDC Core §5.5 allows.
pub fn parse(raw: &str) -> Result<RequestedClaims, ClaimsError> {
    let value: Value = serde_json::from_str(raw).map_err(|_| ClaimsError::NotJson)?;
    let Value::Object(top) = value else {
        return Err(ClaimsError::NotAnObject);
    };
    let member = |name: &'static str| -> Result<Vec<String>, ClaimsError> {
        let Some(requests) = top.get(name) else {
            return Ok(Vec::new());
        };
        let Value::Object(requests) = requests else {
            return Err(ClaimsError::MemberNotAnObject(name));
        };
        if let Some((claim, _)) = requests
            .iter()
            .find(|(_, request)| !matches!(request, Value::Null | Value::Object(_)))
        {
            let shown: String = claim.chars().take(40).collect();
            return Err(ClaimsError::RequestNotAnObject(name, shown));
        }
        // In Sesame's order, each once.
        let kept = USER_CLAIMS
            .iter()
            .filter(|(claim, _)| requests.contains_key(*claim))
            .map(|(claim, _)| claim.to_string())
            .collect();
        Ok(kept)
    };
    Ok(RequestedClaims {
        id_token: member("id_token")?,
        userinfo: member("userinfo")?,
    })
}

/// Keeps only the requested claims whose scope ([`scope_of_claim`]) is in `granted`, the scope the
/// request was granted and the person is asked to approve: the consent page lists scopes, so a
/// claim outside them would be released without consent. The rest are dropped silently, as
/// OIDC Core §5.5 lets an OP leave requested claims out.
pub fn within_scope(requested: RequestedClaims, granted: &Scope) -> RequestedClaims {
    let keep = |claims: Vec<String>| {
        claims
            .into_iter()
            .filter(|c| scope_of_claim(c).is_some_and(|s| granted.contains(s)))
            .collect()
    };
    RequestedClaims {
        id_token: keep(requested.id_token),
        userinfo: keep(requested.userinfo),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_claim_has_the_scope_that_releases_it() {
        for (claim, _) in USER_CLAIMS {
            assert!(scope_of_claim(claim).is_some(), "{claim}");
        }
        assert_eq!(scope_of_claim("email"), Some("email"));
        assert_eq!(scope_of_claim("email_verified"), Some("email"));
        assert_eq!(scope_of_claim("name"), Some("profile"));
        assert_eq!(scope_of_claim("picture"), None);
    }

    #[test]
    fn claims_outside_the_granted_scope_are_dropped() {
        let all = || RequestedClaims {
            id_token: vec!["email".into(), "email_verified".into(), "name".into()],
            userinfo: vec!["email".into(), "name".into()],
        };
        let scope = |s: &str| Scope::parse(s).unwrap();
        assert_eq!(
            within_scope(all(), &scope("openid")),
            RequestedClaims::default()
        );
        assert_eq!(
            within_scope(all(), &scope("openid email")),
            RequestedClaims {
                id_token: vec!["email".into(), "email_verified".into()],
                userinfo: vec!["email".into()],
            }
        );
        assert_eq!(
            within_scope(all(), &scope("openid profile")),
            RequestedClaims {
                id_token: vec!["name".into()],
                userinfo: vec!["name".into()],
            }
        );
        assert_eq!(within_scope(all(), &scope("openid email profile")), all());
    }

    #[test]
    fn supported_claims_are_kept_per_target_and_others_ignored() {
        let claims = parse(
            r#"{"id_token": {"email": {"essential": true}, "acr": {"values": ["x"]}},
                "userinfo": {"name": null, "email_verified": null, "picture": null},
                "other": 5}"#,
        )
        .unwrap();
        assert_eq!(claims.id_token, ["email"]);
        assert_eq!(claims.userinfo, ["email_verified", "name"]);
        assert_eq!(parse("{}").unwrap(), RequestedClaims::default());
        assert_eq!(
            parse(r#"{"userinfo": {}}"#).unwrap(),
            RequestedClaims::default()
        );
    }

    #[test]
    fn malformed_claims_are_refused_with_a_reason() {
        assert_eq!(parse("{"), Err(ClaimsError::NotJson));
        assert_eq!(parse("[]"), Err(ClaimsError::NotAnObject));
        assert_eq!(parse("\"email\""), Err(ClaimsError::NotAnObject));
        assert_eq!(
            parse(r#"{"id_token": ["email"]}"#),
            Err(ClaimsError::MemberNotAnObject("id_token"))
        );
        assert_eq!(
            parse(r#"{"userinfo": {"email": true}}"#),
            Err(ClaimsError::RequestNotAnObject("userinfo", "email".into()))
        );
        assert!(
            parse(r#"{"userinfo": {"email": true}}"#)
                .unwrap_err()
                .to_string()
                .contains("claims.userinfo.email")
        );
    }
}
