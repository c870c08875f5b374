//! The hosted consent page: shown for clients that are not first-party, remembered per user,
//! client and scopes.

use super::{csrf, csrf_failure, headers, pending_request, read_form, session, take_pending};
use crate::model::{AuthorizationRequest, Session, User};
use crate::oauth::authorize;
use crate::oauth::params::Params;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

#[derive(Serialize)]
struct ScopeView {
    name: String,
    description: String,
}

#[derive(Serialize)]
struct ConsentPage {
    request: String,
    csrf_token: String,
    client_name: String,
    scopes: Vec<ScopeView>,
}

fn describe(scope: &str) -> String {
    match scope {
        "openid" => "Sign you in with your account identifier".into(),
        "profile" => "See your name".into(),
        "email" => "See your email address and whether it is verified".into(),
        other => format!("Access \"{other}\""),
    }
}

/// The session that logged in for this request, and its user; anything else is sent to login.
async fn approver(
    state: &AppState,
    req: &HttpRequest,
    request: &AuthorizationRequest,
) -> Result<(Session, User), HttpResponse> {
    let to_login = || authorize::see_other(&format!("/login?request={}", request.id));
    let session = session::current(state, req)
        .await
        .map_err(|e| state.templates.incident_page(&e))?
        .filter(|s| request.authenticated_session.as_deref() == Some(s.sid.as_str()));
    let Some(session) = session else {
        return Err(to_login());
    };
    let user = state
        .store
        .user_by_id(&session.user_id)
        .await
        .map_err(|e| state.templates.incident_page(&e))?
        .filter(|u| !u.disabled);
    match user {
        Some(user) => Ok((session, user)),
        None => Err(to_login()),
    }
}

/// `GET /consent?request=…`
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let params = Params::parse(req.query_string().as_bytes());
    let request = match pending_request(&state, &params).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    if let Err(response) = approver(&state, &req, &request).await {
        return response;
    }
    let client_name = match state.store.client(&request.client_id).await {
        Ok(Some(c)) => c.name,
        Ok(None) => request.client_id.clone(),
        Err(e) => return state.templates.incident_page(&e),
    };
    let (csrf_token, cookie) = csrf::token_for(&req, &state.config);
    let page = ConsentPage {
        request: request.id.clone(),
        csrf_token,
        client_name,
        scopes: request
            .scope
            .iter()
            .map(|s| ScopeView {
                name: s.to_string(),
                description: describe(s),
            })
            .collect(),
    };
    let mut response = state.templates.page(StatusCode::OK, "consent", &page);
    // Allow and Deny both answer 303 to the client's redirect_uri.
    headers::allow_form_redirect(&mut response, &request.redirect_uri);
    if let Some(cookie) = cookie
        && let Err(e) = response.add_cookie(&cookie)
    {
        return state.templates.incident_page(&e);
    }
    response
}

/// `POST /consent`: `decision=allow` records consent and issues the code; `deny` answers the
/// client with `access_denied`.
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
    let (session, user) = match approver(&state, &req, &request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let decision = params.get("decision").ok().flatten();
    if !matches!(decision, Some("allow" | "deny")) {
        return state.templates.error_page(
            StatusCode::BAD_REQUEST,
            "Invalid form",
            "Choose Allow or Deny.",
        );
    }
    let request = match take_pending(&state, &request).await {
        // Still the request this session logged in for (a login in another tab may have
        // replaced it meanwhile).
        Ok(taken) if taken.authenticated_session.as_deref() == Some(session.sid.as_str()) => taken,
        Ok(_) => return super::expired_page(&state),
        Err(page) => return page,
    };
    match decision {
        Some("allow") => {
            // Remembered per user and client: what was approved before, and this request,
            // merged in one store operation.
            let granted = state
                .store
                .grant_consent(&user.id, &request.client_id, &request.scope, state.now())
                .await;
            if let Err(e) = granted {
                return state.templates.incident_page(&e);
            }
            authorize::issue_code(&state, &request, &session, &user).await
        }
        _ => authorize::deny(&state, &request),
    }
}
