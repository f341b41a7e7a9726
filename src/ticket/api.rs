//! Tickets pulled from the ticketing system's HTTP API: `GET <url>/<id>` → a JSON ticket.
//!
//! `200` with a ticket whose `id` matches is found, `404`/`410` is not found, and
//! everything else (refused connection, timeout, other status, oversized or invalid
//! body) is unavailable, which callers treat as "not justified". Found tickets are
//! cached for `cache_ttl_ms`, not-found answers for `negative_ttl_ms`; failures are
//! not cached, so recovery is immediate. Concurrent lookups of the same id share one
//! request.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use super::config::HttpSourceConfig;
use super::{Lookup, Ticket};

/// Largest ticket body accepted; a ticket is a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

/// Ids travel as one path segment: everything but letters, digits, `-` and `_` is
/// encoded, so an id can never climb out of the base path.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_');

/// Why the API client could not be built at startup.
#[derive(Debug, thiserror::Error)]
pub enum ApiSetupError {
    /// The bearer token file is unreadable.
    #[error("tickets.http.token_file {path}: {source}")]
    TokenFile {
        /// The token file (never its content).
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The token file's content cannot be sent in a header.
    #[error("tickets.http.token_file {path}: empty or not a valid header value")]
    TokenInvalid {
        /// The token file (never its content).
        path: PathBuf,
    },
    /// The CA bundle is unreadable or holds no certificate.
    #[error("tickets.http.ca_file {path}: {reason}")]
    CaFile {
        /// The CA bundle.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the client configuration.
    #[error("ticket API TLS setup: {0}")]
    Tls(#[from] rustls::Error),
}

/// Why one fetch failed; the ticket is then unavailable.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("request failed: {0}")]
    Request(String),
    #[error("unexpected status {0}")]
    Status(StatusCode),
    #[error("body unreadable or over {MAX_BODY} bytes")]
    Body,
    // Only the position: the body may carry fields we must not echo into logs.
    #[error("body is not a ticket ({0:?} error at line {1}, column {2})")]
    Parse(serde_json::error::Category, usize, usize),
    #[error("answered with a different ticket id")]
    IdMismatch,
}

#[derive(Debug, Clone)]
enum Cached {
    Found(Arc<Ticket>),
    NotFound,
}

/// Found and not-found answers live for different times.
struct CacheExpiry {
    found: Duration,
    not_found: Duration,
}

impl moka::Expiry<String, Cached> for CacheExpiry {
    fn expire_after_create(&self, _: &String, value: &Cached, _: Instant) -> Option<Duration> {
        Some(match value {
            Cached::Found(_) => self.found,
            Cached::NotFound => self.not_found,
        })
    }
}

type HttpClient = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;

/// The ticketing system's API behind a short-lived cache.
pub struct ApiSource {
    base: String,
    client: HttpClient,
    timeout: Duration,
    token: Option<HeaderValue>,
    cache: moka::future::Cache<String, Cached>,
}

impl ApiSource {
    /// Builds the client and cache; reads the token and CA files.
    pub fn new(cfg: &HttpSourceConfig) -> Result<ApiSource, ApiSetupError> {
        let token = cfg.token_file.as_deref().map(read_token).transpose()?;
        let tls = tls_config(cfg.ca_file.as_deref())?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let cache = moka::future::Cache::builder()
            .max_capacity(cfg.max_entries)
            .expire_after(CacheExpiry {
                found: Duration::from_millis(cfg.cache_ttl_ms),
                not_found: Duration::from_millis(cfg.negative_ttl_ms),
            })
            .build();
        Ok(ApiSource {
            base: cfg.url.trim_end_matches('/').to_owned(),
            client,
            timeout: Duration::from_millis(cfg.timeout_ms),
            token,
            cache,
        })
    }

    /// The ticket from the cache, or from the API when the cached copy has expired.
    pub async fn lookup(&self, id: &str) -> Lookup {
        if id.is_empty() {
            return Lookup::NotFound;
        }
        let fetched = self
            .cache
            .try_get_with_by_ref(id, self.fetch_logged(id))
            .await;
        match fetched {
            Ok(Cached::Found(ticket)) => Lookup::Found(ticket),
            Ok(Cached::NotFound) => Lookup::NotFound,
            Err(_) => Lookup::Unavailable,
        }
    }

    /// Drops the cached copy of `id`, in the background (the webhook path is sync).
    pub fn forget(&self, id: &str) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let cache = self.cache.clone();
            let id = id.to_owned();
            runtime.spawn(async move { cache.invalidate(&id).await });
        }
    }

    async fn fetch_logged(&self, id: &str) -> Result<Cached, FetchError> {
        let fetched = self.fetch(id).await;
        if let Err(error) = &fetched {
            // Not the id: it may be anything an agent typed.
            tracing::warn!(%error, "ticket API unavailable; treating ticket as unjustified");
        }
        fetched
    }

    async fn fetch(&self, id: &str) -> Result<Cached, FetchError> {
        let uri = format!("{}/{}", self.base, utf8_percent_encode(id, SEGMENT));
        let mut request = Request::get(uri).header(ACCEPT, "application/json");
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, token.clone());
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| FetchError::Request(e.to_string()))?;
        let body = tokio::time::timeout(self.timeout, self.send(request))
            .await
            .map_err(|_| FetchError::Timeout(self.timeout))??;
        let Some(body) = body else {
            return Ok(Cached::NotFound);
        };
        let ticket: Ticket = serde_json::from_slice(&body)
            .map_err(|e| FetchError::Parse(e.classify(), e.line(), e.column()))?;
        if ticket.id != id {
            return Err(FetchError::IdMismatch);
        }
        Ok(Cached::Found(Arc::new(ticket)))
    }

    /// The body of a `200`, `None` for a definite "no such ticket".
    async fn send(&self, request: Request<Empty<Bytes>>) -> Result<Option<Bytes>, FetchError> {
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| FetchError::Request(e.to_string()))?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND | StatusCode::GONE => return Ok(None),
            other => return Err(FetchError::Status(other)),
        }
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|_| FetchError::Body)?;
        Ok(Some(body.to_bytes()))
    }
}

fn read_token(path: &Path) -> Result<HeaderValue, ApiSetupError> {
    let text = std::fs::read_to_string(path).map_err(|source| ApiSetupError::TokenFile {
        path: path.to_path_buf(),
        source,
    })?;
    let invalid = || ApiSetupError::TokenInvalid {
        path: path.to_path_buf(),
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(invalid());
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| invalid())?;
    value.set_sensitive(true);
    Ok(value)
}

fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, ApiSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?;
    let builder = match ca_file {
        Some(path) => builder.with_root_certificates(read_roots(path)?),
        None => hyper_rustls::ConfigBuilderExt::with_webpki_roots(builder),
    };
    Ok(builder.with_no_client_auth())
}

fn read_roots(path: &Path) -> Result<rustls::RootCertStore, ApiSetupError> {
    let ca_error = |reason: String| ApiSetupError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path).map_err(|e| ca_error(e.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|e| ca_error(e.to_string()))?;
        roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ca_error("no certificate found".into()));
    }
    Ok(roots)
}
