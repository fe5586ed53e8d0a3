//! Prometheus metrics: the process's one recorder (the domain and the HTTP edge count through
//! the `metrics` facade), the scrape endpoint — never public by accident: a listener of its own
//! (`METRICS_ADDR`) or a bearer token (`METRICS_TOKEN`) — and the gauges read at scrape time.
//! The metric names are listed in docs/operations.md.

mod metered;

pub use metered::{metered_machines, metered_payments};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use coffee_domain::ports::{Clock, JobQueue, OrderRepository};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};

/// Latency buckets (seconds) for every `*_seconds` histogram.
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's recorder, installed on first use. `None` when another recorder was installed
/// first (nothing is exported then).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// What the scrape reads besides the recorder.
pub struct Scrape {
    /// `METRICS_TOKEN`, when the endpoint is on the main listener.
    pub token: Option<String>,
    pub orders: Arc<dyn OrderRepository>,
    pub jobs: Arc<dyn JobQueue>,
    pub clock: Arc<dyn Clock>,
    /// The broker connection, when MQTT machines are served.
    pub mqtt: Option<Arc<coffee_adapter_mqtt::MqttGateway>>,
}

/// `GET /metrics`: Prometheus' text format. With a token, `401` unless
/// `Authorization: Bearer <token>`.
pub async fn scrape(scrape: web::Data<Scrape>, request: HttpRequest) -> HttpResponse {
    if let Some(token) = &scrape.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        // Digests compared, so the time taken says nothing about the token.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(token.as_bytes()) {
            return HttpResponse::Unauthorized()
                .insert_header((header::WWW_AUTHENTICATE, "Bearer"))
                .finish();
        }
    }
    let Some(handle) = handle() else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    read_gauges(&scrape).await;
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}

/// Gauges of state kept in the store: the job queue and the orders flagged for an operator.
async fn read_gauges(scrape: &Scrape) {
    match scrape.jobs.backlog(scrape.clock.now()).await {
        Ok(backlog) => {
            for (kind, state, count) in backlog.counts {
                metrics::gauge!("coffee_jobs", "kind" => kind.as_str(), "state" => state.as_str())
                    .set(count as f64);
            }
            let overdue = backlog
                .oldest_overdue
                .map_or(0.0, |age| age.num_milliseconds() as f64 / 1000.0);
            metrics::gauge!("coffee_oldest_overdue_job_seconds").set(overdue);
        }
        Err(error) => tracing::warn!(%error, "metrics: job backlog unavailable"),
    }
    if let Some(mqtt) = &scrape.mqtt {
        metrics::gauge!("coffee_mqtt_connected").set(if mqtt.is_connected() { 1.0 } else { 0.0 });
    }
    match scrape.orders.count_needing_attention().await {
        Ok(flagged) => metrics::gauge!("coffee_orders_needing_operator").set(flagged as f64),
        Err(error) => tracing::warn!(%error, "metrics: flagged orders unavailable"),
    }
}

/// Counts a finished HTTP request under its route template (never the raw path: order ids
/// would make every request a series of its own).
pub fn count_request(route: &str, method: &str, status: u16, seconds: f64) {
    let status = status.to_string();
    metrics::counter!("coffee_http_requests_total", "route" => route.to_owned(), "method" => method.to_owned(), "status" => status)
        .increment(1);
    metrics::histogram!("coffee_http_request_duration_seconds", "route" => route.to_owned())
        .record(seconds);
}
