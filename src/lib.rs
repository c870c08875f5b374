//! Sesame: an OAuth 2.0 / OpenID Connect identity provider.
//!
//! Layers: `oauth`/`ui` (HTTP adapters, over the web plumbing they share in `http` and
//! `session`) → `authorization`/`accounts`/`clients`/`keys`/`tasks` (services, no HTTP types)
//! → `store` (persistence) → `model` (plain records).

pub mod accounts;
pub mod apis;
pub mod audit;
pub mod authorization;
pub mod backchannel;
pub mod cli;
pub mod clients;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod keys;
pub mod mail;
pub mod measure;
pub mod model;
pub mod monitoring;
pub mod oauth;
pub mod outbox;
pub mod params;
pub mod rate_limit;
pub mod render;
pub mod secret;
pub mod session;
pub mod state;
pub mod store;
pub mod tasks;
pub mod telemetry;
pub mod ui;

use actix_web::{App, HttpServer, web};
use clock::Clock;
use config::Config;
use state::AppState;
use std::sync::Arc;

/// A start-up failure; the message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("database: {0}")]
    Store(#[from] store::StoreError),
    #[error("signing keys: {0}")]
    Keys(#[from] keys::KeyError),
    #[error("templates: {0}")]
    Templates(String),
    #[error("mail: {0}")]
    Mail(#[from] mail::MailError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Opens the store (retrying an unreachable database for `store.connect_timeout`), loads or creates the key-encryption key and the signing keys, and builds the
/// shared state.
pub async fn bootstrap(config: Config, clock: Arc<dyn Clock>) -> Result<AppState, StartupError> {
    let store = store::open_patiently(&config.database_url, config.store_connect_timeout).await?;
    audit::set_retention(config.audit_retention);
    let kek = match &config.kek {
        Some(k) => keys::Kek::from_base64(k.expose())?,
        None => keys::Kek::load_or_create(&config.kek_file)?,
    };
    // Outbox payloads (reset links) are sealed under the same key-encryption key.
    let seal = Arc::new(outbox::PayloadSeal::new(keys::Kek::from_base64(
        kek.to_base64().expose(),
    )?));
    let keys = Arc::new(
        keys::KeyManager::load_or_init_with(store.clone(), kek, clock.now(), config.key_policy)
            .await?
            .with_issuer(config.issuer.clone()),
    );
    let templates =
        Arc::new(render::Templates::load().map_err(|e| StartupError::Templates(e.to_string()))?);
    let accounts = Arc::new(accounts::Accounts::new(
        store.clone(),
        &config,
        clock.clone(),
    ));
    let pending_limit = Arc::new(authorization::limit::PendingLimit::new(
        config.authorize_pending_per_ip_per_minute,
        clock.clone(),
    ));
    let introspection_limit = Arc::new(rate_limit::KeyedLimit::per_minute(
        config.introspection_per_client_per_minute,
        clock.clone(),
    ));
    let discovery = oauth::discovery::render(&config).into();
    let (deliveries, password_reset) = mail_services(&config, &store, &accounts, &keys, seal)?;
    let reset_limits = Arc::new(state::ResetLimits {
        per_email: rate_limit::KeyedLimit::per_hour(
            config.password_reset_per_email_per_hour,
            clock.clone(),
        ),
        per_ip: rate_limit::KeyedLimit::per_hour(
            config.password_reset_per_ip_per_hour,
            clock.clone(),
        ),
    });
    Ok(AppState {
        config: Arc::new(config),
        store,
        keys,
        templates,
        accounts,
        clock,
        pending_limit,
        introspection_limit,
        discovery,
        deliveries,
        password_reset,
        reset_limits,
    })
}

/// The mailer (SMTP, or files when none is configured), the outbox service that delivers
/// through it (and back-channel logout notices), and the password-reset service that enqueues
/// mail.
fn mail_services(
    config: &Config,
    store: &Arc<dyn store::Store>,
    accounts: &Arc<accounts::Accounts>,
    keys: &Arc<keys::KeyManager>,
    seal: Arc<outbox::PayloadSeal>,
) -> Result<(Arc<outbox::Deliveries>, Arc<accounts::reset::PasswordReset>), StartupError> {
    let mailer = Arc::new(mail::Mailer::new(&mail::MailSettings {
        smtp_url: config.smtp_url.clone(),
        smtp_password_file: config.smtp_password_file.clone(),
        from: config.mail_from.clone(),
        timeout: config.mail_timeout,
        file_dir: config.mail_file_dir.clone(),
    })?);
    tracing::info!(transport = %mailer.describe(), "mail");
    // A claim must outlast one SMTP conversation (a handful of commands, each within the
    // timeout), so that no other instance claims a mail while it is being sent.
    let timeout = i64::try_from(config.mail_timeout.as_secs()).unwrap_or(i64::MAX);
    let default = outbox::RetryPolicy::default();
    let policy = outbox::RetryPolicy {
        deadline: config.mail_delivery_deadline,
        lease: default.lease.max(timeout.saturating_mul(8)),
        ..default
    };
    let doorbell = Arc::new(outbox::Doorbell::default());
    let password_reset = Arc::new(accounts::reset::PasswordReset::new(
        store.clone(),
        accounts.clone(),
        mailer.clone(),
        doorbell.clone(),
        seal.clone(),
        config,
    ));
    // Reset requests first: a pass that issues a link also sends its mail.
    let deliveries = Arc::new(outbox::Deliveries::new(
        store.clone(),
        vec![
            password_reset.clone() as Arc<dyn outbox::Deliverer>,
            mailer as Arc<dyn outbox::Deliverer>,
            // Back-channel logout notices (OpenID Connect Back-Channel Logout 1.0).
            Arc::new(backchannel::BackchannelDeliverer::new(
                store.clone(),
                keys.clone(),
                config.issuer.clone(),
            )) as Arc<dyn outbox::Deliverer>,
        ],
        policy,
        doorbell,
        seal,
    ));
    Ok((deliveries, password_reset))
}

/// Starts the background jobs ([`tasks::standard`]: the purge and the key-ring reload) on
/// the state's store, keys and clock. Whoever starts the server starts these beside it, and
/// stops them when it stops (`serve`, the integration-test server).
pub fn start_tasks(state: &AppState) -> tasks::TaskRunner {
    // The jobs record metrics too: the recorder must exist before their first pass.
    monitoring::handle();
    tasks::standard(state.store.clone(), state.keys.clone())
        .with(tasks::Delivery::new(state.deliveries.clone()))
        .start(state.clock.clone())
}

/// Registers every route and the shared middleware-independent settings.
pub fn routes(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        let max_body = state.config.max_body_bytes;
        // The error mapping renders pages with the templates alone (error.rs needs no state).
        cfg.app_data(web::Data::from(state.templates.clone()))
            .app_data(web::Data::new(state))
            .app_data(web::PayloadConfig::new(max_body))
            .app_data(web::FormConfig::default().limit(max_body))
            .configure(oauth::routes)
            .configure(ui::routes)
            .configure(telemetry::routes)
            .default_service(web::to(not_found));
    }
}

/// A friendly 404 page for every unknown path.
async fn not_found() -> Result<actix_web::HttpResponse, error::PageError> {
    Err(error::PageError::not_found())
}

/// Builds the HTTP server on an already bound listener (tests bind `127.0.0.1:0`): plain HTTP,
/// stopped by actix-web's own signal handling or its handle.
pub fn server(
    state: AppState,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    server_with(state, listener, Listening::default())
}

/// How [`server_with`] listens, beyond the plain HTTP of [`server`].
#[derive(Default)]
pub struct Listening {
    /// Terminate TLS with this configuration (HTTP/2 and HTTP/1.1 by ALPN).
    pub tls: Option<rustls::ServerConfig>,
    /// Stop gracefully when this completes (instead of on actix-web's own signal handling).
    pub stop: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

/// As [`server`], with TLS and a stop signal; requests in flight get `http.shutdown_grace`
/// seconds to finish once the server is stopped.
pub fn server_with(
    state: AppState,
    listener: std::net::TcpListener,
    listening: Listening,
) -> std::io::Result<actix_web::dev::Server> {
    let workers = match state.config.workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let grace = state.config.shutdown_grace_seconds;
    monitoring::handle();
    let mut server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(
                http::head::answer_head_as_get,
            ))
            .wrap(error::framework_errors())
            .wrap(http::headers::security_headers(&state.config))
            .wrap(actix_web::middleware::from_fn(http::request_id::assign))
            .wrap(access_log())
            .wrap(actix_web::middleware::from_fn(monitoring::record_request))
            .configure(routes(state.clone()))
    })
    .workers(workers)
    .shutdown_timeout(grace);
    if let Some(stop) = listening.stop {
        server = server.shutdown_signal(stop);
    }
    let server = match listening.tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    };
    Ok(server.run())
}

/// The access log: actix-web's `Logger`, whose `log` records reach tracing through the bridge
/// `telemetry::init_tracing` installs. One line per request (peer, method, path, status,
/// size, duration, request id), never the query string, which can carry codes and tokens; health checks
/// are left out.
fn access_log() -> actix_web::middleware::Logger {
    actix_web::middleware::Logger::new(r#"%a "%{method}xi %U" %s %b %Dms %{x-request-id}o"#)
        .custom_request_replace("method", |req| req.method().to_string())
        .exclude("/healthz")
}
