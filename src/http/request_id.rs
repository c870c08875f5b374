//! Request ids: every request gets one — a sane incoming `X-Request-Id` (from a proxy or the
//! caller), otherwise a fresh random one — echoed in the response and carried by a tracing
//! span around the request, so that every log line of the request names it.

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

/// The header that carries the id, both ways.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming id we accept; a longer one is replaced.
pub const MAX_LEN: usize = 128;

/// A request's id, in the request's extensions for whoever wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Whether an incoming id can be kept: 1 to [`MAX_LEN`] characters, each a visible ASCII token
/// character (RFC 9110 §5.6.2 `tchar`), so that it cannot break a log line or a header.
pub fn is_sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The id for a request with this incoming header value: kept if sane, otherwise fresh.
pub fn choose(incoming: Option<&HeaderValue>) -> String {
    incoming
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sane(id))
        .map(str::to_owned)
        .unwrap_or_else(crate::secret::random_id)
}

/// Middleware: assigns the id, runs the rest of the request inside a `request` span carrying
/// it, and sets it on the response. (Handlers' errors are responses by the time they get here;
/// an inner middleware's `Err` is passed on as it is, since the request cannot be cloned before
/// routing to build a response for it.)
pub async fn assign(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = choose(request.headers().get(&HEADER));
    request.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.call(request).instrument(span).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_kept_and_others_replaced() {
        assert!(is_sane("abc-123_x.Y~"));
        assert!(!is_sane(""));
        assert!(!is_sane("has space"));
        assert!(!is_sane("new\nline"));
        assert!(!is_sane("é"));
        assert!(!is_sane(&"a".repeat(MAX_LEN + 1)));
        assert!(is_sane(&"a".repeat(MAX_LEN)));
        let kept = choose(Some(&HeaderValue::from_static("proxy-42")));
        assert_eq!(kept, "proxy-42");
        let fresh = choose(Some(&HeaderValue::from_static("not sane")));
        assert!(is_sane(&fresh) && fresh != "not sane");
        assert_ne!(choose(None), choose(None));
    }
}
