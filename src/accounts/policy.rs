//! The password policy of NIST SP 800-63B-4 §3.1.1.2 and OWASP ASVS 5.0 §6.2: a minimum length
//! in code points, no composition rules, context words (the account's email name, the
//! service's name), and a strength estimate by `zxcvbn`, which knows common and breached
//! passwords, dictionary words, names, keyboard patterns, sequences, repeats and dates. Every
//! rejection says why, and what to do instead, in words a person can act on.

use std::fmt;
use zxcvbn::Score;

/// The service's own name, a context word no password may contain (NIST SP 800-63B-4 §3.1.1.2).
const SERVICE_NAME: &str = "sesame";

/// The weakest `zxcvbn` score accepted: 3 ("safely unguessable", more than 10^10 guesses), the
/// library's own advice for anything protecting an account.
const MIN_SCORE: Score = Score::Three;

/// How many leading code points `zxcvbn` estimates. Its matching grows faster than linearly
/// with length, and 100 code points that passed are already far beyond any guessing (the
/// reference implementation stops at 100 too); the rest of the password still counts in full
/// for its hash.
const MAX_ESTIMATED: usize = 100;

/// Length limits, in Unicode code points.
#[derive(Clone, Copy, Debug)]
pub struct PasswordPolicy {
    /// Fewest code points (15 when the password is the only factor, NIST SP 800-63B-4).
    pub min_length: usize,
    /// Most code points; longer input is refused, never truncated.
    pub max_length: usize,
}

/// Why a new password was refused: what is wrong with it (completing "The password …") and
/// what to do instead. Its `Display` is the whole message, e.g. "is too easy to guess (this
/// is a top-100 common password). Add another word or two. Uncommon words are better."
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyViolation {
    /// What is wrong, e.g. "must be at least 15 characters".
    pub reason: String,
    /// What to do instead, whole sentences; may be empty.
    pub suggestions: Vec<String>,
}

impl PolicyViolation {
    fn new(reason: impl Into<String>) -> PolicyViolation {
        PolicyViolation {
            reason: reason.into(),
            suggestions: Vec::new(),
        }
    }
}

impl fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        if !self.suggestions.is_empty() {
            write!(f, ". {}", self.suggestions.join(" "))?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyViolation {}

impl PasswordPolicy {
    /// Checks a new password (already NFKC-normalised) for the account `email` (normalised).
    /// The error says why and what to do, e.g. "must be at least 15 characters".
    pub fn check(&self, password: &str, email: &str) -> Result<(), PolicyViolation> {
        let length = password.chars().count();
        if length < self.min_length {
            return Err(PolicyViolation::new(format!(
                "must be at least {} characters",
                self.min_length
            )));
        }
        if length > self.max_length {
            return Err(PolicyViolation::new(format!(
                "must be at most {} characters",
                self.max_length
            )));
        }
        if let Some(unit) = repeated_unit(password) {
            return Err(PolicyViolation::new(if unit == 1 {
                "is a single character repeated"
            } else {
                "is a short pattern repeated"
            }));
        }
        let lower = password.to_lowercase();
        let local = email.split('@').next().unwrap_or_default().to_lowercase();
        if local.chars().count() >= 4 && lower.contains(&local) {
            return Err(PolicyViolation::new("contains your email name"));
        }
        if lower.contains(SERVICE_NAME) {
            return Err(PolicyViolation::new("contains the name of this service"));
        }
        strength(password, &[email, &local, SERVICE_NAME])
    }
}

/// The `zxcvbn` verdict on the first [`MAX_ESTIMATED`] code points, with the words the account
/// itself gives away (`context`) counted as known: below [`MIN_SCORE`] it is refused with the
/// library's warning as the reason's detail and its suggestions as the advice.
fn strength(password: &str, context: &[&str]) -> Result<(), PolicyViolation> {
    let estimated: String = password.chars().take(MAX_ESTIMATED).collect();
    let entropy = zxcvbn::zxcvbn(&estimated, context);
    if entropy.score() >= MIN_SCORE {
        return Ok(());
    }
    let feedback = entropy.feedback();
    let warning = feedback
        .and_then(|f| f.warning())
        .map(|w| sentence_part(&w));
    let mut suggestions: Vec<String> = feedback
        .map(|f| f.suggestions().iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    if suggestions.is_empty() {
        suggestions.push("Add another word or two. Uncommon words are better.".into());
    }
    Err(PolicyViolation {
        reason: match warning {
            Some(warning) => format!("is too easy to guess ({warning})"),
            None => "is too easy to guess".to_string(),
        },
        suggestions,
    })
}

/// A library sentence ("This is a top-100 common password.") as part of ours ("this is a
/// top-100 common password").
fn sentence_part(sentence: &impl fmt::Display) -> String {
    let text = sentence.to_string();
    let text = text.trim_end_matches('.');
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
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

    fn violation(password: &str) -> PolicyViolation {
        POLICY
            .check(password, "alice.smith@example.com")
            .unwrap_err()
    }

    fn reason(password: &str) -> String {
        violation(password).reason
    }

    #[test]
    fn long_unusual_passphrases_are_accepted() {
        for password in [
            "correct horse battery staple 42",
            "lowercase only is fine here",
            "ünïcödé pässwörd ☃ ok",
            "tangerine submarine orbits quietly",
        ] {
            assert_eq!(
                POLICY.check(password, "a@example.com"),
                Ok(()),
                "{password}"
            );
        }
    }

    #[test]
    fn length_boundaries_count_code_points_not_bytes() {
        // 14 code points (42 bytes) is one short; 15 is enough.
        let cjk = "日本語の長いパスワードです。";
        assert_eq!(cjk.chars().count(), 14);
        assert_eq!(reason(cjk), "must be at least 15 characters");
        assert!(POLICY.check(&format!("{cjk}!"), "a@example.com").is_ok());
        // Exactly the minimum and exactly the maximum are accepted; one past either is not.
        let fifteen = "vq8 zebra lamp!";
        assert_eq!(fifteen.chars().count(), 15);
        assert!(POLICY.check(fifteen, "a@example.com").is_ok());
        assert_eq!(reason(&fifteen[..14]), "must be at least 15 characters");
        let words = "ochre walrus pivots tundra ";
        let at_max: String = words.chars().cycle().take(256).collect();
        assert!(POLICY.check(&at_max, "a@example.com").is_ok());
        let over: String = words.chars().cycle().take(257).collect();
        assert_eq!(reason(&over), "must be at most 256 characters");
    }

    #[test]
    fn repeats_and_context_words_say_why() {
        assert_eq!(
            reason("aaaaaaaaaaaaaaaaaaaa"),
            "is a single character repeated"
        );
        assert_eq!(reason("abcabcabcabcabcabc"), "is a short pattern repeated");
        assert_eq!(
            reason("my name is Alice.Smith, hi"),
            "contains your email name"
        );
        assert_eq!(
            reason("my SESAME account password"),
            "contains the name of this service"
        );
        assert!(
            POLICY
                .check("bob is not a problem here", "bob@example.com")
                .is_ok(),
            "short email names are not context words"
        );
    }

    #[test]
    fn the_library_rejects_common_passwords_patterns_and_repeats_with_its_advice() {
        for (password, why) in [
            (
                "1qaz2wsx3edc4rfv",
                "is too easy to guess (this is a very common password). Add another word or \
                 two. Uncommon words are better.",
            ),
            (
                "iloveyouiloveyou",
                "is too easy to guess (repeats like \"abcabcabc\" are only slightly harder to \
                 guess than \"abc\"). Add another word or two. Uncommon words are better. \
                 Avoid repeated words and characters.",
            ),
        ] {
            assert_eq!(violation(password).to_string(), why, "{password}");
        }
        // Where two readings of a password are equally likely, the library's explanation may
        // name either, so these pin the shape of the message only.
        for password in [
            "Password1234567",
            "qwertyuiopasdfghjkl",
            "iloveyou12345678",
            "jennifer19851985",
        ] {
            let v = violation(password);
            assert!(
                v.reason.starts_with("is too easy to guess ("),
                "{password}: {v}"
            );
            assert!(!v.suggestions.is_empty(), "{password}: advice given: {v}");
        }
    }

    #[test]
    fn only_the_first_hundred_code_points_are_estimated() {
        // A 1000-character password is estimated quickly (on its first 100 code points).
        let long: String = "ochre walrus pivots tundra "
            .chars()
            .cycle()
            .take(1000)
            .collect();
        let wide = PasswordPolicy {
            min_length: 15,
            max_length: 1024,
        };
        assert!(wide.check(&long, "a@example.com").is_ok());
    }

    #[test]
    fn sentence_parts_lose_the_capital_and_the_full_stop() {
        assert_eq!(
            sentence_part(&"This is a top-100 common password."),
            "this is a top-100 common password"
        );
        assert_eq!(sentence_part(&""), "");
    }
}
