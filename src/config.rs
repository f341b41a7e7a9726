//! The TOML config: one file that names everything else, with `serde(default)`
//! everywhere and a `validate()` step that names the key and the reason.

use std::path::{Path, PathBuf};

/// A config value that was read but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct Invalid {
    /// Dotted key of the offending value, e.g. `ledger.segment_bytes`.
    pub key: String,
    /// Why it was refused, in words an operator can act on.
    pub reason: String,
}

impl Invalid {
    /// Builds an `Invalid` for `key` with `reason`.
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Resolves `path` against the directory of the config file, leaving absolute paths alone.
pub fn resolve_path(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() || path.as_os_str().is_empty() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

use serde::Deserialize;

use crate::accept::ListenConfig;
use crate::admin::AdminConfig;
use crate::authenticate::AuthConfig;
use crate::ledger::LedgerConfig;
use crate::policy::{PoliciesConfig, PolicySet, PolicySetError};
use crate::telemetry::TelemetryConfig;
use crate::ticket::budget::BudgetConfig;
use crate::ticket::TicketsConfig;
use crate::token::TokensConfig;
use crate::upstream::UpstreamConfig;

/// Everything `keyhole serve` needs, as read from one TOML file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The agent-facing TLS listener.
    pub listen: ListenConfig,
    /// The operator-facing admin listener (health, metrics, webhook).
    pub admin: AdminConfig,
    /// The customer API Keyhole fronts.
    pub upstream: UpstreamConfig,
    /// How agent JWTs are verified (and, in the demo, minted).
    pub auth: AuthConfig,
    /// Sizes and timeouts that bound what a client or upstream can make Keyhole hold.
    pub limits: Limits,
    /// Where the policy files are and what happens to requests no route names.
    pub policies: PoliciesConfig,
    /// Where tickets come from.
    pub tickets: TicketsConfig,
    /// Per-agent disclosure budgets.
    pub budget: BudgetConfig,
    /// Keys for per-agent tokens.
    pub tokens: TokensConfig,
    /// The disclosure ledger.
    pub ledger: LedgerConfig,
    /// Logs and trace export.
    pub telemetry: TelemetryConfig,
    /// Reload on file change (SIGHUP always reloads).
    pub reload: crate::gateway::watch::ReloadConfig,
    /// The config file this was read from (set by [`Config::load`]).
    #[serde(skip)]
    pub path: PathBuf,
}

/// Limits on what a client or the upstream can make Keyhole hold or wait for.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest upstream response body Keyhole will read on a policy route.
    pub max_response_bytes: usize,
    /// Most upstream response body bytes held at once, across all requests,
    /// while they are read, judged and ledgered (a judged body takes several
    /// times its size in memory then). A response that finds no room within
    /// `upstream.queue_timeout_ms` is refused with 503. Restart to change.
    pub max_buffered_response_bytes: usize,
    /// Largest request body an agent may send.
    pub max_request_bytes: usize,
    /// Deepest JSON nesting accepted in either direction.
    pub max_json_depth: usize,
    /// Time allowed for a client to send a request's headers (and, on keep-alive, to start the next one).
    pub header_read_timeout_ms: u64,
    /// Time allowed for a client to send a request body.
    pub body_read_timeout_ms: u64,
    /// Time allowed for a TLS handshake.
    pub handshake_timeout_ms: u64,
    /// Most headers accepted on a request.
    pub max_headers: usize,
    /// Largest total header block accepted (HTTP/2 header list size too).
    pub max_header_bytes: usize,
    /// Most agent connections served at once; further ones wait in the accept queue.
    pub max_connections: usize,
    /// Most concurrent HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// An idle HTTP/2 connection is pinged after this long and closed if it does not answer.
    pub idle_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_response_bytes: 4 * 1024 * 1024,
            max_buffered_response_bytes: 64 * 1024 * 1024,
            max_request_bytes: 256 * 1024,
            max_json_depth: 64,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 15_000,
            handshake_timeout_ms: 10_000,
            max_headers: 64,
            max_header_bytes: 16 * 1024,
            max_connections: 4096,
            max_concurrent_streams: 128,
            idle_timeout_ms: 60_000,
        }
    }
}

/// Most agent connections one gateway may be told to serve at once.
const MAX_CONNECTIONS: usize = 1_000_000;
/// Most headers one request may be allowed.
const MAX_HEADERS: usize = 1_000;
/// Largest header block one request may be allowed (1 MiB).
const MAX_HEADER_BYTES: usize = 1024 * 1024;

impl Limits {
    /// Refuses limits that would disable a protection or break serde_json's own depth guard.
    pub fn validate(&self) -> Result<(), Invalid> {
        let positive = [
            ("limits.max_response_bytes", self.max_response_bytes as u64),
            (
                "limits.max_buffered_response_bytes",
                self.max_buffered_response_bytes as u64,
            ),
            ("limits.max_request_bytes", self.max_request_bytes as u64),
            ("limits.header_read_timeout_ms", self.header_read_timeout_ms),
            ("limits.body_read_timeout_ms", self.body_read_timeout_ms),
            ("limits.handshake_timeout_ms", self.handshake_timeout_ms),
            ("limits.max_headers", self.max_headers as u64),
            ("limits.max_header_bytes", self.max_header_bytes as u64),
            ("limits.max_connections", self.max_connections as u64),
            (
                "limits.max_concurrent_streams",
                self.max_concurrent_streams as u64,
            ),
            ("limits.idle_timeout_ms", self.idle_timeout_ms),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(Invalid::new(key, "must be greater than zero"));
            }
        }
        // Beyond these a value stops being a limit and starts breaking what
        // it configures: the connection semaphore panics past its own maximum,
        // and the HTTP/2 header list size is 32 bits wide.
        let bounded = [
            (
                "limits.max_connections",
                self.max_connections,
                MAX_CONNECTIONS,
            ),
            ("limits.max_headers", self.max_headers, MAX_HEADERS),
            (
                "limits.max_header_bytes",
                self.max_header_bytes,
                MAX_HEADER_BYTES,
            ),
        ];
        for (key, value, max) in bounded {
            if value > max {
                return Err(Invalid::new(key, format!("must be at most {max}")));
            }
        }
        if self.max_buffered_response_bytes < self.max_response_bytes {
            return Err(Invalid::new(
                "limits.max_buffered_response_bytes",
                "must be at least limits.max_response_bytes, or the largest response would never fit",
            ));
        }
        if !(1..=120).contains(&self.max_json_depth) {
            return Err(Invalid::new(
                "limits.max_json_depth",
                "must be between 1 and 120",
            ));
        }
        Ok(())
    }
}

/// Why a config could not be used: always names the file, and the line and key where known.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Unreadable {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown or mistyped key.
    #[error("{file}:{line}: {reason}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// What the parser said.
        reason: String,
    },
    /// A value parsed but is not acceptable.
    #[error("{file}: {invalid}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Which key and why.
        invalid: Invalid,
    },
    /// A policy file is invalid.
    #[error(transparent)]
    Policy(#[from] PolicySetError),
}

/// Where each line of a text starts, for the line numbers of many offsets.
pub struct LineIndex {
    /// The byte offset just past every `\n`.
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text`'s lines.
    pub fn new(text: &str) -> Self {
        let starts = text
            .bytes()
            .enumerate()
            .filter(|(_, b)| *b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        LineIndex { starts }
    }

    /// The 1-based line holding byte `offset` (as [`line_of`] counts it).
    pub fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|start| *start <= offset) + 1
    }
}

/// 1-based line number of a byte offset in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

impl Config {
    /// Reads, resolves and validates a config file (not the policies: see [`Config::load_policies`]).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
            file: path.to_path_buf(),
            source,
        })?;
        let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError::Syntax {
            file: path.to_path_buf(),
            line: e.span().map(|s| line_of(&text, s.start)).unwrap_or(1),
            reason: e.message().to_string(),
        })?;
        config.path = path.to_path_buf();
        let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        config.resolve_paths(&base);
        config.validate().map_err(|invalid| ConfigError::Invalid {
            file: path.to_path_buf(),
            invalid,
        })?;
        Ok(config)
    }

    /// Loads every policy file the config names.
    pub fn load_policies(&self) -> Result<PolicySet, ConfigError> {
        Ok(PolicySet::load(&self.policies)?)
    }

    fn resolve_paths(&mut self, base: &Path) {
        self.listen.resolve_paths(base);
        self.upstream.resolve_paths(base);
        self.auth.resolve_paths(base);
        self.policies.resolve_paths(base);
        self.tickets.resolve_paths(base);
        self.tokens.resolve_paths(base);
        self.ledger.resolve_paths(base);
        self.telemetry.otlp.resolve_paths(base);
    }

    /// Settings the running process read once at start and a reload cannot
    /// change (listeners, ticket source, budgets, ledger, logging, watching),
    /// named where `next` differs from `self`, so an operator learns that a
    /// restart is needed instead of believing the change applied.
    pub fn restart_only_changes(&self, next: &Config) -> Vec<&'static str> {
        // `allow_pending` is read per request, so it does apply on reload.
        let mut next_tickets = next.tickets.clone();
        next_tickets.allow_pending = self.tickets.allow_pending;
        [
            ("listen.address", self.listen.address != next.listen.address),
            ("admin.address", self.admin.address != next.admin.address),
            (
                "limits.max_connections",
                self.limits.max_connections != next.limits.max_connections,
            ),
            (
                "limits.max_buffered_response_bytes",
                self.limits.max_buffered_response_bytes != next.limits.max_buffered_response_bytes,
            ),
            ("tickets", self.tickets != next_tickets),
            ("budget", self.budget != next.budget),
            ("ledger", self.ledger != next.ledger),
            ("telemetry", self.telemetry != next.telemetry),
            ("reload", self.reload != next.reload),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }

    /// Checks every section; the first problem wins.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.listen.validate()?;
        self.admin.validate()?;
        self.upstream.validate()?;
        self.auth.validate()?;
        self.limits.validate()?;
        self.tickets.validate()?;
        self.tokens.validate()?;
        self.ledger.validate()?;
        self.telemetry.validate()?;
        self.listeners_differ()?;
        Ok(())
    }

    /// The agent listener and the admin listener cannot share a port: `serve`
    /// would fail to bind the second, which `policy check` should say first.
    fn listeners_differ(&self) -> Result<(), Invalid> {
        let parse = |a: &str| a.parse::<std::net::SocketAddr>().ok();
        let (Some(agents), Some(admin)) = (parse(&self.listen.address), parse(&self.admin.address))
        else {
            return Ok(());
        };
        let same_ip = agents.ip() == admin.ip()
            || agents.ip().is_unspecified()
            || admin.ip().is_unspecified();
        if agents.port() != 0 && agents.port() == admin.port() && same_ip {
            return Err(Invalid::new(
                "admin.address",
                format!("{admin} would take the port of listen.address {agents}"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_index_counts_lines_as_line_of_does() {
        for text in ["", "a", "\n", "a\nb", "a\n\nb\n", "[x]\ny = 1\r\nz = 2\n"] {
            let index = LineIndex::new(text);
            for offset in 0..=text.len() + 2 {
                assert_eq!(
                    index.line_of(offset),
                    line_of(text, offset),
                    "{text:?} at {offset}"
                );
            }
        }
    }

    #[test]
    fn default_limits_are_valid() {
        assert!(Limits::default().validate().is_ok());
    }

    #[test]
    fn limits_that_disable_a_protection_are_refused() {
        let zero_budget = Limits {
            max_buffered_response_bytes: 0,
            ..Limits::default()
        };
        let err = zero_budget.validate().unwrap_err();
        assert_eq!(err.key, "limits.max_buffered_response_bytes");
        let zero_depth = Limits {
            max_json_depth: 0,
            ..Limits::default()
        };
        assert_eq!(
            zero_depth.validate().unwrap_err().key,
            "limits.max_json_depth"
        );
    }

    #[test]
    fn limits_too_large_to_mean_anything_are_refused() {
        type Spoil = fn(&mut Limits);
        let cases: [(&str, Spoil); 3] = [
            ("limits.max_connections", |l| l.max_connections = usize::MAX),
            ("limits.max_headers", |l| l.max_headers = 1 << 40),
            ("limits.max_header_bytes", |l| l.max_header_bytes = 1 << 32),
        ];
        for (key, spoil) in cases {
            let mut limits = Limits::default();
            spoil(&mut limits);
            let err = limits.validate().unwrap_err();
            assert_eq!(err.key, key);
            assert!(err.reason.contains("at most"), "{}", err.reason);
        }
        let largest = Limits {
            max_connections: MAX_CONNECTIONS,
            max_headers: MAX_HEADERS,
            max_header_bytes: MAX_HEADER_BYTES,
            ..Limits::default()
        };
        assert!(largest.validate().is_ok());
    }

    #[test]
    fn a_budget_smaller_than_the_largest_response_is_refused() {
        let limits = Limits {
            max_response_bytes: 8 * 1024 * 1024,
            max_buffered_response_bytes: 4 * 1024 * 1024,
            ..Limits::default()
        };
        let err = limits.validate().unwrap_err();
        assert_eq!(err.key, "limits.max_buffered_response_bytes");
        assert!(err.reason.contains("never fit"), "{}", err.reason);
        let equal = Limits {
            max_buffered_response_bytes: 8 * 1024 * 1024,
            ..limits
        };
        assert!(equal.validate().is_ok());
    }
}
