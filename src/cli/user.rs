//! `sesame user …`: create, list, disable and enable users, set their passwords, list their
//! sessions and sign them out everywhere.

use super::keys::utc;
use super::{CliError, runtime};
use crate::accounts::{Accounts, normalize_email};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::model::{Session, User, UserId};
use crate::oauth::grants::refresh_token::revoke_grant;
use crate::secret::Secret;
use crate::store::Store;
use std::io::Write;
use std::sync::Arc;

/// `sesame user …`
#[derive(Debug, clap::Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from stdin.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Read the password from stdin (the only way to pass it: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user (by id or email) and end their sessions.
    Disable {
        #[arg(value_name = "ID|EMAIL")]
        user: String,
    },
    /// Enable a user (by id or email).
    Enable {
        #[arg(value_name = "ID|EMAIL")]
        user: String,
    },
    /// Set a user's password (read from stdin) and end their sessions.
    SetPassword {
        #[arg(value_name = "ID|EMAIL")]
        user: String,
        /// Read the password from stdin (the only way to pass it: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List a user's live sessions at the IdP (signed in when, last seen, expires).
    Sessions {
        #[arg(value_name = "ID|EMAIL")]
        user: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Sign a user out everywhere: end every session of theirs, revoke every refresh-token
    /// family and deny every access token issued to them (the account stays enabled).
    /// Relying parties that registered a back-channel logout URI are sent a logout notice for
    /// each ended session, through the outbox (a running server delivers it).
    Logout {
        #[arg(value_name = "ID|EMAIL")]
        user: String,
    },
}

/// Runs one `user` command against `store`.
pub(super) async fn user_command(
    command: UserCommand,
    store: Arc<dyn Store>,
    config: &Config,
    out: &mut impl Write,
) -> Result<(), CliError> {
    match command {
        UserCommand::Create {
            email,
            name,
            password_stdin: _,
        } => {
            let password = read_password_from_stdin().await?;
            let accounts = Accounts::new(store, config, Arc::new(SystemClock));
            let name = name.as_deref().map(str::trim).filter(|n| !n.is_empty());
            let user = accounts
                .create_user(&email, name, &password, SystemClock.now())
                .await
                .map_err(runtime)?;
            writeln!(out, "created user {} <{}>", user.id, user.email).map_err(runtime)
        }
        UserCommand::List { json } => {
            let users = store.list_users().await.map_err(runtime)?;
            write_users(out, &users, json).map_err(runtime)
        }
        UserCommand::Disable { user } => {
            let user = find_user(store.as_ref(), &user).await?;
            // One store operation: the flag and the end of the user's sessions together.
            let ended = store
                .disable_user(&user.id)
                .await
                .map_err(runtime)?
                // Deleted between the lookup and the write.
                .ok_or_else(|| CliError::Runtime(format!("no user '{}'", user.id)))?;
            crate::audit::record(
                store.as_ref(),
                SystemClock.now(),
                crate::audit::AuditEvent::UserDisabled {
                    user_id: user.id.clone(),
                    sessions_ended: ended,
                },
            )
            .await;
            writeln!(
                out,
                "disabled user {} <{}>; ended {ended} session(s)",
                user.id, user.email
            )
            .map_err(runtime)
        }
        UserCommand::Enable { user } => {
            let user = find_user(store.as_ref(), &user).await?;
            store.enable_user(&user.id).await.map_err(runtime)?;
            writeln!(out, "enabled user {} <{}>", user.id, user.email).map_err(runtime)
        }
        UserCommand::SetPassword {
            user,
            password_stdin: _,
        } => {
            let user = find_user(store.as_ref(), &user).await?;
            let password = read_password_from_stdin().await?;
            set_password(store, config, &user, &password, out).await
        }
        UserCommand::Sessions { user, json } => {
            let user = find_user(store.as_ref(), &user).await?;
            let sessions = store
                .sessions_of_user(&user.id, SystemClock.now())
                .await
                .map_err(runtime)?;
            write_sessions(out, &user, &sessions, json).map_err(runtime)
        }
        UserCommand::Logout { user } => {
            let user = find_user(store.as_ref(), &user).await?;
            // Back-channel notices are sealed under the KEK, as the server seals them.
            let seal = crate::outbox::PayloadSeal::new(super::keys::current_kek(config)?);
            let ended = logout_everywhere(
                store.as_ref(),
                &user.id,
                SystemClock.now(),
                config.access_token_ttl,
                Some((&seal, config.mail_delivery_deadline)),
            )
            .await
            .map_err(runtime)?;
            writeln!(
                out,
                "signed out user {} <{}>: ended {} session(s), revoked {} grant(s) \
                 (their refresh and access tokens), queued {} back-channel logout notice(s)",
                user.id, user.email, ended.sessions, ended.grants, ended.notices
            )
            .map_err(runtime)
        }
    }
}

/// What signing a user out everywhere ended.
#[derive(Debug, PartialEq, Eq)]
pub struct LoggedOut {
    /// Sessions ended.
    pub sessions: u64,
    /// Grants revoked: their refresh-token families and access tokens.
    pub grants: usize,
    /// Back-channel logout notices queued for the relying parties of the ended sessions.
    pub notices: usize,
}

/// Signs `user_id` out everywhere: deletes every session (so no new code is issued from one),
/// then revokes every grant of theirs — each live refresh-token family, and every grant a
/// redeemed code of theirs started — as a family revocation does (the family, and its access
/// tokens denied by grant). Every step is idempotent, so a failure part-way is completed by
/// running the command again.
///
/// With `notify` (the outbox seal and the delivery deadline), each session's relying parties
/// that registered a `backchannel_logout_uri` are first sent a logout notice through the
/// outbox, as at `/logout`; a notice that cannot be queued is logged and does not stop the
/// sign-out.
pub async fn logout_everywhere(
    store: &dyn Store,
    user_id: &UserId,
    now: crate::clock::UnixTime,
    access_token_ttl: i64,
    notify: Option<(&crate::outbox::PayloadSeal, i64)>,
) -> Result<LoggedOut, crate::store::StoreError> {
    let mut notices = 0;
    if let Some((seal, deadline)) = notify {
        for session in store.sessions_of_user(user_id, now).await? {
            match crate::backchannel::enqueue_session_logout(store, seal, &session, now, deadline)
                .await
            {
                Ok(queued) => notices += queued,
                Err(error) => tracing::warn!(
                    sid = %session.sid,
                    %error,
                    "back-channel logout notices could not be queued"
                ),
            }
        }
    }
    let sessions = store.delete_user_sessions(user_id).await?;
    let mut grants = store.revoke_user_refresh_families(user_id, now).await?;
    for grant_id in store.user_code_grants(user_id).await? {
        if !grants.contains(&grant_id) {
            grants.push(grant_id);
        }
    }
    for grant_id in &grants {
        revoke_grant(store, grant_id, now, access_token_ttl).await?;
    }
    Ok(LoggedOut {
        sessions,
        grants: grants.len(),
        notices,
    })
}

/// Prints a user's sessions, one line each (or a JSON array); never a session's cookie hash.
pub fn write_sessions(
    out: &mut impl Write,
    user: &User,
    sessions: &[Session],
    json: bool,
) -> std::io::Result<()> {
    if json {
        let all: Vec<_> = sessions
            .iter()
            .map(|s| {
                serde_json::json!({
                    "sid": s.sid,
                    "user_id": s.user_id,
                    "created_at": s.created_at,
                    "auth_time": s.auth_time,
                    "amr": s.amr,
                    "last_seen_at": s.last_seen_at,
                    "expires_at": s.expires_at,
                })
            })
            .collect();
        return writeln!(out, "{}", serde_json::Value::Array(all));
    }
    if sessions.is_empty() {
        return writeln!(out, "no sessions for {} <{}>", user.id, user.email);
    }
    writeln!(out, "SID\tSIGNED IN\tLAST SEEN\tEXPIRES\tAMR")?;
    for s in sessions {
        writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            s.sid,
            utc(s.auth_time),
            utc(s.last_seen_at),
            utc(s.expires_at),
            s.amr.join(","),
        )?;
    }
    Ok(())
}

/// Sets `user`'s password through the accounts service (policy, argon2id, sessions ended).
async fn set_password(
    store: Arc<dyn Store>,
    config: &Config,
    user: &User,
    password: &Secret,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let accounts = Accounts::new(store, config, Arc::new(SystemClock));
    let ended = accounts
        .set_password(user, password, SystemClock.now())
        .await
        .map_err(runtime)?;
    writeln!(
        out,
        "set the password of user {} <{}>; ended {ended} session(s)",
        user.id, user.email
    )
    .map_err(runtime)
}

/// Finds a user by id, or by email when the argument looks like one.
pub(super) async fn find_user(store: &dyn Store, id_or_email: &str) -> Result<User, CliError> {
    let found = if id_or_email.contains('@') {
        match normalize_email(id_or_email) {
            Ok(email) => store.user_by_email(&email).await.map_err(runtime)?,
            Err(_) => None,
        }
    } else {
        store
            .user_by_id(&UserId(id_or_email.to_string()))
            .await
            .map_err(runtime)?
    };
    found.ok_or_else(|| CliError::Runtime(format!("no user '{id_or_email}'")))
}

async fn read_password_from_stdin() -> Result<Secret, CliError> {
    use std::io::IsTerminal;
    use tokio::io::AsyncReadExt;
    if std::io::stdin().is_terminal() {
        eprintln!(
            "Type the password, then press Enter and Ctrl-D (it will be visible; prefer a pipe)."
        );
    }
    let mut input = String::new();
    tokio::io::stdin()
        .read_to_string(&mut input)
        .await
        .map_err(|e| CliError::Runtime(format!("reading the password from stdin: {e}")))?;
    password_from_stdin_text(input)
}

/// The password piped on stdin, without the one trailing newline `echo` adds; nothing else is
/// trimmed, since spaces can be part of a password.
pub fn password_from_stdin_text(mut input: String) -> Result<Secret, CliError> {
    if input.ends_with('\n') {
        input.pop();
        if input.ends_with('\r') {
            input.pop();
        }
    }
    if input.is_empty() {
        return Err(CliError::Usage(
            "no password on stdin; pipe it in, e.g. `printf '%s' \"$PW\" | sesame user create …`"
                .into(),
        ));
    }
    Ok(Secret::new(input))
}

/// Prints the user list, one line each (or a JSON array); never password hashes.
pub fn write_users(out: &mut impl Write, users: &[User], json: bool) -> std::io::Result<()> {
    if json {
        let all: Vec<_> = users
            .iter()
            .map(|u| {
                serde_json::json!({
                    "id": u.id,
                    "email": u.email,
                    "name": u.name,
                    "email_verified": u.email_verified,
                    "disabled": u.disabled,
                    "created_at": u.created_at,
                })
            })
            .collect();
        return writeln!(out, "{}", serde_json::Value::Array(all));
    }
    if users.is_empty() {
        return writeln!(out, "no users");
    }
    for user in users {
        writeln!(
            out,
            "{}\t{}\t{}\t{}",
            user.id,
            user.email,
            user.name.as_deref().unwrap_or("-"),
            if user.disabled { "disabled" } else { "enabled" },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Session;
    use crate::secret::TokenHash;

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

    fn session(cookie: &str, user: &User, now: i64) -> Session {
        Session {
            id_hash: TokenHash::of(cookie),
            sid: cookie.into(),
            user_id: user.id.clone(),
            auth_time: now,
            amr: vec!["pwd".into()],
            created_at: now,
            last_seen_at: now,
            expires_at: now + 3600,
        }
    }

    async fn disable(store: &Arc<dyn Store>, who: &str) -> (Result<(), CliError>, String) {
        let config = crate::config::FileConfig::default().resolve().unwrap();
        let mut out = Vec::new();
        let result = user_command(
            UserCommand::Disable { user: who.into() },
            store.clone(),
            &config,
            &mut out,
        )
        .await;
        (result, String::from_utf8(out).unwrap())
    }

    #[test]
    fn sessions_print_as_a_table_or_json_without_the_cookie_hash() {
        let person = user("u1");
        let s = Session {
            auth_time: 1_700_000_000,
            last_seen_at: 1_700_000_600,
            expires_at: 1_700_086_400,
            ..session("cookie-secret", &person, 1_700_000_000)
        };
        let mut out = Vec::new();
        write_sessions(&mut out, &person, std::slice::from_ref(&s), false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("cookie-secret\t2023-11-14T22:13:20Z\t2023-11-14T22:23:20Z\t2023-11-15T22:13:20Z\tpwd"),
            "{text}"
        );
        assert!(!text.contains(s.id_hash.as_str()));
        let mut out = Vec::new();
        write_sessions(&mut out, &person, std::slice::from_ref(&s), true).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value[0]["sid"], "cookie-secret");
        assert_eq!(value[0]["last_seen_at"], 1_700_000_600);
        assert!(!String::from_utf8(out).unwrap().contains(s.id_hash.as_str()));
        let mut out = Vec::new();
        write_sessions(&mut out, &person, &[], false).unwrap();
        assert!(String::from_utf8(out).unwrap().starts_with("no sessions"));
    }

    #[tokio::test]
    async fn disable_flags_the_user_and_ends_their_sessions_only() {
        let store = crate::store::open("sqlite::memory:").await.unwrap();
        let now = SystemClock.now();
        let (ada, bob) = (user("ada"), user("bob"));
        for u in [&ada, &bob] {
            store.create_user(u).await.unwrap();
        }
        for s in [
            session("a1", &ada, now),
            session("a2", &ada, now),
            session("b1", &bob, now),
        ] {
            store.create_session(&s).await.unwrap();
        }
        let (result, out) = disable(&store, "ada@example.com").await;
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(
            out,
            "disabled user ada <ada@example.com>; ended 2 session(s)\n"
        );
        assert!(store.user_by_id(&ada.id).await.unwrap().unwrap().disabled);
        assert!(
            store
                .session(&TokenHash::of("a1"), now)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .session(&TokenHash::of("b1"), now)
                .await
                .unwrap()
                .is_some(),
            "another user's session is untouched"
        );
    }

    #[test]
    fn set_password_takes_the_user_and_requires_password_stdin() {
        use clap::Parser;
        let cli = crate::cli::tests::parse(&[
            "user",
            "set-password",
            "ada@example.com",
            "--password-stdin",
        ]);
        assert!(matches!(
            cli.command,
            Some(crate::cli::Command::User(UserCommand::SetPassword { user, .. }))
                if user == "ada@example.com"
        ));
        assert!(
            crate::cli::Cli::try_parse_from(["sesame", "user", "set-password", "ada@example.com"])
                .is_err(),
            "the password only ever comes from stdin"
        );
    }

    #[tokio::test]
    async fn set_password_replaces_the_hash_and_ends_the_users_sessions() {
        let store = crate::store::open("sqlite::memory:").await.unwrap();
        let config = crate::config::FileConfig::default().resolve().unwrap();
        let accounts = Accounts::new(store.clone(), &config, Arc::new(SystemClock));
        let now = SystemClock.now();
        let old = "correct horse battery staple 42";
        let ada = accounts
            .create_user("ada@example.com", None, &Secret::new(old), now)
            .await
            .unwrap();
        store
            .create_session(&session("a1", &ada, now))
            .await
            .unwrap();
        let mut out = Vec::new();
        let weak = set_password(
            store.clone(),
            &config,
            &ada,
            &Secret::new("iloveyouiloveyou"),
            &mut out,
        )
        .await
        .unwrap_err();
        assert!(weak.to_string().contains("too easy to guess"), "{weak}");
        assert!(out.is_empty());
        let new = "tangerine submarine orbits quietly";
        set_password(store.clone(), &config, &ada, &Secret::new(new), &mut out)
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "set the password of user {} <ada@example.com>; ended 1 session(s)\n",
                ada.id
            )
        );
        assert!(
            store
                .session(&TokenHash::of("a1"), now)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            accounts
                .authenticate("ada@example.com", &Secret::new(old), None, now)
                .await
                .is_err()
        );
        let user = accounts
            .authenticate("ada@example.com", &Secret::new(new), None, now)
            .await
            .unwrap();
        assert_eq!(user.id, ada.id);
    }

    #[tokio::test]
    async fn disabling_an_unknown_user_is_a_runtime_error() {
        let store = crate::store::open("sqlite::memory:").await.unwrap();
        let (result, out) = disable(&store, "nobody@example.com").await;
        let err = result.unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert!(err.to_string().contains("nobody@example.com"), "{err}");
        assert_eq!(out, "");
    }

    #[test]
    fn password_from_stdin_loses_one_trailing_newline_only() {
        assert_eq!(
            password_from_stdin_text("pw\n".into()).unwrap().expose(),
            "pw"
        );
        assert_eq!(
            password_from_stdin_text("pw\r\n".into()).unwrap().expose(),
            "pw"
        );
        assert_eq!(
            password_from_stdin_text(" pw \n\n".into())
                .unwrap()
                .expose(),
            " pw \n"
        );
        assert_eq!(
            password_from_stdin_text("pw".into()).unwrap().expose(),
            "pw"
        );
        assert!(password_from_stdin_text("\n".into()).is_err());
    }
}
