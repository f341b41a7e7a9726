//! Opening one upstream connection: TCP within the connect timeout, TLS when
//! the URL says `https`, then the HTTP/1.1 handshake. The connection itself
//! runs as its own task; the pool keeps only the sending half.

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
use tokio_rustls::TlsConnector;

use super::UpstreamError;

/// The sending half of one HTTP/1.1 upstream connection.
pub(super) type Sender = http1::SendRequest<Full<Bytes>>;

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

    /// Opens a new connection, ready for its first request.
    pub(super) async fn connect(&self) -> Result<Sender, UpstreamError> {
        tokio::time::timeout(self.timeout, self.dial())
            .await
            .map_err(|_| UpstreamError::Unreachable)?
    }

    async fn dial(&self) -> Result<Sender, UpstreamError> {
        let tcp = TcpStream::connect(&self.addr)
            .await
            .map_err(|_| UpstreamError::Unreachable)?;
        // Requests are written whole; Nagle would only hold back their last segment.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(tcp).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|_| UpstreamError::Unreachable)?;
                handshake(tls).await
            }
        }
    }
}

async fn handshake<T>(io: T) -> Result<Sender, UpstreamError>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|_| UpstreamError::Unreachable)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "upstream connection ended");
        }
    });
    Ok(sender)
}
