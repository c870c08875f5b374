//! Login throttling (NIST SP 800-63B-4 §3.2.2; ASVS 6.3.1; OWASP Credential Stuffing cheat
//! sheet), sized for real traffic:
//!
//! - **Per IP, failures only.** A limit on *failed* logins per client address, in memory
//!   ([`FailureLimit`]): checking it counts nothing and a successful login never counts, so
//!   hundreds of people behind one office NAT signing in at 9:00 all pass, while a
//!   credential-stuffing run from one address is refused after `login.per_ip_per_minute`
//!   failures in a minute.
//! - **Per account, wrong passwords only.** An exponential backoff kept in the store: whether
//!   the account is locked is read before its password is checked, and only a wrong password
//!   is counted, afterwards. A correct password never counts as a failure (it clears the
//!   counter). Locks always expire: there is no permanent lockout.
//! - **One attempt per account at a time** (per instance; extra ones wait their turn), so that
//!   every attempt sees the counter the one before it left: of any number of parallel guesses
//!   at one account, no more than the free attempts are checked before the backoff applies.

use super::LoginError;
use crate::clock::UnixTime;
use crate::config::Config;
use crate::rate_limit::FailureLimit;
use crate::secret::TokenHash;
use crate::store::{ThrottleStateStore, ThrottleStore};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The rule clock the in-memory limits run on, re-exported where it was first defined.
pub use crate::rate_limit::RuleClock;

/// The throttle policy.
pub struct LoginThrottle {
    per_ip: FailureLimit<IpAddr>,
    turns: AccountTurns,
    free_attempts: i64,
    max_lock_seconds: i64,
}

impl LoginThrottle {
    /// From `login.*` configuration.
    pub fn new(config: &Config, clock: Arc<dyn crate::clock::Clock>) -> LoginThrottle {
        LoginThrottle {
            per_ip: FailureLimit::per_minute(config.login_per_ip_per_minute, clock),
            turns: AccountTurns::default(),
            free_attempts: config.login_free_attempts.max(1),
            max_lock_seconds: config.login_max_lock_seconds.max(1),
        }
    }

    /// The store key of an account's counter: the hashed normalised email, so that the
    /// throttle table holds no addresses. Unknown emails get counters exactly like known ones.
    pub fn account_key(normalized_email: &str) -> String {
        format!("login:{}", TokenHash::of(normalized_email).as_str())
    }

    /// The per-IP limit on failures; checking counts nothing. IPv6 addresses count per /64,
    /// the smallest block one host gets.
    pub fn check_ip(&self, ip: Option<IpAddr>) -> Result<(), LoginError> {
        match ip {
            Some(ip) => self
                .per_ip
                .check(&ip_block(ip))
                .map_err(|retry_after| LoginError::Throttled { retry_after }),
            None => Ok(()),
        }
    }

    /// Counts one failed login against the address it came from.
    pub fn record_ip_failure(&self, ip: Option<IpAddr>) {
        if let Some(ip) = ip {
            self.per_ip.record(&ip_block(ip));
        }
    }

    /// Waits until no other attempt at this account is in flight in this instance; the
    /// account's next attempt waits until the returned turn is dropped.
    pub async fn turn(&self, key: &str) -> Turn<'_> {
        self.turns.take(key).await
    }

    /// Whether the account's password may be checked now: refused while its lock lasts.
    /// Counts nothing. Returns the counter as read, for [`LoginThrottle::record_success`].
    pub async fn admit<S: ThrottleStateStore + Sync + ?Sized>(
        &self,
        store: &S,
        key: &str,
        now: UnixTime,
    ) -> Result<Option<crate::model::Throttle>, LoginError> {
        let counter = store.throttle_state(key).await?;
        if let Some(until) = counter.and_then(|c| c.locked_until)
            && until > now
        {
            return Err(LoginError::Throttled {
                retry_after: until - now,
            });
        }
        Ok(counter)
    }

    /// Counts a wrong password against the account. From the `free_attempts`-th consecutive
    /// failure on, each failure locks the account for `2^(failures - free_attempts)` seconds,
    /// capped at `max_lock_seconds`: after the free attempts, one attempt per expired lock is
    /// checked, and each wrong one doubles the wait.
    pub async fn record_failure<S: ThrottleStore + Sync + ?Sized>(
        &self,
        store: &S,
        key: &str,
        now: UnixTime,
    ) -> Result<(), LoginError> {
        let counter = store.throttle_increment(key, now).await?;
        if counter.failures >= self.free_attempts {
            // Loses only to a concurrent locker (another instance), whose lock stands.
            store
                .throttle_try_lock(key, now, now + self.backoff(counter.failures))
                .await?;
        }
        Ok(())
    }

    /// A correct password: the account's failures are forgotten (one write, and only when
    /// there is a counter to clear, so ordinary logins write nothing here).
    pub async fn record_success<S: ThrottleStore + Sync + ?Sized>(
        &self,
        store: &S,
        key: &str,
        counter: Option<crate::model::Throttle>,
    ) -> Result<(), LoginError> {
        if counter.is_some() {
            store.throttle_clear(key).await?;
        }
        Ok(())
    }

    /// The lock after `failures` consecutive failures (at least `free_attempts`).
    fn backoff(&self, failures: i64) -> i64 {
        let exponent = (failures - self.free_attempts).clamp(0, 62);
        (1i64 << exponent).min(self.max_lock_seconds)
    }
}

/// The per-account turns: one attempt per account in flight in this instance; the others wait,
/// in order. An account's entry exists only while some attempt holds or awaits its turn.
#[derive(Default)]
struct AccountTurns {
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl AccountTurns {
    async fn take(&self, key: &str) -> Turn<'_> {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            slots.entry(key.to_string()).or_default().clone()
        };
        let guard = slot.clone().lock_owned().await;
        Turn {
            turns: self,
            key: key.to_string(),
            slot,
            guard: Some(guard),
        }
    }
}

/// An account's turn to have one login attempt checked; the next attempt proceeds when this is
/// dropped.
pub struct Turn<'a> {
    turns: &'a AccountTurns,
    key: String,
    slot: Arc<tokio::sync::Mutex<()>>,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut slots = self.turns.slots.lock().unwrap_or_else(|e| e.into_inner());
        // Held by the map and by this turn only: nobody waits, so the entry goes. (Waiters
        // clone the slot under the same map lock, so the count cannot change meanwhile.)
        if Arc::strong_count(&self.slot) == 2 {
            slots.remove(&self.key);
        }
    }
}

/// A wait in words a person reads: "1 second", "45 seconds", "2 minutes", "1 hour" (rounded
/// up to the unit, so a person who waits that long is let in).
pub fn wait_in_words(seconds: i64) -> String {
    let seconds = seconds.max(1);
    let (n, unit) = if seconds < 60 {
        (seconds, "second")
    } else if seconds < 3600 {
        ((seconds + 59) / 60, "minute")
    } else {
        ((seconds + 3599) / 3600, "hour")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
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
    fn backoff_starts_at_one_second_doubles_and_is_capped() {
        let t = throttle(5, 900, 30);
        assert_eq!(t.backoff(5), 1);
        assert_eq!(t.backoff(6), 2);
        assert_eq!(t.backoff(9), 16);
        assert_eq!(t.backoff(20), 900);
        assert_eq!(t.backoff(i64::MAX), 900);
    }

    #[test]
    fn per_ip_limit_counts_failures_and_ipv6_by_slash_64() {
        let t = throttle(5, 900, 2);
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        for _ in 0..10 {
            assert!(t.check_ip(Some(a)).is_ok(), "checks alone never count");
        }
        t.record_ip_failure(Some(a));
        t.record_ip_failure(Some(b));
        assert!(matches!(
            t.check_ip(Some(a)),
            Err(LoginError::Throttled { retry_after }) if retry_after >= 1
        ));
        assert!(t.check_ip(Some(other)).is_ok());
        t.record_ip_failure(None);
        assert!(t.check_ip(None).is_ok(), "no peer address, no per-IP limit");
    }

    #[test]
    fn account_keys_hide_the_email() {
        let key = LoginThrottle::account_key("a@example.com");
        assert!(key.starts_with("login:") && !key.contains("example"));
        assert_eq!(key.len(), "login:".len() + 64);
    }

    #[test]
    fn waits_are_said_in_grammatical_words() {
        for (seconds, words) in [
            (0, "1 second"),
            (1, "1 second"),
            (2, "2 seconds"),
            (59, "59 seconds"),
            (60, "1 minute"),
            (61, "2 minutes"),
            (120, "2 minutes"),
            (900, "15 minutes"),
            (3599, "60 minutes"),
            (3600, "1 hour"),
            (86_400, "24 hours"),
        ] {
            assert_eq!(wait_in_words(seconds), words, "{seconds}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_turn_per_account_at_a_time_and_idle_accounts_leave_no_entry() {
        let t = Arc::new(throttle(5, 900, 30));
        let first = t.turn("login:a").await;
        // Another account is not held up.
        drop(t.turn("login:b").await);
        let waiter = {
            let t = t.clone();
            tokio::spawn(async move {
                let _turn = t.turn("login:a").await;
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "the second attempt waits its turn");
        drop(first);
        waiter.await.unwrap();
        assert!(t.turns.slots.lock().unwrap().is_empty());
    }
}
