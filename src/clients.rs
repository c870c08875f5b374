//! The rules for registering a client (relying party): which redirect URIs, grant types,
//! scopes and token-endpoint authentication methods a client may have. Whoever registers
//! clients (today the `client create` command) describes one as a [`ClientRegistration`] and
//! gets a validated [`Client`] record or the rule it broke.

use crate::model::{
    Client, GrantType, InvalidScope, RefreshTokenPolicy, Scope, TokenEndpointAuthMethod,
};
use crate::secret::Secret;
use std::net::IpAddr;
use url::{Host, Url};

/// A client as its registrant describes it, before validation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientRegistration {
    /// Display name, shown on the consent page.
    pub name: String,
    /// Redirect URIs, stored exactly as given.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (native or browser app): no secret, PKCE required.
    pub public: bool,
    /// A first-party client: its users are not asked for consent.
    pub first_party: bool,
    /// The token-endpoint authentication method by name; `None` for the default.
    pub token_endpoint_auth_method: Option<String>,
    /// Grant type names (RFC 6749).
    pub grant_types: Vec<String>,
    /// Scope tokens the client may request.
    pub scopes: Vec<String>,
    /// When a code redemption issues a refresh token (`always`, `offline_access`, `never`);
    /// `None` for the default, `offline_access`.
    pub refresh_tokens: Option<String>,
    /// Origins (`scheme://host[:port]`) that may call the token, userinfo and revocation
    /// endpoints from a browser (CORS), beyond those of the redirect URIs.
    pub allowed_origins: Vec<String>,
    /// Where logout tokens are POSTed (OpenID Connect Back-Channel Logout 1.0 §2.2), if
    /// anywhere.
    pub backchannel_logout_uri: Option<String>,
}

/// A registration rule that was broken. The messages name the `client create` options, the
/// one way to register a client today.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("--name must not be empty")]
    EmptyName,
    #[error("a public client cannot use client_credentials: it has no secret to authenticate with")]
    PublicClientCredentials,
    #[error("the authorization_code grant needs at least one --redirect-uri")]
    NoRedirectUri,
    #[error("redirect URI '{uri}' is not allowed: {reason}")]
    RedirectUri { uri: String, reason: String },
    #[error(
        "unknown grant type '{0}' (expected authorization_code, refresh_token or \
         client_credentials)"
    )]
    UnknownGrantType(String),
    #[error("--grant-types must name at least one grant type")]
    NoGrantTypes,
    #[error("refresh_token needs authorization_code: refresh tokens are issued with a code")]
    RefreshTokenWithoutCode,
    #[error("allowed origin '{origin}' is not allowed: {reason}")]
    AllowedOrigin { origin: String, reason: String },
    #[error("--backchannel-logout-uri '{uri}' is not allowed: {reason}")]
    BackchannelLogoutUri { uri: String, reason: String },
    #[error("{0}")]
    Scope(#[from] InvalidScope),
    #[error("--scope must name at least one scope")]
    NoScopes,
    #[error("{0}")]
    UnknownAuthMethod(String),
    #[error("--refresh-tokens: {0}")]
    UnknownRefreshTokenPolicy(String),
    #[error("a public client has no secret: its token endpoint auth method is none")]
    PublicClientWithSecretMethod,
    #[error(
        "a confidential client authenticates with client_secret_basic or client_secret_post; \
         use --public for a client without a secret"
    )]
    ConfidentialClientWithoutSecret,
    /// The caller passed a secret for a public client or none for a confidential one: a bug
    /// in the caller, not in the registration.
    #[error("internal error: a confidential client needs a secret and a public one none")]
    SecretMismatch,
}

impl RegistrationError {
    /// Whether the registration itself is wrong (as opposed to the caller).
    pub fn is_invalid_registration(&self) -> bool {
        !matches!(self, RegistrationError::SecretMismatch)
    }
}

/// Validates a registration into a client record; the secret (which a confidential client
/// must have and a public one must not) is stored only as its SHA-256 hash.
pub fn build_client(
    registration: &ClientRegistration,
    client_id: String,
    secret: Option<&Secret>,
    now: i64,
) -> Result<Client, RegistrationError> {
    let r = registration;
    let name = r.name.trim();
    if name.is_empty() {
        return Err(RegistrationError::EmptyName);
    }
    let grant_types = parse_grant_types(&r.grant_types)?;
    if r.public && grant_types.contains(&GrantType::ClientCredentials) {
        // RFC 6749 §4.4: client_credentials needs a client that can authenticate.
        return Err(RegistrationError::PublicClientCredentials);
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && r.redirect_uris.is_empty() {
        return Err(RegistrationError::NoRedirectUri);
    }
    for uri in r.redirect_uris.iter().chain(&r.post_logout_redirect_uris) {
        validate_redirect_uri(uri).map_err(|reason| RegistrationError::RedirectUri {
            uri: uri.clone(),
            reason,
        })?;
    }
    for origin in &r.allowed_origins {
        validate_origin(origin).map_err(|reason| RegistrationError::AllowedOrigin {
            origin: origin.clone(),
            reason,
        })?;
    }
    if let Some(uri) = &r.backchannel_logout_uri {
        validate_backchannel_logout_uri(uri).map_err(|reason| {
            RegistrationError::BackchannelLogoutUri {
                uri: uri.clone(),
                reason,
            }
        })?;
    }
    let allowed_scopes = parse_scopes(&r.scopes)?;
    let token_endpoint_auth_method =
        auth_method(r.public, r.token_endpoint_auth_method.as_deref())?;
    let refresh_tokens = match r.refresh_tokens.as_deref() {
        None => RefreshTokenPolicy::default(),
        Some(name) => name
            .trim()
            .parse()
            .map_err(RegistrationError::UnknownRefreshTokenPolicy)?,
    };
    if r.public != secret.is_none() {
        return Err(RegistrationError::SecretMismatch);
    }
    Ok(Client {
        client_id,
        name: name.to_string(),
        secret_hash: secret.map(Secret::hash),
        redirect_uris: dedup(r.redirect_uris.clone()),
        post_logout_redirect_uris: dedup(r.post_logout_redirect_uris.clone()),
        grant_types,
        allowed_scopes,
        token_endpoint_auth_method,
        public: r.public,
        first_party: r.first_party,
        created_at: now,
        refresh_tokens,
        allowed_origins: dedup(r.allowed_origins.clone()),
        backchannel_logout_uri: r.backchannel_logout_uri.clone(),
    })
}

/// Checks a back-channel logout URI (Back-Channel Logout 1.0 §2.2: an absolute URI, no
/// fragment, https unless it is a loopback test receiver). Sesame POSTs to it from the
/// server side, so a private-use scheme makes no sense here.
pub fn validate_backchannel_logout_uri(raw: &str) -> Result<(), String> {
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace or control characters".into());
    }
    if raw.contains('#') {
        return Err("it must not have a fragment (Back-Channel Logout 1.0 §2.2)".into());
    }
    let url = Url::parse(raw).map_err(|e| format!("it is not an absolute URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it must not contain user info".into());
    }
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some(Host::Ipv4(ip))) if IpAddr::V4(ip).is_loopback() => Ok(()),
        ("http", Some(Host::Ipv6(ip))) if IpAddr::V6(ip).is_loopback() => Ok(()),
        ("http", Some(Host::Domain("localhost"))) => Ok(()),
        _ => Err("it must be https (http only for loopback hosts)".into()),
    }
}

/// The token-endpoint authentication method: `none` for public clients; for confidential ones
/// the requested secret method, `client_secret_basic` by default.
fn auth_method(
    public: bool,
    requested: Option<&str>,
) -> Result<TokenEndpointAuthMethod, RegistrationError> {
    let method = match requested {
        None if public => TokenEndpointAuthMethod::None,
        None => TokenEndpointAuthMethod::ClientSecretBasic,
        Some(name) => name.parse().map_err(RegistrationError::UnknownAuthMethod)?,
    };
    match (public, method) {
        (true, TokenEndpointAuthMethod::None) => Ok(method),
        (true, _) => Err(RegistrationError::PublicClientWithSecretMethod),
        (false, TokenEndpointAuthMethod::None) => {
            Err(RegistrationError::ConfidentialClientWithoutSecret)
        }
        (false, _) => Ok(method),
    }
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut seen = Vec::with_capacity(items.len());
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// Parses grant type names: known RFC 6749 names, de-duplicated, in the order given; at least
/// one, and `refresh_token` only with `authorization_code`.
pub fn parse_grant_types(raw: &[String]) -> Result<Vec<GrantType>, RegistrationError> {
    let mut grants = Vec::new();
    for name in raw.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let grant: GrantType = name
            .parse()
            .map_err(|_| RegistrationError::UnknownGrantType(name.to_string()))?;
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    if grants.is_empty() {
        return Err(RegistrationError::NoGrantTypes);
    }
    if grants.contains(&GrantType::RefreshToken) && !grants.contains(&GrantType::AuthorizationCode)
    {
        return Err(RegistrationError::RefreshTokenWithoutCode);
    }
    Ok(grants)
}

/// Parses the scopes a client may request: RFC 6749 §3.3 scope tokens, de-duplicated, at
/// least one.
pub fn parse_scopes(raw: &[String]) -> Result<Scope, RegistrationError> {
    let scopes = Scope::from_tokens(raw.iter().map(|s| s.trim()))?;
    if scopes.is_empty() {
        return Err(RegistrationError::NoScopes);
    }
    Ok(scopes)
}

/// Checks a redirect URI for registration (RFC 9700 §2.1, RFC 8252 §7): absolute; `https`, or
/// `http` on a loopback host, or a private-use (reverse-domain) scheme for native apps; no
/// fragment, wildcard or user info. The string is stored exactly as given, so it must already
/// be in the form the client will send. The error says why, for the registrant.
pub fn validate_redirect_uri(raw: &str) -> Result<(), String> {
    if raw.is_empty() {
        return Err("it is empty".into());
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace or control characters".into());
    }
    if raw.contains('*') {
        return Err("wildcards are not allowed; register each URI exactly".into());
    }
    if raw.contains('#') {
        return Err("a redirect URI must not have a fragment (RFC 6749 §3.1.2)".into());
    }
    let url = Url::parse(raw).map_err(|e| format!("it is not an absolute URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it must not contain user info".into());
    }
    match url.scheme() {
        "https" => {
            if url.host().is_none() {
                return Err("an https URI needs a host".into());
            }
            Ok(())
        }
        "http" => match url.host() {
            Some(Host::Ipv4(ip)) if IpAddr::V4(ip).is_loopback() => Ok(()),
            Some(Host::Ipv6(ip)) if IpAddr::V6(ip).is_loopback() => Ok(()),
            Some(Host::Domain("localhost")) => Ok(()),
            _ => Err(
                "http is allowed only for loopback hosts (127.0.0.1, [::1], localhost); \
                      use https"
                    .into(),
            ),
        },
        // RFC 8252 §7.1: a private-use scheme is a reverse domain name, e.g. com.example.app.
        scheme if scheme.contains('.') => {
            if url.host().is_some_and(|h| !h.to_string().is_empty()) {
                return Err(
                    "a private-use scheme URI takes one slash and no host (RFC 8252 §7.1), \
                     e.g. com.example.app:/callback"
                        .into(),
                );
            }
            Ok(())
        }
        other => Err(format!(
            "the scheme '{other}' is not allowed; use https, http on loopback, or a \
             reverse-domain private-use scheme"
        )),
    }
}

/// Checks an origin registered for CORS: a bare origin as a browser sends it in `Origin`
/// (RFC 6454 §6.1) — `https://host[:port]`, or `http` on a loopback host — with no path, query,
/// fragment, user info, wildcard or default port, in lower case. A browser's `Origin` header is
/// compared with it byte for byte, so it must already be in that form; the error says why not.
pub fn validate_origin(raw: &str) -> Result<(), String> {
    if raw == "*" || raw.contains('*') {
        return Err("wildcards are not allowed; register each origin".into());
    }
    if raw == "null" {
        return Err("the opaque origin 'null' cannot be registered".into());
    }
    validate_redirect_uri(raw)?;
    let url = Url::parse(raw).map_err(|e| format!("it is not an absolute URL ({e})"))?;
    let origin = url.origin();
    if !origin.is_tuple() {
        return Err("only https (or http on loopback) origins can be registered".into());
    }
    let serialized = origin.ascii_serialization();
    if serialized != raw {
        return Err(format!(
            "an origin is scheme://host[:port] with no path, query or default port,              as a browser sends it: '{serialized}'"
        ));
    }
    Ok(())
}

/// The origin of a redirect URI (`scheme://host[:port]`, RFC 6454 §4), if it has one a browser
/// could send: https, or http on loopback. Private-use schemes have none.
fn origin_of_redirect_uri(uri: &str) -> Option<String> {
    let url = Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "https" | "http") {
        return None;
    }
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// The origins that may call the token, userinfo and revocation endpoints for `client` from a
/// browser: those of its redirect URIs, then those it registered explicitly, without repeats.
pub fn cors_origins(client: &Client) -> Vec<String> {
    let derived = client
        .redirect_uris
        .iter()
        .filter_map(|uri| origin_of_redirect_uri(uri));
    dedup(
        derived
            .chain(client.allowed_origins.iter().cloned())
            .collect(),
    )
}

/// Whether a browser's `Origin` header value is one of `client`'s CORS origins (exact match).
pub fn allows_origin(client: &Client, origin: &str) -> bool {
    cors_origins(client).iter().any(|o| o == origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// A confidential web app with the usual grants and scopes.
    fn web_app() -> ClientRegistration {
        ClientRegistration {
            name: "App".into(),
            redirect_uris: strings(&["https://app.example.com/cb"]),
            grant_types: strings(&["authorization_code", "refresh_token"]),
            scopes: strings(&["openid", "profile", "email"]),
            ..ClientRegistration::default()
        }
    }

    #[test]
    fn the_refresh_token_policy_defaults_to_offline_access_and_is_checked() {
        let build = |policy: Option<&str>| {
            build_client(
                &ClientRegistration {
                    refresh_tokens: policy.map(str::to_string),
                    ..web_app()
                },
                "cid".into(),
                Some(&Secret::new("s")),
                0,
            )
        };
        assert_eq!(
            build(None).unwrap().refresh_tokens,
            RefreshTokenPolicy::OfflineAccess
        );
        assert_eq!(
            build(Some("always")).unwrap().refresh_tokens,
            RefreshTokenPolicy::Always
        );
        assert_eq!(
            build(Some("never")).unwrap().refresh_tokens,
            RefreshTokenPolicy::Never
        );
        assert!(matches!(
            build(Some("sometimes")),
            Err(RegistrationError::UnknownRefreshTokenPolicy(_))
        ));
    }

    #[test]
    fn redirect_uris_that_are_accepted() {
        for uri in [
            "https://app.example.com/cb",
            "https://app.example.com:8443/cb?tenant=a",
            "http://127.0.0.1:8765/callback",
            "http://[::1]:8765/callback",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(validate_redirect_uri(uri), Ok(()), "{uri}");
        }
    }

    #[test]
    fn redirect_uris_that_are_refused() {
        for uri in [
            "",
            "/relative/cb",
            "app.example.com/cb",
            "http://app.example.com/cb",
            "http://10.0.0.1/cb",
            "https://app.example.com/cb#frag",
            "https://app.example.com/cb#",
            "https://*.example.com/cb",
            "https://app.example.com/*",
            "https://user@app.example.com/cb",
            "https://app.example.com/c b",
            " https://app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "ftp://example.com/cb",
            "myapp:/cb",
        ] {
            assert!(
                validate_redirect_uri(uri).is_err(),
                "{uri:?} must be refused"
            );
        }
    }

    #[test]
    fn grant_types_parse_comma_separated_and_deduplicated() {
        assert_eq!(
            parse_grant_types(&strings(&[
                "authorization_code",
                " refresh_token",
                "authorization_code"
            ]))
            .unwrap(),
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(
            parse_grant_types(&strings(&["client_credentials"])).unwrap(),
            vec![GrantType::ClientCredentials]
        );
    }

    #[test]
    fn unknown_or_empty_grant_types_are_invalid_registrations() {
        let err = parse_grant_types(&strings(&["authorization_code", "password"])).unwrap_err();
        assert_eq!(err, RegistrationError::UnknownGrantType("password".into()));
        assert!(err.to_string().contains("unknown grant type 'password'"));
        assert!(err.is_invalid_registration());
        assert_eq!(
            parse_grant_types(&strings(&[""])),
            Err(RegistrationError::NoGrantTypes)
        );
        assert_eq!(
            parse_grant_types(&strings(&["refresh_token"])),
            Err(RegistrationError::RefreshTokenWithoutCode)
        );
    }

    #[test]
    fn scopes_are_validated_and_deduplicated() {
        assert_eq!(
            parse_scopes(&strings(&["openid", "email", "openid"]))
                .unwrap()
                .to_string(),
            "openid email"
        );
        assert!(parse_scopes(&strings(&["open\"id"])).is_err());
        assert!(parse_scopes(&strings(&["a\\b"])).is_err());
    }

    #[test]
    fn a_confidential_client_stores_only_the_hash_of_its_secret() {
        let secret = Secret::new("s3cret");
        let client = build_client(&web_app(), "cid".into(), Some(&secret), 42).unwrap();
        assert_eq!(client.secret_hash, Some(secret.hash()));
        assert_eq!(
            client.token_endpoint_auth_method,
            TokenEndpointAuthMethod::ClientSecretBasic
        );
        assert_eq!(client.allowed_scopes.to_string(), "openid profile email");
        assert_eq!(client.created_at, 42);
        assert!(!client.public && !client.first_party);
    }

    #[test]
    fn registration_rules_name_what_is_wrong() {
        let secret = Secret::new("s3cret");
        let build = |r: ClientRegistration| build_client(&r, "cid".into(), Some(&secret), 0);
        assert_eq!(
            build(ClientRegistration {
                name: "  ".into(),
                ..web_app()
            }),
            Err(RegistrationError::EmptyName)
        );
        assert_eq!(
            build(ClientRegistration {
                redirect_uris: vec![],
                ..web_app()
            }),
            Err(RegistrationError::NoRedirectUri)
        );
        assert!(matches!(
            build(ClientRegistration {
                post_logout_redirect_uris: strings(&["https://app.example.com/*"]),
                ..web_app()
            }),
            Err(RegistrationError::RedirectUri { uri, .. }) if uri == "https://app.example.com/*"
        ));
        assert_eq!(
            build(ClientRegistration {
                token_endpoint_auth_method: Some("none".into()),
                ..web_app()
            }),
            Err(RegistrationError::ConfidentialClientWithoutSecret)
        );
        let err = build(ClientRegistration {
            token_endpoint_auth_method: Some("private_key_jwt".into()),
            ..web_app()
        })
        .unwrap_err();
        assert!(err.to_string().contains("private_key_jwt"), "{err}");
        assert!(err.is_invalid_registration());
        // A service needs no redirect URI.
        assert!(
            build(ClientRegistration {
                redirect_uris: vec![],
                grant_types: strings(&["client_credentials"]),
                ..web_app()
            })
            .is_ok()
        );
    }

    #[test]
    fn a_public_client_has_no_secret_and_no_client_credentials() {
        let native = ClientRegistration {
            public: true,
            redirect_uris: strings(&["com.example.app:/cb", "http://127.0.0.1:9000/cb"]),
            grant_types: strings(&["authorization_code"]),
            ..web_app()
        };
        let client = build_client(&native, "cid".into(), None, 0).unwrap();
        assert_eq!(
            client.token_endpoint_auth_method,
            TokenEndpointAuthMethod::None
        );
        assert_eq!(client.secret_hash, None);
        let with_cc = ClientRegistration {
            grant_types: strings(&["authorization_code", "client_credentials"]),
            ..native.clone()
        };
        assert_eq!(
            build_client(&with_cc, "cid".into(), None, 0),
            Err(RegistrationError::PublicClientCredentials)
        );
        let with_method = ClientRegistration {
            token_endpoint_auth_method: Some("client_secret_basic".into()),
            ..native.clone()
        };
        assert_eq!(
            build_client(&with_method, "cid".into(), None, 0),
            Err(RegistrationError::PublicClientWithSecretMethod)
        );
        // A secret handed in for a public client is the caller's bug, not the registrant's.
        let err = build_client(&native, "cid".into(), Some(&Secret::new("x")), 0).unwrap_err();
        assert_eq!(err, RegistrationError::SecretMismatch);
        assert!(!err.is_invalid_registration());
    }

    #[test]
    fn allowed_origins_must_be_bare_origins() {
        for origin in [
            "https://spa.example.com",
            "https://spa.example.com:8443",
            "http://localhost:3000",
            "http://127.0.0.1:5173",
        ] {
            assert_eq!(validate_origin(origin), Ok(()), "{origin}");
        }
        for origin in [
            "*",
            "null",
            "https://*.example.com",
            "https://spa.example.com/",
            "https://spa.example.com/app",
            "https://spa.example.com?x=1",
            "https://spa.example.com:443",
            "https://SPA.example.com",
            "http://spa.example.com",
            "https://user@spa.example.com",
            "com.example.app:",
            "spa.example.com",
            "",
        ] {
            assert!(
                validate_origin(origin).is_err(),
                "{origin:?} must be refused"
            );
        }
        let err = build_client(
            &ClientRegistration {
                allowed_origins: strings(&["https://spa.example.com/"]),
                ..web_app()
            },
            "cid".into(),
            Some(&Secret::new("s")),
            0,
        )
        .unwrap_err();
        assert!(
            matches!(err, RegistrationError::AllowedOrigin { .. }),
            "{err}"
        );
        assert!(err.is_invalid_registration());
    }

    #[test]
    fn cors_origins_come_from_redirect_uris_and_registered_origins() {
        let client = build_client(
            &ClientRegistration {
                redirect_uris: strings(&[
                    "https://app.example.com/cb",
                    "https://app.example.com/other?x=1",
                    "https://app.example.com:8443/cb",
                    "http://127.0.0.1:9000/cb",
                    "com.example.app:/cb",
                ]),
                allowed_origins: strings(&["https://spa.example.com", "https://spa.example.com"]),
                ..web_app()
            },
            "cid".into(),
            Some(&Secret::new("s")),
            0,
        )
        .unwrap();
        assert_eq!(
            client.allowed_origins,
            strings(&["https://spa.example.com"])
        );
        assert_eq!(
            cors_origins(&client),
            strings(&[
                "https://app.example.com",
                "https://app.example.com:8443",
                "http://127.0.0.1:9000",
                "https://spa.example.com",
            ])
        );
        assert!(allows_origin(&client, "https://spa.example.com"));
        assert!(!allows_origin(&client, "https://evil.example.com"));
        assert!(!allows_origin(&client, "https://app.example.com/"));
    }

    #[test]
    fn repeated_redirect_uris_are_stored_once() {
        let r = ClientRegistration {
            redirect_uris: strings(&["https://a.example/cb", "https://a.example/cb"]),
            ..web_app()
        };
        let client = build_client(&r, "cid".into(), Some(&Secret::new("x")), 0).unwrap();
        assert_eq!(client.redirect_uris, strings(&["https://a.example/cb"]));
    }

    #[test]
    fn a_backchannel_logout_uri_must_be_https_or_loopback_http_without_fragment() {
        let build = |uri: &str| {
            build_client(
                &ClientRegistration {
                    backchannel_logout_uri: Some(uri.to_string()),
                    ..web_app()
                },
                "cid".into(),
                Some(&Secret::new("s")),
                0,
            )
        };
        for good in [
            "https://rp.example/bcl",
            "http://127.0.0.1:8080/bcl",
            "http://localhost/bcl",
        ] {
            let client = build(good).unwrap();
            assert_eq!(client.backchannel_logout_uri.as_deref(), Some(good));
        }
        for bad in [
            "http://rp.example/bcl",
            "https://rp.example/bcl#frag",
            "com.example.app:/bcl",
            "/relative",
            "https://user:pw@rp.example/bcl",
        ] {
            assert!(
                matches!(
                    build(bad),
                    Err(RegistrationError::BackchannelLogoutUri { .. })
                ),
                "{bad}"
            );
        }
    }
}
