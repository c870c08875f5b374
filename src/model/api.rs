//! APIs (resource servers, RFC 8707 / RFC 9068) and the APIs a client may ask tokens for.

use super::Scope;
use crate::clock::UnixTime;
use serde::{Deserialize, Serialize};

/// A scope an API defines, with the description the consent page shows for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiScope {
    /// The scope token (RFC 6749 §3.3), e.g. `orders:read`.
    pub name: String,
    /// What granting it lets the client do, in words a person understands.
    pub description: String,
}

/// The form of the access tokens issued for an API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessTokenFormat {
    /// An RFC 9068 JWT, verifiable offline through the JWKS.
    #[default]
    Jwt,
    /// A reference token, only understood through introspection (RFC 7662).
    Opaque,
}

impl AccessTokenFormat {
    /// The name used in the CLI and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessTokenFormat::Jwt => "jwt",
            AccessTokenFormat::Opaque => "opaque",
        }
    }
}

impl std::str::FromStr for AccessTokenFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jwt" => Ok(AccessTokenFormat::Jwt),
            "opaque" => Ok(AccessTokenFormat::Opaque),
            other => Err(format!(
                "unknown token format '{other}' (expected jwt or opaque)"
            )),
        }
    }
}

/// A registered API: a resource server that accepts Sesame's access tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Api {
    /// An absolute URI without fragment (RFC 8707 §2): the `resource` a client asks for and the
    /// `aud` of the tokens issued for it. Unique.
    pub identifier: String,
    /// Display name, shown on the consent page.
    pub name: String,
    /// The scopes the API defines, in registration order, names unique.
    pub scopes: Vec<ApiScope>,
    /// Lifetime of access tokens for this API, in seconds; `None` for the server default.
    pub access_token_ttl: Option<i64>,
    /// JWT (the default) or opaque.
    pub token_format: AccessTokenFormat,
    pub created_at: UnixTime,
}

impl Api {
    /// The API's scope named `name`, if it defines one.
    pub fn scope(&self, name: &str) -> Option<&ApiScope> {
        self.scopes.iter().find(|s| s.name == name)
    }
}

/// Which scopes of one API a client may ask for (`sesame client allow-api`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientApi {
    pub client_id: String,
    /// The API's identifier.
    pub api: String,
    /// A subset of the API's scopes.
    pub scopes: Scope,
}
