//! Keyhole: a privacy gateway for outsourced customer support.
//!
//! # Layout
//!
//! The modules follow a request's journey through the gateway:
//!
//! - [`accept`]: TLS listener, ALPN (h2, http/1.1), connection limits.
//! - [`authenticate`]: agent JWT verification and its cache.
//! - [`ticket`]: tickets, their sources, and whether one justifies a disclosure.
//! - [`route`]: canonical request paths and route matching.
//! - [`policy`]: policy files: routes, field rules, detectors.
//! - [`upstream`]: the pooled client to the customer API and header hygiene.
//! - [`transform`]: applies a policy to a JSON response, record by record.
//! - [`token`]: per-agent reversible tokens.
//! - [`ledger`]: the hash-chained, fsync'd disclosure ledger.
//! - [`proxy`]: the request lifecycle as named phases tying the above together.
//! - [`rescue`]: the one place errors become HTTP responses.
//!
//! Around it:
//!
//! - [`config`]: the TOML config, its defaults and validation.
//! - [`gateway`]: builds the shared state and runs the listeners.
//! - [`admin`]: health, readiness, metrics and the ticket webhook.
//! - [`audit`]: the security team's ledger queries and leak attribution.
//! - [`telemetry`]: structured logs and counters.
//! - [`otel`]: OpenTelemetry traces and metrics over OTLP/HTTP, when configured.
//! - [`demo`]: the embedded demo: keys, data set, sample API.
//! - [`cli`]: the `keyhole` command line.
//! - [`json_text`]: JSON strings written by hand on the hot paths.

pub mod accept;
pub mod admin;
pub mod audit;
pub mod authenticate;
pub mod cli;
pub mod config;
pub mod demo;
pub mod gateway;
pub mod json_text;
pub mod ledger;
pub mod otel;
pub mod policy;
pub mod proxy;
pub mod rescue;
pub mod route;
pub mod telemetry;
pub mod ticket;
pub mod token;
pub mod transform;
pub mod upstream;
