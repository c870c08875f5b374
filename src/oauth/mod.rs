//! The OAuth 2.0 / OpenID Connect endpoints, one file each, and the token rules they share
//! (`tokens`, `client_auth`, `grants/`). `authorize` is a thin adapter over the actix-free
//! authorization core (`crate::authorization`); the others still do their work in the handler
//! module.

use actix_web::web;

pub mod authorize;
pub mod client_auth;
pub mod discovery;
pub mod grants;
pub mod jwks;
pub mod token;
pub mod tokens;
pub mod userinfo;

// The token lifecycle: revocation (RFC 7009), introspection (RFC 7662), RP-initiated logout.
pub mod introspect;
pub mod logout;
pub mod revoke;

/// The prologue of the endpoints a client calls with a form and its credentials (token,
/// revocation, introspection): the body must be a urlencoded form, and the client authenticates
/// by its registered method (RFC 6749 §2.3, §3.2; RFC 7009 §2.1; RFC 7662 §2.1).
pub(crate) async fn client_form(
    req: &actix_web::HttpRequest,
    body: &[u8],
    state: &crate::state::AppState,
) -> Result<(crate::params::Params, crate::model::Client), crate::error::OAuthError> {
    use crate::error::OAuthError;
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !crate::params::is_form_content_type(content_type) {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let params = crate::params::Params::parse(body);
    let authorization = match req.headers().get(actix_web::http::header::AUTHORIZATION) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| client_auth::refused())?),
    };
    let credentials = client_auth::extract(authorization, &params)?;
    let client = client_auth::authenticate(state.store.as_ref(), &credentials).await?;
    crate::http::cors::allow_client(req, &client);
    Ok((params, client))
}

/// Protocol routes; any other method on these paths is 405. The endpoints a browser-based
/// client calls answer CORS preflights (`crate::http::cors`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    use crate::error::method_not_allowed;
    use crate::http::cors;
    use actix_web::middleware::from_fn;
    cfg.service(
        web::resource("/.well-known/openid-configuration")
            .route(web::get().to(discovery::handle))
            .route(cors::public_preflight("GET"))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/jwks")
            .route(web::get().to(jwks::handle))
            .route(cors::public_preflight("GET"))
            .default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/authorize")
            .route(web::get().to(authorize::handle_get))
            .route(web::post().to(authorize::handle_post))
            .default_service(method_not_allowed("GET, POST")),
    )
    // RFC 6749 §3.2: the token endpoint takes POST only.
    .service(
        web::resource("/token")
            .wrap(from_fn(cors::per_client))
            .route(web::post().to(token::handle))
            .route(cors::client_preflight("POST"))
            .default_service(method_not_allowed("POST")),
    )
    // RFC 7009 §2.1, RFC 7662 §2.1: POST only.
    .service(
        web::resource("/revoke")
            .wrap(from_fn(cors::per_client))
            .route(web::post().to(revoke::handle))
            .route(cors::client_preflight("POST"))
            .default_service(method_not_allowed("POST")),
    )
    .service(
        web::resource("/introspect")
            .route(web::post().to(introspect::handle))
            .default_service(method_not_allowed("POST")),
    )
    // RP-Initiated Logout 1.0 §2: GET and POST.
    .service(
        web::resource("/logout")
            .route(web::get().to(logout::handle))
            .route(web::post().to(logout::handle))
            .default_service(method_not_allowed("GET, POST")),
    )
    .service(
        web::resource("/userinfo")
            .wrap(from_fn(cors::per_client))
            .route(web::get().to(userinfo::handle))
            .route(web::post().to(userinfo::handle))
            .route(cors::client_preflight("GET, POST"))
            .default_service(method_not_allowed("GET, POST")),
    );
}
