//! HTTP plumbing shared by the protocol endpoints (`oauth/`) and the hosted pages (`ui/`):
//! security headers and CSP, the authorization response modes, the browser cookie, the client's
//! address, and the one way an authorization outcome becomes a response.

pub mod cors;
pub mod head;
pub mod headers;
pub mod request_id;
pub mod response_mode;
pub mod tls;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header::{CONTENT_TYPE, LOCATION};
use actix_web::{HttpRequest, HttpResponse};
use std::net::IpAddr;

/// A cookie for the browser at the IdP: `HttpOnly`, `Path=/`, `SameSite=Lax` (Strict would drop
/// it on the relying party's cross-site navigation to /authorize), `Secure` for an https
/// issuer, and no `Max-Age`, so it ends with the browser session.
pub fn browser_cookie(
    config: &crate::config::Config,
    name: &'static str,
    value: String,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(config.secure_cookies)
        .finish()
}

/// A `303 See Other` (never 307, which would re-POST credentials: RFC 9700 §4.12).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((LOCATION, location))
        .finish()
}

/// Whether the request's body is `application/x-www-form-urlencoded`.
pub fn is_form(req: &HttpRequest) -> bool {
    crate::params::is_form_content_type(
        req.headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )
}

/// The address of the person at the browser, for per-IP limits. Behind trusted reverse proxies
/// (`http.trusted_proxies`) it is the right-most `X-Forwarded-For` hop that is not one of them;
/// otherwise the peer. A client cannot choose its address by sending the header itself: hops
/// it adds stand left of the ones the proxies append.
pub fn client_ip(req: &HttpRequest, config: &crate::config::Config) -> Option<IpAddr> {
    // `::ffff:127.0.0.1` (an IPv4 peer on a dual-stack listener) is 127.0.0.1.
    let peer = req.peer_addr()?.ip().to_canonical();
    let trusted = |ip: &IpAddr| config.trusted_proxies.iter().any(|n| n.contains(ip));
    if !trusted(&peer) {
        return Some(peer);
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in req.headers().get_all("x-forwarded-for") {
        // A hop we cannot read: trust nothing left of it.
        let Ok(value) = value.to_str() else {
            hops.clear();
            continue;
        };
        for hop in value.split(',') {
            match hop.trim().parse::<IpAddr>() {
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
