//! Hosted pages: login and consent, CSRF, the IdP session cookie, security headers.

use actix_web::web;

pub mod consent;
pub mod csrf;
pub mod headers;
pub mod login;
pub mod session;

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
    .route("/assets/sesame.css", web::get().to(stylesheet));
}

/// The one stylesheet, served from memory (CSP allows `style-src 'self'` only).
async fn stylesheet() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .body(include_str!("../../templates/sesame.css"))
}

use crate::model::AuthorizationRequest;
use crate::oauth::params::{Params, is_form_content_type};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};

/// A cookie for the browser at the IdP: `HttpOnly`, `Path=/`, `SameSite=Lax` (Strict would drop
/// it on the relying party's cross-site navigation to /authorize), `Secure` for an https
/// issuer, and no `Max-Age`, so it ends with the browser session.
fn browser_cookie(
    config: &crate::config::Config,
    name: &'static str,
    value: String,
) -> actix_web::cookie::Cookie<'static> {
    actix_web::cookie::Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Lax)
        .secure(config.secure_cookies)
        .finish()
}

/// Reads a hosted form's body; anything but a urlencoded form gets a friendly 415 page.
fn read_form(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<Params, Box<HttpResponse>> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if is_form_content_type(content_type) {
        Ok(Params::parse(body))
    } else {
        Err(Box::new(state.templates.error_page(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported form",
            "This page only accepts its own form. Go back to the application and try again.",
        )))
    }
}

/// The address of the person at the browser, for per-IP limits. Behind trusted reverse proxies
/// (`http.trusted_proxies`) it is the right-most `X-Forwarded-For` hop that is not one of them;
/// otherwise the peer. A client cannot choose its address by sending the header itself: hops
/// it adds stand left of the ones the proxies append.
pub fn client_ip(req: &HttpRequest, config: &crate::config::Config) -> Option<std::net::IpAddr> {
    // `::ffff:127.0.0.1` (an IPv4 peer on a dual-stack listener) is 127.0.0.1.
    let peer = req.peer_addr()?.ip().to_canonical();
    let trusted = |ip: &std::net::IpAddr| config.trusted_proxies.iter().any(|n| n.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let mut hops: Vec<std::net::IpAddr> = Vec::new();
    for value in req.headers().get_all("x-forwarded-for") {
        // A hop we cannot read: trust nothing left of it.
        let Ok(value) = value.to_str() else {
            hops.clear();
            continue;
        };
        for hop in value.split(',') {
            match hop.trim().parse::<std::net::IpAddr>() {
                Ok(ip) => hops.push(ip.to_canonical()),
                Err(_) => hops.clear(),
            }
        }
    }
    Some(
        hops.iter()
            .rev()
            .find(|ip| !trusted(ip))
            .or(hops.first())
            .copied()
            .unwrap_or(peer),
    )
}

/// The page for a `request` that is unknown, expired or already answered.
fn expired_page(state: &AppState) -> HttpResponse {
    state.templates.error_page(
        StatusCode::BAD_REQUEST,
        "This sign-in has expired",
        "Go back to the application and start signing in again.",
    )
}

/// The pending authorization request a page or form names with `request`.
async fn pending_request(
    state: &AppState,
    params: &Params,
) -> Result<AuthorizationRequest, HttpResponse> {
    let id = params
        .get("request")
        .ok()
        .flatten()
        .ok_or_else(|| expired_page(state))?;
    match state.store.authorization_request(id, state.now()).await {
        Ok(Some(request)) => Ok(request),
        Ok(None) => Err(expired_page(state)),
        Err(e) => Err(state.templates.incident_page(&e)),
    }
}

/// Takes the pending request out of the store before it is answered, so that a form sent
/// twice (a double click, two tabs) answers it once. Returns the request as stored now.
async fn take_pending(
    state: &AppState,
    request: &AuthorizationRequest,
) -> Result<AuthorizationRequest, HttpResponse> {
    match state
        .store
        .take_authorization_request(&request.id, state.now())
        .await
    {
        Ok(Some(taken)) => Ok(taken),
        Ok(None) => Err(expired_page(state)),
        Err(e) => Err(state.templates.incident_page(&e)),
    }
}

/// The page shown when a form's CSRF token is missing or wrong: 403, nothing done.
fn csrf_failure(state: &AppState) -> HttpResponse {
    state.templates.error_page(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "For your security the form could not be accepted. Go back to the application and try again.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn config(proxies: &[&str]) -> crate::config::Config {
        let mut file = crate::config::FileConfig::default();
        file.http.trusted_proxies = proxies.iter().map(|p| p.to_string()).collect();
        file.resolve().unwrap()
    }

    fn ip(s: &str) -> Option<std::net::IpAddr> {
        Some(s.parse().unwrap())
    }

    fn request(peer: &str, forwarded: &[&str]) -> HttpRequest {
        let mut req = TestRequest::default().peer_addr(format!("{peer}:40000").parse().unwrap());
        for value in forwarded {
            req = req.append_header(("X-Forwarded-For", *value));
        }
        req.to_http_request()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_it_claims() {
        let cfg = config(&[]);
        assert_eq!(
            client_ip(&request("198.51.100.9", &["203.0.113.1"]), &cfg),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let cfg = config(&["10.0.0.0/8", "127.0.0.1"]);
        // The client forged a hop; the proxy appended the real address.
        let req = request("10.0.0.2", &["6.6.6.6, 203.0.113.7"]);
        assert_eq!(client_ip(&req, &cfg), ip("203.0.113.7"));
        // Two proxies, and the header split over two lines.
        let req = request("127.0.0.1", &["203.0.113.7", "10.1.2.3"]);
        assert_eq!(client_ip(&req, &cfg), ip("203.0.113.7"));
        // No header: the proxy itself.
        assert_eq!(client_ip(&request("10.0.0.2", &[]), &cfg), ip("10.0.0.2"));
        // An untrusted peer's header is not believed.
        let req = request("198.51.100.9", &["203.0.113.7"]);
        assert_eq!(client_ip(&req, &cfg), ip("198.51.100.9"));
        // Garbage hides everything left of it: the proxy's own hop is all that is left.
        let req = request("10.0.0.2", &["6.6.6.6, garbage, 10.0.0.3"]);
        assert_eq!(client_ip(&req, &cfg), ip("10.0.0.3"));
        // An IPv4 proxy seen through a dual-stack listener is still that proxy.
        let req = request("[::ffff:10.0.0.2]", &["203.0.113.7"]);
        assert_eq!(client_ip(&req, &cfg), ip("203.0.113.7"));
    }
}
