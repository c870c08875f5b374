//! `sesame api …`: register, list, show and delete APIs (resource servers), and
//! `sesame client allow-api`, which says which of an API's scopes a client may ask for.

use super::{CliError, runtime};
use crate::apis::{ApiError, ApiRegistration, build_api, build_client_api};
use crate::clock::{Clock, SystemClock};
use crate::model::{Api, Client, ClientApi};
use crate::store::{Conflict, Store, StoreError};
use std::io::Write;

/// `sesame api …`
#[derive(Debug, clap::Subcommand)]
pub enum ApiCommand {
    /// Register an API: its identifier is the `resource` clients ask for and the `aud` of its
    /// tokens.
    Create(ApiCreate),
    /// List registered APIs.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one API.
    Show {
        /// The API's identifier.
        identifier: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete an API (and every client's permission for it).
    Delete {
        /// The API's identifier.
        identifier: String,
    },
}

/// `sesame api create`
#[derive(Debug, clap::Args)]
pub struct ApiCreate {
    /// The API's identifier: an absolute URI, e.g. https://api.example.com/orders.
    #[arg(long, value_name = "URI")]
    pub identifier: String,
    /// Display name, shown on the consent page.
    #[arg(long)]
    pub name: String,
    /// A scope the API defines, as `NAME=DESCRIPTION` (repeat for several); the description is
    /// shown on the consent page.
    #[arg(long = "scope", value_name = "NAME=DESCRIPTION")]
    pub scopes: Vec<String>,
    /// Lifetime of access tokens for this API, in seconds (default: tokens.access_token_ttl).
    #[arg(long, value_name = "SECONDS")]
    pub access_token_ttl: Option<i64>,
    /// `jwt` (the default; opaque tokens are not supported yet).
    #[arg(long, value_name = "FORMAT")]
    pub token_format: Option<String>,
    /// Print the API as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `sesame client allow-api`
#[derive(Debug, clap::Args)]
pub struct AllowApi {
    /// The client.
    #[arg(allow_hyphen_values = true)]
    pub client_id: String,
    /// The API's identifier.
    #[arg(long, value_name = "URI")]
    pub api: String,
    /// The API's scopes the client may ask for, comma-separated; replaces what was allowed for
    /// this API before.
    #[arg(long, value_delimiter = ',', required = true, value_name = "SCOPES")]
    pub scopes: Vec<String>,
}

impl From<ApiError> for CliError {
    fn from(error: ApiError) -> CliError {
        CliError::Usage(error.to_string())
    }
}

/// Runs one `api` command against `store`.
pub(super) async fn api_command(
    command: ApiCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), CliError> {
    match command {
        ApiCommand::Create(args) => {
            let registration = ApiRegistration {
                identifier: args.identifier,
                name: args.name,
                scopes: args.scopes,
                access_token_ttl: args.access_token_ttl,
                token_format: args.token_format,
            };
            let api = build_api(&registration, SystemClock.now())?;
            match store.create_api(&api).await {
                Ok(()) => {}
                Err(StoreError::Conflict(Conflict::ApiIdentifier)) => {
                    return Err(CliError::Runtime(format!(
                        "an API '{}' already exists",
                        api.identifier
                    )));
                }
                Err(e) => return Err(runtime(e)),
            }
            if args.json {
                writeln!(out, "{}", api_json(&api)).map_err(runtime)
            } else {
                writeln!(out, "created API {}", api.identifier).map_err(runtime)
            }
        }
        ApiCommand::List { json } => {
            let apis = store.list_apis().await.map_err(runtime)?;
            write_apis(out, &apis, json).map_err(runtime)
        }
        ApiCommand::Show { identifier, json } => match store.api(&identifier).await {
            Ok(Some(api)) => write_api(out, &api, json).map_err(runtime),
            Ok(None) => Err(CliError::Runtime(format!("no API '{identifier}'"))),
            Err(e) => Err(runtime(e)),
        },
        ApiCommand::Delete { identifier } => {
            if store.delete_api(&identifier).await.map_err(runtime)? {
                writeln!(out, "deleted API {identifier}").map_err(runtime)
            } else {
                Err(CliError::Runtime(format!("no API '{identifier}'")))
            }
        }
    }
}

/// `sesame client allow-api`: checks the client and the API exist and the scopes are the
/// API's, then stores the permission.
pub(super) async fn allow_api(
    args: AllowApi,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let client = store
        .client(&args.client_id)
        .await
        .map_err(runtime)?
        .ok_or_else(|| CliError::Runtime(format!("no client '{}'", args.client_id)))?;
    let api = store
        .api(&args.api)
        .await
        .map_err(runtime)?
        .ok_or_else(|| CliError::Runtime(format!("no API '{}'", args.api)))?;
    let allowed = build_client_api(&client, &api, &args.scopes)?;
    store.allow_client_api(&allowed).await.map_err(runtime)?;
    writeln!(
        out,
        "client {} may ask for {} with scopes {}",
        client.client_id, api.identifier, allowed.scopes
    )
    .map_err(runtime)
}

/// `sesame client show`: the client, then the APIs it may ask tokens for.
pub(super) fn write_client_with_apis(
    out: &mut impl Write,
    client: &Client,
    apis: &[ClientApi],
    json: bool,
) -> std::io::Result<()> {
    if json {
        let mut value = super::client::client_json(client);
        value["apis"] = serde_json::Value::Array(
            apis.iter()
                .map(|a| serde_json::json!({ "api": a.api, "scopes": a.scopes }))
                .collect(),
        );
        return writeln!(out, "{value:#}");
    }
    super::write_client(out, client, false)?;
    writeln!(out, "apis:")?;
    for allowed in apis {
        writeln!(out, "  {} {}", allowed.api, allowed.scopes)?;
    }
    Ok(())
}

fn api_json(api: &Api) -> serde_json::Value {
    serde_json::json!({
        "identifier": api.identifier,
        "name": api.name,
        "scopes": api.scopes,
        "access_token_ttl": api.access_token_ttl,
        "token_format": api.token_format.as_str(),
        "created_at": api.created_at,
    })
}

/// Prints the API list, one line each (or a JSON array).
pub fn write_apis(out: &mut impl Write, apis: &[Api], json: bool) -> std::io::Result<()> {
    if json {
        let all: Vec<_> = apis.iter().map(api_json).collect();
        return writeln!(out, "{}", serde_json::Value::Array(all));
    }
    if apis.is_empty() {
        return writeln!(out, "no APIs");
    }
    for api in apis {
        let scopes: Vec<&str> = api.scopes.iter().map(|s| s.name.as_str()).collect();
        writeln!(
            out,
            "{}\t{}\t{}",
            api.identifier,
            api.name,
            scopes.join(" ")
        )?;
    }
    Ok(())
}

/// Prints one API in full.
pub fn write_api(out: &mut impl Write, api: &Api, json: bool) -> std::io::Result<()> {
    if json {
        return writeln!(out, "{:#}", api_json(api));
    }
    writeln!(out, "identifier:       {}", api.identifier)?;
    writeln!(out, "name:             {}", api.name)?;
    match api.access_token_ttl {
        Some(ttl) => writeln!(out, "access_token_ttl: {ttl}")?,
        None => writeln!(out, "access_token_ttl: default")?,
    }
    writeln!(out, "token_format:     {}", api.token_format.as_str())?;
    writeln!(out, "scopes:")?;
    for scope in &api.scopes {
        writeln!(out, "  {}\t{}", scope.name, scope.description)?;
    }
    writeln!(out, "created_at:       {}", api.created_at)
}

#[cfg(test)]
mod tests {
    use super::super::{Command, tests::parse};
    use super::*;
    use crate::cli::ClientCommand;

    #[test]
    fn command_line_shapes() {
        let cli = parse(&[
            "api",
            "create",
            "--identifier",
            "https://api.example.com/orders",
            "--name",
            "Orders",
            "--scope",
            "orders:read=Read your orders",
            "--scope",
            "orders:write=Place orders",
            "--access-token-ttl",
            "300",
            "--json",
        ]);
        let Some(Command::Api(ApiCommand::Create(args))) = cli.command else {
            panic!("not api create");
        };
        assert_eq!(args.scopes.len(), 2);
        assert_eq!(args.access_token_ttl, Some(300));
        assert!(args.json);
        let cli = parse(&[
            "client",
            "allow-api",
            "c1",
            "--api",
            "https://api.example.com/orders",
            "--scopes",
            "orders:read,orders:write",
        ]);
        let Some(Command::Client(ClientCommand::AllowApi(args))) = cli.command else {
            panic!("not client allow-api");
        };
        assert_eq!(args.client_id, "c1");
        assert_eq!(args.scopes, ["orders:read", "orders:write"]);
        assert!(matches!(
            parse(&["api", "delete", "https://a.example"]).command,
            Some(Command::Api(ApiCommand::Delete { .. }))
        ));
    }
}
