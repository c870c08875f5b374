//! JOSE headers (RFC 7515 §4.1) as Sesame writes them, rendered once per key for the `typ`s
//! of the tokens it signs most. A leaf: the ring builds them, JWS signing uses them.

use super::KeyError;
use super::jwk::RS256;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use std::borrow::Cow;

/// The `typ` values whose headers are rendered once per key: access and ID tokens.
const PRERENDERED_TYPS: [&str; 2] = ["at+jwt", "JWT"];

/// The JOSE header Sesame writes (RFC 7515 §4.1); members in this order.
#[derive(Serialize)]
struct OutgoingHeader<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

fn render_header(typ: &str, kid: &str) -> Result<String, KeyError> {
    let json = serde_json::to_vec(&OutgoingHeader {
        alg: RS256,
        typ,
        kid,
    })
    .map_err(|e| KeyError::Crypto(format!("JOSE header: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

/// The base64url headers `{"alg":"RS256","typ":…,"kid":…}` of one key for [`PRERENDERED_TYPS`].
pub(super) struct PrerenderedHeaders([String; 2]);

impl PrerenderedHeaders {
    /// Renders the headers for the key `kid`.
    pub(super) fn new(kid: &str) -> Result<Self, KeyError> {
        Ok(Self([
            render_header(PRERENDERED_TYPS[0], kid)?,
            render_header(PRERENDERED_TYPS[1], kid)?,
        ]))
    }

    /// The header for `typ` of the key `kid` (the one these were rendered for): pre-rendered,
    /// or rendered now for a rarer `typ`.
    pub(super) fn for_typ(&self, typ: &str, kid: &str) -> Result<Cow<'_, str>, KeyError> {
        match PRERENDERED_TYPS.iter().position(|t| *t == typ) {
            Some(i) => Ok(Cow::Borrowed(&self.0[i])),
            None => render_header(typ, kid).map(Cow::Owned),
        }
    }
}
