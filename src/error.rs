//! Errors the HTTP layer answers with, and the one place they become responses: [`OAuthError`]
//! for the protocol endpoints (RFC 6749 §5.2 JSON), [`PageError`] for the pages people see (the
//! friendly error page, rendered by [`framework_errors`] with the templates from app data, so
//! this mapping needs no application state).

use crate::render::Templates;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

/// An OAuth 2.0 / OpenID Connect error code (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1;
/// OIDC Core §3.1.2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    /// RFC 8707 §2: the `resource` is unknown, malformed or not for this client.
    InvalidTarget,
    AccessDenied,
    ServerError,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    InvalidToken,
    InsufficientScope,
    RequestNotSupported,
    RequestUriNotSupported,
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    /// The registered error string.
    pub fn as_str(self) -> &'static str {
        use OAuthErrorCode::*;
        match self {
            InvalidRequest => "invalid_request",
            InvalidClient => "invalid_client",
            InvalidGrant => "invalid_grant",
            UnauthorizedClient => "unauthorized_client",
            UnsupportedGrantType => "unsupported_grant_type",
            UnsupportedResponseType => "unsupported_response_type",
            InvalidScope => "invalid_scope",
            InvalidTarget => "invalid_target",
            AccessDenied => "access_denied",
            ServerError => "server_error",
            LoginRequired => "login_required",
            ConsentRequired => "consent_required",
            InteractionRequired => "interaction_required",
            InvalidToken => "invalid_token",
            InsufficientScope => "insufficient_scope",
            RequestNotSupported => "request_not_supported",
            RequestUriNotSupported => "request_uri_not_supported",
            TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

impl fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth error with an optional human-readable description. Its `Display` is the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    pub code: OAuthErrorCode,
    pub description: Option<String>,
    /// For `invalid_client` after a failed `Authorization: Basic` attempt (RFC 6749 §5.2).
    pub basic_challenge: bool,
}

impl OAuthError {
    /// An error with a description. The description is limited to the characters RFC 6749
    /// §5.2 allows (printable ASCII without `"` and `\`), so CR/LF/TAB never reach a header
    /// or a redirect (RFC 9700 §4.11.2).
    pub fn new(code: OAuthErrorCode, description: impl Into<String>) -> Self {
        let description: String = description
            .into()
            .chars()
            .filter(|c| matches!(*c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
            .take(200)
            .collect();
        Self {
            code,
            description: Some(description),
            basic_challenge: false,
        }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }

    /// `invalid_grant` with a description.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }

    /// `invalid_client`; `basic` marks that the client tried HTTP Basic.
    pub fn invalid_client(basic: bool) -> Self {
        let mut e = Self::new(
            OAuthErrorCode::InvalidClient,
            "client authentication failed",
        );
        e.basic_challenge = basic;
        e
    }

    /// `server_error` carrying only the id under which the cause was logged.
    pub fn server_error(incident: &str) -> Self {
        Self::new(
            OAuthErrorCode::ServerError,
            format!("internal error, incident {incident}"),
        )
    }

    /// `temporarily_unavailable` (RFC 6749 §4.1.2.1, §5.2 usage): the database is down; 503
    /// with `Retry-After`.
    pub fn temporarily_unavailable() -> Self {
        Self::new(
            OAuthErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable, try again shortly",
        )
    }

    /// The HTTP status for a direct (non-redirect) response.
    pub fn status(&self) -> StatusCode {
        match self.code {
            OAuthErrorCode::InvalidClient | OAuthErrorCode::InvalidToken => {
                StatusCode::UNAUTHORIZED
            }
            OAuthErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
            OAuthErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            OAuthErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code.as_str())
    }
}

impl std::error::Error for OAuthError {}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'a str>,
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    /// RFC 6749 §5.2 JSON, `no-store`; for `invalid_token`, RFC 6750 §3 `WWW-Authenticate`.
    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status());
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if self.basic_challenge {
            response.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="sesame""#));
        }
        if self.code == OAuthErrorCode::TemporarilyUnavailable {
            response.insert_header((header::RETRY_AFTER, OUTAGE_RETRY_AFTER.to_string()));
        }
        if matches!(
            self.code,
            OAuthErrorCode::InvalidToken | OAuthErrorCode::InsufficientScope
        ) {
            let code = self.code.as_str();
            let value = match &self.description {
                Some(d) => format!(r#"Bearer error="{code}", error_description="{d}""#),
                None => format!(r#"Bearer error="{code}""#),
            };
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.insert_header((header::WWW_AUTHENTICATE, v));
            }
        }
        response.json(ErrorBody {
            error: self.code.as_str(),
            error_description: self.description.as_deref(),
        })
    }
}

/// Logs an unexpected error under a fresh incident id and returns the id; the client is told
/// only the id.
pub fn log_incident(error: &dyn std::error::Error) -> String {
    let incident = crate::secret::random_id();
    tracing::error!(incident = %incident, error = %error, "unexpected error");
    incident
}

/// Seconds a client is asked to wait (`Retry-After`, RFC 9110 §10.2.3) while the database is
/// unavailable.
pub const OUTAGE_RETRY_AFTER: i64 = 5;

/// Whether `error`, or anything in its `source()` chain, is the store reporting an outage
/// ([`crate::store::Unavailable`]). Service errors wrap store errors in their own enums
/// (transparently or as a source); the marker type is found through either.
pub fn is_outage(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<crate::store::Unavailable>()
            || matches!(
                e.downcast_ref::<crate::store::StoreError>(),
                Some(crate::store::StoreError::Unavailable(_))
            )
        {
            return true;
        }
        next = e.source();
    }
    false
}

/// Logs an outage once per request, as a warning: it is an operational state, not a bug.
fn log_outage(error: &dyn std::error::Error) {
    tracing::warn!(error = %error, "database unavailable; answering 503");
}

/// Turns an unexpected error into `server_error` (logged, nothing else disclosed), or, when
/// the database is unavailable, into 503 `temporarily_unavailable`: the one place every
/// endpoint's store failures are classified.
pub fn internal(error: impl std::error::Error + 'static) -> OAuthError {
    if is_outage(&error) {
        log_outage(&error);
        return OAuthError::temporarily_unavailable();
    }
    OAuthError::server_error(&log_incident(&error))
}

/// Renders an HTML page. A render failure is logged under an incident id and answered with a
/// plain 500 naming only the id.
pub fn page(
    templates: &Templates,
    status: StatusCode,
    name: &str,
    data: &impl Serialize,
) -> HttpResponse {
    templates.html(status, name, data).unwrap_or_else(|e| {
        let incident = log_incident(&e);
        HttpResponse::InternalServerError()
            .content_type("text/plain; charset=utf-8")
            .body(format!("internal error, incident {incident}"))
    })
}

#[derive(Serialize)]
struct ErrorPageData<'a> {
    title: &'a str,
    message: &'a str,
}

/// The friendly error page (`error` template) with a title and a message.
pub fn error_page(
    templates: &Templates,
    status: StatusCode,
    title: &str,
    message: &str,
) -> HttpResponse {
    page(
        templates,
        status,
        "error",
        &ErrorPageData { title, message },
    )
}

/// Why a page could not do what the person asked: what the friendly error page says. Page
/// handlers return `Result<HttpResponse, PageError>`; [`framework_errors`] renders it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// An expected refusal, explained to the person.
    #[error("{title}: {message}")]
    Refused {
        status: StatusCode,
        title: &'static str,
        message: String,
        /// Seconds to wait, sent as `Retry-After` (RFC 9110 §10.2.3).
        retry_after: Option<i64>,
    },
    /// An unexpected failure, already logged under this incident id.
    #[error("internal error, incident {0}")]
    Incident(String),
    /// The database is unavailable: 503 with `Retry-After`, a page asking to try again soon.
    #[error("temporarily unavailable")]
    Unavailable,
}

impl PageError {
    /// A refusal with its status, title and message.
    pub fn refused(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        PageError::Refused {
            status,
            title,
            message: message.into(),
            retry_after: None,
        }
    }

    /// An unexpected failure: logged once, here, under a fresh incident id; or, when the
    /// database is unavailable, [`PageError::Unavailable`].
    pub fn internal(error: impl std::error::Error + 'static) -> Self {
        if is_outage(&error) {
            log_outage(&error);
            return PageError::Unavailable;
        }
        PageError::Incident(log_incident(&error))
    }

    /// 400: an authorization request that cannot be answered at the client.
    pub fn invalid_sign_in_request(message: impl Into<String>) -> Self {
        Self::refused(StatusCode::BAD_REQUEST, "Invalid sign-in request", message)
    }

    /// 400: the pending request a page names is unknown, expired or already answered.
    pub fn expired() -> Self {
        Self::refused(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "Go back to the application and start signing in again.",
        )
    }

    /// 400: the application a pending request came from has been deleted meanwhile.
    pub fn client_gone() -> Self {
        Self::refused(
            StatusCode::BAD_REQUEST,
            "Unknown application",
            "The application you were signing in to is no longer registered.",
        )
    }

    /// 403: a form's CSRF token is missing or wrong.
    pub fn csrf() -> Self {
        Self::refused(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "For your security the form could not be accepted. Go back to the application and try again.",
        )
    }

    /// 415: a hosted form sent as anything but a urlencoded form.
    pub fn unsupported_form() -> Self {
        Self::refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported form",
            "This page only accepts its own form. Go back to the application and try again.",
        )
    }

    /// 404 for every unknown path.
    pub fn not_found() -> Self {
        Self::refused(
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address.",
        )
    }

    /// 429 with `Retry-After`.
    pub fn too_many_requests(message: impl Into<String>, retry_after: i64) -> Self {
        PageError::Refused {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too many requests",
            message: message.into(),
            retry_after: Some(retry_after.max(1)),
        }
    }

    /// The page's title and message.
    fn text(&self) -> (&str, String) {
        match self {
            PageError::Refused { title, message, .. } => (title, message.clone()),
            PageError::Incident(incident) => (
                "Something went wrong",
                format!("Please try again later. Incident {incident}."),
            ),
            PageError::Unavailable => (
                "Temporarily unavailable",
                "Signing in is temporarily unavailable. Nothing was changed: please try again \
                 in a minute."
                    .to_string(),
            ),
        }
    }

    /// The page itself, rendered with `templates`.
    pub fn render(&self, templates: &Templates) -> HttpResponse {
        let (title, message) = self.text();
        let mut response = error_page(templates, self.status_code(), title, &message);
        self.add_headers(&mut response);
        response
    }

    fn add_headers(&self, response: &mut HttpResponse) {
        let retry_after = match self {
            PageError::Refused {
                retry_after: Some(seconds),
                ..
            } => Some(*seconds),
            PageError::Unavailable => Some(OUTAGE_RETRY_AFTER),
            _ => None,
        };
        if let Some(seconds) = retry_after
            && let Ok(v) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> Self {
        PageError::internal(e)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        match self {
            PageError::Refused { status, .. } => *status,
            PageError::Incident(_) => StatusCode::INTERNAL_SERVER_ERROR,
            PageError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A plain-text stand-in; [`framework_errors`] replaces it with the page.
    fn error_response(&self) -> HttpResponse {
        let (title, message) = self.text();
        let mut response = HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body(format!("{title}\n{message}"));
        self.add_headers(&mut response);
        response
    }
}

/// Renders a handler's [`PageError`] as the friendly page, and replaces the plain-text errors
/// actix-web writes by itself (a body over the size cap, a body
/// that fails to arrive, an unmatched method) with ours: RFC 6749 §5.2 JSON on the endpoints
/// relying parties call, the friendly error page everywhere else. Responses a handler built
/// (such as `/readyz`'s plain-text 503) pass unchanged.
pub fn framework_errors<B: actix_web::body::MessageBody + 'static>()
-> actix_web::middleware::ErrorHandlers<B> {
    actix_web::middleware::ErrorHandlers::new()
        .default_handler_client(replace_framework_error)
        .default_handler_server(replace_framework_error)
}

/// The answer for a method a resource does not take: 405 with `Allow` (RFC 9110 §15.5.6);
/// [`framework_errors`] gives it the JSON or page body its path calls for.
pub fn method_not_allowed(allow: &'static str) -> actix_web::Route {
    actix_web::web::route().to(move || async move {
        HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, allow))
            .finish()
    })
}

/// Paths that answer JSON, so their errors are JSON too.
const JSON_PATHS: &[&str] = &[
    "/token",
    "/userinfo",
    "/revoke",
    "/introspect",
    "/jwks",
    "/.well-known/openid-configuration",
];

fn replace_framework_error<B>(
    res: actix_web::dev::ServiceResponse<B>,
) -> actix_web::Result<actix_web::middleware::ErrorHandlerResponse<B>> {
    use actix_web::middleware::ErrorHandlerResponse;
    let templates = res
        .request()
        .app_data::<actix_web::web::Data<Templates>>()
        .cloned();
    let page_error = res
        .response()
        .error()
        .and_then(|e| e.as_error::<PageError>())
        .cloned();
    if let (Some(error), Some(templates)) = (page_error, &templates) {
        let (req, _) = res.into_parts();
        let res = actix_web::dev::ServiceResponse::new(req, error.render(templates));
        return Ok(ErrorHandlerResponse::Response(res.map_into_right_body()));
    }
    // actix-web's own errors are plain text and carry the error they came from; a bare status
    // (the 405 route) has no body at all. Anything else a handler built on purpose.
    let content_type = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let raised_by_actix = match content_type {
        None => true,
        Some(ct) => ct.starts_with("text/plain") && res.response().error().is_some(),
    };
    if !raised_by_actix {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let allow = res.response().headers().get(header::ALLOW).cloned();
    let (req, _) = res.into_parts();
    let (summary, detail) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "Request too large",
            "The request body is larger than this server accepts.",
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "Method not allowed",
            "This address does not accept that kind of request.",
        ),
        s if s.is_server_error() => (
            "Something went wrong",
            "The request could not be completed. Please try again later.",
        ),
        _ => (
            "Invalid request",
            "The request could not be read. Go back to the application and try again.",
        ),
    };
    let mut response = if JSON_PATHS.contains(&req.path()) {
        let code = if status.is_server_error() {
            OAuthErrorCode::ServerError
        } else {
            OAuthErrorCode::InvalidRequest
        };
        OAuthError::new(code, detail).error_response()
    } else {
        match &templates {
            Some(templates) => error_page(templates, status, summary, detail),
            None => HttpResponse::build(status).body(summary),
        }
    };
    *response.status_mut() = status;
    if let Some(allow) = allow {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    let res = actix_web::dev::ServiceResponse::new(req, response);
    Ok(ErrorHandlerResponse::Response(res.map_into_right_body()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_drop_control_characters_and_quotes() {
        let e = OAuthError::invalid_request("bad\r\nLocation: evil\t\"x\\");
        assert_eq!(e.description.as_deref(), Some("badLocation: evilx"));
    }

    #[actix_web::test]
    async fn framework_errors_rewrite_what_actix_raised_and_keep_what_handlers_built() {
        use actix_web::{App, test, web};
        let app = test::init_service(
            App::new()
                .wrap(framework_errors())
                .app_data(web::PayloadConfig::new(16))
                .route(
                    "/token",
                    web::post().to(|_body: web::Bytes| async { HttpResponse::Ok().finish() }),
                )
                .route(
                    "/readyz",
                    web::get().to(|| async {
                        HttpResponse::ServiceUnavailable()
                            .content_type("text/plain")
                            .body("store unavailable (incident x)")
                    }),
                ),
        )
        .await;
        let oversized = test::TestRequest::post()
            .uri("/token")
            .set_payload(vec![b'a'; 64])
            .to_request();
        let resp = test::call_service(&app, oversized).await;
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            resp.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        let resp =
            test::call_service(&app, test::TestRequest::get().uri("/readyz").to_request()).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            test::read_body(resp).await,
            "store unavailable (incident x)"
        );
    }

    fn body(response: HttpResponse) -> String {
        use actix_web::body::MessageBody;
        let bytes = response.into_body().try_into_bytes().unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn page_is_html_and_error_page_uses_the_error_template() {
        let t = Templates::load().unwrap();
        let r = error_page(&t, StatusCode::NOT_FOUND, "Page not found", "Nothing here.");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            r.headers().get("content-type").unwrap(),
            "text/html; charset=utf-8"
        );
        let html = body(r);
        assert!(html.contains("<h1>Page not found</h1>") && html.contains("Nothing here."));
    }

    #[test]
    fn a_render_failure_is_a_plain_500_naming_an_incident() {
        let t = Templates::load().unwrap();
        let r = page(&t, StatusCode::OK, "consent", &serde_json::json!({}));
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            r.headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        assert!(body(r).starts_with("internal error, incident "));
        let r = page(
            &t,
            StatusCode::OK,
            "no-such-template",
            &serde_json::json!({}),
        );
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[actix_web::test]
    async fn page_errors_become_the_friendly_page_in_one_place() {
        use actix_web::{App, test, web};
        let app = test::init_service(
            App::new()
                .wrap(framework_errors())
                .app_data(web::Data::new(Templates::load().unwrap()))
                .route(
                    "/busy",
                    web::get().to(|| async {
                        Err::<HttpResponse, _>(PageError::too_many_requests("Slow down.", 7))
                    }),
                )
                .route(
                    "/broken",
                    web::get().to(|| async {
                        Err::<HttpResponse, _>(PageError::internal(std::io::Error::other("disk")))
                    }),
                ),
        )
        .await;
        let resp =
            test::call_service(&app, test::TestRequest::get().uri("/busy").to_request()).await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers().get(header::RETRY_AFTER).unwrap(), "7");
        assert!(
            resp.headers()
                .get(header::CONTENT_TYPE)
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
        assert!(html.contains("Too many requests") && html.contains("Slow down."));
        let resp =
            test::call_service(&app, test::TestRequest::get().uri("/broken").to_request()).await;
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let html = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
        assert!(
            html.contains("Incident ") && !html.contains("disk"),
            "{html}"
        );
    }

    #[test]
    fn store_outages_become_503_through_any_wrapping() {
        use crate::store::StoreError;
        #[derive(Debug, thiserror::Error)]
        enum Transparent {
            #[error(transparent)]
            Store(#[from] StoreError),
        }
        #[derive(Debug, thiserror::Error)]
        enum Sourced {
            #[error("service failed")]
            Store(#[source] StoreError),
        }
        let down = || StoreError::unavailable(std::io::Error::other("connection refused"));
        for e in [
            internal(down()),
            internal(Transparent::from(down())),
            internal(Sourced::Store(down())),
        ] {
            assert_eq!(e.code, OAuthErrorCode::TemporarilyUnavailable);
            let r = e.error_response();
            assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(r.headers().get(header::RETRY_AFTER).unwrap(), "5");
        }
        assert_eq!(
            PageError::internal(Transparent::from(down())),
            PageError::Unavailable
        );
        let broken = StoreError::Corrupt("bad row".into());
        assert_eq!(internal(broken).code, OAuthErrorCode::ServerError);
    }

    #[test]
    fn invalid_client_is_401_with_basic_challenge() {
        let r = OAuthError::invalid_client(true).error_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_some());
        assert_eq!(r.headers().get(header::CACHE_CONTROL).unwrap(), "no-store");
    }
}
