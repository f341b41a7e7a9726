//! `[telemetry.otlp]`: the collector to export to, and the values refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{resolve_path, Invalid};

/// `[telemetry.otlp]`: where traces and metrics go. Unset endpoint: nothing is exported.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OtelConfig {
    /// OTLP/HTTP base URL of the collector, e.g. `http://127.0.0.1:4318`;
    /// traces go to `<endpoint>/v1/traces`, metrics to `<endpoint>/v1/metrics`.
    pub endpoint: Option<String>,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// PEM bundle of CAs for an `https` endpoint instead of the public roots.
    pub ca: Option<PathBuf>,
    /// Headers sent with every export, e.g. a collector's API key (never logged).
    pub headers: BTreeMap<String, String>,
    /// Deadline for one export request.
    pub timeout_ms: u64,
    /// How often metrics are exported.
    pub metrics_interval_ms: u64,
}

impl Default for OtelConfig {
    fn default() -> Self {
        OtelConfig {
            endpoint: None,
            service_name: "keyhole".into(),
            ca: None,
            headers: BTreeMap::new(),
            timeout_ms: 10_000,
            metrics_interval_ms: 60_000,
        }
    }
}

impl OtelConfig {
    /// Makes `ca` relative to the config file.
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(ca) = &mut self.ca {
            *ca = resolve_path(base, ca);
        }
    }

    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), Invalid> {
        const KEY: &str = "telemetry.otlp";
        if let Some(endpoint) = &self.endpoint {
            let uri: http::Uri = endpoint
                .parse()
                .map_err(|_| Invalid::new(format!("{KEY}.endpoint"), "is not a valid URL"))?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
                return Err(Invalid::new(
                    format!("{KEY}.endpoint"),
                    "must be an http:// or https:// URL with a host",
                ));
            }
        }
        if self.service_name.trim().is_empty() {
            return Err(Invalid::new(
                format!("{KEY}.service_name"),
                "must not be empty",
            ));
        }
        for (name, value) in &self.headers {
            let valid = http::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && http::HeaderValue::from_str(value).is_ok();
            if !valid {
                return Err(Invalid::new(
                    format!("{KEY}.headers.{name}"),
                    "invalid header",
                ));
            }
        }
        if self.timeout_ms == 0 || self.metrics_interval_ms < 100 {
            return Err(Invalid::new(
                KEY,
                "timeout_ms must be positive and metrics_interval_ms at least 100",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_validation_names_the_key() {
        let mut cfg = OtelConfig {
            endpoint: Some("ftp://collector".into()),
            ..OtelConfig::default()
        };
        assert_eq!(cfg.validate().unwrap_err().key, "telemetry.otlp.endpoint");
        cfg.endpoint = Some("http://127.0.0.1:4318".into());
        assert!(cfg.validate().is_ok());
        cfg.headers.insert("bad header".into(), "x".into());
        assert_eq!(
            cfg.validate().unwrap_err().key,
            "telemetry.otlp.headers.bad header"
        );
    }
}
