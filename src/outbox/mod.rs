//! The durable delivery queue (DESIGN.md §2 `outbox/`), generic over what it delivers.
//!
//! An item is enqueued in the same store write as the event that causes it (a reset request
//! enqueues its mail), claimed by one worker at a time under a lease (so several instances
//! never deliver one claim twice), handed to the [`Deliverer`] registered for its kind, and
//! ends `sent` or `failed`. A transient failure (a 4xx SMTP reply, a refused connection) is
//! retried with exponential backoff and jitter until the item's deadline; a permanent one (a
//! 5xx reply) fails at once, without a retry storm. The policy is [`RetryPolicy`], pure, on
//! Sesame's clock. Mail uses it today; back-channel logout notices are a second deliverer.

use crate::clock::UnixTime;
use crate::keys::{Kek, KeyError};
use crate::model::{OutboxItem, OutboxStatus};
use crate::store::{Store, StoreError};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Notify;

/// How many items of one kind a worker pass delivers at most, so one pass stays short.
const BATCH: usize = 50;

/// Why a delivery did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying later: the receiver was unreachable or answered "try again" (SMTP 4xx).
    #[error("transient: {0}")]
    Transient(String),
    /// Retrying cannot help: the receiver refused the item (SMTP 5xx), or it cannot be read.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// Delivery attempts by kind and outcome (`sent`, `retried`, `failed`).
pub const DELIVERIES_METRIC: &str = "sesame_outbox_deliveries_total";
/// Items waiting in the queue, by kind.
pub const QUEUED_METRIC: &str = "sesame_outbox_queued";
/// Age of the oldest queued item in seconds, by kind (0 when the queue is empty).
pub const OLDEST_METRIC: &str = "sesame_outbox_oldest_queued_age_seconds";

fn outcome_metric(kind: &str, outcome: &'static str) {
    metrics::counter!(DELIVERIES_METRIC, "kind" => kind.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Delivers the outbox items of one kind.
#[async_trait]
pub trait Deliverer: Send + Sync {
    /// The item kind it delivers (`OutboxItem::kind`).
    fn kind(&self) -> &str;
    /// Delivers one item's payload once, at `now` (Sesame's clock). Must return within the
    /// lease.
    async fn deliver(&self, item: &OutboxItem, now: UnixTime) -> Result<(), DeliveryError>;
}

/// What becomes of an item after one delivery attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Delivered: `sent`.
    Sent,
    /// Queued again, due at this time.
    RetryAt(UnixTime),
    /// Given up: `failed`, with the reason.
    Failed(String),
}

/// Retry timing, all in seconds of Sesame's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failed attempt; it doubles with each further attempt.
    pub base_backoff: i64,
    /// The longest wait between attempts.
    pub max_backoff: i64,
    /// How long a claim holds an item; a worker that dies leaves it claimable after this.
    pub lease: i64,
    /// How long a new item may be retried (the default 24 hours).
    pub deadline: i64,
    /// How long sent and failed items are kept for `sesame mail status`.
    pub retention: i64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_backoff: 30,
            max_backoff: 3600,
            lease: 120,
            deadline: 86_400,
            retention: 7 * 86_400,
        }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts (≥ 1): `base · 2^(attempts-1)` capped at
    /// `max_backoff`, of which the upper half is spread by `jitter` ∈ [0, 1) ("equal jitter"),
    /// so that items that failed together do not all come back at the same second. At least 1.
    pub fn backoff(&self, attempts: i64, jitter: f64) -> i64 {
        let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 32)).unwrap_or(32);
        let full = self
            .base_backoff
            .saturating_mul(2_i64.saturating_pow(exponent))
            .min(self.max_backoff)
            .max(1);
        let half = full / 2;
        let spread = (half as f64 * jitter.clamp(0.0, 1.0)) as i64;
        (full - half + spread).max(1)
    }

    /// What follows an attempt on `item` (as claimed: `attempts` counts this one) that ended
    /// with `result` at `now`. A transient failure whose retry would fall after the deadline
    /// fails the item instead.
    pub fn after_attempt(
        &self,
        item: &OutboxItem,
        result: &Result<(), DeliveryError>,
        now: UnixTime,
        jitter: f64,
    ) -> Next {
        match result {
            Ok(()) => Next::Sent,
            Err(DeliveryError::Permanent(why)) => Next::Failed(why.clone()),
            Err(DeliveryError::Transient(why)) => {
                let at = now.saturating_add(self.backoff(item.attempts, jitter));
                if at > item.deadline {
                    Next::Failed(format!(
                        "deadline passed after {} attempts: {why}",
                        item.attempts
                    ))
                } else {
                    Next::RetryAt(at)
                }
            }
        }
    }
}

/// A fresh jitter in [0, 1) from the system CSPRNG.
fn jitter() -> f64 {
    let bytes = crate::secret::random_bytes::<4>();
    f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)
}

/// What one pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PassReport {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// Seals outbox payloads at rest: AES-256-GCM under the key-encryption key, bound to the item's
/// id, so a mail's reset link (or a reset request's address) is never stored in the clear,
/// and a payload moved to another item does not open. Producers seal; [`Deliveries`] opens
/// before handing an item to its deliverer.
pub struct PayloadSeal {
    kek: Kek,
}

/// Marks a sealed payload (and its format version).
const SEALED_PREFIX: &str = "sealed-v1:";

impl PayloadSeal {
    /// Seals with `kek`.
    pub fn new(kek: Kek) -> PayloadSeal {
        PayloadSeal { kek }
    }

    /// The associated data of item `id`: domain-separated from the signing keys' kids.
    fn aad(id: &str) -> String {
        format!("sesame-outbox:{id}")
    }

    /// `plaintext` sealed for the item `id`, as stored text.
    pub fn seal(&self, id: &str, plaintext: &str) -> Result<String, KeyError> {
        let sealed = self.kek.seal(&Self::aad(id), plaintext.as_bytes())?;
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(sealed)))
    }

    /// The plaintext of item `id`'s sealed payload; a payload that does not open (another
    /// key-encryption key, another item, corruption) is a permanent failure.
    pub fn open(&self, id: &str, stored: &str) -> Result<String, DeliveryError> {
        let unreadable = || {
            DeliveryError::Permanent(
                "the payload does not open with this key-encryption key".into(),
            )
        };
        let encoded = stored.strip_prefix(SEALED_PREFIX).ok_or_else(unreadable)?;
        let sealed = URL_SAFE_NO_PAD.decode(encoded).map_err(|_| unreadable())?;
        let plain = self
            .kek
            .open(&Self::aad(id), &sealed)
            .map_err(|_| unreadable())?;
        String::from_utf8(plain).map_err(|_| unreadable())
    }
}

/// What whoever enqueues rings so that the worker runs at once rather than at its next beat.
#[derive(Debug, Default)]
pub struct Doorbell {
    rung: AtomicBool,
    wake: Arc<Notify>,
}

impl Doorbell {
    /// Says that something was enqueued.
    pub fn ring(&self) {
        self.rung.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Whether it rang since the worker's last pass began.
    pub fn rung(&self) -> bool {
        self.rung.load(Ordering::SeqCst)
    }
}

/// The outbox service: claims due items, hands them to their deliverers and records the outcome
/// by the [`RetryPolicy`].
pub struct Deliveries {
    store: Arc<dyn Store>,
    deliverers: Vec<Arc<dyn Deliverer>>,
    policy: RetryPolicy,
    doorbell: Arc<Doorbell>,
    seal: Arc<PayloadSeal>,
}

impl Deliveries {
    /// The service over `store` with these deliverers (each pass serves them in this order)
    /// and policy, woken by `doorbell`; payloads are opened with `seal`.
    pub fn new(
        store: Arc<dyn Store>,
        deliverers: Vec<Arc<dyn Deliverer>>,
        policy: RetryPolicy,
        doorbell: Arc<Doorbell>,
        seal: Arc<PayloadSeal>,
    ) -> Deliveries {
        Deliveries {
            store,
            deliverers,
            policy,
            doorbell,
            seal,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// The seal producers use for the payloads they enqueue (back-channel logout notices).
    pub fn seal(&self) -> &PayloadSeal {
        &self.seal
    }

    /// Says that something was enqueued, so the worker runs now rather than at its next period.
    pub fn kick(&self) {
        self.doorbell.ring();
    }

    /// Whether the doorbell rang since the last pass began.
    pub fn kicked(&self) -> bool {
        self.doorbell.rung()
    }

    /// Notified when the doorbell rings.
    pub fn wake_signal(&self) -> Arc<Notify> {
        self.doorbell.wake.clone()
    }

    /// One pass at `now`: for each kind, claims due items one at a time (at most a batch) and
    /// delivers them, until a transient failure says the receiver is unavailable.
    pub async fn run_due(&self, now: UnixTime) -> Result<PassReport, StoreError> {
        self.doorbell.rung.store(false, Ordering::SeqCst);
        let mut report = PassReport::default();
        for deliverer in &self.deliverers {
            for _ in 0..BATCH {
                let claim = crate::secret::random_id();
                let lease_until = now.saturating_add(self.policy.lease);
                let Some(item) = self
                    .store
                    .claim_due(deliverer.kind(), now, lease_until, &claim)
                    .await?
                else {
                    break;
                };
                let result = match self.seal.open(&item.id, &item.payload) {
                    Ok(payload) => {
                        let clear = OutboxItem {
                            payload,
                            ..item.clone()
                        };
                        deliverer.deliver(&clear, now).await
                    }
                    Err(unreadable) => Err(unreadable),
                };
                self.record(&item, &claim, &result, now, &mut report)
                    .await?;
                // The receiver is probably down or busy: the rest waits for a later pass
                // rather than each item waiting out its own timeout in this one (the pass
                // holds up the other background jobs).
                if matches!(result, Err(DeliveryError::Transient(_))) {
                    break;
                }
            }
            self.publish_queue_metrics(deliverer.kind(), now).await?;
        }
        Ok(report)
    }

    /// Sets the queue gauges of `kind`: how many items wait, and how long the oldest has.
    async fn publish_queue_metrics(&self, kind: &str, now: UnixTime) -> Result<(), StoreError> {
        let counts = self.store.outbox_counts(kind).await?;
        let kind = kind.to_owned();
        metrics::gauge!(QUEUED_METRIC, "kind" => kind.clone()).set(counts.queued as f64);
        let oldest_age = counts
            .oldest_queued_at
            .map_or(0, |at| now.saturating_sub(at).max(0));
        metrics::gauge!(OLDEST_METRIC, "kind" => kind).set(oldest_age as f64);
        Ok(())
    }

    /// Records the outcome of one attempt.
    async fn record(
        &self,
        item: &OutboxItem,
        claim: &str,
        result: &Result<(), DeliveryError>,
        now: UnixTime,
        report: &mut PassReport,
    ) -> Result<(), StoreError> {
        let keep_until = now.saturating_add(self.policy.retention);
        let held = match self.policy.after_attempt(item, result, now, jitter()) {
            Next::Sent => {
                report.sent += 1;
                outcome_metric(&item.kind, "sent");
                tracing::info!(id = %item.id, kind = %item.kind, summary = %item.summary, attempts = item.attempts, "outbox item delivered");
                self.store
                    .finish(&item.id, claim, OutboxStatus::Sent, None, now, keep_until)
                    .await?
            }
            Next::RetryAt(at) => {
                report.retried += 1;
                outcome_metric(&item.kind, "retried");
                let why = result
                    .as_ref()
                    .err()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                tracing::warn!(id = %item.id, kind = %item.kind, attempts = item.attempts, retry_at = at, error = %why, "outbox delivery failed; retrying later");
                self.store.reschedule(&item.id, claim, at, &why).await?
            }
            Next::Failed(why) => {
                report.failed += 1;
                outcome_metric(&item.kind, "failed");
                tracing::error!(id = %item.id, kind = %item.kind, summary = %item.summary, attempts = item.attempts, error = %why, "outbox delivery failed for good");
                self.store
                    .finish(
                        &item.id,
                        claim,
                        OutboxStatus::Failed,
                        Some(&why),
                        now,
                        keep_until,
                    )
                    .await?
            }
        };
        if !held {
            // The lease ran out during the attempt and another worker claimed the item.
            tracing::warn!(id = %item.id, "outbox lease lost before the outcome was recorded");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = 1_700_000_000;

    fn item(attempts: i64, deadline: UnixTime) -> OutboxItem {
        let mut item = OutboxItem::new("mail", "test", "{}", NOW, deadline);
        item.attempts = attempts;
        item
    }

    #[test]
    fn backoff_doubles_per_attempt_up_to_the_cap() {
        let policy = RetryPolicy::default();
        // Without jitter the wait is the lower half of the full step; with it, up to the full.
        assert_eq!(policy.backoff(1, 0.0), 15);
        assert_eq!(policy.backoff(1, 0.999_999), 29);
        assert_eq!(policy.backoff(2, 0.0), 30);
        assert_eq!(policy.backoff(3, 0.0), 60);
        assert_eq!(policy.backoff(8, 0.0), 1800, "capped at max_backoff = 3600");
        assert_eq!(
            policy.backoff(60, 0.5),
            2700,
            "no overflow for huge attempt counts"
        );
    }

    #[test]
    fn jitter_spreads_within_the_step() {
        let policy = RetryPolicy::default();
        for attempts in 1..12 {
            let low = policy.backoff(attempts, 0.0);
            let high = policy.backoff(attempts, 0.999_999);
            assert!(low < high, "attempt {attempts}: {low} < {high}");
            assert!(high <= policy.max_backoff);
        }
    }

    #[test]
    fn success_is_sent_and_a_permanent_failure_fails_at_once() {
        let policy = RetryPolicy::default();
        let it = item(1, NOW + 86_400);
        assert_eq!(policy.after_attempt(&it, &Ok(()), NOW, 0.3), Next::Sent);
        assert_eq!(
            policy.after_attempt(
                &it,
                &Err(DeliveryError::Permanent("550 no such user".into())),
                NOW,
                0.3
            ),
            Next::Failed("550 no such user".into())
        );
    }

    #[test]
    fn a_transient_failure_is_retried_after_the_backoff() {
        let policy = RetryPolicy::default();
        let it = item(3, NOW + 86_400);
        let next = policy.after_attempt(
            &it,
            &Err(DeliveryError::Transient("421 busy".into())),
            NOW,
            0.0,
        );
        assert_eq!(next, Next::RetryAt(NOW + 60));
    }

    #[test]
    fn a_transient_failure_past_the_deadline_fails() {
        let policy = RetryPolicy::default();
        let it = item(2, NOW + 10);
        match policy.after_attempt(
            &it,
            &Err(DeliveryError::Transient("refused".into())),
            NOW,
            0.0,
        ) {
            Next::Failed(why) => assert!(why.contains("deadline"), "{why}"),
            other => panic!("expected Failed, got {other:?}"),
        }
    }

    #[test]
    fn sealed_payloads_open_only_for_their_item_and_key() {
        let seal = PayloadSeal::new(Kek::generate());
        let stored = seal.seal("item-1", "{\"link\":\"secret\"}").unwrap();
        assert!(!stored.contains("secret"));
        assert_eq!(
            seal.open("item-1", &stored).unwrap(),
            "{\"link\":\"secret\"}"
        );
        assert!(matches!(
            seal.open("item-2", &stored),
            Err(DeliveryError::Permanent(_))
        ));
        let other = PayloadSeal::new(Kek::generate());
        assert!(matches!(
            other.open("item-1", &stored),
            Err(DeliveryError::Permanent(_))
        ));
        assert!(
            seal.open("item-1", "{\"plain\":1}").is_err(),
            "plaintext is refused"
        );
    }

    #[test]
    fn jitter_is_in_the_unit_interval() {
        for _ in 0..1000 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}
