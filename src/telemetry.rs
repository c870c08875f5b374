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

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.store.ping().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(e) => {
            let incident = crate::error::log_incident(&e);
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body(format!("store unavailable (incident {incident})"))
        }
    }
}
