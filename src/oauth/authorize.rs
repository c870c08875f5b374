//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2), and the decisions that
//! resume a pending request after the hosted login and consent pages.

use crate::error::{OAuthError, OAuthErrorCode};
use crate::model::{
    AuthorizationCode, AuthorizationRequest, Client, GrantType, ResponseMode, Scope, Session, User,
};
use crate::oauth::params::{Params, is_form_content_type};
use crate::oauth::pkce;
use crate::oauth::tokens::{ID_TOKEN_TYP, IdTokenClaims};
use crate::secret::{random_id, random_token};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use url::Url;

/// Prompt values we act on (OIDC Core §3.1.2.1); `select_account` is accepted and ignored.
const PROMPTS: &[&str] = &["none", "login", "consent", "select_account"];

/// The authorization-request parameters OAuth 2.0, PKCE and OIDC Core §3.1.2.1 define; each may
/// appear once (RFC 6749 §3.1). Anything else is ignored, however it was sent.
const AUTHORIZATION_PARAMETERS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "response_mode",
    "nonce",
    "display",
    "prompt",
    "max_age",
    "ui_locales",
    "claims_locales",
    "id_token_hint",
    "login_hint",
    "acr_values",
    "claims",
    "request",
    "request_uri",
    "code_challenge",
    "code_challenge_method",
];

/// Where and how an authorization response goes, known once client and redirect URI are valid.
#[derive(Debug, Clone)]
pub struct ResponseTarget {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub state: Option<String>,
}

impl ResponseTarget {
    fn of(request: &AuthorizationRequest) -> Self {
        Self {
            redirect_uri: request.redirect_uri.clone(),
            mode: request.response_mode,
            state: request.state.clone(),
        }
    }
}

/// Why a request was refused.
#[derive(Debug)]
enum Rejection {
    /// Client or redirect URI cannot be trusted: answer at the OP, never redirect
    /// (RFC 6749 §4.1.2.1).
    Page(String),
    /// Answer the client at its registered redirect URI.
    Redirect(ResponseTarget, OAuthError),
    /// An unexpected failure, not yet logged.
    Internal(crate::store::StoreError),
}

/// `GET /authorize`
pub async fn handle_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let params = Params::parse(req.query_string().as_bytes());
    authorize(&state, &req, params).await
}

/// `POST /authorize` (OIDC Core §3.1.2.1: form-encoded body, same semantics as GET)
pub async fn handle_post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !is_form_content_type(content_type) {
        return state.templates.error_page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Invalid request",
            "The authorization request must be sent as a form (application/x-www-form-urlencoded).",
        );
    }
    authorize(&state, &req, Params::parse(&body)).await
}

async fn authorize(state: &AppState, req: &HttpRequest, params: Params) -> HttpResponse {
    let (client, request) = match validate(state, &params).await {
        Ok(valid) => valid,
        Err(rejection) => return reject(state, rejection),
    };
    let session = match crate::ui::session::current(state, req).await {
        Ok(s) => s,
        Err(e) => return state.templates.incident_page(&e),
    };
    proceed(state, &client, request, session).await
}

fn reject(state: &AppState, rejection: Rejection) -> HttpResponse {
    match rejection {
        Rejection::Page(message) => {
            state
                .templates
                .error_page(StatusCode::BAD_REQUEST, "Invalid sign-in request", &message)
        }
        Rejection::Redirect(target, error) => error_response(state, &target, &error),
        Rejection::Internal(error) => state.templates.incident_page(&error),
    }
}

/// Validates an authorization request. Client and redirect URI first: until both are known
/// good, errors are shown at the OP (RFC 6749 §4.1.2.1, RFC 9700 §4.11.2).
async fn validate(
    state: &AppState,
    params: &Params,
) -> Result<(Client, AuthorizationRequest), Rejection> {
    let page = |m: &str| Rejection::Page(m.to_string());
    let client_id = params
        .get("client_id")
        .map_err(|e| Rejection::Page(e.to_string()))?
        .ok_or_else(|| page("The request does not name a client (client_id is missing)."))?;
    let client = state
        .store
        .client(client_id)
        .await
        .map_err(Rejection::Internal)?
        .ok_or_else(|| page("The application that sent you here is not registered."))?;
    let redirect_uri = params
        .get("redirect_uri")
        .map_err(|e| Rejection::Page(e.to_string()))?
        .ok_or_else(|| page("The request has no redirect_uri."))?;
    // Exact string comparison, no normalisation (RFC 9700 §2.1, §4.1.3).
    if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
        return Err(page(
            "The redirect_uri is not registered for this application, so you will not be sent back to it.",
        ));
    }

    let mode = match params.get("response_mode") {
        Ok(None | Some("query")) => Ok(ResponseMode::Query),
        Ok(Some("form_post")) => Ok(ResponseMode::FormPost),
        Ok(Some(other)) => Err(format!("response_mode '{other}' is not supported")),
        Err(e) => Err(e.to_string()),
    };
    let target = ResponseTarget {
        redirect_uri: redirect_uri.to_string(),
        mode: *mode.as_ref().unwrap_or(&ResponseMode::Query),
        state: params.get("state").ok().flatten().map(str::to_string),
    };
    let fail = |code: OAuthErrorCode, description: &str| {
        Rejection::Redirect(target.clone(), OAuthError::new(code, description))
    };
    use OAuthErrorCode::*;
    if let Err(description) = mode {
        return Err(fail(InvalidRequest, &description));
    }
    if let Some(problem) = params.first_problem(AUTHORIZATION_PARAMETERS) {
        return Err(fail(InvalidRequest, &problem.to_string()));
    }
    if params.contains("request") {
        return Err(fail(
            RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.contains("request_uri") {
        return Err(fail(RequestUriNotSupported, "request_uri is not supported"));
    }
    let single = |name: &str| params.get(name).ok().flatten();
    match single("response_type") {
        None => return Err(fail(InvalidRequest, "response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                UnsupportedResponseType,
                "only response_type=code is supported",
            ));
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(fail(
            UnauthorizedClient,
            "this client may not use the authorization code flow",
        ));
    }
    let scope = granted_scope(&client, single("scope")).map_err(|(c, d)| fail(c, &d))?;

    // PKCE (RFC 7636 §4.3, RFC 9700 §2.1.1): S256 only; required for public clients.
    let code_challenge = match (single("code_challenge"), single("code_challenge_method")) {
        (Some(challenge), Some("S256")) => {
            if !pkce::is_valid_s256_challenge(challenge) {
                return Err(fail(
                    InvalidRequest,
                    "code_challenge is not a valid S256 challenge",
                ));
            }
            Some(challenge.to_string())
        }
        (None, Some(_)) => {
            return Err(fail(
                InvalidRequest,
                "code_challenge_method was sent without code_challenge",
            ));
        }
        // A challenge without a method means `plain` (RFC 7636 §4.3).
        (Some(_), _) => {
            return Err(fail(
                InvalidRequest,
                "code_challenge_method must be S256 (plain is not supported)",
            ));
        }
        (None, None) if client.public => {
            return Err(fail(InvalidRequest, "public clients must use PKCE (S256)"));
        }
        (None, None) => None,
    };

    let prompt: Vec<String> = single("prompt")
        .map(|p| {
            p.split(' ')
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = prompt.iter().find(|p| !PROMPTS.contains(&p.as_str())) {
        return Err(fail(
            InvalidRequest,
            &format!("prompt value '{bad}' is not supported"),
        ));
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err(fail(
            InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match single("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(fail(
                    InvalidRequest,
                    "max_age must be a non-negative integer",
                ));
            }
        },
    };
    let id_token_hint_sub = match single("id_token_hint") {
        None => None,
        Some(hint) => Some(
            hint_subject(state, &client, hint)
                .ok_or_else(|| fail(InvalidRequest, "id_token_hint is not a valid ID token"))?,
        ),
    };

    let now = state.now();
    let request = AuthorizationRequest {
        id: random_token().expose().to_string(),
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        scope,
        state: target.state.clone(),
        nonce: single("nonce").map(str::to_string),
        code_challenge,
        response_mode: target.mode,
        prompt,
        max_age,
        login_hint: single("login_hint").map(|h| h.chars().take(254).collect()),
        id_token_hint_sub,
        authenticated_session: None,
        claims: None,
        created_at: now,
        expires_at: now + state.config.authorization_request_ttl,
    };
    Ok((client, request))
}

/// The scopes granted: those requested that the client may have (RFC 6749 §3.3 lets the
/// server grant fewer). Nothing left is `invalid_scope`.
fn granted_scope(
    client: &Client,
    requested: Option<&str>,
) -> Result<Scope, (OAuthErrorCode, String)> {
    let requested =
        requested.ok_or((OAuthErrorCode::InvalidRequest, "scope is required".into()))?;
    let requested =
        Scope::parse(requested).map_err(|e| (OAuthErrorCode::InvalidScope, e.to_string()))?;
    let granted = requested.filter(|s| client.allowed_scopes.contains(s));
    if granted.is_empty() {
        return Err((
            OAuthErrorCode::InvalidScope,
            "none of the requested scopes is allowed for this client".into(),
        ));
    }
    Ok(granted)
}

/// The `sub` of an ID token this OP issued to `client` (OIDC Core §3.1.2.1). Expired hints are
/// fine; a foreign signature, `alg: none`, another issuer or audience are not.
fn hint_subject(state: &AppState, client: &Client, hint: &str) -> Option<String> {
    let claims: IdTokenClaims = state.keys.verify(hint, Some(ID_TOKEN_TYP)).ok()?;
    (claims.iss == state.config.issuer && claims.aud == client.client_id).then_some(claims.sub)
}

/// Decides what a validated request needs next: the login page, the consent page, an error
/// for `prompt=none`, or a code.
pub async fn proceed(
    state: &AppState,
    client: &Client,
    mut request: AuthorizationRequest,
    session: Option<Session>,
) -> HttpResponse {
    let now = state.now();
    let target = ResponseTarget::of(&request);
    let user = match &session {
        Some(s) => match state.store.user_by_id(&s.user_id).await {
            Ok(u) => u.filter(|u| !u.disabled),
            Err(e) => return state.templates.incident_page(&e),
        },
        None => None,
    };
    let prompt = |v: &str| request.prompt.iter().any(|p| p == v);
    // The session may answer this request unless it must be renewed: prompt=login, max_age
    // passed, or a hint naming another user. A login made for this very request always may.
    let signed_in = match (session, user) {
        (Some(s), Some(u)) => {
            let fresh = request.authenticated_session.as_deref() == Some(s.sid.as_str());
            // max_age=0 asks for a fresh login, like prompt=login (OIDC Core §3.1.2.1).
            let stale = request
                .max_age
                .is_some_and(|max| max == 0 || now - s.auth_time > max);
            let other_user = request
                .id_token_hint_sub
                .as_ref()
                .is_some_and(|sub| *sub != u.id.0);
            (fresh || !(prompt("login") || stale || other_user)).then_some((s, u))
        }
        _ => None,
    };
    let Some((session, user)) = signed_in else {
        return interact(
            state,
            &target,
            request,
            "login",
            OAuthErrorCode::LoginRequired,
        )
        .await;
    };
    let consented = match consent_covers(state, client, &user, &request.scope).await {
        Ok(c) => c,
        Err(e) => return state.templates.incident_page(&e),
    };
    if !client.first_party && (prompt("consent") || !consented) {
        request.authenticated_session = Some(session.sid.clone());
        return interact(
            state,
            &target,
            request,
            "consent",
            OAuthErrorCode::ConsentRequired,
        )
        .await;
    }
    issue_code(state, &request, &session, &user).await
}

/// Sends the browser to a hosted page, or answers `prompt=none` with `error`.
async fn interact(
    state: &AppState,
    target: &ResponseTarget,
    request: AuthorizationRequest,
    page: &str,
    error: OAuthErrorCode,
) -> HttpResponse {
    if request.prompt.iter().any(|p| p == "none") {
        let e = OAuthError::new(
            error,
            format!("{page} is required but prompt=none was sent"),
        );
        return error_response(state, target, &e);
    }
    if let Err(e) = state.store.put_authorization_request(&request).await {
        return state.templates.incident_page(&e);
    }
    see_other(&format!("/{page}?request={}", request.id))
}

async fn consent_covers(
    state: &AppState,
    client: &Client,
    user: &User,
    scope: &Scope,
) -> Result<bool, crate::store::StoreError> {
    if client.first_party {
        return Ok(true);
    }
    let consent = state.store.consent(&user.id, &client.client_id).await?;
    Ok(consent.is_some_and(|c| scope.is_subset_of(&c.scopes)))
}

/// Issues a single-use code for a request the user has approved and delivers it. A request
/// that waited in the store must have been taken from it first (one request, one code).
pub async fn issue_code(
    state: &AppState,
    request: &AuthorizationRequest,
    session: &Session,
    user: &User,
) -> HttpResponse {
    let now = state.now();
    let code = random_token();
    let record = AuthorizationCode {
        code_hash: code.hash(),
        client_id: request.client_id.clone(),
        user_id: user.id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope.clone(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: session.auth_time,
        sid: session.sid.clone(),
        amr: session.amr.clone(),
        grant_id: random_id(),
        created_at: now,
        expires_at: now + state.config.code_ttl,
        redeemed_at: None,
        issued: None,
        claims: request.claims.clone(),
    };
    if let Err(e) = state.store.insert_code(&record).await {
        return state.templates.incident_page(&e);
    }
    deliver(
        state,
        &ResponseTarget::of(request),
        vec![("code", code.expose().to_string())],
    )
}

/// Answers a request with an error at the client's redirect URI.
pub fn refuse(
    state: &AppState,
    request: &AuthorizationRequest,
    error: &OAuthError,
) -> HttpResponse {
    error_response(state, &ResponseTarget::of(request), error)
}

/// Answers a pending request with `access_denied` (the person declined consent).
pub fn deny(state: &AppState, request: &AuthorizationRequest) -> HttpResponse {
    let e = OAuthError::new(
        OAuthErrorCode::AccessDenied,
        "the user declined the request",
    );
    refuse(state, request, &e)
}

/// An error response at the client (RFC 6749 §4.1.2.1) with `iss` (RFC 9207).
pub fn error_response(
    state: &AppState,
    target: &ResponseTarget,
    error: &OAuthError,
) -> HttpResponse {
    let mut pairs = vec![("error", error.code.as_str().to_string())];
    if let Some(d) = &error.description {
        pairs.push(("error_description", d.clone()));
    }
    deliver(state, target, pairs)
}

/// A `303 See Other` (never 307, which would re-POST credentials: RFC 9700 §4.12).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

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

/// Delivers response parameters plus `state` and `iss` by the request's response mode.
fn deliver(
    state: &AppState,
    target: &ResponseTarget,
    mut pairs: Vec<(&'static str, String)>,
) -> HttpResponse {
    if let Some(s) = &target.state {
        pairs.push(("state", s.clone()));
    }
    pairs.push(("iss", state.config.issuer.clone()));
    let Ok(mut url) = Url::parse(&target.redirect_uri) else {
        return state.templates.error_page(
            StatusCode::BAD_REQUEST,
            "Invalid sign-in request",
            "The application's registered redirect URI is not a valid URL.",
        );
    };
    match target.mode {
        ResponseMode::Query => {
            url.query_pairs_mut()
                .extend_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
            see_other(url.as_str())
        }
        ResponseMode::FormPost => {
            // OAuth 2.0 Form Post Response Mode: an auto-submitting form, nothing in the URL.
            let nonce = random_id();
            let origin = crate::ui::headers::csp_source(&url);
            let page = FormPostPage {
                redirect_uri: target.redirect_uri.clone(),
                fields: pairs
                    .into_iter()
                    .map(|(name, value)| FormField { name, value })
                    .collect(),
                nonce: nonce.clone(),
            };
            let mut response = state.templates.page(StatusCode::OK, "form_post", &page);
            let csp = format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; \
                 form-action {origin}; frame-ancestors 'none'; base-uri 'none'"
            );
            if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&csp) {
                response
                    .headers_mut()
                    .insert(CONTENT_SECURITY_POLICY, value);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TokenEndpointAuthMethod;

    fn client(scopes: &[&str]) -> Client {
        Client {
            client_id: "c".into(),
            name: "C".into(),
            secret_hash: None,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            allowed_scopes: Scope::from_tokens(scopes).unwrap(),
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            public: true,
            first_party: false,
            created_at: 0,
        }
    }

    #[test]
    fn scope_is_intersected_with_what_the_client_may_have() {
        let c = client(&["openid", "email"]);
        assert_eq!(
            granted_scope(&c, Some("email openid profile openid"))
                .unwrap()
                .to_string(),
            "email openid"
        );
        assert_eq!(
            granted_scope(&c, Some("profile")).unwrap_err().0,
            OAuthErrorCode::InvalidScope
        );
        assert_eq!(
            granted_scope(&c, None).unwrap_err().0,
            OAuthErrorCode::InvalidRequest
        );
        assert_eq!(
            granted_scope(&c, Some("openid \"x\"")).unwrap_err().0,
            OAuthErrorCode::InvalidScope
        );
    }
}
