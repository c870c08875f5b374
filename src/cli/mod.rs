//! The command line: `serve`, `client …`, `user …`, `keys …`, `config check`; a file per command
//! group.
//!
//! Every command reads the same configuration as the server. Only `serve` and `keys` touch the
//! key-encryption key; the admin commands open the store and nothing else. Passwords arrive on
//! stdin only, so they never show in `ps` or shell history; generated client secrets are printed
//! once, to stdout, and never logged. The commands parse arguments, call the library and print:
//! the rules live in the library (e.g. [`crate::clients`] for client registration).

mod api;
mod audit;
mod client;
mod config;
mod deliveries;
mod healthcheck;
mod keys;
mod mail;
mod serve;
mod user;

pub use api::{ApiCommand, write_api, write_apis};
pub use audit::{AuditArgs, write_audit};
pub use client::{ClientCommand, ClientCreate, write_client, write_client_created, write_clients};
pub use config::{ConfigCommand, write_config_check};
pub use deliveries::DeliveriesCommand;
pub use keys::{KeysCommand, write_keys};
pub use mail::{MailCommand, write_mail_status};
pub use user::{UserCommand, password_from_stdin_text, write_users};

use crate::config::Config;
use crate::store;
use clap::Parser;
use std::io::Write;
use std::path::PathBuf;

pub use serve::ServeArgs;

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
    Serve(serve::ServeArgs),
    /// Register, list, show and delete APIs (resource servers).
    #[command(subcommand)]
    Api(ApiCommand),
    /// Register, list, show and delete relying parties.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Create, list, disable and enable users, and set their passwords.
    #[command(subcommand)]
    User(UserCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Exit 0 if the server on this machine answers `GET /readyz` with 200 (for container
    /// health checks in an image without a shell).
    Healthcheck,
    /// List, rotate, revoke and rewrap the signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Watch the mail outbox.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Watch the durable outbox: every kind of delivery (mail, back-channel logout).
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// Read the audit trail of security events.
    Audit(AuditArgs),
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
    crate::audit::set_retention(config.audit_retention);
    match cli
        .command
        .unwrap_or(Command::Serve(serve::ServeArgs::default()))
    {
        Command::Serve(args) => serve::serve(config, args).await,
        Command::Config(ConfigCommand::Check) => write_config_check(out, &config).map_err(runtime),
        Command::Healthcheck => healthcheck::healthcheck(config.listen).await,
        Command::Client(command) => {
            let store = store::open(&config.database_url).await.map_err(runtime)?;
            client::client_command(command, store.as_ref(), &config, out).await
        }
        Command::Api(command) => {
            let store = store::open(&config.database_url).await.map_err(runtime)?;
            api::api_command(command, store.as_ref(), out).await
        }
        Command::User(command) => {
            let store = store::open(&config.database_url).await.map_err(runtime)?;
            user::user_command(command, store, &config, out).await
        }
        Command::Keys(command) => {
            let store = store::open(&config.database_url).await.map_err(runtime)?;
            keys::keys_command(command, store, &config, out).await
        }
        Command::Mail(command) => {
            let store = store::open(&config.database_url).await.map_err(runtime)?;
            mail::mail_command(command, store.as_ref(), out).await
        }
        Command::Deliveries(command) => {
            let store = store::open(&config.database_url).await.map_err(runtime)?;
            deliveries::deliveries_command(command, store.as_ref(), out).await
        }
        Command::Audit(args) => {
            let store = store::open(&config.database_url).await.map_err(runtime)?;
            audit::audit_command(args, store.as_ref(), out).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a command line as `sesame ARGS…`.
    pub(super) fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("sesame").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn command_line_shapes() {
        assert!(parse(&[]).command.is_none(), "no subcommand means serve");
        assert!(matches!(
            parse(&["serve"]).command,
            Some(Command::Serve(args)) if args == serve::ServeArgs::default()
        ));
        assert!(matches!(
            parse(&["serve", "--dev-tls", "--insecure-dev"]).command,
            Some(Command::Serve(serve::ServeArgs {
                dev_tls: true,
                insecure_dev: true
            }))
        ));
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
    fn generated_ids_that_begin_with_a_hyphen_are_arguments_not_options() {
        // Client ids and kids are base64url, so about one in 32 begins with `-`.
        assert!(matches!(
            parse(&["client", "show", "-Xa9"]).command,
            Some(Command::Client(ClientCommand::Show { client_id, .. })) if client_id == "-Xa9"
        ));
        assert!(matches!(
            parse(&["client", "delete", "-Xa9"]).command,
            Some(Command::Client(ClientCommand::Delete { client_id })) if client_id == "-Xa9"
        ));
        assert!(matches!(
            parse(&["client", "revoke-tokens", "-Xa9"]).command,
            Some(Command::Client(ClientCommand::RevokeTokens { client_id })) if client_id == "-Xa9"
        ));
        assert!(matches!(
            parse(&["keys", "revoke", "-kid"]).command,
            Some(Command::Keys(KeysCommand::Revoke { kid })) if kid == "-kid"
        ));
    }
}
