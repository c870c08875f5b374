//! Validation of the `/authorize` parameters (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core
//! §3.1.2.1) into an [`AuthorizationRequest`]. Client and redirect URI first: until both are
//! known good, errors are shown at the OP (RFC 6749 §4.1.2.1, RFC 9700 §4.11.2); after that
//! they go back to the client.

use super::{AuthorizationResponse, Refusal, ResponseTarget, claims, pkce, redirect_uri};
use crate::clock::UnixTime;
use crate::error::{OAuthError, OAuthErrorCode};
use crate::model::{AuthorizationRequest, Client, GrantType, ResponseMode, Scope};
use crate::params::Params;
use crate::secret::random_token;
use crate::store::Store;

/// Prompt values we act on (OIDC Core §3.1.2.1); `select_account` is accepted and ignored.
const PROMPTS: &[&str] = &["none", "login", "consent", "select_account"];

/// The longest `login_hint` kept, in characters (an email address at most).
const LOGIN_HINT_CHARS: usize = 254;

/// The authorization-request parameters OAuth 2.0, PKCE and OIDC Core §3.1.2.1 define; each may
/// appear once (RFC 6749 §3.1). Anything else is ignored, however it was sent.
const AUTHORIZATION_PARAMETERS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "response_mode",
    "nonce",
    "display",
    "prompt",
    "max_age",
    "ui_locales",
    "claims_locales",
    "id_token_hint",
    "login_hint",
    "acr_values",
    "claims",
    "request",
    "request_uri",
    "code_challenge",
    "code_challenge_method",
];

/// What validation needs besides the parameters.
pub struct Validation<'a> {
    /// Where the client is looked up.
    pub clients: &'a dyn Store,
    /// `authorize.max_request_bytes`: the most all parameters together may take.
    pub max_request_bytes: usize,
    /// How long a pending request may wait (`tokens.authorization_request_ttl`).
    pub request_ttl: i64,
    /// The time the request is stamped with.
    pub now: UnixTime,
    /// The `sub` of an `id_token_hint` this OP issued to the client, if it is one.
    pub hint_subject: &'a dyn Fn(&Client, &str) -> Option<String>,
}

impl Validation<'_> {
    /// Validates an authorization request into the client and the typed request.
    pub async fn validate(
        &self,
        params: &Params,
    ) -> Result<(Client, AuthorizationRequest), Refusal> {
        let at_op = |m: &str| Refusal::AtOp(m.to_string());
        let client_id = params
            .get("client_id")
            .map_err(|e| Refusal::AtOp(e.to_string()))?
            .ok_or_else(|| at_op("The request does not name a client (client_id is missing)."))?;
        let client = self
            .clients
            .client(client_id)
            .await?
            .ok_or_else(|| at_op("The application that sent you here is not registered."))?;
        let redirect_uri = params
            .get("redirect_uri")
            .map_err(|e| Refusal::AtOp(e.to_string()))?
            .ok_or_else(|| at_op("The request has no redirect_uri."))?;
        if !redirect_uri::is_registered(&client, redirect_uri) {
            return Err(at_op(
                "The redirect_uri is not registered for this application, so you will not be sent back to it.",
            ));
        }

        let mode = match params.get("response_mode") {
            Ok(None | Some("query")) => Ok(ResponseMode::Query),
            Ok(Some("form_post")) => Ok(ResponseMode::FormPost),
            Ok(Some(other)) => Err(format!("response_mode '{other}' is not supported")),
            Err(e) => Err(e.to_string()),
        };
        let target = ResponseTarget {
            redirect_uri: redirect_uri.to_string(),
            mode: *mode.as_ref().unwrap_or(&ResponseMode::Query),
            state: params.get("state").ok().flatten().map(str::to_string),
        };
        let fail = |code: OAuthErrorCode, description: &str| {
            Refusal::AtClient(AuthorizationResponse::error(
                target.clone(),
                &OAuthError::new(code, description),
            ))
        };
        use OAuthErrorCode::*;
        // One cap on the whole request, whatever it carries: it is what a pending request
        // would write to the store.
        if params.size() > self.max_request_bytes {
            return Err(fail(
                InvalidRequest,
                &format!(
                    "the authorization request is larger than {} bytes",
                    self.max_request_bytes
                ),
            ));
        }
        if let Err(description) = mode {
            return Err(fail(InvalidRequest, &description));
        }
        if let Some(problem) = params.first_problem(AUTHORIZATION_PARAMETERS) {
            return Err(fail(InvalidRequest, &problem.to_string()));
        }
        if params.contains("request") {
            return Err(fail(
                RequestNotSupported,
                "request objects are not supported",
            ));
        }
        if params.contains("request_uri") {
            return Err(fail(RequestUriNotSupported, "request_uri is not supported"));
        }
        let single = |name: &str| params.get(name).ok().flatten();
        match single("response_type") {
            None => return Err(fail(InvalidRequest, "response_type is required")),
            Some("code") => {}
            Some(_) => {
                return Err(fail(
                    UnsupportedResponseType,
                    "only response_type=code is supported",
                ));
            }
        }
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(fail(
                UnauthorizedClient,
                "this client may not use the authorization code flow",
            ));
        }
        let scope = granted_scope(&client, single("scope"))
            .map_err(|e| Refusal::AtClient(AuthorizationResponse::error(target.clone(), &e)))?;
        let code_challenge = code_challenge(
            &client,
            single("code_challenge"),
            single("code_challenge_method"),
        )
        .map_err(|d| fail(InvalidRequest, d))?;
        let prompt = prompt(single("prompt")).map_err(|d| fail(InvalidRequest, &d))?;
        let max_age = match single("max_age") {
            None => None,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 0 => Some(n),
                _ => {
                    return Err(fail(
                        InvalidRequest,
                        "max_age must be a non-negative integer",
                    ));
                }
            },
        };
        let id_token_hint_sub = match single("id_token_hint") {
            None => None,
            Some(hint) => Some(
                (self.hint_subject)(&client, hint)
                    .ok_or_else(|| fail(InvalidRequest, "id_token_hint is not a valid ID token"))?,
            ),
        };
        // Only where a consented claim goes: claims outside the granted scope are dropped.
        let claims = single("claims")
            .map(claims::parse)
            .transpose()
            .map_err(|e| fail(InvalidRequest, &e.to_string()))?
            .map(|requested| claims::within_scope(requested, &scope));

        let request = AuthorizationRequest {
            id: random_token().expose().to_string(),
            client_id: client.client_id.clone(),
            // The URI actually sent: the code is bound to it (RFC 6749 §4.1.3).
            redirect_uri: redirect_uri.to_string(),
            scope,
            state: target.state.clone(),
            nonce: single("nonce").map(str::to_string),
            code_challenge,
            response_mode: target.mode,
            prompt,
            max_age,
            login_hint: single("login_hint").map(|h| h.chars().take(LOGIN_HINT_CHARS).collect()),
            id_token_hint_sub,
            authenticated_session: None,
            claims,
            created_at: self.now,
            expires_at: self.now + self.request_ttl,
        };
        Ok((client, request))
    }
}

/// The scopes granted: those requested that the client may have (RFC 6749 §3.3 lets the
/// server grant fewer). No `scope` at all, or nothing left, is `invalid_scope`.
fn granted_scope(client: &Client, requested: Option<&str>) -> Result<Scope, OAuthError> {
    let invalid = |d: String| OAuthError::new(OAuthErrorCode::InvalidScope, d);
    // RFC 6749 §3.3: without a default scope, a request without one is invalid_scope.
    let requested = requested.ok_or_else(|| invalid("scope is required".into()))?;
    let requested = Scope::parse(requested).map_err(|e| invalid(e.to_string()))?;
    let granted = requested.filter(|s| client.allowed_scopes.contains(s));
    if granted.is_empty() {
        return Err(invalid(
            "none of the requested scopes is allowed for this client".into(),
        ));
    }
    Ok(granted)
}

/// PKCE (RFC 7636 §4.3, RFC 9700 §2.1.1): S256 only; required for public clients.
fn code_challenge(
    client: &Client,
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<Option<String>, &'static str> {
    match (challenge, method) {
        (Some(challenge), Some("S256")) => {
            if pkce::is_valid_s256_challenge(challenge) {
                Ok(Some(challenge.to_string()))
            } else {
                Err("code_challenge is not a valid S256 challenge")
            }
        }
        (None, Some(_)) => Err("code_challenge_method was sent without code_challenge"),
        // A challenge without a method means `plain` (RFC 7636 §4.3).
        (Some(_), _) => Err("code_challenge_method must be S256 (plain is not supported)"),
        (None, None) if client.public => Err("public clients must use PKCE (S256)"),
        (None, None) => Ok(None),
    }
}

/// The `prompt` values (OIDC Core §3.1.2.1); `none` stands alone.
fn prompt(raw: Option<&str>) -> Result<Vec<String>, String> {
    let prompt: Vec<String> = raw
        .map(|p| {
            p.split(' ')
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = prompt.iter().find(|p| !PROMPTS.contains(&p.as_str())) {
        return Err(format!("prompt value '{bad}' is not supported"));
    }
    if prompt.iter().any(|p| p == "none") && prompt.len() > 1 {
        return Err("prompt=none cannot be combined with other values".into());
    }
    Ok(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(scopes: &[&str]) -> Client {
        Client {
            redirect_uris: vec![],
            allowed_scopes: Scope::from_tokens(scopes).unwrap(),
            first_party: false,
            ..Client::test_public()
        }
    }

    #[test]
    fn scope_is_intersected_with_what_the_client_may_have() {
        let c = client(&["openid", "email"]);
        assert_eq!(
            granted_scope(&c, Some("email openid profile openid"))
                .unwrap()
                .to_string(),
            "email openid"
        );
        assert_eq!(
            granted_scope(&c, Some("profile")).unwrap_err().code,
            OAuthErrorCode::InvalidScope
        );
        assert_eq!(
            granted_scope(&c, Some("openid \"x\"")).unwrap_err().code,
            OAuthErrorCode::InvalidScope
        );
    }

    #[test]
    fn a_request_without_scope_is_invalid_scope() {
        // RFC 6749 §3.3: Sesame has no default scope.
        let e = granted_scope(&client(&["openid"]), None).unwrap_err();
        assert_eq!(e.code, OAuthErrorCode::InvalidScope);
        assert_eq!(e.description.as_deref(), Some("scope is required"));
    }

    #[test]
    fn pkce_is_s256_only_and_required_of_public_clients() {
        let public = client(&["openid"]);
        let confidential = Client {
            public: false,
            ..client(&["openid"])
        };
        let good = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(
            code_challenge(&public, Some(good), Some("S256")),
            Ok(Some(good.to_string()))
        );
        assert!(code_challenge(&public, Some("short"), Some("S256")).is_err());
        assert!(code_challenge(&public, Some(good), Some("plain")).is_err());
        assert!(code_challenge(&public, Some(good), None).is_err());
        assert!(code_challenge(&public, None, Some("S256")).is_err());
        assert!(code_challenge(&public, None, None).is_err());
        assert_eq!(code_challenge(&confidential, None, None), Ok(None));
    }

    #[test]
    fn prompt_values_are_known_and_none_stands_alone() {
        assert_eq!(prompt(None), Ok(vec![]));
        assert_eq!(
            prompt(Some("login  consent")),
            Ok(vec!["login".to_string(), "consent".to_string()])
        );
        assert!(prompt(Some("none login")).is_err());
        assert!(prompt(Some("create")).is_err());
    }

    mod validate {
        use super::super::*;
        use crate::model::RequestedClaims;
        use std::sync::Arc;

        const NOW: UnixTime = 1_700_000_000;
        const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

        async fn store() -> Arc<dyn Store> {
            let store = crate::store::open("sqlite::memory:").await.unwrap();
            store
                .create_client(&Client {
                    client_id: "native".into(),
                    name: "Native".into(),
                    redirect_uris: vec!["http://127.0.0.1/cb".into()],
                    allowed_scopes: Scope::parse("openid email").unwrap(),
                    ..Client::test_public()
                })
                .await
                .unwrap();
            store
        }

        async fn validate(query: &str) -> Result<(Client, AuthorizationRequest), Refusal> {
            let store = store().await;
            let hint = |_: &Client, hint: &str| (hint == "good-hint").then(|| "ada".to_string());
            let validation = Validation {
                clients: &*store,
                max_request_bytes: 2048,
                request_ttl: 900,
                now: NOW,
                hint_subject: &hint,
            };
            validation.validate(&Params::parse(query.as_bytes())).await
        }

        fn base(extra: &str) -> String {
            format!(
                "client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcb&response_type=code\
                 &scope=openid+profile&state=st&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}"
            )
        }

        fn error_of(refusal: Refusal) -> (String, String) {
            let Refusal::AtClient(response) = refusal else {
                panic!("expected an answer at the client: {refusal:?}");
            };
            assert_eq!(response.target.state.as_deref(), Some("st"));
            let value = |k: &str| {
                response
                    .params
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            (value("error"), value("error_description"))
        }

        #[tokio::test]
        async fn a_valid_request_becomes_a_typed_request_bound_to_the_uri_sent() {
            // {"userinfo":{"email":null,"name":null}}
            let claims = "%7B%22userinfo%22%3A%7B%22email%22%3Anull%2C%22name%22%3Anull%7D%7D";
            let query = base(&format!(
                "&prompt=login&max_age=0&id_token_hint=good-hint&claims={claims}&nonce=n"
            ))
            .replace("scope=openid+profile", "scope=openid+email+profile");
            let (client, request) = validate(&query).await.unwrap();
            assert_eq!(client.client_id, "native");
            assert_eq!(request.redirect_uri, "http://127.0.0.1:5000/cb");
            assert_eq!(
                request.scope.to_string(),
                "openid email",
                "profile is not allowed"
            );
            assert_eq!(request.prompt, ["login"]);
            assert_eq!(request.max_age, Some(0));
            assert_eq!(request.id_token_hint_sub.as_deref(), Some("ada"));
            assert_eq!(
                request.claims.unwrap().userinfo,
                ["email"],
                "name is dropped with profile"
            );
            assert_eq!(request.expires_at, NOW + 900);
        }

        #[tokio::test]
        async fn claims_the_granted_scope_does_not_cover_are_dropped() {
            // {"id_token":{"email":null,"email_verified":null},"userinfo":{"name":null}}
            let claims = "%7B%22id_token%22%3A%7B%22email%22%3Anull%2C%22email_verified%22%3Anull%7D%2C%22userinfo%22%3A%7B%22name%22%3Anull%7D%7D";
            let openid_only =
                base(&format!("&claims={claims}")).replace("scope=openid+profile", "scope=openid");
            let (_, request) = validate(&openid_only).await.unwrap();
            assert_eq!(request.claims, Some(RequestedClaims::default()));
            let with_email = base(&format!("&claims={claims}"))
                .replace("scope=openid+profile", "scope=openid+email");
            let (_, request) = validate(&with_email).await.unwrap();
            let kept = request.claims.unwrap();
            assert_eq!(kept.id_token, ["email", "email_verified"]);
            assert!(kept.userinfo.is_empty(), "profile was not granted");
        }

        #[tokio::test]
        async fn untrusted_client_or_redirect_uri_is_refused_at_the_op() {
            for query in [
                "redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb",
                "client_id=nobody&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb",
                "client_id=native",
                "client_id=native&redirect_uri=http%3A%2F%2Flocalhost%2Fcb",
                "client_id=native&client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb",
            ] {
                assert!(
                    matches!(validate(query).await, Err(Refusal::AtOp(_))),
                    "{query}"
                );
            }
        }

        #[tokio::test]
        async fn bad_parameters_are_answered_at_the_client() {
            let big = "x".repeat(2048);
            for (extra, error, says) in [
                (
                    format!("&junk={big}"),
                    "invalid_request",
                    "larger than 2048 bytes",
                ),
                ("&request=eyJ".into(), "request_not_supported", ""),
                ("&max_age=-1".into(), "invalid_request", "max_age"),
                (
                    "&prompt=none+login".into(),
                    "invalid_request",
                    "prompt=none",
                ),
                (
                    "&id_token_hint=forged".into(),
                    "invalid_request",
                    "id_token_hint",
                ),
                ("&claims=%5B%5D".into(), "invalid_request", "claims"),
                (
                    "&response_mode=fragment".into(),
                    "invalid_request",
                    "response_mode",
                ),
            ] {
                let (code, description) = error_of(validate(&base(&extra)).await.unwrap_err());
                assert_eq!(code, error, "{extra:.40}");
                assert!(description.contains(says), "{extra:.40}: {description}");
            }
            let no_scope = base("").replace("&scope=openid+profile", "");
            assert_eq!(
                error_of(validate(&no_scope).await.unwrap_err()).0,
                "invalid_scope"
            );
        }
    }
}
