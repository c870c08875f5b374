//! What a validated authorization request needs next: a pure function of the request, the
//! browser's session and its user, the standing consent and `now` (OIDC Core §3.1.2.1-§3.1.2.4).

use crate::clock::UnixTime;
use crate::error::OAuthErrorCode;
use crate::model::{AuthorizationRequest, Client, Consent, Session, User};

/// The next step for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The person must sign in (again).
    Login,
    /// The person must approve the requested scopes for this client.
    Consent,
    /// The session may answer: issue a code.
    IssueCode,
    /// `prompt=none` and interaction is needed: answer the client with this error.
    Error(OAuthErrorCode),
}

/// Whether `user` may answer a request that carried `id_token_hint` (OIDC Core §3.1.2.1): only
/// the user the hint names. The one place this rule lives.
pub fn hint_admits(request: &AuthorizationRequest, user: &User) -> bool {
    request
        .id_token_hint_sub
        .as_ref()
        .is_none_or(|sub| *sub == user.id.0)
}

/// Decides what `request` needs next. `user` is the session's user if the account is active;
/// `consent` the user's standing consent for the client.
///
/// The session may answer unless it must be renewed: `prompt=login`, `max_age` passed (`0`
/// always is), or an `id_token_hint` naming someone else. A session started for this very
/// request (`authenticated_session`) always may. A first-party client needs no consent; any
/// other needs consent covering the scope, and asks again on `prompt=consent`. With
/// `prompt=none` a needed page becomes `login_required` or `consent_required`.
pub fn decide(
    request: &AuthorizationRequest,
    client: &Client,
    session: Option<&Session>,
    user: Option<&User>,
    consent: Option<&Consent>,
    now: UnixTime,
) -> Decision {
    let prompt = |v: &str| request.prompt.iter().any(|p| p == v);
    let silent = prompt("none");
    let interact = |page: Decision, error: OAuthErrorCode| {
        if silent { Decision::Error(error) } else { page }
    };
    let signed_in = match (session, user) {
        (Some(s), Some(u)) if s.user_id == u.id => {
            let fresh = request.authenticated_session.as_deref() == Some(s.sid.as_str());
            // max_age=0 asks for a fresh login, like prompt=login (OIDC Core §3.1.2.1).
            let stale = request
                .max_age
                .is_some_and(|max| max == 0 || now - s.auth_time > max);
            fresh || !(prompt("login") || stale || !hint_admits(request, u))
        }
        _ => false,
    };
    if !signed_in {
        return interact(Decision::Login, OAuthErrorCode::LoginRequired);
    }
    let consented = consent.is_some_and(|c| request.scope.is_subset_of(&c.scopes));
    if !client.first_party && (prompt("consent") || !consented) {
        return interact(Decision::Consent, OAuthErrorCode::ConsentRequired);
    }
    Decision::IssueCode
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ResponseMode, Scope, UserId};
    use crate::secret::TokenHash;

    const NOW: UnixTime = 1_700_000_000;

    fn client(first_party: bool) -> Client {
        Client {
            allowed_scopes: Scope::parse("openid email profile").unwrap(),
            first_party,
            ..Client::test_public()
        }
    }

    fn request(extra: impl FnOnce(&mut AuthorizationRequest)) -> AuthorizationRequest {
        let mut r = AuthorizationRequest {
            id: "req".into(),
            client_id: "c".into(),
            redirect_uri: "https://rp.example/cb".into(),
            scope: Scope::parse("openid email").unwrap(),
            state: None,
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
        };
        extra(&mut r);
        r
    }

    fn user(id: &str) -> User {
        User {
            id: UserId(id.into()),
            email: format!("{id}@example.com"),
            name: None,
            email_verified: true,
            password_hash: String::new(),
            password_changed_at: 0,
            disabled: false,
            created_at: 0,
        }
    }

    /// A session of `u` that signed in `age` seconds before NOW.
    fn session(u: &User, age: i64) -> Session {
        Session {
            id_hash: TokenHash::of("cookie"),
            sid: "sid-1".into(),
            user_id: u.id.clone(),
            auth_time: NOW - age,
            amr: vec!["pwd".into()],
            created_at: NOW - age,
            last_seen_at: NOW - age,
            expires_at: NOW + 3600,
        }
    }

    fn consent(u: &User, scope: &str) -> Consent {
        Consent {
            user_id: u.id.clone(),
            client_id: "c".into(),
            scopes: Scope::parse(scope).unwrap(),
            granted_at: 0,
        }
    }

    fn prompt(values: &[&str]) -> impl FnOnce(&mut AuthorizationRequest) {
        let values: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        move |r| r.prompt = values
    }

    /// The decision for `r` at a first-party client with a 10-second-old session of "ada".
    fn first_party_signed_in(r: &AuthorizationRequest) -> Decision {
        let ada = user("ada");
        decide(
            r,
            &client(true),
            Some(&session(&ada, 10)),
            Some(&ada),
            None,
            NOW,
        )
    }

    #[test]
    fn no_session_needs_login_or_login_required_with_prompt_none() {
        let c = client(true);
        assert_eq!(
            decide(&request(|_| {}), &c, None, None, None, NOW),
            Decision::Login
        );
        assert_eq!(
            decide(&request(prompt(&["none"])), &c, None, None, None, NOW),
            Decision::Error(OAuthErrorCode::LoginRequired)
        );
    }

    #[test]
    fn a_session_without_an_active_user_needs_login() {
        let ada = user("ada");
        let s = session(&ada, 10);
        // The account was disabled or deleted: the caller found no active user.
        assert_eq!(
            decide(&request(|_| {}), &client(true), Some(&s), None, None, NOW),
            Decision::Login
        );
        // A user that is not the session's never answers for it.
        let bob = user("bob");
        assert_eq!(
            decide(
                &request(|_| {}),
                &client(true),
                Some(&s),
                Some(&bob),
                None,
                NOW
            ),
            Decision::Login
        );
    }

    #[test]
    fn a_live_session_at_a_first_party_client_issues_a_code() {
        assert_eq!(first_party_signed_in(&request(|_| {})), Decision::IssueCode);
        assert_eq!(
            first_party_signed_in(&request(prompt(&["none"]))),
            Decision::IssueCode
        );
        // select_account is accepted and changes nothing.
        assert_eq!(
            first_party_signed_in(&request(prompt(&["select_account"]))),
            Decision::IssueCode
        );
    }

    #[test]
    fn prompt_login_needs_login_unless_this_request_just_signed_in() {
        assert_eq!(
            first_party_signed_in(&request(prompt(&["login"]))),
            Decision::Login
        );
        assert_eq!(
            first_party_signed_in(&request(|r| {
                r.prompt = vec!["login".into()];
                r.authenticated_session = Some("sid-1".into());
            })),
            Decision::IssueCode
        );
        // A login made for another request does not count.
        assert_eq!(
            first_party_signed_in(&request(|r| {
                r.prompt = vec!["login".into()];
                r.authenticated_session = Some("sid-other".into());
            })),
            Decision::Login
        );
    }

    #[test]
    fn max_age_counts_from_auth_time_and_zero_always_needs_login() {
        // The session signed in 10 s ago.
        assert_eq!(
            first_party_signed_in(&request(|r| r.max_age = Some(10))),
            Decision::IssueCode,
            "exactly max_age old is still fresh"
        );
        assert_eq!(
            first_party_signed_in(&request(|r| r.max_age = Some(9))),
            Decision::Login
        );
        assert_eq!(
            first_party_signed_in(&request(|r| {
                r.max_age = Some(9);
                r.prompt = vec!["none".into()];
            })),
            Decision::Error(OAuthErrorCode::LoginRequired)
        );
        // OIDC Core §3.1.2.1: max_age=0 is prompt=login, even in the second of the login.
        let ada = user("ada");
        let just_now = session(&ada, 0);
        let zero = request(|r| r.max_age = Some(0));
        assert_eq!(
            decide(&zero, &client(true), Some(&just_now), Some(&ada), None, NOW),
            Decision::Login
        );
        let zero_after_login = request(|r| {
            r.max_age = Some(0);
            r.authenticated_session = Some("sid-1".into());
        });
        assert_eq!(
            decide(
                &zero_after_login,
                &client(true),
                Some(&just_now),
                Some(&ada),
                None,
                NOW
            ),
            Decision::IssueCode
        );
    }

    #[test]
    fn id_token_hint_admits_only_its_own_subject() {
        assert_eq!(
            first_party_signed_in(&request(|r| r.id_token_hint_sub = Some("ada".into()))),
            Decision::IssueCode
        );
        assert_eq!(
            first_party_signed_in(&request(|r| r.id_token_hint_sub = Some("bob".into()))),
            Decision::Login
        );
        assert_eq!(
            first_party_signed_in(&request(|r| {
                r.id_token_hint_sub = Some("bob".into());
                r.prompt = vec!["none".into()];
            })),
            Decision::Error(OAuthErrorCode::LoginRequired)
        );
        let hinted = request(|r| r.id_token_hint_sub = Some("bob".into()));
        assert!(!hint_admits(&hinted, &user("ada")));
        assert!(hint_admits(&hinted, &user("bob")));
        assert!(
            hint_admits(&request(|_| {}), &user("ada")),
            "no hint, anyone"
        );
    }

    #[test]
    fn third_party_clients_need_consent_covering_the_scope() {
        let ada = user("ada");
        let s = session(&ada, 10);
        let c = client(false);
        let r = request(|_| {});
        assert_eq!(
            decide(&r, &c, Some(&s), Some(&ada), None, NOW),
            Decision::Consent
        );
        let narrow = consent(&ada, "openid");
        assert_eq!(
            decide(&r, &c, Some(&s), Some(&ada), Some(&narrow), NOW),
            Decision::Consent,
            "consent to fewer scopes does not cover the request"
        );
        let wide = consent(&ada, "openid email profile");
        assert_eq!(
            decide(&r, &c, Some(&s), Some(&ada), Some(&wide), NOW),
            Decision::IssueCode
        );
        let silent = request(prompt(&["none"]));
        assert_eq!(
            decide(&silent, &c, Some(&s), Some(&ada), None, NOW),
            Decision::Error(OAuthErrorCode::ConsentRequired)
        );
        assert_eq!(
            decide(&silent, &c, Some(&s), Some(&ada), Some(&wide), NOW),
            Decision::IssueCode
        );
    }

    #[test]
    fn prompt_consent_asks_again_except_at_first_party_clients() {
        let ada = user("ada");
        let s = session(&ada, 10);
        let wide = consent(&ada, "openid email profile");
        let r = request(prompt(&["consent"]));
        assert_eq!(
            decide(&r, &client(false), Some(&s), Some(&ada), Some(&wide), NOW),
            Decision::Consent
        );
        assert_eq!(
            decide(&r, &client(true), Some(&s), Some(&ada), None, NOW),
            Decision::IssueCode
        );
        // prompt=login consent: both pages, login first.
        let both = request(prompt(&["login", "consent"]));
        assert_eq!(
            decide(
                &both,
                &client(false),
                Some(&s),
                Some(&ada),
                Some(&wide),
                NOW
            ),
            Decision::Login
        );
    }
}
