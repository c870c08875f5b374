//! `GET /jwks`: the public signing keys (RFC 7517) — next, active and retired, never a revoked
//! one — pre-rendered by the key manager.

use crate::keys;
use crate::state::AppState;
use actix_web::{HttpResponse, web};

/// How long verifiers may cache the key set: [`keys::JWKS_MAX_AGE`]. Rotation publishes a
/// new key `keys.prepublish` before it signs, and start-up refuses a `prepublish` that is not
/// longer than this, so a verifier that honours the header always holds the signing key.
pub const JWKS_MAX_AGE: i64 = keys::JWKS_MAX_AGE;

/// `GET /jwks`
pub async fn handle(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/jwk-set+json")
        .insert_header(("Cache-Control", format!("public, max-age={JWKS_MAX_AGE}")))
        .insert_header(("Access-Control-Allow-Origin", "*"))
        .body(state.keys.jwks().to_vec())
}
