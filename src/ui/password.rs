//! The hosted password-reset pages: `GET|POST /password/forgot` and `GET|POST /password/reset`
//! (OWASP Forgot Password cheat sheet; checklist K1–K7).
//!
//! The link in the mail is `…/password/reset?token=…`. That GET only moves the token into a
//! short-lived `HttpOnly` cookie and answers `303` to `/password/reset` without it, so the page
//! that is rendered — and every request it makes — has a URL without the token (it never
//! reaches `Referer`, which `Referrer-Policy: no-referrer` suppresses besides, nor the
//! page's links). The access log never records query strings.

use super::csrf;
use crate::accounts::reset::ResetError;
use crate::error::{PageError, page};
use crate::http::{browser_cookie, client_ip, is_form, see_other};
use crate::params::Params;
use crate::secret::Secret;
use crate::state::AppState;
use actix_web::cookie::{Cookie, time::Duration as CookieDuration};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

/// The cookie that carries the reset token from the link to the form: `__Host-` prefixed and
/// `Secure` with an https issuer.
fn cookie_name(state: &AppState) -> &'static str {
    if state.config.secure_cookies {
        "__Host-sesame_reset"
    } else {
        "sesame_reset"
    }
}

/// A pending authorization request id as a page may carry it on (base64url, short); anything
/// else is dropped.
fn request_id(params: &Params) -> Option<String> {
    params
        .get("request")
        .ok()
        .flatten()
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_string)
}

#[derive(Serialize)]
struct ForgotPage {
    csrf_token: String,
    request: Option<String>,
}

#[derive(Serialize)]
struct SentPage {
    request: Option<String>,
}

#[derive(Serialize)]
struct ResetPage {
    csrf_token: String,
    /// The account whose password is set, shown, and given to password managers.
    email: String,
    request: Option<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct InvalidPage {
    request: Option<String>,
}

#[derive(Serialize)]
struct DonePage {
    /// `/login?request=…` when the authorization request is still waiting.
    continue_url: Option<String>,
}

/// A page with a form: the template filled with this browser's CSRF token (and its cookie, if
/// new).
fn form_page<T: Serialize>(
    state: &AppState,
    req: &HttpRequest,
    template: &str,
    status: StatusCode,
    data: impl FnOnce(String) -> T,
) -> Result<HttpResponse, PageError> {
    let (csrf_token, cookie) = csrf::token_for(req, &state.config);
    let mut response = page(&state.templates, status, template, &data(csrf_token));
    if let Some(cookie) = cookie {
        response.add_cookie(&cookie).map_err(PageError::internal)?;
    }
    Ok(response)
}

/// A form body (else 415) whose CSRF token is valid (else 403).
fn form_params(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<Params, PageError> {
    if !is_form(req) {
        return Err(PageError::unsupported_form());
    }
    let params = Params::parse(body);
    if !csrf::verify(req, &state.config, params.get(csrf::FIELD).ok().flatten()) {
        return Err(PageError::csrf());
    }
    Ok(params)
}

/// `GET /password/forgot[?request=…]`: asks for the email.
pub async fn forgot(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let params = Params::parse(req.query_string().as_bytes());
    let request = request_id(&params);
    form_page(
        &state,
        &req,
        "password_forgot",
        StatusCode::OK,
        |csrf_token| ForgotPage {
            csrf_token,
            request,
        },
    )
}

/// `POST /password/forgot`: queues a link if the account exists, and answers the same page
/// either way.
pub async fn forgot_submit(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let params = form_params(&state, &req, &body)?;
    let request = request_id(&params);
    if let Some(ip) = client_ip(&req, &state.config)
        && let Err(retry_after) = state.reset_limits.per_ip.check(&ip)
    {
        return Err(PageError::too_many_requests(
            "Too many password reset requests from your network. Try again later.",
            retry_after,
        ));
    }
    // Every address — an account's or not, well-formed or not — costs the same one insert and
    // gets the same page; one over its limit gets the page without the insert. Nothing tells
    // whether an account exists.
    let email = params.get("email").ok().flatten().unwrap_or_default();
    if state
        .reset_limits
        .per_email
        .check(&email.trim().to_lowercase())
        .is_ok()
    {
        state
            .password_reset
            .request(email, request.as_deref(), state.now())
            .await
            .map_err(PageError::internal)?;
    } else {
        tracing::info!("password reset not sent: per-email limit reached");
    }
    Ok(page(
        &state.templates,
        StatusCode::OK,
        "password_forgot_sent",
        &SentPage { request },
    ))
}

/// `GET /password/reset?token=…` moves the token into a cookie and redirects to the same path
/// without it; `GET /password/reset` then shows the form, or the "expired" page.
pub async fn reset(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let params = Params::parse(req.query_string().as_bytes());
    let request = request_id(&params);
    if let Some(token) = params.get("token").ok().flatten() {
        let mut cookie = browser_cookie(&state.config, cookie_name(&state), token.to_string());
        cookie.set_max_age(CookieDuration::seconds(state.config.password_reset_ttl));
        let location = match &request {
            Some(id) => format!("/password/reset?request={id}"),
            None => "/password/reset".to_string(),
        };
        let mut response = see_other(&location);
        response.add_cookie(&cookie).map_err(PageError::internal)?;
        return Ok(response);
    }
    let Some(email) = account_of_link(&state, &req).await? else {
        return Ok(invalid(&state, request));
    };
    form_page(
        &state,
        &req,
        "password_reset",
        StatusCode::OK,
        |csrf_token| ResetPage {
            csrf_token,
            email,
            request,
            error: None,
        },
    )
}

/// The email of the account the browser's reset cookie is for, if its token is still valid.
///
/// A token that is not valid counts against the client's per-IP reset limit (checklist K5:
/// guessing is rate-limited, though 256 random bits make it hopeless anyway); over the limit,
/// a 429 page.
async fn account_of_link(state: &AppState, req: &HttpRequest) -> Result<Option<String>, PageError> {
    let Some(token) = req.cookie(cookie_name(state)) else {
        return Ok(None);
    };
    let account = state
        .password_reset
        .check_link(token.value(), state.now())
        .await
        .map_err(PageError::internal)?;
    if account.is_none()
        && let Some(ip) = client_ip(req, &state.config)
        && let Err(retry_after) = state.reset_limits.per_ip.check(&ip)
    {
        return Err(PageError::too_many_requests(
            "Too many password reset attempts from your network. Try again later.",
            retry_after,
        ));
    }
    Ok(account)
}

/// `POST /password/reset`: sets the new password (entered twice) with the token from the
/// cookie; then the "password changed" page, which offers to sign in.
pub async fn reset_submit(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let params = form_params(&state, &req, &body)?;
    let request = request_id(&params);
    let (Some(token), Some(email)) = (
        req.cookie(cookie_name(&state)),
        account_of_link(&state, &req).await?,
    ) else {
        return Ok(invalid(&state, request));
    };
    let password = Secret::new(params.get("password").ok().flatten().unwrap_or_default());
    let confirmation = Secret::new(
        params
            .get("password_confirm")
            .ok()
            .flatten()
            .unwrap_or_default(),
    );
    let now = state.now();
    let retry = |message: String| {
        form_page(
            &state,
            &req,
            "password_reset",
            StatusCode::BAD_REQUEST,
            |csrf_token| ResetPage {
                csrf_token,
                email: email.clone(),
                request: request.clone(),
                error: Some(message),
            },
        )
    };
    match state
        .password_reset
        .complete(token.value(), &password, &confirmation, now)
        .await
    {
        Ok(_) => {
            let continue_url = match &request {
                Some(id) if state.store.authorization_request(id, now).await?.is_some() => {
                    Some(format!("/login?request={id}"))
                }
                _ => None,
            };
            let mut response = page(
                &state.templates,
                StatusCode::OK,
                "password_reset_done",
                &DonePage { continue_url },
            );
            response
                .add_removal_cookie(&Cookie::build(cookie_name(&state), "").path("/").finish())
                .map_err(PageError::internal)?;
            Ok(response)
        }
        Err(ResetError::InvalidLink) => Ok(invalid(&state, request)),
        Err(ResetError::Mismatch) => retry("The two passwords do not match.".to_string()),
        Err(ResetError::WeakPassword(why)) => retry(format!("Choose another password: {why}.")),
        Err(e) => Err(PageError::internal(e)),
    }
}

/// "This link has expired or was already used", with a way to ask for a new one.
fn invalid(state: &AppState, request: Option<String>) -> HttpResponse {
    page(
        &state.templates,
        StatusCode::GONE,
        "password_reset_invalid",
        &InvalidPage { request },
    )
}
