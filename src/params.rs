//! Request parameters: `application/x-www-form-urlencoded` query strings and bodies. No actix
//! types: the authorization core validates from these as the endpoints do.
//!
//! RFC 6749 §3.1: parameters sent without a value are treated as omitted, and request and
//! response parameters MUST NOT be included more than once.

use std::collections::HashMap;

/// The longest value we accept for any one parameter.
pub const MAX_VALUE_LEN: usize = 4096;

/// Parsed parameters, each name mapped to every value it was sent with.
#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, Vec<String>>,
    /// Decoded bytes of every name and value sent, empty ones included.
    size: usize,
}

/// Why a parameter could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("parameter '{0}' was sent more than once")]
    Repeated(String),
    #[error("parameter '{0}' is too long")]
    TooLong(String),
}

impl Params {
    /// Parses `a=1&b=2`. Never fails: malformed percent-escapes are kept literally.
    pub fn parse(input: &[u8]) -> Params {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        let mut size = 0usize;
        for (name, value) in form_urlencoded::parse(input) {
            size = size.saturating_add(name.len() + value.len());
            if value.is_empty() {
                continue;
            }
            values
                .entry(name.into_owned())
                .or_default()
                .push(value.into_owned());
        }
        Params { values, size }
    }

    /// The decoded size of the whole request: every parameter's name and value together,
    /// whether or not the endpoint defines it.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The single value of `name`; `Ok(None)` when absent.
    pub fn get(&self, name: &str) -> Result<Option<&str>, ParamError> {
        match self.values.get(name).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) if one.len() > MAX_VALUE_LEN => Err(ParamError::TooLong(name.to_string())),
            Some([one]) => Ok(Some(one.as_str())),
            Some(_) => Err(ParamError::Repeated(name.to_string())),
        }
    }

    /// Every value of a parameter that may be repeated (RFC 8707 §2 `resource`), in the order
    /// sent; each must fit [`MAX_VALUE_LEN`].
    pub fn all(&self, name: &str) -> Result<&[String], ParamError> {
        let values = self.values.get(name).map(Vec::as_slice).unwrap_or_default();
        if values.iter().any(|v| v.len() > MAX_VALUE_LEN) {
            return Err(ParamError::TooLong(name.to_string()));
        }
        Ok(values)
    }

    /// Whether `name` was sent at all.
    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The first of `defined` (the parameters the endpoint understands) that is repeated or
    /// too long. Parameters the endpoint does not define are ignored, however they were sent
    /// (RFC 6749 §3.1).
    pub fn first_problem(&self, defined: &[&str]) -> Option<ParamError> {
        defined.iter().find_map(|name| self.get(name).err())
    }
}

impl From<ParamError> for crate::error::OAuthError {
    fn from(e: ParamError) -> Self {
        crate::error::OAuthError::invalid_request(e.to_string())
    }
}

/// Whether a `Content-Type` header value is `application/x-www-form-urlencoded` (any charset).
pub fn is_form_content_type(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameter_is_an_error_and_empty_means_absent() {
        let p = Params::parse(b"a=1&a=2&b=&c=x%20y");
        assert_eq!(p.get("a"), Err(ParamError::Repeated("a".into())));
        assert_eq!(p.get("b"), Ok(None));
        assert_eq!(p.get("c"), Ok(Some("x y")));
        assert_eq!(
            p.first_problem(&["c", "a"]),
            Some(ParamError::Repeated("a".into()))
        );
        // An undefined parameter may be repeated: it is ignored.
        assert_eq!(p.first_problem(&["b", "c"]), None);
    }

    #[test]
    fn overlong_value_is_refused() {
        let long = format!("s={}", "x".repeat(MAX_VALUE_LEN + 1));
        let p = Params::parse(long.as_bytes());
        assert_eq!(p.get("s"), Err(ParamError::TooLong("s".into())));
    }

    #[test]
    fn malformed_percent_encoding_does_not_panic() {
        let p = Params::parse(b"a=%zz&b=%E2%28%A1");
        assert_eq!(p.get("a"), Ok(Some("%zz")));
        assert!(p.get("b").unwrap().is_some());
    }

    #[test]
    fn size_counts_every_name_and_value_decoded() {
        let p = Params::parse(b"a=1&bb=&zz=%41%42&a=22");
        assert_eq!(p.size(), 2 + 2 + 4 + 3);
    }

    #[test]
    fn form_content_type_detection() {
        assert!(is_form_content_type(Some(
            "application/x-www-form-urlencoded; charset=UTF-8"
        )));
        assert!(!is_form_content_type(Some("application/json")));
        assert!(!is_form_content_type(None));
    }
}
