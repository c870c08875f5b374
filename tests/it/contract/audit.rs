//! Contract tests for [`sesame::store::AuditStore`]: entries are appended, read back by user,
//! client and time in the order they happened, and purged after their retention.

use super::{ContractTest, NOW};
use futures_util::future::BoxFuture;
use sesame::clock::UnixTime;
use sesame::model::{AuditQuery, AuditRecord, UserId};
use sesame::secret::random_id;
use sesame::store::Store;
use std::sync::Arc;

/// This area's contract tests, by name (run by [`super::run_all`] after the core list).
pub const TESTS: &[(&str, ContractTest)] = &[
    (
        "audit_entries_are_read_by_user_client_and_time_in_order",
        |s| boxed(audit_entries_are_read_by_user_client_and_time_in_order(s)),
    ),
    ("audit_limit_keeps_the_newest_entries", |s| {
        boxed(audit_limit_keeps_the_newest_entries(s))
    }),
    ("audit_purge_deletes_old_and_expired_entries_only", |s| {
        boxed(audit_purge_deletes_old_and_expired_entries_only(s))
    }),
];

fn boxed(future: impl std::future::Future<Output = ()> + Send + 'static) -> BoxFuture<'static, ()> {
    Box::pin(future)
}

/// Far enough ahead that no TTL monitor deletes the entry while a test runs.
const KEPT: UnixTime = NOW + 20 * 365 * 86_400;

fn entry(at: UnixTime, kind: &str, user: Option<&UserId>, client: Option<&str>) -> AuditRecord {
    AuditRecord {
        at,
        kind: kind.to_string(),
        outcome: "success".to_string(),
        user_id: user.cloned(),
        client_id: client.map(str::to_string),
        ip: Some("192.0.2.1".to_string()),
        detail: Some(format!("detail of {kind}")),
        expires_at: KEPT,
    }
}

fn kinds(entries: &[AuditRecord]) -> Vec<&str> {
    entries.iter().map(|e| e.kind.as_str()).collect()
}

async fn audit_entries_are_read_by_user_client_and_time_in_order(store: Arc<dyn Store>) {
    let user = UserId(random_id());
    let other_user = UserId(random_id());
    let client = random_id();
    let written = [
        entry(NOW, "first", Some(&user), Some(&client)),
        entry(NOW, "second", Some(&user), None),
        entry(NOW, "elsewhere", Some(&other_user), Some(&client)),
        entry(NOW + 10, "third", Some(&user), Some(&client)),
    ];
    for e in &written {
        store.append_audit(e).await.unwrap();
    }
    let by_user = store
        .audit_entries(&AuditQuery {
            user_id: Some(user.clone()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(kinds(&by_user), ["first", "second", "third"]);
    assert_eq!(by_user[0], written[0], "an entry reads back as written");
    let by_client = store
        .audit_entries(&AuditQuery {
            client_id: Some(client.clone()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(kinds(&by_client), ["first", "elsewhere", "third"]);
    let both = store
        .audit_entries(&AuditQuery {
            user_id: Some(user.clone()),
            client_id: Some(client.clone()),
            since: Some(NOW + 5),
            limit: 0,
        })
        .await
        .unwrap();
    assert_eq!(kinds(&both), ["third"]);
}

async fn audit_limit_keeps_the_newest_entries(store: Arc<dyn Store>) {
    let user = UserId(random_id());
    for (i, kind) in ["a", "b", "c", "d"].into_iter().enumerate() {
        store
            .append_audit(&entry(NOW + i as i64 / 2, kind, Some(&user), None))
            .await
            .unwrap();
    }
    let newest = store
        .audit_entries(&AuditQuery {
            user_id: Some(user),
            limit: 3,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(kinds(&newest), ["b", "c", "d"]);
}

async fn audit_purge_deletes_old_and_expired_entries_only(store: Arc<dyn Store>) {
    let user = UserId(random_id());
    store
        .append_audit(&entry(NOW - 100, "old", Some(&user), None))
        .await
        .unwrap();
    let mut expired = entry(NOW, "expired", Some(&user), None);
    expired.expires_at = NOW - 1;
    store.append_audit(&expired).await.unwrap();
    store
        .append_audit(&entry(NOW - 10, "kept", Some(&user), None))
        .await
        .unwrap();
    let purged = store.purge_audit(NOW - 50, NOW).await.unwrap();
    assert!(purged >= 2, "the old and the expired entry went: {purged}");
    let left = store
        .audit_entries(&AuditQuery {
            user_id: Some(user),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(kinds(&left), ["kept"]);
}
