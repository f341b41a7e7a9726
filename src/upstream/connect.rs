//! Opening one upstream connection: TCP within the connect timeout, TLS when
//! the URL says `https`, then the HTTP/1.1 handshake. The connection itself
//! runs as its own task, which holds the pool slot it occupies, so a slot is
//! free again only once its socket is closed; the pool keeps a [`Conn`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::UpstreamError;

/// The sending half of one HTTP/1.1 upstream connection.
pub(super) type Sender = http1::SendRequest<Full<Bytes>>;

/// One upstream connection. Dropping it closes the socket at once, even in
/// the middle of an exchange, and so frees its slot.
pub(super) struct Conn {
    /// Sends requests to the connection task.
    pub sender: Sender,
    /// The connection task, which owns the socket and the slot.
    task: AbortHandle,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Dials the upstream named by the configured URL.
pub(super) struct Connector {
    /// `host:port` to dial (an IPv6 host keeps its brackets).
    addr: String,
    /// The TLS client and the name the upstream's certificate must carry;
    /// `None` for a plain `http` upstream.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Time allowed for TCP, TLS and the handshake together.
    timeout: Duration,
}

/// Why the upstream URL cannot be dialled.
#[derive(Debug, thiserror::Error)]
#[error("upstream URL has no usable host")]
pub struct UpstreamHostInvalid;

impl Connector {
    /// A connector for `uri` (already validated as `http(s)://host[:port]`).
    pub(super) fn new(
        uri: &Uri,
        mut tls: ClientConfig,
        timeout: Duration,
    ) -> Result<Connector, UpstreamHostInvalid> {
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or(UpstreamHostInvalid)?;
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tls = if https {
            // The pool speaks HTTP/1.1 only; say so rather than let a server guess.
            tls.alpn_protocols = vec![b"http/1.1".to_vec()];
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(bare.to_string()).map_err(|_| UpstreamHostInvalid)?;
            Some((TlsConnector::from(Arc::new(tls)), name))
        } else {
            None
        };
        Ok(Connector {
            addr: format!("{host}:{port}"),
            tls,
            timeout,
        })
    }

    /// Opens a new connection, ready for its first request; it keeps `slot`
    /// (when given) until its socket is closed.
    pub(super) async fn connect(
        &self,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Result<Conn, UpstreamError> {
        let deadline = Instant::now() + self.timeout;
        tokio::time::timeout_at(deadline, self.dial(deadline, slot))
            .await
            .map_err(|_| UpstreamError::Unreachable)?
    }

    async fn dial(
        &self,
        deadline: Instant,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Result<Conn, UpstreamError> {
        let tcp = tcp_connect(&self.addr, deadline).await?;
        // Requests are written whole; Nagle would only hold back their last segment.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(tcp, slot).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|_| UpstreamError::Unreachable)?;
                handshake(tls, slot).await
            }
        }
    }
}

/// Tries each address the host resolves to, giving each an equal share of
/// the time left, so one address that drops packets cannot use it all.
async fn tcp_connect(host_port: &str, deadline: Instant) -> Result<TcpStream, UpstreamError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(host_port)
        .await
        .map_err(|_| UpstreamError::Unreachable)?
        .collect();
    for (i, addr) in addrs.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        let share = left / u32::try_from(addrs.len() - i).unwrap_or(u32::MAX);
        if let Ok(Ok(tcp)) = tokio::time::timeout(share, TcpStream::connect(addr)).await {
            return Ok(tcp);
        }
    }
    Err(UpstreamError::Unreachable)
}

async fn handshake<T>(io: T, slot: Option<OwnedSemaphorePermit>) -> Result<Conn, UpstreamError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|_| UpstreamError::Unreachable)?;
    let task = tokio::spawn(async move {
        let _slot = slot;
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(Conn {
        sender,
        task: task.abort_handle(),
    })
}
