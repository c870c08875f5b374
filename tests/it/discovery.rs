//! Discovery and JWKS (checklist A1–A3).

use crate::harness::{TestServer, header, rp_http};
use openidconnect::IssuerUrl;
use openidconnect::core::CoreProviderMetadata;
use serde_json::Value;

#[tokio::test]
async fn discovery_document_advertises_exactly_what_is_implemented() {
    let server = TestServer::start().await;
    let resp = rp_http()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(header(&resp, "content-type").starts_with("application/json"));
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["issuer"], server.issuer.as_str());
    for (key, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
    ] {
        assert_eq!(doc[key], server.url(path).as_str(), "{key}");
    }
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    let algs = doc["id_token_signing_alg_values_supported"]
        .as_array()
        .expect("id_token_signing_alg_values_supported");
    assert!(algs.contains(&Value::from("RS256")));
    assert!(!algs.contains(&Value::from("none")));
    let scopes = doc["scopes_supported"]
        .as_array()
        .expect("scopes_supported");
    assert!(scopes.contains(&Value::from("openid")));
    // OIDC Core §11: refresh tokens are issued for offline_access.
    assert!(scopes.contains(&Value::from("offline_access")));
    assert!(doc["subject_types_supported"].is_array());
    // Exactly the grants and response modes that are built.
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(
        doc["response_modes_supported"],
        serde_json::json!(["query", "form_post"])
    );
    // OIDC Core §5.5: the claims parameter, for the user claims Sesame holds.
    assert_eq!(doc["claims_parameter_supported"], true);
    let claims = doc["claims_supported"]
        .as_array()
        .expect("claims_supported");
    for claim in ["sub", "email", "email_verified", "name"] {
        assert!(
            claims.contains(&Value::from(claim)),
            "claims_supported lacks {claim}"
        );
    }
    // Nothing that is not built yet.
    assert_eq!(doc["end_session_endpoint"], server.url("/logout"));
    assert!(
        doc.get("registration_endpoint").is_none(),
        "registration_endpoint advertised before it exists"
    );
}

#[tokio::test]
async fn openidconnect_discovers_the_provider_and_its_keys() {
    let server = TestServer::start().await;
    let metadata = CoreProviderMetadata::discover_async(
        IssuerUrl::new(server.issuer.clone()).unwrap(),
        &rp_http(),
    )
    .await
    .expect("openidconnect discovery");
    assert_eq!(metadata.issuer().as_str(), server.issuer);
    assert!(
        !metadata.jwks().keys().is_empty(),
        "JWKS fetched and non-empty"
    );
}

#[tokio::test]
async fn jwks_publishes_public_rsa_members_only_with_cache_control() {
    let server = TestServer::start().await;
    let resp = rp_http().get(server.url("/jwks")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let cache = header(&resp, "cache-control");
    assert!(cache.contains("max-age"), "Cache-Control: {cache}");
    let jwks: Value = resp.json().await.unwrap();
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    let mut kids = std::collections::HashSet::new();
    for key in keys {
        let obj = key.as_object().expect("JWK object");
        assert_eq!(obj["kty"], "RSA");
        assert_eq!(obj["alg"], "RS256");
        assert_eq!(obj["use"], "sig");
        assert!(kids.insert(obj["kid"].as_str().expect("kid").to_string()));
        let n = obj["n"].as_str().expect("n");
        assert!(n.len() >= 342, "modulus at least 2048 bits");
        assert_eq!(obj["e"], "AQAB");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            assert!(
                !obj.contains_key(private),
                "private member {private} published"
            );
        }
    }
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/readyz"] {
        let resp = rp_http().get(server.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
}
