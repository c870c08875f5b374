//! Plain records: what Sesame stores. No I/O here.

use crate::clock::UnixTime;
use crate::secret::TokenHash;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

mod delivery;
pub use delivery::{OutboxCounts, OutboxItem, OutboxStatus, ResetToken};
mod api;
pub use api::{AccessTokenFormat, Api, ApiScope, ClientApi};

/// The opaque, never-reassigned identifier of a user; it is the `sub` claim.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub String);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person who can log in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Normalised (trimmed, lower-cased) and unique.
    pub email: String,
    pub name: Option<String>,
    pub email_verified: bool,
    /// An argon2id PHC string.
    pub password_hash: String,
    pub password_changed_at: UnixTime,
    pub disabled: bool,
    pub created_at: UnixTime,
}

impl User {
    /// Whether the account may sign in and use its tokens: the one place this rule lives.
    pub fn is_active(&self) -> bool {
        !self.disabled
    }
}

/// A scope token broke RFC 6749 §3.3's syntax.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a valid scope")]
pub struct InvalidScope(pub String);

/// A set of OAuth 2.0 scope tokens (RFC 6749 §3.3): each one valid, none twice, kept in the
/// order first seen. It prints space-separated and is stored as a list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<String>", into = "Vec<String>")]
pub struct Scope(Vec<String>);

impl Scope {
    /// Parses a space-separated scope string, as sent in a `scope` parameter.
    pub fn parse(value: &str) -> Result<Scope, InvalidScope> {
        Self::from_tokens(value.split(' '))
    }

    /// Builds a scope from single tokens; empty ones are skipped, repeats dropped.
    pub fn from_tokens<S: AsRef<str>>(
        tokens: impl IntoIterator<Item = S>,
    ) -> Result<Scope, InvalidScope> {
        let mut set: Vec<String> = Vec::new();
        for token in tokens {
            let token = token.as_ref();
            if token.is_empty() {
                continue;
            }
            // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
            let valid = token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
            if !valid {
                return Err(InvalidScope(token.escape_default().to_string()));
            }
            if !set.iter().any(|t| t == token) {
                set.push(token.to_string());
            }
        }
        Ok(Scope(set))
    }

    /// Whether `token` is in the set.
    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    /// Whether every token of `self` is in `other`.
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.iter().all(|t| other.contains(t))
    }

    /// The tokens of `self` that `keep` accepts, in `self`'s order.
    pub fn filter(&self, keep: impl Fn(&str) -> bool) -> Scope {
        Scope(self.0.iter().filter(|t| keep(t)).cloned().collect())
    }

    /// `self` and then the tokens of `other` it lacks.
    pub fn union(&self, other: &Scope) -> Scope {
        let mut set = self.0.clone();
        set.extend(
            other
                .iter()
                .filter(|t| !self.contains(t))
                .map(str::to_string),
        );
        Scope(set)
    }

    /// The tokens, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl TryFrom<Vec<String>> for Scope {
    type Error = InvalidScope;
    fn try_from(tokens: Vec<String>) -> Result<Self, Self::Error> {
        Scope::from_tokens(tokens)
    }
}

impl From<Scope> for Vec<String> {
    fn from(scope: Scope) -> Self {
        scope.0
    }
}

/// An OAuth 2.0 grant type a client may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    /// The RFC 6749 name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "authorization_code" => Ok(GrantType::AuthorizationCode),
            "refresh_token" => Ok(GrantType::RefreshToken),
            "client_credentials" => Ok(GrantType::ClientCredentials),
            other => Err(format!("unknown grant type '{other}'")),
        }
    }
}

/// How a client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A public client: no secret, PKCE required.
    None,
}

impl TokenEndpointAuthMethod {
    /// The registered name (RFC 7591).
    pub fn as_str(self) -> &'static str {
        match self {
            TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
            TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
            TokenEndpointAuthMethod::None => "none",
        }
    }
}

impl FromStr for TokenEndpointAuthMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "client_secret_basic" => Ok(Self::ClientSecretBasic),
            "client_secret_post" => Ok(Self::ClientSecretPost),
            "none" => Ok(Self::None),
            other => Err(format!("unknown token endpoint auth method '{other}'")),
        }
    }
}

/// A registered relying party.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    /// SHA-256 of the generated secret; `None` for public clients.
    pub secret_hash: Option<TokenHash>,
    /// Exact strings; a request's `redirect_uri` must equal one byte for byte.
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    /// Scopes the client may request.
    pub allowed_scopes: Scope,
    /// The one way this client may authenticate at the token endpoint (RFC 7591 §2):
    /// `client_secret_basic` or `client_secret_post` for confidential clients, `none` for public.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub public: bool,
    /// First-party clients skip the consent page.
    pub first_party: bool,
    pub created_at: UnixTime,
    /// When a code redemption also issues a refresh token.
    pub refresh_tokens: RefreshTokenPolicy,
    /// Origins (`scheme://host[:port]`) registered for browser calls (CORS) beyond those of
    /// the redirect URIs (`crate::clients::cors_origins` gives both).
    pub allowed_origins: Vec<String>,
    /// Where Sesame POSTs a logout token when a session the client took part in ends
    /// (OpenID Connect Back-Channel Logout 1.0 §2.2); https, or http on loopback.
    pub backchannel_logout_uri: Option<String>,
}

/// When a client gets a refresh token with the tokens of a code redemption (it must also be
/// allowed the `refresh_token` grant).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshTokenPolicy {
    /// With every code redemption.
    Always,
    /// Only when the granted scope includes `offline_access` (OIDC Core §11): requested,
    /// allowed for the client and consented to.
    #[default]
    OfflineAccess,
    /// Never.
    Never,
}

impl RefreshTokenPolicy {
    /// The name used in the CLI and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshTokenPolicy::Always => "always",
            RefreshTokenPolicy::OfflineAccess => "offline_access",
            RefreshTokenPolicy::Never => "never",
        }
    }
}

impl FromStr for RefreshTokenPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "always" => Ok(Self::Always),
            "offline_access" => Ok(Self::OfflineAccess),
            "never" => Ok(Self::Never),
            other => Err(format!(
                "unknown refresh-token policy '{other}' (expected always, offline_access or never)"
            )),
        }
    }
}

#[cfg(test)]
impl Client {
    /// A public, first-party client `c` for unit tests: one redirect URI
    /// (`https://rp.example/cb`), the code grant, scope `openid`. Tests override what they
    /// exercise with struct update syntax.
    pub(crate) fn test_public() -> Client {
        Client {
            client_id: "c".into(),
            name: "C".into(),
            secret_hash: None,
            redirect_uris: vec!["https://rp.example/cb".into()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            allowed_scopes: Scope::parse("openid").unwrap_or_default(),
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            public: true,
            first_party: true,
            created_at: 0,
            refresh_tokens: RefreshTokenPolicy::OfflineAccess,
            allowed_origins: vec![],
            backchannel_logout_uri: None,
        }
    }
}

impl Client {
    /// Whether this client may use `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// A logged-in browser at the IdP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 of the cookie value.
    pub id_hash: TokenHash,
    /// The public session id (`sid` claim); not the cookie value.
    pub sid: String,
    pub user_id: UserId,
    pub auth_time: UnixTime,
    /// Authentication methods used (`amr`), e.g. `["pwd"]`.
    pub amr: Vec<String>,
    pub created_at: UnixTime,
    /// When the session was last used (set to `created_at` when it starts); the idle timeout
    /// counts from here.
    pub last_seen_at: UnixTime,
    /// Absolute expiry.
    pub expires_at: UnixTime,
}

/// How the authorization response is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// The claims Sesame holds about a person (OIDC Core §5.1), in the order it writes them, each
/// with the scope whose consent releases it (§5.4): the one table that both the `claims`
/// parameter (what may be asked for) and the tokens (what a scope brings) read.
pub const USER_CLAIMS: &[(&str, &str)] = &[
    ("email", "email"),
    ("email_verified", "email"),
    ("name", "profile"),
];

/// The scope whose consent releases `claim`, if Sesame holds that claim ([`USER_CLAIMS`]).
pub fn scope_of_claim(claim: &str) -> Option<&'static str> {
    USER_CLAIMS
        .iter()
        .find(|(name, _)| *name == claim)
        .map(|(_, scope)| *scope)
}

/// The `claims` request parameter (OIDC Core §5.5), reduced to the claim names Sesame has:
/// which to put in the ID token and which to return at userinfo, beyond what the scopes give.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedClaims {
    /// Claims asked for in the ID token.
    #[serde(default)]
    pub id_token: Vec<String>,
    /// Claims asked for at the UserInfo endpoint.
    #[serde(default)]
    pub userinfo: Vec<String>,
}

/// A validated `/authorize` request waiting for login or consent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// 256-bit random handle carried by the hosted pages.
    pub id: String,
    pub client_id: String,
    pub redirect_uri: String,
    /// What the client asked for, less what it may not have.
    pub scope: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub response_mode: ResponseMode,
    /// `prompt` values (`login`, `consent`; `none` never waits).
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// `sub` of a verified `id_token_hint`: only that user may be signed in silently.
    #[serde(default)]
    pub id_token_hint_sub: Option<String>,
    /// Set once the person has logged in for this request (satisfies `prompt=login`/`max_age`).
    #[serde(default)]
    pub authenticated_session: Option<String>,
    /// The validated `claims` parameter, if one was sent.
    #[serde(default)]
    pub claims: Option<RequestedClaims>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

/// The access token a code redemption is about to mint: its id and expiry are recorded with the
/// code in the same write that spends it, before the token exists, so that a replay racing the
/// redemption can still revoke it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedToken {
    pub jti: String,
    pub expires_at: UnixTime,
}

impl PlannedToken {
    /// The token as recorded once issued under `grant_id`.
    pub fn issued_under(self, grant_id: &str) -> IssuedToken {
        IssuedToken {
            jti: self.jti,
            expires_at: self.expires_at,
            grant_id: grant_id.to_string(),
        }
    }
}

/// An access token minted at a code redemption, recorded against the code so that a replayed
/// code can revoke it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    pub jti: String,
    pub expires_at: UnixTime,
    /// The grant the token belongs to: the code's [`AuthorizationCode::grant_id`].
    pub grant_id: String,
}

/// A single-use authorization code (RFC 6749 §4.1.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: TokenHash,
    pub client_id: String,
    pub user_id: UserId,
    pub redirect_uri: String,
    pub scope: Scope,
    pub nonce: Option<String>,
    /// S256 challenge, if the request carried one.
    pub code_challenge: Option<String>,
    pub auth_time: UnixTime,
    /// `sid` of the session that approved it.
    pub sid: String,
    pub amr: Vec<String>,
    /// The grant this code starts: random, set when the code is issued, shared by every token
    /// issued from it (and, later, by its refresh-token family), so one grant can be revoked
    /// as a whole.
    pub grant_id: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub redeemed_at: Option<UnixTime>,
    /// The access token issued at redemption.
    pub issued: Option<IssuedToken>,
    /// The `claims` parameter of the authorization request, carried to the tokens.
    pub claims: Option<RequestedClaims>,
}

/// What happened when a code was presented.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeRedemption {
    /// First, valid use: the code is now spent and `issued` recorded against it.
    Redeemed(AuthorizationCode),
    /// The code was already spent; carries what the first redemption issued, to be revoked.
    Replayed(AuthorizationCode),
    /// Unknown or expired.
    Invalid,
}

/// A user's standing approval of scopes for a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consent {
    pub user_id: UserId,
    pub client_id: String,
    pub scopes: Scope,
    pub granted_at: UnixTime,
}

/// Where a signing key is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published in JWKS, not yet signing.
    Next,
    /// Signs new tokens.
    Active,
    /// Published so older tokens still verify; no longer signs.
    Retired,
    /// Withdrawn by an operator (compromised): not published, verifies nothing.
    Revoked,
}

impl KeyState {
    /// Its stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Revoked => "revoked",
        }
    }
}

impl FromStr for KeyState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "next" => Ok(KeyState::Next),
            "active" => Ok(KeyState::Active),
            "retired" => Ok(KeyState::Retired),
            "revoked" => Ok(KeyState::Revoked),
            other => Err(format!("unknown key state '{other}'")),
        }
    }
}

/// A signing key as stored: public JWK in the clear, private key encrypted under the KEK.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    /// RFC 7638 thumbprint.
    pub kid: String,
    pub alg: String,
    /// The public JWK as JSON.
    pub public_jwk: String,
    /// AES-256-GCM: 12-byte nonce followed by ciphertext and tag, of the PKCS#8 DER private key.
    pub private_key_enc: Vec<u8>,
    /// While `sesame keys rewrap` runs: the same private key sealed under the new KEK, stored
    /// beside the old blob until it replaces it, so every key stays readable under one of the
    /// two KEKs whatever step a crash interrupts.
    pub private_key_enc_rewrapped: Option<Vec<u8>>,
    pub state: KeyState,
    pub created_at: UnixTime,
    /// When it starts (or started) to sign.
    pub activates_at: UnixTime,
    /// When it stopped signing (retired) or was revoked; `None` while next or active.
    pub retires_at: Option<UnixTime>,
    /// Unique, increasing; a conditional insert on it lets instances agree without a leader.
    pub generation: i64,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

/// How often tokens signed by one key were presented back to Sesame (userinfo,
/// introspection), and when last: what tells an operator that retiring a key is safe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUsage {
    pub kid: String,
    pub uses: i64,
    pub last_seen_at: UnixTime,
}

/// The login throttle for one key (a hashed email, or an IP).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle {
    /// Consecutive failures.
    pub failures: i64,
    /// No attempt is checked before this time.
    pub locked_until: Option<UnixTime>,
}

/// A refresh-token family (RFC 9700 §4.14.2): the refresh tokens of one grant, each replacing
/// the one before. One record per grant: only the newest token (`current_hash`) can be
/// redeemed; every earlier one stays known (`token_hashes`) so that presenting it again is
/// recognised as reuse. What the tokens of the grant repeat (the login, scope, `claims`) is
/// kept here, so a refresh needs no other record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshFamily {
    /// The grant id: the code's [`AuthorizationCode::grant_id`].
    pub grant_id: String,
    pub client_id: String,
    pub user_id: UserId,
    /// The scope granted with the code; every refresh token of the family has it (RFC 6749
    /// §6), a refresh may ask for less for its access token, never more.
    pub scope: Scope,
    /// The IdP session's public id (`sid`) the grant was approved in.
    pub sid: String,
    pub auth_time: UnixTime,
    pub amr: Vec<String>,
    /// The `claims` request parameter of the authorization (OIDC Core §5.5).
    pub claims: Option<RequestedClaims>,
    /// Issued for `offline_access`: the family outlives the session (logout spares it).
    pub offline: bool,
    pub created_at: UnixTime,
    /// The absolute end of the family, whatever its use.
    pub expires_at: UnixTime,
    /// SHA-256 of the one refresh token that may be redeemed now.
    pub current_hash: TokenHash,
    /// When the current token was issued.
    pub current_issued_at: UnixTime,
    /// When the current token expires unused (idle lifetime, never after `expires_at`).
    pub current_expires_at: UnixTime,
    /// Every token the family ever had, the current one included.
    pub token_hashes: Vec<TokenHash>,
    /// What the last rotation answered, for a retry of it (see [`RetryPair`]).
    pub retry: Option<RetryPair>,
    /// When the family was revoked (reuse, revocation, logout); revoked families stay revoked.
    pub revoked_at: Option<UnixTime>,
}

impl RefreshFamily {
    /// Whether the current token can be redeemed at `now`.
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now && self.current_expires_at > now
    }

    /// Whether `user` has changed (or reset) their password since the sign-in this grant comes
    /// from: such a change ends the grant.
    pub fn predates_password_change(&self, user: &User) -> bool {
        user.password_changed_at > self.auth_time
    }
}

/// The response of a family's last rotation, sealed under the key-encryption key, so that a
/// retry of that very request within the window gets the same pair instead of a second one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPair {
    /// The token that rotation redeemed.
    pub previous_hash: TokenHash,
    /// SHA-256 of what identifies the request (client and requested scope).
    pub request_hash: TokenHash,
    /// The retry window ends here (exclusive).
    pub until: UnixTime,
    /// The sealed response (AES-256-GCM, bound to the grant and `previous_hash`).
    pub sealed: Vec<u8>,
}

/// One rotation of a family: what replaces its current token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshRotation {
    pub new_hash: TokenHash,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    /// `None` when the retry window is disabled.
    pub retry: Option<RetryPair>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_parses_as_a_set_in_first_seen_order() {
        let scope = Scope::parse("  email openid  email profile").unwrap();
        assert_eq!(scope.to_string(), "email openid profile");
        assert!(scope.contains("openid") && !scope.contains("open"));
        assert!(Scope::parse("").unwrap().is_empty());
        for bad in ["openid \"x\"", "a\\b", "tab\there", "caf\u{e9}"] {
            assert!(Scope::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scope_set_operations() {
        let granted = Scope::parse("openid email").unwrap();
        let wider = Scope::parse("openid email profile").unwrap();
        assert!(granted.is_subset_of(&wider));
        assert!(!wider.is_subset_of(&granted));
        assert_eq!(
            granted
                .union(&Scope::parse("profile openid").unwrap())
                .to_string(),
            "openid email profile"
        );
        assert_eq!(wider.filter(|s| s != "email").to_string(), "openid profile");
    }

    #[test]
    fn scope_is_stored_as_a_list_and_validated_when_read_back() {
        let scope = Scope::parse("openid email").unwrap();
        let json = serde_json::to_string(&scope).unwrap();
        assert_eq!(json, r#"["openid","email"]"#);
        assert_eq!(serde_json::from_str::<Scope>(&json).unwrap(), scope);
        assert!(serde_json::from_str::<Scope>(r#"["ok","bad\"one"]"#).is_err());
    }
}

/// One entry of the audit trail (issue 10): a security event, when it happened, whom and what
/// it concerned, and how it ended. Never a secret: no password, token, code or cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// When it happened.
    pub at: UnixTime,
    /// What happened (`login`, `token_revoked`, …: `audit::AuditEvent::kind`).
    pub kind: String,
    /// How it ended (`success`, `bad_credentials`, …).
    pub outcome: String,
    /// The user concerned, if known.
    pub user_id: Option<UserId>,
    /// The client concerned, if any.
    pub client_id: Option<String>,
    /// The address the request came from, if it came over HTTP.
    pub ip: Option<String>,
    /// A short, secret-free note (a key id, the number of sessions ended, …).
    pub detail: Option<String>,
    /// When the entry may be deleted: `at` plus the configured retention.
    pub expires_at: UnixTime,
}

/// Which audit entries to read: all conditions given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only entries about this user.
    pub user_id: Option<UserId>,
    /// Only entries about this client.
    pub client_id: Option<String>,
    /// Only entries at or after this time.
    pub since: Option<UnixTime>,
    /// At most this many, the newest (0: no limit).
    pub limit: u32,
}
