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

// The token lifecycle (issue 8): revocation and introspection.
mod client_auth;
mod introspection;
mod logout;
mod refresh;
mod revocation;

// Signing-key rotation, operator commands and encryption at rest (issue 7).
mod key_rotation;
// Database outages (issue 7, item 4).
mod outage;

// Login throttling that fits real traffic (issue 9, item 5).
mod throttling;

// Operations (issue 10): the audit trail, request ids and the secret scan of the logs.
mod audit;
mod logging;
mod request_ids;
