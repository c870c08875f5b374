//! Hosted pages: login and consent, and CSRF. The pages are adapters over the authorization
//! core (`crate::authorization`), the IdP session (`crate::session`) and the shared HTTP
//! plumbing (`crate::http`); they share one form prologue and one page builder, here.

use actix_web::web;

pub mod consent;
pub mod csrf;
pub mod login;
pub mod password;

use crate::error::{PageError, page};
use crate::http::headers;
use crate::model::{AuthorizationRequest, Client};
use crate::params::Params;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

/// Hosted page routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use crate::error::method_not_allowed;
    cfg.service(
        web::resource("/login")
            .route(web::get().to(login::show))
            .route(web::post().to(login::submit))
            .default_service(method_not_allowed("GET, POST")),
    )
    .service(
        web::resource("/consent")
            .route(web::get().to(consent::show))
            .route(web::post().to(consent::submit))
            .default_service(method_not_allowed("GET, POST")),
    )
    .service(
        web::resource("/password/forgot")
            .route(web::get().to(password::forgot))
            .route(web::post().to(password::forgot_submit))
            .default_service(method_not_allowed("GET, POST")),
    )
    .service(
        web::resource("/password/reset")
            .route(web::get().to(password::reset))
            .route(web::post().to(password::reset_submit))
            .default_service(method_not_allowed("GET, POST")),
    )
    .route("/assets/sesame.css", web::get().to(stylesheet));
}

/// The one stylesheet, served from memory (CSP allows `style-src 'self'` only).
async fn stylesheet() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../templates/sesame.css"))
}

/// A pending authorization request a page or form names with `request`, and its client.
pub struct Pending {
    pub request: AuthorizationRequest,
    pub client: Client,
}

/// The pending request named by `params` (`request=…`), with its client.
///
/// Unknown, expired or answered: the "expired" page. Its client deleted meanwhile: the request
/// is discarded and the person is told the application is no longer registered — the same for
/// both pages, shown and submitted.
async fn pending(state: &AppState, params: &Params) -> Result<Pending, PageError> {
    let id = params
        .get("request")
        .ok()
        .flatten()
        .ok_or_else(PageError::expired)?;
    let now = state.now();
    let request = state
        .store
        .authorization_request(id, now)
        .await?
        .ok_or_else(PageError::expired)?;
    match state.store.client(&request.client_id).await? {
        Some(client) => Ok(Pending { request, client }),
        None => {
            state.store.take_authorization_request(id, now).await?;
            Err(PageError::client_gone())
        }
    }
}

/// The page's own query (`GET /login?request=…`, `GET /consent?request=…`).
async fn page_prologue(state: &AppState, req: &HttpRequest) -> Result<Pending, PageError> {
    pending(state, &Params::parse(req.query_string().as_bytes())).await
}

/// Every hosted form's prologue: a urlencoded body (else 415), the CSRF token (else 403, nothing
/// done), then the pending request it answers.
async fn form_prologue(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<(Params, Pending), PageError> {
    if !crate::http::is_form(req) {
        return Err(PageError::unsupported_form());
    }
    let params = Params::parse(body);
    if !csrf::verify(req, &state.config, params.get(csrf::FIELD).ok().flatten()) {
        return Err(PageError::csrf());
    }
    let pending = pending(state, &params).await?;
    Ok((params, pending))
}

/// Takes the pending request out of the store before it is answered, so that a form sent
/// twice (a double click, two tabs) answers it once. Returns the request as stored now.
async fn take_pending(
    state: &AppState,
    request: &AuthorizationRequest,
) -> Result<AuthorizationRequest, PageError> {
    state
        .store
        .take_authorization_request(&request.id, state.now())
        .await?
        .ok_or_else(PageError::expired)
}

/// Builds a hosted form page: the template filled by `data` with this browser's CSRF token (and
/// its cookie, if new), and a CSP whose `form-action` lets the form's answer redirect to the
/// client (`redirect_uri`).
fn form_page<T: Serialize>(
    state: &AppState,
    req: &HttpRequest,
    template: &str,
    status: StatusCode,
    redirect_uri: &str,
    data: impl FnOnce(String) -> T,
) -> Result<HttpResponse, PageError> {
    let (csrf_token, cookie) = csrf::token_for(req, &state.config);
    let mut response = page(&state.templates, status, template, &data(csrf_token));
    headers::allow_form_redirect(&mut response, redirect_uri);
    if let Some(cookie) = cookie {
        response.add_cookie(&cookie).map_err(PageError::internal)?;
    }
    Ok(response)
}
