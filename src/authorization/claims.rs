//! The `claims` request parameter (OIDC Core §5.5): which claims the client wants in the ID
//! token and at userinfo, beyond what its scopes give.

use crate::model::RequestedClaims;
use serde_json::Value;

/// The claims Sesame has; any other name is ignored, as OIDC Core §5.5 allows.
pub const SUPPORTED: &[&str] = &["email", "email_verified", "name"];

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
/// `{"essential": true}`. Only [`SUPPORTED`] names are kept.
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
        let kept = SUPPORTED
            .iter()
            .filter(|claim| requests.contains_key(**claim))
            .map(|claim| claim.to_string())
            .collect();
        Ok(kept)
    };
    Ok(RequestedClaims {
        id_token: member("id_token")?,
        userinfo: member("userinfo")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
