//! Request-rate limits kept in memory, per key, on Sesame's clock (through [`RuleClock`] for
//! [`KeyedLimit`]), so that tests pin them like every other rule that depends on time: a limit
//! on requests ([`KeyedLimit`]), and one on failures only ([`FailureLimit`], the per-IP login
//! limit). Each instance counts on its own: a limit protects this process, it is not a
//! cluster-wide quota.

use crate::clock::Clock;
use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// governor's view of Sesame's [`crate::clock::Clock`], so that the in-memory rate limits
/// follow the same (in tests, pinned) time as every other rule. Whole seconds are enough for
/// per-minute quotas.
#[derive(Clone)]
pub struct RuleClock(pub Arc<dyn Clock>);

impl governor::clock::Clock for RuleClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.0.now()).unwrap_or(0))
    }
}

/// How often (in checks) idle entries are swept from memory.
const SWEEP_EVERY: u64 = 4096;

/// At most `per_minute` requests per key, refilled evenly (one every `60 / per_minute` s).
pub struct KeyedLimit<K: Hash + Eq + Clone> {
    limiter: RateLimiter<K, DefaultKeyedStateStore<K>, RuleClock, NoOpMiddleware<Duration>>,
    checks: AtomicU64,
}

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    /// A limit of `per_minute` (at least 1) per key on `clock`.
    pub fn per_minute(per_minute: u32, clock: Arc<dyn Clock>) -> KeyedLimit<K> {
        KeyedLimit {
            limiter: RateLimiter::new(
                Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN)),
                DefaultKeyedStateStore::default(),
                RuleClock(clock),
            ),
            checks: AtomicU64::new(0),
        }
    }

    /// A limit of `per_hour` (at least 1) per key on `clock`, refilled evenly.
    pub fn per_hour(per_hour: u32, clock: Arc<dyn Clock>) -> KeyedLimit<K> {
        KeyedLimit {
            limiter: RateLimiter::new(
                Quota::per_hour(NonZeroU32::new(per_hour).unwrap_or(NonZeroU32::MIN)),
                DefaultKeyedStateStore::default(),
                RuleClock(clock),
            ),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one request for `key`; over the limit, the whole seconds to wait (at least 1),
    /// for `Retry-After` (RFC 9110 §10.2.3).
    pub fn check(&self, key: &K) -> Result<(), i64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            i64::try_from(wait.as_secs())
                .unwrap_or(i64::MAX)
                .saturating_add(i64::from(wait.subsec_nanos() > 0))
                .max(1)
        })
    }
}

/// Failures per key, refused at a limit: a leaky bucket that each recorded failure fills by
/// one and that drains `per_minute` per minute, on Sesame's clock. Unlike [`KeyedLimit`],
/// checking counts nothing: only [`FailureLimit::record`] does, so what succeeds never uses up
/// the limit (an office behind one NAT address signing in all at once is never refused for
/// its successes).
pub struct FailureLimit<K: Hash + Eq + Clone> {
    per_minute: u32,
    clock: Arc<dyn Clock>,
    buckets: std::sync::Mutex<std::collections::HashMap<K, Bucket>>,
    records: AtomicU64,
}

/// A key's bucket: its level when last written, and when that was.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    level: f64,
    at: crate::clock::UnixTime,
}

impl<K: Hash + Eq + Clone> FailureLimit<K> {
    /// At most `per_minute` (at least 1) failures per key per minute, refilled evenly.
    pub fn per_minute(per_minute: u32, clock: Arc<dyn Clock>) -> FailureLimit<K> {
        FailureLimit {
            per_minute: per_minute.max(1),
            clock,
            buckets: std::sync::Mutex::new(std::collections::HashMap::new()),
            records: AtomicU64::new(0),
        }
    }

    /// The bucket's level at `now`, drained since it was written.
    fn level(&self, bucket: &Bucket, now: crate::clock::UnixTime) -> f64 {
        let elapsed = (now - bucket.at).max(0) as f64;
        (bucket.level - elapsed * f64::from(self.per_minute) / 60.0).max(0.0)
    }

    /// Whether `key` may try again; if its bucket is full, the whole seconds until it is not
    /// (at least 1), for `Retry-After`. Counts nothing.
    pub fn check(&self, key: &K) -> Result<(), i64> {
        let now = self.clock.now();
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let Some(bucket) = buckets.get(key) else {
            return Ok(());
        };
        let capacity = f64::from(self.per_minute);
        let level = self.level(bucket, now);
        if level < capacity {
            return Ok(());
        }
        // Under capacity only once strictly more than (level - capacity) has drained: the first
        // whole second past that (a hair added so rounding cannot make it a second early).
        let seconds = (level - capacity) * 60.0 / capacity;
        Err(((seconds + 1e-6).floor() as i64).saturating_add(1).max(1))
    }

    /// Records one failure for `key`. Emptied buckets are swept from memory now and then.
    pub fn record(&self, key: &K) {
        let now = self.clock.now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if self.records.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            let rate = f64::from(self.per_minute) / 60.0;
            buckets.retain(|_, b| b.level - (now - b.at).max(0) as f64 * rate > 0.0);
        }
        let level = buckets.get(key).map_or(0.0, |b| self.level(b, now));
        buckets.insert(
            key.clone(),
            Bucket {
                level: level + 1.0,
                at: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

    #[test]
    fn failures_fill_the_bucket_checks_do_not_and_time_drains_it() {
        let clock = Arc::new(FixedClock::new(1_700_000_000));
        // 60 a minute: one failure drains per second, so the arithmetic is whole numbers.
        let limit = FailureLimit::per_minute(60, clock.clone());
        let (a, b) = ("a".to_string(), "b".to_string());
        for _ in 0..1000 {
            assert_eq!(limit.check(&a), Ok(()), "checking counts nothing");
        }
        for _ in 0..60 {
            assert_eq!(limit.check(&a), Ok(()));
            limit.record(&a);
        }
        assert_eq!(
            limit.check(&a),
            Err(1),
            "full: under the limit again in 1 s"
        );
        assert_eq!(limit.check(&b), Ok(()), "another key is not affected");
        clock.advance(1);
        assert_eq!(limit.check(&a), Ok(()));
        // Attempts admitted together may overfill it: 62 waits 3 s.
        for _ in 0..3 {
            limit.record(&a);
        }
        assert_eq!(limit.check(&a), Err(3));
        clock.advance(2);
        assert_eq!(limit.check(&a), Err(1));
        clock.advance(1);
        assert_eq!(limit.check(&a), Ok(()));
        clock.advance(60);
        limit.record(&a);
        assert_eq!(limit.check(&a), Ok(()), "a minute drains it all");
    }

    #[test]
    fn each_key_gets_its_quota_and_time_refills_it() {
        let clock = Arc::new(FixedClock::new(1_700_000_000));
        let limit = KeyedLimit::per_minute(2, clock.clone());
        let a = "client-a".to_string();
        let b = "client-b".to_string();
        assert_eq!(limit.check(&a), Ok(()));
        assert_eq!(limit.check(&a), Ok(()));
        assert_eq!(limit.check(&a), Err(30), "one request per 30 s refills");
        assert_eq!(limit.check(&b), Ok(()), "another key is not affected");
        clock.advance(30);
        assert_eq!(limit.check(&a), Ok(()));
        assert!(limit.check(&a).is_err());
    }
}
