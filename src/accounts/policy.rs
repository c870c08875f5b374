//! The password policy of NIST SP 800-63B-4 §3.1.1.2 and OWASP ASVS 5.0 §6.2: a minimum length
//! in code points, no composition rules, and a blocklist of common passwords and context words.
//! Every rejection says why.

use std::collections::HashSet;
use std::sync::LazyLock;

/// Common and breached passwords, one a line (`#` starts a comment), compared case-insensitively.
static COMMON_PASSWORDS: LazyLock<HashSet<String>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_lowercase)
        .collect()
});

/// The service's own name, a context word no password may contain (NIST SP 800-63B-4 §3.1.1.2).
const SERVICE_NAME: &str = "sesame";

/// Length limits, in Unicode code points.
#[derive(Clone, Copy, Debug)]
pub struct PasswordPolicy {
    /// Fewest code points (15 when the password is the only factor, NIST SP 800-63B-4).
    pub min_length: usize,
    /// Most code points; longer input is refused, never truncated.
    pub max_length: usize,
}

impl PasswordPolicy {
    /// Checks a new password (already NFKC-normalised) for the account `email` (normalised).
    /// The error is a reason a person can act on, e.g. "must be at least 15 characters".
    pub fn check(&self, password: &str, email: &str) -> Result<(), String> {
        let length = password.chars().count();
        if length < self.min_length {
            return Err(format!("must be at least {} characters", self.min_length));
        }
        if length > self.max_length {
            return Err(format!("must be at most {} characters", self.max_length));
        }
        if let Some(unit) = repeated_unit(password) {
            return Err(if unit == 1 {
                "is a single character repeated".into()
            } else {
                "is a short pattern repeated".into()
            });
        }
        let lower = password.to_lowercase();
        let squeezed: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
        if COMMON_PASSWORDS.contains(lower.trim()) || COMMON_PASSWORDS.contains(&squeezed) {
            return Err("is a commonly used password".into());
        }
        let local = email.split('@').next().unwrap_or_default();
        if local.chars().count() >= 4 && lower.contains(&local.to_lowercase()) {
            return Err("contains your email name".into());
        }
        if lower.contains(SERVICE_NAME) {
            return Err("contains the name of this service".into());
        }
        Ok(())
    }
}

/// The length of the unit (at most 4 code points) the whole password repeats, if it is one.
fn repeated_unit(password: &str) -> Option<usize> {
    let chars: Vec<char> = password.chars().collect();
    (1..=4).filter(|&n| chars.len() >= 2 * n).find(|&n| {
        chars.len().is_multiple_of(n) && chars.chunks(n).all(|chunk| chunk == &chars[..n])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: PasswordPolicy = PasswordPolicy {
        min_length: 15,
        max_length: 256,
    };

    fn reason(password: &str) -> String {
        POLICY
            .check(password, "alice.smith@example.com")
            .unwrap_err()
    }

    #[test]
    fn a_long_unusual_passphrase_is_accepted() {
        assert!(
            POLICY
                .check("correct horse battery staple 42", "a@example.com")
                .is_ok()
        );
        assert!(
            POLICY
                .check("lowercase only is fine here", "a@example.com")
                .is_ok()
        );
        assert!(
            POLICY
                .check("ünïcödé pässwörd ☃ ok", "a@example.com")
                .is_ok()
        );
    }

    #[test]
    fn rejections_say_why() {
        assert_eq!(reason("short"), "must be at least 15 characters");
        assert_eq!(reason(&"ab1".repeat(100)), "must be at most 256 characters");
        assert_eq!(
            reason("aaaaaaaaaaaaaaaaaaaa"),
            "is a single character repeated"
        );
        assert_eq!(reason("abcabcabcabcabcabc"), "is a short pattern repeated");
        assert_eq!(reason("Password1234567"), "is a commonly used password");
        assert_eq!(
            reason("Correct Horse Battery Staple"),
            "is a commonly used password"
        );
        assert_eq!(
            reason("CorrectHorse BatteryStaple"),
            "is a commonly used password"
        );
        assert_eq!(
            reason("my name is Alice.Smith, hi"),
            "contains your email name"
        );
        assert_eq!(
            reason("my SESAME account password"),
            "contains the name of this service"
        );
    }

    #[test]
    fn length_counts_code_points_not_bytes() {
        // 14 code points, 42 bytes.
        let cjk = "日本語の長いパスワードです。";
        assert_eq!(cjk.chars().count(), 14);
        assert_eq!(reason(cjk), "must be at least 15 characters");
        assert!(POLICY.check(&format!("{cjk}!"), "a@example.com").is_ok());
    }

    #[test]
    fn short_email_names_are_not_context_words() {
        assert!(
            POLICY
                .check("bob is not a problem here", "bob@example.com")
                .is_ok()
        );
    }

    #[test]
    fn the_blocklist_is_loaded_and_lower_cased() {
        assert!(COMMON_PASSWORDS.len() > 300);
        assert!(COMMON_PASSWORDS.contains("qwertyuiopasdfgh"));
        assert!(COMMON_PASSWORDS.iter().all(|p| *p == p.to_lowercase()));
    }
}
