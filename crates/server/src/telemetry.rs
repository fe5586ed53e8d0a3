//! Structured logs: `LOG_FORMAT=text|json`, filtered by `RUST_LOG` (default `info`). Spans
//! (one per request, one per use case and job, with the order id) appear in every line. Built
//! with `--features otel` and given `OTEL_EXPORTER_OTLP_ENDPOINT`, the same spans are also
//! exported over OTLP/HTTP.

use crate::config::LogFormat;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub fn init(format: LogFormat, debug: bool) {
    let default = if debug { "debug" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = match format {
        LogFormat::Json => lines.json().flatten_event(true).boxed(),
        LogFormat::Text => lines.boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(lines)
        .with(otel::layer())
        .try_init();
}

/// For tests: logs only when `TEST_LOG` is set.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        init(LogFormat::Text, true);
    }
}

#[cfg(feature = "otel")]
mod otel {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig;
    use tracing_subscriber::Layer;

    /// The OTLP exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` names a collector (e.g.
    /// `http://127.0.0.1:4318/v1/traces`); nothing otherwise. A collector that cannot be set up
    /// is reported once and the server runs on without it.
    pub fn layer<S>() -> Option<Box<dyn Layer<S> + Send + Sync>>
    where
        S: tracing::Subscriber
            + for<'span> tracing_subscriber::registry::LookupSpan<'span>
            + Send
            + Sync,
    {
        let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok()?;
        let exporter = match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint.clone())
            .with_timeout(std::time::Duration::from_secs(5))
            .build()
        {
            Ok(exporter) => exporter,
            Err(error) => {
                eprintln!(
                    "OTEL_EXPORTER_OTLP_ENDPOINT: {endpoint}: {error}; traces are not exported"
                );
                return None;
            }
        };
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name("coffee-pay")
            .build();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let tracer = provider.tracer("coffee-pay");
        Some(tracing_opentelemetry::layer().with_tracer(tracer).boxed())
    }
}

#[cfg(not(feature = "otel"))]
mod otel {
    /// Built without the `otel` feature: no exporter.
    pub fn layer<S: tracing::Subscriber>(
    ) -> Option<Box<dyn tracing_subscriber::Layer<S> + Send + Sync>> {
        None
    }
}
