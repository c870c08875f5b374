//! The hosted consent page: shown for clients that are not first-party, remembered per user,
//! client and scopes.

use super::{Pending, form_page, form_prologue, page_prologue, take_pending};
use crate::authorization::{Interaction, deny};
use crate::error::PageError;
use crate::http::{response_mode, see_other};
use crate::model::{AuthorizationRequest, Session, User};
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

/// Who may approve a request: the session that signed in for it, and its active user.
enum Approver {
    Found(Session, User),
    /// Anyone else is sent to the login page for the request.
    SignInFirst(HttpResponse),
}

async fn approver(
    state: &AppState,
    req: &HttpRequest,
    request: &AuthorizationRequest,
) -> Result<Approver, PageError> {
    let to_login = || Approver::SignInFirst(see_other(&Interaction::Login.location(&request.id)));
    let session = crate::session::current(state, req)
        .await?
        .filter(|s| request.authenticated_session.as_deref() == Some(s.sid.as_str()));
    let Some(session) = session else {
        return Ok(to_login());
    };
    Ok(match state.accounts.active_user(&session.user_id).await? {
        Some(user) => Approver::Found(session, user),
        None => to_login(),
    })
}

/// `GET /consent?request=…`
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let Pending { request, client } = page_prologue(&state, &req).await?;
    if let Approver::SignInFirst(response) = approver(&state, &req, &request).await? {
        return Ok(response);
    }
    // Allow and Deny both answer 303 to the client's redirect_uri.
    form_page(
        &state,
        &req,
        "consent",
        StatusCode::OK,
        &request.redirect_uri,
        |csrf_token| ConsentPage {
            request: request.id.clone(),
            csrf_token,
            client_name: client.name.clone(),
            scopes: request
                .scope
                .iter()
                .map(|s| ScopeView {
                    name: s.to_string(),
                    description: describe(s),
                })
                .collect(),
        },
    )
}

/// `POST /consent`: `decision=allow` records consent and issues the code; `deny` answers the
/// client with `access_denied`.
pub async fn submit(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (params, Pending { request, .. }) = form_prologue(&state, &req, &body).await?;
    let (session, user) = match approver(&state, &req, &request).await? {
        Approver::Found(session, user) => (session, user),
        Approver::SignInFirst(response) => return Ok(response),
    };
    let allow = match params.get("decision").ok().flatten() {
        Some("allow") => true,
        Some("deny") => false,
        _ => {
            return Err(PageError::refused(
                StatusCode::BAD_REQUEST,
                "Invalid form",
                "Choose Allow or Deny.",
            ));
        }
    };
    let request = take_pending(&state, &request).await?;
    // Still the request this session logged in for (a login in another tab may have replaced
    // it meanwhile).
    if request.authenticated_session.as_deref() != Some(session.sid.as_str()) {
        return Err(PageError::expired());
    }
    let result = if allow {
        state.authorizer().approve(&request, &session, &user).await
    } else {
        Ok(deny(&request))
    };
    response_mode::respond(&state.templates, &state.config.issuer, result)
}
