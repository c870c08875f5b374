//! Contract tests for [`sesame::store::ThrottleStateStore`]: reading a login-throttling counter
//! counts nothing and sees every write.

use super::{ContractTest, NOW};
use futures_util::future::BoxFuture;
use sesame::model::Throttle;
use sesame::secret::random_id;
use sesame::store::Store;
use std::sync::Arc;

/// This area's contract tests, by name (run by [`super::run_all`] after the core list).
pub const TESTS: &[(&str, ContractTest)] = &[
    ("a_missing_throttle_reads_as_none", |s| {
        boxed(a_missing_throttle_reads_as_none(s))
    }),
    (
        "throttle_state_reads_counts_and_locks_without_counting",
        |s| boxed(throttle_state_reads_counts_and_locks_without_counting(s)),
    ),
    ("a_cleared_throttle_reads_as_none", |s| {
        boxed(a_cleared_throttle_reads_as_none(s))
    }),
];

fn boxed(future: impl std::future::Future<Output = ()> + Send + 'static) -> BoxFuture<'static, ()> {
    Box::pin(future)
}

async fn a_missing_throttle_reads_as_none(store: Arc<dyn Store>) {
    assert_eq!(store.throttle_state(&random_id()).await.unwrap(), None);
}

async fn throttle_state_reads_counts_and_locks_without_counting(store: Arc<dyn Store>) {
    let key = random_id();
    store.throttle_increment(&key, NOW).await.unwrap();
    store.throttle_increment(&key, NOW).await.unwrap();
    for _ in 0..3 {
        assert_eq!(
            store.throttle_state(&key).await.unwrap(),
            Some(Throttle {
                failures: 2,
                locked_until: None
            }),
            "reading does not count"
        );
    }
    assert!(store.throttle_try_lock(&key, NOW, NOW + 30).await.unwrap());
    assert_eq!(
        store.throttle_state(&key).await.unwrap(),
        Some(Throttle {
            failures: 2,
            locked_until: Some(NOW + 30)
        })
    );
    // Operator-shaped keys are plain values.
    assert_eq!(store.throttle_state("{\"$ne\": \"\"}").await.unwrap(), None);
}

async fn a_cleared_throttle_reads_as_none(store: Arc<dyn Store>) {
    let key = random_id();
    store.throttle_increment(&key, NOW).await.unwrap();
    store.throttle_clear(&key).await.unwrap();
    assert_eq!(store.throttle_state(&key).await.unwrap(), None);
}
