//! Client authentication refusals by the rules (issue 8 item 9; checklist H1, I1): every
//! `401 invalid_client` carries a `WWW-Authenticate` challenge (RFC 9110 §15.5.2, RFC 6749
//! §5.2), whether the client tried HTTP Basic, `client_secret_post`, or nothing at all — at the
//! token, revocation and introspection endpoints alike.

use crate::harness::{ClientSpec, TestServer, assert_oauth_error, header, rp_http};
use sesame::model::TokenEndpointAuthMethod;

/// The endpoints that authenticate clients, each with a form it would otherwise accept.
const ENDPOINTS: &[(&str, &[(&str, &str)])] = &[
    ("/token", &[("grant_type", "client_credentials")]),
    ("/revoke", &[("token", "whatever")]),
    ("/introspect", &[("token", "whatever")]),
];

async fn assert_challenged(resp: reqwest::Response, what: &str) {
    let www = header(&resp, "www-authenticate");
    assert!(
        www.starts_with("Basic realm="),
        "{what}: WWW-Authenticate '{www}'"
    );
    assert_oauth_error(resp, 401, "invalid_client").await;
}

#[tokio::test]
async fn every_invalid_client_answer_carries_a_challenge_whatever_was_tried() {
    let server = TestServer::start().await;
    let basic = server.confidential_client().await;
    let post = server
        .register(ClientSpec {
            auth_method: TokenEndpointAuthMethod::ClientSecretPost,
            ..ClientSpec::confidential()
        })
        .await;
    let http = rp_http();
    for (path, form) in ENDPOINTS {
        let url = server.url(path);
        // Nothing at all.
        let resp = http.post(&url).form(form).send().await.unwrap();
        assert_challenged(resp, &format!("{path} without credentials")).await;
        // HTTP Basic with a wrong secret.
        let resp = http
            .post(&url)
            .basic_auth(&basic.client_id, Some("wrong"))
            .form(form)
            .send()
            .await
            .unwrap();
        assert_challenged(resp, &format!("{path} with a wrong Basic secret")).await;
        // client_secret_post with a wrong secret.
        let mut wrong_post: Vec<(&str, &str)> = form.to_vec();
        wrong_post.push(("client_id", &post.client_id));
        wrong_post.push(("client_secret", "wrong"));
        let resp = http.post(&url).form(&wrong_post).send().await.unwrap();
        assert_challenged(resp, &format!("{path} with a wrong posted secret")).await;
        // An unknown client, in the body.
        let mut unknown: Vec<(&str, &str)> = form.to_vec();
        unknown.push(("client_id", "no-such-client"));
        let resp = http.post(&url).form(&unknown).send().await.unwrap();
        assert_challenged(resp, &format!("{path} for an unknown client")).await;
    }
}

#[tokio::test]
async fn public_clients_refused_where_only_confidential_ones_may_go_get_a_challenge() {
    let server = TestServer::start().await;
    let public = server.public_client().await;
    let http = rp_http();
    for (path, form) in [ENDPOINTS[0], ENDPOINTS[2]] {
        let mut body: Vec<(&str, &str)> = form.to_vec();
        body.push(("client_id", &public.client_id));
        let resp = http
            .post(server.url(path))
            .form(&body)
            .send()
            .await
            .unwrap();
        assert_challenged(resp, &format!("{path} for a public client")).await;
    }
}
