//! `sesame serve`: the HTTP server and the background tasks, until Ctrl-C or SIGTERM.

use super::{CliError, runtime};
use crate::clock::SystemClock;
use crate::config::Config;
use std::sync::Arc;

/// Starts the server on the configured address with the task runner beside it; when the
/// server stops, the runner is stopped too.
pub(super) async fn serve(config: Config) -> Result<(), CliError> {
    crate::telemetry::init_tracing(config.log_json, &config.log_level);
    for name in &config.ignored_env {
        tracing::info!(variable = %name, "Kubernetes service-link variable ignored");
    }
    let state = crate::bootstrap(config, Arc::new(SystemClock))
        .await
        .map_err(runtime)?;
    let listen = state.config.listen;
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| CliError::Runtime(format!("cannot listen on {listen}: {e}")))?;
    let bound = listener.local_addr().map_err(runtime)?;
    tracing::info!(issuer = %state.config.issuer, listen = %bound, "Sesame is listening");

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

    let tasks = crate::start_tasks(&state);
    // actix-web stops gracefully on Ctrl-C and SIGTERM.
    let served = match crate::server(state, listener) {
        Ok(server) => server.await,
        Err(error) => Err(error),
    };
    metrics_handle.stop(true).await;
    tasks.stop().await;
    served.map_err(runtime)
}
