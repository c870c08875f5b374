//! The command line: `serve`, `client …`, `user …`, `config check`.
//!
//! Every command reads the same configuration as the server. Only `serve` touches the
//! key-encryption key; the admin commands open the store and nothing else. Passwords arrive on
//! stdin only, so they never show in `ps` or shell history; generated client secrets are printed
//! once, to stdout, and never logged.

use crate::accounts::{Accounts, normalize_email};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::model::{Client, GrantType, Scope, TokenEndpointAuthMethod, User, UserId};
use crate::secret::{Secret, random_id, random_token};
use crate::store::{self, Store};
use clap::Parser;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use url::{Host, Url};

/// Sesame, an OpenID Connect provider.
#[derive(Debug, Parser)]
#[command(name = "sesame", version, about)]
pub struct Cli {
    /// Configuration file (TOML); `SESAME_*` environment variables override it.
    #[arg(long, short, global = true, env = "SESAME_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands; none means `serve`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Register, list, show and delete relying parties.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Create, list, disable and enable users.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
}

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
        client_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client.
    Delete { client_id: String },
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
    /// Print `{"client_id":…,"client_secret":…}` for scripts.
    #[arg(long)]
    pub json: bool,
}

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
}

/// `sesame config …`
#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration, then print the settings that matter most.
    Check,
}

/// Why a command failed; decides the exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The arguments are wrong (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// Something failed while running (exit code 1).
    #[error("{0}")]
    Runtime(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Runtime(_) => 1,
        }
    }
}

fn runtime(error: impl std::fmt::Display) -> CliError {
    CliError::Runtime(error.to_string())
}

/// Runs the CLI; returns the process exit code (0 ok, 1 runtime error, 2 usage).
pub async fn run(cli: Cli) -> i32 {
    // Not locked for the whole run: `serve` lives as long as the process.
    let mut stdout = std::io::stdout();
    match execute(cli, &mut stdout).await {
        Ok(()) => 0,
        Err(error) => {
            let _ = stdout.flush();
            eprintln!("sesame: {error}");
            error.exit_code()
        }
    }
}

async fn execute(cli: Cli, out: &mut impl Write) -> Result<(), CliError> {
    let config = Config::load(cli.config.as_deref()).map_err(runtime)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Config(ConfigCommand::Check) => write_config_check(out, &config).map_err(runtime),
        Command::Client(command) => {
            let store = store::open(&config.database_url).await.map_err(runtime)?;
            client_command(command, store.as_ref(), out).await
        }
        Command::User(command) => {
            let store = store::open(&config.database_url).await.map_err(runtime)?;
            user_command(command, store, &config, out).await
        }
    }
}

/// How often expired rows are purged while serving.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// Throttle counters untouched for this long are forgotten.
const THROTTLE_IDLE_SECONDS: i64 = 86_400;

async fn serve(config: Config) -> Result<(), CliError> {
    crate::telemetry::init_tracing(config.log_json, &config.log_level);
    for name in &config.ignored_env {
        tracing::info!(variable = %name, "Kubernetes service-link variable ignored");
    }
    let state = crate::bootstrap(config, Arc::new(SystemClock))
        .await
        .map_err(runtime)?;
    let listen = state.config.listen;
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| CliError::Runtime(format!("cannot listen on {listen}: {e}")))?;
    let bound = listener.local_addr().map_err(runtime)?;
    tracing::info!(issuer = %state.config.issuer, listen = %bound, "Sesame is listening");

    let store = state.store.clone();
    let clock = state.clock.clone();
    let purge = tokio::spawn(async move {
        let mut every = tokio::time::interval(PURGE_INTERVAL);
        loop {
            every.tick().await;
            let now = clock.now();
            match store.purge_expired(now, now - THROTTLE_IDLE_SECONDS).await {
                Ok(0) => {}
                Ok(rows) => tracing::debug!(rows, "purged expired rows"),
                Err(error) => tracing::warn!(%error, "purging expired rows failed"),
            }
        }
    });
    // actix-web stops gracefully on Ctrl-C and SIGTERM.
    let served = crate::server(state, listener).map_err(runtime)?.await;
    purge.abort();
    served.map_err(runtime)
}

// ---- config ---------------------------------------------------------------------------------

/// Prints `OK` and the resolved issuer, listen address and database (password redacted);
/// never the KEK.
pub fn write_config_check(out: &mut impl Write, config: &Config) -> std::io::Result<()> {
    writeln!(out, "OK")?;
    writeln!(out, "issuer:   {}", config.issuer)?;
    writeln!(out, "listen:   {}", config.listen)?;
    writeln!(
        out,
        "database: {}",
        redact_url_password(&config.database_url)
    )?;
    let kek = if config.kek.is_some() {
        "from configuration".to_string()
    } else {
        format!("file {}", config.kek_file.display())
    };
    writeln!(out, "kek:      {kek}")?;
    for name in &config.ignored_env {
        writeln!(
            out,
            "warning: {name} is a Kubernetes service link, not configuration; ignored"
        )?;
    }
    Ok(())
}

/// Hides the password of a `scheme://user:password@host` URL.
fn redact_url_password(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("REDACTED"));
            url.to_string()
        }
        _ => raw.to_string(),
    }
}

// ---- clients --------------------------------------------------------------------------------

async fn client_command(
    command: ClientCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), CliError> {
    match command {
        ClientCommand::Create(args) => {
            let secret = (!args.public).then(random_token);
            let client = build_client(&args, random_id(), secret.as_ref(), SystemClock.now())?;
            store.create_client(&client).await.map_err(runtime)?;
            write_client_created(out, &client, secret.as_ref(), args.json).map_err(runtime)
        }
        ClientCommand::List { json } => {
            let clients = store.list_clients().await.map_err(runtime)?;
            write_clients(out, &clients, json).map_err(runtime)
        }
        ClientCommand::Show { client_id, json } => match store.client(&client_id).await {
            Ok(Some(client)) => write_client(out, &client, json).map_err(runtime),
            Ok(None) => Err(CliError::Runtime(format!("no client '{client_id}'"))),
            Err(e) => Err(runtime(e)),
        },
        ClientCommand::Delete { client_id } => {
            if store.delete_client(&client_id).await.map_err(runtime)? {
                writeln!(out, "deleted client {client_id}").map_err(runtime)
            } else {
                Err(CliError::Runtime(format!("no client '{client_id}'")))
            }
        }
    }
}

/// Validates `client create` arguments into a client record; the secret is stored only as its
/// SHA-256 hash.
pub fn build_client(
    args: &ClientCreate,
    client_id: String,
    secret: Option<&Secret>,
    now: i64,
) -> Result<Client, CliError> {
    let name = args.name.trim();
    if name.is_empty() {
        return Err(CliError::Usage("--name must not be empty".into()));
    }
    let grant_types = parse_grant_types(&args.grant_types)?;
    if args.public && grant_types.contains(&GrantType::ClientCredentials) {
        // RFC 6749 §4.4: client_credentials needs a client that can authenticate.
        return Err(CliError::Usage(
            "a public client cannot use client_credentials: it has no secret to authenticate with"
                .into(),
        ));
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && args.redirect_uris.is_empty() {
        return Err(CliError::Usage(
            "the authorization_code grant needs at least one --redirect-uri".into(),
        ));
    }
    for uri in args
        .redirect_uris
        .iter()
        .chain(&args.post_logout_redirect_uris)
    {
        validate_redirect_uri(uri).map_err(|reason| {
            CliError::Usage(format!("redirect URI '{uri}' is not allowed: {reason}"))
        })?;
    }
    let allowed_scopes = parse_scopes(&args.scopes)?;
    let token_endpoint_auth_method =
        auth_method(args.public, args.token_endpoint_auth_method.as_deref())?;
    if args.public != secret.is_none() {
        return Err(CliError::Runtime(
            "internal error: a confidential client needs a secret and a public one none".into(),
        ));
    }
    Ok(Client {
        client_id,
        name: name.to_string(),
        secret_hash: secret.map(Secret::hash),
        redirect_uris: dedup(args.redirect_uris.clone()),
        post_logout_redirect_uris: dedup(args.post_logout_redirect_uris.clone()),
        grant_types,
        allowed_scopes,
        token_endpoint_auth_method,
        public: args.public,
        first_party: args.first_party,
        created_at: now,
    })
}

/// The token-endpoint authentication method: `none` for public clients; for confidential ones
/// the requested secret method, `client_secret_basic` by default.
fn auth_method(public: bool, requested: Option<&str>) -> Result<TokenEndpointAuthMethod, CliError> {
    let method = match requested {
        None if public => TokenEndpointAuthMethod::None,
        None => TokenEndpointAuthMethod::ClientSecretBasic,
        Some(name) => name.parse().map_err(CliError::Usage)?,
    };
    match (public, method) {
        (true, TokenEndpointAuthMethod::None) => Ok(method),
        (true, _) => Err(CliError::Usage(
            "a public client has no secret: its token endpoint auth method is none".into(),
        )),
        (false, TokenEndpointAuthMethod::None) => Err(CliError::Usage(
            "a confidential client authenticates with client_secret_basic or client_secret_post; \
             use --public for a client without a secret"
                .into(),
        )),
        (false, _) => Ok(method),
    }
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut seen = Vec::with_capacity(items.len());
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// Parses the `--grant-types` list: known RFC 6749 names, de-duplicated, in the order given.
pub fn parse_grant_types(raw: &[String]) -> Result<Vec<GrantType>, CliError> {
    let mut grants = Vec::new();
    for name in raw.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let grant: GrantType = name.parse().map_err(|_| {
            CliError::Usage(format!(
                "unknown grant type '{name}' (expected authorization_code, refresh_token or \
                 client_credentials)"
            ))
        })?;
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    if grants.is_empty() {
        return Err(CliError::Usage(
            "--grant-types must name at least one grant type".into(),
        ));
    }
    if grants.contains(&GrantType::RefreshToken) && !grants.contains(&GrantType::AuthorizationCode)
    {
        return Err(CliError::Usage(
            "refresh_token needs authorization_code: refresh tokens are issued with a code".into(),
        ));
    }
    Ok(grants)
}

/// Parses the `--scope` list: RFC 6749 §3.3 scope tokens, de-duplicated.
pub fn parse_scopes(raw: &[String]) -> Result<Scope, CliError> {
    let scopes = Scope::from_tokens(raw.iter().map(|s| s.trim()))
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if scopes.is_empty() {
        return Err(CliError::Usage(
            "--scope must name at least one scope".into(),
        ));
    }
    Ok(scopes)
}

/// Checks a redirect URI for registration (RFC 9700 §2.1, RFC 8252 §7): absolute; `https`, or
/// `http` on a loopback host, or a private-use (reverse-domain) scheme for native apps; no
/// fragment, wildcard or user info. The string is stored exactly as given, so it must already
/// be in the form the client will send.
pub fn validate_redirect_uri(raw: &str) -> Result<(), String> {
    if raw.is_empty() {
        return Err("it is empty".into());
    }
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace or control characters".into());
    }
    if raw.contains('*') {
        return Err("wildcards are not allowed; register each URI exactly".into());
    }
    if raw.contains('#') {
        return Err("a redirect URI must not have a fragment (RFC 6749 §3.1.2)".into());
    }
    let url = Url::parse(raw).map_err(|e| format!("it is not an absolute URL ({e})"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it must not contain user info".into());
    }
    match url.scheme() {
        "https" => {
            if url.host().is_none() {
                return Err("an https URI needs a host".into());
            }
            Ok(())
        }
        "http" => match url.host() {
            Some(Host::Ipv4(ip)) if IpAddr::V4(ip).is_loopback() => Ok(()),
            Some(Host::Ipv6(ip)) if IpAddr::V6(ip).is_loopback() => Ok(()),
            Some(Host::Domain("localhost")) => Ok(()),
            _ => Err(
                "http is allowed only for loopback hosts (127.0.0.1, [::1], localhost); \
                      use https"
                    .into(),
            ),
        },
        // RFC 8252 §7.1: a private-use scheme is a reverse domain name, e.g. com.example.app.
        scheme if scheme.contains('.') => {
            if url.host().is_some_and(|h| !h.to_string().is_empty()) {
                return Err(
                    "a private-use scheme URI takes one slash and no host (RFC 8252 §7.1), \
                     e.g. com.example.app:/callback"
                        .into(),
                );
            }
            Ok(())
        }
        other => Err(format!(
            "the scheme '{other}' is not allowed; use https, http on loopback, or a \
             reverse-domain private-use scheme"
        )),
    }
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

fn client_json(client: &Client) -> serde_json::Value {
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
    writeln!(out, "redirect_uris:")?;
    for uri in &client.redirect_uris {
        writeln!(out, "  {uri}")?;
    }
    writeln!(out, "post_logout_redirect_uris:")?;
    for uri in &client.post_logout_redirect_uris {
        writeln!(out, "  {uri}")?;
    }
    writeln!(out, "created_at:                 {}", client.created_at)
}

// ---- users ----------------------------------------------------------------------------------

async fn user_command(
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
            store
                .set_user_disabled(&user.id, true)
                .await
                .map_err(runtime)?;
            let ended = store
                .delete_user_sessions(&user.id)
                .await
                .map_err(runtime)?;
            writeln!(
                out,
                "disabled user {} <{}>; ended {ended} session(s)",
                user.id, user.email
            )
            .map_err(runtime)
        }
        UserCommand::Enable { user } => {
            let user = find_user(store.as_ref(), &user).await?;
            store
                .set_user_disabled(&user.id, false)
                .await
                .map_err(runtime)?;
            writeln!(out, "enabled user {} <{}>", user.id, user.email).map_err(runtime)
        }
    }
}

/// Finds a user by id, or by email when the argument looks like one.
async fn find_user(store: &dyn Store, id_or_email: &str) -> Result<User, CliError> {
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

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("sesame").chain(args.iter().copied())).unwrap()
    }

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

    #[test]
    fn redirect_uris_that_are_accepted() {
        for uri in [
            "https://app.example.com/cb",
            "https://app.example.com:8443/cb?tenant=a",
            "http://127.0.0.1:8765/callback",
            "http://[::1]:8765/callback",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(validate_redirect_uri(uri), Ok(()), "{uri}");
        }
    }

    #[test]
    fn redirect_uris_that_are_refused() {
        for uri in [
            "",
            "/relative/cb",
            "app.example.com/cb",
            "http://app.example.com/cb",
            "http://10.0.0.1/cb",
            "https://app.example.com/cb#frag",
            "https://app.example.com/cb#",
            "https://*.example.com/cb",
            "https://app.example.com/*",
            "https://user@app.example.com/cb",
            "https://app.example.com/c b",
            " https://app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "ftp://example.com/cb",
            "myapp:/cb",
        ] {
            assert!(
                validate_redirect_uri(uri).is_err(),
                "{uri:?} must be refused"
            );
        }
    }

    #[test]
    fn grant_types_parse_comma_separated_and_deduplicated() {
        assert_eq!(
            parse_grant_types(&strings(&[
                "authorization_code",
                " refresh_token",
                "authorization_code"
            ]))
            .unwrap(),
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(
            parse_grant_types(&strings(&["client_credentials"])).unwrap(),
            vec![GrantType::ClientCredentials]
        );
    }

    #[test]
    fn unknown_or_empty_grant_types_are_usage_errors() {
        let err = parse_grant_types(&strings(&["authorization_code", "password"])).unwrap_err();
        assert!(matches!(&err, CliError::Usage(m) if m.contains("unknown grant type 'password'")));
        assert_eq!(err.exit_code(), 2);
        assert!(parse_grant_types(&strings(&[""])).is_err());
        assert!(parse_grant_types(&strings(&["refresh_token"])).is_err());
    }

    #[test]
    fn scopes_are_validated_and_deduplicated() {
        assert_eq!(
            parse_scopes(&strings(&["openid", "email", "openid"]))
                .unwrap()
                .to_string(),
            "openid email"
        );
        assert!(parse_scopes(&strings(&["open\"id"])).is_err());
        assert!(parse_scopes(&strings(&["a\\b"])).is_err());
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
        let client = build_client(&args, "cid".into(), Some(&secret), 42).unwrap();
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
            build_client(&args, "cid".into(), secret, 42)
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
        let client = build_client(&args, "cid".into(), None, 42).unwrap();
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
        let err = build_client(&args, "cid".into(), None, 42).unwrap_err();
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
        let err = build_client(&args, "cid".into(), Some(&secret), 0).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let args = create_args(&[
            "--name",
            "App",
            "--redirect-uri",
            "https://app.example.com/cb",
            "--post-logout-redirect-uri",
            "https://app.example.com/*",
        ]);
        assert!(build_client(&args, "cid".into(), Some(&secret), 0).is_err());
        let args = create_args(&["--name", "App"]);
        assert!(build_client(&args, "cid".into(), Some(&secret), 0).is_err());
        let args = create_args(&["--name", "Service", "--grant-types", "client_credentials"]);
        assert!(build_client(&args, "cid".into(), Some(&secret), 0).is_ok());
    }

    #[test]
    fn created_client_json_carries_secret_or_null() {
        let args = create_args(&["--name", "App", "--redirect-uri", "https://a.example/cb"]);
        let secret = Secret::new("the-secret");
        let client = build_client(&args, "cid".into(), Some(&secret), 0).unwrap();
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

    #[test]
    fn command_line_shapes() {
        assert!(parse(&[]).command.is_none(), "no subcommand means serve");
        assert!(matches!(parse(&["serve"]).command, Some(Command::Serve)));
        assert!(Cli::try_parse_from(["sesame", "user", "create", "--email", "a@b.c"]).is_err());
        let cli = parse(&["--config", "x.toml", "user", "disable", "a@example.com"]);
        assert_eq!(cli.config, Some(PathBuf::from("x.toml")));
        assert!(matches!(
            cli.command,
            Some(Command::User(UserCommand::Disable { user })) if user == "a@example.com"
        ));
        assert!(matches!(
            parse(&["config", "check"]).command,
            Some(Command::Config(ConfigCommand::Check))
        ));
    }

    #[test]
    fn config_check_prints_settings_and_set_aside_variables() {
        let config = Config::load_with_env(
            None,
            [("SESAME_SERVICE_HOST".to_string(), "10.0.0.1".to_string())],
        )
        .unwrap();
        let mut out = Vec::new();
        write_config_check(&mut out, &config).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("OK\n"), "{text}");
        assert!(text.contains("issuer:   http://127.0.0.1:8080"), "{text}");
        assert!(text.contains("listen:   127.0.0.1:8080"), "{text}");
        assert!(
            text.contains("warning: SESAME_SERVICE_HOST is a Kubernetes service link"),
            "{text}"
        );
        assert_eq!(
            redact_url_password("mongodb://admin:hunter2@db.example.com/sesame"),
            "mongodb://admin:REDACTED@db.example.com/sesame"
        );
        assert_eq!(
            redact_url_password("sqlite://data/sesame.db"),
            "sqlite://data/sesame.db"
        );
    }
}
