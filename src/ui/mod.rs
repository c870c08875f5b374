//! Hosted pages: login and consent, CSRF, the IdP session cookie, security headers.

use actix_web::web;

pub mod consent;
pub mod csrf;
pub mod headers;
pub mod login;
pub mod session;

/// Hosted page routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(login::show))
        .route("/login", web::post().to(login::submit))
        .route("/consent", web::get().to(consent::show))
        .route("/consent", web::post().to(consent::submit))
        .route("/assets/sesame.css", web::get().to(stylesheet));
}

/// The one stylesheet, served from memory (CSP allows `style-src 'self'` only).
async fn stylesheet() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../templates/sesame.css"))
}

use crate::model::AuthorizationRequest;
use crate::oauth::params::{Params, is_form_content_type};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

/// Reads a hosted form's body; anything but a urlencoded form gets a friendly 415 page.
fn read_form(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<Params, Box<HttpResponse>> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if is_form_content_type(content_type) {
        Ok(Params::parse(body))
    } else {
        Err(Box::new(state.templates.error_page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported form",
            "This page only accepts its own form. Go back to the application and try again.",
        )))
    }
}

/// The page for a `request` that is unknown, expired or already answered.
fn expired_page(state: &AppState) -> HttpResponse {
    state.templates.error_page(
        StatusCode::BAD_REQUEST,
        "This sign-in has expired",
        "Go back to the application and start signing in again.",
    )
}

/// The pending authorization request a page or form names with `request`.
async fn pending_request(
    state: &AppState,
    params: &Params,
) -> Result<AuthorizationRequest, HttpResponse> {
    let id = params
        .get("request")
        .ok()
        .flatten()
        .ok_or_else(|| expired_page(state))?;
    match state.store.authorization_request(id, state.now()).await {
        Ok(Some(request)) => Ok(request),
        Ok(None) => Err(expired_page(state)),
        Err(e) => Err(state.templates.incident_page(&e)),
    }
}

/// Takes the pending request out of the store before it is answered, so that a form sent
/// twice (a double click, two tabs) answers it once.
async fn take_pending(
    state: &AppState,
    request: &AuthorizationRequest,
) -> Result<(), HttpResponse> {
    match state
        .store
        .take_authorization_request(&request.id, state.now())
        .await
    {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(expired_page(state)),
        Err(e) => Err(state.templates.incident_page(&e)),
    }
}

/// The page shown when a form's CSRF token is missing or wrong: 403, nothing done.
fn csrf_failure(state: &AppState) -> HttpResponse {
    state.templates.error_page(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "For your security the form could not be accepted. Go back to the application and try again.",
    )
}
