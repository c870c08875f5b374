//! `sesame deliveries list`: what the durable outbox holds, for every kind it delivers (reset
//! requests, mail, back-channel logout notices). Payloads are never shown.

use super::{CliError, runtime};
use crate::model::{OutboxCounts, OutboxItem};
use crate::store::Store;
use std::io::Write;

/// Every outbox kind, in the order the worker serves them.
pub const KINDS: &[&str] = &[
    crate::accounts::reset::REQUEST_KIND,
    crate::mail::KIND,
    crate::backchannel::KIND,
];

/// `sesame deliveries …`
#[derive(Debug, clap::Subcommand)]
pub enum DeliveriesCommand {
    /// For each kind (password_reset_request, mail, backchannel_logout): count queued, sent
    /// and failed items and list the newest, with attempts, next attempt and last error.
    List {
        /// How many of the newest items of each kind to list.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON: `{"<kind>": {"counts": {…}, "items": [{…}]}}`.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `deliveries` command against `store`.
pub async fn deliveries_command(
    command: DeliveriesCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let DeliveriesCommand::List { limit, json } = command;
    let mut kinds = Vec::with_capacity(KINDS.len());
    for kind in KINDS {
        let counts = store.outbox_counts(kind).await.map_err(runtime)?;
        let items = store.list_outbox(kind, limit).await.map_err(runtime)?;
        kinds.push((*kind, counts, items));
    }
    if json {
        writeln!(out, "{}", deliveries_json(&kinds)).map_err(runtime)
    } else {
        for (kind, counts, items) in &kinds {
            writeln!(out, "== {kind}").map_err(runtime)?;
            super::write_mail_status(out, *counts, items).map_err(runtime)?;
        }
        Ok(())
    }
}

/// The JSON form: per kind, the counts and the items (never the payload).
fn deliveries_json(kinds: &[(&str, OutboxCounts, Vec<OutboxItem>)]) -> serde_json::Value {
    let mut all = serde_json::Map::new();
    for (kind, counts, items) in kinds {
        let items: Vec<_> = items
            .iter()
            .map(|item| {
                serde_json::json!({
                    "id": item.id,
                    "status": item.status,
                    "summary": item.summary,
                    "attempts": item.attempts,
                    "created_at": item.created_at,
                    "next_attempt_at": item.next_attempt_at,
                    "deadline": item.deadline,
                    "finished_at": item.finished_at,
                    "last_error": item.last_error,
                })
            })
            .collect();
        all.insert(
            kind.to_string(),
            serde_json::json!({ "counts": counts, "items": items }),
        );
    }
    serde_json::Value::Object(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::OutboxStatus;

    #[test]
    fn json_lists_each_kind_without_payloads() {
        let mut failed = OutboxItem::new(
            crate::backchannel::KIND,
            "logout token for client c1",
            "SECRET",
            100,
            200,
        );
        failed.status = OutboxStatus::Failed;
        failed.attempts = 1;
        failed.last_error = Some("permanent: answered 400 Bad Request".into());
        let counts = OutboxCounts {
            queued: 0,
            sent: 0,
            failed: 1,
            oldest_queued_at: None,
        };
        let json = deliveries_json(&[
            (crate::backchannel::KIND, counts, vec![failed]),
            (crate::mail::KIND, OutboxCounts::default(), vec![]),
        ]);
        let bcl = &json["backchannel_logout"];
        assert_eq!(bcl["counts"]["failed"], 1);
        assert_eq!(bcl["items"][0]["status"], "failed");
        assert_eq!(bcl["items"][0]["attempts"], 1);
        assert_eq!(json["mail"]["counts"]["queued"], 0);
        assert!(!json.to_string().contains("SECRET"));
    }
}
