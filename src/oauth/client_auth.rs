//! Client authentication at the token endpoint (RFC 6749 §2.3): `client_secret_basic`,
//! `client_secret_post`, or `none` for public clients.

use crate::error::{OAuthError, OAuthErrorCode, internal};
use crate::model::{Client, TokenEndpointAuthMethod as Method};
use crate::params::Params;
use crate::secret::Secret;
use crate::store::Store;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// `401 invalid_client` with its `WWW-Authenticate: Basic` challenge, however the client tried
/// to authenticate — with Basic, with `client_secret_post`, or not at all: RFC 9110 §15.5.2
/// requires a challenge on every 401, and RFC 6749 §5.2 names the scheme the server supports.
/// Every refusal of client authentication is built here.
pub fn refused() -> OAuthError {
    OAuthError::invalid_client(true)
}

/// [`refused`] with a description of why.
pub fn refused_because(description: impl Into<String>) -> OAuthError {
    let mut error = OAuthError::new(OAuthErrorCode::InvalidClient, description);
    error.basic_challenge = true;
    error
}

/// The credentials a request presented.
#[derive(Debug)]
pub enum ClientCredentials {
    /// `Authorization: Basic`.
    Basic { client_id: String, secret: Secret },
    /// `client_id` and `client_secret` in the body.
    Post { client_id: String, secret: Secret },
    /// `client_id` alone: a public client.
    None { client_id: String },
}

impl ClientCredentials {
    fn client_id(&self) -> &str {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::None { client_id } => client_id,
        }
    }
}

/// Reads the credentials from the `Authorization` header and the body. Using more than one
/// method is `invalid_request` (RFC 6749 §2.3).
pub fn extract(
    authorization: Option<&str>,
    params: &Params,
) -> Result<ClientCredentials, OAuthError> {
    let body_id = params.get("client_id")?;
    let body_secret = params.get("client_secret")?;
    if let Some(header) = authorization {
        let (scheme, value) = header.split_once(' ').unwrap_or((header, ""));
        // RFC 6749 §5.2: a client that tried the Authorization header gets the challenge of
        // the scheme we support.
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(refused());
        }
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not both",
            ));
        }
        let (client_id, secret) = decode_basic(value.trim()).ok_or_else(refused)?;
        if body_id.is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the credentials",
            ));
        }
        return Ok(ClientCredentials::Basic {
            client_id,
            secret: Secret::new(secret),
        });
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(ClientCredentials::Post {
            client_id: id.to_string(),
            secret: Secret::new(secret),
        }),
        (Some(id), None) => Ok(ClientCredentials::None {
            client_id: id.to_string(),
        }),
        (None, _) => Err(refused()),
    }
}

/// RFC 6749 §2.3.1: `base64(urlencode(id) ":" urlencode(secret))`.
fn decode_basic(value: &str) -> Option<(String, String)> {
    let decoded = STANDARD.decode(value).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let unescape = |s: &str| -> Option<String> {
        let replaced = s.replace('+', " ");
        let bytes: Vec<u8> = percent_decode(replaced.as_bytes())?;
        String::from_utf8(bytes).ok()
    };
    let id = unescape(id)?;
    if id.is_empty() {
        return None;
    }
    Some((id, unescape(secret)?))
}

fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%' {
            let hex = input.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Authenticates the client: a confidential client must present its secret (compared as
/// SHA-256 in constant time); a public client must present none.
pub async fn authenticate(
    store: &dyn Store,
    credentials: &ClientCredentials,
) -> Result<Client, OAuthError> {
    let client = store
        .client(credentials.client_id())
        .await
        .map_err(internal)?
        .ok_or_else(refused)?;
    // Only the method the client registered (RFC 7591 §2 token_endpoint_auth_method).
    let ok = match (
        credentials,
        &client.secret_hash,
        client.token_endpoint_auth_method,
    ) {
        (ClientCredentials::Basic { secret, .. }, Some(hash), Method::ClientSecretBasic)
        | (ClientCredentials::Post { secret, .. }, Some(hash), Method::ClientSecretPost) => {
            hash.matches(secret.expose())
        }
        (ClientCredentials::None { .. }, None, Method::None) => client.public,
        _ => false,
    };
    if ok { Ok(client) } else { Err(refused()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let value = STANDARD.encode("my%20client:s%3Acret+x");
        let (id, secret) = decode_basic(&value).unwrap();
        assert_eq!(id, "my client");
        assert_eq!(secret, "s:cret x");
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let header = format!("Basic {}", STANDARD.encode("a:b"));
        let params = Params::parse(b"client_secret=b");
        assert_eq!(
            extract(Some(&header), &params).unwrap_err().code,
            OAuthErrorCode::InvalidRequest
        );
    }

    #[test]
    fn no_credentials_at_all_is_invalid_client_with_challenge() {
        let err = extract(None, &Params::default()).unwrap_err();
        assert_eq!(err.code, OAuthErrorCode::InvalidClient);
        assert!(
            err.basic_challenge,
            "RFC 9110 §15.5.2: every 401 has a challenge"
        );
        let why = refused_because("no \"quotes\"\n");
        assert!(why.basic_challenge);
        assert_eq!(why.description.as_deref(), Some("no quotes"));
    }

    #[test]
    fn malformed_basic_is_invalid_client_with_challenge() {
        let err = extract(Some("Basic !!!"), &Params::default()).unwrap_err();
        assert_eq!(err.code, OAuthErrorCode::InvalidClient);
        assert!(err.basic_challenge);
    }
}
