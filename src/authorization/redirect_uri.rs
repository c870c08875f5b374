//! Matching a request's `redirect_uri` against the client's registrations.
//!
//! Exact string comparison, no normalisation (RFC 9700 §2.1, §4.1.3), with one exception: a
//! public (native) client's loopback registration `http://127.0.0.1/…` or `http://[::1]/…`
//! matches on any port, because the app listens on whatever port the OS gives it at the time of
//! the request (RFC 8252 §7.3, RFC 9700 §2.1). `localhost` is not a loopback address here
//! (RFC 8252 §8.3): it may resolve elsewhere.

use crate::model::Client;

/// The loopback origins without a port, as they must be spelt.
const LOOPBACK_ORIGINS: &[&str] = &["http://127.0.0.1", "http://[::1]"];

/// Whether `requested` may be used as `client`'s redirect URI.
pub fn is_registered(client: &Client, requested: &str) -> bool {
    client
        .redirect_uris
        .iter()
        .any(|r| r == requested || (client.public && same_loopback_but_port(r, requested)))
}

/// `uri` split into its loopback origin and what follows the port, if it is a loopback URI.
fn loopback_parts(uri: &str) -> Option<(&'static str, &str)> {
    let origin = LOOPBACK_ORIGINS.iter().find(|o| uri.starts_with(**o))?;
    let rest = &uri[origin.len()..];
    let rest = match rest.strip_prefix(':') {
        Some(after) => {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let port: u16 = after[..digits].parse().ok()?;
            if port == 0 {
                return None;
            }
            &after[digits..]
        }
        None => rest,
    };
    // A path must follow the authority (RFC 8252 §7.3 registers `http://127.0.0.1/path`).
    rest.starts_with('/').then_some((origin, rest))
}

/// Whether two URIs are the same loopback URI apart from the port: same origin spelling, and
/// path and query equal byte for byte.
fn same_loopback_but_port(registered: &str, requested: &str) -> bool {
    match (loopback_parts(registered), loopback_parts(requested)) {
        (Some(a), Some(b)) => a == b && !requested.contains('#'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(public: bool, uris: &[&str]) -> Client {
        Client {
            redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
            public,
            ..Client::test_public()
        }
    }

    #[test]
    fn public_loopback_registration_matches_any_port() {
        let c = client(true, &["http://127.0.0.1/cb?app=1", "http://[::1]:8080/cb"]);
        for ok in [
            "http://127.0.0.1/cb?app=1",
            "http://127.0.0.1:51004/cb?app=1",
            "http://127.0.0.1:1/cb?app=1",
            "http://[::1]:8080/cb",
            "http://[::1]:65535/cb",
            "http://[::1]/cb",
        ] {
            assert!(is_registered(&c, ok), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:51004/cb",
            "http://127.0.0.1:51004/cb?app=2",
            "http://127.0.0.1:51004/cb/?app=1",
            "http://127.0.0.1:51004/CB?app=1",
            "http://127.0.0.1:51004/cb?app=1#x",
            "http://127.0.0.1:0/cb?app=1",
            "http://127.0.0.1:99999/cb?app=1",
            "http://127.0.0.1:/cb?app=1",
            "http://127.0.0.1:80x/cb?app=1",
            "https://127.0.0.1:51004/cb?app=1",
            "http://localhost:51004/cb?app=1",
            "http://127.0.0.2:51004/cb?app=1",
            "http://user@127.0.0.1:51004/cb?app=1",
            "http://[::1]:8080/cb/../cb",
            "http://[0:0:0:0:0:0:0:1]:8080/cb",
            "http://127.0.0.1.evil.example/cb?app=1",
            "http://[::1]:8080",
        ] {
            assert!(!is_registered(&c, bad), "{bad}");
        }
    }

    #[test]
    fn confidential_clients_and_other_uris_match_exactly() {
        let confidential = client(false, &["http://127.0.0.1:9/cb"]);
        assert!(is_registered(&confidential, "http://127.0.0.1:9/cb"));
        assert!(!is_registered(&confidential, "http://127.0.0.1:10/cb"));
        let native = client(true, &["http://localhost:9/cb", "com.example.app:/oauth"]);
        assert!(is_registered(&native, "http://localhost:9/cb"));
        assert!(!is_registered(&native, "http://localhost:10/cb"));
        assert!(is_registered(&native, "com.example.app:/oauth"));
        assert!(!is_registered(&native, "com.example.app:/oauth2"));
    }
}
