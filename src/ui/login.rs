//! The hosted login page.

use super::{csrf, csrf_failure, headers, pending_request, read_form, session, take_pending};
use crate::accounts::LoginError;
use crate::error::{OAuthError, OAuthErrorCode};
use crate::model::AuthorizationRequest;
use crate::oauth::authorize;
use crate::oauth::params::Params;
use crate::secret::Secret;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

#[derive(Serialize)]
struct LoginPage {
    request: String,
    csrf_token: String,
    email: Option<String>,
    error: Option<String>,
    client_name: Option<String>,
}

/// `GET /login?request=…`
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let params = Params::parse(req.query_string().as_bytes());
    match pending_request(&state, &params).await {
        Ok(request) => {
            let hint = request.login_hint.clone();
            form(&state, &req, &request, StatusCode::OK, hint, None).await
        }
        Err(page) => page,
    }
}

/// `POST /login`: check the CSRF token, then the credentials; on success start a fresh session
/// and resume the authorization request.
pub async fn submit(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let params = match read_form(&state, &req, &body) {
        Ok(p) => p,
        Err(page) => return *page,
    };
    if !csrf::verify(&req, &state.config, params.get(csrf::FIELD).ok().flatten()) {
        return csrf_failure(&state);
    }
    let request = match pending_request(&state, &params).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let email = params
        .get("email")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_string();
    let password = Secret::new(params.get("password").ok().flatten().unwrap_or_default());
    let ip = super::client_ip(&req, &state.config);
    match state
        .accounts
        .authenticate(&email, &password, ip, state.now())
        .await
    {
        Ok(user) => {
            // Everything that can refuse comes before the session changes hands.
            let client = match state.store.client(&request.client_id).await {
                Ok(Some(c)) => c,
                Ok(None) => {
                    return state.templates.error_page(
                        StatusCode::BAD_REQUEST,
                        "Unknown application",
                        "The application you were signing in to is no longer registered.",
                    );
                }
                Err(e) => return state.templates.incident_page(&e),
            };
            let mut request = match take_pending(&state, &request).await {
                Ok(taken) => taken,
                Err(page) => return page,
            };
            // OIDC Core §3.1.2.1: the person signed in as someone other than the user the
            // client named in id_token_hint. Refused before the browser's session changes.
            if request
                .id_token_hint_sub
                .as_ref()
                .is_some_and(|sub| *sub != user.id.0)
            {
                let e = OAuthError::new(
                    OAuthErrorCode::LoginRequired,
                    "the user who signed in is not the one id_token_hint names",
                );
                return authorize::refuse(&state, &request, &e);
            }
            let (session, cookie) =
                match session::start(&state, &req, &user, vec!["pwd".to_string()]).await {
                    Ok(started) => started,
                    Err(e) => return state.templates.incident_page(&e),
                };
            tracing::info!(user_id = %user.id, client_id = %client.client_id, "login succeeded");
            request.authenticated_session = Some(session.sid.clone());
            let mut response = authorize::proceed(&state, &client, request, Some(session)).await;
            if let Err(e) = response.add_cookie(&cookie) {
                return state.templates.incident_page(&e);
            }
            response
        }
        // The same page, status and cookies for unknown users, wrong passwords and disabled
        // accounts (no account enumeration).
        Err(LoginError::InvalidCredentials) => {
            let message = "Invalid email or password.".to_string();
            form(
                &state,
                &req,
                &request,
                StatusCode::UNAUTHORIZED,
                Some(email),
                Some(message),
            )
            .await
        }
        Err(LoginError::Throttled { retry_after }) => {
            let message = format!("Too many sign-in attempts. Try again in {retry_after} seconds.");
            let mut response = form(
                &state,
                &req,
                &request,
                StatusCode::TOO_MANY_REQUESTS,
                Some(email),
                Some(message),
            )
            .await;
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&retry_after.to_string())
            {
                response
                    .headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, v);
            }
            response
        }
        Err(e) => state.templates.incident_page(&e),
    }
}

async fn form(
    state: &AppState,
    req: &HttpRequest,
    request: &AuthorizationRequest,
    status: StatusCode,
    email: Option<String>,
    error: Option<String>,
) -> HttpResponse {
    let client_name = match state.store.client(&request.client_id).await {
        Ok(c) => c.map(|c| c.name),
        Err(e) => return state.templates.incident_page(&e),
    };
    let (csrf_token, cookie) = csrf::token_for(req, &state.config);
    let page = LoginPage {
        request: request.id.clone(),
        csrf_token,
        email,
        error,
        client_name,
    };
    let mut response = state.templates.page(status, "login", &page);
    // A successful POST answers 303 to the client's redirect_uri.
    headers::allow_form_redirect(&mut response, &request.redirect_uri);
    if let Some(cookie) = cookie
        && let Err(e) = response.add_cookie(&cookie)
    {
        return state.templates.incident_page(&e);
    }
    response
}
