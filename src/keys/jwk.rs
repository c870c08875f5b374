//! Public RSA JWKs (RFC 7517 §4, RFC 7518 §6.3.1) and their RFC 7638 thumbprints.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

/// The signing algorithm Sesame publishes and accepts (RFC 7518 §3.3).
pub const RS256: &str = "RS256";

/// RFC 7638 §3.2: SHA-256 over `{"e":…,"kty":"RSA","n":…}` (required members only, in
/// lexicographic order, no whitespace), base64url without padding. `n_b64` and `e_b64` are the
/// base64url members as they appear in the JWK.
pub fn public_jwk_thumbprint(n_b64: &str, e_b64: &str) -> String {
    // The members are base64url, so they need no JSON escaping.
    let canonical = format!(r#"{{"e":"{e_b64}","kty":"RSA","n":"{n_b64}"}}"#);
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()))
}

/// One entry of the JWKS: public members only, never `d p q dp dq qi`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct PublicJwk {
    pub kty: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
    pub kid: String,
    pub n: String,
    pub e: String,
}

impl PublicJwk {
    /// The signing JWK for an RSA public key given as big-endian modulus and exponent.
    pub fn rsa_signing(modulus: &[u8], exponent: &[u8]) -> PublicJwk {
        let n = URL_SAFE_NO_PAD.encode(modulus);
        let e = URL_SAFE_NO_PAD.encode(exponent);
        PublicJwk {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: RS256.into(),
            kid: public_jwk_thumbprint(&n, &e),
            n,
            e,
        }
    }
}

/// The JWKS document (RFC 7517 §5).
#[derive(Serialize)]
pub(crate) struct JwkSet<'a> {
    pub keys: Vec<&'a PublicJwk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1: the example RSA key and its thumbprint.
    #[test]
    fn thumbprint_matches_rfc7638_example() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let e = "AQAB";
        assert_eq!(
            public_jwk_thumbprint(n, e),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn rsa_signing_jwk_uses_minimal_big_endian_members() {
        let jwk = PublicJwk::rsa_signing(&[0x01, 0x00], &[0x01, 0x00, 0x01]);
        assert_eq!(jwk.e, "AQAB");
        assert_eq!(jwk.n, "AQA");
        assert_eq!(jwk.kid, public_jwk_thumbprint("AQA", "AQAB"));
        let json = serde_json::to_string(&jwk).unwrap();
        assert!(
            json.starts_with(r#"{"kty":"RSA","use":"sig","alg":"RS256","kid":"#),
            "{json}"
        );
    }
}
