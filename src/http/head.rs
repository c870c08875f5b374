//! `HEAD` is answered wherever `GET` is (RFC 9110 §9.3.2): one middleware turns a `HEAD`
//! request into a `GET` for routing and handling. The body is never sent: actix-http decides
//! that from the method the request arrived with, on HTTP/1.1 and HTTP/2 alike, so the headers
//! (`Content-Length` included) are exactly those of the `GET`. Where `GET` is not allowed,
//! neither is `HEAD` (405).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;

/// Routes a `HEAD` request as the `GET` it mirrors.
pub async fn answer_head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}
