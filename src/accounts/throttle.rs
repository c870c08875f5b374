//! Login throttling (NIST SP 800-63B-4 §3.2.2; ASVS 6.3.1; OWASP Credential Stuffing cheat
//! sheet): a per-IP rate limit in memory, and a per-account exponential backoff kept in the
//! store with atomic counters so that parallel attempts cannot slip past. Locks always expire:
//! there is no permanent lockout.

use super::LoginError;
use crate::clock::UnixTime;
use crate::config::Config;
use crate::secret::TokenHash;
use crate::store::ThrottleStore;
use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// governor's view of Sesame's [`crate::clock::Clock`], so that the per-IP limit follows the
/// same (in tests, pinned) time as every other rule. Whole seconds are enough for per-minute
/// quotas.
#[derive(Clone)]
pub struct RuleClock(pub Arc<dyn crate::clock::Clock>);

impl governor::clock::Clock for RuleClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Duration::from_secs(u64::try_from(self.0.now()).unwrap_or(0))
    }
}

type PerIpLimiter =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, RuleClock, NoOpMiddleware<Duration>>;

/// How often (in checks) idle per-IP entries are swept from memory.
const SWEEP_EVERY: u64 = 4096;

/// The throttle policy.
pub struct LoginThrottle {
    per_ip: Option<PerIpLimiter>,
    checks: AtomicU64,
    free_attempts: i64,
    max_lock_seconds: i64,
}

impl LoginThrottle {
    /// From `login.*` configuration. Configuration refuses `login.per_ip_per_minute = 0`
    /// ("must be at least 1"), so a running server always limits per IP; only a `Config` built
    /// in code with 0 gets no per-IP limit (rather than a panic).
    pub fn new(config: &Config, clock: Arc<dyn crate::clock::Clock>) -> LoginThrottle {
        LoginThrottle {
            per_ip: NonZeroU32::new(config.login_per_ip_per_minute).map(|n| {
                RateLimiter::new(
                    Quota::per_minute(n),
                    DefaultKeyedStateStore::default(),
                    RuleClock(clock),
                )
            }),
            checks: AtomicU64::new(0),
            free_attempts: config.login_free_attempts.max(0),
            max_lock_seconds: config.login_max_lock_seconds.max(1),
        }
    }

    /// The store key of an account's counter: the hashed normalised email, so that the
    /// throttle table holds no addresses. Unknown emails get counters exactly like known ones.
    pub fn account_key(normalized_email: &str) -> String {
        format!("login:{}", TokenHash::of(normalized_email).as_str())
    }

    /// The per-IP limit; IPv6 addresses count per /64, the smallest block one host gets.
    pub fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), LoginError> {
        let (Some(limiter), Some(ip)) = (&self.per_ip, ip) else {
            return Ok(());
        };
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        limiter.check_key(&ip_block(ip)).map_err(|not_until| {
            let wait = not_until.wait_time_from(limiter.clock().now());
            LoginError::Throttled {
                retry_after: i64::try_from(wait.as_secs())
                    .unwrap_or(i64::MAX)
                    .saturating_add(i64::from(wait.subsec_nanos() > 0))
                    .max(1),
            }
        })
    }

    /// Counts this attempt against the account and decides whether its password may be checked.
    ///
    /// The first `free_attempts` attempts since the last success are checked. The next one
    /// starts a lock of one second and is refused; after that, exactly one attempt per expired
    /// lock is checked, and it starts the next lock, of `2^(failures - free_attempts - 1)`
    /// seconds capped at `max_lock_seconds`. The counter is incremented before anything is
    /// checked, so of N parallel attempts at most `free_attempts` are checked.
    pub async fn admit<S: ThrottleStore + Sync + ?Sized>(
        &self,
        store: &S,
        key: &str,
        now: UnixTime,
    ) -> Result<(), LoginError> {
        let counter = store.throttle_increment(key, now).await?;
        if let Some(until) = counter.locked_until
            && until > now
        {
            return Err(LoginError::Throttled {
                retry_after: until - now,
            });
        }
        if counter.failures <= self.free_attempts {
            return Ok(());
        }
        let backoff = self.backoff(counter.failures);
        let won = store.throttle_try_lock(key, now, now + backoff).await?;
        // A counter that was never locked gets its first lock now, and this attempt waits too:
        // otherwise the attempt right after the free ones would always be checked.
        if won && counter.locked_until.is_some() {
            Ok(())
        } else {
            Err(LoginError::Throttled {
                retry_after: backoff,
            })
        }
    }

    /// The lock length after `failures` counted attempts (more than `free_attempts`).
    fn backoff(&self, failures: i64) -> i64 {
        let exponent = (failures - self.free_attempts - 1).clamp(0, 62);
        (1i64 << exponent).min(self.max_lock_seconds)
    }
}

/// The per-IP key: IPv4 as is (IPv4-mapped IPv6 too), IPv6 by its /64.
pub fn ip_block(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(free: i64, max_lock: i64, per_ip: u32) -> LoginThrottle {
        let mut file = crate::config::FileConfig::default();
        file.login.free_attempts = free;
        file.login.max_lock_seconds = max_lock;
        file.login.per_ip_per_minute = per_ip;
        LoginThrottle::new(
            &file.resolve().unwrap(),
            Arc::new(crate::clock::FixedClock::new(1_700_000_000)),
        )
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let t = throttle(5, 900, 30);
        assert_eq!(t.backoff(6), 1);
        assert_eq!(t.backoff(7), 2);
        assert_eq!(t.backoff(10), 16);
        assert_eq!(t.backoff(20), 900);
        assert_eq!(t.backoff(i64::MAX), 900);
    }

    #[test]
    fn per_ip_limit_counts_ipv6_by_slash_64() {
        let t = throttle(5, 900, 2);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert!(t.check_ip(Some(a)).is_ok());
        assert!(t.check_ip(Some(b)).is_ok());
        assert!(matches!(
            t.check_ip(Some(a)),
            Err(LoginError::Throttled { retry_after }) if retry_after >= 1
        ));
        assert!(t.check_ip(Some(other)).is_ok());
        assert!(t.check_ip(None).is_ok(), "no peer address, no per-IP limit");
    }

    #[test]
    fn account_keys_hide_the_email() {
        let key = LoginThrottle::account_key("a@example.com");
        assert!(key.starts_with("login:") && !key.contains("example"));
        assert_eq!(key.len(), "login:".len() + 64);
    }
}
