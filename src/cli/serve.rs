//! `sesame serve`: the HTTP(S) server and the background tasks, until SIGTERM or SIGINT.
//!
//! Lifecycle: on SIGTERM or SIGINT the server stops accepting connections, gives the requests in
//! flight `http.shutdown_grace` seconds to finish, stops the background jobs after the pass in
//! progress, and the process exits 0. With `tls.cert`/`tls.key` (or `--dev-tls`) it speaks only
//! HTTPS and re-reads the certificate on SIGHUP.

use super::{CliError, runtime};
use crate::clock::SystemClock;
use crate::config::{Config, TlsPaths};
use crate::http::tls::{self, ReloadingCertificate};
use std::path::Path;
use std::sync::Arc;

/// How `serve` was asked to run, beyond the configuration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::Args)]
pub struct ServeArgs {
    /// Terminate TLS with a self-signed certificate for localhost and 127.0.0.1, made under
    /// the key directory (beside `kek_file`, by default `keys/`) on first use and reused after;
    /// for local work only. The issuer must be https (e.g. `https://localhost:8080`).
    #[arg(long)]
    pub dev_tls: bool,
    /// Allow an http issuer whose host is not loopback (never in production: cookies are not
    /// `Secure`, and codes and tokens cross the network in the clear).
    #[arg(long)]
    pub insecure_dev: bool,
}

/// Refuses an issuer that is not https unless its host is loopback or `insecure_dev` is set;
/// refuses TLS termination under an http issuer (every URL Sesame emits would be wrong).
pub(crate) fn check_transport(issuer: &str, tls: bool, insecure_dev: bool) -> Result<(), CliError> {
    let url = url::Url::parse(issuer).map_err(runtime)?;
    if url.scheme() == "https" {
        return Ok(());
    }
    if tls {
        return Err(CliError::Runtime(format!(
            "the server speaks HTTPS (tls.cert/tls.key or --dev-tls) but the issuer is {issuer}; \
             set an https issuer, e.g. SESAME_ISSUER=https://localhost:{}",
            url.port_or_known_default().unwrap_or(8080)
        )));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if loopback {
        return Ok(());
    }
    if insecure_dev {
        tracing::warn!(
            %issuer,
            "--insecure-dev: serving a non-loopback http issuer; never do this in production"
        );
        return Ok(());
    }
    Err(CliError::Runtime(format!(
        "the issuer {issuer} is not https: set an https issuer (Sesame terminates TLS with \
         tls.cert and tls.key, or sits behind a TLS-terminating proxy); http is allowed only \
         for a loopback host, or with --insecure-dev for local experiments"
    )))
}

/// Where `--dev-tls` keeps its certificate: the directory of the generated KEK (`keys/`).
fn dev_tls_dir(config: &Config) -> &Path {
    match config.kek_file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("keys"),
    }
}

/// Completes when SIGTERM or SIGINT arrives (Ctrl-C on other platforms). The handlers are
/// installed before this returns, so a signal sent right after start-up is not lost.
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!(
                signal = name,
                "stopping: no new connections; finishing requests in flight"
            );
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("stopping: no new connections; finishing requests in flight");
        })
    }
}

/// Starts the server on the configured address with the task runner beside it; when the
/// server stops, the runner is stopped too.
pub(super) async fn serve(mut config: Config, args: ServeArgs) -> Result<(), CliError> {
    tls::install_provider();
    crate::telemetry::init_tracing(config.log_json, &config.log_level);
    for name in &config.ignored_env {
        tracing::info!(variable = %name, "Kubernetes service-link variable ignored");
    }
    if args.dev_tls {
        if config.tls.is_some() {
            return Err(CliError::Usage(
                "--dev-tls makes its own certificate: unset tls.cert and tls.key, or drop \
                 --dev-tls"
                    .into(),
            ));
        }
        let (cert, key) = tls::dev_certificate(dev_tls_dir(&config)).map_err(runtime)?;
        tracing::warn!(cert = %cert.display(), "--dev-tls: self-signed certificate for localhost; for local work only");
        config.tls = Some(TlsPaths { cert, key });
    }
    check_transport(&config.issuer, config.tls.is_some(), args.insecure_dev)?;
    // The certificate is checked before anything else starts: a bad pair stops start-up.
    let certificate = match &config.tls {
        Some(paths) => Some(
            ReloadingCertificate::load(&paths.cert, &paths.key)
                .map_err(|e| CliError::Runtime(format!("tls: {e}")))?,
        ),
        None => None,
    };
    let state = crate::bootstrap(config, Arc::new(SystemClock))
        .await
        .map_err(runtime)?;
    let listen = state.config.listen;
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| CliError::Runtime(format!("cannot listen on {listen}: {e}")))?;
    let bound = listener.local_addr().map_err(runtime)?;

    let metrics_listen = state.config.metrics_listen;
    let metrics_listener = std::net::TcpListener::bind(metrics_listen).map_err(|e| {
        CliError::Runtime(format!(
            "cannot listen on {metrics_listen} (metrics.listen): {e}"
        ))
    })?;
    let metrics_bound = metrics_listener.local_addr().map_err(runtime)?;
    let metrics = crate::monitoring::server(metrics_listener).map_err(runtime)?;
    let metrics_handle = metrics.handle();
    tokio::spawn(metrics);
    crate::monitoring::spawn_upkeep();
    tracing::info!(listen = %metrics_bound, "Prometheus metrics at /metrics");

    let tls_config = match &certificate {
        Some(certificate) => {
            tls::reload_on_sighup(certificate.clone()).map_err(runtime)?;
            Some(certificate.server_config().map_err(runtime)?)
        }
        None => {
            ignore_sighup().map_err(runtime)?;
            None
        }
    };
    let scheme = if tls_config.is_some() {
        "https"
    } else {
        "http"
    };
    let listening = crate::Listening {
        tls: tls_config,
        stop: Some(Box::pin(stop_signal().map_err(runtime)?)),
    };
    let tasks = crate::start_tasks(&state);
    let issuer = state.config.issuer.clone();
    let served = match crate::server_with(state, listener, listening) {
        Ok(server) => {
            tracing::info!(%issuer, listen = %bound, %scheme, "Sesame is listening");
            server.await
        }
        Err(error) => Err(error),
    };
    metrics_handle.stop(true).await;
    // The pass in progress, if any, finishes; no new one starts.
    tasks.stop().await;
    tracing::info!("stopped");
    served.map_err(runtime)
}

/// Without TLS there is nothing to reload: SIGHUP is logged rather than ending the process
/// (its default action).
fn ignore_sighup() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP: no TLS certificate to reload");
            }
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_issuers_are_refused_unless_loopback_or_insecure_dev() {
        for allowed in [
            "https://id.example.com",
            "http://127.0.0.1:8080",
            "http://127.0.0.2:9",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert!(check_transport(allowed, false, false).is_ok(), "{allowed}");
        }
        for refused in [
            "http://id.example.com",
            "http://10.0.0.7:8080",
            "http://[fd00::1]",
        ] {
            let err = check_transport(refused, false, false)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("not https") && err.contains("--insecure-dev"),
                "{err}"
            );
            assert!(check_transport(refused, false, true).is_ok(), "{refused}");
        }
    }

    #[test]
    fn tls_needs_an_https_issuer() {
        assert!(check_transport("https://localhost:8443", true, false).is_ok());
        let err = check_transport("http://127.0.0.1:8080", true, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("https://localhost:8080"), "{err}");
    }
}
