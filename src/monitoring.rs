//! Prometheus metrics: the one global recorder, the request middleware, and the `/metrics`
//! listener (`metrics.listen`), kept apart from the public endpoints so that metrics are never
//! served with them.
//!
//! Code anywhere records through the `metrics` facade (`metrics::counter!(…)`); names are
//! `sesame_…`, and labels only ever take values from small, fixed sets — the route *pattern*
//! (`/authorize`, never the raw path with its query), the method, the status code, a grant type
//! — so a client cannot grow the number of series.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{App, HttpResponse, HttpServer, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Requests served, by route pattern, method and status.
pub const HTTP_REQUESTS: &str = "sesame_http_requests_total";
/// Request latency in seconds, by route pattern and method.
pub const HTTP_DURATION: &str = "sesame_http_request_duration_seconds";

/// Latency buckets, seconds: fine around the 200 ms target of the original plan.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0,
];

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus recorder, installed as the global `metrics` recorder on first use.
/// If another recorder was installed first (an embedding program's), ours still renders, empty.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only ours");
        }
        describe();
        handle
    })
}

/// Help texts for the metrics every instance has.
fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests served, by route pattern, method and status"
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency, by route pattern and method"
    );
    crate::measure::describe();
}

/// Folds recorded histogram samples into their buckets every few seconds, for as long as the
/// runtime lives (the exporter otherwise does it only when scraped).
pub fn spawn_upkeep() {
    let handle = handle();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    });
}

/// The method as a label: the standard ones by name, anything else as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Middleware: counts every request and records its latency under its route pattern
/// (`unmatched` for a path no route serves).
pub async fn record_request(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(request.method());
    let result = next.call(request).await;
    let (route, status) = match &result {
        Ok(response) => (
            response.request().match_pattern(),
            response.status().as_u16(),
        ),
        Err(error) => (None, error.as_response_error().status_code().as_u16()),
    };
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    let elapsed = started.elapsed().as_secs_f64();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method, "status" => status.to_string())
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method).record(elapsed);
    result
}

/// `GET /metrics` in the Prometheus text exposition format.
async fn metrics_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .body(handle().render())
}

/// The metrics listener: `GET /metrics` and nothing else, one worker.
pub fn server(listener: std::net::TcpListener) -> std::io::Result<actix_web::dev::Server> {
    handle();
    Ok(HttpServer::new(|| {
        App::new()
            .route("/metrics", web::get().to(metrics_page))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }
}
