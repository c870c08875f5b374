//! `sesame client …`: register, list, show and delete relying parties, and revoke every token
//! issued to one.

use super::{CliError, runtime};
use crate::clients::{ClientRegistration, RegistrationError, build_client};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::model::Client;
use crate::oauth::grants::refresh_token::revoke_grant;
use crate::secret::{Secret, random_id, random_token};
use crate::store::Store;
use std::io::Write;

/// `sesame client …`
#[derive(Debug, clap::Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and, for a confidential client, its secret once.
    Create(ClientCreate),
    /// List registered clients.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one client.
    Show {
        /// The client (generated ids may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client.
    Delete {
        /// The client.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
    /// Let the client ask tokens for an API, with these of its scopes (repeat per API).
    AllowApi(super::api::AllowApi),
    /// Revoke every token issued to a client's users: each of its refresh-token families, and
    /// every access token of a grant it holds (denied until it would have expired). Its own
    /// client_credentials tokens carry no grant and live out their short lifetime; delete the
    /// client to refuse them at once. No session ends, so no back-channel logout notice is sent.
    RevokeTokens {
        /// The client.
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
}

/// `sesame client create`
#[derive(Debug, clap::Args)]
pub struct ClientCreate {
    /// Display name, shown on the consent page.
    #[arg(long)]
    pub name: String,
    /// A redirect URI, stored exactly as given (repeat for several).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// A post-logout redirect URI (repeat for several).
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (native or browser app): no secret, PKCE required.
    #[arg(long)]
    pub public: bool,
    /// A first-party client: its users are not asked for consent.
    #[arg(long)]
    pub first_party: bool,
    /// How a confidential client authenticates at the token endpoint: `client_secret_basic`
    /// (HTTP Basic, the default) or `client_secret_post` (in the form body). Only this method
    /// is accepted. Public clients use `none`.
    #[arg(long, value_name = "METHOD")]
    pub token_endpoint_auth_method: Option<String>,
    /// Grant types, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "authorization_code,refresh_token",
        value_name = "GRANTS"
    )]
    pub grant_types: Vec<String>,
    /// Scopes the client may request, comma-separated.
    #[arg(
        long = "scope",
        value_delimiter = ',',
        default_value = "openid,profile,email",
        value_name = "SCOPES"
    )]
    pub scopes: Vec<String>,
    /// When redeeming a code also issues a refresh token: `always`, `offline_access` (only
    /// when the granted scope includes it; the default) or `never`. Needs the `refresh_token`
    /// grant type (a default) and, for `offline_access`, that scope in `--scope`.
    #[arg(long, value_name = "WHEN")]
    pub refresh_tokens: Option<String>,
    /// An origin (`https://host[:port]`) that may call the token, userinfo and revocation
    /// endpoints from a browser (CORS), beyond the origins of the redirect URIs, which are
    /// always allowed (repeat for several).
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Where Sesame POSTs a logout token when a session the client took part in ends
    /// (OpenID Connect Back-Channel Logout 1.0): https, or http on loopback; no fragment.
    #[arg(long, value_name = "URI")]
    pub backchannel_logout_uri: Option<String>,
    /// Print `{"client_id":…,"client_secret":…}` for scripts.
    #[arg(long)]
    pub json: bool,
}

impl ClientCreate {
    /// The registration these arguments describe.
    pub fn registration(&self) -> ClientRegistration {
        ClientRegistration {
            name: self.name.clone(),
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            public: self.public,
            first_party: self.first_party,
            token_endpoint_auth_method: self.token_endpoint_auth_method.clone(),
            grant_types: self.grant_types.clone(),
            scopes: self.scopes.clone(),
            refresh_tokens: self.refresh_tokens.clone(),
            allowed_origins: self.allowed_origins.clone(),
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
        }
    }
}

impl From<RegistrationError> for CliError {
    fn from(error: RegistrationError) -> CliError {
        if error.is_invalid_registration() {
            CliError::Usage(error.to_string())
        } else {
            CliError::Runtime(error.to_string())
        }
    }
}

/// Runs one `client` command against `store`.
pub(super) async fn client_command(
    command: ClientCommand,
    store: &dyn Store,
    config: &Config,
    out: &mut impl Write,
) -> Result<(), CliError> {
    match command {
        ClientCommand::Create(args) => {
            let secret = (!args.public).then(random_token);
            let client = build_client(
                &args.registration(),
                random_id(),
                secret.as_ref(),
                SystemClock.now(),
            )?;
            store.create_client(&client).await.map_err(runtime)?;
            crate::audit::record(
                store,
                SystemClock.now(),
                crate::audit::AuditEvent::ClientCreated {
                    client_id: client.client_id.clone(),
                },
            )
            .await;
            write_client_created(out, &client, secret.as_ref(), args.json).map_err(runtime)
        }
        ClientCommand::List { json } => {
            let clients = store.list_clients().await.map_err(runtime)?;
            write_clients(out, &clients, json).map_err(runtime)
        }
        ClientCommand::Show { client_id, json } => match store.client(&client_id).await {
            Ok(Some(client)) => {
                let apis = store.client_apis(&client_id).await.map_err(runtime)?;
                super::api::write_client_with_apis(out, &client, &apis, json).map_err(runtime)
            }
            Ok(None) => Err(CliError::Runtime(format!("no client '{client_id}'"))),
            Err(e) => Err(runtime(e)),
        },
        ClientCommand::Delete { client_id } => {
            if store.delete_client(&client_id).await.map_err(runtime)? {
                crate::audit::record(
                    store,
                    SystemClock.now(),
                    crate::audit::AuditEvent::ClientDeleted {
                        client_id: client_id.clone(),
                    },
                )
                .await;
                writeln!(out, "deleted client {client_id}").map_err(runtime)
            } else {
                Err(CliError::Runtime(format!("no client '{client_id}'")))
            }
        }
        ClientCommand::AllowApi(args) => super::api::allow_api(args, store, out).await,
        ClientCommand::RevokeTokens { client_id } => {
            if store.client(&client_id).await.map_err(runtime)?.is_none() {
                return Err(CliError::Runtime(format!("no client '{client_id}'")));
            }
            let grants = revoke_client_tokens(
                store,
                &client_id,
                SystemClock.now(),
                config.access_token_ttl,
            )
            .await
            .map_err(runtime)?;
            writeln!(
                out,
                "revoked {grants} grant(s) of client {client_id} (their refresh and access tokens)"
            )
            .map_err(runtime)
        }
    }
}

/// Revokes every grant of `client_id` — each live refresh-token family, and every grant a
/// redeemed code of the client started — as a family revocation does (the family, and its
/// access tokens denied by grant); returns how many. Idempotent, so a failure part-way is
/// completed by running the command again.
pub async fn revoke_client_tokens(
    store: &dyn Store,
    client_id: &str,
    now: crate::clock::UnixTime,
    access_token_ttl: i64,
) -> Result<usize, crate::store::StoreError> {
    let mut grants = store.revoke_client_refresh_families(client_id, now).await?;
    for grant_id in store.client_code_grants(client_id).await? {
        if !grants.contains(&grant_id) {
            grants.push(grant_id);
        }
    }
    for grant_id in &grants {
        revoke_grant(store, grant_id, now, access_token_ttl).await?;
    }
    Ok(grants.len())
}

/// Prints a newly registered client: its id and, once, its secret.
pub fn write_client_created(
    out: &mut impl Write,
    client: &Client,
    secret: Option<&Secret>,
    json: bool,
) -> std::io::Result<()> {
    if json {
        let value = serde_json::json!({
            "client_id": client.client_id,
            "client_secret": secret.map(Secret::expose),
        });
        return writeln!(out, "{value}");
    }
    writeln!(out, "client_id:     {}", client.client_id)?;
    match secret {
        Some(secret) => {
            writeln!(out, "client_secret: {}", secret.expose())?;
            writeln!(out, "The secret is shown only this once; store it now.")
        }
        None => writeln!(out, "Public client: no secret; PKCE (S256) is required."),
    }
}

pub(super) fn client_json(client: &Client) -> serde_json::Value {
    serde_json::json!({
        "client_id": client.client_id,
        "name": client.name,
        "public": client.public,
        "first_party": client.first_party,
        "token_endpoint_auth_method": client.token_endpoint_auth_method.as_str(),
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types,
        "allowed_scopes": client.allowed_scopes,
        "refresh_tokens": client.refresh_tokens.as_str(),
        "allowed_origins": client.allowed_origins,
        "cors_origins": crate::clients::cors_origins(client),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "created_at": client.created_at,
    })
}

/// Prints the client list, one line each (or a JSON array).
pub fn write_clients(out: &mut impl Write, clients: &[Client], json: bool) -> std::io::Result<()> {
    if json {
        let all: Vec<_> = clients.iter().map(client_json).collect();
        return writeln!(out, "{}", serde_json::Value::Array(all));
    }
    if clients.is_empty() {
        return writeln!(out, "no clients");
    }
    for client in clients {
        writeln!(
            out,
            "{}\t{}\t{}{}\t{}",
            client.client_id,
            client.name,
            if client.public {
                "public"
            } else {
                "confidential"
            },
            if client.first_party {
                ",first-party"
            } else {
                ""
            },
            client.redirect_uris.join(" "),
        )?;
    }
    Ok(())
}

/// Prints one client in full (never its secret hash).
pub fn write_client(out: &mut impl Write, client: &Client, json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{:#}", client_json(client));
    }
    let grants: Vec<_> = client.grant_types.iter().map(|g| g.as_str()).collect();
    writeln!(out, "client_id:                  {}", client.client_id)?;
    writeln!(out, "name:                       {}", client.name)?;
    writeln!(
        out,
        "type:                       {}",
        if client.public {
            "public"
        } else {
            "confidential"
        }
    )?;
    writeln!(out, "first_party:                {}", client.first_party)?;
    writeln!(
        out,
        "token_endpoint_auth_method: {}",
        client.token_endpoint_auth_method.as_str()
    )?;
    writeln!(out, "grant_types:                {}", grants.join(","))?;
    writeln!(out, "allowed_scopes:             {}", client.allowed_scopes)?;
    writeln!(
        out,
        "refresh_tokens:             {}",
        client.refresh_tokens.as_str()
    )?;
    writeln!(
        out,
        "backchannel_logout_uri:     {}",
        client.backchannel_logout_uri.as_deref().unwrap_or("-")
    )?;
    writeln!(out, "redirect_uris:")?;
    for uri in &client.redirect_uris {
        writeln!(out, "  {uri}")?;
    }
    writeln!(out, "post_logout_redirect_uris:")?;
    for uri in &client.post_logout_redirect_uris {
        writeln!(out, "  {uri}")?;
    }
    writeln!(out, "cors_origins (redirect URIs' and registered):")?;
    for origin in crate::clients::cors_origins(client) {
        writeln!(out, "  {origin}")?;
    }
    writeln!(out, "created_at:                 {}", client.created_at)
}

#[cfg(test)]
mod tests {
    use super::super::Command;
    use super::super::tests::parse;
    use super::*;
    use crate::model::TokenEndpointAuthMethod;

    fn create_args(args: &[&str]) -> ClientCreate {
        let mut full = vec!["client", "create"];
        full.extend_from_slice(args);
        match parse(&full).command {
            Some(Command::Client(ClientCommand::Create(create))) => create,
            other => panic!("parsed {other:?}"),
        }
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// `client create` as the command runs it: arguments, then the registration rules.
    fn build(args: &ClientCreate, secret: Option<&Secret>) -> Result<Client, CliError> {
        Ok(build_client(
            &args.registration(),
            "cid".into(),
            secret,
            42,
        )?)
    }

    #[test]
    fn client_create_takes_the_refresh_token_policy() {
        use crate::model::RefreshTokenPolicy;
        let base = [
            "--name",
            "App",
            "--redirect-uri",
            "https://app.example.com/cb",
        ];
        let secret = Secret::new("s3cret");
        let default = build(&create_args(&base), Some(&secret)).unwrap();
        assert_eq!(default.refresh_tokens, RefreshTokenPolicy::OfflineAccess);
        let mut always = base.to_vec();
        always.extend(["--refresh-tokens", "always"]);
        let client = build(&create_args(&always), Some(&secret)).unwrap();
        assert_eq!(client.refresh_tokens, RefreshTokenPolicy::Always);
        let mut bad = base.to_vec();
        bad.extend(["--refresh-tokens", "daily"]);
        assert!(matches!(
            build(&create_args(&bad), Some(&secret)),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn client_create_defaults_and_confidential_secret_is_hashed() {
        let args = create_args(&[
            "--name",
            "App",
            "--redirect-uri",
            "https://app.example.com/cb",
        ]);
        assert_eq!(
            args.grant_types,
            strings(&["authorization_code", "refresh_token"])
        );
        let secret = Secret::new("s3cret");
        let client = build(&args, Some(&secret)).unwrap();
        assert_eq!(client.secret_hash, Some(secret.hash()));
        assert_eq!(
            client.token_endpoint_auth_method,
            TokenEndpointAuthMethod::ClientSecretBasic
        );
        assert_eq!(client.allowed_scopes.to_string(), "openid profile email");
        assert_eq!(
            client.redirect_uris,
            strings(&["https://app.example.com/cb"])
        );
        assert!(!client.public && !client.first_party);
    }

    #[test]
    fn token_endpoint_auth_method_is_chosen_for_confidential_clients_only() {
        let base = [
            "--name",
            "App",
            "--redirect-uri",
            "https://app.example.com/cb",
        ];
        let secret = Secret::new("s3cret");
        let with = |extra: &[&str]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            let args = create_args(&all);
            let secret = (!args.public).then_some(&secret);
            build(&args, secret)
        };
        let post = with(&["--token-endpoint-auth-method", "client_secret_post"]).unwrap();
        assert_eq!(
            post.token_endpoint_auth_method,
            TokenEndpointAuthMethod::ClientSecretPost
        );
        for refused in [
            &["--token-endpoint-auth-method", "none"][..],
            &["--token-endpoint-auth-method", "private_key_jwt"][..],
            &[
                "--public",
                "--token-endpoint-auth-method",
                "client_secret_basic",
            ][..],
        ] {
            assert!(
                matches!(with(refused), Err(CliError::Usage(_))),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn public_client_has_no_secret_and_no_client_credentials() {
        let args = create_args(&[
            "--name",
            "Native",
            "--public",
            "--first-party",
            "--redirect-uri",
            "com.example.app:/cb",
            "--redirect-uri",
            "http://127.0.0.1:9000/cb",
            "--grant-types",
            "authorization_code",
            "--scope",
            "openid,email",
        ]);
        let client = build(&args, None).unwrap();
        assert_eq!(
            client.token_endpoint_auth_method,
            TokenEndpointAuthMethod::None
        );
        assert_eq!(client.secret_hash, None);
        assert_eq!(client.redirect_uris.len(), 2);
        assert!(client.first_party);

        let args = create_args(&[
            "--name",
            "Native",
            "--public",
            "--redirect-uri",
            "com.example.app:/cb",
            "--grant-types",
            "authorization_code,client_credentials",
        ]);
        let err = build(&args, None).unwrap_err();
        assert!(err.to_string().contains("client_credentials"), "{err}");
    }

    #[test]
    fn client_create_refuses_bad_redirect_uris_and_missing_ones() {
        let args = create_args(&[
            "--name",
            "App",
            "--redirect-uri",
            "http://app.example.com/cb",
        ]);
        let secret = Secret::new("x");
        let err = build(&args, Some(&secret)).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let args = create_args(&[
            "--name",
            "App",
            "--redirect-uri",
            "https://app.example.com/cb",
            "--post-logout-redirect-uri",
            "https://app.example.com/*",
        ]);
        assert!(build(&args, Some(&secret)).is_err());
        let args = create_args(&["--name", "App"]);
        assert!(build(&args, Some(&secret)).is_err());
        let args = create_args(&["--name", "Service", "--grant-types", "client_credentials"]);
        assert!(build(&args, Some(&secret)).is_ok());
    }

    #[test]
    fn client_create_takes_allowed_origins_as_bare_origins() {
        let args = create_args(&[
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "https://app.example.com/cb",
            "--allowed-origin",
            "https://spa.example.com",
            "--allowed-origin",
            "http://localhost:3000",
        ]);
        let client = build(&args, None).unwrap();
        assert_eq!(
            client.allowed_origins,
            strings(&["https://spa.example.com", "http://localhost:3000"])
        );
        let mut out = Vec::new();
        write_client(&mut out, &client, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        for origin in [
            "https://app.example.com",
            "https://spa.example.com",
            "http://localhost:3000",
        ] {
            assert!(text.contains(&format!("  {origin}\n")), "{text}");
        }
        for refused in [
            "https://spa.example.com/",
            "*",
            "https://spa.example.com/app",
        ] {
            let args = create_args(&[
                "--name",
                "SPA",
                "--public",
                "--redirect-uri",
                "https://app.example.com/cb",
                "--allowed-origin",
                refused,
            ]);
            let err = build(&args, None).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{refused}");
            assert!(err.to_string().contains(refused), "{err}");
        }
    }

    #[test]
    fn created_client_json_carries_secret_or_null() {
        let args = create_args(&["--name", "App", "--redirect-uri", "https://a.example/cb"]);
        let secret = Secret::new("the-secret");
        let client = build(&args, Some(&secret)).unwrap();
        let mut out = Vec::new();
        write_client_created(&mut out, &client, Some(&secret), true).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"client_id": "cid", "client_secret": "the-secret"})
        );

        let mut out = Vec::new();
        write_client_created(&mut out, &client, None, true).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"client_id": "cid", "client_secret": null})
        );

        let mut out = Vec::new();
        write_client(&mut out, &client, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("cid") && !text.contains(client.secret_hash.unwrap().as_str()));
    }
}
