//! `GET /jwks`: the public signing keys (RFC 7517), pre-rendered by the key manager.

use crate::state::AppState;
use actix_web::{HttpResponse, web};

/// How long verifiers may cache the key set. Rotation publishes a new key well before it
/// signs, so a short cache is enough.
pub const JWKS_MAX_AGE: u32 = 300;

/// `GET /jwks`
pub async fn handle(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header(("Cache-Control", format!("public, max-age={JWKS_MAX_AGE}")))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .body(state.keys.jwks().to_vec())
}
