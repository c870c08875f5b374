//! Sesame's one integration-test binary: the real server on an ephemeral port, driven by the
//! `openidconnect` crate as the relying party, a cookie-jar HTTP client as the person, the
//! admin CLI, and headless Chromium. Run one area with `cargo test --test it <module>`.

mod harness;

mod authorize_errors;
mod bad_input;
mod browser;
mod claims;
mod cli;
mod code_flow;
mod config_file;
mod contract;
mod deploy;
mod discovery;
mod login_page;
mod metrics;
mod session_idle;
mod startup;
mod store_contract;
mod tasks;
mod token_errors;
mod userinfo;

// Production lifecycle (issue 10, items 1 and 4): HTTPS, SIGHUP reload, graceful shutdown, HEAD.
mod shutdown;
mod tls;

// The token lifecycle (issue 8): revocation and introspection.
mod client_auth;
// Browser-based clients (CORS) and operator commands (issue 8 items 8 and 6).
mod cors;
mod introspection;
mod logout;
mod operators;
mod refresh;
mod revocation;

// Signing-key rotation, operator commands and encryption at rest (issue 7).
mod key_rotation;
// Database outages (issue 7, item 4).
mod outage;

// Login throttling that fits real traffic (issue 9, item 5).
mod throttling;
// Password reset by email and the mail outbox (issue 9).
mod password_reset;

// APIs as resource servers, RFC 8707 resource indicators (issue 12).
mod apis;
// Back-channel logout (issue 8 item 5).
mod backchannel;

// Operations (issue 10): the audit trail, request ids and the secret scan of the logs.
mod audit;
mod logging;
mod request_ids;
