//! The agent-facing listener: TCP accept under a connection limit, the TLS
//! handshake under a timeout, then HTTP/1.1 or HTTP/2 by ALPN.

pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use crate::config::{Invalid, Limits};

/// `[listen]` in the config.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenConfig {
    /// Address agents connect to.
    pub address: String,
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server private key (PEM, PKCS#8 or SEC1 or PKCS#1).
    pub key: PathBuf,
    /// CA that signs vendor sites' client certificates; when set, a client certificate is required.
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: the certificate's subject (O, else CN) must equal the token's `vendor`.
    pub require_vendor_match: bool,
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            address: "127.0.0.1:8443".into(),
            cert: PathBuf::from("certs/server.pem"),
            key: PathBuf::from("certs/server.key"),
            client_ca: None,
            require_vendor_match: false,
        }
    }
}

impl ListenConfig {
    /// Makes file paths relative to the config file.
    pub fn resolve_paths(&mut self, base: &Path) {
        use crate::config::resolve_path;
        self.cert = resolve_path(base, &self.cert);
        self.key = resolve_path(base, &self.key);
        if let Some(ca) = &mut self.client_ca {
            *ca = resolve_path(base, ca);
        }
    }

    /// Checks the address.
    pub fn validate(&self) -> Result<(), Invalid> {
        self.address
            .parse::<SocketAddr>()
            .map_err(|_| Invalid::new("listen.address", "must be IP:PORT"))?;
        Ok(())
    }
}

/// Builds the HTTP server side with the configured limits.
pub fn http_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .max_headers(limits.max_headers)
        .max_buf_size(limits.max_header_bytes.max(8192))
        // Over TLS every slice of a vectored write becomes its own record, so
        // headers and body are copied into one buffer and sealed together.
        .writev(false)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(32)
        .max_local_error_reset_streams(64)
        .keep_alive_interval(Duration::from_millis(limits.idle_timeout_ms))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// What the accept loop needs from the gateway for each connection.
pub trait ConnectionHandler: Send + Sync + 'static {
    /// The TLS configuration for a new connection (may change on reload).
    fn tls(&self) -> Arc<rustls::ServerConfig>;
    /// The limits for a new connection.
    fn limits(&self) -> Limits;
    /// Serves one request from `peer` (with the client certificate's subject, if any).
    fn call(
        self: Arc<Self>,
        req: http::Request<Incoming>,
        peer: Arc<crate::proxy::Peer>,
    ) -> impl Future<Output = http::Response<http_body_util::Full<bytes::Bytes>>> + Send;
}

/// Accepts connections until `shutdown` turns true, then lets in-flight ones finish.
pub async fn serve<H: ConnectionHandler>(
    listener: TcpListener,
    handler: Arc<H>,
    max_connections: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let permits = Arc::new(Semaphore::new(max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = shutdown.changed() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors or similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            connection(stream, peer, handler, watcher).await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

async fn connection<H: ConnectionHandler>(
    stream: tokio::net::TcpStream,
    addr: SocketAddr,
    handler: Arc<H>,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let limits = handler.limits();
    let acceptor = tokio_rustls::TlsAcceptor::from(handler.tls());
    let timeout = Duration::from_millis(limits.handshake_timeout_ms);
    let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        _ => return,
    };
    let client_identity = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .and_then(|c| crate::proxy::peer::client_identity(c.as_ref()));
    let peer = Arc::new(crate::proxy::Peer {
        addr,
        ip: addr.ip().to_string(),
        addr_text: addr.to_string(),
        client_identity,
    });
    let service = service_fn(move |req| {
        let handler = handler.clone();
        let peer = peer.clone();
        // Boxed: a request's future is kilobytes, and hyper moves it by value
        // (over HTTP/2 into a task of its own per stream); a box moves as a
        // pointer. With the rare branches inside it boxed too (dialling in
        // `upstream/pool.rs`, the ticket API in `ticket.rs`), this took 18%
        // off the CPU per masked request over HTTP/2.
        Box::pin(async move { Ok::<_, std::convert::Infallible>(handler.call(req, peer).await) })
    });
    let builder = http_builder(&limits);
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
