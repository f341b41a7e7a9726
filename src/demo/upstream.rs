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
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::RwLock;

use super::data::{Customer, DataSet, Device, ServiceCase};

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
    credential_digest: Option<[u8; 32]>,
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
        credential_digest: cfg.credential.map(|c| Sha256::digest(c.as_bytes()).into()),
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
fn authorize(headers: &HeaderMap, expected: Option<&[u8; 32]>) -> Result<(), ApiError> {
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
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    match &digest == expected {
        true => Ok(()),
        false => Err(ApiError::Unauthorized),
    }
}

/// A matched route with its decoded path parameter.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Health,
    Search,
    Customer(String),
    Device(String),
    Notes(String),
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        match segments.as_slice() {
            ["healthz"] => Some(Route::Health),
            ["customers"] => Some(Route::Search),
            ["customers", id] => Some(Route::Customer(decode_segment(id)?)),
            ["customers", id, "notes"] => Some(Route::Notes(decode_segment(id)?)),
            ["devices", tag] => Some(Route::Device(decode_segment(tag)?)),
            _ => None,
        }
    }

    /// The one method the route answers.
    fn method(&self) -> &'static str {
        match self {
            Route::Notes(_) => "POST",
            _ => "GET",
        }
    }
}

fn decode_segment(segment: &str) -> Option<String> {
    let decoded = percent_decode_str(segment).decode_utf8().ok()?;
    (!decoded.is_empty()).then(|| decoded.into_owned())
}

/// `q` and `limit` from a query string, decoded as an HTML form would send them.
#[derive(Debug, PartialEq, Eq)]
struct SearchParams {
    q: String,
    limit: usize,
}

impl SearchParams {
    fn parse(query: &str) -> Result<SearchParams, ApiError> {
        let mut params = SearchParams {
            q: String::new(),
            limit: DEFAULT_LIMIT,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = value.replace('+', " ");
            let value = percent_decode_str(&value).decode_utf8_lossy();
            match key {
                "q" => params.q = value.into_owned(),
                "limit" => {
                    let limit: usize = value.trim().parse().map_err(|_| ApiError::BadLimit)?;
                    params.limit = limit.min(MAX_LIMIT);
                }
                _ => {}
            }
        }
        Ok(params)
    }
}

#[derive(Serialize)]
struct SearchPage<'a> {
    results: Vec<&'a Customer>,
    total: usize,
}

async fn search(query: &str, state: &State) -> Result<Response<Full<Bytes>>, ApiError> {
    let params = SearchParams::parse(query)?;
    let data = state.data.read().await;
    let page = SearchPage {
        results: data.search(&params.q, params.limit),
        total: data.count_matches(&params.q),
    };
    json(StatusCode::OK, &page)
}

/// A device with the id of the customer who owns it.
#[derive(Serialize)]
struct DeviceView<'a> {
    #[serde(flatten)]
    device: &'a Device,
    customer_id: &'a str,
}

async fn device(tag: &str, state: &State) -> Result<Response<Full<Bytes>>, ApiError> {
    let data = state.data.read().await;
    let (customer, device) = data.device(tag).ok_or(ApiError::NotFound)?;
    let view = DeviceView {
        device,
        customer_id: &customer.id,
    };
    json(StatusCode::OK, &view)
}

/// Body of `POST /customers/{id}/notes`.
#[derive(Deserialize)]
struct NewNote {
    summary: String,
    notes: String,
    #[serde(default)]
    service_tag: Option<String>,
}

/// A case just added, with the customer it was added to.
#[derive(Serialize)]
struct CreatedCase<'a> {
    #[serde(flatten)]
    case: &'a ServiceCase,
    customer_id: &'a str,
}

async fn add_note(
    id: &str,
    body: Incoming,
    state: &State,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let bytes = read_body(body).await?;
    let note: NewNote = serde_json::from_slice(&bytes).map_err(|_| ApiError::BadJson)?;
    if note.summary.trim().is_empty() {
        return Err(ApiError::EmptySummary);
    }
    let mut data = state.data.write().await;
    let case_id = format!("SR{}", next_case_number(&data));
    let customer = data
        .customers
        .iter_mut()
        .find(|c| c.id == id)
        .ok_or(ApiError::NotFound)?;
    let service_tag = note_device(customer, note.service_tag.as_deref())?;
    customer.service_history.push(ServiceCase {
        case_id,
        date: chrono::Utc::now()
            .date_naive()
            .format("%Y-%m-%d")
            .to_string(),
        service_tag,
        summary: note.summary,
        notes: note.notes,
    });
    let created = customer.service_history.last().ok_or(ApiError::NotFound)?;
    json(
        StatusCode::CREATED,
        &CreatedCase {
            case: created,
            customer_id: &customer.id,
        },
    )
}

/// The tag a new case is about: the one named, if the customer owns it, else
/// the customer's first device.
fn note_device(customer: &Customer, named: Option<&str>) -> Result<String, ApiError> {
    match named {
        Some(tag) => customer
            .devices
            .iter()
            .find(|d| d.service_tag.eq_ignore_ascii_case(tag.trim()))
            .map(|d| d.service_tag.clone())
            .ok_or(ApiError::UnknownServiceTag),
        None => Ok(customer
            .devices
            .first()
            .map(|d| d.service_tag.clone())
            .unwrap_or_default()),
    }
}

/// One past the highest `SR` case number in the data set, so new cases never collide.
fn next_case_number(data: &DataSet) -> u64 {
    data.customers
        .iter()
        .flat_map(|c| &c.service_history)
        .filter_map(|case| case.case_id.strip_prefix("SR")?.parse::<u64>().ok())
        .max()
        .map_or(FIRST_CASE_NUMBER, |n| n.saturating_add(1))
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
    fn routes_decode_their_parameter() {
        assert_eq!(Route::parse("/healthz"), Some(Route::Health));
        assert_eq!(Route::parse("/customers"), Some(Route::Search));
        assert_eq!(
            Route::parse("/customers/C10%30001"),
            Some(Route::Customer("C100001".into()))
        );
        assert_eq!(
            Route::parse("/customers/C100001/notes"),
            Some(Route::Notes("C100001".into()))
        );
        assert_eq!(
            Route::parse("/devices/7XK2M9Q"),
            Some(Route::Device("7XK2M9Q".into()))
        );
        assert_eq!(Route::parse("/customers/"), None);
        assert_eq!(Route::parse("/customers/C1/devices"), None);
        assert_eq!(Route::parse("/customers/%FF"), None);
    }

    #[test]
    fn search_params_are_form_decoded_and_capped() {
        let params = SearchParams::parse("q=de+Vries%20&limit=500&x=1").map_err(|e| e.to_string());
        assert_eq!(
            params,
            Ok(SearchParams {
                q: "de Vries ".into(),
                limit: MAX_LIMIT
            })
        );
        let empty = SearchParams::parse("").map_err(|e| e.to_string());
        assert_eq!(
            empty,
            Ok(SearchParams {
                q: String::new(),
                limit: DEFAULT_LIMIT
            })
        );
        assert!(matches!(
            SearchParams::parse("limit=ten"),
            Err(ApiError::BadLimit)
        ));
    }

    #[test]
    fn bearer_credential_must_match_exactly() {
        let expected: [u8; 32] = Sha256::digest(b"s3cret").into();
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
    fn new_case_numbers_follow_the_highest_existing_one() {
        let mut data = DataSet::generate(1, 50);
        let highest = next_case_number(&data) - 1;
        let all: Vec<&str> = data
            .customers
            .iter()
            .flat_map(|c| &c.service_history)
            .map(|s| s.case_id.as_str())
            .collect();
        assert!(all.contains(&format!("SR{highest}").as_str()));
        data.customers
            .iter_mut()
            .for_each(|c| c.service_history.clear());
        assert_eq!(next_case_number(&data), FIRST_CASE_NUMBER);
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
