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
mod discovery;
mod login_page;
mod session_idle;
mod startup;
mod store_contract;
mod tasks;
mod token_errors;
mod userinfo;

// The token lifecycle (issue 8): revocation and introspection.
mod introspection;
mod revocation;

// Password reset by email and the mail outbox (issue 9).
mod password_reset;
