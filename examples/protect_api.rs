//! Protecting an API with Sesame: an actix-web middleware that lets through only Sesame access
//! tokens meant for this API, checked offline against Sesame's JWKS (RFC 9068 §4): the
//! signature (the key by `kid`, cached, fetched again for an unknown `kid`), `typ: at+jwt`,
//! `iss`, `aud` = this API's identifier, and `exp`. The handler then authorizes by `scope`.
//!
//! ```sh
//! cargo run --example protect_api -- http://127.0.0.1:8080 https://api.example.com/orders 127.0.0.1:9100
//! curl -H "Authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:9100/orders
//! ```

use actix_web::body::BoxBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage, HttpResponse, HttpServer, web};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// How long fetched keys are used before they are fetched again.
const KEYS_MAX_AGE: Duration = Duration::from_secs(300);
/// An unknown `kid` fetches the keys again, but not more often than this (a flood of made-up
/// `kid`s must not become a flood of requests to Sesame).
const MIN_REFETCH: Duration = Duration::from_secs(10);

/// What the API reads from a validated token.
#[derive(Clone, Debug, Deserialize)]
pub struct AccessClaims {
    /// The user, or the client itself for a machine token.
    pub sub: String,
    pub client_id: String,
    /// Space-separated granted scopes.
    #[serde(default)]
    pub scope: String,
}

impl AccessClaims {
    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    #[error("no bearer token")]
    Missing,
    #[error("{0}")]
    Invalid(String),
}

/// The fetched key set and when it was fetched.
struct Keys {
    set: JwkSet,
    fetched: Option<Instant>,
}

/// Validates Sesame access tokens for one API.
pub struct Validator {
    issuer: String,
    audience: String,
    jwks_uri: String,
    http: reqwest::Client,
    keys: RwLock<Keys>,
}

impl Validator {
    /// Finds the JWKS through `issuer`'s discovery document.
    pub async fn discover(issuer: &str, audience: &str) -> Result<Validator, String> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let http = reqwest::Client::new();
        let url = format!("{issuer}/.well-known/openid-configuration");
        let discovery: Discovery = http
            .get(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("{url}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if discovery.issuer != issuer {
            return Err(format!("{url} names the issuer {}", discovery.issuer));
        }
        Ok(Validator {
            issuer: issuer.to_string(),
            audience: audience.to_string(),
            jwks_uri: discovery.jwks_uri,
            http,
            keys: RwLock::new(Keys {
                set: JwkSet { keys: Vec::new() },
                fetched: None,
            }),
        })
    }

    /// The key `kid`: from the cache while it is fresh, else (or when the cache does not know
    /// `kid`: keys rotate) from the JWKS again.
    async fn key(&self, kid: &str) -> Result<DecodingKey, Rejected> {
        let invalid = |e: String| Rejected::Invalid(e);
        {
            let keys = self.keys.read().await;
            let fresh = keys.fetched.is_some_and(|t| t.elapsed() < KEYS_MAX_AGE);
            if fresh && let Some(jwk) = keys.set.find(kid) {
                return DecodingKey::from_jwk(jwk).map_err(|e| invalid(e.to_string()));
            }
        }
        let mut keys = self.keys.write().await;
        if keys.fetched.is_none_or(|t| t.elapsed() >= MIN_REFETCH) {
            let set: JwkSet = self
                .http
                .get(&self.jwks_uri)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| invalid(format!("fetching the JWKS: {e}")))?
                .json()
                .await
                .map_err(|e| invalid(format!("reading the JWKS: {e}")))?;
            *keys = Keys {
                set,
                fetched: Some(Instant::now()),
            };
        }
        let jwk = keys
            .set
            .find(kid)
            .ok_or_else(|| invalid(format!("unknown kid {kid}")))?;
        DecodingKey::from_jwk(jwk).map_err(|e| invalid(e.to_string()))
    }

    /// The four checks; the claims if the token is for this API.
    pub async fn validate(&self, token: &str) -> Result<AccessClaims, Rejected> {
        let invalid = |e: String| Rejected::Invalid(e);
        let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(e.to_string()))?;
        // An ID token is signed by the same keys: only `at+jwt` is an access token.
        if header.typ.as_deref() != Some("at+jwt") {
            return Err(invalid("not an access token (typ is not at+jwt)".into()));
        }
        let kid = header.kid.ok_or_else(|| invalid("no kid".into()))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|e| invalid(e.to_string()))
    }
}

/// The middleware: a valid token's claims go into the request's extensions; anything else is
/// 401 with an RFC 6750 challenge.
pub async fn require_token(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(validator) = req.app_data::<web::Data<Validator>>().cloned() else {
        return Err(actix_web::error::ErrorInternalServerError("no validator"));
    };
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let result = match token {
        Some(token) => validator.validate(&token).await,
        None => Err(Rejected::Missing),
    };
    match result {
        Ok(claims) => {
            req.extensions_mut().insert(claims);
            next.call(req).await
        }
        Err(rejected) => {
            let challenge = match rejected {
                Rejected::Missing => "Bearer".to_string(),
                Rejected::Invalid(_) => "Bearer error=\"invalid_token\"".to_string(),
            };
            Ok(req.into_response(
                HttpResponse::Unauthorized()
                    .insert_header((WWW_AUTHENTICATE, challenge))
                    .body(rejected.to_string()),
            ))
        }
    }
}

/// `GET /orders`: needs `orders:read`.
async fn orders(claims: web::ReqData<AccessClaims>) -> HttpResponse {
    if !claims.has_scope("orders:read") {
        return HttpResponse::Forbidden()
            .insert_header((
                WWW_AUTHENTICATE,
                "Bearer error=\"insufficient_scope\", scope=\"orders:read\"",
            ))
            .finish();
    }
    HttpResponse::Ok().json(serde_json::json!({
        "orders": [],
        "for": claims.sub,
        "client_id": claims.client_id,
    }))
}

/// The API's server on `listener`.
pub fn server(validator: Validator, listener: std::net::TcpListener) -> std::io::Result<Server> {
    let validator = web::Data::new(validator);
    Ok(HttpServer::new(move || {
        App::new().app_data(validator.clone()).service(
            web::scope("")
                .wrap(from_fn(require_token))
                .route("/orders", web::get().to(orders)),
        )
    })
    .workers(1)
    .listen(listener)?
    .run())
}

#[actix_web::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [issuer, audience, listen] = args.as_slice() else {
        return Err("usage: protect_api ISSUER API_IDENTIFIER HOST:PORT".into());
    };
    let validator = Validator::discover(issuer, audience).await?;
    let listener = std::net::TcpListener::bind(listen).map_err(|e| e.to_string())?;
    println!("protecting http://{listen}/orders for {audience}");
    server(validator, listener)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())
}
