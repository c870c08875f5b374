//! `sesame mail status`: what the outbox holds for mail.

use super::{CliError, runtime};
use crate::mail::KIND;
use crate::model::OutboxItem;
use crate::store::Store;
use std::io::Write;

/// `sesame mail …`
#[derive(Debug, clap::Subcommand)]
pub enum MailCommand {
    /// Count queued, sent and failed mail, and list the newest (address and links are never
    /// shown).
    Status {
        /// How many of the newest mails to list.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

/// Runs a `mail` command against `store`.
pub async fn mail_command(
    command: MailCommand,
    store: &dyn Store,
    out: &mut impl Write,
) -> Result<(), CliError> {
    match command {
        MailCommand::Status { limit } => {
            let counts = store.outbox_counts(KIND).await.map_err(runtime)?;
            let items = store.list_outbox(KIND, limit).await.map_err(runtime)?;
            write_mail_status(out, counts, &items).map_err(runtime)
        }
    }
}

/// Prints the counts, then one line per item: id, status, attempts, next attempt (queued) or
/// when it ended, summary, last error.
pub fn write_mail_status(
    out: &mut impl Write,
    counts: crate::model::OutboxCounts,
    items: &[OutboxItem],
) -> std::io::Result<()> {
    writeln!(
        out,
        "queued: {}  sent: {}  failed: {}",
        counts.queued, counts.sent, counts.failed
    )?;
    for item in items {
        let when = match item.finished_at {
            Some(at) => format!("finished_at={at}"),
            None => format!("next_attempt_at={}", item.next_attempt_at),
        };
        write!(
            out,
            "{}  {:<6}  attempts={}  {}  {}",
            item.id, item.status, item.attempts, when, item.summary
        )?;
        if let Some(error) = &item.last_error {
            write!(out, "  last_error={error:?}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OutboxCounts, OutboxStatus};

    #[test]
    fn status_lists_counts_and_items_without_payloads() {
        let mut failed = OutboxItem::new(
            KIND,
            "password reset mail for user u1",
            "SECRET-LINK",
            100,
            200,
        );
        failed.status = OutboxStatus::Failed;
        failed.attempts = 1;
        failed.finished_at = Some(150);
        failed.last_error = Some("permanent: 550 no such user".into());
        let queued = OutboxItem::new(
            KIND,
            "password changed mail for user u2",
            "SECRET",
            100,
            200,
        );
        let mut out = Vec::new();
        write_mail_status(
            &mut out,
            OutboxCounts {
                queued: 1,
                sent: 0,
                failed: 1,
                oldest_queued_at: Some(100),
            },
            &[failed, queued],
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("queued: 1  sent: 0  failed: 1\n"),
            "{text}"
        );
        assert!(text.contains("failed  attempts=1  finished_at=150  password reset mail for user u1  last_error=\"permanent: 550 no such user\""), "{text}");
        assert!(
            text.contains("queued  attempts=0  next_attempt_at=100"),
            "{text}"
        );
        assert!(!text.contains("SECRET"), "{text}");
    }
}
