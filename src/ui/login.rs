//! The hosted login page.

use super::{Pending, form_page, form_prologue, page_prologue, take_pending};
use crate::accounts::LoginError;
use crate::accounts::throttle::wait_in_words;
use crate::authorization::decision::hint_admits;
use crate::authorization::{Arrival, refuse};
use crate::error::{OAuthErrorCode, PageError};
use crate::http::{client_ip, response_mode};
use crate::secret::Secret;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

#[derive(Serialize)]
struct LoginPage {
    request: String,
    csrf_token: String,
    email: Option<String>,
    error: Option<String>,
    client_name: String,
}

/// `GET /login?request=…`
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let pending = page_prologue(&state, &req).await?;
    let hint = pending.request.login_hint.clone();
    form(&state, &req, &pending, StatusCode::OK, hint, None)
}

/// `POST /login`: check the CSRF token, then the credentials; on success start a fresh session
/// and resume the authorization request.
pub async fn submit(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (params, pending) = form_prologue(&state, &req, &body).await?;
    let email = params
        .get("email")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string();
    let password = Secret::new(params.get("password").ok().flatten().unwrap_or_default());
    let ip = client_ip(&req, &state.config);
    match state
        .accounts
        .authenticate(&email, &password, ip, state.now())
        .await
    {
        Ok(user) => {
            // Everything that can refuse comes before the session changes hands.
            let mut request = take_pending(&state, &pending.request).await?;
            // OIDC Core §3.1.2.1: the person signed in as someone other than the user the
            // client named in id_token_hint. Refused before the browser's session changes.
            if !hint_admits(&request, &user) {
                let outcome = refuse(
                    &request,
                    OAuthErrorCode::LoginRequired,
                    "the user who signed in is not the one id_token_hint names",
                );
                return response_mode::respond(&state.templates, &state.config.issuer, Ok(outcome));
            }
            let (session, cookie) =
                crate::session::start(&state, &req, &user, vec!["pwd".to_string()]).await?;
            tracing::info!(user_id = %user.id, client_id = %pending.client.client_id, "login succeeded");
            request.authenticated_session = Some(session.sid.clone());
            let result = state
                .authorizer()
                .proceed(&pending.client, request, Some(session), Arrival::Resumed)
                .await;
            let mut response =
                response_mode::respond(&state.templates, &state.config.issuer, result)?;
            response.add_cookie(&cookie).map_err(PageError::internal)?;
            Ok(response)
        }
        // The same page, status and cookies for unknown users, wrong passwords and disabled
        // accounts (no account enumeration).
        Err(LoginError::InvalidCredentials) => {
            let message = "Invalid email or password.".to_string();
            form(
                &state,
                &req,
                &pending,
                StatusCode::UNAUTHORIZED,
                Some(email),
                Some(message),
            )
        }
        Err(LoginError::Throttled { retry_after }) => {
            let message = format!(
                "Too many sign-in attempts. Try again in {}.",
                wait_in_words(retry_after)
            );
            let mut response = form(
                &state,
                &req,
                &pending,
                StatusCode::TOO_MANY_REQUESTS,
                Some(email),
                Some(message),
            )?;
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(RETRY_AFTER, v);
            }
            Ok(response)
        }
        Err(e) => Err(PageError::internal(e)),
    }
}

/// The login form for `pending`, named for its client.
fn form(
    state: &AppState,
    req: &HttpRequest,
    pending: &Pending,
    status: StatusCode,
    email: Option<String>,
    error: Option<String>,
) -> Result<HttpResponse, PageError> {
    // A successful POST answers 303 to the client's redirect_uri.
    form_page(
        state,
        req,
        "login",
        status,
        &pending.request.redirect_uri,
        |csrf_token| LoginPage {
            request: pending.request.id.clone(),
            csrf_token,
            email,
            error,
            client_name: pending.client.name.clone(),
        },
    )
}
