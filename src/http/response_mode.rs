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
        Ok(Outcome::Interact(hosted, id)) => {
            Ok(see_other(&format!("{}?request={id}", hosted.path())))
        }
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
