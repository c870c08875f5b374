//! The outbox's store contract: claims are exclusive and leased, outcomes belong to the claim
//! that holds the item, and the retry policy (backoff, deadline, permanent failures) holds over
//! every backend through the outbox service.

use super::{ContractTest, NOW, RACERS};
use async_trait::async_trait;
use futures_util::future::BoxFuture;
use sesame::keys::Kek;
use sesame::model::{OutboxItem, OutboxStatus};
use sesame::outbox::{Deliverer, Deliveries, DeliveryError, PayloadSeal, RetryPolicy};
use sesame::secret::random_id;
use sesame::store::Store;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

macro_rules! outbox_tests {
    ($($name:ident),* $(,)?) => {
        /// Every outbox contract test, by name.
        pub const TESTS: &[(&str, ContractTest)] = &[
            $((stringify!($name), |store| -> BoxFuture<'static, ()> { Box::pin($name(store)) })),*
        ];
    };
}

outbox_tests![
    an_item_is_claimed_only_when_due_and_then_leased,
    concurrent_claimers_get_each_item_exactly_once,
    an_expired_lease_lets_another_worker_claim,
    only_the_holding_claim_records_an_outcome,
    a_rescheduled_item_comes_back_at_its_time_with_its_error,
    finished_items_keep_no_payload_and_are_counted_and_listed,
    finished_items_are_purged_after_their_retention_only,
    a_transient_failure_is_retried_with_backoff_until_delivered,
    a_transient_failure_after_the_deadline_fails_the_item,
    a_permanent_failure_fails_at_once_without_retry,
    a_transient_failure_ends_the_pass_for_that_kind,
];

/// A kind of its own per test, so tests sharing a store never claim each other's items.
fn fresh_kind() -> String {
    format!("test-{}", random_id())
}

/// The payload seal of these tests (payloads are stored sealed, as producers store them).
fn seal() -> Arc<PayloadSeal> {
    static SEAL: OnceLock<Arc<PayloadSeal>> = OnceLock::new();
    SEAL.get_or_init(|| Arc::new(PayloadSeal::new(Kek::generate())))
        .clone()
}

fn item(kind: &str, due: i64) -> OutboxItem {
    let mut item = OutboxItem::new(kind, "a test item", "", NOW, NOW + 86_400);
    item.payload = seal()
        .seal(&item.id, "{\"secret\":\"link\"}")
        .expect("seal");
    item.next_attempt_at = due;
    item
}

async fn an_item_is_claimed_only_when_due_and_then_leased(store: Arc<dyn Store>) {
    let kind = fresh_kind();
    let it = item(&kind, NOW + 10);
    store.enqueue(&it).await.unwrap();
    assert!(
        store
            .claim_due(&kind, NOW + 9, NOW + 69, "c1")
            .await
            .unwrap()
            .is_none(),
        "not yet due"
    );
    let claimed = store
        .claim_due(&kind, NOW + 10, NOW + 70, "c1")
        .await
        .unwrap()
        .expect("due item is claimed");
    assert_eq!(claimed.id, it.id);
    assert_eq!(claimed.attempts, 1, "a claim counts one attempt");
    assert_eq!(claimed.lease_until, Some(NOW + 70));
    assert_eq!(claimed.claim.as_deref(), Some("c1"));
    assert_eq!(claimed.payload, it.payload);
    assert_eq!(claimed.status, OutboxStatus::Queued);
    assert!(
        store
            .claim_due(&kind, NOW + 11, NOW + 71, "c2")
            .await
            .unwrap()
            .is_none(),
        "a leased item is not claimed again"
    );
    assert!(
        store
            .claim_due(&fresh_kind(), NOW + 11, NOW + 71, "c3")
            .await
            .unwrap()
            .is_none(),
        "another kind's claimer does not see it"
    );
}

async fn concurrent_claimers_get_each_item_exactly_once(store: Arc<dyn Store>) {
    let kind = fresh_kind();
    let mut ids = HashSet::new();
    for _ in 0..5 {
        let it = item(&kind, NOW);
        ids.insert(it.id.clone());
        store.enqueue(&it).await.unwrap();
    }
    let claimers: Vec<_> = (0..RACERS)
        .map(|n| {
            let store = store.clone();
            let kind = kind.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(it) = store
                    .claim_due(&kind, NOW, NOW + 60, &format!("claimer-{n}"))
                    .await
                    .unwrap()
                {
                    got.push(it.id);
                }
                got
            })
        })
        .collect();
    let mut claimed = Vec::new();
    for claimer in claimers {
        claimed.extend(claimer.await.expect("claimer task"));
    }
    claimed.sort();
    let mut expected: Vec<_> = ids.into_iter().collect();
    expected.sort();
    assert_eq!(claimed, expected, "every item claimed, none twice");
}

async fn an_expired_lease_lets_another_worker_claim(store: Arc<dyn Store>) {
    let kind = fresh_kind();
    let it = item(&kind, NOW);
    store.enqueue(&it).await.unwrap();
    store
        .claim_due(&kind, NOW, NOW + 60, "dead-worker")
        .await
        .unwrap()
        .expect("first claim");
    assert!(
        store
            .claim_due(&kind, NOW + 59, NOW + 119, "w2")
            .await
            .unwrap()
            .is_none()
    );
    let again = store
        .claim_due(&kind, NOW + 60, NOW + 120, "w2")
        .await
        .unwrap()
        .expect("the lease ran out: claimable again");
    assert_eq!(again.attempts, 2);
    assert_eq!(again.claim.as_deref(), Some("w2"));
}

async fn only_the_holding_claim_records_an_outcome(store: Arc<dyn Store>) {
    let kind = fresh_kind();
    let it = item(&kind, NOW);
    store.enqueue(&it).await.unwrap();
    store
        .claim_due(&kind, NOW, NOW + 60, "slow")
        .await
        .unwrap()
        .expect("claim");
    store
        .claim_due(&kind, NOW + 60, NOW + 120, "fast")
        .await
        .unwrap()
        .expect("reclaim");
    assert!(
        !store
            .finish(
                &it.id,
                "slow",
                OutboxStatus::Sent,
                None,
                NOW + 61,
                NOW + 999
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .reschedule(&it.id, "slow", NOW + 500, "late")
            .await
            .unwrap()
    );
    assert!(
        store
            .finish(
                &it.id,
                "fast",
                OutboxStatus::Sent,
                None,
                NOW + 61,
                NOW + 999
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .finish(
                &it.id,
                "fast",
                OutboxStatus::Failed,
                Some("x"),
                NOW + 62,
                NOW + 999
            )
            .await
            .unwrap(),
        "a finished item does not change again"
    );
    let stored = store.outbox_item(&it.id).await.unwrap().expect("stored");
    assert_eq!(stored.status, OutboxStatus::Sent);
}

async fn a_rescheduled_item_comes_back_at_its_time_with_its_error(store: Arc<dyn Store>) {
    let kind = fresh_kind();
    let it = item(&kind, NOW);
    store.enqueue(&it).await.unwrap();
    store
        .claim_due(&kind, NOW, NOW + 60, "c")
        .await
        .unwrap()
        .expect("claim");
    assert!(
        store
            .reschedule(&it.id, "c", NOW + 100, "421 try later")
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_due(&kind, NOW + 99, NOW + 159, "d")
            .await
            .unwrap()
            .is_none()
    );
    let back = store
        .claim_due(&kind, NOW + 100, NOW + 160, "d")
        .await
        .unwrap()
        .expect("due again");
    assert_eq!(back.attempts, 2);
    assert_eq!(back.last_error.as_deref(), Some("421 try later"));
    assert_eq!(back.next_attempt_at, NOW + 100);
}

async fn finished_items_keep_no_payload_and_are_counted_and_listed(store: Arc<dyn Store>) {
    let kind = fresh_kind();
    let mut sent = item(&kind, NOW);
    sent.created_at = NOW - 2;
    let mut failed = item(&kind, NOW);
    failed.created_at = NOW - 1;
    let queued = item(&kind, NOW + 1000);
    for it in [&sent, &failed, &queued] {
        store.enqueue(it).await.unwrap();
    }
    let a = store
        .claim_due(&kind, NOW, NOW + 60, "a")
        .await
        .unwrap()
        .expect("claim a");
    let b = store
        .claim_due(&kind, NOW, NOW + 60, "b")
        .await
        .unwrap()
        .expect("claim b");
    assert_eq!(a.id, sent.id, "claimed in order");
    assert!(
        store
            .finish(&a.id, "a", OutboxStatus::Sent, None, NOW + 1, NOW + 99)
            .await
            .unwrap()
    );
    assert!(
        store
            .finish(
                &b.id,
                "b",
                OutboxStatus::Failed,
                Some("550 no such user"),
                NOW + 1,
                NOW + 99
            )
            .await
            .unwrap()
    );
    let a = store.outbox_item(&a.id).await.unwrap().expect("a");
    assert_eq!(
        (a.status, a.payload.as_str(), a.finished_at),
        (OutboxStatus::Sent, "", Some(NOW + 1))
    );
    let b = store.outbox_item(&b.id).await.unwrap().expect("b");
    assert_eq!(b.status, OutboxStatus::Failed);
    assert_eq!(b.payload, "");
    assert_eq!(b.last_error.as_deref(), Some("550 no such user"));
    let counts = store.outbox_counts(&kind).await.unwrap();
    assert_eq!((counts.queued, counts.sent, counts.failed), (1, 1, 1));
    assert_eq!(
        counts.oldest_queued_at,
        Some(queued.created_at),
        "the oldest queued item, not the older finished ones"
    );
    let empty = store.outbox_counts(&fresh_kind()).await.unwrap();
    assert_eq!(empty.oldest_queued_at, None);
    let listed: Vec<_> = store
        .list_outbox(&kind, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(
        listed,
        vec![queued.id.clone(), failed.id.clone(), sent.id.clone()],
        "newest first"
    );
    assert_eq!(store.list_outbox(&kind, 1).await.unwrap().len(), 1);
    assert!(
        store
            .claim_due(&kind, NOW + 10_000, NOW + 10_060, "z")
            .await
            .unwrap()
            .map(|i| i.id)
            == Some(queued.id)
    );
}

async fn finished_items_are_purged_after_their_retention_only(store: Arc<dyn Store>) {
    let kind = fresh_kind();
    let done = item(&kind, NOW);
    let waiting = item(&kind, NOW + 1_000_000);
    store.enqueue(&done).await.unwrap();
    store.enqueue(&waiting).await.unwrap();
    store
        .claim_due(&kind, NOW, NOW + 60, "c")
        .await
        .unwrap()
        .expect("claim");
    store
        .finish(&done.id, "c", OutboxStatus::Sent, None, NOW, NOW + 100)
        .await
        .unwrap();
    store.purge_expired(NOW + 99, NOW - 86_400).await.unwrap();
    assert!(
        store.outbox_item(&done.id).await.unwrap().is_some(),
        "kept during retention"
    );
    store.purge_expired(NOW + 100, NOW - 86_400).await.unwrap();
    assert!(
        store.outbox_item(&done.id).await.unwrap().is_none(),
        "purged after retention"
    );
    assert!(
        store.outbox_item(&waiting.id).await.unwrap().is_some(),
        "queued items are never purged"
    );
}

/// A deliverer that fails with `failure` for its first `fail_times` attempts, then succeeds.
struct Flaky {
    kind: String,
    failure: DeliveryError,
    fail_times: usize,
    attempts: AtomicUsize,
}

#[async_trait]
impl Deliverer for Flaky {
    fn kind(&self) -> &str {
        &self.kind
    }

    async fn deliver(&self, _item: &OutboxItem, _now: i64) -> Result<(), DeliveryError> {
        let n = self.attempts.fetch_add(1, Ordering::SeqCst);
        if n < self.fail_times {
            Err(self.failure.clone())
        } else {
            Ok(())
        }
    }
}

fn service(store: &Arc<dyn Store>, flaky: Arc<Flaky>) -> Deliveries {
    Deliveries::new(
        store.clone(),
        vec![flaky as Arc<dyn Deliverer>],
        RetryPolicy::default(),
        Default::default(),
        seal(),
    )
}

fn flaky(kind: &str, failure: DeliveryError, fail_times: usize) -> Arc<Flaky> {
    Arc::new(Flaky {
        kind: kind.to_string(),
        failure,
        fail_times,
        attempts: AtomicUsize::new(0),
    })
}

async fn a_transient_failure_is_retried_with_backoff_until_delivered(store: Arc<dyn Store>) {
    // Metrics recorded before the recorder is installed are dropped: install it first.
    sesame::monitoring::handle();
    let kind = fresh_kind();
    let it = item(&kind, NOW);
    store.enqueue(&it).await.unwrap();
    let deliverer = flaky(&kind, DeliveryError::Transient("421 busy".into()), 2);
    let outbox = service(&store, deliverer.clone());
    let report = outbox.run_due(NOW).await.unwrap();
    assert_eq!((report.sent, report.retried, report.failed), (0, 1, 0));
    let stored = store.outbox_item(&it.id).await.unwrap().expect("stored");
    // First backoff: 30 s with equal jitter, so 15..=30 s.
    let wait = stored.next_attempt_at - NOW;
    assert!((15..=30).contains(&wait), "first retry after {wait} s");
    assert_eq!(stored.status, OutboxStatus::Queued);
    assert!(
        stored
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("421 busy"))
    );
    assert_eq!(
        outbox
            .run_due(stored.next_attempt_at - 1)
            .await
            .unwrap()
            .retried,
        0,
        "not before its time"
    );
    let first_retry = stored.next_attempt_at;
    let second = outbox.run_due(first_retry).await.unwrap();
    assert_eq!(second.retried, 1);
    let stored = store.outbox_item(&it.id).await.unwrap().expect("stored");
    // Second backoff: 60 s with equal jitter, so 30..=60 s.
    let wait2 = stored.next_attempt_at - first_retry;
    assert!((30..=60).contains(&wait2), "second retry after {wait2} s");
    // The queue gauges as of that pass: one item waiting since it was enqueued.
    assert_eq!(metric(&kind, "sesame_outbox_queued", ""), Some(1.0));
    assert_eq!(
        metric(&kind, "sesame_outbox_oldest_queued_age_seconds", ""),
        Some((first_retry - it.created_at) as f64)
    );
    let third = outbox.run_due(stored.next_attempt_at).await.unwrap();
    assert_eq!(third.sent, 1);
    let stored = store.outbox_item(&it.id).await.unwrap().expect("stored");
    assert_eq!((stored.status, stored.attempts), (OutboxStatus::Sent, 3));
    assert_eq!(
        deliverer.attempts.load(Ordering::SeqCst),
        3,
        "delivered exactly once after two failures"
    );
    // The metrics tell the same story (the kind is this test's own, so the series are too).
    let outcome = |o: &str| format!("outcome=\"{o}\"");
    assert_eq!(
        metric(&kind, "sesame_outbox_deliveries_total", &outcome("retried")),
        Some(2.0)
    );
    assert_eq!(
        metric(&kind, "sesame_outbox_deliveries_total", &outcome("sent")),
        Some(1.0)
    );
    assert_eq!(metric(&kind, "sesame_outbox_queued", ""), Some(0.0));
    assert_eq!(
        metric(&kind, "sesame_outbox_oldest_queued_age_seconds", ""),
        Some(0.0)
    );
}

/// The value of the Prometheus series `name` whose labels include `kind="KIND"` and `extra`
/// (a `key="value"` text, or empty), from the process's recorder.
fn metric(kind: &str, name: &str, extra: &str) -> Option<f64> {
    let text = sesame::monitoring::handle().render();
    let kind_label = format!("kind=\"{kind}\"");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('{'))
        .filter(|(n, rest)| *n == name && rest.contains(&kind_label) && rest.contains(extra))
        .filter_map(|(_, rest)| rest.rsplit_once(' ').and_then(|(_, v)| v.parse().ok()))
        .next()
}

async fn a_transient_failure_after_the_deadline_fails_the_item(store: Arc<dyn Store>) {
    let kind = fresh_kind();
    let mut it = item(&kind, NOW);
    it.deadline = NOW + 10;
    store.enqueue(&it).await.unwrap();
    let outbox = service(
        &store,
        flaky(
            &kind,
            DeliveryError::Transient("connection refused".into()),
            usize::MAX,
        ),
    );
    let report = outbox.run_due(NOW).await.unwrap();
    assert_eq!((report.retried, report.failed), (0, 1));
    let stored = store.outbox_item(&it.id).await.unwrap().expect("stored");
    assert_eq!(stored.status, OutboxStatus::Failed);
    assert!(
        stored
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("deadline")),
        "{stored:?}"
    );
}

async fn a_permanent_failure_fails_at_once_without_retry(store: Arc<dyn Store>) {
    let kind = fresh_kind();
    let it = item(&kind, NOW);
    store.enqueue(&it).await.unwrap();
    let deliverer = flaky(
        &kind,
        DeliveryError::Permanent("550 mailbox unavailable".into()),
        usize::MAX,
    );
    let outbox = service(&store, deliverer.clone());
    assert_eq!(outbox.run_due(NOW).await.unwrap().failed, 1);
    for later in [NOW + 60, NOW + 3600, NOW + 86_400] {
        assert_eq!(
            outbox.run_due(later).await.unwrap(),
            Default::default(),
            "never retried"
        );
    }
    assert_eq!(deliverer.attempts.load(Ordering::SeqCst), 1);
    let stored = store.outbox_item(&it.id).await.unwrap().expect("stored");
    assert_eq!(stored.status, OutboxStatus::Failed);
    assert_eq!(
        stored.last_error.as_deref(),
        Some("550 mailbox unavailable")
    );
}

async fn a_transient_failure_ends_the_pass_for_that_kind(store: Arc<dyn Store>) {
    let kind = fresh_kind();
    for _ in 0..3 {
        store.enqueue(&item(&kind, NOW)).await.unwrap();
    }
    let deliverer = flaky(&kind, DeliveryError::Transient("timed out".into()), 1);
    let outbox = service(&store, deliverer.clone());
    let first = outbox.run_due(NOW).await.unwrap();
    assert_eq!(
        (first.sent, first.retried),
        (0, 1),
        "one attempt, then the pass stops"
    );
    assert_eq!(deliverer.attempts.load(Ordering::SeqCst), 1);
    let second = outbox.run_due(NOW + 1).await.unwrap();
    assert_eq!(second.sent, 2, "the others go out in the next pass");
    let counts = store.outbox_counts(&kind).await.unwrap();
    assert_eq!((counts.queued, counts.sent), (1, 2));
}
