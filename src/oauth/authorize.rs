//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2): parse the parameters, let
//! the authorization core validate and decide, and answer by its outcome.

use crate::authorization::Arrival;
use crate::authorization::request::Validation;
use crate::error::PageError;
use crate::http::{client_ip, is_form, response_mode};
use crate::model::Client;
use crate::oauth::tokens::{ID_TOKEN_TYP, IdTokenClaims};
use crate::params::Params;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

/// `GET /authorize`
pub async fn handle_get(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let params = Params::parse(req.query_string().as_bytes());
    authorize(&state, &req, params).await
}

/// `POST /authorize` (OIDC Core §3.1.2.1: form-encoded body, same semantics as GET)
pub async fn handle_post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    if !is_form(&req) {
        return Err(PageError::refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Invalid request",
            "The authorization request must be sent as a form (application/x-www-form-urlencoded).",
        ));
    }
    authorize(&state, &req, Params::parse(&body)).await
}

async fn authorize(
    state: &AppState,
    req: &HttpRequest,
    params: Params,
) -> Result<HttpResponse, PageError> {
    let hint_subject = |client: &Client, hint: &str| hint_subject(state, client, hint);
    let validation = Validation {
        clients: &*state.store,
        max_request_bytes: state.config.authorize_max_request_bytes,
        request_ttl: state.config.authorization_request_ttl,
        now: state.now(),
        hint_subject: &hint_subject,
    };
    let result = match validation.validate(&params).await {
        Ok((client, request)) => {
            let session = crate::session::current(state, req).await?;
            let arrival = Arrival::New {
                ip: client_ip(req, &state.config),
            };
            state
                .authorizer()
                .proceed(&client, request, session, arrival)
                .await
        }
        Err(refusal) => Err(refusal),
    };
    response_mode::respond(&state.templates, &state.config.issuer, result)
}

/// The `sub` of an ID token this OP issued to `client` (OIDC Core §3.1.2.1). Expired hints are
/// fine; a foreign signature, `alg: none`, another issuer or audience are not.
fn hint_subject(state: &AppState, client: &Client, hint: &str) -> Option<String> {
    // A hint is a token presented back to Sesame: it counts as a use of its key.
    let (claims, _kid): (IdTokenClaims, String) = state
        .keys
        .verify_presented(hint, Some(ID_TOKEN_TYP), state.clock.now())
        .ok()?;
    (claims.iss == state.config.issuer && claims.aud == client.client_id).then_some(claims.sub)
}
