//! OpenID Connect Discovery 1.0 §3: the provider metadata, rendered once at start.

use crate::config::Config;
use crate::model::USER_CLAIMS;
use crate::state::AppState;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// The scopes Sesame understands.
pub const SCOPES_SUPPORTED: &[&str] = &["openid", "profile", "email", "offline_access"];

/// The claims Sesame's ID tokens and UserInfo responses can carry: the protocol's and the
/// user claims of [`USER_CLAIMS`].
fn claims_supported() -> Vec<&'static str> {
    let protocol = [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "at_hash",
        "sid",
        "amr",
        "azp",
    ];
    protocol
        .into_iter()
        .chain(USER_CLAIMS.iter().map(|(claim, _)| *claim))
        .collect()
}

/// Renders the metadata document. Advertises only what is implemented.
pub fn render(config: &Config) -> Vec<u8> {
    let issuer = &config.issuer;
    let doc = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "end_session_endpoint": format!("{issuer}/logout"),
        // Back-Channel Logout 1.0 §2.1: logout tokens are POSTed, and always carry `sid`.
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "jwks_uri": format!("{issuer}/jwks"),
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "none"],
        // RFC 8414 §2: revocation authenticates clients as the token endpoint does (public
        // clients by client_id); introspection only confidential clients.
        "revocation_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": claims_supported(),
        // OIDC Core §5.5, for the user claims Sesame holds.
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// `GET /.well-known/openid-configuration`
pub async fn handle(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .body(state.discovery.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_advertises_exactly_what_is_built() {
        let config = crate::config::FileConfig::default().resolve().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&render(&config)).unwrap();
        assert_eq!(doc["issuer"], "http://127.0.0.1:8080");
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(doc["jwks_uri"], "http://127.0.0.1:8080/jwks");
        assert_eq!(doc["claims_parameter_supported"], true);
        assert_eq!(doc["revocation_endpoint"], "http://127.0.0.1:8080/revoke");
        assert_eq!(doc["end_session_endpoint"], "http://127.0.0.1:8080/logout");
        assert_eq!(doc["backchannel_logout_supported"], true);
        assert_eq!(doc["backchannel_logout_session_supported"], true);
        assert_eq!(
            doc["introspection_endpoint"],
            "http://127.0.0.1:8080/introspect"
        );
        assert_eq!(
            doc["introspection_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post"]),
            "public clients may not introspect"
        );
        for claim in ["sub", "auth_time", "email", "email_verified", "name"] {
            assert!(
                doc["claims_supported"]
                    .as_array()
                    .unwrap()
                    .contains(&json!(claim)),
                "{claim}"
            );
        }
        assert!(
            !doc["id_token_signing_alg_values_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("none"))
        );
    }
}
