//! The customer API Keyhole fronts: a bounded connection pool, and the header
//! hygiene that decides what of an agent's request the upstream may see.
//!
//! Request headers are forwarded by allowlist, never by denylist: the agent's
//! JWT, cookies and any header Keyhole itself sets or trusts never pass as given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::Full;
use serde::Deserialize;

use crate::config::Invalid;

mod budget;
mod connect;
mod pool;

pub use budget::{Reservation, ResponseBudget};

pub use connect::UpstreamHostInvalid;

/// `[upstream]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL of the customer API, `http://` or `https://`.
    pub url: String,
    /// CA bundle (PEM) to trust for an `https` upstream instead of the public roots.
    pub ca: Option<PathBuf>,
    /// Time allowed to connect.
    pub connect_timeout_ms: u64,
    /// Time allowed for the whole response (headers and body).
    pub response_timeout_ms: u64,
    /// Idle pooled connections are closed after this long.
    pub pool_idle_timeout_ms: u64,
    /// Most connections open to the upstream at once; requests beyond wait for one.
    pub max_connections: usize,
    /// Longest wait for a free connection before 503 `upstream-busy`.
    pub queue_timeout_ms: u64,
    /// Keyhole's own service credentials and other fixed headers sent upstream.
    pub headers: BTreeMap<String, String>,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            url: String::new(),
            ca: None,
            connect_timeout_ms: 2_000,
            response_timeout_ms: 10_000,
            pool_idle_timeout_ms: 60_000,
            max_connections: 256,
            queue_timeout_ms: 2_000,
            headers: BTreeMap::new(),
        }
    }
}

impl UpstreamConfig {
    /// Makes `ca` relative to the config file.
    pub fn resolve_paths(&mut self, base: &Path) {
        if let Some(ca) = &mut self.ca {
            *ca = crate::config::resolve_path(base, ca);
        }
    }

    /// Checks the URL and headers.
    pub fn validate(&self) -> Result<(), Invalid> {
        let uri: Uri = self
            .url
            .parse()
            .map_err(|_| Invalid::new("upstream.url", "is not a valid URL"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(Invalid::new("upstream.url", "must be http:// or https://")),
        }
        let Some(authority) = uri.authority() else {
            return Err(Invalid::new("upstream.url", "has no host"));
        };
        if authority.as_str().contains('@') {
            // It would go out as the Host header; credentials belong in [upstream.headers].
            return Err(Invalid::new(
                "upstream.url",
                "must not carry user info; put credentials in [upstream.headers]",
            ));
        }
        if uri.query().is_some() {
            return Err(Invalid::new("upstream.url", "must not have a query"));
        }
        for (name, value) in &self.headers {
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Invalid::new(format!("upstream.headers.{name}"), "invalid header name")
            })?;
            HeaderValue::from_str(value).map_err(|_| {
                Invalid::new(format!("upstream.headers.{name}"), "invalid header value")
            })?;
        }
        if self.connect_timeout_ms == 0
            || self.response_timeout_ms == 0
            || self.queue_timeout_ms == 0
        {
            return Err(Invalid::new("upstream", "timeouts must be positive"));
        }
        if !(1..=MAX_CONNECTIONS_LIMIT).contains(&self.max_connections) {
            return Err(Invalid::new(
                "upstream.max_connections",
                format!("must be between 1 and {MAX_CONNECTIONS_LIMIT}"),
            ));
        }
        Ok(())
    }
}

/// Far more connections than one customer API should get from one gateway;
/// also keeps the semaphore well inside its own limit.
const MAX_CONNECTIONS_LIMIT: usize = 65_536;

/// Why the upstream gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No response in time.
    #[error("upstream timed out")]
    Timeout,
    /// Could not connect or the exchange failed.
    #[error("upstream unreachable")]
    Unreachable,
    /// The response body was cut short.
    #[error("upstream body was truncated")]
    Truncated,
    /// Every upstream connection stayed busy until the deadline; the request was not sent.
    #[error("all upstream connections busy")]
    Busy,
    /// The response could not be held: responses in flight fill
    /// `limits.max_buffered_response_bytes`.
    #[error("too many response bytes in flight")]
    OverBudget,
}

/// An upstream answer read whole.
#[derive(Debug)]
pub struct Fetched {
    /// Status and headers.
    pub parts: http::response::Parts,
    /// The body; `None` when it was over the size limit (and left unread).
    pub body: Option<Bytes>,
    /// The body's share of the response budget, returned when dropped: keep
    /// it while the body, or what is made of it, is in memory.
    pub held: Option<Reservation>,
}

/// Agent request headers the upstream may see; everything else is dropped.
const FORWARDED: [HeaderName; 4] = [
    http::header::ACCEPT,
    http::header::ACCEPT_LANGUAGE,
    http::header::CONTENT_TYPE,
    http::header::USER_AGENT,
];

/// The facts Keyhole vouches for about a request, sent upstream in its own headers.
pub struct Forwarding<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// The agent's address.
    pub client_ip: &'a str,
    /// The agent id.
    pub agent: &'a str,
    /// The agent's vendor.
    pub vendor: &'a str,
}

/// The connection pool and what every upstream request carries.
pub struct Upstream {
    /// Connections to the upstream; shared with the runtime a reload replaced
    /// when [`PoolKey`] is unchanged.
    pool: Arc<pool::Pool>,
    /// What the pool was built from.
    pool_key: PoolKey,
    /// The URL's path prefix, without a trailing `/`, put before every target.
    prefix: String,
    /// The `Host` header.
    authority: HeaderValue,
    /// Configured headers sent on every request.
    fixed: HeaderMap,
    /// Time allowed for a whole exchange, waiting for a connection included.
    response_timeout: Duration,
    /// Longest wait for a free connection.
    queue_timeout: Duration,
}

/// The settings a pool's connections depend on, with the CA bundle's bytes
/// as read when it was built. Headers and the response and queue timeouts
/// are not among them: a reload changes those without dropping connections.
#[derive(Debug, PartialEq, Eq)]
struct PoolKey {
    /// `upstream.url`.
    url: String,
    /// The CA bundle's contents, if one is configured and readable.
    ca: Option<Vec<u8>>,
    /// `upstream.connect_timeout_ms`.
    connect_timeout_ms: u64,
    /// `upstream.pool_idle_timeout_ms`.
    pool_idle_timeout_ms: u64,
    /// `upstream.max_connections`.
    max_connections: usize,
}

impl PoolKey {
    /// The key for `cfg`, whose CA bundle (if any) holds `ca`.
    fn of(cfg: &UpstreamConfig, ca: Option<Vec<u8>>) -> PoolKey {
        PoolKey {
            url: cfg.url.clone(),
            ca,
            connect_timeout_ms: cfg.connect_timeout_ms,
            pool_idle_timeout_ms: cfg.pool_idle_timeout_ms,
            max_connections: cfg.max_connections,
        }
    }
}

/// The configured CA bundle's bytes, read once: the pool is built from the
/// same bytes its key compares on the next reload.
fn read_ca(cfg: &UpstreamConfig) -> Result<Option<Vec<u8>>, UpstreamSetupError> {
    cfg.ca
        .as_ref()
        .map(|path| std::fs::read(path).map_err(|e| ca_error(cfg, e.to_string())))
        .transpose()
}

fn ca_error(cfg: &UpstreamConfig, reason: String) -> UpstreamSetupError {
    UpstreamSetupError::Ca {
        path: cfg.ca.clone().unwrap_or_default(),
        reason,
    }
}

/// Why the upstream client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamSetupError {
    /// The CA bundle could not be read or parsed.
    #[error("{}: {reason}", path.display())]
    Ca {
        /// The bundle.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The URL names no host a connection can be made to.
    #[error(transparent)]
    Host(#[from] UpstreamHostInvalid),
}

impl Upstream {
    /// Builds the client from a validated config.
    pub fn new(cfg: &UpstreamConfig) -> Result<Upstream, UpstreamSetupError> {
        let pool_key = PoolKey::of(cfg, read_ca(cfg)?);
        Self::with_new_pool(cfg, pool_key)
    }

    /// A client with a pool of its own, built from the bundle bytes in `pool_key`.
    fn with_new_pool(
        cfg: &UpstreamConfig,
        pool_key: PoolKey,
    ) -> Result<Upstream, UpstreamSetupError> {
        let pool = Arc::new(Self::build_pool(cfg, pool_key.ca.as_deref())?);
        Ok(Self::around(cfg, pool, pool_key))
    }

    /// Builds the client for a reload: `previous`'s pool and its warm
    /// connections are kept when nothing they depend on changed, so a policy
    /// or header edit drops no connection and two pools never share the cap.
    pub fn rebuild(
        cfg: &UpstreamConfig,
        previous: &Upstream,
    ) -> Result<Upstream, UpstreamSetupError> {
        let pool_key = PoolKey::of(cfg, read_ca(cfg)?);
        if pool_key != previous.pool_key {
            return Self::with_new_pool(cfg, pool_key);
        }
        Ok(Self::around(cfg, previous.pool.clone(), pool_key))
    }

    /// Whether both use the same connection pool.
    pub fn shares_pool_with(&self, other: &Upstream) -> bool {
        Arc::ptr_eq(&self.pool, &other.pool)
    }

    fn build_pool(
        cfg: &UpstreamConfig,
        ca_pem: Option<&[u8]>,
    ) -> Result<pool::Pool, UpstreamSetupError> {
        let tls = crate::accept::tls::client_config_from_pem(ca_pem)
            .map_err(|reason| ca_error(cfg, reason))?;
        let uri: Uri = cfg.url.parse().map_err(|_| UpstreamHostInvalid)?;
        let connector =
            connect::Connector::new(&uri, tls, Duration::from_millis(cfg.connect_timeout_ms))?;
        let pool = pool::Pool::new(
            connector,
            cfg.max_connections,
            Duration::from_millis(cfg.pool_idle_timeout_ms),
            // A kept connection still writing its request gets as long as a connect.
            Duration::from_millis(cfg.connect_timeout_ms),
        );
        Ok(pool)
    }

    fn around(cfg: &UpstreamConfig, pool: Arc<pool::Pool>, pool_key: PoolKey) -> Upstream {
        let uri: Uri = cfg.url.parse().unwrap_or_default();
        let authority = uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            .unwrap_or(HeaderValue::from_static("localhost"));
        let mut fixed = HeaderMap::new();
        for (k, v) in &cfg.headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(v),
            ) {
                fixed.insert(k, v);
            }
        }
        Upstream {
            pool,
            pool_key,
            prefix: uri.path().trim_end_matches('/').to_string(),
            authority,
            fixed,
            response_timeout: Duration::from_millis(cfg.response_timeout_ms),
            queue_timeout: Duration::from_millis(cfg.queue_timeout_ms),
        }
    }

    /// Builds the upstream request from the canonical path and the allowlisted headers.
    pub fn request(
        &self,
        method: Method,
        path_and_query: &str,
        agent_headers: &HeaderMap,
        facts: &Forwarding<'_>,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, UpstreamError> {
        let uri: Uri = format!("{}{}", self.prefix, path_and_query)
            .parse()
            .map_err(|_| UpstreamError::Unreachable)?;
        let mut req = Request::builder().method(method).uri(uri);
        let headers = req.headers_mut().ok_or(UpstreamError::Unreachable)?;
        // Room for every header below at once, instead of growing the map as they go in.
        headers.reserve(FORWARDED.len() + 7 + self.fixed.len());
        for name in &FORWARDED {
            if let Some(v) = agent_headers.get(name) {
                headers.insert(name.clone(), v.clone());
            }
        }
        headers.insert(http::header::HOST, self.authority.clone());
        headers.insert(
            http::header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
        let vouched = [
            ("x-request-id", facts.request_id),
            ("x-forwarded-for", facts.client_ip),
            ("x-keyhole-agent", facts.agent),
            ("x-keyhole-vendor", facts.vendor),
        ];
        for (name, value) in vouched {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        }
        headers.insert(
            HeaderName::from_static("x-forwarded-proto"),
            HeaderValue::from_static("https"),
        );
        for (k, v) in &self.fixed {
            headers.insert(k.clone(), v.clone());
        }
        req.body(Full::new(body))
            .map_err(|_| UpstreamError::Unreachable)
    }

    /// Sends a request and reads the whole response: at most `limit` bytes,
    /// held under `budget` until the returned [`Fetched`] is dropped. A body
    /// over the limit is reported as `None`, so the caller fails closed
    /// without holding it.
    pub async fn send(
        &self,
        req: Request<Full<Bytes>>,
        limit: usize,
        budget: &ResponseBudget,
    ) -> Result<Fetched, UpstreamError> {
        let now = tokio::time::Instant::now();
        let deadline = now + self.response_timeout;
        let queue_until = deadline.min(now + self.queue_timeout);
        let exchange = async {
            let (resp, lease) = self.pool.send(req, queue_until).await?;
            let (parts, body) = resp.into_parts();
            let declared = hyper::body::Body::size_hint(&body).exact();
            // Waiting for room in the budget is queueing too, counted from now.
            let room_until = deadline.min(tokio::time::Instant::now() + self.queue_timeout);
            match budget::read_body(body, declared, limit, budget, room_until).await {
                Ok((body, reservation)) => {
                    lease.keep().await;
                    Ok(Fetched {
                        parts,
                        body: Some(body),
                        held: Some(reservation),
                    })
                }
                // The rest of the body is never read, so the lease closes the connection.
                Err(budget::Unread::TooLarge) => Ok(Fetched {
                    parts,
                    body: None,
                    held: None,
                }),
                Err(budget::Unread::Failed(e)) => Err(e),
            }
        };
        tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| UpstreamError::Timeout)?
    }

    /// A cheap reachability probe for `/readyz`: can a TCP/TLS connection
    /// and a request complete? It dials a connection of its own, so a pool
    /// saturated by traffic neither delays it nor makes it fail.
    pub async fn probe(&self) -> bool {
        let req = Request::get(format!("{}/", self.prefix))
            .header(http::header::HOST, self.authority.clone())
            .header(http::header::CONNECTION, "close")
            .body(Full::new(Bytes::new()));
        let Ok(req) = req else {
            return false;
        };
        matches!(
            tokio::time::timeout(Duration::from_secs(2), self.pool.probe(req)).await,
            Ok(Ok(()))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Spoil = fn(&mut UpstreamConfig);

    fn valid() -> UpstreamConfig {
        UpstreamConfig {
            url: "https://api.example:8443/v2/".into(),
            ..UpstreamConfig::default()
        }
    }

    #[test]
    fn validate_names_the_key_it_rejects() {
        let cases: [(&str, Spoil); 9] = [
            ("upstream.url", |c| c.url = "ftp://api.example".into()),
            ("upstream.url", |c| {
                c.url = "https://u:secret@api.example".into()
            }),
            ("upstream.url", |c| c.url = "http:///nohost".into()),
            ("upstream.url", |c| c.url = "http://api.example/?q=1".into()),
            ("upstream.headers.bad name", |c| {
                c.headers.insert("bad name".into(), "v".into());
            }),
            ("upstream", |c| c.connect_timeout_ms = 0),
            ("upstream", |c| c.queue_timeout_ms = 0),
            ("upstream.max_connections", |c| c.max_connections = 0),
            ("upstream.max_connections", |c| c.max_connections = 1 << 20),
        ];
        assert!(valid().validate().is_ok());
        for (key, spoil) in cases {
            let mut cfg = valid();
            spoil(&mut cfg);
            let err = cfg.validate().expect_err(key);
            assert!(format!("{err}").contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn requests_keep_the_url_path_prefix_and_name_the_host() {
        let upstream = Upstream::new(&valid()).expect("builds");
        let facts = Forwarding {
            request_id: "r-1",
            client_ip: "127.0.0.1",
            agent: "alice",
            vendor: "northwind",
        };
        let req = upstream
            .request(
                Method::GET,
                "/customers/C-1?x=1",
                &HeaderMap::new(),
                &facts,
                Bytes::new(),
            )
            .expect("request");
        assert_eq!(req.uri(), "/v2/customers/C-1?x=1");
        assert_eq!(req.headers()[http::header::HOST], "api.example:8443");
    }

    #[test]
    fn a_reload_keeps_the_pool_until_the_ca_bundle_changes() {
        let dir = tempfile::tempdir().expect("dir");
        let bundle = dir.path().join("ca.pem");
        let write_ca = |name: &str| {
            let ca = crate::demo::pki::DevCa::new(name).expect("ca");
            std::fs::write(&bundle, ca.cert_pem).expect("write");
        };
        write_ca("first");
        let cfg = UpstreamConfig {
            ca: Some(bundle.clone()),
            ..valid()
        };
        let first = Upstream::new(&cfg).expect("builds");
        let same = Upstream::rebuild(&cfg, &first).expect("rebuilds");
        assert!(same.shares_pool_with(&first), "same bundle, same pool");
        write_ca("second");
        let changed = Upstream::rebuild(&cfg, &same).expect("rebuilds");
        assert!(!changed.shares_pool_with(&same), "a new CA gets a new pool");
        std::fs::write(&bundle, "not a certificate").expect("write");
        let Err(err) = Upstream::rebuild(&cfg, &changed) else {
            panic!("a bundle without a certificate was taken");
        };
        assert!(matches!(err, UpstreamSetupError::Ca { .. }), "{err}");
        std::fs::remove_file(&bundle).expect("remove");
        let Err(err) = Upstream::rebuild(&cfg, &changed) else {
            panic!("an unreadable bundle was taken");
        };
        assert!(err.to_string().contains("ca.pem"), "{err}");
    }
}
