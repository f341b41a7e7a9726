//! Builds the shared state from a config and runs the listeners.
//!
//! Config-derived state lives in one [`Runtime`] that is swapped whole on
//! reload, so a request sees either the old set or the new one, never a mix.

pub mod watch;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

use crate::accept::{self, ConnectionHandler};
use crate::authenticate::Authenticator;
use crate::config::{Config, ConfigError, Limits};
use crate::ledger::Ledger;
use crate::policy::PolicySet;
use crate::proxy::{self, Peer};
use crate::telemetry::Metrics;
use crate::ticket::budget::Budgets;
use crate::ticket::Tickets;
use crate::token::TokenVault;
use crate::upstream::{ResponseBudget, Upstream};

/// Everything derived from the config files; replaced whole on reload.
pub struct Runtime {
    /// The config it was built from.
    pub config: Config,
    /// Compiled policies.
    pub policies: PolicySet,
    /// JWT verification.
    pub auth: Authenticator,
    /// Token keys.
    pub vault: TokenVault,
    /// The upstream client (its pool kept across reloads that leave it unchanged).
    pub upstream: Upstream,
    /// The agent-facing TLS configuration.
    pub tls: Arc<rustls::ServerConfig>,
}

/// Why the gateway could not start (or reload).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The config or a policy is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A key could not be loaded.
    #[error("auth: {0}")]
    Auth(#[from] crate::authenticate::AuthSetupError),
    /// A token key could not be loaded.
    #[error("tokens: {0}")]
    Tokens(#[from] crate::token::TokenKeyError),
    /// TLS material could not be loaded.
    #[error("tls: {0}")]
    Tls(#[from] crate::accept::tls::TlsSetupError),
    /// The upstream client could not be built.
    #[error("upstream: {0}")]
    Upstream(#[from] crate::upstream::UpstreamSetupError),
    /// The ticket source could not be opened.
    #[error("tickets: {0}")]
    Tickets(#[from] crate::ticket::TicketSourceError),
    /// The ledger could not be opened.
    #[error("ledger: {0}")]
    Ledger(#[from] crate::ledger::LedgerError),
    /// A policy tokenizes but no token key is configured.
    #[error("{0}: the policy tokenizes values but [tokens] configures no key")]
    TokensRequired(String),
    /// A listener could not bind.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Runtime {
    /// Builds the runtime from a validated config, loading every file it names.
    pub fn build(config: Config) -> Result<Runtime, StartError> {
        Self::build_keeping(config, None)
    }

    /// Builds the runtime for a reload: `previous`'s upstream pool is kept
    /// unless a setting its connections depend on changed (see
    /// [`Upstream::rebuild`]).
    pub fn rebuild(config: Config, previous: &Runtime) -> Result<Runtime, StartError> {
        Self::build_keeping(config, Some(&previous.upstream))
    }

    fn build_keeping(config: Config, previous: Option<&Upstream>) -> Result<Runtime, StartError> {
        let policies = config.load_policies()?;
        let auth = Authenticator::from_config(&config.auth)?;
        let vault = TokenVault::load(&config.tokens)?;
        if let (false, Some(route)) = (vault.can_tokenize(), policies.first_tokenizing_route()) {
            return Err(StartError::TokensRequired(route.to_string()));
        }
        let upstream = match previous {
            Some(previous) => Upstream::rebuild(&config.upstream, previous)?,
            None => Upstream::new(&config.upstream)?,
        };
        let listen = &config.listen;
        let tls =
            accept::tls::server_config(&listen.cert, &listen.key, listen.client_ca.as_deref())?;
        Ok(Runtime {
            config,
            policies,
            auth,
            vault,
            upstream,
            tls,
        })
    }
}

/// What a reload applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Changed settings that stay as they were until a restart (see
    /// [`Config::restart_only_changes`]).
    pub needs_restart: Vec<&'static str>,
}

/// The gateway's shared state.
pub struct Gateway {
    /// Policies, keys, TLS and upstream: swapped whole on reload.
    runtime: RwLock<Arc<Runtime>>,
    /// The config as the process started with it: listeners, ticket source,
    /// budgets and ledger were built from it and a reload does not rebuild them.
    started: Config,
    /// Ticket lookups and the webhook.
    pub tickets: Tickets,
    /// The disclosure ledger.
    pub ledger: Ledger,
    /// Disclosure budgets.
    pub budgets: Budgets,
    /// Upstream response bytes held at once, across all requests.
    pub responses: ResponseBudget,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Random per process, so request ids from two runs never collide.
    request_prefix: u32,
    /// The next request's number.
    request_counter: AtomicU64,
}

impl Gateway {
    /// The current runtime (cheap: an `Arc` clone under a read lock).
    pub fn runtime(&self) -> Arc<Runtime> {
        match self.runtime.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the runtime; requests in flight keep the one they started with.
    pub fn replace_runtime(&self, runtime: Runtime) {
        let new = Arc::new(runtime);
        match self.runtime.write() {
            Ok(mut r) => *r = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }

    /// Re-reads the config file and everything it names; on any error the old runtime stays.
    pub fn reload(&self) -> Result<Reloaded, StartError> {
        let path = self.runtime().config.path.clone();
        let config = Config::load(&path)?;
        // Against the config the process started with, so every reload keeps
        // saying so until the restart happens.
        let needs_restart = self.started.restart_only_changes(&config);
        let runtime = Runtime::rebuild(config, &self.runtime())?;
        self.replace_runtime(runtime);
        if needs_restart.is_empty() {
            tracing::info!(config = %path.display(), "configuration reloaded");
        } else {
            tracing::warn!(
                config = %path.display(),
                needs_restart = needs_restart.join(",").as_str(),
                "configuration reloaded, but changes to these settings take effect only after a restart"
            );
        }
        Ok(Reloaded { needs_restart })
    }

    /// A fresh request id: a per-process random prefix and a counter, unique and cheap.
    pub fn next_request_id(&self) -> String {
        let n = self.request_counter.fetch_add(1, Ordering::Relaxed);
        let mut id = String::with_capacity(21);
        push_hex(&mut id, u64::from(self.request_prefix), 8);
        id.push('-');
        push_hex(&mut id, n, 12);
        id
    }
}

/// Appends `value` in hex zero-padded to at least `digits` digits (at most
/// 16, all a u64 has): what `{:0digits$x}` writes, without the formatter every
/// request would pay for.
fn push_hex(out: &mut String, value: u64, digits: u32) {
    let needed = (u64::BITS - value.leading_zeros()).div_ceil(4);
    for shift in (0..digits.clamp(1, 16).max(needed)).rev() {
        let nibble = (value >> (shift * 4)) & 0xf;
        out.push(char::from(b"0123456789abcdef"[nibble as usize]));
    }
}

struct Handler(Arc<Gateway>);

impl ConnectionHandler for Handler {
    fn tls(&self) -> Arc<rustls::ServerConfig> {
        self.0.runtime().tls.clone()
    }

    fn limits(&self) -> Limits {
        self.0.runtime().config.limits.clone()
    }

    async fn call(
        self: Arc<Self>,
        req: http::Request<Incoming>,
        peer: Arc<Peer>,
    ) -> http::Response<Full<Bytes>> {
        proxy::handle(&self.0, req, &peer).await
    }
}

/// A started gateway.
pub struct Running {
    /// The agent-facing address actually bound.
    pub addr: SocketAddr,
    /// The admin address actually bound.
    pub admin_addr: SocketAddr,
    /// The shared state (for tests and signal handlers).
    pub gateway: Arc<Gateway>,
    shutdown: signal::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, drains connections, and closes the ledger with a checkpoint.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.gateway.ledger.shutdown().await;
        self.gateway.tickets.shutdown();
    }
}

async fn bind(address: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| StartError::Bind {
            address: address.to_string(),
            source,
        })
}

/// Loads everything and starts both listeners.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let ledger = Ledger::open(&config.ledger).await?;
    start_with_ledger(config, ledger).await
}

/// Starts with a ledger opened by the caller (fault-injection tests open one with faults).
pub async fn start_with_ledger(config: Config, ledger: Ledger) -> Result<Running, StartError> {
    let tickets = Tickets::open(&config.tickets).await?;
    let budgets = Budgets::new(&config.budget);
    let responses = ResponseBudget::new(config.limits.max_buffered_response_bytes);
    let listen_addr = config.listen.address.clone();
    let admin_addr = config.admin.address.clone();
    let max_connections = config.limits.max_connections;
    let started = config.clone();
    let runtime = Runtime::build(config)?;
    let gateway = Arc::new(Gateway {
        runtime: RwLock::new(Arc::new(runtime)),
        started,
        tickets,
        ledger,
        budgets,
        responses,
        metrics: Metrics::default(),
        request_prefix: rand::random(),
        request_counter: AtomicU64::new(1),
    });
    let listener = bind(&listen_addr).await?;
    let admin_listener = bind(&admin_addr).await?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        address: listen_addr,
        source,
    })?;
    let admin_bound = admin_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            address: admin_addr,
            source,
        })?;
    if gateway.runtime().config.reload.watch {
        let interval =
            std::time::Duration::from_millis(gateway.runtime().config.reload.interval_ms.max(100));
        self::watch::spawn(&gateway, interval);
    }
    let (shutdown, rx) = signal::channel(false);
    let handler = Arc::new(Handler(gateway.clone()));
    let tasks = vec![
        tokio::spawn(accept::serve(
            listener,
            handler,
            max_connections,
            rx.clone(),
        )),
        tokio::spawn(crate::admin::serve(admin_listener, gateway.clone(), rx)),
    ];
    tracing::info!(%addr, admin = %admin_bound, "keyhole listening");
    // Out of the ledger directory, where an auditor can compare it with the
    // key `audit verify` used: a directory writer could name another in the manifest.
    tracing::info!(key_id = gateway.ledger.key_id(), dir = %gateway.ledger.dir().display(), "ledger key");
    Ok(Running {
        addr,
        admin_addr: admin_bound,
        gateway,
        shutdown,
        tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::push_hex;

    #[test]
    fn hex_is_what_the_formatter_writes() {
        for value in [0, 1, 0xabc, u64::from(u32::MAX), 1 << 48, u64::MAX] {
            for digits in [1, 8, 12, 16] {
                let mut out = String::new();
                push_hex(&mut out, value, digits);
                assert_eq!(out, format!("{value:0width$x}", width = digits as usize));
            }
        }
    }
}
