//! The HTTP client the OTLP exporters send through.
//!
//! The SDK exports from its own OS threads, where a hyper client finds no Tokio
//! reactor. This client runs each request as a task on the gateway's runtime and
//! waits for the task, so exports reuse the gateway's hyper and rustls stack
//! (no second HTTP or TLS library) and work from any thread.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::{HttpClient, HttpError};
use tokio::runtime::Handle;

/// A collector's answer is a short status; anything bigger is not read.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Sends export requests as tasks on a Tokio runtime, so the SDK's export
/// threads (which have no reactor) can use the gateway's hyper and rustls.
#[derive(Clone)]
pub struct RuntimeClient {
    client: HttpsClient,
    handle: Handle,
    timeout: Duration,
}

impl fmt::Debug for RuntimeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeClient")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why an export request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum SendFailed {
    /// No answer within the export timeout.
    #[error("OTLP export timed out")]
    TimedOut,
    /// The runtime shut down before the request completed.
    #[error("OTLP export task did not complete")]
    Dropped,
}

impl RuntimeClient {
    /// A client for http and https endpoints whose requests run on `handle`.
    pub fn new(tls: rustls::ClientConfig, handle: Handle, timeout: Duration) -> RuntimeClient {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        RuntimeClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
            handle,
            timeout,
        }
    }

    async fn send(
        client: HttpsClient,
        request: Request<Bytes>,
    ) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let response = client
            .request(Request::from_parts(parts, Full::new(body)))
            .await?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_RESPONSE_BYTES).collect().await?;
        Ok(Response::from_parts(parts, body.to_bytes()))
    }
}

type Sending<'a> = Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'a>>;

// Spelled out as `#[async_trait]` would expand it, to avoid a dependency for one impl.
impl HttpClient for RuntimeClient {
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: Request<Bytes>,
    ) -> Sending<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        let client = self.client.clone();
        let timeout = self.timeout;
        let task = self.handle.spawn(async move {
            match tokio::time::timeout(timeout, Self::send(client, request)).await {
                Ok(result) => result,
                Err(_) => Err(Box::new(SendFailed::TimedOut) as HttpError),
            }
        });
        Box::pin(async move { task.await.map_err(|_| Box::new(SendFailed::Dropped))? })
    }
}
