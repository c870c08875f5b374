//! Security headers on every response (checklist B15; RFC 9700 §4.16; ASVS 3.4). Added only
//! where a handler has not set its own, so the `form_post` page's nonce CSP and the JWKS and
//! stylesheet caching survive.

use crate::config::Config;
use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;

/// The page CSP: nothing but our own stylesheet; forms post only to us; no framing
/// (clickjacking, RFC 9700 §4.16), no `<base>` rewriting.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// HSTS for an https issuer: one year, subdomains included.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000; includeSubDomains";

/// CSP with `frame-ancestors 'none'`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`,
/// `X-Content-Type-Options: nosniff`, `Cache-Control: no-store` (unless a handler set its own),
/// and HSTS when the issuer is https.
pub fn security_headers(config: &Config) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::CACHE_CONTROL, "no-store"))
        .add((header::CROSS_ORIGIN_OPENER_POLICY, "same-origin"));
    if config.secure_cookies {
        headers.add((header::STRICT_TRANSPORT_SECURITY, STRICT_TRANSPORT_SECURITY))
    } else {
        headers
    }
}

/// The page CSP with `form-action` also allowing the origin of `redirect_uri`.
///
/// Chromium applies `form-action` to the redirects that follow a form submission, so a login
/// or consent form whose POST answers 303 to the relying party's `redirect_uri` must name that
/// origin, or the browser stops at Sesame. `None` if the URI does not parse.
pub fn csp_for_form_redirecting_to(redirect_uri: &str) -> Option<HeaderValue> {
    let source = csp_source(&url::Url::parse(redirect_uri).ok()?);
    let csp = CONTENT_SECURITY_POLICY.replace(
        "form-action 'self'",
        &format!("form-action 'self' {source}"),
    );
    HeaderValue::from_str(&csp).ok()
}

/// The CSP source expression that matches `url`: its origin, or for a private-use scheme
/// (RFC 8252 §7.1), which has no host, the scheme.
pub fn csp_source(url: &url::Url) -> String {
    match url.origin() {
        origin @ url::Origin::Tuple(..) => origin.ascii_serialization(),
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    }
}

/// Sets [`csp_for_form_redirecting_to`] on a hosted form page (login, consent) whose submission
/// may redirect to `redirect_uri`; leaves the default CSP if the URI does not parse.
pub fn allow_form_redirect(response: &mut HttpResponse, redirect_uri: &str) {
    if let Some(csp) = csp_for_form_redirecting_to(redirect_uri) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FileConfig;
    use actix_web::{App, HttpResponse, test, web};

    fn config(issuer: &str) -> Config {
        FileConfig {
            issuer: issuer.into(),
            ..FileConfig::default()
        }
        .resolve()
        .unwrap()
    }

    async fn headers_of(config: &Config, path: &str) -> actix_web::http::header::HeaderMap {
        let app = test::init_service(
            App::new()
                .wrap(security_headers(config))
                .route(
                    "/page",
                    web::get().to(|| async { HttpResponse::Ok().body("hi") }),
                )
                .route(
                    "/cached",
                    web::get().to(|| async {
                        HttpResponse::Ok()
                            .insert_header((header::CACHE_CONTROL, "public, max-age=60"))
                            .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'"))
                            .finish()
                    }),
                ),
        )
        .await;
        let resp = test::call_service(&app, test::TestRequest::get().uri(path).to_request()).await;
        resp.headers().clone()
    }

    #[actix_web::test]
    async fn every_response_gets_the_page_security_headers() {
        let h = headers_of(&config("http://127.0.0.1:8080"), "/page").await;
        let csp = h
            .get(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_str()
            .unwrap();
        assert!(csp.contains("default-src 'none'"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.contains("form-action 'self'"));
        assert!(!csp.contains("unsafe"));
        assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
        assert_eq!(h.get(header::REFERRER_POLICY).unwrap(), "no-referrer");
        assert_eq!(h.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(), "nosniff");
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "no-store");
        assert_eq!(
            h.get(header::CROSS_ORIGIN_OPENER_POLICY).unwrap(),
            "same-origin"
        );
        assert!(
            h.get(header::STRICT_TRANSPORT_SECURITY).is_none(),
            "no HSTS over http"
        );
    }

    #[actix_web::test]
    async fn https_issuer_adds_hsts() {
        let h = headers_of(&config("https://id.example.com"), "/page").await;
        assert_eq!(
            h.get(header::STRICT_TRANSPORT_SECURITY).unwrap(),
            "max-age=31536000; includeSubDomains"
        );
    }

    #[actix_web::test]
    async fn a_handler_s_own_headers_win() {
        let h = headers_of(&config("http://127.0.0.1:8080"), "/cached").await;
        assert_eq!(h.get(header::CACHE_CONTROL).unwrap(), "public, max-age=60");
        assert_eq!(
            h.get(header::CONTENT_SECURITY_POLICY).unwrap(),
            "default-src 'none'"
        );
        assert_eq!(h.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    }

    #[actix_web::test]
    async fn form_pages_may_redirect_to_the_client_origin_only() {
        let csp = csp_for_form_redirecting_to("https://rp.example:8443/cb?x=1").unwrap();
        let csp = csp.to_str().unwrap();
        assert!(
            csp.contains("form-action 'self' https://rp.example:8443;"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
        let native = csp_for_form_redirecting_to("com.example.app:/oauth").unwrap();
        assert!(
            native
                .to_str()
                .unwrap()
                .contains("form-action 'self' com.example.app:;")
        );
        assert!(csp_for_form_redirecting_to("not a url").is_none());
        let mut response = HttpResponse::Ok().finish();
        allow_form_redirect(&mut response, "http://127.0.0.1:9/callback");
        assert!(
            response
                .headers()
                .get(header::CONTENT_SECURITY_POLICY)
                .unwrap()
                .to_str()
                .unwrap()
                .contains("form-action 'self' http://127.0.0.1:9;")
        );
    }
}
