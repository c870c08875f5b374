//! Opening the store at start-up when the database may not be up yet (a container starting
//! beside its database, a failover in progress): retry with exponential backoff for a bounded
//! time (`store.connect_timeout`), then give up with a message that names the URL with its
//! password redacted.

use super::{Store, StoreError, StoreResult, Unavailable};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The first wait between attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why start-up gave up on the database.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach {url} within {waited} s ({attempts} attempt(s)); last error: {last}")]
pub struct NotReached {
    /// The URL, password redacted.
    pub url: String,
    /// Seconds waited in all.
    pub waited: u64,
    /// How many times opening was tried.
    pub attempts: u32,
    /// The last attempt's error, with any password in it redacted.
    pub last: String,
}

/// Opens the store `url` names ([`super::open`]), retrying while the database is
/// [`StoreError::Unavailable`], with backoff from 250 ms doubling to 5 s, for at most `timeout`
/// in all (each attempt is cut off when the time is up). Any other error (a malformed URL,
/// refused credentials, corrupt data) is returned at once: waiting would not fix it. Giving up
/// is [`StoreError::Unavailable`] caused by [`NotReached`].
pub async fn open_patiently(url: &str, timeout: Duration) -> StoreResult<Arc<dyn Store>> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let outcome = if attempts == 1 && remaining.is_zero() {
            super::open(url).await
        } else {
            match tokio::time::timeout(remaining, super::open(url)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(StoreError::unavailable(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no answer before store.connect_timeout ran out",
                ))),
            }
        };
        let error = match outcome {
            Ok(store) => return Ok(store),
            Err(error @ StoreError::Unavailable(_)) => error,
            Err(other) => return Err(other),
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(StoreError::Unavailable(Unavailable(Box::new(NotReached {
                url: redacted_url(url),
                waited: now.duration_since(started).as_secs(),
                attempts,
                last: redact_password(url, &error.to_string()),
            }))));
        }
        tracing::warn!(
            url = %redacted_url(url),
            attempt = attempts,
            retry_in_ms = backoff.as_millis() as u64,
            error = %redact_password(url, &error.to_string()),
            "database unavailable at start-up; retrying"
        );
        tokio::time::sleep(backoff.min(deadline - now)).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// `url` fit for messages and logs: a `mongodb://` URL's password is replaced by `REDACTED`;
/// other URLs carry no credentials and are returned as they are.
pub fn redacted_url(url: &str) -> String {
    if url.starts_with("mongodb://") || url.starts_with("mongodb+srv://") {
        super::mongo::redact(url)
    } else {
        url.to_string()
    }
}

/// `text` with the password of `url` (if it has one) replaced by `REDACTED`, in case a driver
/// quoted the URL in its message.
fn redact_password(url: &str, text: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else {
        return text.to_string();
    };
    let Some(at) = rest.rfind('@') else {
        return text.to_string();
    };
    match rest[..at].split_once(':') {
        Some((_, password)) if !password.is_empty() => text.replace(password, "REDACTED"),
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls_and_messages() {
        let url = "mongodb://sesame:pa55word@db.example:27017/sesame?authSource=admin";
        assert_eq!(
            redacted_url(url),
            "mongodb://sesame:REDACTED@db.example:27017/sesame?authSource=admin"
        );
        assert_eq!(
            redact_password(url, "bad URL mongodb://sesame:pa55word@db.example"),
            "bad URL mongodb://sesame:REDACTED@db.example"
        );
        assert_eq!(
            redacted_url("sqlite://data/sesame.db"),
            "sqlite://data/sesame.db"
        );
        assert_eq!(redact_password("mongodb://h/db", "plain"), "plain");
    }

    #[tokio::test]
    async fn an_unopenable_database_is_retried_until_the_timeout_then_named() {
        // procfs refuses new directories, even to root: the file can never be created.
        let url = "sqlite:///proc/sesame-no-such-dir/sesame.db";
        let started = Instant::now();
        let error = match open_patiently(url, Duration::from_millis(1200)).await {
            Ok(_) => panic!("a database under /proc must not open"),
            Err(e) => e,
        };
        assert!(started.elapsed() >= Duration::from_millis(1200));
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        let message = error.to_string();
        assert!(
            message.starts_with(&format!(
                "the database is unavailable: cannot reach {url} within 1 s ("
            )),
            "{message}"
        );
        let attempts: u32 = message
            .split(" s (")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("an attempt count");
        assert!(attempts >= 2, "it retried: {message}");
    }

    #[tokio::test]
    async fn a_malformed_url_fails_at_once_without_retrying() {
        let started = Instant::now();
        let error = match open_patiently("mongodb://", Duration::from_secs(30)).await {
            Ok(_) => panic!("a malformed URL must not open"),
            Err(e) => e,
        };
        assert!(matches!(error, StoreError::UnsupportedUrl(_)), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
