//! Logging, health and readiness.

use crate::state::AppState;
use actix_web::{HttpResponse, web};

/// Installs the global tracing subscriber (JSON or pretty; `RUST_LOG` overrides `level`).
pub fn init_tracing(json: bool, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// `/healthz` (process up) and `/readyz` (store answers).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// Ready when the store answers a round trip (on SQLite, takes and releases the write lock),
/// within the store's own timeouts; 503 otherwise, so a load balancer stops sending requests
/// while the database is away, and sends them again, with nothing restarted, once it is back.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(e) if crate::error::is_outage(&e) => {
            tracing::warn!(error = %e, "not ready: database unavailable");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .insert_header(("Retry-After", crate::error::OUTAGE_RETRY_AFTER.to_string()))
                .body("not ready: database unavailable")
        }
        Err(e) => {
            let incident = crate::error::log_incident(&e);
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body(format!("store unavailable (incident {incident})"))
        }
    }
}
