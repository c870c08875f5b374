//! The token endpoint (RFC 6749 §3.2): client authentication, then the grant.

use crate::error::{OAuthError, OAuthErrorCode};
use crate::oauth::client_form;
use crate::oauth::grants::{authorization_code, client_credentials, refresh_token};

use crate::state::AppState;
use actix_web::http::header::{CACHE_CONTROL, PRAGMA};
use actix_web::{HttpRequest, HttpResponse, web};

/// The token-request parameters Sesame defines (RFC 6749 §4.1.3, §4.4.2, §6, §2.3.1; RFC 7636
/// §4.5); each may appear once, anything else is ignored.
const TOKEN_PARAMETERS: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "client_id",
    "client_secret",
    "scope",
    "refresh_token",
];

/// Parameters that may be repeated (RFC 8707 §2: `resource`, one per target).
const REPEATABLE_PARAMETERS: &[&str] = &["resource"];

/// `POST /token`
pub async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, OAuthError> {
    let (params, client) = client_form(&req, &body, &state).await?;
    if let Some(problem) = params.first_problem(TOKEN_PARAMETERS) {
        return Err(problem.into());
    }
    if let Some(problem) = REPEATABLE_PARAMETERS
        .iter()
        .find_map(|name| params.all(name).err())
    {
        return Err(problem.into());
    }
    let grant_type = params
        .get("grant_type")?
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    // RFC 8707 is implemented for client_credentials only so far: a `resource` elsewhere is
    // refused rather than ignored, so no client mistakes an issuer token for an API's.
    if grant_type != "client_credentials" && !params.all("resource")?.is_empty() {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidTarget,
            "resource is supported with the client_credentials grant only",
        ));
    }
    let response = match grant_type {
        "authorization_code" => authorization_code::redeem(&state, &client, &params).await?,
        "client_credentials" => client_credentials::issue(&state, &client, &params).await?,
        "refresh_token" => refresh_token::refresh(&state, &client, &params).await?,
        other => {
            return Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                format!("grant_type '{other}' is not supported"),
            ));
        }
    };
    crate::measure::token_issued(grant_type);
    Ok(HttpResponse::Ok()
        .insert_header((CACHE_CONTROL, "no-store"))
        .insert_header((PRAGMA, "no-cache"))
        .json(response))
}
