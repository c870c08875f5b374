//! CORS for browser-based clients (issue 8 item 8; Fetch Standard §3.2 "CORS protocol"): a
//! single-page app calls the token, userinfo and revocation endpoints from the browser, and
//! reads discovery and the JWKS.
//!
//! Two policies, one place:
//! - **Client endpoints** (`/token`, `/revoke`, `/userinfo`): an answer carries
//!   `Access-Control-Allow-Origin` only when the request's `Origin` is one the request's own
//!   client registered ([`crate::clients::cors_origins`]: its redirect URIs' origins and its
//!   `--allowed-origin`s), and then that origin itself, never `*`; `Vary: Origin` always. The
//!   handler names the client once it knows it ([`allow_client`], [`allow_client_id`]) and the
//!   [`per_client`] middleware adds the headers, to errors as much as to successes. A preflight
//!   carries no client, so [`client_preflight`] allows an origin that some client registered;
//!   the actual request is then held to its own client's list.
//! - **Public endpoints** (discovery, JWKS): no credentials, the same bytes for everyone, so
//!   `*` ([`public_preflight`]; the handlers send `Access-Control-Allow-Origin: *` themselves).
//!
//! No endpoint sends `Access-Control-Allow-Credentials`: browser clients authenticate with
//! PKCE, bearer tokens and form parameters, never with cookies, so `/authorize` and the pages
//! (which do use cookies) get no CORS headers at all (RFC 9700 §2.6).

use crate::clients::{allows_origin, cors_origins};
use crate::model::Client;
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ALLOW,
    HeaderValue, ORIGIN, VARY,
};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};

/// The request headers a browser client may send: its credentials (`client_secret_basic`, or a
/// bearer token at userinfo) and the form's content type.
const ALLOWED_HEADERS: &str = "Authorization, Content-Type";
/// The response headers a browser client may read beyond the CORS-safelisted ones: the bearer
/// and client-authentication challenges (RFC 6750 §3, RFC 9110 §11.6.1).
const EXPOSED_HEADERS: &str = "WWW-Authenticate";
/// How long a browser may cache a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// Which client a request at a client endpoint is for, as its handler learned it.
#[derive(Clone, Debug)]
enum CorsClient {
    /// The origins of an authenticated client (token, revocation).
    Origins(Vec<String>),
    /// The `client_id` of a bearer token (userinfo); looked up only for a cross-origin call.
    Id(String),
}

/// The request's `Origin` header, if it has a usable one.
fn origin_of(req: &HttpRequest) -> Option<&str> {
    req.headers().get(ORIGIN).and_then(|v| v.to_str().ok())
}

/// Records that `req` is made by `client`, so that its answer may carry CORS headers for the
/// client's origins (the token and revocation endpoints, once the client authenticated).
pub fn allow_client(req: &HttpRequest, client: &Client) {
    if origin_of(req).is_some() {
        req.extensions_mut()
            .insert(CorsClient::Origins(cors_origins(client)));
    }
}

/// Records that `req` is made for the client `client_id` (userinfo, from the access token's
/// `client_id`); its registration is read only if the request is cross-origin.
pub fn allow_client_id(req: &HttpRequest, client_id: &str) {
    if origin_of(req).is_some() {
        req.extensions_mut()
            .insert(CorsClient::Id(client_id.to_owned()));
    }
}

/// Whether the client `req` was recorded for registered `origin`.
async fn client_allows(req: &HttpRequest, origin: &str) -> bool {
    let client = req.extensions().get::<CorsClient>().cloned();
    match client {
        None => false,
        Some(CorsClient::Origins(origins)) => origins.iter().any(|o| o == origin),
        Some(CorsClient::Id(client_id)) => {
            let Some(state) = req.app_data::<web::Data<AppState>>() else {
                return false;
            };
            match state.store.client(&client_id).await {
                Ok(Some(client)) => allows_origin(&client, origin),
                Ok(None) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "CORS: could not read the client's origins");
                    false
                }
            }
        }
    }
}

/// Middleware for the client endpoints: after the handler (whatever it answered), allows the
/// request's origin if the request's client registered it, and says the answer varies by
/// `Origin`.
pub async fn per_client(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(request).await?;
    let allowed = match origin_of(response.request()) {
        Some(origin) if client_allows(response.request(), origin).await => {
            HeaderValue::from_str(origin).ok()
        }
        _ => None,
    };
    let headers = response.headers_mut();
    headers.append(VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = allowed {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    Ok(response)
}

/// Whether the preflight asks for one of `methods` (a comma-separated list).
fn asks_for(req: &HttpRequest, methods: &str) -> bool {
    req.headers()
        .get(ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|asked| methods.split(", ").any(|m| m == asked))
}

/// The answer to an `OPTIONS` request: 204 with `Allow`; a CORS preflight from an allowed
/// origin (`allow_origin`) for one of `methods` also gets the CORS headers.
fn preflight_answer(
    req: &HttpRequest,
    methods: &'static str,
    allow_origin: Option<HeaderValue>,
) -> HttpResponse {
    let mut answer = HttpResponse::NoContent();
    answer.insert_header((ALLOW, format!("{methods}, OPTIONS")));
    if let Some(origin) = allow_origin.filter(|_| asks_for(req, methods)) {
        answer
            .insert_header((ACCESS_CONTROL_ALLOW_ORIGIN, origin))
            .insert_header((ACCESS_CONTROL_ALLOW_METHODS, methods))
            .insert_header((ACCESS_CONTROL_ALLOW_HEADERS, ALLOWED_HEADERS))
            .insert_header((ACCESS_CONTROL_MAX_AGE, PREFLIGHT_MAX_AGE));
    }
    answer.finish()
}

/// Whether any registered client allows `origin` (a preflight names no client). Reads the
/// client list: preflights are rare (a browser caches the answer for [`PREFLIGHT_MAX_AGE`]).
async fn registered_by_any_client(state: &AppState, origin: &str) -> bool {
    match state.store.list_clients().await {
        Ok(clients) => clients.iter().any(|c| allows_origin(c, origin)),
        Err(e) => {
            tracing::warn!(error = %e, "CORS: could not read the registered origins");
            false
        }
    }
}

/// The `OPTIONS` route of a client endpoint taking `methods`: a preflight from an origin some
/// client registered is allowed (for that origin only); any other gets no CORS headers, so the
/// browser refuses the call.
pub fn client_preflight(methods: &'static str) -> actix_web::Route {
    web::method(Method::OPTIONS).to(
        move |req: HttpRequest, state: web::Data<AppState>| async move {
            // Only a well-formed preflight for a method of this endpoint reads the clients.
            let allowed = match origin_of(&req).filter(|_| asks_for(&req, methods)) {
                Some(origin) if registered_by_any_client(&state, origin).await => {
                    HeaderValue::from_str(origin).ok()
                }
                _ => None,
            };
            // `Vary: Origin` comes from [`per_client`], which wraps the whole resource.
            preflight_answer(&req, methods, allowed)
        },
    )
}

/// The `OPTIONS` route of a public endpoint (discovery, JWKS) taking `methods`: any origin,
/// answered with `*` (no credentials are involved).
pub fn public_preflight(methods: &'static str) -> actix_web::Route {
    web::method(Method::OPTIONS).to(move |req: HttpRequest| async move {
        preflight_answer(&req, methods, Some(HeaderValue::from_static("*")))
    })
}
