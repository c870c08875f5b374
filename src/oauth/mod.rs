//! The OAuth 2.0 / OpenID Connect endpoints. Each file is a thin actix handler over a core
//! function with no actix types.

use actix_web::web;

pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod grants;
pub mod jwks;
pub mod params;
pub mod pkce;
pub mod token;
pub mod tokens;
pub mod userinfo;

/// Protocol routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(discovery::handle),
    )
    .route("/jwks", web::get().to(jwks::handle))
    .route("/authorize", web::get().to(authorize::handle_get))
    .route("/authorize", web::post().to(authorize::handle_post))
    .route("/token", web::post().to(token::handle))
    .route("/token", web::route().to(method_not_allowed))
    .route("/userinfo", web::get().to(userinfo::handle))
    .route("/userinfo", web::post().to(userinfo::handle));
}

/// RFC 6749 §3.2: the token endpoint takes POST only.
async fn method_not_allowed() -> actix_web::HttpResponse {
    actix_web::HttpResponse::MethodNotAllowed()
        .insert_header(("Allow", "POST"))
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({
            "error": "invalid_request",
            "error_description": "the token endpoint accepts POST only"
        }))
}
