//! The customer API Keyhole fronts: a pooled hyper client, and the header
//! hygiene that decides what of an agent's request the upstream may see.
//!
//! Request headers are forwarded by allowlist, never by denylist: the agent's
//! JWT, cookies and any header Keyhole itself sets or trusts never pass as given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::config::Invalid;

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
        if uri.authority().is_none() {
            return Err(Invalid::new("upstream.url", "has no host"));
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
        if self.connect_timeout_ms == 0 || self.response_timeout_ms == 0 {
            return Err(Invalid::new("upstream", "timeouts must be positive"));
        }
        Ok(())
    }
}

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

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The pooled client and the upstream's base.
pub struct Upstream {
    client: HttpsClient,
    base: String,
    authority: HeaderValue,
    fixed: HeaderMap,
    response_timeout: Duration,
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
}

impl Upstream {
    /// Builds the client from a validated config.
    pub fn new(cfg: &UpstreamConfig) -> Result<Upstream, UpstreamSetupError> {
        let tls = crate::accept::tls::client_config(cfg.ca.as_deref()).map_err(|reason| {
            UpstreamSetupError::Ca {
                path: cfg.ca.clone().unwrap_or_default(),
                reason,
            }
        })?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_millis(cfg.connect_timeout_ms)));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_millis(cfg.pool_idle_timeout_ms))
            .pool_max_idle_per_host(256)
            .build(connector);
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
        Ok(Upstream {
            client,
            base: cfg.url.trim_end_matches('/').to_string(),
            authority,
            fixed,
            response_timeout: Duration::from_millis(cfg.response_timeout_ms),
        })
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
        let uri: Uri = format!("{}{}", self.base, path_and_query)
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

    /// Sends a request and reads the whole response (at most `limit` bytes; beyond that the
    /// body is reported as `Ok(None)` so the caller fails closed without holding it).
    pub async fn send(
        &self,
        req: Request<Full<Bytes>>,
        limit: usize,
    ) -> Result<(http::response::Parts, Option<Bytes>), UpstreamError> {
        let exchange = async {
            let resp: Response<hyper::body::Incoming> = self
                .client
                .request(req)
                .await
                .map_err(|_| UpstreamError::Unreachable)?;
            let (parts, body) = resp.into_parts();
            let limited = http_body_util::Limited::new(body, limit);
            match http_body_util::BodyExt::collect(limited).await {
                Ok(collected) => Ok((parts, Some(collected.to_bytes()))),
                Err(e)
                    if e.downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some() =>
                {
                    Ok((parts, None))
                }
                Err(_) => Err(UpstreamError::Truncated),
            }
        };
        tokio::time::timeout(self.response_timeout, exchange)
            .await
            .map_err(|_| UpstreamError::Timeout)?
    }

    /// A cheap reachability probe for `/readyz`: can a TCP/TLS connection and a request complete?
    pub async fn probe(&self) -> bool {
        let Ok(req) = Request::get(format!("{}/", self.base)).body(Full::new(Bytes::new())) else {
            return false;
        };
        let probe = self.client.request(req);
        matches!(
            tokio::time::timeout(Duration::from_secs(2), probe).await,
            Ok(Ok(_))
        )
    }
}
