//! Structured logs and the counters behind `/metrics`.
//!
//! Logs and metrics carry field names, route templates, agent ids and codes,
//! never field values.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;

use crate::transform::ActionCounts;

mod log_buffer;
mod request_line;

pub use log_buffer::flush as flush_logs;

/// `[telemetry]` in the config.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `json` (default) or `text` log lines on stderr.
    pub log_format: String,
    /// Log filter, `tracing_subscriber::EnvFilter` syntax; `KEYHOLE_LOG` overrides it.
    pub log_level: String,
    /// OTLP export; off unless `endpoint` is set.
    pub otlp: crate::otel::OtelConfig,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_format: "json".into(),
            log_level: "info".into(),
            otlp: crate::otel::OtelConfig::default(),
        }
    }
}

impl TelemetryConfig {
    /// Refuses a log format other than `json` or `text`, and a log filter
    /// that does not parse: either would otherwise be replaced silently.
    pub fn validate(&self) -> Result<(), crate::config::Invalid> {
        use crate::config::Invalid;
        if !matches!(self.log_format.as_str(), "json" | "text") {
            return Err(Invalid::new(
                "telemetry.log_format",
                format!("must be \"json\" or \"text\", not {:?}", self.log_format),
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| Invalid::new("telemetry.log_level", e.to_string()))?;
        self.otlp.validate()
    }
}

/// Installs the global log subscriber (once; later calls are ignored).
pub fn init_logging(cfg: &TelemetryConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYHOLE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(log_buffer::LogBuffer::global())
        // Colour codes only for a person watching a terminal, not in log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let (result, format) = if cfg.log_format == "text" {
        (builder.try_init(), request_line::LineFormat::Text)
    } else {
        let json = builder.json().flatten_event(true);
        (json.try_init(), request_line::LineFormat::Json)
    };
    if result.is_ok() {
        request_line::set_format(format);
    }
}

/// What the logging phase knows about one request.
#[derive(Debug, Default)]
pub struct RequestLog {
    /// The request id (also sent upstream and to the agent).
    pub request_id: String,
    /// The method.
    pub method: String,
    /// The matched route template.
    pub route: Option<String>,
    /// The agent, once authenticated.
    pub agent: Option<String>,
    /// The agent's vendor.
    pub vendor: Option<String>,
    /// The `X-Ticket-Id` sent.
    pub ticket: Option<String>,
    /// Per-decision counts from the transform.
    pub counts: ActionCounts,
    /// Clear disclosures per field class (names only).
    pub disclosed_classes: BTreeMap<std::sync::Arc<str>, u32>,
    /// The ledger sequence number of the disclosure, if any.
    pub disclosure: Option<u64>,
    /// The denial recorded, if any.
    pub denial: Option<String>,
    /// The error code, if the request failed.
    pub error: Option<&'static str>,
}

impl RequestLog {
    /// A log for a new request.
    pub fn new(request_id: String, method: &str) -> Self {
        RequestLog {
            request_id,
            method: method.to_string(),
            ..Default::default()
        }
    }
}

/// The request's log line, at `info` under this module's target, when the
/// log filter lets it through.
fn write_request_line(log: &RequestLog, status: StatusCode, elapsed: Duration) {
    let Some(format) = request_line::format() else {
        return;
    };
    if !tracing::enabled!(target: request_line::TARGET, tracing::Level::INFO) {
        return;
    }
    let mut line = String::with_capacity(384);
    let time = request_line::now();
    let micros = elapsed.as_micros() as u64;
    request_line::render(format, &time, log, status.as_u16(), micros, &mut line);
    log_buffer::LogBuffer::global().append(line.as_bytes());
}

/// The counters under their lock, with a buffer to spell names into: a
/// counter's name is allocated only the first time it is seen, since every
/// request bumps a few.
struct Counters<'a> {
    /// The locked counters.
    map: &'a mut BTreeMap<String, u64>,
    /// The name being looked up.
    name: String,
}

impl<'a> Counters<'a> {
    fn new(map: &'a mut BTreeMap<String, u64>) -> Self {
        Counters {
            map,
            name: String::with_capacity(64),
        }
    }

    /// Adds `n` to the counter whose name (`name{labels}`) is `parts` joined:
    /// every request bumps a few, so they are spelled without the formatter.
    fn bump(&mut self, parts: &[&str], n: u64) {
        self.name.clear();
        parts.iter().for_each(|part| self.name.push_str(part));
        match self.map.get_mut(self.name.as_str()) {
            Some(v) => *v += n,
            None => {
                self.map.insert(self.name.clone(), n);
            }
        }
    }
}

/// Latency histogram bucket bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Process-wide counters, rendered in Prometheus text format.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<String, u64>>,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    /// Adds `n` to a counter (`name{labels}`).
    pub fn add(&self, name: std::fmt::Arguments<'_>, n: u64) {
        let name = name.to_string();
        if let Ok(mut c) = self.counters.lock() {
            Counters::new(&mut c).bump(&[&name], n);
        }
    }

    /// The logging phase: one log line and the counters, for every request.
    pub fn logging(&self, log: &RequestLog, status: StatusCode, elapsed: Duration) {
        write_request_line(log, status, elapsed);
        // One lock per request for all of its counters.
        if let Ok(mut c) = self.counters.lock() {
            let mut c = Counters::new(&mut c);
            let mut code = itoa::Buffer::new();
            let code = code.format(status.as_u16());
            c.bump(&["keyhole_requests_total{status=\"", code, "\"}"], 1);
            if log.counts.disclosed > 0 {
                let n = u64::from(log.counts.disclosed);
                c.bump(&["keyhole_disclosed_values_total"], n);
            }
            if log.disclosure.is_some() {
                c.bump(&["keyhole_disclosures_total"], 1);
            }
            for (class, n) in &log.disclosed_classes {
                let name = ["keyhole_disclosures_by_class_total{class=\"", class, "\"}"];
                c.bump(&name, u64::from(*n));
            }
            if let Some(d) = &log.denial {
                c.bump(&["keyhole_denials_total{reason=\"", d, "\"}"], 1);
            }
        }
        self.observe(elapsed);
        crate::otel::record_request(log, status.as_u16(), elapsed);
    }

    fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(c) = self.counters.lock() {
            for (k, v) in c.iter() {
                let _ = writeln!(out, "{k} {v}");
            }
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(out, "# TYPE keyhole_request_duration_seconds histogram");
        for (i, bound) in BUCKETS.iter().enumerate() {
            let n = self.latency_buckets[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "keyhole_request_duration_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "keyhole_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "keyhole_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "keyhole_request_duration_seconds_count {count}");
        out
    }
}
