//! Authorization responses on the wire (RFC 6749 §4.1.2): the `query` redirect and the
//! `form_post` page (OAuth 2.0 Form Post Response Mode), each with `state` and `iss` (RFC 9207);
//! and the one mapping of an authorization [`Outcome`] or [`Refusal`] to a response, used by
//! `/authorize` and the hosted pages alike.

use super::headers::csp_source;
use super::see_other;
use crate::authorization::{AuthorizationResponse, Outcome, Refusal};
use crate::error::{PageError, page};
use crate::model::ResponseMode;
use crate::render::Templates;
use crate::secret::random_id;
use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_SECURITY_POLICY, HeaderValue};
use serde::Serialize;
use url::Url;

#[derive(Serialize)]
struct FormField {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
struct FormPostPage {
    redirect_uri: String,
    fields: Vec<FormField>,
    nonce: String,
}

/// Maps what the authorization core decided to a response: a hosted page (303 to it), the
/// client's redirect URI, or the friendly error page.
pub fn respond(
    templates: &Templates,
    issuer: &str,
    result: Result<Outcome, Refusal>,
) -> Result<HttpResponse, PageError> {
    match result {
        Ok(Outcome::Interact(hosted, id)) => Ok(see_other(&hosted.location(&id))),
        Ok(Outcome::Respond(response)) | Err(Refusal::AtClient(response)) => {
            deliver(templates, issuer, response)
        }
        Err(Refusal::AtOp(message)) => Err(PageError::invalid_sign_in_request(message)),
        Err(Refusal::Throttled { retry_after }) => Err(PageError::too_many_requests(
            format!(
                "Too many sign-in requests from your network. Try again in {retry_after} seconds."
            ),
            retry_after,
        )),
        Err(Refusal::Store(e)) => Err(PageError::internal(e)),
    }
}

/// Delivers a response's parameters plus `state` and `iss` by its response mode.
pub fn deliver(
    templates: &Templates,
    issuer: &str,
    response: AuthorizationResponse,
) -> Result<HttpResponse, PageError> {
    let AuthorizationResponse { target, mut params } = response;
    if let Some(s) = &target.state {
        params.push(("state", s.clone()));
    }
    params.push(("iss", issuer.to_string()));
    let Ok(mut url) = Url::parse(&target.redirect_uri) else {
        return Err(PageError::invalid_sign_in_request(
            "The application's registered redirect URI is not a valid URL.",
        ));
    };
    match target.mode {
        ResponseMode::Query => {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            Ok(see_other(url.as_str()))
        }
        ResponseMode::FormPost => {
            // An auto-submitting form, nothing in the URL; its one script runs under a nonce.
            let nonce = random_id();
            let origin = csp_source(&url);
            let data = FormPostPage {
                redirect_uri: target.redirect_uri.clone(),
                fields: params
                    .into_iter()
                    .map(|(name, value)| FormField { name, value })
                    .collect(),
                nonce: nonce.clone(),
            };
            let mut response = page(templates, StatusCode::OK, "form_post", &data);
            let csp = format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; \
                 form-action {origin}; frame-ancestors 'none'; base-uri 'none'"
            );
            if let Ok(value) = HeaderValue::from_str(&csp) {
                response
                    .headers_mut()
                    .insert(CONTENT_SECURITY_POLICY, value);
            }
            Ok(response)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::{Interaction, ResponseTarget};
    use crate::error::OAuthError;
    use actix_web::body::MessageBody;
    use actix_web::http::header::LOCATION;

    const ISSUER: &str = "https://id.example.com";

    fn target(mode: ResponseMode, state: Option<&str>) -> ResponseTarget {
        ResponseTarget {
            redirect_uri: "https://rp.example/cb?app=1".into(),
            mode,
            state: state.map(str::to_string),
        }
    }

    #[test]
    fn query_mode_redirects_303_with_state_and_iss_after_the_registered_query() {
        let t = Templates::load().unwrap();
        let response =
            AuthorizationResponse::code(target(ResponseMode::Query, Some("s 1")), "abc".into());
        let r = deliver(&t, ISSUER, response).unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            r.headers().get(LOCATION).unwrap(),
            "https://rp.example/cb?app=1&code=abc&state=s+1&iss=https%3A%2F%2Fid.example.com"
        );
        // No state sent, none returned (RFC 6749 §4.1.2).
        let error = AuthorizationResponse::error(
            target(ResponseMode::Query, None),
            &OAuthError::invalid_request("bad"),
        );
        let r = deliver(&t, ISSUER, error).unwrap();
        let location = r.headers().get(LOCATION).unwrap().to_str().unwrap();
        assert!(location.contains("error=invalid_request&error_description=bad&iss="));
        assert!(!location.contains("state="));
    }

    #[test]
    fn form_post_mode_renders_a_self_submitting_page_under_a_nonce_csp() {
        let t = Templates::load().unwrap();
        let response =
            AuthorizationResponse::code(target(ResponseMode::FormPost, Some("xyz")), "abc".into());
        let r = deliver(&t, ISSUER, response).unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let csp = r
            .headers()
            .get(CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        assert!(csp.contains("form-action https://rp.example;"), "{csp}");
        let html = String::from_utf8(r.into_body().try_into_bytes().unwrap().to_vec()).unwrap();
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|s| s.split('\'').next())
            .unwrap();
        assert!(html.contains(&format!("<script nonce=\"{nonce}\">")));
        for (name, value) in [("code", "abc"), ("state", "xyz")] {
            assert!(html.contains(&format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{value}\">"
            )));
        }
        assert!(html.contains("name=\"iss\""));
    }

    #[test]
    fn outcomes_and_refusals_map_to_one_answer_each() {
        let t = Templates::load().unwrap();
        let r = respond(
            &t,
            ISSUER,
            Ok(Outcome::Interact(Interaction::Consent, "r1".into())),
        )
        .unwrap();
        assert_eq!(r.headers().get(LOCATION).unwrap(), "/consent?request=r1");
        assert_eq!(
            respond(&t, ISSUER, Err(Refusal::AtOp("no".into()))).unwrap_err(),
            PageError::invalid_sign_in_request("no")
        );
        match respond(&t, ISSUER, Err(Refusal::Throttled { retry_after: 9 })).unwrap_err() {
            PageError::Refused {
                status,
                retry_after,
                ..
            } => {
                assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
                assert_eq!(retry_after, Some(9));
            }
            other => panic!("{other:?}"),
        }
        let error = AuthorizationResponse::error(
            target(ResponseMode::Query, Some("s")),
            &OAuthError::invalid_request("x"),
        );
        let r = respond(&t, ISSUER, Err(Refusal::AtClient(error))).unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
    }
}
