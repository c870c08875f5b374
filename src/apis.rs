//! The rules for registering an API (resource server) and for letting a client ask tokens for
//! it. Whoever registers APIs (today the `api create` command) describes one as an
//! [`ApiRegistration`] and gets a validated [`Api`] record or the rule it broke, as
//! [`crate::clients`] does for clients.

use crate::error::{OAuthError, OAuthErrorCode, internal};
use crate::model::{AccessTokenFormat, Api, ApiScope, Client, ClientApi, Scope};
use crate::store::Store;
use url::Url;

/// The longest access-token lifetime an API may set: one day, as for the server default.
pub const MAX_ACCESS_TOKEN_TTL: i64 = 24 * 60 * 60;

/// Scopes that belong to OpenID Connect: they are about the person and ask for the issuer's
/// own resources (UserInfo), so no API may define them.
pub const OIDC_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// An API as its registrant describes it, before validation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiRegistration {
    /// The identifier: an absolute URI, the `resource` and `aud`.
    pub identifier: String,
    /// Display name, shown on the consent page.
    pub name: String,
    /// Scopes as `name=description` (the description may be left out: `name`).
    pub scopes: Vec<String>,
    /// Access-token lifetime in seconds; `None` for the server default.
    pub access_token_ttl: Option<i64>,
    /// `jwt` or `opaque`; `None` for `jwt`.
    pub token_format: Option<String>,
}

/// A rule that was broken. The messages name the `api` command options.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("--identifier '{identifier}' is not allowed: {reason}")]
    Identifier { identifier: String, reason: String },
    #[error("--name must not be empty")]
    EmptyName,
    #[error("--scope '{0}' is not a valid scope token (RFC 6749 §3.3)")]
    ScopeName(String),
    #[error("--scope '{0}' is an OpenID Connect scope; an API defines its own scopes")]
    OidcScope(String),
    #[error("--scope '{0}' is given twice")]
    DuplicateScope(String),
    #[error("--access-token-ttl must be between 1 and {MAX_ACCESS_TOKEN_TTL} seconds")]
    AccessTokenTtl,
    #[error("--token-format: {0}")]
    TokenFormat(String),
    #[error(
        "--token-format opaque is not supported yet: tokens for this API would be JWTs; \
         register it with the default (jwt)"
    )]
    OpaqueNotSupported,
    #[error("--scopes must name at least one scope of the API")]
    NoScopes,
    #[error("the API '{api}' defines no scope '{scope}'")]
    UnknownScope { api: String, scope: String },
}

/// Validates a registration into an API record.
pub fn build_api(registration: &ApiRegistration, now: i64) -> Result<Api, ApiError> {
    let r = registration;
    validate_identifier(&r.identifier).map_err(|reason| ApiError::Identifier {
        identifier: r.identifier.clone(),
        reason,
    })?;
    let name = r.name.trim();
    if name.is_empty() {
        return Err(ApiError::EmptyName);
    }
    let mut scopes: Vec<ApiScope> = Vec::new();
    for spec in &r.scopes {
        let scope = parse_scope_spec(spec)?;
        if scopes.iter().any(|s| s.name == scope.name) {
            return Err(ApiError::DuplicateScope(scope.name));
        }
        scopes.push(scope);
    }
    if let Some(ttl) = r.access_token_ttl
        && !(1..=MAX_ACCESS_TOKEN_TTL).contains(&ttl)
    {
        return Err(ApiError::AccessTokenTtl);
    }
    let token_format = match r.token_format.as_deref() {
        None => AccessTokenFormat::Jwt,
        Some(raw) => raw.trim().parse().map_err(ApiError::TokenFormat)?,
    };
    if token_format == AccessTokenFormat::Opaque {
        return Err(ApiError::OpaqueNotSupported);
    }
    Ok(Api {
        identifier: r.identifier.clone(),
        name: name.to_string(),
        scopes,
        access_token_ttl: r.access_token_ttl,
        token_format,
        created_at: now,
    })
}

/// Parses `name=description` (or a bare `name`, whose description is then the name).
pub fn parse_scope_spec(spec: &str) -> Result<ApiScope, ApiError> {
    let (name, description) = match spec.split_once('=') {
        Some((name, description)) => (name.trim(), description.trim()),
        None => (spec.trim(), ""),
    };
    let valid = Scope::parse(name).is_ok_and(|s| s.iter().count() == 1);
    if !valid {
        return Err(ApiError::ScopeName(name.to_string()));
    }
    if OIDC_SCOPES.contains(&name) {
        return Err(ApiError::OidcScope(name.to_string()));
    }
    Ok(ApiScope {
        name: name.to_string(),
        description: if description.is_empty() {
            name.to_string()
        } else {
            description.to_string()
        },
    })
}

/// Checks an API identifier (RFC 8707 §2): an absolute URI without a fragment; no query (the
/// RFC advises against one), whitespace or user info. It is stored and compared exactly as
/// given.
pub fn validate_identifier(raw: &str) -> Result<(), String> {
    if raw.is_empty() {
        return Err("it is empty".into());
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace or control characters".into());
    }
    if raw.contains('#') {
        return Err("it must not have a fragment (RFC 8707 §2)".into());
    }
    if raw.contains('?') {
        return Err("it should not have a query (RFC 8707 §2)".into());
    }
    let url = Url::parse(raw).map_err(|e| format!("it is not an absolute URI ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it must not contain user info".into());
    }
    Ok(())
}

/// Validates which scopes of `api` the client may ask for (`client allow-api`): a
/// comma-separated list of the API's scope names, at least one.
pub fn build_client_api(
    client: &Client,
    api: &Api,
    scopes: &[String],
) -> Result<ClientApi, ApiError> {
    let scopes = Scope::from_tokens(scopes.iter().map(|s| s.trim()))
        .map_err(|e| ApiError::ScopeName(e.to_string()))?;
    if scopes.is_empty() {
        return Err(ApiError::NoScopes);
    }
    if let Some(unknown) = scopes.iter().find(|s| api.scope(s).is_none()) {
        return Err(ApiError::UnknownScope {
            api: api.identifier.clone(),
            scope: unknown.to_string(),
        });
    }
    Ok(ClientApi {
        client_id: client.client_id.clone(),
        api: api.identifier.clone(),
        scopes,
    })
}

/// The API a token is for and the scopes granted for it (RFC 8707 §2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub api: Api,
    /// The API scopes granted: what was asked for, or every scope the client may have.
    pub scope: Scope,
}

impl Target {
    /// The access-token lifetime: the API's own, or `default_ttl`.
    pub fn access_token_ttl(&self, default_ttl: i64) -> i64 {
        self.api.access_token_ttl.unwrap_or(default_ttl)
    }
}

fn invalid_target(why: impl Into<String>) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidTarget, why)
}

/// Picks the API a token request is for and the scopes it grants there.
///
/// `resources` are the request's `resource` values (RFC 8707 §2): each an absolute URI without
/// fragment naming a registered API the client is allowed, else `invalid_target`. A token has
/// one audience, so all of them must name the same API (§2: the server may refuse resources it
/// cannot put in one token). With no `resource`, a client allowed exactly one API targets it
/// when the requested scope asks for that API's scopes (its single default API); otherwise
/// there is no API target (`None`) and the request keeps today's shape.
///
/// With a target, the requested scope must consist of API scopes the client is allowed for
/// it (`invalid_scope` otherwise); none requested grants every one of them.
pub async fn resolve_target(
    store: &dyn Store,
    client: &Client,
    resources: &[String],
    requested: Option<&Scope>,
) -> Result<Option<Target>, OAuthError> {
    let mut distinct: Vec<&str> = Vec::new();
    for resource in resources {
        validate_identifier(resource)
            .map_err(|why| invalid_target(format!("resource '{resource}': {why}")))?;
        if !distinct.contains(&resource.as_str()) {
            distinct.push(resource);
        }
    }
    if distinct.len() > 1 {
        return Err(invalid_target(
            "an access token is for one resource: ask for one token per API",
        ));
    }
    if distinct.is_empty() && requested.is_none() {
        // No resource and no scope: nothing names an API, so no store read (DESIGN §4b: the
        // client_credentials path stays free of needless I/O).
        return Ok(None);
    }
    let permissions = store
        .client_apis(&client.client_id)
        .await
        .map_err(internal)?;
    let (identifier, permission) = match distinct.first() {
        Some(resource) => {
            let permission = permissions.iter().find(|p| p.api == *resource);
            (resource.to_string(), permission)
        }
        None => {
            let [only] = permissions.as_slice() else {
                return Ok(None);
            };
            let asks_for_it = requested.is_some_and(|r| r.iter().any(|s| only.scopes.contains(s)));
            if !asks_for_it {
                return Ok(None);
            }
            (only.api.clone(), Some(only))
        }
    };
    let Some(api) = store.api(&identifier).await.map_err(internal)? else {
        return Err(invalid_target(format!(
            "resource '{identifier}' is not a registered API"
        )));
    };
    let Some(permission) = permission else {
        return Err(invalid_target(format!(
            "this client may not ask for tokens for '{identifier}'"
        )));
    };
    // A permission may name a scope the API has since stopped defining: grant only both.
    let allowed = permission.scopes.filter(|s| api.scope(s).is_some());
    let scope = match requested {
        None => allowed,
        Some(requested) => {
            if let Some(refused) = requested.iter().find(|s| !allowed.contains(s)) {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidScope,
                    format!("scope '{refused}' is not allowed for this client at '{identifier}'"),
                ));
            }
            requested.clone()
        }
    };
    Ok(Some(Target { api, scope }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registration() -> ApiRegistration {
        ApiRegistration {
            identifier: "https://api.example.com/orders".into(),
            name: "Orders".into(),
            scopes: vec![
                "orders:read=Read your orders".into(),
                "orders:write = Place orders ".into(),
            ],
            access_token_ttl: Some(300),
            token_format: None,
        }
    }

    #[test]
    fn a_valid_registration_keeps_scopes_in_order_with_descriptions() {
        let api = build_api(&registration(), 7).unwrap();
        assert_eq!(api.identifier, "https://api.example.com/orders");
        assert_eq!(
            api.scopes,
            vec![
                ApiScope {
                    name: "orders:read".into(),
                    description: "Read your orders".into()
                },
                ApiScope {
                    name: "orders:write".into(),
                    description: "Place orders".into()
                },
            ]
        );
        assert_eq!(api.access_token_ttl, Some(300));
        assert_eq!(api.token_format, AccessTokenFormat::Jwt);
        assert_eq!(api.created_at, 7);
    }

    #[test]
    fn identifiers_must_be_absolute_uris_without_fragment_or_query() {
        for bad in [
            "",
            "orders",
            "/orders",
            "https://api.example.com/orders#x",
            "https://api.example.com/orders?v=1",
            "https://u:p@api.example.com/",
            "https://api.example.com/ orders",
        ] {
            let r = ApiRegistration {
                identifier: bad.into(),
                ..registration()
            };
            assert!(
                matches!(build_api(&r, 0), Err(ApiError::Identifier { .. })),
                "{bad}"
            );
        }
        assert!(validate_identifier("urn:example:orders").is_ok());
    }

    #[test]
    fn scopes_must_be_tokens_unique_and_not_oidc() {
        let with = |scopes: &[&str]| ApiRegistration {
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..registration()
        };
        assert_eq!(
            build_api(&with(&["a b=x"]), 0),
            Err(ApiError::ScopeName("a b".into()))
        );
        assert_eq!(
            build_api(&with(&["openid=x"]), 0),
            Err(ApiError::OidcScope("openid".into()))
        );
        assert_eq!(
            build_api(&with(&["a=x", "a=y"]), 0),
            Err(ApiError::DuplicateScope("a".into()))
        );
        let bare = build_api(&with(&["orders:read"]), 0).unwrap();
        assert_eq!(bare.scopes[0].description, "orders:read");
    }

    #[test]
    fn lifetime_and_format_are_checked() {
        let ttl = |t| ApiRegistration {
            access_token_ttl: Some(t),
            ..registration()
        };
        assert_eq!(build_api(&ttl(0), 0), Err(ApiError::AccessTokenTtl));
        assert_eq!(
            build_api(&ttl(MAX_ACCESS_TOKEN_TTL + 1), 0),
            Err(ApiError::AccessTokenTtl)
        );
        let format = |f: &str| ApiRegistration {
            token_format: Some(f.into()),
            ..registration()
        };
        assert!(matches!(
            build_api(&format("xml"), 0),
            Err(ApiError::TokenFormat(_))
        ));
        assert_eq!(
            build_api(&format("opaque"), 0),
            Err(ApiError::OpaqueNotSupported)
        );
    }
}
