//! Request-rate limits kept in memory, per key, on Sesame's clock (through
//! [`RuleClock`], like the per-IP login limit), so that tests pin them like every other rule
//! that depends on time. Each instance counts on its own: a limit protects this process, it is
//! not a cluster-wide quota.

use crate::accounts::throttle::RuleClock;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;

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
