//! OpenTelemetry export over OTLP/HTTP (protobuf): one span per request and a
//! few request metrics, only when `[telemetry.otlp] endpoint` is set.
//!
//! Spans and metrics carry what the logs carry — agent, vendor, route
//! template, ticket decision, action counts, denial and error codes — and
//! never a field value. Without an endpoint nothing is started and
//! [`record_request`] is a read of an empty slot.
//!
//! The SDK exports from its own threads; the [`client::RuntimeClient`] sends
//! each export as a task on the gateway's Tokio runtime.

pub mod client;
mod config;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{
    MetricExporter, Protocol, SpanExporter, WithExportConfig, WithHttpConfig,
};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tokio::runtime::Handle;

use crate::telemetry::RequestLog;
pub use client::RuntimeClient;
pub use config::OtelConfig;

/// Why export could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    /// `init` was called outside a Tokio runtime, which the exports run on.
    #[error("OTLP export needs a Tokio runtime: call init from within the gateway's runtime")]
    NoRuntime,
    /// The CA bundle for an https endpoint is unusable.
    #[error("telemetry.otlp.ca: {0}")]
    Tls(String),
    /// The exporter rejected its configuration.
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    /// Flushing or shutting down failed (the collector's problem, never data).
    #[error("OTLP export: {0}")]
    Export(String),
}

/// What `record_request` writes to, while export is on.
struct Exporting {
    tracer: SdkTracer,
    requests: Counter<u64>,
    disclosed: Counter<u64>,
    denials: Counter<u64>,
    duration: Histogram<f64>,
}

/// The live exporters; empty when export is off, so a request pays one uncontended read.
static ACTIVE: RwLock<Option<Arc<Exporting>>> = RwLock::new(None);

/// Keeps export running; [`OtelGuard::shutdown`] flushes what is buffered.
/// Dropping it stops recording and shuts the exporters down on a thread of its own.
pub struct OtelGuard {
    /// Taken by `shutdown`, so `Drop` knows there is nothing left to stop.
    providers: Option<Providers>,
}

struct Providers {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
}

impl Providers {
    /// Blocks until the final export is done (or times out).
    fn shutdown(self) {
        let _ = self.tracer.shutdown();
        let _ = self.meter.shutdown();
    }
}

/// Starts export when `cfg.endpoint` is set (`Ok(None)` otherwise). Must be called
/// within the Tokio runtime that will carry the exports.
pub fn init(cfg: &OtelConfig) -> Result<Option<OtelGuard>, OtelError> {
    let Some(endpoint) = cfg.endpoint.as_deref() else {
        return Ok(None);
    };
    let handle = Handle::try_current().map_err(|_| OtelError::NoRuntime)?;
    let (spans, metrics) = exporters(cfg, endpoint, handle)?;
    let resource = Resource::builder()
        .with_service_name(cfg.service_name.clone())
        .build();
    let tracer_provider = SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .with_resource(resource.clone())
        .build();
    let reader = PeriodicReader::builder(metrics)
        .with_interval(Duration::from_millis(cfg.metrics_interval_ms))
        .build();
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource)
        .build();
    activate(&tracer_provider, &meter_provider);
    Ok(Some(OtelGuard {
        providers: Some(Providers {
            tracer: tracer_provider,
            meter: meter_provider,
        }),
    }))
}

/// The span and metric exporters for `<endpoint>/v1/traces` and `<endpoint>/v1/metrics`.
fn exporters(
    cfg: &OtelConfig,
    endpoint: &str,
    handle: Handle,
) -> Result<(SpanExporter, MetricExporter), OtelError> {
    let tls = crate::accept::tls::client_config(cfg.ca.as_deref()).map_err(OtelError::Tls)?;
    let timeout = Duration::from_millis(cfg.timeout_ms);
    let client = RuntimeClient::new(tls, handle, timeout);
    let base = endpoint.trim_end_matches('/');
    let headers: HashMap<String, String> = cfg.headers.clone().into_iter().collect();
    let exporter_error =
        |e: opentelemetry_otlp::ExporterBuildError| OtelError::Exporter(e.to_string());
    let spans = SpanExporter::builder()
        .with_http()
        .with_http_client(client.clone())
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{base}/v1/traces"))
        .with_timeout(timeout)
        .with_headers(headers.clone())
        .build()
        .map_err(exporter_error)?;
    let metrics = MetricExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(format!("{base}/v1/metrics"))
        .with_timeout(timeout)
        .with_headers(headers)
        .build()
        .map_err(exporter_error)?;
    Ok((spans, metrics))
}

fn activate(tracer_provider: &SdkTracerProvider, meter_provider: &SdkMeterProvider) {
    let meter = meter_provider.meter("keyhole");
    let exporting = Exporting {
        tracer: tracer_provider.tracer("keyhole"),
        requests: meter
            .u64_counter("keyhole.requests")
            .with_description("Requests served, by status and route")
            .build(),
        disclosed: meter
            .u64_counter("keyhole.disclosed_values")
            .with_description("Values revealed in the clear under a ticket")
            .build(),
        denials: meter
            .u64_counter("keyhole.denials")
            .with_description("Requests whose ticket justified nothing, by reason")
            .build(),
        duration: meter
            .f64_histogram("keyhole.request.duration")
            .with_unit("s")
            .with_description("Time from request to response")
            .build(),
    };
    set_active(Some(Arc::new(exporting)));
}

fn set_active(value: Option<Arc<Exporting>>) {
    match ACTIVE.write() {
        Ok(mut slot) => *slot = value,
        Err(poisoned) => *poisoned.into_inner() = value,
    }
}

impl OtelGuard {
    /// Exports everything recorded so far. Blocks: call it off the runtime's
    /// worker threads (e.g. in `spawn_blocking`), since the export runs on them.
    pub fn flush(&self) -> Result<(), OtelError> {
        let Some(p) = &self.providers else {
            return Ok(());
        };
        let export = |e: opentelemetry_sdk::error::OTelSdkError| OtelError::Export(e.to_string());
        p.tracer.force_flush().map_err(export)?;
        p.meter.force_flush().map_err(export)
    }

    /// Stops recording, exports what is buffered and stops the exporters.
    pub async fn shutdown(mut self) {
        set_active(None);
        if let Some(providers) = self.providers.take() {
            let _ = tokio::task::spawn_blocking(move || providers.shutdown()).await;
        }
    }
}

impl Drop for OtelGuard {
    fn drop(&mut self) {
        set_active(None);
        if let Some(providers) = self.providers.take() {
            // The final export runs on the runtime: never block the dropping thread on it.
            let _ = std::thread::Builder::new()
                .name("otel-shutdown".into())
                .spawn(move || providers.shutdown());
        }
    }
}

/// The span and metrics of one finished request; a no-op while export is off.
pub fn record_request(log: &RequestLog, status: u16, elapsed: Duration) {
    let active = match ACTIVE.read() {
        Ok(slot) => slot.clone(),
        Err(_) => None,
    };
    if let Some(exporting) = active {
        exporting.record(log, status, elapsed);
    }
}

/// `none` (no ticket sent), `denied`, `granted` (something disclosed) or `unused`.
pub fn ticket_decision(log: &RequestLog) -> &'static str {
    match (&log.ticket, &log.denial) {
        (None, _) => "none",
        (Some(_), Some(_)) => "denied",
        (Some(_), None) if log.disclosure.is_some() || log.counts.disclosed > 0 => "granted",
        (Some(_), None) => "unused",
    }
}

impl Exporting {
    fn record(&self, log: &RequestLog, status: u16, elapsed: Duration) {
        let end = SystemTime::now();
        let route = log.route.as_deref().unwrap_or("-");
        let name = match &log.route {
            Some(route) => format!("{} {route}", log.method),
            None => log.method.clone(),
        };
        let mut span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_start_time(end.checked_sub(elapsed).unwrap_or(end))
            .with_attributes(span_attributes(log, status))
            .start(&self.tracer);
        if status >= 500 || log.error.is_some() {
            span.set_status(Status::error(log.error.unwrap_or("server-error")));
        }
        span.end_with_timestamp(end);
        let labels = [
            KeyValue::new("http.route", route.to_string()),
            KeyValue::new("http.response.status_code", i64::from(status)),
        ];
        self.requests.add(1, &labels);
        self.duration.record(elapsed.as_secs_f64(), &labels);
        if log.counts.disclosed > 0 {
            self.disclosed
                .add(u64::from(log.counts.disclosed), &labels[..1]);
        }
        if let Some(reason) = &log.denial {
            self.denials
                .add(1, &[KeyValue::new("keyhole.denial", reason.clone())]);
        }
    }
}

/// Names, ids, codes and counts only: the attributes a span may carry. The
/// ticket id is left out: it is whatever the agent put in `X-Ticket-Id`, and
/// the decision is what operators need (the ledger keeps the id).
fn span_attributes(log: &RequestLog, status: u16) -> Vec<KeyValue> {
    let c = &log.counts;
    let mut attributes = vec![
        KeyValue::new("http.request.method", log.method.clone()),
        KeyValue::new("http.response.status_code", i64::from(status)),
        KeyValue::new("keyhole.request_id", log.request_id.clone()),
        KeyValue::new("keyhole.ticket.decision", ticket_decision(log)),
        KeyValue::new("keyhole.values.disclosed", i64::from(c.disclosed)),
        KeyValue::new("keyhole.values.passed", i64::from(c.passed)),
        KeyValue::new("keyhole.values.masked", i64::from(c.masked)),
        KeyValue::new("keyhole.values.redacted", i64::from(c.redacted)),
        KeyValue::new("keyhole.values.tokenized", i64::from(c.tokenized)),
        KeyValue::new("keyhole.values.generalized", i64::from(c.generalized)),
        KeyValue::new("keyhole.results.hidden", i64::from(c.hidden)),
        KeyValue::new("keyhole.values.dropped", i64::from(c.dropped)),
    ];
    let optional = [
        ("http.route", log.route.clone()),
        ("keyhole.agent", log.agent.clone()),
        ("keyhole.vendor", log.vendor.clone()),
        ("keyhole.denial", log.denial.clone()),
        ("error.type", log.error.map(str::to_string)),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            attributes.push(KeyValue::new(key, value));
        }
    }
    if let Some(seq) = log.disclosure {
        attributes.push(KeyValue::new("keyhole.ledger.seq", seq as i64));
    }
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_endpoint_nothing_starts_and_recording_is_a_no_op() {
        let guard = init(&OtelConfig::default());
        assert!(matches!(guard, Ok(None)));
        record_request(
            &RequestLog::new("r1".into(), "GET"),
            200,
            Duration::from_millis(1),
        );
    }

    #[test]
    fn ticket_decisions() {
        let mut log = RequestLog::new("r".into(), "GET");
        assert_eq!(ticket_decision(&log), "none");
        log.ticket = Some("T-1".into());
        assert_eq!(ticket_decision(&log), "unused");
        log.counts.disclosed = 2;
        assert_eq!(ticket_decision(&log), "granted");
        log.denial = Some("closed".into());
        assert_eq!(ticket_decision(&log), "denied");
    }
}
