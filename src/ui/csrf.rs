//! CSRF protection for hosted forms (OWASP CSRF cheat sheet, "double submit cookie"; ASVS
//! 3.5.1): a 256-bit random token lives in a cookie and is repeated in a hidden form field; a
//! POST is accepted only when the two are equal. A cross-site page can make the browser send
//! the cookie but cannot read it, so it cannot fill in the field.
//!
//! With an https issuer the cookie is `__Host-` prefixed and `Secure`, so neither a sibling
//! subdomain nor a plain-http page can plant one. `SameSite=Lax` keeps it on the top-level
//! navigation from the relying party that opens the login page.

use crate::config::Config;
use crate::secret::{constant_time_eq, random_token};
use actix_web::HttpRequest;
use actix_web::cookie::Cookie;

/// The hidden form field that carries the token.
pub const FIELD: &str = "csrf_token";

/// Length of a token: 256 bits in base64url without padding.
const TOKEN_LENGTH: usize = 43;

/// The cookie's name: `__Host-` prefixed when the issuer is https (ASVS 3.3.1).
pub fn cookie_name(config: &Config) -> &'static str {
    if config.secure_cookies {
        "__Host-sesame_csrf"
    } else {
        "sesame_csrf"
    }
}

/// Whether `value` has the shape of a token we issued (43 base64url characters).
fn well_formed(value: &str) -> bool {
    value.len() == TOKEN_LENGTH
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The browser's current token, if its cookie holds a well-formed one.
fn presented(req: &HttpRequest, config: &Config) -> Option<String> {
    req.cookie(cookie_name(config))
        .map(|c| c.value().to_string())
        .filter(|v| well_formed(v))
}

/// The token to embed in a form, and the cookie to set if the browser has none yet.
pub fn token_for(req: &HttpRequest, config: &Config) -> (String, Option<Cookie<'static>>) {
    if let Some(token) = presented(req, config) {
        return (token, None);
    }
    let token = random_token().expose().to_string();
    let cookie = crate::http::browser_cookie(config, cookie_name(config), token.clone());
    (token, Some(cookie))
}

/// Whether `submitted` is the valid token for this browser (constant-time).
pub fn verify(req: &HttpRequest, config: &Config, submitted: Option<&str>) -> bool {
    match (presented(req, config), submitted) {
        (Some(cookie), Some(field)) => constant_time_eq(cookie.as_bytes(), field.as_bytes()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FileConfig;
    use actix_web::cookie::SameSite;
    use actix_web::test::TestRequest;

    fn config(issuer: &str) -> Config {
        FileConfig {
            issuer: issuer.into(),
            ..FileConfig::default()
        }
        .resolve()
        .unwrap()
    }

    fn with_cookie(name: &str, value: &str) -> HttpRequest {
        TestRequest::default()
            .cookie(Cookie::new(name.to_string(), value.to_string()))
            .to_http_request()
    }

    #[test]
    fn a_browser_without_a_token_gets_a_fresh_hardened_cookie() {
        let cfg = config("http://127.0.0.1:8080");
        let (token, cookie) = token_for(&TestRequest::default().to_http_request(), &cfg);
        let cookie = cookie.expect("a cookie to set");
        assert_eq!(token.len(), 43);
        assert_eq!(cookie.name(), "sesame_csrf");
        assert_eq!(cookie.value(), token);
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
        assert_ne!(cookie.secure(), Some(true));
        assert!(cookie.max_age().is_none() && cookie.expires().is_none());
        let (other, _) = token_for(&TestRequest::default().to_http_request(), &cfg);
        assert_ne!(token, other);
    }

    #[test]
    fn https_issuer_uses_a_host_prefixed_secure_cookie() {
        let cfg = config("https://id.example.com");
        let (_, cookie) = token_for(&TestRequest::default().to_http_request(), &cfg);
        let cookie = cookie.unwrap();
        assert_eq!(cookie.name(), "__Host-sesame_csrf");
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.path(), Some("/"));
        assert!(cookie.domain().is_none());
    }

    #[test]
    fn an_existing_well_formed_token_is_reused() {
        let cfg = config("http://127.0.0.1:8080");
        let existing = random_token().expose().to_string();
        let (token, cookie) = token_for(&with_cookie("sesame_csrf", &existing), &cfg);
        assert_eq!(token, existing);
        assert!(cookie.is_none());
        // A malformed value is replaced.
        let (token, cookie) = token_for(&with_cookie("sesame_csrf", "short"), &cfg);
        assert_ne!(token, "short");
        assert!(cookie.is_some());
    }

    #[test]
    fn verify_needs_the_cookie_and_the_same_field() {
        let cfg = config("http://127.0.0.1:8080");
        let token = random_token().expose().to_string();
        let other = random_token().expose().to_string();
        let req = with_cookie("sesame_csrf", &token);
        assert!(verify(&req, &cfg, Some(&token)));
        assert!(!verify(&req, &cfg, Some(&other)));
        assert!(!verify(&req, &cfg, None));
        assert!(!verify(&req, &cfg, Some("")));
        let no_cookie = TestRequest::default().to_http_request();
        assert!(!verify(&no_cookie, &cfg, Some(&token)));
        // The http cookie name does not count for an https issuer.
        assert!(!verify(
            &req,
            &config("https://id.example.com"),
            Some(&token)
        ));
        let malformed = with_cookie("sesame_csrf", "x");
        assert!(!verify(&malformed, &cfg, Some("x")));
    }
}
