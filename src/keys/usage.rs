//! Which keys are still in use: every token presented back to Sesame (userinfo,
//! introspection) counts one use of the key that signed it. Counting is an in-memory add on the
//! request path; a background job flushes the counts to the store (one atomic upsert per kid),
//! where `sesame keys list` reads them, so an operator can see that retiring a key is safe.

use super::{KeyError, KeyManager};
use crate::clock::UnixTime;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Uses per kid since the last flush: (count, last seen).
#[derive(Debug, Default)]
pub(super) struct UsageTally(Mutex<HashMap<String, (i64, UnixTime)>>);

impl UsageTally {
    /// Counts one use of `kid` at `now`.
    pub(super) fn count(&self, kid: String, now: UnixTime) {
        let mut tally = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = tally.entry(kid).or_insert((0, now));
        entry.0 += 1;
        entry.1 = entry.1.max(now);
    }

    /// Takes every count, leaving the tally empty.
    fn take(&self) -> HashMap<String, (i64, UnixTime)> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts back counts that could not be written, to be tried again.
    fn restore(&self, kid: String, uses: i64, seen_at: UnixTime) {
        let mut tally = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = tally.entry(kid).or_insert((0, seen_at));
        entry.0 += uses;
        entry.1 = entry.1.max(seen_at);
    }
}

impl KeyManager {
    /// Writes the uses counted since the last flush to the store, one atomic upsert per kid;
    /// counts that fail to write are kept for the next flush. Returns how many uses went.
    pub async fn flush_usage(&self) -> Result<i64, KeyError> {
        let counts = self.usage.take();
        let mut written = 0;
        let mut failure = None;
        for (kid, (uses, seen_at)) in counts {
            if failure.is_some() {
                self.usage.restore(kid, uses, seen_at);
                continue;
            }
            match self.store.record_key_usage(&kid, uses, seen_at).await {
                Ok(()) => written += uses,
                Err(e) => {
                    self.usage.restore(kid, uses, seen_at);
                    failure = Some(e);
                }
            }
        }
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(written),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{NOW, claims, manager};
    use serde_json::Value;

    #[tokio::test]
    async fn presented_tokens_are_counted_per_kid_and_flushed_once() {
        let keys = manager().await;
        let token = keys.sign("at+jwt", &claims()).unwrap();
        let _: (Value, String) = keys.verify_presented(&token, None, NOW).unwrap();
        let _: (Value, String) = keys.verify_presented(&token, None, NOW + 5).unwrap();
        // Verifying our own token internally is not a presentation.
        let _: Value = keys.verify(&token, None).unwrap();
        // A bad token counts nothing.
        assert!(keys.verify_presented::<Value>("x.y.z", None, NOW).is_err());
        assert_eq!(keys.flush_usage().await.unwrap(), 2);
        assert_eq!(keys.flush_usage().await.unwrap(), 0, "nothing twice");
        let usage = keys.store.key_usage().await.unwrap();
        assert_eq!(usage.len(), 1);
        assert_eq!(usage[0].kid, keys.active_kid().unwrap());
        assert_eq!((usage[0].uses, usage[0].last_seen_at), (2, NOW + 5));
        let _: (Value, String) = keys.verify_presented(&token, None, NOW + 1).unwrap();
        keys.flush_usage().await.unwrap();
        let usage = keys.store.key_usage().await.unwrap();
        assert_eq!(
            (usage[0].uses, usage[0].last_seen_at),
            (3, NOW + 5),
            "last seen never moves back"
        );
    }
}
