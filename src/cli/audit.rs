//! `sesame audit [--user EMAIL] [--client ID] [--since DURATION] [--json]`: reads the audit
//! trail, oldest first.

use super::{CliError, runtime};
use crate::clock::{Clock, SystemClock};
use crate::model::{AuditQuery, AuditRecord};
use crate::store::Store;
use std::io::Write;

/// `sesame audit` arguments.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only entries about this user (email, or user id).
    #[arg(long)]
    pub user: Option<String>,
    /// Only entries about this client.
    #[arg(long)]
    pub client: Option<String>,
    /// Only entries this recent: a number with `s`, `m`, `h` or `d` (e.g. `24h`, `7d`).
    #[arg(long, value_parser = parse_duration)]
    pub since: Option<i64>,
    /// At most this many entries, the newest (0: all).
    #[arg(long, default_value_t = 1000)]
    pub limit: u32,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `30s`, `15m`, `24h`, `7d` (or bare seconds) → seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let multiplier = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => {
            return Err(format!(
                "'{text}': use a number with s, m, h or d (e.g. 7d)"
            ));
        }
    };
    number
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("'{text}': use a number with s, m, h or d (e.g. 7d)"))
}

/// Runs `sesame audit` against `store`.
pub(super) async fn audit_command(
    args: AuditArgs,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let user_id = match &args.user {
        None => None,
        Some(user) => Some(super::user::find_user(store, user).await?.id),
    };
    let query = AuditQuery {
        user_id,
        client_id: args.client.clone(),
        since: args.since.map(|s| SystemClock.now().saturating_sub(s)),
        limit: args.limit,
    };
    let entries = store.audit_entries(&query).await.map_err(runtime)?;
    write_audit(out, &entries, args.json).map_err(runtime)
}

/// Prints entries as a table or as JSON lines.
pub fn write_audit(
    out: &mut impl Write,
    entries: &[AuditRecord],
    json: bool,
) -> std::io::Result<()> {
    for e in entries {
        if json {
            let value = serde_json::json!({
                "at": e.at,
                "kind": e.kind,
                "outcome": e.outcome,
                "user_id": e.user_id.as_ref().map(|u| u.0.as_str()),
                "client_id": e.client_id,
                "ip": e.ip,
                "detail": e.detail,
            });
            writeln!(out, "{value}")?;
        } else {
            let dash = |v: Option<&str>| v.unwrap_or("-").to_owned();
            writeln!(
                out,
                "{}\t{}\t{}\tuser={}\tclient={}\tip={}\t{}",
                e.at,
                e.kind,
                e.outcome,
                dash(e.user_id.as_ref().map(|u| u.0.as_str())),
                dash(e.client_id.as_deref()),
                dash(e.ip.as_deref()),
                e.detail.as_deref().unwrap_or("")
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert!(parse_duration("7w").is_err());
        assert!(parse_duration("-1d").is_err());
        assert!(parse_duration("d").is_err());
    }
}
