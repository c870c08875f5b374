//! Compact JWS (RFC 7515) with RS256: signing with the ring's active key, and verification
//! against the published keys by `kid`.

use super::jwk::RS256;
use super::{KeyError, KeyManager};
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Tokens longer than this are refused before any decoding (ours are well under 2 KiB).
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The JOSE header as received. Unknown members are ignored, except `crit`.
#[derive(Deserialize)]
struct IncomingHeader {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// The one claim read from a token before its signature is checked: who it says issued it.
#[derive(Deserialize)]
struct ClaimedIssuer {
    #[serde(default)]
    iss: Option<String>,
}

impl KeyManager {
    /// Signs `claims` as a compact JWS with the active key: header `{alg: RS256, typ, kid}`.
    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> Result<String, KeyError> {
        let ring = self.current();
        let key = ring.active()?;
        let header = key.headers.for_typ(typ, &key.kid)?;
        let payload = serde_json::to_vec(claims)
            .map_err(|e| KeyError::Crypto(format!("claims do not serialize: {e}")))?;
        let signature_len = key.signer.public_modulus_len();
        let b64_len = |n: usize| n.div_ceil(3) * 4;
        let mut jws = String::with_capacity(
            header.len() + b64_len(payload.len()) + b64_len(signature_len) + 2,
        );
        jws.push_str(&header);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut jws);
        // RFC 7515 §5.1: the signature covers ASCII(header '.' payload).
        let mut signature = vec![0u8; signature_len];
        key.signer
            .sign(&RSA_PKCS1_SHA256, &self.rng, jws.as_bytes(), &mut signature)
            .map_err(|_| KeyError::Crypto("RS256 signing failed".into()))?;
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut jws);
        Ok(jws)
    }

    /// Verifies an RS256 JWS against the published keys (by `kid`) and returns its claims.
    /// Rejects `alg` other than RS256 (including `none` and HS*), unknown kids, and a `typ`
    /// other than `expected_typ` when one is given. Claims (exp, iss, aud) are the caller's.
    ///
    /// An unknown kid on a token that claims our own issuer (see [`KeyManager::with_issuer`])
    /// also requests a reload of the ring: another instance may have written that key.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        expected_typ: Option<&str>,
    ) -> Result<T, KeyError> {
        self.verify_with_kid(token, expected_typ)
            .map(|(claims, _)| claims)
    }

    /// As [`KeyManager::verify`], for a token presented back to Sesame (userinfo,
    /// introspection): a valid signature also counts one use of its key at `now` (see
    /// [`KeyManager::flush_usage`]).
    /// Returns the claims and the kid of the key that verified them.
    pub fn verify_presented<T: DeserializeOwned>(
        &self,
        token: &str,
        expected_typ: Option<&str>,
        now: crate::clock::UnixTime,
    ) -> Result<(T, String), KeyError> {
        let (claims, kid) = self.verify_with_kid(token, expected_typ)?;
        self.usage.count(kid.clone(), now);
        Ok((claims, kid))
    }

    /// Verification, returning the claims and the kid whose key verified them.
    fn verify_with_kid<T: DeserializeOwned>(
        &self,
        token: &str,
        expected_typ: Option<&str>,
    ) -> Result<(T, String), KeyError> {
        let invalid = |reason: &str| KeyError::InvalidToken(reason.to_string());
        if token.len() > MAX_TOKEN_LEN {
            return Err(invalid("token too long"));
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("not a compact JWS"));
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| invalid("header is not base64url"))?;
        let header: IncomingHeader = serde_json::from_slice(&header_json)
            .map_err(|_| invalid("header is not a JOSE header"))?;
        // Only RS256: never `none`, never HS* keyed with our public key (RFC 8725 §3.1).
        if header.alg != RS256 {
            return Err(invalid("alg is not RS256"));
        }
        // RFC 7515 §4.1.11: we understand no extensions, so any `crit` is refused.
        if header.crit.is_some() {
            return Err(invalid("crit header not understood"));
        }
        if let Some(expected) = expected_typ {
            match header.typ.as_deref() {
                Some(typ) if typ_matches(typ, expected) => {}
                _ => return Err(invalid("wrong typ")),
            }
        }
        let kid = header.kid.as_deref().ok_or_else(|| invalid("no kid"))?;
        let ring = self.current();
        let Some(key) = ring.by_kid(kid) else {
            if self.claims_our_issuer(payload_b64) {
                self.reload_request.raise();
            }
            return Err(invalid("unknown kid"));
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| invalid("signature is not base64url"))?;
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        key.verifier
            .verify_sig(signing_input.as_bytes(), &signature)
            .map_err(|_| invalid("bad signature"))?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| invalid("payload is not base64url"))?;
        let claims = serde_json::from_slice(&payload)
            .map_err(|e| KeyError::InvalidToken(format!("claims: {e}")))?;
        Ok((claims, key.kid.clone()))
    }

    /// Whether the (unverified) payload says our issuer issued it. Only ever used to decide
    /// whether a reload is worth asking for, never to trust the token.
    fn claims_our_issuer(&self, payload_b64: &str) -> bool {
        let Some(issuer) = self.issuer.as_deref() else {
            return false;
        };
        URL_SAFE_NO_PAD
            .decode(payload_b64)
            .ok()
            .and_then(|json| serde_json::from_slice::<ClaimedIssuer>(&json).ok())
            .and_then(|claimed| claimed.iss)
            .is_some_and(|iss| iss == issuer)
    }
}

/// RFC 7515 §4.1.9: `typ` compares case-insensitively, and `application/` may be omitted
/// (so `application/at+jwt` is `at+jwt`, RFC 9068 §2.1).
fn typ_matches(actual: &str, expected: &str) -> bool {
    fn media_subtype(typ: &str) -> &str {
        match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
            _ => typ,
        }
    }
    media_subtype(actual).eq_ignore_ascii_case(media_subtype(expected))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{NOW, claims, kek_a, manager, memory_store};
    use super::*;
    use crate::model::KeyState;
    use aws_lc_rs::hmac;
    use serde_json::{Value, json};

    fn b64json(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    fn parts(token: &str) -> Vec<String> {
        token.split('.').map(str::to_string).collect()
    }

    fn decode_json(part: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn sign_then_verify_round_trips_with_exact_header() {
        let keys = manager().await;
        let token = keys.sign("at+jwt", &claims()).unwrap();
        let p = parts(&token);
        assert_eq!(p.len(), 3);
        let header = String::from_utf8(URL_SAFE_NO_PAD.decode(&p[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            format!(
                r#"{{"alg":"RS256","typ":"at+jwt","kid":"{}"}}"#,
                keys.active_kid().unwrap()
            )
        );
        assert!(!token.contains('='), "base64url without padding");
        let back: Value = keys.verify(&token, Some("at+jwt")).unwrap();
        assert_eq!(back, claims());
        let untyped: Value = keys.verify(&token, None).unwrap();
        assert_eq!(untyped, claims());
        // A typ that is not pre-rendered gets the same header shape.
        let other = keys.sign("logout+jwt", &claims()).unwrap();
        assert_eq!(decode_json(&parts(&other)[0])["typ"], "logout+jwt");
        let _: Value = keys.verify(&other, Some("logout+jwt")).unwrap();
    }

    /// An independent verifier (jsonwebtoken) accepts our tokens against the published JWK.
    #[tokio::test]
    async fn tokens_verify_with_an_independent_library_and_the_jwks() {
        let keys = manager().await;
        let token = keys.sign("JWT", &claims()).unwrap();
        let jwks: Value = serde_json::from_slice(&keys.jwks()).unwrap();
        let jwk = &jwks["keys"][0];
        let decoding = jsonwebtoken::DecodingKey::from_rsa_components(
            jwk["n"].as_str().unwrap(),
            jwk["e"].as_str().unwrap(),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        // Its exp check uses the system clock; time is not what this test pins.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
        assert_eq!(data.claims, claims());
        assert_eq!(data.header.kid.as_deref(), jwk["kid"].as_str());
    }

    #[tokio::test]
    async fn verify_rejects_forged_and_mismatched_tokens() {
        let keys = manager().await;
        let kid = keys.active_kid().unwrap();
        let good = keys.sign("at+jwt", &claims()).unwrap();
        let p = parts(&good);
        let reject = |token: &str, typ: Option<&str>, why: &str| {
            let err = keys.verify::<Value>(token, typ).unwrap_err();
            assert!(matches!(err, KeyError::InvalidToken(_)), "{why}: {err:?}");
        };

        // alg none, with and without a signature.
        let none_header = b64json(&json!({"alg": "none", "typ": "at+jwt", "kid": kid}));
        reject(
            &format!("{none_header}.{}.", p[1]),
            Some("at+jwt"),
            "alg none",
        );
        reject(
            &format!("{none_header}.{}.{}", p[1], p[2]),
            None,
            "alg none signed",
        );

        // HS256 keyed with the public key (the classic algorithm-confusion attack).
        let hs_header = b64json(&json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}));
        let signing_input = format!("{hs_header}.{}", p[1]);
        for secret in [
            keys.jwks().to_vec(),
            URL_SAFE_NO_PAD
                .decode(
                    serde_json::from_slice::<Value>(&keys.jwks()).unwrap()["keys"][0]["n"]
                        .as_str()
                        .unwrap(),
                )
                .unwrap(),
        ] {
            let mac = hmac::sign(
                &hmac::Key::new(hmac::HMAC_SHA256, &secret),
                signing_input.as_bytes(),
            );
            let forged = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
            reject(&forged, Some("at+jwt"), "HS256 with public key");
        }

        // Tampered payload under the original signature.
        let mut altered = claims();
        altered["sub"] = json!("admin");
        reject(
            &format!("{}.{}.{}", p[0], b64json(&altered), p[2]),
            None,
            "tampered",
        );

        // Unknown and missing kid.
        let unknown = b64json(&json!({"alg": "RS256", "typ": "at+jwt", "kid": "nope"}));
        reject(&format!("{unknown}.{}.{}", p[1], p[2]), None, "unknown kid");
        let no_kid = b64json(&json!({"alg": "RS256", "typ": "at+jwt"}));
        reject(&format!("{no_kid}.{}.{}", p[1], p[2]), None, "no kid");

        // Critical extensions we do not understand.
        let crit = b64json(&json!({"alg": "RS256", "typ": "at+jwt", "kid": kid, "crit": ["exp"]}));
        reject(&format!("{crit}.{}.{}", p[1], p[2]), None, "crit");

        // Wrong or missing typ when one is expected.
        let id_token = keys.sign("JWT", &claims()).unwrap();
        reject(&id_token, Some("at+jwt"), "ID token as access token");
        reject(&good, Some("JWT"), "access token as ID token");

        // Garbage shapes.
        for garbage in ["", "a.b", "a.b.c.d", "...", &format!("{good}.")] {
            reject(garbage, None, "garbage");
        }

        // A key from another deployment is unknown here even with the same kid claimed.
        let stranger = manager().await;
        let foreign = stranger.sign("at+jwt", &claims()).unwrap();
        reject(&foreign, Some("at+jwt"), "foreign key");
    }

    #[test]
    fn typ_comparison_follows_rfc7515() {
        assert!(typ_matches("at+jwt", "at+jwt"));
        assert!(typ_matches("AT+JWT", "at+jwt"));
        assert!(typ_matches("application/at+jwt", "at+jwt"));
        assert!(typ_matches("Application/AT+JWT", "at+jwt"));
        assert!(typ_matches("jwt", "JWT"));
        assert!(!typ_matches("JWT", "at+jwt"));
        assert!(!typ_matches("application/jwt", "at+jwt"));
        assert!(!typ_matches("", "at+jwt"));
    }

    /// Two managers on one store: `ours` knows only generation 1; `theirs` has written and
    /// signs with generation 2, which `ours` has not loaded yet.
    async fn two_instances(issuer: &str) -> (KeyManager, KeyManager) {
        let store = memory_store().await;
        let ours = KeyManager::load_or_init(store.clone(), kek_a(), NOW)
            .await
            .unwrap()
            .with_issuer(issuer);
        let mut newer = crate::keys::generate_signing_key(&kek_a(), 2, NOW)
            .await
            .unwrap();
        newer.state = KeyState::Active;
        store.insert_signing_key(&newer).await.unwrap();
        let theirs = KeyManager::load_or_init(store, kek_a(), NOW).await.unwrap();
        assert_eq!(theirs.active_kid().unwrap(), newer.kid);
        (ours, theirs)
    }

    #[tokio::test]
    async fn unknown_kid_from_our_issuer_requests_a_reload_that_then_verifies_it() {
        let (ours, theirs) = two_instances("https://id.example").await;
        assert!(!ours.reload_requested());
        let token = theirs.sign("at+jwt", &claims()).unwrap();
        let err = ours.verify::<Value>(&token, Some("at+jwt")).unwrap_err();
        assert!(matches!(err, KeyError::InvalidToken(_)), "{err:?}");
        assert!(ours.reload_requested(), "an unknown kid of our issuer");
        // The signal holds a permit for whoever waits next.
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            ours.reload_signal().notified(),
        )
        .await
        .expect("the reload signal was raised");
        assert!(ours.reload().await.unwrap());
        assert!(!ours.reload_requested(), "a reload answers the request");
        let back: Value = ours.verify(&token, Some("at+jwt")).unwrap();
        assert_eq!(back, claims());
    }

    #[tokio::test]
    async fn unknown_kid_from_another_issuer_does_not_request_a_reload() {
        let (ours, theirs) = two_instances("https://other.example").await;
        let token = theirs.sign("at+jwt", &claims()).unwrap();
        assert!(ours.verify::<Value>(&token, Some("at+jwt")).is_err());
        assert!(!ours.reload_requested());
        // Nor without an issuer configured at all.
        let anonymous = manager().await;
        assert!(anonymous.verify::<Value>(&token, None).is_err());
        assert!(!anonymous.reload_requested());
    }

    #[tokio::test]
    async fn bad_signature_or_garbage_under_a_known_kid_does_not_request_a_reload() {
        let keys = manager().await.with_issuer("https://id.example");
        let good = keys.sign("at+jwt", &claims()).unwrap();
        let p = parts(&good);
        let mut altered = claims();
        altered["sub"] = json!("admin");
        let tampered = format!("{}.{}.{}", p[0], b64json(&altered), p[2]);
        assert!(keys.verify::<Value>(&tampered, None).is_err());
        // A kid we know, a stranger's signature.
        let stranger = manager().await;
        let header =
            b64json(&json!({"alg": "RS256", "typ": "at+jwt", "kid": keys.active_kid().unwrap()}));
        let forged = stranger.sign("at+jwt", &claims()).unwrap();
        let fp = parts(&forged);
        assert!(
            keys.verify::<Value>(&format!("{header}.{}.{}", fp[1], fp[2]), None)
                .is_err()
        );
        // Tokens refused before the kid is looked up.
        let none = b64json(&json!({"alg": "none", "kid": "nope"}));
        assert!(
            keys.verify::<Value>(&format!("{none}.{}.", p[1]), None)
                .is_err()
        );
        assert!(!keys.reload_requested());
    }
}
