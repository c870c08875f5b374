//! The authorization core (RFC 6749 §4.1, OIDC Core §3.1.2), with no actix types: validation of
//! the `/authorize` parameters into an [`AuthorizationRequest`] ([`request`]), the pure decision
//! of what a request needs next ([`decision`]), and the store-backed steps that hold a request
//! for the hosted pages, record consent and issue the code ([`Authorizer`]).
//!
//! `oauth/authorize.rs` and the hosted pages in `ui/` are adapters over this module: they parse,
//! call it, and map the [`Outcome`] or [`Refusal`] to a response (`http::response_mode`).

pub mod claims;
pub mod decision;
pub mod limit;
pub mod pkce;
pub mod redirect_uri;
pub mod request;

use crate::accounts::Accounts;
use crate::clock::UnixTime;
use crate::error::{OAuthError, OAuthErrorCode};
use crate::model::{AuthorizationCode, AuthorizationRequest, Client, ResponseMode, Session, User};
use crate::secret::{random_id, random_token};
use crate::store::{Store, StoreError};
use decision::Decision;
use limit::PendingLimit;
use std::net::IpAddr;

/// Where and how an authorization response goes, known once client and redirect URI are valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseTarget {
    /// The redirect URI the request sent (and the client registered).
    pub redirect_uri: String,
    /// How the response travels (query redirect or form_post page).
    pub mode: ResponseMode,
    /// The request's `state`, echoed (RFC 6749 §4.1.2).
    pub state: Option<String>,
}

impl ResponseTarget {
    /// The target of a validated request.
    pub fn of(request: &AuthorizationRequest) -> Self {
        Self {
            redirect_uri: request.redirect_uri.clone(),
            mode: request.response_mode,
            state: request.state.clone(),
        }
    }
}

/// An authorization response for the client (RFC 6749 §4.1.2, §4.1.2.1): its parameters,
/// before `state` and `iss` (RFC 9207) are added by the response mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationResponse {
    /// Where it goes.
    pub target: ResponseTarget,
    /// `code`, or `error` and `error_description`.
    pub params: Vec<(&'static str, String)>,
}

impl AuthorizationResponse {
    /// A successful response carrying `code`.
    pub fn code(target: ResponseTarget, code: String) -> Self {
        Self {
            target,
            params: vec![("code", code)],
        }
    }

    /// An error response.
    pub fn error(target: ResponseTarget, error: &OAuthError) -> Self {
        let mut params = vec![("error", error.code.as_str().to_string())];
        if let Some(d) = &error.description {
            params.push(("error_description", d.clone()));
        }
        Self { target, params }
    }
}

/// A hosted page a pending request waits at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    Login,
    Consent,
}

impl Interaction {
    /// The page's path.
    pub fn path(self) -> &'static str {
        match self {
            Interaction::Login => "/login",
            Interaction::Consent => "/consent",
        }
    }

    /// Where the browser goes for the pending request `request_id`: `/login?request=…`.
    pub fn location(self, request_id: &str) -> String {
        format!("{}?request={request_id}", self.path())
    }
}

/// What to answer a request with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send the browser to a hosted page for the pending request with this id.
    Interact(Interaction, String),
    /// Answer the client at its redirect URI.
    Respond(AuthorizationResponse),
}

/// Why a request gets no answer at the client.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The client or redirect URI cannot be trusted: the person is told at the OP, never
    /// redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.11.2).
    #[error("{0}")]
    AtOp(String),
    /// The client may be answered, with this error (RFC 6749 §4.1.2.1).
    #[error("refused at the client")]
    AtClient(AuthorizationResponse),
    /// Too many pending requests from one address: nothing was written.
    #[error("too many authorization requests; retry after {retry_after} s")]
    Throttled { retry_after: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a request reached [`Authorizer::proceed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Fresh from `/authorize`, anonymous: holding it for a page counts against `ip`.
    New { ip: Option<IpAddr> },
    /// Resumed after the person signed in at the login page.
    Resumed,
}

/// The authorization steps that touch the store, for one request at `now`.
pub struct Authorizer<'a> {
    /// Pending requests, consents and codes.
    pub store: &'a dyn Store,
    /// The one "user is active" lookup.
    pub accounts: &'a Accounts,
    /// The per-IP limit on new pending requests.
    pub pending_limit: &'a PendingLimit,
    /// `tokens.code_ttl`, seconds.
    pub code_ttl: i64,
    /// The time every rule here uses.
    pub now: UnixTime,
}

impl Authorizer<'_> {
    /// Decides what a validated request needs next and does it: hold it for the login or
    /// consent page, refuse `prompt=none`, or issue the code.
    pub async fn proceed(
        &self,
        client: &Client,
        mut request: AuthorizationRequest,
        session: Option<Session>,
        arrival: Arrival,
    ) -> Result<Outcome, Refusal> {
        let user = match &session {
            Some(s) => self.accounts.active_user(&s.user_id).await?,
            None => None,
        };
        let consent = match (&user, client.first_party) {
            (Some(u), false) => self.store.consent(&u.id, &client.client_id).await?,
            _ => None,
        };
        let decision = decision::decide(
            &request,
            client,
            session.as_ref(),
            user.as_ref(),
            consent.as_ref(),
            self.now,
        );
        match (decision, session, user) {
            (Decision::IssueCode, Some(session), Some(user)) => {
                self.issue_code(&request, &session, &user).await
            }
            (Decision::Consent, Some(session), _) => {
                request.authenticated_session = Some(session.sid.clone());
                self.hold(request, Interaction::Consent, arrival).await
            }
            (Decision::Error(code), _, _) => Ok(refuse(&request, code, decision_message(code))),
            // Login, or a decision without the session it needs (never the case).
            _ => self.hold(request, Interaction::Login, arrival).await,
        }
    }

    /// Stores the request for a hosted page. A new, anonymous request is counted against its
    /// address first, so that unauthenticated traffic cannot fill the store.
    async fn hold(
        &self,
        request: AuthorizationRequest,
        page: Interaction,
        arrival: Arrival,
    ) -> Result<Outcome, Refusal> {
        if let Arrival::New { ip } = arrival {
            self.pending_limit
                .check(ip)
                .map_err(|retry_after| Refusal::Throttled { retry_after })?;
        }
        self.store.put_authorization_request(&request).await?;
        Ok(Outcome::Interact(page, request.id))
    }

    /// Records the person's approval (added to what they approved before for this client) and
    /// issues the code. The request must have been taken from the store first.
    pub async fn approve(
        &self,
        request: &AuthorizationRequest,
        session: &Session,
        user: &User,
    ) -> Result<Outcome, Refusal> {
        // Remembered per user and client: what was approved before, and this request, merged
        // atomically in the store so two tabs cannot lose each other's approval.
        self.store
            .grant_consent(&user.id, &request.client_id, &request.scope, self.now)
            .await?;
        crate::audit::record(
            self.store,
            self.now,
            crate::audit::AuditEvent::ConsentGranted {
                user_id: user.id.clone(),
                client_id: request.client_id.clone(),
                scope: request.scope.to_string(),
            },
        )
        .await;
        self.issue_code(request, session, user).await
    }

    /// Issues a single-use code (RFC 6749 §4.1.2) for an approved request, bound to the
    /// redirect URI the request sent. A request that waited in the store must have been taken
    /// from it first (one request, one code).
    pub async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        session: &Session,
        user: &User,
    ) -> Result<Outcome, Refusal> {
        let code = random_token();
        let record = AuthorizationCode {
            code_hash: code.hash(),
            client_id: request.client_id.clone(),
            user_id: user.id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            scope: request.scope.clone(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            auth_time: session.auth_time,
            sid: session.sid.clone(),
            amr: session.amr.clone(),
            created_at: self.now,
            expires_at: self.now + self.code_ttl,
            redeemed_at: None,
            issued: None,
            grant_id: random_id(),
            claims: request.claims.clone(),
        };
        self.store.insert_code(&record).await?;
        Ok(Outcome::Respond(AuthorizationResponse::code(
            ResponseTarget::of(request),
            code.expose().to_string(),
        )))
    }
}

/// Answers a request with an error at the client's redirect URI.
pub fn refuse(request: &AuthorizationRequest, code: OAuthErrorCode, description: &str) -> Outcome {
    Outcome::Respond(AuthorizationResponse::error(
        ResponseTarget::of(request),
        &OAuthError::new(code, description),
    ))
}

/// Answers a pending request with `access_denied`: the person declined (RFC 6749 §4.1.2.1).
pub fn deny(request: &AuthorizationRequest) -> Outcome {
    refuse(
        request,
        OAuthErrorCode::AccessDenied,
        "the user declined the request",
    )
}

fn decision_message(code: OAuthErrorCode) -> &'static str {
    match code {
        OAuthErrorCode::ConsentRequired => "consent is required but prompt=none was sent",
        _ => "login is required but prompt=none was sent",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::config::FileConfig;
    use crate::model::{Scope, UserId};
    use crate::secret::TokenHash;
    use std::sync::Arc;

    const NOW: UnixTime = 1_700_000_000;

    struct Fixture {
        store: Arc<dyn Store>,
        accounts: Accounts,
        limit: PendingLimit,
        user: User,
        session: Session,
    }

    impl Fixture {
        async fn new(per_minute: u32) -> Fixture {
            let store = crate::store::open("sqlite::memory:").await.unwrap();
            let clock: Arc<dyn crate::clock::Clock> = Arc::new(FixedClock::new(NOW));
            let config = FileConfig::default().resolve().unwrap();
            let accounts = Accounts::new(store.clone(), &config, clock.clone());
            let user = User {
                id: UserId("ada".into()),
                email: "ada@example.com".into(),
                name: None,
                email_verified: true,
                password_hash: String::new(),
                password_changed_at: 0,
                disabled: false,
                created_at: 0,
            };
            store.create_user(&user).await.unwrap();
            let session = Session {
                id_hash: TokenHash::of("cookie"),
                sid: "sid-1".into(),
                user_id: user.id.clone(),
                auth_time: NOW - 10,
                amr: vec!["pwd".into()],
                created_at: NOW - 10,
                last_seen_at: NOW - 10,
                expires_at: NOW + 3600,
            };
            Fixture {
                store,
                accounts,
                limit: PendingLimit::new(per_minute, clock),
                user,
                session,
            }
        }

        fn authorizer(&self) -> Authorizer<'_> {
            Authorizer {
                store: &*self.store,
                accounts: &self.accounts,
                pending_limit: &self.limit,
                code_ttl: 60,
                now: NOW,
            }
        }
    }

    fn client(first_party: bool) -> Client {
        Client {
            allowed_scopes: Scope::parse("openid email").unwrap(),
            first_party,
            ..Client::test_public()
        }
    }

    fn request(id: &str) -> AuthorizationRequest {
        AuthorizationRequest {
            id: id.into(),
            client_id: "c".into(),
            redirect_uri: "https://rp.example/cb".into(),
            scope: Scope::parse("openid email").unwrap(),
            state: Some("st".into()),
            nonce: None,
            code_challenge: None,
            response_mode: ResponseMode::Query,
            prompt: vec![],
            max_age: None,
            login_hint: None,
            id_token_hint_sub: None,
            authenticated_session: None,
            claims: None,
            created_at: NOW,
            expires_at: NOW + 900,
        }
    }

    const FROM: Arrival = Arrival::New {
        ip: Some(std::net::IpAddr::V4(std::net::Ipv4Addr::new(
            203, 0, 113, 5,
        ))),
    };

    #[tokio::test]
    async fn new_requests_over_the_per_ip_limit_are_refused_and_not_stored() {
        let f = Fixture::new(1).await;
        let a = f.authorizer();
        let first = a.proceed(&client(true), request("r1"), None, FROM).await;
        assert_eq!(
            first.unwrap(),
            Outcome::Interact(Interaction::Login, "r1".into())
        );
        let second = a.proceed(&client(true), request("r2"), None, FROM).await;
        assert!(matches!(
            second,
            Err(Refusal::Throttled { retry_after: 60 })
        ));
        assert!(
            f.store
                .authorization_request("r1", NOW)
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            f.store
                .authorization_request("r2", NOW)
                .await
                .unwrap()
                .is_none()
        );
        // A request resumed after login is not a new one: it is not counted.
        let resumed = a
            .proceed(&client(true), request("r3"), None, Arrival::Resumed)
            .await;
        assert!(matches!(
            resumed,
            Ok(Outcome::Interact(Interaction::Login, _))
        ));
    }

    #[tokio::test]
    async fn consent_holds_the_request_for_the_session_that_signed_in() {
        let f = Fixture::new(60).await;
        let outcome = f
            .authorizer()
            .proceed(&client(false), request("r1"), Some(f.session.clone()), FROM)
            .await
            .unwrap();
        assert_eq!(
            outcome,
            Outcome::Interact(Interaction::Consent, "r1".into())
        );
        let held = f
            .store
            .authorization_request("r1", NOW)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(held.authenticated_session.as_deref(), Some("sid-1"));
    }

    #[tokio::test]
    async fn a_disabled_user_s_session_answers_nothing() {
        let f = Fixture::new(60).await;
        f.store.disable_user(&f.user.id).await.unwrap();
        let mut silent = request("r1");
        silent.prompt = vec!["none".into()];
        let outcome = f
            .authorizer()
            .proceed(&client(true), silent, Some(f.session.clone()), FROM)
            .await
            .unwrap();
        let Outcome::Respond(response) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(response.params[0], ("error", "login_required".to_string()));
    }

    #[tokio::test]
    async fn approval_merges_consent_and_issues_a_code_bound_to_the_request() {
        let f = Fixture::new(60).await;
        f.store
            .grant_consent(&f.user.id, "c", &Scope::parse("profile").unwrap(), 0)
            .await
            .unwrap();
        let outcome = f
            .authorizer()
            .approve(&request("r1"), &f.session, &f.user)
            .await
            .unwrap();
        let Outcome::Respond(response) = outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(response.target, ResponseTarget::of(&request("r1")));
        assert_eq!(response.params[0].0, "code");
        let consent = f.store.consent(&f.user.id, "c").await.unwrap().unwrap();
        assert_eq!(consent.scopes.to_string(), "profile openid email");
        // Now consented: a silent request at the third-party client gets a code at once.
        let mut silent = request("r2");
        silent.prompt = vec!["none".into()];
        let outcome = f
            .authorizer()
            .proceed(&client(false), silent, Some(f.session.clone()), FROM)
            .await
            .unwrap();
        assert!(matches!(outcome, Outcome::Respond(r) if r.params[0].0 == "code"));
    }
}
