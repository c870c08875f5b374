//! `sesame keys …`: list the signing keys with their schedule and usage, rotate now, revoke a
//! compromised key, and rewrap every private key under a new key-encryption key.
//!
//! These commands run on the same configuration as `serve` (database, KEK, `[keys]`). What
//! they change, running servers pick up within `keys.reload_interval`.

use super::{CliError, runtime};
use crate::clock::{Clock, SystemClock, UnixTime};
use crate::config::Config;
use crate::keys::{Kek, KeyManager, RevokeError, RotationPolicy, rewrap};
use crate::model::{KeyState, KeyUsage, SigningKey};
use crate::store::Store;
use std::io::Write;
use std::sync::Arc;

/// `sesame keys …`
#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// List the signing keys: kid, state, created, activates, retires, uses, last seen.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Promote the next key to signing now, retire the current one and publish a new next key.
    Rotate,
    /// Withdraw a compromised key: it leaves the JWKS and verifies nothing any more.
    Revoke {
        /// The key's kid (see `sesame keys list`; a kid may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Re-encrypt every private key under a new key-encryption key, read (base64) from stdin.
    Rewrap {
        /// Read the new key-encryption key from stdin (the only way to pass it).
        #[arg(long, required = true)]
        kek_stdin: bool,
    },
}

/// Runs one `keys` command.
pub(super) async fn keys_command(
    command: KeysCommand,
    store: Arc<dyn Store>,
    config: &Config,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let now = SystemClock.now();
    match command {
        KeysCommand::List { json } => {
            let keys = store.signing_keys().await.map_err(runtime)?;
            let usage = store.key_usage().await.map_err(runtime)?;
            write_keys(out, &keys, &usage, &config.key_policy, json).map_err(runtime)
        }
        KeysCommand::Rotate => {
            let manager = manager(store, config, now).await?;
            let rotated = manager.rotate_now(now).await.map_err(runtime)?;
            writeln!(out, "signing with {} from now", rotated.active).map_err(runtime)?;
            for kid in &rotated.retired {
                writeln!(
                    out,
                    "retired {kid} (still published until its tokens expire)"
                )
                .map_err(runtime)?;
            }
            writeln!(out, "published {} as the next key", rotated.next).map_err(runtime)?;
            if !rotated.was_prepublished {
                writeln!(
                    out,
                    "warning: {} signs without having been published for keys.prepublish; \
                     verifiers holding a cached JWKS must fetch it again to accept its tokens",
                    rotated.active
                )
                .map_err(runtime)?;
            }
            writeln!(
                out,
                "running servers sign with it within keys.reload_interval ({} s)",
                config.key_policy.reload_interval
            )
            .map_err(runtime)
        }
        KeysCommand::Revoke { kid } => {
            let manager = manager(store, config, now).await?;
            manager.revoke(&kid, now).await.map_err(|e| match e {
                RevokeError::Keys(e) => runtime(e),
                other => CliError::Usage(other.to_string()),
            })?;
            writeln!(
                out,
                "revoked {kid}: its tokens are refused at userinfo and introspection from now on; \
                 it leaves the JWKS of every running server within keys.reload_interval ({} s)",
                config.key_policy.reload_interval
            )
            .map_err(runtime)
        }
        KeysCommand::Rewrap { kek_stdin: _ } => {
            let old = current_kek(config)?;
            let new = read_kek_from_stdin().await?;
            let moved = rewrap(store.as_ref(), &old, &new).await.map_err(runtime)?;
            writeln!(
                out,
                "rewrapped {moved} signing key(s) under the new key-encryption key; set SESAME_KEK \
                 (or the kek_file) to it and restart every instance"
            )
            .map_err(runtime)
        }
    }
}

/// The KEK `serve` would use.
pub(super) fn current_kek(config: &Config) -> Result<Kek, CliError> {
    match &config.kek {
        Some(k) => Kek::from_base64(k.expose()).map_err(runtime),
        None => Kek::load_or_create(&config.kek_file).map_err(runtime),
    }
}

/// The key manager over the store, as `serve` loads it.
async fn manager(
    store: Arc<dyn Store>,
    config: &Config,
    now: UnixTime,
) -> Result<KeyManager, CliError> {
    KeyManager::load_or_init_with(store, current_kek(config)?, now, config.key_policy)
        .await
        .map_err(runtime)
}

async fn read_kek_from_stdin() -> Result<Kek, CliError> {
    use tokio::io::AsyncReadExt;
    let mut input = String::new();
    tokio::io::stdin()
        .read_to_string(&mut input)
        .await
        .map_err(|e| CliError::Runtime(format!("reading the new KEK from stdin: {e}")))?;
    Kek::from_base64(input.trim()).map_err(|e| CliError::Usage(format!("new KEK on stdin: {e}")))
}

/// When `key` stops (or stopped) signing: its retirement if it has one, else when the key
/// after it takes over (the next key's activation, or the end of its rotation period).
fn retires(key: &SigningKey, keys: &[SigningKey], policy: &RotationPolicy) -> UnixTime {
    if let Some(at) = key.retires_at {
        return at;
    }
    let period_ends = key.activates_at.saturating_add(policy.rotation_period);
    if key.state == KeyState::Active {
        keys.iter()
            .filter(|k| k.state == KeyState::Next && k.generation > key.generation)
            .map(|k| k.activates_at)
            .min()
            .unwrap_or(period_ends)
    } else {
        period_ends
    }
}

/// Prints the keys, oldest generation first, one line each (or a JSON array).
pub fn write_keys(
    out: &mut impl Write,
    keys: &[SigningKey],
    usage: &[KeyUsage],
    policy: &RotationPolicy,
    json: bool,
) -> std::io::Result<()> {
    let usage_of = |kid: &str| usage.iter().find(|u| u.kid == kid);
    if json {
        let all: Vec<_> = keys
            .iter()
            .map(|k| {
                let used = usage_of(&k.kid);
                serde_json::json!({
                    "kid": k.kid,
                    "state": k.state.as_str(),
                    "generation": k.generation,
                    "created_at": k.created_at,
                    "activates_at": k.activates_at,
                    "retires_at": retires(k, keys, policy),
                    "uses": used.map_or(0, |u| u.uses),
                    "last_seen_at": used.map(|u| u.last_seen_at),
                })
            })
            .collect();
        return writeln!(out, "{}", serde_json::Value::Array(all));
    }
    writeln!(
        out,
        "{:<43}  {:<7}  {:>3}  {:<20}  {:<20}  {:<20}  {:>8}  LAST SEEN",
        "KID", "STATE", "GEN", "CREATED", "ACTIVATES", "RETIRES", "USES"
    )?;
    for k in keys {
        let used = usage_of(&k.kid);
        writeln!(
            out,
            "{:<43}  {:<7}  {:>3}  {:<20}  {:<20}  {:<20}  {:>8}  {}",
            k.kid,
            k.state.as_str(),
            k.generation,
            utc(k.created_at),
            utc(k.activates_at),
            utc(retires(k, keys, policy)),
            used.map_or(0, |u| u.uses),
            used.map_or_else(|| "never".to_string(), |u| utc(u.last_seen_at)),
        )?;
    }
    Ok(())
}

/// `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC) for a Unix time.
pub(super) fn utc(at: UnixTime) -> String {
    let days = at.div_euclid(86_400);
    let secs = at.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn command_line_shapes() {
        use super::super::Command;
        use super::super::tests::parse;
        assert!(matches!(
            parse(&["keys", "list", "--json"]).command,
            Some(Command::Keys(KeysCommand::List { json: true }))
        ));
        assert!(matches!(
            parse(&["keys", "revoke", "abc"]).command,
            Some(Command::Keys(KeysCommand::Revoke { kid })) if kid == "abc"
        ));
        assert!(matches!(
            parse(&["keys", "rewrap", "--kek-stdin"]).command,
            Some(Command::Keys(KeysCommand::Rewrap { .. }))
        ));
    }
}
