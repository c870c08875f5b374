//! The per-address limit on new pending authorization requests: each one is a write to the
//! store by someone who has not signed in, so their rate per client IP is capped (in memory,
//! on Sesame's clock, like the per-IP login limit).

use crate::accounts::throttle::{RuleClock, ip_block};
use crate::clock::Clock;
use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

type PerIpLimiter =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, RuleClock, NoOpMiddleware<Duration>>;

/// How often (in checks) idle per-IP entries are swept from memory.
const SWEEP_EVERY: u64 = 4096;

/// `authorize.pending_per_ip_per_minute` new pending requests per client IP (IPv6 per /64).
pub struct PendingLimit {
    limiter: PerIpLimiter,
    checks: AtomicU64,
}

impl PendingLimit {
    /// A limit of `per_minute` (at least 1) on `clock`.
    pub fn new(per_minute: u32, clock: Arc<dyn Clock>) -> PendingLimit {
        PendingLimit {
            limiter: RateLimiter::new(
                Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN)),
                DefaultKeyedStateStore::default(),
                RuleClock(clock),
            ),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one new pending request from `ip`; over the limit, the seconds to wait. Without
    /// a known address there is nothing to count by.
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), i64> {
        let Some(ip) = ip else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&ip_block(ip)).map_err(|not_until| {
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
    fn each_address_gets_its_quota_and_time_refills_it() {
        let clock = Arc::new(FixedClock::new(1_700_000_000));
        let limit = PendingLimit::new(2, clock.clone());
        let a: IpAddr = "203.0.113.1".parse().unwrap();
        let b: IpAddr = "203.0.113.2".parse().unwrap();
        assert_eq!(limit.check(Some(a)), Ok(()));
        assert_eq!(limit.check(Some(a)), Ok(()));
        assert_eq!(
            limit.check(Some(a)),
            Err(30),
            "one request per 30 s refills"
        );
        assert_eq!(
            limit.check(Some(b)),
            Ok(()),
            "another address is not affected"
        );
        assert_eq!(limit.check(None), Ok(()));
        clock.advance(30);
        assert_eq!(limit.check(Some(a)), Ok(()));
        assert!(limit.check(Some(a)).is_err());
    }
}
