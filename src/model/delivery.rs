//! Records of the durable outbox and of password reset: plain data, no I/O.

use crate::clock::UnixTime;
use crate::secret::TokenHash;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::UserId;

/// Where an outbox item is in its life: `Queued` until a worker delivers it (`Sent`) or gives
/// up on it (`Failed`); the two ends are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxStatus {
    Queued,
    Sent,
    Failed,
}

impl OutboxStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Queued => "queued",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for OutboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OutboxStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "queued" => Ok(OutboxStatus::Queued),
            "sent" => Ok(OutboxStatus::Sent),
            "failed" => Ok(OutboxStatus::Failed),
            other => Err(format!("unknown outbox status '{other}'")),
        }
    }
}

/// One item of the durable delivery queue (DESIGN.md §3 "outbox item"). The store treats
/// `kind` and `payload` as opaque: the deliverer registered for `kind` reads the payload.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Random id.
    pub id: String,
    /// What delivers it, e.g. `mail` or `backchannel_logout`.
    pub kind: String,
    /// A line for operators (`sesame mail status`): never a secret.
    pub summary: String,
    /// What the deliverer needs (JSON); may hold a secret such as a reset link, so it is never
    /// printed and is erased once the item is sent or failed.
    pub payload: String,
    pub status: OutboxStatus,
    /// Delivery attempts started (a claim counts as one).
    pub attempts: i64,
    pub created_at: UnixTime,
    /// Not claimed before this time.
    pub next_attempt_at: UnixTime,
    /// While `> now`, a worker holds the item and no other may claim it.
    pub lease_until: Option<UnixTime>,
    /// The claim that holds the lease; only it may record the outcome.
    pub claim: Option<String>,
    /// After this, a transient failure is final.
    pub deadline: UnixTime,
    pub last_error: Option<String>,
    /// When it was sent or failed.
    pub finished_at: Option<UnixTime>,
    /// A finished item is purged after this (retention); `None` while queued.
    pub expires_at: Option<UnixTime>,
}

impl fmt::Debug for OutboxItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxItem")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("summary", &self.summary)
            .field("payload", &"<redacted>")
            .field("status", &self.status)
            .field("attempts", &self.attempts)
            .field("next_attempt_at", &self.next_attempt_at)
            .field("lease_until", &self.lease_until)
            .field("deadline", &self.deadline)
            .field("last_error", &self.last_error)
            .field("finished_at", &self.finished_at)
            .finish_non_exhaustive()
    }
}

impl OutboxItem {
    /// A new item, due at once.
    pub fn new(
        kind: &str,
        summary: impl Into<String>,
        payload: impl Into<String>,
        now: UnixTime,
        deadline: UnixTime,
    ) -> OutboxItem {
        OutboxItem {
            id: crate::secret::random_id(),
            kind: kind.to_string(),
            summary: summary.into(),
            payload: payload.into(),
            status: OutboxStatus::Queued,
            attempts: 0,
            created_at: now,
            next_attempt_at: now,
            lease_until: None,
            claim: None,
            deadline,
            last_error: None,
            finished_at: None,
            expires_at: None,
        }
    }
}

/// How many items of a kind are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub queued: u64,
    pub sent: u64,
    pub failed: u64,
    /// When the oldest item still queued was enqueued (`None` when nothing is queued): a queue
    /// whose oldest item keeps ageing is not being delivered.
    pub oldest_queued_at: Option<UnixTime>,
}

/// A password-reset token as stored: only its SHA-256 hash, bound to one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResetToken {
    pub token_hash: TokenHash,
    pub user_id: UserId,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}
