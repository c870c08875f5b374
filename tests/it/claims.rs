//! The `claims` request parameter (OIDC Core §5.5) end to end: it chooses where a consented
//! claim goes (ID token or userinfo), and never releases a claim outside the granted scope.

use crate::harness::{TestServer, jwt_claims, query_map};
use serde_json::Value;

/// Signs `email` in at a first-party client with `scope` and `claims`, redeems the code and
/// returns the ID token's claims and the userinfo answer.
async fn id_token_and_userinfo(scope: &str, claims: &str) -> (Value, Value) {
    let server = TestServer::start().await;
    let client = server.confidential_client().await;
    let email = "claims@example.com";
    server.user(email).await;
    let person = server.person();
    let request = server.auth_request(&client, &[("scope", scope), ("claims", claims)]);
    let callback = person
        .sign_in(&request.url, email, crate::harness::PASSWORD)
        .await;
    let code = query_map(&callback)
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {callback}"));
    let resp = server.redeem(&client, &code, Some(&request.verifier)).await;
    assert_eq!(resp.status(), 200, "token response");
    let body: Value = resp.json().await.expect("token JSON");
    let id_token = jwt_claims(body["id_token"].as_str().expect("an ID token"));
    let (status, _, info) = server
        .userinfo(body["access_token"].as_str().expect("an access token"))
        .await;
    assert_eq!(status, 200, "userinfo: {info}");
    (
        id_token,
        serde_json::from_str(&info).expect("userinfo JSON"),
    )
}

#[tokio::test]
async fn claims_parameter_puts_a_consented_email_in_the_id_token() {
    let (id_token, userinfo) = id_token_and_userinfo(
        "openid email",
        r#"{"id_token":{"email":null},"userinfo":{"name":null}}"#,
    )
    .await;
    assert_eq!(id_token["email"], "claims@example.com", "{id_token}");
    assert!(
        id_token.get("email_verified").is_none(),
        "only what was asked for goes into the ID token: {id_token}"
    );
    assert!(id_token.get("name").is_none(), "{id_token}");
    // Userinfo has the email by scope; the name was asked for, but profile was not granted.
    assert_eq!(userinfo["email"], "claims@example.com", "{userinfo}");
    assert!(userinfo.get("name").is_none(), "{userinfo}");
}

#[tokio::test]
async fn claims_parameter_releases_nothing_beyond_the_granted_scope() {
    let (id_token, userinfo) = id_token_and_userinfo(
        "openid",
        r#"{"id_token":{"email":null,"email_verified":null,"name":{"essential":true}},
            "userinfo":{"email":null,"email_verified":null,"name":null}}"#,
    )
    .await;
    for claim in ["email", "email_verified", "name"] {
        assert!(id_token.get(claim).is_none(), "{claim}: {id_token}");
        assert!(userinfo.get(claim).is_none(), "{claim}: {userinfo}");
    }
    assert_eq!(userinfo["sub"], id_token["sub"], "userinfo still answers");
}
