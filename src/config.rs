//! Configuration: defaults → file → `SESAME_*` environment, resolved into a validated [`Config`].
//!
//! Every key `section.key` can be set with `SESAME_SECTION__KEY`; top-level keys have the short
//! names `SESAME_ISSUER`, `SESAME_LISTEN`, `SESAME_DATABASE_URL`, `SESAME_KEK`.
//! `config/default.toml` mirrors [`FileConfig::default`] with a doc line per key.

use crate::secret::Secret;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

/// A configuration error; always names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error("configuration: {0}")]
    Source(String),
}

/// Whether `name` is one of the variables Kubernetes sets for a Service named `sesame`
/// (`SESAME_SERVICE_HOST`, `SESAME_SERVICE_PORT…`, `SESAME_PORT`, `SESAME_PORT_8080_TCP…`).
fn is_kubernetes_service_link(name: &str) -> bool {
    name == "SESAME_PORT" || name.starts_with("SESAME_PORT_") || name.starts_with("SESAME_SERVICE_")
}

/// `http.trusted_proxies` in the environment, a comma-separated list.
const TRUSTED_PROXIES_ENV: &str = "SESAME_HTTP__TRUSTED_PROXIES";

const DAY: i64 = 86_400;
const YEAR: i64 = 365 * DAY;

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// The configuration as written in the file and the environment.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Public base URL; the `iss` of every token and the prefix of every URL Sesame emits.
    pub issuer: String,
    /// Address the HTTP server binds.
    pub listen: String,
    /// `sqlite://path` (embedded default) or `mongodb://…`.
    pub database_url: String,
    /// Base64 of the 32-byte key-encryption key that protects signing keys at rest.
    pub kek: Option<Secret>,
    /// Where the embedded default keeps a generated KEK when `kek` is unset.
    pub kek_file: String,
    /// SMTP server in lettre's URL convention (`smtps://…`, `smtp://…?tls=required`); unset,
    /// mail is written to files under `mail.file_dir`.
    pub smtp_url: Option<Secret>,
    /// The `From:` mailbox of the mail Sesame sends.
    pub mail_from: String,
    pub tokens: TokensFile,
    pub session: SessionFile,
    pub login: LoginFile,
    pub password: PasswordFile,
    pub http: HttpFile,
    pub tls: TlsFile,
    pub authorize: AuthorizeFile,
    pub introspection: IntrospectionFile,
    pub metrics: MetricsFile,
    pub keys: KeysFile,
    pub log: LogFile,
    pub store: StoreFile,
    pub mail: MailFile,
    pub password_reset: PasswordResetFile,
    pub audit: AuditFile,
}

/// `[audit]`: the audit trail of security events (issue 10).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditFile {
    /// How long an entry is kept, seconds (at least a day, at most ten years).
    pub retention: i64,
}

impl Default for AuditFile {
    fn default() -> Self {
        Self {
            retention: 90 * DAY,
        }
    }
}

/// `[keys]`: signing-key rotation (see `keys::rotation`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysFile {
    /// How long a key signs before the next one takes over, seconds.
    pub rotation_period: i64,
    /// How long a next key is published before it signs, seconds; longer than the JWKS
    /// `max-age` plus `reload_interval`.
    pub prepublish: i64,
    /// How long a retired key stays published after the longest-lived token it signed could
    /// have expired, seconds; at least the JWKS `max-age`.
    pub retirement_margin: i64,
    /// Modulus size of new keys: 2048, 3072 or 4096.
    pub rsa_bits: u32,
    /// How often every instance re-reads the key ring, seconds.
    pub reload_interval: i64,
}

impl Default for KeysFile {
    fn default() -> Self {
        Self {
            rotation_period: 30 * DAY,
            prepublish: 2 * DAY,
            retirement_margin: 3600,
            rsa_bits: 2048,
            reload_interval: 60,
        }
    }
}

/// `[mail]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailFile {
    /// A file holding the SMTP password (the user is named in `smtp_url`).
    pub smtp_password_file: Option<String>,
    /// SMTP connect and command timeout, seconds.
    pub timeout_seconds: u64,
    /// How long a mail is retried before it is marked failed, seconds.
    pub delivery_deadline: i64,
    /// Where mail is written when no SMTP server is configured.
    pub file_dir: String,
}

/// `[password_reset]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordResetFile {
    /// Reset-link lifetime, seconds.
    pub token_ttl: i64,
    /// Reset requests per email address per hour.
    pub per_email_per_hour: u32,
    /// Reset requests per client IP per hour.
    pub per_ip_per_hour: u32,
}

impl Default for MailFile {
    fn default() -> Self {
        Self {
            smtp_password_file: None,
            timeout_seconds: 15,
            delivery_deadline: DAY,
            file_dir: "data/mail".into(),
        }
    }
}

impl Default for PasswordResetFile {
    fn default() -> Self {
        Self {
            token_ttl: 1800,
            per_email_per_hour: 5,
            per_ip_per_hour: 30,
        }
    }
}

/// `[tokens]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokensFile {
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    pub code_ttl: i64,
    pub authorization_request_ttl: i64,
    /// Absolute lifetime of a refresh-token family, seconds.
    pub refresh_token_ttl: i64,
    /// How long a refresh token may go unused, seconds; at most `refresh_token_ttl`.
    pub refresh_token_idle_ttl: i64,
    /// Seconds during which a retry of a refresh gets the same pair back; 0 disables.
    pub refresh_retry_window: i64,
}

/// `[session]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionFile {
    /// Absolute lifetime, seconds: the session ends then however much it is used.
    pub ttl: i64,
    /// Idle lifetime, seconds: the session ends when unused this long (sliding).
    pub idle_ttl: i64,
}

/// `[login]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginFile {
    /// Consecutive wrong passwords per account before its logins are throttled.
    pub free_attempts: i64,
    pub max_lock_seconds: i64,
    /// Failed logins (only) per client address per minute.
    pub per_ip_per_minute: u32,
}

/// `[password]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordFile {
    pub min_length: usize,
    pub max_length: usize,
    pub max_concurrent_hashes: usize,
}

/// `[http]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpFile {
    pub max_body_bytes: usize,
    pub workers: usize,
    pub trusted_proxies: Vec<String>,
    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    pub shutdown_grace: u64,
}

/// `[tls]`: TLS termination by `serve` itself (both paths, or neither).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsFile {
    /// PEM certificate chain, leaf first; empty: plain HTTP.
    pub cert: String,
    /// PEM private key of the leaf certificate; empty: plain HTTP.
    pub key: String,
}

/// The certificate and key `serve` terminates TLS with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[authorize]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthorizeFile {
    pub max_request_bytes: usize,
    pub pending_per_ip_per_minute: u32,
}

/// `[introspection]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntrospectionFile {
    pub per_client_per_minute: u32,
}

/// `[metrics]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsFile {
    /// Address of the Prometheus `/metrics` listener, apart from the public endpoints.
    pub listen: String,
}

/// `[store]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreFile {
    /// Seconds `serve` keeps retrying an unreachable database at start-up before it exits.
    pub connect_timeout: u64,
}

impl Default for StoreFile {
    fn default() -> Self {
        Self {
            connect_timeout: 30,
        }
    }
}

/// `[log]`
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogFile {
    pub format: String,
    pub level: String,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/sesame.db".into(),
            kek: None,
            kek_file: "keys/kek".into(),
            smtp_url: None,
            mail_from: "Sesame <sesame@localhost>".into(),
            tokens: TokensFile::default(),
            session: SessionFile::default(),
            login: LoginFile::default(),
            password: PasswordFile::default(),
            http: HttpFile::default(),
            tls: TlsFile::default(),
            authorize: AuthorizeFile::default(),
            introspection: IntrospectionFile::default(),
            metrics: MetricsFile::default(),
            keys: KeysFile::default(),
            log: LogFile::default(),
            store: StoreFile::default(),
            mail: MailFile::default(),
            password_reset: PasswordResetFile::default(),
            audit: AuditFile::default(),
        }
    }
}

impl Default for TokensFile {
    fn default() -> Self {
        Self {
            access_token_ttl: 600,
            id_token_ttl: 600,
            code_ttl: 60,
            authorization_request_ttl: 900,
            refresh_token_ttl: 30 * DAY,
            refresh_token_idle_ttl: 14 * DAY,
            refresh_retry_window: 10,
        }
    }
}

impl Default for SessionFile {
    fn default() -> Self {
        Self {
            ttl: 8 * 3600,
            idle_ttl: 30 * 60,
        }
    }
}

impl Default for LoginFile {
    fn default() -> Self {
        Self {
            free_attempts: 5,
            max_lock_seconds: 900,
            per_ip_per_minute: 30,
        }
    }
}

impl Default for PasswordFile {
    fn default() -> Self {
        Self {
            min_length: 15,
            max_length: 256,
            max_concurrent_hashes: 2,
        }
    }
}

impl Default for HttpFile {
    fn default() -> Self {
        Self {
            max_body_bytes: 16 * 1024,
            workers: 0,
            trusted_proxies: Vec::new(),
            shutdown_grace: 30,
        }
    }
}

impl Default for AuthorizeFile {
    fn default() -> Self {
        Self {
            max_request_bytes: 8 * 1024,
            pending_per_ip_per_minute: 600,
        }
    }
}

impl Default for IntrospectionFile {
    fn default() -> Self {
        Self {
            per_client_per_minute: 600,
        }
    }
}

impl Default for MetricsFile {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9090".into(),
        }
    }
}

impl Default for LogFile {
    fn default() -> Self {
        Self {
            format: "pretty".into(),
            level: "info".into(),
        }
    }
}

/// Validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The issuer, without a trailing slash.
    pub issuer: String,
    /// `https` issuer ⇒ `Secure` cookies with `__Host-` names.
    pub secure_cookies: bool,
    pub listen: SocketAddr,
    pub database_url: String,
    pub kek: Option<Secret>,
    pub kek_file: PathBuf,
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    pub code_ttl: i64,
    pub authorization_request_ttl: i64,
    /// Absolute lifetime of a refresh-token family, seconds.
    pub refresh_token_ttl: i64,
    /// Idle lifetime of a refresh token, seconds; at most `refresh_token_ttl`.
    pub refresh_token_idle_ttl: i64,
    /// The refresh retry window, seconds (0: retries are reuse).
    pub refresh_retry_window: i64,
    /// Absolute lifetime of an IdP session, seconds.
    pub session_ttl: i64,
    /// How long an IdP session may go unused, seconds; at most `session_ttl`.
    pub session_idle_ttl: i64,
    pub login_free_attempts: i64,
    pub login_max_lock_seconds: i64,
    pub login_per_ip_per_minute: u32,
    pub password_min_length: usize,
    pub password_max_length: usize,
    pub max_concurrent_hashes: usize,
    pub max_body_bytes: usize,
    /// 0 = one per core.
    pub workers: usize,
    /// Peers whose `X-Forwarded-For` is believed (the reverse proxies in front of Sesame).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Seconds in-flight requests get to finish once a stop signal arrives.
    pub shutdown_grace_seconds: u64,
    /// Terminate TLS with this certificate and key (`[tls]`); `None`: plain HTTP.
    pub tls: Option<TlsPaths>,
    /// The most an authorization request's parameters may take together, bytes.
    pub authorize_max_request_bytes: usize,
    /// New pending authorization requests per client IP per minute.
    pub authorize_pending_per_ip_per_minute: u32,
    /// Introspection requests per calling client per minute (RFC 7662 §4).
    pub introspection_per_client_per_minute: u32,
    /// Where the Prometheus `/metrics` listener binds.
    pub metrics_listen: SocketAddr,
    /// Signing-key rotation (`[keys]`), with the retention derived from the token lifetimes.
    pub key_policy: crate::keys::RotationPolicy,
    pub log_json: bool,
    pub log_level: String,
    /// How long start-up retries an unreachable database before giving up.
    pub store_connect_timeout: std::time::Duration,
    /// How long audit entries are kept, seconds (`audit.retention`).
    pub audit_retention: i64,
    /// Kubernetes service-link variables (`SESAME_PORT…`, `SESAME_SERVICE_…`); ignored, and
    /// logged at start-up.
    pub ignored_env: Vec<String>,
    /// `SESAME_SMTP_URL`, checked; `None` → the file transport.
    pub smtp_url: Option<Secret>,
    pub smtp_password_file: Option<PathBuf>,
    pub mail_from: String,
    pub mail_timeout: std::time::Duration,
    /// Seconds a mail is retried before it is marked failed.
    pub mail_delivery_deadline: i64,
    pub mail_file_dir: PathBuf,
    /// Seconds a reset link works.
    pub password_reset_ttl: i64,
    pub password_reset_per_email_per_hour: u32,
    pub password_reset_per_ip_per_hour: u32,
}

impl Config {
    /// Loads defaults, then `file` if given (it must exist), then `SESAME_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// As [`Config::load`], with the environment given explicitly.
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        // Variables that name a key are configuration. Three kinds share the prefix without
        // being keys: `SESAME_CONFIG` (the file itself), test-harness variables, and the
        // service links Kubernetes injects for a Service named `sesame` (set aside, reported).
        // Any other `SESAME_*` name is a typo and stops start-up: a misspelt SESAME_ISSUER
        // must not quietly run with the insecure default.
        let known = FileConfig::env_names();
        let mut ignored_env = Vec::new();
        let mut vars = std::collections::HashMap::new();
        for (name, value) in env {
            if known.contains(&name) {
                vars.insert(name, value);
            } else if is_kubernetes_service_link(&name) {
                ignored_env.push(name);
            } else if name.starts_with("SESAME_")
                && name != "SESAME_CONFIG"
                && !name.starts_with("SESAME_TEST_")
            {
                return Err(ConfigError::Source(format!(
                    "environment variable {name} names no configuration key \
                     (see config/default.toml for every key and its variable)"
                )));
            }
        }
        ignored_env.sort();
        // The one list-valued key: comma-separated in the environment.
        let trusted_proxies = vars.remove(TRUSTED_PROXIES_ENV).map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        });
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Source(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("SESAME")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(false)
                .source(Some(vars)),
        );
        let mut file_config: FileConfig = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::Source(e.to_string()))?;
        if let Some(list) = trusted_proxies {
            file_config.http.trusted_proxies = list;
        }
        let mut config = file_config.resolve()?;
        config.ignored_env = ignored_env;
        Ok(config)
    }
}

impl FileConfig {
    /// The environment variable of every key: `SESAME_KEY` at the top level,
    /// `SESAME_SECTION__KEY` below it.
    pub fn env_names() -> Vec<String> {
        let mut names = Vec::new();
        if let Ok(serde_json::Value::Object(top)) = serde_json::to_value(FileConfig::default()) {
            for (key, value) in top {
                match value {
                    serde_json::Value::Object(section) => names.extend(
                        section
                            .keys()
                            .map(|k| format!("SESAME_{}__{}", key, k).to_uppercase()),
                    ),
                    _ => names.push(format!("SESAME_{key}").to_uppercase()),
                }
            }
        }
        names
    }

    /// Validates every key and derives the settings that follow from them.
    pub fn resolve(self) -> Result<Config, ConfigError> {
        let issuer = parse_issuer(&self.issuer)?;
        // The canonical form's scheme is lower case, so this reads the parsed scheme.
        let secure_cookies = issuer.starts_with("https://");
        let listen: SocketAddr = self.listen.parse().map_err(|e| {
            invalid(
                "listen",
                format!("'{}' is not host:port ({e})", self.listen),
            )
        })?;
        let metrics_listen: SocketAddr = self.metrics.listen.parse().map_err(|e| {
            invalid(
                "metrics.listen",
                format!("'{}' is not host:port ({e})", self.metrics.listen),
            )
        })?;
        crate::store::check_url(&self.database_url)
            .map_err(|e| invalid("database_url", e.to_string()))?;
        let kek = match self.kek.as_ref().map(|k| k.expose().trim()) {
            None | Some("") => None,
            Some(k) => {
                crate::keys::Kek::from_base64(k).map_err(|e| invalid("kek", e.to_string()))?;
                Some(Secret::new(k))
            }
        };
        // Lifetimes are bounded so that `now + ttl` can never overflow, and so that a typo
        // cannot mint tokens for years: a day for tokens and waits, a year for sessions.
        let seconds = |key: &'static str, v: i64, max: i64| {
            if (1..=max).contains(&v) {
                Ok(v)
            } else {
                Err(invalid(
                    key,
                    format!("must be between 1 and {max} seconds, got {v}"),
                ))
            }
        };
        let code_ttl = seconds("tokens.code_ttl", self.tokens.code_ttl, DAY)?;
        if code_ttl > 600 {
            return Err(invalid(
                "tokens.code_ttl",
                "must be at most 600 seconds (RFC 6749 §4.1.2)",
            ));
        }
        let refresh_token_ttl = seconds(
            "tokens.refresh_token_ttl",
            self.tokens.refresh_token_ttl,
            YEAR,
        )?;
        let refresh_token_idle_ttl = seconds(
            "tokens.refresh_token_idle_ttl",
            self.tokens.refresh_token_idle_ttl,
            YEAR,
        )?;
        if refresh_token_idle_ttl > refresh_token_ttl {
            return Err(invalid(
                "tokens.refresh_token_idle_ttl",
                format!(
                    "must not be longer than tokens.refresh_token_ttl ({refresh_token_ttl} s), \
                     got {refresh_token_idle_ttl}"
                ),
            ));
        }
        let refresh_retry_window = self.tokens.refresh_retry_window;
        if !(0..=60).contains(&refresh_retry_window) {
            return Err(invalid(
                "tokens.refresh_retry_window",
                format!("must be between 0 (off) and 60 seconds, got {refresh_retry_window}"),
            ));
        }
        let session_ttl = seconds("session.ttl", self.session.ttl, YEAR)?;
        let session_idle_ttl = seconds("session.idle_ttl", self.session.idle_ttl, YEAR)?;
        if session_idle_ttl > session_ttl {
            return Err(invalid(
                "session.idle_ttl",
                format!(
                    "must not be longer than session.ttl ({session_ttl} s), got \
                     {session_idle_ttl}; lower it together with session.ttl"
                ),
            ));
        }
        if self.password.min_length < 8 {
            return Err(invalid(
                "password.min_length",
                "must be at least 8 (NIST SP 800-63B)",
            ));
        }
        if self.password.max_length < 64 || self.password.max_length > 1024 {
            return Err(invalid(
                "password.max_length",
                "must be between 64 and 1024",
            ));
        }
        if self.password.min_length > self.password.max_length {
            return Err(invalid(
                "password.min_length",
                format!(
                    "must not exceed password.max_length, but password.min_length = {} > \
                     password.max_length = {}",
                    self.password.min_length, self.password.max_length
                ),
            ));
        }
        if self.store.connect_timeout > 3600 {
            return Err(invalid(
                "store.connect_timeout",
                format!(
                    "must be between 0 and 3600 seconds, got {}",
                    self.store.connect_timeout
                ),
            ));
        }
        if self.password.max_concurrent_hashes == 0 {
            return Err(invalid(
                "password.max_concurrent_hashes",
                "must be at least 1",
            ));
        }
        if self.login.free_attempts < 1 || self.login.free_attempts > 100 {
            return Err(invalid("login.free_attempts", "must be between 1 and 100"));
        }
        if self.login.per_ip_per_minute == 0 {
            return Err(invalid("login.per_ip_per_minute", "must be at least 1"));
        }
        if self.http.max_body_bytes < 1024 {
            return Err(invalid("http.max_body_bytes", "must be at least 1024"));
        }
        if !(1024..=65_536).contains(&self.authorize.max_request_bytes) {
            return Err(invalid(
                "authorize.max_request_bytes",
                format!(
                    "must be between 1024 and 65536, got {}",
                    self.authorize.max_request_bytes
                ),
            ));
        }
        if self.authorize.pending_per_ip_per_minute == 0 {
            return Err(invalid(
                "authorize.pending_per_ip_per_minute",
                "must be at least 1",
            ));
        }
        if self.introspection.per_client_per_minute == 0 {
            return Err(invalid(
                "introspection.per_client_per_minute",
                "must be at least 1",
            ));
        }
        let smtp_url = match self.smtp_url.as_ref().map(|u| u.expose().trim()) {
            None | Some("") => None,
            Some(u) => {
                crate::mail::check_smtp_url(u).map_err(|why| invalid("smtp_url", why))?;
                Some(Secret::new(u))
            }
        };
        crate::mail::check_from(&self.mail_from).map_err(|why| {
            invalid(
                "mail_from",
                format!("'{}' is not a mailbox ({why})", self.mail_from),
            )
        })?;
        if !(1..=300).contains(&self.mail.timeout_seconds) {
            return Err(invalid("mail.timeout_seconds", "must be between 1 and 300"));
        }
        let mail_delivery_deadline = seconds(
            "mail.delivery_deadline",
            self.mail.delivery_deadline,
            7 * DAY,
        )?;
        let password_reset_ttl = seconds(
            "password_reset.token_ttl",
            self.password_reset.token_ttl,
            DAY,
        )?;
        if password_reset_ttl > 3600 {
            return Err(invalid(
                "password_reset.token_ttl",
                "must be at most 3600 seconds: a reset link is a password",
            ));
        }
        if self.password_reset.per_email_per_hour == 0 {
            return Err(invalid(
                "password_reset.per_email_per_hour",
                "must be at least 1",
            ));
        }
        if self.password_reset.per_ip_per_hour == 0 {
            return Err(invalid(
                "password_reset.per_ip_per_hour",
                "must be at least 1",
            ));
        }
        // A directive tracing cannot read would silently drop every log line.
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| invalid("log.level", format!("'{}': {e}", self.log.level)))?;
        let trusted_proxies = self
            .http
            .trusted_proxies
            .iter()
            .map(|p| parse_proxy(p))
            .collect::<Result<Vec<_>, _>>()?;
        if self.http.shutdown_grace > 3600 {
            return Err(invalid(
                "http.shutdown_grace",
                format!(
                    "must be between 0 and 3600 seconds, got {}",
                    self.http.shutdown_grace
                ),
            ));
        }
        let tls = match (self.tls.cert.trim(), self.tls.key.trim()) {
            ("", "") => None,
            ("", _) => return Err(invalid("tls.cert", "must be set when tls.key is")),
            (_, "") => return Err(invalid("tls.key", "must be set when tls.cert is")),
            (cert, key) => Some(TlsPaths {
                cert: PathBuf::from(cert),
                key: PathBuf::from(key),
            }),
        };
        let log_json = match self.log.format.as_str() {
            "json" => true,
            "pretty" => false,
            other => {
                return Err(invalid(
                    "log.format",
                    format!("'{other}' is not json or pretty"),
                ));
            }
        };
        let access_token_ttl =
            seconds("tokens.access_token_ttl", self.tokens.access_token_ttl, DAY)?;
        let id_token_ttl = seconds("tokens.id_token_ttl", self.tokens.id_token_ttl, DAY)?;
        let key_policy = self.keys.resolve(access_token_ttl.max(id_token_ttl))?;
        Ok(Config {
            issuer,
            secure_cookies,
            listen,
            database_url: self.database_url,
            kek,
            kek_file: PathBuf::from(self.kek_file),
            access_token_ttl,
            id_token_ttl,
            code_ttl,
            authorization_request_ttl: seconds(
                "tokens.authorization_request_ttl",
                self.tokens.authorization_request_ttl,
                DAY,
            )?,
            refresh_token_ttl,
            refresh_token_idle_ttl,
            refresh_retry_window,
            session_ttl,
            session_idle_ttl,
            login_free_attempts: self.login.free_attempts,
            login_max_lock_seconds: seconds(
                "login.max_lock_seconds",
                self.login.max_lock_seconds,
                DAY,
            )?,
            login_per_ip_per_minute: self.login.per_ip_per_minute,
            password_min_length: self.password.min_length,
            password_max_length: self.password.max_length,
            max_concurrent_hashes: self.password.max_concurrent_hashes,
            max_body_bytes: self.http.max_body_bytes,
            workers: self.http.workers,
            trusted_proxies,
            shutdown_grace_seconds: self.http.shutdown_grace,
            tls,
            authorize_max_request_bytes: self.authorize.max_request_bytes,
            authorize_pending_per_ip_per_minute: self.authorize.pending_per_ip_per_minute,
            introspection_per_client_per_minute: self.introspection.per_client_per_minute,
            metrics_listen,
            key_policy,
            log_json,
            log_level: self.log.level,
            store_connect_timeout: std::time::Duration::from_secs(self.store.connect_timeout),
            audit_retention: {
                let r = self.audit.retention;
                if !(DAY..=10 * 365 * DAY).contains(&r) {
                    return Err(invalid(
                        "audit.retention",
                        format!("{r} is not between {DAY} (a day) and ten years, in seconds"),
                    ));
                }
                r
            },
            ignored_env: Vec::new(),
            smtp_url,
            smtp_password_file: self
                .mail
                .smtp_password_file
                .filter(|p| !p.trim().is_empty())
                .map(PathBuf::from),
            mail_from: self.mail_from,
            mail_timeout: std::time::Duration::from_secs(self.mail.timeout_seconds),
            mail_delivery_deadline,
            mail_file_dir: PathBuf::from(self.mail.file_dir),
            password_reset_ttl,
            password_reset_per_email_per_hour: self.password_reset.per_email_per_hour,
            password_reset_per_ip_per_hour: self.password_reset.per_ip_per_hour,
        })
    }
}

impl KeysFile {
    /// Validates `[keys]`; `longest_token_ttl` is the longest lifetime of any token a key
    /// signs, which a retired key must outlive.
    fn resolve(&self, longest_token_ttl: i64) -> Result<crate::keys::RotationPolicy, ConfigError> {
        use crate::keys::{JWKS_MAX_AGE, RSA_BITS};
        if !(1..=3600).contains(&self.reload_interval) {
            return Err(invalid(
                "keys.reload_interval",
                format!(
                    "must be between 1 and 3600 seconds, got {}",
                    self.reload_interval
                ),
            ));
        }
        if !(DAY..=5 * YEAR).contains(&self.rotation_period) {
            return Err(invalid(
                "keys.rotation_period",
                format!(
                    "must be between {DAY} (a day) and {} (five years) seconds, got {}",
                    5 * YEAR,
                    self.rotation_period
                ),
            ));
        }
        // Relying parties cache the JWKS for up to max-age, and an instance may take a reload
        // interval to publish a new key: a shorter prepublication lets a key sign before some
        // verifier can know it.
        let floor = JWKS_MAX_AGE + self.reload_interval;
        if self.prepublish <= floor {
            return Err(invalid(
                "keys.prepublish",
                format!(
                    "must be longer than the JWKS max-age ({JWKS_MAX_AGE} s) plus keys.reload_interval ({} s), got {}",
                    self.reload_interval, self.prepublish
                ),
            ));
        }
        if self.prepublish >= self.rotation_period {
            return Err(invalid(
                "keys.prepublish",
                format!(
                    "must be shorter than keys.rotation_period ({} s), got {}",
                    self.rotation_period, self.prepublish
                ),
            ));
        }
        if !(JWKS_MAX_AGE..=30 * DAY).contains(&self.retirement_margin) {
            return Err(invalid(
                "keys.retirement_margin",
                format!(
                    "must be between the JWKS max-age ({JWKS_MAX_AGE} s) and {} seconds, got {}",
                    30 * DAY,
                    self.retirement_margin
                ),
            ));
        }
        if !RSA_BITS.contains(&self.rsa_bits) {
            return Err(invalid(
                "keys.rsa_bits",
                format!("must be 2048, 3072 or 4096, got {}", self.rsa_bits),
            ));
        }
        Ok(crate::keys::RotationPolicy {
            rotation_period: self.rotation_period,
            prepublish: self.prepublish,
            retention: longest_token_ttl + self.retirement_margin,
            rsa_bits: self.rsa_bits,
            reload_interval: self.reload_interval,
        })
    }
}

/// A trusted proxy: an address (`10.0.0.7`) or a network (`10.0.0.0/8`, `fd00::/8`).
fn parse_proxy(raw: &str) -> Result<ipnet::IpNet, ConfigError> {
    let raw = raw.trim();
    raw.parse::<ipnet::IpNet>()
        .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            invalid(
                "http.trusted_proxies",
                format!("'{raw}' is not an IP address or CIDR network"),
            )
        })
}

/// OIDC Discovery §3: https (http allowed for development), no query or fragment.
fn parse_issuer(raw: &str) -> Result<String, ConfigError> {
    let url =
        Url::parse(raw).map_err(|e| invalid("issuer", format!("'{raw}' is not a URL ({e})")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid(
            "issuer",
            "must be an https (or, for development, http) URL",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("issuer", "must not have a query or fragment"));
    }
    if url.host_str().is_none() || !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("issuer", "must have a host and no user info"));
    }
    // Every endpoint and hosted page lives at the root of the issuer's origin, so an issuer
    // with a path would advertise URLs that Sesame does not serve.
    if url.path() != "/" {
        return Err(invalid(
            "issuer",
            "must not have a path: Sesame serves its endpoints at the root of its host",
        ));
    }
    // The issuer is compared byte for byte by every relying party (OIDC Discovery §4.3,
    // Core §3.1.3.7), so it must already be in the one canonical form the URL parser gives:
    // lower-case scheme and host, no default port, no spaces or tabs, nothing like `https:host`
    // or a trailing `/.`. That form decides cookie security too.
    let canonical = url.origin().ascii_serialization();
    if raw.strip_suffix('/').unwrap_or(raw) != canonical {
        return Err(invalid(
            "issuer",
            format!("must be written as a plain scheme://host[:port]; did you mean '{canonical}'?"),
        ));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_resolve() {
        let c = Config::load_with_env(None, env(&[])).unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert!(!c.secure_cookies);
        assert_eq!(c.code_ttl, 60);
    }

    #[test]
    fn only_the_canonical_issuer_is_accepted_and_it_decides_cookie_security() {
        for (raw, canonical, secure) in [
            ("https://id.example.com", "https://id.example.com", true),
            ("https://id.example.com/", "https://id.example.com", true),
            (
                "https://id.example.com:8443",
                "https://id.example.com:8443",
                true,
            ),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080", false),
            ("http://[::1]:8080/", "http://[::1]:8080", false),
        ] {
            assert_eq!(parse_issuer(raw).unwrap(), canonical, "{raw:?}");
            let file = FileConfig {
                issuer: raw.into(),
                ..FileConfig::default()
            };
            assert_eq!(file.resolve().unwrap().secure_cookies, secure, "{raw:?}");
        }
        // Each of these parses as a URL, and some would have passed a string check for https.
        for raw in [
            "HTTPS://id.example.com",
            "https://ID.example.com",
            "https:id.example.com",
            "https:/id.example.com",
            "https://id.example.com/.",
            " https://id.example.com",
            "https://id.example.com\t",
            "https://id.example.com:443",
            "http://127.0.0.1:80",
            "https://id.example.com//",
        ] {
            let err = parse_issuer(raw).unwrap_err().to_string();
            assert!(err.contains("`issuer`"), "{raw:?}: {err}");
        }
        let err = parse_issuer("HTTPS://ID.example.com:443")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("did you mean 'https://id.example.com'"),
            "{err}"
        );
    }

    #[test]
    fn short_and_nested_environment_names_override() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("SESAME_ISSUER", "https://id.example.com/"),
                ("SESAME_TOKENS__ACCESS_TOKEN_TTL", "120"),
                ("SESAME_TEST_MONGODB_URI", "mongodb://ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(c.issuer, "https://id.example.com");
        assert!(c.secure_cookies);
        assert_eq!(c.access_token_ttl, 120);
    }

    #[test]
    fn invalid_values_name_the_key() {
        let err = Config::load_with_env(None, env(&[("SESAME_ISSUER", "ftp://x")])).unwrap_err();
        assert!(err.to_string().contains("`issuer`"), "{err}");
        let err = Config::load_with_env(None, env(&[("SESAME_ISSUER", "https://x.example/idp")]))
            .unwrap_err();
        assert!(err.to_string().contains("must not have a path"), "{err}");
        let err = Config::load_with_env(None, env(&[("SESAME_LISTEN", "nope")])).unwrap_err();
        assert!(err.to_string().contains("`listen`"), "{err}");
        let err =
            Config::load_with_env(None, env(&[("SESAME_TOKENS__CODE_TTL", "abc")])).unwrap_err();
        assert!(err.to_string().contains("code_ttl"), "{err}");
        for (name, value, key) in [
            ("SESAME_LOG__LEVEL", "sesame=[[[", "`log.level`"),
            (
                "SESAME_DATABASE_URL",
                "postgres://db/sesame",
                "`database_url`",
            ),
            (
                "SESAME_DATABASE_URL",
                "sqlite://x.db?mode=ro",
                "`database_url`",
            ),
            (
                "SESAME_DATABASE_URL",
                "mongodb://db/no.dots",
                "`database_url`",
            ),
            (
                "SESAME_SESSION__TTL",
                "9223372036854775807",
                "`session.ttl`",
            ),
            ("SESAME_SESSION__IDLE_TTL", "0", "`session.idle_ttl`"),
            (
                "SESAME_TOKENS__ACCESS_TOKEN_TTL",
                "86401",
                "`tokens.access_token_ttl`",
            ),
            (
                "SESAME_HTTP__TRUSTED_PROXIES",
                "10.0.0.0/8,nonsense",
                "`http.trusted_proxies`",
            ),
            (
                "SESAME_AUTHORIZE__MAX_REQUEST_BYTES",
                "100",
                "`authorize.max_request_bytes`",
            ),
            (
                "SESAME_AUTHORIZE__PENDING_PER_IP_PER_MINUTE",
                "0",
                "`authorize.pending_per_ip_per_minute`",
            ),
            (
                "SESAME_INTROSPECTION__PER_CLIENT_PER_MINUTE",
                "0",
                "`introspection.per_client_per_minute`",
            ),
            ("SESAME_METRICS__LISTEN", "everywhere", "`metrics.listen`"),
        ] {
            let err = Config::load_with_env(None, env(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{name}={value}: {err}");
        }
    }

    #[test]
    fn a_minimum_password_length_above_the_maximum_is_refused_naming_both_keys() {
        let err = Config::load_with_env(
            None,
            env(&[
                ("SESAME_PASSWORD__MIN_LENGTH", "100"),
                ("SESAME_PASSWORD__MAX_LENGTH", "64"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("password.min_length") && err.contains("password.max_length = 64"),
            "{err}"
        );
        let equal = Config::load_with_env(
            None,
            env(&[
                ("SESAME_PASSWORD__MIN_LENGTH", "64"),
                ("SESAME_PASSWORD__MAX_LENGTH", "64"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (equal.password_min_length, equal.password_max_length),
            (64, 64)
        );
        let err = Config::load_with_env(None, env(&[("SESAME_STORE__CONNECT_TIMEOUT", "3601")]))
            .unwrap_err();
        assert!(err.to_string().contains("`store.connect_timeout`"), "{err}");
    }

    #[test]
    fn session_idle_ttl_defaults_to_half_an_hour_and_may_not_outlast_the_session() {
        let c = Config::load_with_env(None, env(&[])).unwrap();
        assert_eq!((c.session_ttl, c.session_idle_ttl), (28_800, 1_800));
        let err = Config::load_with_env(None, env(&[("SESAME_SESSION__TTL", "600")])).unwrap_err();
        assert!(err.to_string().contains("`session.idle_ttl`"), "{err}");
        assert!(err.to_string().contains("session.ttl (600 s)"), "{err}");
        let c = Config::load_with_env(
            None,
            env(&[
                ("SESAME_SESSION__TTL", "600"),
                ("SESAME_SESSION__IDLE_TTL", "600"),
            ]),
        )
        .unwrap();
        assert_eq!((c.session_ttl, c.session_idle_ttl), (600, 600));
    }

    #[test]
    fn kubernetes_service_links_are_set_aside_and_typos_stop_start_up() {
        // Kubernetes injects these for a Service named `sesame`.
        let c = Config::load_with_env(
            None,
            env(&[
                ("SESAME_PORT", "tcp://10.0.0.1:8080"),
                ("SESAME_PORT_8080_TCP_ADDR", "10.0.0.1"),
                ("SESAME_SERVICE_HOST", "10.0.0.1"),
                ("SESAME_CONFIG", "/etc/sesame.toml"),
                ("SESAME_TEST_MONGODB_URI", "mongodb://x"),
                ("OTHER", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.ignored_env,
            [
                "SESAME_PORT",
                "SESAME_PORT_8080_TCP_ADDR",
                "SESAME_SERVICE_HOST"
            ]
        );
        // A misspelt key must not run with the insecure default issuer.
        let err = Config::load_with_env(None, env(&[("SESAME_ISUER", "https://id.example")]))
            .unwrap_err();
        assert!(err.to_string().contains("SESAME_ISUER"), "{err}");
    }

    #[test]
    fn key_rotation_defaults_and_their_limits() {
        let c = Config::load_with_env(None, env(&[])).unwrap();
        assert_eq!(
            c.key_policy,
            crate::keys::RotationPolicy {
                rotation_period: 30 * DAY,
                prepublish: 48 * 3600,
                retention: 600 + 3600,
                rsa_bits: 2048,
                reload_interval: 60,
            }
        );
        // Retention follows the longest token lifetime.
        let c =
            Config::load_with_env(None, env(&[("SESAME_TOKENS__ID_TOKEN_TTL", "3600")])).unwrap();
        assert_eq!(c.key_policy.retention, 3600 + 3600);
        let c = Config::load_with_env(None, env(&[("SESAME_KEYS__RSA_BITS", "4096")])).unwrap();
        assert_eq!(c.key_policy.rsa_bits, 4096);
        // Prepublication must outlast the JWKS cache plus a reload: 360 s is refused, 361 s not.
        let err =
            Config::load_with_env(None, env(&[("SESAME_KEYS__PREPUBLISH", "360")])).unwrap_err();
        assert!(err.to_string().contains("`keys.prepublish`"), "{err}");
        assert!(err.to_string().contains("max-age (300 s)"), "{err}");
        assert!(Config::load_with_env(None, env(&[("SESAME_KEYS__PREPUBLISH", "361")])).is_ok());
        for (name, value, key) in [
            ("SESAME_KEYS__RSA_BITS", "1024", "`keys.rsa_bits`"),
            (
                "SESAME_KEYS__ROTATION_PERIOD",
                "3600",
                "`keys.rotation_period`",
            ),
            ("SESAME_KEYS__PREPUBLISH", "2592000", "`keys.prepublish`"),
            (
                "SESAME_KEYS__RETIREMENT_MARGIN",
                "299",
                "`keys.retirement_margin`",
            ),
            (
                "SESAME_KEYS__RELOAD_INTERVAL",
                "0",
                "`keys.reload_interval`",
            ),
        ] {
            let err = Config::load_with_env(None, env(&[(name, value)])).unwrap_err();
            assert!(err.to_string().contains(key), "{name}={value}: {err}");
        }
    }

    #[test]
    fn smtp_needs_tls_unless_loopback_and_mail_from_must_be_a_mailbox() {
        let c = Config::load_with_env(
            None,
            env(&[
                ("SESAME_SMTP_URL", "smtps://user:s3cret@smtp.example.com"),
                ("SESAME_MAIL_FROM", "Example <no-reply@example.com>"),
                ("SESAME_PASSWORD_RESET__TOKEN_TTL", "900"),
            ]),
        )
        .unwrap();
        assert!(c.smtp_url.is_some());
        assert_eq!(c.mail_from, "Example <no-reply@example.com>");
        assert_eq!(c.password_reset_ttl, 900);
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "the SMTP URL is redacted"
        );
        let plain = Config::load_with_env(
            None,
            env(&[("SESAME_SMTP_URL", "smtp://user:s3cret@smtp.example.com:25")]),
        )
        .unwrap_err()
        .to_string();
        assert!(plain.contains("`smtp_url`"), "{plain}");
        assert!(plain.contains("tls=required"), "{plain}");
        assert!(!plain.contains("s3cret"), "{plain}");
        let from = Config::load_with_env(None, env(&[("SESAME_MAIL_FROM", "nobody")]))
            .unwrap_err()
            .to_string();
        assert!(from.contains("`mail_from`"), "{from}");
        let ttl = Config::load_with_env(None, env(&[("SESAME_PASSWORD_RESET__TOKEN_TTL", "7200")]))
            .unwrap_err()
            .to_string();
        assert!(ttl.contains("`password_reset.token_ttl`"), "{ttl}");
    }

    #[test]
    fn every_key_has_its_environment_variable() {
        let names = FileConfig::env_names();
        for name in [
            "SESAME_ISSUER",
            "SESAME_LISTEN",
            "SESAME_DATABASE_URL",
            "SESAME_KEK",
            "SESAME_KEK_FILE",
            "SESAME_TOKENS__CODE_TTL",
            "SESAME_HTTP__TRUSTED_PROXIES",
            "SESAME_LOG__LEVEL",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        let c = Config::load_with_env(
            None,
            env(&[("SESAME_HTTP__TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")]),
        )
        .unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        assert!(c.trusted_proxies[1].contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap()));
    }
}
