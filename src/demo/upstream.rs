//! The sample customer API the demo puts behind the gateway: plain HTTP on
//! loopback, JSON in and out, over a shared synthetic data set.
//!
//! Routes: `GET /customers/{id}`, `GET /customers?q=..&limit=..`,
//! `GET /devices/{service_tag}`, `POST /customers/{id}/notes`, `GET /healthz`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use ring::digest::{digest, Digest, SHA256};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::RwLock;

use super::data::DataSet;

mod routes;

use self::routes::{add_note, device, search, Route};

/// Largest request body accepted; notes are a few sentences of prose.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Search page size when the caller names none.
pub const DEFAULT_LIMIT: usize = 20;
/// Largest search page served, whatever the caller asks for.
pub const MAX_LIMIT: usize = 100;
/// Slow clients may not hold a connection open without sending a request.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in flight before returning anyway.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Case number used when the data set has no cases yet.
const FIRST_CASE_NUMBER: u64 = 180_000_000;

/// How the sample API authenticates its callers.
#[derive(Clone, Default)]
pub struct SampleApiConfig {
    /// When set, every request must carry `Authorization: Bearer <credential>`, else 401.
    pub credential: Option<String>,
}

impl std::fmt::Debug for SampleApiConfig {
    // The credential is a secret; Debug output ends up in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let credential = self.credential.as_ref().map(|_| "<redacted>");
        f.debug_struct("SampleApiConfig")
            .field("credential", &credential)
            .finish()
    }
}

/// Why a request was refused; each maps to one status and one JSON error code.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("missing or wrong bearer credential")]
    Unauthorized,
    #[error("no such resource")]
    NotFound,
    #[error("method not allowed on this route")]
    MethodNotAllowed(&'static str),
    #[error("request body is not the JSON this route expects")]
    BadJson,
    #[error("request body is over {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    #[error("request body could not be read")]
    BodyUnreadable,
    #[error("limit is not a whole number")]
    BadLimit,
    #[error("summary is empty")]
    EmptySummary,
    #[error("service tag is not one of this customer's devices")]
    UnknownServiceTag,
    #[error("response could not be encoded")]
    Encode(#[from] serde_json::Error),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadJson | ApiError::BadLimit | ApiError::EmptySummary => {
                StatusCode::BAD_REQUEST
            }
            ApiError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyUnreadable => StatusCode::BAD_REQUEST,
            ApiError::UnknownServiceTag => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Encode(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::BadJson => "bad_json",
            ApiError::BodyTooLarge => "body_too_large",
            ApiError::BodyUnreadable => "body_unreadable",
            ApiError::BadLimit => "bad_limit",
            ApiError::EmptySummary => "empty_summary",
            ApiError::UnknownServiceTag => "unknown_service_tag",
            ApiError::Encode(_) => "internal",
        }
    }
}

/// What every connection shares.
struct State {
    data: Arc<RwLock<DataSet>>,
    /// SHA-256 of the expected credential, so comparison time does not depend on
    /// how much of a guess is right.
    credential_digest: Option<Digest>,
}

/// Serves the sample customer API on `listener` until `shutdown` resolves, then
/// lets requests in flight finish (for a few seconds at most).
///
/// Failed accepts are logged and retried, so the only error is a listener
/// whose local address cannot be read.
pub async fn serve(
    listener: TcpListener,
    data: Arc<RwLock<DataSet>>,
    cfg: SampleApiConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    let state = Arc::new(State {
        data,
        credential_digest: cfg.credential.map(|c| digest(&SHA256, c.as_bytes())),
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    tracing::info!(%addr, "sample customer API listening");
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => spawn_connection(&builder, &graceful, stream, &state),
                Err(err) => {
                    tracing::warn!(%err, "sample customer API accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("sample customer API stopped with requests still in flight");
    }
    Ok(())
}

fn spawn_connection(
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    stream: TcpStream,
    state: &Arc<State>,
) {
    let state = Arc::clone(state);
    let service = service_fn(move |req| handle(req, Arc::clone(&state)));
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .into_owned();
    let conn = graceful.watch(conn);
    tokio::spawn(async move {
        if let Err(err) = conn.await {
            tracing::debug!(%err, "sample customer API connection ended with an error");
        }
    });
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().clone();
    let response = respond(req, &state).await.unwrap_or_else(|err| {
        // Only the condition is logged: paths carry customer ids and service tags.
        tracing::debug!(%method, code = err.code(), "sample customer API refused a request");
        error_response(&err)
    });
    Ok(response)
}

async fn respond(req: Request<Incoming>, state: &State) -> Result<Response<Full<Bytes>>, ApiError> {
    authorize(req.headers(), state.credential_digest.as_ref())?;
    let route = Route::parse(req.uri().path()).ok_or(ApiError::NotFound)?;
    if req.method().as_str() != route.method() {
        return Err(ApiError::MethodNotAllowed(route.method()));
    }
    match route {
        Route::Health => json(StatusCode::OK, &serde_json::json!({ "status": "ok" })),
        Route::Search => search(req.uri().query().unwrap_or(""), state).await,
        Route::Customer(id) => {
            let data = state.data.read().await;
            json(
                StatusCode::OK,
                data.customer(&id).ok_or(ApiError::NotFound)?,
            )
        }
        Route::Device(tag) => device(&tag, state).await,
        Route::Notes(id) => add_note(&id, req.into_body(), state).await,
    }
}

/// Checks `Authorization: Bearer <credential>` when a credential is configured.
fn authorize(headers: &HeaderMap, expected: Option<&Digest>) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, credential)| credential.trim())
        .ok_or(ApiError::Unauthorized)?;
    let presented = digest(&SHA256, presented.as_bytes());
    match presented.as_ref() == expected.as_ref() {
        true => Ok(()),
        false => Err(ApiError::Unauthorized),
    }
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::BodyTooLarge),
        Err(_) => Err(ApiError::BodyUnreadable),
    }
}

fn json<T: Serialize + ?Sized>(
    status: StatusCode,
    value: &T,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let body = serde_json::to_vec(value)?;
    Ok(json_response(status, body))
}

fn error_response(err: &ApiError) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": err.code() }).to_string();
    let mut response = json_response(err.status(), body.into_bytes());
    let headers = response.headers_mut();
    match err {
        ApiError::Unauthorized => {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        ApiError::MethodNotAllowed(allowed) => {
            headers.insert(header::ALLOW, HeaderValue::from_static(allowed));
        }
        _ => {}
    }
    response
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Customer records must not linger in shared caches between the gateway and here.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_credential_must_match_exactly() {
        let expected = digest(&SHA256, b"s3cret");
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
            authorize(&headers, Some(&expected)).is_ok()
        };
        assert!(with("Bearer s3cret"));
        assert!(with("bearer s3cret"));
        assert!(!with("Bearer s3cret2"));
        assert!(!with("Basic s3cret"));
        assert!(authorize(&HeaderMap::new(), Some(&expected)).is_err());
        assert!(authorize(&HeaderMap::new(), None).is_ok());
    }

    #[test]
    fn debug_output_hides_the_credential() {
        let cfg = SampleApiConfig {
            credential: Some("s3cret".into()),
        };
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("s3cret"));
        assert!(shown.contains("redacted"));
    }
}
